/*
 * ZeroMQ PUSH/PULL over ipc:// (a Unix socket underneath, with ZeroMQ's I/O thread in each
 * process: it inherits the pinning of the thread that made the context). The receiving side
 * binds, the sending side connects; a run ends the receiver with a sentinel message.
 */
#include "bench_util.h"

#include <zmq.h>

namespace bench
{
namespace
{

class ZmqChan
{
  public:
    struct Config {
    };
    ZmqChan(const Config &, const Shape &shape)
        : shape_(shape), path_("/tmp/" + unique_name("zmq")), owner_(getpid())
    {
        cleanup::add_path(path_);
    }
    ~ZmqChan()
    {
        if (getpid() != owner_)
            return;
        unlink(path_.c_str());
        cleanup::remove_path(path_);
    }
    bool blocking() const { return true; }

    struct Side {
        Side(ZmqChan &c, int type) : chan(c), type_(type) {}
        ~Side()
        {
            if (sock)
                zmq_close(sock);
            if (ctx)
                zmq_ctx_term(ctx);
        }
        int init()
        {
            buf.assign(chan.shape_.size, 0x5a);
            ctx = zmq_ctx_new();
            if (!ctx)
                return -errno;
            sock = zmq_socket(ctx, type_);
            if (!sock)
                return -errno;
            /* A sender that connects before the receiver has bound retries after
             * ZMQ_RECONNECT_IVL (100 ms by default): make that 1 ms. */
            int linger = 2000, hwm = int(chan.shape_.cap()), ivl = 1;
            zmq_setsockopt(sock, ZMQ_LINGER, &linger, sizeof linger);
            zmq_setsockopt(sock, ZMQ_RECONNECT_IVL, &ivl, sizeof ivl);
            zmq_setsockopt(sock, type_ == ZMQ_PUSH ? ZMQ_SNDHWM : ZMQ_RCVHWM, &hwm, sizeof hwm);
            std::string ep = "ipc://" + chan.path_;
            int r = type_ == ZMQ_PULL ? zmq_bind(sock, ep.c_str()) : zmq_connect(sock, ep.c_str());
            return r ? -zmq_errno() : 0;
        }
        ZmqChan &chan;
        int type_;
        void *ctx = nullptr, *sock = nullptr;
        std::vector<unsigned char> buf;
    };
    struct Producer : Side {
        Producer(ZmqChan &c, unsigned) : Side(c, ZMQ_PUSH) {}
        int send(uint64_t word, unsigned)
        {
            stamp(buf.data(), buf.size(), word);
            while (zmq_send(sock, buf.data(), buf.size(), 0) < 0)
                if (zmq_errno() != EINTR)
                    return -zmq_errno();
            return 1;
        }
    };
    struct Consumer : Side {
        Consumer(ZmqChan &c, unsigned) : Side(c, ZMQ_PULL) {}
        int recv(Checker &check)
        {
            int n;
            while ((n = zmq_recv(sock, buf.data(), buf.size(), 0)) < 0)
                if (zmq_errno() != EINTR)
                    return -zmq_errno();
            check.check(buf.data(), size_t(n) > buf.size() ? buf.size() + 1 : size_t(n));
            return 1;
        }
    };

  private:
    Shape shape_;
    std::string path_;
    pid_t owner_;
};

} // namespace

void register_zmq()
{
    for (size_t size : kSizes)
        add("spsc/zmq/" + std::to_string(size), [size](benchmark::State &s) {
            Shape shape;
            shape.size = size;
            run_stream<ZmqChan>(s, {}, shape);
        });
    add("latency_block/zmq/64", [](benchmark::State &s) { run_pingpong<ZmqChan>(s, {}, Shape{}); });
}

} // namespace bench
