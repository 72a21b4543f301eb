/*
 * make_seeds: writes the seed corpus of fuzz_segment, real segments made by shmq_create in
 * several shapes and states, into the directory given (fuzz/corpus/fuzz_segment):
 *
 *   make_seeds DIR
 *
 * Each seed is the bytes of /dev/shm/shmq.<name> with its trailing zero bytes cut off
 * (fuzz_segment pads an image back to the size its header announces), small queues and topics
 * so that each is a few kilobytes. Some are copied while a handle still holds a claim or a
 * reservation: in the fuzzer that participant's process is gone, so the reaper gets to work.
 * Only the public API is used.
 */
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shmq.h"

static const char *out_dir;
static int failures;
static char made[32][128]; /* every queue made, removed at exit even after a failure */
static int made_count;

static void remove_made(void)
{
    for (int i = 0; i < made_count; i++)
        shmq_unlink(made[i]);
}

#define CHECK(expr)                                                                                \
    do {                                                                                           \
        int r_ = (int)(expr);                                                                      \
        if (r_ < 0) {                                                                              \
            fprintf(stderr, "make_seeds: %s: %s\n", #expr, shmq_strerror(r_));                     \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

static const char *qname(const char *shape)
{
    if (made_count == 32)
        exit(1);
    char *name = made[made_count++];
    snprintf(name, sizeof made[0], "fuzz-seed-%d-%s", (int)getpid(), shape);
    shmq_unlink(name);
    return name;
}

/* Copy /dev/shm/shmq.<name> to DIR/<shape>, without its trailing zeros. */
static void save(const char *name, const char *shape)
{
    char path[300];
    snprintf(path, sizeof path, "/dev/shm/shmq.%s", name);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        perror(path);
        exit(1);
    }
    unsigned char *buf = malloc((size_t)st.st_size);
    if (!buf || read(fd, buf, (size_t)st.st_size) != st.st_size) {
        perror(path);
        exit(1);
    }
    close(fd);
    size_t len = (size_t)st.st_size;
    while (len > 4096 && buf[len - 1] == 0)
        len--;
    snprintf(path, sizeof path, "%s/%s", out_dir, shape);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(buf, 1, len, f) != len || fclose(f) != 0) {
        perror(path);
        failures++;
    }
    free(buf);
    printf("%s: %zu bytes (segment %lld)\n", shape, len, (long long)st.st_size);
}

/* n messages; every third carries metadata where the slot has room for it. */
static void push_some(shmq_t *q, int n)
{
    struct shmq_stat st;
    CHECK(shmq_stat(q, &st));
    for (int i = 0; i < n; i++) {
        char text[32];
        int len = snprintf(text, sizeof text, "message %d", i);
        if (i % 3 == 1 && st.slot_size >= 64) {
            struct shmq_msg m = {.data = text,
                                 .len = (size_t)len,
                                 .type = "seed",
                                 .correlation_id = "c-1",
                                 .reply_to = "replies",
                                 .timestamp_ns = 1700000000000000000};
            CHECK(shmq_push_msg(q, &m, 0));
        } else {
            CHECK(shmq_push(q, text, (size_t)len, 0));
        }
    }
}

/* A closed queue with n messages pushed and `popped` of them popped. */
static void closed_queue(const char *shape, const struct shmq_config *cfg, int n, int popped)
{
    const char *name = qname(shape);
    shmq_t *q;
    CHECK(shmq_create(name, cfg, &q));
    push_some(q, n);
    char buf[256];
    for (int i = 0; i < popped; i++)
        CHECK(shmq_pop(q, buf, sizeof buf, 0));
    CHECK(shmq_close(q));
    save(name, shape);
    CHECK(shmq_unlink(name));
}

/* A queue copied while a consumer holds a claim and a producer a reservation. */
static void busy_queue(const char *shape, const struct shmq_config *cfg, int n)
{
    const char *name = qname(shape);
    shmq_t *p, *c;
    CHECK(shmq_create(name, cfg, &p));
    push_some(p, n);
    CHECK(shmq_open(name, &c));
    struct shmq_msg claimed, reserved;
    CHECK(shmq_claim(c, &claimed, 0));
    CHECK(shmq_reserve(p, 16, &reserved, 0));
    memcpy(reserved.data, "half-written....", 16);
    save(name, shape);
    CHECK(shmq_ack(c, &claimed));
    CHECK(shmq_discard(p, &reserved));
    CHECK(shmq_close(c));
    CHECK(shmq_close(p));
    CHECK(shmq_unlink(name));
}

/* Task-queue state: deliveries raised by nacks, a delayed nack, TTL and a dead-letter name. */
static void task_queue(const char *shape, const struct shmq_config *cfg)
{
    const char *name = qname(shape);
    shmq_t *q;
    CHECK(shmq_create(name, cfg, &q));
    push_some(q, 4);
    struct shmq_msg m;
    for (int i = 0; i < 3; i++) {
        CHECK(shmq_claim(q, &m, 0));
        CHECK(shmq_nack(q, &m));
    }
    CHECK(shmq_claim(q, &m, 0));
    CHECK(shmq_nack_delayed(q, &m, 3600LL * 1000000000));
    CHECK(shmq_close(q));
    save(name, shape);
    CHECK(shmq_unlink(name));
}

/* A topic with groups (durable, shared, private), messages published and some read. With
 * `busy`, copied while a member still holds a view and a handle is open. */
static void topic(const char *shape, const struct shmq_topic_config *cfg, int n, bool busy)
{
    const char *name = qname(shape);
    shmq_topic_t *t, *u;
    CHECK(shmq_topic_create(name, cfg, &t));
    CHECK(shmq_topic_open(name, &u));
    shmq_sub_t *durable, *shared, *mine;
    CHECK(shmq_subscribe(u, "orders.#", "workers", SHMQ_SUB_DURABLE, &durable));
    CHECK(shmq_subscribe(u, "*.eu.*", "eu", 0, &shared));
    CHECK(shmq_subscribe(u, NULL, NULL, 0, &mine));
    for (int i = 0; i < n; i++) {
        char text[32];
        int len = snprintf(text, sizeof text, "event %d", i);
        const char *subject = i % 3 == 0   ? "orders.eu.created"
                              : i % 3 == 1 ? "prices.eu.x"
                                           : "a..b";
        if (i % 2) {
            struct shmq_msg m = {.data = text,
                                 .len = (size_t)len,
                                 .type = "seed",
                                 .correlation_id = "c-1",
                                 .reply_to = "replies",
                                 .timestamp_ns = 1700000000000000000};
            CHECK(shmq_publish_msg(t, subject, &m, 0));
        } else {
            CHECK(shmq_publish(t, subject, text, (size_t)len, 0));
        }
    }
    char buf[128];
    struct shmq_delivery d;
    CHECK(shmq_next(durable, buf, sizeof buf, &d, 0));
    CHECK(shmq_next(mine, buf, sizeof buf, &d, 0));
    struct shmq_view v;
    CHECK(shmq_next_view(shared, &v, 0));
    if (busy) {
        save(name, shape);
    }
    CHECK(shmq_unsubscribe(durable));
    CHECK(shmq_unsubscribe(shared));
    CHECK(shmq_unsubscribe(mine));
    CHECK(shmq_topic_close(u));
    CHECK(shmq_topic_close(t));
    if (!busy)
        save(name, shape);
    CHECK(shmq_topic_unlink(name));
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    out_dir = argv[1];
    atexit(remove_made);
    const uint32_t spsc = SHMQ_SINGLE_PRODUCER | SHMQ_SINGLE_CONSUMER;

    closed_queue("fifo-empty",
                 &(struct shmq_config){.capacity = 4, .slot_size = 64, .max_participants = 2}, 0,
                 0);
    closed_queue("fifo-messages",
                 &(struct shmq_config){.capacity = 8, .slot_size = 48, .max_participants = 3}, 6,
                 2);
    closed_queue("fifo-full",
                 &(struct shmq_config){.capacity = 5, .slot_size = 40, .max_participants = 2}, 5,
                 0);
    closed_queue("lifo-messages",
                 &(struct shmq_config){
                     .kind = SHMQ_LIFO, .capacity = 8, .slot_size = 64, .max_participants = 2},
                 5, 1);
    closed_queue(
        "spsc-messages",
        &(struct shmq_config){.capacity = 8, .slot_size = 40, .flags = spsc, .max_participants = 2},
        7, 3);
    closed_queue("spsc-wrapped",
                 &(struct shmq_config){
                     .capacity = 3, .slot_size = 100, .flags = spsc, .max_participants = 2},
                 3, 3);
    closed_queue(
        "single-producer",
        &(struct shmq_config){
            .capacity = 4, .slot_size = 64, .flags = SHMQ_SINGLE_PRODUCER, .max_participants = 2},
        3, 1);
    busy_queue("fifo-busy",
               &(struct shmq_config){.capacity = 8, .slot_size = 64, .max_participants = 4}, 4);
    busy_queue("lifo-busy",
               &(struct shmq_config){
                   .kind = SHMQ_LIFO, .capacity = 8, .slot_size = 64, .max_participants = 4},
               4);
    busy_queue(
        "spsc-busy",
        &(struct shmq_config){.capacity = 8, .slot_size = 64, .flags = spsc, .max_participants = 4},
        4);
    const char *dl = qname("dl");
    task_queue("fifo-task", &(struct shmq_config){.capacity = 8,
                                                  .slot_size = 128,
                                                  .max_participants = 2,
                                                  .ttl_ns = 3600LL * 1000000000,
                                                  .max_deliveries = 3,
                                                  .dead_letter = dl});
    /* Expired by the time the fuzzer claims them: dead-lettered. */
    closed_queue(
        "fifo-expired",
        &(struct shmq_config){
            .capacity = 4, .slot_size = 64, .max_participants = 2, .ttl_ns = 1, .dead_letter = dl},
        3, 0);
    task_queue("lifo-task", &(struct shmq_config){.kind = SHMQ_LIFO,
                                                  .capacity = 8,
                                                  .slot_size = 128,
                                                  .max_participants = 2,
                                                  .max_deliveries = 2,
                                                  .dead_letter = dl});
    task_queue("spsc-task", &(struct shmq_config){.capacity = 8,
                                                  .slot_size = 128,
                                                  .flags = spsc,
                                                  .max_participants = 2,
                                                  .ttl_ns = 3600LL * 1000000000,
                                                  .max_deliveries = 5});
    topic("topic-block",
          &(struct shmq_topic_config){.capacity = 8,
                                      .slot_size = 128,
                                      .max_groups = 4,
                                      .max_members = 4,
                                      .max_participants = 3},
          5, false);
    topic("topic-overwrite",
          &(struct shmq_topic_config){.policy = SHMQ_TOPIC_OVERWRITE,
                                      .capacity = 4,
                                      .slot_size = 96,
                                      .max_groups = 4,
                                      .max_members = 4,
                                      .max_participants = 3},
          11, false);
    topic("topic-busy",
          &(struct shmq_topic_config){.capacity = 8,
                                      .slot_size = 128,
                                      .max_groups = 4,
                                      .max_members = 4,
                                      .max_participants = 3},
          4, true);
    return failures ? 1 : 0;
}
