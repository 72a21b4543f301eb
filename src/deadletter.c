/*
 * Dead letters: messages past their TTL or their delivery limit leave the queue. With a
 * dead-letter queue configured they are copied there with their metadata; without one, or
 * when it is full, they are dropped and counted. A consumer never waits for the dead-letter
 * queue: it is a side road, not a reason to stall the main one.
 *
 * Layer: task semantics, over the queue core. The dead-letter queue is opened (made on first
 * use) by the facade (queue.c), outside the core, and handed in; the copy is an internal
 * push that never waits (shmq__try_push_msg).
 */
#include "deadletter.h"

#include "core.h"
#include "slot.h"

void shmq__dead_letter(shmq_t *q, shmq_t *dlq, struct shmq_msg *m, bool expired)
{
    struct shmq__counters *c = &q->self->counters;
    /* It leaves the queue finished (acked) by the queue itself. */
    shmq__count(&c->acked, 1);
    if (expired)
        shmq__count(&c->expired, 1);
    uint32_t index = (uint32_t)(m->priv[SHMQ__MSG_SLOT] - 1); /* bound by the core */
    struct shmq__msghdr *h =
        q->map->spsc ? shmq__spsc_slot_at(q->map, index) : &shmq__slot_at(q->map, index)->hdr;
    struct shmq_msg copy;
    if (dlq && shmq__msg_read(q->map, h, &copy) == 0 && shmq__try_push_msg(dlq, &copy) == 0)
        shmq__count(&c->dead_lettered, 1);
    else
        shmq__count(&c->dropped, 1);
    shmq__finish(q, m, true);
}
