/*
 * The multi-producer/multi-consumer queue: a slot pool plus two index structures. A FIFO keeps
 * free and ready slot indices in two SCQ rings; a LIFO in two Treiber stacks. (Measured for
 * the LIFO: a free stack hands back the most recently freed, still cache-hot slot: 46 ns per
 * push+pop pair on one thread against 57 ns with a free SCQ, and 2.5 against 1.8 M msg/s
 * between two pinned processes.)
 * A message never moves: its slot index changes hands, and the slot's state word records who
 * holds it (see slot.h for the state machine).
 *
 *   push  = free.dequeue -> WRITING -> copy in -> READY -> ready.enqueue
 *   pop   = ready.dequeue -> READING -> copy out -> FREE -> free.enqueue
 *   reserve/commit and claim/ack/nack are the same steps with the copy left to the caller.
 *
 * Memory order. The payload and slot header written by a producer are published by the
 * release in the ready structure's enqueue (R1 in scq.c, R2 in stack.c) and received by the
 * consumer's acquire dequeue (A1, A2). The same holds in the other direction through the free
 * ring: a consumer's reads of a slot happen before the next producer's writes. The state word
 * stores are release so that an observer that reads a state (peek, the reaper) and then the
 * slot sees what the state vouches for.
 *
 * Each ring step (taking an index and recording the new state, or recording a state and
 * handing the index on) is bracketed by shmq__op_begin/end for the recovery layer.
 */
#include "scq.h"
#include "slot.h"
#include "stack.h"
#include "wait.h"

#include <stdlib.h>

static inline uint32_t self_id(const shmq_t *q)
{
    return q->self_index + 1;
}

/* ---- the two index structures ---- */

/* A free index, SHMQ__NONE when none is free, or -EBADMSG. */
static inline int64_t free_take(shmq_t *q)
{
    struct shmq__mapping *m = q->map;
    if (m->free_ring)
        return shmq__scq_dequeue(m->free_ring, m->geo.ring_order);
    int64_t r = shmq__stack_pop(m, m->free_stack);
    return r == SHMQ__STACK_NIL ? SHMQ__NONE : r;
}

static inline int free_put(shmq_t *q, uint32_t index)
{
    struct shmq__mapping *m = q->map;
    if (m->free_ring)
        return shmq__scq_enqueue(m->free_ring, m->geo.ring_order, index);
    shmq__stack_push(m, m->free_stack, index);
    return 0;
}

/* The next ready index, SHMQ__NONE when empty, or -EBADMSG. */
static inline int64_t ready_take(shmq_t *q)
{
    struct shmq__mapping *m = q->map;
    if (m->ready_ring)
        return shmq__scq_dequeue(m->ready_ring, m->geo.ring_order);
    int64_t r = shmq__stack_pop(m, m->ready_stack);
    return r == SHMQ__STACK_NIL ? SHMQ__NONE : r;
}

static inline int ready_put(shmq_t *q, uint32_t index)
{
    struct shmq__mapping *m = q->map;
    if (m->ready_ring)
        return shmq__scq_enqueue(m->ready_ring, m->geo.ring_order, index);
    shmq__stack_push(m, m->ready_stack, index);
    return 0;
}

/* ---- private fields of the message handed out ---- */

static inline void msg_bind(struct shmq_msg *m, uint32_t index, uint64_t state)
{
    m->priv[SHMQ__MSG_SLOT] = (uint64_t)index + 1;
    m->priv[SHMQ__MSG_STATE] = state;
}

/* The slot a message handed out by this handle holds, if it still holds it in `kind`. */
static int msg_slot(shmq_t *q, const struct shmq_msg *m, uint32_t kind, uint32_t *index,
                    struct shmq__slot **slot)
{
    uint64_t id = m->priv[SHMQ__MSG_SLOT];
    if (id == 0 || id > q->map->geo.capacity)
        return -EINVAL;
    *index = (uint32_t)(id - 1);
    *slot = shmq__slot_at(q->map, *index);
    uint64_t state = m->priv[SHMQ__MSG_STATE];
    if (shmq__state_kind(state) != kind || shmq__state_owner(state) != self_id(q))
        return -EINVAL;
    /* Relaxed: we own the slot, only we change its state. */
    if (atomic_load_explicit(&(*slot)->state, memory_order_relaxed) != state)
        return -EALREADY;
    return 0;
}

/* The slot of a message this handle holds in `kind`, which the caller is about to hand on:
 * the message is no longer the handle's (outstanding count, m's binding). */
static int msg_give_up(shmq_t *q, struct shmq_msg *m, uint32_t kind, uint32_t *index,
                       struct shmq__slot **slot)
{
    int err = msg_slot(q, m, kind, index, slot);
    if (err)
        return err;
    q->outstanding--;
    m->priv[SHMQ__MSG_SLOT] = 0;
    return 0;
}

/* ---- reserve / commit / discard ---- */

struct reserve_ctx {
    size_t len;
    struct shmq_msg *m;
};

/* Where a take step takes an index from. */
enum source { FROM_FREE, FROM_READY, FROM_DELAYED, FROM_RETURNED };

static int64_t source_take(shmq_t *q, enum source src)
{
    struct shmq__mapping *m = q->map;
    switch (src) {
    case FROM_FREE:
        return free_take(q);
    case FROM_READY:
        return ready_take(q);
    case FROM_DELAYED:
        return shmq__scq_dequeue(m->delayed_ring, m->geo.ring_order);
    case FROM_RETURNED:
        break;
    }
    return shmq__scq_dequeue(m->returned_ring, m->geo.ring_order);
}

/* One take step: take the next index from `src` and hold its slot, which must be in state
 * `expect`, in state `hold` with us as owner. 0, -EAGAIN when there is none, -EBADMSG for an
 * impossible index or state. Bracketed for the reaper's grace periods. */
static int take(shmq_t *q, enum source src, uint32_t expect, uint32_t hold, uint32_t *index_out,
                uint64_t *mine_out)
{
    shmq__op_begin(q);
    int64_t taken = source_take(q, src);
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
    uint64_t mine = shmq__state_next(state, self_id(q), hold);
    atomic_store_explicit(&slot->state, mine, memory_order_release);
    shmq__op_end(q);
    *index_out = index;
    *mine_out = mine;
    return 0;
}

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
static inline unsigned stash_batch(const struct shmq__mapping *m)
{
    uint32_t k = m->geo.capacity / 16;
    return k < 1 ? 1 : k > SHMQ__STASH_MAX / 2 ? SHMQ__STASH_MAX / 2 : k;
}

/* Take free slots from the free ring into the empty stash: one look, one fetch-and-add and
 * one entry take per slot, and each slot held WRITING by us (so the reaper frees what a dead
 * producer kept). 0, -EAGAIN when none is free, -EBADMSG for an impossible index or state
 * (what was sane is stashed all the same). */
static int stash_refill(shmq_t *q)
{
    struct shmq__mapping *m = q->map;
    uint32_t idx[SHMQ__STASH_MAX];
    shmq__op_begin(q);
    int got = shmq__scq_dequeue_many(m->free_ring, m->geo.ring_order, idx, stash_batch(m));
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
        atomic_store_explicit(&slot->state, shmq__state_next(state, self_id(q), SHMQ__SLOT_WRITING),
                              memory_order_release);
        q->stash[q->stash_count++] = idx[k];
    }
    shmq__op_end(q);
    return err;
}

static void free_run(shmq_t *q, const uint32_t *idx, unsigned k);

/* Give the stash back to the free ring down to `keep` slots, with one ring step. */
static void stash_spill(shmq_t *q, uint32_t keep)
{
    if (q->stash_count <= keep)
        return;
    free_run(q, &q->stash[keep], q->stash_count - keep);
    q->stash_count = keep;
}

/* An acked slot we hold (state `mine`): into the stash, WRITING by us, or — a run's worth
 * collected — back to the free ring with the run. */
static int stash_free(shmq_t *q, uint32_t index, struct shmq__slot *slot, uint64_t mine)
{
    /* No ring step: the slot stays ours. Release, as every state store, for observers. */
    atomic_store_explicit(&slot->state, shmq__state_next(mine, self_id(q), SHMQ__SLOT_WRITING),
                          memory_order_release);
    q->stash[q->stash_count++] = index;
    uint32_t run = stash_batch(q->map);
    if (q->stash_count >= 2 * run)
        stash_spill(q, q->stash_count - run);
    return 0;
}

/* A free slot held WRITING by us: from the stash (FIFO), else from the free stack (LIFO). */
static int slot_take_free(shmq_t *q, uint32_t *index, uint64_t *mine)
{
    if (!q->map->free_ring)
        return take(q, FROM_FREE, SHMQ__SLOT_FREE, SHMQ__SLOT_WRITING, index, mine);
    if (q->stash_count == 0) {
        int err = stash_refill(q);
        if (q->stash_count == 0)
            return err;
    }
    *index = q->stash[--q->stash_count];
    /* Relaxed: the slot is ours since stash_refill; only we change its state. */
    *mine = atomic_load_explicit(&shmq__slot_at(q->map, *index)->state, memory_order_relaxed);
    return 0;
}

static int try_reserve(shmq_t *q, void *arg)
{
    struct reserve_ctx *c = arg;
    uint32_t index;
    uint64_t mine;
    int err = slot_take_free(q, &index, &mine);
    if (err)
        return err;
    struct shmq__slot *slot = shmq__slot_at(q->map, index);
    q->outstanding++;
    c->m->data = slot->payload;
    c->m->len = c->len;
    c->m->id = 0;
    c->m->deliveries = 0;
    msg_bind(c->m, index, mine);
    return 0;
}

int shmq__mpmc_reserve(shmq_t *q, size_t len, struct shmq_msg *m, int64_t deadline)
{
    struct reserve_ctx c = {.len = len, .m = m};
    int r = try_reserve(q, &c);
    if (SHMQ__LIKELY(r != -EAGAIN))
        return r;
    return shmq__block(q, &q->map->waits->not_full, deadline, try_reserve, &c,
                       &q->self->counters.full);
}

int shmq__mpmc_commit(shmq_t *q, struct shmq_msg *m)
{
    uint32_t index;
    struct shmq__slot *slot;
    size_t meta;
    int err = msg_slot(q, m, SHMQ__SLOT_WRITING, &index, &slot);
    if (err || (err = shmq__msg_fits(q->map, m, &meta)))
        return err;
    shmq__meta_write(&slot->hdr, m, meta);
    uint64_t mine = m->priv[SHMQ__MSG_STATE];
    uint64_t ready = shmq__state_next(mine, 0, SHMQ__SLOT_READY);
    atomic_store_explicit(&slot->hdr.deliveries, 0, memory_order_relaxed);
    atomic_store_explicit(&slot->commit_gen, shmq__state_gen(ready), memory_order_relaxed);
    m->id = ((uint64_t)shmq__state_gen(ready) << 32) | index;
    if (q->map->geo.ttl_ns)
        atomic_store_explicit(&q->map->extras[index].enqueued_ns, shmq__now_mono(),
                              memory_order_relaxed); /* published with the slot */
    shmq__op_begin(q);
    atomic_store_explicit(&slot->state, ready, memory_order_release);
    err = ready_put(q, index);
    shmq__op_end(q);
    if (err)
        return err;
    q->outstanding--;
    m->priv[SHMQ__MSG_SLOT] = 0;
    shmq__count(&q->self->counters.pushed, 1);
    if (shmq__wait_notify(&q->map->waits->not_empty))
        shmq__count(&q->self->counters.wakeups, 1);
    return 0;
}

/* Put a slot we hold back into the free ring. */
int shmq__mpmc_slot_free(shmq_t *q, uint32_t index, struct shmq__slot *slot, uint64_t mine)
{
    shmq__op_begin(q);
    atomic_store_explicit(&slot->state, shmq__state_next(mine, 0, SHMQ__SLOT_FREE),
                          memory_order_release);
    int err = free_put(q, index);
    shmq__op_end(q);
    if (shmq__wait_notify(&q->map->waits->not_full))
        shmq__count(&q->self->counters.wakeups, 1);
    return err;
}

int shmq__mpmc_discard(shmq_t *q, struct shmq_msg *m)
{
    uint32_t index;
    struct shmq__slot *slot;
    int err = msg_give_up(q, m, SHMQ__SLOT_WRITING, &index, &slot);
    if (err)
        return err;
    return shmq__mpmc_slot_free(q, index, slot, m->priv[SHMQ__MSG_STATE]);
}

/* ---- claim / ack / nack ---- */

/* Fill m from a slot we hold in READING; a slot that does not read back sanely is freed and
 * reported (-EBADMSG) rather than handed out. */
static int claim_finish(shmq_t *q, uint32_t index, struct shmq__slot *slot, uint64_t mine,
                        struct shmq_msg *m)
{
    uint16_t deliveries = atomic_load_explicit(&slot->hdr.deliveries, memory_order_relaxed);
    atomic_store_explicit(&slot->hdr.deliveries, (uint16_t)(deliveries + 1), memory_order_relaxed);
    int err = shmq__slot_read(q->map, index, slot, m);
    if (err) {
        shmq__mpmc_slot_free(q, index, slot, mine);
        return err;
    }
    if (deliveries > 0)
        shmq__count(&q->self->counters.redelivered, 1);
    q->outstanding++;
    msg_bind(m, index, mine);
    return 0;
}

/*
 * The delayed ring's due word: header.delayed_due = { due_ms:40 | puts:24 }. due_ms is a lower
 * bound of the not-before time (CLOCK_MONOTONIC, ms) of every message in the delayed ring, so
 * a claim looks at the ring only once something may be due; puts counts the puts into it.
 *   - A put lowers due_ms to the message's time (a CAS loop: min) and counts itself.
 *   - A claim that finds due_ms passed visits every message of the ring once (take, put
 *     back): the first one due is delivered; when none is, it raises due_ms to the earliest
 *     it saw, by a CAS that expects the word exactly as its own puts left it. A put by anyone
 *     else meanwhile (of a message it may not have seen) makes that CAS fail and leaves the
 *     lower bound, which is always safe: the next claim looks again.
 * So a message is never held back past its time by the word (at worst by one claim's look),
 * and claims pay one load and a clock read while nothing is due. Relaxed throughout: the word
 * carries no data (the ring publishes the slots), and a claim that reads it stale looks again
 * at its next call or sleeper's slice (5 ms).
 */
#define DUE_SHIFT 24
#define DUE_PUTS_MASK ((UINT64_C(1) << DUE_SHIFT) - 1)

static inline uint64_t due_ms(uint64_t w)
{
    return w >> DUE_SHIFT;
}
static inline uint64_t due_word(uint64_t ms, uint64_t puts)
{
    return (ms << DUE_SHIFT) | (puts & DUE_PUTS_MASK);
}
static inline uint64_t due_of(int64_t not_before_ns)
{
    if (not_before_ns <= 0)
        return 0;
    uint64_t ms = (uint64_t)not_before_ns / 1000000u; /* rounded down: a lower bound */
    return ms < SHMQ__DUE_NONE ? ms : SHMQ__DUE_NONE - 1;
}

/* Put a message we hold into the delayed ring (its not_before_ns written), and lower the due
 * word to it. */
static int delayed_put(shmq_t *q, uint32_t index, struct shmq__slot *slot, uint64_t mine)
{
    struct shmq__mapping *m = q->map;
    shmq__op_begin(q);
    atomic_store_explicit(&slot->state, shmq__state_next(mine, 0, SHMQ__SLOT_READY),
                          memory_order_release);
    int err = shmq__scq_enqueue(m->delayed_ring, m->geo.ring_order, index);
    shmq__op_end(q);
    /* Relaxed: our own write of not_before_ns (the ring publishes it to others). */
    uint64_t due =
        due_of(atomic_load_explicit(&m->extras[index].not_before_ns, memory_order_relaxed));
    uint64_t w = atomic_load_explicit(&m->hdr->delayed_due, memory_order_relaxed);
    uint64_t next;
    do {
        uint64_t low = due_ms(w) < due ? due_ms(w) : due;
        next = due_word(low, (w & DUE_PUTS_MASK) + 1);
    } while (!atomic_compare_exchange_weak_explicit(&m->hdr->delayed_due, &w, next,
                                                    memory_order_relaxed, memory_order_relaxed));
    return err;
}

/* Visit the delayed ring once if something in it may be due: 0 with the first due message
 * held READING in *index / *mine, or -EAGAIN (nothing due; the due word raised if nobody put
 * meanwhile), or another error of take(). */
static int delayed_take_due(shmq_t *q, uint32_t *index, uint64_t *mine)
{
    struct shmq__mapping *m = q->map;
    uint64_t w0 = atomic_load_explicit(&m->hdr->delayed_due, memory_order_relaxed);
    int64_t now = shmq__now_mono();
    if (due_ms(w0) > due_of(now))
        return -EAGAIN;
    uint64_t visits = shmq__scq_positions(m->delayed_ring);
    if (visits > m->geo.capacity)
        visits = m->geo.capacity; /* the ring holds no more: a bound against a scribbled one */
    uint64_t seen = SHMQ__DUE_NONE, low = due_ms(w0), puts = 0;
    for (; visits; visits--) {
        int err = take(q, FROM_DELAYED, SHMQ__SLOT_READY, SHMQ__SLOT_READING, index, mine);
        if (err)
            return err;
        int64_t nb = atomic_load_explicit(&m->extras[*index].not_before_ns, memory_order_relaxed);
        if (nb <= now)
            return 0;
        if ((err = delayed_put(q, *index, shmq__slot_at(m, *index), *mine)) != 0)
            return err;
        puts++;
        if (due_of(nb) < seen)
            seen = due_of(nb);
        if (due_of(nb) < low)
            low = due_of(nb);
    }
    /* Nothing due: raise the bound to the earliest seen, unless someone else put meanwhile. */
    uint64_t expect = due_word(low, (w0 & DUE_PUTS_MASK) + puts);
    atomic_compare_exchange_strong_explicit(&m->hdr->delayed_due, &expect,
                                            due_word(seen, (w0 & DUE_PUTS_MASK) + puts),
                                            memory_order_relaxed, memory_order_relaxed);
    return -EAGAIN;
}

static bool delayed_waiting(const shmq_t *q)
{
    return q->map->delayed_ring &&
           !shmq__scq_empty_hint(q->map->delayed_ring, q->map->geo.ring_order);
}

static int try_claim(shmq_t *q, void *arg)
{
    struct shmq_msg *m = arg;
    struct shmq__mapping *map = q->map;
    if (q->held != SHMQ__NONE) {
        /* The message an earlier -EMSGSIZE kept back comes first. */
        uint32_t index = q->held;
        struct shmq__slot *slot = shmq__slot_at(map, index);
        q->held = SHMQ__NONE;
        return claim_finish(q, index, slot,
                            atomic_load_explicit(&slot->state, memory_order_relaxed), m);
    }
    /* Each round consumes a message (delivered, expired or dead-lettered): bounded. */
    for (;;) {
        uint32_t index;
        uint64_t mine;
        int err = -EAGAIN;
        /* Released messages are first in line (shmq_release). Looking costs two loads of a
         * ring nobody writes unless something is released. */
        if (map->returned_ring && !shmq__scq_empty_hint(map->returned_ring, map->geo.ring_order))
            err = take(q, FROM_RETURNED, SHMQ__SLOT_READY, SHMQ__SLOT_READING, &index, &mine);
        if (err == -EAGAIN && SHMQ__UNLIKELY(delayed_waiting(q)))
            err = delayed_take_due(q, &index, &mine); /* a due one goes first */
        if (err == -EAGAIN)
            err = take(q, FROM_READY, SHMQ__SLOT_READY, SHMQ__SLOT_READING, &index, &mine);
        if (err)
            return err;
        struct shmq__slot *slot = shmq__slot_at(map, index);
        if (SHMQ__UNLIKELY(map->geo.ttl_ns) &&
            shmq__expired(
                shmq__now_mono(),
                atomic_load_explicit(&map->extras[index].enqueued_ns, memory_order_relaxed),
                map->geo.ttl_ns)) {
            shmq__count(&q->self->counters.popped, 1);
            shmq__dead_letter(q, index, &slot->hdr, mine, true);
            continue;
        }
        if (SHMQ__UNLIKELY(map->geo.max_deliveries) &&
            atomic_load_explicit(&slot->hdr.deliveries, memory_order_relaxed) >=
                map->geo.max_deliveries) {
            shmq__count(&q->self->counters.popped, 1);
            shmq__dead_letter(q, index, &slot->hdr, mine, false);
            continue;
        }
        return claim_finish(q, index, slot, mine, m);
    }
}

int shmq__mpmc_claim(shmq_t *q, struct shmq_msg *m, int64_t deadline)
{
    int r = try_claim(q, m);
    if (SHMQ__LIKELY(r != -EAGAIN))
        return r;
    stash_spill(q, 0); /* idle: what we kept goes back to those who may need it */
    return shmq__block(q, &q->map->waits->not_empty, deadline, try_claim, m,
                       &q->self->counters.empty);
}

/* Give a message we hold in READING back to the ready structure. */
int shmq__mpmc_slot_requeue(shmq_t *q, uint32_t index, struct shmq__slot *slot, uint64_t mine)
{
    shmq__op_begin(q);
    atomic_store_explicit(&slot->state, shmq__state_next(mine, 0, SHMQ__SLOT_READY),
                          memory_order_release);
    int err = ready_put(q, index);
    shmq__op_end(q);
    if (shmq__wait_notify(&q->map->waits->not_empty))
        shmq__count(&q->self->counters.wakeups, 1);
    return err;
}

int shmq__mpmc_nack_delayed(shmq_t *q, struct shmq_msg *m, int64_t delay_ns)
{
    uint32_t index;
    struct shmq__slot *slot;
    int err = msg_give_up(q, m, SHMQ__SLOT_READING, &index, &slot);
    if (err)
        return err;
    int64_t now = shmq__now_mono();
    atomic_store_explicit(&q->map->extras[index].not_before_ns,
                          delay_ns > INT64_MAX - now ? INT64_MAX : now + delay_ns,
                          memory_order_relaxed); /* published by delayed_put's ring release */
    err = delayed_put(q, index, slot, m->priv[SHMQ__MSG_STATE]);
    if (shmq__wait_notify(&q->map->waits->not_empty))
        shmq__count(&q->self->counters.wakeups, 1);
    return err;
}

/* Give a claim back undelivered: the claim's delivery is taken back (count, and the
 * redelivery it was counted as), and the message is first in line again: a FIFO's goes to
 * the returned ring, which claims look at before the ready ring (so messages released in
 * claim order come back in that order), a LIFO's back on top of the ready stack. */
int shmq__mpmc_release(shmq_t *q, struct shmq_msg *m)
{
    uint32_t index;
    struct shmq__slot *slot;
    int err = msg_give_up(q, m, SHMQ__SLOT_READING, &index, &slot);
    if (err)
        return err;
    uint64_t mine = m->priv[SHMQ__MSG_STATE];
    shmq__delivery_undo(q, &slot->hdr); /* published by the ring release below */
    if (!q->map->returned_ring)
        return shmq__mpmc_slot_requeue(q, index, slot, mine);
    shmq__op_begin(q);
    atomic_store_explicit(&slot->state, shmq__state_next(mine, 0, SHMQ__SLOT_READY),
                          memory_order_release);
    err = shmq__scq_enqueue(q->map->returned_ring, q->map->geo.ring_order, index);
    shmq__op_end(q);
    if (shmq__wait_notify(&q->map->waits->not_empty))
        shmq__count(&q->self->counters.wakeups, 1);
    return err;
}

bool shmq__mpmc_delayed_waiting(const shmq_t *q)
{
    return delayed_waiting(q);
}

int shmq__mpmc_finish(shmq_t *q, struct shmq_msg *m, bool ack)
{
    uint32_t index;
    struct shmq__slot *slot;
    int err = msg_give_up(q, m, SHMQ__SLOT_READING, &index, &slot);
    if (err)
        return err;
    uint64_t mine = m->priv[SHMQ__MSG_STATE];
    if (ack && q->map->free_ring && (q->roles & SHMQ_ROLE_PRODUCER))
        return stash_free(q, index, slot, mine); /* it will push: keep the slot for it */
    return ack ? shmq__mpmc_slot_free(q, index, slot, mine)
               : shmq__mpmc_slot_requeue(q, index, slot, mine);
}

/* Keep a claimed message back after -EMSGSIZE: it was not delivered. A LIFO puts it back on
 * top, where it was; a FIFO keeps it in the handle so that it is still the next message. */
void shmq__mpmc_hold(shmq_t *q, struct shmq_msg *m)
{
    uint32_t index = (uint32_t)(m->priv[SHMQ__MSG_SLOT] - 1);
    struct shmq__slot *slot = shmq__slot_at(q->map, index);
    uint16_t deliveries = atomic_load_explicit(&slot->hdr.deliveries, memory_order_relaxed);
    atomic_store_explicit(&slot->hdr.deliveries, (uint16_t)(deliveries - 1), memory_order_relaxed);
    q->outstanding--;
    m->priv[SHMQ__MSG_SLOT] = 0;
    if (q->map->ready_stack)
        shmq__mpmc_slot_requeue(q, index, slot, m->priv[SHMQ__MSG_STATE]);
    else
        q->held = index;
}

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
static int push_batch_fifo(shmq_t *q, const struct iovec *msgs, unsigned n, int64_t deadline)
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
            if ((err = slot_take_free(q, &idx[k], &mine)) != 0)
                break;
            struct shmq__slot *slot = shmq__slot_at(m, idx[k]);
            memcpy(slot->payload, v->iov_base, v->iov_len);
            atomic_store_explicit(&slot->hdr.len, (uint32_t)v->iov_len, memory_order_relaxed);
            atomic_store_explicit(&slot->hdr.flags, 0, memory_order_relaxed);
            k++;
        }
        if (k == 0 && done == 0 && err == -EAGAIN && deadline != 0) {
            /* Full before the first message: wait for one slot the usual way, and keep it
             * in the stash for the next round. */
            struct shmq_msg one;
            if ((err = shmq__mpmc_reserve(q, 0, &one, deadline)) != 0)
                return err;
            q->outstanding--;
            q->stash[q->stash_count++] = (uint32_t)(one.priv[SHMQ__MSG_SLOT] - 1);
            continue;
        }
        if (k && (err = publish_run(q, idx, k)) != 0 && done == 0)
            return err;
        done += k;
        if (err) {
            if (done == 0 && err == -EAGAIN)
                shmq__count(&q->self->counters.full, 1);
            return done ? (int)done : err;
        }
    }
    return (int)done;
}

int shmq__mpmc_push_batch(shmq_t *q, const struct iovec *msgs, unsigned n, int64_t deadline)
{
    if (q->map->free_ring)
        return push_batch_fifo(q, msgs, n, deadline);
    int done = 0;
    for (unsigned i = 0; i < n; i++) {
        struct shmq_msg m = {0};
        if (msgs[i].iov_len > q->map->geo.slot_size)
            return done ? done : -EMSGSIZE;
        int err = shmq__mpmc_reserve(q, msgs[i].iov_len, &m, i == 0 ? deadline : 0);
        if (err)
            return done ? done : err;
        memcpy(m.data, msgs[i].iov_base, msgs[i].iov_len);
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
    return m->ready_ring && q->held == SHMQ__NONE && !m->geo.ttl_ns && !m->geo.max_deliveries &&
           shmq__scq_empty_hint(m->returned_ring, m->geo.ring_order) && !delayed_waiting(q);
}

struct pop_batch_ctx {
    struct iovec *bufs;
    unsigned n;
};

/* One message through the claim path, for a batch that found the queue not plain. */
static int pop_one(shmq_t *q, struct iovec *buf)
{
    struct shmq_msg m;
    int err = try_claim(q, &m);
    if (err)
        return err;
    if (m.len > buf->iov_len) {
        shmq__mpmc_hold(q, &m);
        return -EMSGSIZE;
    }
    memcpy(buf->iov_base, m.data, m.len);
    buf->iov_len = m.len;
    return (err = shmq__mpmc_finish(q, &m, true)) != 0 ? err : 1;
}

/* Hand k slots we hold on to `ring`, in order, in state `state` (FREE or READY), with one
 * ring step. The state stores are release, as every state store (for observers); the ring's
 * R1 publishes the slots to whoever takes them. */
static void put_run(shmq_t *q, struct shmq__scq *ring, const uint32_t *idx, unsigned k,
                    uint32_t state)
{
    struct shmq__mapping *m = q->map;
    if (k == 0)
        return;
    shmq__op_begin(q);
    for (unsigned j = 0; j < k; j++) {
        struct shmq__slot *slot = shmq__slot_at(m, idx[j]);
        uint64_t mine = atomic_load_explicit(&slot->state, memory_order_relaxed); /* ours */
        atomic_store_explicit(&slot->state, shmq__state_next(mine, 0, state), memory_order_release);
    }
    shmq__scq_enqueue_many(ring, m->geo.ring_order, idx, k);
    shmq__op_end(q);
}

/* Give slots we hold READING back as released, in order (the rest of a batch after a message
 * kept back for -EMSGSIZE: it was not delivered either). */
static void release_run(shmq_t *q, const uint32_t *idx, unsigned k)
{
    put_run(q, q->map->returned_ring, idx, k, SHMQ__SLOT_READY);
}

/* Free slots we hold, with one free-ring step. */
static void free_run(shmq_t *q, const uint32_t *idx, unsigned k)
{
    put_run(q, q->map->free_ring, idx, k, SHMQ__SLOT_FREE);
    if (k && shmq__wait_notify(&q->map->waits->not_full))
        shmq__count(&q->self->counters.wakeups, 1);
}

/* Take up to BATCH_STEP ready slots with one ring step and hold them READING. Returns how
 * many are held in idx (in order), or -EAGAIN / -EBADMSG when none is. */
static int take_run(shmq_t *q, uint32_t *idx, unsigned want)
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
        atomic_store_explicit(&slot->state, shmq__state_next(state, self_id(q), SHMQ__SLOT_READING),
                              memory_order_release);
        idx[held++] = idx[k];
    }
    shmq__op_end(q);
    return held ? held : err;
}

static int try_pop_batch(shmq_t *q, void *arg)
{
    struct pop_batch_ctx *c = arg;
    if (!shmq__mpmc_batch_plain(q))
        return pop_one(q, &c->bufs[0]);
    uint32_t idx[BATCH_STEP], done_idx[BATCH_STEP];
    int held = take_run(q, idx, c->n < BATCH_STEP ? c->n : BATCH_STEP);
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
            free_run(q, &done_idx[done], 1);
            continue;
        }
        struct iovec *b = &c->bufs[done];
        if (m.len > b->iov_len) {
            /* Kept back undelivered, and what follows it released behind it in order. */
            q->held = idx[k];
            release_run(q, &idx[k + 1], (unsigned)(held - k - 1));
            err = -EMSGSIZE;
            break;
        }
        memcpy(b->iov_base, m.data, m.len);
        b->iov_len = m.len;
        if (m.deliveries > 0)
            shmq__count(&q->self->counters.redelivered, 1);
        done_idx[done++] = idx[k];
    }
    free_run(q, done_idx, done);
    return done ? (int)done : err ? err : -EAGAIN;
}

int shmq__mpmc_pop_batch(shmq_t *q, struct iovec *bufs, unsigned n, int64_t deadline)
{
    struct pop_batch_ctx c = {.bufs = bufs, .n = n};
    int r = try_pop_batch(q, &c);
    if (SHMQ__LIKELY(r != -EAGAIN))
        return r;
    stash_spill(q, 0); /* idle: as in shmq__mpmc_claim */
    return shmq__block(q, &q->map->waits->not_empty, deadline, try_pop_batch, &c,
                       &q->self->counters.empty);
}

/* ---- inspection and close ---- */

struct peek_ctx {
    shmq_t *q;
    unsigned max, shown;
    bool full; /* max reached: the walk was stopped by us */
    int (*fn)(const struct shmq_msg *, void *);
    void *arg;
    struct shmq__slot *copy;
};

/* Copy a READY slot as a seqlock reader would: state, bytes, state again; a slot that changed
 * meanwhile is skipped. */
static int peek_one(uint32_t index, void *arg)
{
    struct peek_ctx *c = arg;
    if (c->shown >= c->max) {
        c->full = true;
        return 1;
    }
    if (index >= c->q->map->geo.capacity)
        return 0;
    struct shmq__slot *slot = shmq__slot_at(c->q->map, index);
    uint64_t before = atomic_load_explicit(&slot->state, memory_order_acquire);
    if (shmq__state_kind(before) != SHMQ__SLOT_READY)
        return 0;
    memcpy(c->copy, slot, c->q->map->geo.slot_stride);
    atomic_thread_fence(memory_order_acquire); /* the copy completes before the re-check */
    if (atomic_load_explicit(&slot->state, memory_order_relaxed) != before)
        return 0;
    struct shmq_msg m;
    if (shmq__slot_read(c->q->map, index, c->copy, &m) != 0)
        return 0;
    c->shown++;
    return c->fn(&m, c->arg);
}

int shmq__mpmc_peek(shmq_t *q, unsigned max, int (*fn)(const struct shmq_msg *, void *), void *arg)
{
    struct peek_ctx c = {.q = q, .max = max, .fn = fn, .arg = arg};
    c.copy = aligned_alloc(SHMQ__CACHELINE, q->map->geo.slot_stride);
    if (!c.copy)
        return -ENOMEM;
    int r = 0;
    if (q->map->returned_ring) /* claimed before the ready ones */
        r = shmq__scq_foreach(q->map->returned_ring, q->map->geo.ring_order, peek_one, &c);
    if (r == 0 && !c.full)
        r = q->map->ready_ring
                ? shmq__scq_foreach(q->map->ready_ring, q->map->geo.ring_order, peek_one, &c)
                : shmq__stack_foreach(q->map, q->map->ready_stack, peek_one, &c);
    free(c.copy);
    if (c.full)
        r = 0; /* our own stop, not the callback's */
    return r ? r : (int)c.shown;
}

/* At close: everything this handle still holds goes back, so nothing is lost. */
void shmq__mpmc_return_all(shmq_t *q)
{
    stash_spill(q, 0);
    if (q->held != SHMQ__NONE) {
        uint32_t index = q->held;
        struct shmq__slot *slot = shmq__slot_at(q->map, index);
        q->held = SHMQ__NONE;
        shmq__mpmc_slot_requeue(q, index, slot,
                                atomic_load_explicit(&slot->state, memory_order_relaxed));
    }
    if (q->outstanding == 0)
        return;
    for (uint32_t i = 0; i < q->map->geo.capacity && q->outstanding; i++) {
        struct shmq__slot *slot = shmq__slot_at(q->map, i);
        uint64_t state = atomic_load_explicit(&slot->state, memory_order_relaxed);
        if (shmq__state_owner(state) != self_id(q))
            continue;
        if (shmq__state_kind(state) == SHMQ__SLOT_READING) {
            shmq__count(&q->self->counters.nacked, 1);
            shmq__mpmc_slot_requeue(q, i, slot, state);
        } else if (shmq__state_kind(state) == SHMQ__SLOT_WRITING) {
            shmq__mpmc_slot_free(q, i, slot, state);
        } else {
            continue;
        }
        q->outstanding--;
    }
}
