/*
 * What the loops of every direction share, across reconnections: the configuration, the
 * counters, the clock and the conditions to stop, and the log. Implemented in amqp_bridge.c,
 * which runs the loops and reconnects between them.
 *
 * A direction's session function runs on one open connection and returns 0 when the run is
 * over (stop asked, count reached, idle), -ENOTCONN when the connection was lost (the run
 * goes on after a reconnection), or another error; s->fatal says whether that error ends the
 * run (a configuration problem found while setting up the channel, a shm error, a message
 * that cannot be carried) or only this connection (the broker closed the channel while
 * streaming: the setup on the next connection tells whether it is lasting).
 */
#ifndef SHMQ_BRIDGE_SESSION_H
#define SHMQ_BRIDGE_SESSION_H

#include <stdbool.h>
#include <stdint.h>

#include "amqp_bridge.h"
#include "connection.h"
#include "shmq.h"

/* The longest a loop waits before it looks at signals, heartbeats and the other side. */
#define BRIDGE_SLICE_NS (50 * 1000000LL)

struct bridge_session {
    const struct amqp_bridge_config *cfg;
    struct amqp_bridge_stats *st;
    shmq_t *q;               /* out, in */
    shmq_topic_t *t;         /* topic-out, topic-in */
    shmq_sub_t *sub;         /* topic-out */
    bool topic;              /* the shm side is a topic */
    char origin[300];        /* topics: "<host>/<topic>", in header x-shmq-origin */
    const char *routing_key; /* out: resolved default (topic-out: each message's subject) */
    const char *reply_queue; /* out with Celery: resolved default */
    bool fatal;              /* the last error ends the run */
    bool stopping;           /* a stop was asked: finish what is in flight */
    int64_t first_ns;        /* monotonic time of the first message, 0 before */
    int64_t last_ns;         /* of the last message settled */
    int64_t active_ns;       /* of the last message seen (for the idle limit) */
    char *why;               /* words for an error that ends the run */
    size_t why_size;
};

int64_t bridge_now_ns(void);

/* A message was taken / settled: the clock of the figures and of the idle limit. */
void bridge_session_activity(struct bridge_session *s);
void bridge_session_settled(struct bridge_session *s);

/* Progress on cfg->log ("shmq bridge: ..."): info only with cfg->verbose, warnings always. */
void bridge_info(const struct bridge_session *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void bridge_warn(const struct bridge_session *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Words for an error that ends the run, returned by amqp_bridge_run. */
int bridge_fail(struct bridge_session *s, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The directions (publisher.c, consumer.c): one connection's worth of work. */
struct bridge_publisher;
struct bridge_consumer;
int bridge_publisher_session(struct bridge_publisher *p, struct bridge_conn *c);
int bridge_consumer_session(struct bridge_consumer *k, struct bridge_conn *c);

#endif /* SHMQ_BRIDGE_SESSION_H */
