/* C wrappers around Concurrency Kit's ck_ring (its header is C only), for baseline_ck.cc.
 * A region holds the ring header and then the buffer of cap elements of 8 or 64 bytes,
 * stored inline (CK_RING_PROTOTYPE). */
#ifndef SHMQ_BENCH_CK_RING_H
#define SHMQ_BENCH_CK_RING_H

#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

size_t bck_region_size(unsigned cap, size_t esize);
void bck_init(void *region, unsigned cap);
/* esize is 8 or 64; mpmc selects the MPMC functions, else the SPSC ones. */
bool bck_enqueue(void *region, bool mpmc, size_t esize, const void *msg);
bool bck_dequeue(void *region, bool mpmc, size_t esize, void *msg);

#ifdef __cplusplus
}
#endif

#endif
