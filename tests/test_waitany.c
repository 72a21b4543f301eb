/*
 * shmq_wait_any: bad arguments first, then readiness of every kind of queue and of a
 * subscription, timeouts, signals, wake-ups from another process (with futex_waitv and with
 * the one-futex-at-a-time fallback), delayed messages and the claims of a dead consumer.
 */
#include <signal.h>
#include <sys/time.h>

#include "test_util.h"
#include "topic.h"
#include "wait.h"

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static shmq_t *make_queue(const char *tag, enum shmq_kind kind, uint32_t flags)
{
    struct shmq_config cfg = {.kind = kind, .capacity = 8, .slot_size = 64, .flags = flags};
    shmq_t *q = NULL;
    assert_int_equal(shmq_create(test_name(tag), &cfg, &q), 0);
    return q;
}

static void bad_arguments(void **state)
{
    (void)state;
    shmq_t *q = make_queue("wa-bad", SHMQ_FIFO, 0);
    struct shmq_wait_item it[SHMQ_WAIT_ANY_MAX + 1];
    memset(it, 0, sizeof it);
    for (unsigned i = 0; i <= SHMQ_WAIT_ANY_MAX; i++)
        it[i].queue = q;
    assert_int_equal(shmq_wait_any(NULL, 1, 0), -EINVAL);
    assert_int_equal(shmq_wait_any(it, 0, 0), -EINVAL);
    assert_int_equal(shmq_wait_any(it, SHMQ_WAIT_ANY_MAX + 1, 0), -EINVAL);
    assert_int_equal(shmq_wait_any(it, 1, -1), -EINVAL);
    struct shmq_wait_item neither = {0};
    assert_int_equal(shmq_wait_any(&neither, 1, 0), -EINVAL);
    struct shmq_wait_item reserved = {.queue = q, .reserved0 = 1};
    assert_int_equal(shmq_wait_any(&reserved, 1, 0), -EINVAL);
    shmq_topic_t *t = NULL;
    shmq_sub_t *s = NULL;
    assert_int_equal(shmq_topic_create(test_name("wa-badt"), NULL, &t), 0);
    assert_int_equal(shmq_subscribe(t, NULL, NULL, 0, &s), 0);
    struct shmq_wait_item both = {.queue = q, .sub = s};
    assert_int_equal(shmq_wait_any(&both, 1, 0), -EINVAL);
    /* The full table is accepted (one distinct word). */
    assert_int_equal(shmq_wait_any(it, SHMQ_WAIT_ANY_MAX, 0), -EAGAIN);
    assert_int_equal(shmq_topic_close(t), 0);
    assert_int_equal(shmq_close(q), 0);
}

/* Every queue kind: empty is not ready, a message is, and waiting takes nothing. */
static void readiness_of_each_kind(void **state)
{
    (void)state;
    const struct {
        enum shmq_kind kind;
        uint32_t flags;
    } kinds[] = {
        {SHMQ_FIFO, 0}, {SHMQ_LIFO, 0}, {SHMQ_FIFO, SHMQ_SINGLE_PRODUCER | SHMQ_SINGLE_CONSUMER}};
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        shmq_t *a = make_queue("wa-a", kinds[k].kind, kinds[k].flags);
        shmq_t *b = make_queue("wa-b", kinds[k].kind, kinds[k].flags);
        struct shmq_wait_item it[2] = {{.queue = a}, {.queue = b}};
        it[0].ready = it[1].ready = 7;
        assert_int_equal(shmq_wait_any(it, 2, 0), -EAGAIN);
        assert_int_equal(it[0].ready, 0);
        assert_int_equal(it[1].ready, 0);
        assert_int_equal(shmq_push(b, "x", 1, 0), 0);
        assert_int_equal(shmq_wait_any(it, 2, SHMQ_FOREVER), 1);
        assert_int_equal(it[0].ready, 0);
        assert_int_equal(it[1].ready, 1);
        assert_int_equal(shmq_wait_any(it, 2, 0), 1); /* still there: nothing was taken */
        char buf[64];
        assert_int_equal(shmq_pop(b, buf, sizeof buf, 0), 1);
        assert_int_equal(shmq_wait_any(it, 2, 0), -EAGAIN);
        /* A claim in flight is not readiness; a nack makes the message ready again. */
        assert_int_equal(shmq_push(a, "y", 1, 0), 0);
        struct shmq_msg m;
        assert_int_equal(shmq_claim(a, &m, 0), 0);
        if (shmq_wait_any(it, 2, 0) != -EAGAIN) {
            fprintf(stderr, "kind %zu: a claimed message looks ready\n", k);
            test_dump(a);
            fail();
        }
        assert_int_equal(shmq_nack(a, &m), 0);
        assert_int_equal(shmq_wait_any(it, 2, 0), 1);
        assert_int_equal(it[0].ready, 1);
        assert_int_equal(shmq_close(a), 0);
        assert_int_equal(shmq_close(b), 0);
    }
}

/* A message kept back for the handle by -EMSGSIZE counts as ready. */
static void kept_back_message_is_ready(void **state)
{
    (void)state;
    shmq_t *q = make_queue("wa-held", SHMQ_FIFO, 0);
    assert_int_equal(shmq_push(q, "0123456789", 10, 0), 0);
    char small[4];
    assert_int_equal(shmq_pop(q, small, sizeof small, 0), -EMSGSIZE);
    struct shmq_wait_item it = {.queue = q};
    assert_int_equal(shmq_wait_any(&it, 1, 0), 1);
    assert_int_equal(it.ready, 1);
    assert_int_equal(shmq_close(q), 0);
}

/* A released message waits in the returned ring, not the ready one: it is ready all the same,
 * for every consumer. */
static void released_message_is_ready(void **state)
{
    (void)state;
    for (int kind = 0; kind < 2; kind++) {
        shmq_t *q = make_queue("wa-released", (enum shmq_kind)kind, 0), *other = NULL;
        assert_int_equal(shmq_open(shmq_name(q), &other), 0);
        assert_int_equal(shmq_push(q, "m", 1, 0), 0);
        struct shmq_msg m;
        assert_int_equal(shmq_claim(q, &m, 0), 0);
        struct shmq_wait_item it = {.queue = other};
        assert_int_equal(shmq_wait_any(&it, 1, 0), -EAGAIN); /* claimed: nothing to take */
        assert_int_equal(shmq_release(q, &m), 0);
        assert_int_equal(shmq_wait_any(&it, 1, 0), 1);
        assert_int_equal(it.ready, 1);
        assert_int_equal(shmq_claim(other, &m, 0), 0);
        assert_int_equal(m.deliveries, 1);
        assert_int_equal(shmq_ack(other, &m), 0);
        char name[SHMQ_NAME_MAX + 1];
        snprintf(name, sizeof name, "%s", shmq_name(q));
        assert_int_equal(shmq_close(other), 0);
        assert_int_equal(shmq_close(q), 0);
        assert_int_equal(shmq_unlink(name), 0);
    }
}

static void subscription_readiness(void **state)
{
    (void)state;
    shmq_topic_t *t = NULL;
    shmq_sub_t *s = NULL;
    assert_int_equal(shmq_topic_create(test_name("wa-topic"), NULL, &t), 0);
    assert_int_equal(shmq_subscribe(t, "a.*", NULL, 0, &s), 0);
    shmq_t *q = make_queue("wa-q", SHMQ_FIFO, 0);
    struct shmq_wait_item it[2] = {{.queue = q}, {.sub = s}};
    assert_int_equal(shmq_wait_any(it, 2, 0), -EAGAIN);
    assert_int_equal(shmq_publish(t, "a.b", "hi", 2, 0), 0);
    assert_int_equal(shmq_wait_any(it, 2, 0), 1);
    assert_int_equal(it[0].ready, 0);
    assert_int_equal(it[1].ready, 1);
    char buf[64];
    assert_int_equal(shmq_next(s, buf, sizeof buf, NULL, 0), 2);
    assert_int_equal(shmq_wait_any(it, 2, 0), -EAGAIN);
    /* A message the pattern passes over is a (bounded) spurious readiness: next moves on. */
    assert_int_equal(shmq_publish(t, "b.c", "no", 2, 0), 0);
    assert_int_equal(shmq_wait_any(it, 2, 0), 1);
    assert_int_equal(shmq_next(s, buf, sizeof buf, NULL, 0), -EAGAIN);
    assert_int_equal(shmq_wait_any(it, 2, 0), -EAGAIN);
    assert_int_equal(shmq_close(q), 0);
    assert_int_equal(shmq_topic_close(t), 0);
}

/* A cursor on a slot a publisher is still writing (or died writing) is reported after 100 ms,
 * not at every slice, so that the caller's shmq_next can pass the hole of a dead publisher. */
static void stuck_cursor_reported_late(void **state)
{
    (void)state;
    shmq_topic_t *t = NULL;
    shmq_sub_t *s = NULL;
    assert_int_equal(shmq_topic_create(test_name("wa-stuck"), NULL, &t), 0);
    assert_int_equal(shmq_subscribe(t, NULL, NULL, 0, &s), 0);
    uint64_t c = atomic_load(&t->groups[s->group].cursor);
    struct shmq__topic_slot *slot =
        (struct shmq__topic_slot *)(t->slots + (c & (t->geo.capacity - 1u)) * t->geo.slot_stride);
    uint64_t was = atomic_load(&slot->word);
    atomic_store(&slot->word, shmq__tslot_word(c, SHMQ__TSLOT_WRITING)); /* a publisher stopped */
    struct shmq_wait_item it = {.sub = s};
    assert_int_equal(shmq_wait_any(&it, 1, 0), -EAGAIN); /* not ready at once */
    int64_t t0 = now_ns();
    assert_int_equal(shmq_wait_any(&it, 1, 5000 * 1000000LL), 1);
    int64_t took = now_ns() - t0;
    assert_true(took >= 95 * 1000000LL);
    assert_true(took < 2000 * 1000000LL);
    atomic_store(&slot->word, was);
    assert_int_equal(shmq_topic_close(t), 0);
}

static void timeout_ends_the_wait(void **state)
{
    (void)state;
    shmq_t *q = make_queue("wa-to", SHMQ_FIFO, 0);
    struct shmq_wait_item it = {.queue = q};
    int64_t t0 = now_ns();
    assert_int_equal(shmq_wait_any(&it, 1, 50 * 1000000LL), -ETIMEDOUT);
    int64_t took = now_ns() - t0;
    assert_true(took >= 50 * 1000000LL);
    assert_true(took < 2000 * 1000000LL);
    assert_int_equal(it.ready, 0);
    assert_int_equal(shmq_close(q), 0);
}

static void on_alarm(int sig)
{
    (void)sig;
}

static void signal_interrupts(void **state)
{
    (void)state;
    shmq_t *q = make_queue("wa-sig", SHMQ_FIFO, 0);
    struct sigaction sa = {.sa_handler = on_alarm}; /* no SA_RESTART */
    sigemptyset(&sa.sa_mask);
    assert_int_equal(sigaction(SIGALRM, &sa, NULL), 0);
    struct shmq_wait_item it = {.queue = q};
    /* 300 ms: away from the wait's own 1 s slices (a signal that lands between two sleeps
     * runs its handler outside any system call, which no waiter can see). */
    struct itimerval tv = {.it_value = {.tv_usec = 300000}};
    assert_int_equal(setitimer(ITIMER_REAL, &tv, NULL), 0);
    int64_t t0 = now_ns();
    assert_int_equal(shmq_wait_any(&it, 1, SHMQ_FOREVER), -EINTR);
    assert_true(now_ns() - t0 < 5000 * 1000000LL);
    signal(SIGALRM, SIG_DFL);
    assert_int_equal(shmq_close(q), 0);
}

/* A child publishes into the last of three items after 100 ms; the parent sleeps on all. */
static void woken_by_another_process(bool fallback, bool topic)
{
    atomic_store(&shmq__wait_any_no_waitv, fallback);
    shmq_t *a = make_queue("wa-x1", SHMQ_FIFO, 0);
    shmq_t *b = make_queue("wa-x2", SHMQ_LIFO, 0);
    const char *tname = test_name("wa-xt");
    shmq_topic_t *t = NULL;
    shmq_sub_t *s = NULL;
    assert_int_equal(shmq_topic_create(tname, NULL, &t), 0);
    assert_int_equal(shmq_subscribe(t, NULL, NULL, 0, &s), 0);
    char bname[64];
    snprintf(bname, sizeof bname, "%s", shmq_name(b));
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        usleep(100000);
        int r;
        if (topic) {
            shmq_topic_t *ct = NULL;
            r = shmq_topic_open(tname, &ct);
            if (r == 0)
                r = shmq_publish(ct, "x", "m", 1, 0);
        } else {
            shmq_t *cq = NULL;
            r = shmq_open(bname, &cq);
            if (r == 0)
                r = shmq_push(cq, "m", 1, 0);
        }
        _exit(r == 0 ? 0 : 1);
    }
    struct shmq_wait_item it[3] = {{.queue = a}, {.queue = b}, {.sub = s}};
    int64_t t0 = now_ns();
    int r = shmq_wait_any(it, 3, 10 * 1000000000LL);
    int64_t took = now_ns() - t0;
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_int_equal(r, 1);
    assert_int_equal(it[0].ready, 0);
    assert_int_equal(it[1].ready, topic ? 0 : 1);
    assert_int_equal(it[2].ready, topic ? 1 : 0);
    assert_true(took >= 90 * 1000000LL);
    assert_true(took < 3000 * 1000000LL); /* woken, not a slice or the 10 s deadline */
    atomic_store(&shmq__wait_any_no_waitv, false);
    assert_int_equal(shmq_topic_close(t), 0);
    assert_int_equal(shmq_close(a), 0);
    assert_int_equal(shmq_close(b), 0);
}

static void cross_process_waitv(void **state)
{
    (void)state;
    woken_by_another_process(false, false);
    woken_by_another_process(false, true);
}

static void cross_process_fallback(void **state)
{
    (void)state;
    woken_by_another_process(true, false);
    woken_by_another_process(true, true);
}

/* A delayed message becomes ready when due: the wait reports the queue and the claim gets it. */
static void delayed_message(void **state)
{
    (void)state;
    shmq_t *q = make_queue("wa-delay", SHMQ_FIFO, 0);
    assert_int_equal(shmq_push(q, "d", 1, 0), 0);
    struct shmq_msg m;
    assert_int_equal(shmq_claim(q, &m, 0), 0);
    assert_int_equal(shmq_nack_delayed(q, &m, 50 * 1000000LL), 0);
    struct shmq_wait_item it = {.queue = q};
    int64_t t0 = now_ns();
    int got = -EAGAIN;
    while (got == -EAGAIN && now_ns() - t0 < 5000 * 1000000LL) {
        int r = shmq_wait_any(&it, 1, 5000 * 1000000LL);
        assert_int_equal(r, 1);
        got = shmq_claim(q, &m, 0);
    }
    assert_int_equal(got, 0);
    assert_true(now_ns() - t0 >= 45 * 1000000LL);
    assert_int_equal(m.deliveries, 2);
    assert_int_equal(shmq_ack(q, &m), 0);
    assert_int_equal(shmq_close(q), 0);
}

/* A consumer dies holding a claim: a waiter gives it back and reports the queue. */
static void dead_consumer_claim(void **state)
{
    (void)state;
    shmq_t *q = make_queue("wa-dead", SHMQ_FIFO, 0);
    assert_int_equal(shmq_push(q, "z", 1, 0), 0);
    char name[64];
    snprintf(name, sizeof name, "%s", shmq_name(q));
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        shmq_t *cq = NULL;
        struct shmq_msg cm;
        if (shmq_open(name, &cq) != 0 || shmq_claim(cq, &cm, 0) != 0)
            _exit(1);
        kill(getpid(), SIGKILL);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    struct shmq_wait_item it = {.queue = q};
    int64_t t0 = now_ns();
    assert_int_equal(shmq_wait_any(&it, 1, 10 * 1000000000LL), 1);
    assert_true(now_ns() - t0 < 5000 * 1000000LL);
    struct shmq_msg m;
    assert_int_equal(shmq_claim(q, &m, 0), 0);
    assert_int_equal(m.deliveries, 2);
    assert_int_equal(shmq_ack(q, &m), 0);
    assert_int_equal(shmq_close(q), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(bad_arguments),
        cmocka_unit_test(readiness_of_each_kind),
        cmocka_unit_test(kept_back_message_is_ready),
        cmocka_unit_test(released_message_is_ready),
        cmocka_unit_test(subscription_readiness),
        cmocka_unit_test(stuck_cursor_reported_late),
        cmocka_unit_test(timeout_ends_the_wait),
        cmocka_unit_test(signal_interrupts),
        cmocka_unit_test(cross_process_waitv),
        cmocka_unit_test(cross_process_fallback),
        cmocka_unit_test(delayed_message),
        cmocka_unit_test(dead_consumer_claim),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
