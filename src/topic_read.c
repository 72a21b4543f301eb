/*
 * Subscribing to a topic and reading from it: subscribe/unsubscribe, the group cursor, holes
 * left by dead publishers, shmq_next and zero-copy views. Calls shmq__topic_reap.c, topic_group.c
 * and topic_segment.c below it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "block.h"
#include "topic_internal.h"

#define SUBSCRIBE_ATTEMPTS 1000u /* lost races before shmq_subscribe says -EBUSY (~0.7 s) */
#define HOLE_POLLS 1024          /* not-ready polls between looks at the tail */
#define HOLE_NS (10 * 1000000LL) /* a claimed slot unwritten this long: find its writer */
#define SCAN_AHEAD 64            /* messages passed over per cursor CAS */

/* ---- subscribing ----------------------------------------------------------------------------- */

/* Release the view this member holds (BLOCK), letting publishers write its slot again. */
static void hold_release(shmq_sub_t *s)
{
    if (!s->holding)
        return;
    shmq_topic_t *t = s->t;
    /* R7: our (and the caller's) reads of the held slot are over. Pairs with A7 in
     * gate_refresh. */
    atomic_store_explicit(&t->members[s->member].hold, 0, memory_order_release);
    s->holding = false;
    shmq__wait_notify(&t->waits->not_full);
}

int shmq_subscribe(shmq_topic_t *t, const char *pattern, const char *group, uint32_t flags,
                   shmq_sub_t **sub)
{
    if (!t || !sub || (flags & ~SHMQ_SUB_DURABLE))
        return -EINVAL;
    if (!t->me)
        return -EPERM;
    if (group ? shmq__topic_group_name_check(group) != 0 : (flags & SHMQ_SUB_DURABLE) != 0)
        return -EINVAL; /* a private group is never durable: nobody could come back to it */
    shmq_sub_t *s = calloc(1, sizeof *s);
    if (!s)
        return -ENOMEM;
    int err = shmq__pattern_compile(pattern ? pattern : "#", &s->pattern);
    if (err) {
        free(s);
        return err;
    }
    s->t = t;
    s->flags = flags;
    s->stuck_seq = UINT64_MAX;
    shmq__topic_reap(t);
    if ((err = shmq__topic_member_take(t, &s->member))) {
        free(s);
        return err;
    }
    int32_t pid = (int32_t)getpid();
    bool reaped = false;
    for (unsigned attempt = 0;; attempt++) {
        if (!group) {
            char name[SHMQ__GROUP_NAME_WORDS * 8];
            snprintf(name, sizeof name, "~%d.%u", (int)pid, s->member);
            err = shmq__topic_group_create(t, s, name, SHMQ_GROUP_PRIVATE);
        } else {
            uint32_t g;
            uint64_t w;
            err = shmq__topic_group_find(t, group, &g, &w);
            if (err == 0)
                err = shmq__topic_group_join(t, s, g, w);
            else
                err = shmq__topic_group_create(t, s, group, flags);
        }
        if (err == -EUSERS && !reaped) {
            reaped = true;
            shmq__topic_reap(t);
            continue;
        }
        if (err != -EAGAIN)
            break;
        /* A group that stays half-created or half-deleted that long is not a race: a word
         * scribbled into the segment with a live pid says so for ever. Give up, never spin. */
        if (attempt >= SUBSCRIBE_ATTEMPTS) {
            err = -EBUSY;
            break;
        }
        /* Lost a race with another creator or a deleter: look again, after a short pause
         * that differs between processes so that two creators do not meet again. */
        long pause_ns = 1000 + (long)((uint32_t)pid % 997u) * 10;
        nanosleep(&(struct timespec){.tv_nsec = pause_ns << (attempt < 6 ? attempt : 6)}, NULL);
    }
    struct shmq__topic_member *m = &t->members[s->member];
    if (err) {
        /* Release: pairs with the acquire CAS in shmq__entry_take. */
        atomic_store_explicit(&m->word, 0, memory_order_release);
        free(s);
        return err;
    }
    /* R6: pairs with A6 in the readers of the member table. */
    atomic_store_explicit(&m->word, shmq__member_word(pid, s->group + 1, SHMQ__MEMBER_LIVE),
                          memory_order_release);
    s->next = t->subs;
    t->subs = s;
    *sub = s;
    return 0;
}

int shmq_unsubscribe(shmq_sub_t *s)
{
    if (!s)
        return -EINVAL;
    shmq_topic_t *t = s->t;
    hold_release(s);
    for (shmq_sub_t **pp = &t->subs; *pp; pp = &(*pp)->next)
        if (*pp == s) {
            *pp = s->next;
            break;
        }
    shmq__topic_member_leave(t, s->member, s->group);
    free(s);
    return 0;
}

/* ---- reading --------------------------------------------------------------------------------- */

struct next_op {
    void *buf; /* copy: payload destination */
    size_t cap;
    struct shmq_delivery *d; /* copy: may be NULL */
    struct shmq_view *v;     /* view: non-NULL */
    size_t len;              /* out: payload bytes */
};

/* Move the group's cursor from `from` to `to` (passing over what the caller checked). */
static bool cursor_move(shmq_topic_t *t, struct shmq__topic_group *grp, uint64_t *from, uint64_t to)
{
    /* R5: our reads of the slots below `to` are over. Pairs with A5 in gate_refresh. */
    if (!atomic_compare_exchange_strong_explicit(&grp->cursor, from, to, memory_order_release,
                                                 memory_order_relaxed))
        return false;
    if (shmq__topic_is_block(t))
        shmq__wait_notify(&t->waits->not_full);
    return true;
}

/*
 * The slot at cursor c has not been published. If tail says c was handed out and that
 * stays so, find out whether its publisher still lives; if none of the live publishers can
 * be writing it, c is a hole: mark it so (CAS from the word seen), and every group passes it.
 */
static void hole_check(shmq_sub_t *s, uint64_t c, bool force)
{
    shmq_topic_t *t = s->t;
    if (s->stuck_seq != c) {
        s->stuck_seq = c;
        s->stuck_polls = 0;
        s->stuck_since_ns = 0;
    }
    if (!force && ++s->stuck_polls % HOLE_POLLS != 0)
        return;
    /* A1: pairs with R1: the claimant's pub_seq is visible if c was handed out. */
    uint64_t tl = atomic_load_explicit(&t->hdr->tail, memory_order_acquire);
    if (!shmq__topic_seq_after(tl, c)) {
        s->stuck_since_ns = 0; /* not handed out: the ring is just empty */
        return;
    }
    int64_t now = shmq__now_mono();
    if (s->stuck_since_ns == 0 || now - s->stuck_since_ns < HOLE_NS) {
        if (s->stuck_since_ns == 0)
            s->stuck_since_ns = now;
        return;
    }
    s->stuck_since_ns = now;
    struct shmq__topic_slot *slot = shmq__topic_slot_at(t, c);
    uint64_t w = atomic_load_explicit(&slot->word, memory_order_acquire); /* A2 */
    bool writing = w != 0 && shmq__tslot_state(w) == SHMQ__TSLOT_WRITING && shmq__tslot_seq(w) == c;
    if (w != 0 && !shmq__topic_seq_after(c, shmq__tslot_seq(w)) && !writing)
        return; /* published, a hole already, or lapped: the reader will see */
    if (shmq__topic_claimant_alive(t, c, !writing))
        return;
    /* HOLE(c), from the word seen. Release half: pairs with A3 of the readers, which pass it
     * over; acquire half: after the claimant's R2 when it was WRITING (it is dead). */
    if (atomic_compare_exchange_strong_explicit(&slot->word, &w,
                                                shmq__tslot_word(c, SHMQ__TSLOT_HOLE),
                                                memory_order_acq_rel, memory_order_relaxed))
        shmq__count(&t->me->counters.holes, 1);
}

/*
 * One non-waiting attempt: the payload length, -EAGAIN (nothing ready), -EMSGSIZE, or
 * -EBADMSG. Passes over non-matching messages and holes, jumps over what was overwritten.
 */
static int next_attempt(shmq_sub_t *s, struct next_op *op)
{
    shmq_topic_t *t = s->t;
    struct shmq__topic_group *grp = &t->groups[s->group];
    struct shmq__topic_member *me = &t->members[s->member];
    const size_t limit = t->geo.slot_size;
    char subj[SHMQ_SUBJECT_MAX + 1 + 8];
retry:;
    /* Relaxed: the CAS that takes a message checks the cursor again. */
    uint64_t start = atomic_load_explicit(&grp->cursor, memory_order_relaxed);
    uint64_t c = start, passed = 0;
    for (;;) {
        struct shmq__topic_slot *slot = shmq__topic_slot_at(t, c);
        /* A3: pairs with R3 in slot_write: the message is visible. */
        uint64_t w = atomic_load_explicit(&slot->word, memory_order_acquire);
        if (w == shmq__tslot_word(c, SHMQ__TSLOT_PUB)) {
            size_t len = atomic_load_explicit(&slot->len, memory_order_relaxed);
            size_t sl = atomic_load_explicit(&slot->subject_len, memory_order_relaxed);
            unsigned fl = atomic_load_explicit(&slot->flags, memory_order_relaxed);
            size_t head = shmq__align8(sl + 1);
            bool sane = sl <= SHMQ_SUBJECT_MAX && (fl & ~SHMQ__TSLOT_META) == 0 && len <= limit &&
                        head + ((fl & SHMQ__TSLOT_META) ? shmq__align8(len) : len) <= limit;
            if (sane)
                shmq__topic_words_get(subj, slot->data, sl);
            bool match = sane && shmq__pattern_match(&s->pattern, subj, sl);
            if (!match || (!op->v && len > op->cap)) {
                /* F2: pairs with F1: what we read is message c only if the word held. */
                atomic_thread_fence(memory_order_acquire);
                if (atomic_load_explicit(&slot->word, memory_order_relaxed) != w)
                    goto retry; /* overwritten meanwhile: we have been lapped */
                if (!sane)
                    return -EBADMSG;
                if (match) { /* the buffer is too small: the message stays the group's next */
                    if (c != start && cursor_move(t, grp, &start, c))
                        shmq__count(&me->skipped, passed);
                    op->len = len;
                    if (op->d)
                        op->d->len = len;
                    return -EMSGSIZE;
                }
                passed++;
                c++;
                if (passed >= SCAN_AHEAD) {
                    if (cursor_move(t, grp, &start, c))
                        shmq__count(&me->skipped, passed);
                    goto retry;
                }
                continue;
            }
            /* It matches: copy (or point at) the rest, then check the word held. */
            size_t dpos = head; /* data byte offset of the payload */
            struct shmq__meta mh = {0};
            size_t str_off[3] = {0, 0, 0};
            unsigned char rec[SHMQ__TOPIC_META_MAX];
            int merr = 0;
            if (!op->v && len)
                shmq__topic_words_get(op->buf, slot->data + dpos / 8, len);
            if (fl & SHMQ__TSLOT_META)
                merr = shmq__topic_meta_parse(slot, dpos + shmq__align8(len), limit, rec, &mh,
                                              str_off);
            atomic_thread_fence(memory_order_acquire); /* F2: pairs with F1 */
            if (atomic_load_explicit(&slot->word, memory_order_relaxed) != w)
                goto retry;
            if (merr)
                return merr;
            /* A view in BLOCK holds its slot: announce it before the cursor moves past it. */
            bool hold = op->v && shmq__topic_is_block(t);
            if (hold)
                atomic_store_explicit(&me->hold, c + 1, memory_order_relaxed);
            /* Take it: the CAS succeeds only if no other member moved the cursor. Its release
             * (R5) also orders the hold before the move. */
            if (!cursor_move(t, grp, &start, c + 1)) {
                if (hold)
                    atomic_store_explicit(&me->hold, 0, memory_order_relaxed);
                goto retry;
            }
            s->holding = hold;
            shmq__count(&me->delivered, 1);
            if (passed)
                shmq__count(&me->skipped, passed);
            op->len = len;
            uint64_t lost = s->pending_lost;
            s->pending_lost = 0;
            const char *strs[3] = {NULL, NULL, NULL};
            if (op->v) {
                struct shmq_view *v = op->v;
                const char *base = (const char *)slot->data;
                v->subject = base;
                v->subject_len = sl;
                v->data = base + dpos;
                v->len = len;
                if (fl & SHMQ__TSLOT_META) {
                    uint8_t lens[3] = {mh.type_len, mh.correlation_len, mh.reply_to_len};
                    for (int i = 0; i < 3; i++)
                        strs[i] = lens[i] ? base + dpos + shmq__align8(len) + str_off[i] : NULL;
                }
                v->type = strs[0];
                v->correlation_id = strs[1];
                v->reply_to = strs[2];
                v->timestamp_ns = mh.timestamp_ns;
                v->seq = c;
                v->lost = lost;
                v->priv[0] = c;
                v->priv[1] = w;
                return 0;
            }
            struct shmq_delivery *d = op->d;
            if (d) {
                d->seq = c;
                d->lost = lost;
                d->len = len;
                d->timestamp_ns = mh.timestamp_ns;
                d->subject_len = (uint32_t)sl;
                memcpy(d->subject, subj, sl);
                d->subject[sl] = 0;
                d->meta = 0;
                char *dst[3] = {d->type, d->correlation_id, d->reply_to};
                uint8_t lens[3] = {mh.type_len, mh.correlation_len, mh.reply_to_len};
                for (int i = 0; i < 3; i++) {
                    dst[i][0] = 0;
                    if ((fl & SHMQ__TSLOT_META) && lens[i]) {
                        memcpy(dst[i], rec + str_off[i], (size_t)lens[i] + 1);
                        d->meta |= 1u << i; /* SHMQ_HAS_TYPE, _CORRELATION_ID, _REPLY_TO */
                    }
                }
            }
            return (int)len;
        }
        if (w == shmq__tslot_word(c, SHMQ__TSLOT_HOLE)) {
            passed++;
            c++;
            continue;
        }
        if (w != 0 && shmq__topic_seq_after(shmq__tslot_seq(w), c)) {
            /* Lapped: message c is gone. Resume at the oldest sequence that can still be in
             * the ring. A1: pairs with R1 (tail is past the sequence the slot holds now). */
            uint64_t tl = atomic_load_explicit(&t->hdr->tail, memory_order_acquire);
            uint64_t to = tl - t->geo.capacity;
            if (!shmq__topic_seq_after(to, c))
                return -EBADMSG; /* a slot ahead of the tail: scribbled */
            if (cursor_move(t, grp, &start, to)) {
                shmq__count(&me->lost, to - c);
                if (passed)
                    shmq__count(&me->skipped, passed);
                s->pending_lost += to - c;
            }
            goto retry;
        }
        /* Not published yet. */
        if (c != start && cursor_move(t, grp, &start, c))
            shmq__count(&me->skipped, passed);
        hole_check(s, c, false);
        return -EAGAIN;
    }
}

struct next_wait_op {
    shmq_sub_t *s;
    struct next_op *op;
    int64_t next_duty; /* CLOCK_MONOTONIC: the next look for holes and the dead */
};

static int next_wait_attempt(void *ctx)
{
    struct next_wait_op *w = ctx;
    return next_attempt(w->s, w->op);
}

/* Nothing for a whole slice: look for holes and for the dead. */
static void next_wait_idle(void *ctx)
{
    struct next_wait_op *w = ctx;
    int64_t now;
    if (!shmq__topic_duty_due(&w->next_duty, &now))
        return;
    shmq_topic_t *t = w->s->t;
    uint64_t c = atomic_load_explicit(&t->groups[w->s->group].cursor, memory_order_relaxed);
    hole_check(w->s, c, true);
    if (now - t->last_reap_ns > SHMQ__TOPIC_SLICE_NS)
        shmq__topic_reap(t);
}

static int next_wait(shmq_sub_t *s, struct next_op *op, int64_t timeout_ns)
{
    int64_t deadline;
    int r = shmq__deadline(timeout_ns, &deadline);
    if (r)
        return r;
    hold_release(s); /* the previous view is over */
    if ((r = next_attempt(s, op)) != -EAGAIN || deadline == 0)
        return r;
    struct next_wait_op w = {.s = s, .op = op};
    w.next_duty = shmq__now_mono() + SHMQ__TOPIC_SLICE_NS;
    const struct shmq__block b = {
        .ec = &s->t->waits->not_empty,
        .attempt = next_wait_attempt,
        .slice_ns = shmq__topic_slice_ns,
        .idle = next_wait_idle,
        .woken = next_wait_idle, /* as the loop before block.c: once a slice, woken or not */
        .sleeps = &s->t->me->counters.waits,
        .spins = SHMQ__TOPIC_SPINS,
        .ctx = &w,
    };
    return shmq__block_wait(&b, deadline);
}

ssize_t shmq_next(shmq_sub_t *sub, void *buf, size_t cap, struct shmq_delivery *d,
                  int64_t timeout_ns)
{
    if (!sub || (cap && !buf))
        return -EINVAL;
    struct next_op op = {.buf = buf, .cap = cap, .d = d};
    return next_wait(sub, &op, timeout_ns);
}

int shmq_next_view(shmq_sub_t *sub, struct shmq_view *v, int64_t timeout_ns)
{
    if (!sub || !v)
        return -EINVAL;
    struct next_op op = {.v = v};
    int r = next_wait(sub, &op, timeout_ns);
    return r < 0 ? r : 0;
}

int shmq_view_check(const shmq_sub_t *sub, const struct shmq_view *v)
{
    if (!sub || !v)
        return -EINVAL;
    struct shmq__topic_slot *slot = shmq__topic_slot_at(sub->t, v->priv[0]);
    /* F2: the caller's reads of the slot come before the word is loaded again. Pairs with F1
     * of a publisher that overwrote the slot. */
    atomic_thread_fence(memory_order_acquire);
    return atomic_load_explicit(&slot->word, memory_order_relaxed) == v->priv[1] ? 0 : -ESTALE;
}
