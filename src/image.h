/*
 * A segment's bytes, checked without its shm object: the open-time validation of the header
 * and the invariants `shmq stat --check` verifies, run over a byte image in this process's
 * memory (a copy of /dev/shm/shmq.<name>, a fuzzer's input). Nothing is opened, mapped,
 * registered or joined, and nothing is written to the image: it is only read, with the same
 * code that reads a mapped segment, so every index read from it is bounds-checked the same way.
 *
 * The image must be aligned to SHMQ__CACHELINE (the shared structs are) and must not change
 * while it is checked: the checks are those of a quiescent segment.
 */
#ifndef SHMQ_IMAGE_H
#define SHMQ_IMAGE_H

#include <stddef.h>

#include "segment.h"
#include "topic.h"

/* A validated image, seen through the process-local structs the library uses for a mapped
 * segment: `queue` for a FIFO or LIFO (kind SHMQ__KIND_FIFO / SHMQ__KIND_LIFO), `topic` for
 * a topic (kind SHMQ__KIND_TOPIC). Both point into the image and are read-only views: `queue`
 * is in no registry and `topic` is an observer (no participant entry, no wait words: what
 * blocks or writes must not be given it). */
struct shmq__image {
    uint32_t kind;
    struct shmq__mapping queue;
    struct shmq_topic topic;
};

/*
 * Validate the header of the `size` bytes at base (shmq__segment_validate for a queue,
 * shmq__topic_validate for a topic) and fill *img. Returns 0; -EINVAL for a NULL or misaligned
 * base; else what validation said, with a reason in why (cap bytes, always NUL-terminated
 * when cap > 0): -EAGAIN (magic 0: being created), -EPROTO (another ABI version) or -EBADMSG.
 * Reads the header only. On failure *img is zeroed.
 */
int shmq__image_derive(const void *base, size_t size, struct shmq__image *img, char *why,
                       size_t cap);

/*
 * shmq__image_derive, then the invariants shmq_check (queues) or shmq_topic_check (topics)
 * verify on a quiescent segment, over the image. 0 when the image is a consistent segment;
 * -EBADMSG with the broken invariant in why; the errors of shmq__image_derive; -ENOMEM.
 * why is "" on success. Read-only; any number of threads may check images at once.
 */
int shmq__image_check(const void *base, size_t size, char *why, size_t cap);

/* The queue invariants of shmq_check (check.c), on a mapping whose geometry was validated:
 * shared by shmq_check (a handle's mapping) and shmq__image_check (a byte image). */
int shmq__mapping_check(struct shmq__mapping *m, char *why, size_t cap);

#endif /* SHMQ_IMAGE_H */
