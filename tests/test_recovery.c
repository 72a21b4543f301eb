/*
 * Recovery and task-queue semantics, one behaviour per test: liveness (pid reuse included),
 * a dead consumer's claim delivered again with its count raised, a dead producer's
 * reservation given back, orphans and stranded ring entries restored, a participant table
 * full of the dead, max deliveries and dead letters, TTL, delayed nacks, request-reply.
 * Internal: it reaches into the segment to stage what a process killed at an exact
 * instruction leaves behind.
 */
#include <pthread.h>
#include <signal.h>

#include "test_util.h"

#include "internal.h"
#include "scq.h"
#include "slot.h"
#include "stack.h"

/* A child that opens `name`, runs `act`, then SIGKILLs itself. */
static void die_after(const char *name, void (*act)(shmq_t *q))
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        shmq_t *q;
        CHILD_CHECK(shmq_open(name, &q) == 0);
        act(q);
        raise(SIGKILL);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
}

static void claim_one(shmq_t *q)
{
    struct shmq_msg m;
    CHILD_CHECK(shmq_claim(q, &m, 0) == 0);
}

static void reserve_all(shmq_t *q)
{
    struct shmq_msg m;
    while (shmq_reserve(q, 8, &m, 0) == 0)
        ;
}

static void dead_consumer_claim_is_delivered_again(void **state)
{
    (void)state;
    struct shmq_config shapes[] = {
        {.capacity = 8},
        {.kind = SHMQ_LIFO, .capacity = 8},
        {.capacity = 8, .flags = SHMQ_SINGLE_PRODUCER | SHMQ_SINGLE_CONSUMER},
    };
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        const char *name = test_name("deadclaim");
        shmq_t *q;
        ASSERT_OK(shmq_create(name, &shapes[s], &q));
        ASSERT_OK(shmq_push(q, "task", 4, 0));
        die_after(name, claim_one);
        struct shmq_stat st;
        ASSERT_OK(shmq_stat(q, &st)); /* a writable handle reaps first */
        QASSERT_EQ(q, st.dead, 0);
        QASSERT_EQ(q, st.participants, 1);
        struct shmq_msg m;
        ASSERT_OK(shmq_claim(q, &m, 0));
        assert_int_equal(m.len, 4);
        assert_memory_equal(m.data, "task", 4);
        QASSERT_EQ(q, m.deliveries, 2);
        ASSERT_OK(shmq_ack(q, &m));
        ASSERT_OK(shmq_stat(q, &st));
        QASSERT_EQ(q, st.redelivered, 1);
        QASSERT_EQ(q, st.depth, 0);
        shmq_close(q);
    }
}

/* An observer's shmq_stat, shmq_participant_list and shmq_topic_stat never run the reaper
 * (shmq serve looks at every queue this way, and must change nothing): what a dead consumer
 * holds stays held however often an observer looks, until a handle that may use the queue
 * opens it, which the end of each half checks, so that the test can fail. */
static void observers_never_reap(void **state)
{
    (void)state;
    const char *name = test_name("observe");
    shmq_t *q, *o;
    struct shmq_stat st;
    struct shmq_participant_info parts[4];
    ASSERT_OK(shmq_create(name, &(struct shmq_config){.capacity = 8}, &q));
    ASSERT_OK(shmq_push(q, "task", 4, 0));
    ASSERT_OK(shmq_close(q));
    die_after(name, claim_one);
    ASSERT_OK(shmq_open_ex(name, SHMQ_OPEN_OBSERVE, &o));
    for (int i = 0; i < 5; i++) {
        ASSERT_OK(shmq_stat(o, &st));
        QASSERT_EQ(o, st.participants, 1);
        QASSERT_EQ(o, st.dead, 1);
        QASSERT_EQ(o, st.in_flight, 1);
        QASSERT_EQ(o, st.depth, 0);
        QASSERT_EQ(o, st.recovered, 0);
        assert_int_equal(shmq_participant_list(o, parts, 4), 1);
        assert_int_equal(parts[0].alive, 0);
        assert_int_equal(parts[0].popped, 1);
    }
    ASSERT_OK(shmq_open(name, &q)); /* a user's open reaps */
    ASSERT_OK(shmq_stat(o, &st));
    QASSERT_EQ(o, st.dead, 0);
    QASSERT_EQ(o, st.recovered, 1);
    QASSERT_EQ(o, st.depth, 1);
    ASSERT_OK(shmq_close(q));
    ASSERT_OK(shmq_close(o));

    const char *topic = test_name("observe-topic");
    shmq_topic_t *t, *ot;
    struct shmq_topic_stat ts;
    ASSERT_OK(shmq_topic_create(topic, NULL, &t));
    ASSERT_OK(shmq_topic_close(t));
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        shmq_sub_t *sub;
        CHILD_CHECK(shmq_topic_open(topic, &t) == 0);
        CHILD_CHECK(shmq_subscribe(t, "#", "g", SHMQ_SUB_DURABLE, &sub) == 0);
        raise(SIGKILL);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    ASSERT_OK(shmq_topic_open_ex(topic, SHMQ_OPEN_OBSERVE, &ot));
    ASSERT_OK(shmq_topic_stat(ot, &ts));
    uint32_t dead = ts.dead, members = ts.members;
    assert_true(dead >= 1);
    assert_int_equal(members, 1);
    for (int i = 0; i < 5; i++) {
        ASSERT_OK(shmq_topic_stat(ot, &ts));
        assert_int_equal(ts.dead, dead);
        assert_int_equal(ts.members, members);
    }
    ASSERT_OK(shmq_topic_open(topic, &t)); /* a user's open releases the dead */
    ASSERT_OK(shmq_topic_stat(ot, &ts));
    assert_int_equal(ts.dead, 0);
    assert_int_equal(ts.members, 0);
    ASSERT_OK(shmq_topic_close(t));
    ASSERT_OK(shmq_topic_close(ot));
}

/* A consumer asleep in a long wait looks for dead peers every second: the claim of one that
 * died comes back to it without anyone opening the queue or calling stat. */
static void a_sleeper_reaps_a_dead_peer(void **state)
{
    (void)state;
    const char *name = test_name("sleeper");
    shmq_t *q;
    ASSERT_OK(shmq_create(name, &(struct shmq_config){.capacity = 4}, &q));
    ASSERT_OK(shmq_push(q, "only", 4, 0));
    die_after(name, claim_one);
    int64_t t0 = test_now_ns();
    struct shmq_msg m;
    ASSERT_OK(shmq_claim(q, &m, 10000 * MS));
    int64_t waited = test_now_ns() - t0;
    QASSERT_EQ(q, m.deliveries, 2);
    if (waited > 3000 * MS)
        fail_msg("the dead peer's claim came back after %lld ms, not within a slice",
                 (long long)(waited / MS));
    ASSERT_OK(shmq_ack(q, &m));
    shmq_close(q);
}

/* Opening runs the reaper; a repair right after reports what that pass already did. */
static void repair_after_open_reports_what_open_recovered(void **state)
{
    (void)state;
    const char *name = test_name("openrepair");
    shmq_t *q, *later;
    ASSERT_OK(shmq_create(name, &(struct shmq_config){.capacity = 4}, &q));
    ASSERT_OK(shmq_push(q, "m", 1, 0));
    die_after(name, claim_one);
    ASSERT_OK(shmq_open(name, &later)); /* reaps: the claim goes back now */
    struct shmq_repair_report r;
    ASSERT_OK(shmq_repair(later, &r));
    QASSERT_EQ(q, r.dead_participants, 1);
    QASSERT_EQ(q, r.claims_returned, 1);
    ASSERT_OK(shmq_repair(later, &r)); /* reported once */
    QASSERT_EQ(q, r.claims_returned, 0);
    shmq_close(later);
    shmq_close(q);
}

static void dead_producer_reservations_come_back(void **state)
{
    (void)state;
    for (int kind = 0; kind < 2; kind++) {
        const char *name = test_name("deadres");
        shmq_t *q;
        ASSERT_OK(shmq_create(name, &(struct shmq_config){.kind = kind, .capacity = 6}, &q));
        die_after(name, reserve_all);
        struct shmq_repair_report r;
        ASSERT_OK(shmq_repair(q, &r));
        QASSERT_EQ(q, r.dead_participants, 1);
        QASSERT_EQ(q, r.reservations_freed, 6);
        for (int i = 0; i < 6; i++)
            ASSERT_OK(shmq_push(q, "x", 1, 0)); /* the whole capacity again */
        assert_int_equal(shmq_push(q, "x", 1, 0), -EAGAIN);
        shmq_close(q);
    }
}

/* A FIFO handle keeps runs of free slots in a stash (held WRITING): a producer that dies
 * with one loses nothing: the reaper frees them and the whole capacity is usable again. */
static void push_some_pop_some(shmq_t *q)
{
    char buf[8];
    for (int i = 0; i < 5; i++)
        CHILD_CHECK(shmq_push(q, "s", 1, 0) == 0);
    struct iovec iov[3] = {{"a", 1}, {"b", 1}, {"c", 1}};
    CHILD_CHECK(shmq_push_batch(q, iov, 3, 0) == 3);
    for (int i = 0; i < 2; i++)
        CHILD_CHECK(shmq_pop(q, buf, sizeof buf, 0) == 1);
}

static void dead_producer_stash_comes_back(void **state)
{
    (void)state;
    const uint32_t cap = 256;
    const char *name = test_name("deadstash");
    shmq_t *q;
    ASSERT_OK(shmq_create(name, &(struct shmq_config){.capacity = cap}, &q));
    die_after(name, push_some_pop_some);
    struct shmq_repair_report r;
    ASSERT_OK(shmq_repair(q, &r));
    QASSERT_EQ(q, r.dead_participants, 1);
    QASSERT_EQ(q, r.reservations_freed > 0, 1); /* the stash the child kept */
    char why[256];
    assert_int_equal(shmq_check(q, why, sizeof why), 0);
    uint32_t fit = 0;
    while (shmq_push(q, "y", 1, 0) == 0)
        fit++;
    QASSERT_EQ(q, fit, cap - 6); /* 8 pushed, 2 popped: every other slot is free again */
    struct shmq_stat st;
    ASSERT_OK(shmq_stat(q, &st));
    QASSERT_EQ(q, st.depth, cap);
    ASSERT_OK(shmq_purge(q));
    shmq_close(q);
}

/* A participant whose process start time does not match (its pid was reused) is dead. */
static void reused_pid_is_not_alive(void **state)
{
    (void)state;
    const char *name = test_name("pidreuse");
    shmq_t *q, *other;
    ASSERT_OK(shmq_create(name, &(struct shmq_config){.capacity = 4}, &q));
    ASSERT_OK(shmq_open(name, &other));
    ASSERT_OK(shmq_push(q, "job", 3, 0));
    struct shmq_msg m;
    ASSERT_OK(shmq_claim(other, &m, 0));
    struct shmq_participant_info info[4];
    assert_int_equal(shmq_participant_list(q, info, 4), 2);
    assert_true(info[0].alive && info[1].alive);
    /* Same pid (ours), another start time: what a recycled pid looks like. */
    other->self->start_time ^= 0x5a5a;
    assert_int_equal(shmq_participant_list(q, info, 4), 2);
    assert_int_equal(info[0].alive + info[1].alive, 1);
    struct shmq_repair_report r;
    ASSERT_OK(shmq_repair(q, &r));
    QASSERT_EQ(q, r.dead_participants, 1);
    QASSERT_EQ(q, r.claims_returned, 1);
    struct shmq_msg again;
    ASSERT_OK(shmq_claim(q, &again, 0));
    QASSERT_EQ(q, again.deliveries, 2);
    ASSERT_OK(shmq_ack(q, &again));
    shmq_close(other); /* its entry was reaped: close frees only what is still its own */
    shmq_close(q);
}

/* Stage the orphans a process leaves when it dies between a ring step and the state store:
 * an index taken out of the ready ring (state still READY) and one out of the free ring. */
static void orphans_are_restored(void **state)
{
    (void)state;
    for (int kind = 0; kind < 2; kind++) {
        const char *name = test_name("orphan");
        shmq_t *q;
        ASSERT_OK(shmq_create(name, &(struct shmq_config){.kind = kind, .capacity = 4}, &q));
        ASSERT_OK(shmq_push(q, "a", 1, 0));
        ASSERT_OK(shmq_push(q, "b", 1, 0));
        struct shmq__mapping *m = q->map;
        if (m->ready_ring) {
            assert_true(shmq__scq_dequeue(m->ready_ring, m->geo.ring_order) < 4); /* "a" */
            assert_true(shmq__scq_dequeue(m->free_ring, m->geo.ring_order) < 4);
        } else {
            assert_true(shmq__stack_pop(&m->links, m->ready_stack) >= 0); /* "b" */
            assert_true(shmq__stack_pop(&m->links, m->free_stack) >= 0);
        }
        /* Only a death makes the reaper look for orphans. */
        char why[256];
        assert_int_equal(shmq_check(q, why, sizeof why), -EBADMSG); /* the orphans show */
        atomic_store(&m->hdr->orphans_pending, 1);
        struct shmq_repair_report r;
        ASSERT_OK(shmq_repair(q, &r));
        QASSERT_EQ(q, r.orphans_restored, 2);
        assert_int_equal(shmq_check(q, NULL, 0), 0);
        char buf[4];
        int got = 0;
        while (shmq_pop(q, buf, sizeof buf, 0) == 1)
            got++;
        QASSERT_EQ(q, got, 2);
        for (int i = 0; i < 4; i++)
            ASSERT_OK(shmq_push(q, "x", 1, 0));
        assert_int_equal(shmq_push(q, "x", 1, 0), -EAGAIN);
        /* Nothing is restored twice. */
        atomic_store(&m->hdr->orphans_pending, 1);
        ASSERT_OK(shmq_repair(q, &r));
        QASSERT_EQ(q, r.orphans_restored, 0);
        shmq_close(q);
    }
}

/* A consumer killed after its fetch-and-add on head, before taking its entry. */
static void stranded_ring_entries_are_restored(void **state)
{
    (void)state;
    const char *name = test_name("stranded");
    shmq_t *q;
    ASSERT_OK(shmq_create(name, &(struct shmq_config){.capacity = 4}, &q));
    ASSERT_OK(shmq_push(q, "first", 5, 0));
    ASSERT_OK(shmq_push(q, "second", 6, 0));
    atomic_fetch_add(&q->map->ready_ring->head, 1); /* the dead consumer's position */
    char buf[8];
    assert_int_equal(shmq_pop(q, buf, sizeof buf, 0), 6); /* "first" is passed by */
    assert_memory_equal(buf, "second", 6);
    assert_int_equal(shmq_pop(q, buf, sizeof buf, 0), -EAGAIN);
    atomic_store(&q->map->hdr->orphans_pending, 1);
    struct shmq_repair_report r;
    ASSERT_OK(shmq_repair(q, &r));
    QASSERT_EQ(q, r.orphans_restored, 1);
    assert_int_equal(shmq_pop(q, buf, sizeof buf, 0), 5);
    assert_memory_equal(buf, "first", 5);
    shmq_close(q);
}

static void do_nothing(shmq_t *q)
{
    (void)q;
}

static void full_table_of_the_dead_is_reused(void **state)
{
    (void)state;
    const char *name = test_name("fulltable");
    shmq_t *q;
    ASSERT_OK(shmq_create(name, &(struct shmq_config){.capacity = 4, .max_participants = 3}, &q));
    ASSERT_OK(shmq_push(q, "m", 1, 0));
    die_after(name, claim_one);
    die_after(name, do_nothing);
    /* The table holds us and two dead entries: an opener adopts one. */
    shmq_t *late;
    ASSERT_OK(shmq_open(name, &late));
    struct shmq_stat st;
    ASSERT_OK(shmq_stat(q, &st));
    QASSERT_EQ(q, st.dead, 0);
    QASSERT_EQ(q, st.participants, 2);
    struct shmq_msg m;
    ASSERT_OK(shmq_claim(late, &m, 0));
    QASSERT_EQ(q, m.deliveries, 2);
    ASSERT_OK(shmq_ack(late, &m));
    shmq_close(late);
    shmq_close(q);
}

static void max_deliveries_dead_letters(void **state)
{
    (void)state;
    for (int kind = 0; kind < 3; kind++) {
        const char *name = test_name("maxdel");
        const char *dlq_name = test_name("maxdel-dlq");
        struct shmq_config cfg = {
            .capacity = 4, .slot_size = 128, .max_deliveries = 3, .dead_letter = dlq_name};
        if (kind == 1)
            cfg.kind = SHMQ_LIFO;
        if (kind == 2)
            cfg.flags = SHMQ_SINGLE_PRODUCER | SHMQ_SINGLE_CONSUMER;
        shmq_t *q;
        ASSERT_OK(shmq_create(name, &cfg, &q));
        struct shmq_msg in = {.data = "poison", .len = 6, .type = "job"};
        ASSERT_OK(shmq_push_msg(q, &in, 0));
        for (uint32_t d = 1; d <= 3; d++) {
            struct shmq_msg m;
            ASSERT_OK(shmq_claim(q, &m, 0));
            QASSERT_EQ(q, m.deliveries, d);
            ASSERT_OK(shmq_nack(q, &m));
        }
        struct shmq_msg m;
        assert_int_equal(shmq_claim(q, &m, 0), -EAGAIN); /* the 4th delivery never happens */
        struct shmq_stat st;
        ASSERT_OK(shmq_stat(q, &st));
        QASSERT_EQ(q, st.dead_lettered, 1);
        assert_string_equal(st.dead_letter, dlq_name);
        shmq_t *dlq;
        ASSERT_OK(shmq_open(dlq_name, &dlq));
        ASSERT_OK(shmq_claim(dlq, &m, 0));
        assert_int_equal(m.len, 6);
        assert_memory_equal(m.data, "poison", 6);
        assert_string_equal(m.type, "job");
        ASSERT_OK(shmq_ack(dlq, &m));
        shmq_close(dlq);
        shmq_close(q);
    }
}

/* A dead consumer's claim past its delivery limit: the reaper dead-letters it at once when
 * the reaping handle already has the dead-letter queue open, and otherwise requeues it (it
 * never opens a queue itself), so that the next claim dead-letters it. Either way it ends in
 * the dead-letter queue, once, and is never delivered again. */
static void dead_consumer_spent_claim_is_dead_lettered(void **state)
{
    (void)state;
    for (int kind = 0; kind < 2; kind++) {
        for (int dlq_open = 0; dlq_open < 2; dlq_open++) {
            const char *name = test_name("spent");
            const char *dlq_name = test_name("spent-dlq");
            struct shmq_config cfg = {.kind = kind ? SHMQ_LIFO : SHMQ_FIFO,
                                      .capacity = 4,
                                      .slot_size = 64,
                                      .max_deliveries = 1,
                                      .dead_letter = dlq_name};
            shmq_t *q, *dlq;
            ASSERT_OK(shmq_create(name, &cfg, &q));
            uint64_t before = 0;
            if (dlq_open) {
                /* This handle dead-letters one message first: its dead-letter queue is open. */
                struct shmq_msg m;
                ASSERT_OK(shmq_push(q, "first", 5, 0));
                ASSERT_OK(shmq_claim(q, &m, 0));
                ASSERT_OK(shmq_nack(q, &m));
                assert_int_equal(shmq_claim(q, &m, 0), -EAGAIN);
                before = 1;
            }
            ASSERT_OK(shmq_push(q, "poison", 6, 0));
            die_after(name, claim_one);
            struct shmq_repair_report r;
            ASSERT_OK(shmq_repair(q, &r));
            QASSERT_EQ(q, r.claims_returned, 1);
            QASSERT_EQ(q, r.dead_lettered, (uint64_t)dlq_open);
            if (!dlq_open) /* requeued, and the reaper made no queue */
                assert_int_equal(shmq_open(dlq_name, &dlq), -ENOENT);
            struct shmq_msg m;
            assert_int_equal(shmq_claim(q, &m, 0), -EAGAIN); /* never delivered again */
            struct shmq_stat st;
            ASSERT_OK(shmq_stat(q, &st));
            QASSERT_EQ(q, st.dead_lettered, before + 1);
            QASSERT_EQ(q, st.depth, 0);
            QASSERT_EQ(q, st.in_flight, 0);
            ASSERT_OK(shmq_open(dlq_name, &dlq));
            int poison = 0; /* a LIFO's dead-letter queue is a LIFO: any order */
            for (uint64_t i = 0; i < before + 1; i++) {
                ASSERT_OK(shmq_claim(dlq, &m, 0));
                poison += m.len == 6 && memcmp(m.data, "poison", 6) == 0;
                ASSERT_OK(shmq_ack(dlq, &m));
            }
            assert_int_equal(poison, 1);
            assert_int_equal(shmq_claim(dlq, &m, 0), -EAGAIN); /* once */
            shmq_close(dlq);
            shmq_close(q);
        }
    }
}

static void without_dead_letter_queue_they_are_dropped_and_counted(void **state)
{
    (void)state;
    const char *name = test_name("drop");
    shmq_t *q;
    ASSERT_OK(shmq_create(name, &(struct shmq_config){.capacity = 4, .max_deliveries = 1}, &q));
    ASSERT_OK(shmq_push(q, "x", 1, 0));
    struct shmq_msg m;
    ASSERT_OK(shmq_claim(q, &m, 0));
    ASSERT_OK(shmq_nack(q, &m));
    assert_int_equal(shmq_claim(q, &m, 0), -EAGAIN);
    struct shmq_stat st;
    ASSERT_OK(shmq_stat(q, &st));
    QASSERT_EQ(q, st.dropped, 1);
    QASSERT_EQ(q, st.depth, 0);
    shmq_close(q);
}

static void expired_messages_are_never_delivered(void **state)
{
    (void)state;
    for (int kind = 0; kind < 3; kind++) {
        const char *name = test_name("ttl");
        const char *dlq_name = test_name("ttl-dlq");
        struct shmq_config cfg = {.capacity = 8, .ttl_ns = 50 * MS, .dead_letter = dlq_name};
        if (kind == 1)
            cfg.kind = SHMQ_LIFO;
        if (kind == 2)
            cfg.flags = SHMQ_SINGLE_PRODUCER | SHMQ_SINGLE_CONSUMER;
        shmq_t *q;
        ASSERT_OK(shmq_create(name, &cfg, &q));
        ASSERT_OK(shmq_push(q, "old", 3, 0));
        usleep(80000);
        ASSERT_OK(shmq_push(q, "new", 3, 0));
        char buf[8];
        assert_int_equal(shmq_pop(q, buf, sizeof buf, 0), 3);
        assert_memory_equal(buf, "new", 3);
        assert_int_equal(shmq_pop(q, buf, sizeof buf, 0), -EAGAIN);
        struct shmq_stat st;
        ASSERT_OK(shmq_stat(q, &st));
        QASSERT_EQ(q, st.expired, 1);
        QASSERT_EQ(q, st.dead_lettered, 1);
        shmq_t *dlq;
        ASSERT_OK(shmq_open(dlq_name, &dlq));
        assert_int_equal(shmq_pop(dlq, buf, sizeof buf, 0), 3);
        assert_memory_equal(buf, "old", 3);
        shmq_close(dlq);
        shmq_close(q);
    }
}

static void delayed_nack_waits_its_turn(void **state)
{
    (void)state;
    for (int kind = 0; kind < 3; kind++) {
        const char *name = test_name("delay");
        struct shmq_config cfg = {.capacity = 8};
        if (kind == 1)
            cfg.kind = SHMQ_LIFO;
        if (kind == 2)
            cfg.flags = SHMQ_SINGLE_PRODUCER | SHMQ_SINGLE_CONSUMER;
        shmq_t *q;
        ASSERT_OK(shmq_create(name, &cfg, &q));
        ASSERT_OK(shmq_push(q, "retry", 5, 0));
        struct shmq_msg m;
        ASSERT_OK(shmq_claim(q, &m, 0));
        int64_t t0 = test_now_ns();
        ASSERT_OK(shmq_nack_delayed(q, &m, 150 * MS));
        assert_int_equal(shmq_claim(q, &m, 0), -EAGAIN); /* not yet */
        if (kind != 2) {
            /* Others are not held back (the SPSC ring keeps order: it is). */
            ASSERT_OK(shmq_push(q, "other", 5, 0));
            ASSERT_OK(shmq_claim(q, &m, 0));
            assert_memory_equal(m.data, "other", 5);
            ASSERT_OK(shmq_ack(q, &m));
        }
        ASSERT_OK(shmq_claim(q, &m, 2000 * MS));
        int64_t waited = test_now_ns() - t0;
        assert_memory_equal(m.data, "retry", 5);
        QASSERT_EQ(q, m.deliveries, 2);
        if (waited < 150 * MS)
            fail_msg("a 150 ms delay came back after %lld ns", (long long)waited);
        ASSERT_OK(shmq_ack(q, &m));
        shmq_close(q);
    }
}

/* Many messages waiting far in the future must not hide one due soon (the due word is a
 * lower bound of them all), and none comes back before its time; in order of time. */
static void delayed_messages_come_back_in_time_order(void **state)
{
    (void)state;
    for (int kind = 0; kind < 2; kind++) {
        const char *name = test_name("delays");
        shmq_t *q;
        ASSERT_OK(shmq_create(name, &(struct shmq_config){.kind = kind, .capacity = 64}, &q));
        char who[22];
        for (int i = 0; i < 22; i++) {
            char c = (char)('a' + i);
            ASSERT_OK(shmq_push(q, &c, 1, 0));
        }
        int64_t t0 = test_now_ns();
        /* 20 messages an hour away, one at 300 ms, one at 100 ms (nacked in that order). */
        for (int i = 0; i < 22; i++) {
            struct shmq_msg m;
            ASSERT_OK(shmq_claim(q, &m, 0));
            char c = ((char *)m.data)[0];
            int64_t delay = i == 20 ? 300 * MS : i == 21 ? 100 * MS : 3600000 * MS;
            ASSERT_OK(shmq_nack_delayed(q, &m, delay));
            who[i] = c; /* which message got which delay */
        }
        struct shmq_msg m;
        assert_int_equal(shmq_claim(q, &m, 0), -EAGAIN);
        for (int k = 0; k < 2; k++) {
            int64_t due = k == 0 ? 100 * MS : 300 * MS;
            ASSERT_OK(shmq_claim(q, &m, 3000 * MS));
            int64_t waited = test_now_ns() - t0;
            QASSERT_EQ(q, ((char *)m.data)[0], who[k == 0 ? 21 : 20]);
            if (waited < due)
                fail_msg("a %lld ms delay came back after %lld ns", (long long)(due / MS),
                         (long long)waited);
            ASSERT_OK(shmq_ack(q, &m));
        }
        assert_int_equal(shmq_claim(q, &m, 50 * MS), -ETIMEDOUT); /* the hour-long ones */
        struct shmq_stat st;
        ASSERT_OK(shmq_stat(q, &st));
        QASSERT_EQ(q, st.depth, 20);
        shmq_close(q);
        ASSERT_OK(shmq_unlink(name));
    }
}

/* ---- request-reply ---- */

struct server {
    const char *name;
    int served;
};

static void *serve(void *arg)
{
    struct server *s = arg;
    shmq_t *q;
    if (shmq_open(s->name, &q) != 0)
        return NULL;
    for (;;) {
        struct shmq_msg m;
        if (shmq_claim(q, &m, 2000 * MS) != 0)
            break;
        if (m.len == 4 && memcmp(m.data, "quit", 4) == 0) {
            shmq_ack(q, &m);
            break;
        }
        char answer[64];
        int n = snprintf(answer, sizeof answer, "echo:%.*s", (int)m.len, (char *)m.data);
        if (shmq_reply(q, &m, answer, (size_t)n) == 0)
            s->served++;
        shmq_ack(q, &m);
    }
    shmq_close(q);
    return NULL;
}

static void call_and_reply(void **state)
{
    (void)state;
    const char *name = test_name("rpc");
    shmq_t *q;
    ASSERT_OK(shmq_create(name, &(struct shmq_config){.capacity = 16}, &q));
    char reply[64];
    /* Nobody serves yet: the call times out. */
    assert_int_equal(shmq_call(q, "lost", 4, reply, sizeof reply, 50 * MS), -ETIMEDOUT);
    struct server s = {name, 0};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, serve, &s), 0);
    /* The late answer to the timed-out call is skipped; each call gets its own answer. */
    for (int i = 0; i < 20; i++) {
        char req[16];
        int n = snprintf(req, sizeof req, "req%d", i);
        ssize_t got = shmq_call(q, req, (size_t)n, reply, sizeof reply, 2000 * MS);
        assert_int_equal(got, n + 5);
        char want[32];
        snprintf(want, sizeof want, "echo:%s", req);
        assert_memory_equal(reply, want, (size_t)got);
    }
    assert_int_equal(shmq_call(q, "big", 3, reply, 2, 2000 * MS), -EMSGSIZE);
    struct shmq_msg no_reply_to = {.data = "x", .len = 1};
    assert_int_equal(shmq_reply(q, &no_reply_to, "y", 1), -EINVAL);
    ASSERT_OK(shmq_push(q, "quit", 4, 0));
    pthread_join(t, NULL);
    assert_int_equal(s.served, 22);
    shmq_close(q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(dead_consumer_claim_is_delivered_again),
        cmocka_unit_test(observers_never_reap),
        cmocka_unit_test(a_sleeper_reaps_a_dead_peer),
        cmocka_unit_test(repair_after_open_reports_what_open_recovered),
        cmocka_unit_test(dead_producer_reservations_come_back),
        cmocka_unit_test(dead_producer_stash_comes_back),
        cmocka_unit_test(reused_pid_is_not_alive),
        cmocka_unit_test(orphans_are_restored),
        cmocka_unit_test(stranded_ring_entries_are_restored),
        cmocka_unit_test(full_table_of_the_dead_is_reused),
        cmocka_unit_test(max_deliveries_dead_letters),
        cmocka_unit_test(dead_consumer_spent_claim_is_dead_lettered),
        cmocka_unit_test(without_dead_letter_queue_they_are_dropped_and_counted),
        cmocka_unit_test(expired_messages_are_never_delivered),
        cmocka_unit_test(delayed_nack_waits_its_turn),
        cmocka_unit_test(delayed_messages_come_back_in_time_order),
        cmocka_unit_test(call_and_reply),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
