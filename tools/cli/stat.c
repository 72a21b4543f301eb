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
#include "stat_table.h"
#include "status.h"
#include "table.h"

/* Print both tables in the chosen format: fields, then the rows (participants of a queue,
 * groups of a topic), labelled `label` when piped and in "<label>_list" in JSON. */
static int write_stat(const struct cli_table *fields, struct cli_table *parts,
                      enum cli_format format, const char *label)
{
    if (format == CLI_FORMAT_JSON) {
        struct cli_json j;
        cli_json_init(&j, stdout, isatty(fileno(stdout)));
        cli_stat_json(&j, fields, parts, label);
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
    shmq_t *q = NULL;
    shmq_topic_t *t = NULL;
    bool topic;
    if ((code = cli_queue_or_topic_open(name, SHMQ_OPEN_OBSERVE, &q, &topic)) != 0)
        return code;
    if (topic && (code = cli_topic_open(name, SHMQ_OPEN_OBSERVE, &t)) != 0)
        return code;
    struct cli_status s = {.kind = CLI_STATUS_UNREADABLE};
    snprintf(s.name, sizeof s.name, "%s", name);
    char why[512] = "";
    int broken = 0;
    int err = t ? cli_status_read_topic(t, &s) : cli_status_read_queue(q, &s);
    if (!err && check)
        broken = t ? shmq_topic_check(t, why, sizeof why) : shmq_check(q, why, sizeof why);
    if (broken && broken != -EBADMSG)
        err = broken;
    if (t)
        shmq_topic_close(t);
    else
        shmq_close(q);
    if (err) {
        cli_status_free(&s);
        return cli_fail(err, "cannot read '%s'", name);
    }

    /* With --check, one more field: "ok" or the first invariant that does not hold. */
    struct cli_table fields, rows;
    const char *label = cli_stat_tables(&fields, &rows, &s, check);
    if (check)
        cli_table_text(&fields, broken ? why : "ok");
    unsigned dead = t ? s.topic.dead : s.queue.dead;
    if (dead && t)
        cli_error("%u handle%s or member%s of '%s' belong to processes that are gone: 'shmq "
                  "repair %s' releases them",
                  dead, dead == 1 ? "" : "s", dead == 1 ? "" : "s", name, name);
    else if (dead)
        cli_error("%u participant%s of '%s' %s dead (the process is gone) and may hold messages: "
                  "'shmq repair %s' gives them back",
                  dead, dead == 1 ? "" : "s", name, dead == 1 ? "is" : "are", name);
    cli_status_free(&s);
    err = write_stat(&fields, &rows, cli_format_choose(stdout, json), label);
    cli_table_free(&fields);
    cli_table_free(&rows);
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
