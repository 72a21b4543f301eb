/* The export format: messages as JSON lines (see jsonl.h). */
#include "jsonl.h"

#include <errno.h>
#include <stdarg.h>
#include <string.h>

#include "base64.h"
#include "cli.h"
#include "json.h"

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

/* A metadata string: at most SHMQ_META_STR_MAX bytes, no NUL; null means absent. */
static int read_meta(struct decoder *d, const struct field_key *f, char *text, const char **out)
{
    if (next_is_null(d)) {
        *out = NULL;
        return 0;
    }
    struct cli_buffer value = {.limit = SHMQ_META_STR_MAX};
    int err = read_bytes(d, f, &value);
    if (err == -EMSGSIZE)
        err = complain(d, -EINVAL, "\"%s\" is longer than %d bytes", f->key, SHMQ_META_STR_MAX);
    else if (!err && value.len && memchr(value.data, 0, value.len))
        err = complain(d, -EINVAL, "\"%s\" contains a NUL byte", f->key);
    if (!err) {
        if (value.len)
            memcpy(text, value.data, value.len);
        text[value.len] = 0;
        *out = text;
    }
    cli_buffer_free(&value);
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

int cli_jsonl_write(FILE *out, const struct shmq_msg *m)
{
    struct cli_json j;
    cli_json_init(&j, out, false);
    cli_json_object_begin(&j);
    cli_json_key(&j, "id");
    cli_json_u64(&j, m->id);
    cli_json_key(&j, "deliveries");
    cli_json_u64(&j, m->deliveries);
    if (m->timestamp_ns) {
        cli_json_key(&j, "timestamp_ns");
        cli_json_i64(&j, m->timestamp_ns);
    }
    write_meta(&j, "type", "type_b64", m->type);
    write_meta(&j, "correlation_id", "correlation_id_b64", m->correlation_id);
    write_meta(&j, "reply_to", "reply_to_b64", m->reply_to);
    cli_json_key(&j, "data_b64");
    cli_json_base64(&j, m->data, m->len);
    cli_json_object_end(&j);
    return cli_json_finish(&j);
}
