/* C wrappers around liburcu's lfstack and wfcqueue (their headers are C only), for
 * baseline_urcu.cc. A node is a bu_node followed by its payload. */
#ifndef SHMQ_BENCH_URCU_STACK_H
#define SHMQ_BENCH_URCU_STACK_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

struct bu_node {
    void *link; /* the structure's node: one pointer in both */
    size_t len;
};

void *bu_stack_new(void);
void bu_stack_free(void *s);
void bu_stack_push(void *s, struct bu_node *n);
struct bu_node *bu_stack_pop(void *s); /* one popper at a time */

void *bu_queue_new(void);
void bu_queue_free(void *q);
void bu_queue_enqueue(void *q, struct bu_node *n);
struct bu_node *bu_queue_dequeue(void *q); /* one dequeuer at a time */

#ifdef __cplusplus
}
#endif

#endif
