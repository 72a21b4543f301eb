/*
 * Segments: names, geometry, creation and open-time validation of the shm object.
 *
 * Creation is all-or-nothing: shm_open(O_EXCL), the exact mode, posix_fallocate of every page
 * (a full /dev/shm is -ENOSPC now rather than SIGBUS on a later first touch), initialisation,
 * and the magic stored last with release. Any failure unlinks what was made.
 *
 * Validation trusts nothing: the configuration fields are checked against the limits, the
 * geometry is derived again from them and every stored offset and size must match it, and the
 * object's real size must be the derived size.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "segment.h"
#include "numa.h"
#include "scq.h"
#include "stack.h"

#define SHM_PREFIX "shmq."

int shmq_name_check(const char *name)
{
    if (!name || !name[0] || name[0] == '.')
        return -EINVAL;
    size_t i = 0;
    for (; name[i]; i++) {
        if (i >= SHMQ_NAME_MAX)
            return -EINVAL;
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return -EINVAL;
    }
    return 0;
}

int shmq__shm_path(const char *name, char *path, size_t cap)
{
    int err = shmq_name_check(name);
    if (err)
        return err;
    int n = snprintf(path, cap, "/" SHM_PREFIX "%s", name);
    return n < 0 || (size_t)n >= cap ? -EINVAL : 0;
}

int shmq__shm_open(const char *name, uint32_t flags)
{
    char path[SHMQ_NAME_MAX + 16];
    if (flags & ~SHMQ_OPEN_OBSERVE)
        return -EINVAL;
    int err = shmq__shm_path(name, path, sizeof path);
    if (err)
        return err;
    int fd = shm_open(path, ((flags & SHMQ_OPEN_OBSERVE) ? O_RDONLY : O_RDWR) | O_CLOEXEC, 0);
    return fd < 0 ? -errno : fd;
}

static uint64_t align_up(uint64_t v, uint64_t a)
{
    return (v + a - 1) & ~(a - 1);
}

static uint32_t order_for(uint32_t capacity)
{
    uint32_t order = 0;
    while ((UINT32_C(1) << order) < capacity)
        order++;
    return order;
}

int shmq__geometry_derive(const struct shmq_config *cfg, struct shmq__geometry *g)
{
    static const struct shmq_config defaults;
    if (!cfg)
        cfg = &defaults;
    for (size_t i = 0; i < sizeof cfg->reserved / sizeof cfg->reserved[0]; i++)
        if (cfg->reserved[i])
            return -EINVAL;
    if (cfg->kind != SHMQ_FIFO && cfg->kind != SHMQ_LIFO)
        return -EINVAL;
    if (cfg->flags & ~(SHMQ_SINGLE_PRODUCER | SHMQ_SINGLE_CONSUMER))
        return -EINVAL;
    if (cfg->mode & ~0777u || cfg->reserved0)
        return -EINVAL;
    if (cfg->ttl_ns < 0 || cfg->max_deliveries > SHMQ_DELIVERIES_MAX)
        return -EINVAL;
    if (cfg->dead_letter && shmq_name_check(cfg->dead_letter) != 0)
        return -EINVAL;
    if (cfg->numa != 0 && cfg->numa != SHMQ_NUMA_LOCAL &&
        cfg->numa > SHMQ_NUMA_NODE(SHMQ_NUMA_NODES_MAX - 1))
        return -EINVAL;
    if (cfg->numa_flags & ~SHMQ_NUMA_STRICT)
        return -EINVAL;
    uint32_t capacity = cfg->capacity ? cfg->capacity : SHMQ_DEFAULT_CAPACITY;
    uint32_t slot_size = cfg->slot_size ? cfg->slot_size : SHMQ_DEFAULT_SLOT_SIZE;
    uint32_t parts = cfg->max_participants ? cfg->max_participants : SHMQ_DEFAULT_PARTICIPANTS;
    if (capacity > SHMQ_CAPACITY_MAX || slot_size > SHMQ_SLOT_SIZE_MAX ||
        parts > SHMQ_PARTICIPANTS_MAX)
        return -EINVAL;

    memset(g, 0, sizeof *g);
    g->kind = (uint32_t)cfg->kind;
    g->flags = cfg->flags;
    g->capacity = capacity;
    g->slot_size = slot_size;
    g->slot_stride =
        (uint32_t)align_up(sizeof(struct shmq__slot) + (uint64_t)slot_size, SHMQ__CACHELINE);
    if (shmq__geometry_is_spsc(g))
        g->slot_stride = (uint32_t)align_up(sizeof(struct shmq__msghdr) + (uint64_t)slot_size,
                                            SHMQ__SPSC_SLOT_ALIGN);
    g->ring_order = order_for(capacity);
    g->max_participants = parts;
    g->max_deliveries = cfg->max_deliveries;
    g->ttl_ns = cfg->ttl_ns;

    uint64_t off = SHMQ__PAGE;
    g->off_participants = off;
    off += (uint64_t)parts * sizeof(struct shmq__participant);
    g->off_waits = off = align_up(off, SHMQ__CACHELINE);
    off += sizeof(struct shmq__waits);
    if (shmq__geometry_is_spsc(g)) {
        g->off_ready = off;
        off += sizeof(struct shmq__spsc);
    } else {
        uint64_t index_size =
            g->kind == SHMQ__KIND_FIFO ? shmq__scq_size(g->ring_order) : sizeof(struct shmq__stack);
        g->off_free = off;
        off += index_size;
        g->off_ready = off = align_up(off, SHMQ__CACHELINE);
        off += index_size;
        g->off_delayed = off = align_up(off, SHMQ__CACHELINE);
        off += shmq__scq_size(g->ring_order);
        if (g->kind == SHMQ__KIND_FIFO) {
            g->off_returned = off = align_up(off, SHMQ__CACHELINE);
            off += shmq__scq_size(g->ring_order);
        }
    }
    g->off_extras = off = align_up(off, SHMQ__CACHELINE);
    off += (uint64_t)capacity * sizeof(struct shmq__slot_extra);
    g->off_slots = off = align_up(off, SHMQ__PAGE);
    off += (uint64_t)capacity * g->slot_stride;
    g->segment_size = align_up(off, SHMQ__PAGE);
    return 0;
}

void shmq__mapping_derive(struct shmq__mapping *m)
{
    unsigned char *b = m->base;
    const struct shmq__geometry *g = &m->geo;
    m->hdr = (struct shmq__header *)b;
    m->parts = (struct shmq__participant *)(b + g->off_participants);
    m->waits = (struct shmq__waits *)(b + g->off_waits);
    m->slots = b + g->off_slots;
    m->links = (struct shmq__stack_links){
        .slots = m->slots, .stride = g->slot_stride, .capacity = g->capacity};
    /* Validated to be NUL-terminated (or written by us), but read again here, where a writer
     * may have taken the NUL away since: copied once with a bound, trusted after (a name
     * scribbled meanwhile fails shmq_open's name check when it is used). */
    size_t dl = strnlen(m->hdr->dead_letter, sizeof m->dead_letter - 1);
    memcpy(m->dead_letter, m->hdr->dead_letter, dl);
    m->dead_letter[dl] = 0;
    m->free_ring = NULL;
    m->free_stack = NULL;
    m->ready_ring = NULL;
    m->ready_stack = NULL;
    m->spsc = NULL;
    m->delayed_ring = g->off_delayed ? (struct shmq__scq *)(b + g->off_delayed) : NULL;
    m->returned_ring = g->off_returned ? (struct shmq__scq *)(b + g->off_returned) : NULL;
    m->extras = (struct shmq__slot_extra *)(b + g->off_extras);
    if (shmq__geometry_is_spsc(g)) {
        m->spsc = (struct shmq__spsc *)(b + g->off_ready);
    } else if (g->kind == SHMQ__KIND_FIFO) {
        m->free_ring = (struct shmq__scq *)(b + g->off_free);
        m->ready_ring = (struct shmq__scq *)(b + g->off_ready);
    } else {
        m->free_stack = (struct shmq__stack *)(b + g->off_free);
        m->ready_stack = (struct shmq__stack *)(b + g->off_ready);
    }
}

/* Lay out a fresh (all-zero) segment and store the magic last. */
static void segment_init(void *base, const char *name, const struct shmq__geometry *g,
                         const struct shmq_config *cfg, uint32_t mode, int32_t numa_node)
{
    struct shmq__mapping m = {.base = base, .size = g->segment_size, .geo = *g};
    shmq__mapping_derive(&m);
    struct shmq__header *h = m.hdr;
    h->abi_version = SHMQ__ABI_VERSION;
    h->header_size = sizeof *h;
    h->kind = g->kind;
    h->flags = g->flags;
    h->capacity = g->capacity;
    h->slot_size = g->slot_size;
    h->slot_stride = g->slot_stride;
    h->ring_order = g->ring_order;
    h->max_participants = g->max_participants;
    h->mode = mode;
    h->segment_size = g->segment_size;
    h->off_participants = g->off_participants;
    h->off_waits = g->off_waits;
    h->off_free = g->off_free;
    h->off_ready = g->off_ready;
    h->off_delayed = g->off_delayed;
    h->off_returned = g->off_returned;
    h->off_extras = g->off_extras;
    h->off_slots = g->off_slots;
    h->ttl_ns = g->ttl_ns;
    h->max_deliveries = g->max_deliveries;
    h->numa_node = numa_node;
    h->numa_flags = cfg ? cfg->numa_flags : 0;
    if (cfg && cfg->dead_letter)
        snprintf(h->dead_letter, sizeof h->dead_letter, "%s", cfg->dead_letter);
    h->created_ns = shmq__now_real();
    h->creator_pid = (int32_t)getpid();
    snprintf(h->name, sizeof h->name, "%s", name);
    /* Slots are FREE (zero) already; participants FREE; waits zero. */
    if (m.spsc) {
        atomic_init(&m.spsc->head, 0);
        atomic_init(&m.spsc->tail, 0);
    } else if (m.free_ring) {
        shmq__scq_init_full(m.free_ring, g->ring_order, g->capacity);
        shmq__scq_init_empty(m.ready_ring, g->ring_order);
    } else {
        /* Slot 0 on top: a fresh LIFO fills its slots in order. */
        shmq__stack_init(m.free_stack);
        for (uint32_t i = g->capacity; i-- > 0;)
            shmq__stack_push(&m.links, m.free_stack, i);
        shmq__stack_init(m.ready_stack);
    }
    if (m.delayed_ring)
        shmq__scq_init_empty(m.delayed_ring, g->ring_order);
    atomic_init(&h->delayed_due, SHMQ__DUE_NONE << 24);
    if (m.returned_ring)
        shmq__scq_init_empty(m.returned_ring, g->ring_order);
    /* R0: the layout is complete before the magic says so. Pairs with A0 in
     * shmq__segment_validate. */
    atomic_store_explicit(&h->magic, SHMQ__MAGIC, memory_order_release);
}

/*
 * Create the shm object of a new segment, allocated, placed and initialised; on success the
 * caller owns *fd_out. On failure nothing is left: the object is unlinked and unmapped.
 *
 * Placement: the request is resolved before anything is made (a node this machine does not
 * have is -EINVAL and creates nothing). The object is mapped, bound, and only then allocated:
 * posix_fallocate on tmpfs allocates the pages, so it is their first touch, and the policy set
 * on the mapping belongs to the object (every page allocated for it follows it). Without
 * SHMQ_NUMA_STRICT, a machine that cannot bind (-ENOTSUP: no support in the kernel or a
 * topology that cannot bind, such as a synthetic one) still gets its queue, unbound; the
 * header records the node that was asked for, so shmq_stat shows the request next to where
 * the pages really are and shmq_pin_near still runs threads near the request. `local` that
 * cannot tell the creator's node records none (-1). With SHMQ_NUMA_STRICT both are -ENOTSUP.
 */
int shmq__shm_create(const char *name, uint64_t size, uint32_t mode, uint32_t numa,
                     uint32_t numa_flags, struct shmq__shm_new *out)
{
    char path[SHMQ_NAME_MAX + 16];
    int err = shmq__shm_path(name, path, sizeof path);
    if (err)
        return err;
    bool strict = numa_flags & SHMQ_NUMA_STRICT;
    int32_t node;
    err = shmq__numa_resolve(numa, &node);
    if (err == -ENOTSUP && !strict)
        err = 0; /* node stays -1 */
    if (err)
        return err;

    void *base = MAP_FAILED;
    int fd = shm_open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0)
        return -errno;
    /* The umask must not narrow what the caller asked for; this is still creation, and the
     * mode is never changed afterwards. */
    if (fchmod(fd, mode) != 0) {
        err = -errno;
        goto fail;
    }
    /* Mapping past the end of the (still empty) object is allowed; nothing touches it before
     * posix_fallocate has given it its size. */
    base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (base == MAP_FAILED) {
        err = -errno;
        goto fail;
    }
    err = shmq__numa_bind(base, size, node, numa_flags);
    if (err == -ENOTSUP && !strict)
        err = 0; /* recorded, not bound: see above */
    if (err)
        goto fail;
    err = posix_fallocate(fd, 0, (off_t)size);
    if (err) {
        err = err == EFBIG || err == EINVAL ? -ENOSPC : -err;
        goto fail;
    }
    out->fd = fd;
    out->base = base;
    out->node = node;
    return 0;
fail:
    if (base != MAP_FAILED)
        munmap(base, size);
    shm_unlink(path);
    close(fd);
    return err;
}

int shmq__segment_create(const char *name, const struct shmq_config *cfg, int *fd_out)
{
    struct shmq__geometry g;
    int err = shmq_name_check(name);
    if (err || (err = shmq__geometry_derive(cfg, &g)))
        return err;
    uint32_t mode = cfg && cfg->mode ? cfg->mode : SHMQ_DEFAULT_MODE;
    if (cfg && cfg->dead_letter && strcmp(cfg->dead_letter, name) == 0)
        return -EINVAL; /* a queue cannot be its own dead-letter queue */
    struct shmq__shm_new shm;
    err = shmq__shm_create(name, g.segment_size, mode, cfg ? cfg->numa : 0,
                           cfg ? cfg->numa_flags : 0, &shm);
    if (err)
        return err;
    segment_init(shm.base, name, &g, cfg, mode, shm.node);
    munmap(shm.base, g.segment_size);
    *fd_out = shm.fd;
    return 0;
}

int shmq__segment_validate(const void *base, size_t size, struct shmq__geometry *g)
{
    if (size < SHMQ__PAGE)
        return size == 0 ? -EAGAIN : -EBADMSG;
    const struct shmq__header *h = base;
    /* A0: pairs with R0 in segment_init: the layout is complete when the magic is there. */
    uint64_t magic =
        atomic_load_explicit(&((struct shmq__header *)base)->magic, memory_order_acquire);
    if (magic == 0)
        return -EAGAIN; /* being created (or its creator died before finishing) */
    if (magic != SHMQ__MAGIC)
        return -EBADMSG;
    if (h->abi_version != SHMQ__ABI_VERSION)
        return -EPROTO;
    if (h->kind == SHMQ__KIND_TOPIC)
        return -EMEDIUMTYPE; /* a topic: opened with the topic API */
    if (h->header_size != sizeof *h || memchr(h->name, 0, sizeof h->name) == NULL)
        return -EBADMSG;
    struct shmq_config cfg = {
        .kind = (enum shmq_kind)h->kind,
        .capacity = h->capacity,
        .slot_size = h->slot_size,
        .mode = h->mode,
        .flags = h->flags,
        .max_participants = h->max_participants,
        .ttl_ns = h->ttl_ns,
        .max_deliveries = h->max_deliveries,
        .numa_flags = h->numa_flags,
    };
    if (memchr(h->dead_letter, 0, sizeof h->dead_letter) == NULL ||
        (h->dead_letter[0] && shmq_name_check(h->dead_letter) != 0) || h->numa_node < -1 ||
        h->numa_node >= (int32_t)SHMQ_NUMA_NODES_MAX)
        return -EBADMSG;
    if (h->kind > SHMQ__KIND_LIFO || !h->capacity || !h->slot_size || !h->max_participants ||
        shmq__geometry_derive(&cfg, g) != 0)
        return -EBADMSG;
    if (h->slot_stride != g->slot_stride || h->ring_order != g->ring_order ||
        h->segment_size != g->segment_size || h->off_participants != g->off_participants ||
        h->off_waits != g->off_waits || h->off_free != g->off_free ||
        h->off_ready != g->off_ready || h->off_delayed != g->off_delayed ||
        h->off_returned != g->off_returned || h->off_extras != g->off_extras ||
        h->off_slots != g->off_slots || size != g->segment_size)
        return -EBADMSG;
    return 0;
}

int shmq_unlink(const char *name)
{
    char path[SHMQ_NAME_MAX + 16];
    int err = shmq__shm_path(name, path, sizeof path);
    if (err)
        return err;
    return shm_unlink(path) == 0 ? 0 : -errno;
}

int shmq_foreach(int (*fn)(const char *name, void *arg), void *arg)
{
    if (!fn)
        return -EINVAL;
    DIR *d = opendir("/dev/shm");
    if (!d)
        return -errno;
    int r = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, SHM_PREFIX, sizeof SHM_PREFIX - 1) != 0)
            continue;
        const char *name = e->d_name + sizeof SHM_PREFIX - 1;
        if (shmq_name_check(name) != 0)
            continue;
        if ((r = fn(name, arg)) != 0)
            break;
    }
    closedir(d);
    return r;
}
