/* shmq serve: every segment, read through observer handles (see serve_snapshot.h). */
#include "serve_snapshot.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "clock.h"

/* An observer handle of one segment: a queue's or a topic's. */
struct serve_handle {
    char name[SHMQ_NAME_MAX + 1];
    dev_t dev;
    ino_t ino;
    shmq_t *q;
    shmq_topic_t *t;
    int error;        /* neither handle: why the open failed */
    int64_t retry_ns; /* ... and when to try that file again */
};

/* How long a segment that could not be opened is reported as such without another try. An
 * open of a segment with no magic waits up to 2 s for its creator; a broken one would cost
 * each scrape that long. */
#define RETRY_NS (30 * 1000000000LL)

static void handle_close(struct serve_handle *h)
{
    if (h->q)
        shmq_close(h->q);
    if (h->t)
        shmq_topic_close(h->t);
    h->q = NULL;
    h->t = NULL;
}

/* Open name as an observer: a queue, or else a topic. 0 or the library's error. */
static int handle_open(const char *name, struct serve_handle *h)
{
    int err = shmq_open_ex(name, SHMQ_OPEN_OBSERVE, &h->q);
    if (err == -EMEDIUMTYPE)
        err = shmq_topic_open_ex(name, SHMQ_OPEN_OBSERVE, &h->t);
    return err;
}

/* Fill e from an open handle, or from the failure to open it. 0, or -ENOENT / -ENOMEM (e is
 * then empty). */
static int read_entry(const char *name, const struct serve_handle *h, int open_err,
                      struct cli_status *e)
{
    memset(e, 0, sizeof *e);
    snprintf(e->name, sizeof e->name, "%s", name);
    int err = open_err;
    if (!err)
        err = h->q ? cli_status_read_queue(h->q, e) : cli_status_read_topic(h->t, e);
    return err ? cli_status_failed(name, err, e) : 0;
}

int serve_entry_read(struct serve_reader *r, const char *name, struct cli_status *e)
{
    memset(e, 0, sizeof *e);
    int err = shmq_name_check(name);
    if (err)
        return err;
    struct serve_handle h = {0};
    pthread_mutex_lock(&r->lock);
    err = read_entry(name, &h, handle_open(name, &h), e);
    handle_close(&h);
    pthread_mutex_unlock(&r->lock);
    return err;
}

int serve_reader_init(struct serve_reader *r)
{
    memset(r, 0, sizeof *r);
    return -pthread_mutex_init(&r->lock, NULL);
}

void serve_reader_free(struct serve_reader *r)
{
    for (size_t i = 0; i < r->count; i++)
        handle_close(&r->handles[i]);
    free(r->handles);
    pthread_mutex_destroy(&r->lock);
    memset(r, 0, sizeof *r);
}

int serve_snapshot_take(struct serve_reader *r, struct serve_snapshot *s)
{
    memset(s, 0, sizeof *s);
    s->taken_ns = cli_realtime_ns();
    char **names;
    size_t count;
    int err = cli_queue_names(&names, &count);
    if (err)
        return err;
    s->entries = calloc(count ? count : 1, sizeof *s->entries);
    struct serve_handle *kept = calloc(count ? count : 1, sizeof *kept);
    if (!s->entries || !kept) {
        free(s->entries);
        free(kept);
        cli_queue_names_free(names);
        return -ENOMEM;
    }
    pthread_mutex_lock(&r->lock);
    size_t nkept = 0, old = 0;
    for (size_t i = 0; i < count && !err; i++) {
        const char *name = names[i];
        char path[SHMQ_NAME_MAX + 32];
        struct stat st;
        snprintf(path, sizeof path, "/dev/shm/shmq.%s", name);
        if (shmq_name_check(name) != 0 || stat(path, &st) != 0)
            continue; /* a name the library refuses, or gone meanwhile: not listed */
        /* Both lists are sorted by name: the old handle of this name, if any. */
        while (old < r->count && strcmp(r->handles[old].name, name) < 0)
            handle_close(&r->handles[old++]);
        struct serve_handle h = {0};
        int64_t now = cli_monotonic_ns();
        if (old < r->count && strcmp(r->handles[old].name, name) == 0) {
            const struct serve_handle *o = &r->handles[old];
            if (o->dev == st.st_dev && o->ino == st.st_ino && (o->q || o->t || now < o->retry_ns))
                h = *o; /* open, or known not to open: taken over */
            else
                handle_close(&r->handles[old]);
            old++;
        }
        if (!h.q && !h.t && !h.error) {
            snprintf(h.name, sizeof h.name, "%s", name);
            h.dev = st.st_dev;
            h.ino = st.st_ino;
            h.error = handle_open(name, &h);
            h.retry_ns = now + RETRY_NS;
        }
        err = read_entry(name, &h, h.error, &s->entries[s->count]);
        if (err == 0)
            s->count++;
        if (err == 0)
            kept[nkept++] = h; /* kept for the next snapshot */
        else
            handle_close(&h);
        if (err == -ENOENT)
            err = 0; /* gone meanwhile: not listed */
    }
    while (old < r->count)
        handle_close(&r->handles[old++]);
    free(r->handles);
    r->handles = kept;
    r->count = nkept;
    pthread_mutex_unlock(&r->lock);
    cli_queue_names_free(names);
    if (err)
        serve_snapshot_free(s);
    return err;
}

void serve_snapshot_free(struct serve_snapshot *s)
{
    for (size_t i = 0; i < s->count; i++)
        cli_status_free(&s->entries[i]);
    free(s->entries);
    memset(s, 0, sizeof *s);
}

uint64_t serve_held_by_dead(const struct cli_status *e)
{
    uint64_t held = 0;
    for (unsigned i = 0; e->kind == CLI_STATUS_QUEUE && i < e->nparticipants; i++) {
        const struct shmq_participant_info *p = &e->participants[i];
        uint64_t back = p->acked + p->nacked;
        if (!p->alive && p->popped > back)
            held += p->popped - back;
    }
    return held;
}
