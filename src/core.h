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

/* ---- core.c: dispatch ---- */
int shmq__try_reserve(shmq_t *q, struct shmq__reserve_ctx *c);
int shmq__commit(shmq_t *q, struct shmq_msg *m);
int shmq__discard(shmq_t *q, struct shmq_msg *m);
/* Reserve, copy src (payload and metadata) and commit: shmq_push_msg without the wait. */
int shmq__try_push_msg(shmq_t *q, const struct shmq_msg *src);
/* 0, SHMQ__CLAIM_EXPIRED / SHMQ__CLAIM_SPENT (m bound), -EAGAIN, or an error. */
int shmq__try_claim(shmq_t *q, struct shmq_msg *m);
int shmq__finish(shmq_t *q, struct shmq_msg *m, bool ack);
int shmq__nack_delayed(shmq_t *q, struct shmq_msg *m, int64_t delay_ns);
int shmq__release(shmq_t *q, struct shmq_msg *m);
/* After -EMSGSIZE: keep a claimed message back, undelivered (see shmq_pop). */
void shmq__hold(shmq_t *q, struct shmq_msg *m);
int shmq__try_push_batch(shmq_t *q, struct shmq__batch_ctx *c);
/* True when a pop batch may take straight from the ring (shmq__try_pop_batch): no TTL, no
 * delivery limit, and (MPMC) nothing kept back, released or delayed ahead. Otherwise a batch
 * is made of single claims. */
bool shmq__batch_plain(const shmq_t *q);
int shmq__try_pop_batch(shmq_t *q, struct shmq__batch_ctx *c);
/* True when a delayed message waits (a sleeper must wake up by the clock to look at it). */
bool shmq__delayed_waiting(shmq_t *q);
/* The handle found nothing to claim and is about to wait: give back what it keeps. */
void shmq__idle(shmq_t *q);

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
bool shmq__mpmc_delayed_waiting(const shmq_t *q);
void shmq__mpmc_idle(shmq_t *q);
int shmq__mpmc_peek(shmq_t *q, unsigned max, int (*fn)(const struct shmq_msg *, void *), void *arg);
/* At close: everything the handle still holds goes back, so nothing is lost. */
void shmq__mpmc_return_all(shmq_t *q);

#endif /* SHMQ_CORE_H */
