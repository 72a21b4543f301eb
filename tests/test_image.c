/*
 * The segment check over a byte image (src/image.c): the bytes of real queues and topics of
 * every shape pass; each class of corruption is refused with -EBADMSG (or the validation's
 * own code) and a reason that names it; arguments the check cannot use are -EINVAL. The
 * image check and shmq_check share one implementation: the same corruption of a live segment
 * gets the same answer from both.
 *
 * Internal: the test aims its corruptions through the process-local view that
 * shmq__image_derive builds over a copy of the segment's bytes.
 */
#include <fcntl.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "test_util.h"

#include "image.h"
#include "scq.h"
#include "slot.h"
#include "stack.h"
#include "topic.h"

#define CAPACITY 8u
#define WHY 256

/* A copy of a segment's bytes, aligned as a mapping would be. */
struct image {
    unsigned char *bytes;
    size_t size;
};

static struct image image_load(const char *name)
{
    char path[256];
    snprintf(path, sizeof path, "/dev/shm/shmq.%s", name);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    struct stat st;
    assert_int_equal(fstat(fd, &st), 0);
    struct image im = {.size = (size_t)st.st_size};
    im.bytes = aligned_alloc(SHMQ__PAGE, im.size + SHMQ__PAGE); /* room for a page more */
    assert_non_null(im.bytes);
    memset(im.bytes, 0, im.size + SHMQ__PAGE);
    for (size_t done = 0; done < im.size;) {
        ssize_t n = pread(fd, im.bytes + done, im.size - done, (off_t)done);
        assert_true(n > 0);
        done += (size_t)n;
    }
    close(fd);
    return im;
}

static struct image image_copy(const struct image *from)
{
    struct image im = {.size = from->size};
    im.bytes = aligned_alloc(SHMQ__PAGE, im.size + SHMQ__PAGE);
    assert_non_null(im.bytes);
    memcpy(im.bytes, from->bytes, im.size + SHMQ__PAGE);
    return im;
}

/* The view a corruption is aimed through. */
static struct shmq__image view(const struct image *im)
{
    struct shmq__image v;
    char why[WHY];
    int err = shmq__image_derive(im->bytes, im->size, &v, why, sizeof why);
    if (err)
        fail_msg("derive: %d (%s): %s", err, shmq_strerror(err), why);
    return v;
}

#define ASSERT_PASSES(im) assert_passes(&(im), __FILE__, __LINE__)
static void assert_passes(const struct image *im, const char *file, int line)
{
    char why[WHY];
    memset(why, 'x', sizeof why);
    int err = shmq__image_check(im->bytes, im->size, why, sizeof why);
    if (err != 0 || why[0] != 0)
        fail_msg("%s:%d: a sound image refused: %d (%s): %s", file, line, err, shmq_strerror(err),
                 why);
}

/* The segment called name, as its bytes are now, passes. */
#define ASSERT_SEGMENT_PASSES(name)                                                                \
    do {                                                                                           \
        struct image now_ = image_load(name);                                                      \
        assert_passes(&now_, __FILE__, __LINE__);                                                  \
        image_free(&now_);                                                                         \
    } while (0)

/* The check refuses the image with `err` and a reason containing `words`. */
#define ASSERT_REFUSED(im, err, words) assert_refused(&(im), err, words, __FILE__, __LINE__)
static void assert_refused(const struct image *im, int want, const char *words, const char *file,
                           int line)
{
    char why[WHY];
    int err = shmq__image_check(im->bytes, im->size, why, sizeof why);
    if (err != want || !strstr(why, words))
        fail_msg("%s:%d: expected %d (%s) with \"%s\", got %d (%s) with \"%s\"", file, line, want,
                 shmq_strerror(want), words, err, shmq_strerror(err), why);
    /* Without room for the reason, the same answer. */
    assert_int_equal(shmq__image_check(im->bytes, im->size, NULL, 0), want);
    char small[5];
    assert_int_equal(shmq__image_check(im->bytes, im->size, small, sizeof small), want);
    assert_true(memchr(small, 0, sizeof small) != NULL);
}

static void image_free(struct image *im)
{
    free(im->bytes);
    im->bytes = NULL;
}

/* Corrupt a copy c of the image `im` with stmt, which aims through v, the view of c; then
 * require the check to refuse c with err and a reason containing words. */
#define CORRUPT(stmt, err, words)                                                                  \
    do {                                                                                           \
        struct image c = image_copy(&im);                                                          \
        struct shmq__image v = view(&c);                                                           \
        (void)v; /* stmt may change c.size alone */                                                \
        stmt;                                                                                      \
        ASSERT_REFUSED(c, err, words);                                                             \
        image_free(&c);                                                                            \
    } while (0)

static struct shmq__topic_slot *tslot(const struct shmq_topic *t, uint32_t i)
{
    return (struct shmq__topic_slot *)(t->slots + (size_t)i * t->geo.slot_stride);
}

/* Entry number of the SCQ entry holding index i (fails when none does). */
static uint64_t scq_entry_of(struct shmq__scq *r, uint32_t order, uint32_t i)
{
    for (uint64_t j = 0; j < (UINT64_C(2) << order); j++)
        if ((uint32_t)atomic_load_explicit(&r->entries[j], memory_order_relaxed) == i)
            return j;
    fail_msg("index %u is in no entry", i);
    return 0;
}

static void set_state(const struct shmq__mapping *m, uint32_t i, uint32_t owner, uint32_t kind)
{
    _Atomic uint64_t *s = &shmq__slot_at(m, i)->state;
    atomic_store_explicit(s, shmq__state_next(atomic_load(s), owner, kind), memory_order_relaxed);
}

/* A queue of `cfg` with some messages in it; its handle is left open in *q. */
static struct image queue_image(const char *tag, const struct shmq_config *cfg, shmq_t **q,
                                const char **name)
{
    *name = test_name(tag);
    ASSERT_OK(shmq_create(*name, cfg, q));
    for (int i = 0; i < 3; i++)
        ASSERT_OK(shmq_push(*q, "message", 7, 0));
    return image_load(*name);
}

static void queue_done(shmq_t *q, const char *name, struct image *im)
{
    image_free(im);
    ASSERT_OK(shmq_close(q));
    ASSERT_OK(shmq_unlink(name));
}

/* ---- arguments and headers ---- */

static void arguments_the_check_cannot_use(void **state)
{
    (void)state;
    shmq_t *q;
    const char *name;
    struct shmq_config cfg = {.kind = SHMQ_FIFO, .capacity = CAPACITY, .slot_size = 64};
    struct image im = queue_image("args", &cfg, &q, &name);
    char why[WHY];
    struct shmq__image v;

    assert_int_equal(shmq__image_derive(im.bytes, im.size, NULL, why, sizeof why), -EINVAL);
    assert_int_equal(shmq__image_check(NULL, im.size, why, sizeof why), -EINVAL);
    assert_non_null(strstr(why, "aligned"));
    /* The same bytes one word off a cache line: refused before anything is read. */
    unsigned char *off = malloc(im.size + 64);
    assert_non_null(off);
    unsigned char *at = off + (64 - (uintptr_t)off % 64) % 64 + 8;
    memmove(at, im.bytes, im.size - 64);
    assert_int_equal(shmq__image_check(at, im.size - 64, why, sizeof why), -EINVAL);
    assert_non_null(strstr(why, "aligned"));
    free(off);
    assert_int_equal(shmq__image_derive(im.bytes, 0, &v, why, sizeof why), -EAGAIN);
    assert_int_equal(shmq__image_check(im.bytes, 100, why, sizeof why), -EBADMSG);
    assert_non_null(strstr(why, "less than a header page"));
    assert_int_equal(shmq__image_check(im.bytes, SHMQ__PAGE - 1, NULL, 0), -EBADMSG);

    queue_done(q, name, &im);
}

static void header_corruptions_are_refused(void **state)
{
    (void)state;
    shmq_t *q;
    const char *name;
    struct shmq_config cfg = {
        .kind = SHMQ_FIFO, .capacity = CAPACITY, .slot_size = 64, .dead_letter = "test-dl"};
    struct image im = queue_image("header", &cfg, &q, &name);

    CORRUPT(atomic_store(&v.queue.hdr->magic, 0), -EAGAIN, "no magic");
    CORRUPT(atomic_store(&v.queue.hdr->magic, SHMQ__MAGIC + 1), -EBADMSG,
            "not a valid queue segment");
    CORRUPT(v.queue.hdr->abi_version = SHMQ__ABI_VERSION + 1, -EPROTO, "ABI version");
    CORRUPT(v.queue.hdr->kind = 7, -EBADMSG, "not a valid queue segment");
    CORRUPT(v.queue.hdr->header_size = 8, -EBADMSG, "not a valid queue segment");
    CORRUPT(v.queue.hdr->capacity = CAPACITY * 2, -EBADMSG, "not a valid queue segment");
    CORRUPT(v.queue.hdr->capacity = 0, -EBADMSG, "not a valid queue segment");
    CORRUPT(v.queue.hdr->slot_size = 200, -EBADMSG, "not a valid queue segment");
    CORRUPT(v.queue.hdr->slot_stride += 64, -EBADMSG, "not a valid queue segment");
    CORRUPT(v.queue.hdr->ring_order++, -EBADMSG, "not a valid queue segment");
    CORRUPT(v.queue.hdr->off_slots += SHMQ__PAGE, -EBADMSG, "not a valid queue segment");
    CORRUPT(v.queue.hdr->off_free += 64, -EBADMSG, "not a valid queue segment");
    CORRUPT(v.queue.hdr->segment_size += SHMQ__PAGE, -EBADMSG, "not a valid queue segment");
    CORRUPT(v.queue.hdr->max_participants = SHMQ_PARTICIPANTS_MAX + 1, -EBADMSG,
            "not a valid queue");
    CORRUPT(memset(v.queue.hdr->dead_letter, 'a', sizeof v.queue.hdr->dead_letter), -EBADMSG,
            "not a valid queue");
    CORRUPT(strcpy(v.queue.hdr->dead_letter, "bad name"), -EBADMSG, "not a valid queue segment");
    CORRUPT(memset(v.queue.hdr->name, 'n', sizeof v.queue.hdr->name), -EBADMSG,
            "not a valid queue segment");
    CORRUPT(v.queue.hdr->numa_node = -2, -EBADMSG, "not a valid queue segment");
    /* The image's size is the header's: a page short or a page long is refused. */
    CORRUPT(c.size -= SHMQ__PAGE, -EBADMSG, "not a valid queue segment");
    CORRUPT(c.size += SHMQ__PAGE, -EBADMSG, "not a valid queue segment");
    ASSERT_PASSES(im); /* the original, untouched */

    queue_done(q, name, &im);
}

/* ---- queues: FIFO rings, LIFO stacks, SPSC, slots ---- */

static void fifo_corruptions_are_refused(void **state)
{
    (void)state;
    shmq_t *q;
    const char *name;
    struct shmq_config cfg = {.kind = SHMQ_FIFO, .capacity = CAPACITY, .slot_size = 40};
    struct image im = queue_image("fifo", &cfg, &q, &name);
    /* One claim held: its slot is in no ring, READING, owned by our (live) entry. */
    struct shmq_msg held;
    ASSERT_OK(shmq_claim(q, &held, 0));
    image_free(&im);
    im = image_load(name);
    ASSERT_PASSES(im);
    const uint32_t held_index = (uint32_t)held.id;
    const struct shmq__mapping m0 = view(&im).queue;
    assert_non_null(m0.free_ring);
    assert_non_null(m0.ready_ring);
    assert_non_null(m0.returned_ring);
    const uint32_t order = m0.geo.ring_order;
    /* A ready index (the next message) and its entry. */
    uint32_t ready = SHMQ__NONE;
    for (uint32_t i = 0; i < CAPACITY && ready == SHMQ__NONE; i++)
        if (shmq__state_kind(atomic_load(&shmq__slot_at(&m0, i)->state)) == SHMQ__SLOT_READY)
            ready = i;
    assert_true(ready != SHMQ__NONE);

    /* An index out of range, in each ring. */
    CORRUPT(atomic_store(
                &v.queue.ready_ring->entries[scq_entry_of(v.queue.ready_ring, order, ready)],
                (atomic_load(
                     &v.queue.ready_ring->entries[scq_entry_of(v.queue.ready_ring, order, ready)]) &
                 ~UINT64_C(0xffffffff)) |
                    CAPACITY),
            -EBADMSG, "the ready structure breaks its invariants");
    CORRUPT(atomic_store(&v.queue.delayed_ring->entries[0], CAPACITY + 1), -EBADMSG,
            "the delayed ring breaks its invariants");
    CORRUPT(atomic_store(&v.queue.returned_ring->entries[3], UINT32_MAX - 1), -EBADMSG,
            "the returned ring breaks its invariants");
    /* The same index twice in one ring. */
    CORRUPT(
        {
            uint64_t j = scq_entry_of(v.queue.ready_ring, order, ready);
            uint64_t other = (j + 1) % (UINT64_C(2) << order);
            atomic_store(&v.queue.ready_ring->entries[other],
                         atomic_load(&v.queue.ready_ring->entries[j]));
        },
        -EBADMSG, "the ready structure breaks its invariants");
    /* tail more than 2n positions past head. */
    CORRUPT(atomic_store(&v.queue.free_ring->tail,
                         atomic_load(&v.queue.free_ring->head) + (UINT64_C(2) << order) + 1),
            -EBADMSG, "the free structure breaks its invariants");
    /* A ready index also in the free ring. */
    CORRUPT(
        {
            uint32_t j = 0;
            while ((uint32_t)atomic_load(&v.queue.free_ring->entries[j]) != SHMQ__SCQ_BOTTOM)
                j++;
            atomic_store(&v.queue.free_ring->entries[j], ready);
        },
        -EBADMSG, "is in two index structures");
    /* A ready index whose slot says FREE, or READY with an owner. */
    CORRUPT(set_state(&v.queue, ready, 0, SHMQ__SLOT_FREE), -EBADMSG, "in the ready structure");
    CORRUPT(set_state(&v.queue, ready, 1, SHMQ__SLOT_READY), -EBADMSG, "in the ready structure");
    /* An index lost from every ring, its slot READY: nobody holds it. */
    CORRUPT(
        atomic_store(&v.queue.ready_ring->entries[scq_entry_of(v.queue.ready_ring, order, ready)],
                     UINT64_C(0xffffffff)),
        -EBADMSG, "in no structure with state 2");
    /* The held claim: owned by nobody, by an entry past the table, by a free entry. */
    CORRUPT(set_state(&v.queue, held_index, 0, SHMQ__SLOT_READING), -EBADMSG, "in no structure");
    CORRUPT(set_state(&v.queue, held_index, v.queue.geo.max_participants + 1, SHMQ__SLOT_READING),
            -EBADMSG, "in no structure");
    CORRUPT(
        {
            uint32_t owner =
                shmq__state_owner(atomic_load(&shmq__slot_at(&v.queue, held_index)->state));
            atomic_store(&v.queue.parts[owner - 1].word, 0);
        },
        -EBADMSG, "in no structure");
    /* ...while a slot WRITING for a live entry is held, not lost. */
    struct image c = image_copy(&im);
    const struct shmq__mapping m = view(&c).queue;
    set_state(&m, held_index, shmq__state_owner(atomic_load(&shmq__slot_at(&m, held_index)->state)),
              SHMQ__SLOT_WRITING);
    ASSERT_PASSES(c);
    image_free(&c);

    ASSERT_OK(shmq_ack(q, &held));
    queue_done(q, name, &im);
}

static void lifo_corruptions_are_refused(void **state)
{
    (void)state;
    shmq_t *q;
    const char *name;
    struct shmq_config cfg = {.kind = SHMQ_LIFO, .capacity = CAPACITY, .slot_size = 24};
    struct image im = queue_image("lifo", &cfg, &q, &name);
    ASSERT_PASSES(im);
    const uint64_t tag = UINT64_C(7) << 32;
    /* A head past the capacity; a link past it; a loop; an index on both stacks. */
    CORRUPT(atomic_store(&v.queue.ready_stack->head, tag | CAPACITY), -EBADMSG,
            "the ready structure breaks");
    CORRUPT(
        {
            uint32_t top = (uint32_t)atomic_load(&v.queue.free_stack->head);
            atomic_store(&shmq__slot_at(&v.queue, top)->next, CAPACITY + 3);
        },
        -EBADMSG, "the free structure breaks");
    CORRUPT(
        {
            uint32_t top = (uint32_t)atomic_load(&v.queue.ready_stack->head);
            uint32_t next = atomic_load(&shmq__slot_at(&v.queue, top)->next);
            atomic_store(&shmq__slot_at(&v.queue, next)->next, top);
        },
        -EBADMSG, "the ready structure breaks");
    CORRUPT(atomic_store(&v.queue.ready_stack->head,
                         tag | (uint32_t)atomic_load(&v.queue.free_stack->head)),
            -EBADMSG, "in two index structures");
    /* An empty free stack: its indices are lost (FREE, in no structure). */
    CORRUPT(atomic_store(&v.queue.free_stack->head, tag | SHMQ__STACK_NIL), -EBADMSG,
            "in no structure");
    queue_done(q, name, &im);
}

static void spsc_corruptions_are_refused(void **state)
{
    (void)state;
    shmq_t *q;
    const char *name;
    struct shmq_config cfg = {.kind = SHMQ_FIFO,
                              .capacity = CAPACITY,
                              .slot_size = 32,
                              .flags = SHMQ_SINGLE_PRODUCER | SHMQ_SINGLE_CONSUMER};
    struct image im = queue_image("spsc", &cfg, &q, &name);
    ASSERT_PASSES(im);
    struct image c = image_copy(&im);
    struct shmq__mapping m = view(&c).queue;
    assert_non_null(m.spsc);
    assert_null(m.free_ring);
    atomic_store(&m.spsc->head, atomic_load(&m.spsc->tail) + CAPACITY); /* full: fine */
    ASSERT_PASSES(c);
    atomic_store(&m.spsc->head, atomic_load(&m.spsc->tail) + CAPACITY + 1);
    ASSERT_REFUSED(c, -EBADMSG, "spsc: head - tail = 9 exceeds the capacity 8");
    atomic_store(&m.spsc->head, atomic_load(&m.spsc->tail) - 1); /* head behind tail */
    ASSERT_REFUSED(c, -EBADMSG, "spsc: head - tail");
    image_free(&c);
    queue_done(q, name, &im);
}

/* ---- topics ---- */

static void topic_corruptions_are_refused(void **state)
{
    (void)state;
    const char *name = test_name("topic");
    struct shmq_topic_config cfg = {.capacity = CAPACITY, .slot_size = 128};
    shmq_topic_t *t;
    shmq_sub_t *sub, *durable;
    ASSERT_OK(shmq_topic_create(name, &cfg, &t));
    ASSERT_OK(shmq_subscribe(t, "orders.*", "workers", 0, &sub));
    ASSERT_OK(shmq_subscribe(t, "#", "audit", SHMQ_SUB_DURABLE, &durable));
    struct shmq_msg meta = {.data = "m", .len = 1, .type = "t", .correlation_id = "c"};
    ASSERT_OK(shmq_publish(t, "orders.eu", "one", 3, 0));
    ASSERT_OK(shmq_publish_msg(t, "orders.us", &meta, 0));
    struct image im = image_load(name);
    ASSERT_PASSES(im);
    const struct shmq__image whole = view(&im);
    assert_int_equal(whole.kind, SHMQ__KIND_TOPIC);
    assert_int_equal(whole.topic.geo.capacity, CAPACITY);

    /* T1: the header (validation refuses it, so the reason is the header's). */
    CORRUPT(v.topic.hdr->capacity = CAPACITY * 2, -EBADMSG, "not a valid topic segment");
    CORRUPT(v.topic.hdr->off_slots += SHMQ__PAGE, -EBADMSG, "not a valid topic segment");
    CORRUPT(v.topic.hdr->abi_version = 1, -EPROTO, "ABI version 1");
    CORRUPT(c.size -= SHMQ__PAGE, -EBADMSG, "not a valid topic segment");
    /* T2: a sequence not yet handed out; a sequence in the wrong slot; a bad state; WRITING. */
    CORRUPT(
        atomic_store(&tslot(&v.topic, 0)->word, shmq__tslot_word(CAPACITY * 4, SHMQ__TSLOT_PUB)),
        -EBADMSG, "T2: slot 0 holds sequence 32, tail is 2");
    CORRUPT(atomic_store(&tslot(&v.topic, 0)->word, shmq__tslot_word(1, SHMQ__TSLOT_PUB)), -EBADMSG,
            "T2: slot 0 holds sequence 1");
    CORRUPT(atomic_store(&tslot(&v.topic, 0)->word, shmq__tslot_word(0, 3)), -EBADMSG,
            "T2: slot 0 in state 3");
    CORRUPT(atomic_store(&tslot(&v.topic, 0)->word, shmq__tslot_word(0, SHMQ__TSLOT_WRITING)),
            -EBADMSG, "T2: slot 0 still WRITING");
    /* T3: lengths that do not fit; a subject that is not one; metadata that does not parse. */
    CORRUPT(atomic_store(&tslot(&v.topic, 0)->subject_len, SHMQ_SUBJECT_MAX + 1), -EBADMSG,
            "T3: slot 0");
    CORRUPT(atomic_store(&tslot(&v.topic, 0)->len, cfg.slot_size), -EBADMSG, "T3: slot 0");
    CORRUPT(atomic_store(&tslot(&v.topic, 0)->flags, 0x80), -EBADMSG, "T3: slot 0");
    CORRUPT(atomic_store(&tslot(&v.topic, 0)->data[0], 0x2020202020202020), -EBADMSG,
            "T3: slot 0: invalid subject");
    /* (slot 1: "orders.us" in 16 bytes, the payload in 8, then the metadata record, whose
     * string lengths are its second word) */
    CORRUPT(atomic_store(&tslot(&v.topic, 1)->data[4], UINT64_MAX), -EBADMSG,
            "T3: slot 1: metadata does not parse");
    /* T4: a cursor past the tail; a group flag that does not exist; an invalid pattern. */
    CORRUPT(atomic_store(&v.topic.groups[0].cursor, 99), -EBADMSG, "cursor 99 beyond tail 2");
    CORRUPT(atomic_store(&v.topic.groups[0].flags, 0x40), -EBADMSG, "T4: group 0 flags");
    CORRUPT(atomic_store(&v.topic.groups[0].pattern[0], 0x202020), -EBADMSG,
            "T4: group 0 has an invalid pattern");
    CORRUPT(atomic_store(&v.topic.groups[0].name_len, 1000), -EBADMSG, "T4: group 0 identity");
    /* T6: a member naming a group past the table (the durable group's member: the ephemeral
     * group without its member would be refused first, by T4). */
    CORRUPT(
        {
            uint32_t i = 0;
            uint64_t w;
            for (;; i++) {
                assert_true(i < v.topic.geo.max_members);
                w = atomic_load(&v.topic.members[i].word);
                uint32_t g1 = shmq__member_group1(w);
                if (shmq__member_state(w) == SHMQ__MEMBER_LIVE && g1 >= 1 &&
                    (atomic_load(&v.topic.groups[g1 - 1].flags) & SHMQ_SUB_DURABLE))
                    break;
            }
            atomic_store(&v.topic.members[i].word,
                         shmq__member_word(shmq__member_pid(w), v.topic.geo.max_groups + 1,
                                           shmq__member_state(w)));
        },
        -EBADMSG, "names group");
    /* T7: a participant inside a publish. */
    CORRUPT(atomic_store(&v.topic.parts[0].pub_seq, 3), -EBADMSG, "T7: participant 0");

    image_free(&im);
    ASSERT_OK(shmq_unsubscribe(sub));
    ASSERT_OK(shmq_unsubscribe(durable));
    ASSERT_OK(shmq_topic_close(t));
    ASSERT_OK(shmq_topic_unlink(name));
}

/* ---- sound images, and one implementation ---- */

static void sound_segments_of_every_shape_pass(void **state)
{
    (void)state;
    const struct shmq_config shapes[] = {
        {.kind = SHMQ_FIFO, .capacity = 1, .slot_size = 8},
        {.kind = SHMQ_FIFO, .capacity = 5, .slot_size = 1000, .ttl_ns = 1000 * MS},
        {.kind = SHMQ_FIFO, .capacity = 64, .slot_size = 40, .max_deliveries = 3},
        {.kind = SHMQ_FIFO, .capacity = 3, .slot_size = 17, .flags = SHMQ_SINGLE_PRODUCER},
        {.kind = SHMQ_FIFO,
         .capacity = 6,
         .slot_size = 33,
         .flags = SHMQ_SINGLE_PRODUCER | SHMQ_SINGLE_CONSUMER},
        {.kind = SHMQ_LIFO, .capacity = 1, .slot_size = 8},
        {.kind = SHMQ_LIFO, .capacity = 9, .slot_size = 100},
    };
    for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++) {
        const char *name = test_name("shape");
        shmq_t *q;
        ASSERT_OK(shmq_create(name, &shapes[k], &q));
        ASSERT_SEGMENT_PASSES(name);
        /* Full, then one claimed, one reserved: held slots pass too. */
        int pushed = 0;
        while (shmq_push(q, "abc", 3, 0) == 0)
            pushed++;
        assert_int_equal(pushed, shapes[k].capacity);
        ASSERT_SEGMENT_PASSES(name);
        struct shmq_msg claim, reserve;
        ASSERT_OK(shmq_claim(q, &claim, 0));
        ASSERT_SEGMENT_PASSES(name);
        ASSERT_OK(shmq_ack(q, &claim));
        ASSERT_OK(shmq_reserve(q, 3, &reserve, 0));
        ASSERT_SEGMENT_PASSES(name);
        ASSERT_OK(shmq_discard(q, &reserve));
        char why[WHY];
        assert_int_equal(shmq_check(q, why, sizeof why), 0);
        ASSERT_OK(shmq_close(q));
        ASSERT_OK(shmq_unlink(name));
    }
}

static void sound_topics_pass(void **state)
{
    (void)state;
    const struct shmq_topic_config shapes[] = {
        {.policy = SHMQ_TOPIC_BLOCK, .capacity = 2, .slot_size = 16},
        {.policy = SHMQ_TOPIC_BLOCK, .capacity = 16, .slot_size = 200, .max_groups = 3},
        {.policy = SHMQ_TOPIC_OVERWRITE, .capacity = 4, .slot_size = 64},
    };
    for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++) {
        const char *name = test_name("tshape");
        shmq_topic_t *t;
        ASSERT_OK(shmq_topic_create(name, &shapes[k], &t));
        ASSERT_SEGMENT_PASSES(name); /* empty */
        shmq_sub_t *priv, *shared;
        ASSERT_OK(shmq_subscribe(t, NULL, NULL, 0, &priv));
        ASSERT_OK(shmq_subscribe(t, "a.*", "g", SHMQ_SUB_DURABLE, &shared));
        /* Lapped (OVERWRITE) or full (BLOCK): publish until the ring says no, at most 3 laps. */
        uint32_t published = 0;
        while (published < 3 * shapes[k].capacity &&
               shmq_publish(t, published % 2 ? "a.b" : "c", "x", 1, 0) == 0)
            published++;
        assert_true(published >= shapes[k].capacity);
        ASSERT_SEGMENT_PASSES(name);
        /* A member holding a zero-copy view. */
        struct shmq_view view;
        ASSERT_OK(shmq_next_view(priv, &view, 0));
        ASSERT_SEGMENT_PASSES(name);
        ASSERT_OK(shmq_unsubscribe(priv));
        ASSERT_OK(shmq_unsubscribe(shared));
        ASSERT_OK(shmq_topic_close(t));
        ASSERT_OK(shmq_topic_unlink(name));
    }
}

/* The same scribble on a live segment and on its image: the same answer, the same words. */
static void shmq_check_and_the_image_check_agree(void **state)
{
    (void)state;
    shmq_t *q;
    const char *name;
    struct shmq_config cfg = {.kind = SHMQ_FIFO, .capacity = CAPACITY, .slot_size = 40};
    struct image im = queue_image("agree", &cfg, &q, &name);
    image_free(&im);
    char path[256];
    snprintf(path, sizeof path, "/dev/shm/shmq.%s", name);
    int fd = open(path, O_RDWR | O_CLOEXEC);
    assert_true(fd >= 0);
    struct stat st;
    assert_int_equal(fstat(fd, &st), 0);
    void *live = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    assert_true(live != MAP_FAILED);
    close(fd);
    struct shmq__image v;
    assert_int_equal(shmq__image_derive(live, (size_t)st.st_size, &v, NULL, 0), 0);
    /* The ready slots say FREE: in the ready ring in the wrong state. */
    for (uint32_t i = 0; i < CAPACITY; i++)
        if (shmq__state_kind(atomic_load(&shmq__slot_at(&v.queue, i)->state)) == SHMQ__SLOT_READY)
            set_state(&v.queue, i, 0, SHMQ__SLOT_FREE);
    char why_live[WHY], why_image[WHY];
    int a = shmq_check(q, why_live, sizeof why_live);
    im = image_load(name);
    int b = shmq__image_check(im.bytes, im.size, why_image, sizeof why_image);
    assert_int_equal(a, -EBADMSG);
    assert_int_equal(b, -EBADMSG);
    assert_string_equal(why_live, why_image);
    assert_non_null(strstr(why_image, "in the ready structure with state 0"));
    image_free(&im);
    munmap(live, (size_t)st.st_size);
    ASSERT_OK(shmq_close(q));
    ASSERT_OK(shmq_unlink(name));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(arguments_the_check_cannot_use),
        cmocka_unit_test(header_corruptions_are_refused),
        cmocka_unit_test(fifo_corruptions_are_refused),
        cmocka_unit_test(lifo_corruptions_are_refused),
        cmocka_unit_test(spsc_corruptions_are_refused),
        cmocka_unit_test(topic_corruptions_are_refused),
        cmocka_unit_test(sound_segments_of_every_shape_pass),
        cmocka_unit_test(sound_topics_pass),
        cmocka_unit_test(shmq_check_and_the_image_check_agree),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
