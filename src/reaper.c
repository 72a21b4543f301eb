/*
 * The reaper: gives back everything that participants whose process died were holding.
 *
 * Nothing in shmq is locked, so a dead process can hold nothing but slot indices:
 *   1. a slot it had claimed (READING, owner = it)    -> ready again, or dead-lettered;
 *   2. a slot it had reserved (WRITING, owner = it)   -> free again;
 *   3. an orphan: an index in no ring and owned by no one (state FREE or READY), because it
 *      died between taking the index from a ring and recording the slot's new state, or
 *      between recording a state and putting the index into a ring;
 *   4. a stranded SCQ entry: it died between its fetch-and-add on a ring's head and taking
 *      the entry, so the entry keeps an index that every later consumer passes by.
 * 1 and 2 are found by the owner field of the state word and need no care: the owner is dead.
 * 3 and 4 look exactly like an index some live participant is carrying from one ring to the
 * next, and are told apart by scans separated by grace periods.
 *
 * Why three scans (A, B, C) and two grace periods, not two scans and one. Every step of a
 * live participant that moves an index is one of
 *     take: ring.dequeue(i), then state(i) := next      (op counter odd in between)
 *     put:  state(i) := next, then ring.enqueue(i)      (op counter odd in between)
 * and every state store bumps the generation, so a state word is never seen twice across a
 * store. A grace period waits until every live participant that was inside a step has left
 * it. Claim: if i is absent from every ring at A, B and C with the same FREE/READY state
 * word, no live participant holds it. Suppose a live P holds i at C. P's take of i stored a
 * new state; that store is not inside [A, C] (the word did not change), so either it came
 * before A — then the state P stored names P as owner, which a FREE/READY word does not, or P
 * has already put i back, whose store again falls before A, so that put was in progress at A,
 * ended in grace 1, and i was in a ring before B; being absent at B, a take was in progress at
 * B that ends in grace 2 with a store before C: contradiction — or P's take has not finished
 * by C: its dequeue then happened after B (a take in progress at B ends before C), so i was in
 * a ring after B, put there by a put whose store predates A (word unchanged), which was in
 * progress at A and ended before B: i was in a ring before B and out of it at B again — the
 * same contradiction. With only A and B, the put-in-progress-at-A case is a false positive:
 * the put completes, a new take removes i just before B, and i looks orphaned at B.
 * For stranded entries one grace period suffices (the fetch-and-add that passed the entry
 * happened before A, so a live owner of it finishes in grace 1), and A, B, C cover it too.
 * A ring snapshot is taken entry by entry while others work; an index can only leave or join
 * a ring by a take or a put, which changes its state word, so a snapshot that misses an index
 * that is really there is harmless. (A Treiber stack walk could miss one without that, so the
 * stack walk is retried until the head's tag shows nothing moved during it.)
 *
 * The grace period costs the fast path two plain stores per step (the op counter): the
 * reaper issues membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED) so that the counters and ring
 * effects of every running participant are visible to it before it reads them.
 *
 * One reaper at a time, by a lease word in the header (pid and time; a lease whose holder is
 * dead or that is older than LEASE_SECONDS may be taken over). A reaper that dies half-way
 * leaves work that the next one redoes: every restoring step is a CAS from the observed word.
 */
#include <linux/membarrier.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "core.h"
#include "deadletter.h"
#include "participant.h"
#include "pool.h"
#include "reaper.h"
#include "scq.h"
#include "slot.h"
#include "stack.h"

#define LEASE_SECONDS 30
#define GRACE_TIMEOUT_NS (2 * 1000000000LL)
#define BEHIND_MAX 1024 /* stranded entries considered per ring and scan */

/* ---- the lease ---- */

static uint64_t lease_word(void)
{
    return ((uint64_t)(uint32_t)getpid() << 32) | (uint32_t)(shmq__now_mono() / 1000000000LL);
}

static bool lease_take(struct shmq__header *h, int64_t wait_ns)
{
    int64_t give_up = shmq__now_mono() + wait_ns;
    uint64_t cur = atomic_load_explicit(&h->reaper_lease, memory_order_relaxed);
    for (;;) {
        if (cur != 0) {
            int32_t pid = (int32_t)(cur >> 32);
            uint32_t since = (uint32_t)cur;
            uint32_t now = (uint32_t)(shmq__now_mono() / 1000000000LL);
            bool holder_gone = kill(pid, 0) != 0 && errno == ESRCH;
            if (!holder_gone && now - since < LEASE_SECONDS) {
                if (shmq__now_mono() > give_up)
                    return false;
                nanosleep(&(struct timespec){.tv_nsec = 1000000}, NULL);
                cur = atomic_load_explicit(&h->reaper_lease, memory_order_relaxed);
                continue;
            }
        }
        /* A9: pairs with R9 in lease_drop; the previous reaper's restorations are visible. */
        if (atomic_compare_exchange_weak_explicit(&h->reaper_lease, &cur, lease_word(),
                                                  memory_order_acquire, memory_order_relaxed))
            return true;
    }
}

static void lease_drop(struct shmq__header *h)
{
    /* R9: the reaper's work is done before the lease is free. Pairs with A9 in lease_take. */
    atomic_store_explicit(&h->reaper_lease, 0, memory_order_release);
}

/* ---- who is dead ---- */

/* Marks dead[i] for LIVE entries whose process is gone (words[i]: the word seen) and frees
 * OPENING entries whose opener died; returns how many are dead. */
static uint32_t find_dead(struct shmq__mapping *m, const shmq_t *self, uint8_t *dead,
                          uint64_t *words)
{
    uint32_t count = 0;
    for (uint32_t i = 0; i < m->geo.max_participants; i++) {
        struct shmq__participant *p = &m->parts[i];
        /* A7: pairs with R7 in shmq__participant_init: the identity is complete. */
        uint64_t w = atomic_load_explicit(&p->word, memory_order_acquire);
        uint32_t state = shmq__part_state(w);
        if (state == SHMQ__PART_FREE || (self && i == self->self_index))
            continue;
        int32_t pid = shmq__part_pid(w);
        /* An opener that died in OPENING may have been adopting the entry of a dead
         * participant, whose slots it then held: it is treated as dead like a LIVE one. */
        bool gone = state == SHMQ__PART_OPENING ? pid <= 0 || (kill(pid, 0) != 0 && errno == ESRCH)
                                                : !shmq__pid_alive(pid, p->start_time);
        if (gone) {
            dead[i] = 1;
            words[i] = w;
            count++;
        }
    }
    return count;
}

int shmq__reap_check(struct shmq__mapping *m)
{
    for (uint32_t i = 0; i < m->geo.max_participants; i++)
        /* A7: pairs with R7 in shmq__participant_init; participant_alive reads the identity. */
        if (shmq__part_state(atomic_load_explicit(&m->parts[i].word, memory_order_acquire)) ==
                SHMQ__PART_LIVE &&
            !shmq__participant_alive(&m->parts[i]))
            return 1;
    return atomic_load_explicit(&m->hdr->orphans_pending, memory_order_relaxed) != 0;
}

/* ---- claims and reservations of the dead ---- */

static void return_held(shmq_t *q, const uint8_t *dead, struct shmq_repair_report *r)
{
    struct shmq__mapping *m = q->map;
    for (uint32_t i = 0; i < m->geo.capacity; i++) {
        struct shmq__slot *slot = shmq__slot_at(m, i);
        /* A4 (slot.h): pairs with R4 of whoever stored this state. */
        uint64_t s = atomic_load_explicit(&slot->state, memory_order_acquire);
        uint32_t owner = shmq__state_owner(s), kind = shmq__state_kind(s);
        if (owner == 0 || owner > m->geo.max_participants || !dead[owner - 1])
            continue;
        if (kind == SHMQ__SLOT_READING) {
            /* Take it over as ours, then requeue or dead-letter it. */
            uint64_t mine = shmq__state_next(s, q->self_index + 1, SHMQ__SLOT_READING);
            /* R4/A4 (slot.h): the new state is published, and the state it replaces received. */
            if (!atomic_compare_exchange_strong_explicit(
                    &slot->state, &s, mine, memory_order_acq_rel, memory_order_relaxed))
                continue;
            uint32_t deliveries = atomic_load_explicit(&slot->hdr.deliveries, memory_order_relaxed);
            /* Spent: dead-lettered now when this handle has the dead-letter queue open (or
             * the queue has none: dropped); else requeued, and the next claim dead-letters it
             * (a claim checks the limit), so the reaper never opens a queue. */
            if (m->geo.max_deliveries && deliveries >= m->geo.max_deliveries &&
                (q->dead_letter_q || !m->dead_letter[0])) {
                struct shmq_msg held;
                shmq__mpmc_adopt(q, i, mine, &held);
                shmq__dead_letter(q, q->dead_letter_q, &held, false);
                r->dead_lettered++;
            } else {
                /* Counted as a nack: taken, given back (keeps depth and in-flight exact). */
                shmq__count(&q->self->counters.nacked, 1);
                shmq__pool_requeue(q, i, slot, mine);
            }
            r->claims_returned++;
        } else if (kind == SHMQ__SLOT_WRITING) {
            uint64_t mine = shmq__state_next(s, q->self_index + 1, SHMQ__SLOT_WRITING);
            /* R4/A4 (slot.h): the new state is published, and the state it replaces received. */
            if (!atomic_compare_exchange_strong_explicit(
                    &slot->state, &s, mine, memory_order_acq_rel, memory_order_relaxed))
                continue;
            shmq__pool_free(q, i, slot, mine);
            r->reservations_freed++;
        }
    }
}

/* ---- grace periods ---- */

static void global_barrier(void)
{
    if (syscall(SYS_membarrier, MEMBARRIER_CMD_GLOBAL_EXPEDITED, 0, 0) != 0) {
        /* No membarrier: the participants' plain stores still reach us, just without a
         * bound; a short sleep stands in for it. */
        atomic_thread_fence(memory_order_seq_cst);
        nanosleep(&(struct timespec){.tv_nsec = 2000000}, NULL);
    }
}

/* Wait until every live participant that is inside a ring step has left it. Who is live is
 * decided here, not taken from the reap's list of the dead: the entries of the dead are
 * freed before the orphan scan, and a newcomer may already be working in one of them. */
static int grace_period(shmq_t *q)
{
    struct shmq__mapping *m = q->map;
    uint32_t n = m->geo.max_participants;
    uint64_t *seen = calloc(n, sizeof *seen);
    if (!seen)
        return -ENOMEM;
    global_barrier();
    for (uint32_t i = 0; i < n; i++)
        /* Relaxed: ordered by the barrier above. */
        seen[i] = atomic_load_explicit(&m->parts[i].op, memory_order_relaxed);
    int64_t give_up = shmq__now_mono() + GRACE_TIMEOUT_NS;
    int err = 0;
    for (uint32_t i = 0; i < n && !err; i++) {
        if (i == q->self_index || !(seen[i] & 1))
            continue;
        while (atomic_load_explicit(&m->parts[i].op, memory_order_relaxed) == seen[i]) {
            /* A7: pairs with R7 in shmq__participant_init. */
            uint64_t w = atomic_load_explicit(&m->parts[i].word, memory_order_acquire);
            if (shmq__part_state(w) == SHMQ__PART_FREE || !shmq__participant_alive(&m->parts[i]))
                break; /* gone (or died inside the step: its effects are what they are) */
            if (shmq__now_mono() > give_up) {
                err = -EBUSY; /* stalled (stopped, or preempted for long): try later */
                break;
            }
            nanosleep(&(struct timespec){.tv_nsec = 20000}, NULL);
        }
    }
    global_barrier(); /* the steps' effects are visible before we scan again */
    free(seen);
    return err;
}

/* ---- orphans and stranded entries ---- */

enum { RING_FREE, RING_READY, RING_DELAYED, RING_RETURNED, RINGS };

struct scan {
    uint8_t *present;
    uint64_t *state;    /* per slot: its word at scan A */
    uint8_t *candidate; /* per slot: orphan so far */
    struct shmq__scq_entry_ref behind[RINGS][BEHIND_MAX];
    uint32_t nbehind[RINGS];
    uint8_t keep[RINGS][BEHIND_MAX]; /* stranded candidate still standing */
};

static struct shmq__scq *ring_of(const struct shmq__mapping *m, int ring)
{
    switch (ring) {
    case RING_FREE:
        return m->free_ring;
    case RING_READY:
        return m->ready_ring;
    case RING_DELAYED:
        return m->delayed_ring;
    default:
        return m->returned_ring; /* an orphan of it is restored to the ready ring */
    }
}

/* One snapshot of which indices are in a ring, and of the entries behind each head. */
static int snapshot(shmq_t *q, struct scan *sc,
                    struct shmq__scq_entry_ref behind[RINGS][BEHIND_MAX], uint32_t *nbehind)
{
    struct shmq__mapping *m = q->map;
    memset(sc->present, 0, m->geo.capacity);
    for (int r = 0; r < RINGS; r++) {
        nbehind[r] = 0;
        struct shmq__scq *ring = ring_of(m, r);
        if (ring)
            shmq__scq_snapshot(ring, m->geo.ring_order, m->geo.capacity, sc->present, behind[r],
                               &nbehind[r], BEHIND_MAX);
    }
    int err = 0;
    if (m->free_stack && (err = shmq__stack_snapshot(&m->links, m->free_stack, sc->present)) != 0)
        return err;
    if (m->ready_stack && (err = shmq__stack_snapshot(&m->links, m->ready_stack, sc->present)) != 0)
        return err;
    return 0;
}

static bool ownerless(uint64_t s)
{
    uint32_t kind = shmq__state_kind(s);
    return shmq__state_owner(s) == 0 && (kind == SHMQ__SLOT_FREE || kind == SHMQ__SLOT_READY);
}

/* Narrow the candidates with one more scan: an orphan stays absent with the same word, a
 * stranded entry keeps the same value. */
static int rescan(shmq_t *q, struct scan *sc)
{
    struct shmq__scq_entry_ref now[RINGS][BEHIND_MAX];
    uint32_t nnow[RINGS];
    int err = snapshot(q, sc, now, nnow);
    if (err)
        return err;
    struct shmq__mapping *m = q->map;
    /* A4 (slot.h): pairs with R4 of whoever stored this state. */
    for (uint32_t i = 0; i < m->geo.capacity; i++)
        if (sc->candidate[i] &&
            (sc->present[i] || atomic_load_explicit(&shmq__slot_at(m, i)->state,
                                                    memory_order_acquire) != sc->state[i]))
            sc->candidate[i] = 0;
    for (int r = 0; r < RINGS; r++)
        for (uint32_t k = 0; k < sc->nbehind[r]; k++) {
            bool still = false;
            for (uint32_t j = 0; j < nnow[r] && !still; j++)
                still = now[r][j].entry == sc->behind[r][k].entry &&
                        now[r][j].value == sc->behind[r][k].value;
            sc->keep[r][k] &= still;
        }
    return 0;
}

/* Put a recovered index back where its state says it belongs. */
static void restore(shmq_t *q, uint32_t index, uint64_t s)
{
    struct shmq__slot *slot = shmq__slot_at(q->map, index);
    uint32_t kind = shmq__state_kind(s);
    /* Hold it as ours for the move, so that nothing can mistake it for an orphan again. */
    uint32_t hold_kind = kind == SHMQ__SLOT_READY ? SHMQ__SLOT_READING : SHMQ__SLOT_WRITING;
    uint64_t mine = shmq__state_next(s, q->self_index + 1, hold_kind);
    /* R4/A4 (slot.h): the new state is published, and the state it replaces received. */
    if (!atomic_compare_exchange_strong_explicit(&slot->state, &s, mine, memory_order_acq_rel,
                                                 memory_order_relaxed))
        return;
    if (kind == SHMQ__SLOT_READY)
        shmq__pool_requeue(q, index, slot, mine);
    else
        shmq__pool_free(q, index, slot, mine);
}

static int recover_orphans(shmq_t *q, struct shmq_repair_report *r)
{
    struct shmq__mapping *m = q->map;
    uint32_t cap = m->geo.capacity;
    struct scan *sc = calloc(1, sizeof *sc);
    if (!sc)
        return -ENOMEM;
    sc->present = calloc(cap, 1);
    sc->state = calloc(cap, sizeof *sc->state);
    sc->candidate = calloc(cap, 1);
    int err = -ENOMEM;
    if (!sc->present || !sc->state || !sc->candidate)
        goto out;

    /* Scan A. */
    if ((err = snapshot(q, sc, sc->behind, sc->nbehind)) != 0)
        goto out;
    bool any = false;
    for (uint32_t i = 0; i < cap; i++) {
        /* A4 (slot.h): pairs with R4 of whoever stored this state. */
        uint64_t s = atomic_load_explicit(&shmq__slot_at(m, i)->state, memory_order_acquire);
        if (!sc->present[i] && ownerless(s)) {
            sc->candidate[i] = 1;
            sc->state[i] = s;
            any = true;
        }
    }
    for (int k = 0; k < RINGS; k++) {
        memset(sc->keep[k], 1, sc->nbehind[k]);
        any |= sc->nbehind[k] > 0;
    }
    if (!any) {
        err = 0;
        goto out;
    }
    /* Scans B and C, each after a grace period. */
    if ((err = grace_period(q)) || (err = rescan(q, sc)) || (err = grace_period(q)) ||
        (err = rescan(q, sc)))
        goto out;

    shmq__op_begin(q);
    for (int k = 0; k < RINGS; k++)
        for (uint32_t j = 0; j < sc->nbehind[k]; j++) {
            if (!sc->keep[k][j])
                continue;
            uint32_t index =
                shmq__scq_take_entry(ring_of(m, k), sc->behind[k][j].entry, sc->behind[k][j].value);
            if (index >= cap)
                continue;
            /* A4 (slot.h): pairs with R4 of whoever stored this state. */
            uint64_t s =
                atomic_load_explicit(&shmq__slot_at(m, index)->state, memory_order_acquire);
            if (ownerless(s)) {
                restore(q, index, s);
                r->orphans_restored++;
            }
        }
    shmq__op_end(q);
    for (uint32_t i = 0; i < cap; i++)
        if (sc->candidate[i]) {
            restore(q, i, sc->state[i]);
            r->orphans_restored++;
        }
    err = 0;
out:
    free(sc->present);
    free(sc->state);
    free(sc->candidate);
    free(sc);
    return err;
}

/* ---- the whole pass ---- */

int shmq__reap(shmq_t *q, struct shmq_repair_report *report)
{
    struct shmq_repair_report local;
    struct shmq_repair_report *r = report ? report : &local;
    memset(r, 0, sizeof *r);
    if (!q->self)
        return -EPERM;
    struct shmq__mapping *m = q->map;
    if (!lease_take(m->hdr, 0))
        return -EBUSY;
    uint8_t *dead = calloc(m->geo.max_participants, 1);
    uint64_t *words = calloc(m->geo.max_participants, sizeof *words);
    if (!dead || !words) {
        free(dead);
        free(words);
        lease_drop(m->hdr);
        return -ENOMEM;
    }
    r->dead_participants = find_dead(m, q, dead, words);
    bool spsc = m->spsc != NULL;
    if (r->dead_participants && !spsc) {
        /* Their claims and reservations first, while their owner fields still name them. */
        return_held(q, dead, r);
        atomic_store_explicit(&m->hdr->orphans_pending, 1, memory_order_relaxed);
    }
    for (uint32_t i = 0; i < m->geo.max_participants; i++)
        if (dead[i])
            shmq__participant_retire(m, i, words[i]);
    int err = 0;
    if (!spsc && atomic_load_explicit(&m->hdr->orphans_pending, memory_order_relaxed)) {
        err = recover_orphans(q, r);
        if (err == -EBUSY) {
            r->busy = 1;
            err = 0;
        } else if (err == 0) {
            atomic_store_explicit(&m->hdr->orphans_pending, 0, memory_order_relaxed);
        }
    }
    uint64_t recovered = r->claims_returned + r->reservations_freed + r->orphans_restored;
    if (recovered)
        shmq__count(&q->self->counters.recovered, recovered);
    free(dead);
    free(words);
    lease_drop(m->hdr);
    return err;
}

int shmq__reap_adopt(shmq_t *q)
{
    struct shmq__mapping *m = q->map;
    uint32_t n = m->geo.max_participants;
    if (!lease_take(m->hdr, 2 * GRACE_TIMEOUT_NS))
        return -EUSERS;
    uint8_t *dead = calloc(n, 1);
    uint64_t *words = calloc(n, sizeof *words);
    int err = -ENOMEM;
    if (!dead || !words)
        goto out;
    err = -EUSERS;
    if (find_dead(m, NULL, dead, words) == 0)
        goto out;
    /* Take the first dead entry whose word is still the dead owner's. */
    for (uint32_t i = 0; i < n; i++) {
        if (!dead[i])
            continue;
        uint64_t w = words[i];
        if (!atomic_compare_exchange_strong_explicit(
                /* A10: the dead owner's entry becomes ours (as join's A10 takes a free one). */
                &m->parts[i].word, &w, shmq__part_word((int32_t)getpid(), SHMQ__PART_OPENING),
                memory_order_acquire, memory_order_relaxed))
            continue;
        shmq__participant_fold(m, i);
        q->self_index = i;
        q->self = &m->parts[i];
        err = 0;
        break;
    }
    if (err)
        goto out;
    /* What every dead participant held goes back; we hold the slots as index self_index,
     * which is one of the dead, so its slots are processed like the others. */
    struct shmq_repair_report r = {0};
    if (!m->spsc) {
        return_held(q, dead, &r);
        atomic_store_explicit(&m->hdr->orphans_pending, 1, memory_order_relaxed);
    }
    for (uint32_t i = 0; i < n; i++)
        if (dead[i] && i != q->self_index)
            shmq__participant_retire(m, i, words[i]);
    shmq__participant_init(m, q->self_index);
    uint64_t recovered = r.claims_returned + r.reservations_freed;
    if (recovered)
        shmq__count(&q->self->counters.recovered, recovered);
out:
    free(dead);
    free(words);
    lease_drop(m->hdr);
    return err;
}

static void report_add(struct shmq_repair_report *to, const struct shmq_repair_report *r)
{
    to->dead_participants += r->dead_participants;
    to->claims_returned += r->claims_returned;
    to->reservations_freed += r->reservations_freed;
    to->orphans_restored += r->orphans_restored;
    to->dead_lettered += r->dead_lettered;
    to->busy = r->busy;
}

void shmq__reap_quietly(shmq_t *q)
{
    struct shmq_repair_report r;
    if (shmq__reap(q, &r) == 0)
        report_add(&q->unreported, &r);
}

int shmq_repair(shmq_t *q, struct shmq_repair_report *report)
{
    if (!q)
        return -EINVAL;
    struct shmq_repair_report r;
    int err = shmq__reap(q, &r);
    if (err)
        return err;
    /* What this handle's own open (or a wait or stat) already gave back counts too. */
    report_add(&q->unreported, &r);
    q->unreported.busy = r.busy;
    if (report)
        *report = q->unreported;
    memset(&q->unreported, 0, sizeof q->unreported);
    return 0;
}
