/*
 * Placement: which NUMA node a segment's memory lives on, and which CPUs run near it.
 *
 * Everything goes through hwloc and one topology per process, loaded at the first call that
 * needs it (pthread_once) and kept until exit; queues created without placement never load
 * it. hwloc's queries and binding calls only read the topology, so any thread may call any
 * function here concurrently.
 *
 * Nodes are OS node numbers (what numactl and /sys/devices/system/node call them). A binding
 * is trusted only when the topology says it can bind: a synthetic or XML topology (tests, or
 * HWLOC_SYNTHETIC / HWLOC_XMLFILE in the environment) reports no binding support unless it is
 * declared to be this system, and then these functions say -ENOTSUP instead of pretending.
 *
 * Errors are negative errno values; nothing prints.
 */
#ifndef SHMQ_NUMA_H
#define SHMQ_NUMA_H

#include <stddef.h>
#include <stdint.h>

#include "segment.h"

/* hwloc's types, without its header: hwloc_topology_t and hwloc_const_cpuset_t. */
struct hwloc_topology;
struct hwloc_bitmap_s;

/* shmq__numa_locate: no page of the sample could be located (not supported, or not
 * allocated yet), or the sampled pages are on several nodes. */
#define SHMQ__NUMA_UNKNOWN (-1)
#define SHMQ__NUMA_SEVERAL (-2)

/* At most this many pages are sampled by shmq__numa_locate, however large the range. */
#define SHMQ__NUMA_SAMPLE_PAGES 64u

/* The topology used by every function below: the process's, loaded on first use; or the one
 * a test installed. 0, or -ENOTSUP when hwloc cannot describe this machine. */
int shmq__numa_topology(struct hwloc_topology **out);

/* Tests only: use `t` instead of the process topology (NULL = back to the process's own);
 * returns the topology used before. The caller keeps ownership of `t` and must not swap while
 * another thread is in a placement call. */
struct hwloc_topology *shmq__numa_topology_swap(struct hwloc_topology *t);

/*
 * The node for a configuration's `numa` request: 0 = none (-1, without loading hwloc);
 * SHMQ_NUMA_NODE(n) = n if the topology has node n (a node outside the process's allowed set
 * does not count), else -EINVAL; SHMQ_NUMA_LOCAL = the node of the CPU the calling thread last
 * ran on, -ENOTSUP if the topology cannot tell.
 */
int shmq__numa_resolve(uint32_t request, int32_t *node);

/* The node nearest a set of CPUs (OS numbers): the one holding most of them, the lowest node
 * number on a tie. -EINVAL when no node holds any of them. */
int shmq__numa_node_near(const struct hwloc_bitmap_s *cpuset, int32_t *node);

/*
 * Bind [addr, addr + len) to `node` before its pages are first touched (-1: nothing to do,
 * 0). With SHMQ_NUMA_STRICT the kernel may place the pages on that node only (Linux
 * MPOL_BIND); without it the node is preferred and the kernel falls back to others when it is
 * full (MPOL_PREFERRED). On a shared mapping of a shm object the policy belongs to the object:
 * every page allocated for it later follows the policy, whoever touches it.
 * -ENOTSUP when the topology cannot bind memory, -EINVAL when the node does not exist here
 * (or the kernel refuses it); the mapping's policy is unchanged on failure.
 */
int shmq__numa_bind(void *addr, size_t len, int32_t node, uint32_t flags);

/*
 * Where the pages of [addr, addr + len) are: at most SHMQ__NUMA_SAMPLE_PAGES pages spread
 * evenly over the range are asked (a few tens of microseconds for 64). A node number,
 * SHMQ__NUMA_SEVERAL or SHMQ__NUMA_UNKNOWN. The kernel reports only pages mapped in the
 * caller's page tables, so the sampled pages are mapped first by a read fault (no store; on a
 * segment, all of whose pages were allocated at creation, it allocates nothing; past the end
 * of a truncated object it fails quietly instead of raising SIGBUS).
 */
int32_t shmq__numa_locate(const void *addr, size_t len);

/* For shmq_stat: the node recorded at creation (-1 none), the creation's SHMQ_NUMA_* flags,
 * and the sampled location of the slots. */
void shmq__numa_stat(const struct shmq__mapping *m, int32_t *requested, uint32_t *flags,
                     int32_t *located);

#endif /* SHMQ_NUMA_H */
