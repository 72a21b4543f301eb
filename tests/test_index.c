/*
 * Unit tests of the index structures on process-local memory: the SCQ ring (order, laps,
 * the 31-bit cycle wrap, empty/full, conservation under threads) and the Treiber stack.
 */
#include <pthread.h>
#include <stdatomic.h>

#include "test_util.h"

#include "scq.h"
#include "segment.h"
#include "stack.h"

static struct shmq__scq *ring_new(uint32_t order)
{
    struct shmq__scq *q = aligned_alloc(64, (shmq__scq_size(order) + 63) & ~(size_t)63);
    assert_non_null(q);
    return q;
}

static void scq_full_ring_gives_indices_in_order(void **state)
{
    (void)state;
    for (uint32_t order = 0; order <= 6; order++) {
        uint32_t n = 1u << order;
        for (uint32_t count = 0; count <= n; count += (count < 3 ? 1 : n / 4 + 1)) {
            struct shmq__scq *q = ring_new(order);
            shmq__scq_init_full(q, order, count);
            for (uint32_t i = 0; i < count; i++)
                assert_int_equal(shmq__scq_dequeue(q, order), i);
            assert_int_equal(shmq__scq_dequeue(q, order), SHMQ__SCQ_BOTTOM);
            assert_true(shmq__scq_empty_hint(q, order) ||
                        shmq__scq_dequeue(q, order) == SHMQ__SCQ_BOTTOM);
            free(q);
        }
    }
}

/* Many laps with the ring kept at a varying depth: FIFO order every time. */
static void run_laps(struct shmq__scq *q, uint32_t order, uint32_t laps)
{
    uint32_t n = 1u << order;
    uint32_t next_in = 0, next_out = 0;
    for (uint32_t step = 0; step < laps * 2 * n; step++) {
        uint32_t depth = next_in - next_out;
        uint32_t want = (step * 7u) % (n + 1); /* target depth wanders over 0..n */
        if (depth < want || depth == 0) {
            assert_int_equal(shmq__scq_enqueue(q, order, next_in % n), 0);
            next_in++;
        } else {
            uint32_t got = shmq__scq_dequeue(q, order);
            assert_int_equal(got, next_out % n);
            next_out++;
        }
    }
    while (next_out != next_in) {
        assert_int_equal(shmq__scq_dequeue(q, order), next_out % n);
        next_out++;
    }
    assert_int_equal(shmq__scq_dequeue(q, order), SHMQ__SCQ_BOTTOM);
}

static void scq_fifo_order_over_many_laps(void **state)
{
    (void)state;
    for (uint32_t order = 0; order <= 5; order++) {
        struct shmq__scq *q = ring_new(order);
        shmq__scq_init_empty(q, order);
        run_laps(q, order, 50);
        unsigned char seen[64] = {0};
        assert_int_equal(shmq__scq_check(q, order, 1u << order, seen), 0);
        free(q);
    }
}

/* The 31-bit lap counter wraps after 2^31 laps: start just before it and run across. */
static void scq_survives_cycle_wrap(void **state)
{
    (void)state;
    for (uint32_t order = 0; order <= 4; order++) {
        struct shmq__scq *q = ring_new(order);
        uint64_t lap = UINT64_C(2) << order;
        shmq__scq_init_at(q, order, ((UINT64_C(1) << 31) - 3) * lap + 1);
        run_laps(q, order, 8);
        shmq__scq_init_at(q, order, ((UINT64_C(1) << 32) - 2) * lap); /* 64-bit position too */
        run_laps(q, order, 8);
        free(q);
    }
}

static void scq_holds_exactly_n(void **state)
{
    (void)state;
    uint32_t order = 3, n = 8;
    struct shmq__scq *q = ring_new(order);
    shmq__scq_init_empty(q, order);
    for (uint32_t i = 0; i < n; i++)
        assert_int_equal(shmq__scq_enqueue(q, order, n - 1 - i), 0);
    unsigned char seen[8] = {0};
    assert_int_equal(shmq__scq_check(q, order, n, seen), 0);
    for (uint32_t i = 0; i < n; i++)
        assert_int_equal(shmq__scq_dequeue(q, order), n - 1 - i);
    free(q);
}

static void scq_check_detects_duplicates(void **state)
{
    (void)state;
    uint32_t order = 2;
    struct shmq__scq *q = ring_new(order);
    shmq__scq_init_empty(q, order);
    assert_int_equal(shmq__scq_enqueue(q, order, 1), 0);
    assert_int_equal(shmq__scq_enqueue(q, order, 1), 0);
    unsigned char seen[4] = {0};
    assert_int_equal(shmq__scq_check(q, order, 4, seen), -EBADMSG);
    memset(seen, 0, sizeof seen);
    assert_int_equal(shmq__scq_check(q, order, 1, seen), -EBADMSG); /* index 1 >= limit 1 */
    free(q);
}

/* Threads move indices between two rings at random; at the end every index is in exactly
 * one ring: nothing lost, nothing duplicated. */
struct conserve_ctx {
    struct shmq__scq *a, *b;
    uint32_t order;
    uint32_t rounds;
    unsigned seed;
};

static void *conserve_thread(void *arg)
{
    struct conserve_ctx *c = arg;
    unsigned seed = c->seed;
    for (uint32_t i = 0; i < c->rounds; i++) {
        bool forward = rand_r(&seed) & 1;
        struct shmq__scq *from = forward ? c->a : c->b, *to = forward ? c->b : c->a;
        if (rand_r(&seed) & 2) { /* the batch operations, on the same rings */
            uint32_t idx[8];
            int got = shmq__scq_dequeue_many(from, c->order, idx, 1 + rand_r(&seed) % 8);
            if (got < 0)
                return (void *)1;
            for (int k = 0; k < got; k++)
                if (idx[k] >= (1u << c->order))
                    return (void *)1;
            if (shmq__scq_enqueue_many(to, c->order, idx, (unsigned)got) != 0)
                return (void *)1;
            continue;
        }
        uint32_t index = shmq__scq_dequeue(from, c->order);
        if (index == SHMQ__SCQ_BOTTOM)
            continue;
        if (index >= (1u << c->order) || shmq__scq_enqueue(to, c->order, index) != 0)
            return (void *)1;
    }
    return NULL;
}

static void scq_conserves_indices_under_threads(void **state)
{
    (void)state;
    for (uint32_t order = 1; order <= 6; order += 5) {
        uint32_t n = 1u << order;
        struct shmq__scq *a = ring_new(order), *b = ring_new(order);
        shmq__scq_init_full(a, order, n);
        shmq__scq_init_empty(b, order);
        enum { THREADS = 4 };
        pthread_t t[THREADS];
        struct conserve_ctx c[THREADS];
        for (int i = 0; i < THREADS; i++) {
            c[i] = (struct conserve_ctx){a, b, order, (uint32_t)(200000 * test_scale()),
                                         (unsigned)i * 7919u + 1};
            assert_int_equal(pthread_create(&t[i], NULL, conserve_thread, &c[i]), 0);
        }
        for (int i = 0; i < THREADS; i++) {
            void *r;
            pthread_join(t[i], &r);
            assert_null(r);
        }
        unsigned char *seen = calloc(n, 1);
        assert_int_equal(shmq__scq_check(a, order, n, seen), 0);
        assert_int_equal(shmq__scq_check(b, order, n, seen), 0);
        uint32_t total = 0;
        for (uint32_t i = 0; i < n; i++)
            total += seen[i];
        assert_int_equal(total, n);
        free(seen);
        free(a);
        free(b);
    }
}

/* The batch operations keep FIFO order over many laps, take no more than is there, and mix
 * with the single ones. */
static void scq_batches_keep_order_over_laps(void **state)
{
    (void)state;
    for (uint32_t order = 0; order <= 5; order++) {
        uint32_t n = 1u << order;
        struct shmq__scq *q = ring_new(order);
        shmq__scq_init_empty(q, order);
        uint32_t next_in = 0, next_out = 0, idx[40];
        for (uint32_t step = 0; step < 400 * n; step++) {
            uint32_t depth = next_in - next_out;
            unsigned k = 1 + (step * 13u) % 9u;
            if ((step * 7u) % 3u != 0 && depth < n) {
                if (k > n - depth)
                    k = n - depth;
                for (unsigned j = 0; j < k; j++)
                    idx[j] = (next_in + j) % n;
                if (step % 5 == 0 && k == 1)
                    assert_int_equal(shmq__scq_enqueue(q, order, idx[0]), 0);
                else
                    assert_int_equal(shmq__scq_enqueue_many(q, order, idx, k), 0);
                next_in += k;
            } else {
                int got = shmq__scq_dequeue_many(q, order, idx, k);
                unsigned want = depth < k ? depth : k;
                assert_int_equal(got, (int)want);
                for (int j = 0; j < got; j++)
                    assert_int_equal(idx[j], (next_out + (uint32_t)j) % n);
                next_out += (uint32_t)got;
            }
        }
        while (next_out != next_in) {
            assert_int_equal(shmq__scq_dequeue(q, order), next_out % n);
            next_out++;
        }
        assert_int_equal(shmq__scq_dequeue_many(q, order, idx, 8), 0);
        assert_true(shmq__scq_empty_hint(q, order));
        unsigned char *seen = calloc(n, 1);
        assert_int_equal(shmq__scq_check(q, order, n, seen), 0);
        free(seen);
        free(q);
    }
}

/* A producer between its fetch-and-add on tail and its entry CAS (simulated by taking a
 * position and never filling it): consumers call the ring empty without writing anything
 * (so a consumer polling right behind its producer does not take the position from it),
 * and once a later enqueue has moved tail past it, they pass it and get what follows. */
static void scq_leaves_a_producer_mid_enqueue_alone(void **state)
{
    (void)state;
    for (uint32_t order = 1; order <= 5; order++) {
        struct shmq__scq *q = ring_new(order);
        uint32_t n = 1u << order;
        shmq__scq_init_empty(q, order);
        for (uint32_t lap = 0; lap < 3 * n; lap++) { /* at every position of the ring */
            assert_int_equal(shmq__scq_enqueue(q, order, lap % n), 0);
            assert_int_equal(shmq__scq_dequeue(q, order), lap % n);
            atomic_fetch_add(&q->tail, 1); /* taken, never filled: its producer stalls */
            uint64_t head = atomic_load(&q->head);
            int64_t threshold = atomic_load(&q->threshold);
            uint32_t idx[4];
            assert_int_equal(shmq__scq_dequeue(q, order), SHMQ__SCQ_BOTTOM);
            assert_int_equal(shmq__scq_dequeue_many(q, order, idx, 4), 0);
            assert_true(shmq__scq_empty_hint(q, order));
            assert_true(atomic_load(&q->head) == head);
            assert_true(atomic_load(&q->threshold) == threshold);
            assert_int_equal(shmq__scq_enqueue(q, order, (lap + 1) % n), 0);
            assert_false(shmq__scq_empty_hint(q, order));
            assert_int_equal(shmq__scq_dequeue(q, order), (lap + 1) % n); /* passes the hole */
            assert_int_equal(shmq__scq_dequeue(q, order), SHMQ__SCQ_BOTTOM);
        }
        unsigned char *seen = calloc(n, 1);
        assert_int_equal(shmq__scq_check(q, order, n, seen), 0);
        free(seen);
        free(q);
    }
}

/* ---- stack ---- */

struct fake_map {
    struct shmq__mapping map;
    struct shmq__stack stack;
    unsigned char *slots;
};

static void fake_map_init(struct fake_map *f, uint32_t capacity)
{
    memset(f, 0, sizeof *f);
    f->map.geo.capacity = capacity;
    f->map.geo.slot_stride = 64;
    f->slots = aligned_alloc(64, (size_t)capacity * 64);
    memset(f->slots, 0, (size_t)capacity * 64);
    f->map.slots = f->slots;
    f->map.links =
        (struct shmq__stack_links){.slots = f->slots, .stride = 64, .capacity = capacity};
    shmq__stack_init(&f->stack);
}

static void stack_pops_newest_first(void **state)
{
    (void)state;
    struct fake_map f;
    fake_map_init(&f, 100);
    assert_int_equal(shmq__stack_pop(&f.map.links, &f.stack), SHMQ__STACK_NIL);
    for (uint32_t i = 0; i < 100; i++)
        shmq__stack_push(&f.map.links, &f.stack, i);
    unsigned char seen[100] = {0};
    assert_int_equal(shmq__stack_check(&f.map.links, &f.stack, seen), 0);
    for (uint32_t i = 100; i-- > 0;)
        assert_int_equal(shmq__stack_pop(&f.map.links, &f.stack), i);
    assert_int_equal(shmq__stack_pop(&f.map.links, &f.stack), SHMQ__STACK_NIL);
    free(f.slots);
}

static void stack_rejects_out_of_bounds_links(void **state)
{
    (void)state;
    struct fake_map f;
    fake_map_init(&f, 4);
    shmq__stack_push(&f.map.links, &f.stack, 2);
    /* Scribble the link of index 2 and the head. */
    atomic_store(&((struct shmq__slot *)(f.slots + 2 * 64))->next, 77);
    assert_int_equal(shmq__stack_pop(&f.map.links, &f.stack), 2); /* pops, head now 77 */
    assert_int_equal(shmq__stack_pop(&f.map.links, &f.stack), -EBADMSG);
    unsigned char seen[4] = {0};
    assert_int_equal(shmq__stack_check(&f.map.links, &f.stack, seen), -EBADMSG);
    free(f.slots);
}

struct stack_ctx {
    struct fake_map *f;
    uint32_t rounds;
    int failed;
};

static void *stack_thread(void *arg)
{
    struct stack_ctx *c = arg;
    int64_t mine[8];
    for (uint32_t r = 0; r < c->rounds; r++) {
        int got = 0;
        for (; got < 8; got++) {
            mine[got] = shmq__stack_pop(&c->f->map.links, &c->f->stack);
            if (mine[got] == SHMQ__STACK_NIL)
                break;
            if (mine[got] < 0) {
                c->failed = 1;
                return NULL;
            }
        }
        while (got > 0)
            shmq__stack_push(&c->f->map.links, &c->f->stack, (uint32_t)mine[--got]);
    }
    return NULL;
}

static void stack_conserves_indices_under_threads(void **state)
{
    (void)state;
    struct fake_map f;
    fake_map_init(&f, 16);
    for (uint32_t i = 0; i < 16; i++)
        shmq__stack_push(&f.map.links, &f.stack, i);
    enum { THREADS = 4 };
    pthread_t t[THREADS];
    struct stack_ctx c[THREADS];
    for (int i = 0; i < THREADS; i++) {
        c[i] = (struct stack_ctx){&f, (uint32_t)(100000 * test_scale()), 0};
        assert_int_equal(pthread_create(&t[i], NULL, stack_thread, &c[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(c[i].failed, 0);
    }
    unsigned char seen[16] = {0};
    assert_int_equal(shmq__stack_check(&f.map.links, &f.stack, seen), 0);
    for (int i = 0; i < 16; i++)
        assert_int_equal(seen[i], 1);
    free(f.slots);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(scq_check_detects_duplicates),
        cmocka_unit_test(stack_rejects_out_of_bounds_links),
        cmocka_unit_test(scq_full_ring_gives_indices_in_order),
        cmocka_unit_test(scq_fifo_order_over_many_laps),
        cmocka_unit_test(scq_survives_cycle_wrap),
        cmocka_unit_test(scq_holds_exactly_n),
        cmocka_unit_test(scq_conserves_indices_under_threads),
        cmocka_unit_test(scq_batches_keep_order_over_laps),
        cmocka_unit_test(scq_leaves_a_producer_mid_enqueue_alone),
        cmocka_unit_test(stack_pops_newest_first),
        cmocka_unit_test(stack_conserves_indices_under_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
