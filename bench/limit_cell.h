/* I: the best a lock-free ring with the data inline could do — an upper bound, not a queue.
 * Cells of { state word | message } in a ring; a run of positions is taken with one CAS on
 * tail or head after a look (as rte_ring moves its heads), and every cell then pays the
 * read-modify-writes a lock-free inline ring cannot do without: the producer claims the cell
 * (EMPTY -> WRITING, so that no writer of another lap scribbles on it) and publishes it by CAS
 * (WRITING -> READY, so that it learns when a consumer passed it); the consumer takes it by
 * CAS (READY -> READING) and frees it with a store. What a real one needs on top — passing a
 * stalled writer, laps that skip cells still held, recovery after kill -9 — is left out, so
 * it only ever costs more than this. */
#ifndef SHMQ_BENCH_LIMIT_CELL_H
#define SHMQ_BENCH_LIMIT_CELL_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* cap is a power of two; size the fixed message size. */
size_t lcell_region_size(unsigned cap, size_t size);
void lcell_init(void *region, unsigned cap, size_t size);
/* Up to n messages of size bytes, one after the other; returns how many (0: full). */
int lcell_push(void *region, unsigned cap, size_t size, const unsigned char *msgs, unsigned n);
/* Up to max messages into out; returns how many (0: empty). */
int lcell_pop(void *region, unsigned cap, size_t size, unsigned char *out, unsigned max);

#ifdef __cplusplus
}
#endif

#endif
