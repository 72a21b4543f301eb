#!/usr/bin/env python3
"""shmq serve's dashboard in a real browser: headless Chromium loads the page, runs its
JavaScript (everything from the server: the page refers to no other host), and the DOM it
dumps shows the test's queues, their depth changing while a producer runs, a topic with a row
per group, and the queue whose dead participant holds messages marked. A screenshot is taken
and checked to be a PNG of the asked size.

usage: serve_browser.py PATH_TO_SHMQ [SCREENSHOT.png]"""
import html.parser
import json
import os
import re
import shutil
import struct
import subprocess
import sys

from serve_lib import (SHMQ, Producer, Server, expect, expect_eq, fail, hold_by_dead, name,
                       section, shmq, spawn, wait_until, workdir)

browser = shutil.which("chromium")
if not browser:
    fail("chromium is not installed (tools/check.sh installs it: apt-get install "
         "--no-install-recommends chromium)")
work = workdir()
shot = sys.argv[2] if len(sys.argv) > 2 else os.path.join(work, "dashboard.png")


def chromium(*args, timeout=90):
    """Run headless Chromium with a profile of its own; its standard output."""
    p = spawn([browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
               "--disable-extensions", "--disable-background-networking", "--mute-audio",
               "--user-data-dir=" + os.path.join(work, "profile"), *args],
              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        fail("chromium did not finish within %d s" % timeout)
    if p.returncode != 0:
        fail("chromium exited %d: %s" % (p.returncode, err[-2000:]))
    return out


class Dom(html.parser.HTMLParser):
    """The rows of the dumped page: data-* attributes and text of each <tr>, charts."""

    def __init__(self, text):
        super().__init__()
        self.rows, self.charts, self.row, self.cells, self.body = [], [], None, [], {}
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "body":
            self.body = a
        if tag == "tr" and ("data-queue" in a or "data-topic" in a):
            self.row = dict(a, cells=[], depth=None)
            self.rows.append(self.row)
        elif tag == "td" and self.row is not None:
            self.row["cells"].append("")
            if "data-depth" in a:
                self.row["depth"] = int(a["data-depth"])
        elif tag == "div" and "chart" in (a.get("class") or "").split():
            self.charts.append(a)

    def handle_endtag(self, tag):
        if tag == "tr":
            self.row = None

    def handle_data(self, data):
        if self.row is not None and self.row["cells"]:
            self.row["cells"][-1] += data

    def queue(self, q):
        rows = [r for r in self.rows if r.get("data-queue") == q]
        return rows[0] if rows else None


q, quiet, held_q, t = name("busy"), name("quiet"), name("held"), name("t")
shmq("create", q, "--capacity", "100000")
shmq("create", quiet)
shmq("create", held_q)
shmq("push", held_q, *["x" * 200] * 50)
held = hold_by_dead(held_q, 50)
shmq("topic", "create", t, "--capacity", "64")
for i in range(32):  # more queues than the page draws charts for (30)
    shmq("create", name("idle-%02d" % i), "--capacity", "8")
subs = [spawn([SHMQ, "sub", t, "--group", g, "#"], stdout=subprocess.DEVNULL) for g in ("g1", "g2")]
wait_until(10, "two groups", lambda: json.loads(shmq("stat", "--json", t).stdout)["groups"] == 2)
srv = Server("--interval", "250ms")
url = "http://127.0.0.1:%d/" % srv.port

section("the page and its files come from the server, and name no other host")
page = srv.get("/")[1].decode()
expect('<script src="/dashboard.js"' in page and 'href="/dashboard.css"' in page, page[:300])
for path in ("/", "/dashboard.js", "/dashboard.css"):
    text = srv.get(path)[1].decode()
    expect(not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", text.replace(
        "http://www.w3.org", "")), "%s refers to another host" % path)

section("headless Chromium shows the queues, topics, groups and what the dead hold")
prod = Producer(q)
prod.feed(1000)
wait_until(10, "1000 pushed", lambda: srv.json("/api/queues/" + q)["depth"] == 1000)
# Other sessions' queues may be on this machine: the first look is at every queue, the
# next ones only at this test's (?filter=, which the dashboard also offers to people).
everything = Dom(chromium("--virtual-time-budget=3000", "--dump-dom", url))
expect(everything.queue(q) is not None and everything.queue(held_q) is not None,
       "the unfiltered page shows the test's queues")
url += "?filter=" + name("")
dom = Dom(chromium("--virtual-time-budget=3000", "--dump-dom", url))
expect(all(r.get("data-queue", r.get("data-topic", "")).startswith(name("")) for r in dom.rows),
       "the filter shows only the test's queues")
expect(int(dom.body.get("data-updates", "0")) >= 1, "the page updated: body %r" % dom.body)
row = dom.queue(q)
expect(row is not None, "the DOM has no row for %s: rows %r" % (q, [r.get("data-queue")
                                                                 for r in dom.rows]))
expect_eq("the depth shown", 1000, row["depth"])
expect_eq("its name cell", q, row["cells"][0])
expect(dom.queue(quiet) is not None and dom.queue(quiet)["depth"] == 0, "the quiet queue")
hrow = dom.queue(held_q)
expect("held" in (hrow.get("class") or "").split(),
       "the queue whose dead participant holds messages stands out: %r" % hrow)
expect("%d held" % held in "".join(hrow["cells"]), "its badge says how many: %r" % hrow)
expect("held" not in (row.get("class") or "").split(), "the busy queue is not marked")
groups = sorted(r.get("data-group") for r in dom.rows
                if r.get("data-topic") == t and r.get("data-group"))
expect_eq("a row per group", ["g1", "g2"], groups)
expect_eq("charts drawn (the 30 busiest of 35 queues)", 30, len(dom.charts))
expect(any(c.get("data-queue") == q for c in dom.charts), "a chart for %s" % q)
expect(any(c.get("data-queue") == held_q and "held" in c.get("class", "") for c in dom.charts),
       "the chart of the held queue is marked too")

section("the depth changes while the producer runs")
depths = [1000]
for i in range(2):
    prod.feed(700)
    want = 1000 + 700 * (i + 1)
    wait_until(10, "%d pushed" % want, lambda: srv.json("/api/queues/" + q)["depth"] == want)
    d = Dom(chromium("--virtual-time-budget=2500", "--dump-dom", url)).queue(q)["depth"]
    depths.append(d)
expect_eq("depths the browser showed", [1000, 1700, 2400], depths)

section("a screenshot")
prod.feed(300)
chromium("--virtual-time-budget=4000", "--hide-scrollbars", "--window-size=1400,1000",
         "--screenshot=" + shot, url)
with open(shot, "rb") as f:
    head = f.read(24)
expect(head[:8] == b"\x89PNG\r\n\x1a\n", "the screenshot is a PNG")
expect_eq("its size", (1400, 1000), struct.unpack(">II", head[16:24]))
expect(os.path.getsize(shot) > 20000, "the screenshot has content (%d bytes)" %
       os.path.getsize(shot))
prod.close()
for s in subs:
    s.terminate()
    s.wait()
srv.stop()
print("serve_browser: all passed (screenshot %s)" % shot)
