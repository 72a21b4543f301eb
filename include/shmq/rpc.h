/*
 * shmq/rpc.h — request-reply over two queues, built on the queue API (shmq/queue.h): the
 * caller pushes a request carrying a fresh correlation id and its own reply queue as
 * reply-to, and waits on that reply queue for the answer with the same id; the server claims
 * the request, answers with shmq_reply, and acks. See shmq/common.h for the conventions every
 * function follows.
 */
#ifndef SHMQ_API_RPC_H
#define SHMQ_API_RPC_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Send req to q with a fresh correlation id and this thread's reply queue as reply-to, then
 * wait for the answer with that id; returns its length (copied into reply), -ETIMEDOUT, or
 * -EMSGSIZE (reply larger than cap: it is dropped). The reply queue,
 * "shmq-reply.<pid>.<tid>" (slots of the request queue's size or 64 KiB, whichever is larger),
 * is created on first use and removed at thread or process exit.
 * Threads: per handle for q (q becomes a producer); every thread has its own reply queue, so
 * any number of threads and processes may call at once, each on its own handle. Ordering:
 * the caller's writes before the call happen-before the server's claim of the request; the
 * server's writes before its shmq_reply happen-before the return (release/acquire of the
 * two queues). Blocking: waits up to timeout_ns in all, first for room in q, then for the
 * reply (see "waits" in shmq/queue.h); the first call of a thread creates its reply queue
 * (system calls). Progress: blocking by nature.
 * Errors: -EINVAL (NULL q, NULL req with len > 0, NULL reply with cap > 0, negative timeout),
 * -ENOMEM, the errors of shmq_create for the reply queue (first call), those of shmq_push_msg
 * on q (-EPERM, -EBUSY, -EMSGSIZE for a request that does not fit, -EAGAIN with timeout 0,
 * -ETIMEDOUT, -EINTR, -EBADMSG), -ETIMEDOUT or -EINTR while waiting for the reply, -EMSGSIZE.
 * On failure after the request was pushed, the request stays queued and may still be served:
 * a reply that arrives after its call gave up carries an old id and is dropped by this
 * thread's next call.
 */
SHMQ_EXPORT ssize_t shmq_call(shmq_t *q, const void *req, size_t len, void *reply, size_t cap,
                              int64_t timeout_ns);

/*
 * Answer a request claimed from q: push data to the request's reply-to queue with its
 * correlation id. Does not ack the request (ack it after replying). Never waits: a full reply
 * queue belongs to a caller that has gone away (-EAGAIN). The reply queue is opened through
 * q's handle on first need and kept open while consecutive requests name the same one.
 * Threads: per handle (q's thread). Ordering: the caller's writes before the reply
 * happen-before the caller's shmq_call return (release). Blocking: never waits for room;
 * opening the reply queue makes system calls (and may wait up to 2 s for one being
 * created). Progress: lock-free once the reply queue is open.
 * Errors: -EINVAL (NULL q or req, NULL data with len > 0, no or an invalid reply-to), the
 * errors of shmq_open for the reply queue (-ENOENT: the caller has gone), and those of
 * shmq_push_msg on it (-EAGAIN when full, -EMSGSIZE, -EINVAL for a correlation id longer than
 * SHMQ_META_STR_MAX, -EBADMSG). On failure nothing is pushed and the request is untouched.
 */
SHMQ_EXPORT int shmq_reply(shmq_t *q, const struct shmq_msg *req, const void *data, size_t len);

#ifdef __cplusplus
}
#endif

#endif /* SHMQ_API_RPC_H */
