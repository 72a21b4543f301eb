/* The status of a queue or a topic, and the rows of the overviews (see status.h). */
#include "status.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cli_status_read_queue(shmq_t *q, struct cli_status *s)
{
    s->kind = CLI_STATUS_QUEUE;
    int err = shmq_stat(q, &s->queue);
    if (err)
        return err;
    /* Room for the participants stat counted and a few more; if more came meanwhile, room
     * for the whole table (max_participants entries: a list that size cannot be outgrown). */
    unsigned max = s->queue.max_participants ? s->queue.max_participants : 1;
    unsigned cap = s->queue.participants + 4 < max ? s->queue.participants + 4 : max;
    for (;;) {
        free(s->participants);
        if (!(s->participants = malloc(cap * sizeof *s->participants)))
            return -ENOMEM;
        int n = shmq_participant_list(q, s->participants, cap);
        if (n < 0) {
            free(s->participants);
            s->participants = NULL;
            return n;
        }
        if ((unsigned)n <= cap || cap == max) {
            s->nparticipants = (unsigned)n < cap ? (unsigned)n : cap;
            return 0;
        }
        cap = max;
    }
}

int cli_status_read_topic(shmq_topic_t *t, struct cli_status *s)
{
    s->kind = CLI_STATUS_TOPIC;
    int err = shmq_topic_stat(t, &s->topic);
    if (!err)
        err = cli_topic_groups(t, &s->groups, &s->ngroups, &s->totals);
    return err;
}

int cli_status_failed(const char *name, int err, struct cli_status *s)
{
    bool topic = s->kind == CLI_STATUS_TOPIC;
    cli_status_free(s);
    if (err == -ENOENT || err == -ENOMEM)
        return err;
    /* It is there but cannot be read: a status of its own, not an error of the listing. */
    snprintf(s->name, sizeof s->name, "%s", name);
    s->kind = CLI_STATUS_UNREADABLE;
    s->error = err;
    s->topic_kind = topic;
    return 0;
}

int cli_status_open_read(const char *name, struct cli_status *s)
{
    memset(s, 0, sizeof *s);
    snprintf(s->name, sizeof s->name, "%s", name);
    shmq_t *q;
    int err = shmq_open_ex(name, SHMQ_OPEN_OBSERVE, &q);
    if (!err) {
        err = cli_status_read_queue(q, s);
        shmq_close(q);
    } else if (err == -EMEDIUMTYPE) {
        shmq_topic_t *t;
        s->kind = CLI_STATUS_TOPIC;
        err = shmq_topic_open_ex(name, SHMQ_OPEN_OBSERVE, &t);
        if (!err) {
            err = cli_status_read_topic(t, s);
            shmq_topic_close(t);
        }
    }
    return err ? cli_status_failed(name, err, s) : 0;
}

void cli_status_free(struct cli_status *s)
{
    free(s->participants);
    free(s->groups);
    memset(s, 0, sizeof *s);
}

/* Every value missing. */
static void row_none(struct cli_status_row *r)
{
    uint64_t *const values[] = {
        &r->depth,         &r->capacity,  &r->slot_size, &r->segment_bytes, &r->producers,
        &r->consumers,     &r->in_flight, &r->dead,      &r->redelivered,   &r->expired,
        &r->dead_lettered, &r->dropped,   &r->pushed,    &r->popped,
    };
    memset(r, 0, sizeof *r);
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++)
        *values[i] = CLI_STATUS_NONE;
}

void cli_status_row(const struct cli_status *s, struct cli_status_row *r)
{
    row_none(r);
    if (s->kind == CLI_STATUS_QUEUE) {
        const struct shmq_stat *st = &s->queue;
        unsigned producers, consumers;
        cli_queue_live_roles(s->participants, s->nparticipants, &producers, &consumers);
        r->kind = cli_queue_kind_name(st->kind);
        r->depth = st->depth;
        r->capacity = st->capacity;
        r->slot_size = st->slot_size;
        r->segment_bytes = st->segment_bytes;
        r->producers = producers;
        r->consumers = consumers;
        r->in_flight = st->in_flight;
        r->dead = st->dead;
        r->redelivered = st->redelivered;
        r->expired = st->expired;
        r->dead_lettered = st->dead_lettered;
        r->dropped = st->dropped;
        r->pushed = st->pushed;
        r->popped = st->popped;
        r->mode = st->mode;
        r->owner_uid = st->owner_uid;
    } else if (s->kind == CLI_STATUS_TOPIC) {
        /* Its largest group lag as the depth, its subscriptions as the consumers, the
         * messages its groups lost as the dropped ones, publishes and deliveries as the
         * pushes and pops. */
        const struct shmq_topic_stat *st = &s->topic;
        r->kind = "topic";
        r->depth = s->totals.max_lag;
        r->capacity = st->capacity;
        r->slot_size = st->slot_size;
        r->segment_bytes = st->segment_bytes;
        r->consumers = st->members;
        r->dead = st->dead;
        r->dropped = s->totals.lost;
        r->pushed = st->published;
        r->popped = s->totals.delivered;
        r->mode = st->mode;
        r->owner_uid = st->owner_uid;
    }
}

void cli_status_group_row(const struct cli_status *s, unsigned g, struct cli_status_row *r)
{
    row_none(r);
    if (s->kind != CLI_STATUS_TOPIC || g >= s->ngroups)
        return;
    const struct shmq_group_info *group = &s->groups[g];
    r->depth = group->lag;
    r->capacity = s->topic.capacity;
    r->consumers = group->members;
    r->dropped = group->lost;
    r->popped = group->delivered;
}
