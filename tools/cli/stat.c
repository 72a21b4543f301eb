/* shmq stat: one queue in detail: configuration, fill, counters, participants, memory. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "diag.h"
#include "options.h"
#include "parse.h"
#include "queue.h"
#include "table.h"

static const struct cli_column field_columns[] = {
    /* configuration */
    {"name"},
    {"kind"},
    {"flags"},
    {"capacity"},
    {"slot_size"},
    {"max_participants"},
    {"mode"},
    {"owner"},
    {"creator_pid"},
    {"created"},
    {"ttl"},
    {"max_deliveries"},
    {"dead_letter"},
    {"numa_requested"},
    {"numa_located"},
    {"numa_strict"},
    /* contents and counters */
    {"depth"},
    {"in_flight"},
    {"pushed"},
    {"popped"},
    {"acked"},
    {"nacked"},
    {"redelivered"},
    {"expired"},
    {"dead_lettered"},
    {"dropped"},
    {"recovered"},
    {"full"},
    {"empty"},
    {"waits"},
    {"wakeups"},
    /* users and memory */
    {"participants"},
    {"dead"},
    {"producers"},
    {"consumers"},
    {"segment_bytes"},
};

static const struct cli_column participant_columns[] = {
    {"index"}, {"pid"},    {"alive"}, {"roles"}, {"pushed"}, {"popped"},
    {"acked"}, {"nacked"}, {"full"},  {"empty"}, {"waits"},  {"opened"},
};

static void add_fields(struct cli_table *t, const char *name, const struct shmq_stat *st,
                       unsigned producers, unsigned consumers)
{
    char flags[64], mode[8], owner[64], created[40], ttl[32];
    cli_queue_flags_text(st->flags, flags, sizeof flags);
    cli_queue_mode_text(st->mode, mode, sizeof mode);
    cli_queue_owner_text(st->owner_uid, owner, sizeof owner);
    cli_time_text(st->created_ns, created, sizeof created);
    cli_format_duration(st->ttl_ns, ttl, sizeof ttl);
    cli_table_text(t, name);
    cli_table_text(t, cli_queue_kind_name(st->kind));
    cli_table_text(t, flags);
    cli_table_u64(t, st->capacity);
    cli_table_u64(t, st->slot_size);
    cli_table_u64(t, st->max_participants);
    cli_table_text(t, mode);
    cli_table_text(t, owner);
    cli_table_i64(t, st->creator_pid);
    cli_table_text(t, created);
    cli_table_text(t, st->ttl_ns ? ttl : "none");
    if (st->max_deliveries)
        cli_table_u64(t, st->max_deliveries);
    else
        cli_table_text(t, "none");
    cli_table_text(t, st->dead_letter[0] ? st->dead_letter : "none");
    cli_table_numa_node(t, st->numa_requested, "none");
    cli_table_numa_node(t, st->numa_located, "unknown");
    cli_table_bool(t, st->numa_flags & SHMQ_NUMA_STRICT, "yes", "no");
    const uint64_t counters[] = {st->depth,         st->in_flight, st->pushed,      st->popped,
                                 st->acked,         st->nacked,    st->redelivered, st->expired,
                                 st->dead_lettered, st->dropped,   st->recovered,   st->full,
                                 st->empty,         st->waits,     st->wakeups};
    for (size_t i = 0; i < CLI_COUNT_OF(counters); i++)
        cli_table_u64(t, counters[i]);
    cli_table_u64(t, st->participants);
    cli_table_u64(t, st->dead);
    cli_table_u64(t, producers);
    cli_table_u64(t, consumers);
    cli_table_u64(t, st->segment_bytes);
}

static void add_participants(struct cli_table *t, const struct shmq_participant_info *list,
                             unsigned count)
{
    for (unsigned i = 0; i < count; i++) {
        const struct shmq_participant_info *p = &list[i];
        char roles[32], opened[40];
        cli_queue_roles_text(p->roles, roles, sizeof roles);
        cli_time_text(p->opened_ns, opened, sizeof opened);
        cli_table_u64(t, p->index);
        cli_table_i64(t, p->pid);
        cli_table_bool(t, p->alive, "alive", "dead");
        cli_table_text(t, roles);
        const uint64_t counters[] = {p->pushed, p->popped, p->acked, p->nacked,
                                     p->full,   p->empty,  p->waits};
        for (size_t c = 0; c < CLI_COUNT_OF(counters); c++)
            cli_table_u64(t, counters[c]);
        cli_table_text(t, opened);
    }
}

/* Print both tables in the chosen format: fields, then the rows (participants of a queue,
 * groups of a topic), labelled `label` when piped and in "<label>_list" in JSON. */
static int write_stat(const struct cli_table *fields, struct cli_table *parts,
                      enum cli_format format, const char *label)
{
    if (format == CLI_FORMAT_JSON) {
        char key[32];
        snprintf(key, sizeof key, "%s_list", label);
        struct cli_json j;
        cli_json_init(&j, stdout, isatty(fileno(stdout)));
        cli_json_object_begin(&j);
        cli_table_json_fields(fields, &j);
        cli_json_key(&j, key);
        cli_table_json_rows(parts, &j);
        cli_json_object_end(&j);
        return cli_json_finish(&j);
    }
    int err = cli_table_write_fields(fields, stdout, format);
    if (err)
        return err;
    if (format == CLI_FORMAT_TSV) {
        parts->row_label = label;
        return cli_table_write(parts, stdout, format);
    }
    if (cli_table_rows(parts) == 0)
        return 0;
    putchar('\n');
    return cli_table_write(parts, stdout, format);
}

/* --check found a broken invariant: say which; the exit code. */
static int report_broken(const char *name, const char *why)
{
    cli_error("an invariant of '%s' does not hold: %s (one in use can fail for a moment: check "
              "it when nobody is using it)",
              name, why);
    return CLI_EXIT_FAILURE;
}

/* ---- topics ---- */

static const struct cli_column topic_columns[] = {
    {"name"},          {"kind"},           {"policy"},        {"capacity"},
    {"slot_size"},     {"max_groups"},     {"max_members"},   {"max_participants"},
    {"mode"},          {"owner"},          {"creator_pid"},   {"created"},
    {"group_timeout"}, {"numa_requested"}, {"published"},     {"max_lag"},
    {"delivered"},     {"lost"},           {"full"},          {"waits"},
    {"overtaken"},     {"holes"},          {"groups"},        {"members"},
    {"participants"},  {"dead"},           {"segment_bytes"},
};

static const struct cli_column group_columns[] = {
    {"group"},     {"pattern"}, {"flags"}, {"members"}, {"cursor"},  {"lag"},
    {"delivered"}, {"skipped"}, {"lost"},  {"gating"},  {"created"}, {"idle"},
};

static void add_topic_fields(struct cli_table *t, const char *name,
                             const struct shmq_topic_stat *st,
                             const struct cli_topic_totals *totals)
{
    char mode[8], owner[64], created[40], timeout[32];
    cli_queue_mode_text(st->mode, mode, sizeof mode);
    cli_queue_owner_text(st->owner_uid, owner, sizeof owner);
    cli_time_text(st->created_ns, created, sizeof created);
    cli_format_duration(st->group_timeout_ns, timeout, sizeof timeout);
    cli_table_text(t, name);
    cli_table_text(t, "topic");
    cli_table_text(t, cli_topic_policy_name(st->policy));
    const uint64_t sizes[] = {st->capacity, st->slot_size, st->max_groups, st->max_members,
                              st->max_participants};
    for (size_t i = 0; i < CLI_COUNT_OF(sizes); i++)
        cli_table_u64(t, sizes[i]);
    cli_table_text(t, mode);
    cli_table_text(t, owner);
    cli_table_i64(t, st->creator_pid);
    cli_table_text(t, created);
    cli_table_text(t, timeout);
    cli_table_numa_node(t, st->numa_requested, "none");
    const uint64_t counters[] = {st->published,    totals->max_lag, totals->delivered, totals->lost,
                                 st->full,         st->waits,       st->overtaken,     st->holes,
                                 st->groups,       st->members,     st->participants,  st->dead,
                                 st->segment_bytes};
    for (size_t i = 0; i < CLI_COUNT_OF(counters); i++)
        cli_table_u64(t, counters[i]);
}

static void add_groups(struct cli_table *t, const struct shmq_group_info *list, unsigned count)
{
    for (unsigned i = 0; i < count; i++) {
        const struct shmq_group_info *g = &list[i];
        char flags[32], created[40], idle[32];
        cli_topic_group_flags_text(g->flags, flags, sizeof flags);
        cli_time_text(g->created_ns, created, sizeof created);
        /* to the millisecond: "1500ms", "2s" */
        cli_format_duration(g->idle_ns - g->idle_ns % 1000000, idle, sizeof idle);
        cli_table_text(t, g->name);
        cli_table_text(t, g->pattern);
        cli_table_text(t, flags);
        const uint64_t counters[] = {g->members,   g->cursor,  g->lag,
                                     g->delivered, g->skipped, g->lost};
        for (size_t c = 0; c < CLI_COUNT_OF(counters); c++)
            cli_table_u64(t, counters[c]);
        cli_table_bool(t, g->gating != 0, "yes", "no");
        cli_table_text(t, created);
        cli_table_text(t, idle);
    }
}

static int stat_topic(const char *name, bool json, bool check)
{
    shmq_topic_t *t;
    int code = cli_topic_open(name, SHMQ_OPEN_OBSERVE, &t);
    if (code)
        return code;
    struct shmq_topic_stat st;
    struct shmq_group_info *groups = NULL;
    struct cli_topic_totals totals;
    unsigned count = 0;
    char why[512] = "";
    int broken = 0;
    int err = shmq_topic_stat(t, &st);
    if (!err)
        err = cli_topic_groups(t, &groups, &count, &totals);
    if (!err && check && (broken = shmq_topic_check(t, why, sizeof why)) != 0 && broken != -EBADMSG)
        err = broken;
    shmq_topic_close(t);
    if (err)
        return cli_fail(err, "cannot read '%s'", name);
    struct cli_column columns[CLI_COUNT_OF(topic_columns) + 1];
    memcpy(columns, topic_columns, sizeof topic_columns);
    columns[CLI_COUNT_OF(topic_columns)].key = "check";
    struct cli_table fields, rows;
    cli_table_init(&fields, columns, CLI_COUNT_OF(topic_columns) + (check ? 1 : 0));
    cli_table_init(&rows, group_columns, CLI_COUNT_OF(group_columns));
    add_topic_fields(&fields, name, &st, &totals);
    if (check)
        cli_table_text(&fields, broken ? why : "ok");
    add_groups(&rows, groups, count);
    free(groups);
    if (st.dead)
        cli_error("%u handle%s or member%s of '%s' belong to processes that are gone: 'shmq "
                  "repair %s' releases them",
                  st.dead, st.dead == 1 ? "" : "s", st.dead == 1 ? "" : "s", name, name);
    err = write_stat(&fields, &rows, cli_format_choose(stdout, json), "group");
    cli_table_free(&fields);
    cli_table_free(&rows);
    if (err)
        return cli_fail_system(err, "writing the statistics");
    return broken ? report_broken(name, why) : CLI_EXIT_OK;
}

static int run(int argc, char **argv)
{
    bool json = false, check = false;
    const struct cli_option options[] = {
        {.name = "json",
         .kind = CLI_OPTION_FLAG,
         .target = &json,
         .help = "print a JSON object (participants in \"participant_list\")"},
        {.name = "check",
         .kind = CLI_OPTION_FLAG,
         .target = &check,
         .help = "also verify the invariants (exit 1 if one does not hold)"},
    };
    int n, code;
    if (!cli_options_parse(&cli_verb_stat, options, CLI_COUNT_OF(options), argc, argv, &n, &code))
        return code;
    const char *name = argv[1];
    shmq_t *q;
    bool topic;
    if ((code = cli_queue_or_topic_open(name, SHMQ_OPEN_OBSERVE, &q, &topic)) != 0)
        return code;
    if (topic)
        return stat_topic(name, json, check);
    struct shmq_stat st;
    struct shmq_participant_info *list = NULL;
    unsigned count = 0, producers = 0, consumers = 0;
    char why[512] = "";
    int broken = 0;
    int err = shmq_stat(q, &st);
    if (!err)
        err = cli_queue_participants(q, &list, &count);
    if (!err && check && (broken = shmq_check(q, why, sizeof why)) != 0 && broken != -EBADMSG)
        err = broken;
    shmq_close(q);
    if (err)
        return cli_fail(err, "cannot read '%s'", name);
    cli_queue_live_roles(list, count, &producers, &consumers);

    /* With --check, one more field: "ok" or the first invariant that does not hold. */
    struct cli_column columns[CLI_COUNT_OF(field_columns) + 1];
    memcpy(columns, field_columns, sizeof field_columns);
    columns[CLI_COUNT_OF(field_columns)].key = "check";
    struct cli_table fields, parts;
    cli_table_init(&fields, columns, CLI_COUNT_OF(field_columns) + (check ? 1 : 0));
    cli_table_init(&parts, participant_columns, CLI_COUNT_OF(participant_columns));
    add_fields(&fields, name, &st, producers, consumers);
    if (check)
        cli_table_text(&fields, broken ? why : "ok");
    if (st.dead)
        cli_error("%u participant%s of '%s' %s dead (the process is gone) and may hold messages: "
                  "'shmq repair %s' gives them back",
                  st.dead, st.dead == 1 ? "" : "s", name, st.dead == 1 ? "is" : "are", name);
    add_participants(&parts, list, count);
    free(list);
    err = write_stat(&fields, &parts, cli_format_choose(stdout, json), "participant");
    cli_table_free(&fields);
    cli_table_free(&parts);
    if (err)
        return cli_fail_system(err, "writing the statistics");
    return broken ? report_broken(name, why) : CLI_EXIT_OK;
}

const struct cli_verb cli_verb_stat = {
    .name = "stat",
    .operands = "NAME",
    .min_operands = 1,
    .max_operands = 1,
    .summary = "show a queue's configuration, counters and participants",
    .description =
        "Show the configuration of NAME (with its TTL, delivery limit, dead-letter queue and\n"
        "NUMA placement: the node asked for, the node a sample of its pages is on, or\n"
        "'unknown' or 'several'), its depth (messages ready) and in-flight messages (claimed,\n"
        "not acknowledged), its counters since creation (pushed, popped, acked, nacked;\n"
        "redelivered: deliveries after the first; expired, dead_lettered and dropped: messages\n"
        "past their TTL or delivery limit; recovered: slots given back from dead processes;\n"
        "full and empty: operations that found it so; waits and wakeups of blocked callers),\n"
        "the participants (open handles: pid, alive or dead, roles, counters) and the bytes\n"
        "of shared memory. 'participants' counts open handles, 'dead' those whose process is\n"
        "gone; 'producers' and 'consumers' count the live ones by role.\n\n"
        "--check also verifies the invariants of the queue's index structures (every slot in\n"
        "exactly one place, in the state that place needs) or of the topic's ring and groups,\n"
        "as the tests do; one in use can fail it for a moment, so check one nobody uses.\n\n"
        "stat only looks (it needs read permission and changes nothing): what dead\n"
        "participants held stays held until a process opens the queue to use it, or until\n"
        "'shmq repair NAME'.\n\n"
        "Piped, each field is a 'key<TAB>value' line and each participant a line\n"
        "'participant<TAB>' followed by the participant columns.\n\n"
        "For a topic: its policy and sizes, messages published, the largest lag of a group,\n"
        "messages delivered and lost over all groups, and one row per group ('group<TAB>...'\n"
        "piped, \"group_list\" in JSON): name, pattern, flags (durable, private), members,\n"
        "cursor, lag (published and not yet passed), delivered, skipped (not matching), lost\n"
        "(overwritten before it read them), whether it holds publishers back, created, idle.",
    .run = run,
};
