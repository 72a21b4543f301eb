/* Celery protocol 2 task messages and rpc:// results (see celery.h). */
#include "celery.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "json.h"

#define EMBED "{\"callbacks\": null, \"errbacks\": null, \"chain\": null, \"chord\": null}"

/* SplitMix64's finaliser: every input bit reaches every output bit. */
static uint64_t mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= UINT64_C(0xbf58476d1ce4e5b9);
    x ^= x >> 27;
    x *= UINT64_C(0x94d049bb133111eb);
    return x ^ (x >> 31);
}

int bridge_celery_init(struct bridge_celery *c, const char *task, enum amqp_bridge_celery_args args,
                       const char *reply_queue, const char *queue, int64_t created_ns)
{
    memset(c, 0, sizeof *c);
    c->task = task;
    c->args = args;
    c->reply_queue = reply_queue;
    char host[256];
    if (gethostname(host, sizeof host) != 0)
        snprintf(host, sizeof host, "localhost");
    host[sizeof host - 1] = 0;
    snprintf(c->origin, sizeof c->origin, "shmq-bridge.%d@%s", (int)getpid(), host);
    c->timelimit[0].kind = c->timelimit[1].kind = AMQP_FIELD_KIND_VOID;
    uint64_t h = UINT64_C(0xcbf29ce484222325); /* FNV-1a of the name */
    for (const char *p = queue; *p; p++)
        h = (h ^ (unsigned char)*p) * UINT64_C(0x100000001b3);
    c->queue_key = mix64(h ^ mix64((uint64_t)created_ns));
    return cli_buffer_reserve(&c->body, 256);
}

void bridge_celery_free(struct bridge_celery *c)
{
    cli_buffer_free(&c->body);
}

/* The task id of the message with shm id `id`: a version 8 UUID in its 36-character form. */
static void set_task_id(struct bridge_celery *c, uint64_t id)
{
    uint64_t hi = mix64(c->queue_key ^ mix64(id)), lo = mix64(hi ^ c->queue_key ^ id);
    unsigned char b[16];
    for (int i = 0; i < 8; i++) {
        b[i] = (unsigned char)(hi >> (56 - 8 * i));
        b[8 + i] = (unsigned char)(lo >> (56 - 8 * i));
    }
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x80); /* version 8: custom */
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80); /* RFC 9562 variant */
    static const char hex[] = "0123456789abcdef";
    char *p = c->task_id;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            *p++ = '-';
        *p++ = hex[b[i] >> 4];
        *p++ = hex[b[i] & 15];
    }
    *p = 0;
}

static int append(struct cli_buffer *b, const char *s)
{
    return cli_buffer_append(b, s, strlen(s));
}

/* s[0..n) (valid UTF-8) as a JSON string. */
static int append_json_string(struct cli_buffer *b, const unsigned char *s, size_t n)
{
    int err = cli_buffer_append(b, "\"", 1);
    size_t run = 0; /* bytes that need no escape, appended together */
    for (size_t i = 0; i < n && !err; i++) {
        unsigned char ch = s[i];
        if (ch >= 0x20 && ch != '"' && ch != '\\')
            continue;
        err = cli_buffer_append(b, s + run, i - run);
        run = i + 1;
        char esc[8];
        switch (ch) {
        case '"':
            snprintf(esc, sizeof esc, "\\\"");
            break;
        case '\\':
            snprintf(esc, sizeof esc, "\\\\");
            break;
        case '\n':
            snprintf(esc, sizeof esc, "\\n");
            break;
        case '\r':
            snprintf(esc, sizeof esc, "\\r");
            break;
        case '\t':
            snprintf(esc, sizeof esc, "\\t");
            break;
        default:
            snprintf(esc, sizeof esc, "\\u%04x", ch);
            break;
        }
        if (!err)
            err = append(b, esc);
    }
    if (!err)
        err = cli_buffer_append(b, s + run, n - run);
    if (!err)
        err = cli_buffer_append(b, "\"", 1);
    return err;
}

/* At most BRIDGE_CELERY_REPR_MAX bytes of s[0..n), cut at a character boundary. */
static void set_repr(char *dst, const unsigned char *s, size_t n)
{
    if (n > BRIDGE_CELERY_REPR_MAX) {
        n = BRIDGE_CELERY_REPR_MAX;
        while (n > 0 && (s[n] & 0xc0) == 0x80) /* s[n] continues a character: cut before it */
            n--;
    }
    memcpy(dst, s, n);
    dst[n] = 0;
}

/* The payload as JSON: true if it is one array or object and nothing else; *open is '[' or
 * '{'. */
static bool json_container(const void *data, size_t len, char *open)
{
    struct cli_json_reader r;
    cli_json_reader_init(&r, data, len);
    cli_json_skip_space(&r);
    if (r.p == r.end || (*r.p != '[' && *r.p != '{'))
        return false;
    *open = *r.p;
    if (cli_json_skip_value(&r) != 0)
        return false;
    cli_json_skip_space(&r);
    return r.p == r.end;
}

/* The body [args, kwargs, embed] and the reprs. */
static int encode_body(struct bridge_celery *c, const struct shmq_msg *m, const char **why)
{
    struct cli_buffer *b = &c->body;
    b->len = 0;
    if (!cli_utf8_valid(m->data, m->len)) {
        *why = "it is not UTF-8 text (a Celery argument is a JSON string)";
        return -EILSEQ;
    }
    int err;
    if (c->args == AMQP_BRIDGE_CELERY_STRING) {
        err = append(b, "[[");
        size_t args_start = b->len - 1;
        if (!err)
            err = append_json_string(b, m->data, m->len);
        if (!err)
            err = append(b, "]");
        if (!err)
            set_repr(c->argsrepr, b->data + args_start, b->len - args_start);
        if (!err)
            err = append(b, ", {}, " EMBED "]");
        snprintf(c->kwargsrepr, sizeof c->kwargsrepr, "{}");
        return err;
    }
    char open;
    if (!json_container(m->data, m->len, &open)) {
        *why = "it is not a JSON array (arguments) or object (keyword arguments)";
        return -EILSEQ;
    }
    err = append(b, open == '[' ? "[" : "[[], ");
    if (!err)
        err = cli_buffer_append(b, m->data, m->len);
    if (!err)
        err = append(b, open == '[' ? ", {}, " EMBED "]" : ", " EMBED "]");
    if (open == '[') {
        set_repr(c->argsrepr, m->data, m->len);
        snprintf(c->kwargsrepr, sizeof c->kwargsrepr, "{}");
    } else {
        snprintf(c->argsrepr, sizeof c->argsrepr, "[]");
        set_repr(c->kwargsrepr, m->data, m->len);
    }
    return err;
}

static void header_str(amqp_table_entry_t *e, const char *key, const char *value)
{
    e->key = amqp_cstring_bytes(key);
    if (value) {
        e->value.kind = AMQP_FIELD_KIND_UTF8;
        e->value.value.bytes = amqp_cstring_bytes(value);
    } else {
        e->value.kind = AMQP_FIELD_KIND_VOID; /* Python's None */
    }
}

int bridge_celery_encode(struct bridge_celery *c, const struct shmq_msg *m,
                         struct bridge_out_props *o, amqp_bytes_t *body, const char **why)
{
    int err = encode_body(c, m, why);
    if (err)
        return err;
    set_task_id(c, m->id);
    const char *correlation = c->task_id;
    if (m->reply_to) {
        int n = snprintf(c->correlation, sizeof c->correlation, "%s@%s",
                         m->correlation_id ? m->correlation_id : "", m->reply_to);
        if (n < 0 || (size_t)n >= sizeof c->correlation) {
            *why = "its correlation id and reply-to are together too long to route the result "
                   "back (255 bytes)";
            return -EILSEQ;
        }
        correlation = c->correlation;
    }
    amqp_basic_properties_t *p = &o->p;
    p->_flags |= AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_CONTENT_ENCODING_FLAG |
                 AMQP_BASIC_CORRELATION_ID_FLAG | AMQP_BASIC_PRIORITY_FLAG;
    p->content_type = amqp_cstring_bytes("application/json");
    p->content_encoding = amqp_cstring_bytes("utf-8");
    p->correlation_id = amqp_cstring_bytes(correlation);
    p->priority = 0;
    if (m->reply_to) {
        p->_flags |= AMQP_BASIC_REPLY_TO_FLAG;
        p->reply_to = amqp_cstring_bytes(c->reply_queue);
    }

    amqp_table_entry_t *h = o->headers;
    int n = 0;
    header_str(&h[n++], "lang", "py");
    header_str(&h[n++], "task", c->task);
    header_str(&h[n++], "id", c->task_id);
    header_str(&h[n++], "shadow", NULL);
    header_str(&h[n++], "eta", NULL);
    header_str(&h[n++], "expires", NULL);
    header_str(&h[n++], "group", NULL);
    header_str(&h[n++], "group_index", NULL);
    h[n].key = amqp_cstring_bytes("retries");
    h[n].value.kind = AMQP_FIELD_KIND_I32;
    h[n++].value.value.i32 = 0;
    h[n].key = amqp_cstring_bytes("timelimit"); /* [time_limit, soft_time_limit] */
    h[n].value.kind = AMQP_FIELD_KIND_ARRAY;
    h[n].value.value.array.num_entries = 2;
    h[n++].value.value.array.entries = c->timelimit;
    header_str(&h[n++], "root_id", c->task_id);
    header_str(&h[n++], "parent_id", NULL);
    header_str(&h[n++], "argsrepr", c->argsrepr);
    header_str(&h[n++], "kwargsrepr", c->kwargsrepr);
    header_str(&h[n++], "origin", c->origin);
    h[n].key = amqp_cstring_bytes("ignore_result");
    h[n].value.kind = AMQP_FIELD_KIND_BOOLEAN;
    h[n++].value.value.boolean = 0;

    body->bytes = c->body.data;
    body->len = c->body.len;
    return n;
}

bool bridge_celery_reply_route(amqp_bytes_t correlation_id, char *queue, size_t queue_size,
                               char *correlation, size_t correlation_size)
{
    const char *s = correlation_id.bytes;
    size_t n = correlation_id.len, at = n;
    while (at > 0 && s[at - 1] != '@')
        at--;
    if (at == 0)
        return false;
    size_t qlen = n - at, clen = at - 1;
    if (qlen == 0 || qlen >= queue_size || clen >= correlation_size || memchr(s, 0, n))
        return false;
    memcpy(queue, s + at, qlen);
    queue[qlen] = 0;
    memcpy(correlation, s, clen);
    correlation[clen] = 0;
    return shmq_name_check(queue) == 0;
}

bool bridge_celery_result_status(const void *body, size_t len, char *status, size_t size)
{
    struct cli_json_reader r;
    struct cli_buffer key = {.limit = 64}, value = {.limit = size - 1};
    bool found = false;
    cli_json_reader_init(&r, body, len);
    if (!cli_json_consume(&r, '{'))
        goto out;
    while (!found) {
        key.len = 0;
        if (cli_json_read_string(&r, &key) != 0 || !cli_json_consume(&r, ':'))
            break;
        if (key.len == 6 && memcmp(key.data, "status", 6) == 0) {
            if (cli_json_read_string(&r, &value) != 0)
                break;
            memcpy(status, value.data ? (const char *)value.data : "", value.len);
            status[value.len] = 0;
            found = true;
        } else if (cli_json_skip_value(&r) != 0 || !cli_json_consume(&r, ',')) {
            break;
        }
    }
out:
    cli_buffer_free(&key);
    cli_buffer_free(&value);
    return found;
}

bool bridge_celery_state_is_ready(const char *status)
{
    return strcmp(status, "SUCCESS") == 0 || strcmp(status, "FAILURE") == 0 ||
           strcmp(status, "REVOKED") == 0;
}
