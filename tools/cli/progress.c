/* Progress lines on a terminal's stderr. */
#include "progress.h"

#include <stdio.h>
#include <unistd.h>

#include "clock.h"

#define SHOW_AFTER_NS (500 * 1000000LL) /* shorter operations never show a line */
#define REDRAW_NS (100 * 1000000LL)
#define BAR_WIDTH 24

void cli_progress_start(struct cli_progress *p, const char *label, uint64_t total,
                        enum cli_progress_unit unit)
{
    p->enabled = isatty(STDERR_FILENO) != 0;
    p->drawn = false;
    snprintf(p->label, sizeof p->label, "%s", label);
    p->total = total;
    p->unit = unit;
    p->started_ns = p->drawn_ns = cli_monotonic_ns();
}

/* 1234567 -> "1.2M": short numbers for a line that must stay narrow. */
static void human(double v, const char *suffix, char *buf, size_t size)
{
    static const char *const prefixes[] = {"", "k", "M", "G", "T"};
    size_t i = 0;
    while (v >= 1000 && i + 1 < sizeof prefixes / sizeof prefixes[0]) {
        v /= 1000;
        i++;
    }
    snprintf(buf, size, i ? "%.1f%s%s" : "%.0f%s%s", v, prefixes[i], suffix);
}

void cli_progress_update(struct cli_progress *p, uint64_t messages, uint64_t bytes)
{
    if (!p || !p->enabled)
        return;
    int64_t now = cli_monotonic_ns();
    if (now - p->started_ns < SHOW_AFTER_NS || now - p->drawn_ns < REDRAW_NS)
        return;
    p->drawn_ns = now;
    p->drawn = true;
    double seconds = (double)(now - p->started_ns) / 1e9;
    uint64_t done = p->unit == CLI_PROGRESS_BYTES ? bytes : messages;
    char count[32], amount[32], rate[32];
    human((double)messages, " msgs", count, sizeof count);
    human((double)bytes, "B", amount, sizeof amount);
    human((double)messages / seconds, " msgs/s", rate, sizeof rate);

    fprintf(stderr, "\r%s ", p->label);
    if (p->total) {
        double fraction = done >= p->total ? 1.0 : (double)done / (double)p->total;
        int filled = (int)(fraction * BAR_WIDTH);
        fputc('[', stderr);
        for (int i = 0; i < BAR_WIDTH; i++)
            fputc(i < filled ? '#' : '-', stderr);
        fprintf(stderr, "] %3d%% ", (int)(fraction * 100));
    }
    if (p->unit == CLI_PROGRESS_BYTES)
        fprintf(stderr, " %s ", amount);
    fprintf(stderr, " %s  %s\033[K", count, rate);
    fflush(stderr);
}

void cli_progress_finish(struct cli_progress *p)
{
    if (p && p->drawn) {
        fputs("\r\033[K", stderr);
        fflush(stderr);
    }
    if (p)
        p->drawn = false;
}
