/*
 * The public API of queues (layer: facade). Argument checks, roles, and waiting: the queue
 * core (core.h) does one non-blocking step of each operation, and this file runs it again
 * under the one blocking loop (block.c) when it says -EAGAIN, with the reaper as the
 * sleeper's idle duty. Messages a claim finds expired or spent go to the dead-letter layer
 * (deadletter.c) with the dead-letter queue this file opens for it, outside the core.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "block.h"
#include "core.h"
#include "deadletter.h"
#include "participant.h"
#include "reaper.h"

#define SPIN_ATTEMPTS 256 /* re-tries before sleeping: a peer on another CPU is often close */
#define OPEN_WAIT_NS (2 * 1000000000LL) /* how long open waits for a creator to finish */
#define REAP_SLICE_NS (1000000000LL)    /* a sleeper checks for dead peers this often */
#define DELAY_SLICE_NS (5000000LL)      /* ... and for due delayed messages this often */

static inline bool is_spsc(const shmq_t *q)
{
    return q->map->spsc != NULL;
}

/* ---- waiting ---- */

/* Run the reaper if some participant died (cheap when none did: a kill(pid, 0) each). */
static void reap_if_needed(shmq_t *q)
{
    if (q->self && shmq__reap_check(q->map))
        shmq__reap_quietly(q);
}

/* One non-waiting attempt of an operation: 0 or a count on success, -EAGAIN to wait. */
typedef int (*attempt_fn)(shmq_t *q, void *ctx);

struct queue_wait {
    shmq_t *q;
    attempt_fn fn;
    void *ctx;
};

static int wait_attempt(void *arg)
{
    struct queue_wait *w = arg;
    return w->fn(w->q, w->ctx);
}

/* A dead peer's claims are only given back by a reaper, and delayed messages only become
 * due by the clock, so a sleeper looks again after a slice. */
static int64_t wait_slice(void *arg)
{
    return shmq__delayed_waiting(((struct queue_wait *)arg)->q) ? DELAY_SLICE_NS : REAP_SLICE_NS;
}

static void wait_idle(void *arg)
{
    reap_if_needed(((struct queue_wait *)arg)->q);
}

static void wait_woken(void *arg)
{
    shmq_t *q = ((struct queue_wait *)arg)->q;
    /* Relaxed: a liveness hint for observers, written by its owner only. */
    atomic_store_explicit(&q->self->heartbeat_ns, (uint64_t)shmq__now_mono(), memory_order_relaxed);
}

/* After a first attempt said -EAGAIN: run fn until it stops saying so or the deadline
 * passes. `miss` (full or empty) counts the calls that found nothing to do at first; ec is
 * what the peers notify. A consumer about to wait gives back what its handle keeps
 * (shmq__idle) to those who may need it. (The first attempt is the caller's own direct call:
 * the fast path pays no indirect call.) */
static int attempt_wait(shmq_t *q, struct shmq__eventcount *ec, int64_t deadline, attempt_fn fn,
                        void *ctx, _Atomic uint64_t *miss, bool consumer)
{
    if (consumer)
        shmq__idle(q);
    shmq__count(miss, 1);
    struct queue_wait w = {.q = q, .fn = fn, .ctx = ctx};
    const struct shmq__block b = {
        .ec = ec,
        .attempt = wait_attempt,
        .slice_ns = wait_slice,
        .idle = wait_idle,
        .woken = wait_woken,
        .sleeps = &q->self->counters.waits,
        .spins = SPIN_ATTEMPTS,
        .ctx = &w,
    };
    return shmq__block_wait(&b, deadline);
}

/* `first`: what the caller's first attempt returned. */
static inline int wait_not_full(shmq_t *q, int first, int64_t deadline, attempt_fn fn, void *ctx)
{
    if (SHMQ__LIKELY(first != -EAGAIN))
        return first;
    return attempt_wait(q, &q->map->waits->not_full, deadline, fn, ctx, &q->self->counters.full,
                        false);
}

static inline int wait_not_empty(shmq_t *q, int first, int64_t deadline, attempt_fn fn, void *ctx)
{
    if (SHMQ__LIKELY(first != -EAGAIN))
        return first;
    return attempt_wait(q, &q->map->waits->not_empty, deadline, fn, ctx, &q->self->counters.empty,
                        true);
}

/* ---- lifecycle ---- */

static int handle_open(const char *name, int fd, uint32_t flags, shmq_t **out)
{
    bool writable = !(flags & SHMQ_OPEN_OBSERVE);
    struct shmq__mapping *map = NULL;
    int64_t give_up = shmq__now_mono() + OPEN_WAIT_NS;
    int err;
    /* A segment being created has no magic yet: wait for its creator a little. */
    while ((err = shmq__registry_acquire(fd, writable, &map)) == -EAGAIN) {
        if (shmq__now_mono() > give_up) {
            err = -EBADMSG;
            break;
        }
        nanosleep(&(struct timespec){.tv_nsec = 1000000}, NULL);
    }
    close(fd);
    if (err)
        return err;
    shmq_t *q = calloc(1, sizeof *q);
    if (!q) {
        shmq__registry_release(map);
        return -ENOMEM;
    }
    q->map = map;
    q->pool.held = SHMQ__NONE;
    snprintf(q->name, sizeof q->name, "%s", name);
    if (writable) {
        err = shmq__participant_join(map, &q->self_index);
        if (err == -EUSERS)
            err = shmq__reap_adopt(q); /* the table is full: maybe of the dead */
        if (err) {
            shmq__registry_release(map);
            free(q);
            return err;
        }
        q->self = &map->parts[q->self_index];
        reap_if_needed(q);
    }
    *out = q;
    return 0;
}

int shmq_create(const char *name, const struct shmq_config *cfg, shmq_t **q)
{
    if (!q)
        return -EINVAL;
    int fd;
    int err = shmq__segment_create(name, cfg, &fd);
    if (err)
        return err;
    err = handle_open(name, fd, 0, q);
    if (err)
        shmq_unlink(name);
    return err;
}

int shmq_open_ex(const char *name, uint32_t flags, shmq_t **q)
{
    if (!q)
        return -EINVAL;
    int fd = shmq__shm_open(name, flags);
    return fd < 0 ? fd : handle_open(name, fd, flags, q);
}

int shmq_open(const char *name, shmq_t **q)
{
    return shmq_open_ex(name, 0, q);
}

int shmq_close(shmq_t *q)
{
    if (!q)
        return -EINVAL;
    if (q->dead_letter_q)
        shmq_close(q->dead_letter_q);
    if (q->reply_q) /* shmq_reply's last reply-to queue */
        shmq_close(q->reply_q);
    if (q->self) {
        if (!is_spsc(q))
            shmq__mpmc_return_all(q);
        shmq__participant_retire(q->map, q->self_index,
                                 atomic_load_explicit(&q->self->word, memory_order_relaxed));
    }
    shmq__registry_release(q->map);
    free(q);
    return 0;
}

const char *shmq_name(const shmq_t *q)
{
    return q ? q->name : NULL;
}

/* ---- roles and argument checks ---- */

/* Take a role (SHMQ_ROLE_PRODUCER/CONSUMER) for the handle at its first operation of that
 * kind: a single-producer/-consumer queue admits one live holder. */
static int role_take(shmq_t *q, uint32_t role)
{
    if (q->roles & role)
        return 0;
    if (!q->self)
        return -EPERM;
    struct shmq__header *h = q->map->hdr;
    uint32_t single = role == SHMQ_ROLE_PRODUCER ? SHMQ_SINGLE_PRODUCER : SHMQ_SINGLE_CONSUMER;
    if (q->map->geo.flags & single) {
        _Atomic uint32_t *word =
            role == SHMQ_ROLE_PRODUCER ? &h->single_producer : &h->single_consumer;
        uint32_t me = q->self_index + 1;
        /* A8: pairs with R8 in shmq__participant_fold, the previous holder giving the role up. */
        uint32_t holder = atomic_load_explicit(word, memory_order_acquire);
        for (;;) {
            if (holder != 0) {
                /* The role is taken: only a holder that is gone may be replaced. */
                if (holder > q->map->geo.max_participants)
                    return -EBADMSG;
                if (shmq__participant_alive(&q->map->parts[holder - 1]))
                    return -EBUSY;
            }
            /* Acquire: pairs with the release of the previous holder giving the role up, so
             * its last writes to the ring counters are visible. */
            if (atomic_compare_exchange_weak_explicit(word, &holder, me, memory_order_acquire,
                                                      memory_order_acquire))
                break;
        }
    }
    if (q->map->spsc) {
        /* The SPSC side starts from the ring's counters as the previous holder left them. */
        int err = shmq__spsc_attach(q, role);
        if (err)
            return err;
    }
    q->roles |= role;
    atomic_store_explicit(&q->self->roles, q->roles, memory_order_relaxed);
    return 0;
}

static inline int writer_check(const shmq_t *q)
{
    return !q ? -EINVAL : !q->self ? -EPERM : 0;
}

static inline int producer_enter(shmq_t *q)
{
    int err = writer_check(q);
    if (SHMQ__UNLIKELY(err))
        return err;
    return SHMQ__LIKELY(q->roles & SHMQ_ROLE_PRODUCER) ? 0 : role_take(q, SHMQ_ROLE_PRODUCER);
}

static inline int consumer_enter(shmq_t *q)
{
    int err = writer_check(q);
    if (SHMQ__UNLIKELY(err))
        return err;
    return SHMQ__LIKELY(q->roles & SHMQ_ROLE_CONSUMER) ? 0 : role_take(q, SHMQ_ROLE_CONSUMER);
}

/* ---- dead letters ---- */

/* The dead-letter queue of q's queue, opened (made on first use, with this queue's kind,
 * capacity, slot size and mode) here in the facade, so that the dead-letter layer below only
 * pushes into an open handle. NULL when there is none or it cannot be opened (the message is
 * then dropped and counted). */
static shmq_t *dead_letter_queue(shmq_t *q)
{
    if (q->dead_letter_q)
        return q->dead_letter_q;
    const char *name = q->map->dead_letter;
    if (!name[0])
        return NULL;
    struct shmq_config cfg = {
        .kind = (enum shmq_kind)q->map->geo.kind,
        .capacity = q->map->geo.capacity,
        .slot_size = q->map->geo.slot_size,
        .mode = q->map->hdr->mode & 0777u,
    };
    shmq_t *dlq;
    int err = shmq_open(name, &dlq);
    if (err == -ENOENT) {
        err = shmq_create(name, &cfg, &dlq);
        if (err == -EEXIST) /* another process made it first */
            err = shmq_open(name, &dlq);
    }
    if (err)
        return NULL;
    if ((err = role_take(dlq, SHMQ_ROLE_PRODUCER)) != 0) {
        shmq_close(dlq);
        return NULL;
    }
    return q->dead_letter_q = dlq;
}

/* A claim attempt that dead-letters what must not be delivered and looks again: each round
 * consumes a message, so it is bounded by the queue's depth. */
static int claim_attempt(shmq_t *q, void *arg)
{
    struct shmq_msg *m = arg;
    for (;;) {
        int r = shmq__try_claim(q, m);
        if (SHMQ__LIKELY(r <= 0))
            return r;
        shmq__dead_letter(q, dead_letter_queue(q), m, r == SHMQ__CLAIM_EXPIRED);
    }
}

/* ---- zero-copy ---- */

static int reserve_attempt(shmq_t *q, void *ctx)
{
    return shmq__try_reserve(q, ctx);
}

int shmq_reserve(shmq_t *q, size_t len, struct shmq_msg *m, int64_t timeout_ns)
{
    int64_t deadline;
    int err = producer_enter(q);
    if (err || (err = shmq__deadline(timeout_ns, &deadline)))
        return err;
    if (!m)
        return -EINVAL;
    if (len > q->map->geo.slot_size)
        return -EMSGSIZE;
    memset(m, 0, sizeof *m);
    struct shmq__reserve_ctx c = {.len = len, .m = m};
    return wait_not_full(q, shmq__try_reserve(q, &c), deadline, reserve_attempt, &c);
}

int shmq_commit(shmq_t *q, struct shmq_msg *m)
{
    int err = writer_check(q);
    if (err || !m)
        return err ? err : -EINVAL;
    return shmq__commit(q, m);
}

int shmq_discard(shmq_t *q, struct shmq_msg *m)
{
    int err = writer_check(q);
    if (err || !m)
        return err ? err : -EINVAL;
    return shmq__discard(q, m);
}

static int claim(shmq_t *q, struct shmq_msg *m, int64_t timeout_ns)
{
    int64_t deadline;
    int err = consumer_enter(q);
    if (err || (err = shmq__deadline(timeout_ns, &deadline)))
        return err;
    if (!m)
        return -EINVAL;
    return wait_not_empty(q, claim_attempt(q, m), deadline, claim_attempt, m);
}

int shmq_claim(shmq_t *q, struct shmq_msg *m, int64_t timeout_ns)
{
    int err = claim(q, m, timeout_ns);
    if (err == 0)
        shmq__count(&q->self->counters.popped, 1);
    return err;
}

static int finish(shmq_t *q, struct shmq_msg *m, bool ack)
{
    int err = writer_check(q);
    if (err || !m)
        return err ? err : -EINVAL;
    err = shmq__finish(q, m, ack);
    if (err == 0)
        shmq__count(ack ? &q->self->counters.acked : &q->self->counters.nacked, 1);
    return err;
}

int shmq_ack(shmq_t *q, struct shmq_msg *m)
{
    return finish(q, m, true);
}
int shmq_nack(shmq_t *q, struct shmq_msg *m)
{
    return finish(q, m, false);
}

int shmq_nack_delayed(shmq_t *q, struct shmq_msg *m, int64_t delay_ns)
{
    int err = writer_check(q);
    if (err || !m || delay_ns < 0)
        return err ? err : -EINVAL;
    err = shmq__nack_delayed(q, m, delay_ns);
    if (err == 0)
        shmq__count(&q->self->counters.nacked, 1);
    return err;
}

int shmq_release(shmq_t *q, struct shmq_msg *m)
{
    int err = writer_check(q);
    if (err || !m)
        return err ? err : -EINVAL;
    err = shmq__release(q, m);
    if (err == 0)
        shmq__count(&q->self->counters.released, 1);
    return err;
}

/* ---- copy ---- */

static int push_msg_attempt(shmq_t *q, void *src)
{
    return shmq__try_push_msg(q, src);
}

int shmq_push_msg(shmq_t *q, const struct shmq_msg *src, int64_t timeout_ns)
{
    if (!src || (src->len && !src->data))
        return -EINVAL;
    int64_t deadline;
    int err = producer_enter(q);
    if (err || (err = shmq__deadline(timeout_ns, &deadline)))
        return err;
    if (src->len > q->map->geo.slot_size)
        return -EMSGSIZE;
    return wait_not_full(q, shmq__try_push_msg(q, src), deadline, push_msg_attempt, (void *)src);
}

int shmq_push(shmq_t *q, const void *data, size_t len, int64_t timeout_ns)
{
    if (len && !data)
        return -EINVAL;
    /* The copy paths of the SPSC ring and the MPMC pool: no message descriptor, no metadata.
     * (A handle that has the producer role has passed producer_enter.) */
    if (SHMQ__LIKELY(q && (q->roles & SHMQ_ROLE_PRODUCER) && len <= q->map->geo.slot_size &&
                     timeout_ns >= 0)) {
        int err = -ENOTSUP;
        if (!q->map->spsc)
            err = shmq__mpmc_push_copy(q, data, len);
        else if (!q->spsc.reserved)
            err = shmq__spsc_push_copy(q, data, len);
        if (SHMQ__LIKELY(err != -EAGAIN && err != -ENOTSUP) ||
            (err == -EAGAIN && timeout_ns == 0)) {
            if (err == -EAGAIN)
                shmq__count(&q->self->counters.full, 1);
            return err;
        }
    }
    struct shmq_msg m;
    int err = shmq_reserve(q, len, &m, timeout_ns);
    if (SHMQ__UNLIKELY(err))
        return err;
    memcpy(m.data, data, len);
    return shmq__commit(q, &m);
}

/* Copy a claimed message out and ack it, or keep it back undelivered when buf is too small.
 * 1 with buf->iov_len set, -EMSGSIZE, or an error of the ack. */
static int copy_out(shmq_t *q, struct shmq_msg *m, struct iovec *buf)
{
    if (m->len > buf->iov_len) {
        shmq__hold(q, m);
        return -EMSGSIZE;
    }
    memcpy(buf->iov_base, m->data, m->len);
    buf->iov_len = m->len;
    int err = shmq__finish(q, m, true);
    return err ? err : 1;
}

ssize_t shmq_pop(shmq_t *q, void *buf, size_t cap, int64_t timeout_ns)
{
    if (cap && !buf)
        return -EINVAL;
    /* The copy paths: no message descriptor. (A handle that has the consumer role has passed
     * consumer_enter.) */
    if (SHMQ__LIKELY(q && (q->roles & SHMQ_ROLE_CONSUMER) && timeout_ns >= 0)) {
        ssize_t n = -ENOTSUP;
        if (!q->map->spsc)
            n = shmq__mpmc_pop_copy(q, buf, cap);
        else if (!q->spsc.claimed)
            n = shmq__spsc_pop_copy(q, buf, cap);
        if (SHMQ__LIKELY(n >= 0)) {
            shmq__count(&q->self->counters.popped, 1);
            shmq__count(&q->self->counters.acked, 1);
            return n;
        }
        if (n == -EAGAIN && timeout_ns == 0) {
            shmq__idle(q); /* found nothing: what the handle keeps goes back (as attempt_wait) */
            shmq__count(&q->self->counters.empty, 1);
            return n;
        }
        if (n != -EAGAIN && n != -ENOTSUP)
            return n; /* -EMSGSIZE (kept back) or -EBADMSG, as the claim way says them */
    }
    struct shmq_msg m;
    int err = claim(q, &m, timeout_ns);
    if (SHMQ__UNLIKELY(err))
        return err;
    struct iovec v = {.iov_base = buf, .iov_len = cap};
    if ((err = copy_out(q, &m, &v)) < 0)
        return err;
    shmq__count(&q->self->counters.popped, 1);
    shmq__count(&q->self->counters.acked, 1);
    return (ssize_t)m.len;
}

static int push_batch_attempt(shmq_t *q, void *ctx)
{
    return shmq__try_push_batch(q, ctx);
}

int shmq_push_batch(shmq_t *q, const struct iovec *msgs, unsigned n, int64_t timeout_ns)
{
    int64_t deadline;
    int err = producer_enter(q);
    if (err || (err = shmq__deadline(timeout_ns, &deadline)))
        return err;
    if (!msgs || n == 0 || n > INT32_MAX)
        return -EINVAL;
    struct shmq__batch_ctx c = {.in = msgs, .n = n};
    return wait_not_full(q, shmq__try_push_batch(q, &c), deadline, push_batch_attempt, &c);
}

/* A pop batch: straight from the ring when the core says it may, else as single claims
 * (the first one waited for, the rest taken while there are any). */
static int pop_batch_attempt(shmq_t *q, void *ctx)
{
    struct shmq__batch_ctx *c = ctx;
    if (shmq__batch_plain(q))
        return shmq__try_pop_batch(q, c);
    int done = 0;
    for (unsigned i = 0; i < c->n; i++) {
        struct shmq_msg m;
        int err = claim_attempt(q, &m);
        if (!err)
            err = copy_out(q, &m, &c->out[i]);
        if (err < 0)
            return done ? done : err;
        done++;
    }
    return done;
}

int shmq_pop_batch(shmq_t *q, struct iovec *bufs, unsigned n, int64_t timeout_ns)
{
    int64_t deadline;
    int err = consumer_enter(q);
    if (err || (err = shmq__deadline(timeout_ns, &deadline)))
        return err;
    if (!bufs || n == 0 || n > INT32_MAX)
        return -EINVAL;
    struct shmq__batch_ctx c = {.out = bufs, .n = n};
    int r = wait_not_empty(q, pop_batch_attempt(q, &c), deadline, pop_batch_attempt, &c);
    if (r > 0) {
        shmq__count(&q->self->counters.popped, (uint64_t)r);
        shmq__count(&q->self->counters.acked, (uint64_t)r);
    }
    return r;
}
