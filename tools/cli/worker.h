/*
 * One worker process of `shmq work`: it opens the queue for itself (handles do not cross
 * fork), then claims one message at a time, runs the command on it (command.h) and settles
 * it: exit status 0 acknowledges it (after sending the command's output as the reply, with
 * --reply); anything else gives it back with shmq_nack, or shmq_nack_delayed with a retry
 * delay, and the queue redelivers it or, past its max_deliveries, dead-letters it on the
 * next claim.
 *
 * Signals: the worker ignores SIGINT and SIGHUP (the terminal sends them to the whole
 * foreground group, and the pool's parent decides) and counts SIGTERM: after the first it
 * takes no new message and finishes the one in hand; after the second it stops the command
 * too and gives its message back. The parent raises tally->stop and wakes the workers with a
 * SIGTERM for each signal it receives; a worker whose parent dies gets one SIGTERM by itself.
 */
#ifndef SHMQ_CLI_WORKER_H
#define SHMQ_CLI_WORKER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "records.h"

/*
 * What the workers did, in memory the parent shares with them (an anonymous shared mapping
 * made before the first fork). Each counter is changed by one atomic add and read by the
 * parent for its progress line and summary: they are independent tallies, so relaxed
 * accesses are enough; the final summary is read after every worker has been waited for.
 */
struct cli_work_tally {
    _Atomic uint64_t done;       /* exit status 0: acknowledged */
    _Atomic uint64_t failed;     /* another status or a signal: given back */
    _Atomic uint64_t timed_out;  /* stopped at --timeout: given back */
    _Atomic uint64_t retried;    /* of failed and timed out: to be delivered again */
    _Atomic uint64_t past_limit; /* of failed and timed out: at the queue's max_deliveries */
    _Atomic uint64_t stopped;    /* stopped on a second signal: given back */
    _Atomic uint64_t unanswered; /* --reply: done, but the reply could not be sent */
    _Atomic uint32_t running;    /* commands running now */
    /* Written by the parent only: 1 = take no new message, 2 = stop the commands too. The
     * parent also sends SIGTERM to wake the workers; this word says how far to go, because
     * two SIGTERMs sent while a worker has it blocked arrive as one. */
    _Atomic uint32_t stop;
    /* --batch: held by a worker while it writes a command's output to standard output, so
     * that outputs never mix (process-shared and robust: a worker may die holding it). */
    pthread_mutex_t output_lock;
};

enum cli_work_reply {
    CLI_WORK_REPLY_NONE,
    CLI_WORK_REPLY_LINE, /* the output less one trailing newline */
    CLI_WORK_REPLY_RAW,  /* the output as it is */
};

struct cli_worker {
    const char *queue;
    pid_t parent;   /* the pool's process */
    unsigned index; /* 0 .. jobs-1: SHMQ_WORKER */
    int cpu;        /* pin to this CPU; -1: leave the affinity alone */
    char **argv;    /* the command */
    int64_t timeout_ns, grace_ns, retry_delay_ns;
    enum cli_work_reply reply;
    unsigned batch;                /* messages per run of the command: 1, or --batch N */
    int64_t batch_wait_ns;         /* --batch-wait: how long to wait for a batch to fill */
    enum cli_record_format format; /* how a batch and the output are framed */
    const char *output;            /* --output QUEUE, or NULL */
    bool drain;                    /* stop when the queue has nothing to claim */
    bool quiet;                    /* no line for each failed message */
    struct cli_work_tally *tally;
};

/* Run the worker in the calling (freshly forked) process until it is told to stop, or the
 * queue is empty with w->drain. Returns the process's exit code: 0, or the code of a failure
 * it printed (the queue cannot be opened: 3, 4...; the command cannot be run: 126, 127). */
int cli_worker_run(const struct cli_worker *w);

#endif /* SHMQ_CLI_WORKER_H */
