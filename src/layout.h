/*
 * The shared-memory layout of a queue segment. Everything here lives in /dev/shm and is mapped
 * at different addresses by different processes: no pointers, only indices and offsets, and
 * every field read back from a segment is untrusted (see segment.c for the validation).
 *
 *   header page   struct shmq__header (4096 bytes)
 *   participants  max_participants x struct shmq__participant (three cache lines each)
 *   waits         struct shmq__waits: the "not empty" and "not full" eventcounts
 *   free index    FIFO: struct shmq__scq of 2n entries; LIFO: struct shmq__stack
 *   ready index   FIFO: struct shmq__scq; LIFO: struct shmq__stack; SPSC: struct shmq__spsc
 *   delayed index MPMC: struct shmq__scq holding messages nacked with a delay
 *   returned      FIFO MPMC: struct shmq__scq of messages given back undelivered (shmq_release),
 *                 which claims take before the ready ones
 *   extras        capacity x struct shmq__slot_extra: enqueue time (TTL), not-before (delay)
 *   slots         capacity x slot_stride bytes, each a struct shmq__slot + payload
 *
 * n (ring_size) is the power of two >= capacity; offsets are multiples of 64 (cache line) and
 * the slots start on a page boundary.
 */
#ifndef SHMQ_LAYOUT_H
#define SHMQ_LAYOUT_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "shmq.h"

#define SHMQ__CACHELINE 64u
#define SHMQ__PAGE 4096u
#define SHMQ__MAGIC UINT64_C(0x3130516d68735f5f) /* "__shmQ01" little-endian */
#define SHMQ__ABI_VERSION 2u /* 2: the returned ring, the delayed due word, compact SPSC slots */
#define SHMQ__DUE_NONE ((UINT64_C(1) << 40) - 1) /* delayed_due: nothing delayed */

/* Cross-process atomics must be lock-free (a lock would live in one address space only). */
_Static_assert(ATOMIC_INT_LOCK_FREE == 2, "32-bit atomics must be lock-free");
_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2, "64-bit atomics must be lock-free");
_Static_assert(sizeof(_Atomic uint64_t) == 8 && sizeof(_Atomic uint32_t) == 4,
               "atomics must have the size of their plain types");

/* Segment kinds (header.kind): a queue is FIFO or LIFO; a topic segment says TOPIC. */
enum shmq__segment_kind {
    SHMQ__KIND_FIFO = SHMQ_FIFO,
    SHMQ__KIND_LIFO = SHMQ_LIFO,
    SHMQ__KIND_TOPIC = 2, /* topic segments (topic_segment.c) share magic, abi_version, header_size
                             and kind at these offsets */
};

/* Counters kept per participant (written by its owner only) and, for participants that have
 * closed or died, summed into header.retired. Free-running, never reset. */
struct shmq__counters {
    _Atomic uint64_t pushed;
    _Atomic uint64_t popped;
    _Atomic uint64_t acked;
    _Atomic uint64_t nacked;
    _Atomic uint64_t full;
    _Atomic uint64_t empty;
    _Atomic uint64_t waits;
    _Atomic uint64_t wakeups;
    _Atomic uint64_t redelivered;
    _Atomic uint64_t expired;
    _Atomic uint64_t dead_lettered;
    _Atomic uint64_t dropped;
    _Atomic uint64_t recovered;
    _Atomic uint64_t released; /* claims given back undelivered (shmq_release) */
    _Atomic uint64_t spare[2];
};
_Static_assert(sizeof(struct shmq__counters) == 2 * SHMQ__CACHELINE, "counters fill two lines");

/*
 * The header page. The configuration block is written once by the creator before `magic` is
 * stored (release); openers load `magic` (acquire) and then re-derive and check every field.
 * The mutable words below it each sit on their own cache line.
 */
struct shmq__header {
    _Atomic uint64_t magic; /* SHMQ__MAGIC, stored last by the creator */
    uint32_t abi_version;
    uint32_t header_size;
    uint32_t kind;  /* enum shmq__segment_kind */
    uint32_t flags; /* SHMQ_SINGLE_* */
    uint32_t capacity;
    uint32_t slot_size;   /* payload bytes per slot */
    uint32_t slot_stride; /* bytes between slots: header + payload rounded up to a line */
    uint32_t ring_order;  /* log2(n) */
    uint32_t max_participants;
    uint32_t mode;
    uint64_t segment_size;
    uint64_t off_participants;
    uint64_t off_waits;
    uint64_t off_free;
    uint64_t off_ready;
    uint64_t off_delayed;
    uint64_t off_returned;
    uint64_t off_extras;
    uint64_t off_slots;
    int64_t created_ns;
    int32_t creator_pid;
    uint32_t reserved0;
    char name[208];
    int64_t ttl_ns;
    uint32_t max_deliveries;
    int32_t numa_node; /* node requested at creation, -1 = none */
    uint32_t numa_flags;
    uint32_t reserved1;
    char dead_letter[208]; /* "" = none */
    uint64_t config_reserved[8];

    /* Recovery: one reaper at a time holds this lease = { pid:32 | CLOCK_MONOTONIC s:32 };
     * orphans_pending says dead participants were released without a complete orphan scan. */
    alignas(SHMQ__CACHELINE) _Atomic uint64_t reaper_lease;
    _Atomic uint32_t orphans_pending;

    /* Participant index + 1 that holds the single producer / consumer role, 0 = none.
     * Only used when the matching SHMQ_SINGLE_* flag is set. */
    alignas(SHMQ__CACHELINE) _Atomic uint32_t single_producer;
    _Atomic uint32_t single_consumer;

    /* MPMC: { due_ms:40 | puts:24 }, a lower bound of the not-before times in the delayed
     * ring and a count of puts into it (see "the delayed ring's due word" in mpmc.c). */
    alignas(SHMQ__CACHELINE) _Atomic uint64_t delayed_due;

    /* Counters of participants that have closed. */
    alignas(SHMQ__CACHELINE) struct shmq__counters retired;
};
_Static_assert(sizeof(struct shmq__header) <= SHMQ__PAGE, "the header fits its page");
_Static_assert(offsetof(struct shmq__header, magic) == 0, "magic first");
_Static_assert(offsetof(struct shmq__header, reaper_lease) % SHMQ__CACHELINE == 0, "own line");
_Static_assert(offsetof(struct shmq__header, retired) % SHMQ__CACHELINE == 0, "own line");

/* Participant entry states (low half of the entry's word; the high half is the pid). */
enum shmq__participant_state {
    SHMQ__PART_FREE = 0,    /* unused (the whole word is 0) */
    SHMQ__PART_OPENING = 1, /* taken by an opener, identity being written */
    SHMQ__PART_LIVE = 2,    /* identity valid */
};

/*
 * One handle's entry in the participant table. Line 0 holds its identity (written at open,
 * read by anyone) and its operation counter; lines 1-2 its counters. All of it is written
 * only by the owner (and by the reaper once the owner is dead), so the hot path writes no
 * shared line.
 *
 * `word` = { pid:32 | state:32 }: an opener takes a free entry with one CAS that records its
 * pid, so an entry is never "taken by nobody knows whom": the reaper can tell a half-joined
 * entry of a dead opener from one being filled in by a live one.
 *
 * `op` is odd while the owner is between taking an index from a ring and recording the slot's
 * new state (or between recording a state and putting the index into a ring): the recovery
 * layer's grace period waits for it to be even or to move.
 */
struct shmq__participant {
    _Atomic uint64_t word;
    uint64_t start_time;    /* /proc/<pid>/stat field 22: tells a reused pid from its first owner */
    _Atomic uint32_t roles; /* SHMQ_ROLE_* */
    uint32_t reserved0;
    int64_t opened_ns;
    _Atomic uint64_t heartbeat_ns;
    _Atomic uint64_t op;
    uint64_t reserved1[2];
    struct shmq__counters counters;
};
static inline uint64_t shmq__part_word(int32_t pid, uint32_t state)
{
    return ((uint64_t)(uint32_t)pid << 32) | state;
}
static inline uint32_t shmq__part_state(uint64_t w)
{
    return (uint32_t)w;
}
static inline int32_t shmq__part_pid(uint64_t w)
{
    return (int32_t)(w >> 32);
}
_Static_assert(sizeof(struct shmq__participant) == 3 * SHMQ__CACHELINE, "three lines");
_Static_assert(offsetof(struct shmq__participant, counters) == SHMQ__CACHELINE, "line 1");

/* An eventcount: seq = { epoch:31 | armed:1 }. Waiters set `armed` and sleep on seq (a shared
 * futex); the first notifier that finds it armed bumps the epoch, clears the bit and wakes
 * them all, so a burst of messages costs one wake-up system call, not one per message. */
struct shmq__eventcount {
    alignas(SHMQ__CACHELINE) _Atomic uint32_t seq;
};
struct shmq__waits {
    struct shmq__eventcount not_empty;
    struct shmq__eventcount not_full;
};
_Static_assert(sizeof(struct shmq__waits) == 2 * SHMQ__CACHELINE, "one line each");

/*
 * SCQ (Nikolaev, DISC 2019): a bounded lock-free FIFO of indices < n in 2n entries.
 * Each entry packs { cycle:31 | safe:1 | index:32 }; index SHMQ__SCQ_BOTTOM means empty.
 * head, tail and threshold each own a cache line.
 */
struct shmq__scq {
    alignas(SHMQ__CACHELINE) _Atomic uint64_t head;
    alignas(SHMQ__CACHELINE) _Atomic uint64_t tail;
    alignas(SHMQ__CACHELINE) _Atomic int64_t threshold;
    alignas(SHMQ__CACHELINE) _Atomic uint64_t entries[];
};
_Static_assert(offsetof(struct shmq__scq, entries) == 3 * SHMQ__CACHELINE, "entries apart");

/* Treiber stack of slot indices: head = { tag:32 | index:32 }, links in the slots. */
struct shmq__stack {
    alignas(SHMQ__CACHELINE) _Atomic uint64_t head;
};
_Static_assert(sizeof(struct shmq__stack) == SHMQ__CACHELINE, "one line");

/* Single-producer/single-consumer ring: free-running counters; slot of position p is
 * p % capacity. head is written by the producer only, tail by the consumer only. */
struct shmq__spsc {
    alignas(SHMQ__CACHELINE) _Atomic uint64_t head;
    alignas(SHMQ__CACHELINE) _Atomic uint64_t tail;
};
_Static_assert(sizeof(struct shmq__spsc) == 2 * SHMQ__CACHELINE, "one line each");

/*
 * A message's header, right before its payload: what every slot of every queue kind holds.
 * Written by the holder of the slot only and published with it (the ring's release in an MPMC
 * queue, the head store in the SPSC ring).
 */
struct shmq__msghdr {
    _Atomic uint32_t len;        /* payload bytes <= slot_size */
    _Atomic uint16_t flags;      /* SHMQ__SLOT_* */
    _Atomic uint16_t deliveries; /* times claimed */
};
_Static_assert(sizeof(struct shmq__msghdr) == 8, "an 8-byte message header");

/* The payload after a message header. */
static inline unsigned char *shmq__payload(struct shmq__msghdr *h)
{
    return (unsigned char *)(h + 1);
}

/*
 * An MPMC slot: a 24-byte header and the payload right after it, so that a message of up to
 * 40 bytes moves in one cache line. (The SPSC ring's slots are a bare struct shmq__msghdr and
 * the payload, 8 bytes apart: it needs no state word, link or generation.)
 *
 * state = { gen:32 | unused:8 | owner:16 | state:8 } (see slot.h). gen changes at every
 * transition, so a state word seen twice unchanged means nobody touched the slot.
 * next, commit_gen and the message header are written by the slot's owner only (the holder
 * of its index) and published by the release that hands the index on.
 */
struct shmq__slot {
    _Atomic uint64_t state;
    _Atomic uint32_t next;       /* LIFO stack link */
    _Atomic uint32_t commit_gen; /* gen at commit: id = commit_gen << 32 | index */
    struct shmq__msghdr hdr;
    unsigned char payload[];
};
_Static_assert(sizeof(struct shmq__slot) == 24, "a 24-byte slot header");
_Static_assert(offsetof(struct shmq__slot, hdr) == 16, "the message header last");
_Static_assert(offsetof(struct shmq__slot, payload) == 24, "payload right after the header");

/* Per-slot times, kept apart from the slots so that queues without TTL or delays never touch
 * them. Written by the slot's holder, published like the slot itself. */
struct shmq__slot_extra {
    _Atomic int64_t enqueued_ns;   /* CLOCK_MONOTONIC at commit, when the queue has a TTL */
    _Atomic int64_t not_before_ns; /* CLOCK_MONOTONIC before which a delayed nack waits */
};
_Static_assert(sizeof(struct shmq__slot_extra) == 16, "16 bytes per slot");

/* Slot flags. */
#define SHMQ__SLOT_META 0x1u     /* a metadata record follows the payload (at align8(len)) */
#define SHMQ__SLOT_DELAYED 0x2u  /* SPSC: nacked with a delay, see extras.not_before_ns */
#define SHMQ__SPSC_SLOT_ALIGN 8u /* SPSC slots are 8 + slot_size bytes rounded up to this */

/* The metadata record: fixed part, then type, correlation id and reply-to, each NUL-ended. */
struct shmq__meta {
    int64_t timestamp_ns;
    uint8_t type_len;
    uint8_t correlation_len;
    uint8_t reply_to_len;
    uint8_t reserved[5];
};
_Static_assert(sizeof(struct shmq__meta) == 16, "16-byte metadata record head");

#endif /* SHMQ_LAYOUT_H */
