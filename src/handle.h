/*
 * A handle: one thread's view of a queue, with its participant entry. Used by the slot pool
 * and every layer above it.
 */
#ifndef SHMQ_HANDLE_H
#define SHMQ_HANDLE_H

#include "segment.h"

/* A FIFO handle moves free slots to and from the free ring in runs of up to 16 (fewer for
 * small queues: see stash_batch in mpmc.c) and keeps up to twice that in its stash. */
#define SHMQ__STASH_MAX 32u

/* A handle: one thread's view of a queue, with its participant entry. */
struct shmq {
    struct shmq__mapping *map;
    struct shmq__participant *self; /* NULL for an observer */
    uint32_t self_index;            /* index in the participant table */
    uint32_t roles;                 /* SHMQ_ROLE_* taken so far */
    uint32_t held;                  /* slot kept back by -EMSGSIZE, or SHMQ__NONE */
    uint32_t outstanding;           /* claims + reservations not yet finished */
    /* FIFO MPMC: free slots this handle keeps between the free ring and its next reserve:
     * taken from the ring in runs, and collected from its own acks until a run is worth
     * giving back. Each is in state WRITING with this handle as owner, so the reaper frees
     * them if the process dies and close gives them back; not counted in `outstanding`. */
    uint32_t stash_count;
    uint32_t stash[SHMQ__STASH_MAX];
    /* SPSC: positions and cached copies of the other side's counter */
    uint64_t spsc_head;                   /* producer: next position to write */
    uint64_t spsc_tail_cache;             /* producer: consumer's tail as last seen */
    uint64_t spsc_tail;                   /* consumer: next position to read */
    uint64_t spsc_head_cache;             /* consumer: producer's head as last seen */
    uint32_t spsc_write_slot;             /* producer: head % capacity, kept incrementally */
    uint32_t spsc_read_slot;              /* consumer: tail % capacity */
    bool spsc_claimed;                    /* consumer: the message at tail is claimed */
    bool spsc_reserved;                   /* producer: the slot at head is reserved */
    shmq_t *dead_letter_q;                /* opened on first use */
    struct shmq_repair_report unreported; /* what reaps run by open/wait/stat did, for
                                             the next shmq_repair to report */
    shmq_t *reply_q;                      /* shmq_reply: the last reply-to queue answered */
    char name[SHMQ_NAME_MAX + 1];
};

/* Mark the start and the end of a ring step (see struct shmq__participant.op). Plain stores
 * to the owner's own line; the recovery layer orders them with membarrier on its side. */
static inline void shmq__op_begin(shmq_t *q)
{
    _Atomic uint64_t *op = &q->self->op;
    atomic_store_explicit(op, atomic_load_explicit(op, memory_order_relaxed) + 1,
                          memory_order_relaxed);
    atomic_signal_fence(memory_order_seq_cst); /* keep the ring step after it */
}
static inline void shmq__op_end(shmq_t *q)
{
    _Atomic uint64_t *op = &q->self->op;
    atomic_signal_fence(memory_order_seq_cst); /* keep the ring step before it */
    atomic_store_explicit(op, atomic_load_explicit(op, memory_order_relaxed) + 1,
                          memory_order_relaxed);
}

#endif /* SHMQ_HANDLE_H */
