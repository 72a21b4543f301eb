/*
 * The single-producer/single-consumer ring (a FIFO created with both SHMQ_SINGLE_* flags):
 * Lamport's ring with the data inline and cached indices, as DPDK's SP/SC ring. head and tail
 * are free-running counters on their own cache lines; position p lives in slot p % capacity.
 * The producer writes only head and the slots in [head, tail + capacity); the consumer writes
 * only tail and the slot at tail. Each side keeps a cached copy of the other's counter and
 * reads the real one only when the cache says full (producer) or empty (consumer), so a steady
 * stream costs the message's bytes plus an occasional counter line. A slot is an 8-byte
 * message header and the payload, packed 8-byte aligned: a 64-byte message takes 72 bytes,
 * 1.125 cache lines of a stream (a 24-byte header rounded to whole lines took two).
 *
 * The promise of one producer and one consumer is enforced by the participant table (the
 * single_producer / single_consumer words): a second one gets -EBUSY.
 *
 * Crash contract: counters move only after the work is done. A producer killed before its
 * head store published nothing; a consumer killed before its tail store leaves the message
 * in place, so its claim is simply not yet consumed and the next consumer gets it again
 * (with its delivery count raised).
 *
 * Invariant: 0 <= head - tail <= capacity.
 */
#include "core.h"
#include "slot.h"
#include "wait.h"

#include <stdlib.h>

static inline struct shmq__msghdr *slot_of(shmq_t *q, uint32_t slot)
{
    return shmq__spsc_slot_at(q->map, slot);
}

static inline uint32_t next_slot(const shmq_t *q, uint32_t slot)
{
    return ++slot == q->map->geo.capacity ? 0 : slot;
}

int shmq__spsc_attach(shmq_t *q, uint32_t role)
{
    struct shmq__spsc *r = q->map->spsc;
    /* Acquire: pairs with the release stores of the previous holders of either role. */
    uint64_t head = atomic_load_explicit(&r->head, memory_order_acquire);
    uint64_t tail = atomic_load_explicit(&r->tail, memory_order_acquire);
    if (head - tail > q->map->geo.capacity)
        return -EBADMSG;
    if (role == SHMQ_ROLE_PRODUCER) {
        q->spsc.head = head;
        q->spsc.tail_cache = tail;
        q->spsc.write_slot = (uint32_t)(head % q->map->geo.capacity);
    } else {
        q->spsc.tail = tail;
        q->spsc.head_cache = head;
        q->spsc.read_slot = (uint32_t)(tail % q->map->geo.capacity);
    }
    return 0;
}

/* Room for at least `want` messages? Refreshes the cached tail only when needed. */
static inline uint64_t room(shmq_t *q, uint64_t want)
{
    uint64_t cap = q->map->geo.capacity;
    uint64_t free_slots = cap - (q->spsc.head - q->spsc.tail_cache);
    if (free_slots >= want)
        return free_slots;
    /* A5: pairs with R6 in the consumer's tail store: its reads of those slots are done. */
    q->spsc.tail_cache = atomic_load_explicit(&q->map->spsc->tail, memory_order_acquire);
    uint64_t used = q->spsc.head - q->spsc.tail_cache;
    return used > cap ? 0 : cap - used; /* a scribbled tail: report full, never overrun */
}

/* Messages available? Refreshes the cached head only when needed. */
static inline uint64_t available(shmq_t *q, uint64_t want)
{
    uint64_t avail = q->spsc.head_cache - q->spsc.tail;
    if (avail >= want)
        return avail;
    /* A6: pairs with R5 in the producer's head store: the slots before head are written. */
    q->spsc.head_cache = atomic_load_explicit(&q->map->spsc->head, memory_order_acquire);
    avail = q->spsc.head_cache - q->spsc.tail;
    return avail > q->map->geo.capacity ? 0 : avail;
}

/* Publish count messages written at head. */
static inline void publish(shmq_t *q, uint32_t count)
{
    q->spsc.head += count;
    /* R5: the slots are written before head moves past them. Pairs with A6. */
    atomic_store_explicit(&q->map->spsc->head, q->spsc.head, memory_order_release);
    shmq__count(&q->self->counters.pushed, count);
    if (shmq__wait_notify(&q->map->waits->not_empty))
        shmq__count(&q->self->counters.wakeups, 1);
}

/* Release count messages read at tail. */
static inline void consume(shmq_t *q, uint32_t count)
{
    q->spsc.tail += count;
    /* R6: our reads of the slots are done before the producer may reuse them. Pairs with A5. */
    atomic_store_explicit(&q->map->spsc->tail, q->spsc.tail, memory_order_release);
    if (shmq__wait_notify(&q->map->waits->not_full))
        shmq__count(&q->self->counters.wakeups, 1);
}

/* ---- copy fast paths (shmq_push / shmq_pop) ---- */

int shmq__spsc_push_copy(shmq_t *q, const void *data, size_t len)
{
    if (room(q, 1) == 0)
        return -EAGAIN;
    struct shmq__msghdr *slot = slot_of(q, q->spsc.write_slot);
    shmq__copy(shmq__payload(slot), data, len);
    /* The slot's header shares the payload's first line: these stores cost no extra line. */
    atomic_store_explicit(&slot->len, (uint32_t)len, memory_order_relaxed);
    atomic_store_explicit(&slot->flags, 0, memory_order_relaxed);
    atomic_store_explicit(&slot->deliveries, 0, memory_order_relaxed);
    if (SHMQ__UNLIKELY(q->map->geo.ttl_ns))
        atomic_store_explicit(&q->map->extras[q->spsc.write_slot].enqueued_ns, shmq__now_mono(),
                              memory_order_relaxed);
    q->spsc.write_slot = next_slot(q, q->spsc.write_slot);
    publish(q, 1);
    return 0;
}

ssize_t shmq__spsc_pop_copy(shmq_t *q, void *buf, size_t cap)
{
    if (available(q, 1) == 0)
        return -EAGAIN;
    struct shmq__msghdr *slot = slot_of(q, q->spsc.read_slot);
    uint32_t len = atomic_load_explicit(&slot->len, memory_order_relaxed);
    uint16_t flags = atomic_load_explicit(&slot->flags, memory_order_relaxed);
    /* Anything unusual (a delay, a buffer too small, a bad length, TTL or a delivery limit)
     * goes the claim way, which knows how to handle it. */
    if (SHMQ__UNLIKELY((flags & SHMQ__SLOT_DELAYED) || len > cap || len > q->map->geo.slot_size ||
                       q->map->geo.ttl_ns || q->map->geo.max_deliveries))
        return -ENOTSUP;
    shmq__copy(buf, shmq__payload(slot), len);
    /* A nacked message popped is a redelivery, as the claim way counts it. Relaxed: the count
     * was written by the producer (0, received with the slot by A6 in available()) or by this
     * consumer's own claim. */
    if (SHMQ__UNLIKELY(atomic_load_explicit(&slot->deliveries, memory_order_relaxed) > 0))
        shmq__count(&q->self->counters.redelivered, 1);
    /* pop is at-most-once: no delivery count is written back into the producer's line. */
    q->spsc.read_slot = next_slot(q, q->spsc.read_slot);
    consume(q, 1);
    return (ssize_t)len;
}

/* ---- producer ---- */

int shmq__spsc_try_reserve(shmq_t *q, struct shmq__reserve_ctx *c)
{
    if (q->spsc.reserved)
        return -EINPROGRESS; /* one reservation at a time: commit or discard it first */
    if (room(q, 1) == 0)
        return -EAGAIN;
    struct shmq__msghdr *slot = slot_of(q, q->spsc.write_slot);
    c->m->data = shmq__payload(slot);
    c->m->len = c->len;
    c->m->id = 0;
    c->m->deliveries = 0;
    c->m->priv[SHMQ__MSG_SLOT] = (uint64_t)q->spsc.write_slot + 1;
    c->m->priv[SHMQ__MSG_STATE] = q->spsc.head;
    q->spsc.reserved = true;
    return 0;
}

static int check_reserved(shmq_t *q, const struct shmq_msg *m)
{
    if (!q->spsc.reserved || m->priv[SHMQ__MSG_SLOT] != (uint64_t)q->spsc.write_slot + 1 ||
        m->priv[SHMQ__MSG_STATE] != q->spsc.head)
        return -EINVAL;
    return 0;
}

int shmq__spsc_commit(shmq_t *q, struct shmq_msg *m)
{
    size_t meta;
    int err = check_reserved(q, m);
    if (err || (err = shmq__msg_fits(q->map, m, &meta)))
        return err;
    struct shmq__msghdr *slot = slot_of(q, q->spsc.write_slot);
    shmq__meta_write(slot, m, meta);
    atomic_store_explicit(&slot->deliveries, 0, memory_order_relaxed);
    if (q->map->geo.ttl_ns)
        atomic_store_explicit(&q->map->extras[q->spsc.write_slot].enqueued_ns, shmq__now_mono(),
                              memory_order_relaxed); /* published by the head store */
    m->id = q->spsc.head;
    m->priv[SHMQ__MSG_SLOT] = 0;
    q->spsc.reserved = false;
    q->spsc.write_slot = next_slot(q, q->spsc.write_slot);
    publish(q, 1);
    return 0;
}

int shmq__spsc_discard(shmq_t *q, struct shmq_msg *m)
{
    int err = check_reserved(q, m);
    if (err)
        return err;
    m->priv[SHMQ__MSG_SLOT] = 0;
    q->spsc.reserved = false;
    return 0;
}

int shmq__spsc_try_push_batch(shmq_t *q, struct shmq__batch_ctx *c)
{
    if (q->spsc.reserved)
        return -EINPROGRESS;
    uint64_t free_slots = room(q, c->n);
    if (free_slots == 0)
        return -EAGAIN;
    unsigned count = c->n < free_slots ? c->n : (unsigned)free_slots;
    uint32_t slot_index = q->spsc.write_slot;
    unsigned done = 0;
    for (; done < count; done++) {
        size_t len = c->in[done].iov_len;
        if (len > q->map->geo.slot_size)
            break;
        struct shmq__msghdr *slot = slot_of(q, slot_index);
        shmq__copy(shmq__payload(slot), c->in[done].iov_base, len);
        atomic_store_explicit(&slot->len, (uint32_t)len, memory_order_relaxed);
        atomic_store_explicit(&slot->flags, 0, memory_order_relaxed);
        atomic_store_explicit(&slot->deliveries, 0, memory_order_relaxed);
        if (q->map->geo.ttl_ns)
            atomic_store_explicit(&q->map->extras[slot_index].enqueued_ns, shmq__now_mono(),
                                  memory_order_relaxed);
        slot_index = next_slot(q, slot_index);
    }
    if (done == 0)
        return -EMSGSIZE;
    q->spsc.write_slot = slot_index;
    publish(q, done);
    return (int)done;
}

/* ---- consumer ---- */

/* A delayed message at the head holds the ring back until it is due: -EAGAIN until then. */
static bool head_delayed(shmq_t *q, struct shmq__msghdr *slot)
{
    uint16_t flags = atomic_load_explicit(&slot->flags, memory_order_relaxed);
    if (!(flags & SHMQ__SLOT_DELAYED))
        return false;
    if (atomic_load_explicit(&q->map->extras[q->spsc.read_slot].not_before_ns,
                             memory_order_relaxed) > shmq__now_mono())
        return true;
    atomic_store_explicit(&slot->flags, (uint16_t)(flags & ~SHMQ__SLOT_DELAYED),
                          memory_order_relaxed);
    return false;
}

bool shmq__spsc_delayed_waiting(shmq_t *q)
{
    if (!(q->roles & SHMQ_ROLE_CONSUMER) || available(q, 1) == 0)
        return false;
    return atomic_load_explicit(&slot_of(q, q->spsc.read_slot)->flags, memory_order_relaxed) &
           SHMQ__SLOT_DELAYED;
}

/* Hand out the message at tail as claimed by us (m bound to it, so that finish, release and
 * hold recognize it). */
static void claim_bind(shmq_t *q, struct shmq_msg *m)
{
    m->priv[SHMQ__MSG_SLOT] = (uint64_t)q->spsc.read_slot + 1;
    m->priv[SHMQ__MSG_STATE] = q->spsc.tail;
    q->spsc.claimed = true;
}

int shmq__spsc_try_claim(shmq_t *q, struct shmq_msg *m)
{
    struct shmq__mapping *map = q->map;
    if (q->spsc.claimed)
        return -EINPROGRESS; /* one claim at a time: ack or nack it first */
    if (available(q, 1) == 0)
        return -EAGAIN;
    struct shmq__msghdr *slot = slot_of(q, q->spsc.read_slot);
    if (SHMQ__UNLIKELY(head_delayed(q, slot)))
        return -EAGAIN;
    /* The consumer owns the slot at tail: it may record the delivery in it. */
    uint16_t deliveries = atomic_load_explicit(&slot->deliveries, memory_order_relaxed);
    bool expired = map->geo.ttl_ns &&
                   shmq__expired(shmq__now_mono(),
                                 atomic_load_explicit(&map->extras[q->spsc.read_slot].enqueued_ns,
                                                      memory_order_relaxed),
                                 map->geo.ttl_ns);
    if (SHMQ__UNLIKELY(expired ||
                       (map->geo.max_deliveries && deliveries >= map->geo.max_deliveries))) {
        /* Not delivered: handed to the caller to dead-letter (dead_letter.c). */
        shmq__count(&q->self->counters.popped, 1);
        claim_bind(q, m);
        return expired ? SHMQ__CLAIM_EXPIRED : SHMQ__CLAIM_SPENT;
    }
    atomic_store_explicit(&slot->deliveries, (uint16_t)(deliveries + 1), memory_order_relaxed);
    int err = shmq__msg_read(map, slot, m);
    if (err) {
        /* A message that does not read back sanely is dropped, not handed out. */
        q->spsc.read_slot = next_slot(q, q->spsc.read_slot);
        consume(q, 1);
        return err;
    }
    if (deliveries > 0)
        shmq__count(&q->self->counters.redelivered, 1);
    m->id = q->spsc.tail;
    claim_bind(q, m);
    return 0;
}

int shmq__spsc_nack_delayed(shmq_t *q, struct shmq_msg *m, int64_t delay_ns)
{
    int err = shmq__spsc_finish(q, m, false);
    if (err)
        return err;
    int64_t now = shmq__now_mono();
    struct shmq__msghdr *slot = slot_of(q, q->spsc.read_slot);
    atomic_store_explicit(&q->map->extras[q->spsc.read_slot].not_before_ns,
                          delay_ns > INT64_MAX - now ? INT64_MAX : now + delay_ns,
                          memory_order_relaxed);
    uint16_t flags = atomic_load_explicit(&slot->flags, memory_order_relaxed);
    atomic_store_explicit(&slot->flags, (uint16_t)(flags | SHMQ__SLOT_DELAYED),
                          memory_order_relaxed);
    return 0;
}

int shmq__spsc_finish(shmq_t *q, struct shmq_msg *m, bool ack)
{
    if (!q->spsc.claimed || m->priv[SHMQ__MSG_SLOT] != (uint64_t)q->spsc.read_slot + 1 ||
        m->priv[SHMQ__MSG_STATE] != q->spsc.tail)
        return -EINVAL;
    m->priv[SHMQ__MSG_SLOT] = 0;
    q->spsc.claimed = false;
    if (ack) {
        q->spsc.read_slot = next_slot(q, q->spsc.read_slot);
        consume(q, 1);
    }
    /* nack: the message stays at tail with its delivery count raised. */
    return 0;
}

/* shmq_release: the message stays at tail, its claim taken back (count and redelivery). */
int shmq__spsc_release(shmq_t *q, struct shmq_msg *m)
{
    int err = shmq__spsc_finish(q, m, false); /* the claim checked and ended, tail kept */
    if (err)
        return err;
    shmq__delivery_undo(q, slot_of(q, q->spsc.read_slot)); /* only the consumer touches it */
    return 0;
}

/* After -EMSGSIZE the message stays at tail, undelivered. */
void shmq__spsc_hold(shmq_t *q, struct shmq_msg *m)
{
    struct shmq__msghdr *slot = slot_of(q, q->spsc.read_slot);
    uint16_t deliveries = atomic_load_explicit(&slot->deliveries, memory_order_relaxed);
    atomic_store_explicit(&slot->deliveries, (uint16_t)(deliveries - 1), memory_order_relaxed);
    m->priv[SHMQ__MSG_SLOT] = 0;
    q->spsc.claimed = false;
}

int shmq__spsc_try_pop_batch(shmq_t *q, struct shmq__batch_ctx *c)
{
    if (q->spsc.claimed)
        return -EINPROGRESS;
    uint64_t avail = available(q, c->n);
    if (avail == 0)
        return -EAGAIN;
    unsigned count = c->n < avail ? c->n : (unsigned)avail;
    uint32_t slot_index = q->spsc.read_slot;
    unsigned done = 0;
    int err = 0;
    for (; done < count; done++) {
        struct shmq__msghdr *slot = slot_of(q, slot_index);
        if (atomic_load_explicit(&slot->flags, memory_order_relaxed) & SHMQ__SLOT_DELAYED) {
            if (done == 0 && head_delayed(q, slot))
                return -EAGAIN;
            if (done > 0)
                break; /* let the next call look at it */
        }
        uint32_t len = atomic_load_explicit(&slot->len, memory_order_relaxed);
        if (len > q->map->geo.slot_size) {
            err = -EBADMSG;
            break;
        }
        if (len > c->out[done].iov_len) {
            err = -EMSGSIZE;
            break;
        }
        shmq__copy(c->out[done].iov_base, shmq__payload(slot), len);
        c->out[done].iov_len = len;
        slot_index = next_slot(q, slot_index);
    }
    if (done == 0)
        return err;
    q->spsc.read_slot = slot_index;
    consume(q, done);
    return (int)done;
}

/* ---- inspection ---- */

uint64_t shmq__spsc_depth(const struct shmq__mapping *m)
{
    /* A5/A6 (observer): pair with R6 (tail) and R5 (head). */
    uint64_t tail = atomic_load_explicit(&m->spsc->tail, memory_order_acquire);
    uint64_t head = atomic_load_explicit(&m->spsc->head, memory_order_acquire);
    uint64_t depth = head - tail;
    return depth > m->geo.capacity ? m->geo.capacity : depth;
}

int shmq__spsc_peek(shmq_t *q, unsigned max, int (*fn)(const struct shmq_msg *, void *), void *arg)
{
    struct shmq__mapping *map = q->map;
    struct shmq__msghdr *copy = malloc(map->geo.slot_stride);
    if (!copy)
        return -ENOMEM;
    /* A5/A6 (observer): pair with R6 (tail) and R5 (head): the slots before head are written. */
    uint64_t tail = atomic_load_explicit(&map->spsc->tail, memory_order_acquire);
    uint64_t head = atomic_load_explicit(&map->spsc->head, memory_order_acquire);
    if (head - tail > map->geo.capacity)
        head = tail;
    unsigned shown = 0;
    int r = 0;
    for (uint64_t pos = tail; pos != head && shown < max; pos++) {
        uint32_t index = (uint32_t)(pos % map->geo.capacity);
        memcpy(copy, shmq__spsc_slot_at(map, index), map->geo.slot_stride);
        /* The copy completes before the tail is read again (the re-check pairs with R6: a tail
         * past pos means the producer may have rewritten the slot during the copy). */
        atomic_thread_fence(memory_order_acquire);
        /* If the consumer has passed pos, the producer may have rewritten the slot. */
        if (atomic_load_explicit(&map->spsc->tail, memory_order_relaxed) > pos)
            continue;
        struct shmq_msg m;
        if (shmq__msg_read(map, copy, &m) != 0)
            continue;
        m.id = pos;
        shown++;
        if ((r = fn(&m, arg)) != 0)
            break;
    }
    free(copy);
    return r ? r : (int)shown;
}
