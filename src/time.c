/* Clocks and deadlines. */
#include <time.h>

#include "base.h"
#include "shmq.h"

int64_t shmq__now_mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t shmq__now_real(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int shmq__deadline(int64_t timeout_ns, int64_t *deadline)
{
    if (timeout_ns < 0)
        return -EINVAL;
    if (timeout_ns == 0 || timeout_ns == SHMQ_FOREVER) {
        /* No clock read for the two common cases: a push that never waits, or waits
         * without limit, costs what a try-push costs. */
        *deadline = timeout_ns == 0 ? 0 : INT64_MAX;
        return 0;
    }
    int64_t now = shmq__now_mono();
    *deadline = timeout_ns >= INT64_MAX - now ? INT64_MAX : now + timeout_ns;
    return 0;
}
