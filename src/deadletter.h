/*
 * Layer: task semantics. Dead letters: a message past its TTL or its delivery limit leaves
 * the queue, copied into the dead-letter queue when there is one (see deadletter.c).
 */
#ifndef SHMQ_DEADLETTER_H
#define SHMQ_DEADLETTER_H

#include "handle.h"

/*
 * m is a claim of q's (bound by the core) that must not be delivered: copy it, metadata
 * included, into dlq (an open handle with the producer role, or NULL when there is none),
 * counted dead_lettered, else drop it, counted dropped; either way it is acked (counted acked,
 * and expired when `expired`). Never waits: a full dead-letter queue drops.
 */
void shmq__dead_letter(shmq_t *q, shmq_t *dlq, struct shmq_msg *m, bool expired);

#endif /* SHMQ_DEADLETTER_H */
