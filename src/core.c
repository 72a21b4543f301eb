/*
 * The queue core's one out-of-line entry (the dispatch of each step is inline in core.h): a
 * whole push of a message with its metadata, without waiting. The facade (queue.c) runs it
 * under its wait for shmq_push_msg, and the dead-letter layer (deadletter.c) for its copies.
 */
#include <string.h>

#include "core.h"
#include "slot.h"

int shmq__try_push_msg(shmq_t *q, const struct shmq_msg *src)
{
    struct shmq_msg m;
    memset(&m, 0, sizeof m);
    int err = shmq__try_reserve(q, &(struct shmq__reserve_ctx){.len = src->len, .m = &m});
    if (err)
        return err;
    size_t meta;
    m.len = src->len;
    m.timestamp_ns = src->timestamp_ns;
    m.type = src->type;
    m.correlation_id = src->correlation_id;
    m.reply_to = src->reply_to;
    if ((err = shmq__msg_fits(q->map, &m, &meta)) != 0) {
        shmq__discard(q, &m);
        return err;
    }
    if (src->len)
        memcpy(m.data, src->data, src->len);
    return shmq__commit(q, &m);
}
