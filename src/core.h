/*
 * Layer: queue core. One non-blocking step of each queue operation, on the SPSC ring
 * (spsc.c) or the MPMC slot pool (mpmc.c, mpmc_batch.c); core.c dispatches between them.
 * Every function here returns at once: 0 or a count on success, -EAGAIN when the queue is
 * full/empty (the facade then waits, queue.c), another negative errno on failure. Nothing
 * here checks a handle's role, opens a queue, reaps or sleeps.
 */
#ifndef SHMQ_CORE_H
#define SHMQ_CORE_H

#include <stdbool.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "handle.h"
#include "pool.h"

/* What a claim attempt found, besides 0 (a message delivered) and a negative errno: a message
 * that must not be delivered, bound to m as a claim so that the dead-letter layer can copy it
 * out and ack it (counted popped, not delivered). */
#define SHMQ__CLAIM_EXPIRED 1 /* older than the queue's TTL */
#define SHMQ__CLAIM_SPENT 2   /* delivered max_deliveries times already */

struct shmq__reserve_ctx {
    size_t len;
    struct shmq_msg *m;
};

/* A batch: `in` for pushes, `out` (lengths in, lengths out) for pops. */
struct shmq__batch_ctx {
    const struct iovec *in;
    struct iovec *out;
    unsigned n;
};

/* ---- core.c ---- */
/* Reserve, copy src (payload and metadata) and commit: shmq_push_msg without the wait. */
int shmq__try_push_msg(shmq_t *q, const struct shmq_msg *src);

/* The dispatched steps below: shmq__try_reserve (m zeroed by the caller), shmq__commit,
 * shmq__discard; shmq__try_claim: 0, SHMQ__CLAIM_EXPIRED / SHMQ__CLAIM_SPENT (m bound), -EAGAIN
 * or an error; shmq__finish (ack or nack), shmq__nack_delayed, shmq__release; shmq__hold
 * (after -EMSGSIZE: keep a claimed message back, undelivered); shmq__try_push_batch;
 * shmq__batch_plain: true when a pop batch may take straight from the ring
 * (shmq__try_pop_batch): no TTL, no delivery limit, and (MPMC) nothing kept back, released or
 * delayed ahead (otherwise a batch is made of single claims); shmq__delayed_waiting: a delayed
 * message waits (a sleeper must wake by the clock); shmq__idle: the handle found nothing to
 * claim and is about to wait, so it gives back what it keeps. */

/* ---- spsc.c: the SPSC ring ---- */
/* Set up the handle's side of the ring when it takes a role (role_take in queue.c). */
int shmq__spsc_attach(shmq_t *q, uint32_t role);
/* shmq_push / shmq_pop without a struct shmq_msg: -EAGAIN when full/empty; pop says
 * -ENOTSUP when the message needs the claim path (delay, TTL, limit, small buffer). */
int shmq__spsc_push_copy(shmq_t *q, const void *data, size_t len);
ssize_t shmq__spsc_pop_copy(shmq_t *q, void *buf, size_t cap);
int shmq__spsc_try_reserve(shmq_t *q, struct shmq__reserve_ctx *c);
int shmq__spsc_commit(shmq_t *q, struct shmq_msg *m);
int shmq__spsc_discard(shmq_t *q, struct shmq_msg *m);
int shmq__spsc_try_claim(shmq_t *q, struct shmq_msg *m);
int shmq__spsc_finish(shmq_t *q, struct shmq_msg *m, bool ack);
int shmq__spsc_nack_delayed(shmq_t *q, struct shmq_msg *m, int64_t delay_ns);
int shmq__spsc_release(shmq_t *q, struct shmq_msg *m);
void shmq__spsc_hold(shmq_t *q, struct shmq_msg *m);
int shmq__spsc_try_push_batch(shmq_t *q, struct shmq__batch_ctx *c);
int shmq__spsc_try_pop_batch(shmq_t *q, struct shmq__batch_ctx *c);
bool shmq__spsc_delayed_waiting(shmq_t *q);
uint64_t shmq__spsc_depth(const struct shmq__mapping *m);
int shmq__spsc_peek(shmq_t *q, unsigned max, int (*fn)(const struct shmq_msg *, void *), void *arg);

/* ---- mpmc.c, mpmc_batch.c: the MPMC queue over the slot pool ---- */
int shmq__mpmc_try_reserve(shmq_t *q, struct shmq__reserve_ctx *c);
int shmq__mpmc_commit(shmq_t *q, struct shmq_msg *m);
int shmq__mpmc_discard(shmq_t *q, struct shmq_msg *m);
/* shmq_push / shmq_pop without a struct shmq_msg, as the SPSC ring's: push -EAGAIN when full;
 * pop -EAGAIN when empty, -ENOTSUP when the next message needs the claim way (kept back,
 * released or delayed ahead, TTL, delivery limit), -EMSGSIZE as a claim's copy would. */
int shmq__mpmc_push_copy(shmq_t *q, const void *data, size_t len);
ssize_t shmq__mpmc_pop_copy(shmq_t *q, void *buf, size_t cap);
int shmq__mpmc_try_claim(shmq_t *q, struct shmq_msg *m);
/* Bind m to a slot we hold READING (index, state `mine`) as this handle's claim. */
void shmq__mpmc_adopt(shmq_t *q, uint32_t index, uint64_t mine, struct shmq_msg *m);
int shmq__mpmc_finish(shmq_t *q, struct shmq_msg *m, bool ack);
int shmq__mpmc_nack_delayed(shmq_t *q, struct shmq_msg *m, int64_t delay_ns);
int shmq__mpmc_release(shmq_t *q, struct shmq_msg *m);
void shmq__mpmc_hold(shmq_t *q, struct shmq_msg *m);
int shmq__mpmc_try_push_batch(shmq_t *q, struct shmq__batch_ctx *c);
bool shmq__mpmc_batch_plain(const shmq_t *q);
int shmq__mpmc_try_pop_batch(shmq_t *q, struct shmq__batch_ctx *c);
void shmq__mpmc_idle(shmq_t *q);
int shmq__mpmc_peek(shmq_t *q, unsigned max, int (*fn)(const struct shmq_msg *, void *), void *arg);
/* At close: everything the handle still holds goes back, so nothing is lost. */
void shmq__mpmc_return_all(shmq_t *q);

/* ---- dispatch (inline: a push and a pop pay no call for it) ---- */

static inline bool shmq__is_spsc(const shmq_t *q)
{
    return q->map->spsc != NULL;
}

static inline int shmq__try_reserve(shmq_t *q, struct shmq__reserve_ctx *c)
{
    return shmq__is_spsc(q) ? shmq__spsc_try_reserve(q, c) : shmq__mpmc_try_reserve(q, c);
}

static inline int shmq__commit(shmq_t *q, struct shmq_msg *m)
{
    return shmq__is_spsc(q) ? shmq__spsc_commit(q, m) : shmq__mpmc_commit(q, m);
}

static inline int shmq__discard(shmq_t *q, struct shmq_msg *m)
{
    return shmq__is_spsc(q) ? shmq__spsc_discard(q, m) : shmq__mpmc_discard(q, m);
}

static inline int shmq__try_claim(shmq_t *q, struct shmq_msg *m)
{
    return shmq__is_spsc(q) ? shmq__spsc_try_claim(q, m) : shmq__mpmc_try_claim(q, m);
}

static inline int shmq__finish(shmq_t *q, struct shmq_msg *m, bool ack)
{
    return shmq__is_spsc(q) ? shmq__spsc_finish(q, m, ack) : shmq__mpmc_finish(q, m, ack);
}

static inline int shmq__nack_delayed(shmq_t *q, struct shmq_msg *m, int64_t delay_ns)
{
    return shmq__is_spsc(q) ? shmq__spsc_nack_delayed(q, m, delay_ns)
                            : shmq__mpmc_nack_delayed(q, m, delay_ns);
}

static inline int shmq__release(shmq_t *q, struct shmq_msg *m)
{
    return shmq__is_spsc(q) ? shmq__spsc_release(q, m) : shmq__mpmc_release(q, m);
}

static inline void shmq__hold(shmq_t *q, struct shmq_msg *m)
{
    if (shmq__is_spsc(q))
        shmq__spsc_hold(q, m);
    else
        shmq__mpmc_hold(q, m);
}

static inline int shmq__try_push_batch(shmq_t *q, struct shmq__batch_ctx *c)
{
    return shmq__is_spsc(q) ? shmq__spsc_try_push_batch(q, c) : shmq__mpmc_try_push_batch(q, c);
}

static inline bool shmq__batch_plain(const shmq_t *q)
{
    if (shmq__is_spsc(q))
        return !q->map->geo.ttl_ns && !q->map->geo.max_deliveries;
    return shmq__mpmc_batch_plain(q);
}

static inline int shmq__try_pop_batch(shmq_t *q, struct shmq__batch_ctx *c)
{
    return shmq__is_spsc(q) ? shmq__spsc_try_pop_batch(q, c) : shmq__mpmc_try_pop_batch(q, c);
}

static inline bool shmq__delayed_waiting(shmq_t *q)
{
    return shmq__is_spsc(q) ? shmq__spsc_delayed_waiting(q) : shmq__delayed_ring_waiting(q);
}

static inline void shmq__idle(shmq_t *q)
{
    if (!shmq__is_spsc(q))
        shmq__mpmc_idle(q);
}

#endif /* SHMQ_CORE_H */
