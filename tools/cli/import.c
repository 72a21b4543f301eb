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

static int import_from(struct cli_produce *p, const char *name, FILE *in,
                       struct cli_records *records, enum shmq_kind kind)
{
    char label[64];
    snprintf(label, sizeof label, "import %s", name);
    struct cli_progress progress;
    cli_progress_start(&progress, label, input_size(in), CLI_PROGRESS_BYTES);
    int code = kind == SHMQ_LIFO ? push_reversed(p, records, &progress)
                                 : cli_produce_stream(p, records, &progress);
    cli_progress_finish(&progress);
    return code;
}

/* What the command line says instead of the export's description. */
struct overrides {
    uint64_t capacity, slot_size, max_deliveries;
    int64_t ttl_ns;
    uint32_t mode;
    const char *dead_letter;
    bool capacity_given, slot_size_given, max_deliveries_given, ttl_given, mode_given;
};

/* Open NAME, or create it from the export's description (with the overrides) when it does
 * not exist. 0 or the exit code of a printed failure. */
static int open_or_create(const char *name, const char *path, struct cli_records *records,
                          const struct overrides *o, shmq_t **q)
{
    int err = shmq_open(name, q);
    if (err != -ENOENT)
        return err ? cli_queue_open(name, 0, q) : 0;
    if (!records->has_header) {
        cli_error("queue '%s' does not exist, and %s does not describe one (no header line, as "
                  "'shmq export' writes): create it first with 'shmq create'",
                  name, path ? path : "the input");
        return CLI_EXIT_NOT_FOUND;
    }
    struct shmq_config cfg = records->header.config;
    if (o->capacity_given)
        cfg.capacity = (uint32_t)o->capacity;
    if (o->slot_size_given)
        cfg.slot_size = (uint32_t)o->slot_size;
    if (o->max_deliveries_given)
        cfg.max_deliveries = (uint32_t)o->max_deliveries;
    if (o->ttl_given)
        cfg.ttl_ns = o->ttl_ns;
    if (o->mode_given)
        cfg.mode = o->mode;
    if (o->dead_letter)
        cfg.dead_letter = o->dead_letter[0] ? o->dead_letter : NULL;
    err = shmq_create(name, &cfg, q);
    if (err == -EEXIST) /* made meanwhile by someone else: use it */
        return cli_queue_open(name, 0, q);
    if (err)
        return cli_fail(err, "cannot create queue '%s' as the export describes it", name);
    return 0;
}

static int run(int argc, char **argv)
{
    struct cli_produce p = {.timeout_ns = SHMQ_FOREVER};
    struct overrides o = {.capacity = 0};
    const struct cli_option options[] = {
        CLI_PRODUCE_TIMEOUT_OPTION(&p, CLI_PRODUCE_QUEUE_TIMEOUT),
        {.name = "capacity",
         .letter = 'c',
         .kind = CLI_OPTION_COUNT,
         .target = &o.capacity,
         .value_name = "N",
         .min = 1,
         .max = SHMQ_CAPACITY_MAX,
         .given = &o.capacity_given,
         .help = "creating NAME: this capacity instead of the export's"},
        {.name = "slot-size",
         .letter = 's',
         .kind = CLI_OPTION_SIZE,
         .target = &o.slot_size,
         .value_name = "BYTES",
         .min = 1,
         .max = SHMQ_SLOT_SIZE_MAX,
         .given = &o.slot_size_given,
         .help = "creating NAME: this slot size instead of the export's"},
        {.name = "max-deliveries",
         .kind = CLI_OPTION_COUNT,
         .target = &o.max_deliveries,
         .value_name = "N",
         .max = SHMQ_DELIVERIES_MAX,
         .given = &o.max_deliveries_given,
         .help = "creating NAME: this delivery limit (0: none) instead of the export's"},
        {.name = "ttl",
         .kind = CLI_OPTION_DURATION,
         .target = &o.ttl_ns,
         .value_name = "DURATION",
         .given = &o.ttl_given,
         .help = "creating NAME: this TTL (0: none) instead of the export's"},
        {.name = "dead-letter",
         .kind = CLI_OPTION_STRING,
         .target = &o.dead_letter,
         .value_name = "QUEUE",
         .help = "creating NAME: this dead-letter queue ('' for none) instead of the export's"},
        {.name = "mode",
         .letter = 'm',
         .kind = CLI_OPTION_MODE,
         .target = &o.mode,
         .value_name = "OCTAL",
         .given = &o.mode_given,
         .help = "creating NAME: these permission bits instead of the export's"},
    };
    int n, code;
    if (!cli_options_parse(&cli_verb_import, options, CLI_COUNT_OF(options), argc, argv, &n, &code))
        return code;
    if (o.ttl_given && o.ttl_ns == SHMQ_FOREVER)
        o.ttl_ns = 0; /* "forever": no TTL */
    if (o.dead_letter && o.dead_letter[0] && (code = cli_queue_check_name(o.dead_letter)) != 0)
        return code;
    const char *name = argv[1], *path = n > 1 && strcmp(argv[2], "-") != 0 ? argv[2] : NULL;
    if ((code = cli_queue_check_name(name)) != 0)
        return code;
    FILE *in = path ? fopen(path, "r") : stdin;
    if (!in)
        return cli_fail_system(-errno, "cannot read '%s'", path);
    struct cli_records records;
    cli_records_init(&records, in, CLI_RECORDS_JSONL, SHMQ_SLOT_SIZE_MAX);
    int header = cli_records_read_header(&records);
    while (header == -EINTR && !cli_interrupted())
        header = cli_records_read_header(&records);
    shmq_t *q = NULL;
    struct shmq_stat st;
    if (header == -EINTR)
        code = CLI_EXIT_SIGNAL + cli_interrupted();
    else if (header < 0) {
        cli_error("%s: %s", path ? path : "standard input", records.why);
        code = CLI_EXIT_BAD_INPUT;
    } else if ((code = open_or_create(name, path, &records, &o, &q)) == 0 &&
               (code = cli_queue_stat(q, &st)) == 0 && (code = cli_produce_init(&p, q)) == 0) {
        cli_records_set_max_len(&records, p.slot_size);
        code = import_from(&p, name, in, &records, st.kind);
    }
    cli_records_free(&records);
    if (in != stdin)
        fclose(in);
    if (q)
        shmq_close(q);
    return code;
}

const struct cli_verb cli_verb_import = {
    .name = "import",
    .operands = "NAME [FILE]",
    .min_operands = 1,
    .max_operands = 2,
    .summary = "push the messages of an export back into a queue (made as described)",
    .description =
        "Read JSON lines as 'shmq export' writes them from FILE (default: standard input) and\n"
        "push each message into NAME with its payload, type, correlation id, reply-to and\n"
        "timestamp (ids and delivery counts are the new queue's). When NAME does not exist it\n"
        "is created as the export's first line describes the exported queue (kind, capacity,\n"
        "slot size, flags, TTL, delivery limit, dead-letter queue, mode); the options below\n"
        "change that description. An existing NAME is used as it is.\n\n"
        "NAME delivers the messages in the order of the lines: into a LIFO queue they are\n"
        "pushed last line first, after the whole input was read (and held in memory).\n"
        "Hand-written lines may give the payload as text in \"data\" instead of \"data_b64\";\n"
        "blank lines and the descriptions of later exports (files put end to end) are skipped,\n"
        "unknown keys ignored. A bad line stops the import (into a LIFO queue, before anything\n"
        "is pushed); what was pushed stays, and the error names the line. On a terminal, a\n"
        "long import shows its progress on stderr.",
    .run = run,
};
