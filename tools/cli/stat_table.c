/* The tables of `shmq stat`: a queue's or a topic's fields and its rows (participants,
 * groups), built once from the library's statistics for stat and for serve's JSON API. */
#include "stat_table.h"

#include <stdio.h>
#include <string.h>

#include "options.h"
#include "parse.h"

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
    {"check"}, /* only with --check: the last column */
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

static const struct cli_column topic_columns[] = {
    {"name"},          {"kind"},
    {"policy"},        {"capacity"},
    {"slot_size"},     {"max_groups"},
    {"max_members"},   {"max_participants"},
    {"mode"},          {"owner"},
    {"creator_pid"},   {"created"},
    {"group_timeout"}, {"numa_requested"},
    {"published"},     {"max_lag"},
    {"delivered"},     {"lost"},
    {"full"},          {"waits"},
    {"overtaken"},     {"holes"},
    {"groups"},        {"members"},
    {"participants"},  {"dead"},
    {"segment_bytes"}, {"check"}, /* only with --check: the last column */
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

const char *cli_stat_tables(struct cli_table *fields, struct cli_table *rows,
                            const struct cli_status *s, bool check)
{
    if (s->kind == CLI_STATUS_TOPIC) {
        cli_table_init(fields, topic_columns, CLI_COUNT_OF(topic_columns) - (check ? 0 : 1));
        cli_table_init(rows, group_columns, CLI_COUNT_OF(group_columns));
        add_topic_fields(fields, s->name, &s->topic, &s->totals);
        add_groups(rows, s->groups, s->ngroups);
        return "group";
    }
    unsigned producers = 0, consumers = 0;
    cli_queue_live_roles(s->participants, s->nparticipants, &producers, &consumers);
    cli_table_init(fields, field_columns, CLI_COUNT_OF(field_columns) - (check ? 0 : 1));
    cli_table_init(rows, participant_columns, CLI_COUNT_OF(participant_columns));
    add_fields(fields, s->name, &s->queue, producers, consumers);
    add_participants(rows, s->participants, s->nparticipants);
    return "participant";
}

void cli_stat_json(struct cli_json *j, const struct cli_table *fields, const struct cli_table *rows,
                   const char *label)
{
    char key[32];
    snprintf(key, sizeof key, "%s_list", label);
    cli_json_object_begin(j);
    cli_table_json_fields(fields, j);
    cli_json_key(j, key);
    cli_table_json_rows(rows, j);
    cli_json_object_end(j);
}
