/*
 * The one blocking loop of the library, for queues and topics alike.
 *
 * An operation that found nothing to do (-EAGAIN from its attempt) spins a little for a peer
 * on another CPU, then sleeps on an eventcount (wait.h) in slices. Between slices it runs the
 * caller's idle duty — a reaper looking for dead peers, a look for due delayed messages or
 * for holes — because those become due by the clock, with nobody to wake the sleeper.
 *
 * Layer: segment (calls wait.c and time.c only). The attempt and the idle duty come from the
 * layer above as function pointers: the loop knows nothing of rings or reapers.
 */
#ifndef SHMQ_BLOCK_H
#define SHMQ_BLOCK_H

#include <stdint.h>

#include "wait.h"

struct shmq__block {
    struct shmq__eventcount *ec; /* what the operation's peers notify */
    /* One non-waiting attempt: 0 or a count on success, -EAGAIN to wait, another negative
     * errno to fail. */
    int (*attempt)(void *ctx);
    /* The length of the next sleep slice, in ns (called before each sleep). */
    int64_t (*slice_ns)(void *ctx);
    /* Called when a sleep timed out (a slice or the deadline ended; may be NULL). */
    void (*idle)(void *ctx);
    /* Called after a wake-up by a notifier (may be NULL): e.g. a heartbeat. */
    void (*woken)(void *ctx);
    _Atomic uint64_t *sleeps; /* the caller's own counter of sleeps (single writer) */
    unsigned spins;           /* attempts between pauses before the first sleep */
    void *ctx;
};

/*
 * Wait for b->attempt to stop saying -EAGAIN, after a first attempt of the caller's already
 * did. Returns what the attempt returned; -EAGAIN at once when deadline is 0 (no waiting);
 * -ETIMEDOUT when the deadline (CLOCK_MONOTONIC ns, INT64_MAX = never) passes; -EINTR when a
 * signal handler ran (like a blocking system call; after one more attempt, so that nothing
 * that arrived meanwhile is left waiting). Blocking; no lock is held while asleep.
 */
int shmq__block_wait(const struct shmq__block *b, int64_t deadline);

#endif /* SHMQ_BLOCK_H */
