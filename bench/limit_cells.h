/* What the C limits (limit_scq.c, limit_cell.c, limit_run.c) share: a capacity that is a
 * power of two, and for the inline ones a region of a head line, a tail line and then the
 * cells, each a state word and the message, packed at 8-byte alignment. */
#ifndef SHMQ_BENCH_LIMIT_CELLS_H
#define SHMQ_BENCH_LIMIT_CELLS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

struct limit_header {
    _Alignas(64) _Atomic uint64_t head;
    _Alignas(64) _Atomic uint64_t tail;
};

/* log2(cap): cap is a power of two. */
static inline unsigned limit_order(unsigned cap)
{
    return (unsigned)__builtin_ctz(cap);
}

static inline size_t limit_stride(size_t size)
{
    return sizeof(uint64_t) + ((size + 7) & ~(size_t)7);
}

static inline size_t limit_cells_size(unsigned cap, size_t size)
{
    return sizeof(struct limit_header) + (size_t)cap * limit_stride(size);
}

/* The state word of position pos's cell; the message follows it. */
static inline _Atomic uint64_t *limit_cell(void *region, unsigned cap, size_t size, uint64_t pos)
{
    unsigned char *cells = (unsigned char *)region + sizeof(struct limit_header);
    return (_Atomic uint64_t *)(cells + (size_t)(pos & (cap - 1)) * limit_stride(size));
}

#endif
