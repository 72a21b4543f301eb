/*
 * AMQP queue -> shm queue: consume with manual acknowledgements and a prefetch limit, push
 * each delivery to the shm queue, and only then acknowledge it to the broker.
 *
 * Deliveries on one channel come in order and are pushed in that order, so one ack with
 * "multiple" covers every delivery up to the last one pushed: acks go in batches (every
 * prefetch/2 deliveries, and whenever the broker has nothing more to send at once). A delivery
 * pushed but not yet acknowledged when the connection or the bridge dies is delivered again by
 * the broker, marked redelivered: the only way a message reaches the shm queue twice.
 *
 * While the shm queue is full the bridge waits, sending heartbeats so the broker keeps the
 * connection, and the prefetch limit holds the broker back.
 */
#ifndef SHMQ_BRIDGE_CONSUMER_H
#define SHMQ_BRIDGE_CONSUMER_H

#include <stdint.h>

#include "session.h"

struct bridge_consumer {
    struct bridge_session *s;
    unsigned prefetch;
    unsigned ack_every;   /* deliveries per batched ack */
    uint64_t last_pushed; /* delivery tag of the last delivery pushed, on this channel */
    unsigned unacked;     /* deliveries pushed since the last ack */
};

void bridge_consumer_init(struct bridge_consumer *k, struct bridge_session *s);

/* The connection was lost: its delivery tags mean nothing any more. */
void bridge_consumer_lost(struct bridge_consumer *k);

#endif /* SHMQ_BRIDGE_CONSUMER_H */
