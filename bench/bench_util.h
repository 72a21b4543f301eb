/*
 * The benchmark harness shared by every file of the suite: pinning, peers (forked processes
 * or threads), named shared memory that is always removed, the message stamp that lets a
 * consumer check what it got, and three run shapes that every queue, baseline and limit uses:
 *
 *   run_pair      one thread: enqueue then dequeue, per iteration (the one-core cost)
 *   run_stream    the benchmark thread produces; peers consume (and, for 2x2, produce too)
 *   run_pingpong  the benchmark thread sends, a peer echoes on a second channel
 *
 * A channel type C used by these templates provides:
 *
 *   C(const typename C::Config &, const Shape &)   create, in the benchmark process; throws
 *                                                   std::runtime_error when it cannot
 *   bool blocking() const       receivers sleep inside recv (stop them with a sentinel)
 *   struct Producer { Producer(C &, unsigned id); int init();
 *                     int send(uint64_t first_word, unsigned n); }
 *   struct Consumer { Consumer(C &, unsigned id); int init(); int recv(Checker &); }
 *
 * send() enqueues up to n messages stamped first_word, first_word + 1, ... and returns how
 * many (0 = full), recv() dequeues up to the shape's batch, hands each to the checker and
 * returns how many (0 = empty); both return a negative errno on failure. Producer and
 * Consumer are built in the process (and thread) that uses them, after the fork.
 *
 * Every message carries a 64-bit word { producer:16 | sequence:48 } in its first and last 8
 * bytes; the consumer checks length, both copies and the order, and each consumer's counts and
 * sums per producer are compared with what the producers sent. Nothing here asserts a time.
 */
#ifndef SHMQ_BENCH_UTIL_H
#define SHMQ_BENCH_UTIL_H

#include <benchmark/benchmark.h>

#include <atomic>
#include <cerrno>
#include <cinttypes>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

namespace bench
{

/* The message sizes of the size sweep. */
inline const std::vector<size_t> kSizes = {8, 64, 512, 4096, 65536};

constexpr unsigned kMaxPeers = 8;
constexpr uint64_t kStopWord = ~UINT64_C(0); /* sentinel: a blocking receiver's signal to stop */
constexpr unsigned kWatchdogSeconds = 120;   /* one run of one case never takes this long */

inline uint64_t make_word(unsigned producer, uint64_t seq)
{
    return (uint64_t(producer) << 48) | (seq & ((UINT64_C(1) << 48) - 1));
}

/* Write the word at both ends of a message of len >= 8 bytes. */
inline void stamp(void *p, size_t len, uint64_t word)
{
    std::memcpy(p, &word, 8);
    if (len >= 16)
        std::memcpy(static_cast<unsigned char *>(p) + len - 8, &word, 8);
}

/*
 * Queue capacity for a message size: at most 1024 messages and about 1 MiB of slots, so that
 * every ring of a size (shmq, T, rte_ring, the memcpy limit) has the same footprint, which
 * fits in the 2 MiB L2 of one core of this machine. A power of two, >= 16.
 * SHMQ_BENCH_CAPACITY=N caps it lower, for every implementation alike (to see whether a
 * case's cost is its cache footprint: with 64, every ring fits in L1).
 */
inline uint32_t capacity_for(size_t size)
{
    size_t cap = (size_t(1) << 20) / (size < 64 ? 64 : size);
    if (cap > 1024)
        cap = 1024;
    if (const char *env = std::getenv("SHMQ_BENCH_CAPACITY")) {
        unsigned long want = std::strtoul(env, nullptr, 10);
        if (want > 0 && want < cap)
            cap = want;
    }
    if (cap < 16)
        cap = 16;
    uint32_t p = 1;
    while (p * 2 <= cap)
        p *= 2;
    return p;
}

inline int cpu_count()
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? int(n) : 1;
}

/* Pin the calling thread to one CPU (modulo the CPUs there are). */
inline int pin_cpu(int cpu)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu % cpu_count(), &set);
    return sched_setaffinity(0, sizeof set, &set) ? -errno : 0;
}

inline void cpu_relax()
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

inline double now_s()
{
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return double(ts.tv_sec) + double(ts.tv_nsec) * 1e-9;
}

/* "bench-<pid>-<n>-<what>": unique per process and call, recognisable in /dev/shm. */
std::string unique_name(const char *what);

/*
 * Things to remove even when a run goes wrong: peer pids to kill and paths to unlink. A
 * watchdog (SIGALRM), SIGINT and SIGTERM kill the peers, unlink the paths and exit(3), so
 * neither a hung case nor an interrupted run leaves processes or segments behind.
 */
namespace cleanup
{
void add_pid(pid_t pid);
void remove_pid(pid_t pid);
void add_path(const std::string &path); /* a file: /dev/shm/..., a socket */
void remove_path(const std::string &path);
void add_mq(const std::string &name); /* a POSIX mq name ("/bench-...") */
void remove_mq(const std::string &name);
void install_handlers();
void arm(const char *what); /* start the watchdog for one run */
void disarm();
} // namespace cleanup

/* A named POSIX shared memory object, created by the benchmark process and re-mapped by a
 * forked peer (at another address, as unrelated processes would). */
class ShmRegion
{
  public:
    explicit ShmRegion(size_t size, const char *what = "ring");
    ~ShmRegion();
    ShmRegion(const ShmRegion &) = delete;
    ShmRegion &operator=(const ShmRegion &) = delete;
    /* The mapping valid in the calling process: a forked child maps the object anew. */
    void *here();
    size_t size() const { return size_; }

  private:
    std::string name_;
    size_t size_;
    void *base_ = nullptr;
    pid_t owner_;
    pid_t mapped_for_;
};

/* What one consumer saw, per producer. Lives in the control block. */
struct Tally {
    uint64_t count[kMaxPeers];
    uint64_t sum[kMaxPeers];
    uint64_t errors;
    char what[160];
};

enum class Order {
    kExact,      /* one consumer of a FIFO: each producer's sequence 0, 1, 2, ... */
    kIncreasing, /* several consumers of a FIFO: each producer's sequence increases */
    kAny,        /* LIFO: counts and sums only */
};

/* Checks each message a consumer receives. Never stops on an error: it records the first. */
class Checker
{
  public:
    Checker(Order order, size_t len, unsigned producers, Tally *out)
        : order_(order), len_(len), producers_(producers), out_(out)
    {
        std::memset(out_, 0, sizeof *out_);
        for (auto &n : next_)
            n = 0;
    }
    /* Returns true for a data message, false for the stop sentinel (or an error). */
    bool check(const void *p, size_t len)
    {
        uint64_t a, b = 0;
        if (len < 8) {
            fail("message of %zu bytes, expected %zu", len, len_);
            return false;
        }
        std::memcpy(&a, p, 8);
        if (a == kStopWord) {
            stopped_ = true;
            return false;
        }
        if (len != len_) {
            fail("message of %zu bytes, expected %zu", len, len_);
            return false;
        }
        if (len >= 16) {
            std::memcpy(&b, static_cast<const unsigned char *>(p) + len - 8, 8);
            if (a != b) {
                fail("torn message: head word %#" PRIx64 ", tail word %#" PRIx64, a, b);
                return false;
            }
        }
        unsigned producer = unsigned(a >> 48);
        uint64_t seq = a & ((UINT64_C(1) << 48) - 1);
        if (producer >= producers_) {
            fail("message from producer %u of %u", producer, producers_);
            return false;
        }
        if (order_ == Order::kExact && seq != next_[producer])
            fail("producer %u: got sequence %" PRIu64 ", expected %" PRIu64, producer, seq,
                 next_[producer]);
        else if (order_ == Order::kIncreasing && seq < next_[producer])
            fail("producer %u: sequence %" PRIu64 " after %" PRIu64, producer, seq,
                 next_[producer] - 1);
        next_[producer] = seq + 1;
        last_ = a;
        out_->count[producer]++;
        out_->sum[producer] += seq;
        received_++;
        return true;
    }
    bool stopped() const { return stopped_; }
    uint64_t received() const { return received_; }
    uint64_t last_word() const { return last_; }
    uint64_t errors() const { return out_->errors; }

  private:
    template <class... A> void fail(const char *fmt, A... a)
    {
        if (out_->errors++ == 0)
            std::snprintf(out_->what, sizeof out_->what, fmt, a...);
    }
    Order order_;
    size_t len_;
    unsigned producers_;
    Tally *out_;
    uint64_t next_[kMaxPeers];
    uint64_t last_ = 0;
    uint64_t received_ = 0;
    bool stopped_ = false;
};

/* The control block all sides of a run share (anonymous shared memory, inherited by fork). */
struct Ctrl {
    alignas(64) std::atomic<int> ready;
    std::atomic<int> go;
    std::atomic<int> stop;
    std::atomic<int> abort;
    std::atomic<int> producers_done;
    std::atomic<int> total_valid;
    std::atomic<uint64_t> total_sent;
    struct alignas(64) Prod {
        std::atomic<uint64_t> sent;
    } prod[kMaxPeers];
    struct alignas(64) Cons {
        std::atomic<uint64_t> received;
        Tally tally;
    } cons[kMaxPeers];
    alignas(64) std::atomic<int> peer_failed;
    char error[200];

    static Ctrl *make();
    static void destroy(Ctrl *c);
    /* Record a peer's failure (the first one wins) and stop everybody. */
    void fail(const char *fmt, ...) __attribute__((format(printf, 2, 3)));
};

/* Spin on a failed attempt; after yield_after attempts, yield the CPU instead (for runs with
 * more busy processes than CPUs). Returns false when the run was aborted. */
class Peers;
class Backoff
{
  public:
    Backoff(Ctrl *ctrl, unsigned yield_after, Peers *watch = nullptr)
        : ctrl_(ctrl), yield_after_(yield_after), watch_(watch)
    {
    }
    bool wait();
    void reset() { n_ = 0; }

  private:
    Ctrl *ctrl_;
    unsigned yield_after_;
    Peers *watch_;
    uint64_t n_ = 0;
};

/* The peers of a run: forked processes or threads of this process, each pinned to a CPU. */
class Peers
{
  public:
    Peers(bool processes, Ctrl *ctrl) : processes_(processes), ctrl_(ctrl) {}
    ~Peers(); /* kills and reaps whatever is left */
    void spawn(int cpu, std::function<int()> fn);
    size_t size() const { return processes_ ? pids_.size() : threads_.size(); }
    /* False if a peer process has exited (before join). */
    bool alive();
    /* Wait for every peer; "" when all exited with 0, else what went wrong. */
    std::string join(double timeout_s);

  private:
    bool processes_;
    Ctrl *ctrl_;
    std::vector<pid_t> pids_;
    std::vector<int> status_;
    std::vector<std::thread> threads_;
    std::unique_ptr<std::atomic<int>[]> thread_rc_ =
        std::make_unique<std::atomic<int>[]>(kMaxPeers);
};

/* Wait until pred() or the deadline; false on timeout, abort or a dead peer. */
bool wait_until(Ctrl *ctrl, Peers *peers, double timeout_s, const std::function<bool()> &pred);

/* The shape of a run. */
struct Shape {
    size_t size = 64;         /* message bytes */
    unsigned batch = 1;       /* messages per send/recv call */
    unsigned producers = 1;   /* the benchmark thread is producer 0 */
    unsigned consumers = 1;   /* peers */
    bool processes = true;    /* peers are forked processes (else threads) */
    unsigned yield_after = 0; /* Backoff: 0 = spin only */
    unsigned idle_pauses = 0; /* consumers: extra pause instructions after an empty poll (the
                                 "paused" side of the tight-poll cases) */
    Order order = Order::kExact;
    uint32_t capacity = 0; /* 0 = capacity_for(size) */
    uint32_t cap() const { return capacity ? capacity : capacity_for(size); }
};

/* CPU of each side: the benchmark thread on 0, its first peer on 1, then alternating. */
inline int consumer_cpu(unsigned c)
{
    return c % 2 == 0 ? 1 : 0;
}
inline int producer_cpu(unsigned p)
{
    return p % 2 == 0 ? 0 : 1;
}

/* Ends a run that cannot start or finish cleanly. */
inline void skip(benchmark::State &state, const std::string &why)
{
    state.SkipWithError(why.c_str());
}

/* ---- run_pair: one thread enqueues and dequeues ---------------------------------------- */

template <class C>
void run_pair(benchmark::State &state, const typename C::Config &cfg, Shape shape)
{
    shape.processes = false;
    Ctrl *ctrl = Ctrl::make();
    cleanup::arm("pair");
    std::string err;
    try {
        C chan(cfg, shape);
        typename C::Producer prod(chan, 0);
        typename C::Consumer cons(chan, 0);
        int r;
        if ((r = prod.init()) != 0 || (r = cons.init()) != 0)
            throw std::runtime_error(std::string("init: ") + std::strerror(-r));
        Checker check(shape.order, shape.size, 1, &ctrl->cons[0].tally);
        uint64_t seq = 0;
        for (auto _ : state) {
            int s = prod.send(make_word(0, seq), shape.batch);
            int g = cons.recv(check);
            if (s != int(shape.batch) || g != s) {
                err = "send gave " + std::to_string(s) + ", recv gave " + std::to_string(g);
                break;
            }
            seq += unsigned(s);
        }
        if (err.empty() && check.errors())
            err = ctrl->cons[0].tally.what;
        else if (err.empty() && check.received() != seq)
            err = "sent " + std::to_string(seq) + ", received " + std::to_string(check.received());
        state.SetItemsProcessed(int64_t(seq));
        state.SetBytesProcessed(int64_t(seq * shape.size));
    } catch (const std::exception &e) {
        err = e.what();
    }
    cleanup::disarm();
    Ctrl::destroy(ctrl);
    if (!err.empty())
        skip(state, err);
}

/* ---- run_stream: the benchmark thread produces, peers consume --------------------------- */

template <class C> int stream_consumer(C &chan, Ctrl *ctrl, const Shape &shape, unsigned id)
{
    typename C::Consumer cons(chan, id);
    if (int r = cons.init()) {
        ctrl->fail("consumer %u: init: %s", id, std::strerror(-r));
        return 1;
    }
    Checker check(shape.order, shape.size, shape.producers, &ctrl->cons[id].tally);
    ctrl->ready.fetch_add(1);
    while (!ctrl->go.load(std::memory_order_acquire))
        if (ctrl->abort.load(std::memory_order_relaxed))
            return 1;
        else
            cpu_relax();
    Backoff backoff(ctrl, shape.yield_after);
    for (;;) {
        int r = cons.recv(check);
        if (r < 0) {
            ctrl->fail("consumer %u: recv: %s", id, std::strerror(-r));
            break;
        }
        if (check.stopped())
            break;
        if (r > 0) {
            backoff.reset();
            continue;
        }
        if (ctrl->stop.load(std::memory_order_acquire)) {
            /* Done when every consumer has published a count and they add up. */
            ctrl->cons[id].received.store(check.received(), std::memory_order_release);
            if (ctrl->total_valid.load(std::memory_order_acquire)) {
                uint64_t sum = 0;
                for (unsigned c = 0; c < shape.consumers; c++)
                    sum += ctrl->cons[c].received.load(std::memory_order_acquire);
                if (sum == ctrl->total_sent.load(std::memory_order_relaxed))
                    break;
            }
        }
        for (unsigned i = 0; i < shape.idle_pauses; i++)
            cpu_relax();
        if (!backoff.wait())
            break;
    }
    ctrl->cons[id].received.store(check.received(), std::memory_order_release);
    return check.errors() ? 2 : 0;
}

template <class C> int stream_producer(C &chan, Ctrl *ctrl, const Shape &shape, unsigned id)
{
    typename C::Producer prod(chan, id);
    if (int r = prod.init()) {
        ctrl->fail("producer %u: init: %s", id, std::strerror(-r));
        return 1;
    }
    ctrl->ready.fetch_add(1);
    while (!ctrl->go.load(std::memory_order_acquire))
        if (ctrl->abort.load(std::memory_order_relaxed))
            return 1;
        else
            cpu_relax();
    Backoff backoff(ctrl, shape.yield_after);
    uint64_t seq = 0;
    int rc = 0;
    while (!ctrl->stop.load(std::memory_order_relaxed)) {
        int r = prod.send(make_word(id, seq), shape.batch);
        if (r > 0) {
            seq += unsigned(r);
            backoff.reset();
        } else if (r < 0) {
            ctrl->fail("producer %u: send: %s", id, std::strerror(-r));
            rc = 1;
            break;
        } else if (!backoff.wait()) {
            break;
        }
    }
    ctrl->prod[id].sent.store(seq, std::memory_order_relaxed);
    ctrl->producers_done.fetch_add(1, std::memory_order_release);
    return rc;
}

/* Send one message, retrying while full. */
template <class P> int send_all(P &prod, uint64_t word, Backoff &backoff)
{
    for (;;) {
        int r = prod.send(word, 1);
        if (r > 0)
            return 0;
        if (r < 0)
            return r;
        if (!backoff.wait())
            return -ECANCELED;
    }
}

/* Compare what the consumers counted with what the producers sent. */
std::string verify_stream(Ctrl *ctrl, const Shape &shape, uint64_t *total);

template <class C>
void run_stream(benchmark::State &state, const typename C::Config &cfg, Shape shape)
{
    Ctrl *ctrl = Ctrl::make();
    cleanup::arm("stream");
    std::string err;
    uint64_t total = 0;
    try {
        C chan(cfg, shape);
        Peers peers(shape.processes, ctrl);
        for (unsigned c = 0; c < shape.consumers; c++)
            peers.spawn(consumer_cpu(c),
                        [&chan, ctrl, &shape, c] { return stream_consumer(chan, ctrl, shape, c); });
        for (unsigned p = 1; p < shape.producers; p++)
            peers.spawn(producer_cpu(p),
                        [&chan, ctrl, &shape, p] { return stream_producer(chan, ctrl, shape, p); });
        int expect = int(peers.size());
        if (!wait_until(ctrl, &peers, 20, [&] { return ctrl->ready.load() == expect; }))
            throw std::runtime_error(ctrl->error[0] ? ctrl->error : "peers did not start");
        /* After the peers: a receiver that binds (ZeroMQ) is there before we connect. */
        typename C::Producer prod(chan, 0);
        if (int r = prod.init())
            throw std::runtime_error(std::string("producer 0: init: ") + std::strerror(-r));
        Backoff backoff(ctrl, shape.yield_after, &peers);
        uint64_t seq = 0;
        ctrl->go.store(1, std::memory_order_release);
        for (auto _ : state) {
            unsigned left = shape.batch;
            while (left) {
                int r = prod.send(make_word(0, seq), left);
                if (r > 0) {
                    seq += unsigned(r);
                    left -= unsigned(r);
                    backoff.reset();
                } else if (r < 0) {
                    err = std::string("producer 0: send: ") + std::strerror(-r);
                    break;
                } else if (!backoff.wait()) {
                    err = ctrl->error[0] ? ctrl->error : "a peer died";
                    break;
                }
            }
            if (!err.empty())
                break;
        }
        ctrl->prod[0].sent.store(seq, std::memory_order_relaxed);
        ctrl->stop.store(1, std::memory_order_release);
        if (!err.empty())
            ctrl->abort.store(1);
        int peer_producers = int(shape.producers) - 1;
        if (!wait_until(ctrl, &peers, 20,
                        [&] { return ctrl->producers_done.load() == peer_producers; }) &&
            err.empty())
            err = ctrl->error[0] ? ctrl->error : "peer producers did not stop";
        uint64_t sent = 0;
        for (unsigned p = 0; p < shape.producers; p++)
            sent += ctrl->prod[p].sent.load();
        ctrl->total_sent.store(sent);
        ctrl->total_valid.store(1, std::memory_order_release);
        if (chan.blocking() && err.empty()) {
            Backoff b2(ctrl, 64, &peers);
            for (unsigned c = 0; c < shape.consumers && err.empty(); c++)
                if (int r = send_all(prod, kStopWord, b2))
                    err = std::string("stop sentinel: ") + std::strerror(-r);
            if (!err.empty())
                ctrl->abort.store(1);
        }
        std::string perr = peers.join(30);
        if (err.empty())
            err = perr;
        if (err.empty())
            err = verify_stream(ctrl, shape, &total);
    } catch (const std::exception &e) {
        err = e.what();
    }
    cleanup::disarm();
    Ctrl::destroy(ctrl);
    state.SetItemsProcessed(int64_t(total));
    state.SetBytesProcessed(int64_t(total * shape.size));
    if (!err.empty())
        skip(state, err);
}

/* ---- run_pingpong: a round trip through two channels ------------------------------------ */

template <class C> int pingpong_echo(C &to_peer, C &to_bench, Ctrl *ctrl, const Shape &shape)
{
    typename C::Consumer in(to_peer, 0);
    typename C::Producer out(to_bench, 0);
    int r;
    if ((r = in.init()) != 0 || (r = out.init()) != 0) {
        ctrl->fail("echo: init: %s", std::strerror(-r));
        return 1;
    }
    Checker check(Order::kExact, shape.size, 1, &ctrl->cons[0].tally);
    ctrl->ready.fetch_add(1);
    while (!ctrl->go.load(std::memory_order_acquire))
        if (ctrl->abort.load(std::memory_order_relaxed))
            return 1;
        else
            cpu_relax();
    Backoff backoff(ctrl, shape.yield_after);
    for (;;) {
        r = in.recv(check);
        if (r < 0) {
            ctrl->fail("echo: recv: %s", std::strerror(-r));
            return 1;
        }
        if (check.stopped())
            break;
        if (r == 0) {
            if (ctrl->stop.load(std::memory_order_relaxed) || !backoff.wait())
                break;
            continue;
        }
        backoff.reset();
        if ((r = send_all(out, check.last_word(), backoff)) != 0) {
            ctrl->fail("echo: send: %s", std::strerror(-r));
            return 1;
        }
    }
    return check.errors() ? 2 : 0;
}

template <class C>
void run_pingpong(benchmark::State &state, const typename C::Config &cfg, Shape shape)
{
    Ctrl *ctrl = Ctrl::make();
    cleanup::arm("pingpong");
    std::string err;
    uint64_t seq = 0;
    try {
        C to_peer(cfg, shape), to_bench(cfg, shape);
        Peers peers(shape.processes, ctrl);
        peers.spawn(consumer_cpu(0), [&to_peer, &to_bench, ctrl, &shape] {
            return pingpong_echo(to_peer, to_bench, ctrl, shape);
        });
        typename C::Producer out(to_peer, 0);
        typename C::Consumer in(to_bench, 0);
        int r;
        if ((r = out.init()) != 0 || (r = in.init()) != 0)
            throw std::runtime_error(std::string("init: ") + std::strerror(-r));
        Tally tally;
        Checker check(Order::kExact, shape.size, 1, &tally);
        if (!wait_until(ctrl, &peers, 20, [&] { return ctrl->ready.load() == 1; }))
            throw std::runtime_error(ctrl->error[0] ? ctrl->error : "echo did not start");
        Backoff backoff(ctrl, shape.yield_after, &peers);
        ctrl->go.store(1, std::memory_order_release);
        for (auto _ : state) {
            if ((r = send_all(out, make_word(0, seq), backoff)) != 0) {
                err = std::string("send: ") + std::strerror(-r);
                break;
            }
            for (;;) {
                r = in.recv(check);
                if (r > 0)
                    break;
                if (r < 0 || !backoff.wait()) {
                    err = r < 0 ? std::string("recv: ") + std::strerror(-r)
                                : std::string(ctrl->error[0] ? ctrl->error : "echo died");
                    break;
                }
            }
            if (!err.empty())
                break;
            backoff.reset();
            seq++;
        }
        ctrl->stop.store(1, std::memory_order_release);
        if (err.empty() && to_peer.blocking()) {
            Backoff b2(ctrl, 64, &peers);
            if ((r = send_all(out, kStopWord, b2)) != 0)
                err = std::string("stop sentinel: ") + std::strerror(-r);
        }
        if (!err.empty())
            ctrl->abort.store(1);
        std::string perr = peers.join(30);
        if (err.empty())
            err = perr;
        if (err.empty() && check.errors())
            err = std::string("returned messages: ") + tally.what;
        if (err.empty() && (check.received() != seq || ctrl->cons[0].tally.count[0] != seq))
            err = "sent " + std::to_string(seq) + ", echoed " +
                  std::to_string(ctrl->cons[0].tally.count[0]) + ", received back " +
                  std::to_string(check.received());
    } catch (const std::exception &e) {
        err = e.what();
    }
    cleanup::disarm();
    Ctrl::destroy(ctrl);
    state.SetItemsProcessed(int64_t(seq)); /* round trips */
    state.SetBytesProcessed(int64_t(seq * shape.size));
    if (!err.empty())
        skip(state, err);
}

/* ---- registration ------------------------------------------------------------------------ */

/* Register name with the settings every case of the suite shares (real time: the peers'
 * work is part of what a run measures). */
benchmark::internal::Benchmark *add(const std::string &name,
                                    std::function<void(benchmark::State &)> fn);

/* Each file registers its cases (main.cc calls the ones that were built). */
void register_queue();
void register_limits();
void register_kernel();
void register_dpdk();
void register_ck();
void register_urcu();
void register_zmq();
void register_boost();

} // namespace bench

#endif /* SHMQ_BENCH_UTIL_H */
