/*
 * fuzz_segment_live: a segment whose bytes come from the fuzzer, in a real shm object
 * (/dev/shm/shmq.fuzz-<pid>), opened and used through the public API the way a consumer, an
 * operator (`shmq stat --check`, `shmq peek`) and the reaper would: open, stat, the participant
 * list, peek, the invariant check, a bounded drain (claim/ack/nack, pop, batches), a few
 * pushes, repair, purge, close; then an observer's open. A topic segment (same magic, kind
 * TOPIC) goes the topic way: open, stat, groups, check, subscribe (a private group and one of
 * the segment's own), publish, a bounded run of next and next_view, repair, unsubscribe,
 * close; and an observer. Any crash, hang (-timeout) or leak is a finding, and so is an
 * observer's shmq_check (or shmq_topic_check) of the object saying other than what
 * shmq__image_check said of the bytes written into it.
 *
 * This is the slow half of the segment fuzzing (a shm object per input: some hundreds of
 * inputs a second); fuzz_segment checks the same inputs as byte images, without a shm
 * object, at many times the rate. The input is read as segment_input.h says (the seeds are
 * fuzz_segment's).
 *
 * Two things are changed before the bytes are written, so that a run touches nothing but its
 * own objects: a valid dead-letter name in the header becomes "fuzz-<pid>-dl" (the
 * dead-letter queue the library creates on demand is then ours, and removed after each
 * input), and nothing else. An image whose magic is zero is validated in memory only: a
 * shm_open of it would wait OPEN_WAIT_NS for a creator that does not exist.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

#include "image.h"
#include "internal.h"
#include "segment_input.h"
#include "shmq.h"
#include "topic.h"

#define DRAIN_MAX 24 /* claims and pops per input */

static char queue_name[64], dead_letter_name[64], shm_path[80];

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    snprintf(queue_name, sizeof queue_name, "fuzz-%d", (int)getpid());
    snprintf(dead_letter_name, sizeof dead_letter_name, "fuzz-%d-dl", (int)getpid());
    snprintf(shm_path, sizeof shm_path, "/shmq.%s", queue_name);
    shmq_unlink(queue_name); /* a leftover of a crashed run with our pid */
    shmq_unlink(dead_letter_name);
    return 0;
}

static void inspect(shmq_t *q, struct shmq_stat *st)
{
    EXPECT(shmq_stat(q, st) == 0);
    EXPECT(st->capacity >= 1 && st->capacity <= SHMQ_CAPACITY_MAX);
    EXPECT(st->depth <= st->capacity);
    EXPECT(memchr(st->dead_letter, 0, sizeof st->dead_letter) != NULL);
    EXPECT(st->max_participants >= 1 && st->max_participants <= SHMQ_PARTICIPANTS_MAX);

    struct shmq_participant_info parts[8];
    int n = shmq_participant_list(q, parts, 8);
    EXPECT(n >= 0 && (unsigned)n <= st->max_participants);
    EXPECT(shmq_participant_list(q, NULL, 0) >= 0);

    struct segment_peek_seen seen = {.slot_size = st->slot_size};
    int r = shmq_peek(q, 16, segment_on_peek, &seen);
    EXPECT(r < 0 || (r == (int)seen.count && r <= 16));

    /* `shmq stat --check` on whatever the segment holds. */
    char why[160];
    r = shmq_check(q, why, sizeof why);
    EXPECT(r == 0 || r == -EBADMSG || r == -ENOMEM);
    EXPECT(memchr(why, 0, sizeof why) != NULL);
    EXPECT(r != -EBADMSG || why[0] != 0);
}

/* What a consumer and a producer do with the queue, bounded. Errors are expected (the
 * segment is garbage); what is checked is that results stay within the contract. */
static void work(shmq_t *q, uint32_t slot_size)
{
    unsigned char buf[512];
    for (unsigned i = 0; i < DRAIN_MAX; i++) {
        struct shmq_msg m;
        int err = shmq_claim(q, &m, 0);
        if (err == 0) {
            segment_touch_msg(&m, slot_size);
            switch (i % 4) {
            case 0:
                shmq_ack(q, &m);
                break;
            case 1:
                shmq_nack(q, &m);
                break;
            case 2:
                shmq_nack_delayed(q, &m, 0);
                break;
            default:
                shmq_ack(q, &m);
                EXPECT(shmq_ack(q, &m) != 0); /* never twice */
                break;
            }
        }
        /* A small buffer first: -EMSGSIZE keeps the message back for the next pop. */
        ssize_t got = shmq_pop(q, buf, i % 2 ? 4 : sizeof buf, 0);
        EXPECT(got < 0 || (size_t)got <= sizeof buf);
    }
    unsigned char b0[64], b1[64], b2[600];
    struct iovec iov[3] = {{b0, sizeof b0}, {b1, sizeof b1}, {b2, sizeof b2}};
    int got = shmq_pop_batch(q, iov, 3, 0);
    EXPECT(got <= 3);
    for (int i = 0; i < got; i++)
        EXPECT(iov[i].iov_len <= (i == 2 ? sizeof b2 : sizeof b0));

    shmq_push(q, "fuzz", 4, 0);
    struct shmq_msg out = {.data = "meta",
                           .len = 4,
                           .type = "t",
                           .correlation_id = "c",
                           .reply_to = queue_name,
                           .timestamp_ns = 1};
    shmq_push_msg(q, &out, 0);
    struct iovec in[2] = {{(void *)"a", 1}, {(void *)"bb", 2}};
    shmq_push_batch(q, in, 2, 0);
    struct shmq_msg r;
    if (shmq_reserve(q, 8, &r, 0) == 0) {
        memset(r.data, 0x5a, 8);
        r.len = 8;
        if (shmq_commit(q, &r) != 0)
            shmq_discard(q, &r);
    }
    if (shmq_reserve(q, 1, &r, 0) == 0)
        shmq_discard(q, &r);
    for (unsigned i = 0; i < 4; i++) {
        struct shmq_msg m;
        if (shmq_claim(q, &m, 0) == 0) {
            segment_touch_msg(&m, slot_size);
            shmq_ack(q, &m);
        }
    }
}

/* shmq__image_check's answer for the input's bytes. */
struct image_verdict {
    int err;
    char why[160];
};

/* The object, opened by an observer (which neither joins nor reaps: the bytes stay as they
 * were written), gets the same answer from shmq_check / shmq_topic_check as its bytes got
 * from shmq__image_check; an object that does not open has nothing to compare. */
static void same_verdict_live(const struct image_verdict *in_memory)
{
    char why[160];
    int err;
    shmq_t *q;
    shmq_topic_t *t;
    if (shmq_open_ex(queue_name, SHMQ_OPEN_OBSERVE, &q) == 0) {
        err = shmq_check(q, why, sizeof why);
        EXPECT(shmq_close(q) == 0);
    } else if (shmq_topic_open_ex(queue_name, SHMQ_OPEN_OBSERVE, &t) == 0) {
        err = shmq_topic_check(t, why, sizeof why);
        EXPECT(shmq_topic_close(t) == 0);
    } else {
        return;
    }
    if (err == -ENOMEM || in_memory->err == -ENOMEM)
        return;
    EXPECT(err == in_memory->err && strcmp(why, in_memory->why) == 0);
}

/* ---- topics ---- */

static void check_delivery(const struct shmq_delivery *d, ssize_t got, size_t cap)
{
    EXPECT(got < 0 || (size_t)got <= cap);
    EXPECT(got < 0 || (size_t)got == d->len);
    EXPECT(d->subject_len <= SHMQ_SUBJECT_MAX && d->subject[d->subject_len] == 0);
    EXPECT(memchr(d->type, 0, sizeof d->type) &&
           memchr(d->correlation_id, 0, sizeof d->correlation_id) &&
           memchr(d->reply_to, 0, sizeof d->reply_to));
}

static void read_view(const struct shmq_view *v, uint32_t slot_size)
{
    EXPECT(v->subject_len <= SHMQ_SUBJECT_MAX && v->len <= slot_size);
    unsigned sum = 0;
    for (size_t i = 0; i < v->subject_len; i++)
        sum += (unsigned char)v->subject[i];
    const unsigned char *p = v->data;
    for (size_t i = 0; i < v->len; i++)
        sum += p[i];
    const char *strs[] = {v->type, v->correlation_id, v->reply_to};
    for (size_t i = 0; i < 3; i++)
        if (strs[i])
            sum += (unsigned)strnlen(strs[i], SHMQ_META_STR_MAX + 1);
    (void)sum;
}

static void topic_inspect(shmq_topic_t *t, struct shmq_topic_stat *st)
{
    EXPECT(shmq_topic_stat(t, st) == 0);
    struct shmq_group_info groups[8];
    int n = shmq_topic_groups(t, groups, 8);
    EXPECT(n >= 0 || n == -ENOMEM);
    for (int i = 0; i < n && i < 8; i++)
        EXPECT(memchr(groups[i].name, 0, sizeof groups[i].name) &&
               memchr(groups[i].pattern, 0, sizeof groups[i].pattern));
    char why[160];
    int r = shmq_topic_check(t, why, sizeof why);
    EXPECT(r == 0 || r == -EBADMSG || r == -ENOMEM);
    EXPECT(memchr(why, 0, sizeof why) != NULL);
}

static void topic_work(shmq_topic_t *t, const struct shmq_topic_stat *st)
{
    shmq_sub_t *subs[3] = {NULL, NULL, NULL};
    shmq_subscribe(t, NULL, NULL, 0, &subs[0]);
    struct shmq_group_info groups[4];
    int n = shmq_topic_groups(t, groups, 4);
    if (n > 0 && !(groups[0].flags & SHMQ_GROUP_PRIVATE))
        shmq_subscribe(t, groups[0].pattern, groups[0].name, groups[0].flags & SHMQ_SUB_DURABLE,
                       &subs[1]);
    shmq_subscribe(t, "orders.#", "fuzz-durable", SHMQ_SUB_DURABLE, &subs[2]);

    shmq_publish(t, "orders.eu", "fuzz", 4, 0);
    struct shmq_msg m = {.data = "meta",
                         .len = 4,
                         .type = "t",
                         .correlation_id = "c",
                         .reply_to = "r",
                         .timestamp_ns = 1};
    shmq_publish_msg(t, "orders.us.created", &m, 0);

    unsigned char buf[256];
    for (unsigned k = 0; k < 3; k++) {
        if (!subs[k])
            continue;
        for (unsigned i = 0; i < DRAIN_MAX; i++) {
            struct shmq_delivery d;
            size_t cap = i % 3 == 1 ? 2 : sizeof buf;
            ssize_t got = shmq_next(subs[k], buf, cap, &d, 0);
            if (got == -EAGAIN)
                break;
            if (got >= 0 || got == -EMSGSIZE)
                check_delivery(&d, got, cap);
            struct shmq_view v;
            if (shmq_next_view(subs[k], &v, 0) == 0) {
                read_view(&v, st->slot_size);
                int c = shmq_view_check(subs[k], &v);
                EXPECT(c == 0 || c == -ESTALE);
            }
        }
        struct shmq_group_info info;
        shmq_sub_stat(subs[k], &info);
    }
    int r = shmq_topic_repair(t);
    EXPECT(r >= -4095);
    for (unsigned k = 0; k < 3; k++)
        if (subs[k])
            EXPECT(shmq_unsubscribe(subs[k]) == 0);
    shmq_topic_group_delete(t, "fuzz-durable");
}

static void topic_fuzz(const struct image_verdict *in_memory)
{
    shmq_topic_t *t = NULL;
    same_verdict_live(in_memory);
    if (shmq_topic_open(queue_name, &t) == 0) {
        struct shmq_topic_stat st;
        topic_inspect(t, &st);
        topic_work(t, &st);
        topic_inspect(t, &st);
        EXPECT(shmq_topic_close(t) == 0);
    }
    if (shmq_topic_open_ex(queue_name, SHMQ_OPEN_OBSERVE, &t) == 0) {
        struct shmq_topic_stat st;
        topic_inspect(t, &st);
        shmq_sub_t *sub;
        EXPECT(shmq_subscribe(t, NULL, NULL, 0, &sub) == -EPERM);
        EXPECT(shmq_publish(t, "x", "x", 1, 0) == -EPERM);
        EXPECT(shmq_topic_close(t) == 0);
    }
}

/* The object: created afresh (O_EXCL), sized, filled. */
static int write_object(const unsigned char *image, size_t len, size_t object_size)
{
    int fd = shm_open(shm_path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0 && errno == EEXIST) {
        shm_unlink(shm_path);
        fd = shm_open(shm_path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    }
    if (fd < 0)
        return -errno;
    int err = 0;
    if (ftruncate(fd, (off_t)object_size) != 0)
        err = -errno;
    for (size_t done = 0; !err && done < len;) {
        ssize_t n = pwrite(fd, image + done, len - done, (off_t)done);
        if (n <= 0)
            err = n < 0 ? -errno : -EIO;
        else
            done += (size_t)n;
    }
    close(fd);
    return err;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t object_size = segment_image_size(data, size);
    if (object_size == 0 && size != 0)
        return 0;
    /* Aligned as a mapping, for shmq__image_check below. */
    unsigned char *image;
    if (posix_memalign((void **)&image, SHMQ__PAGE, object_size ? object_size : 1) != 0)
        return 0;
    memset(image, 0, object_size);
    memcpy(image, data, size);
    uint32_t kind = 0;
    if (object_size >= offsetof(struct shmq__header, kind) + sizeof kind)
        memcpy(&kind, image + offsetof(struct shmq__header, kind), sizeof kind);
    if (kind != SHMQ__KIND_TOPIC && object_size >= sizeof(struct shmq__header)) {
        char *dl = (char *)image + offsetof(struct shmq__header, dead_letter);
        const size_t dl_size = sizeof((struct shmq__header *)0)->dead_letter;
        if (memchr(dl, 0, dl_size) && dl[0] && shmq_name_check(dl) == 0) {
            memset(dl, 0, dl_size);
            memcpy(dl, dead_letter_name, strlen(dead_letter_name));
        }
    }

    /* Validation alone, in memory: it must agree with what open decides below. */
    struct shmq__geometry g;
    int valid = segment_image_validate(image, object_size, &g);
    if (valid == -EAGAIN) {
        free(image);
        return 0;
    }
    /* What the check says of these bytes in memory, shmq_check must say of the object, word
     * for word, before anyone changes it (an observer's open changes nothing): one
     * implementation. */
    struct image_verdict in_memory;
    in_memory.err = shmq__image_check(image, object_size, in_memory.why, sizeof in_memory.why);
    if (write_object(image, size < object_size ? size : object_size, object_size) != 0) {
        free(image);
        return 0;
    }
    free(image);

    if (valid == -EMEDIUMTYPE) {
        topic_fuzz(&in_memory);
        shm_unlink(shm_path);
        return 0;
    }
    same_verdict_live(&in_memory);

    shmq_t *q = NULL;
    int err = shmq_open(queue_name, &q);
    if (valid != 0)
        EXPECT(err != 0); /* open never accepts what validation refused */
    if (err == 0) {
        struct shmq_stat st;
        inspect(q, &st);
        work(q, st.slot_size);
        struct shmq_repair_report rep;
        int rerr = shmq_repair(q, &rep);
        EXPECT(rerr == 0 || rerr == -EBUSY || rerr == -ENOMEM);
        EXPECT(shmq_purge(q) >= -4095); /* a count or an error code, in bounded time */
        inspect(q, &st);
        EXPECT(shmq_close(q) == 0);
    }

    if (valid == 0) { /* a queue is not a topic */
        shmq_topic_t *t;
        EXPECT(shmq_topic_open_ex(queue_name, SHMQ_OPEN_OBSERVE, &t) == -EMEDIUMTYPE);
    }

    shmq_t *o = NULL;
    if (shmq_open_ex(queue_name, SHMQ_OPEN_OBSERVE, &o) == 0) {
        struct shmq_stat st;
        inspect(o, &st);
        struct shmq_msg m;
        EXPECT(shmq_claim(o, &m, 0) == -EPERM);
        EXPECT(shmq_push(o, "x", 1, 0) == -EPERM);
        EXPECT(shmq_repair(o, NULL) == -EPERM);
        EXPECT(shmq_close(o) == 0);
    }

    shm_unlink(shm_path);
    shmq_unlink(dead_letter_name);
    return 0;
}
