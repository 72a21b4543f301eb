/*
 * Request-reply over two queues: the caller pushes a request carrying a fresh correlation id
 * and its own reply queue as reply-to, and waits on that reply queue for the answer with the
 * same id; the server claims the request, answers with shmq_reply, and acks.
 *
 * Each calling thread has its own reply queue, "shmq-reply.<pid>.<tid>", created on its first
 * call with slots of the request queue's size or 64 KiB, whichever is larger, and removed when the
 * thread ends or the process exits (a killed process leaves it behind: `shmq ls` shows it and `shmq
 * rm` removes it). A reply that arrives after its call timed out carries an old id and is discarded
 * by the next call.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "handle.h"

#define REPLY_SLOT_MIN 65536u

struct reply_box {
    shmq_t *q;
    char name[64];
    uint64_t next_id;
    struct reply_box *next; /* process-wide list, for the exit handler */
};

static pthread_key_t box_key;
static pthread_once_t box_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t boxes_lock = PTHREAD_MUTEX_INITIALIZER;
static struct reply_box *boxes;
static pid_t boxes_pid; /* a forked child does not own its parent's boxes */

static void box_unlink(struct reply_box *b)
{
    pthread_mutex_lock(&boxes_lock);
    for (struct reply_box **p = &boxes; *p; p = &(*p)->next)
        if (*p == b) {
            *p = b->next;
            break;
        }
    pthread_mutex_unlock(&boxes_lock);
    shmq_close(b->q);
    shmq_unlink(b->name);
    free(b);
}

static void box_thread_exit(void *arg)
{
    box_unlink(arg);
}

static void boxes_at_exit(void)
{
    if (getpid() != boxes_pid)
        return;
    pthread_mutex_lock(&boxes_lock);
    for (struct reply_box *b = boxes; b; b = b->next)
        shmq_unlink(b->name); /* handles die with the process */
    pthread_mutex_unlock(&boxes_lock);
}

static void box_init(void)
{
    pthread_key_create(&box_key, box_thread_exit);
    boxes_pid = getpid();
    atexit(boxes_at_exit);
}

static int box_get(shmq_t *request_q, struct reply_box **out)
{
    pthread_once(&box_once, box_init);
    struct reply_box *b = pthread_getspecific(box_key);
    if (getpid() != boxes_pid) {
        /* A forked child: its parent's boxes are the parent's to remove. */
        pthread_mutex_lock(&boxes_lock);
        boxes = NULL;
        boxes_pid = getpid();
        pthread_mutex_unlock(&boxes_lock);
        b = NULL;
    }
    if (b) {
        *out = b;
        return 0;
    }
    b = calloc(1, sizeof *b);
    if (!b)
        return -ENOMEM;
    snprintf(b->name, sizeof b->name, "shmq-reply.%d.%ld", (int)getpid(),
             (long)syscall(SYS_gettid));
    /* Answers are often larger than requests (a result for a few arguments): the reply
     * queue's slots are at least REPLY_SLOT_MIN, 1 MiB for the 16 of them. */
    uint32_t slot = request_q->map->geo.slot_size;
    struct shmq_config cfg = {.capacity = 16,
                              .slot_size = slot > REPLY_SLOT_MIN ? slot : REPLY_SLOT_MIN};
    shmq_unlink(b->name); /* a leftover of a dead thread with the same tid */
    int err = shmq_create(b->name, &cfg, &b->q);
    if (err) {
        free(b);
        return err;
    }
    pthread_mutex_lock(&boxes_lock);
    b->next = boxes;
    boxes = b;
    pthread_mutex_unlock(&boxes_lock);
    pthread_setspecific(box_key, b);
    *out = b;
    return 0;
}

ssize_t shmq_call(shmq_t *q, const void *req, size_t len, void *reply, size_t cap,
                  int64_t timeout_ns)
{
    int64_t deadline;
    int err;
    if (!q || (len && !req) || (cap && !reply))
        return -EINVAL;
    if ((err = shmq__deadline(timeout_ns, &deadline)) != 0)
        return err;
    struct reply_box *box;
    if ((err = box_get(q, &box)) != 0)
        return err;
    char id[48];
    snprintf(id, sizeof id, "%s.%llu", box->name + sizeof "shmq-reply." - 1,
             (unsigned long long)++box->next_id);
    struct shmq_msg m = {
        .data = (void *)req, .len = len, .correlation_id = id, .reply_to = box->name};
    int64_t left = deadline == INT64_MAX ? SHMQ_FOREVER
                   : deadline == 0       ? 0
                                         : deadline - shmq__now_mono();
    if ((err = shmq_push_msg(q, &m, left < 0 ? 0 : left)) != 0)
        return err;
    for (;;) {
        left = deadline == INT64_MAX ? SHMQ_FOREVER : deadline - shmq__now_mono();
        struct shmq_msg r;
        err = shmq_claim(box->q, &r, left < 0 ? 0 : left);
        if (err == -EAGAIN)
            err = -ETIMEDOUT;
        if (err)
            return err;
        bool ours = r.correlation_id && strcmp(r.correlation_id, id) == 0;
        ssize_t n = (ssize_t)r.len;
        if (ours) {
            if (r.len > cap)
                n = -EMSGSIZE;
            else
                memcpy(reply, r.data, r.len);
        }
        shmq_ack(box->q, &r);
        if (ours)
            return n;
        /* a late answer to an earlier call that gave up: dropped */
    }
}

int shmq_reply(shmq_t *q, const struct shmq_msg *req, const void *data, size_t len)
{
    if (!q || !req || (len && !data))
        return -EINVAL;
    if (!req->reply_to || shmq_name_check(req->reply_to) != 0)
        return -EINVAL;
    if (q->reply_q && strcmp(shmq_name(q->reply_q), req->reply_to) != 0) {
        shmq_close(q->reply_q);
        q->reply_q = NULL;
    }
    int err;
    if (!q->reply_q && (err = shmq_open(req->reply_to, &q->reply_q)) != 0) {
        q->reply_q = NULL;
        return err;
    }
    struct shmq_msg m = {.data = (void *)data, .len = len, .correlation_id = req->correlation_id};
    /* Never wait: a reply queue that is full belongs to a caller that has gone away. */
    return shmq_push_msg(q->reply_q, &m, 0);
}
