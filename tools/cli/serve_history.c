/* shmq serve: sampled history per segment (see serve_history.h). */
#include "serve_history.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

struct serve_series {
    char name[SHMQ_NAME_MAX + 1];
    const char *kind; /* "fifo", "lifo", "topic" */
    struct serve_sample *ring;
    unsigned next, count;
};

int serve_history_init(struct serve_history *h, unsigned samples, int64_t interval_ms)
{
    memset(h, 0, sizeof *h);
    if (samples == 0 || interval_ms <= 0)
        return -EINVAL;
    h->samples = samples;
    h->interval_ms = interval_ms;
    return -pthread_mutex_init(&h->lock, NULL);
}

static void series_free(struct serve_series *s, size_t count)
{
    for (size_t i = 0; i < count; i++)
        free(s[i].ring);
    free(s);
}

void serve_history_free(struct serve_history *h)
{
    series_free(h->series, h->count);
    pthread_mutex_destroy(&h->lock);
    memset(h, 0, sizeof *h);
}

/* A queue's depth, pushes and pops; a topic's largest lag, publishes and deliveries: the
 * numbers of its row in the overviews (status.h). */
static void sample_of(const struct cli_status *e, int64_t t_ms, struct serve_sample *out)
{
    struct cli_status_row row;
    cli_status_row(e, &row);
    memset(out, 0, sizeof *out);
    out->t_ms = t_ms;
    out->depth = row.depth;
    out->in = row.pushed;
    out->out = row.popped;
    if (e->kind == CLI_STATUS_QUEUE)
        out->held_by_dead = serve_held_by_dead(e);
}

int serve_history_add(struct serve_history *h, const struct serve_snapshot *s)
{
    struct serve_series *next = calloc(s->count ? s->count : 1, sizeof *next);
    size_t *from = calloc(s->count ? s->count : 1, sizeof *from);
    if (!next || !from) {
        free(next);
        free(from);
        return -ENOMEM;
    }
    int64_t t_ms = s->taken_ns / 1000000;
    pthread_mutex_lock(&h->lock);
    /* Both lists are sorted by name: walk them together. First find (or allocate) every ring,
     * so that a failure leaves the history as it was; then move the old rings over. */
    size_t n = 0, old = 0;
    for (size_t i = 0; i < s->count; i++) {
        const struct cli_status *e = &s->entries[i];
        if (e->kind == CLI_STATUS_UNREADABLE)
            continue;
        while (old < h->count && strcmp(h->series[old].name, e->name) < 0)
            old++;
        struct cli_status_row row;
        cli_status_row(e, &row);
        const char *kind = row.kind;
        from[n] = SIZE_MAX;
        if (old < h->count && strcmp(h->series[old].name, e->name) == 0 &&
            strcmp(h->series[old].kind, kind) == 0) {
            from[n] = old;
        } else if (!(next[n].ring = calloc(h->samples, sizeof *next[n].ring))) {
            series_free(next, n);
            free(from);
            pthread_mutex_unlock(&h->lock);
            return -ENOMEM;
        }
        snprintf(next[n].name, sizeof next[n].name, "%s", e->name);
        next[n].kind = kind;
        n++;
    }
    for (size_t i = 0, k = 0; i < s->count; i++) {
        const struct cli_status *e = &s->entries[i];
        if (e->kind == CLI_STATUS_UNREADABLE)
            continue;
        struct serve_series *sr = &next[k];
        if (from[k] != SIZE_MAX) {
            *sr = h->series[from[k]];
            h->series[from[k]].ring = NULL; /* moved */
        }
        sample_of(e, t_ms, &sr->ring[sr->next]);
        sr->next = (sr->next + 1) % h->samples;
        if (sr->count < h->samples)
            sr->count++;
        k++;
    }
    series_free(h->series, h->count);
    h->series = next;
    h->count = n;
    pthread_mutex_unlock(&h->lock);
    free(from);
    return 0;
}

/* Messages per second between two samples (0 when the clock did not move or a counter went
 * back, which a recreated segment does). */
static double rate(const struct serve_sample *a, const struct serve_sample *b, int in)
{
    uint64_t va = in ? a->in : a->out, vb = in ? b->in : b->out;
    if (b->t_ms <= a->t_ms || vb < va)
        return 0;
    return (double)(vb - va) * 1000.0 / (double)(b->t_ms - a->t_ms);
}

static void write_series(struct cli_json *j, const struct serve_series *sr, unsigned count,
                         unsigned samples)
{
    unsigned first = (sr->next + samples - count) % samples;
    static const char *const keys[] = {"t", "depth", "in_rate", "out_rate", "held_by_dead"};
    cli_json_object_begin(j);
    cli_json_key(j, "name");
    cli_json_string(j, sr->name);
    cli_json_key(j, "kind");
    cli_json_string(j, sr->kind);
    for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
        cli_json_key(j, keys[k]);
        cli_json_array_begin(j);
        for (unsigned i = 0; i < count; i++) {
            const struct serve_sample *s = &sr->ring[(first + i) % samples];
            const struct serve_sample *prev = i ? &sr->ring[(first + i - 1) % samples] : s;
            char num[32];
            switch (k) {
            case 0:
                cli_json_i64(j, s->t_ms);
                break;
            case 1:
                cli_json_u64(j, s->depth);
                break;
            case 2:
            case 3:
                snprintf(num, sizeof num, "%.1f", rate(prev, s, k == 2));
                cli_json_literal(j, num);
                break;
            default:
                cli_json_u64(j, s->held_by_dead);
                break;
            }
        }
        cli_json_array_end(j);
    }
    cli_json_object_end(j);
}

int serve_history_json(struct serve_history *h, FILE *out, uint32_t seconds)
{
    struct cli_json j;
    cli_json_init(&j, out, false);
    pthread_mutex_lock(&h->lock);
    unsigned want = h->samples;
    if (seconds) {
        uint64_t n = (uint64_t)seconds * 1000 / (uint64_t)h->interval_ms + 1;
        if (n < want)
            want = (unsigned)n;
    }
    cli_json_object_begin(&j);
    cli_json_key(&j, "interval_ms");
    cli_json_i64(&j, h->interval_ms);
    cli_json_key(&j, "series");
    cli_json_array_begin(&j);
    for (size_t i = 0; i < h->count; i++) {
        const struct serve_series *sr = &h->series[i];
        write_series(&j, sr, sr->count < want ? sr->count : want, h->samples);
    }
    cli_json_array_end(&j);
    cli_json_object_end(&j);
    pthread_mutex_unlock(&h->lock);
    return cli_json_finish(&j);
}
