/* shmq purge: drop every message. */
#include "cli.h"
#include "diag.h"
#include "options.h"
#include "queue.h"

static int run(int argc, char **argv)
{
    bool quiet = false;
    const struct cli_option options[] = {
        {.name = "quiet",
         .letter = 'q',
         .kind = CLI_OPTION_FLAG,
         .target = &quiet,
         .help = "do not print how many messages were dropped"},
    };
    int n, code;
    if (!cli_options_parse(&cli_verb_purge, options, CLI_COUNT_OF(options), argc, argv, &n, &code))
        return code;
    shmq_t *q;
    if ((code = cli_queue_open(argv[1], 0, &q)) != 0)
        return code;
    int dropped = shmq_purge(q);
    shmq_close(q);
    if (dropped < 0)
        return cli_fail(dropped, "purging '%s'", argv[1]);
    if (!quiet)
        printf("%d\n", dropped);
    return CLI_EXIT_OK;
}

const struct cli_verb cli_verb_purge = {
    .name = "purge",
    .operands = "NAME",
    .min_operands = 1,
    .max_operands = 1,
    .summary = "drop every message of a queue",
    .description = "Pop and drop every message ready in NAME, and print how many there were.\n"
                   "Messages that consumers hold (claimed, not yet acknowledged) are not touched.",
    .run = run,
};
