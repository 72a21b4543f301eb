/*
 * Layer: base. What every file may use: branch hints, the "no index" value, the single-writer
 * counter bump, and the clock (time.c). Calls nothing.
 */
#ifndef SHMQ_BASE_H
#define SHMQ_BASE_H

#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define SHMQ__LIKELY(x) __builtin_expect(!!(x), 1)
#define SHMQ__UNLIKELY(x) __builtin_expect(!!(x), 0)
#define SHMQ__NONE UINT32_MAX

/* Bump one of the caller's own counters: single writer, so a relaxed load and store
 * (no locked instruction); readers (stat) tolerate a momentarily stale value. */
static inline void shmq__count(_Atomic uint64_t *c, uint64_t n)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
                          memory_order_relaxed);
}

/* Copy a message's bytes (dst and src do not overlap; either may be NULL when len is 0).
 * Up to 64 bytes inline, as two moves of a fixed size that overlap in the middle, so that
 * the common small message pays no call and no size dispatch; longer ones by memcpy. */
static inline void shmq__copy(void *dst, const void *src, size_t len)
{
    unsigned char *d = dst;
    const unsigned char *s = src;
    if (len > 64 || len < 4) {
        if (len)
            __builtin_memcpy(d, s, len);
    } else if (len > 32) {
        __builtin_memcpy(d, s, 32);
        __builtin_memcpy(d + len - 32, s + len - 32, 32);
    } else if (len > 16) {
        __builtin_memcpy(d, s, 16);
        __builtin_memcpy(d + len - 16, s + len - 16, 16);
    } else if (len > 8) {
        __builtin_memcpy(d, s, 8);
        __builtin_memcpy(d + len - 8, s + len - 8, 8);
    } else {
        __builtin_memcpy(d, s, 4);
        __builtin_memcpy(d + len - 4, s + len - 4, 4);
    }
}

/* ---- time.c ---- */
/* True when a message stamped `enqueued_ns` (read from the segment: any value) is older than
 * ttl_ns; an impossible age (one that overflows) counts as expired. */
static inline bool shmq__expired(int64_t now, int64_t enqueued_ns, int64_t ttl_ns)
{
    int64_t age;
    return __builtin_sub_overflow(now, enqueued_ns, &age) || age > ttl_ns;
}

int64_t shmq__now_mono(void);
int64_t shmq__now_real(void);
/* Deadline for a timeout (INT64_MAX for SHMQ_FOREVER); -EINVAL for a negative timeout. */
int shmq__deadline(int64_t timeout_ns, int64_t *deadline);

#endif /* SHMQ_BASE_H */
