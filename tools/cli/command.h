/*
 * Running one command for one message, for `shmq work`: the message on the command's standard
 * input, its standard output collected when asked, a deadline, and a way to stop it.
 *
 * The command runs in a process group of its own, so that a deadline or a stop reaches
 * everything it started (SIGTERM to the group, then SIGKILL after a grace period) and so that
 * the terminal's Ctrl-C reaches the worker, which decides, not the command. It dies with the
 * worker (PR_SET_PDEATHSIG): a worker killed with SIGKILL leaves no command running on.
 *
 * Standard input is a memfd holding the payload: the command may read it at its own pace, or
 * not at all, and seek in it; nothing can block the worker on it. Standard error, and standard
 * output unless it is collected, are the worker's.
 *
 * The caller blocks SIGCHLD (with a handler installed, so that it is not discarded) and every
 * signal it wants to be woken by, and passes the mask to wait with: the waits are ppoll()s
 * with that mask, so a signal cannot slip in between a check and a wait.
 */
#ifndef SHMQ_CLI_COMMAND_H
#define SHMQ_CLI_COMMAND_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buffer.h"

struct cli_command {
    char **argv;               /* the command and its arguments, NULL-terminated */
    int64_t timeout_ns;        /* stop it after this long; SHMQ_FOREVER: never */
    int64_t grace_ns;          /* between SIGTERM and SIGKILL when stopping it */
    bool capture;              /* collect standard output into the result */
    size_t capture_max;        /* keep at most this many bytes (the rest is read and dropped) */
    const sigset_t *wait_mask; /* the signal mask while waiting (see above) */
    bool (*stop)(void);        /* checked after every wake-up: true stops the command */
};

enum cli_command_end {
    CLI_COMMAND_EXITED,    /* status: its exit code */
    CLI_COMMAND_KILLED,    /* status: the signal that ended it, which we did not send */
    CLI_COMMAND_TIMED_OUT, /* stopped at its deadline */
    CLI_COMMAND_STOPPED,   /* stopped because c->stop() said so */
};

struct cli_command_result {
    enum cli_command_end end;
    int status;
    struct cli_buffer out; /* what it wrote to standard output, when captured; reused */
    bool truncated;        /* it wrote more than capture_max bytes */
};

/*
 * Run the command with the environment envp and `len` bytes of input, and wait until it has
 * ended. 0 with *r filled; or a negative errno when it could not be run, with nothing left
 * running: the errno of execvp (-ENOENT: not found, -EACCES: not executable...) or of the
 * system call that failed.
 */
int cli_command_run(const struct cli_command *c, char *const envp[], const void *input, size_t len,
                    struct cli_command_result *r);

/* Words for how it ended: "exited with status 3", "was killed by signal 9 (Killed)", "timed
 * out", "was stopped". */
void cli_command_end_text(const struct cli_command_result *r, char *buf, size_t size);

/* Where execvp would find argv0: 0 if it is an executable file (somewhere on PATH when it has
 * no '/'), -ENOENT if there is none, -EACCES if there is one that cannot be run, -EISDIR if
 * argv0 is a path to a directory. */
int cli_command_find(const char *argv0);

#endif /* SHMQ_CLI_COMMAND_H */
