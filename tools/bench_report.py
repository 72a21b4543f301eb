#!/usr/bin/python3
"""Write the benchmark report of shmq from google-benchmark JSON output.

    bench_report.py --json bench.json --out REPORT.md [--command "..."] [--no-plot]

Case names are GROUP/IMPL/ARG (google-benchmark appends /real_time). Every figure is the
median over the repetitions of a case; every ratio is a ratio of two such medians from the
same run. Plots are SVG, drawn by gnuplot when it is installed. Standard library only.
"""

import argparse
import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys

# Groups whose figure is a time per iteration (a round trip, a push), lower is better.
TIME_GROUPS = {"latency_spin", "latency_block", "nowait"}

GROUPS = [
    ("pair", "One thread: enqueue + dequeue pair",
     "One thread pushes a message and pops it again, per iteration: the cost of the two "
     "operations on one core, no sharing. P is the trivial ring used the same way."),
    ("spsc", "One producer and one consumer process, one message at a time",
     "The benchmark process produces on CPU 0, a forked consumer on CPU 1 checks every "
     "message. T is the trivial shared-memory ring; memcpy is one core copying messages into "
     "a ring-sized buffer. `_zc` = zero-copy (reserve/commit, claim/ack)."),
    ("batch32", "One producer and one consumer process, batches of 32",
     "shmq_push_batch / shmq_pop_batch of 32, against rte_ring burst (elem API: as many as "
     "there are, up to 32, as shmq's batches) and T moving 32 at a time."),
    ("poll", "A producer while its consumer polls an empty queue",
     "One producer and one consumer process, one message at a time: `_tight` consumers poll "
     "again at once after finding the queue empty, `_paused` ones wait ~2000 pause "
     "instructions first. tight / paused near 1 means polling costs the producer nothing."),
    ("mpmc2x2", "2 producer and 2 consumer processes on 2 CPUs",
     "Four processes on two CPUs (one producer and one consumer on each): a side that finds "
     "the queue full or empty spins 64 times, then yields. `shmq_mpmc_block` sleeps in the "
     "library instead (SHMQ_FOREVER). Throughput counts the messages of both producers."),
    ("thread1x1", "One producer and one consumer thread of one process",
     "For the in-process baselines (liburcu's nodes are pointers): threads pinned to CPUs "
     "0 and 1. urcu nodes are malloc'ed by the producer and freed by the consumer."),
    ("latency_spin", "Spinning round trip",
     "A message goes to a peer process on CPU 1 and comes back on a second queue; both "
     "sides spin on -EAGAIN (timeout 0). L is one cache line bounced between the two "
     "processes: the limit of any handoff. Time per round trip."),
    ("latency_block", "Blocking round trip (wake-up latency)",
     "As above, but both sides sleep until a message arrives (SHMQ_FOREVER: the futex "
     "path; the kernel transports block by nature). F is a bare futex ping-pong."),
    ("nowait", "A push with nobody waiting vs a try-push",
     "One thread pushes 64-byte messages into a queue that is never full (it is drained "
     "with the clock stopped): timeout SHMQ_FOREVER vs timeout 0. Time per push."),
]

LABELS = {
    "limit_T": "T (trivial SPSC ring)",
    "limit_P": "P (one-core pair on T)",
    "limit_L": "L (cache-line ping-pong)",
    "limit_F": "F (futex ping-pong)",
    "limit_memcpy": "memcpy (one core)",
    "rte_spsc": "DPDK rte_ring SP/SC",
    "rte_mpmc": "DPDK rte_ring MP/MC",
    "rte_rts": "DPDK rte_ring RTS",
    "ck_spsc": "ck_ring SPSC",
    "ck_mpmc": "ck_ring MPMC",
    "urcu_wfcq": "liburcu wfcqueue",
    "urcu_lfstack": "liburcu lfstack",
    "mq": "POSIX mq",
    "pipe": "pipe",
    "unix": "Unix socket (seqpacket)",
    "zmq": "ZeroMQ ipc:// PUSH/PULL",
    "boost": "Boost.Interprocess message_queue",
}

# (description, numerator, denominator, comparison, threshold, metric).
# metric "rate": items/s (higher is better, ratio >= threshold);
# "bytes": bytes/s; "time": time per iteration (ratio <= threshold).
TARGETS = [
    ("SPSC queue, 64 B, vs rte_ring SP/SC (elem, 64 B)",
     "spsc/shmq_spsc/64", "spsc/rte_spsc/64", ">=", 1.0, "rate"),
    ("SPSC queue, 64 B, vs T", "spsc/shmq_spsc/64", "spsc/limit_T/64", ">=", 0.8, "rate"),
    ("SPSC batches of 32, 64 B, vs rte_ring SP/SC bulk",
     "batch32/shmq_spsc/64", "batch32/rte_spsc/64", ">=", 0.8, "rate"),
    ("SPSC queue, 8 B, vs rte_ring SP/SC (elem, 8 B)",
     "spsc/shmq_spsc/8", "spsc/rte_spsc/8", ">=", 0.5, "rate"),
    # issue 13: the default queue at ring speed
    ("default (MPMC) queue, one thread push+pop, 64 B, vs rte_ring MP/MC",
     "pair/shmq_mpmc/64", "pair/rte_mpmc/64", ">=", 0.5, "rate"),
    ("default (MPMC) queue, 1P/1C, 64 B, vs rte_ring MP/MC",
     "spsc/shmq_mpmc/64", "spsc/rte_mpmc/64", ">=", 1.2, "rate"),
    ("default (MPMC) queue, batches of 32, 64 B, vs rte_ring MP/MC burst",
     "batch32/shmq_mpmc/64", "batch32/rte_mpmc/64", ">=", 0.8, "rate"),
    ("default (MPMC) queue, 2P/2C, 64 B, vs rte_ring MP/MC",
     "mpmc2x2/shmq_mpmc/64", "mpmc2x2/rte_mpmc/64", ">=", 1.5, "rate"),
    ("default (MPMC) queue, producer rate, consumer polling tight vs pausing",
     "poll/shmq_mpmc_tight/64", "poll/shmq_mpmc_paused/64", ">=", 0.9, "rate"),
    ("default (MPMC) queue, 2P/2C, 64 B, vs ck_ring MPMC",
     "mpmc2x2/shmq_mpmc/64", "mpmc2x2/ck_mpmc/64", ">=", 1.0, "rate"),
    ("SPSC queue, 64 B, vs POSIX mq", "spsc/shmq_spsc/64", "spsc/mq/64", ">=", 20.0, "rate"),
    ("SPSC queue, 64 B, vs pipe", "spsc/shmq_spsc/64", "spsc/pipe/64", ">=", 5.0, "rate"),
    ("SPSC queue, 64 B, vs Unix socket", "spsc/shmq_spsc/64", "spsc/unix/64", ">=", 5.0, "rate"),
    ("SPSC queue, 64 B, vs ZeroMQ ipc://", "spsc/shmq_spsc/64", "spsc/zmq/64", ">=", 5.0, "rate"),
    ("spinning handoff latency (SPSC) vs L",
     "latency_spin/shmq_spsc/64", "latency_spin/limit_L/64", "<=", 3.0, "time"),
    ("spinning handoff latency (MPMC) vs L",
     "latency_spin/shmq_mpmc/64", "latency_spin/limit_L/64", "<=", 3.0, "time"),
    ("push with nobody waiting vs try-push (SPSC)",
     "nowait/shmq_spsc_forever/64", "nowait/shmq_spsc_try/64", "<=", 1.1, "time"),
    ("push with nobody waiting vs try-push (MPMC)",
     "nowait/shmq_mpmc_forever/64", "nowait/shmq_mpmc_try/64", "<=", 1.1, "time"),
    ("64 KiB copies (SPSC) vs memcpy bandwidth",
     "spsc/shmq_spsc/65536", "spsc/limit_memcpy/65536", ">=", 0.8, "bytes"),
    ("zero-copy flat in size: SPSC zc msg/s at 64 KiB vs at 64 B",
     "spsc/shmq_spsc_zc/65536", "spsc/shmq_spsc_zc/64", ">=", 0.8, "rate"),
    ("zero-copy flat in size: MPMC zc msg/s at 64 KiB vs at 64 B",
     "spsc/shmq_mpmc_zc/65536", "spsc/shmq_mpmc_zc/64", ">=", 0.8, "rate"),
    ("publish rate with 8 subscribers vs 1", "topic/shmq/8", "topic/shmq/1", ">=", 0.8, "rate"),
]

# What the default queue's design can reach at all, beside the targets of issue 13: S is that
# design bare (bench/limit_scq.c), I an upper bound of a lock-free ring with the data inline
# (bench/limit_cell.c), R the same for one that claims and publishes runs of messages
# (bench/limit_run.c). Report only.
DESIGN_LIMITS = [
    ("S (two SCQ index rings, bare) vs rte_ring MP/MC, one thread pair",
     "pair/limit_S/64", "pair/rte_mpmc/64"),
    ("S vs rte_ring MP/MC, 1P/1C", "spsc/limit_S/64", "spsc/rte_mpmc/64"),
    ("S vs rte_ring MP/MC burst, batches of 32", "batch32/limit_S/64", "batch32/rte_mpmc/64"),
    ("S vs rte_ring MP/MC, 2P/2C", "mpmc2x2/limit_S/64", "mpmc2x2/rte_mpmc/64"),
    ("I (lock-free, data inline, upper bound) vs rte_ring MP/MC, one thread pair",
     "pair/limit_I/64", "pair/rte_mpmc/64"),
    ("I vs rte_ring MP/MC, 1P/1C", "spsc/limit_I/64", "spsc/rte_mpmc/64"),
    ("I vs rte_ring MP/MC burst, batches of 32", "batch32/limit_I/64", "batch32/rte_mpmc/64"),
    ("I vs rte_ring MP/MC, 2P/2C", "mpmc2x2/limit_I/64", "mpmc2x2/rte_mpmc/64"),
    ("R (lock-free, inline, claims runs; upper bound) vs rte_ring MP/MC, one thread pair",
     "pair/limit_R/64", "pair/rte_mpmc/64"),
    ("R vs rte_ring MP/MC, 1P/1C", "spsc/limit_R/64", "spsc/rte_mpmc/64"),
    ("R vs rte_ring MP/MC burst, batches of 32", "batch32/limit_R/64", "batch32/rte_mpmc/64"),
    ("R vs rte_ring MP/MC, 2P/2C", "mpmc2x2/limit_R/64", "mpmc2x2/rte_mpmc/64"),
    ("default queue vs S, one thread pair (its bookkeeping)", "pair/shmq_mpmc/64",
     "pair/limit_S/64"),
    ("default queue vs S, batches of 32", "batch32/shmq_mpmc/64", "batch32/limit_S/64"),
]


BLOCKING_IMPLS = {"pipe", "unix", "mq", "zmq", "boost", "limit_F"}
BUSY_MIN = 0.85  # CPU time / real time below which a spinning thread was preempted


class Case:
    def __init__(self, key):
        self.key = key
        parts = key.split("/")
        self.group = parts[0]
        self.impl = parts[1] if len(parts) > 1 else ""
        self.arg = "/".join(parts[2:])
        self.reps = []  # {"rate", "bytes", "time", "busy"} per repetition
        self.error = None
        self.counters = {}

    @property
    def sleeps(self):
        """Cases whose benchmark thread may legitimately leave its CPU (blocking calls,
        yields): their CPU time says nothing about noise."""
        return (self.group in ("latency_block", "mpmc2x2") or self.impl in BLOCKING_IMPLS
                or self.impl.endswith("_block"))

    def used(self):
        """The repetitions a median is taken over. For a case whose benchmark thread never
        sleeps, a repetition during which it was off its CPU for more than 15% of the time
        (another task or the hypervisor had CPU 0) measures the machine's noise, not the
        queue: it is left out, unless every repetition was disturbed."""
        if self.sleeps:
            return self.reps
        clean = [r for r in self.reps if r["busy"] >= BUSY_MIN]
        return clean or self.reps

    def median(self, metric):
        values = [r[metric] for r in self.used() if r.get(metric) is not None]
        return statistics.median(values) if values else None


def disturbed(c):
    """True when every repetition of a never-sleeping case was disturbed (see Case.used)."""
    return bool(c.reps) and not c.sleeps and all(r["busy"] < BUSY_MIN for r in c.reps)


def reps_note(c):
    n, u = len(c.reps), len(c.used())
    return "" if u == n else " [%d/%d]" % (u, n)


def to_ns(value, unit):
    return value * {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}.get(unit, 1.0)


def load(path):
    with open(path) as f:
        data = json.load(f)
    cases = {}
    for b in data.get("benchmarks", []):
        if b.get("run_type") == "aggregate":
            continue  # medians are computed here from the repetitions themselves
        name = b.get("run_name") or b["name"]
        if name.endswith("/real_time"):
            name = name[: -len("/real_time")]
        c = cases.setdefault(name, Case(name))
        if b.get("error_occurred"):
            c.error = b.get("error_message", "error")
            continue
        real = to_ns(b["real_time"], b.get("time_unit", "ns"))
        c.reps.append({
            "rate": b.get("items_per_second"),
            "bytes": b.get("bytes_per_second"),
            "time": real,
            "busy": (b.get("cpu_time", 0.0) / b["real_time"]) if b.get("real_time") else 1.0,
        })
        for k in ("depth",):
            if k in b:
                c.counters[k] = b[k]
    return data.get("context", {}), cases


def fmt_rate(v):
    if v is None:
        return "—"
    for scale, unit in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if v >= scale:
            return "%.3g %s/s" % (v / scale, unit)
    return "%.3g /s" % v


def fmt_bytes(v):
    if v is None:
        return "—"
    for scale, unit in ((1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")):
        if v >= scale:
            return "%.3g %s/s" % (v / scale, unit)
    return "%.3g B/s" % v


def fmt_time(v):
    if v is None:
        return "—"
    if v >= 1e6:
        return "%.3g ms" % (v / 1e6)
    if v >= 1e3:
        return "%.3g µs" % (v / 1e3)
    return "%.3g ns" % v


def fmt_ratio(v):
    if v is None:
        return "—"
    return "%.2f×" % v if v < 100 else "%.0f×" % v


def label(impl):
    return LABELS.get(impl, impl)


def ratio(cases, num, den, metric):
    a, b = cases.get(num), cases.get(den)
    if not a or not b or a.error or b.error:
        return None
    x, y = a.median(metric), b.median(metric)
    if x is None or not y:
        return None
    return x / y


def machine(context):
    lines = []
    model = None
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    hyper = None
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
        for line in out.splitlines():
            if line.startswith("Hypervisor vendor:"):
                hyper = line.split(":", 1)[1].strip()
    except (OSError, subprocess.SubprocessError):
        pass
    cpus = os.cpu_count()
    lines.append("- CPU: %s, %s logical CPUs%s" % (
        model or "unknown", cpus, (", virtual machine (%s)" % hyper) if hyper else ""))
    caches = context.get("caches", [])
    if caches:
        lines.append("- caches: " + ", ".join(
            "L%d %s %d KiB" % (c["level"], c["type"].lower(), c["size"] // 1024)
            for c in caches))
    lines.append("- kernel: %s %s (%s)" % (platform.system(), platform.release(),
                                           platform.machine()))
    if "mhz_per_cpu" in context:
        lines.append("- clock reported: %s MHz" % context["mhz_per_cpu"])
    if "load_avg" in context:
        lines.append("- load average at start: %s" % ", ".join(
            "%.2f" % x for x in context["load_avg"]))
    if "date" in context:
        lines.append("- run started: %s" % context["date"])
    return lines


def group_table(cases, group, time_metric):
    """One table per argument (message size): every implementation, its median, and the
    ratio of each shmq figure to it."""
    out = []
    in_group = [c for c in cases.values() if c.group == group]
    args = sorted({c.arg for c in in_group}, key=lambda a: (len(a), a))
    for arg in args:
        rows = [c for c in in_group if c.arg == arg]
        shmq = sorted([c for c in rows if c.impl.startswith("shmq")], key=lambda c: c.impl)
        others = sorted([c for c in rows if not c.impl.startswith("shmq")],
                        key=lambda c: (not c.impl.startswith("limit"), c.impl))
        if not rows:
            continue
        metric = "time" if time_metric else "rate"
        title = "%s B" % arg if arg.isdigit() else arg
        out.append("**%s**%s\n" % (title, " (time per iteration; ratio = shmq time ÷ other "
                                          "time, < 1 is shmq faster)" if time_metric else
                                   " (median; ratio = shmq ÷ other, > 1 is shmq faster)"))
        head = ["case", "median"] + (["bytes/s"] if not time_metric else []) + \
            ["%s ÷ it" % c.impl for c in shmq]
        out.append("| " + " | ".join(head) + " |")
        out.append("|" + "---|" * len(head))
        for c in shmq + others:
            if c.error:
                cells = [label(c.impl), "error: " + c.error] + \
                    ([""] if not time_metric else []) + [""] * len(shmq)
            else:
                v = c.median(metric)
                cells = [label(c.impl) + (" (depth %d)" % c.counters["depth"]
                                          if "depth" in c.counters else "") +
                         (" ⚠" if disturbed(c) else ""),
                         (fmt_time(v) if time_metric else fmt_rate(v)) + reps_note(c)]
                if not time_metric:
                    cells.append(fmt_bytes(c.median("bytes")))
                for s in shmq:
                    cells.append("" if s is c else fmt_ratio(
                        ratio(cases, s.key, c.key, metric)))
            out.append("| " + " | ".join(cells) + " |")
        out.append("")
    return out


def gnuplot(script, out_path):
    gp = shutil.which("gnuplot")
    if not gp:
        return False
    try:
        r = subprocess.run([gp], input=script, text=True, capture_output=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return False
    return r.returncode == 0 and os.path.exists(out_path)


def plot_series(series, out_path, title, xlabel, ylabel, logx, logy):
    """series: {name: [(x, y), ...]}. Writes an SVG with gnuplot; False if it cannot."""
    series = {k: v for k, v in series.items() if len(v) >= 1}
    if not series:
        return False
    data_path = out_path + ".dat"
    with open(data_path, "w") as f:
        for name, points in series.items():
            f.write("# %s\n" % name)
            for x, y in sorted(points):
                f.write("%g %g\n" % (x, y))
            f.write("\n\n")
    plots = []
    for i, name in enumerate(series):
        plots.append("'%s' index %d with linespoints lw 2 title '%s'" % (
            data_path, i, name.replace("'", "")))
    script = "\n".join([
        "set terminal svg size 960,600 dynamic enhanced font 'sans,12'",
        "set output '%s'" % out_path,
        "set title '%s'" % title,
        "set xlabel '%s'" % xlabel,
        "set ylabel '%s'" % ylabel,
        "set logscale x 2" if logx else "",
        "set logscale y 10" if logy else "",
        "set grid",
        "set key outside right",
        "plot " + ", ".join(plots),
        "",
    ])
    ok = gnuplot(script, out_path)
    os.remove(data_path)
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--command", default="tools/bench.sh")
    ap.add_argument("--no-plot", action="store_true")
    args = ap.parse_args()

    context, cases = load(args.json)
    out_dir = os.path.dirname(os.path.abspath(args.out))
    os.makedirs(out_dir, exist_ok=True)
    reps = max((len(c.reps) for c in cases.values()), default=0)
    errors = [c for c in cases.values() if c.error]

    md = ["# shmq benchmark report", ""]
    md.append("Generated %s from `%s` by `tools/bench_report.py`. Command:" % (
        datetime.datetime.now().strftime("%Y-%m-%d %H:%M"), os.path.basename(args.json)))
    md += ["", "```", args.command, "```", ""]
    md.append("Every figure is the **median of %d repetition%s** of a case; every ratio is a "
              "ratio of two medians of this same run. The benchmark process is pinned to "
              "CPU 0, its peer to CPU 1; every case checks that each message arrived once, "
              "whole and in order (sequence numbers in the payload), and none asserts a time."
              % (reps, "" if reps == 1 else "s"))
    md.append("")
    md.append("For a case whose benchmark thread never sleeps (it spins), a repetition during "
              "which that thread was off its CPU for more than 15% of the time (CPU time ÷ "
              "real time < 0.85: the machine is shared) is left out of the median; `[3/5]` "
              "after a figure says how many repetitions it is the median of.")
    md.append("")
    md.append("## Machine")
    md.append("")
    md += machine(context)
    md.append("")
    if errors:
        md.append("## Errors")
        md.append("")
        for c in sorted(errors, key=lambda c: c.key):
            md.append("- `%s`: %s" % (c.key, c.error))
        md.append("")

    noisy = sorted(c.key for c in cases.values() if disturbed(c))
    if noisy:
        md.append("## Disturbed cases")
        md.append("")
        md.append("Marked ⚠ below: in every repetition of these cases the benchmark thread, "
                  "which never sleeps in them, was off its CPU for more than 15%% of the time "
                  "(CPU time ÷ real time < 0.85): another task or the hypervisor had CPU 0, "
                  "and the figure is pessimistic. %d case(s): %s." % (len(noisy), ", ".join(
                      "`%s`" % k for k in noisy)))
        md.append("")
    md.append("## Targets")
    md.append("")
    md.append("| target | ratio of medians | wanted | met |")
    md.append("|---|---|---|---|")
    for desc, num, den, op, thr, metric in TARGETS:
        r = ratio(cases, num, den, metric)
        if r is None:
            missing = [k for k in (num, den) if k not in cases]
            why = ("not measured (%s absent)" % ", ".join("`%s`" % k for k in missing)
                   if missing else "not measured (error)")
            md.append("| %s | %s | %s %.2g× | — |" % (desc, why, op, thr))
            continue
        met = r >= thr if op == ">=" else r <= thr
        warn = " ⚠" if disturbed(cases[num]) or disturbed(cases[den]) else ""
        md.append("| %s | %s (`%s` ÷ `%s`)%s | %s %.2g× | %s |" % (
            desc, fmt_ratio(r), num, den, warn, op, thr, "yes" if met else "**no**"))
    md.append("")
    if any(k in cases for _, k, _ in DESIGN_LIMITS):
        md.append("## What the design can reach (report only)")
        md.append("")
        md.append("| comparison | ratio of medians |")
        md.append("|---|---|")
        for desc, num, den in DESIGN_LIMITS:
            r = ratio(cases, num, den, "rate")
            md.append("| %s | %s |" % (desc, "not measured" if r is None else "%s (`%s` ÷ `%s`)"
                                       % (fmt_ratio(r), num, den)))
        md.append("")

    # Plots: throughput against message size (SPSC group), publish rate against subscribers.
    if not args.no_plot:
        spsc = [c for c in cases.values() if c.group == "spsc" and c.arg.isdigit() and
                not c.error]
        impls = sorted({c.impl for c in spsc})
        msgs = {label(i): [(int(c.arg), c.median("rate") / 1e6) for c in spsc
                           if c.impl == i and c.median("rate")] for i in impls}
        byts = {label(i): [(int(c.arg), c.median("bytes") / (1 << 30)) for c in spsc
                           if c.impl == i and c.median("bytes") and not i.endswith("_zc")]
                for i in impls}
        p1 = os.path.join(out_dir, "throughput_msgs.svg")
        p2 = os.path.join(out_dir, "throughput_bytes.svg")
        ok1 = plot_series({k: v for k, v in msgs.items() if len(v) > 1}, p1,
                          "1 producer + 1 consumer process: messages/s vs message size",
                          "message size (bytes)", "million messages/s", True, True)
        ok2 = plot_series({k: v for k, v in byts.items() if len(v) > 1}, p2,
                          "1 producer + 1 consumer process: bytes/s vs message size (copies)",
                          "message size (bytes)", "GiB/s", True, True)
        if ok1 or ok2:
            md.append("## Throughput against message size")
            md.append("")
            if ok1:
                md.append("![messages/s against message size](%s)" % os.path.basename(p1))
                md.append("")
            if ok2:
                md.append("![bytes/s against message size](%s)" % os.path.basename(p2))
                md.append("")
        else:
            md.append("(No plot: gnuplot is not installed.)")
            md.append("")

    for group, title, text in GROUPS:
        if not any(c.group == group for c in cases.values()):
            continue
        md.append("## %s" % title)
        md.append("")
        md.append(text)
        md.append("")
        md += group_table(cases, group, group in TIME_GROUPS)

    # Topics: publish rate against the number of subscribers, when those cases exist.
    md.append("## Topic publish rate against subscribers")
    md.append("")
    topic = sorted([c for c in cases.values() if c.group == "topic" and c.arg.isdigit()],
                   key=lambda c: (c.impl, int(c.arg)))
    if not topic:
        md.append("Not measured: the suite has no `topic/IMPL/SUBSCRIBERS` cases yet (topics "
                  "are not implemented). This section, its table and its plot appear as soon "
                  "as they exist.")
        md.append("")
    else:
        md.append("| case | subscribers | publish rate | ÷ 1 subscriber |")
        md.append("|---|---|---|---|")
        for c in topic:
            base = cases.get("topic/%s/1" % c.impl)
            r = ratio(cases, c.key, base.key, "rate") if base else None
            md.append("| %s | %s | %s | %s |" % (c.impl, c.arg,
                                                  c.error or fmt_rate(c.median("rate")),
                                                  fmt_ratio(r)))
        md.append("")
        if not args.no_plot:
            series = {}
            for c in topic:
                if not c.error and c.median("rate"):
                    series.setdefault(label(c.impl), []).append(
                        (int(c.arg), c.median("rate") / 1e6))
            p3 = os.path.join(out_dir, "topic_subscribers.svg")
            if plot_series(series, p3, "Topic publish rate vs subscribers", "subscribers",
                           "million messages/s", True, False):
                md.append("![publish rate against subscribers](%s)" % os.path.basename(p3))
                md.append("")

    with open(args.out, "w") as f:
        f.write("\n".join(md))
    print("bench_report: wrote %s (%d cases, %d with errors)" % (args.out, len(cases),
                                                                  len(errors)))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
