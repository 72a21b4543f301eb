/*
 * shmq — brokerless, lock-free message queues in POSIX shared memory.
 *
 * A queue is a named segment in /dev/shm ("orders" is /dev/shm/shmq.orders) holding a fixed
 * number of fixed-size slots. Any thread of any process that opened the queue may produce and
 * consume; nothing is ever locked, so a process killed at any instruction cannot block the others.
 *
 * This is the one header a program includes. It gathers the parts of the API, each of which
 * may also be included alone (each includes what it needs and compiles first in a C or a C++
 * translation unit):
 *
 *   shmq/common.h     conventions (errors, timeouts, threads, progress), the export macro,
 *                     version and limits, the handle types, struct shmq_msg, SHMQ_OPEN_OBSERVE
 *   shmq/queue.h      queues: configuration, create/open/close, names, push/pop and batches,
 *                     reserve/commit, claim/ack/nack/release, inspection (stat, participants,
 *                     peek, check), purge and repair, shmq_strerror and shmq_version
 *   shmq/topic.h      topics: publish/subscribe with subjects, patterns and groups
 *   shmq/wait.h       shmq_wait_any: waiting on several queues and subscriptions at once
 *   shmq/rpc.h        request-reply on queues: shmq_call and shmq_reply
 *   shmq/placement.h  NUMA: binding values for the configs, shmq_pin_near, shmq_pin_cpu
 *
 * The conventions every function follows (0 or a count, or a negative errno; nanosecond
 * timeouts; one thread per handle; lock-free unless asked to wait) are at the top of
 * shmq/common.h, and each function's comment says who may call it concurrently, the memory
 * ordering it gives, whether it blocks, its progress guarantee, every error it returns and
 * what a failure leaves behind.
 *
 * Repairs: a writable handle gives back what dead processes held when it opens, while it
 * sleeps in a wait, and in shmq_stat, shmq_topic_stat, shmq_subscribe and
 * shmq_topic_group_delete (each says so). For a look that never repairs or writes, open with
 * SHMQ_OPEN_OBSERVE.
 */
#ifndef SHMQ_H
#define SHMQ_H

#include "shmq/common.h"
#include "shmq/queue.h"
#include "shmq/topic.h"
#include "shmq/wait.h"
#include "shmq/rpc.h"
#include "shmq/placement.h"

#endif /* SHMQ_H */
