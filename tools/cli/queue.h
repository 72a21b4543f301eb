/* Queues named on the command line: checking names and opening them, with the messages a
 * person needs when that fails. */
#ifndef SHMQ_CLI_QUEUE_H
#define SHMQ_CLI_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "shmq.h"

/* 0, or print why the name is not a queue name and return CLI_EXIT_USAGE. */
int cli_queue_check_name(const char *name);

/* Open a queue (flags as for shmq_open_ex: 0 to produce and consume, SHMQ_OPEN_OBSERVE to
 * look). 0, or print what went wrong ("queue 'x' does not exist", "'x' is a topic") and
 * return the exit code. */
int cli_queue_open(const char *name, uint32_t flags, shmq_t **q);

/* For verbs that take either: open NAME as a queue, or find that it is a topic (*topic set,
 * nothing opened: open it with cli_topic_open). 0, or the exit code of a printed failure. */
int cli_queue_or_topic_open(const char *name, uint32_t flags, shmq_t **q, bool *topic);

/* The same for a topic: "topic 'x' does not exist", "'x' is a queue, not a topic"... */
int cli_topic_open(const char *name, uint32_t flags, shmq_topic_t **t);

/* Read the queue's statistics; on failure print it and return the exit code. */
int cli_queue_stat(shmq_t *q, struct shmq_stat *st);

/* The names of every queue, sorted, in a NULL-terminated array (free with cli_queue_names_free).
 * 0 or -errno (nothing to free). */
int cli_queue_names(char ***names, size_t *count);
void cli_queue_names_free(char **names);

/* Live producers and consumers: entries whose process still exists, by role. */
void cli_queue_live_roles(const struct shmq_participant_info *list, unsigned count,
                          unsigned *producers, unsigned *consumers);

/* The topic's groups (free() the list), and what they add up to: the largest lag, messages
 * delivered and lost over every group. 0 or a negative errno. */
struct cli_topic_totals {
    uint64_t max_lag, delivered, lost;
};
int cli_topic_groups(shmq_topic_t *t, struct shmq_group_info **list, unsigned *count,
                     struct cli_topic_totals *totals);

/* The dead handles and members of a topic that an observer sees, or -1 if it cannot be read
 * (repairs count what they released from before and after: opening to repair releases some). */
int64_t cli_topic_dead(const char *name);

/* "durable", "private" or "none"; "block" or "overwrite". */
void cli_topic_group_flags_text(uint32_t flags, char *buf, size_t size);
const char *cli_topic_policy_name(enum shmq_topic_policy policy);

/* Words for what the tool shows: "fifo"/"lifo"; "single-producer,single-consumer" or "none";
 * "producer,consumer" or "none"; "0640"; the user name of uid (or the number). */
const char *cli_queue_kind_name(enum shmq_kind kind);
void cli_queue_flags_text(uint32_t flags, char *buf, size_t size);
void cli_queue_roles_text(uint32_t roles, char *buf, size_t size);
void cli_queue_mode_text(uint32_t mode, char *buf, size_t size);
void cli_queue_owner_text(uid_t uid, char *buf, size_t size);
/* The NUMA nodes this machine has online, as the kernel lists them ("0-1"), or "unknown". */
void cli_numa_online_text(char *buf, size_t size);
/* A CLOCK_REALTIME time in ns as RFC 3339 local time ("2024-05-01T12:00:00+02:00"). */
void cli_time_text(int64_t ns, char *buf, size_t size);

#endif /* SHMQ_CLI_QUEUE_H */
