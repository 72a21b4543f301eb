/* Consuming messages onto a stream, a batch at a time (see consume.h). */
#include "consume.h"

#include <errno.h>
#include <stdbool.h>

#include "clock.h"
#include "interrupt.h"

/* Claims held before the output is flushed and they are acknowledged. Large enough that a
 * flush (one write) carries many small messages, small enough to hold few slots. */
#define BATCH 256

struct batch {
    struct shmq_msg held[BATCH]; /* claimed and written, not yet acknowledged */
    unsigned n;
    bool output_failed; /* a write or flush failed: the held messages were not delivered */
};

/* Flush the output, then acknowledge every written message. */
static int settle(struct cli_consume *c, struct batch *b)
{
    if (b->n == 0)
        return 0;
    if (fflush(c->out) != 0) {
        b->output_failed = true;
        return errno ? -errno : -EIO;
    }
    for (unsigned i = 0; i < b->n; i++) {
        int err = shmq_ack(c->q, &b->held[i]);
        if (err) {
            /* The rest stay claimed; closing the handle gives them back. */
            b->n = 0;
            return err;
        }
        c->count++;
    }
    b->n = 0;
    return 0;
}

/* Give back what was claimed and not delivered, newest first, so that a LIFO queue gets its
 * order back. */
static void give_back(struct cli_consume *c, struct batch *b)
{
    while (b->n > 0)
        shmq_nack(c->q, &b->held[--b->n]);
}

struct claim_call {
    shmq_t *q;
    struct shmq_msg *m;
};

static int claim_op(void *ctx, int64_t timeout_ns)
{
    struct claim_call *call = ctx;
    return shmq_claim(call->q, call->m, timeout_ns);
}

/* Nanoseconds left until deadline (INT64_MAX: none), as a timeout. */
static int64_t time_left(int64_t deadline)
{
    if (deadline == INT64_MAX)
        return SHMQ_FOREVER;
    int64_t left = deadline - cli_monotonic_ns();
    return left > 0 ? left : 0;
}

/*
 * Claim the next message into b->held[b->n]. Without waiting first; when the queue is empty,
 * the batch is settled before any wait (written messages do not sit in a buffer while the
 * tool sleeps), then the wait lasts until the deadline.
 */
static int claim_next(struct cli_consume *c, struct batch *b, int64_t deadline)
{
    int err = shmq_claim(c->q, &b->held[b->n], 0);
    if (err == -EBUSY && b->n > 0) {
        /* A single-consumer ring allows one claim at a time. */
        if ((err = settle(c, b)) != 0)
            return err;
        err = shmq_claim(c->q, &b->held[b->n], 0);
    }
    if (err != -EAGAIN)
        return err;
    if ((err = settle(c, b)) != 0)
        return err;
    if (c->wait_ns == 0)
        return -EAGAIN;
    int64_t left = time_left(deadline);
    if (left == 0)
        return -ETIMEDOUT;
    struct claim_call call = {c->q, &b->held[b->n]};
    return cli_wait_sliced(claim_op, &call, left);
}

int cli_consume_run(struct cli_consume *c)
{
    struct batch b = {.n = 0, .output_failed = false};
    int64_t deadline = c->wait_ns == SHMQ_FOREVER ? INT64_MAX : cli_monotonic_ns() + c->wait_ns;
    int err = 0;
    c->count = 0;
    while (c->count + b.n < c->limit) {
        if (cli_interrupted()) {
            err = -EINTR;
            break;
        }
        if ((err = claim_next(c, &b, deadline)) != 0)
            break;
        struct shmq_msg *m = &b.held[b.n++];
        if ((err = cli_record_write(c->out, c->format, m)) != 0) {
            b.output_failed = true;
            break;
        }
        cli_progress_update(c->progress, c->count + b.n, 0);
        if (b.n == BATCH && (err = settle(c, &b)) != 0)
            break;
    }
    if (!b.output_failed) {
        int settled = settle(c, &b);
        if (settled)
            err = settled;
    }
    c->output_failed = b.output_failed;
    give_back(c, &b); /* what a failed write or flush left unacknowledged */
    return err;
}
