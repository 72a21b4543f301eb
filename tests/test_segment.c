/*
 * Segments and handles: names, configuration limits, creation and permissions, open-time
 * validation of every header field, truncation, the participant table limit, observers, and
 * the registry (unlink while open, a new queue under an old name).
 */
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "test_util.h"

#include "layout.h"

static void names_are_checked(void **state)
{
    (void)state;
    char long_name[SHMQ_NAME_MAX + 2];
    memset(long_name, 'a', sizeof long_name);
    long_name[SHMQ_NAME_MAX + 1] = 0;
    const char *bad[] = {"", ".hidden", "a/b", "sp ace", "tab\t", "uni\xc3\xa9", long_name, "a*"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        shmq_t *q = NULL;
        assert_int_equal(shmq_name_check(bad[i]), -EINVAL);
        assert_int_equal(shmq_create(bad[i], NULL, &q), -EINVAL);
        assert_int_equal(shmq_open(bad[i], &q), -EINVAL);
        assert_int_equal(shmq_unlink(bad[i]), -EINVAL);
    }
    assert_int_equal(shmq_name_check(NULL), -EINVAL);
    long_name[SHMQ_NAME_MAX] = 0; /* exactly the limit */
    assert_int_equal(shmq_name_check(long_name), 0);
    assert_int_equal(shmq_name_check("Ok-name_1.2"), 0);
}

static void config_limits_are_checked(void **state)
{
    (void)state;
    const char *name = test_name("cfg");
    struct shmq_config bad[] = {
        {.kind = (enum shmq_kind)2},
        {.flags = 1u << 7},
        {.capacity = SHMQ_CAPACITY_MAX + 1},
        {.slot_size = SHMQ_SLOT_SIZE_MAX + 1},
        {.max_participants = SHMQ_PARTICIPANTS_MAX + 1},
        {.mode = 04600},
        {.reserved = {[3] = 1}},
        {.reserved0 = 1},
        {.ttl_ns = -1},
        {.max_deliveries = SHMQ_DELIVERIES_MAX + 1},
        {.numa = SHMQ_NUMA_NODE(SHMQ_NUMA_NODES_MAX)},
        {.numa_flags = 2},
        {.dead_letter = "bad/name"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        shmq_t *q = NULL;
        assert_int_equal(shmq_create(name, &bad[i], &q), -EINVAL);
        assert_null(q);
        assert_int_equal(shmq_unlink(name), -ENOENT); /* nothing left behind */
    }
    assert_int_equal(shmq_create(name, NULL, NULL), -EINVAL);
}

static void create_open_exist_and_missing(void **state)
{
    (void)state;
    const char *name = test_name("life");
    shmq_t *a, *b;
    assert_int_equal(shmq_open(name, &a), -ENOENT);
    ASSERT_OK(shmq_create(name, NULL, &a));
    assert_int_equal(shmq_create(name, NULL, &b), -EEXIST);
    ASSERT_OK(shmq_open(name, &b));
    struct shmq_stat st;
    ASSERT_OK(shmq_stat(b, &st));
    assert_int_equal(st.capacity, SHMQ_DEFAULT_CAPACITY);
    assert_int_equal(st.slot_size, SHMQ_DEFAULT_SLOT_SIZE);
    assert_int_equal(st.participants, 2);
    assert_string_equal(shmq_name(b), name);
    ASSERT_OK(shmq_close(a));
    ASSERT_OK(shmq_close(b));
    ASSERT_OK(shmq_unlink(name));
    assert_int_equal(shmq_unlink(name), -ENOENT);
}

static mode_t file_mode(const char *name)
{
    char path[300];
    snprintf(path, sizeof path, "/dev/shm/shmq.%s", name);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    return st.st_mode & 0777;
}

static void modes_are_exact(void **state)
{
    (void)state;
    mode_t old = umask(077);
    const char *a = test_name("mode"), *b = test_name("mode");
    shmq_t *qa, *qb;
    ASSERT_OK(shmq_create(a, NULL, &qa));
    assert_int_equal(file_mode(a), 0600);
    ASSERT_OK(shmq_create(b, &(struct shmq_config){.mode = 0660}, &qb));
    assert_int_equal(file_mode(b), 0660); /* the umask does not narrow an explicit mode */
    struct shmq_stat st;
    ASSERT_OK(shmq_stat(qb, &st));
    assert_int_equal(st.mode, 0660);
    shmq_close(qa);
    shmq_close(qb);
    umask(old);
}

/* Overwrite bytes of a closed queue's segment through the file system. */
static void scribble(const char *name, size_t offset, const void *bytes, size_t len)
{
    char path[300];
    snprintf(path, sizeof path, "/dev/shm/shmq.%s", name);
    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, bytes, len, (off_t)offset), (ssize_t)len);
    close(fd);
}

static void truncate_to(const char *name, off_t size)
{
    char path[300];
    snprintf(path, sizeof path, "/dev/shm/shmq.%s", name);
    assert_int_equal(truncate(path, size), 0);
}

static const char *fresh_closed_queue(const struct shmq_config *cfg)
{
    const char *name = test_name("corrupt");
    shmq_t *q;
    ASSERT_OK(shmq_create(name, cfg, &q));
    ASSERT_OK(shmq_push(q, "x", 1, 0));
    ASSERT_OK(shmq_close(q));
    return name;
}

static void every_header_field_is_validated(void **state)
{
    (void)state;
    struct field {
        size_t offset, size;
        uint64_t value;
        int expect;
    } fields[] = {
#define F(member, v, e)                                                                            \
    {offsetof(struct shmq__header, member), sizeof(((struct shmq__header *)0)->member), v, e}
        F(magic, 0x1234, -EBADMSG),       F(abi_version, 99, -EPROTO),
        F(header_size, 12, -EBADMSG),     F(kind, 7, -EBADMSG),
        F(flags, 0x80, -EBADMSG),         F(capacity, 0, -EBADMSG),
        F(capacity, 2048, -EBADMSG),      F(capacity, SHMQ_CAPACITY_MAX + 1, -EBADMSG),
        F(slot_size, 0, -EBADMSG),        F(slot_size, 1000, -EBADMSG),
        F(slot_stride, 64, -EBADMSG),     F(ring_order, 3, -EBADMSG),
        F(max_participants, 0, -EBADMSG), F(max_participants, 5000, -EBADMSG),
        F(mode, 07777, -EBADMSG),         F(segment_size, 1u << 30, -EBADMSG),
        F(off_participants, 0, -EBADMSG), F(off_waits, 64, -EBADMSG),
        F(off_free, 1, -EBADMSG),         F(off_ready, 1u << 31, -EBADMSG),
        F(off_slots, 4096, -EBADMSG),
#undef F
    };
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        for (int shape = 0; shape < 3; shape++) { /* FIFO, the SPSC ring, LIFO */
            struct shmq_config cfg = {.capacity = 16, .slot_size = 100};
            if (shape == 1)
                cfg.flags = SHMQ_SINGLE_PRODUCER | SHMQ_SINGLE_CONSUMER;
            if (shape == 2)
                cfg.kind = SHMQ_LIFO;
            const char *name = fresh_closed_queue(&cfg);
            scribble(name, fields[i].offset, &fields[i].value, fields[i].size);
            shmq_t *q = NULL;
            int r = shmq_open(name, &q);
            if (r != fields[i].expect)
                fail_msg("header field at offset %zu set to %llu: open gave %d (%s)",
                         fields[i].offset, (unsigned long long)fields[i].value, r,
                         shmq_strerror(r));
            assert_null(q);
            assert_int_equal(shmq_open_ex(name, SHMQ_OPEN_OBSERVE, &q), fields[i].expect);
            ASSERT_OK(shmq_unlink(name));
        }
    }
}

static void name_without_terminator_is_rejected(void **state)
{
    (void)state;
    const char *name = fresh_closed_queue(NULL);
    char junk[208];
    memset(junk, 'z', sizeof junk);
    scribble(name, offsetof(struct shmq__header, name), junk, sizeof junk);
    shmq_t *q;
    assert_int_equal(shmq_open(name, &q), -EBADMSG);
}

static void truncated_and_garbage_segments_are_rejected(void **state)
{
    (void)state;
    off_t sizes[] = {100, 4096, 4096 + 64, 12288};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        const char *name = fresh_closed_queue(NULL);
        truncate_to(name, sizes[i]);
        shmq_t *q;
        assert_int_equal(shmq_open(name, &q), -EBADMSG);
    }
    /* Grown beyond its size is as wrong as shrunk. */
    const char *name = fresh_closed_queue(NULL);
    truncate_to(name, 1 << 24);
    shmq_t *q;
    assert_int_equal(shmq_open(name, &q), -EBADMSG);

    /* A file of random bytes under a queue's name. */
    const char *garbage = test_name("garbage");
    char path[300];
    snprintf(path, sizeof path, "/dev/shm/shmq.%s", garbage);
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
    assert_true(fd >= 0);
    unsigned seed = 42;
    for (int i = 0; i < 4; i++) {
        unsigned char page[4096];
        for (size_t j = 0; j < sizeof page; j++)
            page[j] = (unsigned char)rand_r(&seed);
        assert_int_equal(write(fd, page, sizeof page), (ssize_t)sizeof page);
    }
    close(fd);
    assert_int_equal(shmq_open(garbage, &q), -EBADMSG);
}

static void participant_table_limit(void **state)
{
    (void)state;
    const char *name = test_name("parts");
    shmq_t *a, *b, *c;
    ASSERT_OK(shmq_create(name, &(struct shmq_config){.max_participants = 2}, &a));
    ASSERT_OK(shmq_open(name, &b));
    assert_int_equal(shmq_open(name, &c), -EUSERS);
    /* Observers take no entry. */
    ASSERT_OK(shmq_open_ex(name, SHMQ_OPEN_OBSERVE, &c));
    ASSERT_OK(shmq_close(c));
    ASSERT_OK(shmq_close(b));
    ASSERT_OK(shmq_open(name, &c));
    shmq_close(a);
    shmq_close(c);
}

static void observers_cannot_change_anything(void **state)
{
    (void)state;
    const char *name = test_name("observe");
    shmq_t *q, *o;
    ASSERT_OK(shmq_create(name, NULL, &q));
    ASSERT_OK(shmq_push(q, "abc", 3, 0));
    ASSERT_OK(shmq_open_ex(name, SHMQ_OPEN_OBSERVE, &o));
    char buf[8];
    struct shmq_msg m;
    assert_int_equal(shmq_push(o, "x", 1, 0), -EPERM);
    assert_int_equal(shmq_pop(o, buf, sizeof buf, 0), -EPERM);
    assert_int_equal(shmq_claim(o, &m, 0), -EPERM);
    assert_int_equal(shmq_reserve(o, 1, &m, 0), -EPERM);
    assert_int_equal(shmq_open_ex(name, 0x80, &o), -EINVAL);
    struct shmq_stat st;
    ASSERT_OK(shmq_stat(o, &st));
    assert_int_equal(st.depth, 1);
    assert_int_equal(st.participants, 1);
    shmq_close(o);
    shmq_close(q);
}

static void unlink_while_open_and_a_new_queue_under_the_old_name(void **state)
{
    (void)state;
    const char *name = test_name("reuse");
    shmq_t *old, *old2, *fresh;
    ASSERT_OK(shmq_create(name, &(struct shmq_config){.capacity = 8}, &old));
    ASSERT_OK(shmq_open(name, &old2)); /* shares the mapping */
    ASSERT_OK(shmq_unlink(name));
    ASSERT_OK(shmq_push(old, "still", 5, 0));
    ASSERT_OK(shmq_create(name, &(struct shmq_config){.capacity = 32}, &fresh));
    struct shmq_stat st;
    ASSERT_OK(shmq_stat(fresh, &st));
    assert_int_equal(st.capacity, 32);
    assert_int_equal(st.depth, 0);
    ASSERT_OK(shmq_stat(old2, &st));
    assert_int_equal(st.capacity, 8);
    ASSERT_OK(shmq_close(old));
    char buf[8];
    assert_int_equal(shmq_pop(old2, buf, sizeof buf, 0), 5); /* the mapping outlived `old` */
    shmq_close(old2);
    shmq_close(fresh);
}

static void strerror_words_every_code(void **state)
{
    (void)state;
    int codes[] = {0,      EAGAIN,  ETIMEDOUT, EMSGSIZE, ENOENT, EEXIST, EACCES,
                   ENOSPC, EBADMSG, EPROTO,    EINVAL,   EBUSY,  EUSERS, EPERM};
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        assert_string_not_equal(shmq_strerror(-codes[i]), "unknown error");
        assert_string_equal(shmq_strerror(-codes[i]), shmq_strerror(codes[i]));
    }
    assert_string_equal(shmq_strerror(-12345), "unknown error");
    assert_string_equal(shmq_version(), SHMQ_VERSION_STRING);
}

static int count_name(const char *name, void *arg)
{
    struct {
        const char *want;
        int seen;
    } *c = arg;
    c->seen += strcmp(name, c->want) == 0;
    return 0;
}

static void foreach_lists_queues(void **state)
{
    (void)state;
    const char *name = test_name("list");
    shmq_t *q;
    ASSERT_OK(shmq_create(name, NULL, &q));
    struct {
        const char *want;
        int seen;
    } c = {name, 0};
    ASSERT_OK(shmq_foreach(count_name, &c));
    assert_int_equal(c.seen, 1);
    assert_int_equal(shmq_foreach(NULL, NULL), -EINVAL);
    shmq_close(q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(names_are_checked),
        cmocka_unit_test(config_limits_are_checked),
        cmocka_unit_test(every_header_field_is_validated),
        cmocka_unit_test(name_without_terminator_is_rejected),
        cmocka_unit_test(truncated_and_garbage_segments_are_rejected),
        cmocka_unit_test(participant_table_limit),
        cmocka_unit_test(observers_cannot_change_anything),
        cmocka_unit_test(create_open_exist_and_missing),
        cmocka_unit_test(modes_are_exact),
        cmocka_unit_test(unlink_while_open_and_a_new_queue_under_the_old_name),
        cmocka_unit_test(strerror_words_every_code),
        cmocka_unit_test(foreach_lists_queues),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
