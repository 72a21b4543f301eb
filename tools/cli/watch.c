/* shmq watch: a live view of queues, with depth bars and rates. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "clock.h"
#include "diag.h"
#include "interrupt.h"
#include "options.h"
#include "parse.h"
#include "queue.h"
#include "status.h"
#include "table.h"

#define BAR_WIDTH 20

/* On a terminal: a depth bar, no time column (the title has it). A terminal narrower than
 * the table loses columns, the highest `drop` first: the name and depth always stay. */
static const struct cli_column screen_columns[] = {
    {"name"},      {"depth"},       {"capacity"},      {"fill"},      {"push_per_s"},
    {"pop_per_s"}, {"retry_per_s"}, {"in_flight"},     {"producers"}, {"consumers"},
    {"dead"},      {"expired"},     {"dead_lettered"}, {"dropped"},
};
static const unsigned screen_drop[CLI_COUNT_OF(screen_columns)] = {0, 0, 8, 2,  3,  4,  9,
                                                                   5, 7, 6, 10, 12, 11, 13};

/* The terminal's width: $COLUMNS (what the shell says after a resize), else what the
 * terminal says, else 80. */
static size_t screen_width(void)
{
    const char *env = getenv("COLUMNS");
    uint64_t n;
    if (env && cli_parse_count(env, &n) == 0 && n >= 20 && n <= 10000)
        return (size_t)n;
    struct winsize ws;
    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 20)
        return ws.ws_col;
    return 80;
}

/* Piped and JSON: stable columns, the time of the tick first; new ones go at the end. */
static const struct cli_column line_columns[] = {
    {"time"},      {"name"},        {"depth"},     {"capacity"},      {"push_per_s"},
    {"pop_per_s"}, {"in_flight"},   {"producers"}, {"consumers"},     {"retry_per_s"},
    {"dead"},      {"redelivered"}, {"expired"},   {"dead_lettered"}, {"dropped"},
};

#define NONE CLI_STATUS_NONE

/* What the previous tick saw of a row, for its rates. Rows are named "QUEUE", "TOPIC" or
 * "TOPIC/GROUP" ('/' is in no name). */
struct previous {
    char name[SHMQ_NAME_MAX + SHMQ_GROUP_NAME_MAX + 2];
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
static void remember(struct watch *w, const char *name, const struct cli_status_row *r, int64_t now)
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
    p->pushed = r->pushed;
    p->popped = r->popped;
    p->redelivered = r->redelivered;
    p->at_ns = now;
}

/* Per-second rate of a counter since the previous tick; counters only grow, but a stale
 * read may make one look smaller: that is a rate of 0. */
static void add_rate(struct cli_table *t, const struct previous *p, uint64_t now_value,
                     uint64_t then_value, int64_t now)
{
    if (!p || now <= p->at_ns || now_value == NONE || then_value == NONE) {
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
    if (filled > BAR_WIDTH)
        filled = BAR_WIDTH;
    if (depth > 0 && filled == 0)
        filled = 1; /* not empty is visible */
    bar[0] = '[';
    for (unsigned i = 0; i < BAR_WIDTH; i++)
        bar[1 + i] = i < filled ? '#' : '.';
    bar[BAR_WIDTH + 1] = ']';
    bar[BAR_WIDTH + 2] = 0;
    cli_table_text(t, bar);
}

/* The row `name`, or a row of missing values when r is NULL (it could not be read). */
static void add_row(struct watch *w, struct cli_table *t, const char *name, const char *time,
                    const struct cli_status_row *r, int64_t now)
{
    bool screen = w->format == CLI_FORMAT_TABLE;
    if (!screen)
        cli_table_text(t, time);
    cli_table_text(t, name);
    if (!r) {
        for (size_t i = screen ? 1 : 2; i < t->ncolumns; i++)
            cli_table_missing(t);
        return;
    }
    const struct previous *p = previous_of(w, name);
    cli_table_u64_or_missing(t, r->depth);
    cli_table_u64_or_missing(t, r->capacity);
    if (screen)
        add_bar(t, r->depth, r->capacity);
    add_rate(t, p, r->pushed, p ? p->pushed : NONE, now);
    add_rate(t, p, r->popped, p ? p->popped : NONE, now);
    if (screen)
        add_rate(t, p, r->redelivered, p ? p->redelivered : NONE, now);
    cli_table_u64_or_missing(t, r->in_flight);
    cli_table_u64_or_missing(t, r->producers);
    cli_table_u64_or_missing(t, r->consumers);
    if (!screen)
        add_rate(t, p, r->redelivered, p ? p->redelivered : NONE, now);
    cli_table_u64_or_missing(t, r->dead);
    if (!screen)
        cli_table_u64_or_missing(t, r->redelivered);
    cli_table_u64_or_missing(t, r->expired);
    cli_table_u64_or_missing(t, r->dead_lettered);
    cli_table_u64_or_missing(t, r->dropped);
    remember(w, name, r, now);
}

/* A queue's row; a topic's (see status.h), then one per group, named "TOPIC/GROUP"; a row of
 * missing values for a segment that cannot be read (or does not exist yet). */
static void add_segment(struct watch *w, struct cli_table *t, const char *name, const char *time,
                        int64_t now)
{
    struct cli_status s;
    struct cli_status_row r;
    int err = cli_status_open_read(name, &s);
    if (err || s.kind == CLI_STATUS_UNREADABLE) {
        add_row(w, t, name, time, NULL, now);
        if (!err)
            cli_status_free(&s);
        return;
    }
    cli_status_row(&s, &r);
    add_row(w, t, name, time, &r, now);
    for (unsigned i = 0; i < s.ngroups; i++) {
        char row_name[sizeof((struct previous *)0)->name];
        snprintf(row_name, sizeof row_name, "%s/%s", name, s.groups[i].name);
        cli_status_group_row(&s, i, &r);
        add_row(w, t, row_name, time, &r, now);
    }
    cli_status_free(&s);
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
    char title[160];
    size_t width = t->max_width ? t->max_width : 80;
    int n =
        snprintf(title, sizeof title, "shmq watch  every %s  %s  (Ctrl-C to stop)", every, time);
    if (n > 0 && (size_t)n > width) /* a narrow terminal: the hint goes, then what is past it */
        n = snprintf(title, sizeof title, "shmq watch  every %s  %s", every, time);
    fprintf(mem, "%.*s\n\n", (int)(n > 0 && (size_t)n > width ? width : (size_t)(n > 0 ? n : 0)),
            title);
    if (cli_table_rows(t) == 0)
        fputs("no queues\n", mem);
    else
        cli_table_write(t, mem, CLI_FORMAT_TABLE);
    fclose(mem);
    if (w->drawn_lines)
        printf("\033[%dA\033[J", w->drawn_lines);
    fwrite(frame, 1, size, stdout);
    /* Lines as the terminal shows them: one longer than its width wraps onto more. */
    size_t column = 0;
    w->drawn_lines = 0;
    for (size_t i = 0; i < size; i++) {
        if (frame[i] == '\n') {
            w->drawn_lines += 1 + (column > 0 ? (int)((column - 1) / width) : 0);
            column = 0;
        } else if (((unsigned char)frame[i] & 0xC0) != 0x80) {
            column++; /* a UTF-8 character (the bar's blocks) takes one column */
        }
    }
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
    if (w->format == CLI_FORMAT_TABLE) {
        cli_table_init(&t, screen_columns, CLI_COUNT_OF(screen_columns));
        t.max_width = screen_width();
        t.drop = screen_drop;
    } else
        cli_table_init(&t, line_columns, CLI_COUNT_OF(line_columns));
    for (size_t i = 0; i < count; i++)
        add_segment(w, &t, names[i], time, now);
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
        /* A name not created yet (a dead-letter queue made on demand) is watched until it
         * appears; anything else that keeps it from being opened is said now. */
        shmq_t *q;
        bool topic;
        if ((code = cli_queue_check_name(argv[i])) != 0)
            return code;
        int err = shmq_open_ex(argv[i], SHMQ_OPEN_OBSERVE, &q);
        if (err == 0)
            shmq_close(q);
        if (err == 0 || err == -ENOENT)
            continue;
        if ((code = cli_queue_or_topic_open(argv[i], SHMQ_OPEN_OBSERVE, &q, &topic)) != 0)
            return code;
        if (!topic)
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
        "on the first update.\n\n"
        "A topic shows the largest lag of its groups as its depth, publishes and deliveries\n"
        "per second, its subscriptions as consumers and the messages its groups lost as\n"
        "dropped; each of its groups follows on a row 'TOPIC/GROUP' with its own lag,\n"
        "deliveries per second, members and losses. What a row does not have is empty; a\n"
        "named queue that does not exist yet has an empty row until it is created.\n\n"
        "The table fits the terminal's width ($COLUMNS, else what the terminal says): a\n"
        "narrow one drops columns, dropped first, then expired, dead-lettered, dead, retries,\n"
        "capacity, producers, consumers, in flight, pops, pushes and the bar; the name and\n"
        "the depth always stay.",
    .run = run,
};
