/* Eventcounts on shared futexes (see wait.h for the protocol and its memory ordering). */
#include "wait.h"

#include <limits.h>
#include <linux/futex.h>
#include <linux/membarrier.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

bool shmq__wait_notifier_fence = true; /* until registration succeeds */
static bool waiter_membarrier;         /* this process can issue the global barrier */
static pthread_once_t init_once = PTHREAD_ONCE_INIT;

static void process_init(void)
{
    long cmds = syscall(SYS_membarrier, MEMBARRIER_CMD_QUERY, 0, 0);
    bool have = cmds > 0 && (cmds & MEMBARRIER_CMD_GLOBAL_EXPEDITED) &&
                (cmds & MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED);
    /* Registration makes the waiters' barriers reach this process's threads. */
    if (have && syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED, 0, 0) == 0) {
        waiter_membarrier = true;
        shmq__wait_notifier_fence = false;
    }
}

void shmq__wait_process_init(void)
{
    pthread_once(&init_once, process_init);
}

uint32_t shmq__wait_prepare(struct shmq__eventcount *ec)
{
    /* Arm the word; this must be visible to notifiers before we re-check the condition. */
    uint32_t key =
        atomic_fetch_or_explicit(&ec->seq, SHMQ__EC_ARMED, memory_order_seq_cst) | SHMQ__EC_ARMED;
    if (waiter_membarrier)
        syscall(SYS_membarrier, MEMBARRIER_CMD_GLOBAL_EXPEDITED, 0, 0);
    else
        atomic_thread_fence(memory_order_seq_cst);
    return key;
}

bool shmq__wait_prepare_many(struct shmq__eventcount *const *ecs, unsigned n, uint32_t *keys)
{
    /* As shmq__wait_prepare: every word armed before the one barrier, the barrier before the
     * caller re-checks its conditions. */
    for (unsigned i = 0; i < n; i++)
        keys[i] = atomic_fetch_or_explicit(&ecs[i]->seq, SHMQ__EC_ARMED, memory_order_seq_cst) |
                  SHMQ__EC_ARMED;
    if (waiter_membarrier)
        syscall(SYS_membarrier, MEMBARRIER_CMD_GLOBAL_EXPEDITED, 0, 0);
    else
        atomic_thread_fence(memory_order_seq_cst);
    return waiter_membarrier;
}

int shmq__wait_sleep(struct shmq__eventcount *ec, uint32_t key, int64_t deadline)
{
    int64_t now = shmq__now_mono();
    if (deadline != INT64_MAX && now >= deadline)
        return -ETIMEDOUT;
    struct timespec ts, *tsp = NULL;
    int64_t until = deadline;
    if (!waiter_membarrier && (deadline == INT64_MAX || deadline - now > 1000000))
        until = now + 1000000; /* fallback: the notifier may not see us, so poll */
    if (until != INT64_MAX) {
        ts.tv_sec = (time_t)(until / 1000000000);
        ts.tv_nsec = (long)(until % 1000000000);
        tsp = &ts;
    }
    /* Shared futex (no FUTEX_PRIVATE_FLAG): it is keyed by the page, so it works across
     * processes that map the segment at different addresses. Absolute CLOCK_MONOTONIC. */
    if (syscall(SYS_futex, &ec->seq, FUTEX_WAIT_BITSET, key, tsp, NULL, FUTEX_BITSET_MATCH_ANY) ==
        0)
        return 0;
    if (errno == EINTR)
        return -EINTR; /* a signal handler ran: the caller decides whether to go on */
    if (errno == ETIMEDOUT)
        return -ETIMEDOUT; /* the wake-up time passed (a slice's end or the deadline) */
    return 0;              /* EAGAIN: the word had moved already */
}

bool shmq__wait_notify_slow(struct shmq__eventcount *ec, uint32_t seen)
{
    /* One notifier wins the CAS and wakes everyone who slept on the armed word; the others
     * see it disarmed (or re-armed by a new sleeper, who is then woken by a later notify).
     * Relaxed: the word carries no data; each side re-checks the queue itself, whose own
     * acquire/release operations order the data. */
    while (seen & SHMQ__EC_ARMED) {
        uint32_t next = (seen & ~SHMQ__EC_ARMED) + 2u;
        if (atomic_compare_exchange_weak_explicit(&ec->seq, &seen, next, memory_order_relaxed,
                                                  memory_order_relaxed)) {
            syscall(SYS_futex, &ec->seq, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
            return true;
        }
    }
    return false;
}

void shmq__wait_spin_pause(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}
