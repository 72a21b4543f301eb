/*
 * The queue core's entry points: each operation once, non-blocking, dispatched to the SPSC
 * ring (spsc.c) or the MPMC slot pool (mpmc.c, mpmc_batch.c). Nothing here waits, checks
 * arguments or roles, opens a queue or reaps: the facade (queue.c) does that above, and the
 * dead-letter layer (deadletter.c) pushes through shmq__try_push_msg.
 */
#include <string.h>

#include "core.h"
#include "slot.h"

static inline bool is_spsc(const shmq_t *q)
{
    return q->map->spsc != NULL;
}

int shmq__try_reserve(shmq_t *q, struct shmq__reserve_ctx *c)
{
    memset(c->m, 0, sizeof *c->m);
    return is_spsc(q) ? shmq__spsc_try_reserve(q, c) : shmq__mpmc_try_reserve(q, c);
}

int shmq__commit(shmq_t *q, struct shmq_msg *m)
{
    return is_spsc(q) ? shmq__spsc_commit(q, m) : shmq__mpmc_commit(q, m);
}

int shmq__discard(shmq_t *q, struct shmq_msg *m)
{
    return is_spsc(q) ? shmq__spsc_discard(q, m) : shmq__mpmc_discard(q, m);
}

int shmq__try_push_msg(shmq_t *q, const struct shmq_msg *src)
{
    struct shmq_msg m;
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

int shmq__try_claim(shmq_t *q, struct shmq_msg *m)
{
    return is_spsc(q) ? shmq__spsc_try_claim(q, m) : shmq__mpmc_try_claim(q, m);
}

int shmq__finish(shmq_t *q, struct shmq_msg *m, bool ack)
{
    return is_spsc(q) ? shmq__spsc_finish(q, m, ack) : shmq__mpmc_finish(q, m, ack);
}

int shmq__nack_delayed(shmq_t *q, struct shmq_msg *m, int64_t delay_ns)
{
    return is_spsc(q) ? shmq__spsc_nack_delayed(q, m, delay_ns)
                      : shmq__mpmc_nack_delayed(q, m, delay_ns);
}

int shmq__release(shmq_t *q, struct shmq_msg *m)
{
    return is_spsc(q) ? shmq__spsc_release(q, m) : shmq__mpmc_release(q, m);
}

void shmq__hold(shmq_t *q, struct shmq_msg *m)
{
    if (is_spsc(q))
        shmq__spsc_hold(q, m);
    else
        shmq__mpmc_hold(q, m);
}

int shmq__try_push_batch(shmq_t *q, struct shmq__batch_ctx *c)
{
    return is_spsc(q) ? shmq__spsc_try_push_batch(q, c) : shmq__mpmc_try_push_batch(q, c);
}

bool shmq__batch_plain(const shmq_t *q)
{
    if (is_spsc(q))
        return !q->map->geo.ttl_ns && !q->map->geo.max_deliveries;
    return shmq__mpmc_batch_plain(q);
}

int shmq__try_pop_batch(shmq_t *q, struct shmq__batch_ctx *c)
{
    return is_spsc(q) ? shmq__spsc_try_pop_batch(q, c) : shmq__mpmc_try_pop_batch(q, c);
}

bool shmq__delayed_waiting(shmq_t *q)
{
    return is_spsc(q) ? shmq__spsc_delayed_waiting(q) : shmq__mpmc_delayed_waiting(q);
}

void shmq__idle(shmq_t *q)
{
    if (!is_spsc(q))
        shmq__mpmc_idle(q);
}
