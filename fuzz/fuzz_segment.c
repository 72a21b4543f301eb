/*
 * fuzz_segment: a segment image from the fuzzer, checked in memory as `shmq stat --check`
 * checks a mapped segment, with no shm object: the open-time validation
 * (shmq__segment_validate, or the topic's), the view an open derives from it
 * (shmq__image_derive), the invariant checks of shmq_check / shmq_topic_check over it
 * (shmq__image_check), then the reads an inspector makes: shmq_peek on an observer's handle
 * over the image (the ring walks and the message reads of the library's peek) and the message
 * metadata of every slot through shmq__slot_read / shmq__msg_read; for a topic, the group
 * list. Any crash, hang (-timeout) or leak is a finding (GUARD bytes past the image are
 * poisoned, so ASan catches a read past its end), and so is:
 *
 *   - the image derivation disagreeing with validation (accepting what it refuses, or
 *     another geometry), a refusal without a reason, a reason that is not NUL-terminated;
 *   - the check answering other than 0, -EBADMSG (with a reason) or -ENOMEM, or answering
 *     differently when it has no room for the reason;
 *   - anything writing to the image (the checks and reads are read-only);
 *   - a message whose bytes or strings lie outside the slot it was read from.
 *
 * What needs a shm object (open, the reaper, claims, pushes, subscriptions) is
 * fuzz_segment_live's, on the same seeds. The input is read as segment_input.h says.
 */
#include <sanitizer/asan_interface.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "image.h"
#include "segment_input.h"
#include "slot.h"
#include "topic.h"

#define GUARD (64u << 10) /* poisoned bytes after the image */

/* SEGMENT_IMAGE_MAX + GUARD bytes, page-aligned as a mapping. One buffer for every input: an
 * allocation per input would cost more than all the checks (ASan's allocator). */
static unsigned char *buffer;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    buffer = aligned_alloc(SHMQ__PAGE, SEGMENT_IMAGE_MAX + GUARD);
    if (!buffer)
        abort();
    return 0;
}

/* A message read from a slot: its bytes and strings lie inside [slot, slot + stride). */
static void expect_in_slot(const struct shmq_msg *m, const void *slot, uint32_t stride,
                           uint32_t slot_size)
{
    segment_touch_msg(m, slot_size);
    const char *lo = slot, *hi = lo + stride;
    EXPECT(m->len == 0 || ((const char *)m->data >= lo && (const char *)m->data + m->len <= hi));
    const char *strs[] = {m->type, m->correlation_id, m->reply_to};
    for (size_t i = 0; i < 3; i++)
        EXPECT(!strs[i] || (strs[i] >= lo && strs[i] + strlen(strs[i]) < hi));
}

static void read_queue(struct shmq__mapping *m)
{
    const struct shmq__geometry *g = &m->geo;
    /* An observer's handle on the image: shmq_peek reads it as it reads a mapped segment. */
    struct shmq observer = {.map = m, .self = NULL, .pool.held = SHMQ__NONE};
    struct segment_peek_seen seen = {.slot_size = g->slot_size};
    int r = shmq_peek(&observer, g->capacity, segment_on_peek, &seen);
    EXPECT(r == -ENOMEM || (r >= 0 && r == (int)seen.count && (uint32_t)r <= g->capacity));

    for (uint32_t i = 0; i < g->capacity; i++) {
        struct shmq_msg msg;
        if (m->spsc) {
            struct shmq__msghdr *h = shmq__spsc_slot_at(m, i);
            if (shmq__msg_read(m, h, &msg) == 0)
                expect_in_slot(&msg, h, g->slot_stride, g->slot_size);
        } else {
            struct shmq__slot *s = shmq__slot_at(m, i);
            if (shmq__slot_read(m, i, s, &msg) == 0) {
                EXPECT((uint32_t)msg.id == i);
                expect_in_slot(&msg, s, g->slot_stride, g->slot_size);
            }
        }
    }
}

static void read_topic(struct shmq_topic *t)
{
    struct shmq_group_info groups[8];
    int n = shmq_topic_groups(t, groups, 8);
    EXPECT(n >= 0 && (uint32_t)n <= t->geo.max_groups);
    for (int i = 0; i < n && i < 8; i++)
        EXPECT(memchr(groups[i].name, 0, sizeof groups[i].name) &&
               memchr(groups[i].pattern, 0, sizeof groups[i].pattern) &&
               (groups[i].flags & ~(SHMQ_SUB_DURABLE | SHMQ_GROUP_PRIVATE)) == 0);
}

/* One input, as an image of image_size bytes at `image`. */
static void check_image(unsigned char *image, size_t image_size, const uint8_t *data, size_t size)
{
    struct shmq__geometry g;
    int valid = segment_image_validate(image, image_size, &g);

    struct shmq__image img;
    char why[160];
    memset(why, 'x', sizeof why);
    int derived = shmq__image_derive(image, image_size, &img, why, sizeof why);
    EXPECT(memchr(why, 0, sizeof why) != NULL);
    if (valid == 0)
        EXPECT(derived == 0 && img.kind == g.kind && memcmp(&img.queue.geo, &g, sizeof g) == 0);
    else if (valid != -EMEDIUMTYPE) /* a topic is validated by the topic's validation */
        EXPECT(derived == valid);
    EXPECT(derived == 0 ? why[0] == 0 : why[0] != 0);
    EXPECT(derived == 0 || derived == -EBADMSG || derived == -EPROTO || derived == -EAGAIN);

    memset(why, 'x', sizeof why);
    int checked = shmq__image_check(image, image_size, why, sizeof why);
    EXPECT(memchr(why, 0, sizeof why) != NULL);
    char small[6];
    EXPECT(shmq__image_check(image, image_size, small, sizeof small) == checked);
    EXPECT(memchr(small, 0, sizeof small) != NULL);
    if (derived != 0) {
        EXPECT(checked == derived);
    } else {
        EXPECT(checked == 0 || checked == -EBADMSG || checked == -ENOMEM);
        EXPECT(checked == 0 ? why[0] == 0 : why[0] != 0);
        if (img.kind == SHMQ__KIND_TOPIC)
            read_topic(&img.topic);
        else
            read_queue(&img.queue);
    }

    /* Nothing above writes to the image (compared by memcmp: a loop here would be
     * instrumented, and cost more than all the rest). */
    static const unsigned char zeros[SHMQ__PAGE];
    EXPECT(memcmp(image, data, size) == 0);
    for (size_t at = size; at < image_size; at += sizeof zeros) {
        size_t n = image_size - at < sizeof zeros ? image_size - at : sizeof zeros;
        EXPECT(memcmp(image + at, zeros, n) == 0);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t image_size = segment_image_size(data, size);
    if (image_size == 0 && size != 0)
        return 0;
    memcpy(buffer, data, size);
    memset(buffer + size, 0, image_size - size);
    /* From the first whole 8 bytes after the image (ASan's granule). */
    unsigned char *guard = buffer + ((image_size + 7) & ~(size_t)7);
    ASAN_POISON_MEMORY_REGION(guard, GUARD);
    check_image(buffer, image_size, data, size);
    ASAN_UNPOISON_MEMORY_REGION(guard, GUARD);
    return 0;
}
