/*
 * The status of a queue or a topic as every verb that shows one reads it, in one place: its
 * statistics with its participants (queue) or its groups and their totals (topic), read
 * through one handle. `shmq stat` makes its tables from it (stat_table.h), `shmq serve`
 * snapshots hold one per segment, and `ls`, `watch` and serve's history take their numbers
 * from the one row per queue, topic or group that cli_status_row() builds.
 */
#ifndef SHMQ_CLI_STATUS_H
#define SHMQ_CLI_STATUS_H

#include <stdbool.h>
#include <stdint.h>

#include "queue.h"

enum cli_status_kind {
    CLI_STATUS_UNREADABLE, /* a segment it may not (or cannot) read: .error says why */
    CLI_STATUS_QUEUE,
    CLI_STATUS_TOPIC,
};

struct cli_status {
    char name[SHMQ_NAME_MAX + 1];
    enum cli_status_kind kind;
    int error;       /* CLI_STATUS_UNREADABLE: the negative errno of the open or the read */
    bool topic_kind; /* unreadable, but known to be a topic (its open as a queue said so) */
    /* CLI_STATUS_QUEUE */
    struct shmq_stat queue;
    struct shmq_participant_info *participants;
    unsigned nparticipants;
    /* CLI_STATUS_TOPIC */
    struct shmq_topic_stat topic;
    struct shmq_group_info *groups;
    unsigned ngroups;
    struct cli_topic_totals totals;
};

/* Read an open queue or topic into s (which the caller zeroed or freed, name set or not):
 * kind set, 0 or the library's error / -ENOMEM (s then holds nothing to free). */
int cli_status_read_queue(shmq_t *q, struct cli_status *s);
int cli_status_read_topic(shmq_topic_t *t, struct cli_status *s);

/*
 * Open `name` as an observer (SHMQ_OPEN_OBSERVE: no participant entry, no reaping), as a queue
 * or else as a topic, read it and close it. 0 with s filled: CLI_STATUS_UNREADABLE when it is
 * there but cannot be read (permission, corruption, another ABI; error says why); -ENOENT if
 * it does not exist (or vanished meanwhile), -ENOMEM. Free with cli_status_free.
 */
int cli_status_open_read(const char *name, struct cli_status *s);

/* From a failure to open or read `name` with err: 0 with s CLI_STATUS_UNREADABLE, or err
 * itself (s empty) for -ENOENT and -ENOMEM, which are not a status. */
int cli_status_failed(const char *name, int err, struct cli_status *s);

void cli_status_free(struct cli_status *s);

/* A value a row does not have (a topic has no in-flight messages...): shown missing. */
#define CLI_STATUS_NONE UINT64_MAX

/* One row of the overviews (ls, watch, serve's history): a queue, a topic, or a group. */
struct cli_status_row {
    const char *kind; /* "fifo", "lifo", "topic"; NULL for a group */
    uint64_t depth;   /* queue: ready messages; topic: the largest group lag; group: its lag */
    uint64_t capacity, slot_size, segment_bytes;
    uint64_t producers, consumers; /* live ones; a topic's or group's consumers: members */
    uint64_t in_flight, dead;
    uint64_t redelivered, expired, dead_lettered;
    uint64_t dropped;        /* topic and group: messages lost to overwriting */
    uint64_t pushed, popped; /* topic: published, delivered; group: -, delivered */
    uint32_t mode, owner_uid;
};

/* The row of a readable queue or topic (s->kind not CLI_STATUS_UNREADABLE). */
void cli_status_row(const struct cli_status *s, struct cli_status_row *r);

/* The row of the topic's group number g (< s->ngroups). */
void cli_status_group_row(const struct cli_status *s, unsigned g, struct cli_status_row *r);

#endif /* SHMQ_CLI_STATUS_H */
