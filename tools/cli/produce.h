/*
 * Producing: messages from arguments or from a stream of records into a queue, for `push`
 * and `import`.
 *
 * The rule for bad input: a record that is malformed or too large is not pushed, everything
 * before it stays in the queue, and the message says which record it was and how many were
 * pushed before it.
 */
#ifndef SHMQ_CLI_PRODUCE_H
#define SHMQ_CLI_PRODUCE_H

#include <stdbool.h>
#include <stdint.h>

#include "progress.h"
#include "records.h"
#include "shmq.h"

struct cli_produce {
    shmq_t *q;
    uint32_t slot_size;
    uint32_t capacity;
    int64_t timeout_ns; /* how long one message may wait for room (SHMQ_FOREVER: no limit) */
    /* metadata for records that carry none of their own (--type, ...; NULL = none) */
    const char *type;
    const char *correlation_id;
    const char *reply_to;
    const char *type_field; /* --type-field PATH: the type from this JSON field, or NULL */
    bool stamp;             /* give records without a timestamp the current time */
    bool reversed;          /* records are pushed last first: messages say "after it" */
    /* out */
    uint64_t pushed;
    size_t last_len;        /* payload bytes of the record last tried, for messages */
    bool last_has_metadata; /* it had a type, ids or a timestamp */
    bool told_full;         /* the note about a full queue was printed */
    bool tty;               /* stderr is a terminal (looked up once) */
};

/* Prepare p for q (reads its slot size). 0, or prints the failure and returns an exit code. */
int cli_produce_init(struct cli_produce *p, shmq_t *q);

/* Push one record, waiting for room as p->timeout_ns allows (on a terminal, a wait longer
 * than a second is explained on stderr once, with --timeout suggested). 0, or -EMSGSIZE (payload
 * and metadata do not fit a slot), -EAGAIN / -ETIMEDOUT (full), -EINTR (a signal), or another error
 * of shmq_push_msg. Nothing is pushed on failure. */
int cli_produce_one(struct cli_produce *p, const struct cli_record *rec);

/* Print why the push of item `number` (a "line", "record" or "argument") failed with err,
 * and how many were pushed before it; return the exit code. */
int cli_produce_fail(const struct cli_produce *p, int err, const char *unit, uint64_t number);

/* Print why reading the input failed with err (from cli_records_next) and how many were
 * pushed; return the exit code. */
int cli_produce_fail_input(const struct cli_produce *p, const struct cli_records *in, int err);

/* Push every record of a stream, updating progress (may be NULL). Returns an exit code and
 * prints what went wrong. */
int cli_produce_stream(struct cli_produce *p, struct cli_records *in,
                       struct cli_progress *progress);

#endif /* SHMQ_CLI_PRODUCE_H */
