/*
 * The delayed ring of an MPMC queue (layer: slot pool): messages nacked with a delay wait
 * there, READY, until their not-before time; a claim takes a due one before the ready ring.
 */
#include "pool.h"

#include "scq.h"
#include "slot.h"

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
int shmq__delayed_put(shmq_t *q, uint32_t index, struct shmq__slot *slot, uint64_t mine)
{
    struct shmq__mapping *m = q->map;
    shmq__op_begin(q);
    /* R4 (slot.h): the new state after the slot it vouches for. */
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
int shmq__delayed_take_due(shmq_t *q, uint32_t *index, uint64_t *mine)
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
        int err = shmq__pool_take(q, SHMQ__FROM_DELAYED, SHMQ__SLOT_READY, SHMQ__SLOT_READING,
                                  index, mine);
        if (err)
            return err;
        int64_t nb = atomic_load_explicit(&m->extras[*index].not_before_ns, memory_order_relaxed);
        if (nb <= now)
            return 0;
        if ((err = shmq__delayed_put(q, *index, shmq__slot_at(m, *index), *mine)) != 0)
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
