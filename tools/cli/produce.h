/*
 * Producing: messages from arguments or from a stream of records into a queue or a topic,
 * for `push`, `pub` and `import`. The sink is the only difference between them: a queue takes
 * each message with shmq_push_msg, a topic with shmq_publish_msg under a subject. Reading the
 * records (records.h), taking a type or a subject from a JSON field, the default metadata,
 * batching (records that carry no metadata go into a queue up to 64 at a time, see
 * produce.c), waiting for room (with the note on a terminal), interrupts and the messages that
 * say what went wrong are this file's, once for every producing verb.
 *
 * The rule for bad input: a record that is malformed or too large is not pushed, everything
 * before it stays in the queue (or was published), and the message says which record it was
 * and how many were pushed before it.
 */
#ifndef SHMQ_CLI_PRODUCE_H
#define SHMQ_CLI_PRODUCE_H

#include <stdbool.h>
#include <stdint.h>

#include "options.h"
#include "progress.h"
#include "records.h"
#include "shmq.h"

/* The --timeout option of a producing verb: how long one message may wait for room, in
 * p->timeout_ns (`help` says for what). */
#define CLI_PRODUCE_TIMEOUT_OPTION(p, help_text)                                                   \
    {                                                                                              \
        .name = "timeout", .letter = 't', .kind = CLI_OPTION_DURATION, .target = &(p)->timeout_ns, \
        .value_name = "DURATION", .help = (help_text)                                              \
    }
#define CLI_PRODUCE_QUEUE_TIMEOUT "give up if the queue stays full this long (default: forever)"

struct cli_produce {
    /* the sink, set by cli_produce_init (a queue) or cli_produce_init_topic */
    shmq_t *q;
    shmq_topic_t *topic;
    const char *subject; /* topic: SUBJECT, for records without a --subject-field value */
    uint32_t slot_size;
    uint32_t capacity;
    int64_t timeout_ns; /* how long one message may wait for room (SHMQ_FOREVER: no limit) */
    /* metadata for records that carry none of their own (--type, ...; NULL = none) */
    const char *type;
    const char *correlation_id;
    const char *reply_to;
    const char *type_field;    /* --type-field PATH: the type from this JSON field, or NULL */
    const char *subject_field; /* --subject-field PATH (topic): the subject from it, or NULL */
    bool stamp;                /* give records without a timestamp the current time */
    bool reversed;             /* records are pushed last first: messages say "after it" */
    /* out */
    uint64_t pushed;        /* pushed or published */
    size_t last_len;        /* payload bytes of the record last tried, for messages */
    bool last_has_metadata; /* it had a type, ids or a timestamp */
    bool told_full;         /* the note about a full queue was printed */
    bool tty;               /* stderr is a terminal (looked up once) */
    /* private */
    const char *record_subject; /* the subject of the record being published */
};

/* Prepare p for the queue q (reads its slot size). 0, or prints the failure and returns an
 * exit code. */
int cli_produce_init(struct cli_produce *p, shmq_t *q);

/* Prepare p for the topic t, publishing under `subject` (already checked). 0, or prints the
 * failure and returns an exit code. */
int cli_produce_init_topic(struct cli_produce *p, shmq_topic_t *t, const char *subject);

/*
 * The checks shared by push and pub before anything is opened: framing options (-0, --raw,
 * --jsonl, --csv) and --type-field / --subject-field apply to standard input only, so not with
 * messages given as arguments (`arguments`: how many were given). 0, or prints the usage error
 * and returns CLI_EXIT_USAGE. Also checks the lengths of --type, --correlation-id, --reply-to.
 */
int cli_produce_check_usage(const struct cli_produce *p, int format, int arguments);

/* Push one record, waiting for room as p->timeout_ns allows (on a terminal, a wait longer
 * than a second is explained on stderr once, with --timeout suggested). 0, or -EMSGSIZE (payload
 * and metadata do not fit a slot), -EAGAIN / -ETIMEDOUT (full), -EINTR (a signal), or another error
 * of shmq_push_msg / shmq_publish_msg. Nothing is pushed on failure. */
int cli_produce_one(struct cli_produce *p, const struct cli_record *rec);

/* Print why the push of item `number` (a "line", "record" or "message") failed with err,
 * and how many were pushed before it; return the exit code. */
int cli_produce_fail(const struct cli_produce *p, int err, const char *unit, uint64_t number);

/* Print why reading the input failed with err (from cli_records_next) and how many were
 * pushed; return the exit code. */
int cli_produce_fail_input(const struct cli_produce *p, const struct cli_records *in, int err);

/* Push each of the `count` arguments as one message ("message N" in errors). Returns an exit
 * code and prints what went wrong. */
int cli_produce_arguments(struct cli_produce *p, char **messages, int count);

/* Push every record of a stream, updating progress (may be NULL). Returns an exit code and
 * prints what went wrong. */
int cli_produce_stream(struct cli_produce *p, struct cli_records *in,
                       struct cli_progress *progress);

/* Push every record of standard input in the given format (csv_header: skip the first CSV
 * record). Returns an exit code and prints what went wrong. */
int cli_produce_stdin(struct cli_produce *p, enum cli_record_format format, bool csv_header);

#endif /* SHMQ_CLI_PRODUCE_H */
