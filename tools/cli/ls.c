/* shmq ls: every queue with its size, fill and users. */
#include <errno.h>

#include "cli.h"
#include "diag.h"
#include "options.h"
#include "queue.h"
#include "status.h"
#include "table.h"

/* New columns go at the end: scripts cut the piped output by position. */
static const struct cli_column columns[] = {
    {"name"},        {"kind"},      {"depth"},         {"capacity"}, {"slot_size"}, {"bytes"},
    {"producers"},   {"consumers"}, {"mode"},          {"owner"},    {"in_flight"}, {"dead"},
    {"redelivered"}, {"expired"},   {"dead_lettered"}, {"dropped"},
};

/* One row for the segment `name` (its numbers from status.c); a queue or topic that cannot
 * be read (another user's) gets a row with its name only, and a warning; one that vanished
 * meanwhile gets none. */
static void add_row(struct cli_table *t, const char *name)
{
    struct cli_status s;
    int err = cli_status_open_read(name, &s);
    if (err == -ENOENT)
        return;
    cli_table_text(t, name);
    if (err || s.kind == CLI_STATUS_UNREADABLE) {
        cli_error("%s '%s': %s", s.topic_kind ? "topic" : "queue", name,
                  shmq_strerror(err ? err : s.error));
        for (size_t i = 1; i < CLI_COUNT_OF(columns); i++)
            cli_table_missing(t);
        cli_status_free(&s);
        return;
    }
    struct cli_status_row r;
    cli_status_row(&s, &r);
    cli_status_free(&s);
    char mode[8], owner[64];
    cli_queue_mode_text(r.mode, mode, sizeof mode);
    cli_queue_owner_text(r.owner_uid, owner, sizeof owner);
    cli_table_text(t, r.kind);
    const uint64_t sizes[] = {r.depth,         r.capacity,  r.slot_size,
                              r.segment_bytes, r.producers, r.consumers};
    for (size_t i = 0; i < CLI_COUNT_OF(sizes); i++)
        cli_table_u64_or_missing(t, sizes[i]);
    cli_table_text(t, mode);
    cli_table_text(t, owner);
    const uint64_t counters[] = {r.in_flight, r.dead,          r.redelivered,
                                 r.expired,   r.dead_lettered, r.dropped};
    for (size_t i = 0; i < CLI_COUNT_OF(counters); i++)
        cli_table_u64_or_missing(t, counters[i]);
}

static int run(int argc, char **argv)
{
    bool json = false;
    const struct cli_option options[] = {
        {.name = "json",
         .kind = CLI_OPTION_FLAG,
         .target = &json,
         .help = "print a JSON array of objects"},
    };
    int n, code;
    if (!cli_options_parse(&cli_verb_ls, options, CLI_COUNT_OF(options), argc, argv, &n, &code))
        return code;
    char **names;
    size_t count;
    int err = cli_queue_names(&names, &count);
    if (err)
        return cli_fail_system(err, "cannot list /dev/shm");
    struct cli_table t;
    cli_table_init(&t, columns, CLI_COUNT_OF(columns));
    for (size_t i = 0; i < count; i++)
        add_row(&t, names[i]);
    cli_queue_names_free(names);
    err = cli_table_write(&t, stdout, cli_format_choose(stdout, json));
    cli_table_free(&t);
    return err ? cli_fail_system(err, "writing the list") : CLI_EXIT_OK;
}

const struct cli_verb cli_verb_ls = {
    .name = "ls",
    .operands = "",
    .min_operands = 0,
    .max_operands = 0,
    .summary = "list queues",
    .description =
        "List every queue: name, kind (fifo or lifo), depth (messages ready), capacity,\n"
        "slot size, bytes of shared memory, live producers and consumers, mode, owner,\n"
        "in-flight messages (claimed, not acknowledged), dead participants (their process is\n"
        "gone: see 'shmq repair'), and the counts of redelivered, expired, dead-lettered and\n"
        "dropped messages (see 'shmq stat --help'). A topic is listed with kind 'topic',\n"
        "the largest lag of its groups as its depth, its subscriptions as its consumers and\n"
        "the messages its groups lost as dropped; its other columns are '-' (null).\n"
        "On a terminal it prints a table; piped, tab-separated columns in that order without\n"
        "a header; with --json, a JSON array. A queue that cannot be read (another user's)\n"
        "is listed by name with '-' (null in JSON) in the other columns, and a warning.",
    .run = run,
};
