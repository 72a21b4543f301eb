/* The export format: messages as JSON lines (see jsonl.h). */
#include "jsonl.h"

#include <errno.h>
#include <stddef.h>
#include <stdarg.h>
#include <string.h>

#include "base64.h"
#include "cli.h"
#include "json.h"
#include "parse.h"

enum field {
    FIELD_ID,
    FIELD_DELIVERIES,
    FIELD_TIMESTAMP,
    FIELD_TYPE,
    FIELD_CORRELATION,
    FIELD_REPLY_TO,
    FIELD_DATA,
};

struct field_key {
    const char *key;
    enum field field;
    bool base64; /* the value is a base64 string of the bytes */
};

static const struct field_key field_keys[] = {
    {"id", FIELD_ID, false},
    {"deliveries", FIELD_DELIVERIES, false},
    {"timestamp_ns", FIELD_TIMESTAMP, false},
    {"type", FIELD_TYPE, false},
    {"type_b64", FIELD_TYPE, true},
    {"correlation_id", FIELD_CORRELATION, false},
    {"correlation_id_b64", FIELD_CORRELATION, true},
    {"reply_to", FIELD_REPLY_TO, false},
    {"reply_to_b64", FIELD_REPLY_TO, true},
    {"data", FIELD_DATA, false},
    {"data_b64", FIELD_DATA, true},
};

static const struct field_key *field_lookup(const unsigned char *key, size_t len)
{
    for (size_t i = 0; i < sizeof field_keys / sizeof field_keys[0]; i++)
        if (strlen(field_keys[i].key) == len && memcmp(field_keys[i].key, key, len) == 0)
            return &field_keys[i];
    return NULL;
}

/* ---- decoding ---- */

struct decoder {
    struct cli_json_reader r;
    struct cli_jsonl_message *m;
    char *why;
    size_t why_size;
};

/* Record what was wrong, at the reader's column, and return err. */
static int complain(struct decoder *d, int err, const char *fmt, ...) CLI_PRINTF(3, 4);
static int complain(struct decoder *d, int err, const char *fmt, ...)
{
    if (d->why_size == 0)
        return err;
    int n = snprintf(d->why, d->why_size, "column %zu: ", cli_json_column(&d->r));
    if (n >= 0 && (size_t)n < d->why_size) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(d->why + n, d->why_size - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return err;
}

/* Turn a reader error into a message. */
static int syntax(struct decoder *d, int err, const char *what)
{
    if (err == -EINVAL)
        return complain(d, err, "expected %s", d->r.error ? d->r.error : "valid JSON");
    if (err == -ERANGE)
        return complain(d, -EINVAL, "%s is out of range", what);
    return err;
}

static bool next_is_null(struct decoder *d)
{
    cli_json_skip_space(&d->r);
    if (d->r.end - d->r.p >= 4 && memcmp(d->r.p, "null", 4) == 0) {
        d->r.p += 4;
        return true;
    }
    return false;
}

/* A string value into out: JSON text, or base64 text decoded. */
static int read_bytes(struct decoder *d, const struct field_key *f, struct cli_buffer *out)
{
    struct cli_buffer *text = f->base64 ? &d->m->scratch : out;
    text->len = 0;
    int err = cli_json_read_string(&d->r, text);
    if (err)
        return err == -EMSGSIZE ? err : syntax(d, err, f->key);
    if (!f->base64)
        return 0;
    if ((err = cli_base64_decode((const char *)text->data, text->len, out)) == -EINVAL)
        return complain(d, err, "\"%s\" is not valid base64", f->key);
    return err;
}

/* After reading a string of at most max bytes into value (err: how that went): check it has
 * no NUL, copy it with a NUL into text (max + 1 bytes) and free value. */
static int text_result(struct decoder *d, const char *key, int err, struct cli_buffer *value,
                       char *text, size_t max)
{
    if (err == -EMSGSIZE)
        err = complain(d, -EINVAL, "\"%s\" is longer than %zu bytes", key, max);
    else if (!err && value->len && memchr(value->data, 0, value->len))
        err = complain(d, -EINVAL, "\"%s\" contains a NUL byte", key);
    if (!err) {
        if (value->len)
            memcpy(text, value->data, value->len);
        text[value->len] = 0;
    }
    cli_buffer_free(value);
    return err;
}

/* A metadata string: at most SHMQ_META_STR_MAX bytes, no NUL; null means absent. */
static int read_meta(struct decoder *d, const struct field_key *f, char *text, const char **out)
{
    if (next_is_null(d)) {
        *out = NULL;
        return 0;
    }
    struct cli_buffer value = {.limit = SHMQ_META_STR_MAX};
    int err = read_bytes(d, f, &value);
    err = text_result(d, f->key, err, &value, text, SHMQ_META_STR_MAX);
    if (!err)
        *out = text;
    return err;
}

static int read_field(struct decoder *d, const struct field_key *f)
{
    struct cli_jsonl_message *m = d->m;
    uint64_t u;
    int err;
    switch (f->field) {
    case FIELD_ID:
        return (err = cli_json_read_u64(&d->r, &m->id)) ? syntax(d, err, f->key) : 0;
    case FIELD_DELIVERIES:
        if ((err = cli_json_read_u64(&d->r, &u)) != 0)
            return syntax(d, err, f->key);
        if (u > UINT32_MAX)
            return complain(d, -EINVAL, "\"deliveries\" is out of range");
        m->deliveries = (uint32_t)u;
        return 0;
    case FIELD_TIMESTAMP:
        return (err = cli_json_read_i64(&d->r, &m->timestamp_ns)) ? syntax(d, err, f->key) : 0;
    case FIELD_TYPE:
        return read_meta(d, f, m->type_text, &m->type);
    case FIELD_CORRELATION:
        return read_meta(d, f, m->correlation_text, &m->correlation_id);
    case FIELD_REPLY_TO:
        return read_meta(d, f, m->reply_to_text, &m->reply_to);
    case FIELD_DATA:
        return read_bytes(d, f, &m->data);
    }
    return -EINVAL;
}

int cli_jsonl_decode(const char *line, size_t len, struct cli_jsonl_message *m, char *why,
                     size_t why_size)
{
    struct decoder d = {.m = m, .why = why, .why_size = why_size};
    cli_json_reader_init(&d.r, line, len);
    if (why_size)
        why[0] = 0;
    m->data.len = 0;
    m->type = m->correlation_id = m->reply_to = NULL;
    m->timestamp_ns = 0;
    m->id = 0;
    m->deliveries = 0;

    if (!cli_json_consume(&d.r, '{'))
        return complain(&d, -EINVAL, "expected a JSON object ('{')");
    unsigned seen = 0;
    if (!cli_json_consume(&d.r, '}')) {
        do {
            cli_json_skip_space(&d.r);
            m->scratch.len = 0;
            int err = cli_json_read_string(&d.r, &m->scratch);
            if (err)
                return syntax(&d, err, "the key");
            const struct field_key *f = field_lookup(m->scratch.data, m->scratch.len);
            if (!cli_json_consume(&d.r, ':'))
                return complain(&d, -EINVAL, "expected a ':' after the key");
            if (!f) {
                if ((err = cli_json_skip_value(&d.r)) != 0)
                    return syntax(&d, err, "a value");
                continue;
            }
            if (seen & (1u << f->field))
                return complain(&d, -EINVAL, "\"%s\" repeats a field given before", f->key);
            seen |= 1u << f->field;
            if ((err = read_field(&d, f)) != 0)
                return err;
        } while (cli_json_consume(&d.r, ','));
        if (!cli_json_consume(&d.r, '}'))
            return complain(&d, -EINVAL, "expected ',' or '}'");
    }
    cli_json_skip_space(&d.r);
    if (d.r.p != d.r.end)
        return complain(&d, -EINVAL, "unexpected text after the object");
    if (!(seen & (1u << FIELD_DATA)))
        return complain(&d, -EINVAL, "no payload: \"data_b64\" (or \"data\") is missing");
    return 0;
}

void cli_jsonl_message_free(struct cli_jsonl_message *m)
{
    cli_buffer_free(&m->data);
    cli_buffer_free(&m->scratch);
}

/* ---- encoding ---- */

static void write_meta(struct cli_json *j, const char *key, const char *key_b64, const char *s)
{
    if (!s)
        return;
    size_t n = strlen(s);
    if (cli_utf8_valid(s, n)) {
        cli_json_key(j, key);
        cli_json_string_n(j, s, n);
    } else {
        cli_json_key(j, key_b64);
        cli_json_base64(j, s, n);
    }
}

/* What both kinds of lines end with: the timestamp, the metadata that is set, the payload. */
static int write_body(struct cli_json *j, const struct shmq_msg *m)
{
    if (m->timestamp_ns) {
        cli_json_key(j, "timestamp_ns");
        cli_json_i64(j, m->timestamp_ns);
    }
    write_meta(j, "type", "type_b64", m->type);
    write_meta(j, "correlation_id", "correlation_id_b64", m->correlation_id);
    write_meta(j, "reply_to", "reply_to_b64", m->reply_to);
    cli_json_key(j, "data_b64");
    cli_json_base64(j, m->data, m->len);
    cli_json_object_end(j);
    return cli_json_finish(j);
}

int cli_jsonl_write(FILE *out, const struct shmq_msg *m)
{
    struct cli_json j;
    cli_json_init(&j, out, false);
    cli_json_object_begin(&j);
    cli_json_key(&j, "id");
    cli_json_u64(&j, m->id);
    cli_json_key(&j, "deliveries");
    cli_json_u64(&j, m->deliveries);
    return write_body(&j, m);
}

int cli_jsonl_write_delivery(FILE *out, const struct shmq_delivery *d, const void *data, size_t len)
{
    struct shmq_msg m = {
        .data = (void *)data,
        .len = len,
        .timestamp_ns = d->timestamp_ns,
        .type = (d->meta & SHMQ_HAS_TYPE) ? d->type : NULL,
        .correlation_id = (d->meta & SHMQ_HAS_CORRELATION_ID) ? d->correlation_id : NULL,
        .reply_to = (d->meta & SHMQ_HAS_REPLY_TO) ? d->reply_to : NULL,
    };
    size_t subject_len = d->subject_len < sizeof d->subject ? d->subject_len : 0;
    struct cli_json j;
    cli_json_init(&j, out, false);
    cli_json_object_begin(&j);
    cli_json_key(&j, "seq");
    cli_json_u64(&j, d->seq);
    if (d->lost) {
        cli_json_key(&j, "lost");
        cli_json_u64(&j, d->lost);
    }
    cli_json_key(&j, "subject");
    cli_json_string_n(&j, d->subject, subject_len);
    return write_body(&j, &m);
}

/* ---- the header ---- */

#define HEADER_VERSION 1

static const char *const flag_names[] = {"single_producer", "single_consumer"};
static const uint32_t flag_bits[] = {SHMQ_SINGLE_PRODUCER, SHMQ_SINGLE_CONSUMER};

int cli_jsonl_write_header(FILE *out, const char *name, const struct shmq_stat *st, bool keep)
{
    struct cli_json j;
    char mode[16];
    snprintf(mode, sizeof mode, "0%03o", st->mode & 0777);
    cli_json_init(&j, out, false);
    cli_json_object_begin(&j);
    cli_json_key(&j, "shmq_export");
    cli_json_u64(&j, HEADER_VERSION);
    cli_json_key(&j, "queue");
    cli_json_string(&j, name);
    cli_json_key(&j, "export");
    cli_json_string(&j, keep ? "keep" : "drain");
    cli_json_key(&j, "kind");
    cli_json_string(&j, st->kind == SHMQ_LIFO ? "lifo" : "fifo");
    cli_json_key(&j, "capacity");
    cli_json_u64(&j, st->capacity);
    cli_json_key(&j, "slot_size");
    cli_json_u64(&j, st->slot_size);
    cli_json_key(&j, "flags");
    cli_json_array_begin(&j);
    for (size_t i = 0; i < sizeof flag_bits / sizeof flag_bits[0]; i++)
        if (st->flags & flag_bits[i])
            cli_json_string(&j, flag_names[i]);
    cli_json_array_end(&j);
    cli_json_key(&j, "max_participants");
    cli_json_u64(&j, st->max_participants);
    cli_json_key(&j, "ttl_ns");
    cli_json_i64(&j, st->ttl_ns);
    cli_json_key(&j, "max_deliveries");
    cli_json_u64(&j, st->max_deliveries);
    cli_json_key(&j, "dead_letter");
    cli_json_string(&j, st->dead_letter[0] ? st->dead_letter : NULL);
    cli_json_key(&j, "mode");
    cli_json_string(&j, mode);
    cli_json_key(&j, "depth");
    cli_json_u64(&j, st->depth);
    cli_json_object_end(&j);
    return cli_json_finish(&j);
}

/* A JSON string of at most max bytes, no NUL, into text (max + 1 bytes). */
static int read_text(struct decoder *d, const char *key, char *text, size_t max)
{
    struct cli_buffer value = {.limit = max};
    int err = cli_json_read_string(&d->r, &value);
    if (err && err != -EMSGSIZE)
        err = syntax(d, err, key);
    return text_result(d, key, err, &value, text, max);
}

/* An unsigned number within [min, max]. */
static int read_bounded(struct decoder *d, const char *key, uint64_t min, uint64_t max, uint64_t *v)
{
    int err = cli_json_read_u64(&d->r, v);
    if (err)
        return syntax(d, err, key);
    if (*v < min || *v > max)
        return complain(d, -EINVAL, "\"%s\" must be between %llu and %llu", key,
                        (unsigned long long)min, (unsigned long long)max);
    return 0;
}

static int read_flags(struct decoder *d, uint32_t *flags)
{
    *flags = 0;
    if (!cli_json_consume(&d->r, '['))
        return complain(d, -EINVAL, "\"flags\" must be an array");
    if (cli_json_consume(&d->r, ']'))
        return 0;
    do {
        char name[32];
        int err = read_text(d, "flags", name, sizeof name - 1);
        if (err)
            return err;
        size_t i = 0;
        while (i < sizeof flag_bits / sizeof flag_bits[0] && strcmp(name, flag_names[i]) != 0)
            i++;
        if (i == sizeof flag_bits / sizeof flag_bits[0])
            return complain(d, -EINVAL,
                            "unknown flag \"%s\" (expected single_producer or single_consumer)",
                            name);
        *flags |= flag_bits[i];
    } while (cli_json_consume(&d->r, ','));
    if (!cli_json_consume(&d->r, ']'))
        return complain(d, -EINVAL, "expected ',' or ']' in \"flags\"");
    return 0;
}

/* The header's counts: each a uint32_t of struct shmq_config, within the library's limits. */
struct header_count {
    const char *key;
    uint32_t min, max;
    size_t offset;
};

static const struct header_count header_counts[] = {
    {"capacity", 1, SHMQ_CAPACITY_MAX, offsetof(struct shmq_config, capacity)},
    {"slot_size", 1, SHMQ_SLOT_SIZE_MAX, offsetof(struct shmq_config, slot_size)},
    {"max_participants", 1, SHMQ_PARTICIPANTS_MAX, offsetof(struct shmq_config, max_participants)},
    {"max_deliveries", 0, SHMQ_DELIVERIES_MAX, offsetof(struct shmq_config, max_deliveries)},
};

/* A queue name as shmq_name_check() takes it: [A-Za-z0-9._-], no leading dot (the parsers
 * do not link the library, so the rule is repeated here). */
static bool is_queue_name(const char *s)
{
    if (!*s || *s == '.')
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '.' || *s == '_' || *s == '-'))
            return false;
    return true;
}

static int read_name(struct decoder *d, const char *key, char *name)
{
    int err = read_text(d, key, name, SHMQ_NAME_MAX);
    if (!err && !is_queue_name(name))
        err = complain(d, -EINVAL, "\"%s\" is not a queue name", key);
    return err;
}

static int read_header_field(struct decoder *d, const char *key, struct cli_export_header *h)
{
    struct shmq_config *c = &h->config;
    char text[16];
    uint64_t v;
    int err;
    if (strcmp(key, "queue") == 0)
        return read_name(d, key, h->queue);
    if (strcmp(key, "export") == 0) {
        if ((err = read_text(d, key, text, sizeof text - 1)) != 0)
            return err;
        if (strcmp(text, "keep") != 0 && strcmp(text, "drain") != 0)
            return complain(d, -EINVAL, "\"export\" must be \"drain\" or \"keep\"");
        h->keep = strcmp(text, "keep") == 0;
        return 0;
    }
    if (strcmp(key, "kind") == 0) {
        if ((err = read_text(d, key, text, sizeof text - 1)) != 0)
            return err;
        if (strcmp(text, "fifo") != 0 && strcmp(text, "lifo") != 0)
            return complain(d, -EINVAL, "\"kind\" must be \"fifo\" or \"lifo\"");
        c->kind = strcmp(text, "lifo") == 0 ? SHMQ_LIFO : SHMQ_FIFO;
        return 0;
    }
    for (size_t i = 0; i < sizeof header_counts / sizeof header_counts[0]; i++) {
        const struct header_count *hc = &header_counts[i];
        if (strcmp(key, hc->key) != 0)
            continue;
        err = read_bounded(d, key, hc->min, hc->max, &v);
        *(uint32_t *)((char *)c + hc->offset) = (uint32_t)v;
        return err;
    }
    if (strcmp(key, "depth") == 0)
        return read_bounded(d, key, 0, UINT64_MAX, &h->depth);
    if (strcmp(key, "ttl_ns") == 0) {
        if ((err = cli_json_read_i64(&d->r, &c->ttl_ns)) != 0)
            return syntax(d, err, key);
        return c->ttl_ns < 0 ? complain(d, -EINVAL, "\"ttl_ns\" is negative") : 0;
    }
    if (strcmp(key, "flags") == 0)
        return read_flags(d, &c->flags);
    if (strcmp(key, "dead_letter") == 0) {
        if (next_is_null(d)) {
            h->dead_letter[0] = 0;
            c->dead_letter = NULL;
            return 0;
        }
        if ((err = read_name(d, key, h->dead_letter)) != 0)
            return err;
        c->dead_letter = h->dead_letter;
        return 0;
    }
    if (strcmp(key, "mode") == 0) {
        if ((err = read_text(d, key, text, sizeof text - 1)) != 0)
            return err;
        return cli_parse_mode(text, &c->mode) == 0
                   ? 0
                   : complain(d, -EINVAL, "\"mode\" must be octal permission bits");
    }
    return (err = cli_json_skip_value(&d->r)) != 0 ? syntax(d, err, "a value") : 0;
}

static const char *const header_keys[] = {
    "shmq_export",      "queue",  "export",         "kind",        "capacity", "slot_size", "flags",
    "max_participants", "ttl_ns", "max_deliveries", "dead_letter", "mode",     "depth",
};

int cli_jsonl_decode_header(const char *line, size_t len, struct cli_export_header *h, char *why,
                            size_t why_size)
{
    struct cli_jsonl_message scratch = {.data = {.data = NULL}};
    struct decoder d = {.m = &scratch, .why = why, .why_size = why_size};
    cli_json_reader_init(&d.r, line, len);
    if (why_size)
        why[0] = 0;
    memset(h, 0, sizeof *h);
    /* Only a line whose first key is "shmq_export" is a header. */
    struct cli_buffer key = {.limit = 64};
    int err = 0;
    if (!cli_json_consume(&d.r, '{') || cli_json_read_string(&d.r, &key) != 0 ||
        key.len != strlen(header_keys[0]) || memcmp(key.data, header_keys[0], key.len) != 0) {
        cli_buffer_free(&key);
        return 0;
    }
    uint32_t seen = 0;
    for (bool first = true;; first = false) {
        if (!first) {
            key.len = 0;
            cli_json_skip_space(&d.r);
            if ((err = cli_json_read_string(&d.r, &key)) != 0) {
                err = err == -EMSGSIZE ? complain(&d, -EINVAL, "a key is too long")
                                       : syntax(&d, err, "the key");
                break;
            }
        }
        char name[65] = "";
        if (key.len)
            memcpy(name, key.data, key.len);
        name[key.len] = 0;
        size_t k = 0;
        while (k < sizeof header_keys / sizeof header_keys[0] && strcmp(name, header_keys[k]))
            k++;
        if (k < sizeof header_keys / sizeof header_keys[0]) {
            if (seen & (1u << k)) {
                err = complain(&d, -EINVAL, "\"%s\" repeats a field given before", name);
                break;
            }
            seen |= 1u << k;
        }
        if (!cli_json_consume(&d.r, ':')) {
            err = complain(&d, -EINVAL, "expected a ':' after the key");
            break;
        }
        if (k == 0) {
            uint64_t v;
            if ((err = read_bounded(&d, name, 1, UINT32_MAX, &v)) != 0)
                break;
            if (v != HEADER_VERSION) {
                err = complain(&d, -EINVAL,
                               "version %llu of the export format is not known "
                               "(this shmq reads version %d)",
                               (unsigned long long)v, HEADER_VERSION);
                break;
            }
            h->version = (uint32_t)v;
        } else if ((err = read_header_field(&d, name, h)) != 0) {
            break;
        }
        if (cli_json_consume(&d.r, ','))
            continue;
        if (!cli_json_consume(&d.r, '}'))
            err = complain(&d, -EINVAL, "expected ',' or '}'");
        break;
    }
    cli_buffer_free(&key);
    cli_jsonl_message_free(&scratch);
    if (err)
        return err;
    cli_json_skip_space(&d.r);
    if (d.r.p != d.r.end)
        return complain(&d, -EINVAL, "unexpected text after the object");
    return 1;
}
