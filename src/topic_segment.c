/*
 * Topic segments, bottom layer of the topic files: the copy helpers over a slot's or an entry's
 * atomic words, the geometry derived from a configuration, laying out a new segment,
 * validating a mapped one, and the participant table (one entry per handle). Calls only the
 * segment layer below it (participant.c's liveness helpers, time.c). See topic_internal.h for
 * the map of the topic files and the memory-ordering labels.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "topic_internal.h"

/* ---- copies, liveness, names ----------------------------------------------------------------- */

bool shmq__topic_entry_alive(int32_t pid, bool live, _Atomic uint64_t *start_time)
{
    return shmq__owner_alive(pid,
                             live ? atomic_load_explicit(start_time, memory_order_relaxed) : 0);
}

int shmq__topic_group_name_check(const char *name)
{
    if (shmq_name_check(name) != 0 || strlen(name) > SHMQ_GROUP_NAME_MAX)
        return -EINVAL;
    return 0;
}

/* ---- geometry, creation, validation ---------------------------------------------------------- */

int shmq__topic_geometry_derive(const struct shmq_topic_config *cfg, struct shmq__topic_geometry *g)
{
    static const struct shmq_topic_config defaults;
    if (!cfg)
        cfg = &defaults;
    for (size_t i = 0; i < sizeof cfg->reserved / sizeof cfg->reserved[0]; i++)
        if (cfg->reserved[i])
            return -EINVAL;
    if (cfg->reserved0 || (cfg->mode & ~0777u))
        return -EINVAL;
    if (cfg->policy != SHMQ_TOPIC_BLOCK && cfg->policy != SHMQ_TOPIC_OVERWRITE)
        return -EINVAL;
    if (cfg->group_timeout_ns < 0)
        return -EINVAL;
    if (cfg->numa != 0 && cfg->numa != SHMQ_NUMA_LOCAL &&
        cfg->numa > SHMQ_NUMA_NODE(SHMQ_NUMA_NODES_MAX - 1))
        return -EINVAL;
    if (cfg->numa_flags & ~SHMQ_NUMA_STRICT)
        return -EINVAL;
    uint32_t capacity = cfg->capacity ? cfg->capacity : SHMQ_DEFAULT_CAPACITY;
    uint32_t slot_size = cfg->slot_size ? cfg->slot_size : SHMQ_DEFAULT_SLOT_SIZE;
    uint32_t parts = cfg->max_participants ? cfg->max_participants : SHMQ_DEFAULT_PARTICIPANTS;
    uint32_t groups = cfg->max_groups ? cfg->max_groups : SHMQ_TOPIC_DEFAULT_GROUPS;
    uint32_t members = cfg->max_members ? cfg->max_members : SHMQ_TOPIC_DEFAULT_MEMBERS;
    if (capacity < 2 || capacity > SHMQ_CAPACITY_MAX || (capacity & (capacity - 1)) != 0)
        return -EINVAL;
    if (slot_size < 8 || slot_size > SHMQ_SLOT_SIZE_MAX)
        return -EINVAL;
    if (parts > SHMQ_PARTICIPANTS_MAX || groups > SHMQ_GROUPS_MAX || members > SHMQ_MEMBERS_MAX)
        return -EINVAL;

    memset(g, 0, sizeof *g);
    g->policy = (uint32_t)cfg->policy;
    g->capacity = capacity;
    while ((UINT32_C(1) << g->ring_order) < capacity)
        g->ring_order++;
    g->slot_size = slot_size;
    g->slot_stride = (uint32_t)shmq__topic_align_up(
        sizeof(struct shmq__topic_slot) + shmq__topic_align_up(slot_size, 8), SHMQ__CACHELINE);
    g->max_participants = parts;
    g->max_groups = groups;
    g->max_members = members;
    g->group_timeout_ns =
        cfg->group_timeout_ns ? cfg->group_timeout_ns : SHMQ_TOPIC_DEFAULT_GROUP_TIMEOUT_NS;

    uint64_t off = SHMQ__PAGE;
    g->off_participants = off;
    off += (uint64_t)parts * sizeof(struct shmq__topic_part);
    g->off_groups = off = shmq__topic_align_up(off, SHMQ__CACHELINE);
    off += (uint64_t)groups * sizeof(struct shmq__topic_group);
    g->off_members = off = shmq__topic_align_up(off, SHMQ__CACHELINE);
    off += (uint64_t)members * sizeof(struct shmq__topic_member);
    g->off_waits = off = shmq__topic_align_up(off, SHMQ__CACHELINE);
    off += sizeof(struct shmq__waits);
    g->off_slots = off = shmq__topic_align_up(off, SHMQ__PAGE);
    off += (uint64_t)capacity * g->slot_stride;
    g->segment_size = shmq__topic_align_up(off, SHMQ__PAGE);
    return 0;
}

void shmq__topic_derive(shmq_topic_t *t)
{
    unsigned char *b = t->base;
    t->hdr = (struct shmq__topic_header *)b;
    t->parts = (struct shmq__topic_part *)(b + t->geo.off_participants);
    t->groups = (struct shmq__topic_group *)(b + t->geo.off_groups);
    t->members = (struct shmq__topic_member *)(b + t->geo.off_members);
    t->waits = (struct shmq__waits *)(b + t->geo.off_waits);
    t->slots = b + t->geo.off_slots;
}

/* Lay out a fresh (all-zero) segment and store the magic last. Everything not written here
 * starts as zero: FREE entries, never-written slots, tail 0. */
void shmq__topic_init(void *base, const char *name, const struct shmq__topic_geometry *g,
                      uint32_t mode, int32_t numa_node, uint32_t numa_flags)
{
    struct shmq__topic_header *h = base;
    h->abi_version = SHMQ__ABI_VERSION;
    h->header_size = sizeof *h;
    h->kind = SHMQ__KIND_TOPIC;
    h->policy = g->policy;
    h->capacity = g->capacity;
    h->ring_order = g->ring_order;
    h->slot_size = g->slot_size;
    h->slot_stride = g->slot_stride;
    h->max_participants = g->max_participants;
    h->max_groups = g->max_groups;
    h->max_members = g->max_members;
    h->mode = mode;
    h->segment_size = g->segment_size;
    h->off_participants = g->off_participants;
    h->off_groups = g->off_groups;
    h->off_members = g->off_members;
    h->off_waits = g->off_waits;
    h->off_slots = g->off_slots;
    h->group_timeout_ns = g->group_timeout_ns;
    h->created_ns = shmq__now_real();
    h->creator_pid = (int32_t)getpid();
    h->numa_node = numa_node;
    h->numa_flags = numa_flags;
    snprintf(h->name, sizeof h->name, "%s", name);
    /* R0: the layout is complete before the magic says so. Pairs with A0 in
     * shmq__topic_validate. */
    atomic_store_explicit(&h->magic, SHMQ__MAGIC, memory_order_release);
}

/* Check a mapped segment of `size` bytes and derive its geometry: 0, -EAGAIN (being
 * created), -EMEDIUMTYPE (a queue), -EPROTO or -EBADMSG. Reads only the header. */
int shmq__topic_validate(const void *base, size_t size, struct shmq__topic_geometry *g)
{
    if (size < SHMQ__PAGE)
        return size == 0 ? -EAGAIN : -EBADMSG;
    const struct shmq__topic_header *h = base;
    /* A0: pairs with R0 in shmq__topic_init (and in the queue's segment_init, same offset). */
    uint64_t magic =
        atomic_load_explicit(&((struct shmq__topic_header *)base)->magic, memory_order_acquire);
    if (magic == 0)
        return -EAGAIN;
    if (magic != SHMQ__MAGIC)
        return -EBADMSG;
    if (h->abi_version != SHMQ__ABI_VERSION)
        return -EPROTO;
    if (h->kind == SHMQ__KIND_FIFO || h->kind == SHMQ__KIND_LIFO)
        return -EMEDIUMTYPE; /* a queue: opened with shmq_open */
    if (h->kind != SHMQ__KIND_TOPIC || h->header_size != sizeof *h)
        return -EBADMSG;
    if (memchr(h->name, 0, sizeof h->name) == NULL || h->numa_node < -1 ||
        h->numa_node >= (int32_t)SHMQ_NUMA_NODES_MAX || (h->mode & ~0777u) ||
        (h->numa_flags & ~SHMQ_NUMA_STRICT) || h->group_timeout_ns <= 0)
        return -EBADMSG;
    struct shmq_topic_config cfg = {
        .policy = (enum shmq_topic_policy)h->policy,
        .capacity = h->capacity,
        .slot_size = h->slot_size,
        .mode = h->mode,
        .max_groups = h->max_groups,
        .max_members = h->max_members,
        .max_participants = h->max_participants,
        .numa_flags = h->numa_flags,
        .group_timeout_ns = h->group_timeout_ns,
    };
    /* Zero would mean "default" to the derivation; in a header it is corruption. */
    if (h->policy > SHMQ_TOPIC_OVERWRITE || !h->capacity || !h->slot_size || !h->max_groups ||
        !h->max_members || !h->max_participants || shmq__topic_geometry_derive(&cfg, g) != 0)
        return -EBADMSG;
    if (h->ring_order != g->ring_order || h->slot_stride != g->slot_stride ||
        h->segment_size != g->segment_size || h->off_participants != g->off_participants ||
        h->off_groups != g->off_groups || h->off_members != g->off_members ||
        h->off_waits != g->off_waits || h->off_slots != g->off_slots || size != g->segment_size)
        return -EBADMSG;
    return 0;
}

/* ---- participants (one per handle) ----------------------------------------------------------- */

void shmq__topic_counters_fold(struct shmq__topic_counters *to, struct shmq__topic_counters *from)
{
    /* Relaxed: statistics; the release that frees the entry orders them before its reuse. */
    _Atomic uint64_t *f = &from->published, *d = &to->published;
    for (size_t i = 0; i < sizeof *from / sizeof *f; i++) {
        atomic_fetch_add_explicit(&d[i], atomic_load_explicit(&f[i], memory_order_relaxed),
                                  memory_order_relaxed);
        atomic_store_explicit(&f[i], 0, memory_order_relaxed);
    }
}

int shmq__topic_part_join(shmq_topic_t *t)
{
    int32_t pid = (int32_t)getpid();
    _Static_assert(offsetof(struct shmq__topic_part, word) == 0, "the word first");
    int i = shmq__entry_take(t->parts, sizeof *t->parts, t->geo.max_participants,
                             shmq__part_word(pid, SHMQ__PART_OPENING));
    if (i < 0)
        return i;
    struct shmq__topic_part *p = &t->parts[i];
    atomic_store_explicit(&p->start_time, shmq__self_start_time(), memory_order_relaxed);
    atomic_store_explicit(&p->opened_ns, shmq__now_real(), memory_order_relaxed);
    atomic_store_explicit(&p->pub_seq, 0, memory_order_relaxed);
    _Atomic uint64_t *c = &p->counters.published;
    for (size_t k = 0; k < sizeof p->counters / sizeof *c; k++)
        atomic_store_explicit(&c[k], 0, memory_order_relaxed);
    /* R6: identity before LIVE. Pairs with A6 in the readers of the table. */
    atomic_store_explicit(&p->word, shmq__part_word(pid, SHMQ__PART_LIVE), memory_order_release);
    t->self = (uint32_t)i;
    t->me = p;
    return 0;
}

void shmq__topic_part_retire(shmq_topic_t *t)
{
    struct shmq__topic_part *p = t->me;
    shmq__topic_counters_fold(&t->hdr->retired, &p->counters);
    atomic_store_explicit(&p->pub_seq, 0, memory_order_relaxed);
    /* Release: pairs with the acquire CAS of the next owner in shmq__entry_take. */
    atomic_store_explicit(&p->word, 0, memory_order_release);
    t->me = NULL;
    t->self = SHMQ__NONE;
}

/*
 * Is a live publisher possibly about to write sequence s? With claiming, one that is taking
 * a sequence right now counts too (it may be taking s); without, only one that has announced
 * s itself (a slot seen WRITING(s) was taken after its writer announced s, R2).
 */
bool shmq__topic_claimant_alive(shmq_topic_t *t, uint64_t s, bool claiming)
{
    for (uint32_t i = 0; i < t->geo.max_participants; i++) {
        struct shmq__topic_part *p = &t->parts[i];
        /* A6: pairs with R6 in shmq__topic_part_join. */
        uint64_t w = atomic_load_explicit(&p->word, memory_order_acquire);
        if (shmq__part_state(w) != SHMQ__PART_LIVE)
            continue;
        /* A4: pairs with R4 in shmq_publish_msg (topic_publish.c): a claimant seen done has
         * published its slot. */
        uint64_t ps = atomic_load_explicit(&p->pub_seq, memory_order_acquire);
        if (ps != s + 1 && !(claiming && ps == SHMQ__PUB_CLAIMING))
            continue;
        if (shmq__topic_entry_alive(shmq__part_pid(w), true, &p->start_time))
            return true;
    }
    return false;
}

/* ---- the slot format ------------------------------------------------------------------------- */

/* Read the metadata record at data byte offset off of a slot into rec; NULL strings and 0
 * timestamp when absent. -EBADMSG when it does not parse (torn or scribbled). */
int shmq__topic_meta_parse(const struct shmq__topic_slot *slot, size_t off, size_t limit,
                           unsigned char *rec, struct shmq__meta *h, size_t str_off[3])
{
    if (off + sizeof *h > limit)
        return -EBADMSG;
    size_t n = limit - off < SHMQ__TOPIC_META_MAX ? limit - off : SHMQ__TOPIC_META_MAX;
    shmq__topic_words_get(rec, slot->data + off / 8, n);
    memcpy(h, rec, sizeof *h);
    uint8_t lens[3] = {h->type_len, h->correlation_len, h->reply_to_len};
    size_t p = sizeof *h;
    for (int i = 0; i < 3; i++) {
        if (p + lens[i] + 1 > n || rec[p + lens[i]] != 0)
            return -EBADMSG;
        str_off[i] = p;
        p += (size_t)lens[i] + 1;
    }
    return 0;
}
