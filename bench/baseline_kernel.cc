/*
 * Baselines in the kernel: a pipe, a Unix socket (SOCK_SEQPACKET: one message per call, as a
 * queue) and a POSIX message queue. All three block in the kernel, so a run ends each
 * receiver with a sentinel message.
 *
 * POSIX mq: a queue holds at most fs.mqueue.msg_max messages (10 by default) of at most
 * fs.mqueue.msgsize_max bytes (8192 by default). tools/bench.sh raises both when it runs as
 * root; otherwise the mq cases run with the depth the system allows (reported as the
 * "depth" counter) and sizes above msgsize_max are not registered.
 */
#include "bench_util.h"

#include <mqueue.h>
#include <sys/resource.h>
#include <sys/socket.h>

namespace bench
{
namespace
{

int write_full(int fd, const void *p, size_t len)
{
    auto *c = static_cast<const char *>(p);
    while (len) {
        ssize_t n = write(fd, c, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        c += n;
        len -= size_t(n);
    }
    return 0;
}

int read_full(int fd, void *p, size_t len)
{
    auto *c = static_cast<char *>(p);
    while (len) {
        ssize_t n = read(fd, c, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (n == 0)
            return -EPIPE;
        c += n;
        len -= size_t(n);
    }
    return 0;
}

/* A pipe or a socket pair: fd[0] is read, fd[1] written. Inherited by the forked peer. */
class FdChan
{
  public:
    enum class Kind { kPipe, kUnix };
    struct Config {
        Kind kind;
    };
    FdChan(const Config &cfg, const Shape &shape) : cfg_(cfg), shape_(shape), owner_(getpid())
    {
        int r;
        if (cfg.kind == Kind::kPipe) {
            r = pipe2(fd_, O_CLOEXEC);
        } else {
            int sv[2];
            r = socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv);
            fd_[0] = sv[1];
            fd_[1] = sv[0];
            if (r == 0) {
                int buf = int(shape.size * 4 + 65536);
                setsockopt(fd_[1], SOL_SOCKET, SO_SNDBUF, &buf, sizeof buf);
            }
        }
        if (r != 0)
            throw std::runtime_error(std::string("pipe/socketpair: ") + std::strerror(errno));
    }
    ~FdChan()
    {
        if (getpid() != owner_)
            return;
        close(fd_[0]);
        close(fd_[1]);
    }
    bool blocking() const { return true; }

    struct Producer {
        Producer(FdChan &c, unsigned) : chan(c) {}
        int init()
        {
            buf.assign(chan.shape_.size, 0x5a);
            return 0;
        }
        int send(uint64_t word, unsigned)
        {
            stamp(buf.data(), buf.size(), word);
            if (chan.cfg_.kind == Kind::kPipe) {
                int r = write_full(chan.fd_[1], buf.data(), buf.size());
                return r ? r : 1;
            }
            for (;;) {
                ssize_t n = send_msg(buf.data(), buf.size());
                if (n >= 0)
                    return n == ssize_t(buf.size()) ? 1 : -EIO;
                if (errno != EINTR)
                    return -errno;
            }
        }
        ssize_t send_msg(const void *p, size_t len) { return ::send(chan.fd_[1], p, len, 0); }
        FdChan &chan;
        std::vector<unsigned char> buf;
    };

    struct Consumer {
        Consumer(FdChan &c, unsigned) : chan(c) {}
        int init()
        {
            buf.assign(chan.shape_.size, 0);
            return 0;
        }
        int recv(Checker &check)
        {
            if (chan.cfg_.kind == Kind::kPipe) {
                int r = read_full(chan.fd_[0], buf.data(), buf.size());
                if (r)
                    return r;
                check.check(buf.data(), buf.size());
                return 1;
            }
            for (;;) {
                ssize_t n = ::recv(chan.fd_[0], buf.data(), buf.size(), 0);
                if (n > 0) {
                    check.check(buf.data(), size_t(n));
                    return 1;
                }
                if (n == 0)
                    return -EPIPE;
                if (errno != EINTR)
                    return -errno;
            }
        }
        FdChan &chan;
        std::vector<unsigned char> buf;
    };

  private:
    Config cfg_;
    Shape shape_;
    pid_t owner_;
    int fd_[2] = {-1, -1};
};

long read_proc_long(const char *path, long fallback)
{
    FILE *f = std::fopen(path, "r");
    if (!f)
        return fallback;
    long v = fallback;
    if (std::fscanf(f, "%ld", &v) != 1)
        v = fallback;
    std::fclose(f);
    return v;
}

/* How many messages of `size` bytes one POSIX mq may hold here. */
long mq_depth(size_t size)
{
    long depth =
        std::min<long>(capacity_for(size), read_proc_long("/proc/sys/fs/mqueue/msg_max", 10));
    rlimit rl;
    if (getrlimit(RLIMIT_MSGQUEUE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
        /* The kernel charges each message its size plus a pointer and some bookkeeping; two
         * queues (a ping-pong) must fit at once. */
        long fit = long(rl.rlim_cur / 2 / (size + 64));
        depth = std::min(depth, fit);
    }
    return depth;
}

class MqChan
{
  public:
    struct Config {
    };
    MqChan(const Config &, const Shape &shape)
        : shape_(shape), name_("/" + unique_name("mq")), owner_(getpid())
    {
        mq_attr attr{};
        attr.mq_maxmsg = mq_depth(shape.size);
        attr.mq_msgsize = long(shape.size);
        q_ = mq_open(name_.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600, &attr);
        if (q_ == mqd_t(-1))
            throw std::runtime_error("mq_open (depth " + std::to_string(attr.mq_maxmsg) +
                                     "): " + std::strerror(errno));
        cleanup::add_mq(name_);
    }
    ~MqChan()
    {
        if (getpid() != owner_)
            return;
        mq_close(q_);
        mq_unlink(name_.c_str());
        cleanup::remove_mq(name_);
    }
    bool blocking() const { return true; }

    struct Producer {
        Producer(MqChan &c, unsigned) : chan(c) {}
        int init()
        {
            buf.assign(chan.shape_.size, 0x5a);
            return 0;
        }
        int send(uint64_t word, unsigned)
        {
            stamp(buf.data(), buf.size(), word);
            while (mq_send(chan.q_, reinterpret_cast<const char *>(buf.data()), buf.size(), 0))
                if (errno != EINTR)
                    return -errno;
            return 1;
        }
        MqChan &chan;
        std::vector<unsigned char> buf;
    };

    struct Consumer {
        Consumer(MqChan &c, unsigned) : chan(c) {}
        int init()
        {
            buf.assign(chan.shape_.size, 0);
            return 0;
        }
        int recv(Checker &check)
        {
            for (;;) {
                ssize_t n =
                    mq_receive(chan.q_, reinterpret_cast<char *>(buf.data()), buf.size(), nullptr);
                if (n >= 0) {
                    check.check(buf.data(), size_t(n));
                    return 1;
                }
                if (errno != EINTR)
                    return -errno;
            }
        }
        MqChan &chan;
        std::vector<unsigned char> buf;
    };

  private:
    Shape shape_;
    std::string name_;
    pid_t owner_;
    mqd_t q_;
};

} // namespace

void register_kernel()
{
    long msgsize_max = read_proc_long("/proc/sys/fs/mqueue/msgsize_max", 8192);
    for (size_t size : kSizes) {
        std::string s = std::to_string(size);
        add("spsc/pipe/" + s, [size](benchmark::State &st) {
            Shape shape;
            shape.size = size;
            run_stream<FdChan>(st, {FdChan::Kind::kPipe}, shape);
        });
        add("spsc/unix/" + s, [size](benchmark::State &st) {
            Shape shape;
            shape.size = size;
            run_stream<FdChan>(st, {FdChan::Kind::kUnix}, shape);
        });
        if (long(size) <= msgsize_max && mq_depth(size) >= 1)
            add("spsc/mq/" + s, [size](benchmark::State &st) {
                Shape shape;
                shape.size = size;
                st.counters["depth"] = double(mq_depth(size));
                run_stream<MqChan>(st, {}, shape);
            });
    }
    add("latency_block/pipe/64",
        [](benchmark::State &st) { run_pingpong<FdChan>(st, {FdChan::Kind::kPipe}, Shape{}); });
    add("latency_block/unix/64",
        [](benchmark::State &st) { run_pingpong<FdChan>(st, {FdChan::Kind::kUnix}, Shape{}); });
    if (mq_depth(64) >= 1)
        add("latency_block/mq/64", [](benchmark::State &st) {
            st.counters["depth"] = double(mq_depth(64));
            run_pingpong<MqChan>(st, {}, Shape{});
        });
}

} // namespace bench
