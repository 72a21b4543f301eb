/*
 * shmq/queue.h — queues: handles, create/open/close, the copy and zero-copy operations,
 * batches, configuration, inspection, repair, names, errors and the version.
 *
 * A queue is a named segment in /dev/shm ("orders" is /dev/shm/shmq.orders) holding a fixed
 * number of fixed-size slots. Any thread of any process that opened the queue may produce and
 * consume; nothing is ever locked, so a process killed at any instruction cannot block the
 * others. See shmq/common.h for the conventions every function follows.
 *
 * Words used by the comments below:
 *   - "Threads: per handle" — one thread at a time per handle; any number of other handles, in
 *     this process or others, may run any operation on the same queue at the same time.
 *   - "waits" — a call with timeout_ns > 0 first retries briefly (a few hundred attempts), then
 *     sleeps on a futex in the segment until the deadline. While asleep it wakes at least once
 *     a second (every 5 ms while delayed messages wait) to look again and, on a writable
 *     handle, to run the reaper if a participant died; so a deadline may be overrun by one
 *     reaper pass, which waits at most about 2 s for a stalled live participant. A caught
 *     signal ends the wait with -EINTR.
 *   - "the reaper" — the recovery pass that gives back what dead participants held (claims,
 *     reservations, orphaned slots; see shmq_repair). It writes to the queue. An observer
 *     handle (SHMQ_OPEN_OBSERVE) never runs it.
 *   - "the SPSC ring" — a queue created with SHMQ_SINGLE_PRODUCER | SHMQ_SINGLE_CONSUMER.
 *   - "-EBADMSG" — the segment breaks its invariants (an impossible index, state or length
 *     written by a bug or a hostile process). Nothing corrupt is handed out: a message that
 *     does not read back sanely is dropped (its slot freed), an impossible index is skipped.
 *
 * Ordering, for every operation: a message's bytes and metadata, and everything the producer
 * wrote before committing it, happen-before the claim or pop that returns it (a release store
 * of the slot's state or the ring's head, paired with the consumer's acquire load); what a
 * consumer did with a slot before ack, nack, release or discard happens-before the next
 * reserve or claim that gets the same slot.
 */
#ifndef SHMQ_API_QUEUE_H
#define SHMQ_API_QUEUE_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- configuration ------------------------------------------------------------------------ */

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
    /* placement (shmq/placement.h): 0 = no binding (the kernel's first touch),
     * SHMQ_NUMA_LOCAL, or SHMQ_NUMA_NODE(n) */
    uint32_t numa;
    uint32_t numa_flags; /* SHMQ_NUMA_STRICT */
    uint32_t reserved0;  /* must be zero */
    /* Queue that receives expired messages and those past max_deliveries (created on demand
     * with this queue's kind, slot size and mode); NULL = drop them and count them. */
    const char *dead_letter;
    uint64_t reserved[4]; /* must be zero */
};

/* ---- lifecycle ------------------------------------------------------------------------ */

/*
 * Create the queue `name` (O_EXCL: -EEXIST if it exists) and open it. The segment is fully
 * allocated up front: a full /dev/shm is -ENOSPC here, never a SIGBUS later.
 * Threads: any thread, concurrently with anything; of several processes creating one name,
 * exactly one succeeds. Ordering: the header is initialised before it is published (its magic
 * is stored last, with release): an open that succeeds sees the complete segment.
 * Blocking: system calls (shm_open, mmap, posix_fallocate, NUMA binding); no waiting on others.
 * Errors: -EINVAL (NULL q, a bad name, a config field out of range, unknown flags, a non-zero
 * reserved field, dead_letter equal to name), -EEXIST, -EACCES, -ENOSPC, -ENOMEM, -ENOTSUP
 * (SHMQ_NUMA_STRICT where memory cannot be bound), or another errno of shm_open/mmap.
 * On failure nothing is left behind: the name is removed again and *q is unchanged.
 */
SHMQ_EXPORT int shmq_create(const char *name, const struct shmq_config *cfg, shmq_t **q);

/*
 * Open an existing queue, validating its whole header. shmq_open_ex takes flags: 0 or
 * SHMQ_OPEN_OBSERVE (a read-only observer handle, see shmq/common.h).
 * Threads: any thread, concurrently with anything. Ordering: acquire on the header's magic
 * (pairs with the creator's release): the configuration read is the creator's.
 * Blocking: system calls; waits up to 2 s (1 ms sleeps) for a creator that has not finished
 * initialising the segment. A writable handle then runs the reaper if a participant is dead
 * (see "the reaper" above); when the participant table is full, it waits up to 4 s for a
 * reaper that is running (1 ms sleeps) and takes over the entry of a dead participant.
 * Errors: -EINVAL (NULL q, bad name, unknown flags), -ENOENT, -EACCES, -EBADMSG (corrupt or
 * truncated, or its creator did not finish within 2 s), -EPROTO (another ABI version),
 * -EMEDIUMTYPE (the name is a topic), -EUSERS (participant table full of live participants),
 * -ENOMEM, or another errno of shm_open/mmap.
 * On failure no handle and no participant entry is left; *q is unchanged.
 */
SHMQ_EXPORT int shmq_open(const char *name, shmq_t **q);
SHMQ_EXPORT int shmq_open_ex(const char *name, uint32_t flags, shmq_t **q);

/*
 * Close a handle. A message the handle still holds (claimed, reserved, or kept back by
 * -EMSGSIZE) is given back to the queue first: nothing is lost (a claim goes back counted as
 * nacked; in the SPSC ring an unacked claim simply stays at the head). The handle's reply
 * and dead-letter queue handles are closed, its participant entry released. The mapping is
 * removed when the process's last handle of it closes, after an RCU grace period.
 * Threads: per handle; no other thread may use q during or after the call.
 * Ordering: everything done through q happens-before whoever reuses its slots or entry
 * (release). Blocking: the process's last close of a segment waits for an RCU grace period
 * (until this process's concurrent opens of other segments leave their read-side sections:
 * microseconds), then unmaps. Progress: lock-free apart from that grace period.
 * Errors: -EINVAL (NULL q). The handle is freed whatever happens.
 */
SHMQ_EXPORT int shmq_close(shmq_t *q);

/* The queue's name (without "shmq."), valid until shmq_close; NULL for a NULL handle.
 * Threads: any thread holding q; reads only the handle (no ordering involved). Never blocks;
 * wait-free; never fails otherwise. */
SHMQ_EXPORT const char *shmq_name(const shmq_t *q);

/* ---- names ------------------------------------------------------------------------------ */

/* Remove the name (a queue's, or a topic's: the namespace is shared; shmq_topic_unlink checks
 * the kind). Handles already open keep working until closed.
 * Threads: any thread, concurrently with anything; opens that race with it either find the
 * segment or get -ENOENT. Ordering: none (no segment is read or written). Blocking: one
 * system call.
 * Errors: -EINVAL (bad name), -ENOENT, -EACCES, or another errno of shm_unlink.
 * On failure nothing changed. */
SHMQ_EXPORT int shmq_unlink(const char *name);

/* 0 if `name` is a valid queue or topic name, else -EINVAL. Pure: any thread, wait-free. */
SHMQ_EXPORT int shmq_name_check(const char *name);

/*
 * Call fn(name, arg) for every shmq segment in /dev/shm, queues and topics (names without
 * "shmq."). Stops early and returns fn's value when it is non-zero; 0 otherwise.
 * Threads: any thread; fn runs in the caller's thread. A segment created or removed during
 * the call may or may not be seen (readdir); no segment is opened (no ordering involved).
 * Blocking: directory system calls only.
 * Errors: -EINVAL (NULL fn), or the errno of opendir (-ENOENT, -EACCES, ...), or fn's value.
 */
SHMQ_EXPORT int shmq_foreach(int (*fn)(const char *name, void *arg), void *arg);

/* ---- copy API --------------------------------------------------------------------------- */

/*
 * Copy one message in. The first push of a handle makes it a producer (for a queue created
 * SHMQ_SINGLE_PRODUCER: the producer, -EBUSY while another live handle is).
 * Threads: per handle. Ordering: see above (release). Blocking: waits up to timeout_ns while
 * the queue is full (see "waits"). Progress: lock-free; wait-free in the SPSC ring.
 * Errors: -EINVAL (NULL q, NULL data with len > 0, negative timeout), -EPERM (observer
 * handle), -EBUSY (the single producer role is held), -EMSGSIZE (len > slot size), -EAGAIN
 * (full and timeout_ns == 0), -ETIMEDOUT, -EINTR, -EINPROGRESS (SPSC ring: this handle holds
 * an uncommitted reservation), -EBADMSG.
 * On failure nothing is enqueued.
 */
SHMQ_EXPORT int shmq_push(shmq_t *q, const void *data, size_t len, int64_t timeout_ns);

/*
 * Copy one message in with its metadata (m->data, m->len, m->timestamp_ns, m->type,
 * m->correlation_id, m->reply_to; m->id and m->deliveries are ignored).
 * Threads, ordering, blocking, progress: as shmq_push.
 * Errors: those of shmq_push; -EINVAL also for NULL m, NULL m->data with m->len > 0, or a
 * string longer than SHMQ_META_STR_MAX; -EMSGSIZE when payload and metadata do not fit.
 * On failure nothing is enqueued (a slot taken for it is given back).
 */
SHMQ_EXPORT int shmq_push_msg(shmq_t *q, const struct shmq_msg *m, int64_t timeout_ns);

/*
 * Copy the next message out; returns its length. At-most-once once it returns. The first pop
 * of a handle makes it a consumer (SHMQ_SINGLE_CONSUMER: -EBUSY while another live handle is).
 * A message past the queue's TTL or max_deliveries is not returned: it is moved to the
 * dead-letter queue (opened, or created, by this handle on first need: system calls, and up
 * to 2 s of waiting for another process creating it) or dropped, and the pop goes on.
 * Threads: per handle. Ordering: see above (acquire). Blocking: waits up to timeout_ns while
 * the queue is empty (see "waits"). Progress: lock-free; wait-free in the SPSC ring.
 * Errors: -EINVAL (NULL q, NULL buf with cap > 0, negative timeout), -EPERM, -EBUSY,
 * -EAGAIN (empty and timeout_ns == 0), -ETIMEDOUT, -EINTR, -EMSGSIZE (cap too small),
 * -EINPROGRESS (SPSC ring: this handle holds a claim), -EBADMSG.
 * On failure nothing is taken. After -EMSGSIZE the message stays queued: this handle keeps it
 * back and returns it first on its next pop/claim (close gives it back to the queue);
 * buf's content is unspecified.
 */
SHMQ_EXPORT ssize_t shmq_pop(shmq_t *q, void *buf, size_t cap, int64_t timeout_ns);

/*
 * Push up to n messages; returns how many were pushed (1..n), waiting up to timeout_ns for
 * room for the first only. Messages go in order; a later oversized message ends the batch
 * before it. A FIFO moves up to 32 messages per ring step (one fetch-and-add for the run), so
 * a batch costs a fraction of n single pushes.
 * Threads, ordering, progress: as shmq_push, for each message; the messages of one batch
 * become visible in order, not necessarily at once. Blocking: as shmq_push, for the first.
 * Errors: as shmq_push; -EINVAL also for NULL msgs, n == 0 or n > INT32_MAX; -EMSGSIZE when
 * msgs[0] is too large. On failure nothing is pushed; on success msgs[count..n-1] are not.
 */
SHMQ_EXPORT int shmq_push_batch(shmq_t *q, const struct iovec *msgs, unsigned n,
                                int64_t timeout_ns);

/*
 * Pop up to n messages into bufs[i] (iov_len in: capacity, out: message length); returns how
 * many (1..n), waiting up to timeout_ns for the first only. A message too large for its
 * buffer ends the batch and is kept back as for shmq_pop (-EMSGSIZE if it is the first); what
 * the batch had taken after it is given back first in line, in order, undelivered. A FIFO
 * takes up to 32 ready messages per ring step, and never more than were there when it looked.
 * Threads, ordering, progress: as shmq_pop, for each message. Blocking: as shmq_pop, for the
 * first. Errors: as shmq_pop; -EINVAL also for NULL bufs, n == 0 or n > INT32_MAX.
 * On failure nothing is taken; on success bufs[count..n-1] are unspecified.
 */
SHMQ_EXPORT int shmq_pop_batch(shmq_t *q, struct iovec *bufs, unsigned n, int64_t timeout_ns);

/* ---- zero-copy API ---------------------------------------------------------------------- */

/*
 * Take a free slot for a message of up to len bytes: m->data points into it. Fill it, set
 * m->len (<= len) and any metadata, then shmq_commit() or shmq_discard(). A handle may hold
 * several reservations at once (the SPSC ring: one).
 * Threads: per handle. Ordering: the slot's previous consumer is done with it (acquire).
 * Blocking: waits up to timeout_ns while the queue is full (see "waits"). Progress: lock-free;
 * wait-free in the SPSC ring.
 * Errors: -EINVAL (NULL q or m, negative timeout), -EPERM, -EBUSY (single producer role
 * held), -EMSGSIZE (len > slot size), -EAGAIN, -ETIMEDOUT, -EINTR, -EINPROGRESS (SPSC ring: a
 * reservation is already held), -EBADMSG.
 * On failure nothing is reserved.
 */
SHMQ_EXPORT int shmq_reserve(shmq_t *q, size_t len, struct shmq_msg *m, int64_t timeout_ns);

/*
 * Publish a reserved message; sets m->id. Threads: per handle (the reserving one).
 * Ordering: release: the slot's bytes and everything written before happen-before the claim
 * or pop that returns it. Never blocks. Progress: lock-free; wait-free in the SPSC ring.
 * Errors: -EINVAL (NULL q or m, m not a reservation of this handle, a metadata string longer
 * than SHMQ_META_STR_MAX), -EPERM, -EMSGSIZE (payload + metadata do not fit), -EALREADY (the
 * slot is no longer this handle's: a reaper took it back, believing the process dead),
 * -EBADMSG (a corrupt ready ring refused the index: the slot is left in no ring, for the
 * reaper's orphan recovery). After -EINVAL or -EMSGSIZE the slot is still reserved (fix m, or
 * discard it); after -EALREADY nothing is published.
 */
SHMQ_EXPORT int shmq_commit(shmq_t *q, struct shmq_msg *m);

/* Give a reserved slot back unused. Threads: per handle (the reserving one). Ordering: the
 * handle's writes to the slot happen-before its next user takes it (release). Never blocks;
 * lock-free (wait-free in the SPSC ring). Errors: -EINVAL (NULL q or m, m not a reservation
 * of this handle), -EPERM, -EALREADY (a reaper took the slot back). On failure nothing
 * changes. */
SHMQ_EXPORT int shmq_discard(shmq_t *q, struct shmq_msg *m);

/*
 * Take the next message without copying it: m->data, m->len and the metadata point into the
 * slot until shmq_ack() or shmq_nack(). At-least-once: if this process dies first, the message
 * is delivered again (by the reaper). A handle may hold several claims at once (the SPSC
 * ring: one). Expired and over-delivered messages are dead-lettered as in shmq_pop.
 * Threads: per handle. Ordering: acquire: the producer's writes before its commit are
 * visible. Blocking: waits up to timeout_ns while the queue is empty (see "waits"), and may
 * open the dead-letter queue as shmq_pop does. Progress: lock-free; wait-free in the SPSC ring.
 * Errors: -EINVAL (NULL q or m, negative timeout), -EPERM, -EBUSY (single consumer role
 * held), -EAGAIN, -ETIMEDOUT, -EINTR, -EINPROGRESS (SPSC ring: a claim is already held),
 * -EBADMSG. On failure nothing is claimed.
 */
SHMQ_EXPORT int shmq_claim(shmq_t *q, struct shmq_msg *m, int64_t timeout_ns);

/*
 * Finish a claimed message: its slot is free again. Threads: per handle (the claiming one).
 * Ordering: release: the caller's reads of the slot happen-before the producer that reuses
 * it. Never blocks. Progress: lock-free; wait-free in the SPSC ring.
 * Errors: -EINVAL (NULL q or m, m not a claim this handle holds), -EPERM, -EALREADY (the claim
 * is no longer this handle's: a reaper gave it back, believing the process dead), -EBADMSG.
 * After -EINVAL, -EPERM or -EALREADY nothing changes; after -EBADMSG (a corrupt ring refused
 * the index) the message is no longer the handle's and its slot is in no ring, left to the
 * reaper's orphan recovery.
 */
SHMQ_EXPORT int shmq_ack(shmq_t *q, struct shmq_msg *m);

/*
 * Give a claimed message back to the queue, delivery count + 1 (FIFO: at the tail; LIFO: on
 * top; SPSC ring: it stays at the head). Past max_deliveries its next claim dead-letters it.
 * Threads, ordering (release, paired with the next claimer's acquire), blocking, progress and
 * errors, and what a failure leaves: as shmq_ack.
 */
SHMQ_EXPORT int shmq_nack(shmq_t *q, struct shmq_msg *m);

/*
 * Like shmq_nack, but the message is not delivered again before delay_ns have passed (a
 * retry countdown). The message waits in a separate ring of the segment that consumers look
 * at one entry per claim, and only once something may be due. In the SPSC ring it stays at
 * the head, holding back the messages behind it.
 * Threads, ordering, blocking and progress: as shmq_nack. Errors: those of shmq_nack, and
 * -EINVAL for a negative delay_ns (then nothing changes); a failure leaves what shmq_nack's
 * leaves.
 */
SHMQ_EXPORT int shmq_nack_delayed(shmq_t *q, struct shmq_msg *m, int64_t delay_ns);

/*
 * Give a claimed message back as NOT delivered: for a consumer that took a message and could
 * not hand it on (an interrupted pipeline, a closed output). Unlike shmq_nack, its delivery
 * count returns to what it was before the claim; it is counted as released (not nacked, not
 * redelivered); it is never dead-lettered or dropped for it; and it is first in line again:
 * FIFO: released messages are claimed before any ready message, in the order they were
 * released (so a consumer that releases what it holds oldest first keeps the queue's order);
 * LIFO: back on top; SPSC: it stays at the head. Called by the claim's handle (a handle
 * belongs to one thread); lock-free; never blocks. The release of the slot's state pairs
 * with the next claimer's acquire, as for nack. -EINVAL when m is not a claim this handle
 * holds (then nothing changes); also -EPERM (observer handle) and -EALREADY (a reaper gave
 * the claim back already), which change nothing either, and -EBADMSG as for shmq_ack.
 */
SHMQ_EXPORT int shmq_release(shmq_t *q, struct shmq_msg *m);

/* ---- inspection ------------------------------------------------------------------------- */

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

/*
 * The queue's configuration and counters.
 * REPAIRS: on a handle that may use the queue, it first runs the reaper when a participant is
 * dead (or an orphan recovery is pending): what the dead held is given back, dead entries are
 * released, and the result is counted in the stats and in the next shmq_repair report. For a
 * repair-free view open the queue with SHMQ_OPEN_OBSERVE: an observer's stat never reaps and
 * writes nothing; dead participants and what they hold are only reported (what `shmq stat`
 * and `shmq serve` rely on; tests/test_recovery.c: observers_never_reap).
 * Threads: any thread holding q (per handle), concurrently with any operation of other
 * handles. Ordering: none beyond each counter's own value: counters are read one by one
 * (relaxed), without a snapshot, so they are exact only when the queue is quiescent; depth
 * and in_flight are clamped to what the counters imply.
 * Blocking: a kill(pid, 0) and a read of /proc per live participant; a reaper pass (writable
 * handles, a participant dead) can wait up to about 2 s for a stalled live participant.
 * Progress: wait-free without the reaper. Errors: -EINVAL (NULL q or st); a reaper failure
 * (e.g. another reaper running) is not reported. On failure st is unchanged.
 */
SHMQ_EXPORT int shmq_stat(shmq_t *q, struct shmq_stat *st);

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

/*
 * Fill up to max entries of out with the participant table's occupied entries; returns how
 * many there are (which may exceed max). Dead participants not yet reaped are listed with
 * alive = 0. Never repairs, on any handle (observers included): it only reads.
 * Threads: per handle, concurrently with any operation of other handles. Ordering: each
 * entry's identity is read with acquire (pairs with the release that published the entry);
 * counters relaxed, as for shmq_stat; a best-effort snapshot while others open and close.
 * Blocking: a kill(pid, 0) and a read of /proc per entry. Progress: wait-free.
 * Errors: -EINVAL (NULL q, NULL out with max > 0). On failure out is unchanged.
 */
SHMQ_EXPORT int shmq_participant_list(shmq_t *q, struct shmq_participant_info *out, unsigned max);

/*
 * A best-effort, non-destructive look at up to max messages ready to be consumed, in the
 * order they would be consumed: fn gets a private copy of each (valid during the call).
 * Concurrent consumers may take them meanwhile; a message that changes while it is copied is
 * skipped. Returns how many were shown, or fn's non-zero value. Never repairs; works on an
 * observer handle.
 * Threads: per handle, concurrently with any operation of other handles; fn runs in the
 * caller's thread. Ordering: each copy is checked against the slot's state
 * (acquire) before and after: what fn sees was a committed message. Never blocks; wait-free
 * apart from fn (one pass over the ring). Errors: -EINVAL (NULL q or fn), -ENOMEM.
 * On failure nothing changes: peek never takes or moves a message.
 */
SHMQ_EXPORT int shmq_peek(shmq_t *q, unsigned max, int (*fn)(const struct shmq_msg *m, void *arg),
                          void *arg);

/*
 * Verify the queue's invariants (see src/check.c): 0, or -EBADMSG with the first violation
 * worded into why (cap bytes; may be NULL). Meaningful when no operation is in flight and the
 * dead have been reaped: an index between two rings is legitimately in none while someone
 * works. Never repairs; works on an observer handle.
 * Threads: per handle, concurrently with anything (reads only). Ordering: slot states and
 * ring words read with acquire. Never blocks; wait-free (O(capacity)).
 * Errors: -EINVAL (NULL q), -ENOMEM, -EBADMSG. Changes nothing in the queue.
 */
SHMQ_EXPORT int shmq_check(shmq_t *q, char *why, size_t cap);

/* ---- maintenance and recovery ------------------------------------------------------------ */

/*
 * Take and drop every ready message (claim + ack each, without waiting); returns how many.
 * Expired or over-delivered messages go to the dead-letter queue as with shmq_claim; corrupt
 * messages are dropped. The handle becomes a consumer (SHMQ_SINGLE_CONSUMER: it holds the
 * role). Messages pushed while it runs may be purged too; claimed ones are not touched.
 * Threads: per handle, concurrently with other handles. Ordering: as shmq_claim/shmq_ack.
 * Blocking: never waits for messages; may open the dead-letter queue as shmq_pop does.
 * Progress: lock-free per message. Errors: those of shmq_claim except -EAGAIN (the end) and
 * those of shmq_ack; -EPERM on an observer handle.
 * On failure the messages purged before it stay purged.
 */
SHMQ_EXPORT int shmq_purge(shmq_t *q);

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

/*
 * Return everything dead participants held, now: their claimed messages (delivered again,
 * delivery count raised, or dead-lettered past max_deliveries), their reservations, and
 * orphaned slots. One reaper at a time per queue (a lease word in the segment). Also runs by
 * itself on open, when a sleeper's slice ends, and from shmq_stat (writable handles only);
 * what those passes did through this handle is included in the report (so open + repair
 * reports everything). report may be NULL.
 * Threads: per handle; any other handle or process may operate on the queue meanwhile.
 * Ordering: a membarrier (MEMBARRIER_CMD_GLOBAL_EXPEDITED) before it reads the participants'
 * operation counters; what it gives back is published as a nack is (release).
 * Blocking: system calls (kill, /proc, membarrier); the grace period waits (20 us sleeps) up
 * to about 2 s for live participants inside an operation, then gives up on orphans only
 * (report->busy = 1). Progress: blocking (it waits for live participants to step on).
 * Errors: -EINVAL (NULL q), -EPERM (observer handle), -EBUSY (another reaper runs: nothing
 * done, try later), -ENOMEM (part of the pass may be done: what it did is counted in the
 * stats; run it again). On failure report is not written and the handle's unreported
 * results are kept for the next call.
 */
SHMQ_EXPORT int shmq_repair(shmq_t *q, struct shmq_repair_report *report);

/* ---- errors and version ------------------------------------------------------------------ */

/* Words for an error code (negative or positive errno); never NULL: a static string.
 * Pure: any thread, wait-free, never fails. */
SHMQ_EXPORT const char *shmq_strerror(int err);

/* The library's version, "MAJOR.MINOR.PATCH" (SHMQ_VERSION_STRING of the library that runs,
 * which may differ from the header's). Pure: a static string; any thread; wait-free; never
 * fails. */
SHMQ_EXPORT const char *shmq_version(void);

#ifdef __cplusplus
}
#endif

#endif /* SHMQ_API_QUEUE_H */
