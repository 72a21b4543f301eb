/*
 * Layer: segment. A segment's trusted geometry and its mapping in this process: creating,
 * validating and deriving a segment (segment.c), and sharing one mapping per segment between
 * a process's handles (registry.c).
 */
#ifndef SHMQ_SEGMENT_H
#define SHMQ_SEGMENT_H

#include "base.h"
#include "layout.h"
#include "stack.h"
#include "shmq.h"

/*
 * The geometry of a segment, derived from its configuration by shmq__geometry_derive(). The
 * creator writes it into the header; an opener derives it again from the header's
 * configuration fields and requires every stored offset to match. After open only this
 * trusted, process-local copy is used: a scribbled header cannot move a ring or a slot.
 */
struct shmq__geometry {
    uint32_t kind;
    uint32_t flags;
    uint32_t capacity;
    uint32_t slot_size;
    uint32_t slot_stride;
    uint32_t ring_order; /* n = 1 << ring_order >= capacity */
    uint32_t max_participants;
    uint32_t max_deliveries;
    int64_t ttl_ns;
    uint64_t off_participants;
    uint64_t off_waits;
    uint64_t off_free;
    uint64_t off_ready;
    uint64_t off_delayed;
    uint64_t off_returned; /* FIFO MPMC only, else 0 */
    uint64_t off_extras;
    uint64_t off_slots;
    uint64_t segment_size;
};

/* True for the inline-data ring used by a FIFO with both SINGLE flags (a LIFO keeps its
 * stack and only enforces the roles). */
static inline bool shmq__geometry_is_spsc(const struct shmq__geometry *g)
{
    return g->kind == SHMQ__KIND_FIFO &&
           (g->flags & (SHMQ_SINGLE_PRODUCER | SHMQ_SINGLE_CONSUMER)) ==
               (SHMQ_SINGLE_PRODUCER | SHMQ_SINGLE_CONSUMER);
}

/* One mapping of a segment in this process, shared by all its handles (see registry.c). */
struct shmq__mapping {
    void *base;
    size_t size;
    uint32_t owner_uid;
    struct shmq__geometry geo;

    /* derived from base + trusted offsets */
    struct shmq__header *hdr;
    struct shmq__participant *parts;
    struct shmq__waits *waits;
    struct shmq__scq *free_ring;     /* FIFO */
    struct shmq__stack *free_stack;  /* LIFO */
    struct shmq__scq *ready_ring;    /* FIFO */
    struct shmq__stack *ready_stack; /* LIFO */
    struct shmq__spsc *spsc;         /* SPSC */
    struct shmq__scq *delayed_ring;  /* MPMC */
    struct shmq__scq *returned_ring; /* FIFO MPMC: released claims, taken first */
    struct shmq__slot_extra *extras;
    unsigned char *slots;
    struct shmq__stack_links links; /* the slots as the Treiber stacks see them */
    char dead_letter[208];          /* trusted copy of the header's; "" = none */

    void *registry_node; /* registry.c's hash node */
};

/* ---- segment.c ---- */
int shmq__geometry_derive(const struct shmq_config *cfg, struct shmq__geometry *g);
int shmq__shm_path(const char *name, char *path, size_t cap);
/* Open an existing segment's shm object by name: read-write, or read-only with
 * SHMQ_OPEN_OBSERVE (the only flag). The descriptor (close-on-exec), or a negative errno. */
int shmq__shm_open(const char *name, uint32_t flags);
/* A new shm object: created O_EXCL with exactly `mode`, mapped, bound to the requested NUMA
 * node (0 / SHMQ_NUMA_LOCAL / SHMQ_NUMA_NODE(n)) before its first touch, and fully allocated
 * (-ENOSPC now rather than SIGBUS later). On failure nothing is left behind. The caller lays
 * out the mapping, stores its magic last, and unmaps it. Shared by every segment kind. */
struct shmq__shm_new {
    int fd;
    void *base;
    int32_t node; /* resolved node, -1 = none */
};
int shmq__shm_create(const char *name, uint64_t size, uint32_t mode, uint32_t numa,
                     uint32_t numa_flags, struct shmq__shm_new *out);
int shmq__segment_create(const char *name, const struct shmq_config *cfg, int *fd_out);
int shmq__segment_validate(const void *base, size_t size, struct shmq__geometry *g);
void shmq__mapping_derive(struct shmq__mapping *m);

/* ---- registry.c ---- */
int shmq__registry_acquire(int fd, bool writable, struct shmq__mapping **out);
void shmq__registry_release(struct shmq__mapping *m);
/* A mapping of a segment of another kind than a queue (a topic), shared by the handles of
 * one process like a queue's: the kind validates it once, at first map, and keeps its trusted
 * geometry in `derived`. */
struct shmq__shared_map {
    void *base;
    size_t size;
    uint32_t owner_uid;
    bool writable;
    const void *derived;
    void *registry_node;
};
/* validate(base, size, derived): 0 (derived filled in), -EAGAIN (being created: look again
 * later) or another negative errno. */
typedef int (*shmq__map_validate_fn)(const void *base, size_t size, void *derived);
/* This process's mapping of fd's object as `kind` (not a queue): found with a new reference, or
 * mapped and validated (-EAGAIN, -EBADMSG, ... as validate says). */
int shmq__registry_acquire_kind(int fd, bool writable, uint32_t kind,
                                shmq__map_validate_fn validate, size_t derived_size,
                                struct shmq__shared_map **out);
/* One more reference on a mapping the caller holds. */
void shmq__registry_ref_kind(struct shmq__shared_map *m);
/* Drop a reference; the last one unmaps after an RCU grace period. */
void shmq__registry_release_kind(struct shmq__shared_map *m);

#endif /* SHMQ_SEGMENT_H */
