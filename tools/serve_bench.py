#!/usr/bin/env python3
"""Benchmark of `shmq serve` (a report, never a test):

  1. the time a scrape of /metrics takes with 1, 100 and 1000 queues on the machine (client
     side, and the server's own shmq_serve_scrape_duration_seconds), median of --scrapes;
  2. a queue's 1P1C throughput (serve_bench/throughput: two processes, 64-byte messages)
     with the server running but not scraped, and scraped every 100 ms, alternated for
     --runs runs each; the median of the ratios of neighbouring runs;
  3. with --screenshot FILE, a PNG of the dashboard made by headless Chromium, with a few
     demo queues and a topic.

usage: tools/serve_bench.py [--build build/release] [--runs 7] [--seconds 2] [--scrapes 30]
                            [--queues 100] [--screenshot docs/serve-dashboard.png]
Build first (gcc Release):
  cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release -DSHMQ_BUILD_TESTS=OFF \\
        -DSHMQ_BUILD_BENCH=OFF -DSHMQ_BUILD_EXAMPLES=OFF
  cmake --build build/release --target shmq_cli serve_bench_throughput
Queues it makes are named bench-serve-<pid>-* and removed at the end. On a shared machine the
figures are noisy: compare medians, and run it more than once.
"""
import argparse
import ctypes
import glob
import http.client
import os
import re
import signal
import statistics
import subprocess
import sys
import threading
import time

ap = argparse.ArgumentParser()
ap.add_argument("--build", default="build/release")
ap.add_argument("--runs", type=int, default=7)
ap.add_argument("--seconds", type=float, default=2.0)
ap.add_argument("--scrapes", type=int, default=30)
ap.add_argument("--queues", type=int, default=100, help="queues present during part 2")
ap.add_argument("--screenshot")
ap.add_argument("--skip", default="", help="parts to skip: scrape,throughput")
args = ap.parse_args()
SHMQ = os.path.join(args.build, "tools", "shmq")
THROUGHPUT = os.path.join(args.build, "tools", "serve_bench_throughput")
PREFIX = "bench-serve-%d-" % os.getpid()
libc = ctypes.CDLL(None)
children = []


def spawn(argv, **kw):
    p = subprocess.Popen(argv, preexec_fn=lambda: libc.prctl(1, signal.SIGKILL), **kw)
    children.append(p)
    return p


def cleanup():
    for p in children:
        if p.poll() is None:
            p.kill()
            p.wait()
    for f in glob.glob("/dev/shm/shmq." + PREFIX + "*"):
        os.unlink(f)


def on_signal(sig, frame):
    sys.exit(128 + sig)  # through the finally below: nothing left behind


signal.signal(signal.SIGTERM, on_signal)
signal.signal(signal.SIGINT, on_signal)


def shmq(*a, **kw):
    return subprocess.run([SHMQ, *a], check=True, capture_output=True, text=True, **kw)


def make_queues(tag, n):
    names = [PREFIX + "%s-%04d" % (tag, i) for i in range(n)]
    for i in range(0, n, 50):
        for name in names[i:i + 50]:
            shmq("create", name, "--capacity", "64", "--slot-size", "64")
    return names


def serve(*extra):
    p = spawn([SHMQ, "serve", "--listen", "127.0.0.1:0", *extra], stdout=subprocess.PIPE,
              text=True)
    port = int(re.search(r":(\d+)/", p.stdout.readline()).group(1))
    return p, port


def scrape(port):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    t0 = time.perf_counter()
    c.request("GET", os.environ.get("SERVE_BENCH_PATH", "/metrics"))
    body = c.getresponse().read()
    t = time.perf_counter() - t0
    c.close()
    m = re.search(rb"^shmq_serve_scrape_duration_seconds (\S+)$", body, re.M)
    return t, float(m.group(1)) if m else 0.0, body


def segments():
    return len(glob.glob("/dev/shm/shmq.*"))


try:
    print("machine: %d cores, shared with other sessions (noisy); %s" %
          (os.cpu_count(), SHMQ))
    if "scrape" not in args.skip:
        print("\n1. scrape time of /metrics (median of %d scrapes; p90 in brackets)" %
              args.scrapes)
        print("%8s %10s %16s %16s %10s" % ("queues", "segments", "client ms", "server ms",
                                           "bytes"))
        made = 0
        for n in (1, 100, 1000):
            make_queues("s%d" % n, n - made) if n > made else None
            made = n
            p, port = serve()
            scrape(port)  # warm
            client, server = [], []
            for _ in range(args.scrapes):
                t, s, body = scrape(port)
                client.append(t * 1e3)
                server.append(s * 1e3)
            q = statistics.quantiles
            print("%8d %10d %9.2f [%5.2f] %9.2f [%5.2f] %10d" % (
                n, segments(), statistics.median(client), q(client, n=10)[-1],
                statistics.median(server), q(server, n=10)[-1], len(body)))
            p.terminate()
            p.wait()
        for f in glob.glob("/dev/shm/shmq." + PREFIX + "s*"):
            os.unlink(f)

    if "throughput" not in args.skip:
        print("\n2. 1P1C throughput of one queue (64-byte messages, %.1f s per run), %d queues "
              "present, shmq serve running; not scraped vs /metrics every 100 ms" %
              (args.seconds, args.queues))
        make_queues("t", args.queues)
        p, port = serve()
        stop = threading.Event()

        def scraper():
            while not stop.is_set():
                t0 = time.monotonic()
                scrape(port)
                stop.wait(max(0, 0.1 - (time.monotonic() - t0)))

        quiet, scraped, ratios, scrapes = [], [], [], [0]
        for run in range(args.runs):
            rates = {}
            for mode in (("quiet", "scraped") if run % 2 == 0 else ("scraped", "quiet")):
                th = None
                if mode == "scraped":
                    stop.clear()
                    th = threading.Thread(target=scraper)
                    th.start()
                out = subprocess.run([THROUGHPUT, PREFIX + "tp", str(args.seconds)],
                                     check=True, capture_output=True, text=True).stdout
                if th:
                    stop.set()
                    th.join()
                rates[mode] = float(out)
            quiet.append(rates["quiet"])
            scraped.append(rates["scraped"])
            ratios.append(rates["scraped"] / rates["quiet"])
            print("  run %d: not scraped %6.2f M msg/s, scraped %6.2f M msg/s, ratio %.3f" %
                  (run + 1, rates["quiet"] / 1e6, rates["scraped"] / 1e6, ratios[-1]))
        print("  median: not scraped %.2f M msg/s, scraped %.2f M msg/s, ratio of pairs %.3f "
              "(min %.3f, max %.3f)" % (statistics.median(quiet) / 1e6,
                                        statistics.median(scraped) / 1e6,
                                        statistics.median(ratios), min(ratios), max(ratios)))
        p.terminate()
        p.wait()

    if args.screenshot:
        print("\n3. screenshot of the dashboard -> %s" % args.screenshot)
        orders, emails, thumbs, dl = (PREFIX + s for s in ("orders", "emails", "thumbnails",
                                                          "orders-dead"))
        shmq("create", dl)
        shmq("create", orders, "--capacity", "100000", "--dead-letter", dl,
             "--max-deliveries", "3")
        shmq("create", emails, "--capacity", "512")
        shmq("create", thumbs, "--lifo", "--capacity", "1024")
        shmq("push", emails, *["x" * 200] * 300)
        # a consumer of emails that dies holding messages (blocked writing to a full pipe)
        import fcntl
        r, w = os.pipe()
        fcntl.fcntl(w, 1031, 4096)
        holder = spawn([SHMQ, "pop", "-n", "300", emails], stdout=w)
        os.close(w)
        time.sleep(1)
        holder.kill()
        holder.wait()
        events = PREFIX + "events"
        shmq("topic", "create", events, "--capacity", "1024", "--policy", "overwrite")
        subs = [spawn([SHMQ, "sub", events, "--group", g, pat], stdout=subprocess.DEVNULL)
                for g, pat in (("audit", "#"), ("billing", "order.*"))]
        p, port = serve("--interval", "500ms")
        prod = spawn([SHMQ, "push", orders], stdin=subprocess.PIPE, text=True)
        t0 = time.monotonic()
        import math
        browser = None
        while time.monotonic() - t0 < 25 and (browser is None or browser.poll() is None):
            x = time.monotonic() - t0
            prod.stdin.write("order\n" * int(300 + 250 * math.sin(x / 2)))
            prod.stdin.flush()
            subprocess.run([SHMQ, "pop", "-n", "280", orders], capture_output=True)
            shmq("push", thumbs, *["t"] * 5)
            shmq("pub", events, "order.created", *["e"] * 20)
            time.sleep(0.2)
            if x > 15 and browser is None:  # the shot is taken while the traffic goes on
                browser = spawn(["chromium", "--headless", "--no-sandbox", "--disable-gpu",
                                 "--hide-scrollbars", "--window-size=1400,1000",
                                 "--user-data-dir=" + os.path.join("/tmp", PREFIX + "profile"),
                                 "--virtual-time-budget=3000", "--screenshot=" + args.screenshot,
                                 "http://127.0.0.1:%d/?filter=%s" % (port, PREFIX)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if browser is None or browser.wait(60) != 0:
            sys.exit("chromium did not make the screenshot")
        print("  written (%d bytes)" % os.path.getsize(args.screenshot))
        prod.stdin.close()
        prod.wait()
        p.terminate()
        p.wait()
finally:
    cleanup()
