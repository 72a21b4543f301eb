/*
 * Topics: a broadcast ring in shared memory, subscriber groups with their own cursors,
 * subject filtering on the subscriber's side, and the BLOCK and OVERWRITE policies. The
 * layout and its invariants are in topic.h; the public contract is in shmq.h; this header is
 * what the topic files share. The files, each calling only those below it:
 *
 *   topic.c          public facade: create, open, close, clone, unlink, name
 *   topic_stat.c     statistics, group listings, group deletion, the invariant check
 *   topic_read.c     subscribe, unsubscribe, shmq_next, views, holes
 *   topic_publish.c  the BLOCK gate, claims, slot writes
 *   topic_reap.c     the reaper (dead handles, members, half-made groups)
 *   topic_group.c    groups and members
 *   topic_segment.c  word copies, geometry, validation, participant table, slot format
 *
 * and below them the library's segment layer (block.c, wait.c, registry.c, participant.c).
 *
 * Publishing (shmq_publish):
 *   1. announce: pub_seq := CLAIMING in the handle's own entry;
 *   2. claim a sequence s: OVERWRITE takes it with fetch-and-add on tail (never waits); BLOCK
 *      with a CAS on tail that only succeeds while s - capacity is below every gating group's
 *      cursor (a FAA cannot be undone, and a BLOCK publisher that gives up at its deadline
 *      must leave no hole behind), Disruptor-style, the slowest cursor being cached per
 *      handle and looked up again only when the cache says the ring is full;
 *   3. pub_seq := s + 1, then move the slot's word from an older sequence to WRITING(s) by
 *      CAS (if an older publisher is still writing there, wait for it; if a newer one already
 *      has the slot, message s is lost to everyone and the publish is over);
 *   4. write the data (relaxed atomic words), store PUB(s) with release;
 *   5. pub_seq := 0 (release), and wake sleeping subscribers if there are any (one load).
 * Nothing in it depends on the number of subscribers.
 *
 * Reading (shmq_next), for a group at cursor c: load the word of slot c.
 *   PUB(c)    copy subject (and, when it matches, payload and metadata), then an acquire fence
 *             and the word again: unchanged means the copy is whole. Then CAS the cursor from
 *             c to c + 1: the member whose CAS succeeds owns the message (read first, take
 *             after, so a member that stops between two calls takes nothing, and under BLOCK
 *             the slot cannot be overwritten while a member of a gating group still reads it).
 *             A non-matching message is passed over the same way (several in one CAS).
 *   HOLE(c)   passed over: a publisher died between its claim and its publish.
 *   newer     the group was lapped: jump (CAS) to the oldest sequence that can still be in
 *             the ring, tail - capacity, and count the difference as lost: exact, since
 *             every sequence in between is either overwritten or about to be.
 *   older     not published yet: -EAGAIN, or sleep on the "not empty" eventcount. If it
 *             stays so while tail says s was handed out, look for a live publisher whose
 *             pub_seq says it might still write it; with none, CAS the word to HOLE(c).
 *
 * Memory ordering (labels used in the code):
 *   R0/A0  magic stored last by the creator / loaded first by an opener
 *          (shmq__topic_init / shmq__topic_validate, topic_segment.c).
 *   R1/A1  the claim on tail (release) / loads of tail (acquire): pub_seq = CLAIMING of the
 *          claimant is visible to whoever sees the sequence handed out (R1: claim_try and
 *          shmq_publish_msg, topic_publish.c; A1: topic_read.c, topic_group.c).
 *   R2/A2  the CAS to WRITING(s) (release half) / loads of the slot word: pub_seq = s + 1 of
 *          the writer is visible to whoever sees WRITING(s). Its acquire half pairs with R3
 *          of the slot's previous publisher (our writes come after theirs). (R2:
 *          slot_acquire, topic_publish.c; A2: there and hole_check, topic_read.c.)
 *   R3/A3  the store of PUB(s) / readers' load of the slot word: the message is visible
 *          (R3: slot_write, topic_publish.c; A3: next_attempt, topic_read.c, and
 *          slot_acquire; waitany.c's topic probe pairs with R3 too).
 *   F1/F2  the seqlock: a release fence after WRITING(s), before the data; an acquire fence
 *          after a reader's copy, before it loads the word again (F1: slot_write; F2:
 *          next_attempt and shmq_view_check, topic_read.c).
 *   R4/A4  pub_seq := 0 after the publish / loads of pub_seq by whoever looks for claimants:
 *          a claimant seen finished has its slot published (R4: shmq_publish_msg; A4:
 *          shmq__topic_claimant_alive, topic_segment.c).
 *   R5/A5  a member's CAS of its group's cursor / a BLOCK publisher's load of the cursors:
 *          the member's reads of the slot are over before a publisher writes it again
 *          (R5: cursor_move, topic_read.c, and group_catch_up, topic_group.c; A5:
 *          gate_refresh, topic_publish.c).
 *   R6/A6  an entry's word made LIVE/ACTIVE / loaded by readers of the tables: the identity
 *          written before it is visible (R6: shmq__topic_part_join, topic_segment.c;
 *          shmq__topic_group_create, topic_group.c; shmq_subscribe, topic_read.c. A6: every
 *          reader of the tables, in every topic file).
 *   R7/A7  a member's hold cleared / a BLOCK publisher's load of the holds: the holder's
 *          reads of the slot are over (R7: hold_release, topic_read.c; A7: gate_refresh).
 *   S7     seq_cst: the table protocols that must see each other's stores (a creator's
 *          duplicate check against another creator, a deleter's member count against a
 *          joiner) are store-then-load on both sides.
 */
#ifndef SHMQ_TOPIC_INTERNAL_H
#define SHMQ_TOPIC_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "slot.h"
#include "topic.h"
#include "wait.h"

#define SHMQ__TOPIC_SPINS 128                  /* re-tries before sleeping */
#define SHMQ__TOPIC_SLICE_NS (100 * 1000000LL) /* a sleeper looks for dead peers this often */
#define SHMQ__TOPIC_META_MAX (sizeof(struct shmq__meta) + 3 * (SHMQ_META_STR_MAX + 1))

static inline uint64_t shmq__topic_align_up(uint64_t v, uint64_t a)
{
    return (v + a - 1) & ~(a - 1);
}

static inline bool shmq__topic_seq_after(uint64_t a, uint64_t b) /* a > b */
{
    return (int64_t)(a - b) > 0;
}

static inline struct shmq__topic_slot *shmq__topic_slot_at(const shmq_topic_t *t, uint64_t seq)
{
    uint64_t index = seq & (t->geo.capacity - 1u);
    return (struct shmq__topic_slot *)(t->slots + index * t->geo.slot_stride);
}

static inline bool shmq__topic_is_block(const shmq_topic_t *t)
{
    return t->geo.policy == SHMQ_TOPIC_BLOCK;
}

static inline bool shmq__topic_has_bit(const uint64_t *has, uint32_t g)
{
    return (has[g / 64] >> (g % 64)) & 1u;
}

/*
 * Copies between memory and the atomic words of a slot or table entry. Relaxed: the word
 * that guards them (a slot's seqlock, an entry's state) supplies the ordering; being atomic
 * makes a copy that races with a writer defined (and detected by the guard) rather than a
 * data race. Inline: they are the copy loops of publish and next.
 */
static inline void shmq__topic_words_put(_Atomic uint64_t *dst, const void *src, size_t n)
{
    const unsigned char *s = src;
    size_t i = 0;
    for (; n >= 8; n -= 8, s += 8, i++) {
        uint64_t v;
        memcpy(&v, s, 8);
        atomic_store_explicit(&dst[i], v, memory_order_relaxed);
    }
    if (n) {
        uint64_t v = 0;
        memcpy(&v, s, n);
        atomic_store_explicit(&dst[i], v, memory_order_relaxed);
    }
}

static inline void shmq__topic_words_get(void *dst, const _Atomic uint64_t *src, size_t n)
{
    unsigned char *d = dst;
    size_t i = 0;
    for (; n >= 8; n -= 8, d += 8, i++) {
        uint64_t v = atomic_load_explicit((_Atomic uint64_t *)&src[i], memory_order_relaxed);
        memcpy(d, &v, 8);
    }
    if (n) {
        uint64_t v = atomic_load_explicit((_Atomic uint64_t *)&src[i], memory_order_relaxed);
        memcpy(d, &v, n);
    }
}

/* The sleepers of topics (block.h) sleep in slices of SHMQ__TOPIC_SLICE_NS and do their idle
 * duty (reap, look for holes) once a slice is over, whether their sleeps time out or are
 * woken (a subscriber woken by messages it passes over still looks for holes). */
static inline int64_t shmq__topic_slice_ns(void *ctx)
{
    (void)ctx;
    return SHMQ__TOPIC_SLICE_NS;
}
/* True (and *next moved on by a slice) when the duty planned for *next is due; *now_out (may
 * be NULL) gets the clock. */
static inline bool shmq__topic_duty_due(int64_t *next, int64_t *now_out)
{
    int64_t now = shmq__now_mono();
    if (now_out)
        *now_out = now;
    if (now < *next)
        return false;
    *next = now + SHMQ__TOPIC_SLICE_NS;
    return true;
}

/* ---- topic_segment.c: copies, geometry, validation, participants, slot format ---- */

/* Whether the process owning a participant or member entry (its pid from the entry's word)
 * still runs. Its start time is read (relaxed: the acquire load of the word ordered it) only
 * when the entry is LIVE; before, the owner may not have written it and the pid decides. */
bool shmq__topic_entry_alive(int32_t pid, bool live, _Atomic uint64_t *start_time);
/* 0 for a valid group name, else -EINVAL. */
int shmq__topic_group_name_check(const char *name);
/* The geometry of a configuration (NULL = defaults): 0 or -EINVAL. */
int shmq__topic_geometry_derive(const struct shmq_topic_config *cfg,
                                struct shmq__topic_geometry *g);
/* Set t's table pointers from t->base and the trusted t->geo. */
void shmq__topic_derive(shmq_topic_t *t);
/* Lay out a fresh (all-zero) segment and store the magic last (R0). */
void shmq__topic_init(void *base, const char *name, const struct shmq__topic_geometry *g,
                      uint32_t mode, int32_t numa_node, uint32_t numa_flags);
/* Fold one set of counters into another and zero the source (statistics: relaxed). */
void shmq__topic_counters_fold(struct shmq__topic_counters *to, struct shmq__topic_counters *from);
/* Take a participant entry for t (t->self, t->me): 0 or -EUSERS (table full). */
int shmq__topic_part_join(shmq_topic_t *t);
/* Fold t's counters and free its entry. */
void shmq__topic_part_retire(shmq_topic_t *t);
/* Is a live publisher possibly about to write sequence s? (See the definition.) */
bool shmq__topic_claimant_alive(shmq_topic_t *t, uint64_t s, bool claiming);
/* Read the metadata record at data byte offset off of a slot into rec: 0 or -EBADMSG. */
int shmq__topic_meta_parse(const struct shmq__topic_slot *slot, size_t off, size_t limit,
                           unsigned char *rec, struct shmq__meta *h, size_t str_off[3]);

/* ---- topic_group.c: groups and members ---- */

/* Set bit g in has[] for every group that has a JOINING or LIVE member. */
void shmq__topic_members_scan(shmq_topic_t *t, uint64_t *has, memory_order order);
/* Copy group g's name and pattern out (NUL-terminated; pattern may be NULL); false when the
 * entry moved from word w meanwhile or holds nonsense. */
bool shmq__topic_group_identity(shmq_topic_t *t, uint32_t g, uint64_t w, char *name, char *pattern,
                                uint32_t *flags);
/* Find the in-use, shared group called name: 0 or -ENOENT. */
int shmq__topic_group_find(shmq_topic_t *t, const char *name, uint32_t *idx, uint64_t *word);
/* Finish a DELETING group (seen as word w); returns its state afterwards. */
uint32_t shmq__topic_group_resolve(shmq_topic_t *t, uint32_t g, uint64_t w);
/* Remove group g if it has no member (ephemeral only unless force): 0 or -EBUSY. */
int shmq__topic_group_try_delete(shmq_topic_t *t, uint32_t g, uint64_t w, bool force);
/* Fold a member's counters into those of group g1 - 1 (if it names one) and zero them. */
void shmq__topic_member_fold(shmq_topic_t *t, struct shmq__topic_member *m, uint32_t g1);
/* Take a member entry (JOINING, no group yet): 0 or -EUSERS. */
int shmq__topic_member_take(shmq_topic_t *t, uint32_t *out);
/* Leave: fold the counters, free entry mi, and let group g know. */
void shmq__topic_member_leave(shmq_topic_t *t, uint32_t mi, uint32_t g);
/* Join group g (looked up as word w): 0, -EAGAIN (look it up again) or -EINVAL. */
int shmq__topic_group_join(shmq_topic_t *t, shmq_sub_t *s, uint32_t g, uint64_t w);
/* Create group name with s's member as its first member: 0, -EAGAIN or -EUSERS. */
int shmq__topic_group_create(shmq_topic_t *t, shmq_sub_t *s, const char *name, uint32_t flags);
/* Does group g hold BLOCK publishers back? has: from shmq__topic_members_scan; *now: a clock
 * reading shared between calls (0 = not read yet). */
bool shmq__topic_group_gates(shmq_topic_t *t, uint32_t g, const uint64_t *has, int64_t *now);

/* ---- topic_reap.c ---- */

/* Release what dead handles and members held; returns how many entries were released. */
int shmq__topic_reap(shmq_topic_t *t);

#endif /* SHMQ_TOPIC_INTERNAL_H */
