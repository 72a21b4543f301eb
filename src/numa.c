/*
 * Placement with hwloc: the process topology, node choice, binding a segment before its
 * first touch, where its pages really are, and pinning threads near a queue.
 *
 * What Linux does with each request (hwloc 2.9, seen with strace here): a strict binding is
 * mbind(MPOL_BIND), a non-strict one mbind(MPOL_PREFERRED_MANY) or MPOL_PREFERRED; a page's
 * node is move_pages() without a target, which reports only pages present in the caller's
 * page tables; pinning is sched_setaffinity() of the calling thread.
 */
#include <hwloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/mman.h>
#include <unistd.h>

#include "handle.h"
#include "numa.h"

/* Loaded at most once (pthread_once orders the store before every later reader); never
 * freed: the process keeps it until exit. NULL if hwloc could not load one. */
static hwloc_topology_t process_topology;
static pthread_once_t process_topology_once = PTHREAD_ONCE_INIT;
/* Set by tests only (shmq__numa_topology_swap). */
static _Atomic(hwloc_topology_t) topology_override;

static void process_topology_load(void)
{
    hwloc_topology_t t;
    if (hwloc_topology_init(&t) != 0)
        return;
    if (hwloc_topology_load(t) != 0) {
        hwloc_topology_destroy(t);
        return;
    }
    process_topology = t;
}

int shmq__numa_topology(struct hwloc_topology **out)
{
    /* AN1: pairs with RN1 in shmq__numa_topology_swap: a test's topology is fully loaded
     * before it is used here. */
    hwloc_topology_t t = atomic_load_explicit(&topology_override, memory_order_acquire);
    if (!t) {
        pthread_once(&process_topology_once, process_topology_load);
        t = process_topology;
    }
    *out = t;
    return t ? 0 : -ENOTSUP;
}

struct hwloc_topology *shmq__numa_topology_swap(struct hwloc_topology *t)
{
    /* RN1: pairs with AN1 in shmq__numa_topology: the topology is loaded before it is
     * published; acquire: the caller may destroy the one it gets back. */
    return atomic_exchange_explicit(&topology_override, t, memory_order_acq_rel);
}

/* hwloc's failure (in errno) as a shmq error: "cannot do that here" is -ENOTSUP. */
static int hwloc_failure(void)
{
    int e = errno;
    if (e == ENOSYS || e == EXDEV || e == ENOTSUP)
        return -ENOTSUP;
    return e > 0 ? -e : -EINVAL;
}

/* The NUMA node object with OS number `node`, NULL if the topology has none (or the number
 * could not be recorded in a segment header). */
static hwloc_obj_t node_object(hwloc_topology_t t, int32_t node)
{
    if (node < 0 || node >= (int32_t)SHMQ_NUMA_NODES_MAX)
        return NULL;
    return hwloc_get_numanode_obj_by_os_index(t, (unsigned)node);
}

static int node_near(hwloc_topology_t t, hwloc_const_cpuset_t cpuset, int32_t *node)
{
    hwloc_bitmap_t both = hwloc_bitmap_alloc();
    if (!both)
        return -ENOMEM;
    int best = 0;
    int32_t found = -1;
    for (hwloc_obj_t o = NULL; (o = hwloc_get_next_obj_by_type(t, HWLOC_OBJ_NUMANODE, o));) {
        if (!o->cpuset || !node_object(t, (int32_t)o->os_index) ||
            hwloc_bitmap_and(both, o->cpuset, cpuset) != 0)
            continue;
        int w = hwloc_bitmap_weight(both);
        if (w > best || (w > 0 && w == best && (int32_t)o->os_index < found)) {
            best = w;
            found = (int32_t)o->os_index;
        }
    }
    hwloc_bitmap_free(both);
    if (found < 0)
        return -EINVAL;
    *node = found;
    return 0;
}

int shmq__numa_node_near(const struct hwloc_bitmap_s *cpuset, int32_t *node)
{
    hwloc_topology_t t;
    int err = shmq__numa_topology(&t);
    if (err)
        return err;
    return cpuset ? node_near(t, cpuset, node) : -EINVAL;
}

/* The node of the CPU the calling thread last ran on. */
static int local_node(hwloc_topology_t t, int32_t *node)
{
    if (!hwloc_topology_get_support(t)->cpubind->get_thisthread_last_cpu_location)
        return -ENOTSUP;
    hwloc_cpuset_t here = hwloc_bitmap_alloc();
    if (!here)
        return -ENOMEM;
    int err = hwloc_get_last_cpu_location(t, here, HWLOC_CPUBIND_THREAD) == 0
                  ? node_near(t, here, node)
                  : hwloc_failure();
    hwloc_bitmap_free(here);
    return err;
}

int shmq__numa_resolve(uint32_t request, int32_t *node)
{
    *node = -1;
    if (request == 0)
        return 0; /* no placement: hwloc is not even loaded */
    hwloc_topology_t t;
    int err = shmq__numa_topology(&t);
    if (err)
        return err;
    if (request == SHMQ_NUMA_LOCAL)
        return local_node(t, node);
    int32_t n = (int32_t)(request - 1); /* SHMQ_NUMA_NODE(n) */
    if (request - 1 >= SHMQ_NUMA_NODES_MAX || !node_object(t, n))
        return -EINVAL;
    *node = n;
    return 0;
}

int shmq__numa_bind(void *addr, size_t len, int32_t node, uint32_t flags)
{
    if (node < 0)
        return 0;
    if (!addr || (flags & ~SHMQ_NUMA_STRICT))
        return -EINVAL;
    hwloc_topology_t t;
    int err = shmq__numa_topology(&t);
    if (err)
        return err;
    /* A synthetic topology "binds" by doing nothing and returning 0: only a topology that
     * says it can bind an area is asked to. */
    const struct hwloc_topology_membind_support *s = hwloc_topology_get_support(t)->membind;
    if (!s->set_area_membind || !s->bind_membind)
        return -ENOTSUP;
    if (!node_object(t, node))
        return -EINVAL;
    hwloc_nodeset_t set = hwloc_bitmap_alloc();
    if (!set)
        return -ENOMEM;
    int hflags = HWLOC_MEMBIND_BYNODESET;
    if (flags & SHMQ_NUMA_STRICT)
        hflags |= HWLOC_MEMBIND_STRICT;
    if (hwloc_bitmap_only(set, (unsigned)node) != 0)
        err = -ENOMEM;
    else if (hwloc_set_area_membind(t, addr, len, set, HWLOC_MEMBIND_BIND, hflags) != 0)
        err = hwloc_failure();
    hwloc_bitmap_free(set);
    return err;
}

static size_t page_size(void)
{
    long p = sysconf(_SC_PAGESIZE);
    return p > 0 ? (size_t)p : SHMQ__PAGE;
}

/* Add the nodes of the pages of [at, at + len) to `where`. `populate`: map the pages first
 * rather than only when nothing is found. */
static void sample(hwloc_topology_t t, uintptr_t at, size_t len, bool populate,
                   hwloc_nodeset_t where, hwloc_nodeset_t one)
{
    const int flags = HWLOC_MEMBIND_BYNODESET;
    if (!populate && hwloc_get_area_memlocation(t, (const void *)at, len, one, flags) == 0 &&
        !hwloc_bitmap_iszero(one)) {
        (void)hwloc_bitmap_or(where, where, one);
        return;
    }
#ifdef MADV_POPULATE_READ
    /* The kernel reports only pages mapped in this process: map them, by a read fault (see
     * shmq__numa_locate). A failure leaves the pages unknown. */
    (void)madvise((void *)at, len, MADV_POPULATE_READ);
#endif
    if (hwloc_get_area_memlocation(t, (const void *)at, len, one, flags) == 0)
        (void)hwloc_bitmap_or(where, where, one);
}

/* The nodes holding the sampled pages of [addr, addr + len), into `where` (empty: unknown). */
static int locate_set(hwloc_topology_t t, const void *addr, size_t len, hwloc_nodeset_t where)
{
    hwloc_bitmap_zero(where);
    if (!addr || !len || !hwloc_topology_get_support(t)->membind->get_area_memlocation)
        return 0;
    hwloc_nodeset_t one = hwloc_bitmap_alloc();
    if (!one)
        return -ENOMEM;
    size_t page = page_size();
    uintptr_t start = (uintptr_t)addr & ~(uintptr_t)(page - 1);
    size_t pages = ((uintptr_t)addr + len - start + page - 1) / page;
    if (pages <= SHMQ__NUMA_SAMPLE_PAGES) {
        /* One call for the whole range: populating all of it costs one system call, and
         * a page missing from this process would otherwise go unnoticed. */
        sample(t, start, pages * page, true, where, one);
    } else {
        /* Page by page: a page already mapped here (every call after the first) costs one
         * move_pages() and no populate. */
        for (size_t i = 0; i < SHMQ__NUMA_SAMPLE_PAGES; i++) {
            uintptr_t at = start + i * pages / SHMQ__NUMA_SAMPLE_PAGES * page;
            sample(t, at, page, false, where, one);
        }
    }
    hwloc_bitmap_free(one);
    return 0;
}

int32_t shmq__numa_locate(const void *addr, size_t len)
{
    hwloc_topology_t t;
    if (shmq__numa_topology(&t) != 0)
        return SHMQ__NUMA_UNKNOWN;
    hwloc_nodeset_t where = hwloc_bitmap_alloc();
    if (!where)
        return SHMQ__NUMA_UNKNOWN;
    int32_t node = SHMQ__NUMA_UNKNOWN;
    if (locate_set(t, addr, len, where) == 0) {
        int w = hwloc_bitmap_weight(where);
        node = w == 1 ? (int32_t)hwloc_bitmap_first(where) : w > 1 ? SHMQ__NUMA_SEVERAL : node;
    }
    hwloc_bitmap_free(where);
    return node;
}

static size_t slots_bytes(const struct shmq__mapping *m)
{
    return (size_t)m->geo.capacity * m->geo.slot_stride;
}

void shmq__numa_stat(const struct shmq__mapping *m, int32_t *requested, uint32_t *flags,
                     int32_t *located)
{
    /* Plain reads: written once by the creator before R0 (the magic) in segment_init and
     * read after A0 at open. Untrusted like all of the header: out of range reads as none. */
    int32_t node = m->hdr->numa_node;
    *requested = node < -1 || node >= (int32_t)SHMQ_NUMA_NODES_MAX ? -1 : node;
    *flags = m->hdr->numa_flags & SHMQ_NUMA_STRICT;
    *located = shmq__numa_locate(m->slots, slots_bytes(m));
}

static int pin_thread(hwloc_topology_t t, hwloc_const_cpuset_t cpus)
{
    if (hwloc_bitmap_iszero(cpus))
        return -ENOTSUP; /* no CPU to run on (a node without CPUs of its own) */
    return hwloc_set_cpubind(t, cpus, HWLOC_CPUBIND_THREAD) == 0 ? 0 : hwloc_failure();
}

/*
 * Pin the calling thread to the CPUs of the queue's node: the node recorded at creation if
 * this machine has it, else the node(s) its slots are on now (sampled), so an unbound queue is
 * pinned near wherever first touch put it. The thread's previous affinity is replaced, not
 * narrowed. Any thread may call it, with any handle of the queue (observers too); it makes
 * system calls and does not block on the queue.
 * Returns 0; -EINVAL for a NULL handle; -ENOTSUP when this machine cannot pin threads or the
 * queue's node is unknown. A failure leaves the thread's affinity unchanged.
 */
int shmq_pin_near(shmq_t *q)
{
    if (!q)
        return -EINVAL;
    hwloc_topology_t t;
    int err = shmq__numa_topology(&t);
    if (err)
        return err;
    if (!hwloc_topology_get_support(t)->cpubind->set_thisthread_cpubind)
        return -ENOTSUP;
    hwloc_nodeset_t nodes = hwloc_bitmap_alloc();
    hwloc_cpuset_t cpus = hwloc_bitmap_alloc();
    if (!nodes || !cpus) {
        err = -ENOMEM;
        goto out;
    }
    const struct shmq__mapping *m = q->map;
    /* A plain read, as in shmq__numa_stat; node_object() bounds it. */
    int32_t node = m->hdr->numa_node;
    if (node_object(t, node))
        err = hwloc_bitmap_only(nodes, (unsigned)node) == 0 ? 0 : -ENOMEM;
    else
        err = locate_set(t, m->slots, slots_bytes(m), nodes);
    if (!err)
        err = hwloc_cpuset_from_nodeset(t, cpus, nodes) == 0 ? pin_thread(t, cpus) : -ENOMEM;
out:
    hwloc_bitmap_free(nodes);
    hwloc_bitmap_free(cpus);
    return err;
}

/*
 * Pin the calling thread to one CPU (its OS number, as in /proc/cpuinfo and taskset). Any
 * thread may call it; it makes system calls and never blocks.
 * Returns 0; -EINVAL when the CPU does not exist or is not allowed to this process; -ENOTSUP
 * when this machine cannot pin threads. A failure leaves the thread's affinity unchanged.
 */
int shmq_pin_cpu(int cpu)
{
    if (cpu < 0)
        return -EINVAL;
    hwloc_topology_t t;
    int err = shmq__numa_topology(&t);
    if (err)
        return err;
    if (!hwloc_topology_get_support(t)->cpubind->set_thisthread_cpubind)
        return -ENOTSUP;
    /* The topology holds only the CPUs this process may use. */
    if (!hwloc_get_pu_obj_by_os_index(t, (unsigned)cpu))
        return -EINVAL;
    hwloc_cpuset_t set = hwloc_bitmap_alloc();
    if (!set)
        return -ENOMEM;
    err = hwloc_bitmap_only(set, (unsigned)cpu) == 0 ? pin_thread(t, set) : -ENOMEM;
    hwloc_bitmap_free(set);
    return err;
}
