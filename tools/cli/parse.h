/*
 * Parsers for the values people type on the command line: durations, sizes, permission modes
 * and counts. Each takes a NUL-terminated string, accepts the whole string or nothing, never
 * reads past the terminator, and returns 0, -EINVAL (not of that form) or -ERANGE (of that form
 * but too large). The output is written only on success. They are fuzzed (any input is safe).
 */
#ifndef SHMQ_CLI_PARSE_H
#define SHMQ_CLI_PARSE_H

#include <stdint.h>

/*
 * A duration: one or more terms NUMBER UNIT with NUMBER a decimal that may have a fraction
 * ("1.5s") and UNIT one of ns, us, ms, s, m, h ("250ms", "2s", "1m30s"). "0" alone is zero and
 * "forever" is INT64_MAX (shmq's SHMQ_FOREVER). The total must fit in int64_t nanoseconds.
 */
int cli_parse_duration(const char *s, int64_t *ns);

/* A size in bytes: decimal digits with an optional binary suffix K, M or G (1024, 1024^2,
 * 1024^3; either case; "KB"/"KiB" also accepted), e.g. "256", "4K", "64M". */
int cli_parse_size(const char *s, uint64_t *bytes);

/* Permission bits in octal, "600", "0640" or "0o640", at most 0777. */
int cli_parse_mode(const char *s, uint32_t *mode);

/* A plain decimal count, digits only. */
int cli_parse_count(const char *s, uint64_t *count);

/* The largest CPU number and list length cli_parse_cpu_list accepts. */
#define CLI_CPU_MAX 65535
#define CLI_CPU_LIST_MAX 4096

/* A list of CPU numbers as taskset -c writes it: numbers and ranges separated by commas,
 * "0-3,8,10-11", kept in the order given (a CPU may appear twice). At most `max` CPUs (more is
 * -ERANGE, as is a number above CLI_CPU_MAX); a range must not go down. Unlike the parsers
 * above, a failure may leave some numbers in `cpus`; *count is set only on success. */
int cli_parse_cpu_list(const char *s, int *cpus, unsigned max, unsigned *count);

/* Format a duration the way cli_parse_duration reads it ("250ms", "2s", "forever"). */
void cli_format_duration(int64_t ns, char *buf, unsigned long size);

#endif /* SHMQ_CLI_PARSE_H */
