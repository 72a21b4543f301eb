/* shmq pop and shmq drain: messages from a queue to standard output. */
#include <errno.h>
#include <stdint.h>

#include "cli.h"
#include "consume.h"
#include "diag.h"
#include "interrupt.h"
#include "options.h"
#include "parse.h"
#include "queue.h"
#include "records.h"

/* Consume from the queue `name` to stdout; the exit code says how it went. An empty queue
 * is success for drain (it is drained) and, for pop, only when something was popped. */
static int consume_to_stdout(const char *name, enum cli_record_format format, uint64_t limit,
                             int64_t wait_ns, bool empty_is_success)
{
    shmq_t *q;
    int code = cli_queue_open(name, 0, &q);
    if (code)
        return code;
    struct cli_consume c = {
        .q = q, .out = stdout, .format = format, .limit = limit, .wait_ns = wait_ns};
    int err = cli_consume_run(&c);
    shmq_close(q);
    char waited[32];
    switch (-err) {
    case 0:
        return CLI_EXIT_OK;
    case EAGAIN:
    case ETIMEDOUT:
        if (empty_is_success || c.count > 0)
            return CLI_EXIT_OK;
        if (err == -EAGAIN) {
            cli_error("queue '%s' is empty", name);
        } else {
            cli_format_duration(wait_ns, waited, sizeof waited);
            cli_error("no message in '%s' within %s", name, waited);
        }
        return CLI_EXIT_EMPTY;
    case EINTR:
        return CLI_EXIT_SIGNAL + cli_interrupted();
    default:
        if (c.output_failed)
            return cli_fail_system(err, "writing to standard output");
        return cli_fail(err, "popping from '%s'", name);
    }
}

static int run_pop(int argc, char **argv)
{
    int format = CLI_RECORDS_LINES;
    uint64_t count = 1;
    int64_t wait_ns = 0;
    const struct cli_option options[] = {
        {.name = "count",
         .letter = 'n',
         .kind = CLI_OPTION_COUNT,
         .target = &count,
         .value_name = "COUNT",
         .min = 1,
         .help = "pop up to COUNT messages (default 1)"},
        {.name = "wait",
         .letter = 'w',
         .kind = CLI_OPTION_DURATION,
         .target = &wait_ns,
         .value_name = "DURATION",
         .implicit = "forever",
         .help = "wait for messages, up to DURATION in all (default: do not wait)"},
        CLI_OPTIONS_RECORD_FORMAT(&format),
    };
    int n, code;
    if (!cli_options_parse(&cli_verb_pop, options, CLI_COUNT_OF(options), argc, argv, &n, &code))
        return code;
    return consume_to_stdout(argv[1], (enum cli_record_format)format, count, wait_ns, false);
}

static int run_drain(int argc, char **argv)
{
    int format = CLI_RECORDS_LINES;
    const struct cli_option options[] = {
        CLI_OPTIONS_RECORD_FORMAT(&format),
    };
    int n, code;
    if (!cli_options_parse(&cli_verb_drain, options, CLI_COUNT_OF(options), argc, argv, &n, &code))
        return code;
    return consume_to_stdout(argv[1], (enum cli_record_format)format, UINT64_MAX, 0, true);
}

#define DELIVERY_TEXT                                                                              \
    "Messages are acknowledged only after they were written: if the output fails (or a\n"          \
    "signal arrives), the messages not written go back as never delivered (delivery count\n"       \
    "unchanged) and first in line, in their order. Closing the pipe early (shmq drain q |\n"       \
    "head) is not an error. What reached a pipe counts as delivered: Ctrl-C of a whole\n"          \
    "pipeline loses what the next command had not finished; for a lossless pipeline run the\n"     \
    "command under 'shmq work NAME --batch N -- CMD', which acknowledges on its exit status."

const struct cli_verb cli_verb_pop = {
    .name = "pop",
    .operands = "NAME",
    .min_operands = 1,
    .max_operands = 1,
    .summary = "pop messages to standard output",
    .description =
        "Pop up to COUNT messages from NAME and write them to standard output, one per line\n"
        "(or -0, --raw, --jsonl: see 'shmq push --help'). Without --wait, pop stops when the\n"
        "queue is empty; with --wait it waits for messages until COUNT arrived or DURATION\n"
        "passed. An empty queue (nothing popped) is exit code 5.\n\n" DELIVERY_TEXT,
    .run = run_pop,
};

const struct cli_verb cli_verb_drain = {
    .name = "drain",
    .operands = "NAME",
    .min_operands = 1,
    .max_operands = 1,
    .summary = "pop every message to standard output",
    .description =
        "Pop messages from NAME until it is empty, and write them to standard output\n"
        "(one per line, or -0, --raw, --jsonl). An empty queue is not an error.\n\n" DELIVERY_TEXT,
    .run = run_drain,
};
