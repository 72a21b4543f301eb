#!/usr/bin/python3
"""Paired ratios: shmq against its baseline, measured back to back, many times.

    tools/bench_pairs.py [--bin build-bench/bench/shmq_bench] [--pairs 9] [--min-time 0.2]
                         [--only NAME ...]

On a shared virtual machine the speed of a cross-CPU handoff moves between modes (seen here:
rte_ring MP/MC between 3 and 29 M msg/s within one run, as the host moves the two vCPUs), so
the medians of two cases measured at different moments can disagree by 5x. This script runs
the two cases of a comparison one right after the other (in alternating order), as one pair,
and reports the median and the range of the pair ratios: each ratio compares the two under
the same conditions. Every case is google-benchmark's, from the suite in bench/ (the same
loops for shmq and its baseline; every message checked). Build it first with tools/bench.sh
(or cmake --build build-bench --target shmq_bench). A figure is "wanted" when the issue that
asked for the work set a target; "met" is judged on the median.
"""

import argparse
import json
import statistics
import subprocess
import sys
import tempfile

# name, shmq case, baseline case, wanted ratio (None: report only)
COMPARISONS = [
    ("pair-mpmc", "pair/shmq_mpmc/64", "pair/rte_mpmc/64", 0.5),
    ("pair-lifo", "pair/shmq_lifo/64", "pair/rte_mpmc/64", None),
    ("1p1c-mpmc", "spsc/shmq_mpmc/64", "spsc/rte_mpmc/64", 1.2),
    ("batch32-mpmc", "batch32/shmq_mpmc/64", "batch32/rte_mpmc/64", 0.8),
    ("2p2c-mpmc", "mpmc2x2/shmq_mpmc/64", "mpmc2x2/rte_mpmc/64", 1.5),
    ("poll-tight-vs-paused", "poll/shmq_mpmc_tight/64", "poll/shmq_mpmc_paused/64", 0.9),
    # the same two loops around rte_ring MP/MC: what a tight poller costs the baseline
    ("poll-rte-tight-vs-paused", "poll/rte_mpmc_tight/64", "poll/rte_mpmc_paused/64", None),
    ("poll-tight-vs-rte-tight", "poll/shmq_mpmc_tight/64", "poll/rte_mpmc_tight/64", None),
    ("spsc-vs-T", "spsc/shmq_spsc/64", "spsc/limit_T/64", 0.8),
    ("spsc-vs-rte", "spsc/shmq_spsc/64", "spsc/rte_spsc/64", None),
    ("2p2c-lifo-vs-mpmc", "mpmc2x2/shmq_lifo/64", "mpmc2x2/shmq_mpmc/64", None),
    # S: the default queue's design bare (bench/limit_scq.c), beside rte_ring and beside shmq:
    # how far the design itself is from each target, and what shmq's bookkeeping costs on it
    ("pair-S-vs-rte", "pair/limit_S/64", "pair/rte_mpmc/64", None),
    ("1p1c-S-vs-rte", "spsc/limit_S/64", "spsc/rte_mpmc/64", None),
    ("batch32-S-vs-rte", "batch32/limit_S/64", "batch32/rte_mpmc/64", None),
    ("2p2c-S-vs-rte", "mpmc2x2/limit_S/64", "mpmc2x2/rte_mpmc/64", None),
    # I: an upper bound of a lock-free ring with the data inline (bench/limit_cell.c)
    ("pair-I-vs-rte", "pair/limit_I/64", "pair/rte_mpmc/64", None),
    ("1p1c-I-vs-rte", "spsc/limit_I/64", "spsc/rte_mpmc/64", None),
    ("batch32-I-vs-rte", "batch32/limit_I/64", "batch32/rte_mpmc/64", None),
    ("2p2c-I-vs-rte", "mpmc2x2/limit_I/64", "mpmc2x2/rte_mpmc/64", None),
    # R: the same for a ring that claims and publishes runs of messages (bench/limit_run.c)
    ("pair-R-vs-rte", "pair/limit_R/64", "pair/rte_mpmc/64", None),
    ("1p1c-R-vs-rte", "spsc/limit_R/64", "spsc/rte_mpmc/64", None),
    ("batch32-R-vs-rte", "batch32/limit_R/64", "batch32/rte_mpmc/64", None),
    ("2p2c-R-vs-rte", "mpmc2x2/limit_R/64", "mpmc2x2/rte_mpmc/64", None),
    ("pair-mpmc-vs-S", "pair/shmq_mpmc/64", "pair/limit_S/64", None),
    ("batch32-mpmc-vs-S", "batch32/shmq_mpmc/64", "batch32/limit_S/64", None),
]


def rate(binary, case, min_time):
    """items/s of one repetition of one case."""
    with tempfile.NamedTemporaryFile(suffix=".json") as f:
        subprocess.run(
            [binary, "--benchmark_filter=^" + case + "/", "--benchmark_min_time=" + str(min_time),
             "--benchmark_out=" + f.name, "--benchmark_out_format=json"],
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        runs = [b for b in json.load(f)["benchmarks"] if b.get("run_type") == "iteration"]
    if len(runs) != 1 or "error_occurred" in runs[0]:
        raise RuntimeError("%s: %s" % (case, runs[0].get("error_message") if runs else "no run"))
    return runs[0]["items_per_second"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin", default="build-bench/bench/shmq_bench")
    ap.add_argument("--pairs", type=int, default=9)
    ap.add_argument("--min-time", type=float, default=0.2)
    ap.add_argument("--only", nargs="*", help="comparison names (default: all)")
    args = ap.parse_args()
    chosen = [c for c in COMPARISONS if not args.only or c[0] in args.only]
    print("| comparison | shmq case ÷ baseline case | median ratio | range | wanted | met |")
    print("|---|---|---|---|---|---|")
    for name, a, b, wanted in chosen:
        ratios, ra, rb = [], [], []
        for i in range(args.pairs):
            first, second = (a, b) if i % 2 == 0 else (b, a)
            x = rate(args.bin, first, args.min_time)
            y = rate(args.bin, second, args.min_time)
            va, vb = (x, y) if first == a else (y, x)
            ra.append(va)
            rb.append(vb)
            ratios.append(va / vb)
        med = statistics.median(ratios)
        met = "—" if wanted is None else ("yes" if med >= wanted else "**no**")
        print("| %s | `%s` %.1f M/s ÷ `%s` %.1f M/s | %.2f× | %.2f–%.2f× | %s | %s |" % (
            name, a, statistics.median(ra) / 1e6, b, statistics.median(rb) / 1e6, med,
            min(ratios), max(ratios), "≥ %.1f×" % wanted if wanted else "report", met))
        sys.stdout.flush()


if __name__ == "__main__":
    main()
