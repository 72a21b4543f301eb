/*
 * liburcu's wfcqueue (wait-free concurrent queue) and lfstack (lock-free stack): in-process
 * only, since their nodes are pointers. A message is a node allocated by the producer
 * (malloc: jemalloc when linked) and freed by the consumer, as an application would.
 */
#include "bench_util.h"

#include <cstdlib>

#include "baseline_urcu_stack.h"

namespace bench
{
namespace
{

unsigned char *payload(bu_node *n)
{
    return reinterpret_cast<unsigned char *>(n + 1);
}

class UrcuChan
{
  public:
    struct Config {
        bool stack;
    };
    UrcuChan(const Config &cfg, const Shape &shape)
        : cfg_(cfg), shape_(shape), s_(cfg.stack ? bu_stack_new() : bu_queue_new())
    {
        if (!s_)
            throw std::runtime_error("out of memory");
    }
    ~UrcuChan()
    {
        while (bu_node *n = pop())
            std::free(n);
        cfg_.stack ? bu_stack_free(s_) : bu_queue_free(s_);
    }
    bool blocking() const { return false; }

    bu_node *pop() { return cfg_.stack ? bu_stack_pop(s_) : bu_queue_dequeue(s_); }

    struct Producer {
        Producer(UrcuChan &c, unsigned) : chan(c) {}
        int init() { return 0; }
        int send(uint64_t word, unsigned)
        {
            size_t size = chan.shape_.size;
            auto *n = static_cast<bu_node *>(std::malloc(sizeof(bu_node) + size));
            if (!n)
                return -ENOMEM;
            n->len = size;
            std::memset(payload(n), 0x5a, size);
            stamp(payload(n), size, word);
            chan.cfg_.stack ? bu_stack_push(chan.s_, n) : bu_queue_enqueue(chan.s_, n);
            return 1;
        }
        UrcuChan &chan;
    };
    struct Consumer {
        Consumer(UrcuChan &c, unsigned) : chan(c) {}
        int init() { return 0; }
        int recv(Checker &check)
        {
            bu_node *n = chan.pop();
            if (!n)
                return 0;
            check.check(payload(n), n->len);
            std::free(n);
            return 1;
        }
        UrcuChan &chan;
    };

  private:
    Config cfg_;
    Shape shape_;
    void *s_;
};

} // namespace

void register_urcu()
{
    for (size_t size : {size_t(8), size_t(64)})
        for (bool stack : {false, true})
            add(std::string("pair/") + (stack ? "urcu_lfstack/" : "urcu_wfcq/") +
                    std::to_string(size),
                [size, stack](benchmark::State &s) {
                    Shape shape;
                    shape.size = size;
                    run_pair<UrcuChan>(s, {stack}, shape);
                });
    for (bool stack : {false, true})
        add(std::string("thread1x1/") + (stack ? "urcu_lfstack/64" : "urcu_wfcq/64"),
            [stack](benchmark::State &s) {
                Shape shape;
                shape.processes = false;
                shape.order = stack ? Order::kAny : Order::kExact;
                run_stream<UrcuChan>(s, {stack}, shape);
            });
}

} // namespace bench
