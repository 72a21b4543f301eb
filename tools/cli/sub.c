/*
 * shmq sub: subscribe to a topic and write each message as it arrives.
 *
 * A topic has no acknowledgement: a message is the group's until shmq_next returns it, and
 * this member's from then on. So each message is written out before the next one is taken
 * (one write(2) per message: nothing sits in a buffer while the tool waits or when it is
 * killed), and a signal ends the wait for the next message without taking it: Ctrl-C or
 * SIGTERM loses nothing that another member of the group could have had. Only the message
 * whose write fails (a closed pipe) is lost to the group.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buffer.h"
#include "cli.h"
#include "clock.h"
#include "diag.h"
#include "interrupt.h"
#include "options.h"
#include "parse.h"
#include "queue.h"
#include "records.h"

struct subscriber {
    shmq_sub_t *sub;
    enum cli_record_format format;
    void *payload;
    size_t cap;
    struct shmq_delivery d;
    uint64_t received, lost;
};

struct next_call {
    struct subscriber *s;
    ssize_t len;
};

static int next_op(void *ctx, int64_t timeout_ns)
{
    struct next_call *call = ctx;
    struct subscriber *s = call->s;
    call->len = shmq_next(s->sub, s->payload, s->cap, &s->d, timeout_ns);
    return call->len < 0 ? (int)call->len : 0;
}

static int write_all(int fd, const char *p, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue; /* the message is taken: it goes out whatever the signal */
        if (n < 0)
            return -errno;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static int emit(struct subscriber *s, size_t len)
{
    char *bytes = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&bytes, &size);
    if (!out)
        return -ENOMEM;
    int err = cli_record_write_delivery(out, s->format, &s->d, s->payload, len);
    if (fclose(out) != 0 && !err)
        err = -ENOMEM;
    if (!err)
        err = write_all(STDOUT_FILENO, bytes, size);
    free(bytes);
    return err;
}

/* Grow the payload buffer to what the last -EMSGSIZE said the message needs. */
static int grow(struct subscriber *s)
{
    size_t cap = s->d.len;
    void *p = realloc(s->payload, cap ? cap : 1);
    if (!p)
        return -ENOMEM;
    s->payload = p;
    s->cap = cap;
    return 0;
}

/* Whether the reader of standard output has gone (a pipe whose other end closed): a waiting
 * subscriber would otherwise learn it only when the next message comes, and take it. */
static bool output_closed(void)
{
    struct pollfd pfd = {.fd = STDOUT_FILENO, .events = 0};
    return poll(&pfd, 1, 0) == 1 && (pfd.revents & (POLLERR | POLLNVAL));
}

/* Wait for the next message up to idle_ns (SHMQ_FOREVER: no limit), in slices between which
 * the signals and the output are looked at. Like cli_wait_sliced, plus -EPIPE. */
static int next_message(struct next_call *call, int64_t idle_ns)
{
    int64_t start = cli_monotonic_ns();
    for (;;) {
        int64_t left =
            idle_ns == SHMQ_FOREVER ? SHMQ_FOREVER : idle_ns - (cli_monotonic_ns() - start);
        int err = next_op(call, left <= 0                  ? 0
                                : left < CLI_WAIT_SLICE_NS ? left
                                                           : CLI_WAIT_SLICE_NS);
        if (err != -ETIMEDOUT && err != -EAGAIN)
            return err;
        if (left <= CLI_WAIT_SLICE_NS)
            return -ETIMEDOUT;
        if (cli_interrupted())
            return -EINTR;
        if (output_closed())
            return -EPIPE;
    }
}

/* Take and write messages until `limit` (0: no limit), an idle --timeout, or a signal. */
static int receive(struct subscriber *s, uint64_t limit, int64_t idle_ns, bool *output_failed)
{
    /* Whatever stdio holds goes first: from here on, messages are written to the fd. */
    if (fflush(stdout) != 0) {
        *output_failed = true;
        return -errno;
    }
    while (limit == 0 || s->received < limit) {
        if (cli_interrupted())
            return -EINTR;
        struct next_call call = {s, 0};
        int err = next_message(&call, idle_ns);
        if (err == -EPIPE) {
            *output_failed = true;
            return err;
        }
        if (err == -EMSGSIZE) {
            if ((err = grow(s)) != 0)
                return err;
            continue;
        }
        if (err)
            return err;
        s->received++;
        s->lost += s->d.lost;
        if ((err = emit(s, (size_t)call.len)) != 0) {
            *output_failed = true;
            return err;
        }
    }
    return 0;
}

static int run(int argc, char **argv)
{
    int format = CLI_RECORDS_LINES;
    const char *group = NULL;
    bool durable = false;
    uint64_t count = 0;
    int64_t idle_ns = SHMQ_FOREVER;
    const struct cli_option options[] = {
        {.name = "group",
         .letter = 'g',
         .kind = CLI_OPTION_STRING,
         .target = &group,
         .value_name = "GROUP",
         .help = "join GROUP: its members share its messages (default: a group of one)"},
        {.name = "durable",
         .kind = CLI_OPTION_FLAG,
         .target = &durable,
         .help = "the group keeps its place when it has no member (with --group)"},
        {.name = "count",
         .letter = 'n',
         .kind = CLI_OPTION_COUNT,
         .target = &count,
         .value_name = "N",
         .min = 1,
         .help = "stop after N messages (default: until Ctrl-C)"},
        {.name = "timeout",
         .letter = 't',
         .kind = CLI_OPTION_DURATION,
         .target = &idle_ns,
         .value_name = "DURATION",
         .help = "stop when no message came for DURATION (default: wait forever)"},
        CLI_OPTIONS_RECORD_FORMAT(&format),
    };
    int n, code;
    if (!cli_options_parse(&cli_verb_sub, options, CLI_COUNT_OF(options), argc, argv, &n, &code))
        return code;
    const char *name = argv[1], *pattern = n > 1 ? argv[2] : "#";
    if (shmq_pattern_check(pattern) != 0) {
        cli_error("'%s' is not a pattern: words joined by '.', where a whole word may be '*' "
                  "(one word) or '#' (any number of words)",
                  pattern);
        return CLI_EXIT_USAGE;
    }
    if (durable && !group) {
        cli_error("--durable needs --group: a group of one ends with its member");
        return CLI_EXIT_USAGE;
    }
    shmq_topic_t *t;
    if ((code = cli_topic_open(name, 0, &t)) != 0)
        return code;
    struct subscriber s = {.format = (enum cli_record_format)format};
    struct shmq_topic_stat st;
    int err = shmq_topic_stat(t, &st);
    if (!err)
        err = shmq_subscribe(t, pattern, group, durable ? SHMQ_SUB_DURABLE : 0, &s.sub);
    if (err) {
        shmq_topic_close(t);
        if (err == -EINVAL && group)
            cli_error("cannot join group '%s' of '%s': it exists with another pattern or "
                      "durability (see 'shmq stat %s')",
                      group, name, name);
        else
            cli_fail(err, "cannot subscribe to '%s'", name);
        return err == -EINVAL && group ? CLI_EXIT_USAGE : cli_exit_code(err);
    }
    s.cap = st.slot_size;
    bool output_failed = false;
    if (!(s.payload = malloc(s.cap)))
        err = -ENOMEM;
    else
        err = receive(&s, count, idle_ns, &output_failed);
    shmq_unsubscribe(s.sub);
    shmq_topic_close(t);
    free(s.payload);
    if (s.lost)
        cli_error("%llu message%s of '%s' were overwritten before this subscriber read them",
                  (unsigned long long)s.lost, s.lost == 1 ? "" : "s", name);
    char waited[32];
    switch (-err) {
    case 0:
        return CLI_EXIT_OK;
    case ETIMEDOUT:
    case EAGAIN:
        if (s.received)
            return CLI_EXIT_OK;
        cli_format_duration(idle_ns, waited, sizeof waited);
        cli_error("no message from '%s' within %s", name, waited);
        return CLI_EXIT_EMPTY;
    case EINTR:
        return CLI_EXIT_SIGNAL + cli_interrupted();
    default:
        if (output_failed)
            return cli_fail_system(err, "writing to standard output");
        return cli_fail(err, "reading '%s'", name);
    }
}

const struct cli_verb cli_verb_sub = {
    .name = "sub",
    .operands = "TOPIC [PATTERN]",
    .min_operands = 1,
    .max_operands = 2,
    .summary = "subscribe to a topic and print its messages",
    .description =
        "Subscribe to TOPIC with PATTERN (default '#': every subject; '*' stands for one\n"
        "word, '#' for any number) and write each message as it arrives: its subject, a tab\n"
        "and its payload, then a newline (or a NUL with -0); with --raw the subject, tab and\n"
        "payload after a 4-byte little-endian length; with --csv as one CSV record (quoted\n"
        "when it is not one already). With --jsonl, one JSON object: \"seq\" (its sequence\n"
        "number), \"lost\" (when messages were overwritten before it) and \"subject\", then\n"
        "the timestamp, metadata and payload (\"data_b64\") as export writes them (metadata\n"
        "that is not UTF-8 as \"type_b64\" and so on).\n\n"
        "Without --group the subscriber has a group of its own, which sees what is published\n"
        "from now on. The members of a --group share its messages: each goes to one of them.\n"
        "A --durable group keeps its place while it has no member, so that a member started\n"
        "later goes on where the last one stopped.\n\n"
        "Each message is written out before the next is taken, and Ctrl-C or SIGTERM ends the\n"
        "wait without taking one: a member leaving its group loses nothing for the others.\n"
        "When messages were overwritten before this subscriber read them (overwrite policy),\n"
        "it says how many on stderr.",
    .run = run,
};
