/* Treiber stack of slot indices (see stack.h for the ABA bound and the invariants). */
#include "stack.h"

#include <errno.h>
#include <string.h>

#include <stdlib.h>

static inline struct shmq__slot *slot_at(const struct shmq__stack_links *l, uint32_t index)
{
    return (struct shmq__slot *)(l->slots + (uint64_t)index * l->stride);
}

static inline uint64_t head_make(uint32_t tag, uint32_t index)
{
    return ((uint64_t)tag << 32) | index;
}
static inline uint32_t head_tag(uint64_t h)
{
    return (uint32_t)(h >> 32);
}
static inline uint32_t head_index(uint64_t h)
{
    return (uint32_t)h;
}

void shmq__stack_init(struct shmq__stack *s)
{
    atomic_init(&s->head, head_make(0, SHMQ__STACK_NIL));
}

void shmq__stack_push(const struct shmq__stack_links *l, struct shmq__stack *s, uint32_t index)
{
    struct shmq__slot *slot = slot_at(l, index);
    uint64_t head = atomic_load_explicit(&s->head, memory_order_relaxed);
    for (;;) {
        /* Relaxed: the link is published by the release CAS below. */
        atomic_store_explicit(&slot->next, head_index(head), memory_order_relaxed);
        /* R2: publishes the link and the slot (its state was stored before). Pairs with A2
         * in shmq__stack_pop. On failure the relaxed reload is enough: we retry the release. */
        if (atomic_compare_exchange_weak_explicit(&s->head, &head,
                                                  head_make(head_tag(head) + 1, index),
                                                  memory_order_release, memory_order_relaxed))
            return;
    }
}

int64_t shmq__stack_pop(const struct shmq__stack_links *l, struct shmq__stack *s)
{
    /* A2: pairs with R2 in shmq__stack_push: the link of the top index is visible. */
    uint64_t head = atomic_load_explicit(&s->head, memory_order_acquire);
    for (;;) {
        uint32_t index = head_index(head);
        if (index == SHMQ__STACK_NIL)
            return SHMQ__STACK_NIL;
        if (index >= l->capacity)
            return -EBADMSG;
        /* Relaxed: if the slot was popped and reused meanwhile, the tag makes the CAS fail
         * and the value is discarded. */
        uint32_t next = atomic_load_explicit(&slot_at(l, index)->next, memory_order_relaxed);
        /* A2 again on success (acquire), and on failure for the next round's link read. */
        if (atomic_compare_exchange_weak_explicit(&s->head, &head,
                                                  head_make(head_tag(head) + 1, next),
                                                  memory_order_acquire, memory_order_acquire))
            return index;
    }
}

int shmq__stack_foreach(const struct shmq__stack_links *l, struct shmq__stack *s,
                        int (*fn)(uint32_t index, void *arg), void *arg)
{
    /* A2 (observer): pairs with R2 in the push that made this head: its link is visible. */
    uint32_t index = head_index(atomic_load_explicit(&s->head, memory_order_acquire));
    /* A concurrent pop can send the walk into a recycled chain: bound it by the capacity. */
    for (uint32_t steps = 0; index != SHMQ__STACK_NIL && steps < l->capacity; steps++) {
        if (index >= l->capacity)
            return 0;
        int r = fn(index, arg);
        if (r)
            return r;
        /* A2: pairs with R2 in the push that linked this index (its relaxed link store is published
         * by that release). */
        index = atomic_load_explicit(&slot_at(l, index)->next, memory_order_acquire);
    }
    return 0;
}

int shmq__stack_snapshot(const struct shmq__stack_links *l, struct shmq__stack *s, uint8_t *present)
{
    uint32_t capacity = l->capacity;
    uint8_t *seen = calloc(capacity, 1);
    if (!seen)
        return -ENOMEM;
    for (int attempt = 0; attempt < 1000; attempt++) {
        memset(seen, 0, capacity);
        /* A2 (snapshot): pairs with R2 in the push that made this head. */
        uint64_t before = atomic_load_explicit(&s->head, memory_order_acquire);
        uint32_t index = head_index(before);
        uint32_t steps = 0;
        while (index != SHMQ__STACK_NIL && index < capacity && steps++ < capacity) {
            seen[index] = 1;
            /* A2: pairs with R2 in the push that linked this index (its relaxed link store is
             * published by that release). */
            index = atomic_load_explicit(&slot_at(l, index)->next, memory_order_acquire);
        }
        /* Every push and pop moves the tag: an unchanged head means the walk saw one state.
         * Acquire fence: the link reads above complete before the head is read again. */
        atomic_thread_fence(memory_order_acquire);
        if (atomic_load_explicit(&s->head, memory_order_relaxed) == before) {
            for (uint32_t i = 0; i < capacity; i++)
                present[i] |= seen[i];
            free(seen);
            return 0;
        }
    }
    free(seen);
    return -EBUSY;
}

int shmq__stack_check(const struct shmq__stack_links *l, struct shmq__stack *s, unsigned char *seen)
{
    /* A2 (observer): pairs with R2 in the push that made this head: its link is visible. */
    uint32_t index = head_index(atomic_load_explicit(&s->head, memory_order_acquire));
    while (index != SHMQ__STACK_NIL) {
        if (index >= l->capacity || seen[index])
            return -EBADMSG;
        seen[index] = 1;
        /* A2: pairs with R2 in the push that linked this index (its relaxed link store is published
         * by that release). */
        index = atomic_load_explicit(&slot_at(l, index)->next, memory_order_acquire);
    }
    return 0;
}
