/* shmq watch: a live view of queues, with depth bars and rates. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "clock.h"
#include "diag.h"
#include "interrupt.h"
#include "options.h"
#include "parse.h"
#include "queue.h"
#include "table.h"

#define BAR_WIDTH 20

/* On a terminal: a depth bar, no time column (the title has it). */
static const struct cli_column screen_columns[] = {
    {"name"},      {"depth"},       {"capacity"},      {"fill"},      {"push_per_s"},
    {"pop_per_s"}, {"retry_per_s"}, {"in_flight"},     {"producers"}, {"consumers"},
    {"dead"},      {"expired"},     {"dead_lettered"}, {"dropped"},
};

/* Piped and JSON: stable columns, the time of the tick first; new ones go at the end. */
static const struct cli_column line_columns[] = {
    {"time"},      {"name"},        {"depth"},     {"capacity"},      {"push_per_s"},
    {"pop_per_s"}, {"in_flight"},   {"producers"}, {"consumers"},     {"retry_per_s"},
    {"dead"},      {"redelivered"}, {"expired"},   {"dead_lettered"}, {"dropped"},
};

/* What the previous tick saw of a queue, for its rates. */
struct previous {
    char name[SHMQ_NAME_MAX + 1];
    uint64_t pushed, popped, redelivered;
    int64_t at_ns;
};

struct watch {
    char **names; /* the operands, or NULL to watch every queue */
    int nnames;
    enum cli_format format;
    struct previous *seen;
    size_t nseen;
    int drawn_lines; /* lines of the last frame on the terminal, to draw over */
};

static struct previous *previous_of(struct watch *w, const char *name)
{
    for (size_t i = 0; i < w->nseen; i++)
        if (strcmp(w->seen[i].name, name) == 0)
            return &w->seen[i];
    return NULL;
}

/* Remember this tick's counters; on a failed allocation the rates just stay unknown. */
static void remember(struct watch *w, const char *name, const struct shmq_stat *st, int64_t now)
{
    struct previous *p = previous_of(w, name);
    if (!p) {
        struct previous *seen = realloc(w->seen, (w->nseen + 1) * sizeof *seen);
        if (!seen)
            return;
        w->seen = seen;
        p = &w->seen[w->nseen++];
        snprintf(p->name, sizeof p->name, "%s", name);
    }
    p->pushed = st->pushed;
    p->popped = st->popped;
    p->redelivered = st->redelivered;
    p->at_ns = now;
}

/* Per-second rate of a counter since the previous tick; counters only grow, but a stale
 * read may make one look smaller: that is a rate of 0. */
static void add_rate(struct cli_table *t, const struct previous *p, uint64_t now_value,
                     uint64_t then_value, int64_t now)
{
    if (!p || now <= p->at_ns) {
        cli_table_missing(t);
        return;
    }
    uint64_t delta = now_value > then_value ? now_value - then_value : 0;
    cli_table_u64(t, (uint64_t)((double)delta * 1e9 / (double)(now - p->at_ns) + 0.5));
}

static void add_bar(struct cli_table *t, uint64_t depth, uint64_t capacity)
{
    char bar[BAR_WIDTH + 3];
    unsigned filled = capacity ? (unsigned)(depth * BAR_WIDTH / capacity) : 0;
    if (depth > 0 && filled == 0)
        filled = 1; /* not empty is visible */
    bar[0] = '[';
    for (unsigned i = 0; i < BAR_WIDTH; i++)
        bar[1 + i] = i < filled ? '#' : '.';
    bar[BAR_WIDTH + 1] = ']';
    bar[BAR_WIDTH + 2] = 0;
    cli_table_text(t, bar);
}

static void add_row(struct watch *w, struct cli_table *t, const char *name, const char *time,
                    int64_t now)
{
    shmq_t *q;
    struct shmq_stat st;
    struct shmq_participant_info *parts = NULL;
    unsigned nparts = 0, producers = 0, consumers = 0;
    int err = shmq_open_ex(name, SHMQ_OPEN_OBSERVE, &q);
    if (!err) {
        err = shmq_stat(q, &st);
        if (!err && cli_queue_participants(q, &parts, &nparts) == 0)
            cli_queue_live_roles(parts, nparts, &producers, &consumers);
        free(parts);
        shmq_close(q);
    }
    bool screen = w->format == CLI_FORMAT_TABLE;
    if (!screen)
        cli_table_text(t, time);
    cli_table_text(t, name);
    if (err) {
        for (size_t i = screen ? 1 : 2; i < t->ncolumns; i++)
            cli_table_missing(t);
        return;
    }
    const struct previous *p = previous_of(w, name);
    cli_table_u64(t, st.depth);
    cli_table_u64(t, st.capacity);
    if (screen)
        add_bar(t, st.depth, st.capacity);
    add_rate(t, p, st.pushed, p ? p->pushed : 0, now);
    add_rate(t, p, st.popped, p ? p->popped : 0, now);
    if (screen)
        add_rate(t, p, st.redelivered, p ? p->redelivered : 0, now);
    cli_table_u64(t, st.in_flight);
    cli_table_u64(t, producers);
    cli_table_u64(t, consumers);
    if (!screen)
        add_rate(t, p, st.redelivered, p ? p->redelivered : 0, now);
    cli_table_u64(t, st.dead);
    if (!screen)
        cli_table_u64(t, st.redelivered);
    cli_table_u64(t, st.expired);
    cli_table_u64(t, st.dead_lettered);
    cli_table_u64(t, st.dropped);
    remember(w, name, &st, now);
}

/* Draw one frame over the previous one. */
static int draw_screen(struct watch *w, const struct cli_table *t, const char *time,
                       int64_t interval_ns)
{
    char *frame = NULL;
    size_t size = 0;
    FILE *mem = open_memstream(&frame, &size);
    if (!mem)
        return -ENOMEM;
    char every[32];
    cli_format_duration(interval_ns, every, sizeof every);
    fprintf(mem, "shmq watch  every %s  %s  (Ctrl-C to stop)\n\n", every, time);
    if (cli_table_rows(t) == 0)
        fputs("no queues\n", mem);
    else
        cli_table_write(t, mem, CLI_FORMAT_TABLE);
    fclose(mem);
    if (w->drawn_lines)
        printf("\033[%dA\033[J", w->drawn_lines);
    fwrite(frame, 1, size, stdout);
    w->drawn_lines = 0;
    for (size_t i = 0; i < size; i++)
        w->drawn_lines += frame[i] == '\n';
    free(frame);
    return fflush(stdout) == 0 ? 0 : -errno;
}

static int tick(struct watch *w, int64_t interval_ns)
{
    char **all = NULL;
    size_t count = (size_t)w->nnames;
    char **names = w->names;
    if (!names) {
        int err = cli_queue_names(&all, &count);
        if (err)
            return err;
        names = all;
    }
    char time[40];
    cli_time_text(cli_realtime_ns(), time, sizeof time);
    int64_t now = cli_monotonic_ns();
    struct cli_table t;
    if (w->format == CLI_FORMAT_TABLE)
        cli_table_init(&t, screen_columns, CLI_COUNT_OF(screen_columns));
    else
        cli_table_init(&t, line_columns, CLI_COUNT_OF(line_columns));
    for (size_t i = 0; i < count; i++)
        add_row(w, &t, names[i], time, now);
    cli_queue_names_free(all);

    int err;
    if (w->format == CLI_FORMAT_TABLE) {
        err = draw_screen(w, &t, time, interval_ns);
    } else if (w->format == CLI_FORMAT_JSON) {
        /* One line per tick: {"time": ..., "queues": [...]} */
        struct cli_json j;
        cli_json_init(&j, stdout, false);
        cli_json_object_begin(&j);
        cli_json_key(&j, "time");
        cli_json_string(&j, time);
        cli_json_key(&j, "queues");
        cli_table_json_rows(&t, &j);
        cli_json_object_end(&j);
        err = cli_json_finish(&j);
        if (!err && fflush(stdout) != 0)
            err = -errno;
    } else {
        err = cli_table_write(&t, stdout, CLI_FORMAT_TSV);
    }
    cli_table_free(&t);
    return err;
}

/* Sleep until the absolute monotonic time `at`; false if a signal came first. */
static bool sleep_until(int64_t at)
{
    struct timespec ts = {.tv_sec = (time_t)(at / 1000000000), .tv_nsec = (long)(at % 1000000000)};
    while (!cli_interrupted()) {
        int r = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
        if (r == 0)
            return true;
        if (r != EINTR)
            return false;
    }
    return false;
}

static int run(int argc, char **argv)
{
    bool json = false;
    int64_t interval_ns = 1000000000;
    uint64_t ticks = 0;
    const struct cli_option options[] = {
        {.name = "interval",
         .letter = 'i',
         .kind = CLI_OPTION_DURATION,
         .target = &interval_ns,
         .value_name = "DURATION",
         .help = "time between updates (default 1s)"},
        {.name = "count",
         .letter = 'n',
         .kind = CLI_OPTION_COUNT,
         .target = &ticks,
         .value_name = "N",
         .min = 1,
         .help = "stop after N updates (default: until Ctrl-C)"},
        {.name = "json",
         .kind = CLI_OPTION_FLAG,
         .target = &json,
         .help = "print one JSON object per update, one per line"},
    };
    int n, code;
    if (!cli_options_parse(&cli_verb_watch, options, CLI_COUNT_OF(options), argc, argv, &n, &code))
        return code;
    if (interval_ns < 10000000 || interval_ns == SHMQ_FOREVER) {
        cli_error("--interval must be at least 10ms and finite");
        return CLI_EXIT_USAGE;
    }
    for (int i = 1; i <= n; i++) {
        shmq_t *q;
        if ((code = cli_queue_open(argv[i], SHMQ_OPEN_OBSERVE, &q)) != 0)
            return code;
        shmq_close(q);
    }
    struct watch w = {
        .names = n ? argv + 1 : NULL, .nnames = n, .format = cli_format_choose(stdout, json)};
    int64_t next = cli_monotonic_ns();
    int err = 0;
    for (uint64_t done = 0; ticks == 0 || done < ticks; done++) {
        if (done > 0 && !sleep_until(next))
            break;
        if ((err = tick(&w, interval_ns)) != 0)
            break;
        next += interval_ns;
    }
    free(w.seen);
    if (err)
        return cli_fail_system(err, "watching");
    return cli_interrupted() ? CLI_EXIT_SIGNAL + cli_interrupted() : CLI_EXIT_OK;
}

const struct cli_verb cli_verb_watch = {
    .name = "watch",
    .operands = "[NAME...]",
    .min_operands = 0,
    .max_operands = -1,
    .summary = "watch queues live: depth bars and rates",
    .description =
        "Show the named queues (default: all, including ones created meanwhile) every\n"
        "DURATION: depth with a bar, pushes, pops and redeliveries (retries) per second since\n"
        "the last update, in-flight messages, live producers and consumers, dead participants\n"
        "(see 'shmq repair') and the counts of expired, dead-lettered and dropped messages.\n"
        "On a terminal the table is redrawn in place; piped, each update prints one line per\n"
        "queue (time first, no header; columns: time name depth capacity push_per_s pop_per_s\n"
        "in_flight producers consumers retry_per_s dead redelivered expired dead_lettered\n"
        "dropped); with --json, one JSON object per update and line. Rates are empty (null)\n"
        "on the first update.",
    .run = run,
};
