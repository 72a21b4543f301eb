/*
 * A Treiber stack of slot indices (R. K. Treiber, IBM RJ 5118, 1986), for LIFO queues.
 *
 * head packs { tag:32 | index:32 } into one 64-bit word changed by single-width CAS; the link
 * of each index is the `next` word of its slot. Indices, not pointers: the segment is mapped
 * at different addresses in different processes.
 *
 * ABA: a pop reads head = {t, i} and next(i), then CASes head to {t + 1, next}. That CAS can
 * succeed wrongly only if, between the read and the CAS, the head went through exactly 2^32
 * changes and came back to index i: every push and pop changes the tag. With about 20 ns per
 * stack operation that is more than 80 seconds of other processes' work during one
 * preemption of the popper; a process descheduled that long under full load is the only way,
 * and the tag is 32 bits so that the index keeps the other 32.
 *
 * Invariants (shmq__stack_check): following links from head visits each index at most once,
 * every index < capacity, and the chain ends at SHMQ__STACK_NIL.
 *
 * Crash behaviour: a process killed after its CAS and before it records the slot's state
 * leaves an index in no structure: an orphan for the recovery layer. A push killed before its
 * CAS changed nothing.
 *
 * Progress: lock-free (a CAS fails only because another operation succeeded).
 */
#ifndef SHMQ_STACK_H
#define SHMQ_STACK_H

#include <stdint.h>

#include "layout.h"

#define SHMQ__STACK_NIL UINT32_MAX

/* Where the links live: the `next` word of slot i is at slots + i * stride (a struct
 * shmq__slot); every index must be < capacity. The stack knows nothing else of a segment. */
struct shmq__stack_links {
    unsigned char *slots;
    uint64_t stride;
    uint32_t capacity;
};

void shmq__stack_init(struct shmq__stack *s);

/* Push index (< capacity; its slot's next word is overwritten). */
void shmq__stack_push(const struct shmq__stack_links *l, struct shmq__stack *s, uint32_t index);

/* Pop the most recently pushed index, SHMQ__STACK_NIL when empty, or -EBADMSG (as a negative
 * int64) when the head or a link is out of bounds. */
int64_t shmq__stack_pop(const struct shmq__stack_links *l, struct shmq__stack *s);

/* Call fn for each index from the top (best effort while others work). */
int shmq__stack_foreach(const struct shmq__stack_links *l, struct shmq__stack *s,
                        int (*fn)(uint32_t index, void *arg), void *arg);

/* For the reaper: mark present[index] for every index on the stack, from a walk that no push
 * or pop interrupted (the head's tag did not move). -EBUSY if none could be had. */
int shmq__stack_snapshot(const struct shmq__stack_links *l, struct shmq__stack *s,
                         uint8_t *present);

/* Verify the invariants of a quiescent stack. seen must have capacity bytes, zeroed. */
int shmq__stack_check(const struct shmq__stack_links *l, struct shmq__stack *s,
                      unsigned char *seen);

#endif /* SHMQ_STACK_H */
