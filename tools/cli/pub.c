/* shmq pub: publish messages to a topic under a subject, from the arguments or stdin. */
#include <errno.h>
#include <string.h>

#include "cli.h"
#include "clock.h"
#include "diag.h"
#include "interrupt.h"
#include "options.h"
#include "parse.h"
#include "queue.h"
#include "records.h"

struct publisher {
    shmq_topic_t *t;
    const char *subject;         /* of the message being published */
    const char *default_subject; /* SUBJECT */
    const char *subject_field;   /* --subject-field PATH, or NULL */
    uint32_t slot_size;
    int64_t timeout_ns;
    const char *type, *correlation_id, *reply_to; /* for records without their own */
    bool stamp;
    uint64_t published;
};

struct publish_call {
    struct publisher *p;
    const struct shmq_msg *m;
};

static int publish_op(void *ctx, int64_t timeout_ns)
{
    struct publish_call *call = ctx;
    return shmq_publish_msg(call->p->t, call->p->subject, call->m, timeout_ns);
}

static int publish(struct publisher *p, const struct cli_record *rec)
{
    struct shmq_msg m = {
        .data = (void *)rec->data,
        .len = rec->len,
        .timestamp_ns = rec->timestamp_ns,
        .type = rec->type ? rec->type : p->type,
        .correlation_id = rec->correlation_id ? rec->correlation_id : p->correlation_id,
        .reply_to = rec->reply_to ? rec->reply_to : p->reply_to,
    };
    if (p->stamp && !m.timestamp_ns)
        m.timestamp_ns = cli_realtime_ns();
    struct publish_call call = {p, &m};
    int err = cli_wait_sliced(publish_op, &call, p->timeout_ns);
    if (!err)
        p->published++;
    return err;
}

/* Why publishing item `number` failed, and what was published before it; the exit code. */
static int publish_failed(const struct publisher *p, int err, const char *unit, uint64_t number,
                          size_t len)
{
    char kept[128], timeout[32];
    unsigned long long n = (unsigned long long)p->published, at = (unsigned long long)number;
    if (n == 0)
        snprintf(kept, sizeof kept, "nothing was published");
    else
        snprintf(kept, sizeof kept, "the %llu message%s before it %s published", n,
                 n == 1 ? "" : "s", n == 1 ? "was" : "were");
    switch (-err) {
    case EMSGSIZE:
        cli_error("%s %llu (%zu bytes, with the subject and metadata) does not fit in a slot of "
                  "%u bytes; %s",
                  unit, at, len, p->slot_size, kept);
        return CLI_EXIT_BAD_INPUT;
    case EAGAIN:
    case ETIMEDOUT:
        cli_format_duration(p->timeout_ns, timeout, sizeof timeout);
        cli_error("topic '%s' stayed full for %s at %s %llu (a group is a whole ring behind); %s",
                  shmq_topic_name(p->t), timeout, unit, at, kept);
        return CLI_EXIT_FULL;
    case EINTR:
        cli_error("interrupted at %s %llu; %s", unit, at, kept);
        return CLI_EXIT_SIGNAL + cli_interrupted();
    default:
        return cli_fail(err, "publishing %s %llu to '%s' (%s)", unit, at, shmq_topic_name(p->t),
                        kept);
    }
}

static int publish_stream(struct publisher *p, enum cli_record_format format)
{
    struct cli_records in;
    cli_records_init(&in, stdin, format, p->slot_size);
    const char *unit = cli_records_unit(format);
    int code = CLI_EXIT_OK;
    for (;;) {
        struct cli_record rec;
        int got = cli_records_next(&in, &rec);
        if (got == -EINTR && !cli_interrupted())
            continue;
        if (got == 0)
            break;
        if (got == -EINTR) {
            code = publish_failed(p, got, unit, in.number + 1, 0);
            break;
        }
        if (got == -EMSGSIZE || got == -EINVAL) {
            cli_error("%s%s; %llu published before it", in.why,
                      got == -EMSGSIZE ? ", the topic's slot size" : "",
                      (unsigned long long)p->published);
            code = CLI_EXIT_BAD_INPUT;
            break;
        }
        if (got < 0) {
            code = cli_fail_system(got, "reading the input");
            break;
        }
        char subject[SHMQ_SUBJECT_MAX + 1], why[SHMQ_SUBJECT_MAX + 128];
        p->subject = p->default_subject;
        if (p->subject_field) {
            got = cli_record_field(&rec, p->subject_field, subject, SHMQ_SUBJECT_MAX, why,
                                   sizeof why);
            if (got == 1 && shmq_subject_check(subject) != 0) {
                snprintf(why, sizeof why, "'%.*s' is not a subject", SHMQ_SUBJECT_MAX, subject);
                got = -EINVAL;
            }
            if (got < 0) {
                cli_error("%s %llu: --subject-field: %s; %llu published before it", unit,
                          (unsigned long long)in.number, why, (unsigned long long)p->published);
                code = got == -ENOMEM ? CLI_EXIT_FAILURE : CLI_EXIT_BAD_INPUT;
                break;
            }
            if (got == 1)
                p->subject = subject;
        }
        int err = publish(p, &rec);
        if (err) {
            code = publish_failed(p, err, unit, in.number, rec.len);
            break;
        }
    }
    cli_records_free(&in);
    return code;
}

static int run(int argc, char **argv)
{
    int format = CLI_RECORDS_LINES;
    struct publisher p = {.timeout_ns = SHMQ_FOREVER};
    const struct cli_option options[] = {
        CLI_OPTIONS_RECORD_FORMAT(&format),
        {.name = "timeout",
         .letter = 't',
         .kind = CLI_OPTION_DURATION,
         .target = &p.timeout_ns,
         .value_name = "DURATION",
         .help = "block policy: give up if the ring stays full this long (default: forever)"},
        CLI_OPTIONS_METADATA(&p.type, &p.correlation_id, &p.reply_to, &p.stamp),
        {.name = "subject-field",
         .kind = CLI_OPTION_STRING,
         .target = &p.subject_field,
         .value_name = "PATH",
         .help = "each record is JSON: its subject is the value at PATH (else SUBJECT)"},
    };
    int n, code;
    if (!cli_options_parse(&cli_verb_pub, options, CLI_COUNT_OF(options), argc, argv, &n, &code))
        return code;
    if ((code = cli_options_check_metadata(p.type, p.correlation_id, p.reply_to)) != 0)
        return code;
    if (n > 2 && format != CLI_RECORDS_LINES) {
        cli_error(
            "-0, --raw, --jsonl and --csv frame standard input: they do not apply to messages "
            "given as arguments");
        return CLI_EXIT_USAGE;
    }
    if (p.subject_field && n > 2) {
        cli_error("--subject-field reads the records of standard input, not arguments");
        return CLI_EXIT_USAGE;
    }
    p.subject = p.default_subject = argv[2];
    if (shmq_subject_check(p.subject) != 0) {
        cli_error("'%s' is not a subject: words of bytes other than spaces, controls, '.', '*' "
                  "and '#', joined by '.' (at most %d bytes)",
                  p.subject, SHMQ_SUBJECT_MAX);
        return CLI_EXIT_USAGE;
    }
    if ((code = cli_topic_open(argv[1], 0, &p.t)) != 0)
        return code;
    struct shmq_topic_stat st;
    int err = shmq_topic_stat(p.t, &st);
    if (err) {
        code = cli_fail(err, "cannot read the statistics of '%s'", argv[1]);
    } else if (n > 2) {
        p.slot_size = st.slot_size;
        for (int i = 3; i <= n && !code; i++) {
            struct cli_record rec = {.data = argv[i], .len = strlen(argv[i])};
            if ((err = publish(&p, &rec)) != 0)
                code = publish_failed(&p, err, "message", (uint64_t)(i - 2), rec.len);
        }
    } else {
        p.slot_size = st.slot_size;
        code = publish_stream(&p, (enum cli_record_format)format);
    }
    shmq_topic_close(p.t);
    return code;
}

const struct cli_verb cli_verb_pub = {
    .name = "pub",
    .operands = "TOPIC SUBJECT [MESSAGE...]",
    .min_operands = 2,
    .max_operands = -1,
    .summary = "publish messages to a topic under a subject",
    .description =
        "Publish each MESSAGE, or without any every record of standard input (one per line,\n"
        "or -0, --raw, --jsonl as for push), to TOPIC under SUBJECT: words joined by dots,\n"
        "such as 'orders.eu.created'. Every group subscribed with a matching pattern gets it.\n"
        "Under the block policy a publisher waits while a group with a live member is a whole\n"
        "ring behind (see --timeout); under overwrite it never waits.\n\n"
        "A message fits when its subject (plus one byte, rounded up to 8) and its payload fit\n"
        "in the topic's slot (metadata adds its payload rounded up to 8, 19 bytes and the\n"
        "strings). A record that does not fit is not published; the ones before it were.\n\n"
        "--subject-field PATH reads each record of standard input as JSON and publishes it\n"
        "under the text at PATH (keys joined by dots, array indexes as numbers:\n"
        "'order.region'); a record without it goes under SUBJECT. A value that is not a\n"
        "subject, an object, an array, or a record that is not JSON stops with exit code 7.",
    .run = run,
};
