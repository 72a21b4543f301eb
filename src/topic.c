/*
 * Topics: a broadcast ring in shared memory, subscriber groups with their own cursors,
 * subject filtering on the subscriber's side, and the BLOCK and OVERWRITE policies. The
 * layout and its invariants are in topic.h; the public contract is in shmq.h.
 *
 * Publishing (shmq_publish):
 *   1. announce: pub_seq := CLAIMING in the handle's own entry;
 *   2. claim a sequence s: OVERWRITE takes it with fetch-and-add on tail (never waits); BLOCK
 *      with a CAS on tail that only succeeds while s - capacity is below every gating group's
 *      cursor (a FAA cannot be undone, and a BLOCK publisher that gives up at its deadline
 *      must leave no hole behind), Disruptor-style, the slowest cursor being cached per
 *      handle and looked up again only when the cache says the ring is full;
 *   3. pub_seq := s + 1, then move the slot's word from an older sequence to WRITING(s) by
 *      CAS (if an older publisher is still writing there, wait for it; if a newer one already
 *      has the slot, message s is lost to everyone and the publish is over);
 *   4. write the data (relaxed atomic words), store PUB(s) with release;
 *   5. pub_seq := 0 (release), and wake sleeping subscribers if there are any (one load).
 * Nothing in it depends on the number of subscribers.
 *
 * Reading (shmq_next), for a group at cursor c: load the word of slot c.
 *   PUB(c)    copy subject (and, when it matches, payload and metadata), then an acquire fence
 *             and the word again: unchanged means the copy is whole. Then CAS the cursor from
 *             c to c + 1: the member whose CAS succeeds owns the message (read first, take
 *             after, so a member that stops between two calls takes nothing, and under BLOCK
 *             the slot cannot be overwritten while a member of a gating group still reads it).
 *             A non-matching message is passed over the same way (several in one CAS).
 *   HOLE(c)   passed over: a publisher died between its claim and its publish.
 *   newer     the group was lapped: jump (CAS) to the oldest sequence that can still be in
 *             the ring, tail - capacity, and count the difference as lost: exact, since
 *             every sequence in between is either overwritten or about to be.
 *   older     not published yet: -EAGAIN, or sleep on the "not empty" eventcount. If it
 *             stays so while tail says s was handed out, look for a live publisher whose
 *             pub_seq says it might still write it; with none, CAS the word to HOLE(c).
 *
 * Memory ordering (labels used in the code):
 *   R0/A0  magic stored last by the creator / loaded first by an opener.
 *   R1/A1  the claim on tail (release) / loads of tail (acquire): pub_seq = CLAIMING of the
 *          claimant is visible to whoever sees the sequence handed out.
 *   R2/A2  the CAS to WRITING(s) (release half) / loads of the slot word: pub_seq = s + 1 of
 *          the writer is visible to whoever sees WRITING(s). Its acquire half pairs with R3
 *          of the slot's previous publisher (our writes come after theirs).
 *   R3/A3  the store of PUB(s) / readers' load of the slot word: the message is visible.
 *   F1/F2  the seqlock: a release fence after WRITING(s), before the data; an acquire fence
 *          after a reader's copy, before it loads the word again.
 *   R4/A4  pub_seq := 0 after the publish / loads of pub_seq by whoever looks for claimants:
 *          a claimant seen finished has its slot published.
 *   R5/A5  a member's CAS of its group's cursor / a BLOCK publisher's load of the cursors:
 *          the member's reads of the slot are over before a publisher writes it again.
 *   R6/A6  an entry's word made LIVE/ACTIVE / loaded by readers of the tables: the identity
 *          written before it is visible.
 *   S7     seq_cst: the table protocols that must see each other's stores (a creator's
 *          duplicate check against another creator, a deleter's member count against a
 *          joiner) are store-then-load on both sides.
 */
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "slot.h"
#include "topic.h"
#include "wait.h"

#define OPEN_WAIT_NS (2 * 1000000000LL) /* how long open waits for a creator to finish */
#define SPIN_ATTEMPTS 128               /* re-tries before sleeping */
#define SUBSCRIBE_ATTEMPTS 1000u        /* lost races before shmq_subscribe says -EBUSY (~0.7 s) */
#define SLICE_NS (100 * 1000000LL)      /* a sleeper looks for dead peers this often */
#define HOLE_POLLS 1024                 /* not-ready polls between looks at the tail */
#define HOLE_NS (10 * 1000000LL)        /* a claimed slot unwritten this long: find its writer */
#define WRITER_SPINS 1024               /* a publisher spins this long on an older writer */
#define SCAN_AHEAD 64                   /* messages passed over per cursor CAS */
#define META_MAX (sizeof(struct shmq__meta) + 3 * (SHMQ_META_STR_MAX + 1))

/* ---- small helpers ---------------------------------------------------------------------- */

static inline uint64_t align_up(uint64_t v, uint64_t a)
{
    return (v + a - 1) & ~(a - 1);
}

static inline bool seq_after(uint64_t a, uint64_t b) /* a > b */
{
    return (int64_t)(a - b) > 0;
}

static inline struct shmq__topic_slot *slot_at(const shmq_topic_t *t, uint64_t seq)
{
    uint64_t index = seq & (t->geo.capacity - 1u);
    return (struct shmq__topic_slot *)(t->slots + index * t->geo.slot_stride);
}

static inline bool is_block(const shmq_topic_t *t)
{
    return t->geo.policy == SHMQ_TOPIC_BLOCK;
}

/*
 * Copies between memory and the atomic words of a slot or table entry. Relaxed: the word
 * that guards them (a slot's seqlock, an entry's state) supplies the ordering; being atomic
 * makes a copy that races with a writer defined (and detected by the guard) rather than a
 * data race.
 */
static void words_put(_Atomic uint64_t *dst, const void *src, size_t n)
{
    const unsigned char *s = src;
    size_t i = 0;
    for (; n >= 8; n -= 8, s += 8, i++) {
        uint64_t v;
        memcpy(&v, s, 8);
        atomic_store_explicit(&dst[i], v, memory_order_relaxed);
    }
    if (n) {
        uint64_t v = 0;
        memcpy(&v, s, n);
        atomic_store_explicit(&dst[i], v, memory_order_relaxed);
    }
}

static void words_get(void *dst, const _Atomic uint64_t *src, size_t n)
{
    unsigned char *d = dst;
    size_t i = 0;
    for (; n >= 8; n -= 8, d += 8, i++) {
        uint64_t v = atomic_load_explicit((_Atomic uint64_t *)&src[i], memory_order_relaxed);
        memcpy(d, &v, 8);
    }
    if (n) {
        uint64_t v = atomic_load_explicit((_Atomic uint64_t *)&src[i], memory_order_relaxed);
        memcpy(d, &v, n);
    }
}

/* This process's start time, read once per pid (a forked child reads its own). */
static uint64_t self_start_time(void)
{
    static _Atomic int32_t cached_pid;
    static _Atomic uint64_t cached;
    int32_t pid = (int32_t)getpid();
    /* Pairs with the release below: the time is stored before the pid that vouches for it. */
    if (atomic_load_explicit(&cached_pid, memory_order_acquire) == pid)
        return atomic_load_explicit(&cached, memory_order_relaxed);
    uint64_t st = shmq__process_start_time(pid);
    atomic_store_explicit(&cached, st, memory_order_relaxed);
    atomic_store_explicit(&cached_pid, pid, memory_order_release);
    return st;
}

/* Whether the process that owns an entry still runs. start_time 0 = not recorded yet (the
 * owner is between taking the entry and filling it in): the pid alone decides. */
static bool owner_alive(int32_t pid, uint64_t start_time)
{
    if (pid <= 0)
        return false;
    if (start_time == 0)
        return kill(pid, 0) == 0 || errno == EPERM;
    return shmq__pid_alive(pid, start_time) == 1;
}

static int group_name_check(const char *name)
{
    if (shmq_name_check(name) != 0 || strlen(name) > SHMQ_GROUP_NAME_MAX)
        return -EINVAL;
    return 0;
}

/* ---- geometry, creation, validation ------------------------------------------------------ */

static int topic_geometry(const struct shmq_topic_config *cfg, struct shmq__topic_geometry *g)
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
    g->slot_stride = (uint32_t)align_up(sizeof(struct shmq__topic_slot) + align_up(slot_size, 8),
                                        SHMQ__CACHELINE);
    g->max_participants = parts;
    g->max_groups = groups;
    g->max_members = members;
    g->group_timeout_ns =
        cfg->group_timeout_ns ? cfg->group_timeout_ns : SHMQ_TOPIC_DEFAULT_GROUP_TIMEOUT_NS;

    uint64_t off = SHMQ__PAGE;
    g->off_participants = off;
    off += (uint64_t)parts * sizeof(struct shmq__topic_part);
    g->off_groups = off = align_up(off, SHMQ__CACHELINE);
    off += (uint64_t)groups * sizeof(struct shmq__topic_group);
    g->off_members = off = align_up(off, SHMQ__CACHELINE);
    off += (uint64_t)members * sizeof(struct shmq__topic_member);
    g->off_waits = off = align_up(off, SHMQ__CACHELINE);
    off += sizeof(struct shmq__waits);
    g->off_slots = off = align_up(off, SHMQ__PAGE);
    off += (uint64_t)capacity * g->slot_stride;
    g->segment_size = align_up(off, SHMQ__PAGE);
    return 0;
}

static void topic_derive(shmq_topic_t *t)
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
static void topic_init(void *base, const char *name, const struct shmq__topic_geometry *g,
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
    /* A0: pairs with R0 in topic_init (and in the queue's segment_init, same offset). */
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
        !h->max_members || !h->max_participants || topic_geometry(&cfg, g) != 0)
        return -EBADMSG;
    if (h->ring_order != g->ring_order || h->slot_stride != g->slot_stride ||
        h->segment_size != g->segment_size || h->off_participants != g->off_participants ||
        h->off_groups != g->off_groups || h->off_members != g->off_members ||
        h->off_waits != g->off_waits || h->off_slots != g->off_slots || size != g->segment_size)
        return -EBADMSG;
    return 0;
}

/* ---- participants (one per handle) ------------------------------------------------------- */

static void counters_fold(struct shmq__topic_counters *to, struct shmq__topic_counters *from)
{
    /* Relaxed: statistics; the release that frees the entry orders them before its reuse. */
    _Atomic uint64_t *f = &from->published, *d = &to->published;
    for (size_t i = 0; i < sizeof *from / sizeof *f; i++) {
        atomic_fetch_add_explicit(&d[i], atomic_load_explicit(&f[i], memory_order_relaxed),
                                  memory_order_relaxed);
        atomic_store_explicit(&f[i], 0, memory_order_relaxed);
    }
}

static int part_join(shmq_topic_t *t)
{
    int32_t pid = (int32_t)getpid();
    for (uint32_t i = 0; i < t->geo.max_participants; i++) {
        struct shmq__topic_part *p = &t->parts[i];
        uint64_t expect = 0;
        if (atomic_load_explicit(&p->word, memory_order_relaxed) != 0)
            continue;
        /* Acquire: pairs with the release that freed the entry (part_retire, the reaper):
         * the previous owner's counters were folded before. */
        if (!atomic_compare_exchange_strong_explicit(&p->word, &expect,
                                                     shmq__part_word(pid, SHMQ__PART_OPENING),
                                                     memory_order_acquire, memory_order_relaxed))
            continue;
        atomic_store_explicit(&p->start_time, self_start_time(), memory_order_relaxed);
        atomic_store_explicit(&p->opened_ns, shmq__now_real(), memory_order_relaxed);
        atomic_store_explicit(&p->pub_seq, 0, memory_order_relaxed);
        _Atomic uint64_t *c = &p->counters.published;
        for (size_t k = 0; k < sizeof p->counters / sizeof *c; k++)
            atomic_store_explicit(&c[k], 0, memory_order_relaxed);
        /* R6: identity before LIVE. Pairs with A6 in the readers of the table. */
        atomic_store_explicit(&p->word, shmq__part_word(pid, SHMQ__PART_LIVE),
                              memory_order_release);
        t->self = i;
        t->me = p;
        return 0;
    }
    return -EUSERS;
}

static void part_retire(shmq_topic_t *t)
{
    struct shmq__topic_part *p = t->me;
    counters_fold(&t->hdr->retired, &p->counters);
    atomic_store_explicit(&p->pub_seq, 0, memory_order_relaxed);
    /* Release: pairs with the acquire CAS of the next owner in part_join. */
    atomic_store_explicit(&p->word, 0, memory_order_release);
    t->me = NULL;
    t->self = SHMQ__NONE;
}

/*
 * Is a live publisher possibly about to write sequence s? With claiming, one that is taking
 * a sequence right now counts too (it may be taking s); without, only one that has announced
 * s itself (a slot seen WRITING(s) was taken after its writer announced s, R2).
 */
static bool claimant_alive(shmq_topic_t *t, uint64_t s, bool claiming)
{
    for (uint32_t i = 0; i < t->geo.max_participants; i++) {
        struct shmq__topic_part *p = &t->parts[i];
        /* A6: pairs with R6 in part_join. */
        uint64_t w = atomic_load_explicit(&p->word, memory_order_acquire);
        if (shmq__part_state(w) != SHMQ__PART_LIVE)
            continue;
        /* A4: pairs with R4 in publish: a claimant seen done has published its slot. */
        uint64_t ps = atomic_load_explicit(&p->pub_seq, memory_order_acquire);
        if (ps != s + 1 && !(claiming && ps == SHMQ__PUB_CLAIMING))
            continue;
        if (owner_alive(shmq__part_pid(w),
                        atomic_load_explicit(&p->start_time, memory_order_relaxed)))
            return true;
    }
    return false;
}

/* ---- groups and members ------------------------------------------------------------------ */

/* Set bit g in has[] for every group that has a JOINING or LIVE member. */
static void members_scan(shmq_topic_t *t, uint64_t *has, memory_order order)
{
    memset(has, 0, ((t->geo.max_groups + 63) / 64) * sizeof *has);
    for (uint32_t i = 0; i < t->geo.max_members; i++) {
        uint64_t w = atomic_load_explicit(&t->members[i].word, order);
        uint32_t st = shmq__member_state(w), g1 = shmq__member_group1(w);
        if ((st == SHMQ__MEMBER_JOINING || st == SHMQ__MEMBER_LIVE) && g1 >= 1 &&
            g1 <= t->geo.max_groups)
            has[(g1 - 1) / 64] |= UINT64_C(1) << ((g1 - 1) % 64);
    }
}

static inline bool has_bit(const uint64_t *has, uint32_t g)
{
    return (has[g / 64] >> (g % 64)) & 1u;
}

/* S7: a seq_cst look for members of g (see group_resolve and group_join). */
static bool group_has_member(shmq_topic_t *t, uint32_t g)
{
    for (uint32_t i = 0; i < t->geo.max_members; i++) {
        uint64_t w = atomic_load_explicit(&t->members[i].word, memory_order_seq_cst);
        uint32_t st = shmq__member_state(w);
        if ((st == SHMQ__MEMBER_JOINING || st == SHMQ__MEMBER_LIVE) &&
            shmq__member_group1(w) == g + 1)
            return true;
    }
    return false;
}

/* Copy a group's name and pattern out (NUL-terminated) and check the word did not move
 * meanwhile: false when the entry changed or holds nonsense. */
static bool group_identity(shmq_topic_t *t, uint32_t g, uint64_t w, char *name, char *pattern,
                           uint32_t *flags)
{
    struct shmq__topic_group *grp = &t->groups[g];
    uint32_t nl = atomic_load_explicit(&grp->name_len, memory_order_relaxed);
    uint32_t pl = atomic_load_explicit(&grp->pattern_len, memory_order_relaxed);
    *flags = atomic_load_explicit(&grp->flags, memory_order_relaxed);
    if (nl > SHMQ_GROUP_NAME_MAX || pl > SHMQ_SUBJECT_MAX)
        return false;
    words_get(name, grp->name, SHMQ__GROUP_NAME_WORDS * 8);
    name[nl] = 0;
    if (pattern) {
        words_get(pattern, grp->pattern, SHMQ__GROUP_PATTERN_WORDS * 8);
        pattern[pl] = 0;
    }
    /* Pairs with the release that made the entry ACTIVE (R6): a later change shows here. */
    atomic_thread_fence(memory_order_acquire);
    return atomic_load_explicit(&grp->word, memory_order_relaxed) == w;
}

/* Find the in-use, shared group called name. */
static int group_find(shmq_topic_t *t, const char *name, uint32_t *idx, uint64_t *word)
{
    size_t nlen = strlen(name);
    char got[SHMQ__GROUP_NAME_WORDS * 8];
    for (uint32_t g = 0; g < t->geo.max_groups; g++) {
        struct shmq__topic_group *grp = &t->groups[g];
        /* A6: pairs with R6 in group_create. */
        uint64_t w = atomic_load_explicit(&grp->word, memory_order_acquire);
        if (!shmq__group_in_use(w))
            continue;
        if (atomic_load_explicit(&grp->name_len, memory_order_relaxed) != nlen)
            continue;
        uint32_t flags;
        if (!group_identity(t, g, w, got, NULL, &flags) || (flags & SHMQ_GROUP_PRIVATE) ||
            strcmp(got, name) != 0)
            continue;
        *idx = g;
        *word = w;
        return 0;
    }
    return -ENOENT;
}

/*
 * Finish a DELETING group: count its members again and make it ACTIVE if there is one, FREE
 * if not. Anyone may do it (a joiner that found it DELETING, the reaper, the deleter): the
 * CAS from the DELETING word makes only the first decision count. S7: the deleter stored
 * DELETING before counting, a joiner stored its JOINING entry before loading the group word;
 * so either the count sees the joiner or the joiner sees DELETING and resolves it itself.
 * Returns the state the group is in afterwards.
 */
static uint32_t group_resolve(shmq_topic_t *t, uint32_t g, uint64_t w)
{
    struct shmq__topic_group *grp = &t->groups[g];
    uint32_t gen = shmq__group_gen(w);
    uint64_t to = group_has_member(t, g) ? shmq__group_word(0, gen, SHMQ__GROUP_ACTIVE)
                                         : shmq__group_word(0, gen, SHMQ__GROUP_FREE);
    atomic_compare_exchange_strong_explicit(&grp->word, &w, to, memory_order_seq_cst,
                                            memory_order_seq_cst);
    return shmq__group_state(atomic_load_explicit(&grp->word, memory_order_acquire));
}

/* Remove group g if it has no member; ephemeral groups only unless force. Returns 0 when the
 * group is gone, -EBUSY when it has a member (or someone joined meanwhile). */
static int group_try_delete(shmq_topic_t *t, uint32_t g, uint64_t w, bool force)
{
    struct shmq__topic_group *grp = &t->groups[g];
    if (shmq__group_state(w) == SHMQ__GROUP_DELETING)
        return group_resolve(t, g, w) == SHMQ__GROUP_FREE ? 0 : -EBUSY;
    if (shmq__group_state(w) != SHMQ__GROUP_ACTIVE)
        return 0;
    if (!force && (atomic_load_explicit(&grp->flags, memory_order_relaxed) & SHMQ_SUB_DURABLE))
        return -EBUSY;
    if (group_has_member(t, g))
        return -EBUSY;
    uint64_t del = shmq__group_word(0, shmq__group_gen(w), SHMQ__GROUP_DELETING);
    /* S7: DELETING is stored before the members are counted again in group_resolve. */
    if (!atomic_compare_exchange_strong_explicit(&grp->word, &w, del, memory_order_seq_cst,
                                                 memory_order_relaxed))
        return -EBUSY;
    return group_resolve(t, g, del) == SHMQ__GROUP_FREE ? 0 : -EBUSY;
}

/* A member of g has gone: remove g (ephemeral) or note since when it has none (durable). */
static void group_member_gone(shmq_topic_t *t, uint32_t g)
{
    struct shmq__topic_group *grp = &t->groups[g];
    uint64_t w = atomic_load_explicit(&grp->word, memory_order_acquire);
    if (!shmq__group_in_use(w) || group_has_member(t, g))
        return;
    if (atomic_load_explicit(&grp->flags, memory_order_relaxed) & SHMQ_SUB_DURABLE)
        /* Relaxed: a time for the gating decision, which looks at the members first. */
        atomic_store_explicit(&grp->detached_ns, shmq__now_mono(), memory_order_relaxed);
    else
        group_try_delete(t, g, w, false);
    if (is_block(t))
        shmq__wait_notify(&t->waits->not_full); /* the slowest gating group may be gone */
}

/* Fold a member's counters into its group's. */
static void member_fold(shmq_topic_t *t, struct shmq__topic_member *m, uint32_t g1)
{
    _Atomic uint64_t *from[3] = {&m->delivered, &m->skipped, &m->lost};
    if (g1 >= 1 && g1 <= t->geo.max_groups) {
        struct shmq__topic_group *grp = &t->groups[g1 - 1];
        _Atomic uint64_t *to[3] = {&grp->delivered, &grp->skipped, &grp->lost};
        for (int i = 0; i < 3; i++)
            atomic_fetch_add_explicit(to[i], atomic_load_explicit(from[i], memory_order_relaxed),
                                      memory_order_relaxed);
    }
    for (int i = 0; i < 3; i++)
        atomic_store_explicit(from[i], 0, memory_order_relaxed);
}

static int member_take(shmq_topic_t *t, uint32_t *out)
{
    int32_t pid = (int32_t)getpid();
    for (uint32_t i = 0; i < t->geo.max_members; i++) {
        struct shmq__topic_member *m = &t->members[i];
        uint64_t expect = 0;
        if (atomic_load_explicit(&m->word, memory_order_relaxed) != 0)
            continue;
        /* Acquire: pairs with the release that freed it (member_leave, the reaper). */
        if (!atomic_compare_exchange_strong_explicit(
                &m->word, &expect, shmq__member_word(pid, 0, SHMQ__MEMBER_JOINING),
                memory_order_acquire, memory_order_relaxed))
            continue;
        atomic_store_explicit(&m->start_time, self_start_time(), memory_order_relaxed);
        atomic_store_explicit(&m->joined_ns, shmq__now_real(), memory_order_relaxed);
        atomic_store_explicit(&m->part, t->self, memory_order_relaxed);
        atomic_store_explicit(&m->hold, 0, memory_order_relaxed);
        atomic_store_explicit(&m->delivered, 0, memory_order_relaxed);
        atomic_store_explicit(&m->skipped, 0, memory_order_relaxed);
        atomic_store_explicit(&m->lost, 0, memory_order_relaxed);
        *out = i;
        return 0;
    }
    return -EUSERS;
}

/* Leave: fold the counters, free the entry, and let the group know. */
static void member_leave(shmq_topic_t *t, uint32_t mi, uint32_t g)
{
    struct shmq__topic_member *m = &t->members[mi];
    member_fold(t, m, g + 1);
    /* Release: pairs with the acquire CAS of the next owner in member_take. */
    atomic_store_explicit(&m->word, 0, memory_order_release);
    if (g < t->geo.max_groups)
        group_member_gone(t, g);
}

/* A durable group found lapped by its new member: move it to the oldest message still there
 * and count what it missed. */
static void group_catch_up(shmq_sub_t *s)
{
    shmq_topic_t *t = s->t;
    struct shmq__topic_group *grp = &t->groups[s->group];
    uint64_t c = atomic_load_explicit(&grp->cursor, memory_order_relaxed);
    /* A1: pairs with R1 of the claims. */
    uint64_t tl = atomic_load_explicit(&t->hdr->tail, memory_order_acquire);
    if (!seq_after(tl - c, t->geo.capacity))
        return;
    uint64_t to = tl - t->geo.capacity;
    /* R5: pairs with A5 in gate_refresh. */
    if (atomic_compare_exchange_strong_explicit(&grp->cursor, &c, to, memory_order_release,
                                                memory_order_relaxed)) {
        struct shmq__topic_member *m = &t->members[s->member];
        shmq__count(&m->lost, to - c);
        s->pending_lost += to - c;
    }
}

/*
 * Join group g (looked up as word w): the member entry names the group before the group word
 * is looked at again (S7), so a deleter either counts us or we see DELETING and resolve it.
 * -EAGAIN when the group went away meanwhile (look it up again), -EINVAL when its pattern or
 * durability differ.
 */
static int group_join(shmq_topic_t *t, shmq_sub_t *s, uint32_t g, uint64_t w)
{
    struct shmq__topic_group *grp = &t->groups[g];
    struct shmq__topic_member *m = &t->members[s->member];
    int32_t pid = (int32_t)getpid();
    char name[SHMQ__GROUP_NAME_WORDS * 8], pattern[SHMQ__GROUP_PATTERN_WORDS * 8];
    uint32_t flags;
    if (!group_identity(t, g, w, name, pattern, &flags))
        return -EAGAIN;
    if (strcmp(pattern, s->pattern.text) != 0 ||
        (flags & SHMQ_SUB_DURABLE) != (s->flags & SHMQ_SUB_DURABLE))
        return -EINVAL;
    /* S7: the member entry names the group before the group's word is loaded again. */
    atomic_store_explicit(&m->word, shmq__member_word(pid, g + 1, SHMQ__MEMBER_JOINING),
                          memory_order_seq_cst);
    for (;;) {
        uint64_t now = atomic_load_explicit(&grp->word, memory_order_seq_cst);
        if (!shmq__group_in_use(now) || shmq__group_gen(now) != shmq__group_gen(w)) {
            atomic_store_explicit(&m->word, shmq__member_word(pid, 0, SHMQ__MEMBER_JOINING),
                                  memory_order_relaxed);
            return -EAGAIN;
        }
        if (shmq__group_state(now) == SHMQ__GROUP_ACTIVE)
            break;
        group_resolve(t, g, now); /* DELETING: we are a member, so it comes back ACTIVE */
    }
    s->group = g;
    s->flags = flags & (SHMQ_SUB_DURABLE | SHMQ_GROUP_PRIVATE);
    if (flags & SHMQ_SUB_DURABLE) {
        atomic_store_explicit(&grp->detached_ns, 0, memory_order_relaxed);
        group_catch_up(s);
    }
    return 0;
}

/* Is another group (not g) called name being created or in use? S7 (see group_create). */
static bool group_duplicate(shmq_topic_t *t, uint32_t g, const char *name)
{
    char got[SHMQ__GROUP_NAME_WORDS * 8];
    size_t nlen = strlen(name);
    for (uint32_t i = 0; i < t->geo.max_groups; i++) {
        if (i == g)
            continue;
        struct shmq__topic_group *grp = &t->groups[i];
        uint64_t w = atomic_load_explicit(&grp->word, memory_order_seq_cst);
        uint32_t st = shmq__group_state(w);
        if (st == SHMQ__GROUP_FREE)
            continue;
        uint32_t flags = atomic_load_explicit(&grp->flags, memory_order_relaxed);
        if ((flags & SHMQ_GROUP_PRIVATE) ||
            atomic_load_explicit(&grp->name_len, memory_order_relaxed) != nlen)
            continue;
        words_get(got, grp->name, SHMQ__GROUP_NAME_WORDS * 8);
        got[SHMQ_GROUP_NAME_MAX] = 0;
        if (memcmp(got, name, nlen) == 0)
            return true;
    }
    return false;
}

/*
 * Create a group named name (flags: SHMQ_SUB_DURABLE, SHMQ_GROUP_PRIVATE) with s's member as
 * its first member. Two processes may create the same name at once: each writes its entry
 * (CREATING) with the name, then (S7, a seq_cst fence on both sides) looks for another entry
 * with that name; at least one of the two sees the other, and whoever sees one gives up and
 * looks the name up again (-EAGAIN). A new group starts at the tail; under BLOCK the cursor
 * is moved to the tail again once the group is ACTIVE, so that no publisher that missed the
 * new group can have claimed a slot the group still has to read (a publisher's cached gate
 * is never above a tail it has seen).
 */
static int group_create(shmq_topic_t *t, shmq_sub_t *s, const char *name, uint32_t flags)
{
    int32_t pid = (int32_t)getpid();
    struct shmq__topic_member *m = &t->members[s->member];
    size_t nlen = strlen(name);
    for (uint32_t g = 0; g < t->geo.max_groups; g++) {
        struct shmq__topic_group *grp = &t->groups[g];
        uint64_t w = atomic_load_explicit(&grp->word, memory_order_relaxed);
        if (shmq__group_state(w) != SHMQ__GROUP_FREE)
            continue;
        uint32_t gen = shmq__group_gen(w);
        /* seq_cst (and so acquire): after the release that freed the entry. */
        if (!atomic_compare_exchange_strong_explicit(
                &grp->word, &w, shmq__group_word(pid, gen, SHMQ__GROUP_CREATING),
                memory_order_seq_cst, memory_order_relaxed))
            continue;
        char buf[SHMQ__GROUP_PATTERN_WORDS * 8];
        memset(buf, 0, sizeof buf);
        memcpy(buf, name, nlen);
        words_put(grp->name, buf, SHMQ__GROUP_NAME_WORDS * 8);
        memset(buf, 0, sizeof buf);
        memcpy(buf, s->pattern.text, s->pattern.len);
        words_put(grp->pattern, buf, SHMQ__GROUP_PATTERN_WORDS * 8);
        atomic_store_explicit(&grp->name_len, (uint32_t)nlen, memory_order_relaxed);
        atomic_store_explicit(&grp->pattern_len, s->pattern.len, memory_order_relaxed);
        atomic_store_explicit(&grp->flags, flags, memory_order_relaxed);
        atomic_store_explicit(&grp->created_ns, shmq__now_real(), memory_order_relaxed);
        atomic_store_explicit(&grp->detached_ns, 0, memory_order_relaxed);
        atomic_store_explicit(&grp->delivered, 0, memory_order_relaxed);
        atomic_store_explicit(&grp->skipped, 0, memory_order_relaxed);
        atomic_store_explicit(&grp->lost, 0, memory_order_relaxed);
        uint64_t c1 = atomic_load_explicit(&t->hdr->tail, memory_order_relaxed);
        atomic_store_explicit(&grp->cursor, c1, memory_order_relaxed);
        atomic_store_explicit(&m->word, shmq__member_word(pid, g + 1, SHMQ__MEMBER_JOINING),
                              memory_order_relaxed);
        /* S7: our name is stored before we read theirs, and theirs before they read ours. */
        atomic_thread_fence(memory_order_seq_cst);
        if (!(flags & SHMQ_GROUP_PRIVATE) && group_duplicate(t, g, name)) {
            atomic_store_explicit(&m->word, shmq__member_word(pid, 0, SHMQ__MEMBER_JOINING),
                                  memory_order_relaxed);
            /* Release: the entry is free again (nobody joined it: it was never ACTIVE). */
            atomic_store_explicit(&grp->word, shmq__group_word(0, gen, SHMQ__GROUP_FREE),
                                  memory_order_release);
            return -EAGAIN;
        }
        /* R6: identity before ACTIVE. Pairs with A6 in group_find and the other readers. */
        atomic_store_explicit(&grp->word, shmq__group_word(0, gen + 1, SHMQ__GROUP_ACTIVE),
                              memory_order_seq_cst);
        uint64_t c2 = atomic_load_explicit(&t->hdr->tail, memory_order_seq_cst);
        if (seq_after(c2, c1))
            atomic_compare_exchange_strong_explicit(&grp->cursor, &c1, c2, memory_order_release,
                                                    memory_order_relaxed);
        s->group = g;
        s->flags = flags;
        return 0;
    }
    return -EUSERS;
}

/* ---- the reaper ------------------------------------------------------------------------ */

/*
 * Release handles and members whose process is gone, free groups whose creator died while
 * creating them, finish deletions whose deleter died, remove ephemeral groups left without
 * members and date durable ones. Every step is a CAS from the word that was seen, so reapers
 * may run at once; a dead entry is first marked RETIRING with our pid (so its counters are
 * folded once), and a RETIRING entry whose reaper died is freed as it is. Returns how many
 * handles and members were released.
 */
static int topic_reap(shmq_topic_t *t)
{
    if (!t->writable)
        return 0;
    int32_t pid = (int32_t)getpid();
    int released = 0;
    t->last_reap_ns = shmq__now_mono();
    for (uint32_t i = 0; i < t->geo.max_participants; i++) {
        struct shmq__topic_part *p = &t->parts[i];
        uint64_t w = atomic_load_explicit(&p->word, memory_order_acquire); /* A6 */
        uint32_t st = shmq__part_state(w);
        if (w == 0 || i == t->self)
            continue;
        if (st == SHMQ__TPART_RETIRING) {
            if (!owner_alive(shmq__part_pid(w), 0))
                atomic_compare_exchange_strong_explicit(&p->word, &w, 0, memory_order_release,
                                                        memory_order_relaxed);
            continue;
        }
        if (owner_alive(shmq__part_pid(w),
                        st == SHMQ__PART_LIVE
                            ? atomic_load_explicit(&p->start_time, memory_order_relaxed)
                            : 0))
            continue;
        if (!atomic_compare_exchange_strong_explicit(&p->word, &w,
                                                     shmq__part_word(pid, SHMQ__TPART_RETIRING),
                                                     memory_order_acquire, memory_order_relaxed))
            continue;
        counters_fold(&t->hdr->retired, &p->counters);
        atomic_store_explicit(&p->pub_seq, 0, memory_order_relaxed);
        /* Release: pairs with the acquire CAS in part_join. */
        atomic_store_explicit(&p->word, 0, memory_order_release);
        released++;
    }
    for (uint32_t i = 0; i < t->geo.max_members; i++) {
        struct shmq__topic_member *m = &t->members[i];
        uint64_t w = atomic_load_explicit(&m->word, memory_order_acquire);
        uint32_t st = shmq__member_state(w), g1 = shmq__member_group1(w);
        if (w == 0)
            continue;
        if (st == SHMQ__MEMBER_RETIRING) {
            if (!owner_alive(shmq__member_pid(w), 0))
                atomic_compare_exchange_strong_explicit(&m->word, &w, 0, memory_order_release,
                                                        memory_order_relaxed);
            continue;
        }
        if (owner_alive(shmq__member_pid(w),
                        st == SHMQ__MEMBER_LIVE
                            ? atomic_load_explicit(&m->start_time, memory_order_relaxed)
                            : 0))
            continue;
        if (!atomic_compare_exchange_strong_explicit(
                &m->word, &w, shmq__member_word(pid, g1, SHMQ__MEMBER_RETIRING),
                memory_order_acquire, memory_order_relaxed))
            continue;
        member_fold(t, m, g1);
        /* Release: pairs with the acquire CAS in member_take. */
        atomic_store_explicit(&m->word, 0, memory_order_release);
        released++;
    }
    uint64_t has[SHMQ_GROUPS_MAX / 64];
    members_scan(t, has, memory_order_acquire);
    for (uint32_t g = 0; g < t->geo.max_groups; g++) {
        struct shmq__topic_group *grp = &t->groups[g];
        uint64_t w = atomic_load_explicit(&grp->word, memory_order_acquire);
        switch (shmq__group_state(w)) {
        case SHMQ__GROUP_CREATING:
            if (!owner_alive(shmq__group_pid(w), 0))
                atomic_compare_exchange_strong_explicit(
                    &grp->word, &w, shmq__group_word(0, shmq__group_gen(w), SHMQ__GROUP_FREE),
                    memory_order_release, memory_order_relaxed);
            break;
        case SHMQ__GROUP_DELETING:
            group_resolve(t, g, w);
            break;
        case SHMQ__GROUP_ACTIVE:
            if (has_bit(has, g))
                break;
            if (atomic_load_explicit(&grp->flags, memory_order_relaxed) & SHMQ_SUB_DURABLE) {
                int64_t zero = 0;
                atomic_compare_exchange_strong_explicit(&grp->detached_ns, &zero, shmq__now_mono(),
                                                        memory_order_relaxed, memory_order_relaxed);
            } else {
                group_try_delete(t, g, w, false);
            }
            break;
        default:
            break;
        }
    }
    if (released && is_block(t))
        shmq__wait_notify(&t->waits->not_full);
    return released;
}

int shmq_topic_repair(shmq_topic_t *t)
{
    if (!t)
        return -EINVAL;
    if (!t->me)
        return -EPERM;
    return topic_reap(t);
}

/* ---- lifecycle -------------------------------------------------------------------------- */

static int topic_attach(const char *name, int fd, uint32_t flags, shmq_topic_t **out)
{
    bool observe = flags & SHMQ_OPEN_OBSERVE;
    int64_t give_up = shmq__now_mono() + OPEN_WAIT_NS;
    struct shmq__topic_geometry g;
    struct stat st;
    void *base = MAP_FAILED;
    size_t size = 0;
    int err;
    for (;;) {
        if (fstat(fd, &st) != 0) {
            err = -errno;
            break;
        }
        size = (size_t)st.st_size;
        err = -EAGAIN;
        if (size >= SHMQ__PAGE) {
            base =
                mmap(NULL, size, observe ? PROT_READ : PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
            if (base == MAP_FAILED) {
                err = -errno;
                break;
            }
            err = shmq__topic_validate(base, size, &g);
        } else if (size != 0) {
            err = -EBADMSG;
        }
        if (err != -EAGAIN)
            break;
        /* Being created (no size or no magic yet): wait for its creator a little. */
        if (base != MAP_FAILED) {
            munmap(base, size);
            base = MAP_FAILED;
        }
        if (shmq__now_mono() > give_up) {
            err = -EBADMSG;
            break;
        }
        nanosleep(&(struct timespec){.tv_nsec = 1000000}, NULL);
    }
    close(fd);
    if (err) {
        if (base != MAP_FAILED)
            munmap(base, size);
        return err;
    }
    shmq_topic_t *t = calloc(1, sizeof *t);
    if (!t) {
        munmap(base, size);
        return -ENOMEM;
    }
    t->base = base;
    t->size = size;
    t->geo = g;
    t->owner_uid = (uint32_t)st.st_uid;
    t->self = SHMQ__NONE;
    t->writable = !observe;
    snprintf(t->name, sizeof t->name, "%s", name);
    topic_derive(t);
    shmq__wait_process_init();
    if (!observe) {
        err = part_join(t);
        if (err == -EUSERS) {
            /* The table is full: perhaps of the dead. Reap without an entry, try again. */
            topic_reap(t);
            err = part_join(t);
        }
        if (err) {
            munmap(base, size);
            free(t);
            return err;
        }
        topic_reap(t);
    }
    *out = t;
    return 0;
}

int shmq_topic_create(const char *name, const struct shmq_topic_config *cfg, shmq_topic_t **t)
{
    if (!t)
        return -EINVAL;
    struct shmq__topic_geometry g;
    int err = shmq_name_check(name);
    if (err || (err = topic_geometry(cfg, &g)))
        return err;
    uint32_t mode = cfg && cfg->mode ? cfg->mode : SHMQ_DEFAULT_MODE;
    uint32_t numa_flags = cfg ? cfg->numa_flags : 0;
    struct shmq__shm_new shm;
    err = shmq__shm_create(name, g.segment_size, mode, cfg ? cfg->numa : 0, numa_flags, &shm);
    if (err)
        return err;
    topic_init(shm.base, name, &g, mode, shm.node, numa_flags);
    munmap(shm.base, g.segment_size);
    err = topic_attach(name, shm.fd, 0, t);
    if (err)
        shmq_unlink(name);
    return err;
}

int shmq_topic_open_ex(const char *name, uint32_t flags, shmq_topic_t **t)
{
    char path[SHMQ_NAME_MAX + 16];
    if (!t || (flags & ~SHMQ_OPEN_OBSERVE))
        return -EINVAL;
    int err = shmq__shm_path(name, path, sizeof path);
    if (err)
        return err;
    int fd = shm_open(path, ((flags & SHMQ_OPEN_OBSERVE) ? O_RDONLY : O_RDWR) | O_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    return topic_attach(name, fd, flags, t);
}

int shmq_topic_open(const char *name, shmq_topic_t **t)
{
    return shmq_topic_open_ex(name, 0, t);
}

int shmq_topic_close(shmq_topic_t *t)
{
    if (!t)
        return -EINVAL;
    while (t->subs)
        shmq_unsubscribe(t->subs);
    if (t->me)
        part_retire(t);
    if (!t->borrowed)
        munmap(t->base, t->size);
    free(t);
    return 0;
}

int shmq__topic_clone(shmq_topic_t *t, shmq_topic_t **out)
{
    if (!t || !out)
        return -EINVAL;
    shmq_topic_t *c = malloc(sizeof *c);
    if (!c)
        return -ENOMEM;
    *c = *t;
    c->borrowed = true;
    c->subs = NULL;
    c->me = NULL;
    c->self = SHMQ__NONE;
    c->gate = 0;
    if (c->writable) {
        int err = part_join(c);
        if (err) {
            free(c);
            return err;
        }
    }
    *out = c;
    return 0;
}

int shmq_topic_unlink(const char *name)
{
    char path[SHMQ_NAME_MAX + 16];
    int err = shmq__shm_path(name, path, sizeof path);
    if (err)
        return err;
    /* Refuse a queue; anything else under the name (a topic, a corrupt or half-made
     * segment) may go. */
    int fd = shm_open(path, O_RDONLY | O_CLOEXEC, 0);
    if (fd < 0 && errno == ENOENT)
        return -ENOENT;
    if (fd >= 0) {
        unsigned char head[offsetof(struct shmq__header, flags)];
        ssize_t n = pread(fd, head, sizeof head, 0);
        close(fd);
        uint64_t magic;
        uint32_t kind;
        memcpy(&magic, head + offsetof(struct shmq__header, magic), sizeof magic);
        memcpy(&kind, head + offsetof(struct shmq__header, kind), sizeof kind);
        if (n == (ssize_t)sizeof head && magic == SHMQ__MAGIC &&
            (kind == SHMQ__KIND_FIFO || kind == SHMQ__KIND_LIFO))
            return -EMEDIUMTYPE;
    }
    return shm_unlink(path) == 0 ? 0 : -errno;
}

const char *shmq_topic_name(const shmq_topic_t *t)
{
    return t ? t->name : NULL;
}

/* ---- publishing ------------------------------------------------------------------------- */

/* Does group g hold BLOCK publishers back? has: groups with a member (members_scan). */
static bool group_gates(shmq_topic_t *t, uint32_t g, const uint64_t *has, int64_t *now)
{
    if (has_bit(has, g))
        return true;
    struct shmq__topic_group *grp = &t->groups[g];
    if (!(atomic_load_explicit(&grp->flags, memory_order_relaxed) & SHMQ_SUB_DURABLE))
        return false; /* ephemeral without members: being removed */
    if (t->geo.group_timeout_ns == SHMQ_FOREVER)
        return true;
    int64_t since = atomic_load_explicit(&grp->detached_ns, memory_order_relaxed);
    if (since == 0)
        return true; /* its last member is just leaving (or the reaper has yet to date it) */
    if (*now == 0)
        *now = shmq__now_mono();
    /* `since` comes from the segment: any value, so compare without signed overflow. A time
     * in the future has not timed out yet. */
    if (since > *now)
        return true;
    return (uint64_t)*now - (uint64_t)since < (uint64_t)t->geo.group_timeout_ns;
}

/* Look up the slowest gating cursor again (BLOCK): t->gate := min(tail, gating cursors). */
static void gate_refresh(shmq_topic_t *t)
{
    uint64_t has[SHMQ_GROUPS_MAX / 64];
    uint64_t tl = atomic_load_explicit(&t->hdr->tail, memory_order_relaxed);
    members_scan(t, has, memory_order_acquire);
    uint64_t gate = tl;
    int64_t now = 0;
    for (uint32_t g = 0; g < t->geo.max_groups; g++) {
        struct shmq__topic_group *grp = &t->groups[g];
        uint64_t w = atomic_load_explicit(&grp->word, memory_order_acquire); /* A6 */
        if (!shmq__group_in_use(w) || !group_gates(t, g, has, &now))
            continue;
        /* A5: pairs with R5 in the members' cursor CAS: their reads of the slots below the
         * cursor are over before we write them again. */
        uint64_t c = atomic_load_explicit(&grp->cursor, memory_order_acquire);
        if (seq_after(c, tl))
            c = tl; /* moved on after our look at tail (or scribbled: never above it) */
        if (seq_after(gate, c))
            gate = c;
    }
    /* Views held by members (BLOCK): after the cursors, so that a member that moved its
     * cursor past the message it holds is seen holding it (its hold was stored before that
     * move, whose release our acquire load of the cursor has seen). */
    for (uint32_t i = 0; i < t->geo.max_members; i++) {
        struct shmq__topic_member *m = &t->members[i];
        if (shmq__member_state(atomic_load_explicit(&m->word, memory_order_relaxed)) !=
            SHMQ__MEMBER_LIVE)
            continue;
        /* A7: pairs with R7 in hold_release: the holder's reads of the slot are over. */
        uint64_t h = atomic_load_explicit(&m->hold, memory_order_acquire);
        if (h != 0 && !seq_after(h - 1, tl) && seq_after(gate, h - 1))
            gate = h - 1;
    }
    t->gate = gate;
}

/* One non-waiting BLOCK claim: 0 with *s, or -EAGAIN when the ring is full for a gating
 * group. pub_seq is CLAIMING while we may take a sequence, 0 when we give up. */
static int claim_try(shmq_topic_t *t, uint64_t *s)
{
    struct shmq__topic_part *me = t->me;
    const uint64_t cap = t->geo.capacity;
    atomic_store_explicit(&me->pub_seq, SHMQ__PUB_CLAIMING, memory_order_relaxed);
    uint64_t tl = atomic_load_explicit(&t->hdr->tail, memory_order_relaxed);
    for (;;) {
        if (!seq_after(cap, tl - t->gate)) { /* tl - gate >= cap: full as far as we know */
            gate_refresh(t);
            tl = atomic_load_explicit(&t->hdr->tail, memory_order_relaxed);
            if (!seq_after(cap, tl - t->gate)) {
                atomic_store_explicit(&me->pub_seq, 0, memory_order_relaxed);
                return -EAGAIN;
            }
        }
        /* R1: pub_seq = CLAIMING is visible to whoever sees this sequence handed out. */
        if (atomic_compare_exchange_weak_explicit(&t->hdr->tail, &tl, tl + 1, memory_order_release,
                                                  memory_order_relaxed)) {
            *s = tl;
            return 0;
        }
    }
}

static int claim_block(shmq_topic_t *t, int64_t deadline, uint64_t *s)
{
    int r = claim_try(t, s);
    if (SHMQ__LIKELY(r != -EAGAIN))
        return r;
    struct shmq__topic_part *me = t->me;
    shmq__count(&me->counters.full, 1);
    if (deadline == 0)
        return -EAGAIN;
    for (int i = 0; i < SPIN_ATTEMPTS; i++) {
        shmq__wait_spin_pause();
        if ((r = claim_try(t, s)) != -EAGAIN)
            return r;
    }
    /* Sleep in slices: a dead member is only released by a reaper, and a durable group's time
     * runs out by the clock, with nobody to wake us. (A sleep that ends at its deadline
     * returns 0: the clock tells which way it ended.) */
    int64_t slice = shmq__now_mono() + SLICE_NS;
    for (;;) {
        uint32_t key = shmq__wait_prepare(&t->waits->not_full);
        if ((r = claim_try(t, s)) != -EAGAIN)
            return r; /* the word stays armed: at most one needless wake-up later */
        shmq__count(&me->counters.waits, 1);
        int slept = shmq__wait_sleep(&t->waits->not_full, key, slice < deadline ? slice : deadline);
        if ((r = claim_try(t, s)) != -EAGAIN)
            return r;
        if (slept == -EINTR)
            return -EINTR; /* a signal handler ran: like a system call, the wait ends */
        int64_t now = shmq__now_mono();
        if (now >= deadline)
            return -ETIMEDOUT;
        if (now >= slice) {
            slice = now + SLICE_NS;
            topic_reap(t);
            if ((r = claim_try(t, s)) != -EAGAIN)
                return r;
        }
    }
}

/* Take slot s for writing (see the top of the file). False when a later publisher already
 * has it: message s is then lost to every group. */
static bool slot_acquire(shmq_topic_t *t, struct shmq__topic_slot *slot, uint64_t s)
{
    const uint64_t mine = shmq__tslot_word(s, SHMQ__TSLOT_WRITING);
    /* A3: pairs with R3 of the slot's previous publisher. */
    uint64_t w = atomic_load_explicit(&slot->word, memory_order_acquire);
    unsigned spins = 0;
    for (;;) {
        if (w != 0 && !seq_after(s, shmq__tslot_seq(w)))
            return false; /* a later publisher has it (or scribbled: not ours to write) */
        if (w != 0 && shmq__tslot_state(w) == SHMQ__TSLOT_WRITING) {
            /* An older publisher, lapped by a whole ring while it writes: wait for it, or
             * take over if its process is dead. */
            if (++spins < WRITER_SPINS) {
                shmq__wait_spin_pause();
                w = atomic_load_explicit(&slot->word, memory_order_acquire); /* A2 */
                continue;
            }
            spins = 0;
            if (claimant_alive(t, shmq__tslot_seq(w), false)) {
                sched_yield();
                w = atomic_load_explicit(&slot->word, memory_order_acquire); /* A2 */
                continue;
            }
        }
        /* R2 (release half): our pub_seq = s + 1 is visible to whoever sees WRITING(s).
         * Acquire half: pairs with R3 of the previous publisher of the slot. */
        if (atomic_compare_exchange_weak_explicit(&slot->word, &w, mine, memory_order_acq_rel,
                                                  memory_order_acquire))
            return true;
    }
}

/* Write the message into slot s and publish it. */
static void slot_write(shmq_topic_t *t, uint64_t s, const char *subject, size_t slen,
                       const struct shmq_msg *m, size_t meta)
{
    struct shmq__topic_slot *slot = slot_at(t, s);
    if (!slot_acquire(t, slot, s)) {
        shmq__count(&t->me->counters.overtaken, 1);
        return;
    }
    /* F1: WRITING(s) is ordered before the data. Pairs with F2 in readers. */
    atomic_thread_fence(memory_order_release);
    atomic_store_explicit(&slot->len, (uint32_t)m->len, memory_order_relaxed);
    atomic_store_explicit(&slot->subject_len, (uint16_t)slen, memory_order_relaxed);
    atomic_store_explicit(&slot->flags, meta ? SHMQ__TSLOT_META : 0, memory_order_relaxed);
    /* The subject with its NUL, padded to a word. */
    size_t head = shmq__align8(slen + 1);
    char sbuf[SHMQ_SUBJECT_MAX + 1 + 8];
    memset(sbuf + (slen & ~(size_t)7), 0, 16);
    memcpy(sbuf, subject, slen);
    words_put(slot->data, sbuf, head);
    if (m->len)
        words_put(slot->data + head / 8, m->data, m->len);
    if (meta) {
        unsigned char rec[META_MAX];
        struct shmq__meta h = {.timestamp_ns = m->timestamp_ns};
        const char *str[3] = {m->type, m->correlation_id, m->reply_to};
        uint8_t *lens[3] = {&h.type_len, &h.correlation_len, &h.reply_to_len};
        size_t off = sizeof h;
        for (int i = 0; i < 3; i++) {
            size_t l = str[i] ? strnlen(str[i], SHMQ_META_STR_MAX) : 0;
            *lens[i] = (uint8_t)l;
            if (l)
                memcpy(rec + off, str[i], l);
            rec[off + l] = 0;
            off += l + 1;
        }
        memcpy(rec, &h, sizeof h);
        words_put(slot->data + (head + shmq__align8(m->len)) / 8, rec, off);
    }
    /* R3: the message is complete. Pairs with A3 in readers. */
    atomic_store_explicit(&slot->word, shmq__tslot_word(s, SHMQ__TSLOT_PUB), memory_order_release);
}

int shmq_publish_msg(shmq_topic_t *t, const char *subject, const struct shmq_msg *m,
                     int64_t timeout_ns)
{
    if (!t || !m || (m->len && !m->data))
        return -EINVAL;
    if (!t->me)
        return -EPERM;
    size_t slen = subject ? strnlen(subject, SHMQ_SUBJECT_MAX + 1) : 0;
    int err = shmq__subject_check_len(subject, slen);
    if (err)
        return err;
    size_t meta = shmq__meta_size(m);
    if (meta == SIZE_MAX)
        return -EINVAL;
    size_t head = shmq__align8(slen + 1);
    if (m->len > t->geo.slot_size ||
        head + (meta ? shmq__align8(m->len) + meta : m->len) > t->geo.slot_size)
        return -EMSGSIZE;
    int64_t deadline;
    if ((err = shmq__deadline(timeout_ns, &deadline)))
        return err;
    struct shmq__topic_part *me = t->me;
    uint64_t s;
    if (t->geo.policy == SHMQ_TOPIC_OVERWRITE) {
        atomic_store_explicit(&me->pub_seq, SHMQ__PUB_CLAIMING, memory_order_relaxed);
        /* R1: pub_seq = CLAIMING is visible to whoever sees this sequence handed out. */
        s = atomic_fetch_add_explicit(&t->hdr->tail, 1, memory_order_release);
    } else if ((err = claim_block(t, deadline, &s))) {
        return err;
    }
    /* Ordered before the slot's CAS by its release half (R2). */
    atomic_store_explicit(&me->pub_seq, s + 1, memory_order_relaxed);
    slot_write(t, s, subject, slen, m, meta);
    /* R4: done. Pairs with A4 in claimant_alive: our slot is published. */
    atomic_store_explicit(&me->pub_seq, 0, memory_order_release);
    shmq__count(&me->counters.published, 1);
    shmq__wait_notify(&t->waits->not_empty);
    return 0;
}

int shmq_publish(shmq_topic_t *t, const char *subject, const void *data, size_t len,
                 int64_t timeout_ns)
{
    struct shmq_msg m = {.data = (void *)(uintptr_t)data, .len = len};
    return shmq_publish_msg(t, subject, &m, timeout_ns);
}

/* ---- subscribing ------------------------------------------------------------------------ */

/* Release the view this member holds (BLOCK), letting publishers write its slot again. */
static void hold_release(shmq_sub_t *s)
{
    if (!s->holding)
        return;
    shmq_topic_t *t = s->t;
    /* R7: our (and the caller's) reads of the held slot are over. Pairs with A7 in
     * gate_refresh. */
    atomic_store_explicit(&t->members[s->member].hold, 0, memory_order_release);
    s->holding = false;
    shmq__wait_notify(&t->waits->not_full);
}

int shmq_subscribe(shmq_topic_t *t, const char *pattern, const char *group, uint32_t flags,
                   shmq_sub_t **sub)
{
    if (!t || !sub || (flags & ~SHMQ_SUB_DURABLE))
        return -EINVAL;
    if (!t->me)
        return -EPERM;
    if (group ? group_name_check(group) != 0 : (flags & SHMQ_SUB_DURABLE) != 0)
        return -EINVAL; /* a private group is never durable: nobody could come back to it */
    shmq_sub_t *s = calloc(1, sizeof *s);
    if (!s)
        return -ENOMEM;
    int err = shmq__pattern_compile(pattern ? pattern : "#", &s->pattern);
    if (err) {
        free(s);
        return err;
    }
    s->t = t;
    s->flags = flags;
    s->stuck_seq = UINT64_MAX;
    topic_reap(t);
    if ((err = member_take(t, &s->member))) {
        free(s);
        return err;
    }
    int32_t pid = (int32_t)getpid();
    bool reaped = false;
    for (unsigned attempt = 0;; attempt++) {
        if (!group) {
            char name[SHMQ__GROUP_NAME_WORDS * 8];
            snprintf(name, sizeof name, "~%d.%u", (int)pid, s->member);
            err = group_create(t, s, name, SHMQ_GROUP_PRIVATE);
        } else {
            uint32_t g;
            uint64_t w;
            err = group_find(t, group, &g, &w);
            if (err == 0)
                err = group_join(t, s, g, w);
            else
                err = group_create(t, s, group, flags);
        }
        if (err == -EUSERS && !reaped) {
            reaped = true;
            topic_reap(t);
            continue;
        }
        if (err != -EAGAIN)
            break;
        /* A group that stays half-created or half-deleted that long is not a race: a word
         * scribbled into the segment with a live pid says so for ever. Give up, never spin. */
        if (attempt >= SUBSCRIBE_ATTEMPTS) {
            err = -EBUSY;
            break;
        }
        /* Lost a race with another creator or a deleter: look again, after a short pause
         * that differs between processes so that two creators do not meet again. */
        long pause_ns = 1000 + (long)((uint32_t)pid % 997u) * 10;
        nanosleep(&(struct timespec){.tv_nsec = pause_ns << (attempt < 6 ? attempt : 6)}, NULL);
    }
    struct shmq__topic_member *m = &t->members[s->member];
    if (err) {
        /* Release: pairs with the acquire CAS in member_take. */
        atomic_store_explicit(&m->word, 0, memory_order_release);
        free(s);
        return err;
    }
    /* R6: pairs with A6 in the readers of the member table. */
    atomic_store_explicit(&m->word, shmq__member_word(pid, s->group + 1, SHMQ__MEMBER_LIVE),
                          memory_order_release);
    s->next = t->subs;
    t->subs = s;
    *sub = s;
    return 0;
}

int shmq_unsubscribe(shmq_sub_t *s)
{
    if (!s)
        return -EINVAL;
    shmq_topic_t *t = s->t;
    hold_release(s);
    for (shmq_sub_t **pp = &t->subs; *pp; pp = &(*pp)->next)
        if (*pp == s) {
            *pp = s->next;
            break;
        }
    member_leave(t, s->member, s->group);
    free(s);
    return 0;
}

/* ---- reading ---------------------------------------------------------------------------- */

struct next_op {
    void *buf; /* copy: payload destination */
    size_t cap;
    struct shmq_delivery *d; /* copy: may be NULL */
    struct shmq_view *v;     /* view: non-NULL */
    size_t len;              /* out: payload bytes */
};

/* Move the group's cursor from `from` to `to` (passing over what the caller checked). */
static bool cursor_move(shmq_topic_t *t, struct shmq__topic_group *grp, uint64_t *from, uint64_t to)
{
    /* R5: our reads of the slots below `to` are over. Pairs with A5 in gate_refresh. */
    if (!atomic_compare_exchange_strong_explicit(&grp->cursor, from, to, memory_order_release,
                                                 memory_order_relaxed))
        return false;
    if (is_block(t))
        shmq__wait_notify(&t->waits->not_full);
    return true;
}

/*
 * The slot at cursor c has not been published. If tail says c was handed out and that
 * stays so, find out whether its publisher still lives; if none of the live publishers can
 * be writing it, c is a hole: mark it so (CAS from the word seen), and every group passes it.
 */
static void hole_check(shmq_sub_t *s, uint64_t c, bool force)
{
    shmq_topic_t *t = s->t;
    if (s->stuck_seq != c) {
        s->stuck_seq = c;
        s->stuck_polls = 0;
        s->stuck_since_ns = 0;
    }
    if (!force && ++s->stuck_polls % HOLE_POLLS != 0)
        return;
    /* A1: pairs with R1: the claimant's pub_seq is visible if c was handed out. */
    uint64_t tl = atomic_load_explicit(&t->hdr->tail, memory_order_acquire);
    if (!seq_after(tl, c)) {
        s->stuck_since_ns = 0; /* not handed out: the ring is just empty */
        return;
    }
    int64_t now = shmq__now_mono();
    if (s->stuck_since_ns == 0 || now - s->stuck_since_ns < HOLE_NS) {
        if (s->stuck_since_ns == 0)
            s->stuck_since_ns = now;
        return;
    }
    s->stuck_since_ns = now;
    struct shmq__topic_slot *slot = slot_at(t, c);
    uint64_t w = atomic_load_explicit(&slot->word, memory_order_acquire); /* A2 */
    bool writing = w != 0 && shmq__tslot_state(w) == SHMQ__TSLOT_WRITING && shmq__tslot_seq(w) == c;
    if (w != 0 && !seq_after(c, shmq__tslot_seq(w)) && !writing)
        return; /* published, a hole already, or lapped: the reader will see */
    if (claimant_alive(t, c, !writing))
        return;
    if (atomic_compare_exchange_strong_explicit(&slot->word, &w,
                                                shmq__tslot_word(c, SHMQ__TSLOT_HOLE),
                                                memory_order_acq_rel, memory_order_relaxed))
        shmq__count(&t->me->counters.holes, 1);
}

/* Read the metadata record at data byte offset off of a slot into rec; NULL strings and 0
 * timestamp when absent. -EBADMSG when it does not parse (torn or scribbled). */
static int meta_parse(const struct shmq__topic_slot *slot, size_t off, size_t limit,
                      unsigned char *rec, struct shmq__meta *h, size_t str_off[3])
{
    if (off + sizeof *h > limit)
        return -EBADMSG;
    size_t n = limit - off < META_MAX ? limit - off : META_MAX;
    words_get(rec, slot->data + off / 8, n);
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

/*
 * One non-waiting attempt: the payload length, -EAGAIN (nothing ready), -EMSGSIZE, or
 * -EBADMSG. Passes over non-matching messages and holes, jumps over what was overwritten.
 */
static int next_attempt(shmq_sub_t *s, struct next_op *op)
{
    shmq_topic_t *t = s->t;
    struct shmq__topic_group *grp = &t->groups[s->group];
    struct shmq__topic_member *me = &t->members[s->member];
    const size_t limit = t->geo.slot_size;
    char subj[SHMQ_SUBJECT_MAX + 1 + 8];
retry:;
    /* Relaxed: the CAS that takes a message checks the cursor again. */
    uint64_t start = atomic_load_explicit(&grp->cursor, memory_order_relaxed);
    uint64_t c = start, passed = 0;
    for (;;) {
        struct shmq__topic_slot *slot = slot_at(t, c);
        /* A3: pairs with R3 in slot_write: the message is visible. */
        uint64_t w = atomic_load_explicit(&slot->word, memory_order_acquire);
        if (w == shmq__tslot_word(c, SHMQ__TSLOT_PUB)) {
            size_t len = atomic_load_explicit(&slot->len, memory_order_relaxed);
            size_t sl = atomic_load_explicit(&slot->subject_len, memory_order_relaxed);
            unsigned fl = atomic_load_explicit(&slot->flags, memory_order_relaxed);
            size_t head = shmq__align8(sl + 1);
            bool sane = sl <= SHMQ_SUBJECT_MAX && (fl & ~SHMQ__TSLOT_META) == 0 && len <= limit &&
                        head + ((fl & SHMQ__TSLOT_META) ? shmq__align8(len) : len) <= limit;
            if (sane)
                words_get(subj, slot->data, sl);
            bool match = sane && shmq__pattern_match(&s->pattern, subj, sl);
            if (!match || (!op->v && len > op->cap)) {
                /* F2: pairs with F1: what we read is message c only if the word held. */
                atomic_thread_fence(memory_order_acquire);
                if (atomic_load_explicit(&slot->word, memory_order_relaxed) != w)
                    goto retry; /* overwritten meanwhile: we have been lapped */
                if (!sane)
                    return -EBADMSG;
                if (match) { /* the buffer is too small: the message stays the group's next */
                    if (c != start && cursor_move(t, grp, &start, c))
                        shmq__count(&me->skipped, passed);
                    op->len = len;
                    if (op->d)
                        op->d->len = len;
                    return -EMSGSIZE;
                }
                passed++;
                c++;
                if (passed >= SCAN_AHEAD) {
                    if (cursor_move(t, grp, &start, c))
                        shmq__count(&me->skipped, passed);
                    goto retry;
                }
                continue;
            }
            /* It matches: copy (or point at) the rest, then check the word held. */
            size_t dpos = head; /* data byte offset of the payload */
            struct shmq__meta mh = {0};
            size_t str_off[3] = {0, 0, 0};
            unsigned char rec[META_MAX];
            int merr = 0;
            if (!op->v && len)
                words_get(op->buf, slot->data + dpos / 8, len);
            if (fl & SHMQ__TSLOT_META)
                merr = meta_parse(slot, dpos + shmq__align8(len), limit, rec, &mh, str_off);
            atomic_thread_fence(memory_order_acquire); /* F2: pairs with F1 */
            if (atomic_load_explicit(&slot->word, memory_order_relaxed) != w)
                goto retry;
            if (merr)
                return merr;
            /* A view in BLOCK holds its slot: announce it before the cursor moves past it. */
            bool hold = op->v && is_block(t);
            if (hold)
                atomic_store_explicit(&me->hold, c + 1, memory_order_relaxed);
            /* Take it: the CAS succeeds only if no other member moved the cursor. Its release
             * (R5) also orders the hold before the move. */
            if (!cursor_move(t, grp, &start, c + 1)) {
                if (hold)
                    atomic_store_explicit(&me->hold, 0, memory_order_relaxed);
                goto retry;
            }
            s->holding = hold;
            shmq__count(&me->delivered, 1);
            if (passed)
                shmq__count(&me->skipped, passed);
            op->len = len;
            uint64_t lost = s->pending_lost;
            s->pending_lost = 0;
            const char *strs[3] = {NULL, NULL, NULL};
            if (op->v) {
                struct shmq_view *v = op->v;
                const char *base = (const char *)slot->data;
                v->subject = base;
                v->subject_len = sl;
                v->data = base + dpos;
                v->len = len;
                if (fl & SHMQ__TSLOT_META) {
                    uint8_t lens[3] = {mh.type_len, mh.correlation_len, mh.reply_to_len};
                    for (int i = 0; i < 3; i++)
                        strs[i] = lens[i] ? base + dpos + shmq__align8(len) + str_off[i] : NULL;
                }
                v->type = strs[0];
                v->correlation_id = strs[1];
                v->reply_to = strs[2];
                v->timestamp_ns = mh.timestamp_ns;
                v->seq = c;
                v->lost = lost;
                v->priv[0] = c;
                v->priv[1] = w;
                return 0;
            }
            struct shmq_delivery *d = op->d;
            if (d) {
                d->seq = c;
                d->lost = lost;
                d->len = len;
                d->timestamp_ns = mh.timestamp_ns;
                d->subject_len = (uint32_t)sl;
                memcpy(d->subject, subj, sl);
                d->subject[sl] = 0;
                d->meta = 0;
                char *dst[3] = {d->type, d->correlation_id, d->reply_to};
                uint8_t lens[3] = {mh.type_len, mh.correlation_len, mh.reply_to_len};
                for (int i = 0; i < 3; i++) {
                    dst[i][0] = 0;
                    if ((fl & SHMQ__TSLOT_META) && lens[i]) {
                        memcpy(dst[i], rec + str_off[i], (size_t)lens[i] + 1);
                        d->meta |= 1u << i; /* SHMQ_HAS_TYPE, _CORRELATION_ID, _REPLY_TO */
                    }
                }
            }
            return (int)len;
        }
        if (w == shmq__tslot_word(c, SHMQ__TSLOT_HOLE)) {
            passed++;
            c++;
            continue;
        }
        if (w != 0 && seq_after(shmq__tslot_seq(w), c)) {
            /* Lapped: message c is gone. Resume at the oldest sequence that can still be in
             * the ring. A1: pairs with R1 (tail is past the sequence the slot holds now). */
            uint64_t tl = atomic_load_explicit(&t->hdr->tail, memory_order_acquire);
            uint64_t to = tl - t->geo.capacity;
            if (!seq_after(to, c))
                return -EBADMSG; /* a slot ahead of the tail: scribbled */
            if (cursor_move(t, grp, &start, to)) {
                shmq__count(&me->lost, to - c);
                if (passed)
                    shmq__count(&me->skipped, passed);
                s->pending_lost += to - c;
            }
            goto retry;
        }
        /* Not published yet. */
        if (c != start && cursor_move(t, grp, &start, c))
            shmq__count(&me->skipped, passed);
        hole_check(s, c, false);
        return -EAGAIN;
    }
}

static int next_wait(shmq_sub_t *s, struct next_op *op, int64_t timeout_ns)
{
    int64_t deadline;
    int r = shmq__deadline(timeout_ns, &deadline);
    if (r)
        return r;
    hold_release(s); /* the previous view is over */
    if ((r = next_attempt(s, op)) != -EAGAIN)
        return r;
    if (deadline == 0)
        return -EAGAIN;
    shmq_topic_t *t = s->t;
    for (int i = 0; i < SPIN_ATTEMPTS; i++) {
        shmq__wait_spin_pause();
        if ((r = next_attempt(s, op)) != -EAGAIN)
            return r;
    }
    int64_t slice = shmq__now_mono() + SLICE_NS; /* the next look for holes and the dead */
    for (;;) {
        uint32_t key = shmq__wait_prepare(&t->waits->not_empty);
        if ((r = next_attempt(s, op)) != -EAGAIN)
            return r; /* the word stays armed: at most one needless wake-up later */
        shmq__count(&t->me->counters.waits, 1);
        int slept =
            shmq__wait_sleep(&t->waits->not_empty, key, slice < deadline ? slice : deadline);
        if ((r = next_attempt(s, op)) != -EAGAIN)
            return r;
        if (slept == -EINTR)
            return -EINTR; /* a signal handler ran: like a system call, the wait ends */
        int64_t now = shmq__now_mono();
        if (now >= deadline)
            return -ETIMEDOUT;
        if (now >= slice) {
            slice = now + SLICE_NS;
            /* Nothing for a whole slice: look for holes and for the dead. */
            uint64_t c = atomic_load_explicit(&t->groups[s->group].cursor, memory_order_relaxed);
            hole_check(s, c, true);
            if (now - t->last_reap_ns > SLICE_NS)
                topic_reap(t);
        }
    }
}

ssize_t shmq_next(shmq_sub_t *sub, void *buf, size_t cap, struct shmq_delivery *d,
                  int64_t timeout_ns)
{
    if (!sub || (cap && !buf))
        return -EINVAL;
    struct next_op op = {.buf = buf, .cap = cap, .d = d};
    return next_wait(sub, &op, timeout_ns);
}

int shmq_next_view(shmq_sub_t *sub, struct shmq_view *v, int64_t timeout_ns)
{
    if (!sub || !v)
        return -EINVAL;
    struct next_op op = {.v = v};
    int r = next_wait(sub, &op, timeout_ns);
    return r < 0 ? r : 0;
}

int shmq_view_check(const shmq_sub_t *sub, const struct shmq_view *v)
{
    if (!sub || !v)
        return -EINVAL;
    struct shmq__topic_slot *slot = slot_at(sub->t, v->priv[0]);
    /* F2: the caller's reads of the slot come before the word is loaded again. Pairs with F1
     * of a publisher that overwrote the slot. */
    atomic_thread_fence(memory_order_acquire);
    return atomic_load_explicit(&slot->word, memory_order_relaxed) == v->priv[1] ? 0 : -ESTALE;
}

/* ---- statistics -------------------------------------------------------------------------- */

/* Fill out with group g's view; false when the entry is not (or no longer) a group. */
static bool group_info(shmq_topic_t *t, uint32_t g, const uint64_t *has, int64_t *now,
                       struct shmq_group_info *out)
{
    struct shmq__topic_group *grp = &t->groups[g];
    for (int attempt = 0; attempt < 4; attempt++) {
        uint64_t w = atomic_load_explicit(&grp->word, memory_order_acquire); /* A6 */
        if (!shmq__group_in_use(w))
            return false;
        memset(out, 0, sizeof *out);
        uint32_t flags;
        char name[SHMQ__GROUP_NAME_WORDS * 8], pattern[SHMQ__GROUP_PATTERN_WORDS * 8];
        if (!group_identity(t, g, w, name, pattern, &flags))
            continue;
        memcpy(out->name, name, sizeof out->name);
        out->name[SHMQ_GROUP_NAME_MAX] = 0;
        memcpy(out->pattern, pattern, sizeof out->pattern);
        out->flags = flags & (SHMQ_SUB_DURABLE | SHMQ_GROUP_PRIVATE);
        out->created_ns = atomic_load_explicit(&grp->created_ns, memory_order_relaxed);
        out->delivered = atomic_load_explicit(&grp->delivered, memory_order_relaxed);
        out->skipped = atomic_load_explicit(&grp->skipped, memory_order_relaxed);
        out->lost = atomic_load_explicit(&grp->lost, memory_order_relaxed);
        for (uint32_t i = 0; i < t->geo.max_members; i++) {
            struct shmq__topic_member *m = &t->members[i];
            uint64_t mw = atomic_load_explicit(&m->word, memory_order_acquire);
            uint32_t st = shmq__member_state(mw);
            if ((st != SHMQ__MEMBER_JOINING && st != SHMQ__MEMBER_LIVE) ||
                shmq__member_group1(mw) != g + 1)
                continue;
            out->members++;
            out->delivered += atomic_load_explicit(&m->delivered, memory_order_relaxed);
            out->skipped += atomic_load_explicit(&m->skipped, memory_order_relaxed);
            out->lost += atomic_load_explicit(&m->lost, memory_order_relaxed);
        }
        uint64_t tl = atomic_load_explicit(&t->hdr->tail, memory_order_acquire);
        out->cursor = atomic_load_explicit(&grp->cursor, memory_order_relaxed);
        out->lag = seq_after(tl, out->cursor) ? tl - out->cursor : 0;
        out->gating = is_block(t) && group_gates(t, g, has, now);
        int64_t since = atomic_load_explicit(&grp->detached_ns, memory_order_relaxed);
        if (out->members == 0 && since != 0) {
            if (*now == 0)
                *now = shmq__now_mono();
            /* from the segment: any value; a time in the future is "just now" */
            out->idle_ns = since > *now ? 0 : (int64_t)((uint64_t)*now - (uint64_t)since);
        }
        return true;
    }
    return false;
}

int shmq_topic_groups(shmq_topic_t *t, struct shmq_group_info *out, unsigned max)
{
    if (!t || (max && !out))
        return -EINVAL;
    uint64_t has[SHMQ_GROUPS_MAX / 64];
    members_scan(t, has, memory_order_acquire);
    int64_t now = 0;
    unsigned n = 0;
    for (uint32_t g = 0; g < t->geo.max_groups; g++) {
        struct shmq_group_info info;
        if (!group_info(t, g, has, &now, &info))
            continue;
        if (n < max)
            out[n] = info;
        n++;
    }
    return (int)n;
}

int shmq_sub_stat(const shmq_sub_t *sub, struct shmq_group_info *out)
{
    if (!sub || !out)
        return -EINVAL;
    uint64_t has[SHMQ_GROUPS_MAX / 64];
    members_scan(sub->t, has, memory_order_acquire);
    int64_t now = 0;
    return group_info(sub->t, sub->group, has, &now, out) ? 0 : -EBADMSG;
}

int shmq_topic_group_delete(shmq_topic_t *t, const char *group)
{
    if (!t || !group || group_name_check(group) != 0)
        return -EINVAL;
    if (!t->me)
        return -EPERM;
    topic_reap(t);
    uint32_t g;
    uint64_t w;
    int err = group_find(t, group, &g, &w);
    if (err)
        return err;
    return group_try_delete(t, g, w, true);
}

int shmq_topic_stat(shmq_topic_t *t, struct shmq_topic_stat *st)
{
    if (!t || !st)
        return -EINVAL;
    if (t->me)
        topic_reap(t);
    const struct shmq__topic_header *h = t->hdr;
    memset(st, 0, sizeof *st);
    st->policy = (enum shmq_topic_policy)t->geo.policy;
    st->capacity = t->geo.capacity;
    st->slot_size = t->geo.slot_size;
    st->mode = h->mode & 0777u;
    st->max_groups = t->geo.max_groups;
    st->max_members = t->geo.max_members;
    st->max_participants = t->geo.max_participants;
    st->creator_pid = h->creator_pid;
    st->created_ns = h->created_ns;
    st->group_timeout_ns = t->geo.group_timeout_ns;
    st->numa_requested = h->numa_node;
    st->owner_uid = t->owner_uid;
    st->segment_bytes = t->geo.segment_size;
    st->published = atomic_load_explicit(&t->hdr->tail, memory_order_relaxed);
    struct shmq__topic_counters *r = &t->hdr->retired;
    st->full = atomic_load_explicit(&r->full, memory_order_relaxed);
    st->waits = atomic_load_explicit(&r->waits, memory_order_relaxed);
    st->overtaken = atomic_load_explicit(&r->overtaken, memory_order_relaxed);
    st->holes = atomic_load_explicit(&r->holes, memory_order_relaxed);
    for (uint32_t i = 0; i < t->geo.max_participants; i++) {
        struct shmq__topic_part *p = &t->parts[i];
        uint64_t w = atomic_load_explicit(&p->word, memory_order_acquire); /* A6 */
        uint32_t s = shmq__part_state(w);
        if (s != SHMQ__PART_LIVE && s != SHMQ__PART_OPENING)
            continue;
        st->participants++;
        if (!owner_alive(shmq__part_pid(w),
                         s == SHMQ__PART_LIVE
                             ? atomic_load_explicit(&p->start_time, memory_order_relaxed)
                             : 0))
            st->dead++;
        st->full += atomic_load_explicit(&p->counters.full, memory_order_relaxed);
        st->waits += atomic_load_explicit(&p->counters.waits, memory_order_relaxed);
        st->overtaken += atomic_load_explicit(&p->counters.overtaken, memory_order_relaxed);
        st->holes += atomic_load_explicit(&p->counters.holes, memory_order_relaxed);
    }
    for (uint32_t i = 0; i < t->geo.max_members; i++) {
        struct shmq__topic_member *m = &t->members[i];
        uint64_t w = atomic_load_explicit(&m->word, memory_order_acquire);
        uint32_t s = shmq__member_state(w);
        if (s != SHMQ__MEMBER_JOINING && s != SHMQ__MEMBER_LIVE)
            continue;
        st->members++;
        if (!owner_alive(shmq__member_pid(w),
                         s == SHMQ__MEMBER_LIVE
                             ? atomic_load_explicit(&m->start_time, memory_order_relaxed)
                             : 0))
            st->dead++;
    }
    for (uint32_t g = 0; g < t->geo.max_groups; g++)
        if (shmq__group_in_use(atomic_load_explicit(&t->groups[g].word, memory_order_relaxed)))
            st->groups++;
    return 0;
}

/* ---- invariants ------------------------------------------------------------------------- */

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            if (why && why_cap)                                                                    \
                snprintf(why, why_cap, __VA_ARGS__);                                               \
            return -EBADMSG;                                                                       \
        }                                                                                          \
    } while (0)

int shmq_topic_check(shmq_topic_t *t, char *why, size_t cap)
{
    return shmq__topic_check(t, SHMQ__CHECK_QUIESCENT, why, cap);
}

int shmq__topic_check(shmq_topic_t *t, uint32_t flags, char *why, size_t why_cap)
{
    if (!t)
        return -EINVAL;
    bool quiet = flags & SHMQ__CHECK_QUIESCENT;
    struct shmq__topic_geometry g;
    /* T1 */
    int err = shmq__topic_validate(t->base, t->size, &g);
    CHECK(err == 0, "T1: header does not validate (%d)", err);
    CHECK(memcmp(&g, &t->geo, sizeof g) == 0, "T1: geometry changed since open");
    const uint64_t cap = t->geo.capacity;
    uint64_t tl = atomic_load_explicit(&t->hdr->tail, memory_order_acquire);
    /* T2, T3 */
    for (uint64_t i = 0; i < cap; i++) {
        struct shmq__topic_slot *slot =
            (struct shmq__topic_slot *)(t->slots + i * t->geo.slot_stride);
        uint64_t w = atomic_load_explicit(&slot->word, memory_order_acquire);
        if (w == 0)
            continue;
        uint64_t s = shmq__tslot_seq(w);
        uint32_t st = shmq__tslot_state(w);
        CHECK(seq_after(tl, s), "T2: slot %llu holds sequence %llu, tail is %llu",
              (unsigned long long)i, (unsigned long long)s, (unsigned long long)tl);
        CHECK((s & (cap - 1)) == i, "T2: slot %llu holds sequence %llu", (unsigned long long)i,
              (unsigned long long)s);
        CHECK(st <= SHMQ__TSLOT_HOLE, "T2: slot %llu in state %u", (unsigned long long)i, st);
        CHECK(!quiet || st != SHMQ__TSLOT_WRITING, "T2: slot %llu still WRITING sequence %llu",
              (unsigned long long)i, (unsigned long long)s);
        if (st != SHMQ__TSLOT_PUB || !quiet)
            continue;
        size_t len = atomic_load_explicit(&slot->len, memory_order_relaxed);
        size_t sl = atomic_load_explicit(&slot->subject_len, memory_order_relaxed);
        unsigned fl = atomic_load_explicit(&slot->flags, memory_order_relaxed);
        size_t head = shmq__align8(sl + 1);
        CHECK(sl <= SHMQ_SUBJECT_MAX && (fl & ~SHMQ__TSLOT_META) == 0 &&
                  head + ((fl & SHMQ__TSLOT_META) ? shmq__align8(len) : len) <= t->geo.slot_size,
              "T3: slot %llu: subject %zu, payload %zu, flags %#x do not fit",
              (unsigned long long)i, sl, len, fl);
        char subj[SHMQ_SUBJECT_MAX + 1 + 8];
        words_get(subj, slot->data, head);
        CHECK(subj[sl] == 0 && shmq__subject_check_len(subj, sl) == 0,
              "T3: slot %llu: invalid subject", (unsigned long long)i);
        if (fl & SHMQ__TSLOT_META) {
            unsigned char rec[META_MAX];
            struct shmq__meta mh;
            size_t so[3];
            CHECK(meta_parse(slot, head + shmq__align8(len), t->geo.slot_size, rec, &mh, so) == 0,
                  "T3: slot %llu: metadata does not parse", (unsigned long long)i);
        }
    }
    /* T4, T5 */
    uint64_t has[SHMQ_GROUPS_MAX / 64];
    members_scan(t, has, memory_order_acquire);
    for (uint32_t i = 0; i < t->geo.max_groups; i++) {
        struct shmq__topic_group *grp = &t->groups[i];
        uint64_t w = atomic_load_explicit(&grp->word, memory_order_acquire);
        uint32_t st = shmq__group_state(w);
        if (st == SHMQ__GROUP_FREE)
            continue;
        CHECK(!quiet || st == SHMQ__GROUP_ACTIVE, "T4: group %u in state %u", i, st);
        if (!shmq__group_in_use(w))
            continue;
        char name[SHMQ__GROUP_NAME_WORDS * 8], pattern[SHMQ__GROUP_PATTERN_WORDS * 8];
        uint32_t fl;
        CHECK(group_identity(t, i, w, name, pattern, &fl), "T4: group %u identity unreadable", i);
        CHECK((fl & ~(SHMQ_SUB_DURABLE | SHMQ_GROUP_PRIVATE)) == 0, "T4: group %u flags %#x", i,
              fl);
        CHECK((fl & SHMQ_GROUP_PRIVATE) ? name[0] == '~' : group_name_check(name) == 0,
              "T4: group %u has an invalid name", i);
        CHECK(shmq_pattern_check(pattern) == 0, "T4: group %u has an invalid pattern", i);
        uint64_t c = atomic_load_explicit(&grp->cursor, memory_order_relaxed);
        CHECK(!seq_after(c, tl), "T4: group %s cursor %llu beyond tail %llu", name,
              (unsigned long long)c, (unsigned long long)tl);
        CHECK(!quiet || (fl & SHMQ_SUB_DURABLE) || has_bit(has, i),
              "T4: ephemeral group %s has no member", name);
        CHECK(!quiet || !is_block(t) || !has_bit(has, i) || tl - c <= cap,
              "T5: group %s is %llu behind in a ring of %llu", name, (unsigned long long)(tl - c),
              (unsigned long long)cap);
    }
    /* T6 */
    for (uint32_t i = 0; i < t->geo.max_members; i++) {
        uint64_t w = atomic_load_explicit(&t->members[i].word, memory_order_acquire);
        uint32_t st = shmq__member_state(w), g1 = shmq__member_group1(w);
        if (st != SHMQ__MEMBER_LIVE && !(st == SHMQ__MEMBER_JOINING && g1 != 0))
            continue;
        CHECK(g1 >= 1 && g1 <= t->geo.max_groups, "T6: member %u names group %u", i, g1);
        uint64_t gw = atomic_load_explicit(&t->groups[g1 - 1].word, memory_order_acquire);
        CHECK(quiet ? shmq__group_state(gw) == SHMQ__GROUP_ACTIVE
                    : shmq__group_state(gw) != SHMQ__GROUP_FREE || st == SHMQ__MEMBER_JOINING,
              "T6: member %u in group %u whose state is %u", i, g1 - 1, shmq__group_state(gw));
        /* T8 */
        uint64_t h = atomic_load_explicit(&t->members[i].hold, memory_order_relaxed);
        uint64_t c = atomic_load_explicit(&t->groups[g1 - 1].cursor, memory_order_relaxed);
        CHECK(h == 0 || (is_block(t) && st == SHMQ__MEMBER_LIVE && !seq_after(h, c)),
              "T8: member %u holds %llu, its group's cursor is %llu", i, (unsigned long long)h,
              (unsigned long long)c);
    }
    /* T7 */
    for (uint32_t i = 0; quiet && i < t->geo.max_participants; i++) {
        uint64_t w = atomic_load_explicit(&t->parts[i].word, memory_order_acquire);
        if (shmq__part_state(w) != SHMQ__PART_LIVE)
            continue;
        uint64_t ps = atomic_load_explicit(&t->parts[i].pub_seq, memory_order_relaxed);
        CHECK(ps == 0, "T7: participant %u inside a publish (pub_seq %llu)", i,
              (unsigned long long)ps);
    }
    return 0;
}
