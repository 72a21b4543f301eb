/*
 * The AMQP bridge: moves messages between a shmq queue and an AMQP 0-9-1 broker (RabbitMQ),
 * without losing any, for `shmq bridge`. It is a module of its own: it uses shmq.h and
 * librabbitmq, prints only to cfg->log, and knows nothing of the command line.
 *
 * Directions (one per run; run two bridges for both ways):
 *
 *   out  shm queue -> AMQP exchange and routing key. A message is claimed, published with
 *        publisher confirms, and acknowledged to the shm queue only once the broker has
 *        confirmed it. Bridge or broker dying at any moment loses nothing: an unconfirmed
 *        message is either still claimed (published again after a reconnection) or given back
 *        by shmq's reaper when the bridge died. A message may arrive twice only if the bridge
 *        died between the broker's confirm and the shm ack, or the connection was lost after
 *        the broker took a message and before its confirm came back; both are counted.
 *   in   AMQP queue -> shm queue. Consumed with manual acknowledgements and a prefetch
 *        limit; a delivery is acknowledged to the broker only after its shm push succeeded.
 *        A delivery pushed but not yet acknowledged when the bridge or the connection dies
 *        is delivered again by the broker (counted as redelivered).
 *
 *   topic-out  shm topic -> AMQP topic exchange: the bridge subscribes in a durable group
 *        (by default "shmq-bridge", pattern "#") and publishes each message with its subject
 *        as the routing key, with publisher confirms, not mandatory (a message no AMQP
 *        subscriber wants is dropped by the broker, as pub/sub does). A message taken from
 *        the group is held until the broker confirms it and sent again after a reconnection;
 *        but a topic group has no claim/ack: what the bridge took and had not yet seen
 *        confirmed when it is KILLED is lost (at most the window; a clean stop waits for the
 *        confirms). OVERWRITE topics may also lap a slow bridge: counted as lost.
 *   topic-in   AMQP topic exchange -> shm topic: a durable AMQP queue bound with a binding key
 *        (AMQP patterns are shmq patterns), consumed with manual acks; each delivery is
 *        published to the shm topic with its routing key as the subject, then acknowledged.
 *        Deliveries that a topic-out bridge of this very topic published are skipped (header
 *        x-shmq-origin), so the two directions can run together without a loop.
 *
 * Metadata travels in the AMQP basic properties, both ways: type, correlation_id, reply_to,
 * timestamp (seconds in AMQP; the nanoseconds also in the header x-shmq-timestamp-ns), and
 * out only: message_id "<queue>/<shm id>" (the same for every copy of a message, so a consumer
 * can drop duplicates) and, when the shm queue delivered it before, x-shmq-deliveries.
 */
#ifndef SHMQ_AMQP_BRIDGE_H
#define SHMQ_AMQP_BRIDGE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

enum amqp_bridge_direction {
    AMQP_BRIDGE_OUT,       /* shm queue -> AMQP exchange */
    AMQP_BRIDGE_IN,        /* AMQP queue -> shm queue */
    AMQP_BRIDGE_TOPIC_OUT, /* shm topic -> AMQP topic exchange, subject = routing key */
    AMQP_BRIDGE_TOPIC_IN,  /* AMQP topic exchange -> shm topic, routing key = subject */
};

/* How a message becomes the arguments of a Celery task (--celery-args). */
enum amqp_bridge_celery_args {
    AMQP_BRIDGE_CELERY_STRING, /* the message (UTF-8) is the task's one positional argument */
    AMQP_BRIDGE_CELERY_JSON,   /* the message is a JSON array (args) or object (kwargs) */
};

struct amqp_bridge_config {
    enum amqp_bridge_direction direction;
    const char *queue; /* the shm queue or topic; it must exist */
    const char *url;   /* amqp://user:pass@host:port/vhost */

    /* out */
    const char *exchange;    /* "" = the default exchange */
    const char *routing_key; /* NULL = the queue name ("celery" with a Celery task) */
    unsigned window;         /* messages published and not yet confirmed, at most */
    bool transient;          /* delivery mode 1: the broker may keep them in memory only */
    /* Celery protocol 2 (celery.h): each message becomes a task message of this task. */
    const char *celery_task;
    enum amqp_bridge_celery_args celery_args;
    /* Results of tasks whose message has a reply-to (shmq_call) come back through this AMQP
     * queue to the shm reply queue; NULL = "shmq.replies.<hostname>". */
    const char *reply_queue;

    /* topic-out: the subscription (pattern NULL = "#", group NULL = "shmq-bridge") */
    const char *pattern;
    const char *group;

    /* in, topic-in: the AMQP queue to consume (topic-in: NULL = "shmq.topic.<host>.<topic>") */
    const char *source;
    unsigned prefetch;   /* deliveries the broker sends ahead of the acknowledgements */
    const char *binding; /* topic-in: the binding key of the queue (NULL = "#") */

    /* both */
    bool declare;           /* declare the AMQP queue (durable): out the routing key's queue,
                               bound to the exchange; in the source */
    uint64_t count;         /* stop after this many messages (0 = no limit) */
    int64_t idle_ns;        /* stop when no message came for this long while connected
                               (0 = never) */
    int64_t retry_ns;       /* give up when the broker stays unreachable this long
                               (0 = never give up) */
    int64_t backoff_max_ns; /* longest pause between two connection attempts */
    unsigned heartbeat_s;   /* AMQP heartbeat (0 = none) */
    FILE *log;              /* progress and warnings (NULL = none); errors come back as text */
    bool verbose;           /* also every connection and reconnection */
    bool (*stop)(void);     /* polled often: true = finish what is in flight and return */
};

/* What a run did. Every counter is of messages unless it says otherwise. */
struct amqp_bridge_stats {
    uint64_t forwarded;       /* delivered and settled on both sides (confirmed + acked, or
                                 pushed + acked) */
    uint64_t republished;     /* out: published again after a lost connection or a broker nack:
                                 the broker may have had the first copy (possible duplicates) */
    uint64_t returned;        /* out: returned by the broker as unroutable, published again */
    uint64_t redelivered;     /* out: claimed with a delivery count > 1 (an earlier bridge may
                                 have published it); in: marked redelivered by the broker (an
                                 earlier run may have pushed it). Possible duplicates. */
    uint64_t given_back;      /* out: unconfirmed at exit, given back to the shm queue (they
                                 may also be at the broker) */
    uint64_t ack_failures;    /* out: confirmed but the shm ack failed: they will be delivered
                                 and published again */
    uint64_t lost;            /* topic-out: overwritten in the topic before the bridge read
                                 them (OVERWRITE policy) */
    uint64_t dropped;         /* topic-out: unconfirmed at exit: a topic cannot take them back */
    uint64_t looped;          /* topic-in: published by a topic-out bridge of this topic:
                                 skipped */
    uint64_t replies;         /* Celery results pushed to shm reply queues */
    uint64_t replies_dropped; /* results whose reply queue is gone or full (caller gone) */
    uint64_t replies_ignored; /* intermediate task states (STARTED, RETRY...) not forwarded */
    uint64_t connections;     /* successful connections (1 + reconnections) */
    int64_t elapsed_ns;       /* from the first message to the last one settled */
    int64_t downtime_ns;      /* time spent without a broker connection after the first */
};

/*
 * Run the bridge until cfg->stop() says so, cfg->count messages were forwarded, cfg->idle_ns
 * passed without a message, or an error that reconnecting cannot cure. Returns 0 or a
 * negative errno value, with words in why[why_size]:
 *   -ENOENT  the shm queue or topic, or the AMQP queue or exchange, does not exist
 *   -EMEDIUMTYPE  a topic named as a queue, or a queue as a topic
 *   -EACCES  the broker refused the login or the vhost, or the shm queue's mode refuses us
 *   -EINVAL  a bad URL or option (also: the broker refused a declaration as inconsistent)
 *   -EILSEQ  a message that cannot be carried (too large for the shm queue, not UTF-8 for
 *            --celery-args string...): it stays where it was (nacked), the bridge stops
 *   -ETIMEDOUT  the broker stayed unreachable for cfg->retry_ns
 *   others   from shmq or the system
 * Whatever the result, st holds what was done, and nothing taken is lost: messages in flight
 * were settled or given back.
 */
int amqp_bridge_run(const struct amqp_bridge_config *cfg, struct amqp_bridge_stats *st, char *why,
                    size_t why_size);

/* Check a broker URL: 0, or -EINVAL with the reason in why. With out, the URL without its
 * password, for messages ("amqp://guest@127.0.0.1:5672/%2f"). */
int amqp_bridge_url_check(const char *url, char *out, size_t size, char *why, size_t why_size);

#endif /* SHMQ_AMQP_BRIDGE_H */
