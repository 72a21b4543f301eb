/*
 * Concurrency Kit ck_ring in shared memory: SPSC and MPMC, with 8- and 64-byte elements
 * stored inline. ck_ring's header is C only, so its functions are reached through the small
 * wrappers of baseline_ck_ring.c (one call per operation, as for shmq). A ring of n holds
 * n - 1.
 */
#include "bench_util.h"

#include "baseline_ck_ring.h"

namespace bench
{
namespace
{

class CkChan
{
  public:
    struct Config {
        bool mpmc;
    };
    CkChan(const Config &cfg, const Shape &shape)
        : cfg_(cfg), shape_(shape), region_(bck_region_size(shape.cap(), shape.size), "ck")
    {
        bck_init(region_.here(), shape.cap());
    }
    bool blocking() const { return false; }

    struct Side {
        explicit Side(CkChan &c) : chan(c) {}
        int init()
        {
            ring = chan.region_.here();
            buf.assign(chan.shape_.size, 0x5a);
            return ring ? 0 : -ENOMEM;
        }
        CkChan &chan;
        void *ring = nullptr;
        std::vector<unsigned char> buf;
    };
    struct Producer : Side {
        Producer(CkChan &c, unsigned) : Side(c) {}
        int send(uint64_t word, unsigned)
        {
            stamp(buf.data(), buf.size(), word);
            return bck_enqueue(ring, chan.cfg_.mpmc, buf.size(), buf.data()) ? 1 : 0;
        }
    };
    struct Consumer : Side {
        Consumer(CkChan &c, unsigned) : Side(c) {}
        int recv(Checker &check)
        {
            if (!bck_dequeue(ring, chan.cfg_.mpmc, buf.size(), buf.data()))
                return 0;
            check.check(buf.data(), buf.size());
            return 1;
        }
    };

  private:
    Config cfg_;
    Shape shape_;
    ShmRegion region_;
};

} // namespace

void register_ck()
{
    for (size_t size : {size_t(8), size_t(64)}) {
        std::string s = std::to_string(size);
        for (bool mpmc : {false, true}) {
            std::string impl = mpmc ? "ck_mpmc/" : "ck_spsc/";
            add("pair/" + impl + s, [size, mpmc](benchmark::State &st) {
                Shape shape;
                shape.size = size;
                run_pair<CkChan>(st, {mpmc}, shape);
            });
            add("spsc/" + impl + s, [size, mpmc](benchmark::State &st) {
                Shape shape;
                shape.size = size;
                run_stream<CkChan>(st, {mpmc}, shape);
            });
        }
        add("mpmc2x2/ck_mpmc/" + s, [size](benchmark::State &st) {
            Shape shape;
            shape.size = size;
            shape.producers = 2;
            shape.consumers = 2;
            shape.yield_after = 64;
            shape.order = Order::kIncreasing;
            run_stream<CkChan>(st, {true}, shape);
        });
    }
}

} // namespace bench
