/*
 * Blocking: eventcounts on shared futexes in the segment.
 *
 * A waiter arms the sequence word (sets its low bit), re-checks its condition, and sleeps on
 * the word only if the condition still does not hold and the word is unchanged. A notifier
 * that has just made the condition true loads the word and, only if it is armed, bumps the
 * epoch with the bit cleared (one CAS: only one notifier wins) and wakes every sleeper. So an
 * operation with nobody waiting pays one load and no system call, and a burst of operations
 * while someone sleeps pays one wake-up.
 *
 * The handshake is a store-then-load on each side (the notifier stores its data then loads
 * the word; the waiter arms the word then loads the data), which needs a full fence on
 * BOTH sides — unless one side pays for both. shmq makes the waiter pay: it is about to sleep
 * anyway. The waiter issues membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED), which runs a full
 * barrier on every CPU running a thread of a process registered for it (every process that
 * opens a shmq segment registers at its first open). The notifier then needs only a compiler
 * barrier: its data store and its load of the armed word are ordered by the barrier the kernel
 * forced between them, or its load comes after it and sees the waiter's announcement. This is the
 * asymmetric-fence technique of liburcu's urcu-memb flavour, applied across processes.
 *
 * Where membarrier is not available (old kernel, seccomp), a process falls back: it puts a
 * seq_cst fence on its notifier path (safe towards any waiter), and as a waiter it cannot
 * force the notifiers' barrier, so it sleeps in slices of at most 1 ms and re-checks.
 */
#ifndef SHMQ_WAIT_H
#define SHMQ_WAIT_H

#include <stdbool.h>
#include <stdint.h>

#include "base.h"
#include "layout.h"

/* Once per process, at the first open: query and register membarrier. */
void shmq__wait_process_init(void);

/* True when this process's notifier path must fence (membarrier unavailable). */
extern bool shmq__wait_notifier_fence;

#define SHMQ__EC_ARMED 1u

/* Waiter side: arm, then re-check the condition; returns the key to sleep on. */
uint32_t shmq__wait_prepare(struct shmq__eventcount *ec);
/* Waiter side for several eventcounts at once (shmq_wait_any): arm each, with one barrier
 * for all; keys[i] is what to sleep on for ecs[i]. Returns false when this process cannot
 * force the notifiers' barrier (no membarrier): then sleep at most 1 ms at a time. */
bool shmq__wait_prepare_many(struct shmq__eventcount *const *ecs, unsigned n, uint32_t *keys);

/* Sleep until the word moves from key, the time `deadline` (CLOCK_MONOTONIC ns) comes, or a
 * signal arrives: -ETIMEDOUT when that time has come, -EINTR for a signal, else 0. The
 * caller may pass a slice's end rather than its own deadline, and compares with the clock. */
int shmq__wait_sleep(struct shmq__eventcount *ec, uint32_t key, int64_t deadline);

/* Notifier side: call after publishing. Returns true when it issued a wake-up. */
bool shmq__wait_notify_slow(struct shmq__eventcount *ec, uint32_t seen);
static inline bool shmq__wait_notify(struct shmq__eventcount *ec)
{
    if (SHMQ__UNLIKELY(shmq__wait_notifier_fence))
        atomic_thread_fence(memory_order_seq_cst);
    else
        atomic_signal_fence(memory_order_seq_cst); /* the compiler keeps the publish first */
    /* Relaxed: ordered against the publish by the barrier above or by the waiter's
     * membarrier (see the header comment). */
    uint32_t seen = atomic_load_explicit(&ec->seq, memory_order_relaxed);
    if (SHMQ__LIKELY(!(seen & SHMQ__EC_ARMED)))
        return false;
    return shmq__wait_notify_slow(ec, seen);
}

/* waitany.c: true = shmq_wait_any sleeps on one futex at a time (no futex_waitv; tests set it). */
extern _Atomic bool shmq__wait_any_no_waitv;

/* Spin briefly, for a peer on another CPU that is about to make the condition true. */
void shmq__wait_spin_pause(void);

#endif /* SHMQ_WAIT_H */
