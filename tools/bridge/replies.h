/*
 * Results of Celery tasks back to shm reply queues, for request-reply (shmq_call) through the
 * bridge. The bridge consumes its AMQP reply queue; each result's correlation id "C@R" (see
 * celery.h) names the shm queue R and the caller's correlation id C. The result (Celery's JSON
 * document: status, result, traceback...) is pushed to R with correlation id C and the task
 * state as its type, without waiting, like shmq_reply: a reply queue that is gone or full
 * belongs to a caller that gave up. Intermediate states (STARTED, RETRY...) are not forwarded:
 * the caller takes the first answer as the answer.
 */
#ifndef SHMQ_BRIDGE_REPLIES_H
#define SHMQ_BRIDGE_REPLIES_H

#include <amqp.h>

struct bridge_session;

/* Forward one result and count it (replies, replies_dropped or replies_ignored). The reply
 * queue is opened for each result, never kept: a caller thread's reply queue is removed when
 * the thread ends, and a new thread with the same id makes a new one under the same name. */
void bridge_replies_forward(struct bridge_session *s, const amqp_message_t *msg);

#endif /* SHMQ_BRIDGE_REPLIES_H */
