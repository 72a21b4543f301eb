/*
 * Consuming: messages from a queue onto a stream of records, for `pop`, `drain` and `export`.
 *
 * Messages are claimed and encoded a batch at a time, the batch is written with write(2),
 * and exactly the messages whose bytes the output accepted whole are acknowledged; the
 * others are given back with shmq_release, as never delivered: their delivery counts stay
 * as they were, none is dead-lettered or dropped for it, and they are next in line again in
 * their order (FIFO: before any other message, oldest first; LIFO: back on top). So a closed
 * pipe, a full disk or a signal loses no message: what reached the output (a pipe's buffer
 * counts) is delivered, the rest stays. The stream's file descriptor is written directly:
 * stdio buffering does not apply.
 *
 * With keep, nothing is acknowledged: every message written is held (claimed) until the end
 * and then given back, so the queue is left as it was and each message is copied once even
 * while others push. Concurrent consumers do not see the held messages meanwhile.
 */
#ifndef SHMQ_CLI_CONSUME_H
#define SHMQ_CLI_CONSUME_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "progress.h"
#include "records.h"
#include "shmq.h"

struct cli_consume {
    shmq_t *q;
    FILE *out;
    enum cli_record_format format;
    uint64_t limit;  /* at most this many messages (UINT64_MAX: no limit) */
    int64_t wait_ns; /* 0: stop when the queue is empty; else wait for messages this long in
                        total (SHMQ_FOREVER: no limit) */
    struct cli_progress *progress; /* or NULL */
    bool keep;                     /* copy: give every message back at the end */
    /* out */
    uint64_t count;     /* messages written and acknowledged */
    bool output_failed; /* the error came from writing to out */
    /* private */
    enum shmq_kind kind;
    struct shmq_msg *kept; /* keep: the messages written, in the order claimed */
    size_t nkept, kept_cap;
};

/*
 * Move messages from c->q to c->out. Returns 0 when c->limit messages were written, -EAGAIN
 * when the queue was found empty (wait_ns 0), -ETIMEDOUT when wait_ns passed, -EINTR on a
 * signal, -errno of the stream (-EPIPE, -ENOSPC...) or of the queue; -EINPROGRESS for keep
 * on a single-producer/single-consumer ring (it lets a consumer hold one message only).
 * Whatever the result, c->count messages were written and acknowledged (keep: written and
 * given back), and the others are still in the queue.
 */
int cli_consume_run(struct cli_consume *c);

#endif /* SHMQ_CLI_CONSUME_H */
