/* shmq pub: publish messages to a topic under a subject, from the arguments or stdin. */
#include "cli.h"
#include "diag.h"
#include "options.h"
#include "produce.h"
#include "queue.h"
#include "records.h"

static int run(int argc, char **argv)
{
    int format = CLI_RECORDS_LINES;
    struct cli_produce p = {.timeout_ns = SHMQ_FOREVER};
    const struct cli_option options[] = {
        CLI_OPTIONS_RECORD_FORMAT(&format),
        CLI_PRODUCE_TIMEOUT_OPTION(
            &p, "block policy: give up if the ring stays full this long (default: forever)"),
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
    if ((code = cli_produce_check_usage(&p, format, n - 2)) != 0)
        return code;
    const char *subject = argv[2];
    if (shmq_subject_check(subject) != 0) {
        cli_error("'%s' is not a subject: words of bytes other than spaces, controls, '.', '*' "
                  "and '#', joined by '.' (at most %d bytes)",
                  subject, SHMQ_SUBJECT_MAX);
        return CLI_EXIT_USAGE;
    }
    shmq_topic_t *t;
    if ((code = cli_topic_open(argv[1], 0, &t)) != 0)
        return code;
    if ((code = cli_produce_init_topic(&p, t, subject)) == 0)
        code = n > 2 ? cli_produce_arguments(&p, argv + 3, n - 2)
                     : cli_produce_stdin(&p, (enum cli_record_format)format, false);
    shmq_topic_close(t);
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
