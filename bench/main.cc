/*
 * The suite's entry point: pins the benchmark thread to CPU 0, registers every case that was
 * built, runs them, and exits non-zero when any case reported an error (lost, corrupted or
 * misordered messages, a peer that died), so that a quick run can gate CI.
 */
#include "bench_util.h"

#include <sys/resource.h>

namespace
{

/* The console reporter, noting whether any run reported an error. */
class ErrorNotingReporter : public benchmark::ConsoleReporter
{
  public:
    using benchmark::ConsoleReporter::ConsoleReporter;
    void ReportRuns(const std::vector<Run> &runs) override
    {
        for (const Run &r : runs)
            if (r.error_occurred) {
                errors++;
                std::fprintf(stderr, "shmq_bench: ERROR in %s: %s\n", r.benchmark_name().c_str(),
                             r.error_message.c_str());
            }
        benchmark::ConsoleReporter::ReportRuns(runs);
    }
    int errors = 0;
};

} // namespace

int main(int argc, char **argv)
{
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv))
        return 1;
    bench::cleanup::install_handlers();
    /* POSIX message queues of more than a few messages need more than the default 800 KB;
     * raising the limit needs CAP_SYS_RESOURCE (the mq cases shrink to what fits otherwise). */
    struct rlimit rl = {RLIM_INFINITY, RLIM_INFINITY};
    setrlimit(RLIMIT_MSGQUEUE, &rl);
    if (int r = bench::pin_cpu(0))
        std::fprintf(stderr, "shmq_bench: cannot pin to CPU 0: %s\n", std::strerror(-r));

    bench::register_limits();
    bench::register_queue();
#ifdef SHMQ_BENCH_HAVE_DPDK
    bench::register_dpdk();
#endif
#ifdef SHMQ_BENCH_HAVE_CK
    bench::register_ck();
#endif
#ifdef SHMQ_BENCH_HAVE_URCU
    bench::register_urcu();
#endif
    bench::register_kernel();
#ifdef SHMQ_BENCH_HAVE_ZMQ
    bench::register_zmq();
#endif
#ifdef SHMQ_BENCH_HAVE_BOOST
    bench::register_boost();
#endif

    ErrorNotingReporter reporter(isatty(1) ? benchmark::ConsoleReporter::OO_Defaults
                                           : benchmark::ConsoleReporter::OO_Tabular);
    benchmark::RunSpecifiedBenchmarks(&reporter);
    benchmark::Shutdown();
    if (reporter.errors) {
        std::fprintf(stderr, "shmq_bench: %d case(s) reported an error\n", reporter.errors);
        return 1;
    }
    return 0;
}
