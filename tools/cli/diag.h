/*
 * Diagnostics: every message goes to stderr as "shmq VERB: what went wrong", and every error
 * code maps to one exit code (see enum cli_exit). A write to a closed pipe (-EPIPE) is not an
 * error for a command-line tool: it is reported as nothing and exit code 0.
 */
#ifndef SHMQ_CLI_DIAG_H
#define SHMQ_CLI_DIAG_H

#include <stdio.h>

#include "cli.h"

/* Name the verb being run, for the prefix of the messages that follow. */
void cli_diag_set_verb(const char *verb);

/* Print "shmq VERB: <message>" and a newline on stderr. */
void cli_error(const char *fmt, ...) CLI_PRINTF(1, 2);

/* The exit code for a negative errno value returned by the library or by this tool.
 * -EAGAIN and -ETIMEDOUT mean "empty" or "full" depending on the direction: callers that can
 * meet them choose CLI_EXIT_EMPTY or CLI_EXIT_FULL themselves; here they are failures. */
int cli_exit_code(int err);

/* For a failed queue operation: print "<message>: <shmq_strerror(err)>" and return the exit
 * code of err. Prints nothing and returns 0 for -EPIPE. */
int cli_fail(int err, const char *fmt, ...) CLI_PRINTF(2, 3);

/* The same for a failed system call (a file, stdout): the words come from strerror(). */
int cli_fail_system(int err, const char *fmt, ...) CLI_PRINTF(2, 3);

#endif /* SHMQ_CLI_DIAG_H */
