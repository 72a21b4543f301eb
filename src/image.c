/*
 * Byte images of segments: validation and invariant checks without a shm object (image.h).
 *
 * The view is built exactly as an open builds it — the header validated, the geometry derived
 * again from its configuration, the process-local pointers derived from that trusted geometry
 * only — and then handed to the checks shmq_check and shmq_topic_check run on a mapped
 * segment. There is no second implementation of either here.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "image.h"
#include "topic_internal.h"

__attribute__((format(printf, 4, 5))) static int fail(int err, char *why, size_t cap,
                                                      const char *fmt, ...)
{
    if (why && cap) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, cap, fmt, ap);
        va_end(ap);
    }
    return err;
}

/* Why validation refused a header, in words: it says only which class of fault it found. */
static int refuse(int err, const void *base, char *why, size_t cap)
{
    const struct shmq__header *h = base;
    switch (err) {
    case -EAGAIN:
        return fail(err, why, cap, "header: no magic (being created, or its creator died)");
    case -EPROTO:
        return fail(err, why, cap, "header: ABI version %u, this library reads %u", h->abi_version,
                    SHMQ__ABI_VERSION);
    default:
        return fail(err, why, cap,
                    "header: not a valid %s segment (magic, kind, configuration, an offset or "
                    "the size)",
                    h->kind == SHMQ__KIND_TOPIC ? "topic" : "queue");
    }
}

int shmq__image_derive(const void *base, size_t size, struct shmq__image *img, char *why,
                       size_t cap)
{
    if (why && cap)
        why[0] = 0;
    if (!img)
        return -EINVAL;
    memset(img, 0, sizeof *img);
    if (!base || (uintptr_t)base % SHMQ__CACHELINE != 0)
        return fail(-EINVAL, why, cap, "image: NULL or not aligned to %u bytes", SHMQ__CACHELINE);
    /* Validation refuses this too, but the reason below reads the header's fields. */
    if (size < SHMQ__PAGE)
        return fail(size == 0 ? -EAGAIN : -EBADMSG, why, cap,
                    "image: %zu bytes, less than a header page", size);
    /* The views are read-only: nothing below stores through them. */
    unsigned char *b = (unsigned char *)(uintptr_t)base;

    struct shmq__geometry g;
    int err = shmq__segment_validate(base, size, &g);
    if (err == 0) {
        struct shmq__mapping *m = &img->queue;
        m->base = b;
        m->size = size;
        m->geo = g;
        shmq__mapping_derive(m);
        img->kind = g.kind;
        return 0;
    }
    if (err != -EMEDIUMTYPE)
        return refuse(err, base, why, cap);

    struct shmq_topic *t = &img->topic;
    err = shmq__topic_validate(base, size, &t->geo);
    if (err) {
        memset(img, 0, sizeof *img);
        return refuse(err, base, why, cap);
    }
    t->base = b;
    t->size = size;
    t->self = SHMQ__NONE;  /* an observer: no participant entry, no subscription */
    shmq__topic_derive(t); /* the tables, as an open finds them */
    img->kind = SHMQ__KIND_TOPIC;
    return 0;
}

int shmq__image_check(const void *base, size_t size, char *why, size_t cap)
{
    struct shmq__image img;
    int err = shmq__image_derive(base, size, &img, why, cap);
    if (err)
        return err;
    if (img.kind == SHMQ__KIND_TOPIC)
        return shmq__topic_check(&img.topic, SHMQ__CHECK_QUIESCENT, why, cap);
    return shmq__mapping_check(&img.queue, why, cap);
}
