/*
 * What the two segment targets (fuzz_segment: the byte image; fuzz_segment_live: a real shm
 * object used through the public API) share: how an input becomes a segment image, the
 * open-time validation of it with what validation promises, and the check of a message read
 * from it. Same seeds (fuzz/corpus/fuzz_segment), same reading of them.
 *
 * The input is the segment image. The image is as long as the input, except that an input
 * shorter than the size its own header announces (page-aligned, at most SEGMENT_IMAGE_MAX) is
 * padded with zeros to that size: the seeds (fuzz/make_seeds.c) are real segments with their
 * trailing zeros cut off, and every mutation that keeps the header's size gets past the size
 * check.
 */
#ifndef SHMQ_FUZZ_SEGMENT_INPUT_H
#define SHMQ_FUZZ_SEGMENT_INPUT_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "expect.h"
#include "internal.h"
#include "shmq.h"

#define SEGMENT_IMAGE_MAX (4u << 20) /* the largest image made */

/* The size of the image an input of `size` bytes stands for (see above); 0 for an input
 * longer than SEGMENT_IMAGE_MAX, which is passed over. */
size_t segment_image_size(const uint8_t *data, size_t size);

/* shmq__segment_validate on an image of `size` bytes, and, when it accepts the image, what that
 * promises: the geometry is the image's and every slot lies inside it. Returns what validation
 * said. */
int segment_image_validate(const void *image, size_t size, struct shmq__geometry *g);

/* Every byte a message points at is read (a pointer or a length that escapes the slot it was
 * read from is caught by ASan or a fault), its length is within the slot size and its strings
 * end within SHMQ_META_STR_MAX. Returns a sum of the bytes, so that the reads are not elided. */
unsigned segment_touch_msg(const struct shmq_msg *m, uint32_t slot_size);

/* A shmq_peek callback: segment_touch_msg on each message, counted. */
struct segment_peek_seen {
    uint32_t slot_size;
    unsigned count;
};
int segment_on_peek(const struct shmq_msg *m, void *seen);

#endif /* SHMQ_FUZZ_SEGMENT_INPUT_H */
