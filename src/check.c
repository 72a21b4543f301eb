/*
 * shmq_check: the invariants of a quiescent queue, verified from the segment.
 *
 * MPMC (FIFO and LIFO): every slot index is in at most one index structure (free, ready,
 * delayed, returned); an index in the free structure has state FREE, in the ready, delayed or
 * returned one READY, owner 0; an index in none of them is held — WRITING or READING with an owner
 * that is a participant entry in use — or is the message a handle keeps back after -EMSGSIZE
 * (READING too). Each ring satisfies its own invariants (shmq__scq_check,
 * shmq__stack_check). SPSC: 0 <= head - tail <= capacity.
 *
 * "Quiescent" means no operation in flight: while others work, an index between two
 * structures is legitimately in none (the reaper's business, not this check's).
 *
 * The checks need nothing but a mapping whose geometry was validated: shmq_check runs them on
 * a handle's mapping, shmq__image_check (image.c) on a byte image of a segment in memory.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image.h"
#include "scq.h"
#include "slot.h"
#include "stack.h"

__attribute__((format(printf, 3, 4))) static int fail(char *why, size_t cap, const char *fmt, ...)
{
    if (why && cap) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, cap, fmt, ap);
        va_end(ap);
    }
    return -EBADMSG;
}

int shmq_check(shmq_t *q, char *why, size_t cap)
{
    if (!q)
        return -EINVAL;
    return shmq__mapping_check(q->map, why, cap);
}

int shmq__mapping_check(struct shmq__mapping *m, char *why, size_t cap)
{
    uint32_t n = m->geo.capacity;
    if (why && cap)
        why[0] = 0;
    if (m->spsc) {
        /* A5/A6 (observer): pair with R6/R5 in spsc.c, the consumer's and producer's stores. */
        uint64_t tail = atomic_load_explicit(&m->spsc->tail, memory_order_acquire);
        uint64_t head = atomic_load_explicit(&m->spsc->head, memory_order_acquire);
        if (head - tail > n)
            return fail(why, cap, "spsc: head - tail = %llu exceeds the capacity %u",
                        (unsigned long long)(head - tail), n);
        return 0;
    }
    /* where[i]: 0 none, 1 free, 2 ready, 3 delayed, 4 returned */
    unsigned char *where = calloc(n, 1), *seen = calloc(n, 1);
    int err = -ENOMEM;
    if (!where || !seen)
        goto out;
    struct {
        unsigned char tag;
        struct shmq__scq *ring;
        struct shmq__stack *stack;
    } parts[] = {{1, m->free_ring, m->free_stack},
                 {2, m->ready_ring, m->ready_stack},
                 {3, m->delayed_ring, NULL},
                 {4, m->returned_ring, NULL}};
    static const char *const place[] = {"no structure", "the free structure", "the ready structure",
                                        "the delayed ring", "the returned ring"};
    for (size_t p = 0; p < sizeof parts / sizeof parts[0]; p++) {
        if (!parts[p].ring && !parts[p].stack)
            continue;
        memset(seen, 0, n);
        err = parts[p].ring ? shmq__scq_check(parts[p].ring, m->geo.ring_order, n, seen)
                            : shmq__stack_check(&m->links, parts[p].stack, seen);
        if (err) {
            err = fail(why, cap, "%s breaks its invariants", place[parts[p].tag]);
            goto out;
        }
        for (uint32_t i = 0; i < n; i++) {
            if (!seen[i])
                continue;
            if (where[i]) {
                err = fail(why, cap, "slot %u is in two index structures", i);
                goto out;
            }
            where[i] = parts[p].tag;
        }
    }
    for (uint32_t i = 0; i < n; i++) {
        /* A4 (slot.h): pairs with R4 of whoever stored this state. */
        uint64_t s = atomic_load_explicit(&shmq__slot_at(m, i)->state, memory_order_acquire);
        uint32_t kind = shmq__state_kind(s), owner = shmq__state_owner(s);
        bool ok;
        switch (where[i]) {
        case 1:
            ok = kind == SHMQ__SLOT_FREE && owner == 0;
            break;
        case 2:
        case 3:
        case 4:
            ok = kind == SHMQ__SLOT_READY && owner == 0;
            break;
        default:
            ok = (kind == SHMQ__SLOT_WRITING || kind == SHMQ__SLOT_READING) && owner != 0 &&
                 /* A7: pairs with R7 in shmq__participant_init (the entry's identity). */
                 owner <= m->geo.max_participants &&
                 shmq__part_state(atomic_load_explicit(&m->parts[owner - 1].word,
                                                       memory_order_acquire)) != SHMQ__PART_FREE;
        }
        if (!ok) {
            err = fail(why, cap, "slot %u is in %s with state %u, owner %u", i, place[where[i]],
                       kind, owner);
            goto out;
        }
    }
    err = 0;
out:
    free(where);
    free(seen);
    return err;
}
