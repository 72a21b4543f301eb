/*
 * Inspecting a topic: group listings, statistics, deleting a group by name, and the invariant
 * check (T1..T8 in topic.h). Calls shmq__topic_reap.c, topic_group.c and topic_segment.c below it.
 */
#include <stdio.h>
#include <string.h>

#include "topic_internal.h"

/* ---- statistics ------------------------------------------------------------------------------ */

/* Fill out with group g's view; false when the entry is not (or no longer) a group. */
static bool group_info(shmq_topic_t *t, uint32_t g, const uint64_t *has, int64_t *now,
                       struct shmq_group_info *out)
{
    struct shmq__topic_group *grp = &t->groups[g];
    for (int attempt = 0; attempt < 4; attempt++) {
        uint64_t w = atomic_load_explicit(&grp->word, memory_order_acquire); /* A6 */
        if (!shmq__group_in_use(w))
            return false;
        memset(out, 0, sizeof *out);
        uint32_t flags;
        char name[SHMQ__GROUP_NAME_WORDS * 8], pattern[SHMQ__GROUP_PATTERN_WORDS * 8];
        if (!shmq__topic_group_identity(t, g, w, name, pattern, &flags))
            continue;
        memcpy(out->name, name, sizeof out->name);
        out->name[SHMQ_GROUP_NAME_MAX] = 0;
        memcpy(out->pattern, pattern, sizeof out->pattern);
        out->flags = flags & (SHMQ_SUB_DURABLE | SHMQ_GROUP_PRIVATE);
        out->created_ns = atomic_load_explicit(&grp->created_ns, memory_order_relaxed);
        out->delivered = atomic_load_explicit(&grp->delivered, memory_order_relaxed);
        out->skipped = atomic_load_explicit(&grp->skipped, memory_order_relaxed);
        out->lost = atomic_load_explicit(&grp->lost, memory_order_relaxed);
        for (uint32_t i = 0; i < t->geo.max_members; i++) {
            struct shmq__topic_member *m = &t->members[i];
            /* A6 (topic_internal.h): pairs with R6, the entry made LIVE/ACTIVE with its identity.
             */
            uint64_t mw = atomic_load_explicit(&m->word, memory_order_acquire);
            uint32_t st = shmq__member_state(mw);
            if ((st != SHMQ__MEMBER_JOINING && st != SHMQ__MEMBER_LIVE) ||
                shmq__member_group1(mw) != g + 1)
                continue;
            out->members++;
            out->delivered += atomic_load_explicit(&m->delivered, memory_order_relaxed);
            out->skipped += atomic_load_explicit(&m->skipped, memory_order_relaxed);
            out->lost += atomic_load_explicit(&m->lost, memory_order_relaxed);
        }
        /* A1 (topic_internal.h): pairs with R1, the claims on tail. */
        uint64_t tl = atomic_load_explicit(&t->hdr->tail, memory_order_acquire);
        out->cursor = atomic_load_explicit(&grp->cursor, memory_order_relaxed);
        out->lag = shmq__topic_seq_after(tl, out->cursor) ? tl - out->cursor : 0;
        out->gating = shmq__topic_is_block(t) && shmq__topic_group_gates(t, g, has, now);
        int64_t since = atomic_load_explicit(&grp->detached_ns, memory_order_relaxed);
        if (out->members == 0 && since != 0) {
            if (*now == 0)
                *now = shmq__now_mono();
            /* from the segment: any value; a time in the future is "just now" */
            out->idle_ns = since > *now ? 0 : (int64_t)((uint64_t)*now - (uint64_t)since);
        }
        return true;
    }
    return false;
}

int shmq_topic_groups(shmq_topic_t *t, struct shmq_group_info *out, unsigned max)
{
    if (!t || (max && !out))
        return -EINVAL;
    uint64_t has[SHMQ_GROUPS_MAX / 64];
    /* A6: pairs with R6, members made LIVE (and A7 for their holds where read). */
    shmq__topic_members_scan(t, has, memory_order_acquire);
    int64_t now = 0;
    unsigned n = 0;
    for (uint32_t g = 0; g < t->geo.max_groups; g++) {
        struct shmq_group_info info;
        if (!group_info(t, g, has, &now, &info))
            continue;
        if (n < max)
            out[n] = info;
        n++;
    }
    return (int)n;
}

int shmq_sub_stat(const shmq_sub_t *sub, struct shmq_group_info *out)
{
    if (!sub || !out)
        return -EINVAL;
    uint64_t has[SHMQ_GROUPS_MAX / 64];
    /* A6: pairs with R6, members made LIVE (and A7 for their holds where read). */
    shmq__topic_members_scan(sub->t, has, memory_order_acquire);
    int64_t now = 0;
    return group_info(sub->t, sub->group, has, &now, out) ? 0 : -EBADMSG;
}

int shmq_topic_group_delete(shmq_topic_t *t, const char *group)
{
    if (!t || !group || shmq__topic_group_name_check(group) != 0)
        return -EINVAL;
    if (!t->me)
        return -EPERM;
    shmq__topic_reap(t);
    uint32_t g;
    uint64_t w;
    int err = shmq__topic_group_find(t, group, &g, &w);
    if (err)
        return err;
    return shmq__topic_group_try_delete(t, g, w, true);
}

int shmq_topic_stat(shmq_topic_t *t, struct shmq_topic_stat *st)
{
    if (!t || !st)
        return -EINVAL;
    if (t->me)
        shmq__topic_reap(t);
    const struct shmq__topic_header *h = t->hdr;
    memset(st, 0, sizeof *st);
    st->policy = (enum shmq_topic_policy)t->geo.policy;
    st->capacity = t->geo.capacity;
    st->slot_size = t->geo.slot_size;
    st->mode = h->mode & 0777u;
    st->max_groups = t->geo.max_groups;
    st->max_members = t->geo.max_members;
    st->max_participants = t->geo.max_participants;
    st->creator_pid = h->creator_pid;
    st->created_ns = h->created_ns;
    st->group_timeout_ns = t->geo.group_timeout_ns;
    st->numa_requested = h->numa_node;
    st->owner_uid = t->owner_uid;
    st->segment_bytes = t->geo.segment_size;
    st->published = atomic_load_explicit(&t->hdr->tail, memory_order_relaxed);
    struct shmq__topic_counters *r = &t->hdr->retired;
    st->full = atomic_load_explicit(&r->full, memory_order_relaxed);
    st->waits = atomic_load_explicit(&r->waits, memory_order_relaxed);
    st->overtaken = atomic_load_explicit(&r->overtaken, memory_order_relaxed);
    st->holes = atomic_load_explicit(&r->holes, memory_order_relaxed);
    for (uint32_t i = 0; i < t->geo.max_participants; i++) {
        struct shmq__topic_part *p = &t->parts[i];
        uint64_t w = atomic_load_explicit(&p->word, memory_order_acquire); /* A6 */
        uint32_t s = shmq__part_state(w);
        if (s != SHMQ__PART_LIVE && s != SHMQ__PART_OPENING)
            continue;
        st->participants++;
        if (!shmq__topic_entry_alive(shmq__part_pid(w), s == SHMQ__PART_LIVE, &p->start_time))
            st->dead++;
        st->full += atomic_load_explicit(&p->counters.full, memory_order_relaxed);
        st->waits += atomic_load_explicit(&p->counters.waits, memory_order_relaxed);
        st->overtaken += atomic_load_explicit(&p->counters.overtaken, memory_order_relaxed);
        st->holes += atomic_load_explicit(&p->counters.holes, memory_order_relaxed);
    }
    for (uint32_t i = 0; i < t->geo.max_members; i++) {
        struct shmq__topic_member *m = &t->members[i];
        /* A6 (topic_internal.h): pairs with R6, the entry made LIVE/ACTIVE with its identity. */
        uint64_t w = atomic_load_explicit(&m->word, memory_order_acquire);
        uint32_t s = shmq__member_state(w);
        if (s != SHMQ__MEMBER_JOINING && s != SHMQ__MEMBER_LIVE)
            continue;
        st->members++;
        if (!shmq__topic_entry_alive(shmq__member_pid(w), s == SHMQ__MEMBER_LIVE, &m->start_time))
            st->dead++;
    }
    for (uint32_t g = 0; g < t->geo.max_groups; g++)
        if (shmq__group_in_use(atomic_load_explicit(&t->groups[g].word, memory_order_relaxed)))
            st->groups++;
    return 0;
}

/* ---- invariants ------------------------------------------------------------------------------ */

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            if (why && why_cap)                                                                    \
                snprintf(why, why_cap, __VA_ARGS__);                                               \
            return -EBADMSG;                                                                       \
        }                                                                                          \
    } while (0)

int shmq_topic_check(shmq_topic_t *t, char *why, size_t cap)
{
    return shmq__topic_check(t, SHMQ__CHECK_QUIESCENT, why, cap);
}

int shmq__topic_check(shmq_topic_t *t, uint32_t flags, char *why, size_t why_cap)
{
    if (!t)
        return -EINVAL;
    bool quiet = flags & SHMQ__CHECK_QUIESCENT;
    struct shmq__topic_geometry g;
    /* T1 */
    int err = shmq__topic_validate(t->base, t->size, &g);
    CHECK(err == 0, "T1: header does not validate (%d)", err);
    CHECK(memcmp(&g, &t->geo, sizeof g) == 0, "T1: geometry changed since open");
    const uint64_t cap = t->geo.capacity;
    /* A1 (topic_internal.h): pairs with R1, the claims on tail. */
    uint64_t tl = atomic_load_explicit(&t->hdr->tail, memory_order_acquire);
    /* T2, T3 */
    for (uint64_t i = 0; i < cap; i++) {
        struct shmq__topic_slot *slot =
            (struct shmq__topic_slot *)(t->slots + i * t->geo.slot_stride);
        uint64_t w = atomic_load_explicit(&slot->word, memory_order_acquire);
        if (w == 0)
            continue;
        uint64_t s = shmq__tslot_seq(w);
        uint32_t st = shmq__tslot_state(w);
        CHECK(shmq__topic_seq_after(tl, s), "T2: slot %llu holds sequence %llu, tail is %llu",
              (unsigned long long)i, (unsigned long long)s, (unsigned long long)tl);
        CHECK((s & (cap - 1)) == i, "T2: slot %llu holds sequence %llu", (unsigned long long)i,
              (unsigned long long)s);
        CHECK(st <= SHMQ__TSLOT_HOLE, "T2: slot %llu in state %u", (unsigned long long)i, st);
        CHECK(!quiet || st != SHMQ__TSLOT_WRITING, "T2: slot %llu still WRITING sequence %llu",
              (unsigned long long)i, (unsigned long long)s);
        if (st != SHMQ__TSLOT_PUB || !quiet)
            continue;
        size_t len = atomic_load_explicit(&slot->len, memory_order_relaxed);
        size_t sl = atomic_load_explicit(&slot->subject_len, memory_order_relaxed);
        unsigned fl = atomic_load_explicit(&slot->flags, memory_order_relaxed);
        size_t head = shmq__align8(sl + 1);
        CHECK(sl <= SHMQ_SUBJECT_MAX && (fl & ~SHMQ__TSLOT_META) == 0 &&
                  head + ((fl & SHMQ__TSLOT_META) ? shmq__align8(len) : len) <= t->geo.slot_size,
              "T3: slot %llu: subject %zu, payload %zu, flags %#x do not fit",
              (unsigned long long)i, sl, len, fl);
        char subj[SHMQ_SUBJECT_MAX + 1 + 8];
        shmq__topic_words_get(subj, slot->data, head);
        CHECK(subj[sl] == 0 && shmq__subject_check_len(subj, sl) == 0,
              "T3: slot %llu: invalid subject", (unsigned long long)i);
        if (fl & SHMQ__TSLOT_META) {
            unsigned char rec[SHMQ__TOPIC_META_MAX];
            struct shmq__meta mh;
            size_t so[3];
            CHECK(shmq__topic_meta_parse(slot, head + shmq__align8(len), t->geo.slot_size, rec, &mh,
                                         so) == 0,
                  "T3: slot %llu: metadata does not parse", (unsigned long long)i);
        }
    }
    /* T4, T5 */
    uint64_t has[SHMQ_GROUPS_MAX / 64];
    /* A6: pairs with R6, members made LIVE (and A7 for their holds where read). */
    shmq__topic_members_scan(t, has, memory_order_acquire);
    for (uint32_t i = 0; i < t->geo.max_groups; i++) {
        struct shmq__topic_group *grp = &t->groups[i];
        /* A6 (topic_internal.h): pairs with R6, the entry made LIVE/ACTIVE with its identity. */
        uint64_t w = atomic_load_explicit(&grp->word, memory_order_acquire);
        uint32_t st = shmq__group_state(w);
        if (st == SHMQ__GROUP_FREE)
            continue;
        CHECK(!quiet || st == SHMQ__GROUP_ACTIVE, "T4: group %u in state %u", i, st);
        if (!shmq__group_in_use(w))
            continue;
        char name[SHMQ__GROUP_NAME_WORDS * 8], pattern[SHMQ__GROUP_PATTERN_WORDS * 8];
        uint32_t fl;
        CHECK(shmq__topic_group_identity(t, i, w, name, pattern, &fl),
              "T4: group %u identity unreadable", i);
        CHECK((fl & ~(SHMQ_SUB_DURABLE | SHMQ_GROUP_PRIVATE)) == 0, "T4: group %u flags %#x", i,
              fl);
        CHECK((fl & SHMQ_GROUP_PRIVATE) ? name[0] == '~' : shmq__topic_group_name_check(name) == 0,
              "T4: group %u has an invalid name", i);
        CHECK(shmq_pattern_check(pattern) == 0, "T4: group %u has an invalid pattern", i);
        uint64_t c = atomic_load_explicit(&grp->cursor, memory_order_relaxed);
        CHECK(!shmq__topic_seq_after(c, tl), "T4: group %s cursor %llu beyond tail %llu", name,
              (unsigned long long)c, (unsigned long long)tl);
        CHECK(!quiet || (fl & SHMQ_SUB_DURABLE) || shmq__topic_has_bit(has, i),
              "T4: ephemeral group %s has no member", name);
        CHECK(!quiet || !shmq__topic_is_block(t) || !shmq__topic_has_bit(has, i) || tl - c <= cap,
              "T5: group %s is %llu behind in a ring of %llu", name, (unsigned long long)(tl - c),
              (unsigned long long)cap);
    }
    /* T6 */
    for (uint32_t i = 0; i < t->geo.max_members; i++) {
        /* A6 (topic_internal.h): pairs with R6, the entry made LIVE/ACTIVE with its identity. */
        uint64_t w = atomic_load_explicit(&t->members[i].word, memory_order_acquire);
        uint32_t st = shmq__member_state(w), g1 = shmq__member_group1(w);
        if (st != SHMQ__MEMBER_LIVE && !(st == SHMQ__MEMBER_JOINING && g1 != 0))
            continue;
        CHECK(g1 >= 1 && g1 <= t->geo.max_groups, "T6: member %u names group %u", i, g1);
        /* A6 (topic_internal.h): pairs with R6, the entry made LIVE/ACTIVE with its identity. */
        uint64_t gw = atomic_load_explicit(&t->groups[g1 - 1].word, memory_order_acquire);
        CHECK(quiet ? shmq__group_state(gw) == SHMQ__GROUP_ACTIVE
                    : shmq__group_state(gw) != SHMQ__GROUP_FREE || st == SHMQ__MEMBER_JOINING,
              "T6: member %u in group %u whose state is %u", i, g1 - 1, shmq__group_state(gw));
        /* T8 */
        uint64_t h = atomic_load_explicit(&t->members[i].hold, memory_order_relaxed);
        uint64_t c = atomic_load_explicit(&t->groups[g1 - 1].cursor, memory_order_relaxed);
        CHECK(h == 0 || (shmq__topic_is_block(t) && st == SHMQ__MEMBER_LIVE &&
                         !shmq__topic_seq_after(h, c)),
              "T8: member %u holds %llu, its group's cursor is %llu", i, (unsigned long long)h,
              (unsigned long long)c);
    }
    /* T7 */
    for (uint32_t i = 0; quiet && i < t->geo.max_participants; i++) {
        /* A6 (topic_internal.h): pairs with R6, the entry made LIVE/ACTIVE with its identity. */
        uint64_t w = atomic_load_explicit(&t->parts[i].word, memory_order_acquire);
        if (shmq__part_state(w) != SHMQ__PART_LIVE)
            continue;
        uint64_t ps = atomic_load_explicit(&t->parts[i].pub_seq, memory_order_relaxed);
        CHECK(ps == 0, "T7: participant %u inside a publish (pub_seq %llu)", i,
              (unsigned long long)ps);
    }
    return 0;
}
