/*
 * shmq serve: the recent past of every queue and topic, for the dashboard's charts. The server
 * samples a snapshot every --interval and keeps the last N samples per segment in a ring; a
 * segment that disappears loses its series. Rates (messages in and out per second) are
 * computed from consecutive samples when the history is written.
 *
 * Thread-safety: every function takes the history's mutex (the sampler and the HTTP thread).
 */
#ifndef SHMQ_CLI_SERVE_HISTORY_H
#define SHMQ_CLI_SERVE_HISTORY_H

#include <pthread.h>
#include <stdio.h>

#include "serve_snapshot.h"

struct serve_sample {
    int64_t t_ms;          /* CLOCK_REALTIME, milliseconds */
    uint64_t depth;        /* queue: depth; topic: the largest lag of its groups */
    uint64_t in, out;      /* queue: pushed, popped; topic: published, delivered (cumulative) */
    uint64_t held_by_dead; /* queue: messages dead participants hold */
};

struct serve_series;

struct serve_history {
    pthread_mutex_t lock;
    struct serve_series *series; /* sorted by name */
    size_t count;
    unsigned samples; /* ring size of each series */
    int64_t interval_ms;
};

/* 0 or -ENOMEM/-EINVAL (samples 0). */
int serve_history_init(struct serve_history *h, unsigned samples, int64_t interval_ms);
void serve_history_free(struct serve_history *h);

/* Add one sample per segment of s (unreadable ones have none). 0 or -ENOMEM (the history is
 * then as it was). */
int serve_history_add(struct serve_history *h, const struct serve_snapshot *s);

/* JSON: {"interval_ms", "series": [{"name", "kind", "t", "depth", "in_rate", "out_rate",
 * "held_by_dead"}]}, the last `seconds` of each series (0: all it has). 0 or -errno. */
int serve_history_json(struct serve_history *h, FILE *out, uint32_t seconds);

#endif /* SHMQ_CLI_SERVE_HISTORY_H */
