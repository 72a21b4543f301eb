/*
 * shmq serve: the JSON API. A queue or a topic is the object `shmq stat --json` prints (the
 * same tables, stat_table.h); a list is an array of them. A segment the server cannot read is
 * {"name": ..., "error": "<why>"} in the list of queues (its kind cannot be known).
 */
#ifndef SHMQ_CLI_SERVE_API_H
#define SHMQ_CLI_SERVE_API_H

#include <stdbool.h>
#include <stdio.h>

#include "serve_snapshot.h"

/* One entry (a queue, a topic, or an unreadable segment). 0 or -errno of the stream. */
int serve_api_entry(FILE *out, const struct cli_status *e);

/* The queues (topics = false; unreadable segments too) or the topics of a snapshot. */
int serve_api_list(FILE *out, const struct serve_snapshot *s, bool topics);

/* {"error": message, "status": status}. */
int serve_api_error(FILE *out, int status, const char *message);

#endif /* SHMQ_CLI_SERVE_API_H */
