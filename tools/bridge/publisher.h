/*
 * shm queue -> AMQP, with publisher confirms: the window of claimed messages.
 *
 * Every message taken from the shm queue is held as a claim in a ring, in the order it was
 * claimed, until the broker's confirm for it arrives; only then is the claim acked. From a
 * topic (topic-out) the message is a private copy instead, taken with shmq_next: it is held
 * the same way and then simply forgotten, or, at exit, counted as dropped. States:
 *
 *   WAIT      published on the current channel with delivery tag `tag`, not yet confirmed
 *   RETURNED  the broker returned it as unroutable (mandatory); its confirm is still due
 *   REDO      to be published again: its channel was lost, the broker nacked it, or it came
 *             back unroutable
 *   DONE      confirmed and acked: the slot of the ring is free once the head passes it
 *
 * Invariants: every entry in [head, tail) is WAIT, RETURNED, REDO or DONE, and the head entry
 * is not DONE; `waiting` counts WAIT + RETURNED, `redo` counts REDO; tags in
 * [low_tag, next_tag) were given on the current channel, each to one entry, and tagpos[tag %
 * cap] is that entry's position; every tag below low_tag is settled. New messages are claimed
 * only while no entry is REDO, so messages are published in claim order except around a
 * reconnection or a return, and republished in ring order.
 */
#ifndef SHMQ_BRIDGE_PUBLISHER_H
#define SHMQ_BRIDGE_PUBLISHER_H

#include <stdint.h>

#include "celery.h"
#include "replies.h"
#include "session.h"
#include "shmq.h"

enum bridge_pending_state { PENDING_DONE, PENDING_WAIT, PENDING_RETURNED, PENDING_REDO };

/* A message taken from a topic: the delivery and the payload, kept for the entry's reuse. */
struct bridge_topic_copy {
    struct shmq_delivery d;
    unsigned char *buf;
    size_t cap;
};

struct bridge_pending {
    struct shmq_msg m; /* the claim (from a topic: points into copy) */
    struct bridge_topic_copy *copy;
    uint64_t tag;  /* delivery tag of its last publish */
    uint8_t state; /* enum bridge_pending_state */
};

struct bridge_publisher {
    struct bridge_session *s;
    struct bridge_celery *celery; /* NULL: messages go as they are */
    struct bridge_pending *ring;
    uint64_t *tagpos;
    uint64_t cap; /* entries of ring and tagpos, a power of two >= 2 * window */
    uint64_t head, tail;
    uint64_t next_tag, low_tag;
    unsigned window;
    unsigned waiting, redo;
    int64_t redo_at;      /* monotonic: publish REDO entries again from then on */
    int64_t return_pause; /* grows while messages keep coming back unroutable */
    int64_t drain_until;  /* when stopping: how long confirms are still waited for */
    int bad_message;      /* a message that cannot be published was put back: the error the
                             run ends with once the confirms due have come */
};

/* 0 or -ENOMEM. celery may be NULL. */
int bridge_publisher_init(struct bridge_publisher *p, struct bridge_session *s,
                          struct bridge_celery *celery);

/* The connection was lost: every message not confirmed goes out again on the next one. */
void bridge_publisher_lost(struct bridge_publisher *p);

/* The run is over: give back (nack) every claim still held; they stay in the shm queue. */
void bridge_publisher_give_back(struct bridge_publisher *p);

void bridge_publisher_free(struct bridge_publisher *p);

#endif /* SHMQ_BRIDGE_PUBLISHER_H */
