#!/usr/bin/env python3
"""shmq serve and Prometheus: `promtool check metrics` accepts /metrics (queues, a topic with
groups, a dead participant, an unreadable segment in it), and a real Prometheus server started
here on loopback (a free port, its TSDB in a temporary directory, scrape_interval 1s) scrapes
`shmq serve`: its HTTP API answers shmq_queue_messages for the test queue with the depth.

usage: serve_prometheus.py PATH_TO_SHMQ"""
import json
import os
import shutil
import signal
import subprocess
import time
import urllib.parse
import urllib.request

from serve_lib import (SHMQ, Server, expect, expect_eq, fail, free_port, hold_by_dead, name,
                       section, shmq, spawn, wait_until, workdir)

for tool in ("promtool", "prometheus"):
    if not shutil.which(tool):
        fail("%s is not installed (Debian package prometheus; tools/check.sh installs it)" % tool)

work = workdir()
q, q2, t = name("q"), name("lifo"), name("t")
shmq("create", q, "--capacity", "1000")
shmq("create", q2, "--lifo")
shmq("push", q, *["m%03d" % i + "." * 200 for i in range(123)])
shmq("topic", "create", t, "--capacity", "16", "--policy", "overwrite")
sub = spawn([SHMQ, "sub", t, "--group", "g1", "#"], stdout=subprocess.DEVNULL)
wait_until(10, "the subscriber's group",
           lambda: json.loads(shmq("stat", "--json", t).stdout)["groups"] == 1)
# The subscriber is stopped while 40 messages lap the ring of 16; when it goes on, it finds
# what it lost and counts it.
sub.send_signal(signal.SIGSTOP)
shmq("pub", t, "a.b", *["x"] * 40)
sub.send_signal(signal.SIGCONT)


def group_lost():
    groups = json.loads(shmq("stat", "--json", t).stdout)["group_list"]
    return groups[0]["lost"] if groups else 0


lost_by_stat = wait_until(10, "the group to count what it lost", group_lost)
held = hold_by_dead(q, 123)
with open("/dev/shm/shmq." + name("bad"), "wb") as f:
    f.write(b"\xff" * 4096)

srv = Server()

section("promtool check metrics accepts /metrics")
text = srv.metrics()
for family in ("shmq_queue_messages", "shmq_queue_pushed_total", "shmq_queue_participants",
               "shmq_topic_group_lag_messages", "shmq_topic_group_lost_total",
               "shmq_segment_readable", "shmq_serve_scrape_duration_seconds"):
    expect("# TYPE %s " % family in text, "/metrics has no family %s" % family)
r = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True)
expect_eq("promtool check metrics: exit code (output %r)" % (r.stdout + r.stderr), 0,
          r.returncode)
expect_eq("promtool's remarks", "", (r.stdout + r.stderr).strip())
# It can fail: a broken exposition is refused.
bad = text.replace("# TYPE shmq_queue_messages gauge", "# TYPE shmq_queue_messages counter")
r = subprocess.run(["promtool", "check", "metrics"], input=bad, capture_output=True, text=True)
expect(r.returncode != 0 or r.stdout + r.stderr, "promtool accepts a counter without _total")

section("a Prometheus server scrapes shmq serve")
port = free_port()
config = os.path.join(work, "prometheus.yml")
with open(config, "w") as f:
    f.write("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
            "scrape_configs:\n  - job_name: shmq\n    static_configs:\n"
            "      - targets: ['127.0.0.1:%d']\n" % srv.port)
tsdb = os.path.join(work, "tsdb")
prom = spawn(["prometheus", "--config.file=" + config, "--storage.tsdb.path=" + tsdb,
              "--web.listen-address=127.0.0.1:%d" % port, "--log.level=warn"],
             stdout=subprocess.DEVNULL, stderr=open(os.path.join(work, "prometheus.log"), "w"))


def query(expr):
    url = "http://127.0.0.1:%d/api/v1/query?query=%s" % (port, urllib.parse.quote(expr))
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            answer = json.load(r)
    except OSError:
        if prom.poll() is not None:
            fail("prometheus ended: %s" % open(os.path.join(work, "prometheus.log")).read())
        return None
    expect_eq("query status", "success", answer["status"])
    return answer["data"]["result"]


result = wait_until(60, "Prometheus to have scraped shmq_queue_messages",
                    lambda: query('shmq_queue_messages{queue="%s"}' % q))
expect_eq("one series", 1, len(result))
expect_eq("its labels", {"__name__": "shmq_queue_messages", "queue": q, "kind": "fifo",
                         "job": "shmq", "instance": "127.0.0.1:%d" % srv.port},
          result[0]["metric"])
expect_eq("the depth Prometheus has", str(123 - held), result[0]["value"][1])
up = query('up{job="shmq"}')
expect_eq("the target is up", "1", up[0]["value"][1])
shmq("push", q, *["n"] * 10)
dead = query('shmq_queue_participants{queue="%s",state="dead"}' % q)
expect_eq("the dead participant in Prometheus", "1", dead[0]["value"][1])
# push opens the queue to use it, which gives back what the dead held: 123 + 10.
want = json.loads(shmq("stat", "--json", q).stdout)["depth"]
expect_eq("the depth after 10 more", 133, want)
seen = []


def depth_seen():
    r = query('shmq_queue_messages{queue="%s"}' % q)
    seen.append(r[0]["value"][1] if r else None)
    return seen[-1] == str(want)


wait_until(30, "Prometheus to see the new depth %d (it saw %s)" % (want, seen), depth_seen)
dead = query('shmq_queue_participants{queue="%s",state="dead"}' % q)
expect_eq("no dead participant in Prometheus after push reaped", "0", dead[0]["value"][1])
lag = query('shmq_topic_group_lag_messages{topic="%s"}' % t)
expect_eq("a group's lag in Prometheus", 1, len(lag))
lost = query('shmq_topic_group_lost_total{topic="%s"}' % t)
expect_eq("the overwrite topic's group lost messages", str(lost_by_stat), lost[0]["value"][1])
prom.terminate()
expect_eq("prometheus stops", 0, prom.wait(30))
os.unlink("/dev/shm/shmq." + name("bad"))
srv.stop()
print("serve_prometheus: all passed")
