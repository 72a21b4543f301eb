/* shmq create: make a queue. */
#include "cli.h"
#include "diag.h"
#include "options.h"
#include "queue.h"
#include "shmq.h"

#include <errno.h>

static int run(int argc, char **argv)
{
    int kind = SHMQ_FIFO;
    bool single_producer = false, single_consumer = false;
    uint64_t capacity = SHMQ_DEFAULT_CAPACITY, slot_size = SHMQ_DEFAULT_SLOT_SIZE;
    uint64_t max_participants = SHMQ_DEFAULT_PARTICIPANTS;
    uint32_t mode = SHMQ_DEFAULT_MODE;
    const struct cli_option options[] = {
        {.name = "fifo",
         .kind = CLI_OPTION_CHOICE,
         .target = &kind,
         .choice = SHMQ_FIFO,
         .help = "first in, first out (the default)"},
        {.name = "lifo",
         .kind = CLI_OPTION_CHOICE,
         .target = &kind,
         .choice = SHMQ_LIFO,
         .help = "last in, first out: a stack"},
        {.name = "capacity",
         .letter = 'c',
         .kind = CLI_OPTION_COUNT,
         .target = &capacity,
         .value_name = "N",
         .min = 1,
         .max = SHMQ_CAPACITY_MAX,
         .help = "messages the queue holds (default 1024)"},
        {.name = "slot-size",
         .letter = 's',
         .kind = CLI_OPTION_SIZE,
         .target = &slot_size,
         .value_name = "BYTES",
         .min = 1,
         .max = SHMQ_SLOT_SIZE_MAX,
         .help = "bytes per message, payload and metadata (default 256; K/M suffixes)"},
        {.name = "mode",
         .letter = 'm',
         .kind = CLI_OPTION_MODE,
         .target = &mode,
         .value_name = "OCTAL",
         .help = "permission bits of the segment (default 0600)"},
        {.name = "single-producer",
         .kind = CLI_OPTION_FLAG,
         .target = &single_producer,
         .help = "at most one producer at a time"},
        {.name = "single-consumer",
         .kind = CLI_OPTION_FLAG,
         .target = &single_consumer,
         .help = "at most one consumer at a time (both flags: the fast SPSC ring)"},
        {.name = "max-participants",
         .kind = CLI_OPTION_COUNT,
         .target = &max_participants,
         .value_name = "N",
         .min = 1,
         .max = SHMQ_PARTICIPANTS_MAX,
         .help = "handles open on the queue at once (default 128)"},
    };
    int n, code;
    if (!cli_options_parse(&cli_verb_create, options, CLI_COUNT_OF(options), argc, argv, &n, &code))
        return code;
    const char *name = argv[1];
    if ((code = cli_queue_check_name(name)) != 0)
        return code;
    if (mode == 0) {
        cli_error("--mode 0 would make the queue unusable: give at least owner read and write");
        return CLI_EXIT_USAGE;
    }
    struct shmq_config cfg = {
        .kind = (enum shmq_kind)kind,
        .capacity = (uint32_t)capacity,
        .slot_size = (uint32_t)slot_size,
        .mode = mode,
        .flags = (single_producer ? SHMQ_SINGLE_PRODUCER : 0u) |
                 (single_consumer ? SHMQ_SINGLE_CONSUMER : 0u),
        .max_participants = (uint32_t)max_participants,
    };
    shmq_t *q;
    int err = shmq_create(name, &cfg, &q);
    if (err == -EEXIST) {
        cli_error("queue '%s' already exists", name);
        return CLI_EXIT_EXISTS;
    }
    if (err)
        return cli_fail(err, "cannot create queue '%s'", name);
    shmq_close(q);
    return CLI_EXIT_OK;
}

const struct cli_verb cli_verb_create = {
    .name = "create",
    .operands = "NAME",
    .min_operands = 1,
    .max_operands = 1,
    .summary = "create a queue",
    .description =
        "Create the queue NAME (/dev/shm/shmq.NAME). Its memory is allocated in full now: a\n"
        "full /dev/shm fails here, not later. A message without metadata fits when its payload\n"
        "is at most the slot size; with metadata (type, correlation id, reply-to, timestamp)\n"
        "it needs its payload rounded up to 8, plus 19 bytes, plus the strings' lengths.",
    .run = run,
};
