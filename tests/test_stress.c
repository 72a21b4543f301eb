/*
 * Stress: producers and consumers in separate processes (or threads) move every message of a
 * known set through one queue, and the test checks each one:
 *   - no loss and no duplicate: every (producer, seq) is acknowledged exactly once;
 *   - content: every byte of every payload matches what its producer wrote;
 *   - order: each consumer sees each producer's first deliveries in increasing seq (FIFO);
 *     for a LIFO, the final drain (producers stopped) returns what is left newest first.
 * One template runs every mode: copy, batch, zero-copy with nacks, spinning or blocking.
 * SHMQ_STRESS_SCALE multiplies the message counts for long runs.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <sys/mman.h>

#include "test_util.h"

enum api { API_COPY, API_BATCH, API_ZERO_COPY };
enum runner { RUN_PROCESSES, RUN_THREADS };

struct plan {
    const char *label;
    enum shmq_kind kind;
    uint32_t flags;
    enum api api;
    enum runner runner;
    unsigned producers, consumers;
    uint32_t per_producer; /* before scaling */
    uint32_t capacity, slot_size;
    bool blocking;     /* SHMQ_FOREVER-style waits instead of spinning on -EAGAIN */
    bool nack_some;    /* zero-copy consumers nack about 1 in 50 first deliveries */
    bool drain_at_end; /* consumers start after producers finish (LIFO order check) */
};

/* Shared between every process of a run (MAP_SHARED | MAP_ANONYMOUS before fork). */
struct board {
    _Atomic uint64_t acked_total;
    _Atomic uint32_t failures;
    _Atomic uint32_t producers_done;
    uint32_t per_producer;
    _Atomic uint8_t acked[]; /* producers x per_producer */
};

struct header {
    uint32_t producer;
    uint32_t seq;
};

static size_t payload_len(const struct plan *p, uint32_t producer, uint32_t seq)
{
    uint32_t span = p->slot_size - (uint32_t)sizeof(struct header) + 1;
    return sizeof(struct header) + (seq * 2654435761u + producer * 97u) % span;
}

static unsigned char payload_byte(uint32_t producer, uint32_t seq, size_t k)
{
    return (unsigned char)(producer * 131u + seq * 7u + k * 13u);
}

static void payload_fill(unsigned char *buf, uint32_t producer, uint32_t seq, size_t len)
{
    struct header h = {producer, seq};
    memcpy(buf, &h, sizeof h);
    for (size_t k = sizeof h; k < len; k++)
        buf[k] = payload_byte(producer, seq, k);
}

static void fail_run(struct board *b, const char *what, uint32_t producer, uint32_t seq)
{
    if (atomic_fetch_add(&b->failures, 1) < 5)
        fprintf(stderr, "stress: %s (producer %u seq %u)\n", what, producer, seq);
}

/* ---- producer ---- */

static int64_t wait_ns(const struct plan *p)
{
    return p->blocking ? 200 * MS : 0;
}

static void produce(const struct plan *p, struct board *b, shmq_t *q, uint32_t me)
{
    unsigned char buf[4096];
    struct iovec iov[32];
    static _Thread_local unsigned char batch_buf[32][4096];
    uint32_t n = b->per_producer;
    for (uint32_t seq = 0; seq < n;) {
        int err;
        if (p->api == API_BATCH) {
            unsigned k = 0;
            for (; k < 32 && seq + k < n; k++) {
                size_t len = payload_len(p, me, seq + k);
                payload_fill(batch_buf[k], me, seq + k, len);
                iov[k] = (struct iovec){batch_buf[k], len};
            }
            err = shmq_push_batch(q, iov, k, wait_ns(p));
            if (err > 0) {
                seq += (uint32_t)err;
                continue;
            }
        } else if (p->api == API_ZERO_COPY) {
            struct shmq_msg m;
            size_t len = payload_len(p, me, seq);
            err = shmq_reserve(q, len, &m, wait_ns(p));
            if (err == 0) {
                payload_fill(m.data, me, seq, len);
                m.len = len;
                err = shmq_commit(q, &m);
                if (err == 0) {
                    seq++;
                    continue;
                }
            }
        } else {
            size_t len = payload_len(p, me, seq);
            payload_fill(buf, me, seq, len);
            err = shmq_push(q, buf, len, wait_ns(p));
            if (err == 0) {
                seq++;
                continue;
            }
        }
        if (err != -EAGAIN && err != -ETIMEDOUT) {
            fail_run(b, shmq_strerror(err), me, seq);
            return;
        }
    }
    atomic_fetch_add(&b->producers_done, 1);
}

/* ---- consumer ---- */

struct consumer_state {
    uint32_t *last_first_seq; /* per producer, +1; 0 = none yet */
    uint32_t last_drained_seq[64];
    bool drained_any[64];
};

static void consume_one(const struct plan *p, struct board *b, struct consumer_state *cs,
                        const unsigned char *data, size_t len, uint32_t deliveries)
{
    struct header h;
    if (len < sizeof h) {
        fail_run(b, "short message", 0, 0);
        return;
    }
    memcpy(&h, data, sizeof h);
    if (h.producer >= p->producers || h.seq >= b->per_producer) {
        fail_run(b, "message from nowhere", h.producer, h.seq);
        return;
    }
    if (len != payload_len(p, h.producer, h.seq)) {
        fail_run(b, "wrong length", h.producer, h.seq);
        return;
    }
    for (size_t k = sizeof h; k < len; k++)
        if (data[k] != payload_byte(h.producer, h.seq, k)) {
            fail_run(b, "corrupt payload", h.producer, h.seq);
            return;
        }
    if (p->kind == SHMQ_FIFO && deliveries <= 1) {
        if (cs->last_first_seq[h.producer] > h.seq)
            fail_run(b, "out of order", h.producer, h.seq);
        cs->last_first_seq[h.producer] = h.seq + 1;
    }
    if (p->kind == SHMQ_LIFO && p->drain_at_end) {
        /* Everything was pushed before the drain: each producer's messages come newest
         * first, and a single consumer sees the whole stack in order. */
        if (cs->drained_any[h.producer] && h.seq >= cs->last_drained_seq[h.producer])
            fail_run(b, "LIFO drain not newest first", h.producer, h.seq);
        cs->drained_any[h.producer] = true;
        cs->last_drained_seq[h.producer] = h.seq;
    }
}

static void consume(const struct plan *p, struct board *b, shmq_t *q, unsigned me)
{
    (void)me;
    struct consumer_state cs = {0};
    cs.last_first_seq = calloc(p->producers, sizeof *cs.last_first_seq);
    unsigned char buf[4096];
    static _Thread_local unsigned char batch_buf[16][4096];
    uint64_t expected = (uint64_t)p->producers * b->per_producer;
    unsigned seed = me * 7u + 3u;
    if (p->drain_at_end)
        while (atomic_load(&b->producers_done) < p->producers)
            usleep(1000);
    while (atomic_load(&b->acked_total) < expected && atomic_load(&b->failures) == 0) {
        if (p->api == API_BATCH) {
            struct iovec iov[16];
            for (int k = 0; k < 16; k++)
                iov[k] = (struct iovec){batch_buf[k], sizeof batch_buf[k]};
            int r = shmq_pop_batch(q, iov, 16, wait_ns(p));
            if (r == -EAGAIN || r == -ETIMEDOUT)
                continue;
            if (r < 0) {
                fail_run(b, shmq_strerror(r), 0, 0);
                break;
            }
            for (int k = 0; k < r; k++) {
                consume_one(p, b, &cs, iov[k].iov_base, iov[k].iov_len, 1);
                struct header h;
                memcpy(&h, iov[k].iov_base, sizeof h);
                if (h.producer < p->producers && h.seq < b->per_producer &&
                    atomic_fetch_add(&b->acked[(size_t)h.producer * b->per_producer + h.seq], 1))
                    fail_run(b, "duplicate", h.producer, h.seq);
            }
            atomic_fetch_add(&b->acked_total, (uint64_t)r);
            continue;
        }
        struct header h;
        if (p->api == API_ZERO_COPY) {
            struct shmq_msg m;
            int err = shmq_claim(q, &m, wait_ns(p));
            if (err == -EAGAIN || err == -ETIMEDOUT)
                continue;
            if (err) {
                fail_run(b, shmq_strerror(err), 0, 0);
                break;
            }
            consume_one(p, b, &cs, m.data, m.len, m.deliveries);
            memcpy(&h, m.data, sizeof h);
            if (p->nack_some && m.deliveries == 1 && rand_r(&seed) % 50 == 0) {
                if ((err = shmq_nack(q, &m)) != 0)
                    fail_run(b, shmq_strerror(err), h.producer, h.seq);
                continue;
            }
            if ((err = shmq_ack(q, &m)) != 0) {
                fail_run(b, shmq_strerror(err), h.producer, h.seq);
                break;
            }
        } else {
            ssize_t n = shmq_pop(q, buf, sizeof buf, wait_ns(p));
            if (n == -EAGAIN || n == -ETIMEDOUT)
                continue;
            if (n < 0) {
                fail_run(b, shmq_strerror((int)n), 0, 0);
                break;
            }
            consume_one(p, b, &cs, buf, (size_t)n, 1);
            memcpy(&h, buf, sizeof h);
        }
        if (h.producer < p->producers && h.seq < b->per_producer &&
            atomic_fetch_add(&b->acked[(size_t)h.producer * b->per_producer + h.seq], 1))
            fail_run(b, "duplicate", h.producer, h.seq);
        atomic_fetch_add(&b->acked_total, 1);
    }
    free(cs.last_first_seq);
}

/* ---- running a plan ---- */

struct worker {
    const struct plan *plan;
    struct board *board;
    const char *name;
    bool producer;
    unsigned index;
};

static void worker_run(struct worker *w)
{
    shmq_t *q;
    int err = shmq_open(w->name, &q);
    if (err) {
        fail_run(w->board, shmq_strerror(err), w->index, 0);
        return;
    }
    if (w->producer)
        produce(w->plan, w->board, q, w->index);
    else
        consume(w->plan, w->board, q, w->index);
    shmq_close(q);
}

static void *worker_thread(void *arg)
{
    worker_run(arg);
    return NULL;
}

static void run_plan(const struct plan *p)
{
    uint32_t per = (uint32_t)(p->per_producer * test_scale());
    size_t board_size = sizeof(struct board) + (size_t)p->producers * per;
    struct board *b =
        mmap(NULL, board_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    assert_true(b != MAP_FAILED);
    b->per_producer = per;
    const char *name = test_name(p->label);
    shmq_t *q;
    struct shmq_config cfg = {
        .kind = p->kind, .flags = p->flags, .capacity = p->capacity, .slot_size = p->slot_size};
    ASSERT_OK(shmq_create(name, &cfg, &q));

    unsigned total = p->producers + p->consumers;
    struct worker w[16];
    pid_t pids[16];
    pthread_t threads[16];
    assert_true(total <= 16);
    int64_t t0 = test_now_ns();
    for (unsigned i = 0; i < total; i++) {
        w[i] =
            (struct worker){p, b, name, i < p->producers, i < p->producers ? i : i - p->producers};
        if (p->runner == RUN_THREADS) {
            assert_int_equal(pthread_create(&threads[i], NULL, worker_thread, &w[i]), 0);
            continue;
        }
        pids[i] = fork();
        assert_true(pids[i] >= 0);
        if (pids[i] == 0) {
            worker_run(&w[i]);
            _exit(atomic_load(&b->failures) ? 1 : 0);
        }
    }
    for (unsigned i = 0; i < total; i++) {
        if (p->runner == RUN_THREADS)
            pthread_join(threads[i], NULL);
        else
            test_wait_child(pids[i]);
    }
    double secs = (double)(test_now_ns() - t0) / 1e9;

    /* Every message acknowledged exactly once. */
    uint64_t missing = 0, doubled = 0;
    for (size_t i = 0; i < (size_t)p->producers * per; i++) {
        missing += b->acked[i] == 0;
        doubled += b->acked[i] > 1;
    }
    struct shmq_stat st;
    ASSERT_OK(shmq_stat(q, &st));
    fprintf(stderr, "  %s: %u x %u messages, %u producers, %u consumers: %.2f s (%.2f M msg/s)\n",
            p->label, p->producers, per, p->producers, p->consumers, secs,
            (double)p->producers * per / secs / 1e6);
    if (missing || doubled || atomic_load(&b->failures)) {
        fprintf(stderr, "  missing %llu, duplicated %llu, failures %u\n",
                (unsigned long long)missing, (unsigned long long)doubled,
                atomic_load(&b->failures));
        test_dump(q);
        fail();
    }
    QASSERT_EQ(q, st.depth, 0);
    QASSERT_EQ(q, st.in_flight, 0);
    char why[256];
    if (shmq_check(q, why, sizeof why) != 0)
        fail_msg("invariants broken after the run: %s", why);
    QASSERT_EQ(q, st.pushed, (uint64_t)p->producers * per);
    QASSERT_EQ(q, st.acked, (uint64_t)p->producers * per);
    /* The whole capacity is free again. */
    for (uint32_t i = 0; i < p->capacity; i++)
        ASSERT_OK(shmq_push(q, "x", 1, 0));
    assert_int_equal(shmq_push(q, "x", 1, 0), -EAGAIN);
    shmq_close(q);
    shmq_unlink(name);
    munmap(b, board_size);
}

#define PLAN_TEST(fn, ...)                                                                         \
    static void fn(void **state)                                                                   \
    {                                                                                              \
        (void)state;                                                                               \
        static const struct plan p = {__VA_ARGS__};                                                \
        run_plan(&p);                                                                              \
    }

/* The headline: 2 producer and 2 consumer processes, a million messages. */
PLAN_TEST(mpmc_processes_copy, .label = "mpmc-proc", .kind = SHMQ_FIFO, .api = API_COPY,
          .runner = RUN_PROCESSES, .producers = 2, .consumers = 2, .per_producer = 500000,
          .capacity = 256, .slot_size = 64, .blocking = true)
PLAN_TEST(mpmc_processes_spinning_small_queue, .label = "mpmc-spin", .kind = SHMQ_FIFO,
          .api = API_COPY, .runner = RUN_PROCESSES, .producers = 3, .consumers = 2,
          .per_producer = 60000, .capacity = 5, .slot_size = 40)
PLAN_TEST(mpmc_processes_zero_copy_with_nacks, .label = "mpmc-zc", .kind = SHMQ_FIFO,
          .api = API_ZERO_COPY, .runner = RUN_PROCESSES, .producers = 2, .consumers = 2,
          .per_producer = 100000, .capacity = 64, .slot_size = 200, .blocking = true,
          .nack_some = true)
PLAN_TEST(mpmc_processes_batch, .label = "mpmc-batch", .kind = SHMQ_FIFO, .api = API_BATCH,
          .runner = RUN_PROCESSES, .producers = 2, .consumers = 2, .per_producer = 200000,
          .capacity = 100, .slot_size = 24, .blocking = true)
PLAN_TEST(mpmc_threads_copy, .label = "mpmc-thr", .kind = SHMQ_FIFO, .api = API_COPY,
          .runner = RUN_THREADS, .producers = 2, .consumers = 2, .per_producer = 200000,
          .capacity = 128, .slot_size = 64, .blocking = true)
PLAN_TEST(mpmc_threads_zero_copy, .label = "mpmc-thr-zc", .kind = SHMQ_FIFO, .api = API_ZERO_COPY,
          .runner = RUN_THREADS, .producers = 3, .consumers = 3, .per_producer = 50000,
          .capacity = 16, .slot_size = 100, .nack_some = true)
PLAN_TEST(spsc_processes_copy, .label = "spsc-proc", .kind = SHMQ_FIFO,
          .flags = SHMQ_SINGLE_PRODUCER | SHMQ_SINGLE_CONSUMER, .api = API_COPY,
          .runner = RUN_PROCESSES, .producers = 1, .consumers = 1, .per_producer = 500000,
          .capacity = 64, .slot_size = 64, .blocking = true)
PLAN_TEST(spsc_processes_batch_spinning, .label = "spsc-batch", .kind = SHMQ_FIFO,
          .flags = SHMQ_SINGLE_PRODUCER | SHMQ_SINGLE_CONSUMER, .api = API_BATCH,
          .runner = RUN_PROCESSES, .producers = 1, .consumers = 1, .per_producer = 300000,
          .capacity = 33, .slot_size = 100)
PLAN_TEST(spsc_threads_zero_copy, .label = "spsc-thr-zc", .kind = SHMQ_FIFO,
          .flags = SHMQ_SINGLE_PRODUCER | SHMQ_SINGLE_CONSUMER, .api = API_ZERO_COPY,
          .runner = RUN_THREADS, .producers = 1, .consumers = 1, .per_producer = 200000,
          .capacity = 8, .slot_size = 64, .blocking = true, .nack_some = true)
PLAN_TEST(lifo_processes_copy, .label = "lifo-proc", .kind = SHMQ_LIFO, .api = API_COPY,
          .runner = RUN_PROCESSES, .producers = 2, .consumers = 2, .per_producer = 200000,
          .capacity = 64, .slot_size = 64, .blocking = true)
PLAN_TEST(lifo_threads_zero_copy, .label = "lifo-thr-zc", .kind = SHMQ_LIFO, .api = API_ZERO_COPY,
          .runner = RUN_THREADS, .producers = 2, .consumers = 2, .per_producer = 100000,
          .capacity = 16, .slot_size = 64, .nack_some = true)
PLAN_TEST(lifo_drain_is_newest_first, .label = "lifo-drain", .kind = SHMQ_LIFO, .api = API_COPY,
          .runner = RUN_PROCESSES, .producers = 3, .consumers = 1, .per_producer = 3000,
          .capacity = 9000, .slot_size = 32, .drain_at_end = true)

/* Consumers that sleep in the futex are woken by producers that come later. */
static void blocked_consumers_are_woken_across_processes(void **state)
{
    (void)state;
    const char *name = test_name("wake");
    shmq_t *q;
    ASSERT_OK(shmq_create(name, &(struct shmq_config){.capacity = 4}, &q));
    enum { CONSUMERS = 3, EACH = 20 };
    pid_t pids[CONSUMERS];
    for (int c = 0; c < CONSUMERS; c++) {
        pids[c] = fork();
        assert_true(pids[c] >= 0);
        if (pids[c] == 0) {
            shmq_t *cq;
            CHILD_CHECK(shmq_open(name, &cq) == 0);
            for (int i = 0; i < EACH; i++) {
                char buf[16];
                CHILD_CHECK(shmq_pop(cq, buf, sizeof buf, 10000 * MS) > 0);
            }
            shmq_close(cq);
            _exit(0);
        }
    }
    for (int i = 0; i < CONSUMERS * EACH; i++) {
        if (i % 10 == 0)
            usleep(20000); /* let the consumers fall asleep */
        ASSERT_OK(shmq_push(q, "ping", 4, 10000 * MS));
    }
    for (int c = 0; c < CONSUMERS; c++)
        test_wait_child(pids[c]);
    struct shmq_stat st;
    ASSERT_OK(shmq_stat(q, &st));
    QASSERT_EQ(q, st.depth, 0);
    QASSERT_EQ(q, st.waits > 0, 1);
    QASSERT_EQ(q, st.wakeups > 0, 1);
    shmq_close(q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(blocked_consumers_are_woken_across_processes),
        cmocka_unit_test(mpmc_processes_copy),
        cmocka_unit_test(mpmc_processes_spinning_small_queue),
        cmocka_unit_test(mpmc_processes_zero_copy_with_nacks),
        cmocka_unit_test(mpmc_processes_batch),
        cmocka_unit_test(mpmc_threads_copy),
        cmocka_unit_test(mpmc_threads_zero_copy),
        cmocka_unit_test(spsc_processes_copy),
        cmocka_unit_test(spsc_processes_batch_spinning),
        cmocka_unit_test(spsc_threads_zero_copy),
        cmocka_unit_test(lifo_processes_copy),
        cmocka_unit_test(lifo_threads_zero_copy),
        cmocka_unit_test(lifo_drain_is_newest_first),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
