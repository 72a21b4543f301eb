/*
 * The limits every queue is measured against, in the same run:
 *
 *   T  a trivial SPSC ring in shared memory: Lamport's ring with cached indices, data inline,
 *      no header, no checks beyond the harness's (the best a shared-memory queue can do)
 *   P  the same ring used by one thread: an enqueue+dequeue pair on one core
 *   L  a cache-line ping-pong: one line bounced between two processes (a handoff cannot be
 *      faster than one line transfer)
 *   F  a futex ping-pong: the cheapest cross-process sleep and wake-up
 *   memcpy  one core copying messages into a ring-sized buffer (the copy a queue must make)
 *   S  the default queue's design bare: two SCQ rings of slot indices and inline slots, no
 *      bookkeeping (limit_scq.c): the floor of that design, beside the rte_ring it is held to
 *   I  an upper bound of a lock-free ring with the data inline (limit_cell.c): the per-cell
 *      read-modify-writes such a ring needs, and nothing else (64-byte messages)
 *   R  the same for a ring whose unit of claim and publication is a run of messages
 *      (limit_run.c): read-modify-writes per run, plain stores per message
 */
#include "bench_util.h"
#include "limit_cell.h"
#include "limit_run.h"
#include "limit_scq.h"

#include <linux/futex.h>
#include <sys/syscall.h>

namespace bench
{
namespace
{

/* ---- T and P ---- */

class TRing
{
  public:
    struct Config {
    };
    struct alignas(64) Header {
        alignas(64) std::atomic<uint64_t> head; /* written by the producer only */
        alignas(64) std::atomic<uint64_t> tail; /* written by the consumer only */
    };

    TRing(const Config &, const Shape &shape)
        : shape_(shape), cap_(shape.cap()), region_(sizeof(Header) + size_t(cap_) * shape.size, "T")
    {
    }
    bool blocking() const { return false; }

    struct Side {
        explicit Side(TRing &r) : ring(r) {}
        int init()
        {
            auto *base = static_cast<unsigned char *>(ring.region_.here());
            if (!base)
                return -ENOMEM;
            hdr = reinterpret_cast<Header *>(base);
            slots = base + sizeof(Header);
            buf.assign(ring.shape_.size, 0x5a);
            return 0;
        }
        unsigned char *slot(uint64_t pos) const
        {
            return slots + size_t(pos & (ring.cap_ - 1)) * ring.shape_.size;
        }
        TRing &ring;
        Header *hdr = nullptr;
        unsigned char *slots = nullptr;
        std::vector<unsigned char> buf;
    };

    struct Producer : Side {
        Producer(TRing &r, unsigned) : Side(r) {}
        int send(uint64_t word, unsigned n)
        {
            const size_t size = ring.shape_.size;
            uint64_t room = ring.cap_ - (head - tail_cache);
            if (room < n) {
                /* Pairs with the consumer's release of tail: it is done with those slots. */
                tail_cache = hdr->tail.load(std::memory_order_acquire);
                room = ring.cap_ - (head - tail_cache);
                if (room == 0)
                    return 0;
            }
            if (n > room)
                n = unsigned(room);
            for (unsigned i = 0; i < n; i++) {
                stamp(buf.data(), size, word + i);
                std::memcpy(slot(head + i), buf.data(), size);
            }
            head += n;
            /* Pairs with the consumer's acquire of head: the slots are written. */
            hdr->head.store(head, std::memory_order_release);
            return int(n);
        }
        uint64_t head = 0, tail_cache = 0;
    };

    struct Consumer : Side {
        Consumer(TRing &r, unsigned) : Side(r) {}
        int recv(Checker &check)
        {
            const size_t size = ring.shape_.size;
            uint64_t avail = head_cache - tail;
            if (avail < ring.shape_.batch) {
                head_cache = hdr->head.load(std::memory_order_acquire);
                avail = head_cache - tail;
                if (avail == 0)
                    return 0;
            }
            unsigned n = avail < ring.shape_.batch ? unsigned(avail) : ring.shape_.batch;
            for (unsigned i = 0; i < n; i++) {
                std::memcpy(buf.data(), slot(tail + i), size);
                check.check(buf.data(), size);
            }
            tail += n;
            hdr->tail.store(tail, std::memory_order_release);
            return int(n);
        }
        uint64_t tail = 0, head_cache = 0;
    };

  private:
    Shape shape_;
    uint32_t cap_;
    ShmRegion region_;
};

/* ---- S and I: rings in C behind four functions ---- */

/* The four functions of a C limit, all of one signature. */
struct SOps {
    static constexpr const char *kName = "S";
    static constexpr auto region_size = &lscq_region_size;
    static constexpr auto init = &lscq_init;
    static constexpr auto push = &lscq_push;
    static constexpr auto pop = &lscq_pop;
};
struct IOps {
    static constexpr const char *kName = "I";
    static constexpr auto region_size = &lcell_region_size;
    static constexpr auto init = &lcell_init;
    static constexpr auto push = &lcell_push;
    static constexpr auto pop = &lcell_pop;
};
struct ROps {
    static constexpr const char *kName = "R";
    static constexpr auto region_size = &lrun_region_size;
    static constexpr auto init = &lrun_init;
    static constexpr auto push = &lrun_push;
    static constexpr auto pop = &lrun_pop;
};

template <class Ops> class CRing
{
  public:
    struct Config {
    };
    CRing(const Config &, const Shape &shape)
        : shape_(shape), cap_(shape.cap()), region_(Ops::region_size(cap_, shape.size), Ops::kName)
    {
        Ops::init(region_.here(), cap_, shape.size);
    }
    bool blocking() const { return false; }

    struct Side {
        explicit Side(CRing &r) : ring(r) {}
        int init()
        {
            region = ring.region_.here();
            buf.assign(ring.shape_.size * ring.shape_.batch, 0x5a);
            return region ? 0 : -ENOMEM;
        }
        CRing &ring;
        void *region = nullptr;
        std::vector<unsigned char> buf;
    };

    struct Producer : Side {
        Producer(CRing &r, unsigned) : Side(r) {}
        int send(uint64_t word, unsigned n)
        {
            const size_t size = this->ring.shape_.size;
            for (unsigned i = 0; i < n; i++)
                stamp(this->buf.data() + i * size, size, word + i);
            int r = Ops::push(this->region, this->ring.cap_, size, this->buf.data(), n);
            return r < 0 ? -EBADMSG : r;
        }
    };

    struct Consumer : Side {
        Consumer(CRing &r, unsigned) : Side(r) {}
        int recv(Checker &check)
        {
            const size_t size = this->ring.shape_.size;
            int got = Ops::pop(this->region, this->ring.cap_, size, this->buf.data(),
                               this->ring.shape_.batch);
            if (got < 0)
                return -EBADMSG;
            for (int i = 0; i < got; i++)
                check.check(this->buf.data() + size_t(i) * size, size);
            return got;
        }
    };

  private:
    Shape shape_;
    uint32_t cap_;
    ShmRegion region_;
};

template <class Ops> void register_cring(const std::string &tail)
{
    add("pair" + tail, [](benchmark::State &s) {
        Shape shape;
        run_pair<CRing<Ops>>(s, {}, shape);
    });
    add("spsc" + tail, [](benchmark::State &s) {
        Shape shape;
        run_stream<CRing<Ops>>(s, {}, shape);
    });
    add("batch32" + tail, [](benchmark::State &s) {
        Shape shape;
        shape.batch = 32;
        run_stream<CRing<Ops>>(s, {}, shape);
    });
    add("mpmc2x2" + tail, [](benchmark::State &s) {
        Shape shape;
        shape.producers = 2;
        shape.consumers = 2;
        shape.yield_after = 64;
        shape.order = Order::kIncreasing;
        run_stream<CRing<Ops>>(s, {}, shape);
    });
}

/* ---- L and F: ping-pong on one shared line ---- */

struct alignas(64) Line {
    std::atomic<uint32_t> ping; /* written by the benchmark process */
    std::atomic<uint32_t> pong; /* written by the peer */
};
constexpr uint32_t kStop = ~0u;

long futex(std::atomic<uint32_t> *word, int op, uint32_t val, const timespec *ts)
{
    /* Shared futex (no FUTEX_PRIVATE_FLAG): the peer maps the line at another address. */
    return syscall(SYS_futex, reinterpret_cast<uint32_t *>(word), op, val, ts, nullptr, 0);
}

/* Wait until *word == want (or kStop), spinning (L) or sleeping on the futex (F). */
bool line_wait(std::atomic<uint32_t> *word, uint32_t want, bool sleep, Backoff &backoff, Ctrl *ctrl)
{
    const timespec slice = {0, 50 * 1000 * 1000};
    for (;;) {
        uint32_t v = word->load(std::memory_order_acquire);
        if (v == want || v == kStop)
            return v == want;
        if (sleep) {
            futex(word, FUTEX_WAIT, v, &slice);
            if (ctrl->abort.load(std::memory_order_relaxed))
                return false;
        } else if (!backoff.wait()) {
            return false;
        }
    }
}

void line_pingpong(benchmark::State &state, bool sleep)
{
    Ctrl *ctrl = Ctrl::make();
    cleanup::arm(sleep ? "F" : "L");
    std::string err;
    uint32_t n = 0;
    try {
        ShmRegion region(4096, sleep ? "F" : "L");
        Peers peers(true, ctrl);
        peers.spawn(consumer_cpu(0), [&region, ctrl, sleep] {
            auto *line = static_cast<Line *>(region.here());
            if (!line)
                return 1;
            Backoff backoff(ctrl, 0);
            ctrl->ready.store(1);
            for (uint32_t want = 1;; want++) {
                if (!line_wait(&line->ping, want, sleep, backoff, ctrl))
                    return line->ping.load() == kStop ? 0 : 1;
                line->pong.store(want, std::memory_order_release);
                if (sleep)
                    futex(&line->pong, FUTEX_WAKE, 1, nullptr);
            }
        });
        auto *line = static_cast<Line *>(region.here());
        if (!wait_until(ctrl, &peers, 20, [&] { return ctrl->ready.load() == 1; }))
            throw std::runtime_error("peer did not start");
        Backoff backoff(ctrl, 0, &peers);
        for (auto _ : state) {
            ++n;
            line->ping.store(n, std::memory_order_release);
            if (sleep)
                futex(&line->ping, FUTEX_WAKE, 1, nullptr);
            if (!line_wait(&line->pong, n, sleep, backoff, ctrl)) {
                err = "the peer stopped answering";
                break;
            }
        }
        line->ping.store(kStop, std::memory_order_release);
        futex(&line->ping, FUTEX_WAKE, 1, nullptr);
        std::string perr = peers.join(10);
        if (err.empty())
            err = perr;
    } catch (const std::exception &e) {
        err = e.what();
    }
    cleanup::disarm();
    Ctrl::destroy(ctrl);
    state.SetItemsProcessed(int64_t(n));
    if (!err.empty())
        skip(state, err);
}

/* ---- memcpy into a ring-sized buffer ---- */

void memcpy_limit(benchmark::State &state, size_t size)
{
    uint32_t cap = capacity_for(size);
    std::vector<unsigned char> src(size, 0x5a);
    std::vector<unsigned char> ring(size_t(cap) * size, 0);
    uint64_t i = 0;
    for (auto _ : state) {
        unsigned char *dst = ring.data() + size_t(i & (cap - 1)) * size;
        std::memcpy(dst, src.data(), size);
        benchmark::DoNotOptimize(dst);
        benchmark::ClobberMemory();
        i++;
    }
    /* The content check of a limit: the last copy is there. */
    if (i && std::memcmp(ring.data() + size_t((i - 1) & (cap - 1)) * size, src.data(), size))
        skip(state, "memcpy copied something else");
    state.SetItemsProcessed(int64_t(i));
    state.SetBytesProcessed(int64_t(i * size));
}

} // namespace

void register_limits()
{
    for (size_t size : {size_t(8), size_t(64)})
        add("pair/limit_P/" + std::to_string(size), [size](benchmark::State &s) {
            Shape shape;
            shape.size = size;
            run_pair<TRing>(s, {}, shape);
        });
    for (size_t size : kSizes) {
        add("spsc/limit_T/" + std::to_string(size), [size](benchmark::State &s) {
            Shape shape;
            shape.size = size;
            run_stream<TRing>(s, {}, shape);
        });
        add("spsc/limit_memcpy/" + std::to_string(size),
            [size](benchmark::State &s) { memcpy_limit(s, size); });
    }
    for (size_t size : {size_t(8), size_t(64)})
        add("batch32/limit_T/" + std::to_string(size), [size](benchmark::State &s) {
            Shape shape;
            shape.size = size;
            shape.batch = 32;
            run_stream<TRing>(s, {}, shape);
        });
    register_cring<SOps>("/limit_S/64");
    register_cring<IOps>("/limit_I/64");
    register_cring<ROps>("/limit_R/64");
    add("latency_spin/limit_T/64", [](benchmark::State &s) {
        Shape shape;
        run_pingpong<TRing>(s, {}, shape);
    });
    add("latency_spin/limit_L/64", [](benchmark::State &s) { line_pingpong(s, false); });
    add("latency_block/limit_F/64", [](benchmark::State &s) { line_pingpong(s, true); });
}

} // namespace bench
