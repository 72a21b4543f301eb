/*
 * Topics, the public facade: create, open, close, clone, unlink, name. A topic is a broadcast
 * ring in shared memory with subscriber groups (topic.h: the layout; shmq.h: the contract;
 * topic_internal.h: how the topic files fit together and the memory-ordering labels).
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "topic_internal.h"

#define OPEN_WAIT_NS (2 * 1000000000LL) /* how long open waits for a creator to finish */

static int topic_validate_cb(const void *base, size_t size, void *geo)
{
    return shmq__topic_validate(base, size, geo);
}

/* A handle on the object open as fd (closed here): this process's mapping of it, shared with
 * its other handles (registry.c), and a participant entry unless observing. */
static int topic_attach(const char *name, int fd, uint32_t flags, shmq_topic_t **out)
{
    bool observe = flags & SHMQ_OPEN_OBSERVE;
    int64_t give_up = shmq__now_mono() + OPEN_WAIT_NS;
    struct shmq__shared_map *map;
    int err;
    /* Being created (no size or no magic yet): wait for its creator a little. */
    while ((err = shmq__registry_acquire_kind(fd, !observe, SHMQ__KIND_TOPIC, topic_validate_cb,
                                              sizeof(struct shmq__topic_geometry), &map)) ==
           -EAGAIN) {
        if (shmq__now_mono() > give_up) {
            err = -EBADMSG;
            break;
        }
        nanosleep(&(struct timespec){.tv_nsec = 1000000}, NULL);
    }
    close(fd);
    if (err)
        return err;
    shmq_topic_t *t = calloc(1, sizeof *t);
    if (!t) {
        shmq__registry_release_kind(map);
        return -ENOMEM;
    }
    t->map = map;
    t->base = map->base;
    t->size = map->size;
    memcpy(&t->geo, map->derived, sizeof t->geo);
    t->owner_uid = map->owner_uid;
    t->self = SHMQ__NONE;
    t->writable = !observe;
    snprintf(t->name, sizeof t->name, "%s", name);
    shmq__topic_derive(t);
    if (!observe) {
        err = shmq__topic_part_join(t);
        if (err == -EUSERS) {
            /* The table is full: perhaps of the dead. Reap without an entry, try again. */
            shmq__topic_reap(t);
            err = shmq__topic_part_join(t);
        }
        if (err) {
            shmq__registry_release_kind(map);
            free(t);
            return err;
        }
        shmq__topic_reap(t);
    }
    *out = t;
    return 0;
}

int shmq_topic_create(const char *name, const struct shmq_topic_config *cfg, shmq_topic_t **t)
{
    if (!t)
        return -EINVAL;
    struct shmq__topic_geometry g;
    int err = shmq_name_check(name);
    if (err || (err = shmq__topic_geometry_derive(cfg, &g)))
        return err;
    uint32_t mode = cfg && cfg->mode ? cfg->mode : SHMQ_DEFAULT_MODE;
    uint32_t numa_flags = cfg ? cfg->numa_flags : 0;
    struct shmq__shm_new shm;
    err = shmq__shm_create(name, g.segment_size, mode, cfg ? cfg->numa : 0, numa_flags, &shm);
    if (err)
        return err;
    shmq__topic_init(shm.base, name, &g, mode, shm.node, numa_flags);
    munmap(shm.base, g.segment_size);
    err = topic_attach(name, shm.fd, 0, t);
    if (err)
        shmq_unlink(name);
    return err;
}

int shmq_topic_open_ex(const char *name, uint32_t flags, shmq_topic_t **t)
{
    if (!t)
        return -EINVAL;
    int fd = shmq__shm_open(name, flags);
    return fd < 0 ? fd : topic_attach(name, fd, flags, t);
}

int shmq_topic_open(const char *name, shmq_topic_t **t)
{
    return shmq_topic_open_ex(name, 0, t);
}

int shmq_topic_close(shmq_topic_t *t)
{
    if (!t)
        return -EINVAL;
    while (t->subs)
        shmq_unsubscribe(t->subs);
    if (t->me)
        shmq__topic_part_retire(t);
    shmq__registry_release_kind(t->map);
    free(t);
    return 0;
}

int shmq__topic_clone(shmq_topic_t *t, shmq_topic_t **out)
{
    if (!t || !out)
        return -EINVAL;
    shmq_topic_t *c = malloc(sizeof *c);
    if (!c)
        return -ENOMEM;
    *c = *t;
    c->subs = NULL;
    c->me = NULL;
    c->self = SHMQ__NONE;
    c->gate = 0;
    if (c->writable) {
        int err = shmq__topic_part_join(c);
        if (err) {
            free(c);
            return err;
        }
    }
    shmq__registry_ref_kind(c->map);
    *out = c;
    return 0;
}

int shmq_topic_unlink(const char *name)
{
    char path[SHMQ_NAME_MAX + 16];
    int err = shmq__shm_path(name, path, sizeof path);
    if (err)
        return err;
    /* Refuse a queue; anything else under the name (a topic, a corrupt or half-made
     * segment) may go. */
    int fd = shm_open(path, O_RDONLY | O_CLOEXEC, 0);
    if (fd < 0 && errno == ENOENT)
        return -ENOENT;
    if (fd >= 0) {
        unsigned char head[offsetof(struct shmq__header, flags)];
        ssize_t n = pread(fd, head, sizeof head, 0);
        close(fd);
        uint64_t magic;
        uint32_t kind;
        memcpy(&magic, head + offsetof(struct shmq__header, magic), sizeof magic);
        memcpy(&kind, head + offsetof(struct shmq__header, kind), sizeof kind);
        if (n == (ssize_t)sizeof head && magic == SHMQ__MAGIC &&
            (kind == SHMQ__KIND_FIFO || kind == SHMQ__KIND_LIFO))
            return -EMEDIUMTYPE;
    }
    return shm_unlink(path) == 0 ? 0 : -errno;
}

const char *shmq_topic_name(const shmq_topic_t *t)
{
    return t ? t->name : NULL;
}
