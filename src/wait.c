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
    /* The announcement; it must be visible to notifiers before we re-check the condition. */
    atomic_fetch_add_explicit(&ec->waiters, 1, memory_order_seq_cst);
    if (waiter_membarrier)
        syscall(SYS_membarrier, MEMBARRIER_CMD_GLOBAL_EXPEDITED, 0, 0);
    else
        atomic_thread_fence(memory_order_seq_cst);
    /* A3: pairs with R3 in shmq__wait_notify_slow: a sequence bump we see comes with the data
     * published before it. */
    return atomic_load_explicit(&ec->seq, memory_order_acquire);
}

void shmq__wait_cancel(struct shmq__eventcount *ec)
{
    /* Relaxed: leaving needs no ordering; at worst a notifier makes one needless wake. */
    atomic_fetch_sub_explicit(&ec->waiters, 1, memory_order_relaxed);
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
    syscall(SYS_futex, &ec->seq, FUTEX_WAIT_BITSET, key, tsp, NULL, FUTEX_BITSET_MATCH_ANY);
    return 0;
}

bool shmq__wait_notify_slow(struct shmq__eventcount *ec, uint32_t count)
{
    /* R3: pairs with A3 in shmq__wait_prepare. */
    atomic_fetch_add_explicit(&ec->seq, 1, memory_order_release);
    syscall(SYS_futex, &ec->seq, FUTEX_WAKE, count > INT_MAX ? INT_MAX : (int)count, NULL, NULL, 0);
    return true;
}

void shmq__wait_spin_pause(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}
