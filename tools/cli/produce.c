/* Producing messages into a queue (see produce.h). */
#include "produce.h"

#include <errno.h>
#include <inttypes.h>
#include <unistd.h>

#include "clock.h"
#include "diag.h"
#include "interrupt.h"
#include "parse.h"
#include "queue.h"

/* On a terminal, a push that waits this long for room says why. */
#define FULL_NOTE_AFTER_NS 1000000000LL

int cli_produce_init(struct cli_produce *p, shmq_t *q)
{
    struct shmq_stat st;
    int code = cli_queue_stat(q, &st);
    if (code)
        return code;
    p->q = q;
    p->slot_size = st.slot_size;
    p->capacity = st.capacity;
    p->tty = isatty(STDERR_FILENO) != 0;
    p->pushed = 0;
    return 0;
}

struct push_call {
    shmq_t *q;
    const struct shmq_msg *m;
};

static int push_op(void *ctx, int64_t timeout_ns)
{
    struct push_call *call = ctx;
    return shmq_push_msg(call->q, call->m, timeout_ns);
}

int cli_produce_one(struct cli_produce *p, const struct cli_record *rec)
{
    struct shmq_msg m = {
        .data = (void *)rec->data,
        .len = rec->len,
        .timestamp_ns = rec->timestamp_ns,
        .type = rec->type ? rec->type : p->type,
        .correlation_id = rec->correlation_id ? rec->correlation_id : p->correlation_id,
        .reply_to = rec->reply_to ? rec->reply_to : p->reply_to,
    };
    p->last_len = rec->len;
    if (p->stamp && !m.timestamp_ns)
        m.timestamp_ns = cli_realtime_ns();
    p->last_has_metadata = m.timestamp_ns || m.type || m.correlation_id || m.reply_to;
    struct push_call call = {p->q, &m};
    int err;
    if (p->timeout_ns > FULL_NOTE_AFTER_NS && !p->told_full && p->tty) {
        /* A person waiting at a terminal learns why nothing happens, once. */
        err = cli_wait_sliced(push_op, &call, FULL_NOTE_AFTER_NS);
        if (err == -ETIMEDOUT) {
            p->told_full = true;
            cli_error("queue '%s' is full (%" PRIu32 " messages): waiting for a consumer to make "
                      "room (--timeout DURATION gives up instead; Ctrl-C stops, keeping what "
                      "was pushed)",
                      shmq_name(p->q), p->capacity);
            int64_t left =
                p->timeout_ns == SHMQ_FOREVER ? SHMQ_FOREVER : p->timeout_ns - FULL_NOTE_AFTER_NS;
            err = cli_wait_sliced(push_op, &call, left);
        }
    } else {
        err = cli_wait_sliced(push_op, &call, p->timeout_ns);
    }
    if (err == 0)
        p->pushed++;
    return err;
}

static const char *plural(uint64_t n)
{
    return n == 1 ? "" : "s";
}

/* "nothing was pushed", "1 message before it was pushed and stays in 'q'", ... */
static void kept_text(const struct cli_produce *p, char *buf, size_t size)
{
    unsigned long long n = (unsigned long long)p->pushed;
    if (n == 0)
        snprintf(buf, size, "nothing was pushed");
    else
        snprintf(buf, size, "the %llu message%s %s it %s pushed and stay%s in '%s'", n, plural(n),
                 p->reversed ? "after" : "before", n == 1 ? "was" : "were", n == 1 ? "s" : "",
                 shmq_name(p->q));
}

int cli_produce_fail(const struct cli_produce *p, int err, const char *unit, uint64_t number)
{
    unsigned long long at = (unsigned long long)number;
    char kept[320], timeout[32];
    kept_text(p, kept, sizeof kept);
    switch (-err) {
    case EMSGSIZE:
        cli_error("%s %llu (%zu byte%s%s) does not fit in a slot of %u bytes; %s", unit, at,
                  p->last_len, plural(p->last_len), p->last_has_metadata ? " plus metadata" : "",
                  p->slot_size, kept);
        return CLI_EXIT_BAD_INPUT;
    case EAGAIN:
    case ETIMEDOUT:
        if (p->timeout_ns == 0) {
            cli_error("queue '%s' is full at %s %llu (--timeout 0: no wait); %s", shmq_name(p->q),
                      unit, at, kept);
        } else {
            cli_format_duration(p->timeout_ns, timeout, sizeof timeout);
            cli_error("queue '%s' stayed full for %s at %s %llu; %s", shmq_name(p->q), timeout,
                      unit, at, kept);
        }
        return CLI_EXIT_FULL;
    case EINTR:
        cli_error("interrupted at %s %llu; %s", unit, at, kept);
        return CLI_EXIT_SIGNAL + cli_interrupted();
    default:
        return cli_fail(err, "pushing %s %llu into '%s' (%s)", unit, at, shmq_name(p->q), kept);
    }
}

int cli_produce_fail_input(const struct cli_produce *p, const struct cli_records *in, int err)
{
    char kept[320];
    kept_text(p, kept, sizeof kept);
    if (err == -EINTR) {
        cli_error("interrupted at %s %llu; %s", cli_records_unit(in->format),
                  (unsigned long long)in->number + 1, kept);
        return CLI_EXIT_SIGNAL + cli_interrupted();
    }
    if (err == -EMSGSIZE || err == -EINVAL) {
        cli_error("%s%s; %s", in->why, err == -EMSGSIZE ? ", the queue's slot size" : "", kept);
        return CLI_EXIT_BAD_INPUT;
    }
    return cli_fail_system(err, "reading the input (%s)", kept);
}

int cli_produce_stream(struct cli_produce *p, struct cli_records *in, struct cli_progress *progress)
{
    const char *unit = cli_records_unit(in->format);
    for (;;) {
        struct cli_record rec;
        int got = cli_records_next(in, &rec);
        if (got == -EINTR && !cli_interrupted())
            continue;
        if (got < 0)
            return cli_produce_fail_input(p, in, got);
        if (got == 0)
            return CLI_EXIT_OK;
        char type[SHMQ_META_STR_MAX + 1], why[SHMQ_META_STR_MAX + 128], kept[320];
        if (p->type_field && !rec.type) {
            got = cli_record_field(&rec, p->type_field, type, SHMQ_META_STR_MAX, why, sizeof why);
            if (got < 0) {
                kept_text(p, kept, sizeof kept);
                cli_error("%s %llu: --type-field: %s; %s", unit, (unsigned long long)in->number,
                          why, kept);
                return got == -ENOMEM ? CLI_EXIT_FAILURE : CLI_EXIT_BAD_INPUT;
            }
            if (got == 1)
                rec.type = type;
        }
        int err = cli_produce_one(p, &rec);
        if (err)
            return cli_produce_fail(p, err, unit, in->number);
        cli_progress_update(progress, p->pushed, in->offset);
    }
}
