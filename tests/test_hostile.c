/*
 * Hostile conditions, each met with an error code and never with a crash or a hang:
 *
 *   - a rogue process scribbling on a live segment (rings, slot headers, the participant
 *     table, the header) while producers, consumers and an inspector work on it: every one of
 *     them must get results within the contract or error codes, never SIGSEGV or SIGBUS and
 *     never an endless loop (each runs under an alarm; the test fails on a signal death or a
 *     hang); the same on topics (BLOCK and OVERWRITE) with publishers, group members, a
 *     private subscriber and an inspector;
 *   - /dev/shm full (a private 1 MiB tmpfs, as root): -ENOSPC at create in every shape, for
 *     lack of blocks or of inodes, with nothing left behind (not a byte of the filesystem);
 *     a dead-letter queue that cannot be created drops and counts; the CLI says so;
 *     (tests/test_numa.c checks the same -ENOSPC with a NUMA binding in place: not repeated)
 *   - a participant table full of live processes: -EUSERS, and the CLI says so;
 *   - names too long or with bad characters: -EINVAL, and the CLI says so (the library side
 *     is in tests/test_segment.c).
 *
 * Internal: the rogue reads the geometry to aim its writes. SHMQ_HOSTILE_SEED=N replays a
 * scribbling run; SHMQ_STRESS_SCALE lengthens it. The CLI checks need the tool
 * (../tools/shmq next to this test, or SHMQ_CLI=PATH) and are skipped without it.
 */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include "test_util.h"

#include "internal.h"
#include "scq.h"
#include "slot.h"
#include "topic.h"

#define SECOND (1000 * MS)
/* A worker still running this long after its end is stuck. The longest a call may wait by
 * design on a scribbled queue is about 4 s (a reaper lease forged as fresh and live, two grace
 * periods that a forged "inside a step" participant stalls); ctest's 60 s bound the rest. */
#define HANG_SECONDS 12

/* ---- a small deterministic generator, so that a failing run can be replayed ---- */

static uint64_t rnd_state;

static uint64_t rnd(void)
{
    /* xorshift64* */
    rnd_state ^= rnd_state >> 12;
    rnd_state ^= rnd_state << 25;
    rnd_state ^= rnd_state >> 27;
    return rnd_state * UINT64_C(2685821657736338717);
}

static uint64_t rnd_below(uint64_t n)
{
    return n ? rnd() % n : 0;
}

static void rnd_seed(uint64_t seed)
{
    rnd_state = seed ? seed : 1;
    for (int i = 0; i < 4; i++)
        rnd();
}

/* ---- the CLI, run as a child with its stderr captured ---- */

static char cli_path[PATH_MAX];

/* The tool built next to this test (build/tests/test_hostile -> build/tools/shmq). */
static bool cli_find(void)
{
    const char *env = getenv("SHMQ_CLI");
    if (env) {
        snprintf(cli_path, sizeof cli_path, "%s", env);
        return access(cli_path, X_OK) == 0;
    }
    char self[PATH_MAX + 16];
    ssize_t n = readlink("/proc/self/exe", self, PATH_MAX - 1);
    if (n <= 0)
        return false;
    self[n] = 0;
    char *slash = strrchr(self, '/');
    if (!slash)
        return false;
    strcpy(slash, "/../tools/shmq");
    if ((size_t)(slash - self) + sizeof "/../tools/shmq" > sizeof cli_path)
        return false;
    memcpy(cli_path, self, (size_t)(slash - self) + sizeof "/../tools/shmq");
    return access(cli_path, X_OK) == 0;
}

/* Run the tool with argv (argv[0] is ignored); returns its exit code, or 128 + a signal.
 * Its stderr goes to err (NUL-terminated, truncated to cap). */
static int cli_run(char *const argv[], char *err, size_t cap)
{
    int fds[2];
    if (pipe(fds) != 0) /* (also called from children: no cmocka assertions here) */
        return -1;
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    if (pid == 0) {
        int null = open("/dev/null", O_RDWR);
        dup2(null, 0);
        dup2(null, 1);
        dup2(fds[1], 2);
        close(fds[0]);
        execv(cli_path, argv);
        _exit(127);
    }
    close(fds[1]);
    /* Read to the end, keeping what fits: a child never blocks on a full pipe. */
    size_t len = 0;
    char rest[256];
    for (;;) {
        bool room = len < cap - 1;
        ssize_t n = read(fds[0], room ? err + len : rest, room ? cap - 1 - len : sizeof rest);
        if (n <= 0)
            break;
        if (room)
            len += (size_t)n;
    }
    err[len] = 0;
    close(fds[0]);
    int status;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

#define CLI(...) ((char *const[]){"shmq", __VA_ARGS__, NULL})

/* ================================================================================= */
/* The rogue scribbler                                                               */
/* ================================================================================= */

/* Error codes a worker may get from a scribbled queue; anything else fails the test. */
static bool error_expected(long long r)
{
    switch (-r) {
    case EAGAIN:
    case ETIMEDOUT:
    case EBADMSG:  /* an impossible index, state or length */
    case EMSGSIZE: /* a message larger than a buffer (or a scribbled length) */
    case EBUSY:    /* a role held, a reaper running */
    case EUSERS:   /* a table filled with forged entries */
    case EALREADY: /* our claim was taken from us (the reaper believed a forged death) */
    case EINVAL:   /* a message we hold no longer matches its slot */
    case ENOMEM:
        return true;
    default:
        return false;
    }
}

/* An open may also find a scribbled header: another version, a topic's kind. */
static bool open_error_expected(long long r)
{
    return error_expected(r) || r == -EPROTO || r == -EMEDIUMTYPE;
}

/* In a worker: a result outside the contract ends it with status 100 and a message. */
#define WORKER_EXPECT(cond, what, r)                                                               \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "worker %d (%s): %s:%d: %s gave %lld (%s)\n", (int)getpid(), role,     \
                    __FILE__, __LINE__, what, (long long)(r), shmq_strerror((int)(r)));            \
            _exit(100);                                                                            \
        }                                                                                          \
    } while (0)
#define RESULT(expr, what)                                                                         \
    do {                                                                                           \
        long long r_ = (long long)(expr);                                                          \
        tally(r_);                                                                                 \
        WORKER_EXPECT(r_ >= 0 || error_expected(r_), what, r_);                                    \
    } while (0)

/* SHMQ_HOSTILE_VERBOSE=1: each worker prints how its calls ended. */
static unsigned long tallies[256];

static void tally(long long r)
{
    tallies[r >= 0 ? 0 : -r < 256 ? -r : 255]++;
}

static void tally_print(const char *role)
{
    if (!getenv("SHMQ_HOSTILE_VERBOSE"))
        return;
    fprintf(stderr, "  %-9s %6lu ok", role, tallies[0]);
    for (int e = 1; e < 256; e++)
        if (tallies[e])
            fprintf(stderr, ", %lu %s", tallies[e], e == 255 ? "other" : strerrorname_np(e));
    fputc('\n', stderr);
}

struct hostile_run {
    const char *name;
    uint32_t slot_size;
    int64_t stop_ns; /* CLOCK_MONOTONIC: the rogue stops, the workers go on a little */
    uint64_t seed;
};

static int64_t worker_end(const struct hostile_run *h)
{
    return h->stop_ns + 300 * MS;
}

/* Read every byte a claimed or peeked message shows, as an application would (strlen on the
 * metadata strings included). */
static size_t read_message(const struct shmq_msg *m)
{
    size_t sum = 0;
    const unsigned char *p = m->data;
    for (size_t i = 0; i < m->len; i++)
        sum += p[i];
    if (m->type)
        sum += strlen(m->type);
    if (m->correlation_id)
        sum += strlen(m->correlation_id);
    if (m->reply_to)
        sum += strlen(m->reply_to);
    return sum;
}

static int on_peek(const struct shmq_msg *m, void *arg)
{
    *(size_t *)arg += read_message(m);
    return 0;
}

static int64_t short_timeout(void)
{
    return rnd_below(2) ? 0 : (int64_t)rnd_below(2 * MS);
}

static void producer(const struct hostile_run *h, shmq_t *q)
{
    const char *role = "producer";
    unsigned char buf[256];
    memset(buf, 'p', sizeof buf);
    while (test_now_ns() < worker_end(h)) {
        long long r;
        switch (rnd_below(5)) {
        case 0:
            r = shmq_push(q, buf, rnd_below(h->slot_size + 16), short_timeout());
            RESULT(r, "push");
            break;
        case 1: {
            struct shmq_msg m = {.data = buf,
                                 .len = rnd_below(24),
                                 .type = "order",
                                 .correlation_id = "c-42",
                                 .reply_to = "replies",
                                 .timestamp_ns = 1};
            r = shmq_push_msg(q, &m, short_timeout());
            RESULT(r, "push_msg");
            break;
        }
        case 2: {
            struct shmq_msg m;
            r = shmq_reserve(q, 16, &m, short_timeout());
            RESULT(r, "reserve");
            if (r == 0) {
                memset(m.data, 'r', 16);
                m.len = 16;
                r = rnd_below(4) ? shmq_commit(q, &m) : shmq_discard(q, &m);
                RESULT(r, "commit/discard");
                if (r < 0)
                    RESULT(shmq_discard(q, &m), "discard after a failed commit");
            }
            break;
        }
        case 3: {
            struct iovec iov[3] = {{buf, 8}, {buf, 0}, {buf, 40}};
            r = shmq_push_batch(q, iov, 3, short_timeout());
            RESULT(r, "push_batch");
            WORKER_EXPECT(r <= 3, "push_batch count", r);
            break;
        }
        default: {
            struct shmq_stat st;
            r = shmq_stat(q, &st);
            RESULT(r, "stat");
            break;
        }
        }
    }
}

static void consumer(const struct hostile_run *h, shmq_t *q)
{
    const char *role = "consumer";
    unsigned char buf[128];
    size_t sink = 0;
    while (test_now_ns() < worker_end(h)) {
        long long r;
        switch (rnd_below(5)) {
        case 0:
            r = shmq_pop(q, buf, rnd_below(2) ? sizeof buf : 4, short_timeout());
            RESULT(r, "pop");
            WORKER_EXPECT(r <= (long long)sizeof buf, "pop length", r);
            break;
        case 1: {
            struct shmq_msg m;
            r = shmq_claim(q, &m, short_timeout());
            RESULT(r, "claim");
            if (r == 0) {
                WORKER_EXPECT(m.len <= h->slot_size, "claim length", (long long)m.len);
                sink += read_message(&m);
                uint64_t what = rnd_below(4);
                r = what == 0   ? shmq_nack(q, &m)
                    : what == 1 ? shmq_nack_delayed(q, &m, (int64_t)rnd_below(MS))
                                : shmq_ack(q, &m);
                RESULT(r, "ack/nack");
            }
            break;
        }
        case 2: {
            unsigned char b[4][64];
            struct iovec iov[4];
            for (int i = 0; i < 4; i++)
                iov[i] = (struct iovec){b[i], sizeof b[i]};
            r = shmq_pop_batch(q, iov, 4, short_timeout());
            RESULT(r, "pop_batch");
            WORKER_EXPECT(r <= 4, "pop_batch count", r);
            for (long long i = 0; i < r; i++)
                WORKER_EXPECT(iov[i].iov_len <= 64, "pop_batch length", (long long)iov[i].iov_len);
            break;
        }
        case 3:
            r = shmq_peek(q, 8, on_peek, &sink);
            RESULT(r, "peek");
            break;
        default: {
            struct shmq_repair_report rep;
            r = shmq_repair(q, &rep);
            RESULT(r, "repair");
            break;
        }
        }
    }
    (void)sink;
}

/* Opens and closes handles, looks at the queue as `shmq stat` and `shmq peek` do, purges. */
static void inspector(const struct hostile_run *h)
{
    const char *role = "inspector";
    size_t sink = 0;
    while (test_now_ns() < worker_end(h)) {
        shmq_t *q;
        long long r = shmq_open_ex(h->name, rnd_below(2) ? SHMQ_OPEN_OBSERVE : 0, &q);
        WORKER_EXPECT(r == 0 || open_error_expected(r), "open", r);
        if (r != 0)
            continue;
        struct shmq_stat st;
        RESULT(shmq_stat(q, &st), "stat");
        WORKER_EXPECT(st.depth <= st.capacity, "stat depth", (long long)st.depth);
        struct shmq_participant_info parts[16];
        r = shmq_participant_list(q, parts, 16);
        RESULT(r, "participant_list");
        RESULT(shmq_peek(q, 16, on_peek, &sink), "peek");
        if (rnd_below(8) == 0) {
            r = shmq_purge(q);
            WORKER_EXPECT(r >= 0 || error_expected(r) || r == -EPERM, "purge", r);
        }
        WORKER_EXPECT(shmq_close(q) == 0, "close", -1);
    }
}

/* A worker: its own process, its own handle, under an alarm. */
static pid_t spawn_worker(const struct hostile_run *h, int kind, uint64_t seed)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid != 0)
        return pid;
    alarm(HANG_SECONDS + (unsigned)((h->stop_ns - test_now_ns()) / SECOND));
    rnd_seed(seed);
    if (kind == 2) {
        inspector(h);
        tally_print("inspector");
        _exit(0);
    }
    shmq_t *q;
    int err;
    /* A table full of live handles (the inspector's, or entries the rogue wrote to look
     * taken) is a legitimate answer: wait for a free entry as a user would. */
    while ((err = shmq_open(h->name, &q)) == -EUSERS && test_now_ns() < worker_end(h))
        nanosleep(&(struct timespec){.tv_nsec = 2 * MS}, NULL);
    if (err == -EUSERS)
        _exit(0); /* never got in: nothing of the contract to check */
    if (err) {
        fprintf(stderr, "worker %d: open: %s\n", (int)getpid(), shmq_strerror(err));
        _exit(101);
    }
    if (kind == 0)
        producer(h, q);
    else
        consumer(h, q);
    /* Close gives back what the handle holds: it must end too. */
    shmq_close(q);
    tally_print(kind == 0 ? "producer" : "consumer");
    _exit(0);
}

/* The rogue's view of the segment: its own mapping and the geometry, read before it starts. */
struct rogue {
    unsigned char *base;
    struct shmq__geometry g;
    struct shmq__mapping m; /* derived pointers, for aiming */
    bool plausible;         /* values that pass the quick checks, or any bits */
};

/* The dead-letter name is the one part of the header left alone: a scribbled but valid name
 * would have the library create a dead-letter queue that this test could not know to remove.
 * (Scribbled into an invalid one, it is refused: shmq_open checks names.) */
static bool in_dead_letter_name(size_t off)
{
    size_t at = offsetof(struct shmq__header, dead_letter);
    return off + 8 > at && off < at + sizeof((struct shmq__header *)0)->dead_letter;
}

static void poke(void *p, unsigned size, uint64_t v)
{
    switch (size) {
    case 8:
        __atomic_store_n((uint64_t *)p, v, __ATOMIC_RELAXED);
        break;
    case 4:
        __atomic_store_n((uint32_t *)p, (uint32_t)v, __ATOMIC_RELAXED);
        break;
    case 2:
        __atomic_store_n((uint16_t *)p, (uint16_t)v, __ATOMIC_RELAXED);
        break;
    default:
        __atomic_store_n((uint8_t *)p, (uint8_t)v, __ATOMIC_RELAXED);
        break;
    }
}

static uint64_t peek64(const void *p)
{
    return __atomic_load_n((const uint64_t *)p, __ATOMIC_RELAXED);
}

/* A plausible index: in range mostly, sometimes just past it, sometimes "none". */
static uint32_t some_index(const struct rogue *r)
{
    switch (rnd_below(8)) {
    case 0:
        return UINT32_MAX;
    case 1:
        return r->g.capacity + (uint32_t)rnd_below(4);
    default:
        return (uint32_t)rnd_below(r->g.capacity);
    }
}

/* A value near v, or anything. */
static uint64_t near(uint64_t v)
{
    return rnd_below(4) ? v + rnd_below(9) - 4 : rnd();
}

static void scribble_scq(struct rogue *r, struct shmq__scq *q)
{
    uint32_t order = r->g.ring_order;
    uint64_t entries = UINT64_C(2) << order;
    switch (rnd_below(4)) {
    case 0:
        poke(&q->head, 8, r->plausible ? near(peek64(&q->head)) : rnd());
        break;
    case 1:
        poke(&q->tail, 8, r->plausible ? near(peek64(&q->tail)) : rnd());
        break;
    case 2:
        poke(&q->threshold, 8,
             r->plausible ? (uint64_t)((int64_t)rnd_below(3u << order) - 1) : rnd());
        break;
    default: {
        _Atomic uint64_t *e = &q->entries[rnd_below(entries)];
        /* An entry of the current lap with an index in it: a duplicate, a ghost. */
        uint64_t head = peek64(&q->head);
        uint64_t cycle = (head >> (order + 1)) + rnd_below(3) - 1;
        uint64_t v = r->plausible ? ((cycle & 0x7fffffff) << 33) | (rnd() & (UINT64_C(1) << 32)) |
                                        some_index(r)
                                  : rnd();
        poke(e, 8, v);
        break;
    }
    }
}

static void scribble_rings(struct rogue *r)
{
    struct shmq__mapping *m = &r->m;
    if (m->spsc) {
        _Atomic uint64_t *w = rnd_below(2) ? &m->spsc->head : &m->spsc->tail;
        poke(w, 8, r->plausible ? near(peek64(w)) : rnd());
        return;
    }
    struct shmq__scq *rings[4] = {m->free_ring, m->ready_ring, m->delayed_ring, m->returned_ring};
    struct shmq__stack *stacks[2] = {m->free_stack, m->ready_stack};
    unsigned pick = (unsigned)rnd_below(m->returned_ring ? 4 : 3);
    if (m->free_ring || pick == 2) {
        scribble_scq(r, rings[pick]);
        return;
    }
    _Atomic uint64_t *head = &stacks[pick]->head;
    poke(head, 8, r->plausible ? (peek64(head) & ~UINT64_C(0xffffffff)) + some_index(r) : rnd());
}

static void scribble_slot(struct rogue *r)
{
    uint32_t i = (uint32_t)rnd_below(r->g.capacity);
    if (r->m.spsc) { /* the SPSC ring's slots are a bare message header and the payload */
        struct shmq__msghdr *h = shmq__spsc_slot_at(&r->m, i);
        switch (rnd_below(4)) {
        case 0:
            poke(&h->len, 4, r->plausible ? rnd_below(r->g.slot_size + 8) : rnd());
            break;
        case 1:
            poke(&h->flags, 2, r->plausible ? rnd_below(4) : rnd());
            break;
        case 2:
            poke(&h->deliveries, 2, rnd());
            break;
        default:
            poke(shmq__payload(h) + rnd_below(r->g.slot_size), 1, rnd_below(2) ? rnd() : 0);
        }
        return;
    }
    struct shmq__slot *s = shmq__slot_at(&r->m, i);
    switch (rnd_below(7)) {
    case 0: {
        uint64_t st = peek64(&s->state);
        poke(&s->state, 8,
             r->plausible ? shmq__state_make(shmq__state_gen(st) + 1,
                                             (uint32_t)rnd_below(r->g.max_participants + 2),
                                             (uint32_t)rnd_below(5))
                          : rnd());
        break;
    }
    case 1:
        poke(&s->hdr.len, 4, r->plausible ? rnd_below(r->g.slot_size + 8) : rnd());
        break;
    case 2:
        poke(&s->hdr.flags, 2, r->plausible ? rnd_below(4) : rnd());
        break;
    case 3:
        poke(&s->hdr.deliveries, 2, rnd());
        break;
    case 4:
        poke(&s->next, 4, r->plausible ? some_index(r) : rnd());
        break;
    case 5:
        poke(&s->commit_gen, 4, rnd());
        break;
    default:
        /* The payload: the metadata record's lengths and NULs live there. */
        poke(s->payload + rnd_below(r->g.slot_size), 1, rnd_below(2) ? rnd() : 0);
        break;
    }
    if (r->m.extras && rnd_below(4) == 0)
        poke(&r->m.extras[i].enqueued_ns, 8, rnd());
}

static void scribble_participant(struct rogue *r)
{
    struct shmq__participant *p = &r->m.parts[rnd_below(r->g.max_participants)];
    switch (rnd_below(5)) {
    case 0: {
        /* A forged entry: an existing or a made-up pid, LIVE or half-open. */
        int32_t pid = rnd_below(2) ? shmq__part_pid(peek64(&p->word))
                                   : (int32_t)(rnd_below(2) ? (uint64_t)getppid() : rnd());
        poke(&p->word, 8, r->plausible ? shmq__part_word(pid, (uint32_t)rnd_below(3)) : rnd());
        break;
    }
    case 1:
        poke(&p->start_time, 8, rnd_below(2) ? rnd() : 0);
        break;
    case 2:
        poke(&p->op, 8, r->plausible ? peek64(&p->op) | 1 : rnd()); /* "inside a step" */
        break;
    case 3:
        poke(&p->roles, 4, rnd());
        break;
    default:
        poke(&p->counters.popped, 8, rnd());
        break;
    }
}

static void scribble_header(struct rogue *r)
{
    struct shmq__header *h = r->m.hdr;
    switch (rnd_below(8)) {
    case 0: /* a lease held by a live process (us), taken just now */
        poke(&h->reaper_lease, 8,
             r->plausible
                 ? ((uint64_t)(uint32_t)getpid() << 32) | (uint32_t)(test_now_ns() / SECOND)
                 : rnd());
        break;
    case 1:
        poke(&h->orphans_pending, 4, rnd_below(3));
        break;
    case 2:
        poke(&h->single_producer, 4, rnd_below(r->g.max_participants + 3));
        break;
    case 3:
        poke(&h->single_consumer, 4, rnd_below(r->g.max_participants + 3));
        break;
    case 4:
        poke(&r->m.waits->not_empty.seq, 4, rnd());
        break;
    case 5:
        poke(&r->m.waits->not_full.seq, 4, rnd());
        break;
    case 6:
        poke(&h->retired.acked, 8, rnd());
        break;
    default: {
        /* The configuration: a later open must refuse it; those already open must not care.
         * The magic is left alone half of the time, so that the rest is what gets read. */
        size_t off = rnd_below(2) ? 8 + rnd_below(offsetof(struct shmq__header, reaper_lease) - 8)
                                  : rnd_below(offsetof(struct shmq__header, reaper_lease));
        if (!in_dead_letter_name(off))
            poke(r->base + off, 1, rnd());
        break;
    }
    }
}

static void scribble_anywhere(struct rogue *r)
{
    size_t off = rnd_below(r->g.segment_size / 8) * 8;
    if (!in_dead_letter_name(off))
        poke(r->base + off, 8, rnd());
}

static pid_t rogue_run(const struct hostile_run *h, bool plausible, uint64_t seed)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid != 0)
        return pid;
    alarm(HANG_SECONDS);
    rnd_seed(seed);
    char path[SHMQ_NAME_MAX + 16];
    snprintf(path, sizeof path, "/shmq.%s", h->name);
    int fd = shm_open(path, O_RDWR, 0);
    struct stat st;
    CHILD_CHECK(fd >= 0 && fstat(fd, &st) == 0);
    struct rogue r = {.plausible = plausible};
    r.base = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    CHILD_CHECK(r.base != MAP_FAILED);
    close(fd);
    CHILD_CHECK(shmq__segment_validate(r.base, (size_t)st.st_size, &r.g) == 0);
    r.m = (struct shmq__mapping){.base = r.base, .size = (size_t)st.st_size, .geo = r.g};
    shmq__mapping_derive(&r.m);
    while (test_now_ns() < h->stop_ns) {
        for (int burst = (int)rnd_below(16) + 1; burst > 0; burst--) {
            switch (rnd_below(plausible ? 10 : 12)) {
            case 0:
            case 1:
            case 2:
                scribble_rings(&r);
                break;
            case 3:
            case 4:
            case 5:
                scribble_slot(&r);
                break;
            case 6:
            case 7:
                scribble_participant(&r);
                break;
            case 8:
            case 9:
                scribble_header(&r);
                break;
            default:
                scribble_anywhere(&r);
                break;
            }
        }
        nanosleep(&(struct timespec){.tv_nsec = (long)rnd_below(300000)}, NULL);
    }
    _exit(0);
}

static const char *signal_words(int sig)
{
    return sig == SIGALRM ? "an endless loop (its alarm went off)" : strsignal(sig);
}

/* Wait for every child; fail on a signal death, a contract failure, or a hang. */
static void wait_all(pid_t *pids, const char *const *what, int n, int64_t deadline, uint64_t seed)
{
    int left = n;
    bool failed = false;
    while (left > 0) {
        for (int i = 0; i < n; i++) {
            if (pids[i] <= 0)
                continue;
            int status;
            pid_t got = waitpid(pids[i], &status, WNOHANG);
            if (got == 0)
                continue;
            assert_int_equal(got, pids[i]);
            pids[i] = 0;
            left--;
            if (WIFSIGNALED(status)) {
                fprintf(stderr, "%s: died of %s\n", what[i], signal_words(WTERMSIG(status)));
                failed = true;
            } else if (WEXITSTATUS(status) != 0) {
                fprintf(stderr, "%s: exit status %d\n", what[i], WEXITSTATUS(status));
                failed = true;
            }
        }
        if (left > 0 && test_now_ns() > deadline) {
            for (int i = 0; i < n; i++)
                if (pids[i] > 0) {
                    fprintf(stderr, "%s: still running: a hang\n", what[i]);
                    kill(pids[i], SIGKILL);
                    waitpid(pids[i], NULL, 0);
                    pids[i] = 0;
                }
            failed = true;
            left = 0;
        }
        nanosleep(&(struct timespec){.tv_nsec = 5 * MS}, NULL);
    }
    if (failed)
        fail_msg("a process working on a scribbled queue failed (replay: SHMQ_HOSTILE_SEED=%llu)",
                 (unsigned long long)seed);
}

/* After the rogue: a newcomer opens (or is refused), repairs, drains and closes, in bounded
 * time and without a fault. */
static void aftermath(const struct hostile_run *h, uint64_t seed)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        const char *role = "newcomer";
        alarm(HANG_SECONDS);
        shmq_t *q;
        long long r = shmq_open(h->name, &q);
        WORKER_EXPECT(r == 0 || open_error_expected(r), "open", r);
        if (r == 0) {
            RESULT(shmq_repair(q, NULL), "repair");
            for (uint32_t i = 0; i < 4 * 64; i++) {
                struct shmq_msg m;
                r = shmq_claim(q, &m, 0);
                RESULT(r, "claim");
                if (r == -EAGAIN)
                    break;
                if (r == 0) {
                    read_message(&m);
                    RESULT(shmq_ack(q, &m), "ack");
                }
            }
            RESULT(shmq_push(q, "after", 5, 0), "push");
            r = shmq_purge(q);
            RESULT(r, "purge");
            struct shmq_stat st;
            RESULT(shmq_stat(q, &st), "stat");
            shmq_close(q);
        }
        if (shmq_open_ex(h->name, SHMQ_OPEN_OBSERVE, &q) == 0) {
            size_t sink = 0;
            RESULT(shmq_peek(q, 64, on_peek, &sink), "peek");
            shmq_close(q);
        }
        _exit(0);
    }
    const char *what[] = {"newcomer"};
    wait_all(&pid, what, 1, test_now_ns() + (HANG_SECONDS + 2) * SECOND, seed);
}

static uint64_t hostile_seed(void)
{
    const char *env = getenv("SHMQ_HOSTILE_SEED");
    if (env)
        return strtoull(env, NULL, 0);
    return (uint64_t)test_now_ns() ^ ((uint64_t)getpid() << 32);
}

static void scribble_while_working(const char *tag, const struct shmq_config *cfg)
{
    uint64_t seed0 = hostile_seed();
    int64_t run_ns = (int64_t)(800 * MS * test_scale());
    for (int round = 0; round < 2; round++) {
        uint64_t seed = seed0 + (uint64_t)round;
        const char *name = test_name(tag);
        shmq_t *q;
        ASSERT_OK(shmq_create(name, cfg, &q));
        for (int i = 0; i < 8; i++)
            ASSERT_OK(shmq_push(q, "seed message", 12, 0));
        struct hostile_run h = {.name = name,
                                .slot_size = cfg->slot_size,
                                .stop_ns = test_now_ns() + run_ns,
                                .seed = seed};
        enum { WORKERS = 6 };
        pid_t pids[WORKERS + 1];
        const char *what[WORKERS + 1] = {"producer 1", "producer 2", "consumer 1", "consumer 2",
                                         "inspector",  "consumer 3", "rogue"};
        const int kinds[WORKERS] = {0, 0, 1, 1, 2, 1};
        for (int i = 0; i < WORKERS; i++)
            pids[i] = spawn_worker(&h, kinds[i], seed * 31 + (uint64_t)i);
        pids[WORKERS] = rogue_run(&h, round == 0, seed);
        wait_all(pids, what, WORKERS + 1, worker_end(&h) + (HANG_SECONDS + 2) * SECOND, seed);
        aftermath(&h, seed);
        shmq_close(q);
        shmq_unlink(name);
        if (cfg->dead_letter)
            shmq_unlink(cfg->dead_letter);
    }
}

static void rogue_fifo(void **state)
{
    (void)state;
    scribble_while_working(
        "rogue-fifo",
        &(struct shmq_config){.capacity = 64, .slot_size = 64, .max_participants = 16});
}

static void rogue_lifo(void **state)
{
    (void)state;
    scribble_while_working("rogue-lifo", &(struct shmq_config){.kind = SHMQ_LIFO,
                                                               .capacity = 64,
                                                               .slot_size = 64,
                                                               .max_participants = 16});
}

static void rogue_spsc(void **state)
{
    (void)state;
    scribble_while_working(
        "rogue-spsc", &(struct shmq_config){.capacity = 64,
                                            .slot_size = 64,
                                            .flags = SHMQ_SINGLE_PRODUCER | SHMQ_SINGLE_CONSUMER,
                                            .max_participants = 16});
}

static void rogue_task_queue(void **state)
{
    (void)state;
    char dl[64];
    snprintf(dl, sizeof dl, "%s", test_name("rogue-dl")); /* removed at exit, even on failure */
    scribble_while_working("rogue-task", &(struct shmq_config){.capacity = 64,
                                                               .slot_size = 96,
                                                               .max_participants = 16,
                                                               .ttl_ns = 20 * MS,
                                                               .max_deliveries = 3,
                                                               .dead_letter = dl});
    shmq_unlink(dl);
}

/* ---- topics: the same rogue on a broadcast ring ---- */

static bool topic_error_expected(long long r)
{
    return error_expected(r) || r == -ESTALE /* a view overwritten */ || r == -EINTR;
}

#define TRESULT(expr, what)                                                                        \
    do {                                                                                           \
        long long r_ = (long long)(expr);                                                          \
        tally(r_);                                                                                 \
        WORKER_EXPECT(r_ >= 0 || topic_error_expected(r_), what, r_);                              \
    } while (0)

static const char *const subjects[] = {"orders.eu.created", "orders.us", "prices.eu.x", "a..b", ""};

static void topic_publisher(const struct hostile_run *h, shmq_topic_t *t)
{
    const char *role = "publisher";
    unsigned char buf[256];
    memset(buf, 'p', sizeof buf);
    while (test_now_ns() < worker_end(h)) {
        const char *subject = subjects[rnd_below(5)];
        if (rnd_below(3)) {
            TRESULT(shmq_publish(t, subject, buf, rnd_below(h->slot_size), short_timeout()),
                    "publish");
        } else {
            struct shmq_msg m = {.data = buf,
                                 .len = rnd_below(24),
                                 .type = "order",
                                 .correlation_id = "c-42",
                                 .reply_to = "replies",
                                 .timestamp_ns = 1};
            TRESULT(shmq_publish_msg(t, subject, &m, short_timeout()), "publish_msg");
        }
    }
}

static void topic_subscriber(const struct hostile_run *h, shmq_topic_t *t, bool shared)
{
    const char *role = shared ? "member" : "subscriber";
    shmq_sub_t *sub = NULL;
    unsigned char buf[256];
    size_t sink = 0;
    while (test_now_ns() < worker_end(h)) {
        if (!sub) {
            long long r = shared ? shmq_subscribe(t, "orders.#", "shared", SHMQ_SUB_DURABLE, &sub)
                                 : shmq_subscribe(t, NULL, NULL, 0, &sub);
            TRESULT(r, "subscribe");
            if (r != 0) {
                sub = NULL;
                continue;
            }
        }
        switch (rnd_below(8)) {
        case 0: {
            struct shmq_view v;
            long long r = shmq_next_view(sub, &v, short_timeout());
            TRESULT(r, "next_view");
            if (r == 0) {
                WORKER_EXPECT(v.len <= h->slot_size && v.subject_len <= SHMQ_SUBJECT_MAX,
                              "view lengths", (long long)v.len);
                const unsigned char *p = v.data;
                for (size_t i = 0; i < v.len; i++)
                    sink += p[i];
                TRESULT(shmq_view_check(sub, &v), "view_check");
            }
            break;
        }
        case 1: {
            struct shmq_group_info info;
            TRESULT(shmq_sub_stat(sub, &info), "sub_stat");
            break;
        }
        case 2:
            if (rnd_below(8) == 0) { /* leave, and come back */
                TRESULT(shmq_unsubscribe(sub), "unsubscribe");
                sub = NULL;
            }
            break;
        default: {
            struct shmq_delivery d;
            size_t cap = rnd_below(4) ? sizeof buf : 2;
            long long r = shmq_next(sub, buf, cap, &d, short_timeout());
            TRESULT(r, "next");
            WORKER_EXPECT(r < 0 || (size_t)r <= cap, "next length", r);
            if (r >= 0)
                WORKER_EXPECT(d.subject_len <= SHMQ_SUBJECT_MAX && d.subject[d.subject_len] == 0 &&
                                  d.len == (size_t)r,
                              "delivery", (long long)d.subject_len);
            break;
        }
        }
    }
    if (sub)
        TRESULT(shmq_unsubscribe(sub), "unsubscribe");
    (void)sink;
}

static void topic_inspector(const struct hostile_run *h)
{
    const char *role = "inspector";
    while (test_now_ns() < worker_end(h)) {
        shmq_topic_t *t;
        long long r = shmq_topic_open_ex(h->name, rnd_below(2) ? SHMQ_OPEN_OBSERVE : 0, &t);
        WORKER_EXPECT(r == 0 || open_error_expected(r), "topic open", r);
        if (r != 0)
            continue;
        struct shmq_topic_stat st;
        TRESULT(shmq_topic_stat(t, &st), "topic_stat");
        struct shmq_group_info groups[8];
        TRESULT(shmq_topic_groups(t, groups, 8), "topic_groups");
        char why[128];
        TRESULT(shmq_topic_check(t, why, sizeof why), "topic_check");
        r = shmq_topic_repair(t);
        WORKER_EXPECT(r >= 0 || topic_error_expected(r) || r == -EPERM, "topic_repair", r);
        WORKER_EXPECT(shmq_topic_close(t) == 0, "topic close", -1);
    }
}

static pid_t spawn_topic_worker(const struct hostile_run *h, int kind, uint64_t seed)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid != 0)
        return pid;
    alarm(HANG_SECONDS + (unsigned)((h->stop_ns - test_now_ns()) / SECOND));
    rnd_seed(seed);
    if (kind == 3) {
        topic_inspector(h);
        tally_print("inspector");
        _exit(0);
    }
    shmq_topic_t *t;
    int err = shmq_topic_open(h->name, &t);
    if (err) {
        fprintf(stderr, "worker %d: topic open: %s\n", (int)getpid(), shmq_strerror(err));
        _exit(101);
    }
    if (kind == 0)
        topic_publisher(h, t);
    else
        topic_subscriber(h, t, kind == 1);
    shmq_topic_close(t);
    tally_print(kind == 0 ? "publisher" : kind == 1 ? "member" : "subscriber");
    _exit(0);
}

/* The rogue on a topic: the header's tail and any word of the participants, groups, members
 * and slots, near its value or anything. The name and configuration are left alone: open
 * handles keep their own copy, and new opens are the queue tests' business. */
static pid_t topic_rogue_run(const struct hostile_run *h, bool plausible, uint64_t seed)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid != 0)
        return pid;
    alarm(HANG_SECONDS);
    rnd_seed(seed);
    char path[SHMQ_NAME_MAX + 16];
    snprintf(path, sizeof path, "/shmq.%s", h->name);
    int fd = shm_open(path, O_RDWR, 0);
    struct stat st;
    CHILD_CHECK(fd >= 0 && fstat(fd, &st) == 0);
    size_t size = (size_t)st.st_size;
    unsigned char *base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    CHILD_CHECK(base != MAP_FAILED);
    close(fd);
    const struct shmq__topic_header *hdr = (const void *)base;
    const size_t body = hdr->off_participants, tail_at = offsetof(struct shmq__topic_header, tail);
    CHILD_CHECK(body > tail_at && body < size);
    while (test_now_ns() < h->stop_ns) {
        for (int burst = (int)rnd_below(16) + 1; burst > 0; burst--) {
            size_t off = rnd_below(8) == 0 ? tail_at : body + rnd_below((size - body) / 8) * 8;
            uint64_t v = plausible ? near(peek64(base + off)) : rnd();
            poke(base + off, 8, v);
        }
        nanosleep(&(struct timespec){.tv_nsec = (long)rnd_below(300000)}, NULL);
    }
    _exit(0);
}

static void scribble_topic_while_working(const char *tag, const struct shmq_topic_config *cfg)
{
    uint64_t seed0 = hostile_seed();
    int64_t run_ns = (int64_t)(800 * MS * test_scale());
    for (int round = 0; round < 2; round++) {
        uint64_t seed = seed0 + (uint64_t)round;
        const char *name = test_name(tag);
        shmq_topic_t *t;
        ASSERT_OK(shmq_topic_create(name, cfg, &t));
        struct hostile_run h = {.name = name,
                                .slot_size = cfg->slot_size,
                                .stop_ns = test_now_ns() + run_ns,
                                .seed = seed};
        enum { WORKERS = 6 };
        pid_t pids[WORKERS + 1];
        const char *what[WORKERS + 1] = {"publisher 1", "publisher 2", "member 1", "member 2",
                                         "subscriber",  "inspector",   "rogue"};
        const int kinds[WORKERS] = {0, 0, 1, 1, 2, 3};
        for (int i = 0; i < WORKERS; i++)
            pids[i] = spawn_topic_worker(&h, kinds[i], seed * 31 + (uint64_t)i);
        pids[WORKERS] = topic_rogue_run(&h, round == 0, seed);
        wait_all(pids, what, WORKERS + 1, worker_end(&h) + (HANG_SECONDS + 2) * SECOND, seed);
        shmq_topic_close(t);
        shmq_topic_unlink(name);
    }
}

static void rogue_topic_block(void **state)
{
    (void)state;
    scribble_topic_while_working("rogue-topic",
                                 &(struct shmq_topic_config){.capacity = 64,
                                                             .slot_size = 128,
                                                             .max_groups = 8,
                                                             .max_members = 16,
                                                             .max_participants = 16});
}

static void rogue_topic_overwrite(void **state)
{
    (void)state;
    scribble_topic_while_working("rogue-topic",
                                 &(struct shmq_topic_config){.policy = SHMQ_TOPIC_OVERWRITE,
                                                             .capacity = 64,
                                                             .slot_size = 128,
                                                             .max_groups = 8,
                                                             .max_members = 16,
                                                             .max_participants = 16});
}

/* ---- each fix, deterministically ---- */

/* A ring whose threshold says "3n - 1 is a lie": a dequeue used to run 2^63 rounds. Each ring
 * of a FIFO in turn; in a child under an alarm, so that a hang is a failure. */
static void scribbled_threshold_is_ebadmsg(void **state)
{
    (void)state;
    for (int ring = 0; ring < 4; ring++) {
        const char *name = test_name("threshold");
        shmq_t *q;
        ASSERT_OK(shmq_create(name, &(struct shmq_config){.capacity = 8}, &q));
        ASSERT_OK(shmq_push(q, "a", 1, 0));
        struct shmq_msg m;
        if (ring == 2) { /* something due in the delayed ring, so that claims look at it */
            ASSERT_OK(shmq_claim(q, &m, 0));
            ASSERT_OK(shmq_nack_delayed(q, &m, 0));
        }
        if (ring == 3) { /* something released, so that claims take from the returned ring */
            ASSERT_OK(shmq_claim(q, &m, 0));
            ASSERT_OK(shmq_release(q, &m));
        }
        struct shmq__scq *r = ring == 0   ? q->map->free_ring
                              : ring == 1 ? q->map->ready_ring
                              : ring == 2 ? q->map->delayed_ring
                                          : q->map->returned_ring;
        /* Positions far from any entry written, and "much to take" up to a far tail. */
        uint64_t head = atomic_load(&r->head) + (UINT64_C(1) << 20);
        atomic_store(&r->head, head);
        atomic_store(&r->tail, head + (UINT64_C(1) << 40));
        atomic_store(&r->threshold, INT64_MAX);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            alarm(10);
            shmq_t *c;
            CHILD_CHECK(shmq_open(name, &c) == 0);
            if (ring == 0)
                CHILD_CHECK(shmq_push(c, "b", 1, 0) == -EBADMSG);
            else
                CHILD_CHECK(shmq_claim(c, &m, 0) == -EBADMSG);
            shmq_close(c);
            _exit(0);
        }
        int status;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        if (WIFSIGNALED(status))
            fail_msg("ring %d: the child died of %s", ring, signal_words(WTERMSIG(status)));
        if (WEXITSTATUS(status) != 0)
            fail_msg("ring %d: the child exited with %d", ring, WEXITSTATUS(status));
        shmq_close(q);
    }
}

/* The dead-letter name is read from the header once more when a mapping is set up, after
 * validation: it must be copied with a bound, whatever follows it. The header sits at the end
 * of a readable page followed by an inaccessible one, and holds no NUL at all. */
static void dead_letter_name_is_copied_with_a_bound(void **state)
{
    (void)state;
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    unsigned char *area =
        mmap(NULL, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(area != MAP_FAILED);
    assert_int_equal(mprotect(area + page, page, PROT_NONE), 0);
    struct shmq__mapping m = {.base = area, .size = page};
    assert_int_equal(shmq__geometry_derive(&(struct shmq_config){.capacity = 1}, &m.geo), 0);
    memset(area, 'x', page);
    shmq__mapping_derive(&m); /* reads no further than the name's 208 bytes */
    assert_int_equal(strlen(m.dead_letter), sizeof m.dead_letter - 1);
    munmap(area, 2 * page);
}

/* ================================================================================= */
/* A full /dev/shm                                                                   */
/* ================================================================================= */

static uint64_t shm_free_blocks(void)
{
    struct statvfs v;
    CHILD_CHECK(statvfs("/dev/shm", &v) == 0);
    return v.f_bfree;
}

static uint64_t shm_free_bytes(void)
{
    struct statvfs v;
    CHILD_CHECK(statvfs("/dev/shm", &v) == 0);
    return (uint64_t)v.f_bavail * v.f_frsize;
}

/* Entries in /dev/shm whose name starts with prefix. */
static int shm_entries(const char *prefix)
{
    DIR *d = opendir("/dev/shm");
    CHILD_CHECK(d != NULL);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        n += strncmp(e->d_name, prefix, strlen(prefix)) == 0;
    closedir(d);
    return n;
}

/* A file taking all but `leave` bytes of /dev/shm. */
static int fill_shm(uint64_t leave)
{
    int fd = open("/dev/shm/filler", O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    CHILD_CHECK(fd >= 0);
    uint64_t free_bytes = shm_free_bytes();
    CHILD_CHECK(free_bytes > leave);
    CHILD_CHECK(posix_fallocate(fd, 0, (off_t)(free_bytes - leave)) == 0);
    return fd;
}

static void unfill_shm(int fd)
{
    close(fd);
    CHILD_CHECK(unlink("/dev/shm/filler") == 0);
}

/* In a private mount namespace with a 1 MiB, 16-inode tmpfs on /dev/shm. */
static void full_shm_child(void)
{
    const uint64_t empty = shm_free_blocks();
    const uint32_t spsc = SHMQ_SINGLE_PRODUCER | SHMQ_SINGLE_CONSUMER;
    const struct shmq_config big[] = {
        {.capacity = 4096, .slot_size = 1000},
        {.kind = SHMQ_LIFO, .capacity = 4096, .slot_size = 1000},
        {.capacity = 4096, .slot_size = 1000, .flags = spsc},
        {.capacity = 1u << 20, .slot_size = 8},
    };
    /* 1. Far too large, every shape: -ENOSPC, and not a block or a name left. */
    for (size_t i = 0; i < sizeof big / sizeof big[0]; i++) {
        shmq_t *q = NULL;
        CHILD_CHECK(shmq_create("big", &big[i], &q) == -ENOSPC);
        CHILD_CHECK(q == NULL);
        CHILD_CHECK(shm_entries("shmq.") == 0);
        CHILD_CHECK(shm_free_blocks() == empty);
    }

    /* 2. Almost fits: the allocation fails half-way, and what it took is given back. */
    int filler = fill_shm(256 << 10);
    const uint64_t after_filler = shm_free_blocks();
    shmq_t *q = NULL;
    CHILD_CHECK(shmq_create("half", &(struct shmq_config){.capacity = 1024, .slot_size = 400},
                            &q) == -ENOSPC);
    CHILD_CHECK(shm_entries("shmq.") == 0);
    CHILD_CHECK(shm_free_blocks() == after_filler);
    /* What fits still does, and works. */
    CHILD_CHECK(shmq_create("small", &(struct shmq_config){.capacity = 16, .slot_size = 64}, &q) ==
                0);
    CHILD_CHECK(shmq_push(q, "x", 1, 0) == 0);
    char buf[8];
    CHILD_CHECK(shmq_pop(q, buf, sizeof buf, 0) == 1);

    /* 3. A dead-letter queue that cannot be made: the expired message is dropped and
     * counted, the consumer carries on, and no half-made dead-letter queue is left. */
    shmq_t *t;
    CHILD_CHECK(
        shmq_create("task",
                    &(struct shmq_config){
                        .capacity = 4, .slot_size = 64, .ttl_ns = 1, .dead_letter = "task-dl"},
                    &t) == 0);
    unfill_shm(filler);
    filler = fill_shm(0);
    CHILD_CHECK(shmq_push(t, "stale", 5, 0) == 0);
    nanosleep(&(struct timespec){.tv_nsec = 1000000}, NULL);
    struct shmq_msg m;
    CHILD_CHECK(shmq_claim(t, &m, 0) == -EAGAIN);
    struct shmq_stat st;
    CHILD_CHECK(shmq_stat(t, &st) == 0);
    CHILD_CHECK(st.expired == 1 && st.dropped == 1 && st.dead_lettered == 0);
    CHILD_CHECK(shm_entries("shmq.task-dl") == 0);
    CHILD_CHECK(shmq_close(t) == 0 && shmq_unlink("task") == 0);
    CHILD_CHECK(shmq_close(q) == 0 && shmq_unlink("small") == 0);
    unfill_shm(filler);
    CHILD_CHECK(shm_free_blocks() == empty);

    /* 4. Out of inodes rather than blocks: -ENOSPC as well, from shm_open. */
    char names[32][32];
    int made = 0;
    int err = 0;
    for (; made < 32; made++) {
        snprintf(names[made], sizeof names[made], "tiny-%d", made);
        shmq_t *x;
        err = shmq_create(names[made], &(struct shmq_config){.capacity = 1, .slot_size = 8}, &x);
        if (err)
            break;
        CHILD_CHECK(shmq_close(x) == 0);
    }
    CHILD_CHECK(made > 0 && made < 32 && err == -ENOSPC);
    CHILD_CHECK(shm_entries("shmq.") == made);
    for (int i = 0; i < made; i++)
        CHILD_CHECK(shmq_unlink(names[i]) == 0);
    CHILD_CHECK(shm_free_blocks() == empty);

    /* 5. The tool says what happened. */
    if (cli_find()) {
        char err_text[512];
        int code =
            cli_run(CLI("create", "--capacity", "100000", "huge"), err_text, sizeof err_text);
        if (code != 1 || !strstr(err_text, "no space left in /dev/shm") ||
            !strstr(err_text, "huge")) {
            fprintf(stderr, "shmq create on a full /dev/shm: exit %d, stderr: %s\n", code,
                    err_text);
            _exit(102);
        }
        CHILD_CHECK(shm_entries("shmq.") == 0);
    }
}

static void full_shm_is_enospc_and_leaves_nothing(void **state)
{
    (void)state;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* Private first, so that nothing mounted here reaches the real /dev/shm. Where the
         * environment forbids any of it (not root), the test is skipped (77). */
        if (unshare(CLONE_NEWNS) != 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
            mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,nr_inodes=16") != 0)
            _exit(77);
        alarm(HANG_SECONDS);
        full_shm_child();
        _exit(0);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 77)
        skip(); /* needs CAP_SYS_ADMIN for a private tmpfs */
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail_msg("child ended with %s %d", WIFEXITED(status) ? "exit status" : "signal",
                 WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
}

/* ================================================================================= */
/* A participant table full of live processes                                        */
/* ================================================================================= */

static void participant_table_full_of_the_living(void **state)
{
    (void)state;
    const char *name = test_name("users");
    shmq_t *q;
    ASSERT_OK(shmq_create(name, &(struct shmq_config){.max_participants = 3}, &q));
    int release[2];
    assert_int_equal(pipe(release), 0);
    pid_t holders[2];
    for (int i = 0; i < 2; i++) {
        int ready[2];
        assert_int_equal(pipe(ready), 0);
        holders[i] = fork();
        assert_true(holders[i] >= 0);
        if (holders[i] == 0) {
            shmq_t *h;
            CHILD_CHECK(shmq_open(name, &h) == 0);
            close(release[1]);
            CHILD_CHECK(write(ready[1], "r", 1) == 1);
            char c;
            (void)!read(release[0], &c, 1); /* until the parent closes its end */
            shmq_close(h);
            _exit(0);
        }
        char c;
        assert_int_equal(read(ready[0], &c, 1), 1);
        close(ready[0]);
        close(ready[1]);
    }
    /* Three live participants in a table of three. */
    shmq_t *x = NULL;
    int64_t t0 = test_now_ns();
    assert_int_equal(shmq_open(name, &x), -EUSERS);
    assert_true(test_now_ns() - t0 < 5 * SECOND);         /* no waiting for someone to die */
    ASSERT_OK(shmq_open_ex(name, SHMQ_OPEN_OBSERVE, &x)); /* observers take no entry */
    struct shmq_stat st;
    ASSERT_OK(shmq_stat(x, &st));
    QASSERT_EQ(x, st.participants, 3);
    ASSERT_OK(shmq_close(x));

    if (cli_find()) {
        char err[512];
        int code = cli_run(CLI("push", (char *)name, "hello"), err, sizeof err);
        if (code != 1 || !strstr(err, "participant table full") || !strstr(err, name))
            fail_msg("shmq push to a full table: exit %d, stderr: %s", code, err);
        /* Looking takes no entry. */
        code = cli_run(CLI("stat", (char *)name), err, sizeof err);
        if (code != 0)
            fail_msg("shmq stat of a full table: exit %d, stderr: %s", code, err);
    } else {
        fprintf(stderr, "(the shmq tool was not found: its messages are not checked)\n");
    }

    /* One of them dies: its entry is taken over at the next open. */
    kill(holders[0], SIGKILL);
    assert_int_equal(waitpid(holders[0], NULL, 0), holders[0]);
    ASSERT_OK(shmq_open(name, &x));
    ASSERT_OK(shmq_close(x));
    close(release[1]);
    close(release[0]);
    test_wait_child(holders[1]);
    ASSERT_OK(shmq_close(q));
}

/* ================================================================================= */
/* Names                                                                             */
/* ================================================================================= */

static void bad_names_everywhere(void **state)
{
    (void)state;
    char long_name[SHMQ_NAME_MAX + 2];
    memset(long_name, 'n', sizeof long_name);
    long_name[SHMQ_NAME_MAX + 1] = 0;
    char *bad[] = {"",     ".hidden", "a/b",         "../etc", "..",     "sp ace",
                   "a\nb", "x%s%n",   "uni\xc3\xa9", "a*",     long_name};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        shmq_t *q = NULL;
        assert_int_equal(shmq_create(bad[i], NULL, &q), -EINVAL);
        assert_int_equal(shmq_open_ex(bad[i], SHMQ_OPEN_OBSERVE, &q), -EINVAL);
        assert_null(q);
        assert_int_equal(
            shmq_create(test_name("names"), &(struct shmq_config){.dead_letter = bad[i]}, &q),
            -EINVAL);
    }
    if (!cli_find()) {
        skip(); /* the library side is done; the tool is not there */
        return;
    }
    char err[512];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        static const char *const verbs[] = {"create", "push", "stat", "rm"};
        for (size_t v = 0; v < sizeof verbs / sizeof verbs[0]; v++) {
            int code = strcmp(verbs[v], "push") == 0
                           ? cli_run(CLI((char *)verbs[v], bad[i], "m"), err, sizeof err)
                           : cli_run(CLI((char *)verbs[v], bad[i]), err, sizeof err);
            if (code != 2 || !strstr(err, "is not a queue name"))
                fail_msg("shmq %s with the name #%zu: exit %d, stderr: %s", verbs[v], i, code, err);
        }
    }
    /* Exactly the limit is a name. */
    char *limit = long_name;
    limit[SHMQ_NAME_MAX] = 0;
    shmq_unlink(limit);
    int code = cli_run(CLI("create", limit), err, sizeof err);
    if (code != 0)
        fail_msg("shmq create with a %d-character name: exit %d, stderr: %s", SHMQ_NAME_MAX, code,
                 err);
    ASSERT_OK(shmq_unlink(limit));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(scribbled_threshold_is_ebadmsg),
        cmocka_unit_test(dead_letter_name_is_copied_with_a_bound),
        cmocka_unit_test(rogue_fifo),
        cmocka_unit_test(rogue_lifo),
        cmocka_unit_test(rogue_spsc),
        cmocka_unit_test(rogue_task_queue),
        cmocka_unit_test(rogue_topic_block),
        cmocka_unit_test(rogue_topic_overwrite),
        cmocka_unit_test(full_shm_is_enospc_and_leaves_nothing),
        cmocka_unit_test(participant_table_full_of_the_living),
        cmocka_unit_test(bad_names_everywhere),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
