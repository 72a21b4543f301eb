/* R, the run-granular upper bound (see limit_run.h). The region is laid out as limit_cells.h says.
 * A cell's state is { lap : 56 | run length : 6 | kind : 2 }; position p belongs to lap p / cap and
 * cell p % cap. The run length is set in a run's first cell only. */
#include "limit_run.h"

#include "limit_cells.h"

#include <string.h>

enum { EMPTY = 0, WRITING = 1, READY = 2 };

#define STATE(pos, len, kind) ((((pos) >> order) << 8) | ((uint64_t)(len) << 2) | (kind))
#define KIND(s) ((unsigned)(s)&3u)
#define LEN(s) ((unsigned)((s) >> 2) & 63u)
#define LAP(s) ((s) >> 8)

size_t lrun_region_size(unsigned cap, size_t size)
{
    return limit_cells_size(cap, size);
}

void lrun_init(void *region, unsigned cap, size_t size)
{
    struct limit_header *h = region;
    unsigned order = limit_order(cap);
    atomic_init(&h->head, 0);
    atomic_init(&h->tail, 0);
    for (uint64_t p = 0; p < cap; p++)
        atomic_init(limit_cell(region, cap, size, p), STATE(p, 0, EMPTY));
}

int lrun_push(void *region, unsigned cap, size_t size, const unsigned char *msgs, unsigned n)
{
    struct limit_header *h = region;
    unsigned order = limit_order(cap);
    if (n > LRUN_MAX)
        n = LRUN_MAX;
    for (;;) {
        /* Acquire loads of tail and of the cells pair with the release CASes and stores that
         * moved or set them: a consumer's free store (its copy out is done), a producer's
         * claim or help of tail. */
        uint64_t t = atomic_load_explicit(&h->tail, memory_order_acquire);
        _Atomic uint64_t *first = limit_cell(region, cap, size, t);
        uint64_t s = atomic_load_explicit(first, memory_order_acquire);
        if (LAP(s) == (t >> order) && KIND(s) != EMPTY) {
            /* Claimed by another producer that has not moved tail yet: help it. */
            atomic_compare_exchange_strong_explicit(&h->tail, &t, t + LEN(s), memory_order_acq_rel,
                                                    memory_order_relaxed);
            continue;
        }
        unsigned k = 0;
        while (k < n && atomic_load_explicit(limit_cell(region, cap, size, t + k),
                                             memory_order_acquire) == STATE(t + k, 0, EMPTY))
            k++;
        if (k == 0)
            return 0; /* full */
        uint64_t empty = STATE(t, 0, EMPTY);
        if (!atomic_compare_exchange_strong_explicit(first, &empty, STATE(t, k, WRITING),
                                                     memory_order_acq_rel, memory_order_relaxed))
            continue; /* another producer claimed it first */
        uint64_t expect = t;
        atomic_compare_exchange_strong_explicit(&h->tail, &expect, t + k, memory_order_acq_rel,
                                                memory_order_relaxed); /* or a helper did */
        for (unsigned i = 0; i < k; i++) {
            _Atomic uint64_t *c = limit_cell(region, cap, size, t + i);
            memcpy((unsigned char *)(c + 1), msgs + (size_t)i * size, size);
            if (i)
                atomic_store_explicit(c, STATE(t + i, 0, READY), memory_order_release);
        }
        /* The publishing CAS releases every copy and mark above; a consumer's acquire load
         * of the first cell receives them. */
        uint64_t writing = STATE(t, k, WRITING);
        if (!atomic_compare_exchange_strong_explicit(first, &writing, STATE(t, k, READY),
                                                     memory_order_acq_rel, memory_order_relaxed))
            return -1; /* nobody passes a run in this bound */
        return (int)k;
    }
}

int lrun_pop(void *region, unsigned cap, size_t size, unsigned char *out, unsigned max)
{
    struct limit_header *h = region;
    unsigned order = limit_order(cap);
    for (;;) {
        uint64_t at = atomic_load_explicit(&h->head, memory_order_relaxed);
        unsigned k = 0;
        /* From head, cells READY for their lap; the first of a run carries its length.
         * Acquire: pairs with the producer's release (publishing CAS, or a mark's store). */
        while (k < max) {
            uint64_t s =
                atomic_load_explicit(limit_cell(region, cap, size, at + k), memory_order_acquire);
            if (KIND(s) != READY || LAP(s) != ((at + k) >> order))
                break;
            k++;
        }
        if (k == 0)
            return 0;
        if (!atomic_compare_exchange_weak_explicit(&h->head, &at, at + k, memory_order_relaxed,
                                                   memory_order_relaxed))
            continue;
        for (unsigned i = 0; i < k; i++) {
            _Atomic uint64_t *c = limit_cell(region, cap, size, at + i);
            memcpy(out + (size_t)i * size, (const unsigned char *)(c + 1), size);
            /* Release: the copy out is done before the next lap's writer sees the cell free. */
            atomic_store_explicit(c, STATE(at + i + cap, 0, EMPTY), memory_order_release);
        }
        return (int)k;
    }
}
