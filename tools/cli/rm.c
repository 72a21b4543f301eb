/* shmq rm: remove queues. */
#include <errno.h>

#include "cli.h"
#include "diag.h"
#include "options.h"
#include "queue.h"

static int run(int argc, char **argv)
{
    bool force = false;
    const struct cli_option options[] = {
        {.name = "force",
         .letter = 'f',
         .kind = CLI_OPTION_FLAG,
         .target = &force,
         .help = "a queue that does not exist is not an error"},
    };
    int n, code;
    if (!cli_options_parse(&cli_verb_rm, options, CLI_COUNT_OF(options), argc, argv, &n, &code))
        return code;
    int result = CLI_EXIT_OK;
    for (int i = 1; i <= n; i++) {
        const char *name = argv[i];
        if ((code = cli_queue_check_name(name)) != 0) {
            result = result ? result : code;
            continue;
        }
        int err = shmq_unlink(name);
        if (err == -ENOENT && force)
            continue;
        if (err == -ENOENT) {
            cli_error("queue '%s' does not exist", name);
            code = CLI_EXIT_NOT_FOUND;
        } else if (err) {
            code = cli_fail(err, "cannot remove '%s'", name);
        } else {
            code = CLI_EXIT_OK;
        }
        if (!result)
            result = code;
    }
    return result;
}

const struct cli_verb cli_verb_rm = {
    .name = "rm",
    .operands = "NAME...",
    .min_operands = 1,
    .max_operands = -1,
    .summary = "remove queues and topics",
    .description = "Remove each queue or topic NAME. Processes that have it open keep using it\n"
                   "until they close it; its memory is freed then. Every NAME is tried; the exit\n"
                   "code is that of the first failure.",
    .run = run,
};
