/*
 * shmq: the command-line tool. This file only dispatches: it finds the verb named by the
 * first argument and runs it; each verb lives in its own file.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "diag.h"
#include "interrupt.h"
#include "shmq.h"

#define STDOUT_BUFFER (256 * 1024) /* large writes when stdout is a pipe or a file */

extern const struct cli_verb cli_verb_bridge; /* cli/bridge.c: the AMQP bridge */
extern const struct cli_verb cli_verb_serve;  /* cli/serve.c: metrics, JSON API, dashboard */

static const struct cli_verb *const verbs[] = {
    &cli_verb_create, &cli_verb_ls,    &cli_verb_stat,   &cli_verb_push,   &cli_verb_pop,
    &cli_verb_drain,  &cli_verb_peek,  &cli_verb_purge,  &cli_verb_rm,     &cli_verb_export,
    &cli_verb_import, &cli_verb_watch, &cli_verb_repair, &cli_verb_call,   &cli_verb_work,
    &cli_verb_topic,  &cli_verb_pub,   &cli_verb_sub,    &cli_verb_bridge, &cli_verb_serve,
};

static const struct cli_verb *find_verb(const char *name)
{
    for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++)
        if (strcmp(verbs[i]->name, name) == 0)
            return verbs[i];
    return NULL;
}

static void print_help(FILE *out)
{
    fputs("usage: shmq VERB [options] [operands]\n"
          "       shmq VERB --help | shmq --help | shmq --version\n\n"
          "Create, inspect, feed, drain, export, import and serve shmq queues: brokerless\n"
          "lock-free message queues in POSIX shared memory (queue NAME is /dev/shm/shmq.NAME).\n"
          "\nverbs:\n",
          out);
    for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++)
        fprintf(out, "  %-8s %s\n", verbs[i]->name, verbs[i]->summary);
    fputs("\nConventions: tables have a header on a terminal and are tab-separated without one\n"
          "when piped; --json prints JSON instead. Durations take a unit (250ms, 2s, 1m), sizes\n"
          "a K, M or G suffix, modes are octal. Diagnostics go to stderr.\n\n"
          "exit codes:\n"
          "  0  success (also when the output pipe was closed early, e.g. by head)\n"
          "  1  other failure (I/O error, corrupt segment, out of memory, role taken)\n"
          "  2  usage error: unknown verb or option, bad option value, bad queue name\n"
          "  3  queue not found\n"
          "  4  permission denied\n"
          "  5  empty: nothing to pop, or the wait for messages (or a reply) timed out\n"
          "  6  full: the queue stayed full for the whole --timeout\n"
          "  7  bad input: a malformed record, or a message too large for the queue\n"
          "  8  the queue already exists (create)\n"
          "  126, 127  work: the command cannot be run, or is not found\n"
          "  128+N  interrupted by signal N (130 for Ctrl-C)\n\n"
          "Run 'shmq VERB --help' for a verb's options; see also shmq(1).\n",
          out);
}

/* Flush stdout and report a failure the verb could not see (it wrote through a buffer). */
static int flush_stdout(int code)
{
    if (fflush(stdout) == 0 || errno == EPIPE)
        return code;
    if (code == CLI_EXIT_OK)
        return cli_fail_system(-errno, "writing to standard output");
    return code;
}

int main(int argc, char **argv)
{
    cli_interrupt_install();
    if (argc < 2) {
        print_help(stderr);
        return CLI_EXIT_USAGE;
    }
    const char *name = argv[1];
    if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0 ||
        (strcmp(name, "help") == 0 && argc == 2)) {
        print_help(stdout);
        return flush_stdout(CLI_EXIT_OK);
    }
    if (strcmp(name, "--version") == 0) {
        printf("shmq %s (libshmq %s)\n", SHMQ_VERSION_STRING, shmq_version());
        return flush_stdout(CLI_EXIT_OK);
    }
    char help_flag[] = "--help";
    char *help_argv[] = {argv[0], argc > 2 ? argv[2] : NULL, help_flag, NULL};
    if (strcmp(name, "help") == 0) {
        /* "shmq help VERB" is "shmq VERB --help". */
        argv = help_argv;
        argc = 3;
        name = argv[1];
    }
    const struct cli_verb *verb = find_verb(name);
    if (!verb) {
        cli_error("%s '%s' (see 'shmq --help')", name[0] == '-' ? "unknown option" : "unknown verb",
                  name);
        return CLI_EXIT_USAGE;
    }
    /* A buffer of our own: glibc ignores the size when setvbuf allocates one itself. */
    static char stdout_buffer[STDOUT_BUFFER];
    if (!isatty(fileno(stdout)))
        setvbuf(stdout, stdout_buffer, _IOFBF, sizeof stdout_buffer);
    cli_diag_set_verb(verb->name);
    int code = flush_stdout(verb->run(argc - 1, argv + 1));
    int sig = cli_interrupted();
    if (sig) {
        /* End the way an uncaught signal would, so that a calling shell stops too. */
        signal(sig, SIG_DFL);
        raise(sig);
        return CLI_EXIT_SIGNAL + sig;
    }
    return code;
}
