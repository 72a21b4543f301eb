/*
 * The multi-producer/multi-consumer queue (layer: queue core) over the slot pool (pool.c): a
 * FIFO keeps free and ready slot indices in two SCQ rings; a LIFO in two Treiber stacks.
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
#include "core.h"
#include "pool.h"
#include "scq.h"
#include "slot.h"
#include "stack.h"
#include "wait.h"

#include <stdlib.h>

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
    if (shmq__state_kind(state) != kind || shmq__state_owner(state) != shmq__self_id(q))
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

/* A free slot held WRITING by us (pool.h), with its address. */
static inline int take_free_slot(shmq_t *q, uint32_t *index, uint64_t *mine,
                                 struct shmq__slot **slot)
{
    int err = shmq__pool_take_free(q, index, mine);
    if (!err)
        *slot = shmq__slot_at(q->map, *index);
    return err;
}

int shmq__mpmc_try_reserve(shmq_t *q, struct shmq__reserve_ctx *c)
{
    uint32_t index;
    uint64_t mine;
    struct shmq__slot *slot;
    int err = take_free_slot(q, &index, &mine, &slot);
    if (err)
        return err;
    q->outstanding++;
    c->m->data = slot->payload;
    c->m->len = c->len;
    c->m->id = 0;
    c->m->deliveries = 0;
    msg_bind(c->m, index, mine);
    return 0;
}

/* Publish a slot we hold WRITING (state `mine`) whose message header is written: READY, into
 * the ready structure. The commit generation it gets, or a negative errno of the ring. */
static inline int64_t publish(shmq_t *q, uint32_t index, struct shmq__slot *slot, uint64_t mine)
{
    uint64_t ready = shmq__state_next(mine, 0, SHMQ__SLOT_READY);
    atomic_store_explicit(&slot->hdr.deliveries, 0, memory_order_relaxed);
    atomic_store_explicit(&slot->commit_gen, shmq__state_gen(ready), memory_order_relaxed);
    if (SHMQ__UNLIKELY(q->map->geo.ttl_ns))
        atomic_store_explicit(&q->map->extras[index].enqueued_ns, shmq__now_mono(),
                              memory_order_relaxed); /* published with the slot */
    shmq__op_begin(q);
    /* R4 (slot.h): the new state after the slot it vouches for. */
    atomic_store_explicit(&slot->state, ready, memory_order_release);
    int err = shmq__pool_ready_put(q, index);
    shmq__op_end(q);
    if (err)
        return err;
    shmq__count(&q->self->counters.pushed, 1);
    if (shmq__wait_notify(&q->map->waits->not_empty))
        shmq__count(&q->self->counters.wakeups, 1);
    return shmq__state_gen(ready);
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
    int64_t gen = publish(q, index, slot, m->priv[SHMQ__MSG_STATE]);
    if (gen < 0)
        return (int)gen;
    m->id = ((uint64_t)gen << 32) | index;
    q->outstanding--;
    m->priv[SHMQ__MSG_SLOT] = 0;
    return 0;
}

/* shmq_push without a message descriptor (no metadata): reserve, copy and commit in one
 * step. The caller has checked len <= slot_size. */
int shmq__mpmc_push_copy(shmq_t *q, const void *data, size_t len)
{
    uint32_t index;
    uint64_t mine;
    struct shmq__slot *slot;
    int err = take_free_slot(q, &index, &mine, &slot);
    if (err)
        return err;
    shmq__copy(slot->payload, data, len);
    atomic_store_explicit(&slot->hdr.len, (uint32_t)len, memory_order_relaxed);
    atomic_store_explicit(&slot->hdr.flags, 0, memory_order_relaxed);
    int64_t gen = publish(q, index, slot, mine);
    return gen < 0 ? (int)gen : 0;
}

int shmq__mpmc_discard(shmq_t *q, struct shmq_msg *m)
{
    uint32_t index;
    struct shmq__slot *slot;
    int err = msg_give_up(q, m, SHMQ__SLOT_WRITING, &index, &slot);
    if (err)
        return err;
    return shmq__pool_free(q, index, slot, m->priv[SHMQ__MSG_STATE]);
}

/* ---- claim / ack / nack ---- */

/* A message we hold READING, not delivered (-EMSGSIZE): a LIFO puts it back on top, where it
 * was; a FIFO keeps it in the handle so that it is still the next message. */
static void keep_back(shmq_t *q, uint32_t index, struct shmq__slot *slot, uint64_t mine)
{
    if (q->map->ready_stack)
        shmq__pool_requeue(q, index, slot, mine);
    else
        q->pool.held = index;
}

/* Fill m from a slot we hold in READING; a slot that does not read back sanely is freed and
 * reported (-EBADMSG) rather than handed out. */
static int claim_finish(shmq_t *q, uint32_t index, struct shmq__slot *slot, uint64_t mine,
                        struct shmq_msg *m)
{
    uint16_t deliveries = atomic_load_explicit(&slot->hdr.deliveries, memory_order_relaxed);
    atomic_store_explicit(&slot->hdr.deliveries, (uint16_t)(deliveries + 1), memory_order_relaxed);
    int err = shmq__slot_read(q->map, index, slot, m);
    if (err) {
        shmq__pool_free(q, index, slot, mine);
        return err;
    }
    if (deliveries > 0)
        shmq__count(&q->self->counters.redelivered, 1);
    shmq__mpmc_adopt(q, index, mine, m);
    return 0;
}

void shmq__mpmc_adopt(shmq_t *q, uint32_t index, uint64_t mine, struct shmq_msg *m)
{
    q->outstanding++;
    msg_bind(m, index, mine);
}

int shmq__mpmc_try_claim(shmq_t *q, struct shmq_msg *m)
{
    struct shmq__mapping *map = q->map;
    if (q->pool.held != SHMQ__NONE) {
        /* The message an earlier -EMSGSIZE kept back comes first. */
        uint32_t index = q->pool.held;
        struct shmq__slot *slot = shmq__slot_at(map, index);
        q->pool.held = SHMQ__NONE;
        return claim_finish(q, index, slot,
                            atomic_load_explicit(&slot->state, memory_order_relaxed), m);
    }
    uint32_t index;
    uint64_t mine;
    int err = -EAGAIN;
    /* Released messages are first in line (shmq_release). Looking costs two loads of a
     * ring nobody writes unless something is released. */
    if (map->returned_ring && !shmq__scq_empty_hint(map->returned_ring, map->geo.ring_order))
        err = shmq__pool_take(q, SHMQ__FROM_RETURNED, SHMQ__SLOT_READY, SHMQ__SLOT_READING, &index,
                              &mine);
    if (err == -EAGAIN && SHMQ__UNLIKELY(shmq__delayed_ring_waiting(q)))
        err = shmq__delayed_take_due(q, &index, &mine); /* a due one goes first */
    if (err == -EAGAIN)
        err = shmq__pool_take(q, SHMQ__FROM_READY, SHMQ__SLOT_READY, SHMQ__SLOT_READING, &index,
                              &mine);
    if (err)
        return err;
    struct shmq__slot *slot = shmq__slot_at(map, index);
    if (SHMQ__UNLIKELY(map->geo.ttl_ns) &&
        shmq__expired(shmq__now_mono(),
                      atomic_load_explicit(&map->extras[index].enqueued_ns, memory_order_relaxed),
                      map->geo.ttl_ns)) {
        /* Not delivered: handed to the caller to dead-letter (dead_letter.c). */
        shmq__count(&q->self->counters.popped, 1);
        shmq__mpmc_adopt(q, index, mine, m);
        return SHMQ__CLAIM_EXPIRED;
    }
    if (SHMQ__UNLIKELY(map->geo.max_deliveries) &&
        atomic_load_explicit(&slot->hdr.deliveries, memory_order_relaxed) >=
            map->geo.max_deliveries) {
        shmq__count(&q->self->counters.popped, 1);
        shmq__mpmc_adopt(q, index, mine, m);
        return SHMQ__CLAIM_SPENT;
    }
    return claim_finish(q, index, slot, mine, m);
}

/* shmq_pop without a message descriptor: claim, copy out and ack in one step. The length,
 * -EAGAIN when empty, -EMSGSIZE when buf is too small (the message is kept back undelivered,
 * as the claim way does), -EBADMSG, or -ENOTSUP when the next message needs the claim way (a
 * message kept back, released or delayed ahead of the ready ones, a TTL or delivery limit to
 * check). */
ssize_t shmq__mpmc_pop_copy(shmq_t *q, void *buf, size_t cap)
{
    struct shmq__mapping *map = q->map;
    if (SHMQ__UNLIKELY(q->pool.held != SHMQ__NONE || map->geo.ttl_ns || map->geo.max_deliveries ||
                       (map->returned_ring &&
                        !shmq__scq_empty_hint(map->returned_ring, map->geo.ring_order)) ||
                       shmq__delayed_ring_waiting(q)))
        return -ENOTSUP;
    uint32_t index;
    uint64_t mine;
    int err =
        shmq__pool_take(q, SHMQ__FROM_READY, SHMQ__SLOT_READY, SHMQ__SLOT_READING, &index, &mine);
    if (err)
        return err;
    struct shmq__slot *slot = shmq__slot_at(map, index);
    /* Relaxed: the slot is ours since the take, whose ring acquire (A1 in scq.c) received
     * the header with it. Read from shared memory: checked as shmq__msg_read does. */
    uint32_t len = atomic_load_explicit(&slot->hdr.len, memory_order_relaxed);
    uint16_t flags = atomic_load_explicit(&slot->hdr.flags, memory_order_relaxed);
    if (SHMQ__UNLIKELY(len > map->geo.slot_size ||
                       (flags & ~(SHMQ__SLOT_META | SHMQ__SLOT_DELAYED)))) {
        shmq__pool_free(q, index, slot, mine); /* freed, not handed out (claim_finish) */
        return -EBADMSG;
    }
    if (SHMQ__UNLIKELY(len > cap)) {
        keep_back(q, index, slot, mine);
        return -EMSGSIZE;
    }
    /* Counted as a claim would count it, so that a pop cut short by kill -9 is redelivered
     * as a redelivery (the reaper gives READING slots of the dead back). Relaxed: ours, and
     * published with the slot by the release that frees or requeues it. */
    uint16_t deliveries = atomic_load_explicit(&slot->hdr.deliveries, memory_order_relaxed);
    atomic_store_explicit(&slot->hdr.deliveries, (uint16_t)(deliveries + 1), memory_order_relaxed);
    shmq__copy(buf, slot->payload, len);
    if (deliveries > 0)
        shmq__count(&q->self->counters.redelivered, 1);
    if (map->free_ring && (q->roles & SHMQ_ROLE_PRODUCER))
        shmq__pool_stash_free(q, index, slot, mine);
    else
        shmq__pool_free(q, index, slot, mine);
    return (ssize_t)len;
}

/* The claimer found the queue empty and is about to wait: what its stash kept goes back to
 * those who may need it. */
void shmq__mpmc_idle(shmq_t *q)
{
    shmq__pool_spill(q, 0);
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
    err = shmq__delayed_put(q, index, slot, m->priv[SHMQ__MSG_STATE]);
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
        return shmq__pool_requeue(q, index, slot, mine);
    shmq__op_begin(q);
    /* R4 (slot.h): the new state after the slot it vouches for. */
    atomic_store_explicit(&slot->state, shmq__state_next(mine, 0, SHMQ__SLOT_READY),
                          memory_order_release);
    err = shmq__scq_enqueue(q->map->returned_ring, q->map->geo.ring_order, index);
    shmq__op_end(q);
    if (shmq__wait_notify(&q->map->waits->not_empty))
        shmq__count(&q->self->counters.wakeups, 1);
    return err;
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
        return shmq__pool_stash_free(q, index, slot, mine); /* it will push: keep the slot for it */
    return ack ? shmq__pool_free(q, index, slot, mine) : shmq__pool_requeue(q, index, slot, mine);
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
    keep_back(q, index, slot, m->priv[SHMQ__MSG_STATE]);
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
    /* A4 (slot.h): pairs with R4 of whoever stored this state. */
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
                : shmq__stack_foreach(&q->map->links, q->map->ready_stack, peek_one, &c);
    free(c.copy);
    if (c.full)
        r = 0; /* our own stop, not the callback's */
    return r ? r : (int)c.shown;
}

/* At close: everything this handle still holds goes back, so nothing is lost. */
void shmq__mpmc_return_all(shmq_t *q)
{
    shmq__pool_spill(q, 0);
    if (q->pool.held != SHMQ__NONE) {
        uint32_t index = q->pool.held;
        struct shmq__slot *slot = shmq__slot_at(q->map, index);
        q->pool.held = SHMQ__NONE;
        shmq__pool_requeue(q, index, slot,
                           atomic_load_explicit(&slot->state, memory_order_relaxed));
    }
    if (q->outstanding == 0)
        return;
    for (uint32_t i = 0; i < q->map->geo.capacity && q->outstanding; i++) {
        struct shmq__slot *slot = shmq__slot_at(q->map, i);
        uint64_t state = atomic_load_explicit(&slot->state, memory_order_relaxed);
        if (shmq__state_owner(state) != shmq__self_id(q))
            continue;
        if (shmq__state_kind(state) == SHMQ__SLOT_READING) {
            shmq__count(&q->self->counters.nacked, 1);
            shmq__pool_requeue(q, i, slot, state);
        } else if (shmq__state_kind(state) == SHMQ__SLOT_WRITING) {
            shmq__pool_free(q, i, slot, state);
        } else {
            continue;
        }
        q->outstanding--;
    }
}
