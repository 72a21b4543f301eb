/*
 * Topics: arguments and validation (negative cases first: configs, subjects, patterns,
 * groups, a queue opened as a topic, every corrupt header field), then delivery: one process,
 * zero-copy views, fan-out to subscriber processes with patterns (every matching message
 * exactly once, in publish order per publisher), groups that split the stream, OVERWRITE with
 * a stalled subscriber (exact loss counts) and checksummed payloads under constant overwriting
 * (no torn read), BLOCK without loss, a SIGKILLed subscriber that must not stall publishers,
 * durable and ephemeral groups, racing group creators, and publishers that die mid-publish.
 * Every test ends with shmq__topic_check on a quiescent topic.
 */
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/time.h>

#include "test_util.h"

#include "topic.h"

/* ---- helpers ---- */

static const char *topic_name(void)
{
    return test_name("topic");
}

/* The invariants of a quiescent topic; on failure, the reason. */
#define TCHECK(t)                                                                                  \
    do {                                                                                           \
        char why_[256] = "";                                                                       \
        if (shmq__topic_check((t), SHMQ__CHECK_QUIESCENT, why_, sizeof why_) != 0)                 \
            fail_msg("%s:%d: topic check: %s", __FILE__, __LINE__, why_);                          \
    } while (0)

static void *shared_alloc(size_t n)
{
    void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    assert_true(p != MAP_FAILED);
    memset(p, 0, n);
    return p;
}

/* A message: who sent it, its number, and a checksum of everything. */
struct tmsg {
    uint32_t pub;
    uint32_t len; /* bytes of the whole message */
    uint64_t seq;
    uint64_t sum;
};

static uint64_t fnv(const void *p, size_t n)
{
    const unsigned char *b = p;
    uint64_t h = UINT64_C(0xcbf29ce484222325);
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * UINT64_C(0x100000001b3);
    return h;
}

/* Fill buf (len >= sizeof(struct tmsg)) with a checksummed message. */
static void tmsg_make(void *buf, size_t len, uint32_t pub, uint64_t seq)
{
    struct tmsg h = {.pub = pub, .len = (uint32_t)len, .seq = seq, .sum = 0};
    unsigned char *b = buf;
    for (size_t i = sizeof h; i < len; i++)
        b[i] = (unsigned char)(seq * 31 + i * 7 + pub);
    memcpy(b, &h, sizeof h);
    h.sum = fnv(b + sizeof h, len - sizeof h) ^ seq ^ ((uint64_t)pub << 56) ^ len;
    memcpy(b, &h, sizeof h);
}

/* True if buf holds an intact message of len bytes. */
static bool tmsg_ok(const void *buf, size_t len, struct tmsg *out)
{
    struct tmsg h;
    if (len < sizeof h)
        return false;
    memcpy(&h, buf, sizeof h);
    if (out)
        *out = h;
    const unsigned char *b = buf;
    return h.len == len &&
           h.sum == (fnv(b + sizeof h, len - sizeof h) ^ h.seq ^ ((uint64_t)h.pub << 56) ^ len);
}

/* The subject of publisher p's message s: "p<p>.<a|b|c>". */
static void subject_of(char *out, size_t cap, uint32_t p, uint64_t s)
{
    snprintf(out, cap, "p%u.%c", p, "abc"[s % 3]);
}

static shmq_topic_t *topic_make(const char *name, const struct shmq_topic_config *cfg)
{
    shmq_topic_t *t = NULL;
    int r = shmq_topic_create(name, cfg, &t);
    if (r)
        fail_msg("shmq_topic_create(%s): %s", name, shmq_strerror(r));
    return t;
}

static struct shmq_group_info *group_lookup(shmq_topic_t *t, const char *name,
                                            struct shmq_group_info *out)
{
    struct shmq_group_info all[64];
    int n = shmq_topic_groups(t, all, 64);
    assert_true(n >= 0);
    for (int i = 0; i < n && i < 64; i++)
        if (strcmp(all[i].name, name) == 0) {
            *out = all[i];
            return out;
        }
    return NULL;
}

/* ---- arguments ---- */

static void create_args_are_checked(void **state)
{
    (void)state;
    const char *name = topic_name();
    struct shmq_topic_config bad[] = {
        {.capacity = 3},
        {.capacity = 1},
        {.capacity = SHMQ_CAPACITY_MAX * 2},
        {.slot_size = 4},
        {.slot_size = SHMQ_SLOT_SIZE_MAX + 1},
        {.policy = (enum shmq_topic_policy)2},
        {.mode = 01600},
        {.reserved0 = 1},
        {.reserved = {[2] = 1}},
        {.group_timeout_ns = -1},
        {.max_groups = SHMQ_GROUPS_MAX + 1},
        {.max_members = SHMQ_MEMBERS_MAX + 1},
        {.max_participants = SHMQ_PARTICIPANTS_MAX + 1},
        {.numa_flags = 4},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        shmq_topic_t *t = NULL;
        if (shmq_topic_create(name, &bad[i], &t) != -EINVAL)
            fail_msg("bad config #%zu accepted", i);
        assert_null(t);
        assert_int_equal(shmq_topic_unlink(name), -ENOENT); /* nothing left behind */
    }
    shmq_topic_t *t;
    assert_int_equal(shmq_topic_create(name, NULL, NULL), -EINVAL);
    assert_int_equal(shmq_topic_create("bad/name", NULL, &t), -EINVAL);
    assert_int_equal(shmq_topic_open(name, &t), -ENOENT);
    assert_int_equal(shmq_topic_open_ex(name, 1u << 5, &t), -EINVAL);
    assert_int_equal(shmq_topic_unlink("bad name"), -EINVAL);
    assert_int_equal(shmq_topic_close(NULL), -EINVAL);

    /* Defaults, and an exact mode whatever the umask. */
    mode_t old = umask(077);
    t = topic_make(name, &(struct shmq_topic_config){.mode = 0640});
    umask(old);
    struct shmq_topic_stat st;
    ASSERT_OK(shmq_topic_stat(t, &st));
    assert_int_equal(st.policy, SHMQ_TOPIC_BLOCK);
    assert_int_equal(st.capacity, SHMQ_DEFAULT_CAPACITY);
    assert_int_equal(st.slot_size, SHMQ_DEFAULT_SLOT_SIZE);
    assert_int_equal(st.max_groups, SHMQ_TOPIC_DEFAULT_GROUPS);
    assert_int_equal(st.max_members, SHMQ_TOPIC_DEFAULT_MEMBERS);
    assert_int_equal(st.group_timeout_ns, SHMQ_TOPIC_DEFAULT_GROUP_TIMEOUT_NS);
    assert_int_equal(st.mode, 0640);
    assert_int_equal(st.participants, 1);
    assert_int_equal(st.published, 0);
    char path[300];
    snprintf(path, sizeof path, "/dev/shm/shmq.%s", name);
    struct stat fs;
    assert_int_equal(stat(path, &fs), 0);
    assert_int_equal(fs.st_mode & 0777, 0640);
    assert_int_equal((uint64_t)fs.st_size, st.segment_bytes);
    assert_string_equal(shmq_topic_name(t), name);
    shmq_topic_t *t2;
    assert_int_equal(shmq_topic_create(name, NULL, &t2), -EEXIST);
    TCHECK(t);
    ASSERT_OK(shmq_topic_close(t));
    ASSERT_OK(shmq_topic_unlink(name));
    assert_int_equal(shmq_topic_unlink(name), -ENOENT);
}

static void queue_and_topic_tell_each_other_apart(void **state)
{
    (void)state;
    const char *qn = topic_name(), *tn = topic_name();
    shmq_t *q, *q2;
    shmq_topic_t *t, *t2;
    ASSERT_OK(shmq_create(qn, NULL, &q));
    assert_int_equal(shmq_topic_open(qn, &t2), -EMEDIUMTYPE);
    assert_int_equal(shmq_topic_open_ex(qn, SHMQ_OPEN_OBSERVE, &t2), -EMEDIUMTYPE);
    assert_int_equal(shmq_topic_unlink(qn), -EMEDIUMTYPE);
    assert_int_equal(shmq_topic_create(qn, NULL, &t2), -EEXIST);
    t = topic_make(tn, NULL);
    assert_int_equal(shmq_open(tn, &q2), -EMEDIUMTYPE);
    assert_int_equal(shmq_create(tn, NULL, &q2), -EEXIST);
    shmq_close(q);
    shmq_topic_close(t);
    ASSERT_OK(shmq_topic_unlink(tn));
    ASSERT_OK(shmq_unlink(qn));
}

/* Overwrite bytes of a topic's segment through the file system. */
static void scribble(const char *name, size_t offset, const void *bytes, size_t len)
{
    char path[300];
    snprintf(path, sizeof path, "/dev/shm/shmq.%s", name);
    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, bytes, len, (off_t)offset), (ssize_t)len);
    close(fd);
}

static void corrupt_header_is_ebadmsg(void **state)
{
    (void)state;
    const char *name = topic_name();
    shmq_topic_t *t = topic_make(name, &(struct shmq_topic_config){.capacity = 64});
    ASSERT_OK(shmq_topic_close(t));
#define FIELD(f) offsetof(struct shmq__topic_header, f), sizeof(((struct shmq__topic_header *)0)->f)
    struct {
        size_t off, size;
        uint64_t value;
        int expect;
    } bad[] = {
        {FIELD(magic), 0x1234, -EBADMSG},
        {FIELD(abi_version), SHMQ__ABI_VERSION + 1, -EPROTO},
        {FIELD(header_size), 100, -EBADMSG},
        {FIELD(kind), 7, -EBADMSG},
        {FIELD(kind), SHMQ__KIND_FIFO, -EMEDIUMTYPE},
        {FIELD(policy), 2, -EBADMSG},
        {FIELD(capacity), 63, -EBADMSG},
        {FIELD(capacity), 128, -EBADMSG}, /* valid, but the layout says 64 */
        {FIELD(capacity), 0, -EBADMSG},
        {FIELD(ring_order), 7, -EBADMSG},
        {FIELD(slot_size), 512, -EBADMSG},
        {FIELD(slot_size), 0, -EBADMSG},
        {FIELD(slot_stride), 64, -EBADMSG},
        {FIELD(max_participants), 0, -EBADMSG},
        {FIELD(max_participants), 5000, -EBADMSG},
        {FIELD(max_groups), 0, -EBADMSG},
        {FIELD(max_groups), 63, -EBADMSG},
        {FIELD(max_members), 0, -EBADMSG},
        {FIELD(max_members), 129, -EBADMSG},
        {FIELD(mode), 07777, -EBADMSG},
        {FIELD(segment_size), 4096, -EBADMSG},
        {FIELD(off_participants), 0, -EBADMSG},
        {FIELD(off_groups), 8192, -EBADMSG},
        {FIELD(off_members), 1, -EBADMSG},
        {FIELD(off_waits), UINT64_MAX, -EBADMSG},
        {FIELD(off_slots), 4096, -EBADMSG},
        {FIELD(group_timeout_ns), 0, -EBADMSG},
        {FIELD(group_timeout_ns), (uint64_t)-5, -EBADMSG},
        {FIELD(numa_node), (uint32_t)-7, -EBADMSG},
        {FIELD(numa_flags), 8, -EBADMSG},
    };
#undef FIELD
    char path[300];
    snprintf(path, sizeof path, "/dev/shm/shmq.%s", name);
    unsigned char orig[SHMQ__PAGE];
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    assert_int_equal(pread(fd, orig, sizeof orig, 0), (ssize_t)sizeof orig);
    close(fd);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        unsigned char bytes[8];
        memcpy(bytes, &bad[i].value, 8); /* little-endian: the low bytes first */
        scribble(name, bad[i].off, bytes, bad[i].size);
        for (uint32_t flags = 0; flags <= SHMQ_OPEN_OBSERVE; flags += SHMQ_OPEN_OBSERVE) {
            int r = shmq_topic_open_ex(name, flags, &t);
            if (r != bad[i].expect)
                fail_msg("field #%zu (offset %zu) = %llu: open gave %d (%s), expected %d", i,
                         bad[i].off, (unsigned long long)bad[i].value, r, shmq_strerror(r),
                         bad[i].expect);
        }
        scribble(name, bad[i].off, orig + bad[i].off, bad[i].size);
    }
    /* A name that is not NUL-terminated. */
    unsigned char junk[208];
    memset(junk, 'x', sizeof junk);
    scribble(name, offsetof(struct shmq__topic_header, name), junk, sizeof junk);
    assert_int_equal(shmq_topic_open(name, &t), -EBADMSG);
    scribble(name, offsetof(struct shmq__topic_header, name),
             orig + offsetof(struct shmq__topic_header, name), sizeof junk);
    /* Intact again. */
    ASSERT_OK(shmq_topic_open(name, &t));
    TCHECK(t);
    shmq_topic_close(t);
    /* Truncated, then grown: the size no longer matches. */
    fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    struct stat fs;
    assert_int_equal(fstat(fd, &fs), 0);
    assert_int_equal(ftruncate(fd, fs.st_size - 4096), 0);
    assert_int_equal(shmq_topic_open(name, &t), -EBADMSG);
    assert_int_equal(ftruncate(fd, fs.st_size + 4096), 0);
    assert_int_equal(shmq_topic_open(name, &t), -EBADMSG);
    assert_int_equal(ftruncate(fd, 100), 0);
    assert_int_equal(shmq_topic_open(name, &t), -EBADMSG);
    close(fd);
    /* Removable whatever its state. */
    ASSERT_OK(shmq_topic_unlink(name));
}

/* Values scribbled into slots and tables at run time are caught, not followed. */
static void corrupt_slots_and_cursors(void **state)
{
    (void)state;
    const char *name = topic_name();
    shmq_topic_t *t = topic_make(name, &(struct shmq_topic_config){.capacity = 8, .slot_size = 64});
    shmq_sub_t *s;
    ASSERT_OK(shmq_subscribe(t, "#", "g", 0, &s));
    ASSERT_OK(shmq_publish(t, "a", "hello", 5, 0));
    /* A payload length beyond the slot. */
    struct shmq__topic_slot *slot = (struct shmq__topic_slot *)t->slots;
    atomic_store(&slot->len, 1000);
    char buf[64];
    assert_int_equal(shmq_next(s, buf, sizeof buf, NULL, 0), -EBADMSG);
    char why[256];
    assert_int_equal(shmq__topic_check(t, SHMQ__CHECK_QUIESCENT, why, sizeof why), -EBADMSG);
    atomic_store(&slot->len, 5);
    assert_int_equal(shmq_next(s, buf, sizeof buf, NULL, 0), 5);
    /* A cursor beyond the tail. */
    struct shmq__topic_group *grp = &t->groups[0];
    uint64_t c = atomic_load(&grp->cursor);
    atomic_store(&grp->cursor, c + 1000);
    assert_int_equal(shmq__topic_check(t, SHMQ__CHECK_QUIESCENT, why, sizeof why), -EBADMSG);
    atomic_store(&grp->cursor, c);
    /* A slot word that claims a sequence far ahead. */
    atomic_store(&slot->word, shmq__tslot_word(8 * 1000, SHMQ__TSLOT_PUB));
    assert_int_equal(shmq_next(s, buf, sizeof buf, NULL, 0), -EAGAIN); /* slot 1: empty */
    struct shmq__topic_slot *slot1 = (struct shmq__topic_slot *)(t->slots + t->geo.slot_stride);
    atomic_store(&slot1->word, shmq__tslot_word(1 + 8 * 1000, SHMQ__TSLOT_PUB));
    assert_int_equal(shmq_next(s, buf, sizeof buf, NULL, 0), -EBADMSG);
    atomic_store(&slot1->word, 0);
    atomic_store(&slot->word, shmq__tslot_word(0, SHMQ__TSLOT_PUB));
    TCHECK(t);
    shmq_topic_close(t);
}

static void subjects_patterns_and_groups_are_checked(void **state)
{
    (void)state;
    const char *name = topic_name();
    shmq_topic_t *t = topic_make(name, NULL), *obs;
    shmq_sub_t *s = NULL;
    const char *bad_subjects[] = {"a.*", "#", "a b", "x\n"};
    for (size_t i = 0; i < sizeof bad_subjects / sizeof bad_subjects[0]; i++)
        assert_int_equal(shmq_publish(t, bad_subjects[i], "x", 1, 0), -EINVAL);
    assert_int_equal(shmq_publish(t, NULL, "x", 1, 0), -EINVAL);
    assert_int_equal(shmq_publish(t, "a", NULL, 1, 0), -EINVAL);
    assert_int_equal(shmq_publish(t, "a", "x", 1, -1), -EINVAL);
    assert_int_equal(shmq_publish(NULL, "a", "x", 1, 0), -EINVAL);
    const char *bad_patterns[] = {"a*", "a.##", "a b"};
    for (size_t i = 0; i < sizeof bad_patterns / sizeof bad_patterns[0]; i++)
        assert_int_equal(shmq_subscribe(t, bad_patterns[i], NULL, 0, &s), -EINVAL);
    char long_group[SHMQ_GROUP_NAME_MAX + 2];
    memset(long_group, 'g', sizeof long_group);
    long_group[SHMQ_GROUP_NAME_MAX + 1] = 0;
    const char *bad_groups[] = {"", ".x", "a/b", "~1.2", long_group};
    for (size_t i = 0; i < sizeof bad_groups / sizeof bad_groups[0]; i++)
        assert_int_equal(shmq_subscribe(t, "#", bad_groups[i], 0, &s), -EINVAL);
    assert_int_equal(shmq_subscribe(t, "#", NULL, SHMQ_SUB_DURABLE, &s), -EINVAL);
    assert_int_equal(shmq_subscribe(t, "#", "g", 1u << 9, &s), -EINVAL);
    assert_int_equal(shmq_subscribe(t, "#", "g", 0, NULL), -EINVAL);
    assert_int_equal(shmq_subscribe(NULL, "#", "g", 0, &s), -EINVAL);
    /* A group keeps its pattern and durability. */
    ASSERT_OK(shmq_subscribe(t, "a.#", "g", 0, &s));
    shmq_sub_t *s2;
    assert_int_equal(shmq_subscribe(t, "b.#", "g", 0, &s2), -EINVAL);
    assert_int_equal(shmq_subscribe(t, NULL, "g", 0, &s2), -EINVAL);
    assert_int_equal(shmq_subscribe(t, "a.#", "g", SHMQ_SUB_DURABLE, &s2), -EINVAL);
    ASSERT_OK(shmq_subscribe(t, "a.#", "g", 0, &s2));
    long_group[SHMQ_GROUP_NAME_MAX] = 0; /* exactly the limit */
    shmq_sub_t *s3;
    ASSERT_OK(shmq_subscribe(t, "#", long_group, SHMQ_SUB_DURABLE, &s3));
    /* Nothing but reading on an observer. */
    ASSERT_OK(shmq_topic_open_ex(name, SHMQ_OPEN_OBSERVE, &obs));
    assert_int_equal(shmq_publish(obs, "a", "x", 1, 0), -EPERM);
    assert_int_equal(shmq_subscribe(obs, "#", NULL, 0, &s2), -EPERM);
    assert_int_equal(shmq_topic_repair(obs), -EPERM);
    assert_int_equal(shmq_topic_group_delete(obs, "g"), -EPERM);
    struct shmq_group_info gi[4];
    assert_int_equal(shmq_topic_groups(obs, gi, 4), 2);
    struct shmq_topic_stat st;
    ASSERT_OK(shmq_topic_stat(obs, &st));
    assert_int_equal(st.members, 3);
    assert_int_equal(st.groups, 2);
    TCHECK(obs);
    shmq_topic_close(obs);
    ASSERT_OK(shmq_unsubscribe(s));
    assert_int_equal(shmq_unsubscribe(NULL), -EINVAL);
    TCHECK(t);
    shmq_topic_close(t); /* unsubscribes s2 and s3 */
}

/* Handles of one topic in one process share one mapping per access mode (registry.c), as
 * queue handles do; the mapping outlives any one handle; and a topic removed and made again
 * under the same name is a new object with a mapping (and a geometry) of its own. */
static void handles_share_one_mapping(void **state)
{
    (void)state;
    const char *name = topic_name();
    shmq_topic_t *a = topic_make(name, &(struct shmq_topic_config){.capacity = 64});
    shmq_topic_t *b = NULL, *o1 = NULL, *o2 = NULL, *c = NULL;
    ASSERT_OK(shmq_topic_open(name, &b));
    assert_ptr_equal(a->base, b->base);
    assert_int_not_equal(a->self, b->self); /* one participant entry per handle all the same */
    ASSERT_OK(shmq_topic_open_ex(name, SHMQ_OPEN_OBSERVE, &o1));
    ASSERT_OK(shmq_topic_open_ex(name, SHMQ_OPEN_OBSERVE, &o2));
    assert_ptr_not_equal(o1->base, a->base); /* read-only: a mapping of its own */
    assert_ptr_equal(o1->base, o2->base);
    /* The first handle goes; the second still works on the shared mapping. */
    shmq_sub_t *s = NULL;
    ASSERT_OK(shmq_subscribe(b, "#", NULL, 0, &s));
    ASSERT_OK(shmq_topic_close(a));
    ASSERT_OK(shmq_publish(b, "x.y", "hello", 5, 0));
    char buf[16];
    assert_int_equal(shmq_next(s, buf, sizeof buf, NULL, 0), 5);
    assert_memory_equal(buf, "hello", 5);
    ASSERT_OK(shmq_topic_close(o1));
    struct shmq_topic_stat st;
    ASSERT_OK(shmq_topic_stat(o2, &st));
    assert_int_equal(st.published, 1);
    /* Removed and made again: a new object, not the old mapping found by name. */
    ASSERT_OK(shmq_topic_unlink(name));
    shmq_topic_t *n = topic_make(name, &(struct shmq_topic_config){.capacity = 128});
    ASSERT_OK(shmq_topic_open(name, &c));
    assert_ptr_not_equal(c->base, b->base);
    assert_ptr_equal(c->base, n->base);
    assert_int_equal(c->geo.capacity, 128);
    assert_int_equal(b->geo.capacity, 64);
    ASSERT_OK(shmq_topic_stat(c, &st));
    assert_int_equal(st.published, 0);
    TCHECK(b);
    TCHECK(c);
    /* A clone holds the mapping too: it outlives the handle it was cloned from. */
    shmq_topic_t *k = NULL;
    ASSERT_OK(shmq__topic_clone(c, &k));
    assert_ptr_equal(k->base, c->base);
    ASSERT_OK(shmq_topic_close(c));
    ASSERT_OK(shmq_topic_close(n));
    ASSERT_OK(shmq_publish(k, "x.y", "again", 5, 0));
    ASSERT_OK(shmq_topic_stat(k, &st));
    assert_int_equal(st.published, 1);
    assert_int_equal(st.participants, 1);
    TCHECK(k);
    ASSERT_OK(shmq_topic_close(k));
    ASSERT_OK(shmq_topic_close(o2));
    ASSERT_OK(shmq_topic_close(b));
    ASSERT_OK(shmq_topic_unlink(name));
}

/* ---- one process ---- */

static void publish_and_next_basics(void **state)
{
    (void)state;
    const char *name = topic_name();
    shmq_topic_t *t =
        topic_make(name, &(struct shmq_topic_config){.capacity = 16, .slot_size = 72});
    shmq_sub_t *orders, *all, *none;
    ASSERT_OK(shmq_subscribe(t, "orders.*", NULL, 0, &orders));
    ASSERT_OK(shmq_subscribe(t, NULL, NULL, 0, &all));
    ASSERT_OK(shmq_subscribe(t, "nothing.#", NULL, 0, &none));
    char buf[128];
    struct shmq_delivery d;
    assert_int_equal(shmq_next(all, buf, sizeof buf, &d, 0), -EAGAIN);
    int64_t t0 = test_now_ns();
    assert_int_equal(shmq_next(all, buf, sizeof buf, &d, 20 * MS), -ETIMEDOUT);
    assert_true(test_now_ns() - t0 >= 19 * MS);
    assert_int_equal(shmq_next(all, buf, sizeof buf, &d, -1), -EINVAL);
    assert_int_equal(shmq_next(NULL, buf, sizeof buf, &d, 0), -EINVAL);
    assert_int_equal(shmq_next(all, NULL, 4, &d, 0), -EINVAL);

    ASSERT_OK(shmq_publish(t, "orders.eu", "one", 3, 0));
    ASSERT_OK(shmq_publish(t, "orders.eu.x", "two", 3, 0));
    ASSERT_OK(shmq_publish(t, "news", "three", 5, 0));
    ASSERT_OK(shmq_publish(t, "orders.us", "", 0, 0));
    assert_int_equal(shmq_next(orders, buf, sizeof buf, &d, 0), 3);
    assert_memory_equal(buf, "one", 3);
    assert_string_equal(d.subject, "orders.eu");
    assert_int_equal(d.subject_len, 9);
    assert_int_equal(d.seq, 0);
    assert_int_equal(d.lost, 0);
    assert_int_equal(d.meta, 0);
    assert_int_equal(d.timestamp_ns, 0);
    assert_int_equal(shmq_next(orders, buf, sizeof buf, &d, 0), 0);
    assert_string_equal(d.subject, "orders.us");
    assert_int_equal(d.seq, 3);
    assert_int_equal(shmq_next(orders, buf, sizeof buf, &d, 0), -EAGAIN);
    const char *want[] = {"orders.eu", "orders.eu.x", "news", "orders.us"};
    for (int i = 0; i < 4; i++) {
        assert_true(shmq_next(all, buf, sizeof buf, i % 2 ? NULL : &d, 0) >= 0);
        if (i % 2 == 0) {
            assert_string_equal(d.subject, want[i]);
            assert_int_equal(d.seq, i);
        }
    }
    assert_int_equal(shmq_next(all, buf, sizeof buf, &d, 0), -EAGAIN);
    assert_int_equal(shmq_next(none, buf, sizeof buf, &d, 0), -EAGAIN);
    struct shmq_group_info gi;
    ASSERT_OK(shmq_sub_stat(none, &gi));
    assert_int_equal(gi.skipped, 4);
    assert_int_equal(gi.delivered, 0);
    assert_int_equal(gi.cursor, 4);
    assert_int_equal(gi.lag, 0);
    assert_int_equal(gi.flags, SHMQ_GROUP_PRIVATE);
    assert_int_equal(gi.members, 1);
    assert_string_equal(gi.pattern, "nothing.#");
    assert_int_equal(gi.name[0], '~');
    ASSERT_OK(shmq_sub_stat(orders, &gi));
    assert_int_equal(gi.delivered, 2);
    assert_int_equal(gi.skipped, 2);

    /* Sizes: subject "s" takes 8 bytes, so 64 bytes of payload fit exactly in 72. */
    char big[80];
    memset(big, 'x', sizeof big);
    ASSERT_OK(shmq_publish(t, "s", big, 64, 0));
    assert_int_equal(shmq_publish(t, "s", big, 65, 0), -EMSGSIZE);
    assert_int_equal(shmq_publish(t, "sixteen.bytes.x", big, 57, 0), -EMSGSIZE);
    ASSERT_OK(shmq_publish(t, "sixteen.bytes.x", big, 56, 0));
    /* A buffer too small: the message stays, and says what it needs. */
    assert_int_equal(shmq_next(all, buf, 10, &d, 0), -EMSGSIZE);
    assert_int_equal(d.len, 64);
    assert_int_equal(shmq_next(all, buf, 10, &d, SHMQ_FOREVER), -EMSGSIZE);
    assert_int_equal(shmq_next(all, buf, 64, &d, 0), 64);
    assert_int_equal(d.seq, 4);
    assert_int_equal(shmq_next(all, buf, 64, &d, 0), 56);
    assert_string_equal(d.subject, "sixteen.bytes.x");

    /* Metadata round trip; it takes slot space only when set. */
    struct shmq_msg m = {.data = "payload",
                         .len = 7,
                         .timestamp_ns = 123456789,
                         .type = "t",
                         .correlation_id = "corr-1",
                         .reply_to = "replies"};
    ASSERT_OK(shmq_publish_msg(t, "m", &m, 0));
    struct shmq_msg m2 = {.data = "p", .len = 1, .reply_to = "r"};
    ASSERT_OK(shmq_publish_msg(t, "m", &m2, 0));
    assert_int_equal(shmq_next(all, buf, sizeof buf, &d, 0), 7);
    assert_memory_equal(buf, "payload", 7);
    assert_int_equal(d.timestamp_ns, 123456789);
    assert_int_equal(d.meta, SHMQ_HAS_TYPE | SHMQ_HAS_CORRELATION_ID | SHMQ_HAS_REPLY_TO);
    assert_string_equal(d.type, "t");
    assert_string_equal(d.correlation_id, "corr-1");
    assert_string_equal(d.reply_to, "replies");
    assert_int_equal(shmq_next(all, buf, sizeof buf, &d, 0), 1);
    assert_int_equal(d.meta, SHMQ_HAS_REPLY_TO);
    assert_string_equal(d.type, "");
    assert_string_equal(d.reply_to, "r");
    /* 8 (subject) + 8 (payload) + 19 + 1 + 6 + 7 = 49 <= 72; with a 40-byte type, no. */
    char type[41];
    memset(type, 'T', 40);
    type[40] = 0;
    m.type = type;
    assert_int_equal(shmq_publish_msg(t, "m", &m, 0), -EMSGSIZE);
    char huge[SHMQ_META_STR_MAX + 2];
    memset(huge, 'h', sizeof huge);
    huge[SHMQ_META_STR_MAX + 1] = 0;
    m.type = huge;
    assert_int_equal(shmq_publish_msg(t, "m", &m, 0), -EINVAL);

    struct shmq_topic_stat st;
    ASSERT_OK(shmq_topic_stat(t, &st));
    assert_int_equal(st.published, 8);
    assert_int_equal(st.groups, 3);
    assert_int_equal(st.members, 3);
    assert_true(st.waits >= 1); /* the timed-out next */
    TCHECK(t);
    char why[128];
    ASSERT_OK(shmq_topic_check(t, why, sizeof why));
    assert_int_equal(shmq_topic_check(NULL, NULL, 0), -EINVAL);
    ASSERT_OK(shmq_unsubscribe(orders));
    ASSERT_OK(shmq_topic_stat(t, &st));
    assert_int_equal(st.groups, 2); /* the private group went with its member */
    shmq_topic_close(t);
}

static void views_are_checked(void **state)
{
    (void)state;
    const char *name = topic_name();
    shmq_topic_t *t = topic_make(
        name, &(struct shmq_topic_config){.capacity = 4, .policy = SHMQ_TOPIC_OVERWRITE});
    shmq_sub_t *s;
    ASSERT_OK(shmq_subscribe(t, "#", NULL, 0, &s));
    struct shmq_view v;
    assert_int_equal(shmq_next_view(s, &v, 0), -EAGAIN);
    struct shmq_msg m = {.data = "abc", .len = 3, .type = "ty"};
    ASSERT_OK(shmq_publish_msg(t, "x.y", &m, 0));
    ASSERT_OK(shmq_next_view(s, &v, 0));
    assert_int_equal(v.len, 3);
    assert_memory_equal(v.data, "abc", 3);
    assert_string_equal(v.subject, "x.y");
    assert_int_equal(v.subject_len, 3);
    assert_string_equal(v.type, "ty");
    assert_null(v.correlation_id);
    assert_int_equal(v.seq, 0);
    ASSERT_OK(shmq_view_check(s, &v));
    /* The ring laps the slot: the view is stale. */
    for (int i = 0; i < 4; i++)
        ASSERT_OK(shmq_publish(t, "x", "zzzz", 4, 0));
    assert_int_equal(shmq_view_check(s, &v), -ESTALE);
    assert_int_equal(shmq_view_check(NULL, &v), -EINVAL);
    /* The views after it: 1..4 are all still there. */
    for (uint64_t i = 1; i <= 4; i++) {
        ASSERT_OK(shmq_next_view(s, &v, 0));
        assert_int_equal(v.seq, i);
        assert_int_equal(v.lost, 0);
        assert_memory_equal(v.data, "zzzz", 4);
        ASSERT_OK(shmq_view_check(s, &v));
    }
    TCHECK(t);
    shmq_topic_close(t);

    /* BLOCK: a view holds its slot until the subscription's next call. */
    t = topic_make(name = topic_name(), &(struct shmq_topic_config){.capacity = 2});
    ASSERT_OK(shmq_subscribe(t, "#", NULL, 0, &s));
    ASSERT_OK(shmq_publish(t, "a", "0", 1, 0));
    ASSERT_OK(shmq_publish(t, "a", "1", 1, 0));
    ASSERT_OK(shmq_next_view(s, &v, 0));
    assert_int_equal(v.seq, 0);
    assert_int_equal(shmq_publish(t, "a", "2", 1, 0), -EAGAIN); /* message 0 is held */
    TCHECK(t);
    ASSERT_OK(shmq_next_view(s, &v, 0)); /* releases 0, holds 1 */
    assert_int_equal(v.seq, 1);
    ASSERT_OK(shmq_publish(t, "a", "2", 1, 0));
    assert_int_equal(shmq_publish(t, "a", "3", 1, 0), -EAGAIN);
    assert_memory_equal(v.data, "1", 1);
    ASSERT_OK(shmq_view_check(s, &v));
    char b[4];
    assert_int_equal(shmq_next(s, b, sizeof b, NULL, 0), 1); /* a copy releases it too */
    assert_int_equal(b[0], '2');
    ASSERT_OK(shmq_publish(t, "a", "3", 1, 0));
    ASSERT_OK(shmq_next_view(s, &v, 0));
    ASSERT_OK(shmq_publish(t, "a", "4", 1, 0));
    assert_int_equal(shmq_publish(t, "a", "5", 1, 0), -EAGAIN);
    ASSERT_OK(shmq_unsubscribe(s)); /* and so does leaving */
    ASSERT_OK(shmq_publish(t, "a", "5", 1, 0));
    TCHECK(t);
    shmq_topic_close(t);
}

/* ---- fan-out to processes ---- */

struct fan_shared {
    _Atomic int ready;
    _Atomic int go;
    _Atomic uint64_t received[8];
};

static const char *const fan_patterns[] = {"#", "p0.#", "*.a", "p1.b", "#.c"};
#define FAN_SUBS 5

/* The first sequence >= from of publisher p that matches pattern. */
static uint64_t next_match(const char *pattern, uint32_t p, uint64_t from, uint64_t n)
{
    char subj[32];
    for (uint64_t s = from; s < n; s++) {
        subject_of(subj, sizeof subj, p, s);
        if (shmq_topic_match(pattern, subj) == 1)
            return s;
    }
    return n;
}

static uint64_t count_matches(const char *pattern, uint32_t pubs, uint64_t n)
{
    uint64_t total = 0;
    for (uint32_t p = 0; p < pubs; p++)
        for (uint64_t s = next_match(pattern, p, 0, n); s < n; s = next_match(pattern, p, s + 1, n))
            total++;
    return total;
}

static void wait_for(_Atomic int *v, int want)
{
    int64_t give_up = test_now_ns() + 20000 * MS;
    while (atomic_load(v) < want) {
        CHILD_CHECK(test_now_ns() < give_up);
        usleep(100);
    }
}

/* A publisher process: n messages of varying sizes, subjects cycling a, b, c. */
static void publisher_child(const char *name, _Atomic int *ready, uint32_t id, uint64_t n,
                            int wait_subs, size_t max_len)
{
    shmq_topic_t *t;
    CHILD_CHECK(shmq_topic_open(name, &t) == 0);
    wait_for(ready, wait_subs);
    unsigned char buf[512];
    for (uint64_t s = 0; s < n; s++) {
        char subj[32];
        subject_of(subj, sizeof subj, id, s);
        size_t len = sizeof(struct tmsg) + (size_t)(s * 13 % (max_len - sizeof(struct tmsg)));
        tmsg_make(buf, len, id, s);
        int r = shmq_publish(t, subj, buf, len, SHMQ_FOREVER);
        CHILD_CHECK(r == 0);
    }
    shmq_topic_close(t);
    _exit(0);
}

/* A subscriber process with a private group: every matching message of every publisher,
 * exactly once, in order. */
static void subscriber_child(const char *name, struct fan_shared *sh, int idx, uint32_t pubs,
                             uint64_t n)
{
    const char *pattern = fan_patterns[idx];
    shmq_topic_t *t;
    shmq_sub_t *s;
    CHILD_CHECK(shmq_topic_open(name, &t) == 0);
    int err = shmq_subscribe(t, pattern, NULL, 0, &s);
    if (err)
        fprintf(stderr, "subscribe %s: %s\n", pattern, shmq_strerror(err));
    CHILD_CHECK(err == 0);
    atomic_fetch_add(&sh->ready, 1);
    uint64_t expect[8];
    for (uint32_t p = 0; p < pubs; p++)
        expect[p] = next_match(pattern, p, 0, n);
    uint64_t total = count_matches(pattern, pubs, n), got = 0;
    unsigned char buf[512];
    struct shmq_delivery d;
    while (got < total) {
        ssize_t r = shmq_next(s, buf, sizeof buf, &d, 20000 * MS);
        if (r < 0)
            fprintf(stderr, "subscriber %s: %s after %llu of %llu\n", pattern,
                    shmq_strerror((int)r), (unsigned long long)got, (unsigned long long)total);
        CHILD_CHECK(r >= 0);
        struct tmsg h;
        CHILD_CHECK(tmsg_ok(buf, (size_t)r, &h));
        CHILD_CHECK(h.pub < pubs);
        if (h.seq != expect[h.pub])
            fprintf(stderr, "subscriber %s: publisher %u sent %llu, expected %llu\n", pattern,
                    h.pub, (unsigned long long)h.seq, (unsigned long long)expect[h.pub]);
        CHILD_CHECK(h.seq == expect[h.pub]);
        char subj[32];
        subject_of(subj, sizeof subj, h.pub, h.seq);
        CHILD_CHECK(strcmp(subj, d.subject) == 0);
        CHILD_CHECK(d.lost == 0);
        expect[h.pub] = next_match(pattern, h.pub, h.seq + 1, n);
        got++;
    }
    for (uint32_t p = 0; p < pubs; p++)
        CHILD_CHECK(expect[p] == n);
    /* Nothing more. */
    CHILD_CHECK(shmq_next(s, buf, sizeof buf, &d, 0) == -EAGAIN);
    atomic_store(&sh->received[idx], got);
    shmq_topic_close(t);
    _exit(0);
}

static void fanout_each_subscriber_gets_every_match_once(void **state)
{
    (void)state;
    const char *name = topic_name();
    uint64_t n = (uint64_t)(20000 * test_scale());
    const uint32_t pubs = 2;
    for (int policy = 0; policy < 2; policy++) {
        /* OVERWRITE with a ring large enough for everything: no loss either. */
        struct shmq_topic_config cfg = {.capacity = policy ? 65536 : 64,
                                        .slot_size = 512,
                                        .policy = policy ? SHMQ_TOPIC_OVERWRITE : SHMQ_TOPIC_BLOCK};
        if (policy && n * pubs > cfg.capacity)
            n = cfg.capacity / pubs;
        shmq_topic_t *t = topic_make(name, &cfg);
        struct fan_shared *sh = shared_alloc(sizeof *sh);
        pid_t kids[FAN_SUBS + 2];
        int k = 0;
        for (int i = 0; i < FAN_SUBS; i++)
            if ((kids[k++] = fork()) == 0)
                subscriber_child(name, sh, i, pubs, n);
        for (uint32_t p = 0; p < pubs; p++)
            if ((kids[k++] = fork()) == 0)
                publisher_child(name, &sh->ready, p, n, FAN_SUBS, 300);
        for (int i = 0; i < k; i++)
            test_wait_child(kids[i]);
        for (int i = 0; i < FAN_SUBS; i++)
            assert_int_equal(atomic_load(&sh->received[i]),
                             count_matches(fan_patterns[i], pubs, n));
        struct shmq_topic_stat st;
        ASSERT_OK(shmq_topic_stat(t, &st));
        assert_int_equal(st.published, n * pubs);
        assert_int_equal(st.groups, 0); /* private groups went with their members */
        if (!policy)
            assert_true(st.full > 0); /* a ring of 64: publishers had to wait */
        TCHECK(t);
        shmq_topic_close(t);
        ASSERT_OK(shmq_topic_unlink(name));
        munmap(sh, sizeof *sh);
    }
}

/* ---- groups split the stream ---- */

struct split_shared {
    _Atomic int ready;
    _Atomic uint64_t taken[2]; /* per group */
    _Atomic uint64_t dup[2];
    _Atomic uint64_t per_member[8];
    _Atomic uint64_t seen[2][2][4096]; /* [group][publisher] bitmaps of sequences */
};

static void member_child(const char *name, struct split_shared *sh, int group, int member,
                         uint64_t total_for_group, uint64_t n)
{
    const char *gname = group ? "audit" : "workers";
    const char *pattern = group ? "#" : "*.a";
    shmq_topic_t *t;
    shmq_sub_t *s;
    CHILD_CHECK(shmq_topic_open(name, &t) == 0);
    CHILD_CHECK(shmq_subscribe(t, pattern, gname, 0, &s) == 0);
    atomic_fetch_add(&sh->ready, 1);
    uint64_t last[2] = {UINT64_MAX, UINT64_MAX};
    unsigned char buf[512];
    struct shmq_delivery d;
    while (atomic_load(&sh->taken[group]) < total_for_group) {
        ssize_t r = shmq_next(s, buf, sizeof buf, &d, 20 * MS);
        if (r == -ETIMEDOUT)
            continue;
        CHILD_CHECK(r >= 0);
        struct tmsg h;
        CHILD_CHECK(tmsg_ok(buf, (size_t)r, &h));
        CHILD_CHECK(h.pub < 2 && h.seq < n);
        CHILD_CHECK(shmq_topic_match(pattern, d.subject) == 1);
        /* Each member sees each publisher's messages in increasing order. */
        CHILD_CHECK(last[h.pub] == UINT64_MAX || h.seq > last[h.pub]);
        last[h.pub] = h.seq;
        uint64_t bit = UINT64_C(1) << (h.seq % 64);
        if (atomic_fetch_or(&sh->seen[group][h.pub][h.seq / 64], bit) & bit)
            atomic_fetch_add(&sh->dup[group], 1);
        atomic_fetch_add(&sh->per_member[member], 1);
        atomic_fetch_add(&sh->taken[group], 1);
    }
    shmq_topic_close(t);
    _exit(0);
}

static void groups_split_the_stream(void **state)
{
    (void)state;
    const char *name = topic_name();
    uint64_t n = (uint64_t)(20000 * test_scale());
    if (n > 4096 * 64)
        n = 4096 * 64;
    shmq_topic_t *t =
        topic_make(name, &(struct shmq_topic_config){.capacity = 128, .slot_size = 512});
    struct split_shared *sh = shared_alloc(sizeof *sh);
    const int workers = 3;
    uint64_t total[2] = {count_matches("*.a", 2, n), 2 * n};
    pid_t kids[8];
    int k = 0;
    for (int i = 0; i < workers; i++)
        if ((kids[k++] = fork()) == 0)
            member_child(name, sh, 0, i, total[0], n);
    if ((kids[k++] = fork()) == 0)
        member_child(name, sh, 1, workers, total[1], n);
    for (uint32_t p = 0; p < 2; p++)
        if ((kids[k++] = fork()) == 0)
            publisher_child(name, &sh->ready, p, n, workers + 1, 200);
    for (int i = 0; i < k; i++)
        test_wait_child(kids[i]);
    for (int g = 0; g < 2; g++) {
        assert_int_equal(atomic_load(&sh->dup[g]), 0);
        assert_int_equal(atomic_load(&sh->taken[g]), total[g]);
        /* The union is everything that matches: no loss. */
        for (uint32_t p = 0; p < 2; p++)
            for (uint64_t s = 0; s < n; s++) {
                char subj[32];
                subject_of(subj, sizeof subj, p, s);
                bool want = shmq_topic_match(g ? "#" : "*.a", subj) == 1;
                bool got = (atomic_load(&sh->seen[g][p][s / 64]) >> (s % 64)) & 1;
                if (want != got)
                    fail_msg("group %d publisher %u message %llu: %s", g, p, (unsigned long long)s,
                             got ? "unexpected" : "lost");
            }
    }
    uint64_t sum = 0;
    for (int i = 0; i < workers; i++)
        sum += atomic_load(&sh->per_member[i]);
    assert_int_equal(sum, total[0]);
    struct shmq_topic_stat st;
    ASSERT_OK(shmq_topic_stat(t, &st));
    assert_int_equal(st.groups, 0); /* both groups were ephemeral */
    TCHECK(t);
    shmq_topic_close(t);
    munmap(sh, sizeof *sh);
}

/* ---- OVERWRITE ---- */

static void overwrite_stalled_subscriber_loses_exactly(void **state)
{
    (void)state;
    const char *name = topic_name();
    const uint64_t cap = 16, n = 1000;
    shmq_topic_t *t = topic_make(name, &(struct shmq_topic_config){.capacity = (uint32_t)cap,
                                                                   .policy = SHMQ_TOPIC_OVERWRITE});
    shmq_sub_t *stalled, *fast;
    ASSERT_OK(shmq_subscribe(t, "#", "stalled", 0, &stalled));
    ASSERT_OK(shmq_subscribe(t, "#", NULL, 0, &fast));
    unsigned char buf[256];
    struct shmq_delivery d;
    for (uint64_t s = 0; s < n; s++) {
        tmsg_make(buf, 64, 0, s);
        /* Never full, never waits, whatever the stalled group does. */
        ASSERT_OK(shmq_publish(t, "x", buf, 64, 0));
        if (s % 2 == 0) /* the fast one keeps up, two messages at a time */
            for (ssize_t r; (r = shmq_next(fast, buf, sizeof buf, &d, 0)) != -EAGAIN;) {
                assert_int_equal(r, 64);
                assert_int_equal(d.lost, 0);
            }
    }
    ssize_t r;
    while ((r = shmq_next(fast, buf, sizeof buf, &d, 0)) > 0)
        assert_int_equal(d.lost, 0);
    struct shmq_group_info gi;
    ASSERT_OK(shmq_sub_stat(fast, &gi));
    assert_int_equal(gi.delivered, n);
    assert_int_equal(gi.lost, 0);
    ASSERT_OK(shmq_sub_stat(stalled, &gi));
    assert_int_equal(gi.lag, n);
    /* The stalled group: the first delivery is the oldest message still there, with the exact
     * count of what came before it. */
    assert_int_equal(shmq_next(stalled, buf, sizeof buf, &d, 0), 64);
    assert_int_equal(d.seq, n - cap);
    assert_int_equal(d.lost, n - cap);
    struct tmsg h;
    assert_true(tmsg_ok(buf, 64, &h));
    assert_int_equal(h.seq, n - cap);
    for (uint64_t s = n - cap + 1; s < n; s++) {
        assert_int_equal(shmq_next(stalled, buf, sizeof buf, &d, 0), 64);
        assert_int_equal(d.seq, s);
        assert_int_equal(d.lost, 0);
        assert_true(tmsg_ok(buf, 64, &h) && h.seq == s);
    }
    assert_int_equal(shmq_next(stalled, buf, sizeof buf, &d, 0), -EAGAIN);
    ASSERT_OK(shmq_sub_stat(stalled, &gi));
    assert_int_equal(gi.lost, n - cap);
    assert_int_equal(gi.delivered, cap);
    assert_int_equal(gi.lag, 0);
    struct shmq_topic_stat st;
    ASSERT_OK(shmq_topic_stat(t, &st));
    assert_int_equal(st.full, 0);
    assert_int_equal(st.published, n);
    TCHECK(t);
    shmq_topic_close(t);
}

struct ow_shared {
    _Atomic int ready;
    _Atomic int done; /* publishers finished */
    _Atomic uint64_t published[4];
    _Atomic uint64_t received[4];
    _Atomic uint64_t lost[4];
    _Atomic uint64_t stale[4];
    _Atomic uint64_t gap_errors;
};

/* A slow subscriber under a fast publisher: each delivery's loss count is exactly the gap
 * since the previous one. */
static void slow_subscriber_child(const char *name, struct ow_shared *sh, int idx, uint64_t n)
{
    shmq_topic_t *t;
    shmq_sub_t *s;
    CHILD_CHECK(shmq_topic_open(name, &t) == 0);
    CHILD_CHECK(shmq_subscribe(t, "#", NULL, 0, &s) == 0);
    atomic_fetch_add(&sh->ready, 1);
    uint64_t next = 0, got = 0, lost = 0;
    unsigned char buf[256];
    struct shmq_delivery d;
    while (next < n) {
        ssize_t r = shmq_next(s, buf, sizeof buf, &d, 20000 * MS);
        CHILD_CHECK(r > 0);
        struct tmsg h;
        CHILD_CHECK(tmsg_ok(buf, (size_t)r, &h));
        CHILD_CHECK(h.seq == d.seq);
        if (d.seq != next + d.lost) {
            fprintf(stderr, "slow subscriber: got %llu with lost %llu after %llu\n",
                    (unsigned long long)d.seq, (unsigned long long)d.lost,
                    (unsigned long long)next);
            atomic_fetch_add(&sh->gap_errors, 1);
        }
        lost += d.lost;
        next = d.seq + 1;
        got++;
        if (got % 64 == 0)
            usleep(200); /* slow: falls behind a ring of 32 */
    }
    struct shmq_group_info gi;
    CHILD_CHECK(shmq_sub_stat(s, &gi) == 0);
    CHILD_CHECK(gi.lost == lost && gi.delivered == got);
    atomic_store(&sh->received[idx], got);
    atomic_store(&sh->lost[idx], lost);
    shmq_topic_close(t);
    _exit(0);
}

static void overwrite_loss_is_exact_under_load(void **state)
{
    (void)state;
    const char *name = topic_name();
    uint64_t n = (uint64_t)(100000 * test_scale());
    shmq_topic_t *t = topic_make(
        name, &(struct shmq_topic_config){.capacity = 32, .policy = SHMQ_TOPIC_OVERWRITE});
    struct ow_shared *sh = shared_alloc(sizeof *sh);
    pid_t kid = fork();
    if (kid == 0)
        slow_subscriber_child(name, sh, 0, n);
    while (atomic_load(&sh->ready) < 1)
        usleep(100);
    unsigned char buf[64];
    int64_t t0 = test_now_ns();
    for (uint64_t s = 0; s < n; s++) {
        tmsg_make(buf, sizeof buf, 0, s);
        ASSERT_OK(shmq_publish(t, "load", buf, sizeof buf, 0)); /* timeout 0: never refused */
    }
    int64_t took = test_now_ns() - t0;
    test_wait_child(kid);
    assert_int_equal(atomic_load(&sh->gap_errors), 0);
    assert_int_equal(atomic_load(&sh->received[0]) + atomic_load(&sh->lost[0]), n);
    assert_true(atomic_load(&sh->lost[0]) > 0); /* it did fall behind */
    struct shmq_topic_stat st;
    ASSERT_OK(shmq_topic_stat(t, &st));
    assert_int_equal(st.full, 0);
    fprintf(stderr, "  overwrite: %llu messages in %.1f ms, the slow subscriber lost %llu\n",
            (unsigned long long)n, (double)took / 1e6,
            (unsigned long long)atomic_load(&sh->lost[0]));
    TCHECK(t);
    shmq_topic_close(t);
    munmap(sh, sizeof *sh);
}

/* Readers of a tiny ring under constant overwriting: a copy is whole or not delivered, a view
 * that checks out was whole. */
static void torn_reader_child(const char *name, struct ow_shared *sh, int idx, bool view)
{
    shmq_topic_t *t;
    shmq_sub_t *s;
    CHILD_CHECK(shmq_topic_open(name, &t) == 0);
    CHILD_CHECK(shmq_subscribe(t, "#", NULL, 0, &s) == 0);
    atomic_fetch_add(&sh->ready, 1);
    unsigned char buf[512];
    uint64_t got = 0, lost = 0, stale = 0;
    uint64_t last[2] = {0, 0};
    bool any[2] = {false, false};
    for (;;) {
        struct tmsg h;
        uint64_t dlost;
        if (view) {
            struct shmq_view v;
            int r = shmq_next_view(s, &v, 10 * MS);
            if (r == -ETIMEDOUT) {
                if (atomic_load(&sh->done) == 2)
                    break;
                continue;
            }
            CHILD_CHECK(r == 0);
            bool ok = tmsg_ok(v.data, v.len, &h);
            char subj[SHMQ_SUBJECT_MAX + 1];
            memcpy(subj, v.subject, v.subject_len);
            subj[v.subject_len] = 0;
            if (shmq_view_check(s, &v) != 0) {
                stale++;
                lost += v.lost;
                continue;
            }
            CHILD_CHECK(ok); /* checked out: it was whole */
            CHILD_CHECK(h.seq == strtoull(subj + 2, NULL, 10));
            dlost = v.lost;
        } else {
            struct shmq_delivery d;
            ssize_t r = shmq_next(s, buf, sizeof buf, &d, 10 * MS);
            if (r == -ETIMEDOUT) {
                if (atomic_load(&sh->done) == 2)
                    break;
                continue;
            }
            CHILD_CHECK(r > 0);
            CHILD_CHECK(tmsg_ok(buf, (size_t)r, &h));
            CHILD_CHECK(h.seq == strtoull(d.subject + 2, NULL, 10));
            CHILD_CHECK(h.pub == (uint32_t)(d.subject[0] - 'a'));
            dlost = d.lost;
        }
        CHILD_CHECK(h.pub < 2);
        CHILD_CHECK(!any[h.pub] || h.seq > last[h.pub]);
        any[h.pub] = true;
        last[h.pub] = h.seq;
        lost += dlost;
        got++;
    }
    atomic_store(&sh->received[idx], got);
    atomic_store(&sh->lost[idx], lost);
    atomic_store(&sh->stale[idx], stale);
    shmq_topic_close(t);
    _exit(0);
}

static void torn_publisher_child(const char *name, struct ow_shared *sh, uint32_t id, uint64_t n)
{
    shmq_topic_t *t;
    CHILD_CHECK(shmq_topic_open(name, &t) == 0);
    wait_for(&sh->ready, 3);
    unsigned char buf[512];
    unsigned seed = id * 7919 + 1;
    for (uint64_t s = 0; s < n; s++) {
        seed = seed * 1103515245u + 12345u;
        size_t len = sizeof(struct tmsg) + (seed >> 16) % (480 - sizeof(struct tmsg));
        tmsg_make(buf, len, id, s);
        char subj[32];
        snprintf(subj, sizeof subj, "%c.%llu", 'a' + id, (unsigned long long)s);
        CHILD_CHECK(shmq_publish(t, subj, buf, len, 0) == 0);
    }
    atomic_store(&sh->published[id], n);
    atomic_fetch_add(&sh->done, 1);
    shmq_topic_close(t);
    _exit(0);
}

static void overwrite_torn_reads_are_impossible(void **state)
{
    (void)state;
    const char *name = topic_name();
    uint64_t n = (uint64_t)(200000 * test_scale());
    shmq_topic_t *t =
        topic_make(name, &(struct shmq_topic_config){
                             .capacity = 4, .slot_size = 512, .policy = SHMQ_TOPIC_OVERWRITE});
    struct ow_shared *sh = shared_alloc(sizeof *sh);
    pid_t kids[5];
    int k = 0;
    for (int i = 0; i < 3; i++)
        if ((kids[k++] = fork()) == 0)
            torn_reader_child(name, sh, i, i == 2);
    for (uint32_t p = 0; p < 2; p++)
        if ((kids[k++] = fork()) == 0)
            torn_publisher_child(name, sh, p, n);
    for (int i = 0; i < k; i++)
        test_wait_child(kids[i]);
    for (int i = 0; i < 3; i++) {
        fprintf(stderr, "  reader %d (%s): %llu whole, %llu lost, %llu stale views\n", i,
                i == 2 ? "views" : "copies", (unsigned long long)atomic_load(&sh->received[i]),
                (unsigned long long)atomic_load(&sh->lost[i]),
                (unsigned long long)atomic_load(&sh->stale[i]));
        assert_true(atomic_load(&sh->received[i]) > 0);
        /* Everything is accounted for: read whole, lost, or (views) read torn and refused. */
        assert_int_equal(atomic_load(&sh->received[i]) + atomic_load(&sh->lost[i]) +
                             atomic_load(&sh->stale[i]),
                         2 * n);
    }
    TCHECK(t);
    shmq_topic_close(t);
    munmap(sh, sizeof *sh);
}

/* ---- BLOCK ---- */

static void block_slow_subscriber_loses_nothing(void **state)
{
    (void)state;
    const char *name = topic_name();
    uint64_t n = (uint64_t)(20000 * test_scale());
    shmq_topic_t *t = topic_make(name, &(struct shmq_topic_config){.capacity = 8});
    struct ow_shared *sh = shared_alloc(sizeof *sh);
    pid_t kid = fork();
    if (kid == 0)
        slow_subscriber_child(name, sh, 0, n);
    while (atomic_load(&sh->ready) < 1)
        usleep(100);
    unsigned char buf[64];
    for (uint64_t s = 0; s < n; s++) {
        tmsg_make(buf, sizeof buf, 0, s);
        ASSERT_OK(shmq_publish(t, "load", buf, sizeof buf, SHMQ_FOREVER));
    }
    test_wait_child(kid);
    assert_int_equal(atomic_load(&sh->gap_errors), 0);
    assert_int_equal(atomic_load(&sh->received[0]), n);
    assert_int_equal(atomic_load(&sh->lost[0]), 0);
    struct shmq_topic_stat st;
    ASSERT_OK(shmq_topic_stat(t, &st));
    assert_true(st.full > 0);
    /* Full, with a live member that does not read: -EAGAIN and -ETIMEDOUT, nothing written. */
    shmq_sub_t *s;
    ASSERT_OK(shmq_subscribe(t, "#", NULL, 0, &s));
    for (int i = 0; i < 8; i++)
        ASSERT_OK(shmq_publish(t, "x", "m", 1, 0));
    assert_int_equal(shmq_publish(t, "x", "m", 1, 0), -EAGAIN);
    int64_t t0 = test_now_ns();
    assert_int_equal(shmq_publish(t, "x", "m", 1, 30 * MS), -ETIMEDOUT);
    assert_true(test_now_ns() - t0 >= 29 * MS);
    ASSERT_OK(shmq_topic_stat(t, &st));
    assert_int_equal(st.published, n + 8);
    char b[8];
    assert_int_equal(shmq_next(s, b, sizeof b, NULL, 0), 1);
    ASSERT_OK(shmq_publish(t, "x", "m", 1, 0)); /* one slot free again */
    TCHECK(t);
    shmq_topic_close(t);
    munmap(sh, sizeof *sh);
}

/* A child that subscribes and then stops reading, until killed. */
static pid_t stalled_member(const char *name, const char *group, uint32_t flags, _Atomic int *ready)
{
    pid_t pid = fork();
    if (pid == 0) {
        shmq_topic_t *t;
        shmq_sub_t *s;
        CHILD_CHECK(shmq_topic_open(name, &t) == 0);
        CHILD_CHECK(shmq_subscribe(t, "#", group, flags, &s) == 0);
        atomic_fetch_add(ready, 1);
        for (;;)
            pause();
    }
    while (atomic_load(ready) < 1)
        usleep(100);
    return pid;
}

static void kill_and_reap(pid_t pid)
{
    kill(pid, SIGKILL);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
}

static void block_killed_subscriber_does_not_stall(void **state)
{
    (void)state;
    const char *name = topic_name();
    shmq_topic_t *t =
        topic_make(name, &(struct shmq_topic_config){.capacity = 8, .group_timeout_ns = 300 * MS});
    _Atomic int *ready = shared_alloc(sizeof *ready);
    /* Ephemeral and private groups: released as soon as the member is found dead. */
    for (int kind = 0; kind < 2; kind++) {
        atomic_store(ready, 0);
        pid_t kid = stalled_member(name, kind ? NULL : "eph", 0, ready);
        for (int i = 0; i < 8; i++)
            ASSERT_OK(shmq_publish(t, "x", "m", 1, 0));
        assert_int_equal(shmq_publish(t, "x", "m", 1, 20 * MS), -ETIMEDOUT);
        kill_and_reap(kid);
        int64_t t0 = test_now_ns();
        ASSERT_OK(shmq_publish(t, "x", "m", 1, SHMQ_FOREVER));
        int64_t took = test_now_ns() - t0;
        assert_true(took < 5000 * MS);
        struct shmq_topic_stat st;
        ASSERT_OK(shmq_topic_stat(t, &st));
        assert_int_equal(st.groups, 0);
        assert_int_equal(st.members, 0);
        assert_int_equal(st.participants, 1);
        assert_int_equal(st.dead, 0);
        TCHECK(t);
    }
    /* Durable: kept, and stops gating after group_timeout_ns. */
    atomic_store(ready, 0);
    pid_t kid = stalled_member(name, "dur", SHMQ_SUB_DURABLE, ready);
    struct shmq_topic_stat st;
    ASSERT_OK(shmq_topic_stat(t, &st));
    uint64_t start = st.published;
    for (int i = 0; i < 8; i++)
        ASSERT_OK(shmq_publish(t, "x", "m", 1, 0));
    assert_int_equal(shmq_publish(t, "x", "m", 1, 20 * MS), -ETIMEDOUT);
    kill_and_reap(kid);
    int64_t t0 = test_now_ns();
    ASSERT_OK(shmq_publish(t, "x", "m", 1, SHMQ_FOREVER));
    int64_t took = test_now_ns() - t0;
    assert_true(took >= 250 * MS && took < 5000 * MS);
    for (int i = 0; i < 20; i++)
        ASSERT_OK(shmq_publish(t, "x", "m", 1, 0)); /* no longer gated */
    struct shmq_group_info gi;
    assert_non_null(group_lookup(t, "dur", &gi));
    assert_int_equal(gi.members, 0);
    assert_int_equal(gi.cursor, start);
    assert_int_equal(gi.gating, 0);
    assert_true(gi.idle_ns > 0);
    assert_int_equal(gi.flags, SHMQ_SUB_DURABLE);
    /* A member comes back: it finds exactly what was overwritten counted as lost. */
    shmq_sub_t *s;
    ASSERT_OK(shmq_subscribe(t, "#", "dur", SHMQ_SUB_DURABLE, &s));
    ASSERT_OK(shmq_topic_stat(t, &st));
    uint64_t tail = st.published;
    char b[8];
    struct shmq_delivery d;
    assert_int_equal(shmq_next(s, b, sizeof b, &d, 0), 1);
    assert_int_equal(d.seq, tail - 8);
    assert_int_equal(d.lost, tail - 8 - start);
    assert_non_null(group_lookup(t, "dur", &gi));
    assert_int_equal(gi.gating, 1);
    assert_int_equal(gi.lost, tail - 8 - start);
    ASSERT_OK(shmq_unsubscribe(s));
    ASSERT_OK(shmq_topic_group_delete(t, "dur"));
    TCHECK(t);
    shmq_topic_close(t);
    munmap(ready, sizeof *ready);
}

static void durable_and_ephemeral_groups(void **state)
{
    (void)state;
    const char *name = topic_name();
    shmq_topic_t *t = topic_make(name, &(struct shmq_topic_config){.capacity = 16});
    shmq_sub_t *e, *d1, *d2;
    ASSERT_OK(shmq_subscribe(t, "#", "eph", 0, &e));
    ASSERT_OK(shmq_subscribe(t, "a.#", "dur", SHMQ_SUB_DURABLE, &d1));
    ASSERT_OK(shmq_subscribe(t, "a.#", "dur", SHMQ_SUB_DURABLE, &d2));
    struct shmq_group_info gi;
    assert_non_null(group_lookup(t, "dur", &gi));
    assert_int_equal(gi.members, 2);
    ASSERT_OK(shmq_unsubscribe(e));
    assert_null(group_lookup(t, "eph", &gi)); /* gone with its last member */
    for (int i = 0; i < 5; i++)
        ASSERT_OK(shmq_publish(t, i % 2 ? "b" : "a.x", &i, sizeof i, 0));
    int v;
    struct shmq_delivery d;
    assert_int_equal(shmq_next(d1, &v, sizeof v, &d, 0), sizeof v);
    assert_int_equal(v, 0);
    ASSERT_OK(shmq_unsubscribe(d1));
    assert_int_equal(shmq_topic_group_delete(t, "dur"), -EBUSY); /* d2 is still there */
    ASSERT_OK(shmq_unsubscribe(d2));
    assert_non_null(group_lookup(t, "dur", &gi));
    assert_int_equal(gi.members, 0);
    assert_int_equal(gi.cursor, 1);
    assert_int_equal(gi.delivered, 1);
    assert_int_equal(gi.lag, 4);
    for (int i = 5; i < 8; i++)
        ASSERT_OK(shmq_publish(t, i % 2 ? "b" : "a.x", &i, sizeof i, 0));
    /* Back: everything matching since it left, nothing lost (within the ring). */
    ASSERT_OK(shmq_subscribe(t, "a.#", "dur", SHMQ_SUB_DURABLE, &d1));
    for (int want = 2; want < 8; want += 2) {
        assert_int_equal(shmq_next(d1, &v, sizeof v, &d, 0), sizeof v);
        assert_int_equal(v, want);
        assert_int_equal(d.lost, 0);
    }
    assert_int_equal(shmq_next(d1, &v, sizeof v, &d, 0), -EAGAIN);
    assert_non_null(group_lookup(t, "dur", &gi));
    assert_int_equal(gi.delivered, 4);
    assert_int_equal(gi.skipped, 4);
    ASSERT_OK(shmq_unsubscribe(d1));
    /* The group outlives every handle. */
    shmq_topic_close(t);
    ASSERT_OK(shmq_topic_open(name, &t));
    assert_non_null(group_lookup(t, "dur", &gi));
    TCHECK(t);
    assert_int_equal(shmq_topic_group_delete(t, "nope"), -ENOENT);
    assert_int_equal(shmq_topic_group_delete(t, "bad/name"), -EINVAL);
    ASSERT_OK(shmq_topic_group_delete(t, "dur"));
    assert_null(group_lookup(t, "dur", &gi));
    TCHECK(t);
    shmq_topic_close(t);
}

/* Many processes join the same new group at once: one group, all of them in it. */
static void racing_creators_make_one_group(void **state)
{
    (void)state;
    const char *name = topic_name();
    shmq_topic_t *t = topic_make(name, NULL);
    const int kids_n = 8, rounds = (int)(10 * test_scale());
    struct {
        _Atomic int joined;
        _Atomic int go;
        _Atomic int leave;
    } *sh = shared_alloc(sizeof *sh);
    for (int round = 0; round < rounds; round++) {
        char group[32];
        snprintf(group, sizeof group, "race%d", round);
        atomic_store(&sh->joined, 0);
        atomic_store(&sh->go, 0);
        atomic_store(&sh->leave, 0);
        pid_t kids[8];
        for (int i = 0; i < kids_n; i++)
            if ((kids[i] = fork()) == 0) {
                shmq_topic_t *ct;
                shmq_sub_t *s;
                CHILD_CHECK(shmq_topic_open(name, &ct) == 0);
                while (!atomic_load(&sh->go))
                    ;
                CHILD_CHECK(shmq_subscribe(ct, "#", group, 0, &s) == 0);
                atomic_fetch_add(&sh->joined, 1);
                while (!atomic_load(&sh->leave))
                    usleep(100);
                CHILD_CHECK(shmq_unsubscribe(s) == 0);
                shmq_topic_close(ct);
                _exit(0);
            }
        atomic_store(&sh->go, 1);
        while (atomic_load(&sh->joined) < kids_n)
            usleep(100);
        struct shmq_group_info all[8];
        int n = shmq_topic_groups(t, all, 8);
        assert_int_equal(n, 1);
        assert_string_equal(all[0].name, group);
        assert_int_equal(all[0].members, kids_n);
        atomic_store(&sh->leave, 1);
        for (int i = 0; i < kids_n; i++)
            test_wait_child(kids[i]);
        assert_int_equal(shmq_topic_groups(t, all, 8), 0);
    }
    TCHECK(t);
    shmq_topic_close(t);
    munmap(sh, sizeof *sh);
}

/* ---- publishers that die while publishing ---- */

/* In a child: take sequence numbers as a publisher does, then die at a chosen step. */
static void die_mid_publish(const char *name, int step)
{
    pid_t pid = fork();
    if (pid == 0) {
        shmq_topic_t *t;
        CHILD_CHECK(shmq_topic_open(name, &t) == 0);
        struct shmq__topic_part *me = t->me;
        atomic_store(&me->pub_seq, SHMQ__PUB_CLAIMING);
        uint64_t s = atomic_fetch_add(&t->hdr->tail, 1);
        atomic_store(&me->pub_seq, s + 1);
        if (step == 1) {
            /* Took the slot: WRITING(s), half a message. */
            struct shmq__topic_slot *slot =
                (struct shmq__topic_slot *)(t->slots +
                                            (s & (t->geo.capacity - 1)) * t->geo.slot_stride);
            atomic_store(&slot->word, shmq__tslot_word(s, SHMQ__TSLOT_WRITING));
            atomic_store(&slot->len, 99999);
        }
        _exit(0); /* dead, its entry LIVE */
    }
    test_wait_child(pid);
}

static void dead_publishers_leave_no_stall(void **state)
{
    (void)state;
    const char *name = topic_name();
    for (int policy = 0; policy < 2; policy++) {
        shmq_topic_t *t = topic_make(
            name, &(struct shmq_topic_config){
                      .capacity = 4, .policy = policy ? SHMQ_TOPIC_OVERWRITE : SHMQ_TOPIC_BLOCK});
        shmq_sub_t *s;
        ASSERT_OK(shmq_subscribe(t, "#", NULL, 0, &s));
        char b[8];
        struct shmq_delivery d;
        for (int step = 0; step < 2; step++) {
            ASSERT_OK(shmq_publish(t, "before", "1", 1, 0));
            die_mid_publish(name, step);
            ASSERT_OK(shmq_publish(t, "after", "2", 1, 0));
            assert_int_equal(shmq_next(s, b, sizeof b, &d, 0), 1);
            assert_string_equal(d.subject, "before");
            /* The hole is found and passed over. */
            assert_int_equal(shmq_next(s, b, sizeof b, &d, 5000 * MS), 1);
            assert_string_equal(d.subject, "after");
            assert_int_equal(d.lost, 0);
        }
        struct shmq_topic_stat st;
        ASSERT_OK(shmq_topic_stat(t, &st));
        assert_int_equal(st.holes, 2);
        struct shmq_group_info gi;
        ASSERT_OK(shmq_sub_stat(s, &gi));
        assert_int_equal(gi.skipped, 2);
        assert_int_equal(shmq_next(s, b, sizeof b, &d, 0), -EAGAIN);
        ASSERT_OK(shmq_unsubscribe(s));
        /* Nobody reads: a publisher that laps a dead writer's slot takes it over. */
        die_mid_publish(name, 1);
        for (int i = 0; i < 12; i++)
            ASSERT_OK(shmq_publish(t, "lap", "3", 1, 0));
        ASSERT_OK(shmq_topic_stat(t, &st));
        assert_int_equal(st.participants, 1); /* the dead publisher's entry is released */
        assert_int_equal(st.overtaken, 0);
        TCHECK(t);
        shmq_topic_close(t);
        ASSERT_OK(shmq_topic_unlink(name));
    }
}

/* A signal ends a wait with -EINTR, and nothing is taken. */
static void on_alarm(int sig)
{
    (void)sig;
}

static void a_signal_ends_a_wait(void **state)
{
    (void)state;
    const char *name = topic_name();
    shmq_topic_t *t = topic_make(name, &(struct shmq_topic_config){.capacity = 2});
    shmq_sub_t *s;
    ASSERT_OK(shmq_subscribe(t, "#", NULL, 0, &s));
    struct sigaction sa = {.sa_handler = on_alarm}, old;
    sigaction(SIGALRM, &sa, &old);
    struct itimerval it = {.it_value = {.tv_usec = 50000}};
    setitimer(ITIMER_REAL, &it, NULL);
    char b[8];
    assert_int_equal(shmq_next(s, b, sizeof b, NULL, SHMQ_FOREVER), -EINTR);
    ASSERT_OK(shmq_publish(t, "x", "a", 1, 0));
    ASSERT_OK(shmq_publish(t, "x", "b", 1, 0));
    setitimer(ITIMER_REAL, &it, NULL);
    assert_int_equal(shmq_publish(t, "x", "c", 1, SHMQ_FOREVER), -EINTR);
    sigaction(SIGALRM, &old, NULL);
    assert_int_equal(shmq_next(s, b, sizeof b, NULL, 0), 1);
    assert_int_equal(b[0], 'a');
    TCHECK(t);
    shmq_topic_close(t);
}

/* ---- threads on one mapping (what ThreadSanitizer can check) ---- */

/* Check a message through a zero-copy view. Under OVERWRITE a publisher may rewrite the slot
 * while we read it: that race is the documented nature of views there, and shmq_view_check
 * says afterwards whether it happened. So this reader uses plain byte reads and is left out
 * of ThreadSanitizer's instrumentation (every access of the library itself is atomic). */
#if defined(__clang__) || defined(__GNUC__)
__attribute__((no_sanitize("thread")))
#endif
static bool
view_ok(const void *data, size_t len, struct tmsg *out)
{
    const volatile unsigned char *b = data;
    unsigned char copy[256];
    if (len > sizeof copy)
        return false;
    for (size_t i = 0; i < len; i++)
        copy[i] = b[i];
    return tmsg_ok(copy, len, out);
}

struct thr {
    pthread_t tid;
    shmq_topic_t *root;
    int role; /* 0 publisher, 1 private "#" (copies), 2 member of "g" ("*.a"), 3 "#" by views */
    uint32_t id;
    uint64_t n;
    bool overwrite;
    _Atomic int *ready, *pubs_done;
    _Atomic uint64_t *group_taken;
    uint64_t got, lost, stale;
    int bad_line; /* 0 = fine, else the line of the failed check */
};

#define THR_CHECK(th, cond)                                                                        \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            if (!(th)->bad_line)                                                                   \
                (th)->bad_line = __LINE__;                                                         \
            goto out;                                                                              \
        }                                                                                          \
    } while (0)

static void *thr_main(void *arg)
{
    struct thr *th = arg;
    shmq_topic_t *t = NULL;
    shmq_sub_t *s = NULL;
    unsigned char buf[256];
    THR_CHECK(th, shmq__topic_clone(th->root, &t) == 0);
    if (th->role == 0) {
        while (atomic_load(th->ready) < 4)
            sched_yield();
        for (uint64_t i = 0; i < th->n; i++) {
            char subj[32];
            subject_of(subj, sizeof subj, th->id, i);
            size_t len = sizeof(struct tmsg) + (size_t)(i * 13 % 100);
            tmsg_make(buf, len, th->id, i);
            THR_CHECK(th, shmq_publish(t, subj, buf, len, th->overwrite ? 0 : SHMQ_FOREVER) == 0);
        }
        atomic_fetch_add(th->pubs_done, 1);
        goto out;
    }
    const char *pattern = th->role == 2 ? "*.a" : "#";
    THR_CHECK(th, shmq_subscribe(t, pattern, th->role == 2 ? "g" : NULL, 0, &s) == 0);
    atomic_fetch_add(th->ready, 1);
    uint64_t total = th->role == 2 ? count_matches("*.a", 2, th->n) : 2 * th->n;
    uint64_t last[2] = {UINT64_MAX, UINT64_MAX}, next_seq = 0;
    for (;;) {
        struct tmsg h;
        uint64_t seq, lost;
        if (th->role == 3) {
            struct shmq_view v;
            int r = shmq_next_view(s, &v, 10 * MS);
            if (r == -ETIMEDOUT) {
                if (atomic_load(th->pubs_done) == 2 && th->got + th->lost + th->stale == total)
                    break;
                continue;
            }
            THR_CHECK(th, r == 0);
            bool ok = th->overwrite ? view_ok(v.data, v.len, &h) : tmsg_ok(v.data, v.len, &h);
            if (shmq_view_check(s, &v) != 0) {
                THR_CHECK(th, th->overwrite); /* BLOCK: the view holds its slot */
                th->stale++;
                th->lost += v.lost;
                next_seq = v.seq + 1;
                continue;
            }
            THR_CHECK(th, ok);
            seq = v.seq;
            lost = v.lost;
        } else {
            struct shmq_delivery d;
            ssize_t r = shmq_next(s, buf, sizeof buf, &d, 10 * MS);
            if (r == -ETIMEDOUT) {
                bool done = atomic_load(th->pubs_done) == 2 &&
                            (th->role == 2 ? atomic_load(th->group_taken) == total
                                           : th->got + th->lost == total);
                if (done)
                    break;
                continue;
            }
            THR_CHECK(th, r > 0);
            THR_CHECK(th, tmsg_ok(buf, (size_t)r, &h));
            char subj[32];
            subject_of(subj, sizeof subj, h.pub, h.seq);
            THR_CHECK(th, strcmp(subj, d.subject) == 0);
            seq = d.seq;
            lost = d.lost;
            if (th->role == 2)
                atomic_fetch_add(th->group_taken, 1);
        }
        THR_CHECK(th, h.pub < 2);
        THR_CHECK(th, last[h.pub] == UINT64_MAX || h.seq > last[h.pub]);
        if (th->role != 2) /* a private group: every sequence, or counted lost */
            THR_CHECK(th, seq == next_seq + lost);
        THR_CHECK(th, th->overwrite || lost == 0);
        last[h.pub] = h.seq;
        next_seq = seq + 1;
        th->got++;
        th->lost += lost;
    }
out:
    if (t)
        shmq_topic_close(t);
    return NULL;
}

static void threads_share_one_mapping(void **state)
{
    (void)state;
    const char *name = topic_name();
    uint64_t n = (uint64_t)(20000 * test_scale());
    for (int ow = 0; ow < 2; ow++) {
        shmq_topic_t *t =
            topic_make(name, &(struct shmq_topic_config){.capacity = ow ? 8 : 16,
                                                         .policy = ow ? SHMQ_TOPIC_OVERWRITE
                                                                      : SHMQ_TOPIC_BLOCK});
        _Atomic int ready = 0, pubs_done = 0;
        _Atomic uint64_t group_taken = 0;
        /* BLOCK: "#", two members of "g", "#" by views; OVERWRITE: no group (its members
         * would lose messages with nobody to tell the totals). */
        int roles[6] = {0, 0, 1, 2, 2, 3};
        if (ow)
            roles[3] = roles[4] = 1;
        struct thr th[6];
        for (int i = 0; i < 6; i++) {
            th[i] = (struct thr){.root = t,
                                 .role = roles[i],
                                 .id = (uint32_t)i,
                                 .n = n,
                                 .overwrite = ow,
                                 .ready = &ready,
                                 .pubs_done = &pubs_done,
                                 .group_taken = &group_taken};
            assert_int_equal(pthread_create(&th[i].tid, NULL, thr_main, &th[i]), 0);
        }
        for (int i = 0; i < 6; i++)
            pthread_join(th[i].tid, NULL);
        for (int i = 0; i < 6; i++)
            if (th[i].bad_line)
                fail_msg("thread %d (role %d): check at line %d failed", i, th[i].role,
                         th[i].bad_line);
        for (int i = 2; i < 6; i++) {
            if (roles[i] == 2)
                continue;
            assert_int_equal(th[i].got + th[i].lost + th[i].stale, 2 * n);
            if (!ow)
                assert_int_equal(th[i].got, 2 * n);
        }
        if (!ow) {
            assert_int_equal(th[3].got + th[4].got, count_matches("*.a", 2, n));
            assert_int_equal(atomic_load(&group_taken), count_matches("*.a", 2, n));
        }
        TCHECK(t);
        shmq_topic_close(t);
        ASSERT_OK(shmq_topic_unlink(name));
    }
}

int main(void)
{
    /* TOPIC_TEST=name runs one test (cmocka's filter). */
    if (getenv("TOPIC_TEST"))
        cmocka_set_test_filter(getenv("TOPIC_TEST"));
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(create_args_are_checked),
        cmocka_unit_test(queue_and_topic_tell_each_other_apart),
        cmocka_unit_test(corrupt_header_is_ebadmsg),
        cmocka_unit_test(corrupt_slots_and_cursors),
        cmocka_unit_test(handles_share_one_mapping),
        cmocka_unit_test(subjects_patterns_and_groups_are_checked),
        cmocka_unit_test(publish_and_next_basics),
        cmocka_unit_test(views_are_checked),
        cmocka_unit_test(durable_and_ephemeral_groups),
        cmocka_unit_test(a_signal_ends_a_wait),
        cmocka_unit_test(overwrite_stalled_subscriber_loses_exactly),
        cmocka_unit_test(fanout_each_subscriber_gets_every_match_once),
        cmocka_unit_test(groups_split_the_stream),
        cmocka_unit_test(overwrite_loss_is_exact_under_load),
        cmocka_unit_test(overwrite_torn_reads_are_impossible),
        cmocka_unit_test(block_slow_subscriber_loses_nothing),
        cmocka_unit_test(block_killed_subscriber_does_not_stall),
        cmocka_unit_test(racing_creators_make_one_group),
        cmocka_unit_test(dead_publishers_leave_no_stall),
        cmocka_unit_test(threads_share_one_mapping),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
