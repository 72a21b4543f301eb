/* Diagnostics and the mapping from error codes to exit codes. */
#include "diag.h"

#include <errno.h>
#include <stdarg.h>
#include <string.h>

#include "shmq.h"

static const char *current_verb;

void cli_diag_set_verb(const char *verb)
{
    current_verb = verb;
}

static void print_prefixed(const char *words, const char *fmt, va_list ap) CLI_PRINTF(2, 0);
static void print_prefixed(const char *words, const char *fmt, va_list ap)
{
    if (current_verb)
        fprintf(stderr, "shmq %s: ", current_verb);
    else
        fputs("shmq: ", stderr);
    vfprintf(stderr, fmt, ap);
    if (words)
        fprintf(stderr, ": %s", words);
    fputc('\n', stderr);
}

void cli_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    print_prefixed(NULL, fmt, ap);
    va_end(ap);
}

int cli_exit_code(int err)
{
    switch (-err) {
    case 0:
    case EPIPE:
        return CLI_EXIT_OK;
    case ENOENT:
        return CLI_EXIT_NOT_FOUND;
    case EACCES:
    case EPERM:
        return CLI_EXIT_DENIED;
    case EEXIST:
        return CLI_EXIT_EXISTS;
    case EMSGSIZE:
        return CLI_EXIT_BAD_INPUT;
    default:
        return CLI_EXIT_FAILURE;
    }
}

int cli_fail(int err, const char *fmt, ...)
{
    if (err == -EPIPE)
        return CLI_EXIT_OK;
    va_list ap;
    va_start(ap, fmt);
    print_prefixed(shmq_strerror(err), fmt, ap);
    va_end(ap);
    return cli_exit_code(err);
}

int cli_fail_system(int err, const char *fmt, ...)
{
    if (err == -EPIPE)
        return CLI_EXIT_OK;
    va_list ap;
    va_start(ap, fmt);
    print_prefixed(strerror(-err), fmt, ap);
    va_end(ap);
    return err == -EACCES || err == -EPERM ? CLI_EXIT_DENIED : CLI_EXIT_FAILURE;
}
