/* shmq peek: a look at the next messages without taking them. */
#include "cli.h"
#include "diag.h"
#include "options.h"
#include "queue.h"
#include "records.h"

#include <stdint.h>

#define PEEK_DEFAULT 10

struct peek_output {
    FILE *out;
    enum cli_record_format format;
};

static int show(const struct shmq_msg *m, void *arg)
{
    const struct peek_output *o = arg;
    return cli_record_write(o->out, o->format, m);
}

static int run(int argc, char **argv)
{
    int format = CLI_RECORDS_LINES;
    uint64_t count = PEEK_DEFAULT;
    const struct cli_option options[] = {
        {.name = "count",
         .letter = 'n',
         .kind = CLI_OPTION_COUNT,
         .target = &count,
         .value_name = "COUNT",
         .min = 1,
         .max = UINT32_MAX,
         .help = "show up to COUNT messages (default 10)"},
        CLI_OPTIONS_RECORD_FORMAT(&format),
    };
    int n, code;
    if (!cli_options_parse(&cli_verb_peek, options, CLI_COUNT_OF(options), argc, argv, &n, &code))
        return code;
    shmq_t *q;
    if ((code = cli_queue_open(argv[1], SHMQ_OPEN_OBSERVE, &q)) != 0)
        return code;
    struct peek_output o = {stdout, (enum cli_record_format)format};
    int r = shmq_peek(q, (unsigned)count, show, &o);
    shmq_close(q);
    if (r >= 0)
        return CLI_EXIT_OK;
    /* show() failed to write, or the library failed: tell which. */
    if (ferror(stdout))
        return cli_fail_system(r, "writing to standard output");
    return cli_fail(r, "peeking into '%s'", argv[1]);
}

const struct cli_verb cli_verb_peek = {
    .name = "peek",
    .operands = "NAME",
    .min_operands = 1,
    .max_operands = 1,
    .summary = "show the next messages without taking them",
    .description =
        "Show up to COUNT of the messages NAME would deliver next, in that order, without\n"
        "taking them (formats as for pop). This is a best-effort snapshot: producers and\n"
        "consumers keep working meanwhile, so a message may be gone by the time it is shown,\n"
        "and one that changes while it is copied is skipped. It needs only read permission.",
    .run = run,
};
