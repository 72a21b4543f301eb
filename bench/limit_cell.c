/* I, the inline upper bound (see limit_cell.h). The region is laid out as limit_cells.h says. A
 * cell's state is { lap : 62 | kind : 2 }; position p belongs to lap p / cap and cell p % cap. */
#include "limit_cell.h"

#include "limit_cells.h"

#include <string.h>

enum { EMPTY = 0, WRITING = 1, READY = 2, READING = 3 };

#define state_of(pos, cap, kind) ((((pos) >> order) << 2) | (kind))

size_t lcell_region_size(unsigned cap, size_t size)
{
    return limit_cells_size(cap, size);
}

void lcell_init(void *region, unsigned cap, size_t size)
{
    struct limit_header *h = region;
    atomic_init(&h->head, 0);
    atomic_init(&h->tail, 0);
    unsigned order = limit_order(cap);
    for (uint64_t p = 0; p < cap; p++)
        atomic_init(limit_cell(region, cap, size, p), state_of(p, cap, EMPTY));
}

/* Look from *end (tail or head) at up to n cells in state `want` of their lap, and take the
 * run found with one CAS on *end. Returns the first position and sets *k (0: none). */
static uint64_t take_run(void *region, _Atomic uint64_t *end, unsigned cap, size_t size,
                         unsigned want, unsigned n, unsigned *k)
{
    unsigned order = limit_order(cap);
    uint64_t at = atomic_load_explicit(end, memory_order_relaxed);
    for (;;) {
        unsigned run = 0;
        /* Acquire: pairs with the release that set the state (a consumer's free store, a
         * producer's publishing CAS), so the cell's bytes are seen as they were then. */
        while (run < n &&
               atomic_load_explicit(limit_cell(region, cap, size, at + run),
                                    memory_order_acquire) == state_of(at + run, cap, want))
            run++;
        if (run == 0 || atomic_compare_exchange_weak_explicit(
                            end, &at, at + run, memory_order_relaxed, memory_order_relaxed)) {
            *k = run;
            return at;
        }
    }
}

/* A CAS that must succeed here (nobody passes a cell in this upper bound): it stands for
 * the one a real lock-free ring makes. Returns 0, or -1 if the cell was not as expected.
 * Acq_rel: the publishing CAS releases the copy in, which the take's acquire receives. The
 * head and tail CASes are relaxed: the cells' states carry every handoff. */
static int step(_Atomic uint64_t *s, uint64_t from, uint64_t to)
{
    return atomic_compare_exchange_strong_explicit(s, &from, to, memory_order_acq_rel,
                                                   memory_order_relaxed)
               ? 0
               : -1;
}

int lcell_push(void *region, unsigned cap, size_t size, const unsigned char *msgs, unsigned n)
{
    struct limit_header *h = region;
    unsigned k, order = limit_order(cap);
    uint64_t at = take_run(region, &h->tail, cap, size, EMPTY, n, &k);
    for (unsigned i = 0; i < k; i++) {
        _Atomic uint64_t *s = limit_cell(region, cap, size, at + i);
        if (step(s, state_of(at + i, cap, EMPTY), state_of(at + i, cap, WRITING)))
            return -1;
        memcpy((unsigned char *)(s + 1), msgs + (size_t)i * size, size);
        if (step(s, state_of(at + i, cap, WRITING), state_of(at + i, cap, READY)))
            return -1;
    }
    return (int)k;
}

int lcell_pop(void *region, unsigned cap, size_t size, unsigned char *out, unsigned max)
{
    struct limit_header *h = region;
    unsigned k, order = limit_order(cap);
    uint64_t at = take_run(region, &h->head, cap, size, READY, max, &k);
    for (unsigned i = 0; i < k; i++) {
        _Atomic uint64_t *s = limit_cell(region, cap, size, at + i);
        if (step(s, state_of(at + i, cap, READY), state_of(at + i, cap, READING)))
            return -1;
        memcpy(out + (size_t)i * size, (const unsigned char *)(s + 1), size);
        /* Release: the copy out is done before the next lap's writer sees the cell free. */
        atomic_store_explicit(s, state_of(at + i + cap, cap, EMPTY), memory_order_release);
    }
    return (int)k;
}
