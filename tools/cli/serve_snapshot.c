/* shmq serve: every segment, read through observer handles (see serve_snapshot.h). */
#include "serve_snapshot.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int read_queue(shmq_t *q, struct serve_entry *e)
{
    int err = shmq_stat(q, &e->queue);
    if (!err)
        err = cli_queue_participants(q, &e->participants, &e->nparticipants);
    shmq_close(q);
    return err;
}

static int read_topic(const char *name, struct serve_entry *e)
{
    shmq_topic_t *t;
    int err = shmq_topic_open_ex(name, SHMQ_OPEN_OBSERVE, &t);
    if (err)
        return err;
    err = shmq_topic_stat(t, &e->topic);
    if (!err)
        err = cli_topic_groups(t, &e->groups, &e->ngroups, &e->totals);
    shmq_topic_close(t);
    return err;
}

int serve_entry_read(const char *name, struct serve_entry *e)
{
    memset(e, 0, sizeof *e);
    int err = shmq_name_check(name);
    if (err)
        return err;
    snprintf(e->name, sizeof e->name, "%s", name);
    shmq_t *q;
    err = shmq_open_ex(name, SHMQ_OPEN_OBSERVE, &q);
    if (!err) {
        e->kind = SERVE_QUEUE;
        err = read_queue(q, e);
    } else if (err == -EMEDIUMTYPE) {
        e->kind = SERVE_TOPIC;
        err = read_topic(name, e);
    }
    if (err == -ENOENT || err == -ENOMEM) {
        serve_entry_free(e);
        return err;
    }
    if (err) {
        /* It is there but cannot be read: listed as such, not an error of the whole page. */
        serve_entry_free(e);
        snprintf(e->name, sizeof e->name, "%s", name);
        e->kind = SERVE_UNREADABLE;
        e->error = err;
    }
    return 0;
}

void serve_entry_free(struct serve_entry *e)
{
    free(e->participants);
    free(e->groups);
    memset(e, 0, sizeof *e);
}

int serve_snapshot_take(struct serve_snapshot *s)
{
    memset(s, 0, sizeof *s);
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    s->taken_ns = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
    char **names;
    size_t count;
    int err = cli_queue_names(&names, &count);
    if (err)
        return err;
    s->entries = calloc(count ? count : 1, sizeof *s->entries);
    if (!s->entries) {
        cli_queue_names_free(names);
        return -ENOMEM;
    }
    for (size_t i = 0; i < count; i++) {
        err = serve_entry_read(names[i], &s->entries[s->count]);
        if (err == -ENOMEM)
            break;
        if (err == 0)
            s->count++;
        err = 0; /* vanished meanwhile, or a name the library refuses: not listed */
    }
    cli_queue_names_free(names);
    if (err)
        serve_snapshot_free(s);
    return err;
}

void serve_snapshot_free(struct serve_snapshot *s)
{
    for (size_t i = 0; i < s->count; i++)
        serve_entry_free(&s->entries[i]);
    free(s->entries);
    memset(s, 0, sizeof *s);
}

uint64_t serve_held_by_dead(const struct serve_entry *e)
{
    uint64_t held = 0;
    for (unsigned i = 0; e->kind == SERVE_QUEUE && i < e->nparticipants; i++) {
        const struct shmq_participant_info *p = &e->participants[i];
        uint64_t back = p->acked + p->nacked;
        if (!p->alive && p->popped > back)
            held += p->popped - back;
    }
    return held;
}
