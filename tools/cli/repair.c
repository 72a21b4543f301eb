/* shmq repair: give back now what dead processes held in a queue. */
#include <errno.h>
#include <stdio.h>
#include <unistd.h>

#include "cli.h"
#include "diag.h"
#include "options.h"
#include "queue.h"
#include "table.h"

static const struct cli_column columns[] = {
    {"name"},
    {"dead_participants"},
    {"recovered"},
    {"claims_returned"},
    {"reservations_freed"},
    {"orphans_restored"},
    {"dead_lettered"},
    {"busy"},
};

/* What an observer sees of the queue's recovery state. */
struct seen {
    uint32_t dead;
    uint64_t recovered;
};

static int look(const char *name, struct seen *s)
{
    shmq_t *q;
    struct shmq_stat st;
    int code = cli_queue_open(name, SHMQ_OPEN_OBSERVE, &q);
    if (code)
        return code;
    code = cli_queue_stat(q, &st);
    shmq_close(q);
    if (!code) {
        s->dead = st.dead;
        s->recovered = st.recovered;
    }
    return code;
}

static uint64_t gone_from(uint64_t before, uint64_t after)
{
    return before > after ? before - after : 0;
}

/*
 * The report, completed with what the reaper did when this command opened the queue: opening
 * a queue to use it runs the reaper already, and the library keeps no report of that pass.
 * Its totals are known from the queue's state before and after (dead participants released,
 * slots recovered); how they split into claims, reservations and orphans is not, and those
 * columns are then missing ("-", null).
 */
static void add_row(struct cli_table *t, const char *name, const struct shmq_repair_report *r,
                    const struct seen *before, const struct seen *after)
{
    uint64_t in_report = (uint64_t)r->claims_returned + r->reservations_freed + r->orphans_restored;
    uint64_t recovered =
        after->recovered > before->recovered ? after->recovered - before->recovered : 0;
    uint64_t released = gone_from(before->dead, after->dead);
    bool opening_pass = recovered > in_report || released > r->dead_participants;
    cli_table_text(t, name);
    cli_table_u64(t, released > r->dead_participants ? released : r->dead_participants);
    cli_table_u64(t, recovered > in_report ? recovered : in_report);
    const uint32_t counts[] = {r->claims_returned, r->reservations_freed, r->orphans_restored,
                               r->dead_lettered};
    for (size_t i = 0; i < CLI_COUNT_OF(counts); i++) {
        if (opening_pass)
            cli_table_missing(t);
        else
            cli_table_u64(t, counts[i]);
    }
    cli_table_bool(t, r->busy != 0, "yes", "no");
}

/* A topic: release the handles and members of processes that are gone. As for a queue, the
 * open already releases them; the count comes from before and after when it did. */
static int repair_topic(const char *name, bool json)
{
    int64_t before = cli_topic_dead(name);
    shmq_topic_t *t;
    int code = cli_topic_open(name, 0, &t);
    if (code)
        return code;
    int released = shmq_topic_repair(t);
    shmq_topic_close(t);
    if (released < 0)
        return cli_fail(released, "cannot repair '%s'", name);
    int64_t after = cli_topic_dead(name);
    if (before >= 0 && after >= 0 && before - after > released)
        released = (int)(before - after);
    static const struct cli_column topic_columns[] = {{"name"}, {"released"}};
    struct cli_table tab;
    cli_table_init(&tab, topic_columns, CLI_COUNT_OF(topic_columns));
    cli_table_text(&tab, name);
    cli_table_u64(&tab, (uint64_t)released);
    int err = cli_table_write_fields(&tab, stdout, cli_format_choose(stdout, json));
    cli_table_free(&tab);
    return err ? cli_fail_system(err, "writing the report") : CLI_EXIT_OK;
}

static int run(int argc, char **argv)
{
    bool json = false;
    const struct cli_option options[] = {
        {.name = "json", .kind = CLI_OPTION_FLAG, .target = &json, .help = "print a JSON object"},
    };
    int n, code;
    if (!cli_options_parse(&cli_verb_repair, options, CLI_COUNT_OF(options), argc, argv, &n, &code))
        return code;
    const char *name = argv[1];
    shmq_t *q;
    bool topic;
    if ((code = cli_queue_or_topic_open(name, SHMQ_OPEN_OBSERVE, &q, &topic)) != 0)
        return code;
    if (topic)
        return repair_topic(name, json);
    shmq_close(q);
    struct seen before = {0}, after = {0};
    if ((code = look(name, &before)) != 0)
        return code;
    if ((code = cli_queue_open(name, 0, &q)) != 0)
        return code;
    struct shmq_repair_report r;
    int err = shmq_repair(q, &r);
    shmq_close(q);
    if (err == -EBUSY) {
        cli_error("another process is repairing '%s' right now: run 'shmq repair %s' again in a "
                  "moment",
                  name, name);
        return CLI_EXIT_FAILURE;
    }
    if (err)
        return cli_fail(err, "cannot repair '%s'", name);
    if ((code = look(name, &after)) != 0)
        return code;

    struct cli_table t;
    cli_table_init(&t, columns, CLI_COUNT_OF(columns));
    add_row(&t, name, &r, &before, &after);
    err = cli_table_write_fields(&t, stdout, cli_format_choose(stdout, json));
    cli_table_free(&t);
    if (r.busy)
        cli_error("a live participant of '%s' stalled the grace period, so slots that no one "
                  "holds were not looked for this time: run 'shmq repair %s' again",
                  name, name);
    return err ? cli_fail_system(err, "writing the report") : CLI_EXIT_OK;
}

const struct cli_verb cli_verb_repair = {
    .name = "repair",
    .operands = "NAME",
    .min_operands = 1,
    .max_operands = 1,
    .summary = "give back what dead processes held in a queue",
    .description =
        "Give back now everything that participants of NAME whose process is gone were\n"
        "holding: messages they had claimed and not acknowledged are delivered again (their\n"
        "delivery count raised) or, past the queue's --max-deliveries, dead-lettered;\n"
        "half-written reservations go back to the pool; and slots that no one holds and no\n"
        "ring has (a process died between two steps) are put back. It is safe while others\n"
        "use the queue: nothing is locked, and what a live process holds is never touched.\n\n"
        "The same repair runs by itself when a process opens the queue to use it and when a\n"
        "waiting consumer's sleep times out, so this is for a queue that nobody is using, or\n"
        "to see what was recovered. It prints the participants released, the slots recovered\n"
        "in all and, of those, the claims returned, reservations freed, orphans restored and\n"
        "claims dead-lettered ('-' when the repair that runs on opening did the work: the\n"
        "split is not known then), and 'busy' when a live participant stalled the grace\n"
        "period (slots that no one holds were not looked for: run it again). Piped, each\n"
        "field is a 'key<TAB>value' line.\n\n"
        "For a topic, repair releases the handles and group members of processes that are\n"
        "gone (a dead member's group stops holding publishers back) and prints how many\n"
        "('released').",
    .run = run,
};
