/*
 * Dead letters: messages past their TTL or their delivery limit leave the queue. With a
 * dead-letter queue configured they are copied there with their metadata (the queue is
 * created on first use with this queue's kind, capacity, slot size and mode); without one,
 * or when it is full, they are dropped and counted. A consumer never waits for the
 * dead-letter queue: it is a side road, not a reason to stall the main one.
 */
#include "slot.h"

static shmq_t *dead_letter_queue(shmq_t *q)
{
    if (q->dead_letter_q)
        return q->dead_letter_q;
    const char *name = q->map->dead_letter;
    if (!name[0])
        return NULL;
    struct shmq_config cfg = {
        .kind = (enum shmq_kind)q->map->geo.kind,
        .capacity = q->map->geo.capacity,
        .slot_size = q->map->geo.slot_size,
        .mode = q->map->hdr->mode & 0777u,
    };
    int err = shmq_open(name, &q->dead_letter_q);
    if (err == -ENOENT) {
        err = shmq_create(name, &cfg, &q->dead_letter_q);
        if (err == -EEXIST) /* another process made it first */
            err = shmq_open(name, &q->dead_letter_q);
    }
    return err ? (q->dead_letter_q = NULL) : q->dead_letter_q;
}

void shmq__dead_letter(shmq_t *q, uint32_t index, struct shmq__msghdr *msg, uint64_t mine,
                       bool expired)
{
    struct shmq__counters *c = &q->self->counters;
    /* It leaves the queue finished (acked) by the queue itself. */
    shmq__count(&c->acked, 1);
    if (expired)
        shmq__count(&c->expired, 1);
    shmq_t *dlq = dead_letter_queue(q);
    struct shmq_msg m;
    if (dlq && shmq__msg_read(q->map, msg, &m) == 0 && shmq_push_msg(dlq, &m, 0) == 0)
        shmq__count(&c->dead_lettered, 1);
    else
        shmq__count(&c->dropped, 1);
    if (!q->map->spsc)
        shmq__mpmc_slot_free(q, index, shmq__slot_at(q->map, index), mine);
}
