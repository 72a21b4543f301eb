/* Message metadata between shmq and AMQP basic properties (see properties.h). */
#include "properties.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define NS_PER_S 1000000000LL

static amqp_bytes_t bytes_of(const char *s)
{
    return amqp_cstring_bytes(s);
}

void bridge_props_from_msg(struct bridge_out_props *o, const struct shmq_msg *m, const char *queue,
                           bool transient, int nheaders)
{
    amqp_basic_properties_t *p = &o->p;
    p->_flags |= AMQP_BASIC_DELIVERY_MODE_FLAG | AMQP_BASIC_MESSAGE_ID_FLAG;
    p->delivery_mode = transient ? 1 : 2;
    snprintf(o->message_id, sizeof o->message_id, "%s/%" PRIu64, queue, m->id);
    p->message_id = bytes_of(o->message_id);
    if (m->type) {
        p->_flags |= AMQP_BASIC_TYPE_FLAG;
        p->type = bytes_of(m->type);
    }
    if (m->correlation_id && !(p->_flags & AMQP_BASIC_CORRELATION_ID_FLAG)) {
        p->_flags |= AMQP_BASIC_CORRELATION_ID_FLAG;
        p->correlation_id = bytes_of(m->correlation_id);
    }
    if (m->reply_to && !(p->_flags & AMQP_BASIC_REPLY_TO_FLAG)) {
        p->_flags |= AMQP_BASIC_REPLY_TO_FLAG;
        p->reply_to = bytes_of(m->reply_to);
    }
    amqp_table_entry_t *h = o->headers;
    if (m->timestamp_ns > 0) {
        p->_flags |= AMQP_BASIC_TIMESTAMP_FLAG;
        p->timestamp = (uint64_t)(m->timestamp_ns / NS_PER_S);
        h[nheaders].key = bytes_of(BRIDGE_HEADER_TIMESTAMP_NS);
        h[nheaders].value.kind = AMQP_FIELD_KIND_I64;
        h[nheaders++].value.value.i64 = m->timestamp_ns;
    }
    if (m->deliveries > 1) {
        h[nheaders].key = bytes_of(BRIDGE_HEADER_DELIVERIES);
        h[nheaders].value.kind = AMQP_FIELD_KIND_I64;
        h[nheaders++].value.value.i64 = m->deliveries;
    }
    if (nheaders > 0) {
        p->_flags |= AMQP_BASIC_HEADERS_FLAG;
        p->headers.num_entries = nheaders;
        p->headers.entries = h;
    }
}

bool bridge_props_parse_message_id(amqp_bytes_t message_id, uint64_t *id)
{
    const char *s = message_id.bytes;
    size_t n = message_id.len, i = n;
    while (i > 0 && s[i - 1] >= '0' && s[i - 1] <= '9')
        i--;
    if (i == 0 || i == n || s[i - 1] != '/' || n - i > 20)
        return false;
    uint64_t v = 0;
    for (; i < n; i++)
        v = v * 10 + (uint64_t)(s[i] - '0');
    *id = v;
    return true;
}

/* Copy an AMQP short string into a shmq metadata string: NULL when absent or empty. */
static int copy_str(amqp_flags_t flags, amqp_flags_t flag, amqp_bytes_t b, char *dst,
                    const char **out, const char *name, const char **why)
{
    *out = NULL;
    if (!(flags & flag) || b.len == 0)
        return 0;
    if (b.len > SHMQ_META_STR_MAX || memchr(b.bytes, 0, b.len)) {
        *why = name;
        return -EILSEQ;
    }
    memcpy(dst, b.bytes, b.len);
    dst[b.len] = 0;
    *out = dst;
    return 0;
}

bool bridge_props_header_is(const amqp_basic_properties_t *p, const char *key, const char *value)
{
    if (!(p->_flags & AMQP_BASIC_HEADERS_FLAG))
        return false;
    for (int i = 0; i < p->headers.num_entries; i++) {
        const amqp_table_entry_t *e = &p->headers.entries[i];
        if (e->key.len == strlen(key) && memcmp(e->key.bytes, key, e->key.len) == 0)
            return (e->value.kind == AMQP_FIELD_KIND_UTF8 ||
                    e->value.kind == AMQP_FIELD_KIND_BYTES) &&
                   e->value.value.bytes.len == strlen(value) &&
                   memcmp(e->value.value.bytes.bytes, value, strlen(value)) == 0;
    }
    return false;
}

/* The exact timestamp we sent ourselves, if the message carries it. */
static bool header_timestamp(const amqp_basic_properties_t *p, int64_t *ns)
{
    if (!(p->_flags & AMQP_BASIC_HEADERS_FLAG))
        return false;
    for (int i = 0; i < p->headers.num_entries; i++) {
        const amqp_table_entry_t *e = &p->headers.entries[i];
        if (e->key.len == strlen(BRIDGE_HEADER_TIMESTAMP_NS) &&
            memcmp(e->key.bytes, BRIDGE_HEADER_TIMESTAMP_NS, e->key.len) == 0 &&
            e->value.kind == AMQP_FIELD_KIND_I64 && e->value.value.i64 > 0) {
            *ns = e->value.value.i64;
            return true;
        }
    }
    return false;
}

int bridge_props_to_msg(const amqp_basic_properties_t *p, struct bridge_in_meta *s,
                        struct shmq_msg *m, const char **why)
{
    int err;
    if ((err = copy_str(p->_flags, AMQP_BASIC_TYPE_FLAG, p->type, s->type, &m->type,
                        "its type property has a NUL byte", why)) ||
        (err = copy_str(p->_flags, AMQP_BASIC_CORRELATION_ID_FLAG, p->correlation_id,
                        s->correlation_id, &m->correlation_id,
                        "its correlation_id property has a NUL byte", why)) ||
        (err = copy_str(p->_flags, AMQP_BASIC_REPLY_TO_FLAG, p->reply_to, s->reply_to, &m->reply_to,
                        "its reply_to property has a NUL byte", why)))
        return err;
    int64_t ns = 0;
    if (!header_timestamp(p, &ns) && (p->_flags & AMQP_BASIC_TIMESTAMP_FLAG) &&
        p->timestamp < (uint64_t)(INT64_MAX / NS_PER_S))
        ns = (int64_t)p->timestamp * NS_PER_S;
    m->timestamp_ns = ns;
    return 0;
}
