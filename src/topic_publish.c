/*
 * Publishing to a topic (steps 1-5 in topic_internal.h): the BLOCK gate, the claim of a
 * sequence, taking the slot, writing and publishing it. Calls shmq__topic_reap.c, topic_group.c and
 * topic_segment.c below it.
 */
#include <sched.h>
#include <string.h>

#include "block.h"
#include "topic_internal.h"

#define WRITER_SPINS 1024 /* a publisher spins this long on an older writer */

/* Look up the slowest gating cursor again (BLOCK): t->gate := min(tail, gating cursors). */
static void gate_refresh(shmq_topic_t *t)
{
    uint64_t has[SHMQ_GROUPS_MAX / 64];
    uint64_t tl = atomic_load_explicit(&t->hdr->tail, memory_order_relaxed);
    /* A6: pairs with R6, members made LIVE with their group. */
    shmq__topic_members_scan(t, has, memory_order_acquire);
    uint64_t gate = tl;
    int64_t now = 0;
    for (uint32_t g = 0; g < t->geo.max_groups; g++) {
        struct shmq__topic_group *grp = &t->groups[g];
        uint64_t w = atomic_load_explicit(&grp->word, memory_order_acquire); /* A6 */
        if (!shmq__group_in_use(w) || !shmq__topic_group_gates(t, g, has, &now))
            continue;
        /* A5: pairs with R5 in the members' cursor CAS: their reads of the slots below the
         * cursor are over before we write them again. */
        uint64_t c = atomic_load_explicit(&grp->cursor, memory_order_acquire);
        if (shmq__topic_seq_after(c, tl))
            c = tl; /* moved on after our look at tail (or scribbled: never above it) */
        if (shmq__topic_seq_after(gate, c))
            gate = c;
    }
    /* Views held by members (BLOCK): after the cursors, so that a member that moved its
     * cursor past the message it holds is seen holding it (its hold was stored before that
     * move, whose release our acquire load of the cursor has seen). */
    for (uint32_t i = 0; i < t->geo.max_members; i++) {
        struct shmq__topic_member *m = &t->members[i];
        if (shmq__member_state(atomic_load_explicit(&m->word, memory_order_relaxed)) !=
            SHMQ__MEMBER_LIVE)
            continue;
        /* A7: pairs with R7 in hold_release: the holder's reads of the slot are over. */
        uint64_t h = atomic_load_explicit(&m->hold, memory_order_acquire);
        if (h != 0 && !shmq__topic_seq_after(h - 1, tl) && shmq__topic_seq_after(gate, h - 1))
            gate = h - 1;
    }
    t->gate = gate;
}

/* One non-waiting BLOCK claim: 0 with *s, or -EAGAIN when the ring is full for a gating
 * group. pub_seq is CLAIMING while we may take a sequence, 0 when we give up. */
static int claim_try(shmq_topic_t *t, uint64_t *s)
{
    struct shmq__topic_part *me = t->me;
    const uint64_t cap = t->geo.capacity;
    atomic_store_explicit(&me->pub_seq, SHMQ__PUB_CLAIMING, memory_order_relaxed);
    uint64_t tl = atomic_load_explicit(&t->hdr->tail, memory_order_relaxed);
    for (;;) {
        if (!shmq__topic_seq_after(cap,
                                   tl - t->gate)) { /* tl - gate >= cap: full as far as we know */
            gate_refresh(t);
            tl = atomic_load_explicit(&t->hdr->tail, memory_order_relaxed);
            if (!shmq__topic_seq_after(cap, tl - t->gate)) {
                atomic_store_explicit(&me->pub_seq, 0, memory_order_relaxed);
                return -EAGAIN;
            }
        }
        /* R1: pub_seq = CLAIMING is visible to whoever sees this sequence handed out. */
        if (atomic_compare_exchange_weak_explicit(&t->hdr->tail, &tl, tl + 1, memory_order_release,
                                                  memory_order_relaxed)) {
            *s = tl;
            return 0;
        }
    }
}

struct claim_op {
    shmq_topic_t *t;
    uint64_t *s;
    int64_t next_duty; /* CLOCK_MONOTONIC: the next reap */
};

static int claim_attempt(void *ctx)
{
    struct claim_op *op = ctx;
    return claim_try(op->t, op->s);
}

/* A dead member is only released by a reaper, and a durable group's time runs out by the
 * clock, with nobody to wake us: reap once per slice. */
static void claim_idle(void *ctx)
{
    struct claim_op *op = ctx;
    if (shmq__topic_duty_due(&op->next_duty, NULL))
        shmq__topic_reap(op->t);
}

static int claim_block(shmq_topic_t *t, int64_t deadline, uint64_t *s)
{
    int r = claim_try(t, s);
    if (SHMQ__LIKELY(r != -EAGAIN))
        return r;
    shmq__count(&t->me->counters.full, 1);
    struct claim_op op = {.t = t, .s = s};
    if (deadline != 0)
        op.next_duty = shmq__now_mono() + SHMQ__TOPIC_SLICE_NS;
    const struct shmq__block b = {
        .ec = &t->waits->not_full,
        .attempt = claim_attempt,
        .slice_ns = shmq__topic_slice_ns,
        .idle = claim_idle,
        .woken = claim_idle, /* woken often, never timed out: the slice still ends */
        .sleeps = &t->me->counters.waits,
        .spins = SHMQ__TOPIC_SPINS,
        .ctx = &op,
    };
    return shmq__block_wait(&b, deadline);
}

/* Take slot s for writing (step 3 in topic_internal.h). False when a later publisher already
 * has it: message s is then lost to every group. */
static bool slot_acquire(shmq_topic_t *t, struct shmq__topic_slot *slot, uint64_t s)
{
    const uint64_t mine = shmq__tslot_word(s, SHMQ__TSLOT_WRITING);
    /* A3: pairs with R3 of the slot's previous publisher. */
    uint64_t w = atomic_load_explicit(&slot->word, memory_order_acquire);
    unsigned spins = 0;
    for (;;) {
        if (w != 0 && !shmq__topic_seq_after(s, shmq__tslot_seq(w)))
            return false; /* a later publisher has it (or scribbled: not ours to write) */
        if (w != 0 && shmq__tslot_state(w) == SHMQ__TSLOT_WRITING) {
            /* An older publisher, lapped by a whole ring while it writes: wait for it, or
             * take over if its process is dead. */
            if (++spins < WRITER_SPINS) {
                shmq__wait_spin_pause();
                w = atomic_load_explicit(&slot->word, memory_order_acquire); /* A2 */
                continue;
            }
            spins = 0;
            if (shmq__topic_claimant_alive(t, shmq__tslot_seq(w), false)) {
                sched_yield();
                w = atomic_load_explicit(&slot->word, memory_order_acquire); /* A2 */
                continue;
            }
        }
        /* R2 (release half): our pub_seq = s + 1 is visible to whoever sees WRITING(s).
         * Acquire half: pairs with R3 of the previous publisher of the slot. */
        if (atomic_compare_exchange_weak_explicit(&slot->word, &w, mine, memory_order_acq_rel,
                                                  memory_order_acquire))
            return true;
    }
}

/* Write the message into slot s and publish it. */
static void slot_write(shmq_topic_t *t, uint64_t s, const char *subject, size_t slen,
                       const struct shmq_msg *m, size_t meta)
{
    struct shmq__topic_slot *slot = shmq__topic_slot_at(t, s);
    if (!slot_acquire(t, slot, s)) {
        shmq__count(&t->me->counters.overtaken, 1);
        return;
    }
    /* F1: WRITING(s) is ordered before the data. Pairs with F2 in next_attempt (topic_read.c). */
    atomic_thread_fence(memory_order_release);
    atomic_store_explicit(&slot->len, (uint32_t)m->len, memory_order_relaxed);
    atomic_store_explicit(&slot->subject_len, (uint16_t)slen, memory_order_relaxed);
    atomic_store_explicit(&slot->flags, meta ? SHMQ__TSLOT_META : 0, memory_order_relaxed);
    /* The subject with its NUL, padded to a word. */
    size_t head = shmq__align8(slen + 1);
    char sbuf[SHMQ_SUBJECT_MAX + 1 + 8];
    memset(sbuf + (slen & ~(size_t)7), 0, 16);
    memcpy(sbuf, subject, slen);
    shmq__topic_words_put(slot->data, sbuf, head);
    if (m->len)
        shmq__topic_words_put(slot->data + head / 8, m->data, m->len);
    if (meta) {
        unsigned char rec[SHMQ__TOPIC_META_MAX];
        struct shmq__meta h = {.timestamp_ns = m->timestamp_ns};
        const char *str[3] = {m->type, m->correlation_id, m->reply_to};
        uint8_t *lens[3] = {&h.type_len, &h.correlation_len, &h.reply_to_len};
        size_t off = sizeof h;
        for (int i = 0; i < 3; i++) {
            size_t l = str[i] ? strnlen(str[i], SHMQ_META_STR_MAX) : 0;
            *lens[i] = (uint8_t)l;
            if (l)
                memcpy(rec + off, str[i], l);
            rec[off + l] = 0;
            off += l + 1;
        }
        memcpy(rec, &h, sizeof h);
        shmq__topic_words_put(slot->data + (head + shmq__align8(m->len)) / 8, rec, off);
    }
    /* R3: the message is complete. Pairs with A3 in next_attempt (topic_read.c). */
    atomic_store_explicit(&slot->word, shmq__tslot_word(s, SHMQ__TSLOT_PUB), memory_order_release);
}

int shmq_publish_msg(shmq_topic_t *t, const char *subject, const struct shmq_msg *m,
                     int64_t timeout_ns)
{
    if (!t || !m || (m->len && !m->data))
        return -EINVAL;
    if (!t->me)
        return -EPERM;
    size_t slen = subject ? strnlen(subject, SHMQ_SUBJECT_MAX + 1) : 0;
    int err = shmq__subject_check_len(subject, slen);
    if (err)
        return err;
    size_t meta = shmq__meta_size(m);
    if (meta == SIZE_MAX)
        return -EINVAL;
    size_t head = shmq__align8(slen + 1);
    if (m->len > t->geo.slot_size ||
        head + (meta ? shmq__align8(m->len) + meta : m->len) > t->geo.slot_size)
        return -EMSGSIZE;
    int64_t deadline;
    if ((err = shmq__deadline(timeout_ns, &deadline)))
        return err;
    struct shmq__topic_part *me = t->me;
    uint64_t s;
    if (t->geo.policy == SHMQ_TOPIC_OVERWRITE) {
        atomic_store_explicit(&me->pub_seq, SHMQ__PUB_CLAIMING, memory_order_relaxed);
        /* R1: pub_seq = CLAIMING is visible to whoever sees this sequence handed out. */
        s = atomic_fetch_add_explicit(&t->hdr->tail, 1, memory_order_release);
    } else if ((err = claim_block(t, deadline, &s))) {
        return err;
    }
    /* Ordered before the slot's CAS by its release half (R2). */
    atomic_store_explicit(&me->pub_seq, s + 1, memory_order_relaxed);
    slot_write(t, s, subject, slen, m, meta);
    /* R4: done. Pairs with A4 in shmq__topic_claimant_alive: our slot is published. */
    atomic_store_explicit(&me->pub_seq, 0, memory_order_release);
    shmq__count(&me->counters.published, 1);
    shmq__wait_notify(&t->waits->not_empty);
    return 0;
}

int shmq_publish(shmq_topic_t *t, const char *subject, const void *data, size_t len,
                 int64_t timeout_ns)
{
    struct shmq_msg m = {.data = (void *)(uintptr_t)data, .len = len};
    return shmq_publish_msg(t, subject, &m, timeout_ns);
}
