/*
 * Test helpers: unique queue names that are removed at exit, assertions that dump the queue
 * on failure, and child processes that report through their exit status.
 */
#ifndef SHMQ_TEST_UTIL_H
#define SHMQ_TEST_UTIL_H

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "shmq.h"

/* Stretch every count in stress tests (SHMQ_STRESS_SCALE=10 for a long run). */
static inline double test_scale(void)
{
    const char *s = getenv("SHMQ_STRESS_SCALE");
    double v = s ? atof(s) : 1.0;
    return v > 0 ? v : 1.0;
}

/* A queue name unique to this process and call; remembered and unlinked at exit. */
#define TEST_MAX_NAMES 256
static char test_names[TEST_MAX_NAMES][64];
static int test_name_count;
static pid_t test_names_owner;

static void test_names_cleanup(void)
{
    if (getpid() != test_names_owner)
        return; /* children do not remove the parent's queues */
    for (int i = 0; i < test_name_count; i++)
        shmq_unlink(test_names[i]);
}

static inline const char *test_name(const char *tag)
{
    if (test_name_count == 0) {
        test_names_owner = getpid();
        atexit(test_names_cleanup);
    }
    static unsigned serial;
    char *n = test_names[test_name_count % TEST_MAX_NAMES];
    snprintf(n, sizeof test_names[0], "test-%s-%d-%u", tag, (int)getpid(), serial++);
    test_name_count++;
    shmq_unlink(n);
    return n;
}

/* Print what a test needs to understand a failure: the queue's configuration and counters. */
static inline void test_dump(shmq_t *q)
{
    struct shmq_stat st;
    if (!q || shmq_stat(q, &st) != 0) {
        fprintf(stderr, "  (no queue to dump)\n");
        return;
    }
    fprintf(stderr,
            "  queue %s: kind=%d flags=%#x capacity=%u slot=%u depth=%llu in_flight=%llu\n"
            "  pushed=%llu popped=%llu acked=%llu nacked=%llu full=%llu empty=%llu "
            "waits=%llu participants=%u\n",
            shmq_name(q), (int)st.kind, st.flags, st.capacity, st.slot_size,
            (unsigned long long)st.depth, (unsigned long long)st.in_flight,
            (unsigned long long)st.pushed, (unsigned long long)st.popped,
            (unsigned long long)st.acked, (unsigned long long)st.nacked,
            (unsigned long long)st.full, (unsigned long long)st.empty, (unsigned long long)st.waits,
            st.participants);
}

/* Equality on a queue: on failure prints file, line, both values and the queue, and fails. */
#define QASSERT_EQ(q, a, b)                                                                        \
    do {                                                                                           \
        long long qa_ = (long long)(a), qb_ = (long long)(b);                                      \
        if (qa_ != qb_) {                                                                          \
            fprintf(stderr, "%s:%d: %s == %lld, expected %s == %lld\n", __FILE__, __LINE__, #a,    \
                    qa_, #b, qb_);                                                                 \
            test_dump(q);                                                                          \
            fail();                                                                                \
        }                                                                                          \
    } while (0)

/* Errors as words in failure messages. */
#define ASSERT_OK(expr)                                                                            \
    do {                                                                                           \
        long long r_ = (long long)(expr);                                                          \
        if (r_ < 0)                                                                                \
            fail_msg("%s failed: %lld (%s)", #expr, r_, shmq_strerror((int)r_));                   \
    } while (0)

/* In a child process: a failed check exits with the line number as status (never returns
 * into cmocka, which belongs to the parent). */
#define CHILD_CHECK(cond)                                                                          \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "child %d: %s:%d: check failed: %s\n", (int)getpid(), __FILE__,        \
                    __LINE__, #cond);                                                              \
            _exit(100);                                                                            \
        }                                                                                          \
    } while (0)

/* Wait for a child and require a clean exit. */
static inline void test_wait_child(pid_t pid)
{
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail_msg("child %d ended with %s %d", (int)pid,
                 WIFEXITED(status) ? "exit status" : "signal",
                 WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
}

static inline int64_t test_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

#define MS (1000000LL)

#endif /* SHMQ_TEST_UTIL_H */
