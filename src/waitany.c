/*
 * shmq_wait_any: sleep until any of several queues or subscriptions has something.
 *
 * Each queue and each topic has a "not empty" eventcount (wait.h). The waiter arms all of
 * them with one barrier (shmq__wait_prepare_many), checks every item's readiness, and sleeps
 * on all the armed words at once with futex_waitv: any notifier that publishes into one of
 * them after the barrier sees its word armed and wakes us, and anything published before it
 * is seen by the readiness checks. Where futex_waitv is missing (ENOSYS: Linux < 5.16, or a
 * seccomp filter) it sleeps on one word at a time, in turn, for at most 1 ms each, and looks
 * again: slower to react, never blind.
 *
 * The readiness checks read the structures a take would read first, without taking:
 *   FIFO (MPMC)  the returned and the ready rings' own look before a dequeue (threshold,
 *                head and tail: loads only);
 *   LIFO         the ready stack's head index;
 *   SPSC         head - tail of the ring;
 *   topic        the word of the slot at the group's cursor: published, a hole, or lapped
 *                all mean the next shmq_next moves (it may still pass over non-matching
 *                messages and find nothing: a spurious wake-up, bounded by the publishes).
 * A message kept back by -EMSGSIZE for the handle also counts. The delayed ring is not
 * readiness (its messages may not be due): a queue that has one is reported every 5 ms so the
 * caller's claim moves the due ones, as a blocked claim looks every 5 ms.
 */
#include <limits.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "core.h"
#include "reaper.h"
#include "scq.h"
#include "stack.h"
#include "topic.h"
#include "wait.h"

#ifndef SYS_futex_waitv
#define SYS_futex_waitv 449
#endif
#ifndef FUTEX_32
#define FUTEX_32 2
#endif

#define REAP_SLICE_NS (1000000000LL)  /* look for dead consumers this often */
#define DELAY_SLICE_NS (5000000LL)    /* a queue with delayed messages: report it this often */
#define STUCK_SLICE_NS (100000000LL)  /* a cursor on a half-written slot: report it this often */
#define FALLBACK_SLICE_NS (1000000LL) /* one futex at a time: this long on each */

/* The kernel's struct futex_waitv (uapi linux/futex.h, 5.16), spelled out for older headers. */
struct waitv {
    uint64_t val;
    uint64_t uaddr;
    uint32_t flags;
    uint32_t reserved;
};

/* Tests set it to exercise the fallback; it is also set by the first ENOSYS. */
_Atomic bool shmq__wait_any_no_waitv;

enum readiness { NOT_READY, READY, DELAYED, STUCK };

/* An SCQ ring looks non-empty: its threshold says a dequeue may find something and a
 * position lies between head and tail (the ring's own look before a dequeue, loads only). A
 * position a dead producer took and never wrote looks ready until the caller's dequeue
 * passes over it: one spurious wake-up. */
static bool scq_nonempty(struct shmq__scq *r, uint32_t order)
{
    return !shmq__scq_empty_hint(r, order);
}

static enum readiness queue_ready(const shmq_t *q)
{
    const struct shmq__mapping *m = q->map;
    if (q->pool.held != SHMQ__NONE)
        return READY;
    if (m->spsc) /* the message at the tail stays in the ring while this handle claims it */
        return shmq__spsc_depth(m) > (q->spsc.claimed ? 1u : 0u) ? READY : NOT_READY;
    /* Released messages (shmq_release) wait in the returned ring, claimed first. */
    if (m->returned_ring && scq_nonempty(m->returned_ring, m->geo.ring_order))
        return READY;
    if (m->ready_ring) {
        if (scq_nonempty(m->ready_ring, m->geo.ring_order))
            return READY;
    } else if (m->ready_stack) {
        /* Relaxed: a hint; the pop that follows reads the head with its own ordering. */
        uint64_t h = atomic_load_explicit(&m->ready_stack->head, memory_order_relaxed);
        if ((uint32_t)h != SHMQ__STACK_NIL)
            return READY;
    }
    if (m->delayed_ring && scq_nonempty(m->delayed_ring, m->geo.ring_order))
        return DELAYED;
    return NOT_READY;
}

static enum readiness sub_ready(const shmq_sub_t *s)
{
    const shmq_topic_t *t = s->t;
    /* Relaxed: a hint; shmq_next re-reads the cursor and the word with acquire. */
    uint64_t c = atomic_load_explicit(&t->groups[s->group].cursor, memory_order_relaxed);
    const struct shmq__topic_slot *slot =
        (const struct shmq__topic_slot *)(t->slots +
                                          (c & (t->geo.capacity - 1u)) * t->geo.slot_stride);
    /* Acquire: pairs with R3 in slot_write (topic_publish.c), so the ordering the header promises
     * holds even for a caller that only looks at the result. */
    uint64_t w =
        atomic_load_explicit(&((struct shmq__topic_slot *)slot)->word, memory_order_acquire);
    if (w == shmq__tslot_word(c, SHMQ__TSLOT_PUB) || w == shmq__tslot_word(c, SHMQ__TSLOT_HOLE))
        return READY;
    if (w != 0 && (int64_t)(shmq__tslot_seq(w) - c) > 0)
        return READY; /* lapped: the next shmq_next jumps ahead */
    if (w == shmq__tslot_word(c, SHMQ__TSLOT_WRITING))
        return STUCK; /* a publisher is writing it (or died doing so) */
    return NOT_READY;
}

static struct shmq__eventcount *item_ec(const struct shmq_wait_item *it)
{
    return it->queue ? &it->queue->map->waits->not_empty : &it->sub->t->waits->not_empty;
}

/* What a scan saw besides ready items (bits). */
#define SAW_DELAYED 1u
#define SAW_STUCK 2u

/* Mark the ready items; `late` also reports DELAYED and STUCK ones. Returns how many. */
static int scan(struct shmq_wait_item *items, unsigned n, bool late, unsigned *saw)
{
    int ready = 0;
    *saw = 0;
    for (unsigned i = 0; i < n; i++) {
        enum readiness r = items[i].queue ? queue_ready(items[i].queue) : sub_ready(items[i].sub);
        *saw |= r == DELAYED ? SAW_DELAYED : r == STUCK ? SAW_STUCK : 0u;
        items[i].ready = r == READY || (late && r != NOT_READY);
        ready += (int)items[i].ready;
    }
    return ready;
}

static void reap_queues(struct shmq_wait_item *items, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        shmq_t *q = items[i].queue;
        if (q && q->self && shmq__reap_check(q->map))
            shmq__reap_quietly(q);
    }
}

static struct timespec abs_ts(int64_t until)
{
    return (struct timespec){.tv_sec = (time_t)(until / 1000000000),
                             .tv_nsec = (long)(until % 1000000000)};
}

/* Sleep on every word until `until` (CLOCK_MONOTONIC): 0 woken or a word had moved,
 * -ETIMEDOUT, -EINTR, or -ENOSYS (no futex_waitv). */
static int sleep_all(struct waitv *w, unsigned nw, int64_t until)
{
    struct timespec ts = abs_ts(until);
    long r = syscall(SYS_futex_waitv, w, nw, 0, until == INT64_MAX ? NULL : &ts, CLOCK_MONOTONIC);
    if (r >= 0 || errno == EAGAIN)
        return 0;
    if (errno == ETIMEDOUT || errno == EINTR || errno == ENOSYS)
        return -errno;
    return -ENOSYS; /* EINVAL, EPERM...: the call is not usable here; fall back */
}

/* The fallback: one word, for at most FALLBACK_SLICE_NS. */
static int sleep_one(struct waitv *w, int64_t until)
{
    int64_t end = shmq__now_mono() + FALLBACK_SLICE_NS;
    struct timespec ts = abs_ts(end < until ? end : until);
    /* Shared futex, absolute CLOCK_MONOTONIC, as wait.c's shmq__wait_sleep. */
    if (syscall(SYS_futex, (uint32_t *)(uintptr_t)w->uaddr, FUTEX_WAIT_BITSET, (uint32_t)w->val,
                &ts, NULL, FUTEX_BITSET_MATCH_ANY) == 0)
        return 0;
    if (errno == EINTR)
        return -EINTR;
    return errno == ETIMEDOUT ? -ETIMEDOUT : 0;
}

int shmq_wait_any(struct shmq_wait_item *items, unsigned n, int64_t timeout_ns)
{
    if (!items || n == 0 || n > SHMQ_WAIT_ANY_MAX)
        return -EINVAL;
    for (unsigned i = 0; i < n; i++)
        if (!items[i].queue == !items[i].sub || items[i].reserved0)
            return -EINVAL;
    int64_t deadline;
    int err = shmq__deadline(timeout_ns, &deadline);
    if (err)
        return err;
    unsigned saw;
    int ready = scan(items, n, false, &saw);
    if (ready || deadline == 0)
        return ready ? ready : -EAGAIN;

    /* The distinct words: handles of one queue in a process share one mapping, and the
     * subscriptions of a topic handle share its mapping. */
    struct shmq__eventcount *ecs[SHMQ_WAIT_ANY_MAX];
    unsigned nw = 0;
    for (unsigned i = 0; i < n; i++) {
        struct shmq__eventcount *ec = item_ec(&items[i]);
        unsigned j = 0;
        while (j < nw && ecs[j] != ec)
            j++;
        if (j == nw)
            ecs[nw++] = ec;
    }
    uint32_t keys[SHMQ_WAIT_ANY_MAX];
    struct waitv w[SHMQ_WAIT_ANY_MAX];
    const int64_t started = shmq__now_mono();
    int64_t next_reap = started + REAP_SLICE_NS;
    unsigned turn = 0; /* fallback: whose word to sleep on next */
    for (;;) {
        bool reliable = shmq__wait_prepare_many(ecs, nw, keys);
        if ((ready = scan(items, n, false, &saw)) > 0)
            return ready; /* the words stay armed: at most one needless wake-up later */
        int64_t now = shmq__now_mono();
        int64_t until = next_reap;
        if ((saw & SAW_DELAYED) && now + DELAY_SLICE_NS < until)
            until = now + DELAY_SLICE_NS;
        if ((saw & SAW_STUCK) && started + STUCK_SLICE_NS < until)
            until = started + STUCK_SLICE_NS > now ? started + STUCK_SLICE_NS : now;
        if (deadline < until)
            until = deadline;
        for (unsigned i = 0; i < nw; i++)
            w[i] = (struct waitv){
                .val = keys[i], .uaddr = (uint64_t)(uintptr_t)&ecs[i]->seq, .flags = FUTEX_32};
        int slept = -ENOSYS;
        /* Relaxed: a process-wide switch that only ever goes from false to true; a thread
         * that reads it late makes one more futex_waitv call and gets ENOSYS itself. */
        if (reliable && !atomic_load_explicit(&shmq__wait_any_no_waitv, memory_order_relaxed)) {
            slept = sleep_all(w, nw, until);
            if (slept == -ENOSYS)
                atomic_store_explicit(&shmq__wait_any_no_waitv, true, memory_order_relaxed);
        }
        if (slept == -ENOSYS)
            slept = sleep_one(&w[turn++ % nw], until);
        now = shmq__now_mono();
        if (slept == -EINTR) {
            /* Like a blocking system call, a caught signal ends the wait, after one more
             * look so that what arrived meanwhile is reported. */
            ready = scan(items, n, false, &saw);
            return ready ? ready : -EINTR;
        }
        if (now >= next_reap) {
            reap_queues(items, n);
            next_reap = now + REAP_SLICE_NS;
        }
        if (now >= deadline) {
            ready = scan(items, n, false, &saw);
            return ready ? ready : -ETIMEDOUT;
        }
        if (slept == -ETIMEDOUT && saw) {
            /* A slice ended with a delayed message, or with a cursor on a half-written slot
             * for STUCK_SLICE_NS: report them, so that the caller's take moves the due
             * messages or passes the hole of a dead publisher. */
            bool stuck_long = now - started >= STUCK_SLICE_NS;
            ready = scan(items, n, false, &saw);
            if (ready > 0)
                return ready;
            if (((saw & SAW_DELAYED) || ((saw & SAW_STUCK) && stuck_long)) &&
                (ready = scan(items, n, true, &saw)) > 0)
                return ready;
        }
    }
}
