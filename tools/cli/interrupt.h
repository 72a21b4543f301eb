/*
 * Interruption: Ctrl-C (SIGINT), SIGTERM and SIGHUP do not kill the tool on the spot, because
 * a consumer may hold claimed messages that it must acknowledge (they were written) or give
 * back (they were not). The handlers only record the signal; blocking reads then fail with
 * EINTR, and every loop checks cli_interrupted() and winds down. main() re-raises the signal
 * at the end, so that the shell sees the usual "killed by SIGINT" status (exit code 128 + N).
 * Signals are also counted: `shmq work` stops taking messages on the first and stops the
 * commands it runs on the second.
 *
 * The library's waits end with -EINTR when a handler runs, but a signal that arrives between
 * the check of cli_interrupted() and the start of the wait is seen by no one until the wait
 * ends. So waits on a queue are still cut into slices (cli_wait_sliced), which bounds that
 * delay to one slice.
 */
#ifndef SHMQ_CLI_INTERRUPT_H
#define SHMQ_CLI_INTERRUPT_H

#include <stdint.h>

/* How long one slice of a wait on a queue lasts: the worst delay before a signal is seen. */
#define CLI_WAIT_SLICE_NS (200 * 1000000LL)

/* Install the handlers and ignore SIGPIPE (writes to a closed pipe fail with EPIPE). */
void cli_interrupt_install(void);

/* The first signal received, or 0. */
int cli_interrupted(void);

/* How many of those signals were received so far. */
unsigned cli_interrupt_count(void);

/* An operation that may wait up to timeout_ns: it returns -EAGAIN (timeout 0) or -ETIMEDOUT
 * when it would have to wait longer, anything else when it is done. */
typedef int (*cli_wait_op)(void *ctx, int64_t timeout_ns);

/*
 * Run op with timeouts of at most one slice until it is done, timeout_ns has passed
 * (SHMQ_FOREVER: never), or a signal arrives. Returns op's result, -EAGAIN if timeout_ns is 0
 * and op would wait, -ETIMEDOUT at the deadline, or -EINTR.
 */
int cli_wait_sliced(cli_wait_op op, void *ctx, int64_t timeout_ns);

#endif /* SHMQ_CLI_INTERRUPT_H */
