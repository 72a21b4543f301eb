/* Producing messages into a queue or a topic (see produce.h). */
#include "produce.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "diag.h"
#include "interrupt.h"
#include "options.h"
#include "parse.h"
#include "queue.h"

/* On a terminal, a push that waits this long for room says why. */
#define FULL_NOTE_AFTER_NS 1000000000LL

static void init_common(struct cli_produce *p, uint32_t slot_size, uint32_t capacity)
{
    p->slot_size = slot_size;
    p->capacity = capacity;
    p->tty = isatty(STDERR_FILENO) != 0;
    p->pushed = 0;
}

int cli_produce_init(struct cli_produce *p, shmq_t *q)
{
    struct shmq_stat st;
    int code = cli_queue_stat(q, &st);
    if (code)
        return code;
    p->q = q;
    p->topic = NULL;
    init_common(p, st.slot_size, st.capacity);
    return 0;
}

int cli_produce_init_topic(struct cli_produce *p, shmq_topic_t *t, const char *subject)
{
    struct shmq_topic_stat st;
    int err = shmq_topic_stat(t, &st);
    if (err)
        return cli_fail(err, "cannot read the statistics of '%s'", shmq_topic_name(t));
    p->q = NULL;
    p->topic = t;
    p->subject = subject;
    init_common(p, st.slot_size, st.capacity);
    return 0;
}

int cli_produce_check_usage(const struct cli_produce *p, int format, int arguments)
{
    int code = cli_options_check_metadata(p->type, p->correlation_id, p->reply_to);
    if (code)
        return code;
    if (arguments > 0 && format != CLI_RECORDS_LINES) {
        cli_error("-0, --raw, --jsonl and --csv frame standard input: they do not apply to "
                  "messages given as arguments");
        return CLI_EXIT_USAGE;
    }
    const char *field = p->type_field ? "--type-field" : "--subject-field";
    if (arguments > 0 && (p->type_field || p->subject_field)) {
        cli_error("%s reads the records of standard input, not arguments", field);
        return CLI_EXIT_USAGE;
    }
    return 0;
}

/* The sink's name, for messages: a queue's or a topic's. */
static const char *sink_name(const struct cli_produce *p)
{
    return p->topic ? shmq_topic_name(p->topic) : shmq_name(p->q);
}

struct push_call {
    const struct cli_produce *p;
    const struct shmq_msg *m;
};

static int push_op(void *ctx, int64_t timeout_ns)
{
    struct push_call *call = ctx;
    const struct cli_produce *p = call->p;
    if (p->topic)
        return shmq_publish_msg(p->topic, p->record_subject, call->m, timeout_ns);
    return shmq_push_msg(p->q, call->m, timeout_ns);
}

/* Run op (a push or a publish) waiting for room as p->timeout_ns allows; on a terminal, a
 * wait longer than a second is explained once. op's result, or cli_wait_sliced's. */
static int wait_for_room(struct cli_produce *p, cli_wait_op op, void *ctx)
{
    if (p->timeout_ns <= FULL_NOTE_AFTER_NS || p->told_full || !p->tty)
        return cli_wait_sliced(op, ctx, p->timeout_ns);
    /* A person waiting at a terminal learns why nothing happens, once. */
    int err = cli_wait_sliced(op, ctx, FULL_NOTE_AFTER_NS);
    if (err != -ETIMEDOUT)
        return err;
    p->told_full = true;
    if (p->topic)
        cli_error("topic '%s' is full (a group with a live member is %" PRIu32
                  " messages behind): waiting for it to read (--timeout DURATION gives "
                  "up instead; Ctrl-C stops, keeping what was published)",
                  sink_name(p), p->capacity);
    else
        cli_error("queue '%s' is full (%" PRIu32 " messages): waiting for a consumer to "
                  "make room (--timeout DURATION gives up instead; Ctrl-C stops, keeping "
                  "what was pushed)",
                  sink_name(p), p->capacity);
    int64_t left =
        p->timeout_ns == SHMQ_FOREVER ? SHMQ_FOREVER : p->timeout_ns - FULL_NOTE_AFTER_NS;
    return cli_wait_sliced(op, ctx, left);
}

int cli_produce_one(struct cli_produce *p, const struct cli_record *rec)
{
    struct shmq_msg m = {
        .data = (void *)rec->data,
        .len = rec->len,
        .timestamp_ns = rec->timestamp_ns,
        .type = rec->type ? rec->type : p->type,
        .correlation_id = rec->correlation_id ? rec->correlation_id : p->correlation_id,
        .reply_to = rec->reply_to ? rec->reply_to : p->reply_to,
    };
    p->last_len = rec->len;
    if (!p->record_subject)
        p->record_subject = p->subject;
    if (p->stamp && !m.timestamp_ns)
        m.timestamp_ns = cli_realtime_ns();
    p->last_has_metadata = m.timestamp_ns || m.type || m.correlation_id || m.reply_to;
    struct push_call call = {p, &m};
    int err = wait_for_room(p, push_op, &call);
    p->record_subject = NULL;
    if (err == 0)
        p->pushed++;
    return err;
}

static const char *plural(uint64_t n)
{
    return n == 1 ? "" : "s";
}

/* "nothing was pushed", "the 1 message before it was pushed and stays in 'q'", "the 2
 * messages before it were published"... */
static void kept_text(const struct cli_produce *p, char *buf, size_t size)
{
    unsigned long long n = (unsigned long long)p->pushed;
    const char *done = p->topic ? "published" : "pushed";
    if (n == 0)
        snprintf(buf, size, "nothing was %s", done);
    else if (p->topic)
        snprintf(buf, size, "the %llu message%s %s it %s published", n, plural(n),
                 p->reversed ? "after" : "before", n == 1 ? "was" : "were");
    else
        snprintf(buf, size, "the %llu message%s %s it %s pushed and stay%s in '%s'", n, plural(n),
                 p->reversed ? "after" : "before", n == 1 ? "was" : "were", n == 1 ? "s" : "",
                 sink_name(p));
}

int cli_produce_fail(const struct cli_produce *p, int err, const char *unit, uint64_t number)
{
    unsigned long long at = (unsigned long long)number;
    char kept[320], timeout[32];
    kept_text(p, kept, sizeof kept);
    const char *kind = p->topic ? "topic" : "queue";
    switch (-err) {
    case EMSGSIZE:
        cli_error("%s %llu (%zu byte%s%s) does not fit in a slot of %u bytes; %s", unit, at,
                  p->last_len, plural(p->last_len),
                  p->topic ? (p->last_has_metadata ? " plus the subject and metadata"
                                                   : " plus the subject")
                           : (p->last_has_metadata ? " plus metadata" : ""),
                  p->slot_size, kept);
        return CLI_EXIT_BAD_INPUT;
    case EAGAIN:
    case ETIMEDOUT:
        if (p->timeout_ns == 0) {
            cli_error("%s '%s' is full at %s %llu (--timeout 0: no wait); %s", kind, sink_name(p),
                      unit, at, kept);
        } else {
            cli_format_duration(p->timeout_ns, timeout, sizeof timeout);
            cli_error("%s '%s' stayed full for %s at %s %llu%s; %s", kind, sink_name(p), timeout,
                      unit, at, p->topic ? " (a group is a whole ring behind)" : "", kept);
        }
        return CLI_EXIT_FULL;
    case EINTR:
        cli_error("interrupted at %s %llu; %s", unit, at, kept);
        return CLI_EXIT_SIGNAL + cli_interrupted();
    default:
        return cli_fail(err, "%s %s %llu %s '%s' (%s)", p->topic ? "publishing" : "pushing", unit,
                        at, p->topic ? "to" : "into", sink_name(p), kept);
    }
}

int cli_produce_fail_input(const struct cli_produce *p, const struct cli_records *in, int err)
{
    char kept[320];
    kept_text(p, kept, sizeof kept);
    if (err == -EINTR) {
        cli_error("interrupted at %s %llu; %s", cli_records_unit(in->format),
                  (unsigned long long)in->number + 1, kept);
        return CLI_EXIT_SIGNAL + cli_interrupted();
    }
    if (err == -EMSGSIZE || err == -EINVAL) {
        cli_error("%s%s; %s", in->why,
                  err != -EMSGSIZE ? ""
                  : p->topic       ? ", the topic's slot size"
                                   : ", the queue's slot size",
                  kept);
        return CLI_EXIT_BAD_INPUT;
    }
    return cli_fail_system(err, "reading the input (%s)", kept);
}

int cli_produce_arguments(struct cli_produce *p, char **messages, int count)
{
    for (int i = 0; i < count; i++) {
        struct cli_record rec = {.data = messages[i], .len = strlen(messages[i])};
        int err = cli_produce_one(p, &rec);
        if (err)
            return cli_produce_fail(p, err, "message", (uint64_t)i + 1);
    }
    return CLI_EXIT_OK;
}

/*
 * --type-field and --subject-field: take the record's type or subject from its JSON. 0 (rec
 * and p->record_subject set, pointing into type[] and subject[]), or prints why and returns
 * the exit code.
 */
static int take_fields(struct cli_produce *p, const struct cli_records *in, struct cli_record *rec,
                       char type[SHMQ_META_STR_MAX + 1], char subject[SHMQ_SUBJECT_MAX + 1])
{
    char why[SHMQ_SUBJECT_MAX + 128], kept[320];
    const char *option = "--type-field";
    int got = 0;
    if (p->type_field && !rec->type) {
        got = cli_record_field(rec, p->type_field, type, SHMQ_META_STR_MAX, why, sizeof why);
        if (got == 1)
            rec->type = type;
    }
    if (got >= 0 && p->subject_field) {
        option = "--subject-field";
        got = cli_record_field(rec, p->subject_field, subject, SHMQ_SUBJECT_MAX, why, sizeof why);
        if (got == 1 && shmq_subject_check(subject) != 0) {
            snprintf(why, sizeof why, "'%.*s' is not a subject", SHMQ_SUBJECT_MAX, subject);
            got = -EINVAL;
        }
        if (got == 1)
            p->record_subject = subject;
    }
    if (got >= 0)
        return 0;
    kept_text(p, kept, sizeof kept);
    cli_error("%s %llu: %s: %s; %s", cli_records_unit(in->format), (unsigned long long)in->number,
              option, why, kept);
    return got == -ENOMEM ? CLI_EXIT_FAILURE : CLI_EXIT_BAD_INPUT;
}

/*
 * Batches: records that become messages without metadata, into a queue, are pushed up to
 * BATCH_MESSAGES at a time with shmq_push_batch (one ring step for many). A batch is pushed
 * when it is full, before anything else is reported, and whenever the next record is not
 * already read (cli_records_ready): a record that came through a pipe is never kept waiting
 * for the ones after it. What errors say is as for single pushes: the record named is the
 * first one not pushed, and every record before it was pushed.
 */
#define BATCH_MESSAGES 64
#define BATCH_BYTES (256 * 1024)

struct batch {
    struct cli_buffer bytes; /* the records' payloads, one after the other */
    size_t offset[BATCH_MESSAGES], len[BATCH_MESSAGES];
    uint64_t number[BATCH_MESSAGES]; /* their record numbers, for messages */
    unsigned n;
};

/* Whether the records of this stream may be batched: a queue, and no metadata at all. */
static bool batchable(const struct cli_produce *p, const struct cli_records *in)
{
    return p->q && !p->topic && !p->type && !p->correlation_id && !p->reply_to && !p->stamp &&
           !p->type_field && !p->reversed &&
           (in->format == CLI_RECORDS_LINES || in->format == CLI_RECORDS_NUL ||
            in->format == CLI_RECORDS_RAW);
}

struct batch_call {
    shmq_t *q;
    const struct iovec *msgs;
    unsigned n;
    unsigned pushed; /* out */
};

static int batch_op(void *ctx, int64_t timeout_ns)
{
    struct batch_call *call = ctx;
    int n = shmq_push_batch(call->q, call->msgs, call->n, timeout_ns);
    if (n < 0)
        return n;
    call->pushed = (unsigned)n;
    return 0;
}

/* Push the batch (it is empty afterwards). CLI_EXIT_OK, or the exit code of a printed
 * failure naming the first record not pushed. */
static int batch_push(struct cli_produce *p, struct batch *b, const char *unit)
{
    /* Empty records only: the buffer was never allocated, and NULL + 0 is no pointer. */
    static unsigned char none[1];
    unsigned char *base = b->bytes.data ? b->bytes.data : none;
    struct iovec msgs[BATCH_MESSAGES];
    for (unsigned i = 0; i < b->n; i++)
        msgs[i] = (struct iovec){base + b->offset[i], b->len[i]};
    int code = CLI_EXIT_OK;
    for (unsigned done = 0; done < b->n;) {
        struct batch_call call = {p->q, msgs + done, b->n - done, 0};
        p->last_len = b->len[done];
        p->last_has_metadata = false;
        int err = wait_for_room(p, batch_op, &call);
        if (err) {
            code = cli_produce_fail(p, err, unit, b->number[done]);
            break;
        }
        done += call.pushed;
        p->pushed += call.pushed;
    }
    b->n = 0;
    b->bytes.len = 0;
    return code;
}

/* Add the record to the batch, pushing it first when it is full. */
static int batch_add(struct cli_produce *p, struct batch *b, const struct cli_records *in,
                     const struct cli_record *rec)
{
    const char *unit = cli_records_unit(in->format);
    if (b->n == BATCH_MESSAGES || b->bytes.len + rec->len > BATCH_BYTES) {
        int code = batch_push(p, b, unit);
        if (code)
            return code;
    }
    b->offset[b->n] = b->bytes.len;
    if (cli_buffer_append(&b->bytes, rec->data, rec->len) != 0) {
        char kept[320];
        kept_text(p, kept, sizeof kept);
        return cli_fail_system(-ENOMEM, "%s %llu (%s)", unit, (unsigned long long)in->number, kept);
    }
    b->len[b->n] = rec->len;
    b->number[b->n++] = in->number;
    return CLI_EXIT_OK;
}

int cli_produce_stream(struct cli_produce *p, struct cli_records *in, struct cli_progress *progress)
{
    const char *unit = cli_records_unit(in->format);
    bool batching = batchable(p, in);
    struct batch b = {.n = 0};
    int code = CLI_EXIT_OK;
    for (;;) {
        if (b.n && !cli_records_ready(in)) {
            if ((code = batch_push(p, &b, unit)) != 0)
                break;
            cli_progress_update(progress, p->pushed, in->offset);
        }
        struct cli_record rec;
        int got = cli_records_next(in, &rec);
        if (got == -EINTR && !cli_interrupted())
            continue;
        if (got <= 0) {
            /* What was read before the end (or before a bad record) is pushed first. */
            if (b.n && (code = batch_push(p, &b, unit)) != 0)
                break;
            code = got < 0 ? cli_produce_fail_input(p, in, got) : CLI_EXIT_OK;
            break;
        }
        if (batching) {
            if ((code = batch_add(p, &b, in, &rec)) != 0)
                break;
            continue;
        }
        char type[SHMQ_META_STR_MAX + 1], subject[SHMQ_SUBJECT_MAX + 1];
        if ((code = take_fields(p, in, &rec, type, subject)) != 0)
            break;
        int err = cli_produce_one(p, &rec);
        if (err) {
            code = cli_produce_fail(p, err, unit, in->number);
            break;
        }
        cli_progress_update(progress, p->pushed, in->offset);
    }
    cli_buffer_free(&b.bytes);
    return code;
}

int cli_produce_stdin(struct cli_produce *p, enum cli_record_format format, bool csv_header)
{
    struct cli_records in;
    cli_records_init(&in, stdin, format, p->slot_size);
    in.skip_header = csv_header;
    int code = cli_produce_stream(p, &in, NULL);
    cli_records_free(&in);
    return code;
}
