/*
 * Batches of the MPMC FIFO (layer: queue core): a push batch takes free slots from the
 * handle's stash, copies, and publishes up to BATCH_STEP with one ready-ring step; a pop
 * batch takes up to BATCH_STEP ready slots with one step, copies, and frees them with one
 * free-ring step. A LIFO's push batch is single pushes.
 */
#include "core.h"
#include "pool.h"
#include "scq.h"
#include "slot.h"
#include "wait.h"

/* ---- batches ---- */

#define BATCH_STEP 32u /* messages moved per ring step by the batch calls */

/* Publish k slots we hold WRITING, in order, with one ring step. */
static int publish_run(shmq_t *q, const uint32_t *idx, unsigned k)
{
    struct shmq__mapping *m = q->map;
    int64_t now = m->geo.ttl_ns ? shmq__now_mono() : 0;
    shmq__op_begin(q);
    for (unsigned j = 0; j < k; j++) {
        struct shmq__slot *slot = shmq__slot_at(m, idx[j]);
        uint64_t mine = atomic_load_explicit(&slot->state, memory_order_relaxed); /* ours */
        uint64_t ready = shmq__state_next(mine, 0, SHMQ__SLOT_READY);
        atomic_store_explicit(&slot->hdr.deliveries, 0, memory_order_relaxed);
        atomic_store_explicit(&slot->commit_gen, shmq__state_gen(ready), memory_order_relaxed);
        if (now)
            atomic_store_explicit(&m->extras[idx[j]].enqueued_ns, now, memory_order_relaxed);
        /* Published, with the payload, by the ring's release (R1 in scq.c). */
        atomic_store_explicit(&slot->state, ready, memory_order_release);
    }
    int err = shmq__scq_enqueue_many(m->ready_ring, m->geo.ring_order, idx, k);
    shmq__op_end(q);
    if (err)
        return err;
    shmq__count(&q->self->counters.pushed, k);
    if (shmq__wait_notify(&m->waits->not_empty))
        shmq__count(&q->self->counters.wakeups, 1);
    return 0;
}

/* A FIFO batch: free slots from the stash, the copies, then one ready-ring step per run. */
static int push_batch_fifo(shmq_t *q, const struct iovec *msgs, unsigned n)
{
    struct shmq__mapping *m = q->map;
    unsigned done = 0;
    while (done < n) {
        uint32_t idx[BATCH_STEP];
        unsigned k = 0;
        int err = 0;
        while (k < BATCH_STEP && done + k < n) {
            const struct iovec *v = &msgs[done + k];
            if (v->iov_len > m->geo.slot_size) {
                err = -EMSGSIZE; /* ends the batch before it */
                break;
            }
            uint64_t mine;
            if ((err = shmq__pool_take_free(q, &idx[k], &mine)) != 0)
                break;
            struct shmq__slot *slot = shmq__slot_at(m, idx[k]);
            shmq__copy(slot->payload, v->iov_base, v->iov_len);
            atomic_store_explicit(&slot->hdr.len, (uint32_t)v->iov_len, memory_order_relaxed);
            atomic_store_explicit(&slot->hdr.flags, 0, memory_order_relaxed);
            k++;
        }
        if (k && (err = publish_run(q, idx, k)) != 0 && done == 0)
            return err;
        done += k;
        if (err)
            return done ? (int)done : err;
    }
    return (int)done;
}

int shmq__mpmc_try_push_batch(shmq_t *q, struct shmq__batch_ctx *c)
{
    if (q->map->free_ring)
        return push_batch_fifo(q, c->in, c->n);
    int done = 0;
    for (unsigned i = 0; i < c->n; i++) {
        const struct iovec *v = &c->in[i];
        struct shmq_msg m = {0};
        if (v->iov_len > q->map->geo.slot_size)
            return done ? done : -EMSGSIZE;
        int err =
            shmq__mpmc_try_reserve(q, &(struct shmq__reserve_ctx){.len = v->iov_len, .m = &m});
        if (err)
            return done ? done : err;
        memcpy(m.data, v->iov_base, v->iov_len);
        if ((err = shmq__mpmc_commit(q, &m)) != 0)
            return done ? done : err;
        done++;
    }
    return done;
}

/* True when a FIFO's pop batch may take straight from the ready ring: nothing kept back,
 * released or delayed waits ahead of the ready messages, and no TTL or delivery limit asks
 * for a look at each message (all read-only). */
bool shmq__mpmc_batch_plain(const shmq_t *q)
{
    const struct shmq__mapping *m = q->map;
    return m->ready_ring && q->pool.held == SHMQ__NONE && !m->geo.ttl_ns &&
           !m->geo.max_deliveries && shmq__scq_empty_hint(m->returned_ring, m->geo.ring_order) &&
           !shmq__delayed_ring_waiting(q);
}

/* Give slots we hold READING back as released, in order (the rest of a batch after a message
 * kept back for -EMSGSIZE: it was not delivered either). */
static void release_run(shmq_t *q, const uint32_t *idx, unsigned k)
{
    shmq__pool_put_run(q, q->map->returned_ring, idx, k, SHMQ__SLOT_READY);
}

int shmq__mpmc_try_pop_batch(shmq_t *q, struct shmq__batch_ctx *c)
{
    uint32_t idx[BATCH_STEP], done_idx[BATCH_STEP];
    int held = shmq__pool_take_run(q, idx, c->n < BATCH_STEP ? c->n : BATCH_STEP);
    if (held < 0)
        return held;
    unsigned done = 0;
    int err = 0;
    for (int k = 0; k < held; k++) {
        struct shmq__slot *slot = shmq__slot_at(q->map, idx[k]);
        struct shmq_msg m;
        if (shmq__slot_read(q->map, idx[k], slot, &m) != 0) {
            err = -EBADMSG; /* an inconsistent slot is freed, not handed out (claim_finish) */
            done_idx[done] = idx[k];
            shmq__pool_free_run(q, &done_idx[done], 1);
            continue;
        }
        struct iovec *b = &c->out[done];
        if (m.len > b->iov_len) {
            /* Kept back undelivered, and what follows it released behind it in order. */
            q->pool.held = idx[k];
            release_run(q, &idx[k + 1], (unsigned)(held - k - 1));
            err = -EMSGSIZE;
            break;
        }
        shmq__copy(b->iov_base, m.data, m.len);
        b->iov_len = m.len;
        if (m.deliveries > 0)
            shmq__count(&q->self->counters.redelivered, 1);
        done_idx[done++] = idx[k];
    }
    shmq__pool_free_run(q, done_idx, done);
    return done ? (int)done : err ? err : -EAGAIN;
}
