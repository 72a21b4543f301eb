/*
 * The API suite: every test runs over a table of queue shapes — FIFO, LIFO, the SPSC ring,
 * and a LIFO with the single-role flags — times several slot sizes, one of them odd.
 * Negative cases first, then each API variant (copy, batch, zero-copy, metadata), checking
 * every byte and the order.
 */
#include <pthread.h>

#include "test_util.h"

struct shape {
    const char *label;
    enum shmq_kind kind;
    uint32_t flags;
};

static const struct shape shapes[] = {
    {"fifo", SHMQ_FIFO, 0},
    {"lifo", SHMQ_LIFO, 0},
    {"spsc", SHMQ_FIFO, SHMQ_SINGLE_PRODUCER | SHMQ_SINGLE_CONSUMER},
    {"lifo-single", SHMQ_LIFO, SHMQ_SINGLE_PRODUCER | SHMQ_SINGLE_CONSUMER},
    {"fifo-single-producer", SHMQ_FIFO, SHMQ_SINGLE_PRODUCER},
};
static const uint32_t slot_sizes[] = {8, 61, 256, 4096};
static const uint32_t capacity = 37; /* not a power of two */

#define FOR_EACH_SHAPE(sh, slot)                                                                   \
    for (size_t sh##_i = 0; sh##_i < sizeof shapes / sizeof shapes[0]; sh##_i++)                   \
        for (size_t slot##_i = 0; slot##_i < sizeof slot_sizes / sizeof slot_sizes[0]; slot##_i++) \
            for (const struct shape *sh = &shapes[sh##_i]; sh; sh = NULL)                          \
                for (uint32_t slot = slot_sizes[slot##_i]; slot; slot = 0)

static shmq_t *make(const struct shape *sh, uint32_t slot)
{
    struct shmq_config cfg = {
        .kind = sh->kind, .capacity = capacity, .slot_size = slot, .flags = sh->flags};
    shmq_t *q = NULL;
    int err = shmq_create(test_name(sh->label), &cfg, &q);
    if (err)
        fail_msg("create %s slot %u: %s", sh->label, slot, shmq_strerror(err));
    return q;
}

static void destroy(shmq_t *q)
{
    char name[SHMQ_NAME_MAX + 1];
    snprintf(name, sizeof name, "%s", shmq_name(q));
    ASSERT_OK(shmq_close(q));
    ASSERT_OK(shmq_unlink(name));
}

/* Message i: a length that cycles through 0..slot and bytes derived from i. */
static size_t msg_len(uint32_t i, uint32_t slot)
{
    return (i * 13u) % (slot + 1);
}
static void msg_fill(unsigned char *buf, uint32_t i, size_t len)
{
    for (size_t k = 0; k < len; k++)
        buf[k] = (unsigned char)(i * 31u + k * 7u + 1u);
}
static void msg_expect(shmq_t *q, const unsigned char *got, size_t got_len, uint32_t i,
                       uint32_t slot)
{
    size_t len = msg_len(i, slot);
    QASSERT_EQ(q, got_len, len);
    unsigned char want[4096];
    msg_fill(want, i, len);
    if (len && memcmp(got, want, len) != 0) {
        fprintf(stderr, "payload of message %u differs\n", i);
        test_dump(q);
        fail();
    }
}

/* The i-th message expected by a drain of messages 0..n-1 pushed in order. */
static uint32_t drain_order(const struct shape *sh, uint32_t k, uint32_t n)
{
    return sh->kind == SHMQ_LIFO ? n - 1 - k : k;
}

static uint64_t depth_of(shmq_t *q)
{
    struct shmq_stat st;
    ASSERT_OK(shmq_stat(q, &st));
    return st.depth;
}

/* ---- negative cases ---- */

static void bad_arguments(void **state)
{
    (void)state;
    FOR_EACH_SHAPE(sh, slot)
    {
        shmq_t *q = make(sh, slot);
        struct shmq_msg m;
        char buf[8];
        struct iovec iov = {buf, sizeof buf};
        assert_int_equal(shmq_push(NULL, "x", 1, 0), -EINVAL);
        assert_int_equal(shmq_push(q, NULL, 1, 0), -EINVAL);
        assert_int_equal(shmq_push(q, "x", 1, -1), -EINVAL);
        assert_int_equal(shmq_pop(q, NULL, 8, 0), -EINVAL);
        assert_int_equal(shmq_pop(q, buf, sizeof buf, -5), -EINVAL);
        assert_int_equal(shmq_claim(q, NULL, 0), -EINVAL);
        assert_int_equal(shmq_reserve(q, 1, NULL, 0), -EINVAL);
        assert_int_equal(shmq_push_batch(q, &iov, 0, 0), -EINVAL);
        assert_int_equal(shmq_pop_batch(q, NULL, 1, 0), -EINVAL);
        assert_int_equal(shmq_stat(q, NULL), -EINVAL);
        assert_int_equal(shmq_peek(q, 1, NULL, NULL), -EINVAL);
        memset(&m, 0, sizeof m);
        assert_int_equal(shmq_ack(q, &m), -EINVAL); /* never claimed */
        assert_int_equal(shmq_commit(q, &m), -EINVAL);
        QASSERT_EQ(q, depth_of(q), 0);
        destroy(q);
    }
}

static void oversized_messages_enqueue_nothing(void **state)
{
    (void)state;
    static unsigned char big[4097];
    FOR_EACH_SHAPE(sh, slot)
    {
        shmq_t *q = make(sh, slot);
        struct shmq_msg m;
        assert_int_equal(shmq_push(q, big, slot + 1, 0), -EMSGSIZE);
        assert_int_equal(shmq_reserve(q, slot + 1, &m, 0), -EMSGSIZE);
        struct iovec iov[2] = {{big, slot + 1}, {big, 1}};
        assert_int_equal(shmq_push_batch(q, iov, 2, 0), -EMSGSIZE);
        /* Metadata counts against the slot too. */
        struct shmq_msg with_meta = {.data = big, .len = slot, .type = "t"};
        assert_int_equal(shmq_push_msg(q, &with_meta, 0), -EMSGSIZE);
        char long_str[SHMQ_META_STR_MAX + 2];
        memset(long_str, 'a', sizeof long_str - 1);
        long_str[sizeof long_str - 1] = 0;
        struct shmq_msg too_long = {.data = big, .len = 0, .type = long_str};
        assert_int_equal(shmq_push_msg(q, &too_long, 0), -EINVAL);
        QASSERT_EQ(q, depth_of(q), 0);
        char buf[1];
        assert_int_equal(shmq_pop(q, buf, sizeof buf, 0), -EAGAIN);
        /* The queue still holds exactly its capacity afterwards. */
        for (uint32_t i = 0; i < capacity; i++)
            ASSERT_OK(shmq_push(q, big, 1, 0));
        assert_int_equal(shmq_push(q, big, 1, 0), -EAGAIN);
        destroy(q);
    }
}

static void empty_and_full_without_waiting_and_with_timeouts(void **state)
{
    (void)state;
    FOR_EACH_SHAPE(sh, slot)
    {
        if (slot != 61)
            continue; /* timing is not slot-dependent: one size keeps the suite fast */
        shmq_t *q = make(sh, slot);
        char buf[4096];
        struct shmq_msg m;
        assert_int_equal(shmq_pop(q, buf, sizeof buf, 0), -EAGAIN);
        assert_int_equal(shmq_claim(q, &m, 0), -EAGAIN);
        int64_t t0 = test_now_ns();
        assert_int_equal(shmq_pop(q, buf, sizeof buf, 30 * MS), -ETIMEDOUT);
        int64_t waited = test_now_ns() - t0;
        if (waited < 30 * MS || waited > 2000 * MS)
            fail_msg("a 30 ms timeout waited %lld ns", (long long)waited);
        for (uint32_t i = 0; i < capacity; i++)
            ASSERT_OK(shmq_push(q, buf, 1, 0));
        assert_int_equal(shmq_push(q, buf, 1, 0), -EAGAIN);
        assert_int_equal(shmq_reserve(q, 1, &m, 0), -EAGAIN);
        t0 = test_now_ns();
        assert_int_equal(shmq_push(q, buf, 1, 30 * MS), -ETIMEDOUT);
        waited = test_now_ns() - t0;
        if (waited < 30 * MS || waited > 2000 * MS)
            fail_msg("a 30 ms timeout waited %lld ns", (long long)waited);
        struct shmq_stat st;
        ASSERT_OK(shmq_stat(q, &st));
        QASSERT_EQ(q, st.depth, capacity);
        QASSERT_EQ(q, st.full, 3);
        QASSERT_EQ(q, st.empty, 3);
        QASSERT_EQ(q, st.waits >= 2, 1);
        destroy(q);
    }
}

/* A buffer too small: -EMSGSIZE, and the message is still the next one. */
static void small_buffer_keeps_the_message(void **state)
{
    (void)state;
    FOR_EACH_SHAPE(sh, slot)
    {
        if (slot < 8)
            continue;
        shmq_t *q = make(sh, slot);
        unsigned char buf[4096];
        for (uint32_t i = 0; i < 3; i++) {
            size_t len = 2 + i;
            msg_fill(buf, i, len);
            ASSERT_OK(shmq_push(q, buf, len, 0));
        }
        uint32_t first = sh->kind == SHMQ_LIFO ? 2 : 0;
        assert_int_equal(shmq_pop(q, buf, 1, 0), -EMSGSIZE);
        assert_int_equal(shmq_pop(q, buf, 1, 0), -EMSGSIZE); /* again: still there */
        QASSERT_EQ(q, depth_of(q), 3);
        struct iovec iov = {buf, 1};
        assert_int_equal(shmq_pop_batch(q, &iov, 1, 0), -EMSGSIZE);
        struct shmq_msg m;
        ASSERT_OK(shmq_claim(q, &m, 0));
        QASSERT_EQ(q, m.len, 2 + first);
        QASSERT_EQ(q, m.deliveries, 1); /* the refusals were not deliveries */
        unsigned char want[8];
        msg_fill(want, first, m.len < sizeof want ? m.len : sizeof want); /* m.len is 2..4 */
        assert_memory_equal(m.data, want, m.len);
        ASSERT_OK(shmq_ack(q, &m));
        assert_int_equal(shmq_ack(q, &m), -EINVAL); /* finished already */
        destroy(q);
    }
}

/* shmq_pop and shmq_push take a copy path without a message descriptor (the SPSC ring's, and
 * the MPMC pool's); it must give way to whatever the claim way would deliver first — a
 * released message, a delayed one that is due — and count as a claim does. */
static void copy_path_gives_way_to_what_comes_first(void **state)
{
    (void)state;
    FOR_EACH_SHAPE(sh, slot)
    {
        if (slot < 8)
            continue;
        shmq_t *q = make(sh, slot);
        char buf[4096];
        struct shmq_msg m;
        bool lifo = sh->kind == SHMQ_LIFO;
        /* Released: first in line, and not counted a redelivery. */
        ASSERT_OK(shmq_push(q, "a", 1, 0));
        ASSERT_OK(shmq_push(q, "b", 1, 0));
        ASSERT_OK(shmq_claim(q, &m, 0));
        QASSERT_EQ(q, ((const char *)m.data)[0], lifo ? 'b' : 'a');
        ASSERT_OK(shmq_release(q, &m));
        assert_int_equal(shmq_pop(q, buf, sizeof buf, 0), 1);
        QASSERT_EQ(q, buf[0], lifo ? 'b' : 'a');
        assert_int_equal(shmq_pop(q, buf, sizeof buf, 0), 1);
        QASSERT_EQ(q, buf[0], lifo ? 'a' : 'b');
        /* Nacked: the pop that takes it is a redelivery. */
        ASSERT_OK(shmq_push(q, "r", 1, 0));
        ASSERT_OK(shmq_claim(q, &m, 0));
        ASSERT_OK(shmq_nack(q, &m));
        assert_int_equal(shmq_pop(q, buf, sizeof buf, 0), 1);
        QASSERT_EQ(q, buf[0], 'r');
        struct shmq_stat st;
        ASSERT_OK(shmq_stat(q, &st));
        QASSERT_EQ(q, st.redelivered, 1);
        QASSERT_EQ(q, st.popped, 5); /* 2 claims + 3 pops */
        QASSERT_EQ(q, st.acked, 3);
        /* Delayed: passed by until due, then first (the SPSC ring keeps it at its head, and
         * so holds back what follows it until then). */
        bool spsc = sh->kind == SHMQ_FIFO && (sh->flags & SHMQ_SINGLE_PRODUCER) &&
                    (sh->flags & SHMQ_SINGLE_CONSUMER);
        ASSERT_OK(shmq_push(q, "c", 1, 0));
        ASSERT_OK(shmq_claim(q, &m, 0));
        ASSERT_OK(shmq_nack_delayed(q, &m, 100 * 1000000LL));
        ASSERT_OK(shmq_push(q, "d", 1, 0));
        if (!spsc) {
            assert_int_equal(shmq_pop(q, buf, sizeof buf, 0), 1);
            QASSERT_EQ(q, buf[0], 'd');
        }
        assert_int_equal(shmq_pop(q, buf, sizeof buf, 0), -EAGAIN);
        ASSERT_OK(shmq_push(q, "e", 1, 0));
        nanosleep(&(struct timespec){.tv_nsec = 150 * 1000000L}, NULL);
        assert_int_equal(shmq_pop(q, buf, sizeof buf, 0), 1);
        QASSERT_EQ(q, buf[0], 'c'); /* due: before the ready "e" */
        if (spsc) {
            assert_int_equal(shmq_pop(q, buf, sizeof buf, 0), 1);
            QASSERT_EQ(q, buf[0], 'd');
        }
        assert_int_equal(shmq_pop(q, buf, sizeof buf, 0), 1);
        QASSERT_EQ(q, buf[0], 'e');
        /* Metadata is not the payload: the copy path hands out the payload only. */
        struct shmq_msg with = {.data = "pay", .len = 3, .type = "t", .correlation_id = "c1"};
        if (slot >= 256) { /* room for the metadata record */
            ASSERT_OK(shmq_push_msg(q, &with, 0));
            assert_int_equal(shmq_pop(q, buf, sizeof buf, 0), 3);
            assert_memory_equal(buf, "pay", 3);
        }
        /* Empty, zero-length and NULL buffers. */
        ASSERT_OK(shmq_push(q, NULL, 0, 0));
        assert_int_equal(shmq_pop(q, NULL, 0, 0), 0);
        assert_int_equal(shmq_pop(q, buf, sizeof buf, 0), -EAGAIN);
        ASSERT_OK(shmq_check(q, NULL, 0));
        destroy(q);
    }
}

static void single_roles_are_enforced(void **state)
{
    (void)state;
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        const struct shape *sh = &shapes[s];
        if (!sh->flags)
            continue;
        shmq_t *a = make(sh, 64), *b;
        ASSERT_OK(shmq_open(shmq_name(a), &b));
        char buf[64];
        ASSERT_OK(shmq_push(a, "1", 1, 0));
        assert_int_equal(shmq_push(b, "2", 1, 0), -EBUSY);
        assert_int_equal(shmq_pop(b, buf, sizeof buf, 0), 1);
        if (sh->flags & SHMQ_SINGLE_CONSUMER)
            assert_int_equal(shmq_pop(a, buf, sizeof buf, 0), -EBUSY);
        /* Closing the producer frees the role. */
        char name[SHMQ_NAME_MAX + 1];
        snprintf(name, sizeof name, "%s", shmq_name(a));
        ASSERT_OK(shmq_close(a));
        ASSERT_OK(shmq_open(name, &a));
        ASSERT_OK(shmq_push(a, "3", 1, 0));
        assert_int_equal(shmq_pop(b, buf, sizeof buf, 0), 1);
        assert_int_equal(buf[0], '3');
        shmq_close(a);
        destroy(b);
    }
}

/* ---- each API variant: fill to capacity, drain, check order and every byte ---- */

static void copy_api_round_trip(void **state)
{
    (void)state;
    FOR_EACH_SHAPE(sh, slot)
    {
        shmq_t *q = make(sh, slot);
        unsigned char buf[4096];
        for (uint32_t round = 0; round < 3; round++) {
            for (uint32_t i = 0; i < capacity; i++) {
                size_t len = msg_len(i + round, slot);
                msg_fill(buf, i + round, len);
                ASSERT_OK(shmq_push(q, buf, len, 0));
            }
            QASSERT_EQ(q, depth_of(q), capacity);
            for (uint32_t k = 0; k < capacity; k++) {
                uint32_t i = drain_order(sh, k, capacity);
                ssize_t n = shmq_pop(q, buf, sizeof buf, 0);
                ASSERT_OK(n);
                msg_expect(q, buf, (size_t)n, i + round, slot);
            }
            assert_int_equal(shmq_pop(q, buf, sizeof buf, 0), -EAGAIN);
        }
        struct shmq_stat st;
        ASSERT_OK(shmq_stat(q, &st));
        QASSERT_EQ(q, st.pushed, 3 * capacity);
        QASSERT_EQ(q, st.popped, 3 * capacity);
        QASSERT_EQ(q, st.acked, 3 * capacity);
        QASSERT_EQ(q, st.depth, 0);
        QASSERT_EQ(q, st.in_flight, 0);
        destroy(q);
    }
}

static void batch_api_round_trip(void **state)
{
    (void)state;
    static unsigned char in[40][4096], out[40][4096];
    FOR_EACH_SHAPE(sh, slot)
    {
        shmq_t *q = make(sh, slot);
        struct iovec iov[40];
        uint32_t pushed = 0;
        while (pushed < capacity) {
            unsigned n = 0;
            for (; n < 9 && pushed + n < 40; n++) {
                iov[n].iov_base = in[pushed + n];
                iov[n].iov_len = msg_len(pushed + n, slot);
                msg_fill(in[pushed + n], pushed + n, iov[n].iov_len);
            }
            int r = shmq_push_batch(q, iov, n, 0);
            ASSERT_OK(r);
            pushed += (uint32_t)r;
        }
        QASSERT_EQ(q, pushed, capacity); /* the last batch was cut at the capacity */
        uint32_t popped = 0;
        while (popped < capacity) {
            for (unsigned k = 0; k < 40; k++)
                iov[k] = (struct iovec){out[k], sizeof out[k]};
            int r = shmq_pop_batch(q, iov, 5, 0);
            ASSERT_OK(r);
            for (int k = 0; k < r; k++)
                msg_expect(q, iov[k].iov_base, iov[k].iov_len,
                           drain_order(sh, popped + (uint32_t)k, capacity), slot);
            popped += (uint32_t)r;
        }
        iov[0] = (struct iovec){out[0], sizeof out[0]};
        assert_int_equal(shmq_pop_batch(q, iov, 1, 0), -EAGAIN);
        struct shmq_stat st;
        ASSERT_OK(shmq_stat(q, &st));
        QASSERT_EQ(q, st.pushed, capacity);
        QASSERT_EQ(q, st.popped, capacity);
        destroy(q);
    }
}

/* A message too large for its buffer in the middle of a batch: the batch ends before it, it
 * is kept back undelivered, and it and the messages behind it come next, in order. */
static void pop_batch_stops_at_a_small_buffer(void **state)
{
    (void)state;
    FOR_EACH_SHAPE(sh, slot)
    {
        if (slot < 8)
            continue;
        shmq_t *q = make(sh, slot);
        unsigned char buf[6][4096];
        for (uint32_t i = 0; i < 6; i++) {
            memset(buf[0], (int)(i + 1), 8);
            ASSERT_OK(shmq_push(q, buf[0], i == 2 || i == 3 ? 8 : 4, 0)); /* 2 and 3 large */
        }
        struct iovec iov[6];
        for (int k = 0; k < 6; k++)
            iov[k] = (struct iovec){buf[k], 4};
        int r = shmq_pop_batch(q, iov, 6, 0);
        /* FIFO stops before message 2; LIFO pops 5 and 4, then stops before 3. */
        QASSERT_EQ(q, r, 2);
        for (int k = 0; k < r; k++)
            QASSERT_EQ(q, buf[k][0], drain_order(sh, (uint32_t)k, 6) + 1);
        QASSERT_EQ(q, depth_of(q), 4);
        for (uint32_t k = 2; k < 6; k++) {
            struct shmq_msg m;
            ASSERT_OK(shmq_claim(q, &m, 0));
            QASSERT_EQ(q, ((unsigned char *)m.data)[0], drain_order(sh, k, 6) + 1);
            QASSERT_EQ(q, m.deliveries, 1); /* kept back or released: not delivered */
            ASSERT_OK(shmq_ack(q, &m));
        }
        struct shmq_stat st;
        ASSERT_OK(shmq_stat(q, &st));
        QASSERT_EQ(q, st.depth, 0);
        QASSERT_EQ(q, st.in_flight, 0);
        char why[256];
        assert_int_equal(shmq_check(q, why, sizeof why), 0);
        destroy(q);
    }
}

static void zero_copy_round_trip_with_nack(void **state)
{
    (void)state;
    FOR_EACH_SHAPE(sh, slot)
    {
        shmq_t *q = make(sh, slot);
        uint64_t ids[64];
        for (uint32_t i = 0; i < 5; i++) {
            struct shmq_msg m;
            ASSERT_OK(shmq_reserve(q, slot, &m, 0));
            m.len = msg_len(i, slot);
            msg_fill(m.data, i, m.len);
            ASSERT_OK(shmq_commit(q, &m));
            ids[i] = m.id;
            assert_int_equal(shmq_commit(q, &m), -EINVAL); /* once */
        }
        /* A reservation given back publishes nothing. */
        struct shmq_msg r;
        ASSERT_OK(shmq_reserve(q, 1, &r, 0));
        ASSERT_OK(shmq_discard(q, &r));
        QASSERT_EQ(q, depth_of(q), 5);

        struct shmq_msg m;
        ASSERT_OK(shmq_claim(q, &m, 0));
        uint32_t first = drain_order(sh, 0, 5);
        msg_expect(q, m.data, m.len, first, slot);
        QASSERT_EQ(q, m.deliveries, 1);
        QASSERT_EQ(q, m.id, ids[first]);
        ASSERT_OK(shmq_nack(q, &m));
        assert_int_equal(shmq_ack(q, &m), -EINVAL);
        /* FIFO redelivers at the tail, LIFO on top, the SPSC ring in place. */
        bool spsc =
            sh->kind == SHMQ_FIFO && sh->flags == (SHMQ_SINGLE_PRODUCER | SHMQ_SINGLE_CONSUMER);
        uint32_t expect[5];
        for (uint32_t k = 0; k < 5; k++)
            expect[k] = drain_order(sh, k, 5);
        if (sh->kind == SHMQ_FIFO && !spsc) {
            memmove(expect, expect + 1, 4 * sizeof expect[0]);
            expect[4] = first;
        }
        for (uint32_t k = 0; k < 5; k++) {
            ASSERT_OK(shmq_claim(q, &m, 0));
            msg_expect(q, m.data, m.len, expect[k], slot);
            QASSERT_EQ(q, m.id, ids[expect[k]]); /* ids survive redelivery */
            QASSERT_EQ(q, m.deliveries, expect[k] == first ? 2 : 1);
            ASSERT_OK(shmq_ack(q, &m));
        }
        struct shmq_stat st;
        ASSERT_OK(shmq_stat(q, &st));
        QASSERT_EQ(q, st.nacked, 1);
        QASSERT_EQ(q, st.acked, 5);
        QASSERT_EQ(q, st.popped, 6);
        QASSERT_EQ(q, st.depth, 0);
        destroy(q);
    }
}

/* shmq_release: a claim given back is not a delivery. With a delivery limit of 1 (where a
 * nack would dead-letter it), released messages come back first, in the queue's own order
 * (FIFO: released oldest first; LIFO: newest last, so on top), with their counts unchanged. */
static void release_gives_back_undelivered_first_in_line(void **state)
{
    (void)state;
    FOR_EACH_SHAPE(sh, slot)
    {
        struct shmq_config cfg = {.kind = sh->kind,
                                  .capacity = capacity,
                                  .slot_size = slot,
                                  .flags = sh->flags,
                                  .max_deliveries = 1};
        shmq_t *q = NULL;
        ASSERT_OK(shmq_create(test_name(sh->label), &cfg, &q));
        bool spsc =
            sh->kind == SHMQ_FIFO && sh->flags == (SHMQ_SINGLE_PRODUCER | SHMQ_SINGLE_CONSUMER);
        struct shmq_msg none = {0};
        assert_int_equal(shmq_release(q, &none), -EINVAL); /* not a claim */
        assert_int_equal(shmq_release(NULL, &none), -EINVAL);
        unsigned char buf[4096];
        for (uint32_t i = 0; i < 6; i++) {
            msg_fill(buf, i, msg_len(i, slot));
            ASSERT_OK(shmq_push(q, buf, msg_len(i, slot), 0));
        }
        unsigned held = spsc ? 1 : 3;
        struct shmq_msg m[3];
        for (unsigned k = 0; k < held; k++) {
            ASSERT_OK(shmq_claim(q, &m[k], 0));
            msg_expect(q, m[k].data, m[k].len, drain_order(sh, k, 6), slot);
            QASSERT_EQ(q, m[k].deliveries, 1);
        }
        for (unsigned j = 0; j < held; j++) {
            unsigned k = sh->kind == SHMQ_LIFO ? held - 1 - j : j;
            ASSERT_OK(shmq_release(q, &m[k]));
            assert_int_equal(shmq_release(q, &m[k]), -EINVAL); /* once */
            assert_int_equal(shmq_ack(q, &m[k]), -EINVAL);     /* no longer ours */
        }
        QASSERT_EQ(q, depth_of(q), 6);
        for (uint32_t k = 0; k < 6; k++) {
            struct shmq_msg c;
            ASSERT_OK(shmq_claim(q, &c, 0));
            msg_expect(q, c.data, c.len, drain_order(sh, k, 6), slot);
            QASSERT_EQ(q, c.deliveries, 1); /* the released claim did not count */
            ASSERT_OK(shmq_ack(q, &c));
        }
        struct shmq_stat st;
        ASSERT_OK(shmq_stat(q, &st));
        QASSERT_EQ(q, st.released, held);
        QASSERT_EQ(q, st.nacked, 0);
        QASSERT_EQ(q, st.redelivered, 0);
        QASSERT_EQ(q, st.dead_lettered + st.dropped, 0);
        QASSERT_EQ(q, st.acked, 6);
        QASSERT_EQ(q, st.depth, 0);
        QASSERT_EQ(q, st.in_flight, 0);
        char why[256];
        assert_int_equal(shmq_check(q, why, sizeof why), 0);
        destroy(q);
    }
}

static void metadata_round_trip(void **state)
{
    (void)state;
    FOR_EACH_SHAPE(sh, slot)
    {
        if (slot < 256)
            continue;
        shmq_t *q = make(sh, slot);
        struct shmq_msg in = {.data = "payload",
                              .len = 7,
                              .timestamp_ns = 1234567890123,
                              .type = "order.created",
                              .correlation_id = "c-42",
                              .reply_to = "replies.1"};
        ASSERT_OK(shmq_push_msg(q, &in, 0));
        struct shmq_msg plain = {.data = "p", .len = 1};
        ASSERT_OK(shmq_push_msg(q, &plain, 0));
        struct shmq_msg only_type = {.data = "", .len = 0, .type = "t"};
        ASSERT_OK(shmq_push_msg(q, &only_type, 0));
        for (int k = 0; k < 3; k++) {
            struct shmq_msg m;
            ASSERT_OK(shmq_claim(q, &m, 0));
            int which = sh->kind == SHMQ_LIFO ? 2 - k : k;
            if (which == 0) {
                assert_int_equal(m.len, 7);
                assert_memory_equal(m.data, "payload", 7);
                assert_int_equal(m.timestamp_ns, 1234567890123);
                assert_string_equal(m.type, "order.created");
                assert_string_equal(m.correlation_id, "c-42");
                assert_string_equal(m.reply_to, "replies.1");
            } else if (which == 1) {
                assert_int_equal(m.len, 1);
                assert_null(m.type);
                assert_null(m.correlation_id);
                assert_null(m.reply_to);
                assert_int_equal(m.timestamp_ns, 0);
            } else {
                assert_int_equal(m.len, 0);
                assert_string_equal(m.type, "t");
                assert_null(m.reply_to);
            }
            ASSERT_OK(shmq_ack(q, &m));
        }
        destroy(q);
    }
}

struct peek_seen {
    uint32_t count;
    unsigned char first[8];
};
static int peek_record(const struct shmq_msg *m, void *arg)
{
    struct peek_seen *s = arg;
    if (s->count < 8 && m->len == 1)
        s->first[s->count] = *(const unsigned char *)m->data;
    s->count++;
    return 0;
}

static void peek_shows_without_taking_and_purge_takes_all(void **state)
{
    (void)state;
    FOR_EACH_SHAPE(sh, slot)
    {
        shmq_t *q = make(sh, slot);
        for (unsigned char c = 'a'; c < 'a' + 6; c++)
            ASSERT_OK(shmq_push(q, &c, 1, 0));
        struct peek_seen seen = {0};
        assert_int_equal(shmq_peek(q, 4, peek_record, &seen), 4);
        QASSERT_EQ(q, seen.count, 4);
        for (uint32_t k = 0; k < 4; k++)
            QASSERT_EQ(q, seen.first[k], 'a' + drain_order(sh, k, 6));
        QASSERT_EQ(q, depth_of(q), 6);
        memset(&seen, 0, sizeof seen);
        assert_int_equal(shmq_peek(q, 100, peek_record, &seen), 6);
        assert_int_equal(shmq_purge(q), 6);
        QASSERT_EQ(q, depth_of(q), 0);
        memset(&seen, 0, sizeof seen);
        assert_int_equal(shmq_peek(q, 100, peek_record, &seen), 0);
        destroy(q);
    }
}

/* Close gives back what the handle holds: claims, reservations, a kept-back message. */
static void close_gives_everything_back(void **state)
{
    (void)state;
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        const struct shape *sh = &shapes[s];
        shmq_t *q = make(sh, 64), *c;
        ASSERT_OK(shmq_push(q, "hello", 5, 0));
        ASSERT_OK(shmq_push(q, "world", 5, 0));
        ASSERT_OK(shmq_open(shmq_name(q), &c));
        struct shmq_msg m;
        char buf[1];
        ASSERT_OK(shmq_claim(c, &m, 0));
        if (!(sh->flags & SHMQ_SINGLE_CONSUMER))
            assert_int_equal(shmq_pop(c, buf, sizeof buf, 0), -EMSGSIZE); /* keeps one back */
        struct shmq_msg r;
        ASSERT_OK(shmq_reserve(q, 3, &r, 0));
        ASSERT_OK(shmq_close(c));
        ASSERT_OK(shmq_discard(q, &r));
        char out[8];
        int got = 0;
        while (shmq_pop(q, out, sizeof out, 0) == 5)
            got++;
        QASSERT_EQ(q, got, 2);
        /* and the whole capacity is usable again */
        for (uint32_t i = 0; i < capacity; i++)
            ASSERT_OK(shmq_push(q, "x", 1, 0));
        assert_int_equal(shmq_push(q, "x", 1, 0), -EAGAIN);
        destroy(q);
    }
}

/* ---- blocking ---- */

struct blocker {
    shmq_t *q;
    int result;
    char buf[64];
};

static void *blocked_pop(void *arg)
{
    struct blocker *b = arg;
    b->result = (int)shmq_pop(b->q, b->buf, sizeof b->buf, SHMQ_FOREVER);
    return NULL;
}

static void *blocked_push(void *arg)
{
    struct blocker *b = arg;
    b->result = shmq_push(b->q, "late", 4, SHMQ_FOREVER);
    return NULL;
}

/* Until one more caller than `before` has gone to sleep on the queue (a fixed pause is not
 * enough on a loaded machine: the waiter may still be spinning when the wake-up comes). */
static void until_asleep(shmq_t *q, uint64_t before)
{
    for (int i = 0; i < 5000; i++) {
        struct shmq_stat st;
        ASSERT_OK(shmq_stat(q, &st));
        if (st.waits > before)
            return;
        usleep(1000);
    }
    fail_msg("the blocked caller never went to sleep");
}

static uint64_t waits_of(shmq_t *q)
{
    struct shmq_stat st;
    ASSERT_OK(shmq_stat(q, &st));
    return st.waits;
}

static void waiters_are_woken(void **state)
{
    (void)state;
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        const struct shape *sh = &shapes[s];
        shmq_t *q = make(sh, 64);
        struct blocker b = {.result = -1000};
        ASSERT_OK(shmq_open(shmq_name(q), &b.q));
        pthread_t t;
        uint64_t waits = waits_of(q);
        assert_int_equal(pthread_create(&t, NULL, blocked_pop, &b), 0);
        until_asleep(q, waits); /* asleep on the futex */
        ASSERT_OK(shmq_push(q, "wake", 4, 0));
        pthread_join(t, NULL);
        assert_int_equal(b.result, 4);
        assert_memory_equal(b.buf, "wake", 4);
        /* and a producer blocked on a full queue is woken by a pop */
        shmq_t *producer = q, *consumer = b.q;
        for (uint32_t i = 0; i < capacity; i++)
            ASSERT_OK(shmq_push(producer, "f", 1, 0));
        struct blocker p = {.q = producer, .result = -1000};
        waits = waits_of(q);
        assert_int_equal(pthread_create(&t, NULL, blocked_push, &p), 0);
        until_asleep(q, waits);
        char buf[8];
        assert_int_equal(shmq_pop(consumer, buf, sizeof buf, 0), 1);
        pthread_join(t, NULL);
        assert_int_equal(p.result, 0);
        struct shmq_stat st;
        ASSERT_OK(shmq_stat(q, &st));
        QASSERT_EQ(q, st.waits >= 2, 1);
        QASSERT_EQ(q, st.wakeups >= 2, 1);
        shmq_close(consumer);
        destroy(q);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(bad_arguments),
        cmocka_unit_test(oversized_messages_enqueue_nothing),
        cmocka_unit_test(empty_and_full_without_waiting_and_with_timeouts),
        cmocka_unit_test(small_buffer_keeps_the_message),
        cmocka_unit_test(copy_path_gives_way_to_what_comes_first),
        cmocka_unit_test(single_roles_are_enforced),
        cmocka_unit_test(copy_api_round_trip),
        cmocka_unit_test(batch_api_round_trip),
        cmocka_unit_test(pop_batch_stops_at_a_small_buffer),
        cmocka_unit_test(zero_copy_round_trip_with_nack),
        cmocka_unit_test(release_gives_back_undelivered_first_in_line),
        cmocka_unit_test(metadata_round_trip),
        cmocka_unit_test(peek_shows_without_taking_and_purge_takes_all),
        cmocka_unit_test(close_gives_everything_back),
        cmocka_unit_test(waiters_are_woken),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
