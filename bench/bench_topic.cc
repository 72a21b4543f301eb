/*
 * Topics, through the public header only.
 *
 *   topic/shmq/N                publish rate with N = 1, 2, 4, 8 subscriber processes
 *                               (OVERWRITE: the publisher never waits, so what is measured is
 *                               the cost of a publish while N subscribers read the same ring)
 *   topic_e2e/shmq_block/N      end-to-end: BLOCK, every one of N = 1, 2, 4 subscribers
 *                               receives every message; the rate is messages published per
 *                               second (each delivered N times: counter "deliveries")
 *   topic_e2e/shmq_group_block/2  BLOCK, one group of two competing members
 *
 * The benchmark thread publishes on CPU 0; every subscriber runs on CPU 1 (on this two-CPU
 * machine, subscribers on CPU 0 would take the publisher's CPU and measure the scheduler).
 * Subscribers poll (timeout 0) and yield their CPU to each other when they find nothing.
 * Messages are 64 bytes stamped { producer | sequence } at both ends; subject "bench.topic",
 * pattern "bench.*", so each delivery also pays a pattern match.
 *
 * Checks, per subscriber: every message whole (both stamps), its stamp equal to its sequence
 * number, and the sequence numbers accounted for exactly: each delivery's seq is the previous
 * one + 1 + the loss it reports, and at the end received + lost == published (BLOCK: lost == 0
 * and received == published; a group: its members' receipts add up to published). Any
 * mismatch ends the case with SkipWithError.
 *
 * Registered by a static initializer (no line in main.cc needed).
 */
#include "bench_util.h"

#include <shmq.h>

namespace bench
{
namespace
{

constexpr size_t kTopicMsg = 64;
constexpr uint32_t kTopicCap = 1024;
constexpr const char *kSubject = "bench.topic";
constexpr const char *kPattern = "bench.*";

struct TopicCase {
    shmq_topic_policy policy;
    unsigned subscribers;
    bool group;          /* all subscribers are members of one group */
    int64_t pub_timeout; /* 0: retry on -EAGAIN here; SHMQ_FOREVER: wait in the library */
};

/* What one subscriber reports (in the shared control block): Tally.count[0] = messages
 * received, Tally.sum[0] = messages it was told it lost, Tally.sum[1] = last seq + 1. */
int topic_subscriber(const std::string &name, Ctrl *ctrl, unsigned id, const TopicCase &tc)
{
    Tally &tally = ctrl->cons[id].tally;
    auto fail = [&](const char *what, uint64_t a, uint64_t b) {
        if (tally.errors++ == 0)
            std::snprintf(tally.what, sizeof tally.what,
                          "subscriber %u: %s (%" PRIu64 ", %" PRIu64 ")", id, what, a, b);
        ctrl->fail("subscriber %u: %s (%" PRIu64 ", %" PRIu64 ")", id, what, a, b);
        return 2;
    };
    shmq_topic_t *t = nullptr;
    shmq_sub_t *s = nullptr;
    int r = shmq_topic_open(name.c_str(), &t);
    if (r == 0)
        r = shmq_subscribe(t, kPattern, tc.group ? "workers" : nullptr, 0, &s);
    if (r) {
        ctrl->fail("subscriber %u: %s", id, shmq_strerror(r));
        return 1;
    }
    ctrl->ready.fetch_add(1);
    while (!ctrl->go.load(std::memory_order_acquire))
        if (ctrl->abort.load(std::memory_order_relaxed))
            return 1;
        else
            cpu_relax();
    Backoff backoff(ctrl, 16); /* the subscribers share CPU 1: yield soon */
    unsigned char buf[kTopicMsg];
    shmq_delivery d;
    uint64_t next = 0, received = 0, lost = 0;
    int rc = 0;
    for (;;) {
        ssize_t n = shmq_next(s, buf, sizeof buf, &d, 0);
        if (n >= 0) {
            uint64_t head, tail;
            std::memcpy(&head, buf, 8);
            std::memcpy(&tail, buf + kTopicMsg - 8, 8);
            if (size_t(n) != kTopicMsg || head != tail) {
                rc = fail("torn or short message", uint64_t(n), d.seq);
                break;
            }
            if (head != make_word(0, d.seq)) {
                rc = fail("message stamped with another sequence", head, d.seq);
                break;
            }
            if (tc.group ? (received && d.seq < next) : d.seq != next + d.lost) {
                rc = fail("sequence out of order or loss miscounted", d.seq, next + d.lost);
                break;
            }
            if (tc.policy == SHMQ_TOPIC_BLOCK && d.lost) {
                rc = fail("BLOCK lost messages", d.lost, d.seq);
                break;
            }
            received++;
            lost += d.lost;
            next = d.seq + 1;
            backoff.reset();
            continue;
        }
        if (n != -EAGAIN) {
            rc = fail("shmq_next failed", uint64_t(-n), next);
            break;
        }
        if (ctrl->total_valid.load(std::memory_order_acquire)) {
            uint64_t total = ctrl->total_sent.load(std::memory_order_relaxed);
            if (!tc.group && next == total)
                break;
            shmq_group_info gi;
            if (tc.group && shmq_sub_stat(s, &gi) == 0 && gi.cursor == total)
                break;
        }
        if (!backoff.wait())
            break;
    }
    tally.count[0] = received;
    tally.sum[0] = lost;
    tally.sum[1] = next;
    ctrl->cons[id].received.store(received, std::memory_order_release);
    shmq_topic_close(t);
    return rc;
}

void run_topic(benchmark::State &state, const TopicCase &tc)
{
    Ctrl *ctrl = Ctrl::make();
    cleanup::arm("topic");
    std::string err;
    uint64_t seq = 0;
    const std::string name = unique_name("topic");
    shmq_topic_t *t = nullptr;
    try {
        shmq_topic_config cfg{};
        cfg.policy = tc.policy;
        cfg.capacity = kTopicCap;
        cfg.slot_size = uint32_t(kTopicMsg + 16); /* subject "bench.topic" + NUL: 16 bytes */
        int r = shmq_topic_create(name.c_str(), &cfg, &t);
        if (r)
            throw std::runtime_error(std::string("shmq_topic_create: ") + shmq_strerror(r));
        cleanup::add_path("/dev/shm/shmq." + name);
        Peers peers(true, ctrl);
        const int sub_cpu = cpu_count() > 1 ? 1 : 0;
        for (unsigned c = 0; c < tc.subscribers; c++)
            peers.spawn(sub_cpu,
                        [&name, ctrl, c, &tc] { return topic_subscriber(name, ctrl, c, tc); });
        if (!wait_until(ctrl, &peers, 20,
                        [&] { return ctrl->ready.load() == int(tc.subscribers); }))
            throw std::runtime_error(ctrl->error[0] ? ctrl->error : "subscribers did not start");
        unsigned char msg[kTopicMsg];
        std::memset(msg, 0x5a, sizeof msg);
        Backoff backoff(ctrl, 64, &peers);
        ctrl->go.store(1, std::memory_order_release);
        for (auto _ : state) {
            stamp(msg, kTopicMsg, make_word(0, seq));
            for (;;) {
                r = shmq_publish(t, kSubject, msg, kTopicMsg, tc.pub_timeout);
                if (r == 0)
                    break;
                if (r != -EAGAIN) {
                    err = std::string("shmq_publish: ") + shmq_strerror(r);
                    break;
                }
                if (!backoff.wait()) {
                    err = ctrl->error[0] ? ctrl->error : "a subscriber died";
                    break;
                }
            }
            if (!err.empty())
                break;
            backoff.reset();
            seq++;
        }
        ctrl->total_sent.store(seq);
        ctrl->total_valid.store(1, std::memory_order_release);
        ctrl->stop.store(1, std::memory_order_release);
        if (!err.empty())
            ctrl->abort.store(1);
        std::string perr = peers.join(30);
        if (err.empty())
            err = perr;
        uint64_t group_sum = 0;
        for (unsigned c = 0; c < tc.subscribers && err.empty(); c++) {
            const Tally &tl = ctrl->cons[c].tally;
            uint64_t got = tl.count[0], lost = tl.sum[0];
            group_sum += got;
            if (tl.errors)
                err = tl.what;
            else if (!tc.group && got + lost != seq)
                err = "subscriber " + std::to_string(c) + ": received " + std::to_string(got) +
                      " + lost " + std::to_string(lost) + " != published " + std::to_string(seq);
            else if (!tc.group && tc.policy == SHMQ_TOPIC_BLOCK && got != seq)
                err = "subscriber " + std::to_string(c) + " lost messages under BLOCK";
        }
        if (err.empty() && tc.group && group_sum != seq)
            err = "the group received " + std::to_string(group_sum) + " of " + std::to_string(seq);
        if (err.empty() && tc.policy == SHMQ_TOPIC_OVERWRITE) {
            uint64_t lost = 0;
            for (unsigned c = 0; c < tc.subscribers; c++)
                lost += ctrl->cons[c].tally.sum[0];
            state.counters["lost_per_sub"] =
                benchmark::Counter(double(lost) / tc.subscribers / (seq ? double(seq) : 1.0));
        }
    } catch (const std::exception &e) {
        err = e.what();
    }
    if (t) {
        shmq_topic_close(t);
        shmq_topic_unlink(name.c_str());
        cleanup::remove_path("/dev/shm/shmq." + name);
    }
    cleanup::disarm();
    Ctrl::destroy(ctrl);
    state.SetItemsProcessed(int64_t(seq));
    state.SetBytesProcessed(int64_t(seq * kTopicMsg));
    if (!tc.group)
        state.counters["deliveries"] =
            benchmark::Counter(double(seq) * tc.subscribers, benchmark::Counter::kIsRate);
    if (!err.empty())
        skip(state, err);
}

void register_topic()
{
    for (unsigned n : {1u, 2u, 4u, 8u}) {
        TopicCase tc{SHMQ_TOPIC_OVERWRITE, n, false, 0};
        add("topic/shmq/" + std::to_string(n), [tc](benchmark::State &s) { run_topic(s, tc); });
    }
    for (unsigned n : {1u, 2u, 4u}) {
        TopicCase tc{SHMQ_TOPIC_BLOCK, n, false, SHMQ_FOREVER};
        add("topic_e2e/shmq_block/" + std::to_string(n),
            [tc](benchmark::State &s) { run_topic(s, tc); });
    }
    TopicCase tc{SHMQ_TOPIC_BLOCK, 2, true, SHMQ_FOREVER};
    add("topic_e2e/shmq_group_block/2", [tc](benchmark::State &s) { run_topic(s, tc); });
}

/* Registered before main() runs, with the cases of the other files. */
[[maybe_unused]] const bool registered = (register_topic(), true);

} // namespace
} // namespace bench
