/*
 * shmq/placement.h — NUMA placement: where a queue's or topic's memory is bound at creation
 * (the numa and numa_flags fields of struct shmq_config and struct shmq_topic_config), and
 * pinning threads near it. Placement uses hwloc; on a machine where it cannot bind memory or
 * pin threads, the calls below say -ENOTSUP and creation without SHMQ_NUMA_STRICT falls back
 * to the kernel's first touch. See shmq/common.h for the conventions every function follows.
 */
#ifndef SHMQ_API_PLACEMENT_H
#define SHMQ_API_PLACEMENT_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Values of shmq_config.numa / shmq_topic_config.numa (0 = no binding) and numa_flags. */
#define SHMQ_NUMA_LOCAL UINT32_MAX             /* the node of the CPU the creator runs on */
#define SHMQ_NUMA_NODE(n) ((uint32_t)(n) + 1u) /* an explicit node */
#define SHMQ_NUMA_STRICT (1u << 0)             /* fail rather than fall back to other nodes */

/*
 * Pin the calling thread to the CPUs of the NUMA node the queue's memory is bound to (the
 * node recorded at creation if this machine has it), or else of the node(s) its pages are on
 * now (sampled), so an unbound queue is pinned near wherever first touch put it. The thread's
 * previous affinity is replaced, not narrowed.
 * Threads: any thread, with any handle of the queue (observers too); it changes only the
 * calling thread. Ordering: none (reads the queue's header and page locations). Blocking:
 * system calls (hwloc, sched_setaffinity); the first call of a process loads the topology.
 * Never waits on the queue. Errors: -EINVAL (NULL q), -ENOTSUP (this machine cannot pin
 * threads, or the queue's node is unknown or has no CPU), -ENOMEM, or the errno of the
 * binding call. On failure the thread's affinity is unchanged.
 */
SHMQ_EXPORT int shmq_pin_near(shmq_t *q);

/*
 * Pin the calling thread to one CPU (its OS number, as in /proc/cpuinfo and taskset).
 * Threads: any thread; changes only the calling thread. Ordering: none (no queue involved).
 * Blocking: system calls only.
 * Errors: -EINVAL (the CPU does not exist or is not allowed to this process), -ENOTSUP (this
 * machine cannot pin threads), -ENOMEM, or the errno of the binding call. On failure the
 * thread's affinity is unchanged.
 */
SHMQ_EXPORT int shmq_pin_cpu(int cpu);

#ifdef __cplusplus
}
#endif

#endif /* SHMQ_API_PLACEMENT_H */
