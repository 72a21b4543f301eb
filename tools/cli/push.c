/* shmq push: messages from the arguments or from standard input into a queue. */
#include "cli.h"
#include "diag.h"
#include "options.h"
#include "produce.h"
#include "queue.h"
#include "records.h"

static int run(int argc, char **argv)
{
    int format = CLI_RECORDS_LINES;
    bool header = false;
    struct cli_produce p = {.timeout_ns = SHMQ_FOREVER};
    const struct cli_option options[] = {
        CLI_OPTIONS_RECORD_FORMAT(&format),
        {.name = "csv-header",
         .kind = CLI_OPTION_FLAG,
         .target = &header,
         .help = "with --csv: the first record is a header, not a message"},
        {.name = "type-field",
         .kind = CLI_OPTION_STRING,
         .target = &p.type_field,
         .value_name = "PATH",
         .help = "each record is JSON: its type is the value at PATH (a.b.0.c; else --type)"},
        CLI_PRODUCE_TIMEOUT_OPTION(&p, CLI_PRODUCE_QUEUE_TIMEOUT),
        CLI_OPTIONS_METADATA(&p.type, &p.correlation_id, &p.reply_to, &p.stamp),
    };
    int n, code;
    if (!cli_options_parse(&cli_verb_push, options, CLI_COUNT_OF(options), argc, argv, &n, &code))
        return code;
    if ((code = cli_produce_check_usage(&p, format, n - 1)) != 0)
        return code;
    if (header && format != CLI_RECORDS_CSV) {
        cli_error("--csv-header needs --csv");
        return CLI_EXIT_USAGE;
    }
    shmq_t *q;
    if ((code = cli_queue_open(argv[1], 0, &q)) != 0)
        return code;
    if ((code = cli_produce_init(&p, q)) == 0)
        code = n > 1 ? cli_produce_arguments(&p, argv + 2, n - 1)
                     : cli_produce_stdin(&p, (enum cli_record_format)format, header);
    shmq_close(q);
    return code;
}

const struct cli_verb cli_verb_push = {
    .name = "push",
    .operands = "NAME [MESSAGE...]",
    .min_operands = 1,
    .max_operands = -1,
    .summary = "push messages from the arguments or standard input",
    .description =
        "Push each MESSAGE, or without any, every record of standard input: one message per\n"
        "line by default (the newline is not part of it), NUL-terminated with -0, length-\n"
        "prefixed with --raw, JSON lines with their metadata with --jsonl, or RFC 4180\n"
        "records with --csv (--csv-header skips the first). When the queue is full, push\n"
        "waits (see --timeout); on a terminal it says so after a second.\n\n"
        "A record that is malformed or too large for the queue's slots is not pushed; the\n"
        "ones before it stay in the queue, and the error names the record (line N / record N)\n"
        "and says how many were pushed. --type, --correlation-id and --reply-to apply to\n"
        "records that do not carry their own. --type-field PATH reads each record as JSON and\n"
        "takes its type from the text at PATH (keys joined by dots, array indexes as numbers:\n"
        "'event.kind'); a record without it gets --type (or none); one that is not JSON, or\n"
        "whose value is an object, an array or null, stops with exit code 7.",
    .run = run,
};
