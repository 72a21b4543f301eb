"""Producers and consumers in separate processes over one shmq queue (multiprocessing).

    /usr/bin/python3 producer_consumer.py [--producers 2] [--consumers 2] [--messages 100000]

Each producer puts numbered 64-byte messages; each consumer claims them (zero copy), checks
them and acks. The parent checks that every message arrived exactly once and removes the
queue. A handle passed to a child process is reopened there by name (fork or spawn).
"""
import argparse
import multiprocessing
import os
import struct
import sys
import time

import shmq

RECORD = struct.Struct("<QQ48x")  # producer, sequence, padding to 64 bytes
STOP = b"stop"


def produce(q, producer, n):
    batch = []
    for i in range(n):
        batch.append(RECORD.pack(producer, i))
        if len(batch) == 256:
            q.put_many(batch)
            batch = []
    q.put_many(batch)


def consume(q, results):
    seen = 0
    checksum = 0
    while True:
        with q.claim() as m:
            if bytes(m.data) == STOP:
                break
            producer, seq = RECORD.unpack(m.data)
            checksum += producer * 1_000_003 + seq
            seen += 1
    results.put((seen, checksum))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--producers", type=int, default=2)
    ap.add_argument("--consumers", type=int, default=2)
    ap.add_argument("--messages", type=int, default=100_000, help="per producer")
    ap.add_argument("--start", choices=["fork", "spawn"], default="fork")
    ap.add_argument("--name", default="example-mp-%d" % os.getpid(), help="queue name")
    args = ap.parse_args(argv)
    if min(args.producers, args.consumers, args.messages) < 1:
        ap.error("--producers, --consumers and --messages must be at least 1")
    ctx = multiprocessing.get_context(args.start)
    name = args.name
    q = shmq.Queue.create(name, capacity=4096, slot_size=64)
    try:
        results = ctx.Queue()
        consumers = [ctx.Process(target=consume, args=(q, results)) for _ in range(args.consumers)]
        producers = [ctx.Process(target=produce, args=(q, p, args.messages))
                     for p in range(args.producers)]
        t0 = time.monotonic()
        for p in consumers + producers:
            p.start()
        for p in producers:
            p.join()
        for _ in consumers:
            q.put(STOP)
        got = [results.get(timeout=60) for _ in consumers]
        took = time.monotonic() - t0
        for p in consumers:
            p.join()
        total = sum(n for n, _ in got)
        want = args.producers * args.messages
        want_sum = sum(p * 1_000_003 * args.messages + args.messages * (args.messages - 1) // 2
                       for p in range(args.producers))
        ok = total == want and sum(c for _, c in got) == want_sum
        print("%d messages through %s in %.2f s (%.0f msg/s): %s"
              % (total, name, took, total / took, "all once" if ok else "MISMATCH"))
        return 0 if ok else 1
    finally:
        q.close()
        shmq.unlink(name)


if __name__ == "__main__":
    sys.exit(main())
