/*
 * Boost.Interprocess message_queue: a bounded queue in a shm object, guarded by a
 * process-shared mutex and condition variables. Senders and receivers block in it, so a run
 * ends each receiver with a sentinel message.
 */
#include "bench_util.h"

#include <boost/interprocess/ipc/message_queue.hpp>

namespace bench
{
namespace
{

namespace bip = boost::interprocess;

class BoostChan
{
  public:
    struct Config {
    };
    BoostChan(const Config &, const Shape &shape)
        : shape_(shape), name_(unique_name("boost")), owner_(getpid())
    {
        try {
            q_ = std::make_unique<bip::message_queue>(bip::create_only, name_.c_str(), shape.cap(),
                                                      shape.size);
        } catch (const bip::interprocess_exception &e) {
            throw std::runtime_error(std::string("message_queue: ") + e.what());
        }
        cleanup::add_path("/dev/shm/" + name_);
    }
    ~BoostChan()
    {
        if (getpid() != owner_)
            return;
        q_.reset();
        bip::message_queue::remove(name_.c_str());
        cleanup::remove_path("/dev/shm/" + name_);
    }
    bool blocking() const { return true; }

    struct Side {
        explicit Side(BoostChan &c) : chan(c) {}
        int init()
        {
            buf.assign(chan.shape_.size, 0x5a);
            try {
                q = std::make_unique<bip::message_queue>(bip::open_only, chan.name_.c_str());
            } catch (const bip::interprocess_exception &) {
                return -ENOENT;
            }
            return 0;
        }
        BoostChan &chan;
        std::unique_ptr<bip::message_queue> q;
        std::vector<unsigned char> buf;
    };
    struct Producer : Side {
        Producer(BoostChan &c, unsigned) : Side(c) {}
        int send(uint64_t word, unsigned)
        {
            stamp(buf.data(), buf.size(), word);
            try {
                q->send(buf.data(), buf.size(), 0);
            } catch (const bip::interprocess_exception &) {
                return -EIO;
            }
            return 1;
        }
    };
    struct Consumer : Side {
        Consumer(BoostChan &c, unsigned) : Side(c) {}
        int recv(Checker &check)
        {
            bip::message_queue::size_type got = 0;
            unsigned prio = 0;
            try {
                q->receive(buf.data(), buf.size(), got, prio);
            } catch (const bip::interprocess_exception &) {
                return -EIO;
            }
            check.check(buf.data(), size_t(got));
            return 1;
        }
    };

  private:
    Shape shape_;
    std::string name_;
    pid_t owner_;
    std::unique_ptr<bip::message_queue> q_;
};

} // namespace

void register_boost()
{
    for (size_t size : kSizes)
        add("spsc/boost/" + std::to_string(size), [size](benchmark::State &s) {
            Shape shape;
            shape.size = size;
            run_stream<BoostChan>(s, {}, shape);
        });
    add("latency_block/boost/64",
        [](benchmark::State &s) { run_pingpong<BoostChan>(s, {}, Shape{}); });
}

} // namespace bench
