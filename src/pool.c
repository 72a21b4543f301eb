/*
 * The slot pool (layer: slot pool, over the rings): the free and ready index structures of an
 * MPMC queue (two SCQ rings for a FIFO, two Treiber stacks for a LIFO), the take and put steps
 * that move a slot index between them while recording the slot's state (slot.h), the
 * producer's stash of free slots, and runs of steps for the batch calls. (Measured for the
 * LIFO: a free stack hands back the most recently freed, still cache-hot slot: 46 ns per
 * push+pop pair on one thread against 57 ns with a free SCQ, and 2.5 against 1.8 M msg/s
 * between two pinned processes.)
 *
 * Each step (taking an index and recording the new state, or recording a state and handing
 * the index on) is bracketed by shmq__op_begin/end for the recovery layer (reaper.c).
 * Memory order: the payload and slot header written by a producer are published by the
 * release in the ready structure's enqueue (R1 in scq.c, R2 in stack.c) and received by the
 * consumer's acquire dequeue (A1, A2); the same holds the other way through the free ring.
 * State word stores are release so that an observer that reads a state (peek, the reaper)
 * and then the slot sees what the state vouches for.
 */
#include "pool.h"

#include "scq.h"
#include "slot.h"
#include "stack.h"
#include "wait.h"

/* ---- the producer's stash of free slots (FIFO) ---- */

/*
 * The run of free slots a handle moves at a time between the free ring and its stash: 16,
 * and at most a sixteenth of the capacity, so that what a handle keeps is little of a small
 * queue. The stash amortizes the free ring: a producer takes a run with one ring step, a
 * consumer gives its acked slots back a run at a time, and a handle that does both reuses
 * its own slots without touching the ring.
 *
 * Only a handle that produces keeps slots: a consumer-only handle gives each acked slot
 * straight back, so a consumer never holds space a producer waits for. What it costs: a
 * producer handle keeps free slots that other producers cannot use — fewer than a run when
 * it only produces, fewer than two runs when it also consumes (it gives its stash back
 * whenever it finds the queue empty, and at close) — so with several producer handles one
 * may find the queue full that many slots early (15 of 1024 at most for a producer-only
 * handle). A single handle always fills the whole capacity (its own stash comes first), and
 * depth and the counters are exact: they count messages, not free slots.
 */
/* Take free slots from the free ring into the empty stash: one look, one fetch-and-add and
 * one entry take per slot, and each slot held WRITING by us (so the reaper frees what a dead
 * producer kept). 0, -EAGAIN when none is free, -EBADMSG for an impossible index or state
 * (what was sane is stashed all the same). */
int shmq__pool_stash_refill(shmq_t *q)
{
    struct shmq__mapping *m = q->map;
    uint32_t idx[SHMQ__STASH_MAX];
    shmq__op_begin(q);
    int got = shmq__scq_dequeue_many(m->free_ring, m->geo.ring_order, idx, shmq__stash_batch(m));
    int err = got < 0 ? got : got == 0 ? -EAGAIN : 0;
    for (int k = 0; k < got; k++) {
        if (idx[k] >= m->geo.capacity) {
            err = -EBADMSG;
            continue;
        }
        struct shmq__slot *slot = shmq__slot_at(m, idx[k]);
        /* A4 as in take(): pairs with the release of the state by whoever freed it. */
        uint64_t state = atomic_load_explicit(&slot->state, memory_order_acquire);
        if (shmq__state_kind(state) != SHMQ__SLOT_FREE) {
            err = -EBADMSG;
            continue;
        }
        /* R4 (slot.h): the new state after the slot it vouches for. */
        atomic_store_explicit(&slot->state,
                              shmq__state_next(state, shmq__self_id(q), SHMQ__SLOT_WRITING),
                              memory_order_release);
        q->pool.stash[q->pool.stash_count++] = idx[k];
    }
    shmq__op_end(q);
    return err;
}

/* Give the stash back to the free ring down to `keep` slots, with one ring step. */
void shmq__pool_spill(shmq_t *q, uint32_t keep)
{
    if (q->pool.stash_count <= keep)
        return;
    shmq__pool_free_run(q, &q->pool.stash[keep], q->pool.stash_count - keep);
    q->pool.stash_count = keep;
}

/* Put a slot we hold back into the free ring. */
int shmq__pool_free(shmq_t *q, uint32_t index, struct shmq__slot *slot, uint64_t mine)
{
    shmq__op_begin(q);
    /* R4 (slot.h): the new state after the slot it vouches for. */
    atomic_store_explicit(&slot->state, shmq__state_next(mine, 0, SHMQ__SLOT_FREE),
                          memory_order_release);
    int err = shmq__index_put(q->map, q->map->free_ring, q->map->free_stack, index);
    shmq__op_end(q);
    if (shmq__wait_notify(&q->map->waits->not_full))
        shmq__count(&q->self->counters.wakeups, 1);
    return err;
}

/* Give a message we hold in READING back to the ready structure. */
int shmq__pool_requeue(shmq_t *q, uint32_t index, struct shmq__slot *slot, uint64_t mine)
{
    shmq__op_begin(q);
    /* R4 (slot.h): the new state after the slot it vouches for. */
    atomic_store_explicit(&slot->state, shmq__state_next(mine, 0, SHMQ__SLOT_READY),
                          memory_order_release);
    int err = shmq__pool_ready_put(q, index);
    shmq__op_end(q);
    if (shmq__wait_notify(&q->map->waits->not_empty))
        shmq__count(&q->self->counters.wakeups, 1);
    return err;
}

/* Hand k slots we hold on to `ring`, in order, in state `state` (FREE or READY), with one
 * ring step. The state stores are release, as every state store (for observers); the ring's
 * R1 publishes the slots to whoever takes them. */
void shmq__pool_put_run(shmq_t *q, struct shmq__scq *ring, const uint32_t *idx, unsigned k,
                        uint32_t state)
{
    struct shmq__mapping *m = q->map;
    if (k == 0)
        return;
    shmq__op_begin(q);
    for (unsigned j = 0; j < k; j++) {
        struct shmq__slot *slot = shmq__slot_at(m, idx[j]);
        uint64_t mine = atomic_load_explicit(&slot->state, memory_order_relaxed); /* ours */
        /* R4 (slot.h): the new state after the slot it vouches for. */
        atomic_store_explicit(&slot->state, shmq__state_next(mine, 0, state), memory_order_release);
    }
    shmq__scq_enqueue_many(ring, m->geo.ring_order, idx, k);
    shmq__op_end(q);
}

/* Free slots we hold, with one free-ring step. */
void shmq__pool_free_run(shmq_t *q, const uint32_t *idx, unsigned k)
{
    shmq__pool_put_run(q, q->map->free_ring, idx, k, SHMQ__SLOT_FREE);
    if (k && shmq__wait_notify(&q->map->waits->not_full))
        shmq__count(&q->self->counters.wakeups, 1);
}

/* Take up to `want` ready slots with one ring step and hold them READING. Returns how
 * many are held in idx (in order), or -EAGAIN / -EBADMSG when none is. */
int shmq__pool_take_run(shmq_t *q, uint32_t *idx, unsigned want)
{
    struct shmq__mapping *m = q->map;
    shmq__op_begin(q);
    int got = shmq__scq_dequeue_many(m->ready_ring, m->geo.ring_order, idx, want);
    int held = 0, err = got < 0 ? -EBADMSG : -EAGAIN;
    for (int k = 0; k < got; k++) {
        struct shmq__slot *slot = idx[k] < m->geo.capacity ? shmq__slot_at(m, idx[k]) : NULL;
        /* A4 as in take(). */
        uint64_t state = slot ? atomic_load_explicit(&slot->state, memory_order_acquire) : 0;
        if (!slot || shmq__state_kind(state) != SHMQ__SLOT_READY) {
            err = -EBADMSG; /* an impossible index or state: dropped, as take() does */
            continue;
        }
        /* R4 (slot.h): the new state after the slot it vouches for. */
        atomic_store_explicit(&slot->state,
                              shmq__state_next(state, shmq__self_id(q), SHMQ__SLOT_READING),
                              memory_order_release);
        idx[held++] = idx[k];
    }
    shmq__op_end(q);
    return held ? held : err;
}
