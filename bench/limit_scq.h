/* S: the design of shmq's default queue with nothing else — two SCQ rings of slot indices
 * (free and ready, shmq's own src/scq.c) and a pool of slots holding the messages inline,
 * without slot headers, states, counters or recovery brackets. It is the floor of the
 * index-ring design: what no bookkeeping on top of it can beat. C, because scq.h is C11. */
#ifndef SHMQ_BENCH_LIMIT_SCQ_H
#define SHMQ_BENCH_LIMIT_SCQ_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* cap is a power of two, at least 4; size is the fixed message size. */
size_t lscq_region_size(unsigned cap, size_t size);
void lscq_init(void *region, unsigned cap, size_t size); /* size unused: one signature */
/* Push up to n messages of size bytes from msgs (one after the other): free ring dequeue,
 * copy, ready ring enqueue; a batch uses one ring step of each for the whole run. Returns
 * how many (0: full), or -1 when a ring reports corruption. */
int lscq_push(void *region, unsigned cap, size_t size, const unsigned char *msgs, unsigned n);
/* Pop up to max messages into out: ready dequeue, copy, free enqueue. Returns how many. */
int lscq_pop(void *region, unsigned cap, size_t size, unsigned char *out, unsigned max);

#ifdef __cplusplus
}
#endif

#endif
