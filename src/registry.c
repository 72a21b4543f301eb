/*
 * The process-local registry of mapped segments: one mapping per shm object (and access
 * mode) per process, shared by all its handles.
 *
 * Lookups run under urcu-bp read-side locks (no registration burden on the application's
 * threads) in an rculfhash keyed by the object's device and inode — not by name, so a queue
 * that was removed and created again under the same name gets a mapping of its own. A mapping
 * is reference-counted by its handles; the last release deletes it from the table, waits for
 * an RCU grace period (so no concurrent lookup still holds it) and only then unmaps it.
 *
 * The table is created without automatic resizing, so liburcu starts no worker thread behind
 * the application's back, and fork is made safe with urcu-bp's atfork handlers.
 */
#include <pthread.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <urcu-bp.h>
#include <urcu/rculfhash.h>

#include "internal.h"
#include "wait.h"

struct registry_entry {
    struct cds_lfht_node node;
    struct shmq__mapping map;
};

struct registry_key {
    dev_t dev;
    ino_t ino;
    bool writable;
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
    return (unsigned long)(h ^ (uint64_t)k->writable);
}

static int key_match(struct cds_lfht_node *node, const void *key)
{
    const struct registry_key *k = key;
    const struct shmq__mapping *m = &caa_container_of(node, struct registry_entry, node)->map;
    return m->dev == k->dev && m->ino == k->ino && m->writable == k->writable;
}

/* Take a reference unless the mapping is already on its way out (refs == 0). */
static bool try_ref(struct shmq__mapping *m)
{
    long refs = atomic_load_explicit(&m->refs, memory_order_relaxed);
    while (refs > 0)
        /* Acquire on success: pairs with the release decrement in shmq__registry_release,
         * so we see the mapping fully set up. */
        if (atomic_compare_exchange_weak_explicit(&m->refs, &refs, refs + 1, memory_order_acquire,
                                                  memory_order_relaxed))
            return true;
    return false;
}

static struct shmq__mapping *lookup(const struct registry_key *k, unsigned long hash)
{
    struct cds_lfht_iter iter;
    struct shmq__mapping *found = NULL;
    urcu_bp_read_lock();
    cds_lfht_lookup(table, hash, key_match, k, &iter);
    struct cds_lfht_node *node = cds_lfht_iter_get_node(&iter);
    if (node) {
        struct shmq__mapping *m = &caa_container_of(node, struct registry_entry, node)->map;
        if (try_ref(m))
            found = m;
    }
    urcu_bp_read_unlock();
    return found;
}

/* Map fd and validate it into a new entry. */
static int map_new(int fd, const struct stat *st, bool writable, struct registry_entry **out)
{
    size_t size = (size_t)st->st_size;
    struct shmq__geometry geo;
    if (size < SHMQ__PAGE)
        return size == 0 ? -EAGAIN : -EBADMSG;
    void *base = mmap(NULL, size, PROT_READ | (writable ? PROT_WRITE : 0), MAP_SHARED, fd, 0);
    if (base == MAP_FAILED)
        return -errno;
    int err = shmq__segment_validate(base, size, &geo);
    if (err) {
        munmap(base, size);
        return err;
    }
    struct registry_entry *e = calloc(1, sizeof *e);
    if (!e) {
        munmap(base, size);
        return -ENOMEM;
    }
    cds_lfht_node_init(&e->node);
    e->map.dev = st->st_dev;
    e->map.ino = st->st_ino;
    e->map.writable = writable;
    e->map.base = base;
    e->map.size = size;
    e->map.owner_uid = st->st_uid;
    e->map.geo = geo;
    e->map.registry_node = e;
    shmq__mapping_derive(&e->map);
    atomic_init(&e->map.refs, 1);
    *out = e;
    return 0;
}

static void entry_free(struct registry_entry *e)
{
    munmap(e->map.base, e->map.size);
    free(e);
}

int shmq__registry_acquire(int fd, bool writable, struct shmq__mapping **out)
{
    pthread_once(&table_once, table_init);
    if (!table)
        return -ENOMEM;
    shmq__wait_process_init();
    struct stat st;
    if (fstat(fd, &st) != 0)
        return -errno;
    struct registry_key k = {.dev = st.st_dev, .ino = st.st_ino, .writable = writable};
    unsigned long hash = key_hash(&k);
    for (;;) {
        struct shmq__mapping *m = lookup(&k, hash);
        if (m) {
            *out = m;
            return 0;
        }
        struct registry_entry *e = NULL;
        int err = map_new(fd, &st, writable, &e);
        if (err)
            return err;
        urcu_bp_read_lock();
        struct cds_lfht_node *won = cds_lfht_add_unique(table, hash, key_match, &k, &e->node);
        bool added = won == &e->node;
        urcu_bp_read_unlock();
        if (added) {
            *out = &e->map;
            return 0;
        }
        /* Another thread mapped it first: use theirs (the next lookup takes a reference),
         * or, if theirs is being removed, try again once it is gone. */
        entry_free(e);
        sched_yield();
    }
}

void shmq__registry_release(struct shmq__mapping *m)
{
    /* Release: our last uses of the mapping happen before whoever frees it. */
    if (atomic_fetch_sub_explicit(&m->refs, 1, memory_order_acq_rel) != 1)
        return;
    struct registry_entry *e = m->registry_node;
    urcu_bp_read_lock();
    cds_lfht_del(table, &e->node);
    urcu_bp_read_unlock();
    /* Wait until no lookup can still be looking at the entry, then unmap. */
    urcu_bp_synchronize_rcu();
    entry_free(e);
}
