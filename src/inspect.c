/* Inspection: statistics, the participant table, peek and purge. */
#include <stdio.h>
#include <string.h>

#include "core.h"
#include "participant.h"
#include "reaper.h"
#include "numa.h"

static void counters_add(struct shmq_stat *st, const struct shmq__counters *c)
{
    st->pushed += atomic_load_explicit(&c->pushed, memory_order_relaxed);
    st->popped += atomic_load_explicit(&c->popped, memory_order_relaxed);
    st->acked += atomic_load_explicit(&c->acked, memory_order_relaxed);
    st->nacked += atomic_load_explicit(&c->nacked, memory_order_relaxed);
    st->full += atomic_load_explicit(&c->full, memory_order_relaxed);
    st->empty += atomic_load_explicit(&c->empty, memory_order_relaxed);
    st->waits += atomic_load_explicit(&c->waits, memory_order_relaxed);
    st->wakeups += atomic_load_explicit(&c->wakeups, memory_order_relaxed);
    st->redelivered += atomic_load_explicit(&c->redelivered, memory_order_relaxed);
    st->expired += atomic_load_explicit(&c->expired, memory_order_relaxed);
    st->dead_lettered += atomic_load_explicit(&c->dead_lettered, memory_order_relaxed);
    st->dropped += atomic_load_explicit(&c->dropped, memory_order_relaxed);
    st->recovered += atomic_load_explicit(&c->recovered, memory_order_relaxed);
    st->released += atomic_load_explicit(&c->released, memory_order_relaxed);
}

int shmq_stat(shmq_t *q, struct shmq_stat *st)
{
    if (!q || !st)
        return -EINVAL;
    /* A writable handle gives back what dead peers held before counting (the CLI's stat
     * opens read-only and only reports them: `shmq repair` acts). */
    if (q->self && shmq__reap_check(q->map))
        shmq__reap_quietly(q);
    const struct shmq__mapping *m = q->map;
    const struct shmq__geometry *g = &m->geo;
    memset(st, 0, sizeof *st);
    st->kind = (enum shmq_kind)g->kind;
    st->flags = g->flags;
    st->capacity = g->capacity;
    st->slot_size = g->slot_size;
    st->mode = m->hdr->mode & 0777u;
    st->max_participants = g->max_participants;
    st->segment_bytes = g->segment_size;
    st->creator_pid = m->hdr->creator_pid;
    st->created_ns = m->hdr->created_ns;
    st->owner_uid = m->owner_uid;
    shmq__numa_stat(m, &st->numa_requested, &st->numa_flags, &st->numa_located);
    st->ttl_ns = g->ttl_ns;
    st->max_deliveries = g->max_deliveries;
    size_t dl = strnlen(m->dead_letter, SHMQ_NAME_MAX); /* validated at open: <= 200 */
    memcpy(st->dead_letter, m->dead_letter, dl);
    st->dead_letter[dl] = 0;
    counters_add(st, &m->hdr->retired);
    for (uint32_t i = 0; i < g->max_participants; i++) {
        const struct shmq__participant *p = &m->parts[i];
        /* A7: pairs with R7 in shmq__participant_join. */
        if (shmq__part_state(atomic_load_explicit(&p->word, memory_order_acquire)) !=
            SHMQ__PART_LIVE)
            continue;
        st->participants++;
        st->dead += !shmq__participant_alive(p);
        uint32_t roles = atomic_load_explicit(&p->roles, memory_order_relaxed);
        st->producers += !!(roles & SHMQ_ROLE_PRODUCER);
        st->consumers += !!(roles & SHMQ_ROLE_CONSUMER);
        counters_add(st, &p->counters);
    }
    /* Counters are read one by one while others work: clamp what they imply. */
    uint64_t taken = st->popped, returned = st->acked + st->nacked + st->released;
    st->in_flight = taken > returned ? taken - returned : 0;
    if (m->spsc) {
        st->depth = shmq__spsc_depth(m);
    } else {
        uint64_t in = st->pushed + st->nacked + st->released;
        st->depth = in > taken ? in - taken : 0;
        if (st->depth > g->capacity)
            st->depth = g->capacity;
    }
    return 0;
}

int shmq_participant_list(shmq_t *q, struct shmq_participant_info *out, unsigned max)
{
    if (!q || (max && !out))
        return -EINVAL;
    const struct shmq__mapping *m = q->map;
    unsigned count = 0;
    for (uint32_t i = 0; i < m->geo.max_participants; i++) {
        const struct shmq__participant *p = &m->parts[i];
        /* A7: pairs with R7 in shmq__participant_init: the identity read below is complete. */
        uint64_t word = atomic_load_explicit(&p->word, memory_order_acquire);
        if (shmq__part_state(word) != SHMQ__PART_LIVE)
            continue;
        if (count < max) {
            struct shmq_participant_info *o = &out[count];
            memset(o, 0, sizeof *o);
            o->index = i;
            o->pid = shmq__part_pid(word);
            o->alive = shmq__participant_alive(p);
            o->roles = atomic_load_explicit(&p->roles, memory_order_relaxed);
            o->pushed = atomic_load_explicit(&p->counters.pushed, memory_order_relaxed);
            o->popped = atomic_load_explicit(&p->counters.popped, memory_order_relaxed);
            o->acked = atomic_load_explicit(&p->counters.acked, memory_order_relaxed);
            o->nacked = atomic_load_explicit(&p->counters.nacked, memory_order_relaxed);
            o->full = atomic_load_explicit(&p->counters.full, memory_order_relaxed);
            o->empty = atomic_load_explicit(&p->counters.empty, memory_order_relaxed);
            o->waits = atomic_load_explicit(&p->counters.waits, memory_order_relaxed);
            o->opened_ns = p->opened_ns;
        }
        count++;
    }
    return (int)count;
}

int shmq_peek(shmq_t *q, unsigned max, int (*fn)(const struct shmq_msg *m, void *arg), void *arg)
{
    if (!q || !fn)
        return -EINVAL;
    if (max == 0)
        return 0;
    return q->map->spsc ? shmq__spsc_peek(q, max, fn, arg) : shmq__mpmc_peek(q, max, fn, arg);
}

int shmq_purge(shmq_t *q)
{
    int count = 0;
    uint32_t corrupt = 0;
    for (;;) {
        struct shmq_msg m;
        int err = shmq_claim(q, &m, 0);
        if (err == -EAGAIN)
            return count;
        if (err == -EBADMSG && q && corrupt++ < q->map->geo.capacity)
            continue; /* a corrupt message is dropped by claim itself; a ring that keeps
                         failing is reported */
        if (err)
            return err;
        if ((err = shmq_ack(q, &m)) != 0)
            return err;
        if (count < INT32_MAX)
            count++;
    }
}
