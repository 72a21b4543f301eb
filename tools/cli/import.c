/* shmq import: push the messages of an export (JSON lines) back into a queue. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "buffer.h"
#include "cli.h"
#include "diag.h"
#include "interrupt.h"
#include "options.h"
#include "produce.h"
#include "progress.h"
#include "queue.h"
#include "records.h"

#define ABSENT SIZE_MAX

/* The size of a regular file (for the progress bar), or 0 when unknown (a pipe). */
static uint64_t input_size(FILE *in)
{
    struct stat sb;
    if (fstat(fileno(in), &sb) != 0 || !S_ISREG(sb.st_mode))
        return 0;
    return (uint64_t)sb.st_size;
}

/*
 * A LIFO queue delivers the newest message first, and an export lists messages in delivery
 * order: to deliver them in that order again, import pushes them last line first. The spool
 * holds the whole input for that: payloads and strings in one buffer, found by offsets.
 */
struct spooled {
    size_t data, len;                /* payload: offset and length */
    size_t type, correlation, reply; /* NUL-terminated strings' offsets, or ABSENT */
    int64_t timestamp_ns;
    uint64_t line;
};

struct spool {
    struct cli_buffer bytes;
    struct spooled *items;
    size_t n, cap;
};

/* Append a string with its NUL; its offset, or ABSENT for NULL. */
static int spool_string(struct spool *s, const char *str, size_t *offset)
{
    *offset = ABSENT;
    if (!str)
        return 0;
    size_t at = s->bytes.len;
    int err = cli_buffer_append(&s->bytes, str, strlen(str) + 1);
    if (!err)
        *offset = at;
    return err;
}

static int spool_add(struct spool *s, const struct cli_record *rec, uint64_t line)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 1024;
        struct spooled *items = realloc(s->items, cap * sizeof *items);
        if (!items)
            return -ENOMEM;
        s->items = items;
        s->cap = cap;
    }
    struct spooled *it = &s->items[s->n];
    it->data = s->bytes.len;
    it->len = rec->len;
    it->timestamp_ns = rec->timestamp_ns;
    it->line = line;
    int err = cli_buffer_append(&s->bytes, rec->data, rec->len);
    if (!err)
        err = spool_string(s, rec->type, &it->type);
    if (!err)
        err = spool_string(s, rec->correlation_id, &it->correlation);
    if (!err)
        err = spool_string(s, rec->reply_to, &it->reply);
    if (!err)
        s->n++;
    return err;
}

static const char *spooled_string(const struct spool *s, size_t offset)
{
    return offset == ABSENT ? NULL : (const char *)s->bytes.data + offset;
}

/* Read every record into the spool, then push them last first. */
static int push_reversed(struct cli_produce *p, struct cli_records *in,
                         struct cli_progress *progress)
{
    struct spool s = {.bytes = {.data = NULL}};
    int code = CLI_EXIT_OK;
    for (;;) {
        struct cli_record rec;
        int got = cli_records_next(in, &rec);
        if (got == -EINTR && !cli_interrupted())
            continue;
        if (got <= 0) {
            if (got < 0)
                code = cli_produce_fail_input(p, in, got);
            break;
        }
        if ((got = spool_add(&s, &rec, in->number)) != 0) {
            code = cli_fail(got, "reading line %llu", (unsigned long long)in->number);
            break;
        }
        cli_progress_update(progress, s.n, in->offset);
    }
    p->reversed = true;
    for (size_t i = s.n; code == CLI_EXIT_OK && i-- > 0;) {
        const struct spooled *it = &s.items[i];
        struct cli_record rec = {
            .data = s.bytes.data ? s.bytes.data + it->data : NULL,
            .len = it->len,
            .type = spooled_string(&s, it->type),
            .correlation_id = spooled_string(&s, it->correlation),
            .reply_to = spooled_string(&s, it->reply),
            .timestamp_ns = it->timestamp_ns,
        };
        int err = cli_produce_one(p, &rec);
        if (err)
            code = cli_produce_fail(p, err, "line", it->line);
        cli_progress_update(progress, s.n - i, in->offset);
    }
    cli_buffer_free(&s.bytes);
    free(s.items);
    return code;
}

static int import_from(struct cli_produce *p, const char *name, FILE *in, enum shmq_kind kind)
{
    char label[64];
    snprintf(label, sizeof label, "import %s", name);
    struct cli_progress progress;
    cli_progress_start(&progress, label, input_size(in), CLI_PROGRESS_BYTES);
    struct cli_records records;
    cli_records_init(&records, in, CLI_RECORDS_JSONL, p->slot_size);
    int code = kind == SHMQ_LIFO ? push_reversed(p, &records, &progress)
                                 : cli_produce_stream(p, &records, &progress);
    cli_progress_finish(&progress);
    cli_records_free(&records);
    return code;
}

static int run(int argc, char **argv)
{
    struct cli_produce p = {.timeout_ns = SHMQ_FOREVER};
    const struct cli_option options[] = {
        {.name = "timeout",
         .letter = 't',
         .kind = CLI_OPTION_DURATION,
         .target = &p.timeout_ns,
         .value_name = "DURATION",
         .help = "give up if the queue stays full this long (default: forever)"},
    };
    int n, code;
    if (!cli_options_parse(&cli_verb_import, options, CLI_COUNT_OF(options), argc, argv, &n, &code))
        return code;
    const char *name = argv[1], *path = n > 1 && strcmp(argv[2], "-") != 0 ? argv[2] : NULL;
    shmq_t *q;
    if ((code = cli_queue_open(name, 0, &q)) != 0)
        return code;
    struct shmq_stat st;
    FILE *in = path ? fopen(path, "r") : stdin;
    if (!in)
        code = cli_fail_system(-errno, "cannot read '%s'", path);
    else if ((code = cli_queue_stat(q, &st)) == 0 && (code = cli_produce_init(&p, q)) == 0)
        code = import_from(&p, name, in, st.kind);
    if (in && in != stdin)
        fclose(in);
    shmq_close(q);
    return code;
}

const struct cli_verb cli_verb_import = {
    .name = "import",
    .operands = "NAME [FILE]",
    .min_operands = 1,
    .max_operands = 2,
    .summary = "push the messages of an export back into a queue",
    .description =
        "Read JSON lines as 'shmq export' writes them from FILE (default: standard input) and\n"
        "push each message into NAME with its payload, type, correlation id, reply-to and\n"
        "timestamp (ids and delivery counts are the new queue's). NAME then delivers them in\n"
        "the order of the lines: into a LIFO queue they are pushed last line first, after the\n"
        "whole input was read (and held in memory). Hand-written lines may give the payload\n"
        "as text in \"data\" instead of \"data_b64\"; blank lines are skipped and unknown keys\n"
        "ignored. A bad line stops the import (into a LIFO queue, before anything is pushed);\n"
        "what was pushed stays, and the error names the line. On a terminal, a long import\n"
        "shows its progress on stderr.",
    .run = run,
};
