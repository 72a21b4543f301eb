/* The harness of bench_util.h: cleanup on every exit path, shared memory, peers. */
#include "bench_util.h"

#include <cstdarg>
#include <mqueue.h>

namespace bench
{

std::string unique_name(const char *what)
{
    static std::atomic<unsigned> counter;
    return "bench-" + std::to_string(getpid()) + "-" + std::to_string(counter.fetch_add(1)) + "-" +
           what;
}

/* ---- cleanup: fixed tables an async signal handler can walk ---- */

namespace cleanup
{
namespace
{
constexpr int kSlots = 64;
constexpr size_t kPathMax = 160;
std::atomic<pid_t> pids[kSlots];
char paths[kSlots][kPathMax];
std::atomic<int> path_used[kSlots]; /* 0 free, 1 file, 2 mq */
const char *volatile current = "";
pid_t main_pid;

void add_entry(const std::string &p, int kind)
{
    for (int i = 0; i < kSlots; i++) {
        int expect = 0;
        if (path_used[i].load() == 0 && p.size() < kPathMax) {
            std::snprintf(paths[i], kPathMax, "%s", p.c_str());
            if (path_used[i].compare_exchange_strong(expect, kind))
                return;
        }
    }
}

void remove_entry(const std::string &p)
{
    for (int i = 0; i < kSlots; i++)
        if (path_used[i].load() && p == paths[i]) {
            path_used[i].store(0);
            return;
        }
}

void write_str(const char *s)
{
    ssize_t r = write(2, s, std::strlen(s));
    (void)r;
}

void on_signal(int sig)
{
    if (getpid() != main_pid)
        _exit(3);
    for (auto &p : pids) {
        pid_t pid = p.load();
        if (pid > 0)
            kill(pid, SIGKILL);
    }
    for (int i = 0; i < kSlots; i++) {
        if (path_used[i].load() == 1)
            unlink(paths[i]);
        else if (path_used[i].load() == 2)
            mq_unlink(paths[i]);
    }
    write_str(sig == SIGALRM ? "\nshmq_bench: watchdog: a run of " : "\nshmq_bench: signal in ");
    write_str(current);
    write_str(" took too long or was interrupted; peers killed, segments removed\n");
    _exit(3);
}
} // namespace

void add_pid(pid_t pid)
{
    for (auto &p : pids) {
        pid_t zero = 0;
        if (p.compare_exchange_strong(zero, pid))
            return;
    }
}
void remove_pid(pid_t pid)
{
    for (auto &p : pids) {
        pid_t expect = pid;
        if (p.compare_exchange_strong(expect, 0))
            return;
    }
}
void add_path(const std::string &path)
{
    add_entry(path, 1);
}
void remove_path(const std::string &path)
{
    remove_entry(path);
}
void add_mq(const std::string &name)
{
    add_entry(name, 2);
}
void remove_mq(const std::string &name)
{
    remove_entry(name);
}

void install_handlers()
{
    main_pid = getpid();
    struct sigaction sa;
    std::memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGALRM, &sa, nullptr);
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
    sigaction(SIGHUP, &sa, nullptr);
    signal(SIGPIPE, SIG_IGN);
}

void arm(const char *what)
{
    current = what;
    alarm(kWatchdogSeconds);
}

void disarm()
{
    alarm(0);
}
} // namespace cleanup

/* ---- shared memory ---- */

ShmRegion::ShmRegion(size_t size, const char *what)
    : name_("/" + unique_name(what)), size_(size), owner_(getpid()), mapped_for_(getpid())
{
    int fd = shm_open(name_.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        throw std::runtime_error("shm_open " + name_ + ": " + std::strerror(errno));
    cleanup::add_path("/dev/shm" + name_);
    if (ftruncate(fd, off_t(size)) != 0) {
        int e = errno;
        close(fd);
        shm_unlink(name_.c_str());
        cleanup::remove_path("/dev/shm" + name_);
        throw std::runtime_error(std::string("ftruncate: ") + std::strerror(e));
    }
    base_ = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (base_ == MAP_FAILED) {
        shm_unlink(name_.c_str());
        cleanup::remove_path("/dev/shm" + name_);
        throw std::runtime_error(std::string("mmap: ") + std::strerror(errno));
    }
    std::memset(base_, 0, size); /* first touch by the creator, as a real ring */
}

ShmRegion::~ShmRegion()
{
    if (getpid() != owner_)
        return;
    munmap(base_, size_);
    shm_unlink(name_.c_str());
    cleanup::remove_path("/dev/shm" + name_);
}

void *ShmRegion::here()
{
    if (getpid() == mapped_for_)
        return base_;
    /* A forked peer: map the object again, at another address (the inherited mapping stays
     * in place, so the new one cannot land on it). */
    int fd = shm_open(name_.c_str(), O_RDWR | O_CLOEXEC, 0);
    if (fd < 0)
        return nullptr;
    void *p = mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (p == MAP_FAILED)
        return nullptr;
    base_ = p;
    mapped_for_ = getpid();
    return base_;
}

/* ---- control block ---- */

Ctrl *Ctrl::make()
{
    void *p =
        mmap(nullptr, sizeof(Ctrl), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        throw std::runtime_error("mmap of the control block failed");
    return new (p) Ctrl(); /* zero-filled: every counter and flag starts at 0 */
}

void Ctrl::destroy(Ctrl *c)
{
    c->~Ctrl();
    munmap(c, sizeof(Ctrl));
}

void Ctrl::fail(const char *fmt, ...)
{
    int expect = 0;
    if (peer_failed.compare_exchange_strong(expect, 1)) {
        va_list ap;
        va_start(ap, fmt);
        std::vsnprintf(error, sizeof error, fmt, ap);
        va_end(ap);
    }
    abort.store(1);
}

/* ---- backoff and peers ---- */

bool Backoff::wait()
{
    ++n_;
    if (yield_after_ && n_ > yield_after_)
        sched_yield();
    else
        cpu_relax();
    if ((n_ & 0x3fff) == 0) {
        if (ctrl_->abort.load(std::memory_order_relaxed))
            return false;
        if (watch_ && !watch_->alive()) {
            ctrl_->abort.store(1);
            return false;
        }
    }
    return true;
}

void Peers::spawn(int cpu, std::function<int()> fn)
{
    if (!processes_) {
        size_t i = threads_.size();
        thread_rc_[i].store(0);
        threads_.emplace_back([this, cpu, fn, i] {
            pin_cpu(cpu);
            thread_rc_[i].store(fn());
        });
        return;
    }
    pid_t parent = getpid();
    std::fflush(nullptr);
    pid_t pid = fork();
    if (pid < 0)
        throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
    if (pid == 0) {
        /* The peer dies with the benchmark process, whatever happens to it. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(9);
        alarm(0);
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        pin_cpu(cpu);
        _exit(fn());
    }
    cleanup::add_pid(pid);
    pids_.push_back(pid);
    status_.push_back(-1);
}

bool Peers::alive()
{
    for (size_t i = 0; i < pids_.size(); i++) {
        if (status_[i] != -1)
            return false;
        int st;
        if (waitpid(pids_[i], &st, WNOHANG) == pids_[i]) {
            status_[i] = st;
            cleanup::remove_pid(pids_[i]);
            return false;
        }
    }
    return true;
}

std::string Peers::join(double timeout_s)
{
    std::string err;
    if (!processes_) {
        double deadline = now_s() + timeout_s;
        (void)deadline; /* threads cannot be killed: they watch ctrl->abort instead */
        for (size_t i = 0; i < threads_.size(); i++) {
            threads_[i].join();
            int rc = thread_rc_[i].load();
            if (rc && err.empty())
                err = ctrl_->error[0] ? ctrl_->error
                                      : "peer thread failed (" + std::to_string(rc) + ")";
        }
        for (unsigned c = 0; err.empty() && c < kMaxPeers; c++)
            if (ctrl_->cons[c].tally.errors)
                err =
                    std::string("consumer ") + std::to_string(c) + ": " + ctrl_->cons[c].tally.what;
        threads_.clear();
        return err;
    }
    double deadline = now_s() + timeout_s;
    for (size_t i = 0; i < pids_.size(); i++) {
        while (status_[i] == -1) {
            int st;
            pid_t r = waitpid(pids_[i], &st, WNOHANG);
            if (r == pids_[i]) {
                status_[i] = st;
                cleanup::remove_pid(pids_[i]);
                break;
            }
            if (now_s() > deadline) {
                ctrl_->abort.store(1);
                kill(pids_[i], SIGKILL);
                waitpid(pids_[i], &st, 0);
                status_[i] = st;
                cleanup::remove_pid(pids_[i]);
                if (err.empty())
                    err = "peer " + std::to_string(i) + " did not finish: killed";
                break;
            }
            usleep(200);
        }
        int st = status_[i];
        if (err.empty() && !(WIFEXITED(st) && WEXITSTATUS(st) == 0)) {
            if (ctrl_->error[0])
                err = ctrl_->error;
            else if (WIFSIGNALED(st))
                err = "peer " + std::to_string(i) + " killed by signal " +
                      std::to_string(WTERMSIG(st));
            else
                err =
                    "peer " + std::to_string(i) + " exited with " + std::to_string(WEXITSTATUS(st));
        }
    }
    for (unsigned c = 0; err.empty() && c < kMaxPeers; c++)
        if (ctrl_->cons[c].tally.errors)
            err = std::string("consumer ") + std::to_string(c) + ": " + ctrl_->cons[c].tally.what;
    pids_.clear();
    status_.clear();
    return err;
}

Peers::~Peers()
{
    ctrl_->abort.store(1);
    for (size_t i = 0; i < pids_.size(); i++) {
        if (status_[i] != -1)
            continue;
        kill(pids_[i], SIGKILL);
        int st;
        waitpid(pids_[i], &st, 0);
        cleanup::remove_pid(pids_[i]);
    }
    for (auto &t : threads_)
        t.join();
}

bool wait_until(Ctrl *ctrl, Peers *peers, double timeout_s, const std::function<bool()> &pred)
{
    double deadline = now_s() + timeout_s;
    unsigned n = 0;
    while (!pred()) {
        if (ctrl->abort.load() || now_s() > deadline)
            return false;
        if ((++n & 255) == 0 && peers && !peers->alive())
            return pred();
        cpu_relax();
    }
    return true;
}

std::string verify_stream(Ctrl *ctrl, const Shape &shape, uint64_t *total)
{
    *total = 0;
    for (unsigned p = 0; p < shape.producers; p++) {
        uint64_t sent = ctrl->prod[p].sent.load(), count = 0, sum = 0;
        for (unsigned c = 0; c < shape.consumers; c++) {
            count += ctrl->cons[c].tally.count[p];
            sum += ctrl->cons[c].tally.sum[p];
        }
        /* The sum of 0 .. sent-1, modulo 2^64 like the tallies. */
        uint64_t want = sent % 2 == 0 ? (sent / 2) * (sent - 1) : sent * ((sent - 1) / 2);
        if (count != sent)
            return "producer " + std::to_string(p) + " sent " + std::to_string(sent) +
                   ", consumers received " + std::to_string(count);
        if (sent && sum != want)
            return "producer " + std::to_string(p) + ": sequence sum " + std::to_string(sum) +
                   ", expected " + std::to_string(want) + " (lost or duplicated messages)";
        *total += sent;
    }
    return "";
}

benchmark::internal::Benchmark *add(const std::string &name,
                                    std::function<void(benchmark::State &)> fn)
{
    return benchmark::RegisterBenchmark(name.c_str(), std::move(fn))->UseRealTime();
}

} // namespace bench
