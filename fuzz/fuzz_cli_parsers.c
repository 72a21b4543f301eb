/*
 * fuzz_cli_parsers: the input parsers of the shmq tool (tools/cli: parse.h, records.h,
 * jsonl.h, json.h, base64.h) on any bytes.
 *
 * Input: byte 0 picks the parser, bytes 1-2 a limit (a record's largest payload, a decoder's
 * buffer limit), the rest is the text. Besides "no crash, no leak, no read past the end"
 * (every string is an exact-size heap copy, so ASan sees a read past its terminator), each
 * parser that accepts something must round-trip it: what the tool writes back, it reads
 * back the same (the export's header line too).
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "buffer.h"
#include "expect.h"
#include "json.h"
#include "jsonl.h"
#include "parse.h"
#include "records.h"

#define RECORDS_MAX 64 /* records read per input */

enum target {
    T_DURATION,
    T_SIZE,
    T_MODE,
    T_COUNT,
    T_LINES,
    T_NUL,
    T_RAW,
    T_JSONL,
    T_JSONL_LINE,
    T_BASE64,
    T_JSON,
    T_HEADER,
    T_CSV,
    T_LOOKUP,
    T_TARGETS,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char *c_string(const uint8_t *p, size_t n)
{
    char *s = malloc(n + 1);
    if (!s)
        abort();
    if (n)
        memcpy(s, p, n);
    s[n] = 0;
    return s;
}

static void values(enum target t, const uint8_t *p, size_t n)
{
    char *s = c_string(p, n);
    char text[64];
    switch (t) {
    case T_DURATION: {
        int64_t ns = -1, again = -1;
        if (cli_parse_duration(s, &ns) == 0) {
            EXPECT(ns >= 0);
            cli_format_duration(ns, text, sizeof text);
            EXPECT(cli_parse_duration(text, &again) == 0 && again == ns);
        }
        break;
    }
    case T_SIZE: {
        uint64_t v;
        cli_parse_size(s, &v);
        break;
    }
    case T_MODE: {
        uint32_t mode, again;
        if (cli_parse_mode(s, &mode) == 0) {
            EXPECT(mode <= 0777);
            snprintf(text, sizeof text, "%o", mode);
            EXPECT(cli_parse_mode(text, &again) == 0 && again == mode);
        }
        break;
    }
    default: {
        uint64_t count, again;
        if (cli_parse_count(s, &count) == 0) {
            snprintf(text, sizeof text, "%llu", (unsigned long long)count);
            EXPECT(cli_parse_count(text, &again) == 0 && again == count);
        }
        break;
    }
    }
    free(s);
}

/* A record as a message, for writing it back. */
struct held {
    unsigned char *data;
    size_t len;
    char *type, *correlation_id, *reply_to;
    int64_t timestamp_ns;
};

static char *dup_or_null(const char *s)
{
    return s ? c_string((const uint8_t *)s, strlen(s)) : NULL;
}

static void held_free(struct held *h, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(h[i].data);
        free(h[i].type);
        free(h[i].correlation_id);
        free(h[i].reply_to);
    }
}

static bool same_str(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* Read up to RECORDS_MAX records of `format` from buf; keep copies in out. */
static size_t read_all(const void *buf, size_t n, enum cli_record_format format, size_t max_len,
                       struct held *out, int *last)
{
    /* fmemopen refuses an empty buffer: read a one-byte one to its end instead. */
    static const char empty[1];
    FILE *in = n ? fmemopen((void *)buf, n, "r") : fmemopen((void *)empty, 1, "r");
    if (!in)
        return 0;
    if (!n)
        fgetc(in);
    struct cli_records r;
    size_t count = 0;
    int got = 0;
    cli_records_init(&r, in, format, max_len);
    struct cli_record rec;
    /* cli_records_ready looks into the reader's buffer in whatever state it is in: before
     * every record, so that ASan sees any read outside it. */
    while (count < RECORDS_MAX && (cli_records_ready(&r) || true) &&
           (got = cli_records_next(&r, &rec)) == 1) {
        EXPECT(rec.len <= max_len);
        /* JSON lines skip blank lines, which count as lines. */
        EXPECT(format == CLI_RECORDS_JSONL ? r.number >= count + 1 : r.number == count + 1);
        struct held *h = &out[count++];
        h->data = malloc(rec.len ? rec.len : 1);
        if (!h->data)
            abort();
        if (rec.len)
            memcpy(h->data, rec.data, rec.len);
        h->len = rec.len;
        h->type = dup_or_null(rec.type);
        h->correlation_id = dup_or_null(rec.correlation_id);
        h->reply_to = dup_or_null(rec.reply_to);
        h->timestamp_ns = rec.timestamp_ns;
        if (format != CLI_RECORDS_JSONL)
            EXPECT(!rec.type && !rec.correlation_id && !rec.reply_to && !rec.timestamp_ns);
    }
    if (got < 0)
        EXPECT(r.why[0] != 0 || got == -ENOMEM);
    *last = got;
    cli_records_free(&r);
    fclose(in);
    return count;
}

static void records(enum cli_record_format format, size_t max_len, const uint8_t *p, size_t n)
{
    struct held first[RECORDS_MAX] = {0}, second[RECORDS_MAX] = {0};
    int last;
    size_t count = read_all(p, n, format, max_len, first, &last);

    /* Written back in the same framing, the records read back the same. */
    char *text = NULL;
    size_t text_len = 0;
    FILE *out = open_memstream(&text, &text_len);
    if (!out)
        abort();
    for (size_t i = 0; i < count; i++) {
        struct shmq_msg m = {.data = first[i].data,
                             .len = first[i].len,
                             .type = first[i].type,
                             .correlation_id = first[i].correlation_id,
                             .reply_to = first[i].reply_to,
                             .timestamp_ns = first[i].timestamp_ns};
        EXPECT(cli_record_write(out, format, &m) == 0);
    }
    EXPECT(fclose(out) == 0);
    size_t again = read_all(text, text_len, format, max_len, second, &last);
    EXPECT(again == count || (count == RECORDS_MAX && again == RECORDS_MAX));
    EXPECT(last >= 0);
    for (size_t i = 0; i < again; i++) {
        EXPECT(second[i].len == first[i].len);
        EXPECT(first[i].len == 0 || memcmp(second[i].data, first[i].data, first[i].len) == 0);
        EXPECT(same_str(first[i].type, second[i].type));
        EXPECT(same_str(first[i].correlation_id, second[i].correlation_id));
        EXPECT(same_str(first[i].reply_to, second[i].reply_to));
        EXPECT(first[i].timestamp_ns == second[i].timestamp_ns);
    }
    held_free(first, count);
    held_free(second, again);
    free(text);
}

/* The message as `shmq sub --jsonl` writes a topic's: the export's decoder, which passes
 * over "seq", "lost" and "subject", reads its payload and metadata back the same. */
static void delivery_line(const struct shmq_msg *msg)
{
    struct shmq_delivery d = {.seq = msg->id,
                              .lost = msg->deliveries,
                              .timestamp_ns = msg->timestamp_ns,
                              .subject_len = 3};
    memcpy(d.subject, "a.b", 4);
    const char *const from[] = {msg->type, msg->correlation_id, msg->reply_to};
    char *const to[] = {d.type, d.correlation_id, d.reply_to};
    const uint32_t bits[] = {SHMQ_HAS_TYPE, SHMQ_HAS_CORRELATION_ID, SHMQ_HAS_REPLY_TO};
    for (size_t i = 0; i < 3; i++)
        if (from[i]) {
            snprintf(to[i], SHMQ_META_STR_MAX + 1, "%s", from[i]);
            d.meta |= bits[i];
        }
    char *text = NULL, why[128];
    size_t text_len = 0;
    FILE *out = open_memstream(&text, &text_len);
    if (!out)
        abort();
    EXPECT(cli_jsonl_write_delivery(out, &d, msg->data, msg->len) == 0);
    EXPECT(fclose(out) == 0);
    EXPECT(text_len > 0 && text[text_len - 1] == '\n');
    struct cli_jsonl_message back = {0};
    EXPECT(cli_jsonl_decode(text, text_len - 1, &back, why, sizeof why) == 0);
    EXPECT(back.data.len == msg->len);
    EXPECT(msg->len == 0 || memcmp(back.data.data, msg->data, msg->len) == 0);
    EXPECT(same_str(back.type, msg->type) && same_str(back.correlation_id, msg->correlation_id) &&
           same_str(back.reply_to, msg->reply_to));
    EXPECT(back.timestamp_ns == msg->timestamp_ns);
    cli_jsonl_message_free(&back);
    free(text);
}

static void jsonl_line(size_t limit, const uint8_t *p, size_t n)
{
    char *line = c_string(p, n);
    struct cli_jsonl_message m = {.data.limit = limit};
    char why[128];
    int err = cli_jsonl_decode(line, n, &m, why, sizeof why);
    if (err == 0) {
        EXPECT(limit == 0 || m.data.len <= limit);
        struct shmq_msg msg = {.data = m.data.data,
                               .len = m.data.len,
                               .type = m.type,
                               .correlation_id = m.correlation_id,
                               .reply_to = m.reply_to,
                               .timestamp_ns = m.timestamp_ns,
                               .id = m.id,
                               .deliveries = m.deliveries};
        char *text = NULL;
        size_t text_len = 0;
        FILE *out = open_memstream(&text, &text_len);
        if (!out)
            abort();
        EXPECT(cli_jsonl_write(out, &msg) == 0);
        EXPECT(fclose(out) == 0);
        EXPECT(text_len > 0 && text[text_len - 1] == '\n');
        struct cli_jsonl_message back = {0};
        EXPECT(cli_jsonl_decode(text, text_len - 1, &back, why, sizeof why) == 0);
        EXPECT(back.data.len == m.data.len);
        EXPECT(m.data.len == 0 || memcmp(back.data.data, m.data.data, m.data.len) == 0);
        EXPECT(same_str(back.type, m.type) && same_str(back.correlation_id, m.correlation_id) &&
               same_str(back.reply_to, m.reply_to));
        EXPECT(back.timestamp_ns == m.timestamp_ns && back.id == m.id &&
               back.deliveries == m.deliveries);
        cli_jsonl_message_free(&back);
        free(text);
        delivery_line(&msg);
    } else {
        EXPECT(err == -EINVAL || err == -EMSGSIZE || err == -ENOMEM);
        EXPECT(err != -EINVAL || memchr(why, 0, sizeof why) != NULL);
    }
    cli_jsonl_message_free(&m);
    free(line);
}

static void base64(size_t limit, const uint8_t *p, size_t n)
{
    char *src = c_string(p, n);
    struct cli_buffer out = {.limit = limit};
    int err = cli_base64_decode(src, n, &out);
    if (err == 0) {
        /* One encoding per payload: encoding it again gives the input, up to padding. */
        size_t enc_len = cli_base64_encoded_size(out.len);
        char *enc = malloc(enc_len + 1);
        if (!enc)
            abort();
        cli_base64_encode(out.data, out.len, enc);
        size_t unpadded = enc_len;
        while (unpadded && enc[unpadded - 1] == '=')
            unpadded--;
        size_t in_unpadded = n;
        while (in_unpadded && src[in_unpadded - 1] == '=')
            in_unpadded--;
        EXPECT(unpadded == in_unpadded && memcmp(enc, src, unpadded) == 0);
        free(enc);
    } else {
        EXPECT(err == -EINVAL || err == -EMSGSIZE || err == -ENOMEM);
        if (err == -EINVAL)
            EXPECT(out.len == 0);
    }
    cli_buffer_free(&out);
    free(src);
}

static void json(const uint8_t *p, size_t n)
{
    char *text = c_string(p, n);
    struct cli_json_reader r;
    cli_json_reader_init(&r, text, n);
    int err = cli_json_skip_value(&r);
    EXPECT(r.p >= text && r.p <= text + n);
    EXPECT(err == 0 || err == -EINVAL || err == -ERANGE);

    cli_json_reader_init(&r, text, n);
    struct cli_buffer s = {.limit = 4096};
    if (cli_json_read_string(&r, &s) == 0 && cli_utf8_valid(s.data, s.len)) {
        /* A string the writer writes back reads back the same. */
        char *w = NULL;
        size_t w_len = 0;
        FILE *out = open_memstream(&w, &w_len);
        if (!out)
            abort();
        struct cli_json j;
        cli_json_init(&j, out, false);
        cli_json_string_n(&j, s.data, s.len);
        EXPECT(cli_json_finish(&j) == 0);
        EXPECT(fclose(out) == 0);
        struct cli_json_reader back;
        cli_json_reader_init(&back, w, w_len);
        struct cli_buffer t = {0};
        EXPECT(cli_json_read_string(&back, &t) == 0);
        EXPECT(t.len == s.len && (s.len == 0 || memcmp(t.data, s.data, s.len) == 0));
        cli_buffer_free(&t);
        free(w);
    }
    cli_buffer_free(&s);

    int64_t i;
    uint64_t u;
    cli_json_reader_init(&r, text, n);
    cli_json_read_i64(&r, &i);
    cli_json_reader_init(&r, text, n);
    cli_json_read_u64(&r, &u);
    free(text);
}

/* An export's header line: what is accepted is within the library's limits, and a complete
 * one written back reads back the same. */
static void header(const uint8_t *p, size_t n)
{
    char *line = c_string(p, n);
    struct cli_export_header h, back;
    char why[256];
    int got = cli_jsonl_decode_header(line, n, &h, why, sizeof why);
    EXPECT(got == 0 || got == 1 || got == -EINVAL || got == -ENOMEM);
    const struct shmq_config *c = &h.config;
    if (got == 1) {
        EXPECT(h.version == 1 && c->capacity <= SHMQ_CAPACITY_MAX && c->mode <= 0777);
        EXPECT(c->slot_size <= SHMQ_SLOT_SIZE_MAX && c->ttl_ns >= 0);
        EXPECT(c->max_deliveries <= SHMQ_DELIVERIES_MAX);
        EXPECT((c->flags & ~(uint32_t)(SHMQ_SINGLE_PRODUCER | SHMQ_SINGLE_CONSUMER)) == 0);
        EXPECT(!c->dead_letter || (c->dead_letter == h.dead_letter && h.dead_letter[0]));
    }
    /* Written back only when complete: the writer is given a queue and what stat reports. */
    if (got == 1 && h.queue[0] && c->capacity && c->slot_size && c->max_participants) {
        struct shmq_stat st = {.kind = c->kind,
                               .flags = c->flags,
                               .capacity = c->capacity,
                               .slot_size = c->slot_size,
                               .mode = c->mode,
                               .max_participants = c->max_participants,
                               .ttl_ns = c->ttl_ns,
                               .max_deliveries = c->max_deliveries,
                               .depth = h.depth};
        snprintf(st.dead_letter, sizeof st.dead_letter, "%s", h.dead_letter);
        char *text = NULL;
        size_t text_len = 0;
        FILE *out = open_memstream(&text, &text_len);
        if (!out)
            abort();
        EXPECT(cli_jsonl_write_header(out, h.queue, &st, h.keep) == 0);
        EXPECT(fclose(out) == 0);
        EXPECT(cli_jsonl_decode_header(text, text_len - 1, &back, why, sizeof why) == 1);
        EXPECT(memcmp(&back.config, c, offsetof(struct shmq_config, dead_letter)) == 0);
        EXPECT(strcmp(back.dead_letter, h.dead_letter) == 0 && back.depth == h.depth);
        EXPECT(back.keep == h.keep);
        free(text);
    }
    free(line);
}

/* --type-field / --subject-field: the path up to the first NUL, then the document. What
 * is found is within the limit; a string found is what the reader decodes there. */
static void lookup(size_t limit, const uint8_t *p, size_t n)
{
    const uint8_t *nul = memchr(p, 0, n);
    if (!nul)
        return;
    char *path = c_string(p, (size_t)(nul - p));
    size_t doc_len = n - (size_t)(nul - p) - 1;
    char *doc = c_string(nul + 1, doc_len);
    struct cli_buffer out = {.limit = limit};
    int got = cli_json_lookup(doc, doc_len, path, &out);
    EXPECT(got == 1 || got == 0 || got == -ENOMSG || got == -EINVAL || got == -ERANGE ||
           got == -EMSGSIZE || got == -ENOMEM);
    if (got == 1)
        EXPECT(limit == 0 || out.len <= limit);
    cli_buffer_free(&out);
    free(doc);
    free(path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3)
        return 0;
    enum target t = (enum target)(data[0] % T_TARGETS);
    size_t limit = (size_t)data[1] | (size_t)data[2] << 8;
    const uint8_t *p = data + 3;
    size_t n = size - 3;
    switch (t) {
    case T_DURATION:
    case T_SIZE:
    case T_MODE:
    case T_COUNT:
        values(t, p, n);
        break;
    case T_LINES:
    case T_NUL:
    case T_RAW:
    case T_JSONL:
        records((enum cli_record_format)(t - T_LINES), limit, p, n);
        break;
    case T_JSONL_LINE:
        jsonl_line(limit, p, n);
        break;
    case T_BASE64:
        base64(limit, p, n);
        break;
    case T_HEADER:
        header(p, n);
        break;
    case T_CSV:
        records(CLI_RECORDS_CSV, limit, p, n);
        break;
    case T_LOOKUP:
        lookup(limit, p, n);
        break;
    case T_JSON:
    case T_TARGETS:
        json(p, n);
        break;
    }
    return 0;
}
