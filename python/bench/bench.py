"""Benchmarks of the shmq Python package. They report; they never fail a build.

    /usr/bin/python3 python/bench/bench.py [--runs 5] [--only NAME ...] [--broker both|shmq|amqp]
                                           [--tasks 10000] [--prefetch 4]

(with the package importable: installed in a venv, or PYTHONPATH=build/<dir>/python)

  pingpong   put+get of 64 B across two Python processes: shmq.Queue vs multiprocessing.Queue
  overhead   put_nowait+get_nowait in one process vs the same rounds in C (shmq._c_loop):
             the module's per-call overhead in ns
  celery     10 000 trivial Celery tasks, worker --pool=solo: shmq:// vs amqp:// tasks/s
  roundtrip  .delay() -> result with rpc://, median of 200: shmq:// vs amqp:// (celery
             measures it too, after its throughput run)
  idle       CPU of an idle Celery worker over 30 s (shmq://)

Each figure is the median of --runs runs (the idle one is measured once, over 30 s). amqp://
uses RabbitMQ on 127.0.0.1:5672, started with tools/amqp_test_broker.sh start if needed (it
is left running). Every message that went in is checked to have come out.
"""
import argparse
import multiprocessing
import os
import statistics
import subprocess
import sys
import time

import shmq

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
EXAMPLE = os.path.join(ROOT, "examples", "python", "flask_celery")
PAYLOAD = b"x" * 64


# ---- pingpong: two processes ----

def _shmq_producer(name, n):
    q = shmq.Queue.open(name)
    for _ in range(n):
        q.put(PAYLOAD)
    q.close()


def _mp_producer(q, n):
    for _ in range(n):
        q.put(PAYLOAD)


def pingpong_shmq(n):
    name = "bench-py-%d" % os.getpid()
    q = shmq.Queue.create(name, capacity=4096, slot_size=64)
    try:
        p = multiprocessing.get_context("fork").Process(target=_shmq_producer, args=(name, n))
        t0 = time.perf_counter()
        p.start()
        get = q.get
        for _ in range(n):
            if get() != PAYLOAD:
                raise AssertionError("shmq: wrong payload")
        took = time.perf_counter() - t0
        p.join()
        return n / took
    finally:
        q.close()
        shmq.unlink(name)


def pingpong_mp(n):
    ctx = multiprocessing.get_context("fork")
    q = ctx.Queue(4096)
    p = ctx.Process(target=_mp_producer, args=(q, n))
    t0 = time.perf_counter()
    p.start()
    get = q.get
    for _ in range(n):
        if get() != PAYLOAD:
            raise AssertionError("multiprocessing: wrong payload")
    took = time.perf_counter() - t0
    p.join()
    return n / took


def bench_pingpong(runs):
    s = [pingpong_shmq(300_000) for _ in range(runs)]
    m = [pingpong_mp(50_000) for _ in range(runs)]
    ms, mm = statistics.median(s), statistics.median(m)
    return {"shmq_msgs_per_s": ms, "mp_queue_msgs_per_s": mm, "ratio": ms / mm,
            "runs_shmq": s, "runs_mp": m}


# ---- overhead: Python calls vs the C loop ----

def bench_overhead(runs):
    name = "bench-py-ov-%d" % os.getpid()
    q = shmq.Queue.create(name, capacity=1024, slot_size=64)
    try:
        n = 300_000
        py, c = [], []
        for _ in range(runs):
            put, get = q.put_nowait, q.get_nowait
            t0 = time.perf_counter_ns()
            for _ in range(n):
                put(PAYLOAD)
                if get() != PAYLOAD:
                    raise AssertionError("wrong payload")
            py.append((time.perf_counter_ns() - t0) / n)
            c.append(shmq._shmq._c_loop(q, n, 64))
        mp, mc = statistics.median(py), statistics.median(c)
        return {"python_ns_per_put_get": mp, "c_ns_per_push_pop": mc,
                "overhead_ns_per_call": (mp - mc) / 2, "runs_python": py, "runs_c": c}
    finally:
        q.close()
        shmq.unlink(name)


# ---- Celery ----

def amqp_url():
    r = subprocess.run([os.path.join(ROOT, "tools", "amqp_test_broker.sh"), "start"],
                       capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        raise RuntimeError("RabbitMQ did not start: " + r.stderr[-500:])
    return "amqp://guest:guest@127.0.0.1:5672//"


class CeleryRun:
    """A worker of the example app on a private broker namespace or queue."""

    def __init__(self, url, tag):
        self.queue = "bench-py-%d-%s" % (os.getpid(), tag)
        self.url = url if url.startswith("amqp") else "shmq:///" + self.queue
        self.env = dict(os.environ, SHMQ_BROKER_URL=self.url, SHMQ_CELERY_QUEUE=self.queue,
                        PYTHONPATH=os.pathsep.join([EXAMPLE] + sys.path))
        os.environ.update(SHMQ_BROKER_URL=self.url, SHMQ_CELERY_QUEUE=self.queue)
        for mod in ("tasks",):
            sys.modules.pop(mod, None)
        sys.path.insert(0, EXAMPLE)
        import tasks
        self.tasks = tasks
        self.log = open(os.devnull, "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "tasks", "worker", "--pool=solo", "-l",
             "error", "--without-gossip", "--without-mingle", "--without-heartbeat",
             "-n", "%s@%%h" % self.queue],
            cwd=EXAMPLE, env=self.env, stdout=self.log, stderr=subprocess.STDOUT)
        # Ready when a round trip works.
        self.tasks.total.delay([1]).get(timeout=60)

    def close(self):
        self.proc.terminate()
        self.proc.wait(timeout=30)
        self.log.close()
        if self.url.startswith("amqp"):
            import kombu
            with kombu.Connection(self.url) as c:
                c.default_channel.queue_delete(self.queue)
        else:
            for n in shmq.list_queues():
                if n.startswith(self.queue + "."):
                    shmq.unlink(n)
            try:
                os.unlink("/dev/shm/shmq-kombu.%s.state" % self.queue)
            except FileNotFoundError:
                pass


def celery_throughput(run, n=10_000):
    t = run.tasks
    t0 = time.perf_counter()
    for i in range(n - 1):
        t.total.apply_async(([i],), ignore_result=True)
    last = t.total.delay([n - 1])
    if last.get(timeout=300) != n - 1:
        raise AssertionError("wrong result")
    return n / (time.perf_counter() - t0)


def celery_roundtrip(run, n=200):
    t = run.tasks
    times = []
    for i in range(n):
        t0 = time.perf_counter()
        if t.total.delay([i, 1]).get(timeout=60) != i + 1:
            raise AssertionError("wrong result")
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def bench_celery(runs, kinds, n_tasks, throughput=True):
    out = {}
    for kind in kinds:
        url = amqp_url() if kind == "amqp" else "shmq://"
        tps, rtt = [], []
        for r in range(runs):
            run = CeleryRun(url, "%s%d" % (kind, r))
            try:
                if throughput:
                    tps.append(celery_throughput(run, n_tasks))
                rtt.append(celery_roundtrip(run))
            finally:
                run.close()
        out[kind] = {"tasks_per_s": statistics.median(tps) if tps else None, "roundtrip_median_s":
                     statistics.median(rtt), "runs_tasks_per_s": tps, "runs_roundtrip_s": rtt}
    if "amqp" in out and "shmq" in out:
        if throughput:
            out["throughput_ratio"] = out["shmq"]["tasks_per_s"] / out["amqp"]["tasks_per_s"]
        out["roundtrip_ratio"] = out["shmq"]["roundtrip_median_s"] / out["amqp"]["roundtrip_median_s"]
    return out


def bench_idle(seconds=30.0):
    run = CeleryRun("shmq://", "idle")
    try:
        time.sleep(2)
        c0, t0 = cpu_seconds(run.proc.pid), time.monotonic()
        time.sleep(seconds)
        share = (cpu_seconds(run.proc.pid) - c0) / (time.monotonic() - t0)
        return {"idle_cpu_percent": 100 * share, "seconds": seconds}
    finally:
        run.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--only", nargs="*",
                    choices=["pingpong", "overhead", "celery", "roundtrip", "idle"])
    ap.add_argument("--broker", choices=["both", "shmq", "amqp"], default="both",
                    help="which brokers the Celery measures run on")
    ap.add_argument("--tasks", type=int, default=10_000, help="tasks per throughput run")
    ap.add_argument("--prefetch", type=int, default=4,
                    help="worker_prefetch_multiplier of the Celery runs (Celery's default: 4)")
    args = ap.parse_args()
    if min(args.runs, args.prefetch, args.tasks) < 1:
        ap.error("--runs, --prefetch and --tasks must be at least 1")
    os.environ["SHMQ_PREFETCH"] = str(args.prefetch)
    todo = args.only or ["pingpong", "overhead", "celery", "idle"]
    print("shmq %s; medians of %d runs; shared, noisy 2-core machine" % (shmq.__version__, args.runs))
    if "pingpong" in todo:
        r = bench_pingpong(args.runs)
        print("pingpong 64 B, 2 processes: shmq %.0f msg/s, multiprocessing.Queue %.0f msg/s: "
              "%.1fx" % (r["shmq_msgs_per_s"], r["mp_queue_msgs_per_s"], r["ratio"]))
    if "overhead" in todo:
        r = bench_overhead(args.runs)
        print("overhead: put_nowait+get_nowait %.0f ns, C push+pop %.0f ns: %.0f ns per call"
              % (r["python_ns_per_put_get"], r["c_ns_per_push_pop"], r["overhead_ns_per_call"]))
    if "celery" in todo:
        kinds = ["shmq", "amqp"] if args.broker == "both" else [args.broker]
        r = bench_celery(args.runs, kinds, args.tasks)
        for kind in ("shmq", "amqp"):
            if kind in r:
                print("celery %s://: %.0f tasks/s (%d, --pool=solo, prefetch x%d), round trip "
                      "median %.2f ms" % (kind, r[kind]["tasks_per_s"], args.tasks, args.prefetch,
                                          1e3 * r[kind]["roundtrip_median_s"]))
        if "throughput_ratio" in r:
            print("celery shmq/amqp: %.2fx tasks/s, round trip %.2fx"
                  % (r["throughput_ratio"], r["roundtrip_ratio"]))
    if "roundtrip" in todo:
        kinds = ["shmq", "amqp"] if args.broker == "both" else [args.broker]
        r = bench_celery(args.runs, kinds, 0, throughput=False)
        for kind in kinds:
            print("celery %s:// round trip median %.3f ms (200 tasks, medians of %d runs)"
                  % (kind, 1e3 * r[kind]["roundtrip_median_s"], args.runs))
        if "roundtrip_ratio" in r:
            print("celery round trip shmq/amqp: %.2fx" % r["roundtrip_ratio"])
    if "idle" in todo:
        r = bench_idle()
        print("idle worker over %.0f s: %.2f%% of one CPU" % (r["seconds"], r["idle_cpu_percent"]))


if __name__ == "__main__":
    main()
