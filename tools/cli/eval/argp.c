/*
 * Evidence for tools/cli/README.md ("Option parsing: argp"): how glibc's argp parses the
 * options of `shmq pop` (--count, and --wait whose value is optional). Not built by CMake; see
 * the README for the command.
 */
#include <argp.h>
#include <stdio.h>
#include <string.h>
static const struct argp_option options[] = {
    {"count", 'n', "COUNT", 0, "pop up to COUNT messages", 0},
    {"wait", 'w', "DURATION", OPTION_ARG_OPTIONAL, "wait for messages", 0},
    {0},
};
static error_t parse(int key, char *arg, struct argp_state *state)
{
    switch (key) {
    case 'n':
        printf("  count=%s\n", arg);
        return 0;
    case 'w':
        printf("  wait=%s\n", arg ? arg : "(none: forever)");
        return 0;
    case ARGP_KEY_ARG:
        printf("  operand %s\n", arg);
        return 0;
    default:
        (void)state;
        return ARGP_ERR_UNKNOWN;
    }
}
int main(int argc, char **argv)
{
    struct argp argp = {options, parse, "NAME", "Pop messages.", 0, 0, 0};
    return argp_parse(&argp, argc, argv, 0, 0, 0);
}
