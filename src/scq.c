/*
 * SCQ ring of indices (see scq.h for the algorithm, its invariants and its progress).
 *
 * Memory order. The correctness argument of SCQ assumes one total order over the operations
 * on head, tail, threshold and the entries: the `safe` bit and the "head <= tail" test are a
 * store-then-load handshake between a producer and a consumer (Dekker's pattern), which
 * acquire/release alone does not order. So these accesses are seq_cst. On x86 every
 * read-modify-write is a locked instruction anyway and seq_cst loads are plain loads, so the
 * only extra cost is the threshold store, which is skipped when the value is already there.
 * The entry CAS also carries the release that publishes the slot (R1 below) and the entry
 * fetch-or the acquire that receives it (A1).
 */
#include "scq.h"

#include <errno.h>

#ifndef SHMQ_SCQ_NO_REMAP
#define SHMQ_SCQ_NO_REMAP 0 /* 1: consecutive positions share lines (an experiment's switch) */
#endif

#define ENTRY_INDEX_MASK UINT64_C(0xffffffff)
#define ENTRY_SAFE (UINT64_C(1) << 32)
#define CYCLE_SHIFT 33
#define CYCLE_MASK UINT32_C(0x7fffffff)

static inline uint32_t entry_cycle(uint64_t e)
{
    return (uint32_t)(e >> CYCLE_SHIFT);
}
static inline uint32_t entry_index(uint64_t e)
{
    return (uint32_t)(e & ENTRY_INDEX_MASK);
}
static inline bool entry_safe(uint64_t e)
{
    return (e & ENTRY_SAFE) != 0;
}
static inline uint64_t entry_make(uint32_t cycle, bool safe, uint32_t index)
{
    return ((uint64_t)(cycle & CYCLE_MASK) << CYCLE_SHIFT) | (safe ? ENTRY_SAFE : 0) | index;
}

/* The lap of a position: position / 2n, kept to 31 bits. */
static inline uint32_t position_cycle(uint64_t pos, uint32_t order)
{
    return (uint32_t)(pos >> (order + 1)) & CYCLE_MASK;
}

/* Cycles are compared by their difference modulo 2^31 (they are never 2^30 laps apart). */
static inline int32_t cycle_diff(uint32_t a, uint32_t b)
{
    return (int32_t)((a - b) << 1) >> 1;
}

/* Signed distance between free-running 64-bit positions. */
static inline int64_t pos_diff(uint64_t a, uint64_t b)
{
    return (int64_t)(a - b);
}

/* Entry j of position pos. Consecutive positions land on different cache lines (8 entries
 * per line), so a producer and a consumer working side by side do not share a line. */
static inline uint64_t position_entry(uint64_t pos, uint32_t order)
{
    uint32_t bits = order + 1; /* log2 of the entry count */
    uint64_t j = pos & ((UINT64_C(1) << bits) - 1);
    if (bits < 4 || SHMQ_SCQ_NO_REMAP)
        return j;
    return ((j & 7u) << (bits - 3)) | (j >> 3);
}

static inline int64_t threshold_full(uint32_t order)
{
    return 3 * ((int64_t)1 << order) - 1; /* 3n - 1 */
}

void shmq__scq_init_at(struct shmq__scq *q, uint32_t order, uint64_t start)
{
    uint64_t entries = UINT64_C(2) << order;
    /* Every entry is one lap older than its first user, at position start. */
    uint32_t older = (position_cycle(start, order) - 1) & CYCLE_MASK;
    for (uint64_t j = 0; j < entries; j++)
        atomic_init(&q->entries[j], entry_make(older, true, SHMQ__SCQ_BOTTOM));
    atomic_init(&q->head, start);
    atomic_init(&q->tail, start);
    atomic_init(&q->threshold, -1);
}

void shmq__scq_init_empty(struct shmq__scq *q, uint32_t order)
{
    shmq__scq_init_at(q, order, UINT64_C(2) << order);
}

void shmq__scq_init_full(struct shmq__scq *q, uint32_t order, uint32_t count)
{
    shmq__scq_init_empty(q, order);
    uint64_t start = UINT64_C(2) << order;
    for (uint32_t i = 0; i < count; i++) {
        uint64_t pos = start + i;
        atomic_init(&q->entries[position_entry(pos, order)],
                    entry_make(position_cycle(pos, order), true, i));
    }
    atomic_init(&q->tail, start + count);
    atomic_init(&q->threshold, count ? threshold_full(order) : -1);
}

/* A sane ring has an empty entry within 2n positions of any tail, and a dequeue ends within
 * 3n positions unless enqueues keep succeeding meanwhile; so a live operation finishes long
 * before this bound unless it is outrun by the others. The bound only stops a scribbled ring
 * from keeping us forever. */
static inline uint64_t attempts_max(uint32_t order)
{
    return (UINT64_C(2) << order) * 1024 + 65536;
}

/* Try to put index into the entry of position tail (taken by our fetch-and-add on tail):
 * true when it is there. False when the entry is occupied, was already used in this lap, or
 * was marked unsafe by a consumer that is already past: the position is lost and the caller
 * takes another. */
static inline bool put_at(struct shmq__scq *q, uint32_t order, uint64_t tail, uint32_t index)
{
    uint32_t tcycle = position_cycle(tail, order);
    _Atomic uint64_t *slot = &q->entries[position_entry(tail, order)];
    /* First a CAS from what the entry holds when all went well: left empty and safe by the
     * consumer of the lap before. A load first would fetch the line shared and the CAS then
     * fetch it again to own it: two transfers from the consumer's CPU instead of one. On a
     * mismatch the CAS has loaded the entry, and the checks below decide. R1 as below. */
    uint64_t e = entry_make(tcycle - 1, true, SHMQ__SCQ_BOTTOM);
    if (atomic_compare_exchange_strong_explicit(slot, &e, entry_make(tcycle, true, index),
                                                memory_order_seq_cst, memory_order_seq_cst))
        return true;
    for (;;) {
        if (cycle_diff(entry_cycle(e), tcycle) >= 0 || entry_index(e) != SHMQ__SCQ_BOTTOM)
            return false; /* occupied or already used in this lap: take the next position */
        if (!entry_safe(e) &&
            pos_diff(atomic_load_explicit(&q->head, memory_order_seq_cst), tail) > 0)
            return false; /* a consumer marked it unsafe and is already past: not ours */
        /* R1: publishes the index (and, through the caller's release of the slot state
         * before this call, the slot). Pairs with A1 in take_at. */
        if (atomic_compare_exchange_weak_explicit(slot, &e, entry_make(tcycle, true, index),
                                                  memory_order_seq_cst, memory_order_seq_cst))
            return true;
    }
}

/* After an enqueue: consumers may run 3n - 1 more positions before they call the ring empty.
 * Skipped when the threshold is there already, so that a steady stream does not write it. */
static inline void threshold_reset(struct shmq__scq *q, uint32_t order)
{
    if (atomic_load_explicit(&q->threshold, memory_order_seq_cst) != threshold_full(order))
        atomic_store_explicit(&q->threshold, threshold_full(order), memory_order_seq_cst);
}

int shmq__scq_enqueue(struct shmq__scq *q, uint32_t order, uint32_t index)
{
    for (uint64_t attempts = attempts_max(order); attempts; attempts--) {
        uint64_t tail = atomic_fetch_add_explicit(&q->tail, 1, memory_order_seq_cst);
        if (put_at(q, order, tail, index)) {
            threshold_reset(q, order);
            return 0;
        }
    }
    return -EBADMSG;
}

int shmq__scq_enqueue_many(struct shmq__scq *q, uint32_t order, const uint32_t *index,
                           unsigned count)
{
    if (count == 0)
        return 0;
    /* One fetch-and-add for the whole run of positions; the indices go in order into the
     * positions that take them. A position lost to a consumer that ran ahead costs only that
     * position: what does not fit in the run goes one by one. */
    uint64_t tail = atomic_fetch_add_explicit(&q->tail, count, memory_order_seq_cst);
    unsigned done = 0;
    for (unsigned k = 0; k < count; k++)
        done += put_at(q, order, tail + k, index[done]);
    if (done)
        threshold_reset(q, order);
    for (; done < count; done++) {
        int err = shmq__scq_enqueue(q, order, index[done]);
        if (err)
            return err;
    }
    return 0;
}

/* Move tail up to head after consumers ran past an empty ring, so that producers do not fill
 * entries the consumers have already passed. Bounded: stops as soon as tail >= head. */
static void catchup(struct shmq__scq *q, uint64_t tail, uint64_t head)
{
    while (!atomic_compare_exchange_weak_explicit(&q->tail, &tail, head, memory_order_seq_cst,
                                                  memory_order_seq_cst)) {
        head = atomic_load_explicit(&q->head, memory_order_seq_cst);
        tail = atomic_load_explicit(&q->tail, memory_order_seq_cst);
        if (pos_diff(tail, head) >= 0)
            break;
    }
}

/* Take the index in the entry of position head (taken by our fetch-and-add on head), or
 * SHMQ__SCQ_BOTTOM when there is none for this position: then the entry is left so that no
 * late producer of an older lap fills it behind us. */
static inline uint32_t take_at(struct shmq__scq *q, uint32_t order, uint64_t head)
{
    uint32_t hcycle = position_cycle(head, order);
    _Atomic uint64_t *slot = &q->entries[position_entry(head, order)];
    uint64_t e = atomic_load_explicit(slot, memory_order_seq_cst);
    for (;;) {
        uint32_t ecycle = entry_cycle(e);
        if (ecycle == hcycle) {
            /* Ours: take the index, leaving cycle and safe bit. A1: pairs with R1. */
            uint64_t taken = atomic_fetch_or_explicit(slot, ENTRY_INDEX_MASK, memory_order_seq_cst);
            return entry_index(taken);
        }
        if (cycle_diff(ecycle, hcycle) >= 0)
            return SHMQ__SCQ_BOTTOM; /* a newer lap already: nothing for this position */
        /* An older lap. Empty: advance it to our lap so a late producer of that lap cannot
         * fill it behind us. Full (its consumer is late): mark it unsafe instead — unless a
         * consumer before us already did (no write for nothing to a line others use). */
        if (entry_index(e) != SHMQ__SCQ_BOTTOM && !entry_safe(e))
            return SHMQ__SCQ_BOTTOM;
        uint64_t next = entry_index(e) == SHMQ__SCQ_BOTTOM
                            ? entry_make(hcycle, entry_safe(e), SHMQ__SCQ_BOTTOM)
                            : entry_make(ecycle, false, entry_index(e));
        if (atomic_compare_exchange_weak_explicit(slot, &e, next, memory_order_seq_cst,
                                                  memory_order_seq_cst))
            return SHMQ__SCQ_BOTTOM;
    }
}

/* True when the entry of position pos holds an index of pos's lap: a message is there. */
static inline bool position_filled(struct shmq__scq *q, uint32_t order, uint64_t pos)
{
    uint64_t e =
        atomic_load_explicit(&q->entries[position_entry(pos, order)], memory_order_seq_cst);
    return entry_cycle(e) == position_cycle(pos, order) && entry_index(e) != SHMQ__SCQ_BOTTOM;
}

/*
 * Look before you write: how many positions from head a dequeue may take (at most `max`), 0
 * when the ring is to be called empty, or -1 for an impossible threshold (a scribbled ring).
 * Loads only, so that a consumer polling an empty ring never writes to a line that producers
 * use.
 *
 * The entries are looked at first: a run of filled entries from head is what a dequeue will
 * take, and reading them costs nothing more (take_at reads them next), whereas tail is the
 * producers' hottest line. Only when the entry at head is not filled is tail read, and the
 * ring is empty when no position lies between head and tail, or only the one at head (a
 * producer between its fetch-and-add and its entry CAS). Passing that position would take
 * it from its producer, which then starts over at the next position: a consumer polling
 * right behind a producer would make it pay twice for most messages. Why "empty" is right
 * then: head was read first, the entry next, tail last; at the entry's load head >= h and
 * tail <= t <= h + 1, so every position before h belonged to a consumer, none after h to a
 * producer, and h held nothing: the ring held no message a dequeue could take. A producer
 * that never fills h (it died) holds nothing back: the next enqueue moves tail past h + 1 and
 * consumers pass h as before.
 */
static inline int64_t ready_positions(struct shmq__scq *q, uint32_t order, uint64_t max)
{
    int64_t threshold = atomic_load_explicit(&q->threshold, memory_order_seq_cst);
    if (threshold < 0)
        return 0;
    /* The threshold is only ever set to 3n - 1 and counted down: a larger one was written by
     * someone else, and would keep a dequeue going for up to 2^63 rounds. */
    if (threshold > threshold_full(order))
        return -1;
    uint64_t head = atomic_load_explicit(&q->head, memory_order_seq_cst);
    uint64_t filled = 0;
    while (filled < max && position_filled(q, order, head + filled))
        filled++;
    if (filled)
        return (int64_t)filled;
    int64_t avail = pos_diff(atomic_load_explicit(&q->tail, memory_order_seq_cst), head);
    if (avail <= 1)
        return 0;
    return (uint64_t)avail < max ? avail : (int64_t)max;
}

/* After positions [head, head + count) gave nothing: let producers skip what consumers
 * passed, and count the failures down on the threshold. True when the ring is to be called
 * empty. */
static inline bool passed_empty(struct shmq__scq *q, uint64_t head, uint64_t count)
{
    uint64_t tail = atomic_load_explicit(&q->tail, memory_order_seq_cst);
    if (pos_diff(tail, head + count) <= 0) {
        catchup(q, tail, head + count);
        atomic_fetch_sub_explicit(&q->threshold, (int64_t)count, memory_order_seq_cst);
        return true;
    }
    /* Empty once the threshold goes below zero (a single failure: its old value was <= 0). */
    return atomic_fetch_sub_explicit(&q->threshold, (int64_t)count, memory_order_seq_cst) -
               (int64_t)count <
           0;
}

uint32_t shmq__scq_dequeue(struct shmq__scq *q, uint32_t order)
{
    int64_t ready = ready_positions(q, order, 1);
    if (ready <= 0)
        return ready < 0 ? SHMQ__SCQ_CORRUPT : SHMQ__SCQ_BOTTOM;
    for (uint64_t attempts = attempts_max(order); attempts; attempts--) {
        uint64_t head = atomic_fetch_add_explicit(&q->head, 1, memory_order_seq_cst);
        uint32_t index = take_at(q, order, head);
        if (index != SHMQ__SCQ_BOTTOM)
            return index;
        if (passed_empty(q, head, 1))
            return SHMQ__SCQ_BOTTOM;
    }
    return SHMQ__SCQ_CORRUPT;
}

int shmq__scq_dequeue_many(struct shmq__scq *q, uint32_t order, uint32_t *index, unsigned max)
{
    int64_t ready = ready_positions(q, order, max);
    if (ready <= 0)
        return ready < 0 ? -EBADMSG : 0;
    /* One fetch-and-add for as many positions as the look said are there: never more, so a
     * batch does not run consumers past the producers. */
    uint64_t head = atomic_fetch_add_explicit(&q->head, (uint64_t)ready, memory_order_seq_cst);
    unsigned got = 0;
    for (uint64_t k = 0; k < (uint64_t)ready; k++) {
        uint32_t i = take_at(q, order, head + k);
        if (i != SHMQ__SCQ_BOTTOM)
            index[got++] = i;
    }
    if ((uint64_t)got < (uint64_t)ready)
        passed_empty(q, head, (uint64_t)ready - got);
    return (int)got;
}

/* The position within its lap of entry number e (inverse of position_entry). */
static inline uint64_t entry_lap_position(uint64_t e, uint32_t order)
{
    uint32_t bits = order + 1;
    if (bits < 4 || SHMQ_SCQ_NO_REMAP)
        return e;
    uint64_t low = e & ((UINT64_C(1) << (bits - 3)) - 1);
    return (low << 3) | (e >> (bits - 3));
}

void shmq__scq_snapshot(struct shmq__scq *q, uint32_t order, uint32_t limit, uint8_t *present,
                        struct shmq__scq_entry_ref *behind, uint32_t *nbehind, uint32_t max)
{
    uint64_t entries = UINT64_C(2) << order;
    /* Head first: an entry is "behind" only relative to a head read before it. */
    uint64_t head = atomic_load_explicit(&q->head, memory_order_seq_cst);
    uint32_t hcycle = position_cycle(head, order);
    uint64_t hlap = head & (entries - 1);
    for (uint64_t j = 0; j < entries; j++) {
        uint64_t e = atomic_load_explicit(&q->entries[j], memory_order_seq_cst);
        uint32_t index = entry_index(e);
        if (index == SHMQ__SCQ_BOTTOM || index >= limit)
            continue;
        present[index] = 1;
        int32_t d = cycle_diff(entry_cycle(e), hcycle);
        if ((d < 0 || (d == 0 && entry_lap_position(j, order) < hlap)) && *nbehind < max)
            behind[(*nbehind)++] = (struct shmq__scq_entry_ref){j, e};
    }
}

uint32_t shmq__scq_take_entry(struct shmq__scq *q, uint64_t entry, uint64_t value)
{
    /* As a consumer takes an entry: index to bottom, cycle and safe bit kept. */
    if (!atomic_compare_exchange_strong_explicit(&q->entries[entry], &value,
                                                 value | ENTRY_INDEX_MASK, memory_order_seq_cst,
                                                 memory_order_seq_cst))
        return SHMQ__SCQ_BOTTOM;
    return entry_index(value);
}

uint64_t shmq__scq_positions(struct shmq__scq *q)
{
    uint64_t head = atomic_load_explicit(&q->head, memory_order_seq_cst);
    int64_t d = pos_diff(atomic_load_explicit(&q->tail, memory_order_seq_cst), head);
    return d > 0 ? (uint64_t)d : 0;
}

bool shmq__scq_empty_hint(struct shmq__scq *q, uint32_t order)
{
    return ready_positions(q, order, 1) == 0;
}

int shmq__scq_foreach(struct shmq__scq *q, uint32_t order, int (*fn)(uint32_t index, void *arg),
                      void *arg)
{
    /* Observer (peek, check): A1-side loads; they pair with the release FAA/CAS of the ops that
     * moved them, and a snapshot taken while others work is only a hint. */
    uint64_t head = atomic_load_explicit(&q->head, memory_order_acquire);
    uint64_t tail = atomic_load_explicit(&q->tail, memory_order_acquire);
    uint64_t entries = UINT64_C(2) << order;
    if (pos_diff(tail, head) <= 0)
        return 0;
    if ((uint64_t)pos_diff(tail, head) > entries)
        head = tail - entries;
    for (uint64_t pos = head; pos != tail; pos++) {
        uint64_t e =
            /* A1 (observer): pairs with R1 in the enqueue that wrote the entry: the index is
               visible. */
            atomic_load_explicit(&q->entries[position_entry(pos, order)], memory_order_acquire);
        if (entry_cycle(e) != position_cycle(pos, order) || entry_index(e) == SHMQ__SCQ_BOTTOM)
            continue;
        int r = fn(entry_index(e), arg);
        if (r)
            return r;
    }
    return 0;
}

int shmq__scq_check(struct shmq__scq *q, uint32_t order, uint32_t limit, unsigned char *seen)
{
    uint64_t entries = UINT64_C(2) << order, held = 0;
    for (uint64_t j = 0; j < entries; j++) {
        /* A1 (check): pairs with R1 in the enqueue that wrote the entry. */
        uint64_t e = atomic_load_explicit(&q->entries[j], memory_order_acquire);
        uint32_t index = entry_index(e);
        if (index == SHMQ__SCQ_BOTTOM)
            continue;
        if (index >= limit || seen[index])
            return -EBADMSG;
        seen[index] = 1;
        held++;
    }
    /* Observer (peek, check): A1-side loads; they pair with the release FAA/CAS of the ops that
     * moved them, and a snapshot taken while others work is only a hint. */
    uint64_t head = atomic_load_explicit(&q->head, memory_order_acquire);
    uint64_t tail = atomic_load_explicit(&q->tail, memory_order_acquire);
    if (held > (entries >> 1) || pos_diff(tail, head) > (int64_t)entries)
        return -EBADMSG;
    return 0;
}
