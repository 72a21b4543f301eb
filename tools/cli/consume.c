/* Consuming messages onto a stream, a batch at a time (see consume.h). */
#include "consume.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "interrupt.h"

/* A batch ends at this many messages or bytes: large enough that one write carries many
 * small messages, small enough to hold few slots and little memory. */
#define BATCH_MESSAGES 256
#define BATCH_BYTES (1 << 20)

/*
 * Claimed messages and their encoding. The encoding is written with write(2), not stdio, so
 * that the tool knows exactly how many bytes the output accepted: the messages whose bytes
 * all went out are acknowledged, the others are given back.
 */
struct batch {
    struct shmq_msg held[BATCH_MESSAGES]; /* claimed, not yet acknowledged */
    size_t end[BATCH_MESSAGES]; /* offset just past each message's bytes (SIZE_MAX: none) */
    unsigned n;
    FILE *encoding; /* an open_memstream over bytes/size, or NULL */
    char *bytes;
    size_t size;
};

/* Write len bytes; returns how many were written, and sets *err when that is fewer. */
static size_t write_all(int fd, const char *buf, size_t len, int *err)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = write(fd, buf + done, len - done);
        if (n > 0) {
            done += (size_t)n;
            /* A signal that cut a write short returns the count written, not EINTR: the
             * next write would block again, so stop here. */
            if (done < len && cli_interrupted()) {
                *err = -EINTR;
                break;
            }
        } else if (n < 0 && errno == EINTR && !cli_interrupted()) {
            continue;
        } else {
            *err = n < 0 ? -errno : -EIO;
            break;
        }
    }
    return done;
}

/*
 * A signal cut the write of a batch inside a message: write the rest of that message, so that
 * the output holds whole records only (the reader may be a moment from reading again). Only
 * a second signal stops this write, which may then leave the record cut. Returns how many
 * more bytes were written.
 */
static size_t finish_record(int fd, const char *buf, size_t len)
{
    size_t done = 0;
    while (done < len && cli_interrupt_count() < 2) {
        ssize_t n = write(fd, buf + done, len - done);
        if (n > 0)
            done += (size_t)n;
        else if (n == 0 || errno != EINTR)
            break;
    }
    return done;
}

static void encoding_close(struct batch *b)
{
    if (b->encoding)
        fclose(b->encoding);
    free(b->bytes);
    b->encoding = NULL;
    b->bytes = NULL;
    b->size = 0;
}

/*
 * Give back n claimed messages, msgs[0] being the one claimed first, as not delivered
 * (shmq_release: the delivery count is not raised, nothing is dead-lettered for it) and in
 * an order that puts them where they were: a FIFO queue serves released messages first, in
 * the order they were released, so the oldest goes first; a LIFO queue serves the last one
 * released first, so the newest goes first and the oldest ends on top. 0, or the first
 * error (the messages not given back stay claimed, and closing the handle gives them back).
 */
static int give_back(struct cli_consume *c, struct shmq_msg *msgs, size_t n)
{
    int first = 0;
    for (size_t k = 0; k < n; k++) {
        size_t i = c->kind == SHMQ_LIFO ? n - 1 - k : k;
        int err = shmq_release(c->q, &msgs[i]);
        if (err && !first)
            first = err;
    }
    return first;
}

/* --keep: hold the messages written (msgs[0..n)) until the end, claimed, so that the next
 * claim finds the next message; they are all given back then. */
static int keep(struct cli_consume *c, const struct shmq_msg *msgs, size_t n)
{
    if (c->nkept + n > c->kept_cap) {
        size_t cap = c->kept_cap ? c->kept_cap * 2 : 1024;
        while (cap < c->nkept + n)
            cap *= 2;
        struct shmq_msg *kept = realloc(c->kept, cap * sizeof *kept);
        if (!kept)
            return -ENOMEM;
        c->kept = kept;
        c->kept_cap = cap;
    }
    memcpy(c->kept + c->nkept, msgs, n * sizeof *msgs);
    c->nkept += n;
    return 0;
}

/*
 * Write the batch out, acknowledge the messages that went out whole (with c->keep: hold
 * them), give the others back. 0, or the error of the output (with c->output_failed set) or
 * of an acknowledgement.
 */
static int settle(struct cli_consume *c, struct batch *b)
{
    if (b->n == 0)
        return 0;
    int err = 0;
    size_t written = 0;
    if (fflush(b->encoding) != 0)
        err = -ENOMEM;
    else
        written = write_all(fileno(c->out), b->bytes, b->size, &err);
    if (err == -EINTR && written > 0) {
        size_t boundary = written;
        for (unsigned k = 0; k < b->n; k++)
            if (b->end[k] >= written) {
                boundary = b->end[k];
                break;
            }
        written += finish_record(fileno(c->out), b->bytes + written, boundary - written);
    }
    if (err && err != -EINTR)
        c->output_failed = true;
    unsigned i = 0;
    while (i < b->n && b->end[i] <= written)
        i++;
    if (c->keep) {
        int kept = keep(c, b->held, i);
        if (kept) {
            /* Not written after all: nothing is counted, everything goes back. */
            i = 0;
            err = err ? err : kept;
        } else {
            c->count += i;
        }
    } else {
        for (unsigned k = 0; k < i; k++) {
            int acked = shmq_ack(c->q, &b->held[k]);
            if (acked) {
                /* It stays claimed: closing the handle gives it back. */
                give_back(c, b->held + k + 1, b->n - k - 1);
                b->n = 0;
                encoding_close(b);
                return err ? err : acked;
            }
            c->count++;
        }
    }
    give_back(c, b->held + i, b->n - i);
    b->n = 0;
    encoding_close(b);
    return err;
}

/* Encode the message just claimed into b->held[b->n]. */
static int batch_add(struct cli_consume *c, struct batch *b)
{
    int err = 0;
    if (!b->encoding && !(b->encoding = open_memstream(&b->bytes, &b->size)))
        err = -ENOMEM;
    if (!err)
        err = cli_record_write(b->encoding, c->format, &b->held[b->n]);
    off_t end = err ? -1 : ftello(b->encoding);
    b->end[b->n++] = end < 0 ? SIZE_MAX : (size_t)end;
    return end < 0 ? (err ? err : -ENOMEM) : 0;
}

static bool batch_full(const struct batch *b)
{
    return b->n == BATCH_MESSAGES || b->end[b->n - 1] >= BATCH_BYTES;
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
 * the batch is settled before any wait (claimed messages are not kept from the output while
 * the tool sleeps), then the wait lasts until the deadline.
 */
static int claim_next(struct cli_consume *c, struct batch *b, int64_t deadline)
{
    int err = shmq_claim(c->q, &b->held[b->n], 0);
    if (err == -EINPROGRESS && b->n > 0) {
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
    struct batch *b = calloc(1, sizeof *b);
    if (!b)
        return -ENOMEM;
    int64_t deadline = c->wait_ns == SHMQ_FOREVER ? INT64_MAX : cli_monotonic_ns() + c->wait_ns;
    c->count = 0;
    c->output_failed = false;
    struct shmq_stat st;
    int err = shmq_stat(c->q, &st);
    if (err) {
        free(b);
        return err;
    }
    c->kind = st.kind;
    if (c->keep && (st.flags & SHMQ_SINGLE_CONSUMER) && (st.flags & SHMQ_SINGLE_PRODUCER)) {
        /* The ring lets its one consumer hold one message at a time. */
        free(b);
        return -EINPROGRESS;
    }
    /* Whatever the stream holds goes first: from here on, the batches write to its fd. */
    err = fflush(c->out) == 0 ? 0 : -errno;
    while (!err && c->count + b->n < c->limit) {
        if (cli_interrupted()) {
            err = -EINTR;
            break;
        }
        if ((err = claim_next(c, b, deadline)) != 0)
            break;
        if ((err = batch_add(c, b)) != 0)
            break;
        cli_progress_update(c->progress, c->count + b->n, 0);
        if (batch_full(b))
            err = settle(c, b);
    }
    int settled = settle(c, b);
    if (settled && (!err || err == -EAGAIN || err == -ETIMEDOUT || err == -EINTR))
        err = settled;
    free(b);
    if (c->keep) {
        settled = give_back(c, c->kept, c->nkept);
        if (settled && (!err || err == -EAGAIN || err == -ETIMEDOUT || err == -EINTR))
            err = settled;
        free(c->kept);
        c->kept = NULL;
        c->nkept = c->kept_cap = 0;
    }
    return err;
}
