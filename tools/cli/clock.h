/* Clocks, in nanoseconds like the library's timeouts. */
#ifndef SHMQ_CLI_CLOCK_H
#define SHMQ_CLI_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline int64_t cli_clock_ns(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* For intervals and deadlines. */
static inline int64_t cli_monotonic_ns(void)
{
    return cli_clock_ns(CLOCK_MONOTONIC);
}

/* Wall-clock time, as message timestamps hold it. */
static inline int64_t cli_realtime_ns(void)
{
    return cli_clock_ns(CLOCK_REALTIME);
}

#endif /* SHMQ_CLI_CLOCK_H */
