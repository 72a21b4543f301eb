/*
 * Layer: slot pool. The free and ready index structures of an MPMC queue and the steps that
 * move a slot between them while recording its state (pool.c), and the delayed ring
 * (delayed.c). Every step is bracketed by shmq__op_begin/end for the reaper. Used by the
 * queue core (mpmc.c, mpmc_batch.c) and by recovery (reaper.c).
 */
#ifndef SHMQ_POOL_H
#define SHMQ_POOL_H

#include "handle.h"

/* The participant number this handle writes into the state words it owns. */
static inline uint32_t shmq__self_id(const shmq_t *q)
{
    return q->self_index + 1;
}

/* Where a take step takes an index from. */
enum shmq__source { SHMQ__FROM_FREE, SHMQ__FROM_READY, SHMQ__FROM_DELAYED, SHMQ__FROM_RETURNED };

/* One take step: take the next index from `src` and hold its slot, which must be in state
 * `expect`, in state `hold` with us as owner. 0, -EAGAIN when there is none, -EBADMSG for an
 * impossible index or state. */
int shmq__pool_take(shmq_t *q, enum shmq__source src, uint32_t expect, uint32_t hold,
                    uint32_t *index_out, uint64_t *mine_out);
/* A free slot held WRITING by us: from the handle's stash (FIFO), else from the free stack. */
int shmq__pool_take_free(shmq_t *q, uint32_t *index, uint64_t *mine);
/* Put a slot index into the ready structure (the caller has stored its READY state). */
int shmq__pool_ready_put(shmq_t *q, uint32_t index);
/* Give a slot we hold (state `mine`) back to the free structure, or to the ready one. */
int shmq__pool_free(shmq_t *q, uint32_t index, struct shmq__slot *slot, uint64_t mine);
int shmq__pool_requeue(shmq_t *q, uint32_t index, struct shmq__slot *slot, uint64_t mine);
/* An acked slot we hold into the handle's stash (FIFO producers), spilling a run when full. */
int shmq__pool_stash_free(shmq_t *q, uint32_t index, struct shmq__slot *slot, uint64_t mine);
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
/* True when the delayed ring may hold messages (a sleeper must wake by the clock). */
bool shmq__delayed_ring_waiting(const shmq_t *q);

#endif /* SHMQ_POOL_H */
