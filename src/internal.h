/*
 * Process-local state shared by the library's files: the trusted geometry of a mapped
 * segment, the registry entry that owns a mapping, and the handle.
 */
#ifndef SHMQ_INTERNAL_H
#define SHMQ_INTERNAL_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "layout.h"
#include "shmq.h"

#define SHMQ__LIKELY(x) __builtin_expect(!!(x), 1)
#define SHMQ__UNLIKELY(x) __builtin_expect(!!(x), 0)
#define SHMQ__NONE UINT32_MAX

/*
 * The geometry of a segment, derived from its configuration by shmq__geometry_derive(). The
 * creator writes it into the header; an opener derives it again from the header's
 * configuration fields and requires every stored offset to match. After open only this
 * trusted, process-local copy is used: a scribbled header cannot move a ring or a slot.
 */
struct shmq__geometry {
    uint32_t kind;
    uint32_t flags;
    uint32_t capacity;
    uint32_t slot_size;
    uint32_t slot_stride;
    uint32_t ring_order; /* n = 1 << ring_order >= capacity */
    uint32_t max_participants;
    uint32_t max_deliveries;
    int64_t ttl_ns;
    uint64_t off_participants;
    uint64_t off_waits;
    uint64_t off_free;
    uint64_t off_ready;
    uint64_t off_delayed;
    uint64_t off_returned; /* FIFO MPMC only, else 0 */
    uint64_t off_extras;
    uint64_t off_slots;
    uint64_t segment_size;
};

/* True for the inline-data ring used by a FIFO with both SINGLE flags (a LIFO keeps its
 * stack and only enforces the roles). */
static inline bool shmq__geometry_is_spsc(const struct shmq__geometry *g)
{
    return g->kind == SHMQ__KIND_FIFO &&
           (g->flags & (SHMQ_SINGLE_PRODUCER | SHMQ_SINGLE_CONSUMER)) ==
               (SHMQ_SINGLE_PRODUCER | SHMQ_SINGLE_CONSUMER);
}

/* One mapping of a segment in this process, shared by all its handles (see registry.c). */
struct shmq__mapping {
    /* identity: the shm object's device and inode, and whether mapped writable */
    dev_t dev;
    ino_t ino;
    bool writable;
    _Atomic long refs; /* handles using it; 0 = being removed */

    void *base;
    size_t size;
    uint32_t owner_uid;
    struct shmq__geometry geo;

    /* derived from base + trusted offsets */
    struct shmq__header *hdr;
    struct shmq__participant *parts;
    struct shmq__waits *waits;
    struct shmq__scq *free_ring;     /* FIFO */
    struct shmq__stack *free_stack;  /* LIFO */
    struct shmq__scq *ready_ring;    /* FIFO */
    struct shmq__stack *ready_stack; /* LIFO */
    struct shmq__spsc *spsc;         /* SPSC */
    struct shmq__scq *delayed_ring;  /* MPMC */
    struct shmq__scq *returned_ring; /* FIFO MPMC: released claims, taken first */
    struct shmq__slot_extra *extras;
    unsigned char *slots;
    char dead_letter[208]; /* trusted copy of the header's; "" = none */

    void *registry_node; /* registry.c's hash node */
};

/* A FIFO handle moves free slots to and from the free ring in runs of up to 16 (fewer for
 * small queues: see stash_batch in mpmc.c) and keeps up to twice that in its stash. */
#define SHMQ__STASH_MAX 32u

/* A handle: one thread's view of a queue, with its participant entry. */
struct shmq {
    struct shmq__mapping *map;
    struct shmq__participant *self; /* NULL for an observer */
    uint32_t self_index;            /* index in the participant table */
    uint32_t roles;                 /* SHMQ_ROLE_* taken so far */
    uint32_t held;                  /* slot kept back by -EMSGSIZE, or SHMQ__NONE */
    uint32_t outstanding;           /* claims + reservations not yet finished */
    /* FIFO MPMC: free slots this handle keeps between the free ring and its next reserve:
     * taken from the ring in runs, and collected from its own acks until a run is worth
     * giving back. Each is in state WRITING with this handle as owner, so the reaper frees
     * them if the process dies and close gives them back; not counted in `outstanding`. */
    uint32_t stash_count;
    uint32_t stash[SHMQ__STASH_MAX];
    /* SPSC: positions and cached copies of the other side's counter */
    uint64_t spsc_head;                   /* producer: next position to write */
    uint64_t spsc_tail_cache;             /* producer: consumer's tail as last seen */
    uint64_t spsc_tail;                   /* consumer: next position to read */
    uint64_t spsc_head_cache;             /* consumer: producer's head as last seen */
    uint32_t spsc_write_slot;             /* producer: head % capacity, kept incrementally */
    uint32_t spsc_read_slot;              /* consumer: tail % capacity */
    bool spsc_claimed;                    /* consumer: the message at tail is claimed */
    bool spsc_reserved;                   /* producer: the slot at head is reserved */
    shmq_t *dead_letter_q;                /* opened on first use */
    struct shmq_repair_report unreported; /* what reaps run by open/wait/stat did, for
                                             the next shmq_repair to report */
    shmq_t *reply_q;                      /* shmq_reply: the last reply-to queue answered */
    char name[SHMQ_NAME_MAX + 1];
};

/* ---- segment.c ---- */
int shmq__geometry_derive(const struct shmq_config *cfg, struct shmq__geometry *g);
int shmq__shm_path(const char *name, char *path, size_t cap);
/* A new shm object: created O_EXCL with exactly `mode`, mapped, bound to the requested NUMA
 * node (0 / SHMQ_NUMA_LOCAL / SHMQ_NUMA_NODE(n)) before its first touch, and fully allocated
 * (-ENOSPC now rather than SIGBUS later). On failure nothing is left behind. The caller lays
 * out the mapping, stores its magic last, and unmaps it. Shared by every segment kind. */
struct shmq__shm_new {
    int fd;
    void *base;
    int32_t node; /* resolved node, -1 = none */
};
int shmq__shm_create(const char *name, uint64_t size, uint32_t mode, uint32_t numa,
                     uint32_t numa_flags, struct shmq__shm_new *out);
int shmq__segment_create(const char *name, const struct shmq_config *cfg, int *fd_out);
int shmq__segment_validate(const void *base, size_t size, struct shmq__geometry *g);
void shmq__mapping_derive(struct shmq__mapping *m);

/* ---- registry.c ---- */
int shmq__registry_acquire(int fd, bool writable, struct shmq__mapping **out);
void shmq__registry_release(struct shmq__mapping *m);
/* A mapping of a segment of another kind than a queue (a topic), shared by the handles of
 * one process like a queue's: the kind validates it once, at first map, and keeps its trusted
 * geometry in `derived`. */
struct shmq__shared_map {
    void *base;
    size_t size;
    uint32_t owner_uid;
    bool writable;
    const void *derived;
    void *registry_node;
};
/* validate(base, size, derived): 0 (derived filled in), -EAGAIN (being created: look again
 * later) or another negative errno. */
typedef int (*shmq__map_validate_fn)(const void *base, size_t size, void *derived);
/* This process's mapping of fd's object as `kind` (not a queue): found with a new reference, or
 * mapped and validated (-EAGAIN, -EBADMSG, ... as validate says). */
int shmq__registry_acquire_kind(int fd, bool writable, uint32_t kind,
                                shmq__map_validate_fn validate, size_t derived_size,
                                struct shmq__shared_map **out);
/* One more reference on a mapping the caller holds. */
void shmq__registry_ref_kind(struct shmq__shared_map *m);
/* Drop a reference; the last one unmaps after an RCU grace period. */
void shmq__registry_release_kind(struct shmq__shared_map *m);

/* ---- participant.c ---- */
/* Take a free entry of a table (queue participants, topic participants and members): n entries
 * of `stride` bytes, each starting with its _Atomic uint64_t word, 0 = free. The first free one
 * is moved to `word` by CAS (acquire: after the release that freed it). Returns its index, or
 * -EUSERS when none is free. Lock-free. */
int shmq__entry_take(void *table, size_t stride, uint32_t n, uint64_t word);
int shmq__participant_join(struct shmq__mapping *m, uint32_t *index_out);
/* Fill in the identity of entry `index`, which the caller holds in OPENING, and mark it
 * LIVE. */
void shmq__participant_init(struct shmq__mapping *m, uint32_t index);
/* Fold an entry's counters into the header's retired totals and give up its roles. */
void shmq__participant_fold(struct shmq__mapping *m, uint32_t index);
/* Fold, then free the entry if its word is still `word` (the caller's own at close, or the
 * dead owner's as the reaper saw it). */
bool shmq__participant_retire(struct shmq__mapping *m, uint32_t index, uint64_t word);
/* 1 if the entry is LIVE and its process still exists (same pid and start time). */
int shmq__participant_alive(const struct shmq__participant *p);
int shmq__pid_alive(int32_t pid, uint64_t start_time);
/* shmq__pid_alive, except that start_time 0 (an entry whose owner has not recorded it yet)
 * lets the pid alone decide. */
int shmq__owner_alive(int32_t pid, uint64_t start_time);
uint64_t shmq__process_start_time(int32_t pid);
/* The start time of this process, read once per pid (a forked child reads its own). */
uint64_t shmq__self_start_time(void);

/* Bump one of the caller's own counters: single writer, so a relaxed load and store
 * (no locked instruction); readers (stat) tolerate a momentarily stale value. */
static inline void shmq__count(_Atomic uint64_t *c, uint64_t n)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
                          memory_order_relaxed);
}

/* Mark the start and the end of a ring step (see struct shmq__participant.op). Plain stores
 * to the owner's own line; the recovery layer orders them with membarrier on its side. */
static inline void shmq__op_begin(shmq_t *q)
{
    _Atomic uint64_t *op = &q->self->op;
    atomic_store_explicit(op, atomic_load_explicit(op, memory_order_relaxed) + 1,
                          memory_order_relaxed);
    atomic_signal_fence(memory_order_seq_cst); /* keep the ring step after it */
}
static inline void shmq__op_end(shmq_t *q)
{
    _Atomic uint64_t *op = &q->self->op;
    atomic_signal_fence(memory_order_seq_cst); /* keep the ring step before it */
    atomic_store_explicit(op, atomic_load_explicit(op, memory_order_relaxed) + 1,
                          memory_order_relaxed);
}

/* ---- time.c ---- */
/* True when a message stamped `enqueued_ns` (read from the segment: any value) is older than
 * ttl_ns; an impossible age (one that overflows) counts as expired. */
static inline bool shmq__expired(int64_t now, int64_t enqueued_ns, int64_t ttl_ns)
{
    int64_t age;
    return __builtin_sub_overflow(now, enqueued_ns, &age) || age > ttl_ns;
}

int64_t shmq__now_mono(void);
int64_t shmq__now_real(void);
/* Deadline for a timeout (INT64_MAX for SHMQ_FOREVER); -EINVAL for a negative timeout. */
int shmq__deadline(int64_t timeout_ns, int64_t *deadline);

/* ---- queue.c ---- */
/* One non-waiting attempt of an operation: 0 or a count on success, -EAGAIN to wait. */
typedef int (*shmq__attempt_fn)(shmq_t *q, void *ctx);
/* After a first attempt said -EAGAIN: count the miss, then spin briefly and sleep on ec until
 * the attempt succeeds, fails otherwise, or the deadline passes (-ETIMEDOUT; -EAGAIN when the
 * deadline is 0, i.e. no waiting). */
int shmq__block(shmq_t *q, struct shmq__eventcount *ec, int64_t deadline, shmq__attempt_fn fn,
                void *ctx, _Atomic uint64_t *miss);

/* ---- spsc.c (the SPSC ring) and mpmc.c (index rings) ---- */
/* Set up the handle's side of the ring when it takes a role (called by role_take in queue.c). */
int shmq__spsc_attach(shmq_t *q, uint32_t role);
/* shmq_push / shmq_pop without a struct shmq_msg: -EAGAIN when full/empty; pop says
 * -ENOTSUP when the message needs the claim path (delay, TTL, limit, small buffer). */
int shmq__spsc_push_copy(shmq_t *q, const void *data, size_t len);
ssize_t shmq__spsc_pop_copy(shmq_t *q, void *buf, size_t cap);
int shmq__spsc_reserve(shmq_t *q, size_t len, struct shmq_msg *m, int64_t deadline);
int shmq__spsc_commit(shmq_t *q, struct shmq_msg *m);
int shmq__spsc_nack_delayed(shmq_t *q, struct shmq_msg *m, int64_t delay_ns);
/* True when the consumer's next message is a delayed one (its sleeper must look again). */
bool shmq__spsc_delayed_waiting(shmq_t *q);
int shmq__spsc_discard(shmq_t *q, struct shmq_msg *m);
int shmq__spsc_claim(shmq_t *q, struct shmq_msg *m, int64_t deadline);
int shmq__spsc_finish(shmq_t *q, struct shmq_msg *m, bool ack);
int shmq__spsc_push_batch(shmq_t *q, const struct iovec *msgs, unsigned n, int64_t deadline);
int shmq__spsc_pop_batch(shmq_t *q, struct iovec *bufs, unsigned n, int64_t deadline);
uint64_t shmq__spsc_depth(const struct shmq__mapping *m);
int shmq__spsc_peek(shmq_t *q, unsigned max, int (*fn)(const struct shmq_msg *, void *), void *arg);

int shmq__mpmc_reserve(shmq_t *q, size_t len, struct shmq_msg *m, int64_t deadline);
int shmq__mpmc_commit(shmq_t *q, struct shmq_msg *m);
int shmq__mpmc_discard(shmq_t *q, struct shmq_msg *m);
int shmq__mpmc_claim(shmq_t *q, struct shmq_msg *m, int64_t deadline);
int shmq__mpmc_finish(shmq_t *q, struct shmq_msg *m, bool ack);
int shmq__mpmc_push_batch(shmq_t *q, const struct iovec *msgs, unsigned n, int64_t deadline);
/* A FIFO's pop batch straight from the ready ring, when shmq__mpmc_batch_plain says it may. */
bool shmq__mpmc_batch_plain(const shmq_t *q);
int shmq__mpmc_pop_batch(shmq_t *q, struct iovec *bufs, unsigned n, int64_t deadline);
int shmq__mpmc_peek(shmq_t *q, unsigned max, int (*fn)(const struct shmq_msg *, void *), void *arg);
void shmq__mpmc_return_all(shmq_t *q);
int shmq__mpmc_nack_delayed(shmq_t *q, struct shmq_msg *m, int64_t delay_ns);
int shmq__mpmc_release(shmq_t *q, struct shmq_msg *m);
int shmq__spsc_release(shmq_t *q, struct shmq_msg *m);
/* True when messages wait in the delayed ring (a waiter must wake up to look at them). */
bool shmq__mpmc_delayed_waiting(const shmq_t *q);
/* Give a slot we hold (state `mine`) back to the free structure, or to the ready one. */
int shmq__mpmc_slot_free(shmq_t *q, uint32_t index, struct shmq__slot *slot, uint64_t mine);
int shmq__mpmc_slot_requeue(shmq_t *q, uint32_t index, struct shmq__slot *slot, uint64_t mine);

/* ---- deadletter.c ---- */
/* A message we hold in slot `index` (header msg; MPMC: in state `mine`) is expired or past its
 * deliveries: copy it to the dead-letter queue if there is one (counted dead_lettered), else
 * drop it (counted dropped); either way it counts as acked. A caller that took it from the
 * ready structure for this counts it popped as well. MPMC slots are freed here, SPSC callers
 * advance themselves. */
void shmq__dead_letter(shmq_t *q, uint32_t index, struct shmq__msghdr *msg, uint64_t mine,
                       bool expired);

/* ---- reaper.c ---- */
/* 1 if some participant's process is gone or an orphan scan is pending. */
int shmq__reap_check(struct shmq__mapping *m);
int shmq__reap(shmq_t *q, struct shmq_repair_report *report);
/* A reap run on the caller's behalf (open, a sleeper's slice, stat): its report is kept in
 * the handle for the next shmq_repair. */
void shmq__reap_quietly(shmq_t *q);
/* The table is full: under the reaper lease, take over a dead participant's entry for q
 * (q->self_index, q->self set), giving back what every dead participant held. -EUSERS if
 * none is dead. */
int shmq__reap_adopt(shmq_t *q);

/* ---- request.c ---- */
void shmq__request_close(shmq_t *q);
/* After -EMSGSIZE: keep a claimed message back, undelivered (see shmq_pop). */
void shmq__mpmc_hold(shmq_t *q, struct shmq_msg *m);
void shmq__spsc_hold(shmq_t *q, struct shmq_msg *m);

#endif /* SHMQ_INTERNAL_H */
