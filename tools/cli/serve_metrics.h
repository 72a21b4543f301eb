/*
 * shmq serve: the Prometheus text exposition format (version 0.0.4) of a snapshot. Names and
 * units follow Prometheus's conventions: counters end in _total, sizes in _bytes, counts of
 * messages in _messages; every family has one HELP and one TYPE line and all its samples
 * together. Labels: queue, kind (fifo, lifo) / topic, policy / group; unreadable segments are
 * shmq_segment_readable{name=...} 0.
 */
#ifndef SHMQ_CLI_SERVE_METRICS_H
#define SHMQ_CLI_SERVE_METRICS_H

#include <stdio.h>

#include "serve_snapshot.h"

/* Write every family to out; scrape_seconds is how long reading the snapshot took (the
 * server's own shmq_serve_scrape_duration_seconds). 0, or -errno of the stream. */
int serve_metrics_write(FILE *out, const struct serve_snapshot *s, double scrape_seconds);

#endif /* SHMQ_CLI_SERVE_METRICS_H */
