/* Input handling shared by fuzz_segment and fuzz_segment_live (see segment_input.h). */
#include "segment_input.h"

#include <string.h>

#include "topic.h"

size_t segment_image_size(const uint8_t *data, size_t size)
{
    if (size > SEGMENT_IMAGE_MAX)
        return 0;
    /* A topic keeps its size at another offset; the kind is where a queue has it. */
    uint32_t kind = 0;
    if (size >= offsetof(struct shmq__header, kind) + sizeof kind)
        memcpy(&kind, data + offsetof(struct shmq__header, kind), sizeof kind);
    const size_t size_at = kind == SHMQ__KIND_TOPIC
                               ? offsetof(struct shmq__topic_header, segment_size)
                               : offsetof(struct shmq__header, segment_size);
    if (size >= size_at + sizeof(uint64_t)) {
        uint64_t announced;
        memcpy(&announced, data + size_at, sizeof announced);
        if (announced > size && announced <= SEGMENT_IMAGE_MAX && announced % SHMQ__PAGE == 0)
            return (size_t)announced;
    }
    return size;
}

int segment_image_validate(const void *image, size_t size, struct shmq__geometry *g)
{
    int valid = shmq__segment_validate(image, size, g);
    if (valid == 0) {
        EXPECT(g->segment_size == size);
        EXPECT(g->off_slots + (uint64_t)g->capacity * g->slot_stride <= size);
        EXPECT(g->slot_stride >= (shmq__geometry_is_spsc(g) ? sizeof(struct shmq__msghdr)
                                                            : sizeof(struct shmq__slot)) +
                                     g->slot_size);
    }
    return valid;
}

unsigned segment_touch_msg(const struct shmq_msg *m, uint32_t slot_size)
{
    EXPECT(m->len <= slot_size);
    EXPECT(m->len == 0 || m->data != NULL);
    unsigned sum = 0;
    const unsigned char *p = m->data;
    for (size_t i = 0; i < m->len; i++)
        sum += p[i];
    const char *strs[] = {m->type, m->correlation_id, m->reply_to};
    for (size_t i = 0; i < 3; i++)
        if (strs[i])
            EXPECT(strnlen(strs[i], SHMQ_META_STR_MAX + 1) <= SHMQ_META_STR_MAX);
    return sum;
}

int segment_on_peek(const struct shmq_msg *m, void *seen)
{
    struct segment_peek_seen *s = seen;
    segment_touch_msg(m, s->slot_size);
    s->count++;
    return 0;
}
