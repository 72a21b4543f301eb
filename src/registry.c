/*
 * The process-local registry of mapped segments: one mapping per shm object (and access
 * mode) per process, shared by all its handles — queue handles and topic handles alike.
 *
 * Lookups run under urcu-bp read-side locks (no registration burden on the application's
 * threads) in an rculfhash keyed by the object's device and inode — not by name, so a queue
 * that was removed and created again under the same name gets a mapping of its own. A mapping
 * is reference-counted by its handles; the last release deletes it from the table, waits for
 * an RCU grace period (so no concurrent lookup still holds it) and only then unmaps it.
 *
 * The registry maps and counts; what a mapping holds is the kind's business. A queue's entry
 * is a struct shmq__mapping, validated and derived by segment.c; any other kind (a topic)
 * gets a struct shmq__shared_map and passes its own validation as a callback, which also
 * fills the kind's trusted copy of its geometry (calling up into the topic files directly
 * would make a cycle: they call the registry).
 *
 * The table is created without automatic resizing, so liburcu starts no worker thread behind
 * the application's back, and fork is made safe with urcu-bp's atfork handlers.
 */
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <urcu-bp.h>
#include <urcu/rculfhash.h>

#include "segment.h"
#include "wait.h"

/* Kinds of entry: a queue's (struct shmq__mapping), or another kind's (SHMQ__KIND_TOPIC). */
#define KIND_QUEUE UINT32_MAX

struct registry_key {
    dev_t dev;
    ino_t ino;
    bool writable;
    uint32_t kind; /* KIND_QUEUE or the kind given to shmq__registry_acquire_kind */
};

struct registry_entry {
    struct cds_lfht_node node;
    struct registry_key key;
    _Atomic long refs; /* handles using it; 0 = being removed */
    union {
        struct shmq__mapping map;      /* KIND_QUEUE */
        struct shmq__shared_map other; /* any other kind */
    };
    max_align_t derived[]; /* other kinds: their trusted geometry (other.derived) */
};

static struct cds_lfht *table;
static pthread_once_t table_once = PTHREAD_ONCE_INIT;

static void table_init(void)
{
    table = cds_lfht_new_flavor(64, 64, 0, 0, &urcu_bp_flavor, NULL);
    pthread_atfork(urcu_bp_before_fork, urcu_bp_after_fork_parent, urcu_bp_after_fork_child);
}

static unsigned long key_hash(const struct registry_key *k)
{
    uint64_t h = (uint64_t)k->dev * UINT64_C(0x9e3779b97f4a7c15);
    h ^= (uint64_t)k->ino + UINT64_C(0x632be59bd9b4e019) + (h << 6) + (h >> 2);
    return (unsigned long)(h ^ (uint64_t)k->writable ^ ((uint64_t)k->kind << 1));
}

static int key_match(struct cds_lfht_node *node, const void *key)
{
    const struct registry_key *k = key;
    const struct registry_key *e = &caa_container_of(node, struct registry_entry, node)->key;
    return e->dev == k->dev && e->ino == k->ino && e->writable == k->writable && e->kind == k->kind;
}

/* Take a reference unless the mapping is already on its way out (refs == 0). */
static bool try_ref(struct registry_entry *e)
{
    long refs = atomic_load_explicit(&e->refs, memory_order_relaxed);
    while (refs > 0)
        /* Acquire on success: pairs with the release decrement in entry_release, so we see
         * the mapping fully set up. */
        if (atomic_compare_exchange_weak_explicit(&e->refs, &refs, refs + 1, memory_order_acquire,
                                                  memory_order_relaxed))
            return true;
    return false;
}

static struct registry_entry *lookup(const struct registry_key *k, unsigned long hash)
{
    struct cds_lfht_iter iter;
    struct registry_entry *found = NULL;
    urcu_bp_read_lock();
    cds_lfht_lookup(table, hash, key_match, k, &iter);
    struct cds_lfht_node *node = cds_lfht_iter_get_node(&iter);
    if (node) {
        struct registry_entry *e = caa_container_of(node, struct registry_entry, node);
        if (try_ref(e))
            found = e;
    }
    urcu_bp_read_unlock();
    return found;
}

/* How a kind is validated: a queue by segment.c, any other kind by its callback. */
struct registry_kind {
    shmq__map_validate_fn validate; /* NULL for a queue */
    size_t derived_size;
};

/* Map fd and validate it into a new entry. */
static int map_new(int fd, const struct stat *st, const struct registry_key *k,
                   const struct registry_kind *kind, struct registry_entry **out)
{
    size_t size = (size_t)st->st_size;
    if (size < SHMQ__PAGE)
        return size == 0 ? -EAGAIN : -EBADMSG;
    void *base = mmap(NULL, size, PROT_READ | (k->writable ? PROT_WRITE : 0), MAP_SHARED, fd, 0);
    if (base == MAP_FAILED)
        return -errno;
    struct registry_entry *e = calloc(1, sizeof *e + kind->derived_size);
    if (!e) {
        munmap(base, size);
        return -ENOMEM;
    }
    int err = k->kind == KIND_QUEUE ? shmq__segment_validate(base, size, &e->map.geo)
                                    : kind->validate(base, size, e->derived);
    if (err) {
        munmap(base, size);
        free(e);
        return err;
    }
    cds_lfht_node_init(&e->node);
    e->key = *k;
    atomic_init(&e->refs, 1);
    if (k->kind == KIND_QUEUE) {
        e->map.base = base;
        e->map.size = size;
        e->map.owner_uid = st->st_uid;
        e->map.registry_node = e;
        shmq__mapping_derive(&e->map);
    } else {
        e->other.base = base;
        e->other.size = size;
        e->other.owner_uid = st->st_uid;
        e->other.writable = k->writable;
        e->other.derived = e->derived;
        e->other.registry_node = e;
    }
    *out = e;
    return 0;
}

static void entry_free(struct registry_entry *e)
{
    if (e->key.kind == KIND_QUEUE)
        munmap(e->map.base, e->map.size);
    else
        munmap(e->other.base, e->other.size);
    free(e);
}

/* The entry of fd's object for this access mode and kind: found with a new reference, or
 * mapped, validated and added with one. */
static int entry_acquire(int fd, bool writable, uint32_t kind_id, const struct registry_kind *kind,
                         struct registry_entry **out)
{
    pthread_once(&table_once, table_init);
    if (!table)
        return -ENOMEM;
    shmq__wait_process_init();
    struct stat st;
    if (fstat(fd, &st) != 0)
        return -errno;
    struct registry_key k = {
        .dev = st.st_dev, .ino = st.st_ino, .writable = writable, .kind = kind_id};
    unsigned long hash = key_hash(&k);
    for (;;) {
        struct registry_entry *e = lookup(&k, hash);
        if (e) {
            *out = e;
            return 0;
        }
        int err = map_new(fd, &st, &k, kind, &e);
        if (err)
            return err;
        urcu_bp_read_lock();
        struct cds_lfht_node *won = cds_lfht_add_unique(table, hash, key_match, &k, &e->node);
        bool added = won == &e->node;
        urcu_bp_read_unlock();
        if (added) {
            *out = e;
            return 0;
        }
        /* Another thread mapped it first: use theirs (the next lookup takes a reference),
         * or, if theirs is being removed, try again once it is gone. */
        entry_free(e);
        sched_yield();
    }
}

static void entry_release(struct registry_entry *e)
{
    /* Release: our last uses of the mapping happen before whoever frees it (the acquire
     * half, for the last one, pairs with the releases of the others). */
    if (atomic_fetch_sub_explicit(&e->refs, 1, memory_order_acq_rel) != 1)
        return;
    urcu_bp_read_lock();
    cds_lfht_del(table, &e->node);
    urcu_bp_read_unlock();
    /* Wait until no lookup can still be looking at the entry, then unmap. */
    urcu_bp_synchronize_rcu();
    entry_free(e);
}

int shmq__registry_acquire(int fd, bool writable, struct shmq__mapping **out)
{
    static const struct registry_kind queue = {.validate = NULL, .derived_size = 0};
    struct registry_entry *e;
    int err = entry_acquire(fd, writable, KIND_QUEUE, &queue, &e);
    if (err == 0)
        *out = &e->map;
    return err;
}

void shmq__registry_release(struct shmq__mapping *m)
{
    entry_release(m->registry_node);
}

int shmq__registry_acquire_kind(int fd, bool writable, uint32_t kind,
                                shmq__map_validate_fn validate, size_t derived_size,
                                struct shmq__shared_map **out)
{
    if (kind == KIND_QUEUE || !validate)
        return -EINVAL;
    const struct registry_kind k = {.validate = validate, .derived_size = derived_size};
    struct registry_entry *e;
    int err = entry_acquire(fd, writable, kind, &k, &e);
    if (err == 0)
        *out = &e->other;
    return err;
}

void shmq__registry_ref_kind(struct shmq__shared_map *m)
{
    struct registry_entry *e = m->registry_node;
    /* Relaxed: the caller holds a reference already, so the entry cannot go meanwhile. */
    atomic_fetch_add_explicit(&e->refs, 1, memory_order_relaxed);
}

void shmq__registry_release_kind(struct shmq__shared_map *m)
{
    entry_release(m->registry_node);
}
