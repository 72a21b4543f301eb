/*
 * Topic groups and their members: finding, creating, joining, leaving and deleting a group,
 * taking and releasing a member entry, and whether a group holds BLOCK publishers back.
 * Calls topic_segment.c below it. The protocols are described above struct
 * shmq__topic_group and struct shmq__topic_member in topic.h.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "topic_internal.h"

/* Set bit g in has[] for every group that has a JOINING or LIVE member. */
void shmq__topic_members_scan(shmq_topic_t *t, uint64_t *has, memory_order order)
{
    memset(has, 0, ((t->geo.max_groups + 63) / 64) * sizeof *has);
    for (uint32_t i = 0; i < t->geo.max_members; i++) {
        uint64_t w = atomic_load_explicit(&t->members[i].word, order);
        uint32_t st = shmq__member_state(w), g1 = shmq__member_group1(w);
        if ((st == SHMQ__MEMBER_JOINING || st == SHMQ__MEMBER_LIVE) && g1 >= 1 &&
            g1 <= t->geo.max_groups)
            has[(g1 - 1) / 64] |= UINT64_C(1) << ((g1 - 1) % 64);
    }
}

/* S7: a seq_cst look for members of g (see shmq__topic_group_resolve and shmq__topic_group_join).
 */
static bool group_has_member(shmq_topic_t *t, uint32_t g)
{
    for (uint32_t i = 0; i < t->geo.max_members; i++) {
        uint64_t w = atomic_load_explicit(&t->members[i].word, memory_order_seq_cst);
        uint32_t st = shmq__member_state(w);
        if ((st == SHMQ__MEMBER_JOINING || st == SHMQ__MEMBER_LIVE) &&
            shmq__member_group1(w) == g + 1)
            return true;
    }
    return false;
}

/* Copy a group's name and pattern out (NUL-terminated) and check the word did not move
 * meanwhile: false when the entry changed or holds nonsense. */
bool shmq__topic_group_identity(shmq_topic_t *t, uint32_t g, uint64_t w, char *name, char *pattern,
                                uint32_t *flags)
{
    struct shmq__topic_group *grp = &t->groups[g];
    uint32_t nl = atomic_load_explicit(&grp->name_len, memory_order_relaxed);
    uint32_t pl = atomic_load_explicit(&grp->pattern_len, memory_order_relaxed);
    *flags = atomic_load_explicit(&grp->flags, memory_order_relaxed);
    if (nl > SHMQ_GROUP_NAME_MAX || pl > SHMQ_SUBJECT_MAX)
        return false;
    shmq__topic_words_get(name, grp->name, SHMQ__GROUP_NAME_WORDS * 8);
    name[nl] = 0;
    if (pattern) {
        shmq__topic_words_get(pattern, grp->pattern, SHMQ__GROUP_PATTERN_WORDS * 8);
        pattern[pl] = 0;
    }
    /* Pairs with the release that made the entry ACTIVE (R6): a later change shows here. */
    atomic_thread_fence(memory_order_acquire);
    return atomic_load_explicit(&grp->word, memory_order_relaxed) == w;
}

/* Find the in-use, shared group called name. */
int shmq__topic_group_find(shmq_topic_t *t, const char *name, uint32_t *idx, uint64_t *word)
{
    size_t nlen = strlen(name);
    char got[SHMQ__GROUP_NAME_WORDS * 8];
    for (uint32_t g = 0; g < t->geo.max_groups; g++) {
        struct shmq__topic_group *grp = &t->groups[g];
        /* A6: pairs with R6 in shmq__topic_group_create. */
        uint64_t w = atomic_load_explicit(&grp->word, memory_order_acquire);
        if (!shmq__group_in_use(w))
            continue;
        if (atomic_load_explicit(&grp->name_len, memory_order_relaxed) != nlen)
            continue;
        uint32_t flags;
        if (!shmq__topic_group_identity(t, g, w, got, NULL, &flags) ||
            (flags & SHMQ_GROUP_PRIVATE) || strcmp(got, name) != 0)
            continue;
        *idx = g;
        *word = w;
        return 0;
    }
    return -ENOENT;
}

/*
 * Finish a DELETING group: count its members again and make it ACTIVE if there is one, FREE
 * if not. Anyone may do it (a joiner that found it DELETING, the reaper, the deleter): the
 * CAS from the DELETING word makes only the first decision count. S7: the deleter stored
 * DELETING before counting, a joiner stored its JOINING entry before loading the group word;
 * so either the count sees the joiner or the joiner sees DELETING and resolves it itself.
 * Returns the state the group is in afterwards.
 */
uint32_t shmq__topic_group_resolve(shmq_topic_t *t, uint32_t g, uint64_t w)
{
    struct shmq__topic_group *grp = &t->groups[g];
    uint32_t gen = shmq__group_gen(w);
    uint64_t to = group_has_member(t, g) ? shmq__group_word(0, gen, SHMQ__GROUP_ACTIVE)
                                         : shmq__group_word(0, gen, SHMQ__GROUP_FREE);
    atomic_compare_exchange_strong_explicit(&grp->word, &w, to, memory_order_seq_cst,
                                            memory_order_seq_cst);
    /* A6 (topic_internal.h): pairs with R6, the entry made LIVE/ACTIVE with its identity. */
    return shmq__group_state(atomic_load_explicit(&grp->word, memory_order_acquire));
}

/* Remove group g if it has no member; ephemeral groups only unless force. Returns 0 when the
 * group is gone, -EBUSY when it has a member (or someone joined meanwhile). */
int shmq__topic_group_try_delete(shmq_topic_t *t, uint32_t g, uint64_t w, bool force)
{
    struct shmq__topic_group *grp = &t->groups[g];
    if (shmq__group_state(w) == SHMQ__GROUP_DELETING)
        return shmq__topic_group_resolve(t, g, w) == SHMQ__GROUP_FREE ? 0 : -EBUSY;
    if (shmq__group_state(w) != SHMQ__GROUP_ACTIVE)
        return 0;
    if (!force && (atomic_load_explicit(&grp->flags, memory_order_relaxed) & SHMQ_SUB_DURABLE))
        return -EBUSY;
    if (group_has_member(t, g))
        return -EBUSY;
    uint64_t del = shmq__group_word(0, shmq__group_gen(w), SHMQ__GROUP_DELETING);
    /* S7: DELETING is stored before the members are counted again in shmq__topic_group_resolve. */
    if (!atomic_compare_exchange_strong_explicit(&grp->word, &w, del, memory_order_seq_cst,
                                                 memory_order_relaxed))
        return -EBUSY;
    return shmq__topic_group_resolve(t, g, del) == SHMQ__GROUP_FREE ? 0 : -EBUSY;
}

/* A member of g has gone: remove g (ephemeral) or note since when it has none (durable). */
static void group_member_gone(shmq_topic_t *t, uint32_t g)
{
    struct shmq__topic_group *grp = &t->groups[g];
    /* A6 (topic_internal.h): pairs with R6, the entry made LIVE/ACTIVE with its identity. */
    uint64_t w = atomic_load_explicit(&grp->word, memory_order_acquire);
    if (!shmq__group_in_use(w) || group_has_member(t, g))
        return;
    if (atomic_load_explicit(&grp->flags, memory_order_relaxed) & SHMQ_SUB_DURABLE)
        /* Relaxed: a time for the gating decision, which looks at the members first. */
        atomic_store_explicit(&grp->detached_ns, shmq__now_mono(), memory_order_relaxed);
    else
        shmq__topic_group_try_delete(t, g, w, false);
    if (shmq__topic_is_block(t))
        shmq__wait_notify(&t->waits->not_full); /* the slowest gating group may be gone */
}

/* Fold a member's counters into its group's. */
void shmq__topic_member_fold(shmq_topic_t *t, struct shmq__topic_member *m, uint32_t g1)
{
    _Atomic uint64_t *from[3] = {&m->delivered, &m->skipped, &m->lost};
    if (g1 >= 1 && g1 <= t->geo.max_groups) {
        struct shmq__topic_group *grp = &t->groups[g1 - 1];
        _Atomic uint64_t *to[3] = {&grp->delivered, &grp->skipped, &grp->lost};
        for (int i = 0; i < 3; i++)
            atomic_fetch_add_explicit(to[i], atomic_load_explicit(from[i], memory_order_relaxed),
                                      memory_order_relaxed);
    }
    for (int i = 0; i < 3; i++)
        atomic_store_explicit(from[i], 0, memory_order_relaxed);
}

int shmq__topic_member_take(shmq_topic_t *t, uint32_t *out)
{
    _Static_assert(offsetof(struct shmq__topic_member, word) == 0, "the word first");
    int i = shmq__entry_take(t->members, sizeof *t->members, t->geo.max_members,
                             shmq__member_word((int32_t)getpid(), 0, SHMQ__MEMBER_JOINING));
    if (i < 0)
        return i;
    struct shmq__topic_member *m = &t->members[i];
    atomic_store_explicit(&m->start_time, shmq__self_start_time(), memory_order_relaxed);
    atomic_store_explicit(&m->joined_ns, shmq__now_real(), memory_order_relaxed);
    atomic_store_explicit(&m->part, t->self, memory_order_relaxed);
    atomic_store_explicit(&m->hold, 0, memory_order_relaxed);
    atomic_store_explicit(&m->delivered, 0, memory_order_relaxed);
    atomic_store_explicit(&m->skipped, 0, memory_order_relaxed);
    atomic_store_explicit(&m->lost, 0, memory_order_relaxed);
    *out = (uint32_t)i;
    return 0;
}

/* Leave: fold the counters, free the entry, and let the group know. */
void shmq__topic_member_leave(shmq_topic_t *t, uint32_t mi, uint32_t g)
{
    struct shmq__topic_member *m = &t->members[mi];
    shmq__topic_member_fold(t, m, g + 1);
    /* Release: pairs with the acquire CAS of the next owner in shmq__entry_take. */
    atomic_store_explicit(&m->word, 0, memory_order_release);
    if (g < t->geo.max_groups)
        group_member_gone(t, g);
}

/* A durable group found lapped by its new member: move it to the oldest message still there
 * and count what it missed. */
static void group_catch_up(shmq_sub_t *s)
{
    shmq_topic_t *t = s->t;
    struct shmq__topic_group *grp = &t->groups[s->group];
    uint64_t c = atomic_load_explicit(&grp->cursor, memory_order_relaxed);
    /* A1: pairs with R1 of the claims. */
    uint64_t tl = atomic_load_explicit(&t->hdr->tail, memory_order_acquire);
    if (!shmq__topic_seq_after(tl - c, t->geo.capacity))
        return;
    uint64_t to = tl - t->geo.capacity;
    /* R5: pairs with A5 in gate_refresh. */
    if (atomic_compare_exchange_strong_explicit(&grp->cursor, &c, to, memory_order_release,
                                                memory_order_relaxed)) {
        struct shmq__topic_member *m = &t->members[s->member];
        shmq__count(&m->lost, to - c);
        s->pending_lost += to - c;
    }
}

/*
 * Join group g (looked up as word w): the member entry names the group before the group word
 * is looked at again (S7), so a deleter either counts us or we see DELETING and resolve it.
 * -EAGAIN when the group went away meanwhile (look it up again), -EINVAL when its pattern or
 * durability differ.
 */
int shmq__topic_group_join(shmq_topic_t *t, shmq_sub_t *s, uint32_t g, uint64_t w)
{
    struct shmq__topic_group *grp = &t->groups[g];
    struct shmq__topic_member *m = &t->members[s->member];
    int32_t pid = (int32_t)getpid();
    char name[SHMQ__GROUP_NAME_WORDS * 8], pattern[SHMQ__GROUP_PATTERN_WORDS * 8];
    uint32_t flags;
    if (!shmq__topic_group_identity(t, g, w, name, pattern, &flags))
        return -EAGAIN;
    if (strcmp(pattern, s->pattern.text) != 0 ||
        (flags & SHMQ_SUB_DURABLE) != (s->flags & SHMQ_SUB_DURABLE))
        return -EINVAL;
    /* S7: the member entry names the group before the group's word is loaded again. */
    atomic_store_explicit(&m->word, shmq__member_word(pid, g + 1, SHMQ__MEMBER_JOINING),
                          memory_order_seq_cst);
    for (;;) {
        uint64_t now = atomic_load_explicit(&grp->word, memory_order_seq_cst);
        if (!shmq__group_in_use(now) || shmq__group_gen(now) != shmq__group_gen(w)) {
            atomic_store_explicit(&m->word, shmq__member_word(pid, 0, SHMQ__MEMBER_JOINING),
                                  memory_order_relaxed);
            return -EAGAIN;
        }
        if (shmq__group_state(now) == SHMQ__GROUP_ACTIVE)
            break;
        shmq__topic_group_resolve(t, g,
                                  now); /* DELETING: we are a member, so it comes back ACTIVE */
    }
    s->group = g;
    s->flags = flags & (SHMQ_SUB_DURABLE | SHMQ_GROUP_PRIVATE);
    if (flags & SHMQ_SUB_DURABLE) {
        atomic_store_explicit(&grp->detached_ns, 0, memory_order_relaxed);
        group_catch_up(s);
    }
    return 0;
}

/* Is another group (not g) called name being created or in use? S7 (see shmq__topic_group_create).
 */
static bool group_duplicate(shmq_topic_t *t, uint32_t g, const char *name)
{
    char got[SHMQ__GROUP_NAME_WORDS * 8];
    size_t nlen = strlen(name);
    for (uint32_t i = 0; i < t->geo.max_groups; i++) {
        if (i == g)
            continue;
        struct shmq__topic_group *grp = &t->groups[i];
        uint64_t w = atomic_load_explicit(&grp->word, memory_order_seq_cst);
        uint32_t st = shmq__group_state(w);
        if (st == SHMQ__GROUP_FREE)
            continue;
        uint32_t flags = atomic_load_explicit(&grp->flags, memory_order_relaxed);
        if ((flags & SHMQ_GROUP_PRIVATE) ||
            atomic_load_explicit(&grp->name_len, memory_order_relaxed) != nlen)
            continue;
        shmq__topic_words_get(got, grp->name, SHMQ__GROUP_NAME_WORDS * 8);
        got[SHMQ_GROUP_NAME_MAX] = 0;
        if (memcmp(got, name, nlen) == 0)
            return true;
    }
    return false;
}

/*
 * Create a group named name (flags: SHMQ_SUB_DURABLE, SHMQ_GROUP_PRIVATE) with s's member as
 * its first member. Two processes may create the same name at once: each writes its entry
 * (CREATING) with the name, then (S7, a seq_cst fence on both sides) looks for another entry
 * with that name; at least one of the two sees the other, and whoever sees one gives up and
 * looks the name up again (-EAGAIN). A new group starts at the tail; under BLOCK the cursor
 * is moved to the tail again once the group is ACTIVE, so that no publisher that missed the
 * new group can have claimed a slot the group still has to read (a publisher's cached gate
 * is never above a tail it has seen).
 */
int shmq__topic_group_create(shmq_topic_t *t, shmq_sub_t *s, const char *name, uint32_t flags)
{
    int32_t pid = (int32_t)getpid();
    struct shmq__topic_member *m = &t->members[s->member];
    size_t nlen = strlen(name);
    for (uint32_t g = 0; g < t->geo.max_groups; g++) {
        struct shmq__topic_group *grp = &t->groups[g];
        uint64_t w = atomic_load_explicit(&grp->word, memory_order_relaxed);
        if (shmq__group_state(w) != SHMQ__GROUP_FREE)
            continue;
        uint32_t gen = shmq__group_gen(w);
        /* seq_cst (and so acquire): after the release that freed the entry. */
        if (!atomic_compare_exchange_strong_explicit(
                &grp->word, &w, shmq__group_word(pid, gen, SHMQ__GROUP_CREATING),
                memory_order_seq_cst, memory_order_relaxed))
            continue;
        char buf[SHMQ__GROUP_PATTERN_WORDS * 8];
        memset(buf, 0, sizeof buf);
        memcpy(buf, name, nlen);
        shmq__topic_words_put(grp->name, buf, SHMQ__GROUP_NAME_WORDS * 8);
        memset(buf, 0, sizeof buf);
        memcpy(buf, s->pattern.text, s->pattern.len);
        shmq__topic_words_put(grp->pattern, buf, SHMQ__GROUP_PATTERN_WORDS * 8);
        atomic_store_explicit(&grp->name_len, (uint32_t)nlen, memory_order_relaxed);
        atomic_store_explicit(&grp->pattern_len, s->pattern.len, memory_order_relaxed);
        atomic_store_explicit(&grp->flags, flags, memory_order_relaxed);
        atomic_store_explicit(&grp->created_ns, shmq__now_real(), memory_order_relaxed);
        atomic_store_explicit(&grp->detached_ns, 0, memory_order_relaxed);
        atomic_store_explicit(&grp->delivered, 0, memory_order_relaxed);
        atomic_store_explicit(&grp->skipped, 0, memory_order_relaxed);
        atomic_store_explicit(&grp->lost, 0, memory_order_relaxed);
        uint64_t c1 = atomic_load_explicit(&t->hdr->tail, memory_order_relaxed);
        atomic_store_explicit(&grp->cursor, c1, memory_order_relaxed);
        atomic_store_explicit(&m->word, shmq__member_word(pid, g + 1, SHMQ__MEMBER_JOINING),
                              memory_order_relaxed);
        /* S7: our name is stored before we read theirs, and theirs before they read ours. */
        atomic_thread_fence(memory_order_seq_cst);
        if (!(flags & SHMQ_GROUP_PRIVATE) && group_duplicate(t, g, name)) {
            atomic_store_explicit(&m->word, shmq__member_word(pid, 0, SHMQ__MEMBER_JOINING),
                                  memory_order_relaxed);
            /* Release: the entry is free again (nobody joined it: it was never ACTIVE). */
            atomic_store_explicit(&grp->word, shmq__group_word(0, gen, SHMQ__GROUP_FREE),
                                  memory_order_release);
            return -EAGAIN;
        }
        /* R6: identity before ACTIVE. Pairs with A6 in shmq__topic_group_find and the other
         * readers. */
        atomic_store_explicit(&grp->word, shmq__group_word(0, gen + 1, SHMQ__GROUP_ACTIVE),
                              memory_order_seq_cst);
        uint64_t c2 = atomic_load_explicit(&t->hdr->tail, memory_order_seq_cst);
        if (shmq__topic_seq_after(c2, c1))
            atomic_compare_exchange_strong_explicit(&grp->cursor, &c1, c2, memory_order_release,
                                                    memory_order_relaxed);
        s->group = g;
        s->flags = flags;
        return 0;
    }
    return -EUSERS;
}

/* Does group g hold BLOCK publishers back? has: groups with a member (shmq__topic_members_scan). */
bool shmq__topic_group_gates(shmq_topic_t *t, uint32_t g, const uint64_t *has, int64_t *now)
{
    if (shmq__topic_has_bit(has, g))
        return true;
    struct shmq__topic_group *grp = &t->groups[g];
    if (!(atomic_load_explicit(&grp->flags, memory_order_relaxed) & SHMQ_SUB_DURABLE))
        return false; /* ephemeral without members: being removed */
    if (t->geo.group_timeout_ns == SHMQ_FOREVER)
        return true;
    int64_t since = atomic_load_explicit(&grp->detached_ns, memory_order_relaxed);
    if (since == 0)
        return true; /* its last member is just leaving (or the reaper has yet to date it) */
    if (*now == 0)
        *now = shmq__now_mono();
    /* `since` comes from the segment: any value, so compare without signed overflow. A time
     * in the future has not timed out yet. */
    if (since > *now)
        return true;
    return (uint64_t)*now - (uint64_t)since < (uint64_t)t->geo.group_timeout_ns;
}
