/*
 * shmq/common.h — what every part of the shmq API shares: the export macro, the version, the
 * limits, timeouts, the opaque handle types, the message descriptor and the open flags.
 * Included by each of shmq/queue.h, shmq/topic.h, shmq/rpc.h, shmq/placement.h and
 * shmq/wait.h; a user includes <shmq.h>, which includes them all.
 *
 * Conventions of every function of the API:
 *   - 0 (or a count) on success, a negative errno value on failure; errno is not used and
 *     the library never prints. shmq_strerror() words a code.
 *   - Timeouts are nanoseconds as int64_t: 0 = do not wait, SHMQ_FOREVER = no limit;
 *     a negative timeout is -EINVAL.
 *   - A handle (shmq_t, shmq_topic_t, shmq_sub_t) belongs to one thread at a time: give each
 *     thread its own handle (shmq_open is cheap: every queue handle of a segment in one process
 *     shares one mapping). Different handles, threads and processes may use one queue or topic
 *     concurrently.
 *   - Handles do not cross fork(): a child opens its own.
 *   - Everything read from a segment is checked: a corrupt segment is -EBADMSG, never a crash.
 *
 * Progress: push/pop/claim/ack/publish/next... are lock-free (a stalled or dead peer never
 * prevents others from completing) unless they are asked to wait, in which case they block
 * on a futex in the segment. No operation makes a system call when nobody waits. A wait ends
 * with -EINTR when a signal handler runs (as a blocking system call does).
 *
 * How each function's comment reads: "Threads" says who may call it concurrently (the same
 * handle, other handles, other processes); "Ordering" the memory ordering the caller gets;
 * "Blocking" whether and how long it can wait; "Progress" its guarantee when it does not
 * wait; "Errors" every negative errno it returns; "On failure" what a failure leaves behind.
 */
#ifndef SHMQ_API_COMMON_H
#define SHMQ_API_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(SHMQ_BUILDING) && defined(__GNUC__)
#define SHMQ_EXPORT __attribute__((visibility("default")))
#else
#define SHMQ_EXPORT
#endif

#define SHMQ_VERSION_MAJOR 0
#define SHMQ_VERSION_MINOR 1
#define SHMQ_VERSION_PATCH 0
#define SHMQ_VERSION_STRING "0.1.0"

/* Timeouts. */
#define SHMQ_FOREVER INT64_MAX

/* Limits. Every one is checked; crossing it is -EINVAL unless said otherwise. */
#define SHMQ_NAME_MAX 200              /* [A-Za-z0-9._-], 1..200 chars, no leading dot */
#define SHMQ_CAPACITY_MAX (1u << 24)   /* messages in one queue */
#define SHMQ_SLOT_SIZE_MAX (64u << 20) /* bytes of payload (+ metadata) in one message */
#define SHMQ_PARTICIPANTS_MAX 4096     /* handles open on one queue at once */
#define SHMQ_META_STR_MAX 255          /* bytes of type, correlation id, reply-to */
#define SHMQ_DELIVERIES_MAX 65535      /* max_deliveries */
#define SHMQ_NUMA_NODES_MAX 4096       /* NUMA node numbers 0 .. 4095 */

#define SHMQ_DEFAULT_CAPACITY 1024u
#define SHMQ_DEFAULT_SLOT_SIZE 256u
#define SHMQ_DEFAULT_PARTICIPANTS 128u
#define SHMQ_DEFAULT_MODE 0600u

/* Opaque handles: a queue (shmq/queue.h), a topic and a subscription (shmq/topic.h). */
typedef struct shmq shmq_t;
typedef struct shmq_topic shmq_topic_t;
typedef struct shmq_sub shmq_sub_t;

/* shmq_open_ex and shmq_topic_open_ex flags. SHMQ_OPEN_OBSERVE: a read-only look (queue:
 * stat, participant list, peek, check; topic: stat, groups, check). The handle maps the
 * segment read-only, takes no participant entry and never runs the reaper; an operation that
 * would write is -EPERM. */
#define SHMQ_OPEN_OBSERVE (1u << 0)

/*
 * One message. For the zero-copy calls (reserve/commit, claim/ack) `data` points into the
 * slot, valid until commit/ack/nack/discard. For the metadata strings, NULL means absent.
 * The metadata costs slot space only when set: a message with any metadata fits when
 * len (rounded up to 8) + 19 + the three strings' lengths <= slot_size (without: len <=
 * slot_size).
 */
struct shmq_msg {
    /* public */
    void *data;                 /* payload */
    size_t len;                 /* payload bytes */
    int64_t timestamp_ns;       /* CLOCK_REALTIME ns set by the producer; 0 = none */
    const char *type;           /* application message type, <= SHMQ_META_STR_MAX bytes */
    const char *correlation_id; /* request/reply correlation, <= SHMQ_META_STR_MAX bytes */
    const char *reply_to;       /* name of the queue to answer on, <= SHMQ_META_STR_MAX bytes */
    /* read-only: set by commit (id) and by claim (id, deliveries) */
    uint64_t id;         /* unique among the queue's messages for at least 2^30 uses of a slot */
    uint32_t deliveries; /* 1 on the first delivery, +1 on each redelivery */
    uint32_t reserved0;
    /* private: do not touch */
    uint64_t priv[2];
};

#ifdef __cplusplus
}
#endif

#endif /* SHMQ_API_COMMON_H */
