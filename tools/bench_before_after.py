#!/usr/bin/env python3
"""tools/bench_before_after.py OLD NEW PAIRS CASE... — is a change faster or slower?

Runs one benchmark case of two builds of bench/shmq_bench back to back, PAIRS times, the order
alternating (new first, then old first, ...), and prints the median and the range of the
per-pair ratios new/old of items per second. Only paired ratios mean anything on a machine
whose speed changes mode during a run. Example (the "before" tree from a commit):

    git worktree add --detach /tmp/before <commit>
    cmake -S /tmp/before -B /tmp/before/build -DCMAKE_BUILD_TYPE=Release -DSHMQ_BUILD_BENCH=ON
    cmake --build /tmp/before/build --target shmq_bench
    tools/bench_before_after.py /tmp/before/build/bench/shmq_bench \\
        build-bench/bench/shmq_bench 5 pair/shmq_mpmc/64/real_time spsc/shmq_mpmc/64/real_time
"""
import json
import statistics
import subprocess
import sys
import tempfile


def rate(binary, case):
    with tempfile.NamedTemporaryFile(suffix=".json") as f:
        subprocess.run([binary, "--benchmark_filter=^" + case + "$", "--benchmark_min_time=0.2",
                        "--benchmark_out=" + f.name, "--benchmark_out_format=json"],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        runs = [b for b in json.load(f)["benchmarks"] if b.get("run_type") == "iteration"]
        if not runs:
            raise SystemExit("no benchmark matches %s in %s" % (case, binary))
        return runs[0]["items_per_second"]


def main():
    if len(sys.argv) < 5 or not sys.argv[3].isdigit():
        print(__doc__.strip(), file=sys.stderr)
        return 2
    old, new, pairs = sys.argv[1], sys.argv[2], int(sys.argv[3])
    for case in sys.argv[4:]:
        ratios = []
        for i in range(pairs):
            first, second = (new, old) if i % 2 == 0 else (old, new)
            a, b = rate(first, case), rate(second, case)
            ratios.append(a / b if first == new else b / a)
        print("%-44s new/old median %.2fx  range %.2f-%.2f  (%d pairs)"
              % (case, statistics.median(ratios), min(ratios), max(ratios), pairs), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
