/*
 * SCQ — a bounded, lock-free FIFO of small integers (slot indices < n), after R. Nikolaev,
 * "A Scalable, Portable, and Memory-Efficient Lock-Free FIFO Queue" (DISC 2019).
 *
 * The ring has 2n entries for at most n indices. Producers and consumers take a position with
 * one fetch-and-add on tail or head and then work on the one entry that position maps to, so
 * contention spreads over the entries instead of piling on one CAS word. Only single-width CAS
 * is used. An entry packs { cycle:31 | safe:1 | index:32 }:
 *   - cycle: which lap of the ring (position / 2n) the entry was last written for;
 *   - index: the value, or SHMQ__SCQ_BOTTOM when the entry is empty;
 *   - safe:  cleared by a consumer that passed a full entry of an older lap without taking it,
 *            so that a late producer of that older lap does not write behind the consumer.
 *
 * The threshold (3n - 1 after an enqueue, decremented by every dequeue that finds nothing)
 * bounds how far consumers run on an empty ring, which makes dequeue on an empty queue finish
 * in a bounded number of steps (livelock freedom) and lets an empty check cost one load.
 *
 * Invariants (shmq__scq_check): at most n entries hold an index; each index appears at most
 * once; every index < n; tail - head <= 2n when no operation is in progress.
 *
 * Emptiness, our addition: a dequeue looks at the entries from head before it reads tail,
 * and calls the ring empty when the only position between head and tail is one whose entry
 * is not filled yet (a producer between its fetch-and-add and its CAS). Passing it would take
 * the position from that producer, which then starts over: a consumer polling right behind
 * its producer would make it pay twice per message (the argument is at ready_positions).
 *
 * Crash behaviour: a process killed between its fetch-and-add and its CAS leaves a position
 * that others pass over once a later enqueue has moved tail beyond it. Nothing is lost
 * except the index the dead process was carrying, which the recovery layer finds as an
 * orphan.
 *
 * Progress: lock-free. Enqueue may retry while other operations succeed; it never waits.
 */
#ifndef SHMQ_SCQ_H
#define SHMQ_SCQ_H

#include <stdbool.h>
#include <stdint.h>

#include "layout.h"

#define SHMQ__SCQ_BOTTOM UINT32_MAX
#define SHMQ__SCQ_CORRUPT (UINT32_MAX - 1) /* never an index: capacity <= 2^24 */

/* Bytes needed for a ring of n = 1 << order indices. */
static inline uint64_t shmq__scq_size(uint32_t order)
{
    return sizeof(struct shmq__scq) + (sizeof(uint64_t) << (order + 1));
}

/* Initialise an empty ring, or a full one holding 0 .. count-1 (count <= n). Not concurrent. */
void shmq__scq_init_empty(struct shmq__scq *q, uint32_t order);
void shmq__scq_init_full(struct shmq__scq *q, uint32_t order, uint32_t count);
/* An empty ring whose positions start at `start` (tests use it to cross the cycle wrap). */
void shmq__scq_init_at(struct shmq__scq *q, uint32_t order, uint64_t start);

/* Add index (< n). Returns 0, or -EBADMSG when the ring's state is impossible (a scribbled
 * segment): the attempt is bounded rather than looping forever. */
int shmq__scq_enqueue(struct shmq__scq *q, uint32_t order, uint32_t index);

/* Add count indices in order (one fetch-and-add for the run of positions). 0 or -EBADMSG as
 * shmq__scq_enqueue; on -EBADMSG some of them may be in the ring. */
int shmq__scq_enqueue_many(struct shmq__scq *q, uint32_t order, const uint32_t *index,
                           unsigned count);

/* Take the oldest index: returns it, SHMQ__SCQ_BOTTOM when the ring is empty, or
 * SHMQ__SCQ_CORRUPT when the ring's state is impossible (a threshold above 3n - 1, or no end
 * to the search within the bound shmq__scq_enqueue also uses). The value is read from shared
 * memory: the caller bounds-checks it, and SHMQ__SCQ_CORRUPT is out of every bound. */
uint32_t shmq__scq_dequeue(struct shmq__scq *q, uint32_t order);

/* Take up to max of the oldest indices into index[], in order; returns how many (0 when
 * empty), or -EBADMSG for an impossible ring. Takes no more positions than lie between head
 * and tail when it looks (read-only), so it never makes a failed dequeue past them. */
int shmq__scq_dequeue_many(struct shmq__scq *q, uint32_t order, uint32_t *index, unsigned max);

/* How many positions lie between head and tail now (0 when tail is not past head): an upper
 * bound of the indices in the ring, for a caller that visits each of them once. */
uint64_t shmq__scq_positions(struct shmq__scq *q);

/* True when a dequeue would find nothing now: the threshold has run out, or the entry at head
 * is not filled and tail is at most one position past head (read-only: at most four loads, no
 * write to a shared line). */
bool shmq__scq_empty_hint(struct shmq__scq *q, uint32_t order);

/* Call fn for each index that appears to be in the ring, oldest first (best effort while
 * others work; exact when quiescent). Stops when fn returns non-zero and returns that. */
int shmq__scq_foreach(struct shmq__scq *q, uint32_t order, int (*fn)(uint32_t index, void *arg),
                      void *arg);

/*
 * For the reaper. A consumer killed between its fetch-and-add on head and taking its entry
 * leaves that entry's index stranded: every later consumer of the entry belongs to a newer
 * lap and passes it by. shmq__scq_snapshot marks present[index] for every index held by an
 * entry, and lists the entries whose position is already behind head (a live consumer is
 * about to take each; a dead one never will). shmq__scq_take_entry takes one such entry's
 * index if the entry still holds `value`: returns the index, or SHMQ__SCQ_BOTTOM.
 */
struct shmq__scq_entry_ref {
    uint64_t entry; /* entry number */
    uint64_t value; /* its value when seen */
};
void shmq__scq_snapshot(struct shmq__scq *q, uint32_t order, uint32_t limit, uint8_t *present,
                        struct shmq__scq_entry_ref *behind, uint32_t *nbehind, uint32_t max);
uint32_t shmq__scq_take_entry(struct shmq__scq *q, uint64_t entry, uint64_t value);

/* Verify the invariants of a quiescent ring: 0, or -EBADMSG. seen must have n bytes, zeroed. */
int shmq__scq_check(struct shmq__scq *q, uint32_t order, uint32_t limit, unsigned char *seen);

#endif /* SHMQ_SCQ_H */
