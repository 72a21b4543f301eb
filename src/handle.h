/*
 * A handle: one thread's view of a queue, with its participant entry. Used by the slot pool
 * and every layer above it.
 */
#ifndef SHMQ_HANDLE_H
#define SHMQ_HANDLE_H

#include "segment.h"

/* A FIFO handle moves free slots to and from the free ring in runs of up to 16 (fewer for
 * small queues: see stash_batch in pool.c) and keeps up to twice that in its stash. */
#define SHMQ__STASH_MAX 32u

/* A handle: one thread's view of a queue, with its participant entry. Private to one thread
 * at a time (the public API's rule), so nothing here is atomic. */
struct shmq {
    /* ---- every handle (the hot fields first: the rings' fields follow on the same lines) ---- */
    struct shmq__mapping *map;
    struct shmq__participant *self; /* NULL for an observer */
    uint32_t self_index;            /* index in the participant table */
    uint32_t roles;                 /* SHMQ_ROLE_* taken so far */
    uint32_t outstanding;           /* claims + reservations not yet finished */

    /* ---- the MPMC pool (pool.c, mpmc.c) ---- */
    struct {
        uint32_t held; /* slot kept back by -EMSGSIZE, or SHMQ__NONE */
        /* FIFO: free slots this handle keeps between the free ring and its next reserve:
         * taken from the ring in runs, and collected from its own acks until a run is worth
         * giving back. Each is in state WRITING with this handle as owner, so the reaper
         * frees them if the process dies and close gives them back; not counted in
         * `outstanding`. */
        uint32_t stash_count;
        uint32_t stash[SHMQ__STASH_MAX];
    } pool;

    /* ---- the SPSC ring (spsc.c): positions and cached copies of the other side's ---- */
    struct {
        uint64_t head;       /* producer: next position to write */
        uint64_t tail_cache; /* producer: consumer's tail as last seen */
        uint64_t tail;       /* consumer: next position to read */
        uint64_t head_cache; /* consumer: producer's head as last seen */
        uint32_t write_slot; /* producer: head % capacity, kept incrementally */
        uint32_t read_slot;  /* consumer: tail % capacity */
        bool claimed;        /* consumer: the message at tail is claimed */
        bool reserved;       /* producer: the slot at head is reserved */
    } spsc;

    /* ---- the facade's: queues opened for this one, and the reaps done on its behalf ---- */
    shmq_t *dead_letter_q;                /* opened when a claim first needs it */
    shmq_t *reply_q;                      /* shmq_reply: the last reply-to queue answered */
    struct shmq_repair_report unreported; /* what reaps run by open/wait/stat did, for
                                             the next shmq_repair to report */
    char name[SHMQ_NAME_MAX + 1];         /* last: cold */
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
