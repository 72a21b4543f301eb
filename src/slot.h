/*
 * Slots: addressing, the state word, and the metadata record.
 *
 * State machine of an MPMC slot (every arrow bumps gen):
 *
 *     FREE --reserve--> WRITING --commit--> READY --claim--> READING --ack--> FREE
 *                          |                  ^                 |
 *                          +----discard-> FREE +------nack------+
 *
 * Invariants (checked by shmq_check in check.c, in tests and by `shmq stat --check`):
 *   - a slot index is in at most one ring at a time;
 *   - an index in the free ring has state FREE; in the ready ring or stack, READY;
 *   - WRITING and READING carry the owner's participant index + 1, FREE and READY carry 0;
 *   - len <= slot_size, and with SHMQ__SLOT_META the record fits in slot_size.
 *
 * Memory order of the state word: every store or CAS that gives a slot a new state is release
 * (R4), after the slot's bytes the new state vouches for; every load after which the slot is
 * read is acquire (A4). The ring steps carry their own pair for the handoff (R1/A1 in scq.c,
 * R2/A2 in stack.c); R4/A4 serve whoever reads a state and then the slot: a taker checking
 * the state it was handed, peek, the reaper, check.
 */
#ifndef SHMQ_SLOT_H
#define SHMQ_SLOT_H

#include <string.h>

#include "handle.h"

enum shmq__slot_state {
    SHMQ__SLOT_FREE = 0, /* zero so that a freshly allocated segment is all free slots */
    SHMQ__SLOT_WRITING = 1,
    SHMQ__SLOT_READY = 2,
    SHMQ__SLOT_READING = 3,
};

static inline uint64_t shmq__state_make(uint32_t gen, uint32_t owner, uint32_t state)
{
    return ((uint64_t)gen << 32) | ((uint64_t)(owner & 0xffffu) << 8) | (state & 0xffu);
}
static inline uint32_t shmq__state_gen(uint64_t s)
{
    return (uint32_t)(s >> 32);
}
static inline uint32_t shmq__state_owner(uint64_t s)
{
    return (uint32_t)(s >> 8) & 0xffffu;
}
static inline uint32_t shmq__state_kind(uint64_t s)
{
    return (uint32_t)s & 0xffu;
}
/* The next state word: gen + 1, new owner and state. */
static inline uint64_t shmq__state_next(uint64_t s, uint32_t owner, uint32_t state)
{
    return shmq__state_make(shmq__state_gen(s) + 1, owner, state);
}

/* Slot `index` of an MPMC queue (FIFO or LIFO pool). */
static inline struct shmq__slot *shmq__slot_at(const struct shmq__mapping *m, uint32_t index)
{
    return (struct shmq__slot *)(m->slots + (size_t)index * m->geo.slot_stride);
}

/* Slot `index` of the SPSC ring: a bare message header, payload 8 bytes on, slots packed (a
 * 64-byte message moves in 72 bytes, not in two whole cache lines). */
static inline struct shmq__msghdr *shmq__spsc_slot_at(const struct shmq__mapping *m, uint32_t index)
{
    return (struct shmq__msghdr *)(m->slots + (size_t)index * m->geo.slot_stride);
}

static inline size_t shmq__align8(size_t n)
{
    return (n + 7u) & ~(size_t)7u;
}

/* Bytes the metadata of m takes in a slot (0 when m carries none), or SIZE_MAX when a string
 * is longer than SHMQ_META_STR_MAX. */
size_t shmq__meta_size(const struct shmq_msg *m);

/* Write payload length and metadata of m after message header h (payload already in place).
 * The caller has checked align8(len) + meta_size <= slot_size. */
void shmq__meta_write(struct shmq__msghdr *h, const struct shmq_msg *m, size_t meta_size);

/* Fill m (data, len, metadata, deliveries; not id) from the message at h in mapping map,
 * checking every length against the slot size: -EBADMSG if it is inconsistent. */
int shmq__msg_read(const struct shmq__mapping *map, struct shmq__msghdr *h, struct shmq_msg *m);

/* shmq__msg_read of an MPMC slot, with its id (commit generation << 32 | index). */
int shmq__slot_read(const struct shmq__mapping *map, uint32_t index, struct shmq__slot *s,
                    struct shmq_msg *m);

/* The payload bytes plus metadata a message needs in a slot. */
static inline int shmq__msg_fits(const struct shmq__mapping *map, const struct shmq_msg *m,
                                 size_t *meta_size)
{
    size_t meta = shmq__meta_size(m);
    if (meta == SIZE_MAX)
        return -EINVAL;
    size_t need = meta ? shmq__align8(m->len) + meta : m->len;
    if (m->len > map->geo.slot_size || need > map->geo.slot_size)
        return -EMSGSIZE;
    *meta_size = meta;
    return 0;
}

/* Take back the delivery a claim of the message at h counted (shmq_release): its count, and
 * the redelivery the claim counted it as. Called by the claim's handle, which holds the slot:
 * relaxed, published with the slot by whatever hands it on. */
static inline void shmq__delivery_undo(shmq_t *q, struct shmq__msghdr *h)
{
    uint16_t deliveries = atomic_load_explicit(&h->deliveries, memory_order_relaxed);
    if (deliveries == 0)
        return;
    atomic_store_explicit(&h->deliveries, (uint16_t)(deliveries - 1), memory_order_relaxed);
    if (deliveries > 1)
        shmq__count(&q->self->counters.redelivered, UINT64_MAX); /* minus one */
}

/* Private fields of a struct shmq_msg handed out by reserve/claim. */
#define SHMQ__MSG_SLOT 0  /* priv[0]: slot index + 1 (0 = not from this library) */
#define SHMQ__MSG_STATE 1 /* priv[1]: the state word the holder set */

#endif /* SHMQ_SLOT_H */
