/*
 * Kill torture: producer and consumer processes (claim, a little work, ack) run while a
 * killer SIGKILLs random ones at random moments and starts replacements. A side log in
 * shared memory records what each producer incarnation confirmed (its push returned) and
 * what consumers were handed. At the end, with the killing stopped, the survivors drain the
 * queue and the test checks:
 *   - every message whose push returned is delivered at least once, intact;
 *   - duplicates only for messages whose consumer died before acking: at most one per
 *     consumer killed;
 *   - nothing wedges: the drain finishes within a deadline;
 *   - the whole capacity is usable again and nothing is left in flight.
 * In the plain shapes, consumers take every other message with shmq_pop instead (its copy
 * path under kills): they pop into a buffer in the shared side log, so that when the killer
 * kills a consumer between shmq_pop's copy and the log entry, it logs what the buffer holds
 * on the consumer's behalf (a duplicate when the kill came after the entry: one per kill).
 * SHMQ_TORTURE_SECONDS sets the killing time (default 15 s per shape), SHMQ_TORTURE_ONLY the
 * shapes (fifo, lifo, spsc, fifo-tasks, lifo-tasks); the figures are printed.
 */
#include <signal.h>
#include <stdatomic.h>
#include <sys/mman.h>

#include "test_util.h"

#define PER_INCARNATION 4000 /* messages a producer incarnation pushes at most */

enum { PRODUCERS = 2, CONSUMERS = 3, WORKERS = PRODUCERS + CONSUMERS };

struct message {
    uint32_t incarnation, seq;
    uint64_t check;
};

/* The side log, in shared memory: sized for the run (about 150 incarnations a second). */
struct board {
    struct message popbuf[WORKERS]; /* where worker i's shmq_pop copies to; all ones = none */
    _Atomic uint32_t next_incarnation;
    _Atomic uint32_t stop_producing;
    _Atomic uint32_t stop_consuming;
    _Atomic uint32_t failures;
    _Atomic uint64_t deliveries;
    uint32_t incarnations;      /* capacity of the two arrays below */
    _Atomic int32_t *confirmed; /* highest seq whose push returned, -1 = none */
    _Atomic uint8_t (*delivered)[PER_INCARNATION];
};
#define INCARNATIONS (b->incarnations)

static uint64_t check_of(uint32_t inc, uint32_t seq)
{
    return ((uint64_t)inc * 0x9e3779b97f4a7c15u) ^ ((uint64_t)seq * 0xc2b2ae3d27d4eb4fu);
}

static void complain(struct board *b, const char *what, uint32_t inc, uint32_t seq)
{
    if (atomic_fetch_add(&b->failures, 1) < 5)
        fprintf(stderr, "torture: %s (incarnation %u seq %u)\n", what, inc, seq);
}

/* The task shape: producers push batches too, the queue has a TTL (long enough that nothing
 * expires), and consumers retry one message in sixteen with a short delayed nack. Set before
 * the workers fork. */
static bool task_shape;

static void producer(struct board *b, const char *name)
{
    shmq_t *q;
    if (shmq_open(name, &q) != 0)
        _exit(0); /* e.g. the table is momentarily full: the killer starts another */
    uint32_t inc = atomic_fetch_add(&b->next_incarnation, 1);
    if (inc >= INCARNATIONS)
        _exit(0);
    unsigned seed = inc;
    for (uint32_t seq = 0; seq < PER_INCARNATION && !atomic_load(&b->stop_producing);) {
        if (task_shape && rand_r(&seed) % 4 == 0 && seq + 8 <= PER_INCARNATION) {
            struct message ms[8];
            struct iovec iov[8];
            for (uint32_t k = 0; k < 8; k++) {
                ms[k] = (struct message){inc, seq + k, check_of(inc, seq + k)};
                iov[k] = (struct iovec){&ms[k], sizeof ms[k]};
            }
            int r = shmq_push_batch(q, iov, 8, 20 * MS);
            if (r == -ETIMEDOUT || r == -EAGAIN)
                continue;
            if (r < 0) {
                complain(b, shmq_strerror(r), inc, seq);
                break;
            }
            seq += (uint32_t)r;
            atomic_store(&b->confirmed[inc], (int32_t)seq - 1); /* after the push returned */
            continue;
        }
        struct message m = {inc, seq, check_of(inc, seq)};
        int err = shmq_push(q, &m, sizeof m, 20 * MS);
        if (err == -ETIMEDOUT || err == -EAGAIN)
            continue;
        if (err) {
            complain(b, shmq_strerror(err), inc, seq);
            break;
        }
        atomic_store(&b->confirmed[inc], (int32_t)seq); /* after the push returned */
        seq++;
    }
    shmq_close(q);
    _exit(0);
}

/* Log one delivery of msg: false when it is not a message any producer sent. */
static bool log_delivery(struct board *b, const struct message *msg)
{
    if (msg->incarnation >= INCARNATIONS || msg->seq >= PER_INCARNATION ||
        msg->check != check_of(msg->incarnation, msg->seq))
        return false;
    atomic_fetch_add(&b->delivered[msg->incarnation][msg->seq], 1);
    atomic_fetch_add(&b->deliveries, 1);
    return true;
}

/* A message taken with shmq_pop into the shared buffer of worker `me`. */
static void pop_one(struct board *b, shmq_t *q, unsigned me)
{
    volatile struct message *buf = &b->popbuf[me];
    ssize_t r = shmq_pop(q, (void *)buf, sizeof *buf, 20 * MS);
    if (r == -ETIMEDOUT || r == -EAGAIN)
        return;
    struct message msg;
    memcpy(&msg, (const void *)buf, sizeof msg);
    if (r != (ssize_t)sizeof msg)
        complain(b, r < 0 ? shmq_strerror((int)r) : "wrong length", 0, 0);
    else if (!log_delivery(b, &msg))
        complain(b, "corrupt message", msg.incarnation, msg.seq);
    memset((void *)buf, 0xff, sizeof *buf); /* logged: nothing for the killer to salvage */
}

static void consumer(struct board *b, const char *name, unsigned seed, unsigned me)
{
    shmq_t *q;
    if (shmq_open(name, &q) != 0)
        _exit(0);
    while (!atomic_load(&b->stop_consuming)) {
        if (!task_shape && rand_r(&seed) % 2 == 0) {
            pop_one(b, q, me);
            continue;
        }
        struct shmq_msg m;
        int err = shmq_claim(q, &m, 20 * MS);
        if (err == -ETIMEDOUT || err == -EAGAIN)
            continue;
        if (err) {
            complain(b, shmq_strerror(err), 0, 0);
            break;
        }
        struct message msg;
        if (m.len != sizeof msg) {
            complain(b, "wrong length", 0, 0);
            continue;
        }
        memcpy(&msg, m.data, sizeof msg);
        if (task_shape && rand_r(&seed) % 16 == 0) {
            /* A retry after a short delay: not a delivery either. */
            if ((err = shmq_nack_delayed(q, &m, 2 * MS)) != 0)
                complain(b, shmq_strerror(err), 0, 0);
            continue;
        }
        if (rand_r(&seed) % 8 == 0) {
            /* Given back undelivered, as an interrupted pipeline does: not a delivery; it
             * must come back (first in line), and kills now also land inside releases. */
            if ((err = shmq_release(q, &m)) != 0)
                complain(b, shmq_strerror(err), 0, 0);
            continue;
        }
        if (!log_delivery(b, &msg))
            complain(b, "corrupt message", msg.incarnation, msg.seq);
        for (volatile unsigned spin = rand_r(&seed) % 2000; spin; spin--) /* "work" */
            ;
        if ((err = shmq_ack(q, &m)) != 0)
            complain(b, shmq_strerror(err), msg.incarnation, msg.seq);
    }
    shmq_close(q);
    _exit(0);
}

static pid_t spawn(struct board *b, const char *name, int role, unsigned seed, unsigned me)
{
    pid_t pid = fork();
    if (pid == 0) {
        if (role < PRODUCERS)
            producer(b, name);
        consumer(b, name, seed, me);
    }
    return pid;
}

static const char *shape_name(enum shmq_kind kind, uint32_t flags)
{
    return task_shape          ? (kind == SHMQ_LIFO ? "lifo-tasks" : "fifo-tasks")
           : kind == SHMQ_LIFO ? "lifo"
           : flags             ? "spsc"
                               : "fifo";
}

static void torture(enum shmq_kind kind, uint32_t flags, unsigned producers, unsigned consumers)
{
    /* SHMQ_TORTURE_ONLY=spsc (a shape name, or several separated by commas) for long runs of
     * one shape by hand. */
    const char *only = getenv("SHMQ_TORTURE_ONLY");
    if (only && only[0]) {
        char list[128];
        snprintf(list, sizeof list, ",%s,", only);
        char want[32];
        snprintf(want, sizeof want, ",%s,", shape_name(kind, flags));
        if (!strstr(list, want)) {
            fprintf(stderr, "  torture %s: skipped (SHMQ_TORTURE_ONLY)\n", shape_name(kind, flags));
            return;
        }
    }
    double seconds = 15;
    const char *env = getenv("SHMQ_TORTURE_SECONDS");
    if (env && atof(env) > 0)
        seconds = atof(env);
    uint32_t incarnations = (uint32_t)(seconds * 200) + 1000;
    size_t board_size = sizeof(struct board) + (size_t)incarnations * sizeof(int32_t) +
                        (size_t)incarnations * PER_INCARNATION;
    struct board *b =
        mmap(NULL, board_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    assert_true(b != MAP_FAILED);
    b->incarnations = incarnations;
    b->confirmed = (_Atomic int32_t *)(b + 1);
    b->delivered = (_Atomic uint8_t(*)[PER_INCARNATION])(b->confirmed + incarnations);
    for (uint32_t i = 0; i < INCARNATIONS; i++)
        atomic_init(&b->confirmed[i], -1);
    const char *name = test_name("torture");
    shmq_t *q;
    uint32_t capacity = 64;
    ASSERT_OK(shmq_create(name,
                          &(struct shmq_config){.kind = kind,
                                                .flags = flags,
                                                .capacity = capacity,
                                                .slot_size = 40,
                                                .ttl_ns = task_shape ? 3600000 * MS : 0},
                          &q));
    pid_t pids[WORKERS];
    int roles[WORKERS];
    unsigned n = producers + consumers;
    memset(b->popbuf, 0xff, sizeof b->popbuf);
    for (unsigned i = 0; i < n; i++) {
        roles[i] = i < producers ? 0 : PRODUCERS;
        pids[i] = spawn(b, name, roles[i], i, i);
    }
    unsigned seed = (unsigned)getpid();
    uint64_t kills = 0, consumer_kills = 0, salvaged = 0;
    int64_t start = test_now_ns(), end = start + (int64_t)(seconds * 1e9);
    while (test_now_ns() < end && atomic_load(&b->next_incarnation) < INCARNATIONS - 64) {
        usleep(1000 + rand_r(&seed) % 15000);
        unsigned victim = rand_r(&seed) % n;
        kill(pids[victim], SIGKILL);
        waitpid(pids[victim], NULL, 0);
        kills++;
        consumer_kills += roles[victim] != 0;
        /* A message its shmq_pop copied out but it did not log: logged for it. */
        struct message left;
        memcpy(&left, &b->popbuf[victim], sizeof left);
        if (roles[victim] != 0 && log_delivery(b, &left))
            salvaged++;
        memset(&b->popbuf[victim], 0xff, sizeof left);
        /* reap finished workers too (a producer incarnation ends after its quota) */
        for (unsigned i = 0; i < n; i++)
            if (i == victim || waitpid(pids[i], NULL, WNOHANG) == pids[i])
                pids[i] = spawn(b, name, roles[i], seed + (unsigned)kills * 31u + i, i);
    }
    double killed_for = (double)(test_now_ns() - start) / 1e9;
    /* Stop killing; producers stop, consumers drain. */
    atomic_store(&b->stop_producing, 1);
    for (unsigned i = 0; i < n; i++)
        if (roles[i] == 0)
            waitpid(pids[i], NULL, 0);
    /* Everything confirmed must now come out, within a deadline. */
    uint32_t used = atomic_load(&b->next_incarnation);
    if (used > INCARNATIONS)
        used = INCARNATIONS;
    int64_t drain_deadline = test_now_ns() + 60LL * 1000 * MS;
    uint64_t missing = 0;
    for (;;) {
        missing = 0;
        for (uint32_t i = 0; i < used; i++)
            for (int32_t s = 0; s <= atomic_load(&b->confirmed[i]); s++)
                missing += atomic_load(&b->delivered[i][s]) == 0;
        if (missing == 0 || test_now_ns() > drain_deadline)
            break;
        usleep(20000);
    }
    atomic_store(&b->stop_consuming, 1);
    for (unsigned i = 0; i < n; i++)
        if (roles[i] != 0)
            waitpid(pids[i], NULL, 0);

    uint64_t confirmed = 0, duplicates = 0;
    for (uint32_t i = 0; i < used; i++) {
        confirmed += (uint64_t)(atomic_load(&b->confirmed[i]) + 1);
        for (uint32_t s = 0; s < PER_INCARNATION; s++)
            duplicates += atomic_load(&b->delivered[i][s]) > 1;
    }
    struct shmq_repair_report report;
    ASSERT_OK(shmq_repair(q, &report));
    struct shmq_stat st;
    ASSERT_OK(shmq_stat(q, &st));
    fprintf(
        stderr,
        "  torture %s: %.1f s of killing, %llu kills (%llu consumers), %u producer incarnations, "
        "%llu messages confirmed, %llu deliveries, %llu duplicates, %llu recovered, "
        "%llu redelivered, %llu popped messages logged for their killed consumer\n",
        shape_name(kind, flags), killed_for, (unsigned long long)kills,
        (unsigned long long)consumer_kills, used, (unsigned long long)confirmed,
        (unsigned long long)atomic_load(&b->deliveries), (unsigned long long)duplicates,
        (unsigned long long)st.recovered, (unsigned long long)st.redelivered,
        (unsigned long long)salvaged);
    if (missing || atomic_load(&b->failures) || duplicates > consumer_kills) {
        fprintf(stderr, "  missing %llu, failures %u, duplicates %llu > consumer kills %llu?\n",
                (unsigned long long)missing, atomic_load(&b->failures),
                (unsigned long long)duplicates, (unsigned long long)consumer_kills);
        test_dump(q);
        fail();
    }
    /* Nothing left in flight, the invariants hold, and the whole capacity is usable again. */
    QASSERT_EQ(q, st.dead, 0);
    char why[256];
    if (shmq_check(q, why, sizeof why) != 0)
        fail_msg("invariants broken after the torture: %s", why);
    char buf[64];
    while (shmq_pop(q, buf, sizeof buf, 0) > 0) /* late duplicates of redelivered messages */
        ;
    for (uint32_t i = 0; i < capacity; i++)
        ASSERT_OK(shmq_push(q, "x", 1, 0));
    assert_int_equal(shmq_push(q, "x", 1, 0), -EAGAIN);
    shmq_close(q);
    shmq_unlink(name);
    munmap(b, board_size);
}

static void torture_fifo(void **state)
{
    (void)state;
    torture(SHMQ_FIFO, 0, PRODUCERS, CONSUMERS);
}

static void torture_lifo(void **state)
{
    (void)state;
    torture(SHMQ_LIFO, 0, PRODUCERS, CONSUMERS);
}

static void torture_spsc(void **state)
{
    (void)state;
    torture(SHMQ_FIFO, SHMQ_SINGLE_PRODUCER | SHMQ_SINGLE_CONSUMER, 1, 1);
}

/* With batches, a TTL and delayed retries (the free-slot stash, the delayed ring and its
 * due word under kills). */
static void torture_fifo_tasks(void **state)
{
    (void)state;
    task_shape = true;
    torture(SHMQ_FIFO, 0, PRODUCERS, CONSUMERS);
    task_shape = false;
}

static void torture_lifo_tasks(void **state)
{
    (void)state;
    task_shape = true;
    torture(SHMQ_LIFO, 0, PRODUCERS, CONSUMERS);
    task_shape = false;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(torture_fifo),       cmocka_unit_test(torture_lifo),
        cmocka_unit_test(torture_spsc),       cmocka_unit_test(torture_fifo_tasks),
        cmocka_unit_test(torture_lifo_tasks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
