/* shmq call: send one request and print its reply. */
#define _GNU_SOURCE /* syscall(SYS_gettid) */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cli.h"
#include "diag.h"
#include "json.h"
#include "interrupt.h"
#include "options.h"
#include "parse.h"
#include "queue.h"
#include "records.h"

#define DEFAULT_TIMEOUT_NS (5 * 1000000000LL)
#define REPLY_SLOT_MIN (64u * 1024) /* the smallest slot of a reply queue (shmq_call in shmq.h) */

/* The request from standard input: exactly one record. Returns 0 and points data and len at a copy
 * (the caller frees it), or prints the problem and returns the exit code. */
static int read_request(struct cli_records *in, const void **data, size_t *len)
{
    const char *unit = cli_records_unit(in->format);
    struct cli_record rec;
    int got;
    while ((got = cli_records_next(in, &rec)) == -EINTR && !cli_interrupted())
        continue;
    if (got == -EINTR)
        return CLI_EXIT_SIGNAL + cli_interrupted();
    if (got == -EMSGSIZE || got == -EINVAL) {
        cli_error("%s%s", in->why, got == -EMSGSIZE ? ", the queue's slot size" : "");
        return CLI_EXIT_BAD_INPUT;
    }
    if (got < 0)
        return cli_fail_system(got, "reading standard input");
    if (got == 0) {
        cli_error("standard input holds no message: give one as an argument or on stdin");
        return CLI_EXIT_BAD_INPUT;
    }
    /* The record points into the reader's buffer, which reading on may move: keep a copy. */
    void *copy = malloc(rec.len ? rec.len : 1);
    if (!copy)
        return cli_fail_system(-ENOMEM, "reading standard input");
    memcpy(copy, rec.data, rec.len);
    struct cli_record more;
    while ((got = cli_records_next(in, &more)) == -EINTR && !cli_interrupted())
        continue;
    if (got != 0) {
        free(copy);
        if (got == -EINTR)
            return CLI_EXIT_SIGNAL + cli_interrupted();
        if (got < 0 && got != -EMSGSIZE && got != -EINVAL)
            return cli_fail_system(got, "reading standard input");
        cli_error("standard input holds more than one %s: call sends one message (-0 or --raw "
                  "frame a message that has newlines)",
                  unit);
        return CLI_EXIT_BAD_INPUT;
    }
    *data = copy;
    *len = rec.len;
    return 0;
}

/* The reply queue of this thread, as shmq_call names it. The library removes it at exit();
 * a signal ends this tool by raising it again, which skips exit handlers, so an interrupted
 * call removes it itself. */
static void remove_reply_queue(void)
{
    char name[64];
    snprintf(name, sizeof name, "shmq-reply.%d.%ld", (int)getpid(), (long)syscall(SYS_gettid));
    shmq_unlink(name);
}

static int call_failed(int err, const char *name, int64_t timeout_ns, size_t len,
                       uint32_t slot_size)
{
    char waited[32];
    switch (-err) {
    case ETIMEDOUT:
    case EAGAIN:
        cli_format_duration(timeout_ns, waited, sizeof waited);
        cli_error("no reply from '%s' within %s (the request may still be waiting in the queue)",
                  name, waited);
        return CLI_EXIT_EMPTY;
    case EMSGSIZE:
        cli_error("the message (%zu byte%s plus a correlation id and the reply queue's name) does "
                  "not fit in a slot of %u bytes",
                  len, len == 1 ? "" : "s", slot_size);
        return CLI_EXIT_BAD_INPUT;
    case EINTR:
        remove_reply_queue();
        return CLI_EXIT_SIGNAL + cli_interrupted();
    default:
        return cli_fail(err, "calling '%s'", name);
    }
}

/*
 * A reply that is a Celery result (what 'shmq bridge' brings back from a Celery worker: a JSON
 * object with "task_id" and "status") says whether the task succeeded. 0 when it is not such
 * a result or its status is SUCCESS; otherwise CLI_EXIT_FAILURE, after saying so.
 */
static int celery_status(const void *reply, size_t len)
{
    struct cli_json_reader r;
    struct cli_buffer key = {.limit = 64}, status = {.limit = 32}, type = {.limit = 200};
    bool has_task_id = false, has_status = false;
    cli_json_reader_init(&r, reply, len);
    if (cli_json_consume(&r, '{')) {
        do {
            key.len = 0;
            cli_json_skip_space(&r);
            if (cli_json_read_string(&r, &key) != 0 || !cli_json_consume(&r, ':'))
                break;
            cli_json_skip_space(&r);
            if (key.len == 6 && memcmp(key.data, "status", 6) == 0 && !has_status) {
                if (cli_json_read_string(&r, &status) != 0)
                    break;
                has_status = true;
                continue;
            }
            has_task_id |= key.len == 7 && memcmp(key.data, "task_id", 7) == 0;
            if (key.len == 6 && memcmp(key.data, "result", 6) == 0) {
                /* A failure's result: {"exc_type": "...", "exc_message": ..., ...}. */
                struct cli_json_reader at = r;
                struct cli_buffer inner = {.limit = 64};
                if (cli_json_consume(&at, '{') && cli_json_read_string(&at, &inner) == 0 &&
                    inner.len == 8 && memcmp(inner.data, "exc_type", 8) == 0 &&
                    cli_json_consume(&at, ':'))
                    cli_json_read_string(&at, &type);
                cli_buffer_free(&inner);
            }
            if (cli_json_skip_value(&r) != 0)
                break;
        } while (cli_json_consume(&r, ','));
    }
    int code = 0;
    if (has_status && has_task_id && !(status.len == 7 && memcmp(status.data, "SUCCESS", 7) == 0)) {
        cli_error("the task did not succeed: Celery status %.*s%s%.*s", (int)status.len,
                  status.data ? (const char *)status.data : "", type.len ? ", " : "", (int)type.len,
                  type.data ? (const char *)type.data : "");
        code = CLI_EXIT_FAILURE;
    }
    cli_buffer_free(&key);
    cli_buffer_free(&status);
    cli_buffer_free(&type);
    return code;
}

static int run(int argc, char **argv)
{
    int format = CLI_RECORDS_LINES;
    int64_t timeout_ns = DEFAULT_TIMEOUT_NS;
    const struct cli_option options[] = {
        {.name = "timeout",
         .letter = 't',
         .kind = CLI_OPTION_DURATION,
         .target = &timeout_ns,
         .value_name = "DURATION",
         .help = "wait this long for the reply (default 5s)"},
        {.name = "null",
         .letter = '0',
         .kind = CLI_OPTION_CHOICE,
         .target = &format,
         .choice = CLI_RECORDS_NUL,
         .help = "the message and the reply end with a NUL byte, not a newline"},
        {.name = "raw",
         .kind = CLI_OPTION_CHOICE,
         .target = &format,
         .choice = CLI_RECORDS_RAW,
         .help = "the message and the reply are a 4-byte little-endian length, then the bytes"},
    };
    int n, code;
    if (!cli_options_parse(&cli_verb_call, options, CLI_COUNT_OF(options), argc, argv, &n, &code))
        return code;
    if (n > 1 && format != CLI_RECORDS_LINES) {
        cli_error("-0 and --raw frame standard input: they do not apply to a message given as "
                  "an argument");
        return CLI_EXIT_USAGE;
    }
    const char *name = argv[1];
    shmq_t *q;
    if ((code = cli_queue_open(name, 0, &q)) != 0)
        return code;
    struct shmq_stat st;
    void *reply = NULL, *copy = NULL;
    struct cli_records in;
    cli_records_init(&in, stdin, (enum cli_record_format)format, 0);
    if ((code = cli_queue_stat(q, &st)) != 0)
        goto out;
    const void *request = n > 1 ? argv[2] : NULL;
    size_t len = n > 1 ? strlen(argv[2]) : 0;
    if (n == 1) {
        in.max_len = st.slot_size;
        if ((code = read_request(&in, &request, &len)) != 0)
            goto out;
        copy = (void *)request;
    }
    /* A reply comes through this thread's reply queue, whose slots are this queue's size or
     * 64 KiB, whichever is larger (shmq.h): it cannot be larger than that. */
    size_t cap = st.slot_size > REPLY_SLOT_MIN ? st.slot_size : REPLY_SLOT_MIN;
    if (!(reply = malloc(cap))) {
        code = cli_fail_system(-ENOMEM, "calling '%s'", name);
        goto out;
    }
    ssize_t got = shmq_call(q, request, len, reply, cap, timeout_ns);
    if (got < 0) {
        code = call_failed((int)got, name, timeout_ns, len, st.slot_size);
        goto out;
    }
    struct shmq_msg m = {.data = reply, .len = (size_t)got};
    int err = cli_record_write(stdout, (enum cli_record_format)format, &m);
    code = err ? cli_fail_system(err, "writing the reply") : celery_status(reply, (size_t)got);
out:
    cli_records_free(&in);
    free(copy);
    free(reply);
    shmq_close(q);
    return code;
}

const struct cli_verb cli_verb_call = {
    .name = "call",
    .operands = "NAME [MESSAGE]",
    .min_operands = 1,
    .max_operands = 2,
    .summary = "send a request and print its reply",
    .description =
        "Push MESSAGE (or the one message on standard input: a line, or with -0 or --raw one\n"
        "record) to NAME as a request, wait for the reply and print it, as pop prints a\n"
        "message. The request carries a fresh correlation id and, as its reply-to, a reply\n"
        "queue of this process (shmq-reply.PID.TID, removed on exit); whoever serves NAME\n"
        "answers on it ('shmq work NAME --reply -- CMD', or shmq_reply() in a program).\n\n"
        "No reply within --timeout is exit code 5; the request may still be in the queue then,\n"
        "and a reply that comes later is dropped. A reply that is a Celery result (through\n"
        "'shmq bridge': a JSON object with \"task_id\" and \"status\") is printed, and its status\n"
        "sets the exit code: SUCCESS 0, anything else (FAILURE, REVOKED) 1, with the\n"
        "exception's type on stderr.",
    .run = run,
};
