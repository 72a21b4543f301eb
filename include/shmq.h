/*
 * shmq — brokerless, lock-free message queues in POSIX shared memory.
 *
 * A queue is a named segment in /dev/shm ("orders" is /dev/shm/shmq.orders) holding a fixed
 * number of fixed-size slots. Any thread of any process that opened the queue may produce and
 * consume; nothing is ever locked, so a process killed at any instruction cannot block the others.
 *
 * Conventions of every function below:
 *   - 0 (or a count) on success, a negative errno value on failure; errno is not used and
 *     the library never prints. shmq_strerror() words a code.
 *   - Timeouts are nanoseconds as int64_t: 0 = do not wait, SHMQ_FOREVER = no limit;
 *     a negative timeout is -EINVAL.
 *   - A handle (shmq_t) belongs to one thread at a time: give each thread its own handle
 *     (shmq_open is cheap: every handle of a segment in one process shares one mapping).
 *     Different handles, threads and processes may use one queue concurrently.
 *   - Handles do not cross fork(): a child opens its own.
 *
 * Progress: push/pop/claim/ack/... are lock-free (a stalled or dead peer never prevents
 * others from completing) unless they are asked to wait, in which case they block on a futex
 * in the segment. No operation makes a system call when nobody waits. A wait ends with
 * -EINTR when a signal handler runs (as a blocking system call does).
 */
#ifndef SHMQ_H
#define SHMQ_H

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

typedef struct shmq shmq_t;

enum shmq_kind { SHMQ_FIFO = 0, SHMQ_LIFO = 1 };

/* shmq_config.flags */
#define SHMQ_SINGLE_PRODUCER (1u << 0) /* at most one producer handle at a time (-EBUSY) */
#define SHMQ_SINGLE_CONSUMER (1u << 1) /* at most one consumer handle at a time (-EBUSY) */
/* Both flags together select the single-producer/single-consumer ring: data inline, one
 * cache line per small message, no index rings. One flag alone only enforces the promise. */

/*
 * Creation parameters. A zero-initialised config (or NULL) means every default. Fields that
 * are zero take their default; reserved space must be zero (-EINVAL otherwise) so that later
 * versions can give it a meaning.
 */
struct shmq_config {
    enum shmq_kind kind;       /* SHMQ_FIFO (default) or SHMQ_LIFO */
    uint32_t capacity;         /* messages the queue holds, exactly; 1..SHMQ_CAPACITY_MAX.
                                  (A FIFO producer handle keeps a few free slots for its next
                                  pushes: another producer may find the queue full up to
                                  min(16, capacity/16) - 1 slots early per such handle while
                                  it is idle, twice that if it also consumes; one handle
                                  always fills the whole capacity.) */
    uint32_t slot_size;        /* bytes per message: payload plus any metadata set on it */
    uint32_t mode;             /* permission bits of the segment; 0 = 0600 */
    uint32_t flags;            /* SHMQ_SINGLE_PRODUCER | SHMQ_SINGLE_CONSUMER */
    uint32_t max_participants; /* handles open at once; 0 = SHMQ_DEFAULT_PARTICIPANTS */
    /* task-queue semantics */
    int64_t ttl_ns;          /* a message older than this is never delivered; 0 = no TTL */
    uint32_t max_deliveries; /* deliveries before a message is dead-lettered; 0 = no limit */
    /* placement: 0 = no binding (the kernel's first touch), SHMQ_NUMA_LOCAL, or
     * SHMQ_NUMA_NODE(n) */
    uint32_t numa;
    uint32_t numa_flags; /* SHMQ_NUMA_STRICT */
    uint32_t reserved0;  /* must be zero */
    /* Queue that receives expired messages and those past max_deliveries (created on demand
     * with this queue's kind, slot size and mode); NULL = drop them and count them. */
    const char *dead_letter;
    uint64_t reserved[4]; /* must be zero */
};

#define SHMQ_NUMA_LOCAL UINT32_MAX             /* the node of the CPU the creator runs on */
#define SHMQ_NUMA_NODE(n) ((uint32_t)(n) + 1u) /* an explicit node */
#define SHMQ_NUMA_STRICT (1u << 0)             /* fail rather than fall back to other nodes */

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

/* Counters are sums over every participant that ever opened the queue. */
struct shmq_stat {
    enum shmq_kind kind;
    uint32_t flags;     /* creation flags */
    uint32_t capacity;  /* messages */
    uint32_t slot_size; /* bytes */
    uint32_t mode;      /* permission bits */
    uint32_t max_participants;
    uint64_t segment_bytes; /* size of the shm object */
    uint64_t depth;         /* messages ready to be consumed (exact when quiescent) */
    uint64_t in_flight;     /* claimed and not yet acked (reservations are not counted) */
    uint64_t pushed;        /* messages committed */
    uint64_t popped;        /* messages taken: pop, claim, and expired or dead-lettered */
    uint64_t acked;         /* taken messages finished (pop, expiry and dead letters too) */
    uint64_t nacked;        /* taken messages given back (incl. claims of dead consumers) */
    uint64_t full;          /* pushes that found the queue full */
    uint64_t empty;         /* pops that found the queue empty */
    uint64_t waits;         /* times a caller went to sleep on the futex */
    uint64_t wakeups;       /* futex wake calls issued */
    uint32_t participants;  /* handles open now (live or not yet reaped) */
    uint32_t producers;     /* of them, those that produced */
    uint32_t consumers;     /* of them, those that consumed */
    int32_t creator_pid;
    int64_t created_ns; /* CLOCK_REALTIME */
    uint32_t owner_uid; /* owner of the shm object */
    uint32_t max_deliveries;
    int64_t ttl_ns;
    uint64_t redelivered;   /* deliveries after the first (nack, or a consumer died) */
    uint64_t expired;       /* messages past their TTL, never delivered */
    uint64_t dead_lettered; /* messages moved to the dead-letter queue */
    uint64_t dropped;       /* expired or over-delivered messages dropped: no dead-letter queue,
                               or it was full */
    uint64_t recovered;     /* slots the reaper gave back from dead participants */
    uint32_t dead;          /* participants whose process is gone, not yet reaped */
    int32_t numa_requested; /* node asked for at creation, -1 = none */
    int32_t numa_located;   /* node the sampled pages are on; -1 unknown, -2 several */
    uint32_t numa_flags;
    char dead_letter[SHMQ_NAME_MAX + 1]; /* "" = none */
    uint64_t released; /* claims given back undelivered (shmq_release); not in nacked */
    uint64_t reserved[7];
};

/* Roles, as reported per participant. */
#define SHMQ_ROLE_PRODUCER (1u << 0)
#define SHMQ_ROLE_CONSUMER (1u << 1)

struct shmq_participant_info {
    uint32_t index; /* slot in the participant table */
    int32_t pid;
    int alive;      /* 1 if the process still exists (pid and start time match) */
    uint32_t roles; /* SHMQ_ROLE_* */
    uint64_t pushed, popped, acked, nacked, full, empty, waits;
    int64_t opened_ns; /* CLOCK_REALTIME */
    uint64_t reserved[4];
};

/* shmq_open_ex flags */
#define SHMQ_OPEN_OBSERVE                                                                          \
    (1u << 0) /* read-only look: stat, participants, peek; takes no                                \
                 participant entry; anything else is -EPERM */

/* ---- lifecycle ------------------------------------------------------------------------ */

/* Create the queue `name` (O_EXCL: -EEXIST if it exists) and open it. The segment is fully
 * allocated up front: a full /dev/shm is -ENOSPC here, never a SIGBUS later; on any failure
 * nothing is left behind. Thread-safe. */
SHMQ_EXPORT int shmq_create(const char *name, const struct shmq_config *cfg, shmq_t **q);

/* Open an existing queue. Validates the whole header: -ENOENT, -EACCES, -EBADMSG (corrupt or
 * truncated), -EPROTO (another ABI version), -EUSERS (participant table full). Thread-safe. */
SHMQ_EXPORT int shmq_open(const char *name, shmq_t **q);
SHMQ_EXPORT int shmq_open_ex(const char *name, uint32_t flags, shmq_t **q);

/* Close a handle. A message the handle still holds (claimed, reserved, or kept back by
 * -EMSGSIZE) is given back to the queue first: nothing is lost. The mapping is removed when
 * the process's last handle of it closes, after an RCU grace period. */
SHMQ_EXPORT int shmq_close(shmq_t *q);

/* Remove the name (a queue's, or a topic's: the namespace is shared). Handles already open
 * keep working until closed. */
SHMQ_EXPORT int shmq_unlink(const char *name);

/* 0 if `name` is a valid queue name, else -EINVAL. */
SHMQ_EXPORT int shmq_name_check(const char *name);

/* Call fn(name, arg) for every shmq segment in /dev/shm (queue names, without "shmq.").
 * Stops early and returns fn's value when it is non-zero; 0 otherwise. */
SHMQ_EXPORT int shmq_foreach(int (*fn)(const char *name, void *arg), void *arg);

/* ---- copy API --------------------------------------------------------------------------- */

/* Copy one message in. -EMSGSIZE (nothing enqueued) if len > slot size, -EAGAIN if full and
 * timeout_ns == 0, -ETIMEDOUT if still full at the deadline. */
SHMQ_EXPORT int shmq_push(shmq_t *q, const void *data, size_t len, int64_t timeout_ns);

/* Copy one message in with its metadata (m->data, m->len, m->type, ...). */
SHMQ_EXPORT int shmq_push_msg(shmq_t *q, const struct shmq_msg *m, int64_t timeout_ns);

/* Copy the next message out; returns its length. A buffer too small for it is -EMSGSIZE and
 * the message stays queued: this handle keeps it back and returns it first on its next
 * pop/claim (close gives it back to the queue). -EAGAIN if empty and timeout_ns == 0,
 * -ETIMEDOUT if still empty at the deadline. At-most-once once it returns. */
SHMQ_EXPORT ssize_t shmq_pop(shmq_t *q, void *buf, size_t cap, int64_t timeout_ns);

/* Push up to n messages; returns how many were pushed (1..n), waiting up to timeout_ns for
 * room for the first. Messages go in order; -EMSGSIZE if msgs[0] is too large (a later
 * oversized message ends the batch before it). A FIFO moves up to 32 messages per ring step
 * (one fetch-and-add for the run), so a batch costs a fraction of n single pushes. */
SHMQ_EXPORT int shmq_push_batch(shmq_t *q, const struct iovec *msgs, unsigned n,
                                int64_t timeout_ns);

/* Pop up to n messages into bufs[i] (iov_len in: capacity, out: message length); returns how
 * many (1..n), waiting up to timeout_ns for the first. A message too large for its buffer
 * ends the batch and is kept back as for shmq_pop (-EMSGSIZE if it is the first); what the
 * batch had taken after it is given back first in line, in order, undelivered. A FIFO takes
 * up to 32 ready messages per ring step, and never more than were there when it looked. */
SHMQ_EXPORT int shmq_pop_batch(shmq_t *q, struct iovec *bufs, unsigned n, int64_t timeout_ns);

/* ---- zero-copy API ---------------------------------------------------------------------- */

/* Take a free slot for a message of up to len bytes: m->data points into it. Fill it, set
 * m->len (<= len) and any metadata, then shmq_commit() or shmq_discard(). */
SHMQ_EXPORT int shmq_reserve(shmq_t *q, size_t len, struct shmq_msg *m, int64_t timeout_ns);
/* Publish a reserved message. -EMSGSIZE (still reserved) if payload + metadata do not fit. */
SHMQ_EXPORT int shmq_commit(shmq_t *q, struct shmq_msg *m);
/* Give a reserved slot back unused. */
SHMQ_EXPORT int shmq_discard(shmq_t *q, struct shmq_msg *m);

/* Take the next message without copying it: m->data, m->len and the metadata point into the
 * slot until shmq_ack() or shmq_nack(). At-least-once: if this process dies first, the message
 * is delivered again (with the recovery layer). */
SHMQ_EXPORT int shmq_claim(shmq_t *q, struct shmq_msg *m, int64_t timeout_ns);
/* Finish a claimed message: its slot is free again. */
SHMQ_EXPORT int shmq_ack(shmq_t *q, struct shmq_msg *m);
/* Give a claimed message back to the queue, delivery count + 1 (FIFO: at the tail). */
SHMQ_EXPORT int shmq_nack(shmq_t *q, struct shmq_msg *m);
/* Give a claimed message back as NOT delivered: for a consumer that took a message and could
 * not hand it on (an interrupted pipeline, a closed output). Unlike shmq_nack, its delivery
 * count returns to what it was before the claim; it is counted as released (not nacked, not
 * redelivered); it is never dead-lettered or dropped for it; and it is first in line again:
 * FIFO: released messages are claimed before any ready message, in the order they were
 * released (so a consumer that releases what it holds oldest first keeps the queue's order);
 * LIFO: back on top; SPSC: it stays at the head. Called by the claim's handle (a handle
 * belongs to one thread); lock-free; never blocks. The release of the slot's state pairs
 * with the next claimer's acquire, as for nack. -EINVAL when m is not a claim this handle
 * holds (then nothing changes). */
SHMQ_EXPORT int shmq_release(shmq_t *q, struct shmq_msg *m);

/* ---- inspection ------------------------------------------------------------------------- */

/* The queue's configuration and counters. On a handle that may use the queue, it first gives
 * back what dead participants held (the reaper); on an observer's (SHMQ_OPEN_OBSERVE) it never
 * does and writes nothing: dead participants and what they hold are only reported (what
 * `shmq stat` and `shmq serve` rely on; tests/test_recovery.c: observers_never_reap). Any
 * thread, concurrently with any operation; counters are read one by one, without a snapshot. */
SHMQ_EXPORT int shmq_stat(shmq_t *q, struct shmq_stat *st);

/* Fill up to max entries of out with the participant table's occupied entries; returns how
 * many there are (which may exceed max). */
SHMQ_EXPORT int shmq_participant_list(shmq_t *q, struct shmq_participant_info *out, unsigned max);

/* A best-effort, non-destructive look at up to max messages ready to be consumed, in the
 * order they would be consumed: fn gets a private copy of each (valid during the call).
 * Concurrent consumers may take them meanwhile; a message that changes while it is copied is
 * skipped. Returns how many were shown, or fn's non-zero value. */
SHMQ_EXPORT int shmq_peek(shmq_t *q, unsigned max, int (*fn)(const struct shmq_msg *m, void *arg),
                          void *arg);

/* Verify the queue's invariants (see src/check.c): 0, or -EBADMSG with the first violation
 * worded into why (cap bytes; may be NULL). Meaningful when no operation is in flight. */
SHMQ_EXPORT int shmq_check(shmq_t *q, char *why, size_t cap);

/* Pop and drop every ready message; returns how many. */
SHMQ_EXPORT int shmq_purge(shmq_t *q);

/* Like shmq_nack, but the message is not delivered again before delay_ns have passed (a
 * retry countdown). Lock-free: the message waits in a separate ring of the segment that
 * consumers look at one entry per claim. In the SPSC ring it stays at the head, holding back
 * the messages behind it. */
SHMQ_EXPORT int shmq_nack_delayed(shmq_t *q, struct shmq_msg *m, int64_t delay_ns);

/* ---- recovery ---------------------------------------------------------------------------- */

struct shmq_repair_report {
    uint32_t dead_participants;  /* entries of processes that are gone, released */
    uint32_t claims_returned;    /* claimed, unacked messages put back (or dead-lettered) */
    uint32_t reservations_freed; /* half-written reservations given back to the pool */
    uint32_t orphans_restored;   /* slots in no ring and held by no one, put back */
    uint32_t dead_lettered;      /* of the returned claims, those past max_deliveries */
    uint32_t busy;               /* 1 if a live participant stalled the grace period: orphan
                                    recovery was skipped this time (run again later) */
    uint64_t reserved[4];
};

/* Return everything dead participants held, now: their claimed messages (delivered again,
 * delivery count raised, or dead-lettered past max_deliveries), their reservations, and
 * orphaned slots. One reaper at a time (-EBUSY if another runs). Also runs by itself on
 * open, when a sleeper's slice ends, and from shmq_stat; what those passes did through this
 * handle is included in the report (so open + repair reports everything). report may be
 * NULL. */
SHMQ_EXPORT int shmq_repair(shmq_t *q, struct shmq_repair_report *report);

/* ---- request-reply ------------------------------------------------------------------------ */

/* Send req to q with a fresh correlation id and this thread's reply queue as reply-to, then
 * wait for the answer with that id; returns its length (copied into reply), -ETIMEDOUT, or
 * -EMSGSIZE (reply larger than cap: it is dropped). The reply queue,
 * "shmq-reply.<pid>.<tid>" (slots of the request queue's size or 64 KiB, whichever is larger),
 * is created on first use and removed at thread or process exit. */
SHMQ_EXPORT ssize_t shmq_call(shmq_t *q, const void *req, size_t len, void *reply, size_t cap,
                              int64_t timeout_ns);

/* Answer a request claimed from q: push data to the request's reply-to queue with its
 * correlation id. -EINVAL if the request has no reply-to. Does not ack the request. */
SHMQ_EXPORT int shmq_reply(shmq_t *q, const struct shmq_msg *req, const void *data, size_t len);

/* ---- placement ---------------------------------------------------------------------------- */

/* Pin the calling thread to the CPUs of the NUMA node the queue's memory is bound to (or
 * the node its pages are on). -ENOTSUP where placement is not supported. */
SHMQ_EXPORT int shmq_pin_near(shmq_t *q);
/* Pin the calling thread to one CPU. */
SHMQ_EXPORT int shmq_pin_cpu(int cpu);

/* The queue's name (without "shmq."). */
SHMQ_EXPORT const char *shmq_name(const shmq_t *q);

/* ---- topics ------------------------------------------------------------------------------ */

/*
 * A topic is a broadcast ring for fan-out, in the same namespace as queues ("prices" is
 * /dev/shm/shmq.prices; opening a queue as a topic or the other way round is -EMEDIUMTYPE).
 * Publishers append messages, each with a subject; every subscriber GROUP reads every message
 * whose subject matches its pattern, and the members of one group share it: each message goes
 * to exactly one of them (competing consumers). A subscription without a group gets a private
 * one. A group starts at the end of the ring: it sees what is published after it was created.
 * Publishing costs the same whatever the number of subscribers: a publisher never looks at a
 * subscriber on its fast path; each group moves its own cursor and filters for itself.
 *
 * Subjects are words joined by '.' ("orders.eu.created"), 0..SHMQ_SUBJECT_MAX bytes: "" has
 * no word, "a..b" has three (the middle one empty). A word is any bytes above 0x20 except
 * '.', '*', '#' and 0x7f. A pattern is a subject in which a whole word may also be '*'
 * (exactly one word) or '#' (zero or more words): "orders.*.created", "orders.#", "#". The
 * matching is RabbitMQ's topic exchange's; a '*' or '#' inside a longer word ("a*") is -EINVAL
 * (RabbitMQ would take it literally), as is any subject that holds one.
 *
 * Policies (per topic, fixed at creation):
 *   SHMQ_TOPIC_BLOCK      no group loses a message while it has a live member: a publisher
 *                         waits (or gets -EAGAIN / -ETIMEDOUT) while the slowest such group
 *                         still has to read the slot it needs. A group whose members are all
 *                         gone stops holding publishers back: an ephemeral one is removed as
 *                         soon as its last member leaves or is found dead; a durable one after
 *                         group_timeout_ns without a member (its cursor is kept: a member
 *                         that comes back later finds what was overwritten counted as lost).
 *   SHMQ_TOPIC_OVERWRITE  publishers never wait for subscribers. A group that falls a whole
 *                         ring behind loses the oldest messages; its next delivery says exactly
 *                         how many (shmq_delivery.lost) and resumes at the oldest message still
 *                         in the ring. Losses are counted per group.
 *
 * Order: a group receives each publisher's messages in the order they were published; all of a
 * topic's messages have one order (their sequence numbers), which every group follows.
 * Threads: a topic handle and its subscriptions belong to one thread at a time (each handle
 * maps the segment for itself: open one handle per thread). Handles do not cross fork().
 * Dead processes: every handle and every member records its pid and process start time; a
 * member or publisher found dead is released by whoever looks (open, subscribe, a waiting
 * publisher or subscriber, shmq_topic_stat, shmq_topic_repair): nothing is locked.
 */
typedef struct shmq_topic shmq_topic_t;
typedef struct shmq_sub shmq_sub_t;

#define SHMQ_SUBJECT_MAX 255   /* bytes of a subject or a pattern */
#define SHMQ_GROUP_NAME_MAX 63 /* group names: [A-Za-z0-9._-], 1..63 chars, no leading dot */
#define SHMQ_GROUPS_MAX 4096   /* groups in one topic */
#define SHMQ_MEMBERS_MAX 4096  /* subscriptions open on one topic at once */

#define SHMQ_TOPIC_DEFAULT_GROUPS 64u
#define SHMQ_TOPIC_DEFAULT_MEMBERS 128u
#define SHMQ_TOPIC_DEFAULT_GROUP_TIMEOUT_NS (10LL * 1000000000LL)

enum shmq_topic_policy { SHMQ_TOPIC_BLOCK = 0, SHMQ_TOPIC_OVERWRITE = 1 };

/* Creation parameters; a zero-initialised config (or NULL) means every default. Reserved
 * fields must be zero. */
struct shmq_topic_config {
    enum shmq_topic_policy policy; /* SHMQ_TOPIC_BLOCK (default) or SHMQ_TOPIC_OVERWRITE */
    uint32_t capacity;             /* messages in the ring: a power of two, 2..SHMQ_CAPACITY_MAX;
                                      0 = SHMQ_DEFAULT_CAPACITY */
    uint32_t slot_size;   /* bytes per message for subject + 1, rounded up to 8, then payload and
                             any metadata (see shmq_publish); 8..SHMQ_SLOT_SIZE_MAX;
                             0 = SHMQ_DEFAULT_SLOT_SIZE */
    uint32_t mode;        /* permission bits; 0 = 0600 */
    uint32_t max_groups;  /* 1..SHMQ_GROUPS_MAX; 0 = SHMQ_TOPIC_DEFAULT_GROUPS */
    uint32_t max_members; /* 1..SHMQ_MEMBERS_MAX; 0 = SHMQ_TOPIC_DEFAULT_MEMBERS */
    uint32_t max_participants; /* topic handles open at once; 0 = SHMQ_DEFAULT_PARTICIPANTS */
    uint32_t numa;             /* as in struct shmq_config */
    uint32_t numa_flags;
    uint32_t reserved0;
    /* BLOCK: how long a durable group without a live member still holds publishers back;
     * 0 = SHMQ_TOPIC_DEFAULT_GROUP_TIMEOUT_NS, SHMQ_FOREVER = until a member comes back. */
    int64_t group_timeout_ns;
    uint64_t reserved[4];
};

/* Create the topic `name` (O_EXCL) and open it. All-or-nothing like shmq_create: -EEXIST,
 * -EINVAL (bad name or config, e.g. a capacity that is not a power of two), -ENOSPC; on
 * failure nothing is left behind. Thread-safe. */
SHMQ_EXPORT int shmq_topic_create(const char *name, const struct shmq_topic_config *cfg,
                                  shmq_topic_t **t);

/* Open an existing topic, validating its whole header: -ENOENT, -EACCES, -EMEDIUMTYPE (a
 * queue), -EBADMSG (corrupt or truncated), -EPROTO, -EUSERS (participant table full).
 * flags: 0 or SHMQ_OPEN_OBSERVE (read-only: stat, group list and check only; anything else
 * is -EPERM). Thread-safe. */
SHMQ_EXPORT int shmq_topic_open(const char *name, shmq_topic_t **t);
SHMQ_EXPORT int shmq_topic_open_ex(const char *name, uint32_t flags, shmq_topic_t **t);

/* Unsubscribe every subscription still open on t (see shmq_unsubscribe), release its
 * participant entry and unmap. The handle and its subscriptions are freed. */
SHMQ_EXPORT int shmq_topic_close(shmq_topic_t *t);

/* Remove the name (-EMEDIUMTYPE if it is a queue: use shmq_unlink). Open handles keep
 * working until closed. */
SHMQ_EXPORT int shmq_topic_unlink(const char *name);

SHMQ_EXPORT const char *shmq_topic_name(const shmq_topic_t *t);

/* 0 if valid, else -EINVAL. */
SHMQ_EXPORT int shmq_subject_check(const char *subject);
SHMQ_EXPORT int shmq_pattern_check(const char *pattern);
/* 1 if subject matches pattern, 0 if not, -EINVAL if either is invalid. */
SHMQ_EXPORT int shmq_topic_match(const char *pattern, const char *subject);

/*
 * Publish a copy of data under subject. It fits when
 *     align8(strlen(subject) + 1) + len <= slot_size
 * (-EMSGSIZE otherwise, nothing published). -EINVAL for a bad subject.
 * OVERWRITE: never waits (timeout_ns must still be valid). BLOCK: waits up to timeout_ns for
 * the slowest live group (-EAGAIN with 0, -ETIMEDOUT, -EINTR if a signal handler ran);
 * nothing is published then. Lock-free: a publisher waits for another publisher only when
 * that one was lapped by a whole ring while writing one message, and takes its slot over if
 * its process is dead. Release ordering: what the caller wrote before publishing is visible
 * to whoever receives the message.
 */
SHMQ_EXPORT int shmq_publish(shmq_topic_t *t, const char *subject, const void *data, size_t len,
                             int64_t timeout_ns);
/* The same with metadata (m->data, m->len, m->timestamp_ns, m->type, m->correlation_id,
 * m->reply_to; m->id and m->deliveries are ignored). With any metadata set it fits when
 * align8(strlen(subject) + 1) + align8(len) + 19 + the three strings' lengths <= slot_size. */
SHMQ_EXPORT int shmq_publish_msg(shmq_topic_t *t, const char *subject, const struct shmq_msg *m,
                                 int64_t timeout_ns);

/* shmq_subscribe flags */
#define SHMQ_SUB_DURABLE (1u << 0) /* the group keeps its cursor when it has no member */

/*
 * Subscribe: join the group `group` of t (created on first use, with this pattern and these
 * flags) or, with group NULL, a new private group. pattern NULL means "#". Joining an
 * existing group needs the same pattern and the same SHMQ_SUB_DURABLE flag (-EINVAL
 * otherwise: see shmq_topic_groups for a group's pattern). -EUSERS when the member or group
 * table is full, -EPERM on an observer handle, -EBUSY when the group stays half-created or
 * half-deleted by another process for about 0.7 s (a race lasts microseconds: this is a
 * stuck or scribbled segment; nothing is taken). A new group starts at the end of the ring.
 * The subscription belongs to t's thread. Lock-free.
 */
SHMQ_EXPORT int shmq_subscribe(shmq_topic_t *t, const char *pattern, const char *group,
                               uint32_t flags, shmq_sub_t **sub);

/* Leave the group and free sub. A message not yet returned by shmq_next stays the group's:
 * another member (or, durable, a later one) gets it. An ephemeral group without members is
 * removed. */
SHMQ_EXPORT int shmq_unsubscribe(shmq_sub_t *sub);

/* Flags of struct shmq_delivery.meta and shmq_group_info.flags. */
#define SHMQ_HAS_TYPE (1u << 0)
#define SHMQ_HAS_CORRELATION_ID (1u << 1)
#define SHMQ_HAS_REPLY_TO (1u << 2)
#define SHMQ_GROUP_PRIVATE (1u << 8) /* shmq_group_info.flags: a group made for one member */

/* What shmq_next tells besides the payload: a private copy of everything. */
struct shmq_delivery {
    /* read-only */
    uint64_t seq;         /* the message's position in the topic: 0, 1, 2, ... in publish order */
    uint64_t lost;        /* OVERWRITE (or a released durable group): messages of this group
                             overwritten before it read them, that this member found since its
                             previous delivery; they preceded this one */
    size_t len;           /* payload bytes; after -EMSGSIZE, the size the buffer needs */
    int64_t timestamp_ns; /* as published; 0 = none */
    uint32_t meta;        /* SHMQ_HAS_*: which strings below were set */
    uint32_t subject_len;
    char subject[SHMQ_SUBJECT_MAX + 1];
    char type[SHMQ_META_STR_MAX + 1];
    char correlation_id[SHMQ_META_STR_MAX + 1];
    char reply_to[SHMQ_META_STR_MAX + 1];
    uint64_t reserved[4];
};

/*
 * Take the group's next message matching its pattern for this member: copy its payload into
 * buf and fill d (may be NULL); returns the payload length. Non-matching messages are passed
 * over (counted skipped). -EMSGSIZE if cap is too small: the message stays the group's next
 * (d->len says what it needs). -EAGAIN with timeout 0, -ETIMEDOUT, -EINTR when a signal
 * handler ran while waiting: nothing was taken then. On any failure buf's content is
 * unspecified. A message is taken only when shmq_next returns it: a member that stops
 * between two calls swallows nothing. Acquire ordering: the publisher's writes before
 * publishing are visible. Lock-free; blocks only when asked to wait (a futex in the segment,
 * no system call when nobody waits).
 */
SHMQ_EXPORT ssize_t shmq_next(shmq_sub_t *sub, void *buf, size_t cap, struct shmq_delivery *d,
                              int64_t timeout_ns);

/*
 * A zero-copy look at a message taken with shmq_next_view: the pointers lead into the ring's
 * slot. BLOCK: the view holds its slot, like an unread message holds publishers back, until
 * this subscription's next shmq_next, shmq_next_view or shmq_unsubscribe; it stays intact
 * until then. OVERWRITE: nothing holds a publisher back, so the slot may be overwritten while
 * you read it: read what you need (copy it, hash it), then call shmq_view_check: 0 means
 * everything read from the view before the call was the message intact; -ESTALE means the
 * slot was overwritten meanwhile and what was read must be thrown away (the message is lost
 * to this member; it was counted delivered). Reading a slot that a publisher overwrites is,
 * in C11 terms, a race that the check detects: copy with plain byte reads, not with code
 * that could fault on torn data. Lengths and seq are private copies and always valid.
 */
struct shmq_view {
    /* read-only */
    const char *subject; /* NUL-terminated, in the slot */
    size_t subject_len;
    const void *data; /* payload, in the slot */
    size_t len;
    const char *type, *correlation_id, *reply_to; /* in the slot; NULL = not set */
    int64_t timestamp_ns;
    uint64_t seq, lost; /* as in struct shmq_delivery */
    /* private */
    uint64_t priv[2];
};
SHMQ_EXPORT int shmq_next_view(shmq_sub_t *sub, struct shmq_view *v, int64_t timeout_ns);
/* 0: the view was intact up to now (acquire fence: reads made before the call are covered);
 * -ESTALE: overwritten (OVERWRITE only; a BLOCK view is intact until released). It reads the
 * slot's sequence word only. */
SHMQ_EXPORT int shmq_view_check(const shmq_sub_t *sub, const struct shmq_view *v);

/* A group, as shmq_topic_groups and shmq_sub_stat report it. Counters are sums over every
 * member the group ever had (exact when quiescent). */
struct shmq_group_info {
    char name[SHMQ_GROUP_NAME_MAX + 1]; /* private groups: "~PID.MEMBER" */
    char pattern[SHMQ_SUBJECT_MAX + 1];
    uint32_t flags;     /* SHMQ_SUB_DURABLE, SHMQ_GROUP_PRIVATE */
    uint32_t members;   /* member entries now (live, or dead and not yet released) */
    uint64_t cursor;    /* sequence of the next message the group looks at */
    uint64_t lag;       /* messages published and not yet passed by the group */
    uint64_t delivered; /* messages taken by its members */
    uint64_t skipped;   /* messages passed over: subject not matching (or never written by a
                           publisher that died while publishing) */
    uint64_t lost;      /* messages overwritten before the group read them */
    int gating;         /* BLOCK: 1 if the group holds publishers back now */
    uint32_t reserved0;
    int64_t created_ns; /* CLOCK_REALTIME */
    int64_t idle_ns;    /* how long the group has had no member (0 while it has one) */
    uint64_t reserved[4];
};

struct shmq_topic_stat {
    enum shmq_topic_policy policy;
    uint32_t capacity;
    uint32_t slot_size;
    uint32_t mode;
    uint32_t max_groups;
    uint32_t max_members;
    uint32_t max_participants;
    uint32_t groups;       /* groups now (private ones included) */
    uint32_t members;      /* member entries now */
    uint32_t participants; /* handles open now */
    uint32_t dead;         /* handles and members whose process is gone, not yet released */
    int32_t creator_pid;
    uint64_t segment_bytes;
    uint64_t published; /* sequence numbers handed out: every message ever published */
    uint64_t full;      /* BLOCK: publishes that found the ring full */
    uint64_t waits;     /* times a publisher or subscriber went to sleep on the futex */
    uint64_t overtaken; /* messages a publisher found already lapped when it came to write
                           them (OVERWRITE under extreme load): lost by every group */
    uint64_t holes;     /* sequence numbers whose publisher died before publishing */
    int64_t created_ns; /* CLOCK_REALTIME */
    int64_t group_timeout_ns;
    uint32_t owner_uid;
    int32_t numa_requested; /* -1 = none */
    uint64_t reserved[8];
};

/* Counters are sums over every handle that ever opened the topic. Releases dead members and
 * handles first, unless t is an observer's: then it runs no reaper and writes nothing. */
SHMQ_EXPORT int shmq_topic_stat(shmq_topic_t *t, struct shmq_topic_stat *st);
/* Fill up to max entries of out with the topic's groups; returns how many there are (which
 * may exceed max). A best-effort snapshot while others run. */
SHMQ_EXPORT int shmq_topic_groups(shmq_topic_t *t, struct shmq_group_info *out, unsigned max);
/* The subscription's own group. */
SHMQ_EXPORT int shmq_sub_stat(const shmq_sub_t *sub, struct shmq_group_info *out);
/* Remove a group that has no member (typically a durable one): -ENOENT, -EBUSY if it has a
 * member. */
SHMQ_EXPORT int shmq_topic_group_delete(shmq_topic_t *t, const char *group);
/* Release every handle and member whose process is gone; returns how many. */
SHMQ_EXPORT int shmq_topic_repair(shmq_topic_t *t);
/* Verify the topic's invariants (src/topic.h): 0, or -EBADMSG with the first violation worded
 * into why (cap bytes; may be NULL). Meaningful when no publish or subscribe is in flight and
 * dead processes have been released (shmq_topic_repair). Works on an observer handle. */
SHMQ_EXPORT int shmq_topic_check(shmq_topic_t *t, char *why, size_t cap);

/* ---- waiting on several queues and topics ---------------------------------------------- */

/*
 * One thing shmq_wait_any watches: set exactly one of queue (a handle that consumes) and sub
 * (a subscription). ready is written by shmq_wait_any.
 */
struct shmq_wait_item {
    /* in */
    shmq_t *queue;
    shmq_sub_t *sub;
    /* out */
    uint32_t ready;     /* 1 when the item looked ready, else 0 */
    uint32_t reserved0; /* must be zero */
};
#define SHMQ_WAIT_ANY_MAX 128 /* items in one call (the kernel's futex_waitv limit) */

/*
 * Wait until at least one of n items has something to take: a queue a message ready (or
 * kept back for this handle), a subscription an unread slot at its group's cursor. Returns
 * how many items are ready (1..n) and sets their `ready`; takes nothing. -EAGAIN when none is
 * ready and timeout_ns is 0, -ETIMEDOUT at the deadline, -EINTR when a signal handler ran
 * while it slept (nothing is taken; call again), -EINVAL for n = 0, n > SHMQ_WAIT_ANY_MAX, an
 * item with both or neither of queue and sub, or a non-zero reserved field.
 *
 * Readiness is a hint: another consumer may take the message first, and a ready item may
 * hold only a delayed message not yet due or messages a subscription's pattern passes over,
 * so the caller tries each ready item without waiting (timeout 0) and calls again when all
 * say -EAGAIN. Spurious returns are bounded: a queue with delayed messages is reported ready
 * every 5 ms, a subscription stuck behind a half-written message every 100 ms.
 *
 * Concurrency: the handles and subscriptions follow their own rules (one thread at a time
 * each); any number of threads and processes may wait on the same queues and topics at once,
 * and every one of them is woken by a message (a burst wakes them once). Ordering: when it
 * returns an item ready, the message that made it ready was published before (the caller's
 * own take carries the acquire ordering). Blocking: it sleeps in the kernel on the items'
 * shared futexes at once with futex_waitv (Linux >= 5.16); where that call is missing (or the
 * process could not register for membarrier, see src/wait.h) it sleeps on one futex at a
 * time in slices of 1 ms: slower to react, never blind. While it sleeps it gives back the claims
 * of dead consumers of the queues (as a blocked shmq_claim does), once a second. Progress:
 * the readiness checks are wait-free; it makes no system call besides the wait itself and
 * one barrier per sleep. A failure leaves every item as it was.
 */
SHMQ_EXPORT int shmq_wait_any(struct shmq_wait_item *items, unsigned n, int64_t timeout_ns);

/* ---- errors ----------------------------------------------------------------------------- */

/* Words for an error code (negative or positive errno); never NULL. */
SHMQ_EXPORT const char *shmq_strerror(int err);

SHMQ_EXPORT const char *shmq_version(void);

#ifdef __cplusplus
}
#endif

#endif /* SHMQ_H */
