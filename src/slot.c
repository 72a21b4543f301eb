/* Slots: the metadata record that follows a payload, and reading a slot back safely. */
#include "slot.h"

static size_t meta_str_len(const char *s)
{
    return s ? strnlen(s, SHMQ_META_STR_MAX + 1) : 0;
}

size_t shmq__meta_size(const struct shmq_msg *m)
{
    if (!m->type && !m->correlation_id && !m->reply_to && m->timestamp_ns == 0)
        return 0;
    size_t type = meta_str_len(m->type), corr = meta_str_len(m->correlation_id),
           reply = meta_str_len(m->reply_to);
    if (type > SHMQ_META_STR_MAX || corr > SHMQ_META_STR_MAX || reply > SHMQ_META_STR_MAX)
        return SIZE_MAX;
    /* Each string is stored with its NUL, absent ones as an empty string. */
    return sizeof(struct shmq__meta) + type + 1 + corr + 1 + reply + 1;
}

static unsigned char *put_str(unsigned char *p, const char *s, uint8_t len)
{
    if (len)
        memcpy(p, s, len);
    p[len] = 0;
    return p + len + 1;
}

void shmq__meta_write(struct shmq__msghdr *s, const struct shmq_msg *m, size_t meta_size)
{
    atomic_store_explicit(&s->len, (uint32_t)m->len, memory_order_relaxed);
    if (meta_size == 0) {
        atomic_store_explicit(&s->flags, 0, memory_order_relaxed);
        return;
    }
    struct shmq__meta head = {
        .timestamp_ns = m->timestamp_ns,
        .type_len = (uint8_t)meta_str_len(m->type),
        .correlation_len = (uint8_t)meta_str_len(m->correlation_id),
        .reply_to_len = (uint8_t)meta_str_len(m->reply_to),
    };
    unsigned char *p = shmq__payload(s) + shmq__align8(m->len);
    memcpy(p, &head, sizeof head);
    p += sizeof head;
    p = put_str(p, m->type, head.type_len);
    p = put_str(p, m->correlation_id, head.correlation_len);
    put_str(p, m->reply_to, head.reply_to_len);
    atomic_store_explicit(&s->flags, SHMQ__SLOT_META, memory_order_relaxed);
}

/* A string of the record at *off: in bounds and NUL-ended, or NULL (absent when empty). */
static int get_str(const unsigned char *base, size_t limit, size_t *off, uint8_t len,
                   const char **out)
{
    if (*off + len + 1 > limit || base[*off + len] != 0)
        return -EBADMSG;
    *out = len ? (const char *)base + *off : NULL;
    *off += (size_t)len + 1;
    return 0;
}

int shmq__msg_read(const struct shmq__mapping *map, struct shmq__msghdr *s, struct shmq_msg *m)
{
    size_t limit = map->geo.slot_size;
    uint32_t len = atomic_load_explicit(&s->len, memory_order_relaxed);
    uint16_t flags = atomic_load_explicit(&s->flags, memory_order_relaxed);
    if (len > limit || (flags & ~(SHMQ__SLOT_META | SHMQ__SLOT_DELAYED)))
        return -EBADMSG;
    unsigned char *payload = shmq__payload(s);
    m->data = payload;
    m->len = len;
    m->timestamp_ns = 0;
    m->type = m->correlation_id = m->reply_to = NULL;
    m->deliveries = atomic_load_explicit(&s->deliveries, memory_order_relaxed);
    if (!(flags & SHMQ__SLOT_META))
        return 0;
    size_t off = shmq__align8(len);
    struct shmq__meta head;
    if (off + sizeof head > limit)
        return -EBADMSG;
    memcpy(&head, payload + off, sizeof head);
    off += sizeof head;
    m->timestamp_ns = head.timestamp_ns;
    int err;
    if ((err = get_str(payload, limit, &off, head.type_len, &m->type)) ||
        (err = get_str(payload, limit, &off, head.correlation_len, &m->correlation_id)) ||
        (err = get_str(payload, limit, &off, head.reply_to_len, &m->reply_to)))
        return err;
    return 0;
}

int shmq__slot_read(const struct shmq__mapping *map, uint32_t index, struct shmq__slot *s,
                    struct shmq_msg *m)
{
    m->id = ((uint64_t)atomic_load_explicit(&s->commit_gen, memory_order_relaxed) << 32) | index;
    return shmq__msg_read(map, &s->hdr, m);
}
