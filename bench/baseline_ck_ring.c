/* C wrappers around ck_ring (see baseline_ck_ring.h). */
#include "baseline_ck_ring.h"

#include <ck_ring.h>

struct bck_m8 {
    unsigned char b[8];
};
struct bck_m64 {
    unsigned char b[64];
};
CK_RING_PROTOTYPE(m8, bck_m8)
CK_RING_PROTOTYPE(m64, bck_m64)

/* The buffer starts on the first cache line after the ring header. */
static size_t buffer_offset(void)
{
    return (sizeof(struct ck_ring) + 63) & ~(size_t)63;
}

size_t bck_region_size(unsigned cap, size_t esize)
{
    return buffer_offset() + (size_t)cap * esize;
}

void bck_init(void *region, unsigned cap)
{
    ck_ring_init((struct ck_ring *)region, cap);
}

bool bck_enqueue(void *region, bool mpmc, size_t esize, const void *msg)
{
    struct ck_ring *r = region;
    void *buf = (char *)region + buffer_offset();
    if (esize == 8)
        return mpmc ? ck_ring_enqueue_mpmc_m8(r, buf, (struct bck_m8 *)msg)
                    : ck_ring_enqueue_spsc_m8(r, buf, (struct bck_m8 *)msg);
    return mpmc ? ck_ring_enqueue_mpmc_m64(r, buf, (struct bck_m64 *)msg)
                : ck_ring_enqueue_spsc_m64(r, buf, (struct bck_m64 *)msg);
}

bool bck_dequeue(void *region, bool mpmc, size_t esize, void *msg)
{
    struct ck_ring *r = region;
    void *buf = (char *)region + buffer_offset();
    if (esize == 8)
        return mpmc ? ck_ring_dequeue_mpmc_m8(r, buf, msg) : ck_ring_dequeue_spsc_m8(r, buf, msg);
    return mpmc ? ck_ring_dequeue_mpmc_m64(r, buf, msg) : ck_ring_dequeue_spsc_m64(r, buf, msg);
}
