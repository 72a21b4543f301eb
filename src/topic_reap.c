/*
 * The topic reaper: gives back what handles and members whose process died were holding.
 * Calls topic_group.c and topic_segment.c below it; called by publish, read, stat and open.
 */
#include <unistd.h>

#include "topic_internal.h"

/*
 * The reaper's first step on a participant or member entry seen as word w: true when the
 * entry's owner is dead and we now hold it as `retiring` (we fold and free it then). A
 * RETIRING entry (retiring_seen) whose reaper died is freed as it is.
 */
static bool retire_dead(_Atomic uint64_t *word, uint64_t w, int32_t owner, bool retiring_seen,
                        bool live, _Atomic uint64_t *start_time, uint64_t retiring)
{
    if (retiring_seen) {
        if (!shmq__owner_alive(owner, 0))
            /* Release: pairs with the acquire CAS in shmq__entry_take. */
            atomic_compare_exchange_strong_explicit(word, &w, 0, memory_order_release,
                                                    memory_order_relaxed);
        return false;
    }
    if (shmq__topic_entry_alive(owner, live, start_time))
        return false;
    /* Acquire: pairs with the owner's R6 (and its later releases): its counters are seen
     * before we fold them. */
    return atomic_compare_exchange_strong_explicit(word, &w, retiring, memory_order_acquire,
                                                   memory_order_relaxed);
}

/*
 * Release handles and members whose process is gone, free groups whose creator died while
 * creating them, finish deletions whose deleter died, remove ephemeral groups left without
 * members and date durable ones. Every step is a CAS from the word that was seen, so reapers
 * may run at once; a dead entry is first marked RETIRING with our pid (so its counters are
 * folded once), and a RETIRING entry whose reaper died is freed as it is. Returns how many
 * handles and members were released.
 */
int shmq__topic_reap(shmq_topic_t *t)
{
    if (!t->writable)
        return 0;
    int32_t pid = (int32_t)getpid();
    int released = 0;
    t->last_reap_ns = shmq__now_mono();
    for (uint32_t i = 0; i < t->geo.max_participants; i++) {
        struct shmq__topic_part *p = &t->parts[i];
        uint64_t w = atomic_load_explicit(&p->word, memory_order_acquire); /* A6 */
        uint32_t st = shmq__part_state(w);
        if (w == 0 || i == t->self ||
            !retire_dead(&p->word, w, shmq__part_pid(w), st == SHMQ__TPART_RETIRING,
                         st == SHMQ__PART_LIVE, &p->start_time,
                         shmq__part_word(pid, SHMQ__TPART_RETIRING)))
            continue;
        shmq__topic_counters_fold(&t->hdr->retired, &p->counters);
        atomic_store_explicit(&p->pub_seq, 0, memory_order_relaxed);
        /* Release: pairs with the acquire CAS in shmq__entry_take. */
        atomic_store_explicit(&p->word, 0, memory_order_release);
        released++;
    }
    for (uint32_t i = 0; i < t->geo.max_members; i++) {
        struct shmq__topic_member *m = &t->members[i];
        uint64_t w = atomic_load_explicit(&m->word, memory_order_acquire); /* A6 */
        uint32_t st = shmq__member_state(w), g1 = shmq__member_group1(w);
        if (w == 0 || !retire_dead(&m->word, w, shmq__member_pid(w), st == SHMQ__MEMBER_RETIRING,
                                   st == SHMQ__MEMBER_LIVE, &m->start_time,
                                   shmq__member_word(pid, g1, SHMQ__MEMBER_RETIRING)))
            continue;
        shmq__topic_member_fold(t, m, g1);
        /* Release: pairs with the acquire CAS in shmq__entry_take. */
        atomic_store_explicit(&m->word, 0, memory_order_release);
        released++;
    }
    uint64_t has[SHMQ_GROUPS_MAX / 64];
    shmq__topic_members_scan(t, has, memory_order_acquire);
    for (uint32_t g = 0; g < t->geo.max_groups; g++) {
        struct shmq__topic_group *grp = &t->groups[g];
        /* A6 (topic_internal.h): pairs with R6, the entry made LIVE/ACTIVE with its identity. */
        uint64_t w = atomic_load_explicit(&grp->word, memory_order_acquire);
        switch (shmq__group_state(w)) {
        case SHMQ__GROUP_CREATING:
            /* Release: the half-made group is free again; pairs with the seq_cst CAS that takes
             * a free group in shmq__topic_group_create (topic_group.c). */
            if (!shmq__owner_alive(shmq__group_pid(w), 0))
                atomic_compare_exchange_strong_explicit(
                    &grp->word, &w, shmq__group_word(0, shmq__group_gen(w), SHMQ__GROUP_FREE),
                    memory_order_release, memory_order_relaxed);
            break;
        case SHMQ__GROUP_DELETING:
            shmq__topic_group_resolve(t, g, w);
            break;
        case SHMQ__GROUP_ACTIVE:
            if (shmq__topic_has_bit(has, g))
                break;
            if (atomic_load_explicit(&grp->flags, memory_order_relaxed) & SHMQ_SUB_DURABLE) {
                int64_t zero = 0;
                atomic_compare_exchange_strong_explicit(&grp->detached_ns, &zero, shmq__now_mono(),
                                                        memory_order_relaxed, memory_order_relaxed);
            } else {
                shmq__topic_group_try_delete(t, g, w, false);
            }
            break;
        default:
            break;
        }
    }
    if (released && shmq__topic_is_block(t))
        shmq__wait_notify(&t->waits->not_full);
    return released;
}

int shmq_topic_repair(shmq_topic_t *t)
{
    if (!t)
        return -EINVAL;
    if (!t->me)
        return -EPERM;
    return shmq__topic_reap(t);
}
