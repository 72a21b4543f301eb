/* liburcu lfstack and wfcqueue, inlined (_LGPL_SOURCE), behind the calls of
 * baseline_urcu_stack.h. */
#define _LGPL_SOURCE
#include "baseline_urcu_stack.h"

#include <stdlib.h>
#include <urcu/lfstack.h>
#include <urcu/wfcqueue.h>

_Static_assert(sizeof(struct cds_lfs_node) == sizeof(void *), "lfs node is one pointer");
_Static_assert(sizeof(struct cds_wfcq_node) == sizeof(void *), "wfcq node is one pointer");

struct bu_queue {
    _Alignas(64) struct __cds_wfcq_head head; /* the dequeuer's line */
    _Alignas(64) struct cds_wfcq_tail tail;   /* the enqueuers' line */
};

void *bu_stack_new(void)
{
    struct cds_lfs_stack *s = aligned_alloc(64, 64);
    if (s)
        cds_lfs_init(s);
    return s;
}

void bu_stack_free(void *s)
{
    free(s);
}

void bu_stack_push(void *s, struct bu_node *n)
{
    struct cds_lfs_node *node = (struct cds_lfs_node *)&n->link;
    cds_lfs_node_init(node);
    cds_lfs_push((struct cds_lfs_stack *)s, node);
}

struct bu_node *bu_stack_pop(void *s)
{
    struct cds_lfs_node *node = __cds_lfs_pop((struct cds_lfs_stack *)s);
    return node ? (struct bu_node *)node : NULL;
}

void *bu_queue_new(void)
{
    struct bu_queue *q = aligned_alloc(64, sizeof *q);
    if (q)
        __cds_wfcq_init(&q->head, &q->tail);
    return q;
}

void bu_queue_free(void *q)
{
    free(q);
}

void bu_queue_enqueue(void *q, struct bu_node *n)
{
    struct bu_queue *bq = q;
    struct cds_wfcq_node *node = (struct cds_wfcq_node *)&n->link;
    cds_wfcq_node_init(node);
    cds_wfcq_enqueue(&bq->head, &bq->tail, node);
}

struct bu_node *bu_queue_dequeue(void *q)
{
    struct bu_queue *bq = q;
    struct cds_wfcq_node *node = __cds_wfcq_dequeue_blocking(&bq->head, &bq->tail);
    return node ? (struct bu_node *)node : NULL;
}
