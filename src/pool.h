/*
 * Layer: slot pool. The free and ready index structures of an MPMC queue and the steps that
 * move a slot between them while recording its state (pool.c), and the delayed ring
 * (delayed.c). Every step is bracketed by shmq__op_begin/end for the reaper. Used by the
 * queue core (mpmc.c, mpmc_batch.c) and by recovery (reaper.c).
 */
#ifndef SHMQ_POOL_H
#define SHMQ_POOL_H

#include "scq.h"
#include "slot.h"
#include "stack.h"

/* The participant number this handle writes into the state words it owns. */
static inline uint32_t shmq__self_id(const shmq_t *q)
{
    return q->self_index + 1;
}

/* Where a take step takes an index from. */
enum shmq__source { SHMQ__FROM_FREE, SHMQ__FROM_READY, SHMQ__FROM_DELAYED, SHMQ__FROM_RETURNED };

/* Give a slot we hold (state `mine`) back to the free structure, or to the ready one. */
int shmq__pool_free(shmq_t *q, uint32_t index, struct shmq__slot *slot, uint64_t mine);
int shmq__pool_requeue(shmq_t *q, uint32_t index, struct shmq__slot *slot, uint64_t mine);
/* Give the stash back to the free ring down to `keep` slots, with one ring step. */
void shmq__pool_spill(shmq_t *q, uint32_t keep);
/* Hand k slots we hold on to `ring` in state `state` (FREE or READY), with one ring step. */
void shmq__pool_put_run(shmq_t *q, struct shmq__scq *ring, const uint32_t *idx, unsigned k,
                        uint32_t state);
/* Free k slots we hold, with one free-ring step (and wake a waiting producer). */
void shmq__pool_free_run(shmq_t *q, const uint32_t *idx, unsigned k);
/* Take up to `want` ready slots with one ring step and hold them READING: how many are held
 * in idx (in order), or -EAGAIN / -EBADMSG when none is. */
int shmq__pool_take_run(shmq_t *q, uint32_t *idx, unsigned want);

/* ---- delayed.c ---- */
/* Put a message we hold (its not_before_ns written) into the delayed ring. */
int shmq__delayed_put(shmq_t *q, uint32_t index, struct shmq__slot *slot, uint64_t mine);
/* 0 with the first due message held READING, -EAGAIN when none is due, or an error. */
int shmq__delayed_take_due(shmq_t *q, uint32_t *index, uint64_t *mine);

/* Take free slots from the free ring into the handle's empty stash (a run). */
int shmq__pool_stash_refill(shmq_t *q);

/* ---- the hot path, inline: a push and a pop make these steps, and out of line in pool.c
 * they cost a one-thread push+pop pair 63 -> 71 ns (bench pair/shmq_mpmc/64) ---- */

/* Take the next index of an index structure (a FIFO's SCQ ring or a LIFO's stack: the one
 * that is not NULL): SHMQ__NONE when it is empty, or -EBADMSG. */
static inline int64_t shmq__index_take(const struct shmq__mapping *m, struct shmq__scq *ring,
                                       struct shmq__stack *stack)
{
    if (ring)
        return shmq__scq_dequeue(ring, m->geo.ring_order);
    int64_t r = shmq__stack_pop(&m->links, stack);
    return r == SHMQ__STACK_NIL ? SHMQ__NONE : r;
}

/* Put an index into an index structure (the caller has stored the slot's new state). */
static inline int shmq__index_put(const struct shmq__mapping *m, struct shmq__scq *ring,
                                  struct shmq__stack *stack, uint32_t index)
{
    if (ring)
        return shmq__scq_enqueue(ring, m->geo.ring_order, index);
    shmq__stack_push(&m->links, stack, index);
    return 0;
}

static inline int shmq__pool_ready_put(shmq_t *q, uint32_t index)
{
    return shmq__index_put(q->map, q->map->ready_ring, q->map->ready_stack, index);
}

static inline int64_t shmq__source_take(shmq_t *q, enum shmq__source src)
{
    struct shmq__mapping *m = q->map;
    switch (src) {
    case SHMQ__FROM_FREE:
        return shmq__index_take(m, m->free_ring, m->free_stack);
    case SHMQ__FROM_READY:
        return shmq__index_take(m, m->ready_ring, m->ready_stack);
    case SHMQ__FROM_DELAYED:
        return shmq__scq_dequeue(m->delayed_ring, m->geo.ring_order);
    case SHMQ__FROM_RETURNED:
        break;
    }
    return shmq__scq_dequeue(m->returned_ring, m->geo.ring_order);
}

/* One take step: take the next index from `src` and hold its slot, which must be in state
 * `expect`, in state `hold` with us as owner. 0, -EAGAIN when there is none, -EBADMSG for an
 * impossible index or state. Bracketed for the reaper's grace periods. */
static inline int shmq__pool_take(shmq_t *q, enum shmq__source src, uint32_t expect, uint32_t hold,
                                  uint32_t *index_out, uint64_t *mine_out)
{
    shmq__op_begin(q);
    int64_t taken = shmq__source_take(q, src);
    if (taken == SHMQ__NONE) {
        shmq__op_end(q);
        return -EAGAIN;
    }
    if (taken < 0 || taken >= q->map->geo.capacity) {
        shmq__op_end(q);
        return -EBADMSG;
    }
    uint32_t index = (uint32_t)taken;
    struct shmq__slot *slot = shmq__slot_at(q->map, index);
    /* A4: pairs with the release store of the state by whoever put the index there (the ring
     * handoff already carries the slot; this makes the state itself consistent with it). */
    uint64_t state = atomic_load_explicit(&slot->state, memory_order_acquire);
    if (shmq__state_kind(state) != expect) {
        shmq__op_end(q);
        return -EBADMSG;
    }
    uint64_t mine = shmq__state_next(state, shmq__self_id(q), hold);
    /* R4 (slot.h): the new state after the slot it vouches for. */
    atomic_store_explicit(&slot->state, mine, memory_order_release);
    shmq__op_end(q);
    *index_out = index;
    *mine_out = mine;
    return 0;
}

static inline unsigned shmq__stash_batch(const struct shmq__mapping *m)
{
    uint32_t k = m->geo.capacity / 16;
    return k < 1 ? 1 : k > SHMQ__STASH_MAX / 2 ? SHMQ__STASH_MAX / 2 : k;
}

/* An acked slot we hold (state `mine`): into the stash, WRITING by us, or — a run's worth
 * collected — back to the free ring with the run. */
static inline int shmq__pool_stash_free(shmq_t *q, uint32_t index, struct shmq__slot *slot,
                                        uint64_t mine)
{
    /* No ring step: the slot stays ours. Release, as every state store, for observers. */
    atomic_store_explicit(&slot->state,
                          shmq__state_next(mine, shmq__self_id(q), SHMQ__SLOT_WRITING),
                          memory_order_release);
    q->pool.stash[q->pool.stash_count++] = index;
    uint32_t run = shmq__stash_batch(q->map);
    if (q->pool.stash_count >= 2 * run)
        shmq__pool_spill(q, q->pool.stash_count - run);
    return 0;
}

/* A free slot held WRITING by us: from the stash (FIFO), else from the free stack (LIFO). */
static inline int shmq__pool_take_free(shmq_t *q, uint32_t *index, uint64_t *mine)
{
    if (!q->map->free_ring)
        return shmq__pool_take(q, SHMQ__FROM_FREE, SHMQ__SLOT_FREE, SHMQ__SLOT_WRITING, index,
                               mine);
    if (q->pool.stash_count == 0) {
        int err = shmq__pool_stash_refill(q);
        if (q->pool.stash_count == 0)
            return err ? err : -EAGAIN; /* (a refill that stashed nothing said why) */
    }
    *index = q->pool.stash[--q->pool.stash_count];
    /* Relaxed: the slot is ours since the refill; only we change its state. */
    *mine = atomic_load_explicit(&shmq__slot_at(q->map, *index)->state, memory_order_relaxed);
    return 0;
}

/* True when the delayed ring may hold messages (a sleeper must wake by the clock). */
static inline bool shmq__delayed_ring_waiting(const shmq_t *q)
{
    return q->map->delayed_ring &&
           !shmq__scq_empty_hint(q->map->delayed_ring, q->map->geo.ring_order);
}

#endif /* SHMQ_POOL_H */
