/*
 * shmq/wait.h — waiting on several queues and topics at once (shmq_wait_any), like poll(2)
 * over queue handles and subscriptions. See shmq/common.h for the conventions every function
 * follows; the handle types are declared there.
 */
#ifndef SHMQ_API_WAIT_H
#define SHMQ_API_WAIT_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * One thing shmq_wait_any watches: set exactly one of queue (a handle that consumes) and sub
 * (a subscription). ready is written by shmq_wait_any.
 */
struct shmq_wait_item {
    /* in */
    shmq_t *queue;
    shmq_sub_t *sub;
    /* out */
    uint32_t ready;     /* 1 when the item looked ready, else 0 */
    uint32_t reserved0; /* must be zero */
};
#define SHMQ_WAIT_ANY_MAX 128 /* items in one call (the kernel's futex_waitv limit) */

/*
 * Wait until at least one of n items has something to take: a queue a message ready (or
 * kept back for this handle), a subscription an unread slot at its group's cursor. Returns
 * how many items are ready (1..n) and sets their `ready`; takes nothing. -EAGAIN when none is
 * ready and timeout_ns is 0, -ETIMEDOUT at the deadline, -EINTR when a signal handler ran
 * while it slept (nothing is taken; call again), -EINVAL for n = 0, n > SHMQ_WAIT_ANY_MAX, an
 * item with both or neither of queue and sub, or a non-zero reserved field.
 *
 * Readiness is a hint: another consumer may take the message first, and a ready item may
 * hold only a delayed message not yet due or messages a subscription's pattern passes over,
 * so the caller tries each ready item without waiting (timeout 0) and calls again when all
 * say -EAGAIN. Spurious returns are bounded: a queue with delayed messages is reported ready
 * every 5 ms, a subscription stuck behind a half-written message every 100 ms.
 *
 * Concurrency: the handles and subscriptions follow their own rules (one thread at a time
 * each); any number of threads and processes may wait on the same queues and topics at once,
 * and every one of them is woken by a message (a burst wakes them once). Ordering: when it
 * returns an item ready, the message that made it ready was published before (the caller's
 * own take carries the acquire ordering). Blocking: it sleeps in the kernel on the items'
 * shared futexes at once with futex_waitv (Linux >= 5.16); where that call is missing (or the
 * process could not register for membarrier, see src/wait.h) it sleeps on one futex at a
 * time in slices of 1 ms: slower to react, never blind. While it sleeps it gives back the claims
 * of dead consumers of the queues (as a blocked shmq_claim does), once a second. Progress:
 * the readiness checks are wait-free; it makes no system call besides the wait itself and
 * one barrier per sleep. A failure leaves every item as it was.
 */
SHMQ_EXPORT int shmq_wait_any(struct shmq_wait_item *items, unsigned n, int64_t timeout_ns);

#ifdef __cplusplus
}
#endif

#endif /* SHMQ_API_WAIT_H */
