#!/usr/bin/env python3
"""tools/layers.py OBJDIR — check that the files of src/ call one another one way down.

Reads the object files of the library (OBJDIR/<file>.c.o, e.g.
build/check-asan/CMakeFiles/shmq_objects.dir/src) with `nm`: a file *calls* another when it
uses a symbol the other defines. Fails (exit 1) when
  - files call one another in a cycle (directly or through others), or
  - a file calls a file of a higher layer (the layers below, from docs/ARCHITECTURE.md), or
  - a file of src/ has no layer here (give it one when you add it), or
  - a file of src/ (.c or .h) is longer than MAX_LINES: one concept per file.
Prints the graph with --graph. Static inline functions in headers are not seen (they are
compiled into their callers); the check is about the .c files.
"""
import collections
import glob
import os
import subprocess
import sys

# Lower number = lower layer. A file may call files of its own layer or below, never above.
LAYERS = {
    "base": (0, ["time", "error", "pattern"]),
    "rings": (1, ["scq", "stack"]),
    "segment": (2, ["wait", "block", "numa", "segment", "registry", "participant", "topic_segment"]),
    "slot pool": (3, ["slot", "pool", "delayed", "topic_group"]),
    "queue core": (4, ["core", "mpmc", "mpmc_batch", "spsc"]),
    "task semantics": (5, ["deadletter"]),
    "recovery": (6, ["reaper", "topic_reap"]),
    "facade": (7, ["queue", "inspect", "check", "image", "waitany", "topic", "topic_publish",
                 "topic_read", "topic_stat"]),
    "add-ons": (8, ["request"]),
}
MAX_LINES = 750
SRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src")


def layer_of(name):
    for layer, (rank, files) in LAYERS.items():
        if name in files:
            return layer, rank
    return None, None


def symbols(obj):
    out = subprocess.run(["nm", obj], capture_output=True, text=True, check=True).stdout
    defined, used = set(), set()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1] in "TDBRC":
            defined.add(parts[2])
        elif len(parts) == 2 and parts[0] == "U":
            used.add(parts[1])
    return defined, used


def cycles(graph):
    index, low, stack, on, found, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    if len(args) != 1:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    objs = sorted(glob.glob(os.path.join(args[0], "*.c.o")))
    if not objs:
        print("layers: no object files in %s" % args[0], file=sys.stderr)
        return 2
    defs, uses = {}, {}
    for o in objs:
        name = os.path.basename(o)[: -len(".c.o")]
        defs[name], uses[name] = symbols(o)
    owner = {s: n for n, d in defs.items() for s in d}
    graph = collections.defaultdict(set)
    why = collections.defaultdict(set)
    for n, used in uses.items():
        graph[n]
        for s in used:
            o = owner.get(s)
            if o and o != n:
                graph[n].add(o)
                why[(n, o)].add(s)
    bad = 0
    for n in sorted(graph):
        layer, rank = layer_of(n)
        if layer is None:
            print("layers: src/%s.c has no layer: add it to tools/layers.py" % n)
            bad += 1
            continue
        for o in sorted(graph[n]):
            olayer, orank = layer_of(o)
            if orank is not None and orank > rank:
                print("layers: %s.c (%s) calls up into %s.c (%s): %s"
                      % (n, layer, o, olayer, ", ".join(sorted(why[(n, o)])[:4])))
                bad += 1
    for comp in cycles(graph):
        print("layers: cycle between %s" % ", ".join(c + ".c" for c in comp))
        for a in comp:
            for b in comp:
                if (a, b) in why:
                    print("    %s.c -> %s.c: %s" % (a, b, ", ".join(sorted(why[(a, b)])[:4])))
        bad += 1
    for path in sorted(glob.glob(os.path.join(SRC, "*.[ch]"))):
        with open(path, encoding="utf-8") as f:
            lines = sum(1 for _ in f)
        if lines > MAX_LINES:
            print("layers: src/%s has %d lines (at most %d: split it along its seams)"
                  % (os.path.basename(path), lines, MAX_LINES))
            bad += 1
    if "--graph" in sys.argv:
        for n in sorted(graph, key=lambda n: (layer_of(n)[1] or 0, n)):
            print("%-12s %-15s -> %s" % (n, layer_of(n)[0], " ".join(sorted(graph[n]))))
    if bad:
        return 1
    print("layers: %d files of src/, no cycle, no call upwards, none over %d lines"
          % (len(graph), MAX_LINES))
    return 0


if __name__ == "__main__":
    sys.exit(main())
