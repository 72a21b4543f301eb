/*
 * Placement: node choice (explicit, local, near a set of CPUs) on synthetic multi-node
 * topologies, binding before first touch checked where the kernel shows it (the policy in
 * /proc/self/numa_maps and the node of the pages), the error paths (a missing node, a node the
 * kernel refuses, a topology that cannot bind, a full /dev/shm after binding), and pinning.
 *
 * This machine may have one NUMA node: a real bind can only be shown on node 0, and the
 * kernel's refusal of node 1 is reached through a synthetic two-node topology declared to be
 * this system (the equivalent of HWLOC_THISSYSTEM=1). A topology not declared so binds
 * nothing, which the library must report as -ENOTSUP.
 */
#include <hwloc.h>
#include <pthread.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/mount.h>

#include "test_util.h"

#include "internal.h"
#include "numa.h"

/* ---- helpers ---------------------------------------------------------------------------- */

static cpu_set_t saved_affinity;

static int save_state(void **state)
{
    (void)state;
    return sched_getaffinity(0, sizeof saved_affinity, &saved_affinity);
}

/* After every test, even a failed one: the process topology and the thread's CPUs again. */
static int restore_state(void **state)
{
    (void)state;
    hwloc_topology_t t = shmq__numa_topology_swap(NULL);
    if (t)
        hwloc_topology_destroy(t);
    return sched_setaffinity(0, sizeof saved_affinity, &saved_affinity);
}

/* A synthetic topology, e.g. "node:2 core:2 pu:1" (PUs numbered in order: node 0 holds PUs 0
 * and 1). `thissystem`: hwloc passes binding calls to the kernel (HWLOC_THISSYSTEM=1). */
static hwloc_topology_t synthetic(const char *description, bool thissystem)
{
    hwloc_topology_t t;
    assert_int_equal(hwloc_topology_init(&t), 0);
    assert_int_equal(hwloc_topology_set_synthetic(t, description), 0);
    if (thissystem)
        assert_int_equal(hwloc_topology_set_flags(t, HWLOC_TOPOLOGY_FLAG_IS_THISSYSTEM), 0);
    assert_int_equal(hwloc_topology_load(t), 0);
    return t;
}

/* Make `t` the library's topology until the test's teardown destroys it. */
static void use_topology(hwloc_topology_t t)
{
    assert_null(shmq__numa_topology_swap(t));
}

/* What shmq_stat reports about placement: requested node, flags, located node. */
struct placement {
    int32_t requested;
    uint32_t flags;
    int32_t located;
};

static struct placement placement_of(shmq_t *q)
{
    struct shmq_stat st;
    assert_int_equal(shmq_stat(q, &st), 0);
    return (struct placement){st.numa_requested, st.numa_flags, st.numa_located};
}

/* The policy column of /proc/self/numa_maps for the mapping that starts at `addr`:
 * "default", "bind:0", "prefer:0", "prefer (many):0". */
static void numa_maps_policy(const void *addr, char *out, size_t cap)
{
    out[0] = 0;
    FILE *f = fopen("/proc/self/numa_maps", "r");
    assert_non_null(f);
    char line[4096];
    while (fgets(line, sizeof line, f)) {
        char *rest;
        unsigned long start = strtoul(line, &rest, 16);
        if (start != (unsigned long)(uintptr_t)addr || *rest != ' ')
            continue;
        const char *file = strstr(rest, " file=");
        int n = file ? (int)(file - rest - 1) : (int)strcspn(rest + 1, " \n");
        snprintf(out, cap, "%.*s", n, rest + 1);
        break;
    }
    fclose(f);
}

static bool policy_is(const char *policy, uint32_t numa_flags)
{
    if (numa_flags & SHMQ_NUMA_STRICT)
        return strcmp(policy, "bind:0") == 0; /* MPOL_BIND: node 0 only */
    size_t n = strlen(policy);                /* MPOL_PREFERRED(_MANY): node 0 first */
    return strncmp(policy, "prefer", 6) == 0 && n >= 2 && strcmp(policy + n - 2, ":0") == 0;
}

/* The node of a CPU as the kernel's sysfs says (independent of hwloc): -1 if unknown. */
static int sysfs_node_of_cpu(int cpu)
{
    for (int node = 0; node < 1024; node++) {
        char path[96];
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu%d/node%d", cpu, node);
        if (access(path, F_OK) == 0)
            return node;
    }
    return -1;
}

static void pin_to(int cpu)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    assert_int_equal(sched_setaffinity(0, sizeof set, &set), 0);
}

static bool allowed(int cpu)
{
    return CPU_ISSET(cpu, &saved_affinity);
}

static void assert_affinity_is(const cpu_set_t *want)
{
    cpu_set_t now;
    assert_int_equal(sched_getaffinity(0, sizeof now, &now), 0);
    for (int c = 0; c < CPU_SETSIZE; c++)
        if (CPU_ISSET(c, &now) != CPU_ISSET(c, want))
            fail_msg("CPU %d is %s the thread's affinity", c,
                     CPU_ISSET(c, &now) ? "in" : "missing from");
}

static void assert_gone(const char *name)
{
    assert_int_equal(shmq_unlink(name), -ENOENT);
}

/* ---- the topology ----------------------------------------------------------------------- */

#define LOADERS 8

static void *load_topology(void *arg)
{
    hwloc_topology_t *out = arg;
    return shmq__numa_topology(out) == 0 ? out : NULL;
}

/* Loaded once, lazily, whichever thread comes first. */
static void topology_is_loaded_once(void **state)
{
    (void)state;
    pthread_t th[LOADERS];
    hwloc_topology_t seen[LOADERS];
    for (int i = 0; i < LOADERS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, load_topology, &seen[i]), 0);
    for (int i = 0; i < LOADERS; i++) {
        void *r;
        assert_int_equal(pthread_join(th[i], &r), 0);
        assert_non_null(r);
        assert_non_null(seen[i]);
        assert_ptr_equal(seen[i], seen[0]);
    }
    hwloc_topology_t again;
    assert_int_equal(shmq__numa_topology(&again), 0);
    assert_ptr_equal(again, seen[0]);
}

/* ---- errors first ----------------------------------------------------------------------- */

/* A node the machine does not have is -EINVAL, strict or not, and nothing is made. */
static void missing_node_is_rejected(void **state)
{
    (void)state;
    const uint32_t nodes[] = {SHMQ_NUMA_NODE(7), SHMQ_NUMA_NODE(SHMQ_NUMA_NODES_MAX - 1)};
    const uint32_t flags[] = {0, SHMQ_NUMA_STRICT};
    hwloc_topology_t t;
    assert_int_equal(shmq__numa_topology(&t), 0);
    for (size_t n = 0; n < sizeof nodes / sizeof nodes[0]; n++) {
        if (hwloc_get_numanode_obj_by_os_index(t, nodes[n] - 1))
            continue; /* a machine with that many nodes */
        int32_t node = 0;
        assert_int_equal(shmq__numa_resolve(nodes[n], &node), -EINVAL);
        for (size_t f = 0; f < sizeof flags / sizeof flags[0]; f++) {
            const char *name = test_name("numa-missing");
            struct shmq_config cfg = {.numa = nodes[n], .numa_flags = flags[f]};
            shmq_t *q = NULL;
            assert_int_equal(shmq_create(name, &cfg, &q), -EINVAL);
            assert_null(q);
            assert_gone(name);
        }
    }
    /* The binding itself checks the node too, and unknown flags. */
    void *page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(page != MAP_FAILED);
    assert_int_equal(shmq__numa_bind(page, 4096, 7, 0), -EINVAL);
    assert_int_equal(shmq__numa_bind(page, 4096, 0, 1u << 5), -EINVAL);
    assert_int_equal(shmq__numa_bind(NULL, 4096, 0, 0), -EINVAL);
    assert_int_equal(shmq__numa_bind(page, 4096, -1, 0), 0); /* nothing asked */
    munmap(page, 4096);
}

/* A topology that cannot bind (synthetic, not this system) is reported, not trusted: the bind
 * says -ENOTSUP; a STRICT create fails and leaves nothing; a non-strict create succeeds, the
 * queue records the request and its page location says unknown; nothing was bound. */
static void machine_without_binding_is_reported(void **state)
{
    (void)state;
    use_topology(synthetic("node:2 core:2 pu:1", false));

    void *page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(page != MAP_FAILED);
    assert_int_equal(shmq__numa_bind(page, 4096, 1, 0), -ENOTSUP);
    assert_int_equal(shmq__numa_bind(page, 4096, 1, SHMQ_NUMA_STRICT), -ENOTSUP);
    ((char *)page)[0] = 1;
    assert_int_equal(shmq__numa_locate(page, 4096), SHMQ__NUMA_UNKNOWN);
    munmap(page, 4096);

    const uint32_t requests[] = {SHMQ_NUMA_NODE(1), SHMQ_NUMA_LOCAL};
    const int32_t recorded[] = {1, -1}; /* local cannot be told here: none */
    for (size_t i = 0; i < sizeof requests / sizeof requests[0]; i++) {
        const char *name = test_name("numa-nobind");
        shmq_t *q = NULL;
        struct shmq_config strict = {.numa = requests[i], .numa_flags = SHMQ_NUMA_STRICT};
        assert_int_equal(shmq_create(name, &strict, &q), -ENOTSUP);
        assert_null(q);
        assert_gone(name);

        struct shmq_config relaxed = {.numa = requests[i]};
        ASSERT_OK(shmq_create(name, &relaxed, &q));
        struct placement p = placement_of(q);
        QASSERT_EQ(q, p.requested, recorded[i]);
        QASSERT_EQ(q, p.flags, 0);
        QASSERT_EQ(q, p.located, SHMQ__NUMA_UNKNOWN);
        char policy[64];
        numa_maps_policy(q->map->base, policy, sizeof policy);
        assert_string_equal(policy, "default"); /* no bind pretended */
        assert_int_equal(shmq_pin_near(q), -ENOTSUP);
        ASSERT_OK(shmq_push(q, "x", 1, 0)); /* an ordinary queue */
        ASSERT_OK(shmq_close(q));
        ASSERT_OK(shmq_unlink(name));
    }
    assert_int_equal(shmq_pin_cpu(0), -ENOTSUP);
}

/* With the kernel in the loop (synthetic two nodes declared to be this system), node 1 exists
 * in the topology but not on this one-node machine: the kernel's EINVAL comes back, strict or
 * not, and nothing is made. Node 0 binds for real. */
static void kernel_refusal_is_an_error(void **state)
{
    (void)state;
    if (access("/sys/devices/system/node/node1", F_OK) == 0)
        skip(); /* a real second node: the kernel would accept the bind */
    use_topology(synthetic("node:2 core:1 pu:1", true));

    int32_t node = -1;
    ASSERT_OK(shmq__numa_resolve(SHMQ_NUMA_NODE(1), &node));
    assert_int_equal(node, 1); /* the topology has it... */
    void *area = mmap(NULL, 1 << 16, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(area != MAP_FAILED);
    assert_int_equal(shmq__numa_bind(area, 1 << 16, 1, 0), -EINVAL); /* ...the kernel not */
    assert_int_equal(shmq__numa_bind(area, 1 << 16, 1, SHMQ_NUMA_STRICT), -EINVAL);
    munmap(area, 1 << 16);

    const uint32_t flags[] = {0, SHMQ_NUMA_STRICT};
    for (size_t f = 0; f < sizeof flags / sizeof flags[0]; f++) {
        const char *name = test_name("numa-refused");
        struct shmq_config cfg = {.numa = SHMQ_NUMA_NODE(1), .numa_flags = flags[f]};
        shmq_t *q = NULL;
        assert_int_equal(shmq_create(name, &cfg, &q), -EINVAL);
        assert_null(q);
        assert_gone(name);

        cfg.numa = SHMQ_NUMA_NODE(0);
        ASSERT_OK(shmq_create(name, &cfg, &q));
        char policy[64];
        numa_maps_policy(q->map->base, policy, sizeof policy);
        if (!policy_is(policy, flags[f]))
            fail_msg("policy '%s' for flags %#x", policy, flags[f]);
        QASSERT_EQ(q, placement_of(q).located, 0);
        ASSERT_OK(shmq_close(q));
        ASSERT_OK(shmq_unlink(name));
    }
}

/* A full /dev/shm is still -ENOSPC at create with the binding in place before the allocation,
 * never a SIGBUS later. A child process gets a private 1 MiB /dev/shm (needs CAP_SYS_ADMIN;
 * skipped without it). */
static void full_shm_is_enospc_after_bind(void **state)
{
    (void)state;
    const char *name = test_name("numa-full");
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* Private first, so that nothing mounted here reaches the parent's /dev/shm. Where
         * the environment forbids any of it, the test is skipped (77). */
        if (unshare(CLONE_NEWNS) != 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
            mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "size=1m") != 0)
            _exit(77);
        const uint32_t requests[] = {0, SHMQ_NUMA_NODE(0), SHMQ_NUMA_LOCAL};
        const uint32_t flags[] = {0, SHMQ_NUMA_STRICT};
        for (size_t r = 0; r < sizeof requests / sizeof requests[0]; r++) {
            for (size_t f = 0; f < sizeof flags / sizeof flags[0]; f++) {
                struct shmq_config big = {.capacity = 4096,
                                          .slot_size = 1000,
                                          .numa = requests[r],
                                          .numa_flags = flags[f]}; /* about 4 MiB */
                shmq_t *q = NULL;
                CHILD_CHECK(shmq_create(name, &big, &q) == -ENOSPC);
                CHILD_CHECK(q == NULL);
                CHILD_CHECK(shmq_unlink(name) == -ENOENT);
                struct shmq_config small = big;
                small.capacity = 16;
                CHILD_CHECK(shmq_create(name, &small, &q) == 0);
                CHILD_CHECK(shmq_push(q, "x", 1, 0) == 0);
                CHILD_CHECK(shmq_close(q) == 0);
                CHILD_CHECK(shmq_unlink(name) == 0);
            }
        }
        _exit(0);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 77)
        skip();
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail_msg("child ended with %s %d", WIFEXITED(status) ? "exit status" : "signal",
                 WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
    assert_gone(name);
}

/* ---- node choice on synthetic topologies -------------------------------------------------- */

struct near_case {
    const char *topology;
    const char *cpus; /* hwloc list syntax, "" = none */
    int expect;       /* node, or -EINVAL */
};

static void node_near_a_cpuset(void **state)
{
    (void)state;
    static const struct near_case cases[] = {
        /* two nodes of two CPUs: node 0 = 0-1, node 1 = 2-3 */
        {"node:2 core:2 pu:1", "2", 1},
        {"node:2 core:2 pu:1", "1", 0},
        {"node:2 core:2 pu:1", "0,2-3", 1}, /* most of the set */
        {"node:2 core:2 pu:1", "1-2", 0},   /* a tie: the lowest node */
        {"node:2 core:2 pu:1", "0-3", 0},
        {"node:2 core:2 pu:1", "", -EINVAL},
        {"node:2 core:2 pu:1", "9", -EINVAL}, /* no such CPU */
        /* two packages of two nodes of three CPUs: nodes 0..3 = 0-2, 3-5, 6-8, 9-11 */
        {"pack:2 node:2 core:3 pu:1", "11", 3},
        {"pack:2 node:2 core:3 pu:1", "5-7", 2},
        {"pack:2 node:2 core:3 pu:1", "2-4", 1},
        {"pack:2 node:2 core:3 pu:1", "4,9-10", 3},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const struct near_case *c = &cases[i];
        hwloc_topology_t t = synthetic(c->topology, false);
        hwloc_topology_t before = shmq__numa_topology_swap(t);
        hwloc_bitmap_t set = hwloc_bitmap_alloc();
        assert_non_null(set);
        assert_int_equal(hwloc_bitmap_list_sscanf(set, c->cpus), 0);
        int32_t node = -7;
        int r = shmq__numa_node_near(set, &node);
        if ((c->expect < 0 && r != c->expect) || (c->expect >= 0 && (r != 0 || node != c->expect)))
            fail_msg("%s, CPUs {%s}: returned %d, node %d; expected %d", c->topology, c->cpus, r,
                     (int)node, c->expect);
        hwloc_bitmap_free(set);
        assert_ptr_equal(shmq__numa_topology_swap(before), t);
        hwloc_topology_destroy(t);
    }
}

/* An explicit node is taken as it is when the topology has it; 0 is no placement. */
static void explicit_nodes_resolve(void **state)
{
    (void)state;
    use_topology(synthetic("pack:2 node:2 core:1 pu:1", false));
    const struct {
        uint32_t request;
        int ret;
        int32_t node;
    } cases[] = {
        {0, 0, -1},
        {SHMQ_NUMA_NODE(0), 0, 0},
        {SHMQ_NUMA_NODE(3), 0, 3},
        {SHMQ_NUMA_NODE(4), -EINVAL, -1},
        {SHMQ_NUMA_NODE(SHMQ_NUMA_NODES_MAX), -EINVAL, -1},
        {SHMQ_NUMA_LOCAL, -ENOTSUP, -1}, /* not this system: the CPU cannot be told */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int32_t node = -7;
        int r = shmq__numa_resolve(cases[i].request, &node);
        if (r != cases[i].ret || node != cases[i].node)
            fail_msg("request %#x: returned %d, node %d; expected %d, node %d", cases[i].request, r,
                     (int)node, cases[i].ret, (int)cases[i].node);
    }
}

/* `local` is the node of the CPU the creator runs on: with the synthetic two nodes declared
 * to be this system (CPU 0 in node 0, CPU 1 in node 1), moving the thread moves the choice;
 * a queue made from CPU 1 asks the kernel for node 1, which refuses it here. */
static void local_follows_the_cpu(void **state)
{
    (void)state;
    if (!allowed(0) || !allowed(1))
        skip();
    use_topology(synthetic("node:2 core:1 pu:1", true));
    for (int cpu = 0; cpu < 2; cpu++) {
        pin_to(cpu);
        int32_t node = -7;
        ASSERT_OK(shmq__numa_resolve(SHMQ_NUMA_LOCAL, &node));
        assert_int_equal(node, cpu);
    }
    if (access("/sys/devices/system/node/node1", F_OK) != 0) {
        const char *name = test_name("numa-local1");
        struct shmq_config cfg = {.numa = SHMQ_NUMA_LOCAL};
        shmq_t *q = NULL;
        assert_int_equal(shmq_create(name, &cfg, &q), -EINVAL); /* pinned to CPU 1 */
        assert_gone(name);
        pin_to(0);
        ASSERT_OK(shmq_create(name, &cfg, &q));
        QASSERT_EQ(q, placement_of(q).requested, 0);
        ASSERT_OK(shmq_close(q));
        ASSERT_OK(shmq_unlink(name));
    }
}

/* ---- real placement on this machine ------------------------------------------------------- */

/* A queue bound to node 0: the policy is on the object (seen in this process's own mapping,
 * made after creation, and in another process's), the pages are on node 0 by hwloc's account
 * of the whole mapping, and the stat reports request, flags and location. */
static void bind_node0_for_real(void **state)
{
    (void)state;
    hwloc_topology_t t;
    assert_int_equal(shmq__numa_topology(&t), 0);
    if (!hwloc_topology_get_support(t)->membind->set_area_membind)
        skip();
    const struct shmq_config shapes[] = {
        {.kind = SHMQ_FIFO, .capacity = 4096, .slot_size = 200},
        {.kind = SHMQ_LIFO, .capacity = 100, .slot_size = 41},
        {.kind = SHMQ_FIFO,
         .capacity = 64,
         .slot_size = 64,
         .flags = SHMQ_SINGLE_PRODUCER | SHMQ_SINGLE_CONSUMER},
    };
    const uint32_t flags[] = {0, SHMQ_NUMA_STRICT};
    hwloc_nodeset_t where = hwloc_bitmap_alloc();
    assert_non_null(where);
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        for (size_t f = 0; f < sizeof flags / sizeof flags[0]; f++) {
            const char *name = test_name("numa-node0");
            struct shmq_config cfg = shapes[s];
            cfg.numa = SHMQ_NUMA_NODE(0);
            cfg.numa_flags = flags[f];
            shmq_t *q;
            ASSERT_OK(shmq_create(name, &cfg, &q));
            ASSERT_OK(shmq_push(q, "placed", 6, 0));

            struct placement p = placement_of(q);
            QASSERT_EQ(q, p.requested, 0);
            QASSERT_EQ(q, p.flags, flags[f]);
            QASSERT_EQ(q, p.located, 0);

            char policy[64];
            numa_maps_policy(q->map->base, policy, sizeof policy);
            if (!policy_is(policy, flags[f]))
                fail_msg("policy '%s' for flags %#x", policy, flags[f]);

            assert_int_equal(madvise(q->map->base, q->map->size, MADV_POPULATE_READ), 0);
            assert_int_equal(hwloc_get_area_memlocation(t, q->map->base, q->map->size, where,
                                                        HWLOC_MEMBIND_BYNODESET),
                             0);
            assert_int_equal(hwloc_bitmap_weight(where), 1);
            assert_int_equal(hwloc_bitmap_first(where), 0);

            pid_t pid = fork();
            assert_true(pid >= 0);
            if (pid == 0) {
                shmq_t *other;
                CHILD_CHECK(shmq_open(name, &other) == 0);
                char seen[64];
                numa_maps_policy(other->map->base, seen, sizeof seen);
                CHILD_CHECK(strcmp(seen, policy) == 0);
                struct placement o = placement_of(other);
                CHILD_CHECK(o.requested == 0 && o.located == 0);
                CHILD_CHECK(shmq_close(other) == 0);
                _exit(0);
            }
            test_wait_child(pid);
            ASSERT_OK(shmq_close(q));
            ASSERT_OK(shmq_unlink(name));
        }
    }
    hwloc_bitmap_free(where);
}

/* No placement asked: the kernel's default policy, nothing recorded, and the location is
 * still reported (first touch by the creator). */
static void unbound_queue_reports_location(void **state)
{
    (void)state;
    const char *name = test_name("numa-none");
    shmq_t *q;
    ASSERT_OK(shmq_create(name, NULL, &q));
    char policy[64];
    numa_maps_policy(q->map->base, policy, sizeof policy);
    assert_string_equal(policy, "default");
    struct placement p = placement_of(q);
    QASSERT_EQ(q, p.requested, -1);
    QASSERT_EQ(q, p.flags, 0);
    if (access("/sys/devices/system/node/node1", F_OK) != 0)
        QASSERT_EQ(q, p.located, 0); /* one node: where else */
    else
        assert_true(p.located >= 0 || p.located == SHMQ__NUMA_SEVERAL);
    ASSERT_OK(shmq_close(q));
    ASSERT_OK(shmq_unlink(name));
}

/* `local` records the creator's node, as sysfs tells it, from every CPU it may run on. */
static void local_is_the_creators_node(void **state)
{
    (void)state;
    hwloc_topology_t t;
    assert_int_equal(shmq__numa_topology(&t), 0);
    if (!hwloc_topology_get_support(t)->membind->set_area_membind)
        skip();
    for (int cpu = 0; cpu < CPU_SETSIZE; cpu++) {
        if (!allowed(cpu))
            continue;
        int expect = sysfs_node_of_cpu(cpu);
        if (expect < 0)
            continue;
        pin_to(cpu);
        const char *name = test_name("numa-local");
        struct shmq_config cfg = {.numa = SHMQ_NUMA_LOCAL, .numa_flags = SHMQ_NUMA_STRICT};
        shmq_t *q;
        ASSERT_OK(shmq_create(name, &cfg, &q));
        struct placement p = placement_of(q);
        QASSERT_EQ(q, p.requested, expect);
        QASSERT_EQ(q, p.located, expect);
        ASSERT_OK(shmq_close(q));
        ASSERT_OK(shmq_unlink(name));
    }
}

/* The sample is bounded and spread: a range of many pages is located by at most
 * SHMQ__NUMA_SAMPLE_PAGES of them; odd bounds and empty ranges are handled. */
static void locate_samples_a_range(void **state)
{
    (void)state;
    assert_int_equal(shmq__numa_locate(NULL, 4096), SHMQ__NUMA_UNKNOWN);
    size_t len = 4096 * 1000;
    unsigned char *area =
        mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(area != MAP_FAILED);
    assert_int_equal(shmq__numa_locate(area, 0), SHMQ__NUMA_UNKNOWN);
    pin_to(sched_getcpu()); /* first touch from one CPU, hence one node */
    memset(area, 1, len);
    int expect = sysfs_node_of_cpu(sched_getcpu());
    if (expect < 0)
        skip();
    assert_int_equal(shmq__numa_locate(area, len), expect);
    assert_int_equal(shmq__numa_locate(area + 100, 10), expect);              /* inside one page */
    assert_int_equal(shmq__numa_locate(area + 4000, 200), expect);            /* across two */
    assert_int_equal(shmq__numa_locate(area + 4096 * 10, 4096 * 60), expect); /* one call */
    munmap(area, len);
}

/* ---- pinning ----------------------------------------------------------------------------- */

static void pin_cpu_pins_the_thread(void **state)
{
    (void)state;
    assert_int_equal(shmq_pin_cpu(-1), -EINVAL);
    assert_int_equal(shmq_pin_cpu(CPU_SETSIZE * 4), -EINVAL);
    for (int cpu = 0; cpu < 2; cpu++) {
        if (!allowed(cpu))
            continue;
        ASSERT_OK(shmq_pin_cpu(cpu));
        cpu_set_t want;
        CPU_ZERO(&want);
        CPU_SET(cpu, &want);
        assert_affinity_is(&want);
        assert_int_equal(sched_getcpu(), cpu);
    }
}

/* pin_near runs the thread on the CPUs of the queue's node: widened from one CPU to all of
 * node 0 here; on the synthetic two nodes declared to be this system, node 0 is CPU 0 only,
 * for a queue bound there and for an unbound one (found by its pages). */
static void pin_near_a_node0_queue(void **state)
{
    (void)state;
    assert_int_equal(shmq_pin_near(NULL), -EINVAL);
    hwloc_topology_t t;
    assert_int_equal(shmq__numa_topology(&t), 0);
    const char *name = test_name("numa-near");
    struct shmq_config cfg = {.numa = SHMQ_NUMA_NODE(0)};
    shmq_t *q;
    ASSERT_OK(shmq_create(name, &cfg, &q));
    ASSERT_OK(shmq_pin_cpu(sched_getcpu())); /* one CPU... */
    ASSERT_OK(shmq_pin_near(q));             /* ...then all of node 0 */
    cpu_set_t want;
    CPU_ZERO(&want);
    for (int cpu = 0; cpu < CPU_SETSIZE; cpu++)
        if (allowed(cpu) && sysfs_node_of_cpu(cpu) == 0)
            CPU_SET(cpu, &want);
    assert_affinity_is(&want);
    ASSERT_OK(shmq_close(q));
    ASSERT_OK(shmq_unlink(name));

    if (!allowed(0) || !allowed(1))
        skip();
    use_topology(synthetic("node:2 core:1 pu:1", true));
    const char *bound = test_name("numa-near0");
    const char *unbound = test_name("numa-near-");
    shmq_t *b, *u;
    ASSERT_OK(shmq_create(bound, &cfg, &b));
    ASSERT_OK(shmq_create(unbound, NULL, &u));
    CPU_ZERO(&want);
    CPU_SET(0, &want);
    shmq_t *both[] = {b, u};
    for (size_t i = 0; i < 2; i++) {
        pin_to(1);
        ASSERT_OK(shmq_pin_near(both[i]));
        assert_affinity_is(&want);
    }
    ASSERT_OK(shmq_close(b));
    ASSERT_OK(shmq_close(u));
    ASSERT_OK(shmq_unlink(bound));
    ASSERT_OK(shmq_unlink(unbound));
}

#define T(f) cmocka_unit_test_setup_teardown(f, save_state, restore_state)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(topology_is_loaded_once),
        T(missing_node_is_rejected),
        T(machine_without_binding_is_reported),
        T(kernel_refusal_is_an_error),
        T(full_shm_is_enospc_after_bind),
        T(node_near_a_cpuset),
        T(explicit_nodes_resolve),
        T(local_follows_the_cpu),
        T(bind_node0_for_real),
        T(unbound_queue_reports_location),
        T(local_is_the_creators_node),
        T(locate_samples_a_range),
        T(pin_cpu_pins_the_thread),
        T(pin_near_a_node0_queue),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
