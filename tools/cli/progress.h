/*
 * A progress line on stderr for long imports and exports: shown only when stderr is a
 * terminal and only once the operation has run for a moment, redrawn a few times a second,
 * and erased at the end. With a known total it has a bar and a percentage; without one
 * (reading a pipe) it counts.
 */
#ifndef SHMQ_CLI_PROGRESS_H
#define SHMQ_CLI_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>

enum cli_progress_unit { CLI_PROGRESS_MESSAGES, CLI_PROGRESS_BYTES };

struct cli_progress {
    bool enabled;
    bool drawn;
    char label[48];
    uint64_t total; /* 0 = unknown */
    enum cli_progress_unit unit;
    int64_t started_ns, drawn_ns;
};

/* Start measuring. total counts messages or bytes, as unit says (0 = unknown). */
void cli_progress_start(struct cli_progress *p, const char *label, uint64_t total,
                        enum cli_progress_unit unit);

/* Report how far the operation is: messages done and, for CLI_PROGRESS_BYTES, bytes done.
 * Cheap when nothing is drawn: callers may call it for every message. */
void cli_progress_update(struct cli_progress *p, uint64_t messages, uint64_t bytes);

/* Erase the line. */
void cli_progress_finish(struct cli_progress *p);

#endif /* SHMQ_CLI_PROGRESS_H */
