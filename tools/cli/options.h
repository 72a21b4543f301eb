/*
 * Command-line options, described by tables: each verb lists its options once, and the
 * parser, the error messages, `--help` and (through --help) the bash completion all come
 * from that list. Adding a flag is adding one entry.
 *
 * Syntax: long options "--name VALUE" or "--name=VALUE", short options "-n VALUE" or "-nVALUE",
 * short flags grouped ("-0v"); options and operands in any order; "--" ends the options; "-"
 * alone is an operand. An option whose value is optional (pop --wait) takes the next argument
 * as its value when that reads as one ("--wait 500ms"). Every verb also takes -h/--help. A long
 * name is matched whole (no abbreviations: adding an option must not change what an existing script
 * means).
 */
#ifndef SHMQ_CLI_OPTIONS_H
#define SHMQ_CLI_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cli.h"

#define CLI_COUNT_OF(a) (sizeof(a) / sizeof((a)[0]))

enum cli_option_kind {
    CLI_OPTION_FLAG,     /* bool *: set to true */
    CLI_OPTION_CHOICE,   /* int *: set to .choice; options sharing a target exclude each other */
    CLI_OPTION_STRING,   /* const char **: the argument as given */
    CLI_OPTION_COUNT,    /* uint64_t *: decimal, within [min, max] */
    CLI_OPTION_SIZE,     /* uint64_t *: bytes with an optional K/M/G, within [min, max] */
    CLI_OPTION_DURATION, /* int64_t *: nanoseconds, "250ms", "2s", "forever" */
    CLI_OPTION_MODE,     /* uint32_t *: octal permission bits */
};

struct cli_option {
    const char *name; /* long name without "--" */
    char letter;      /* short name, or 0 */
    enum cli_option_kind kind;
    void *target;
    const char *value_name; /* for --help: "COUNT"; NULL for flags and choices */
    const char *help;       /* one line */
    uint64_t min, max;      /* COUNT and SIZE; max 0 = no upper limit */
    int choice;             /* CHOICE: the value stored */
    const char *implicit;   /* makes the value optional: "--name" alone means "--name=implicit" */
    bool *given;            /* if not NULL, set to true when the option appears */
};

/* The options that choose how messages are framed on stdin or stdout (records.h). `format`
 * points to an int holding an enum cli_record_format, CLI_RECORDS_LINES by default. */
#define CLI_OPTIONS_RECORD_FORMAT(format)                                                          \
    {.name = "null",                                                                               \
     .letter = '0',                                                                                \
     .kind = CLI_OPTION_CHOICE,                                                                    \
     .target = (format),                                                                           \
     .choice = CLI_RECORDS_NUL,                                                                    \
     .help = "messages end with a NUL byte, not a newline"},                                       \
        {.name = "raw",                                                                            \
         .kind = CLI_OPTION_CHOICE,                                                                \
         .target = (format),                                                                       \
         .choice = CLI_RECORDS_RAW,                                                                \
         .help = "messages are a 4-byte little-endian length, then the bytes"},                    \
        {.name = "jsonl",                                                                          \
         .kind = CLI_OPTION_CHOICE,                                                                \
         .target = (format),                                                                       \
         .choice = CLI_RECORDS_JSONL,                                                              \
         .help = "JSON lines with metadata (the export format)"},                                  \
    {                                                                                              \
        .name = "csv", .kind = CLI_OPTION_CHOICE, .target = (format), .choice = CLI_RECORDS_CSV,   \
        .help = "RFC 4180 CSV records (quoted fields may hold line breaks)"                        \
    }

/* The metadata options of the verbs that produce (push, pub): the same message type,
 * correlation id, reply-to and timestamp flag for every message. */
#define CLI_OPTIONS_METADATA(type, correlation_id, reply_to, stamp)                                \
    {.name = "type",                                                                               \
     .kind = CLI_OPTION_STRING,                                                                    \
     .target = (type),                                                                             \
     .value_name = "TYPE",                                                                         \
     .help = "message type of every message"},                                                     \
        {.name = "correlation-id",                                                                 \
         .kind = CLI_OPTION_STRING,                                                                \
         .target = (correlation_id),                                                               \
         .value_name = "ID",                                                                       \
         .help = "correlation id of every message"},                                               \
        {.name = "reply-to",                                                                       \
         .kind = CLI_OPTION_STRING,                                                                \
         .target = (reply_to),                                                                     \
         .value_name = "QUEUE",                                                                    \
         .help = "queue to answer on, for every message"},                                         \
    {                                                                                              \
        .name = "timestamp", .kind = CLI_OPTION_FLAG, .target = (stamp),                           \
        .help = "stamp messages with the current time (costs 19+ bytes of the slot)"               \
    }

/* The values of CLI_OPTIONS_METADATA are at most SHMQ_META_STR_MAX bytes each: 0, or
 * CLI_EXIT_USAGE after saying which is too long. */
int cli_options_check_metadata(const char *type, const char *correlation_id, const char *reply_to);

/*
 * Parse argv[1..argc) (argv[0] is the verb) against the verb's options and move the operands,
 * in order, to argv[1..1+*noperands). Returns true to go on; false when the verb must return
 * *exit_code at once: after --help (0) or after printing a usage error (CLI_EXIT_USAGE),
 * which includes a number of operands outside the verb's bounds.
 */
bool cli_options_parse(const struct cli_verb *verb, const struct cli_option *options,
                       size_t noptions, int argc, char **argv, int *noperands, int *exit_code);

/* Print the verb's usage, description and options (what --help shows) to stdout. */
void cli_options_help(const struct cli_verb *verb, const struct cli_option *options,
                      size_t noptions);

#endif /* SHMQ_CLI_OPTIONS_H */
