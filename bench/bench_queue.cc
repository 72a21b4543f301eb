/*
 * shmq itself, through the public header only: the SPSC ring (both SINGLE flags), the default
 * MPMC queue and the LIFO, with the copy API (push/pop, batches) and the zero-copy one
 * (reserve/commit, claim/ack), spinning on -EAGAIN (timeout 0) or sleeping in the library
 * (SHMQ_FOREVER).
 */
#include "bench_util.h"

#include <shmq.h>

namespace bench
{
namespace
{

class ShmqChan
{
  public:
    struct Config {
        uint32_t flags = 0;
        shmq_kind kind = SHMQ_FIFO;
        bool zero_copy = false;
        int64_t timeout = 0; /* 0: the harness spins on -EAGAIN; SHMQ_FOREVER: the futex path */
    };

    ShmqChan(const Config &cfg, const Shape &shape)
        : cfg_(cfg), shape_(shape), name_(unique_name("q")), owner_(getpid())
    {
        shmq_config c{};
        c.kind = cfg.kind;
        c.capacity = shape.cap();
        c.slot_size = uint32_t(shape.size);
        c.flags = cfg.flags;
        c.max_participants = 16;
        int r = shmq_create(name_.c_str(), &c, &creator_);
        if (r)
            throw std::runtime_error("shmq_create: " + std::string(shmq_strerror(r)));
        cleanup::add_path("/dev/shm/shmq." + name_);
    }
    ~ShmqChan()
    {
        if (getpid() != owner_)
            return;
        shmq_close(creator_);
        shmq_unlink(name_.c_str());
        cleanup::remove_path("/dev/shm/shmq." + name_);
    }
    bool blocking() const { return cfg_.timeout != 0; }

    /* One handle per side, opened in the thread (and process) that uses it. */
    struct Side {
        explicit Side(ShmqChan &c) : chan(c) {}
        ~Side()
        {
            if (q)
                shmq_close(q);
        }
        int init()
        {
            bufs.assign(chan.shape_.batch, std::vector<unsigned char>(chan.shape_.size, 0x5a));
            iov.resize(chan.shape_.batch);
            return shmq_open(chan.name_.c_str(), &q);
        }
        ShmqChan &chan;
        shmq_t *q = nullptr;
        std::vector<std::vector<unsigned char>> bufs;
        std::vector<iovec> iov;
    };

    struct Producer : Side {
        Producer(ShmqChan &c, unsigned) : Side(c) {}
        int send(uint64_t word, unsigned n)
        {
            const size_t size = chan.shape_.size;
            const int64_t timeout = chan.cfg_.timeout;
            int r;
            if (n == 1 && chan.cfg_.zero_copy) {
                shmq_msg m;
                if ((r = shmq_reserve(q, size, &m, timeout)) != 0)
                    return r == -EAGAIN ? 0 : r;
                stamp(m.data, size, word);
                m.len = size;
                return (r = shmq_commit(q, &m)) != 0 ? r : 1;
            }
            if (n == 1) {
                stamp(bufs[0].data(), size, word);
                r = shmq_push(q, bufs[0].data(), size, timeout);
                return r == 0 ? 1 : r == -EAGAIN ? 0 : r;
            }
            for (unsigned i = 0; i < n; i++) {
                stamp(bufs[i].data(), size, word + i);
                iov[i] = {bufs[i].data(), size};
            }
            r = shmq_push_batch(q, iov.data(), n, timeout);
            return r == -EAGAIN ? 0 : r;
        }
    };

    struct Consumer : Side {
        Consumer(ShmqChan &c, unsigned) : Side(c) {}
        int recv(Checker &check)
        {
            const size_t size = chan.shape_.size;
            const int64_t timeout = chan.cfg_.timeout;
            const unsigned batch = chan.shape_.batch;
            if (batch > 1) {
                for (unsigned i = 0; i < batch; i++)
                    iov[i] = {bufs[i].data(), size};
                int r = shmq_pop_batch(q, iov.data(), batch, timeout);
                if (r <= 0)
                    return r == -EAGAIN ? 0 : r;
                for (int i = 0; i < r; i++)
                    check.check(bufs[size_t(i)].data(), iov[size_t(i)].iov_len);
                return r;
            }
            if (chan.cfg_.zero_copy) {
                shmq_msg m;
                int r = shmq_claim(q, &m, timeout);
                if (r)
                    return r == -EAGAIN ? 0 : r;
                check.check(m.data, m.len);
                return (r = shmq_ack(q, &m)) != 0 ? r : 1;
            }
            ssize_t r = shmq_pop(q, bufs[0].data(), size, timeout);
            if (r < 0)
                return r == -EAGAIN ? 0 : int(r);
            check.check(bufs[0].data(), size_t(r));
            return 1;
        }
    };

  private:
    Config cfg_;
    Shape shape_;
    std::string name_;
    pid_t owner_;
    shmq_t *creator_ = nullptr;
};

constexpr uint32_t kSpscFlags = SHMQ_SINGLE_PRODUCER | SHMQ_SINGLE_CONSUMER;

struct Variant {
    const char *name;
    ShmqChan::Config cfg;
    Order multi_order; /* the order a consumer can check when there are several */
};

const Variant kSpsc{"shmq_spsc", {kSpscFlags, SHMQ_FIFO, false, 0}, Order::kExact};
const Variant kSpscZc{"shmq_spsc_zc", {kSpscFlags, SHMQ_FIFO, true, 0}, Order::kExact};
const Variant kMpmc{"shmq_mpmc", {0, SHMQ_FIFO, false, 0}, Order::kIncreasing};
const Variant kMpmcZc{"shmq_mpmc_zc", {0, SHMQ_FIFO, true, 0}, Order::kIncreasing};
const Variant kLifo{"shmq_lifo", {0, SHMQ_LIFO, false, 0}, Order::kAny};
const Variant kSpscBlock{
    "shmq_spsc_block", {kSpscFlags, SHMQ_FIFO, false, SHMQ_FOREVER}, Order::kExact};
const Variant kMpmcBlock{
    "shmq_mpmc_block", {0, SHMQ_FIFO, false, SHMQ_FOREVER}, Order::kIncreasing};

std::string case_name(const char *group, const Variant &v, size_t size)
{
    return std::string(group) + "/" + v.name + "/" + std::to_string(size);
}

Shape shape_of(const Variant &v, size_t size)
{
    Shape s;
    s.size = size;
    s.order = v.cfg.kind == SHMQ_LIFO ? Order::kAny : Order::kExact;
    return s;
}

/*
 * A push with nobody waiting against a try-push: one iteration is one shmq_push of 64 bytes
 * into a queue that is never full; the queue is drained, with the clock stopped, each time it
 * fills. The only difference between the two cases is the timeout argument.
 */
void push_nowait(benchmark::State &state, const Variant &v, int64_t timeout)
{
    const size_t size = 64;
    Shape shape = shape_of(v, size);
    shape.capacity = 4096;
    std::string err;
    uint64_t pushed = 0, popped = 0;
    cleanup::arm("nowait");
    try {
        ShmqChan chan(v.cfg, shape);
        ShmqChan::Producer p(chan, 0);
        ShmqChan::Consumer c(chan, 0);
        int r;
        if ((r = p.init()) != 0 || (r = c.init()) != 0)
            throw std::runtime_error(std::string("open: ") + shmq_strerror(r));
        shmq_t *prod = p.q, *cons = c.q;
        Tally tally;
        Checker check(Order::kExact, size, 1, &tally);
        std::vector<unsigned char> msg(size, 0x5a), out(size);
        uint32_t room = shape.capacity;
        for (auto _ : state) {
            if (room == 0) {
                state.PauseTiming();
                for (ssize_t n; (n = shmq_pop(cons, out.data(), size, 0)) > 0; popped++)
                    check.check(out.data(), size_t(n));
                room = shape.capacity;
                state.ResumeTiming();
            }
            stamp(msg.data(), size, make_word(0, pushed));
            if ((r = shmq_push(prod, msg.data(), size, timeout)) != 0) {
                err = std::string("shmq_push: ") + shmq_strerror(r);
                break;
            }
            pushed++;
            room--;
        }
        for (ssize_t n; (n = shmq_pop(cons, out.data(), size, 0)) > 0; popped++)
            check.check(out.data(), size_t(n));
        if (err.empty() && check.errors())
            err = tally.what;
        if (err.empty() && popped != pushed)
            err = "pushed " + std::to_string(pushed) + ", popped " + std::to_string(popped);
    } catch (const std::exception &e) {
        err = e.what();
    }
    cleanup::disarm();
    state.SetItemsProcessed(int64_t(pushed));
    state.SetBytesProcessed(int64_t(pushed * size));
    if (!err.empty())
        skip(state, err);
}

} // namespace

void register_queue()
{
    /* One thread: push then pop. */
    for (size_t size : {size_t(8), size_t(64)})
        for (const Variant *v : {&kSpsc, &kSpscZc, &kMpmc, &kMpmcZc, &kLifo})
            add(case_name("pair", *v, size), [v, size](benchmark::State &s) {
                run_pair<ShmqChan>(s, v->cfg, shape_of(*v, size));
            });

    /* Two processes pinned to CPUs 0 and 1, one message at a time, every size. */
    for (size_t size : kSizes)
        for (const Variant *v : {&kSpsc, &kSpscZc, &kMpmc, &kMpmcZc})
            add(case_name("spsc", *v, size), [v, size](benchmark::State &s) {
                run_stream<ShmqChan>(s, v->cfg, shape_of(*v, size));
            });
    for (size_t size : {size_t(8), size_t(64)})
        add(case_name("spsc", kLifo, size), [size](benchmark::State &s) {
            run_stream<ShmqChan>(s, kLifo.cfg, shape_of(kLifo, size));
        });

    /* The producer's rate while its consumer polls an empty queue flat out, and while it
     * pauses (~2000 pause instructions) between empty polls: "poll/.../tight" against
     * "poll/.../paused" shows what polling costs the producer. */
    for (unsigned pauses : {0u, 2000u})
        add(std::string("poll/shmq_mpmc_") + (pauses ? "paused" : "tight") + "/64",
            [pauses](benchmark::State &s) {
                Shape shape = shape_of(kMpmc, 64);
                shape.idle_pauses = pauses;
                run_stream<ShmqChan>(s, kMpmc.cfg, shape);
            });

    /* Batches of 32. */
    for (size_t size : {size_t(8), size_t(64)})
        for (const Variant *v : {&kSpsc, &kMpmc})
            add(case_name("batch32", *v, size), [v, size](benchmark::State &s) {
                Shape shape = shape_of(*v, size);
                shape.batch = 32;
                run_stream<ShmqChan>(s, v->cfg, shape);
            });

    /* 2 producer and 2 consumer processes on 2 CPUs: spin a little, then yield. */
    for (size_t size : {size_t(8), size_t(64)})
        for (const Variant *v : {&kMpmc, &kMpmcBlock, &kLifo})
            add(case_name("mpmc2x2", *v, size), [v, size](benchmark::State &s) {
                Shape shape = shape_of(*v, size);
                shape.producers = 2;
                shape.consumers = 2;
                shape.yield_after = 64;
                shape.order = v->multi_order;
                run_stream<ShmqChan>(s, v->cfg, shape);
            });

    /* Threads of one process, for the in-process baselines (liburcu). */
    for (const Variant *v : {&kSpsc, &kMpmc, &kLifo})
        add(case_name("thread1x1", *v, 64), [v](benchmark::State &s) {
            Shape shape = shape_of(*v, 64);
            shape.processes = false;
            run_stream<ShmqChan>(s, v->cfg, shape);
        });

    /* Round trips through two queues: spinning on -EAGAIN, and sleeping on the futex. */
    for (const Variant *v : {&kSpsc, &kMpmc})
        add(case_name("latency_spin", *v, 64),
            [v](benchmark::State &s) { run_pingpong<ShmqChan>(s, v->cfg, shape_of(*v, 64)); });
    for (const Variant *v : {&kSpscBlock, &kMpmcBlock})
        add(case_name("latency_block", *v, 64),
            [v](benchmark::State &s) { run_pingpong<ShmqChan>(s, v->cfg, shape_of(*v, 64)); });

    /* A push with nobody waiting (SHMQ_FOREVER on a queue that is not full) vs a try-push. */
    for (const Variant *v : {&kSpsc, &kMpmc}) {
        add(std::string("nowait/") + v->name + "_forever/64",
            [v](benchmark::State &s) { push_nowait(s, *v, SHMQ_FOREVER); });
        add(std::string("nowait/") + v->name + "_try/64",
            [v](benchmark::State &s) { push_nowait(s, *v, 0); });
    }
}

} // namespace bench
