/*
 * DPDK rte_ring, the reference for rings in shared memory: SP/SC, MP/MC and RTS (the mode
 * made for preemptible threads), each with the elem API and elements of the message size.
 * The ring lives in a shm object of rte_ring_get_memsize_elem() bytes initialised with
 * rte_ring_init(): no EAL. A ring of count n holds n - 1 elements.
 */
#include "bench_util.h"

#include <rte_ring.h>
#include <rte_ring_elem.h>

namespace bench
{
namespace
{

class RteChan
{
  public:
    enum class Mode { kSpsc, kMpmc, kRts };
    struct Config {
        Mode mode;
    };

    RteChan(const Config &cfg, const Shape &shape)
        : cfg_(cfg), shape_(shape),
          region_(size_t(rte_ring_get_memsize_elem(unsigned(shape.size), shape.cap())), "rte")
    {
        unsigned flags = cfg.mode == Mode::kSpsc  ? RING_F_SP_ENQ | RING_F_SC_DEQ
                         : cfg.mode == Mode::kRts ? RING_F_MP_RTS_ENQ | RING_F_MC_RTS_DEQ
                                                  : 0;
        auto *r = static_cast<rte_ring *>(region_.here());
        int e = rte_ring_init(r, "bench", shape.cap(), flags);
        if (e)
            throw std::runtime_error(std::string("rte_ring_init: ") + std::strerror(-e));
    }
    bool blocking() const { return false; }

    struct Side {
        explicit Side(RteChan &c) : chan(c) {}
        int init()
        {
            ring = static_cast<rte_ring *>(chan.region_.here());
            buf.assign(chan.shape_.size * chan.shape_.batch, 0x5a);
            return ring ? 0 : -ENOMEM;
        }
        RteChan &chan;
        rte_ring *ring = nullptr;
        std::vector<unsigned char> buf;
    };

    struct Producer : Side {
        Producer(RteChan &c, unsigned) : Side(c) {}
        int send(uint64_t word, unsigned n)
        {
            const unsigned size = unsigned(chan.shape_.size);
            if (n == 1) {
                stamp(buf.data(), size, word);
                int r;
                switch (chan.cfg_.mode) {
                case Mode::kSpsc:
                    r = rte_ring_sp_enqueue_elem(ring, buf.data(), size);
                    break;
                case Mode::kMpmc:
                    r = rte_ring_mp_enqueue_elem(ring, buf.data(), size);
                    break;
                default:
                    r = rte_ring_enqueue_elem(ring, buf.data(), size);
                }
                return r == 0 ? 1 : 0;
            }
            for (unsigned i = 0; i < n; i++)
                stamp(buf.data() + size_t(i) * size, size, word + i);
            /* Burst, as shmq_push_batch: as many as there is room for. */
            return int(rte_ring_enqueue_burst_elem(ring, buf.data(), size, n, nullptr));
        }
    };

    struct Consumer : Side {
        Consumer(RteChan &c, unsigned) : Side(c) {}
        int recv(Checker &check)
        {
            const unsigned size = unsigned(chan.shape_.size);
            const unsigned batch = chan.shape_.batch;
            if (batch == 1) {
                int r;
                switch (chan.cfg_.mode) {
                case Mode::kSpsc:
                    r = rte_ring_sc_dequeue_elem(ring, buf.data(), size);
                    break;
                case Mode::kMpmc:
                    r = rte_ring_mc_dequeue_elem(ring, buf.data(), size);
                    break;
                default:
                    r = rte_ring_dequeue_elem(ring, buf.data(), size);
                }
                if (r != 0)
                    return 0;
                check.check(buf.data(), size);
                return 1;
            }
            /* Burst, as shmq_pop_batch: whatever is there, up to the batch. */
            unsigned got = rte_ring_dequeue_burst_elem(ring, buf.data(), size, batch, nullptr);
            for (unsigned i = 0; i < got; i++)
                check.check(buf.data() + size_t(i) * size, size);
            return int(got);
        }
    };

  private:
    Config cfg_;
    Shape shape_;
    ShmRegion region_;
};

struct Variant {
    const char *name;
    RteChan::Mode mode;
};
const Variant kSpsc{"rte_spsc", RteChan::Mode::kSpsc};
const Variant kMpmc{"rte_mpmc", RteChan::Mode::kMpmc};
const Variant kRts{"rte_rts", RteChan::Mode::kRts};

std::string name(const char *group, const Variant &v, size_t size)
{
    return std::string(group) + "/" + v.name + "/" + std::to_string(size);
}

} // namespace

void register_dpdk()
{
    for (size_t size : {size_t(8), size_t(64)})
        for (const Variant *v : {&kSpsc, &kMpmc})
            add(name("pair", *v, size), [v, size](benchmark::State &s) {
                Shape shape;
                shape.size = size;
                run_pair<RteChan>(s, {v->mode}, shape);
            });
    for (size_t size : kSizes)
        for (const Variant *v : {&kSpsc, &kMpmc})
            add(name("spsc", *v, size), [v, size](benchmark::State &s) {
                Shape shape;
                shape.size = size;
                run_stream<RteChan>(s, {v->mode}, shape);
            });
    add(name("spsc", kRts, 64), [](benchmark::State &s) {
        Shape shape;
        run_stream<RteChan>(s, {kRts.mode}, shape);
    });
    for (size_t size : {size_t(8), size_t(64)})
        for (const Variant *v : {&kSpsc, &kMpmc})
            add(name("batch32", *v, size), [v, size](benchmark::State &s) {
                Shape shape;
                shape.size = size;
                shape.batch = 32;
                run_stream<RteChan>(s, {v->mode}, shape);
            });
    for (size_t size : {size_t(8), size_t(64)})
        for (const Variant *v : {&kMpmc, &kRts})
            add(name("mpmc2x2", *v, size), [v, size](benchmark::State &s) {
                Shape shape;
                shape.size = size;
                shape.producers = 2;
                shape.consumers = 2;
                shape.yield_after = 64;
                shape.order = Order::kIncreasing;
                run_stream<RteChan>(s, {v->mode}, shape);
            });
    for (unsigned pauses : {0u, 2000u})
        add(std::string("poll/rte_mpmc_") + (pauses ? "paused" : "tight") + "/64",
            [pauses](benchmark::State &s) {
                Shape shape;
                shape.idle_pauses = pauses;
                run_stream<RteChan>(s, {kMpmc.mode}, shape);
            });
    add(name("latency_spin", kSpsc, 64),
        [](benchmark::State &s) { run_pingpong<RteChan>(s, {kSpsc.mode}, Shape{}); });
}

} // namespace bench
