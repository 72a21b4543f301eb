/* shmq ls: every queue with its size, fill and users. */
#include <errno.h>
#include <stdlib.h>

#include "cli.h"
#include "diag.h"
#include "options.h"
#include "queue.h"
#include "table.h"

/* New columns go at the end: scripts cut the piped output by position. */
static const struct cli_column columns[] = {
    {"name"},        {"kind"},      {"depth"},         {"capacity"}, {"slot_size"}, {"bytes"},
    {"producers"},   {"consumers"}, {"mode"},          {"owner"},    {"in_flight"}, {"dead"},
    {"redelivered"}, {"expired"},   {"dead_lettered"}, {"dropped"},
};

/* A topic's row: its largest group lag as the depth, its subscriptions as the consumers and
 * the messages its groups lost as the dropped ones; what a topic does not have is missing. */
static void add_topic_row(struct cli_table *t, const char *name)
{
    shmq_topic_t *topic;
    struct shmq_topic_stat st;
    struct shmq_group_info *groups = NULL;
    struct cli_topic_totals totals;
    unsigned count;
    int err = shmq_topic_open_ex(name, SHMQ_OPEN_OBSERVE, &topic);
    if (err == -ENOENT)
        return;
    if (!err) {
        err = shmq_topic_stat(topic, &st);
        if (!err)
            err = cli_topic_groups(topic, &groups, &count, &totals);
        free(groups);
        shmq_topic_close(topic);
    }
    cli_table_text(t, name);
    if (err) {
        cli_error("topic '%s': %s", name, shmq_strerror(err));
        for (size_t i = 1; i < CLI_COUNT_OF(columns); i++)
            cli_table_missing(t);
        return;
    }
    char mode[8], owner[64];
    cli_queue_mode_text(st.mode, mode, sizeof mode);
    cli_queue_owner_text(st.owner_uid, owner, sizeof owner);
    cli_table_text(t, "topic");
    cli_table_u64(t, totals.max_lag);
    cli_table_u64(t, st.capacity);
    cli_table_u64(t, st.slot_size);
    cli_table_u64(t, st.segment_bytes);
    cli_table_missing(t);
    cli_table_u64(t, st.members);
    cli_table_text(t, mode);
    cli_table_text(t, owner);
    cli_table_missing(t);
    cli_table_u64(t, st.dead);
    cli_table_missing(t);
    cli_table_missing(t);
    cli_table_missing(t);
    cli_table_u64(t, totals.lost);
}

/* One row for the queue `name`; a queue that cannot be opened (another user's) gets a row
 * with its name only, and a warning; one that vanished meanwhile gets none. */
static void add_row(struct cli_table *t, const char *name)
{
    shmq_t *q;
    struct shmq_stat st;
    int err = shmq_open_ex(name, SHMQ_OPEN_OBSERVE, &q);
    if (err == -ENOENT)
        return;
    if (err == -EMEDIUMTYPE) {
        add_topic_row(t, name);
        return;
    }
    if (!err) {
        err = shmq_stat(q, &st);
        if (err)
            shmq_close(q);
    }
    if (err) {
        cli_error("queue '%s': %s", name, shmq_strerror(err));
        cli_table_text(t, name);
        for (size_t i = 1; i < CLI_COUNT_OF(columns); i++)
            cli_table_missing(t);
        return;
    }
    struct shmq_participant_info *parts = NULL;
    unsigned nparts = 0, producers = 0, consumers = 0;
    bool have_parts = cli_queue_participants(q, &parts, &nparts) == 0;
    if (have_parts)
        cli_queue_live_roles(parts, nparts, &producers, &consumers);
    free(parts);
    shmq_close(q);

    char mode[8], owner[64];
    cli_queue_mode_text(st.mode, mode, sizeof mode);
    cli_queue_owner_text(st.owner_uid, owner, sizeof owner);
    cli_table_text(t, name);
    cli_table_text(t, cli_queue_kind_name(st.kind));
    cli_table_u64(t, st.depth);
    cli_table_u64(t, st.capacity);
    cli_table_u64(t, st.slot_size);
    cli_table_u64(t, st.segment_bytes);
    if (have_parts) {
        cli_table_u64(t, producers);
        cli_table_u64(t, consumers);
    } else {
        cli_table_missing(t);
        cli_table_missing(t);
    }
    cli_table_text(t, mode);
    cli_table_text(t, owner);
    const uint64_t counters[] = {st.in_flight, st.dead,          st.redelivered,
                                 st.expired,   st.dead_lettered, st.dropped};
    for (size_t i = 0; i < CLI_COUNT_OF(counters); i++)
        cli_table_u64(t, counters[i]);
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
