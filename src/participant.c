/*
 * The participant table: one entry per open handle, with its identity (pid and process start
 * time, so that a reused pid does not make a dead participant look alive), its roles, its
 * operation counter and its counters.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "participant.h"

/* The start time of process pid (clock ticks after boot), or 0 when there is no such live
 * process. */
uint64_t shmq__process_start_time(int32_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = 0;
    /* Field 2 (comm) may hold spaces and parentheses: fields resume after the last ')'. */
    char *p = strrchr(buf, ')');
    if (!p)
        return 0;
    p++;
    /* Fields 3 .. 21 precede the start time (field 22). Field 3 is the state: a zombie (Z)
     * or a dying task (X) has exited — it only waits for its parent — so it counts as gone,
     * and what it held is given back at once rather than when the parent reaps it. */
    for (int field = 3; field <= 22; field++) {
        while (*p == ' ')
            p++;
        if (field == 3 && (*p == 'Z' || *p == 'X'))
            return 0;
        if (field == 22)
            return strtoull(p, NULL, 10);
        while (*p && *p != ' ')
            p++;
    }
    return 0;
}

/* The start time of this process, read once per pid (a forked child reads its own). Shared by
 * the participant tables of queues and topics. */
uint64_t shmq__self_start_time(void)
{
    static _Atomic int32_t cached_pid;
    static _Atomic uint64_t cached;
    int32_t pid = (int32_t)getpid();
    /* Acquire: pairs with the release below: the time was stored before the pid. */
    if (atomic_load_explicit(&cached_pid, memory_order_acquire) == pid)
        return atomic_load_explicit(&cached, memory_order_relaxed);
    uint64_t t = shmq__process_start_time(pid);
    atomic_store_explicit(&cached, t, memory_order_relaxed);
    /* Pairs with the acquire above: the time is stored before the pid that vouches for it. */
    atomic_store_explicit(&cached_pid, pid, memory_order_release);
    return t;
}

int shmq__pid_alive(int32_t pid, uint64_t start_time)
{
    if (pid <= 0)
        return 0;
    if (kill(pid, 0) != 0 && errno != EPERM)
        return 0;
    /* The pid exists; it is the same process only if it started at the same time. */
    uint64_t start = shmq__process_start_time(pid);
    return start != 0 && start == start_time;
}

int shmq__owner_alive(int32_t pid, uint64_t start_time)
{
    if (start_time != 0)
        return shmq__pid_alive(pid, start_time);
    return pid > 0 && (kill(pid, 0) == 0 || errno == EPERM);
}

int shmq__participant_alive(const struct shmq__participant *p)
{
    /* A7: pairs with R7 in shmq__participant_init: the identity read below is complete. */
    uint64_t w = atomic_load_explicit(&p->word, memory_order_acquire);
    if (shmq__part_state(w) != SHMQ__PART_LIVE)
        return 0;
    return shmq__pid_alive(shmq__part_pid(w), p->start_time);
}

static void counters_zero(struct shmq__counters *c)
{
    _Atomic uint64_t *w = &c->pushed;
    for (size_t i = 0; i < sizeof *c / sizeof *w; i++)
        atomic_store_explicit(&w[i], 0, memory_order_relaxed);
}

void shmq__participant_init(struct shmq__mapping *m, uint32_t index)
{
    struct shmq__participant *p = &m->parts[index];
    p->start_time = shmq__self_start_time();
    p->opened_ns = shmq__now_real();
    atomic_store_explicit(&p->roles, 0, memory_order_relaxed);
    atomic_store_explicit(&p->heartbeat_ns, (uint64_t)shmq__now_mono(), memory_order_relaxed);
    /* op moves on to the next even value: "between steps". It must not restart from a dead
     * owner's odd value (inside a step), which would invert its meaning for grace periods,
     * and it must not go back to a value a running grace period may have recorded. */
    uint64_t op = atomic_load_explicit(&p->op, memory_order_relaxed);
    atomic_store_explicit(&p->op, (op | 1) + 1, memory_order_relaxed);
    counters_zero(&p->counters);
    /* R7: identity before LIVE. Pairs with A7 in readers of the table (stat, reaper). */
    atomic_store_explicit(&p->word, shmq__part_word((int32_t)getpid(), SHMQ__PART_LIVE),
                          memory_order_release);
}

int shmq__entry_take(void *table, size_t stride, uint32_t n, uint64_t word)
{
    unsigned char *base = table;
    for (uint32_t i = 0; i < n; i++) {
        _Atomic uint64_t *w = (_Atomic uint64_t *)(base + (size_t)i * stride);
        uint64_t expect = 0;
        if (atomic_load_explicit(w, memory_order_relaxed) != 0)
            continue;
        /* Acquire: pairs with the release that freed the entry (shmq__participant_retire,
         * the topic's part_retire and member_leave, the reapers): the previous owner's
         * counters were folded in before the entry was free. */
        if (atomic_compare_exchange_strong_explicit(w, &expect, word, memory_order_acquire,
                                                    memory_order_relaxed))
            return (int)i;
    }
    return -EUSERS;
}

int shmq__participant_join(struct shmq__mapping *m, uint32_t *index_out)
{
    int i = shmq__entry_take(m->parts, sizeof *m->parts, m->geo.max_participants,
                             shmq__part_word((int32_t)getpid(), SHMQ__PART_OPENING));
    if (i < 0)
        return i;
    shmq__participant_init(m, (uint32_t)i);
    *index_out = (uint32_t)i;
    return 0;
}

void shmq__participant_fold(struct shmq__mapping *m, uint32_t index)
{
    struct shmq__participant *p = &m->parts[index];
    struct shmq__header *h = m->hdr;
    /* Fold the counters into the retired totals so stat keeps counting them. Relaxed: they
     * are statistics, and the release below orders them before the entry's reuse. */
    _Atomic uint64_t *from = &p->counters.pushed, *to = &h->retired.pushed;
    for (size_t i = 0; i < sizeof p->counters / sizeof *from; i++)
        atomic_fetch_add_explicit(&to[i], atomic_load_explicit(&from[i], memory_order_relaxed),
                                  memory_order_relaxed);
    counters_zero(&p->counters);
    uint32_t me = index + 1;
    /* Give up single roles the participant holds. Release: pairs with the acquire CAS in
     * role_take (queue.c): the holder's last writes to the ring counters are visible to the
     * next holder. */
    atomic_compare_exchange_strong_explicit(&h->single_producer, &me, 0, memory_order_release,
                                            memory_order_relaxed);
    me = index + 1;
    atomic_compare_exchange_strong_explicit(&h->single_consumer, &me, 0, memory_order_release,
                                            memory_order_relaxed);
    atomic_store_explicit(&p->roles, 0, memory_order_relaxed);
}

bool shmq__participant_retire(struct shmq__mapping *m, uint32_t index, uint64_t word)
{
    shmq__participant_fold(m, index);
    /* Release: pairs with the acquire CAS in shmq__entry_take. Only from the word the
     * caller knows (its own, or the dead owner's it saw): never free someone else's entry. */
    return atomic_compare_exchange_strong_explicit(&m->parts[index].word, &word, 0,
                                                   memory_order_release, memory_order_relaxed);
}
