/*
 * The shmq command-line tool: exit codes and the verbs the dispatcher (main.c) knows.
 *
 * Every verb lives in its own file and exports one `struct cli_verb`. A verb's run function
 * gets the arguments after the verb (argv[0] is the verb itself) and returns an exit code.
 * Helpers below the verbs return 0 or a negative errno value, like the library; only the
 * functions that finish a verb's work (and say so) return exit codes.
 */
#ifndef SHMQ_CLI_H
#define SHMQ_CLI_H

/* Exit codes: documented in `shmq --help`, the man page and the README. */
enum cli_exit {
    CLI_EXIT_OK = 0,
    CLI_EXIT_FAILURE = 1,   /* anything else: I/O error, corrupt segment, out of memory... */
    CLI_EXIT_USAGE = 2,     /* unknown verb or option, bad option value, bad queue name */
    CLI_EXIT_NOT_FOUND = 3, /* the queue does not exist */
    CLI_EXIT_DENIED = 4,    /* permission denied */
    CLI_EXIT_EMPTY = 5,     /* nothing to pop, or a wait for messages (or a reply) timed out */
    CLI_EXIT_FULL = 6,      /* the queue stayed full for the whole --timeout */
    CLI_EXIT_BAD_INPUT = 7, /* a malformed input record, or a message too large for the slots */
    CLI_EXIT_EXISTS = 8,    /* create: the queue already exists */
    CLI_EXIT_SIGNAL = 128,  /* + the signal number, when interrupted */
};

/* printf-style checking of a function's format argument. */
#if defined(__GNUC__)
#define CLI_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#else
#define CLI_PRINTF(fmt, args)
#endif

struct cli_verb {
    const char *name;
    const char *operands;    /* "NAME [MESSAGE...]", shown in usage lines */
    int min_operands;        /* checked by cli_options_parse */
    int max_operands;        /* -1: any number */
    const char *summary;     /* one line for `shmq --help` */
    const char *description; /* paragraphs for `shmq VERB --help` */
    int (*run)(int argc, char **argv);
};

extern const struct cli_verb cli_verb_create;
extern const struct cli_verb cli_verb_ls;
extern const struct cli_verb cli_verb_stat;
extern const struct cli_verb cli_verb_push;
extern const struct cli_verb cli_verb_pop;
extern const struct cli_verb cli_verb_drain;
extern const struct cli_verb cli_verb_peek;
extern const struct cli_verb cli_verb_purge;
extern const struct cli_verb cli_verb_rm;
extern const struct cli_verb cli_verb_export;
extern const struct cli_verb cli_verb_import;
extern const struct cli_verb cli_verb_watch;
extern const struct cli_verb cli_verb_repair;
extern const struct cli_verb cli_verb_call;
extern const struct cli_verb cli_verb_work;
extern const struct cli_verb cli_verb_topic;
extern const struct cli_verb cli_verb_pub;
extern const struct cli_verb cli_verb_sub;

#endif /* SHMQ_CLI_H */
