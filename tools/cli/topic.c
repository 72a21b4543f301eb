/* shmq topic: make and manage topics (publish with `shmq pub`, read with `shmq sub`). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "diag.h"
#include "options.h"
#include "parse.h"
#include "queue.h"
#include "shmq.h"

enum { POLICY_BLOCK = SHMQ_TOPIC_BLOCK, POLICY_OVERWRITE = SHMQ_TOPIC_OVERWRITE };

static int parse_policy(const char *text, enum shmq_topic_policy *policy)
{
    if (strcmp(text, "block") == 0)
        *policy = SHMQ_TOPIC_BLOCK;
    else if (strcmp(text, "overwrite") == 0)
        *policy = SHMQ_TOPIC_OVERWRITE;
    else {
        cli_error("invalid value '%s' for --policy: expected 'block' or 'overwrite' (see 'shmq "
                  "topic --help')",
                  text);
        return CLI_EXIT_USAGE;
    }
    return 0;
}

static int create(int argc, char **argv)
{
    const char *policy = "block";
    uint64_t capacity = SHMQ_DEFAULT_CAPACITY, slot_size = SHMQ_DEFAULT_SLOT_SIZE;
    uint64_t max_groups = SHMQ_TOPIC_DEFAULT_GROUPS, max_members = SHMQ_TOPIC_DEFAULT_MEMBERS;
    int64_t group_timeout_ns = SHMQ_TOPIC_DEFAULT_GROUP_TIMEOUT_NS;
    uint32_t mode = SHMQ_DEFAULT_MODE;
    const struct cli_option options[] = {
        {.name = "policy",
         .kind = CLI_OPTION_STRING,
         .target = &policy,
         .value_name = "block|overwrite",
         .help = "block: publishers wait for the slowest group; overwrite: they never wait"},
        {.name = "capacity",
         .letter = 'c',
         .kind = CLI_OPTION_COUNT,
         .target = &capacity,
         .value_name = "N",
         .min = 2,
         .max = SHMQ_CAPACITY_MAX,
         .help = "messages the ring holds, a power of two (default 1024)"},
        {.name = "slot-size",
         .letter = 's',
         .kind = CLI_OPTION_SIZE,
         .target = &slot_size,
         .value_name = "BYTES",
         .min = 8,
         .max = SHMQ_SLOT_SIZE_MAX,
         .help = "bytes per message: subject, payload, metadata (default 256)"},
        {.name = "mode",
         .letter = 'm',
         .kind = CLI_OPTION_MODE,
         .target = &mode,
         .value_name = "OCTAL",
         .help = "permission bits of the segment (default 0600)"},
        {.name = "max-groups",
         .kind = CLI_OPTION_COUNT,
         .target = &max_groups,
         .value_name = "N",
         .min = 1,
         .max = SHMQ_GROUPS_MAX,
         .help = "subscriber groups at once, private ones included (default 64)"},
        {.name = "max-members",
         .kind = CLI_OPTION_COUNT,
         .target = &max_members,
         .value_name = "N",
         .min = 1,
         .max = SHMQ_MEMBERS_MAX,
         .help = "subscriptions open at once (default 128)"},
        {.name = "group-timeout",
         .kind = CLI_OPTION_DURATION,
         .target = &group_timeout_ns,
         .value_name = "DURATION",
         .help = "block: how long a durable group without members holds publishers (10s)"},
    };
    int n, code;
    if (!cli_options_parse(&cli_verb_topic, options, CLI_COUNT_OF(options), argc, argv, &n, &code))
        return code;
    if (strcmp(argv[1], "create") != 0) {
        cli_error("unknown action '%s': usage is 'shmq topic [options] create NAME' (see 'shmq "
                  "topic --help')",
                  argv[1]);
        return CLI_EXIT_USAGE;
    }
    const char *name = argv[2];
    struct shmq_topic_config cfg = {
        .capacity = (uint32_t)capacity,
        .slot_size = (uint32_t)slot_size,
        .mode = mode,
        .max_groups = (uint32_t)max_groups,
        .max_members = (uint32_t)max_members,
        .group_timeout_ns = group_timeout_ns,
    };
    if ((code = parse_policy(policy, &cfg.policy)) != 0 || (code = cli_queue_check_name(name)) != 0)
        return code;
    if (capacity & (capacity - 1)) {
        cli_error("--capacity must be a power of two for a topic (got %llu)",
                  (unsigned long long)capacity);
        return CLI_EXIT_USAGE;
    }
    if (mode == 0) {
        cli_error("--mode 0 would make the topic unusable: give at least owner read and write");
        return CLI_EXIT_USAGE;
    }
    shmq_topic_t *t;
    int err = shmq_topic_create(name, &cfg, &t);
    if (err == -EEXIST) {
        cli_error("'%s' already exists", name);
        return CLI_EXIT_EXISTS;
    }
    if (err)
        return cli_fail(err, "cannot create topic '%s'", name);
    shmq_topic_close(t);
    return CLI_EXIT_OK;
}

/* One action so far; the operand keeps room for more (shmq topic ACTION ...). */
static int run(int argc, char **argv)
{
    return create(argc, argv);
}

const struct cli_verb cli_verb_topic = {
    .name = "topic",
    .operands = "create NAME",
    .min_operands = 2,
    .max_operands = 2,
    .summary = "create a topic: publish/subscribe with subjects and groups",
    .description =
        "Create the topic NAME (/dev/shm/shmq.NAME, in the namespace of queues): a ring of\n"
        "messages, each published under a subject of dot-separated words ('orders.eu.new')\n"
        "with 'shmq pub'. Every subscriber group ('shmq sub') reads every message whose\n"
        "subject matches its pattern ('*' is one word, '#' zero or more: 'orders.*.new',\n"
        "'orders.#'), and the members of one group share the group's messages.\n\n"
        "Policy block: a publisher waits while the slowest group with a live member still has\n"
        "to read the slot it needs (a durable group without members holds it --group-timeout\n"
        "long). Policy overwrite: publishers never wait; a group that falls a ring behind\n"
        "loses the oldest messages and is told how many. 'shmq stat' shows each group's lag\n"
        "and losses; 'shmq rm' removes a topic.",
    .run = run,
};
