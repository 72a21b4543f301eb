/* shmq create: make a queue. */
#include "cli.h"
#include "diag.h"
#include "options.h"
#include "parse.h"
#include "queue.h"
#include "shmq.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* --numa: "local" or a node number. 0, or print why not and return CLI_EXIT_USAGE. */
static int parse_numa(const char *text, uint32_t *numa)
{
    uint64_t node;
    if (strcmp(text, "local") == 0) {
        *numa = SHMQ_NUMA_LOCAL;
        return 0;
    }
    if (cli_parse_count(text, &node) == 0 && node < SHMQ_NUMA_NODES_MAX) {
        *numa = SHMQ_NUMA_NODE(node);
        return 0;
    }
    cli_error("invalid value '%s' for --numa: expected a NUMA node number (0 to %d) or 'local' "
              "(see 'shmq create --help')",
              text, SHMQ_NUMA_NODES_MAX - 1);
    return CLI_EXIT_USAGE;
}

/* What a failed create means to a person: the NUMA cases name the option to change. */
static int create_failed(int err, const char *name, const char *numa, bool strict)
{
    char online[128];
    if (err == -EEXIST) {
        cli_error("queue '%s' already exists", name);
        return CLI_EXIT_EXISTS;
    }
    if (err == -EINVAL && numa) {
        cli_numa_online_text(online, sizeof online);
        if (strcmp(numa, "local") == 0)
            cli_error("cannot tell which NUMA node this CPU belongs to (online nodes: %s)", online);
        else
            cli_error("NUMA node %s does not exist or is not allowed here (online nodes: %s)", numa,
                      online);
        return CLI_EXIT_USAGE;
    }
    if (err == -ENOTSUP && strict) {
        cli_error("this machine cannot bind memory to NUMA nodes; drop --numa-strict to create "
                  "the queue unbound");
        return CLI_EXIT_FAILURE;
    }
    return cli_fail(err, "cannot create queue '%s'", name);
}

/* After a create that was allowed to fall back: say so when the memory is not where it was
 * asked to be. Never a failure: the queue exists and works. */
static void check_placement(shmq_t *q)
{
    struct shmq_stat st;
    if (shmq_stat(q, &st) != 0 || st.numa_located == st.numa_requested)
        return;
    if (st.numa_requested < 0) {
        cli_error("warning: '%s' was created unbound: the NUMA node of this CPU cannot be told "
                  "here; --numa-strict fails instead",
                  shmq_name(q));
        return;
    }
    char where[96];
    if (st.numa_located == -1)
        snprintf(where, sizeof where,
                 "where its pages are cannot be told here: it is probably unbound");
    else if (st.numa_located == -2)
        snprintf(where, sizeof where, "its pages are on several nodes");
    else
        snprintf(where, sizeof where, "its pages are on node %d", (int)st.numa_located);
    cli_error("warning: the memory of '%s' is not on NUMA node %d as asked (%s); "
              "--numa-strict fails instead",
              shmq_name(q), (int)st.numa_requested, where);
}

static int run(int argc, char **argv)
{
    int kind = SHMQ_FIFO;
    bool single_producer = false, single_consumer = false;
    uint64_t capacity = SHMQ_DEFAULT_CAPACITY, slot_size = SHMQ_DEFAULT_SLOT_SIZE;
    uint64_t max_participants = SHMQ_DEFAULT_PARTICIPANTS;
    uint32_t mode = SHMQ_DEFAULT_MODE;
    int64_t ttl_ns = 0;
    uint64_t max_deliveries = 0;
    const char *dead_letter = NULL, *numa = NULL;
    bool numa_strict = false;
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
        {.name = "ttl",
         .kind = CLI_OPTION_DURATION,
         .target = &ttl_ns,
         .value_name = "DURATION",
         .help = "messages older than this are never delivered (default: no limit)"},
        {.name = "max-deliveries",
         .kind = CLI_OPTION_COUNT,
         .target = &max_deliveries,
         .value_name = "N",
         .max = SHMQ_DELIVERIES_MAX,
         .help = "deliveries before a message is dead-lettered (default 0: no limit)"},
        {.name = "dead-letter",
         .kind = CLI_OPTION_STRING,
         .target = &dead_letter,
         .value_name = "QUEUE",
         .help = "queue for expired and over-delivered messages (made when needed)"},
        {.name = "numa",
         .kind = CLI_OPTION_STRING,
         .target = &numa,
         .value_name = "NODE|local",
         .help = "put the memory on this NUMA node, or the node of this CPU"},
        {.name = "numa-strict",
         .kind = CLI_OPTION_FLAG,
         .target = &numa_strict,
         .help = "only that node: fail rather than fall back (needs --numa)"},
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
    uint32_t numa_request = 0;
    if (numa && (code = parse_numa(numa, &numa_request)) != 0)
        return code;
    if (numa_strict && !numa) {
        cli_error("--numa-strict needs --numa NODE|local");
        return CLI_EXIT_USAGE;
    }
    if (dead_letter) {
        if ((code = cli_queue_check_name(dead_letter)) != 0)
            return code;
        if (strcmp(dead_letter, name) == 0) {
            cli_error("--dead-letter must name another queue than '%s'", name);
            return CLI_EXIT_USAGE;
        }
    }
    struct shmq_config cfg = {
        .kind = (enum shmq_kind)kind,
        .capacity = (uint32_t)capacity,
        .slot_size = (uint32_t)slot_size,
        .mode = mode,
        .flags = (single_producer ? SHMQ_SINGLE_PRODUCER : 0u) |
                 (single_consumer ? SHMQ_SINGLE_CONSUMER : 0u),
        .max_participants = (uint32_t)max_participants,
        /* "forever" is no limit, as 0 is */
        .ttl_ns = ttl_ns == SHMQ_FOREVER ? 0 : ttl_ns,
        .max_deliveries = (uint32_t)max_deliveries,
        .dead_letter = dead_letter,
        .numa = numa_request,
        .numa_flags = numa_strict ? SHMQ_NUMA_STRICT : 0u,
    };
    shmq_t *q;
    int err = shmq_create(name, &cfg, &q);
    if (err)
        return create_failed(err, name, numa, numa_strict);
    if (numa && !numa_strict)
        check_placement(q);
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
        "it needs its payload rounded up to 8, plus 19 bytes, plus the strings' lengths.\n\n"
        "Task queues: a message older than --ttl is never delivered, and one delivered\n"
        "--max-deliveries times (claimed and not acknowledged: its consumer failed or died)\n"
        "is not delivered again; both go to the --dead-letter queue, made on first use with\n"
        "this queue's shape, or are dropped and counted when there is none.\n\n"
        "Placement: --numa binds the memory to a NUMA node before it is touched. The node is\n"
        "preferred (the kernel may use another one when it is full) unless --numa-strict is\n"
        "given. Where binding is not possible the queue is created unbound, with a warning;\n"
        "with --numa-strict that is an error.",
    .run = run,
};
