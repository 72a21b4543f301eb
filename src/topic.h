/*
 * The shared-memory layout of a topic segment, and the process-local handle.
 *
 *   header page   struct shmq__topic_header (4096 bytes); its first four fields are those of
 *                 a queue's header, so either kind of open tells the other kind apart
 *   participants  max_participants x struct shmq__topic_part (128 bytes): one per handle
 *   groups        max_groups x struct shmq__topic_group (512 bytes)
 *   members       max_members x struct shmq__topic_member (128 bytes): one per subscription
 *   waits         struct shmq__waits: "not empty" (subscribers) and "not full" (BLOCK publishers)
 *   slots         capacity x slot_stride bytes, each a struct shmq__topic_slot + data
 *
 * Sequences. The topic's `tail` counts the sequence numbers handed out (free-running, never
 * reset). Message s lives in slot s & (capacity - 1). A group's `cursor` is the sequence of
 * the next message it looks at. Sequences are compared by signed difference.
 *
 * Invariants (shmq__topic_check tests them; "quiescent" = no publish, subscribe or
 * unsubscribe in progress and every dead process released):
 *   T1  the configuration and every offset in the header equal the geometry derived again
 *       from the configuration, and the object's size is the derived size;
 *   T2  a slot's word is 0 (never written) or names a sequence s < tail with
 *       s & (capacity - 1) == the slot's index, in state PUB, WRITING or HOLE;
 *       quiescent: no slot is WRITING;
 *   T3  a PUB slot holds a valid subject and lengths that fit slot_size, metadata included;
 *   T4  every group in use has a valid name and pattern and cursor <= tail; quiescent: every
 *       group is FREE or ACTIVE, and an ephemeral group has at least one member;
 *   T5  BLOCK, quiescent: every group with a live member has tail - cursor <= capacity;
 *   T6  a member in use names an in-use group (quiescent: an ACTIVE one);
 *   T7  quiescent: no participant is inside a publish (pub_seq == 0);
 *   T8  see struct shmq__topic_member (holds of zero-copy views).
 */
#ifndef SHMQ_TOPIC_H
#define SHMQ_TOPIC_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "participant.h"
#include "segment.h"
#include "pattern.h"

/* Counters of one handle (written by its owner only) and, summed, of handles that closed. */
struct shmq__topic_counters {
    _Atomic uint64_t published; /* publishes that returned 0 */
    _Atomic uint64_t full;      /* BLOCK: publishes that found the ring full */
    _Atomic uint64_t waits;     /* sleeps on the futex (publishers and subscribers) */
    _Atomic uint64_t overtaken; /* a later publisher had taken the slot already */
    _Atomic uint64_t holes;     /* dead publishers' sequences marked HOLE by this handle */
    _Atomic uint64_t spare[3];
};
_Static_assert(sizeof(struct shmq__topic_counters) == SHMQ__CACHELINE, "counters fill a line");

/*
 * The header page. The configuration block is written once by the creator before `magic` is
 * stored (release); openers load `magic` (acquire), then re-derive and check every field.
 */
struct shmq__topic_header {
    _Atomic uint64_t magic; /* SHMQ__MAGIC, stored last by the creator */
    uint32_t abi_version;   /* SHMQ__ABI_VERSION */
    uint32_t header_size;   /* sizeof(struct shmq__topic_header) */
    uint32_t kind;          /* SHMQ__KIND_TOPIC */
    uint32_t policy;        /* enum shmq_topic_policy */
    uint32_t capacity;      /* a power of two */
    uint32_t ring_order;    /* log2(capacity) */
    uint32_t slot_size;     /* data bytes per slot */
    uint32_t slot_stride;   /* bytes between slots */
    uint32_t max_participants;
    uint32_t max_groups;
    uint32_t max_members;
    uint32_t mode;
    uint64_t segment_size;
    uint64_t off_participants;
    uint64_t off_groups;
    uint64_t off_members;
    uint64_t off_waits;
    uint64_t off_slots;
    int64_t group_timeout_ns; /* resolved: never 0 */
    int64_t created_ns;
    int32_t creator_pid;
    int32_t numa_node; /* node requested at creation, -1 = none */
    uint32_t numa_flags;
    uint32_t reserved0;
    char name[208];
    uint64_t config_reserved[8];

    /* The next sequence to hand out. Written by publishers only (FAA or CAS). */
    alignas(SHMQ__CACHELINE) _Atomic uint64_t tail;
    /* Counters of handles that have closed or died. */
    alignas(SHMQ__CACHELINE) struct shmq__topic_counters retired;
};
_Static_assert(sizeof(struct shmq__topic_header) <= SHMQ__PAGE, "the header fits its page");
_Static_assert(offsetof(struct shmq__topic_header, magic) == offsetof(struct shmq__header, magic),
               "magic where a queue has it");
_Static_assert(offsetof(struct shmq__topic_header, abi_version) ==
                   offsetof(struct shmq__header, abi_version),
               "abi_version where a queue has it");
_Static_assert(offsetof(struct shmq__topic_header, header_size) ==
                   offsetof(struct shmq__header, header_size),
               "header_size where a queue has it");
_Static_assert(offsetof(struct shmq__topic_header, kind) == offsetof(struct shmq__header, kind),
               "kind where a queue has it");
_Static_assert(offsetof(struct shmq__topic_header, tail) % SHMQ__CACHELINE == 0, "own line");
_Static_assert(offsetof(struct shmq__topic_header, retired) % SHMQ__CACHELINE == 0, "own line");

/*
 * A handle's entry. `word` = { pid:32 | state:32 } with the queue's SHMQ__PART_* states (and
 * SHMQ__TPART_RETIRING with the releasing process's pid while a reaper folds a dead entry's
 * counters). Everything is written by the owner only (by a reaper once the owner is dead).
 *
 * `pub_seq` says what the owner's publish is doing, for whoever waits on one of its slots:
 * 0 = not publishing, SHMQ__PUB_CLAIMING = about to take a sequence, s + 1 = writing s. It is
 * stored before the claim (whose release publishes it) and cleared with release after the
 * slot is published, so a reader that sees a sequence claimed and no live claimant for it
 * knows the claimant is dead.
 */
#define SHMQ__TPART_RETIRING 3u
#define SHMQ__PUB_CLAIMING UINT64_MAX
struct shmq__topic_part {
    _Atomic uint64_t word;
    _Atomic uint64_t start_time; /* /proc/<pid>/stat field 22 */
    _Atomic uint64_t pub_seq;
    _Atomic int64_t opened_ns; /* CLOCK_REALTIME */
    uint64_t reserved[4];
    struct shmq__topic_counters counters;
};
_Static_assert(sizeof(struct shmq__topic_part) == 2 * SHMQ__CACHELINE, "two lines");
_Static_assert(offsetof(struct shmq__topic_part, counters) == SHMQ__CACHELINE, "line 1");

/*
 * A group. `word` = { pid:32 | gen:16 | 0:8 | state:8 }; pid is the creator's while CREATING
 * and 0 otherwise; gen changes each time the entry is created anew, so a joiner that looked a
 * group up can tell it from a later one in the same entry.
 *
 *   FREE --create (CAS)--> CREATING --identity written, no duplicate--> ACTIVE
 *   ACTIVE --last member gone, ephemeral (CAS)--> DELETING --no member after all--> ACTIVE
 *                                                          --still none (CAS)--> FREE
 *
 * DELETING is never owned: anyone may finish it (count the members again and CAS), so a
 * deleter that dies leaves nothing stuck. A CREATING entry whose creator died is freed by
 * the reaper. Name, pattern and flags are written while CREATING and read-only while ACTIVE;
 * they are atomic words because a reader may look at an entry that is being reused (it
 * checks the word again after reading them).
 *
 * `cursor` is moved by the members only, by CAS, never backwards; a member reads the slot
 * first and then moves the cursor past it, so a message belongs to the member whose CAS
 * succeeded. The counters are those of members that left (the live ones keep their own).
 */
enum shmq__group_state {
    SHMQ__GROUP_FREE = 0,
    SHMQ__GROUP_CREATING = 1,
    SHMQ__GROUP_ACTIVE = 2,
    SHMQ__GROUP_DELETING = 3,
};
#define SHMQ__GROUP_NAME_WORDS 8     /* 64 bytes: SHMQ_GROUP_NAME_MAX + NUL */
#define SHMQ__GROUP_PATTERN_WORDS 32 /* 256 bytes: SHMQ_SUBJECT_MAX + NUL */
struct shmq__topic_group {
    _Atomic uint64_t word;
    _Atomic uint32_t flags; /* SHMQ_SUB_DURABLE | SHMQ_GROUP_PRIVATE */
    _Atomic uint32_t name_len;
    _Atomic uint32_t pattern_len;
    uint32_t reserved0;
    _Atomic int64_t created_ns;
    uint64_t reserved1[4];
    _Atomic uint64_t name[SHMQ__GROUP_NAME_WORDS];
    _Atomic uint64_t pattern[SHMQ__GROUP_PATTERN_WORDS];
    alignas(SHMQ__CACHELINE) _Atomic uint64_t cursor;
    /* CLOCK_MONOTONIC when the group last found itself without a member; 0 = it has one */
    alignas(SHMQ__CACHELINE) _Atomic int64_t detached_ns;
    _Atomic uint64_t delivered;
    _Atomic uint64_t skipped;
    _Atomic uint64_t lost;
    uint64_t reserved2[4];
};
_Static_assert(offsetof(struct shmq__topic_group, name) == SHMQ__CACHELINE, "name on line 1");
_Static_assert(offsetof(struct shmq__topic_group, cursor) == 6 * SHMQ__CACHELINE, "own line");
_Static_assert(offsetof(struct shmq__topic_group, detached_ns) == 7 * SHMQ__CACHELINE, "line 7");
_Static_assert(sizeof(struct shmq__topic_group) == 8 * SHMQ__CACHELINE, "eight lines");

static inline uint64_t shmq__group_word(int32_t pid, uint32_t gen, uint32_t state)
{
    return ((uint64_t)(uint32_t)pid << 32) | ((uint64_t)(gen & 0xffffu) << 16) | (state & 0xffu);
}
static inline uint32_t shmq__group_state(uint64_t w)
{
    return (uint32_t)w & 0xffu;
}
static inline uint32_t shmq__group_gen(uint64_t w)
{
    return (uint32_t)(w >> 16) & 0xffffu;
}
static inline int32_t shmq__group_pid(uint64_t w)
{
    return (int32_t)(w >> 32);
}
static inline bool shmq__group_in_use(uint64_t w)
{
    uint32_t s = shmq__group_state(w);
    return s == SHMQ__GROUP_ACTIVE || s == SHMQ__GROUP_DELETING;
}

/*
 * A subscription's entry. `word` = { pid:32 | group + 1:16 | 0:8 | state:8 }.
 *
 *   FREE --CAS--> JOINING (group 0 until chosen) --group checked--> LIVE --leave--> FREE
 *   a dead member:  LIVE/JOINING --reaper CAS--> RETIRING (reaper's pid) --fold--> FREE
 *
 * A group's members are the JOINING and LIVE entries naming it: there is no member count to
 * keep in step, so a process that dies anywhere leaves nothing to correct but its own entry.
 * (Invariant T8, BLOCK: a LIVE member's hold, when set, is >= 1 and not above its group's
 * cursor: a member holds only a message it has taken.)
 * The counters are written by the owner only (relaxed load + store) and folded into the
 * group's when the member leaves or is released.
 */
enum shmq__member_state {
    SHMQ__MEMBER_FREE = 0,
    SHMQ__MEMBER_JOINING = 1,
    SHMQ__MEMBER_LIVE = 2,
    SHMQ__MEMBER_RETIRING = 3,
};
struct shmq__topic_member {
    _Atomic uint64_t word;
    _Atomic uint64_t start_time;
    _Atomic int64_t joined_ns; /* CLOCK_REALTIME */
    _Atomic uint32_t part;     /* the handle's participant index (informative) */
    uint32_t reserved0;
    /* BLOCK: s + 1 while the member holds a zero-copy view of message s (0 = none): the
     * publishers treat it like its group's cursor, so the slot is not written again before
     * the member releases it (its next call). Stored before the cursor moves past s. */
    _Atomic uint64_t hold;
    uint64_t reserved[3];
    alignas(SHMQ__CACHELINE) _Atomic uint64_t delivered;
    _Atomic uint64_t skipped;
    _Atomic uint64_t lost;
    uint64_t spare[5];
};
_Static_assert(sizeof(struct shmq__topic_member) == 2 * SHMQ__CACHELINE, "two lines");

static inline uint64_t shmq__member_word(int32_t pid, uint32_t group1, uint32_t state)
{
    return ((uint64_t)(uint32_t)pid << 32) | ((uint64_t)(group1 & 0xffffu) << 16) | (state & 0xffu);
}
static inline uint32_t shmq__member_state(uint64_t w)
{
    return (uint32_t)w & 0xffu;
}
static inline uint32_t shmq__member_group1(uint64_t w)
{
    return (uint32_t)(w >> 16) & 0xffffu;
}
static inline int32_t shmq__member_pid(uint64_t w)
{
    return (int32_t)(w >> 32);
}

/*
 * A slot: a 16-byte header and the data, all atomic words, because readers copy while a
 * publisher may overwrite (the per-slot seqlock below makes such a copy detectable, and
 * atomic words make it defined behaviour in C11).
 *
 * word = ((s + 1) << 2) | state for the message of sequence s; 0 = never written.
 *   PUB      message s is complete
 *   WRITING  a publisher is writing message s (the seqlock's odd phase)
 *   HOLE     s was handed out to a publisher that died before publishing: no message
 * A publisher moves the word from an older sequence to WRITING(s) by CAS, writes the data and
 * stores PUB(s) with release. A reader loads the word (acquire), copies, then an acquire fence
 * and the word again: unchanged means the copy is message s, whole.
 *
 * Data: the subject and a NUL, padded to 8 bytes; the payload; with SHMQ__TSLOT_META, the
 * payload padded to 8 and the metadata record (struct shmq__meta and three NUL-ended strings).
 */
enum shmq__tslot_state {
    SHMQ__TSLOT_PUB = 0,
    SHMQ__TSLOT_WRITING = 1,
    SHMQ__TSLOT_HOLE = 2,
};
#define SHMQ__TSLOT_META 0x1u
struct shmq__topic_slot {
    _Atomic uint64_t word;
    _Atomic uint32_t len;         /* payload bytes */
    _Atomic uint16_t subject_len; /* bytes, without the NUL */
    _Atomic uint16_t flags;       /* SHMQ__TSLOT_META */
    _Atomic uint64_t data[];
};
_Static_assert(sizeof(struct shmq__topic_slot) == 16, "a 16-byte slot header");

static inline uint64_t shmq__tslot_word(uint64_t seq, uint32_t state)
{
    return ((seq + 1) << 2) | state;
}
static inline uint64_t shmq__tslot_seq(uint64_t w) /* w != 0 */
{
    return (w >> 2) - 1;
}
static inline uint32_t shmq__tslot_state(uint64_t w)
{
    return (uint32_t)w & 3u;
}

/* The geometry of a topic, derived from its configuration (creator and openers alike). */
struct shmq__topic_geometry {
    uint32_t policy;
    uint32_t capacity;
    uint32_t ring_order;
    uint32_t slot_size;
    uint32_t slot_stride;
    uint32_t max_participants;
    uint32_t max_groups;
    uint32_t max_members;
    int64_t group_timeout_ns;
    uint64_t off_participants;
    uint64_t off_groups;
    uint64_t off_members;
    uint64_t off_waits;
    uint64_t off_slots;
    uint64_t segment_size;
};

/* A handle: one thread's mapping of a topic and its participant entry. */
struct shmq_topic {
    unsigned char *base;
    size_t size;
    struct shmq__topic_geometry geo; /* trusted copy */
    struct shmq__topic_header *hdr;
    struct shmq__topic_part *parts;
    struct shmq__topic_group *groups;
    struct shmq__topic_member *members;
    struct shmq__waits *waits;
    unsigned char *slots;
    uint32_t owner_uid;
    bool writable;                /* not an observer */
    uint32_t self;                /* participant index; SHMQ__NONE for an observer */
    struct shmq__topic_part *me;  /* NULL for an observer */
    uint64_t gate;                /* BLOCK publisher: no gating cursor is below this */
    int64_t last_reap_ns;         /* CLOCK_MONOTONIC of this handle's last reap */
    struct shmq_sub *subs;        /* this handle's subscriptions */
    struct shmq__shared_map *map; /* this process's mapping, shared by its handles (cold) */
    char name[SHMQ_NAME_MAX + 1];
};

/* A subscription. */
struct shmq_sub {
    struct shmq_topic *t;
    struct shmq_sub *next;
    uint32_t member;       /* index in the member table */
    uint32_t group;        /* index in the group table */
    uint32_t flags;        /* SHMQ_SUB_DURABLE | SHMQ_GROUP_PRIVATE */
    uint64_t pending_lost; /* losses found and not yet reported with a delivery */
    bool holding;          /* BLOCK: the member entry's hold is set (a view is out) */
    uint64_t stuck_seq;    /* the cursor at which the slot was last found not ready */
    uint32_t stuck_polls;
    int64_t stuck_since_ns; /* 0 = not known to be claimed yet */
    struct shmq__pattern pattern;
};

/* Tests: a second handle on t's mapping, with a participant entry of its own (like a second
 * shmq_topic_open_ex of t's name with t's flags, which shares the mapping too since handles
 * went through the registry, but without the name: the object may be unlinked). May be closed
 * before or after t. */
int shmq__topic_clone(shmq_topic_t *t, shmq_topic_t **out);

/* Check the header of a topic segment of `size` bytes at base and derive its geometry (T1): 0,
 * -EAGAIN (being created), -EMEDIUMTYPE (a queue), -EPROTO or -EBADMSG. Reads only the
 * header, so it needs no handle: a byte image in memory will do. */
int shmq__topic_validate(const void *base, size_t size, struct shmq__topic_geometry *g);

/* shmq__topic_check flags */
#define SHMQ__CHECK_QUIESCENT (1u << 0)
/* Test the invariants above (T1..T7; those marked quiescent only with the flag). 0, or
 * -EBADMSG with a reason in why. Read-only: works on an observer handle. */
int shmq__topic_check(shmq_topic_t *t, uint32_t flags, char *why, size_t why_cap);

#endif /* SHMQ_TOPIC_H */
