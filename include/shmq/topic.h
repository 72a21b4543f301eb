/*
 * shmq/topic.h — topics: publish/subscribe over a broadcast ring in shared memory, with
 * subjects, AMQP-style patterns and competing-consumer groups. See shmq/common.h for the
 * conventions every function follows.
 */
#ifndef SHMQ_API_TOPIC_H
#define SHMQ_API_TOPIC_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

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
 * publisher or subscriber, shmq_topic_stat, shmq_topic_repair): nothing is locked. That
 * release is the topic's reaper: it scans the handle and member tables (a kill(pid, 0) and a
 * read of /proc per entry) and never waits. An observer handle (SHMQ_OPEN_OBSERVE) never runs
 * it and writes nothing.
 *
 * In the comments below, "Threads: per handle" means: t (or sub, and the handle it was made
 * from) is used by one thread at a time; any other handle, in this process or another, may
 * run any operation on the same topic at the same time. "waits" means: retries briefly, then
 * sleeps on a futex in the segment until the deadline, waking at least every 100 ms to
 * release dead members and publishers and look again; a caught signal ends it with -EINTR.
 * The shmq_t, shmq_topic_t and shmq_sub_t types are declared in shmq/common.h.
 */

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
 * -EINVAL (NULL t, bad name or config, e.g. a capacity that is not a power of two, a non-zero
 * reserved field), -ENOSPC, -EACCES, -ENOMEM, -ENOTSUP (SHMQ_NUMA_STRICT where memory cannot
 * be bound), or another errno of shm_open/mmap; on failure nothing is left behind and *t is
 * unchanged. Threads: any thread, concurrently with anything; of several creators of one
 * name exactly one succeeds. Ordering: the header is published last (release): an open that
 * succeeds sees it complete. Blocking: system calls only. */
SHMQ_EXPORT int shmq_topic_create(const char *name, const struct shmq_topic_config *cfg,
                                  shmq_topic_t **t);

/* Open an existing topic, validating its whole header: -ENOENT, -EACCES, -EMEDIUMTYPE (a
 * queue), -EBADMSG (corrupt or truncated, or its creator did not finish within 2 s), -EPROTO,
 * -EUSERS (participant table full of live handles), -EINVAL (NULL t, bad name, unknown
 * flags), -ENOMEM. flags: 0 or SHMQ_OPEN_OBSERVE (read-only: stat, group list and check only;
 * anything else is -EPERM). Threads: any thread, concurrently with anything. Ordering:
 * acquire on the header (pairs with the creator's release). Blocking: system calls (each
 * handle maps the segment); waits up to 2 s (1 ms sleeps) for a creator still initialising;
 * a writable handle releases dead handles and members (never waits). On failure nothing is
 * left behind and *t is unchanged. */
SHMQ_EXPORT int shmq_topic_open(const char *name, shmq_topic_t **t);
SHMQ_EXPORT int shmq_topic_open_ex(const char *name, uint32_t flags, shmq_topic_t **t);

/* Unsubscribe every subscription still open on t (see shmq_unsubscribe), release its
 * participant entry and unmap. The handle and its subscriptions are freed. Threads: per
 * handle; nobody may use t or its subscriptions during or after the call. Ordering: the entry
 * is released with release ordering. Blocking: munmap only; lock-free. Errors: -EINVAL
 * (NULL t). */
SHMQ_EXPORT int shmq_topic_close(shmq_topic_t *t);

/* Remove the name (-EMEDIUMTYPE if it is a queue: use shmq_unlink). Open handles keep
 * working until closed. Threads: any thread. Ordering: none (it only reads the header's kind).
 * Blocking: system calls (it reads the header to tell a queue). Errors: -EINVAL (bad name),
 * -ENOENT, -EMEDIUMTYPE, -EACCES, or another errno of shm_unlink. On failure nothing changed. */
SHMQ_EXPORT int shmq_topic_unlink(const char *name);

/* The topic's name (without "shmq."), valid until shmq_topic_close; NULL for a NULL handle.
 * Reads only the handle (no ordering involved): any thread holding t, wait-free; never fails
 * otherwise. */
SHMQ_EXPORT const char *shmq_topic_name(const shmq_topic_t *t);

/* 0 if valid, else -EINVAL. Pure functions: any thread, wait-free, no system call. */
SHMQ_EXPORT int shmq_subject_check(const char *subject);
SHMQ_EXPORT int shmq_pattern_check(const char *pattern);
/* 1 if subject matches pattern, 0 if not, -EINVAL if either is invalid. Pure: any thread,
 * wait-free, no system call. */
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
 * to whoever receives the message. Threads: per handle; any number of publishers and
 * subscribers of other handles at once. Also -EINVAL (NULL t, NULL data with len > 0,
 * negative timeout) and -EPERM (observer handle). On failure nothing is published (no
 * sequence number is taken).
 */
SHMQ_EXPORT int shmq_publish(shmq_topic_t *t, const char *subject, const void *data, size_t len,
                             int64_t timeout_ns);
/* The same with metadata (m->data, m->len, m->timestamp_ns, m->type, m->correlation_id,
 * m->reply_to; m->id and m->deliveries are ignored). With any metadata set it fits when
 * align8(strlen(subject) + 1) + align8(len) + 19 + the three strings' lengths <= slot_size.
 * Threads, ordering, blocking, progress and what a failure leaves: as shmq_publish. Errors:
 * those of shmq_publish; -EINVAL also for NULL m or a string longer than SHMQ_META_STR_MAX. */
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
 * Threads: per handle; other handles may subscribe, publish and read meanwhile. Ordering: the
 * member entry is published with a release store (R6 in src/topic.c) that the readers of the
 * member table acquire. Blocking: never waits for messages; it releases dead members first
 * (system calls) and, while it races another creator or deleter of the group, sleeps a few
 * microseconds per attempt (about 0.7 s in all before -EBUSY). Errors: also -EINVAL (NULL t
 * or sub, bad pattern or group name, a private group asked durable, unknown flags) and
 * -ENOMEM. On failure nothing is joined and *sub is unchanged.
 */
SHMQ_EXPORT int shmq_subscribe(shmq_topic_t *t, const char *pattern, const char *group,
                               uint32_t flags, shmq_sub_t **sub);

/* Leave the group and free sub. A message not yet returned by shmq_next stays the group's:
 * another member (or, durable, a later one) gets it. An ephemeral group without members is
 * removed. Threads: per handle (sub's topic handle). Ordering: the member entry is released
 * with release ordering (pairs with the acquire of the next member_take). Never blocks;
 * lock-free. Errors: -EINVAL (NULL sub). sub is freed. */
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
 * Threads: per handle (sub and its topic handle); other members of the group compete for the
 * same messages, each gets a message at most once. Errors: also -EINVAL (NULL sub, NULL buf
 * with cap > 0, negative timeout).
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
/* Take the next message as shmq_next does, as a view: 0, or the errors of shmq_next (-EINVAL
 * for NULL sub or v); threads, ordering, blocking and progress as shmq_next. */
SHMQ_EXPORT int shmq_next_view(shmq_sub_t *sub, struct shmq_view *v, int64_t timeout_ns);
/* 0: the view was intact up to now (acquire fence: reads made before the call are covered);
 * -ESTALE: overwritten (OVERWRITE only; a BLOCK view is intact until released). It reads the
 * slot's sequence word only: wait-free, never blocks; per handle. -EINVAL for NULL sub or v. */
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

/* Counters are sums over every handle that ever opened the topic. REPAIRS: releases dead
 * members and handles first, unless t is an observer's (SHMQ_OPEN_OBSERVE): then it runs no
 * reaper and writes nothing, the repair-free view. Threads: per handle, concurrently with
 * anything. Ordering: counters read one by one (relaxed), exact when quiescent. Blocking:
 * system calls per entry for the liveness checks; never waits. Errors: -EINVAL (NULL t or
 * st); st is unchanged then. */
SHMQ_EXPORT int shmq_topic_stat(shmq_topic_t *t, struct shmq_topic_stat *st);
/* Fill up to max entries of out with the topic's groups; returns how many there are (which
 * may exceed max). A best-effort snapshot while others run. Never repairs, on any handle: a
 * group whose members are dead is listed with them counted until someone releases them.
 * Threads: per handle. Ordering: each group's identity read with acquire, counters relaxed.
 * Never blocks; wait-free. Errors: -EINVAL (NULL t, NULL out with max > 0). */
SHMQ_EXPORT int shmq_topic_groups(shmq_topic_t *t, struct shmq_group_info *out, unsigned max);
/* The subscription's own group, as shmq_topic_groups reports it (never repairs; wait-free;
 * per handle; ordering as shmq_topic_groups). -EINVAL (NULL sub or out), -EBADMSG when the group
 * entry no longer reads as a group (a scribbled segment). */
SHMQ_EXPORT int shmq_sub_stat(const shmq_sub_t *sub, struct shmq_group_info *out);
/* Remove a group that has no member (typically a durable one): -ENOENT, -EBUSY if it has a
 * member. REPAIRS: releases dead members and handles first. Threads: per handle. Ordering:
 * the removal is a sequentially consistent CAS on the group's word, which a concurrent joiner
 * sees. Never waits (system calls for the liveness checks); lock-free. Also -EINVAL (NULL t, bad
 * group name), -EPERM (observer handle). On failure the group is unchanged. */
SHMQ_EXPORT int shmq_topic_group_delete(shmq_topic_t *t, const char *group);
/* Release every handle and member whose process is gone; returns how many. Threads: per
 * handle; others keep working. Ordering: an entry is freed with a release store that the
 * next handle or member to take it acquires. Blocking: system calls per entry; never waits
 * (unlike shmq_repair, a topic needs no grace period). Errors: -EINVAL (NULL t), -EPERM (observer
 * handle). */
SHMQ_EXPORT int shmq_topic_repair(shmq_topic_t *t);
/* Verify the topic's invariants (src/topic.h): 0, or -EBADMSG with the first violation worded
 * into why (cap bytes; may be NULL). Meaningful when no publish or subscribe is in flight and
 * dead processes have been released (shmq_topic_repair). Works on an observer handle. Never
 * repairs and changes nothing; per handle; never blocks; wait-free. Also -EINVAL (NULL t). */
SHMQ_EXPORT int shmq_topic_check(shmq_topic_t *t, char *why, size_t cap);

#ifdef __cplusplus
}
#endif

#endif /* SHMQ_API_TOPIC_H */
