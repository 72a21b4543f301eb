/* S, the bare two-ring design (see limit_scq.h). Region: ready ring, free ring, slots. */
#include "limit_scq.h"

#include "limit_cells.h"
#include "scq.h"

#include <string.h>

#define LSCQ_RUN_MAX 64u

static struct shmq__scq *ready_ring(void *region)
{
    return (struct shmq__scq *)region;
}

static struct shmq__scq *free_ring(void *region, uint32_t order)
{
    return (struct shmq__scq *)((unsigned char *)region + shmq__scq_size(order));
}

static unsigned char *slot(void *region, uint32_t order, size_t size, uint32_t index)
{
    return (unsigned char *)region + 2 * shmq__scq_size(order) + (size_t)index * size;
}

size_t lscq_region_size(unsigned cap, size_t size)
{
    return 2 * shmq__scq_size(limit_order(cap)) + (size_t)cap * size;
}

void lscq_init(void *region, unsigned cap, size_t size)
{
    (void)size;
    uint32_t order = limit_order(cap);
    shmq__scq_init_empty(ready_ring(region), order);
    shmq__scq_init_full(free_ring(region, order), order, cap);
}

int lscq_push(void *region, unsigned cap, size_t size, const unsigned char *msgs, unsigned n)
{
    uint32_t order = limit_order(cap);
    if (n == 1) {
        uint32_t index = shmq__scq_dequeue(free_ring(region, order), order);
        if (index == SHMQ__SCQ_BOTTOM)
            return 0;
        if (index >= cap)
            return -1;
        memcpy(slot(region, order, size, index), msgs, size);
        return shmq__scq_enqueue(ready_ring(region), order, index) ? -1 : 1;
    }
    uint32_t index[LSCQ_RUN_MAX];
    if (n > LSCQ_RUN_MAX)
        n = LSCQ_RUN_MAX;
    int got = shmq__scq_dequeue_many(free_ring(region, order), order, index, n);
    if (got <= 0)
        return got < 0 ? -1 : 0;
    for (int k = 0; k < got; k++) {
        if (index[k] >= cap)
            return -1;
        memcpy(slot(region, order, size, index[k]), msgs + (size_t)k * size, size);
    }
    return shmq__scq_enqueue_many(ready_ring(region), order, index, (unsigned)got) ? -1 : got;
}

int lscq_pop(void *region, unsigned cap, size_t size, unsigned char *out, unsigned max)
{
    uint32_t order = limit_order(cap);
    if (max == 1) {
        uint32_t index = shmq__scq_dequeue(ready_ring(region), order);
        if (index == SHMQ__SCQ_BOTTOM)
            return 0;
        if (index >= cap)
            return -1;
        memcpy(out, slot(region, order, size, index), size);
        return shmq__scq_enqueue(free_ring(region, order), order, index) ? -1 : 1;
    }
    uint32_t index[LSCQ_RUN_MAX];
    if (max > LSCQ_RUN_MAX)
        max = LSCQ_RUN_MAX;
    int got = shmq__scq_dequeue_many(ready_ring(region), order, index, max);
    if (got <= 0)
        return got < 0 ? -1 : 0;
    for (int k = 0; k < got; k++) {
        if (index[k] >= cap)
            return -1;
        memcpy(out + (size_t)k * size, slot(region, order, size, index[k]), size);
    }
    return shmq__scq_enqueue_many(free_ring(region, order), order, index, (unsigned)got) ? -1 : got;
}
