/* R: an upper bound of a lock-free ring whose unit of claim and publication is a run of
 * messages, with the data inline. A producer claims a run by CAS on its first cell (which
 * then says how long the run is, so others can move tail past it), moves tail past the run,
 * writes the cells and their marks with plain stores and publishes the run by one CAS on its
 * first cell (which tells it whether a consumer passed it meanwhile). A consumer takes the
 * published cells from head with one CAS on head and frees each with a plain store. What a
 * real one needs on top — passing a stalled run, skipping cells a stalled writer still holds,
 * recovery after kill -9 — is left out (and has not been worked out), so this only bounds
 * such a design from above. */
#ifndef SHMQ_BENCH_LIMIT_RUN_H
#define SHMQ_BENCH_LIMIT_RUN_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* cap is a power of two; size the fixed message size; runs are at most LRUN_MAX messages. */
#define LRUN_MAX 63u
size_t lrun_region_size(unsigned cap, size_t size);
void lrun_init(void *region, unsigned cap, size_t size);
/* Up to n messages of size bytes, one after the other, as one run; returns how many. */
int lrun_push(void *region, unsigned cap, size_t size, const unsigned char *msgs, unsigned n);
/* Up to max messages into out; returns how many (0: empty). */
int lrun_pop(void *region, unsigned cap, size_t size, unsigned char *out, unsigned max);

#ifdef __cplusplus
}
#endif

#endif
