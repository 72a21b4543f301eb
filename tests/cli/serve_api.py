#!/usr/bin/env python3
"""shmq serve: every endpoint against live queues and topics (depth and counters move while a
producer runs), the JSON API against `shmq stat --json`, what the server must never do (reap a
dead participant), unreadable segments, refused requests (bad names, traversal, oversized,
unknown methods) with the server alive after each, admin actions refused and done, and the
stop on SIGTERM and SIGINT.

usage: serve_api.py PATH_TO_SHMQ"""
import json
import os
import shutil
import signal
import subprocess
import time

from serve_lib import (SHMQ, Producer, Server, expect, expect_eq, fail, hold_by_dead, metric,
                       name, section, shmq, spawn, wait_until, workdir)

work = workdir()

section("usage errors")
for args, message in [
    (["--listen", "nowhere"], "invalid value 'nowhere' for --listen"),
    (["--listen", "127.0.0.1:70000"], "invalid value '127.0.0.1:70000' for --listen"),
    (["--listen", "300.1.1.1:80"], "invalid value '300.1.1.1:80' for --listen"),
    (["--allow-admin"], "--allow-admin needs --token-file FILE"),
    (["--token-file", "/dev/null"], "--token-file is only for --allow-admin"),
    (["--interval", "10ms"], "--interval must be from 100ms to 1m"),
    (["--history", "2h"], "--history must be at least --interval and at most 3600 intervals"),
    (["--interval", "2s", "--history", "1s"], "--history must be at least --interval"),
    (["extra"], ""),
]:
    r = shmq("serve", *args, check=False, timeout=10)
    expect_eq("shmq serve %s: exit code" % " ".join(args), 2, r.returncode)
    expect(message in r.stderr, "shmq serve %s: stderr %r lacks %r" % (args, r.stderr, message))
short = os.path.join(work, "short")
with open(short, "w") as f:
    f.write("tooshort\n")
r = shmq("serve", "--allow-admin", "--token-file", short, check=False, timeout=10)
expect_eq("a short token: exit code", 2, r.returncode)
expect("must be one line of 16 to" in r.stderr, r.stderr)
r = shmq("serve", "--allow-admin", "--token-file", os.path.join(work, "missing"), check=False,
         timeout=10)
expect_eq("a missing token file: exit code", 1, r.returncode)
r = shmq("serve", "--help", timeout=10)
expect("GET /metrics" in r.stdout and "--allow-admin" in r.stdout, "serve --help: %r" % r.stdout)
busy = Server()
r = shmq("serve", "--listen", "127.0.0.1:%d" % busy.port, check=False, timeout=10)
expect_eq("a port in use: exit code", 1, r.returncode)
expect("cannot listen on 127.0.0.1:%d" % busy.port in r.stderr, r.stderr)
busy.stop()

q, t, dl = name("q"), name("t"), name("dl")
shmq("create", dl)
shmq("create", q, "--capacity", "100000", "--dead-letter", dl, "--max-deliveries", "3")
shmq("topic", "create", t, "--capacity", "64")
sub = spawn([SHMQ, "sub", t, "--group", "g1", "#"], stdout=subprocess.DEVNULL)
wait_until(10, "the subscriber's group", lambda: json.loads(
    shmq("stat", "--json", t).stdout)["groups"] == 1)
# The group reads only what is published after it joined; the subscriber is then stopped with
# SIGSTOP so that the lag stays.
sub.send_signal(signal.SIGSTOP)
shmq("pub", t, "a.b", "one", "two", "three")

srv = Server("--interval", "200ms")

section("GET /api/queues/NAME has the fields of shmq stat --json")
api = srv.json("/api/queues/" + q)
stat = json.loads(shmq("stat", "--json", q).stdout)
expect_eq("the API's keys are stat's", list(stat.keys()), list(api.keys()))
for k in ("name", "kind", "capacity", "slot_size", "dead_letter", "max_deliveries", "depth"):
    expect_eq("field " + k, stat[k], api[k])
expect_eq("participant_list", [], api["participant_list"])
topic = srv.json("/api/topics/" + t)
tstat = json.loads(shmq("stat", "--json", t).stdout)
expect_eq("a topic's keys are stat's", list(tstat.keys()), list(topic.keys()))
expect_eq("its group", ["g1"], [g["group"] for g in topic["group_list"]])
expect_eq("its lag", 3, topic["group_list"][0]["lag"])
expect_eq("group_list rows as stat's", [list(g) for g in tstat["group_list"]],
          [list(g) for g in topic["group_list"]])
lists = srv.json("/api/queues")
expect(q in [x["name"] for x in lists] and dl in [x["name"] for x in lists],
       "/api/queues lists the test's queues")
expect(t not in [x["name"] for x in lists], "/api/queues lists no topic")
expect([x["name"] for x in srv.json("/api/topics") if x["name"] == t] == [t],
       "/api/topics lists the topic")

section("depth and counters move while a producer runs")
prod = Producer(q)
seen_depth, seen_pushed, seen_metric = [], [], []
for i in range(4):
    prod.feed(500)
    want = 500 * (i + 1)
    wait_until(10, "%d messages pushed" % want,
               lambda: srv.json("/api/queues/" + q)["pushed"] >= want)
    seen_depth.append(srv.json("/api/queues/" + q)["depth"])
    seen_metric.append(metric(srv.metrics(), "shmq_queue_messages", queue=q, kind="fifo"))
    seen_pushed.append(metric(srv.metrics(), "shmq_queue_pushed_total", queue=q, kind="fifo"))
expect_eq("depth by the API", [500, 1000, 1500, 2000], seen_depth)
expect_eq("depth by /metrics", [500.0, 1000.0, 1500.0, 2000.0], seen_metric)
expect_eq("pushed by /metrics", [500.0, 1000.0, 1500.0, 2000.0], seen_pushed)
live = srv.json("/api/queues/" + q)
expect_eq("the producer is a live participant", [(True, "producer")],
          [(p["alive"], p["roles"]) for p in live["participant_list"]])
expect_eq("producers", 1, live["producers"])
metrics = srv.metrics()
expect_eq("alive participants", 1.0,
          metric(metrics, "shmq_queue_participants", queue=q, state="alive"))
expect_eq("pop -n 300", 300, len(shmq("pop", "-n", "300", q).stdout.splitlines()))
metrics = srv.metrics()
expect_eq("popped after pop -n 300", 300.0, metric(metrics, "shmq_queue_popped_total", queue=q))
expect_eq("acked after pop -n 300", 300.0, metric(metrics, "shmq_queue_acked_total", queue=q))
expect_eq("depth after pop -n 300", 1700.0, metric(metrics, "shmq_queue_messages", queue=q))
expect_eq("capacity", 100000.0, metric(metrics, "shmq_queue_capacity_messages", queue=q))
expect_eq("the group's lag", 3.0,
          metric(metrics, "shmq_topic_group_lag_messages", topic=t, group="g1"))
expect_eq("the topic's published", 3.0, metric(metrics, "shmq_topic_published_total", topic=t))
expect(metric(metrics, "shmq_serve_scrape_duration_seconds") is not None,
       "the scrape duration is there")
prod.feed(1000)


def history_of(n):
    for s in srv.json("/api/history")["series"]:
        if s["name"] == n:
            return s
    return None


wait_until(10, "the history to see messages come in",
           lambda: max(history_of(q)["in_rate"]) > 0)
h = history_of(q)
expect(len(h["t"]) == len(h["depth"]) == len(h["in_rate"]) == len(h["out_rate"]) >= 2,
       "a history series: %r" % h)
expect(h["t"] == sorted(h["t"]), "history times increase")
prod.close()
now = srv.json("/api/queues/" + q)["depth"]
expect_eq("the depth once the producer is done", 2700, now)
wait_until(5, "the history to end at the depth", lambda: history_of(q)["depth"][-1] == now)
expect_eq("one second of history", True,
          len(srv.json("/api/history?seconds=1")["series"][0]["t"]) <= 6)

section("a dead participant's messages stay held: the server never reaps")
held = hold_by_dead(q, 100000)
before = srv.json("/api/queues/" + q)
time.sleep(1.0)  # five samples of the history, and requests below
for _ in range(3):
    srv.metrics()
    srv.json("/api/queues")
after = srv.json("/api/queues/" + q)
expect_eq("dead participants, still", 1, after["dead"])
expect_eq("in flight, still", held, after["in_flight"])
expect_eq("recovered, still", before["recovered"], after["recovered"])
dead = [p for p in after["participant_list"] if not p["alive"]]
expect_eq("the dead consumer's counters", [held], [p["popped"] - p["acked"] for p in dead])
metrics = srv.metrics()
expect_eq("dead by /metrics", 1.0, metric(metrics, "shmq_queue_participants", queue=q,
                                          state="dead"))
expect_eq("held by dead", float(held),
          metric(metrics, "shmq_queue_held_by_dead_messages", queue=q))
expect_eq("held by dead in the history", held, history_of(q)["held_by_dead"][-1])

section("bad names, traversal, unknown pages: 4xx with a JSON error, nothing read")
for path, status in [
    ("/api/queues/" + name("missing"), 404),
    ("/api/topics/" + name("missing"), 404),
    ("/api/queues/" + t, 404),  # a topic, asked as a queue
    ("/api/topics/" + q, 404),
    ("/api/queues/.hidden", 400),
    ("/api/queues/a%20b", 400),
    ("/api/queues/a%00b", 400),
    ("/api/queues/" + "x" * 201, 400),
    ("/api/queues/" + "x" * 5000, 400),
    ("/api/queues/", 400),
    ("/api/queues/..", 400),
    ("/api/queues/..%2f..%2fetc%2fpasswd", 404),
    ("/api/queues/%2e%2e", 400),
    ("/api/queues/q/../../etc/passwd", 404),
    ("/api/queues/" + q + "/nothing", 404),
    ("/api/topics/" + t + "/purge", 404),
    ("/etc/passwd", 404),
    ("/dev/shm/shmq." + q, 404),
    ("/metrics/", 404),
    ("/api", 404),
    ("/api/history?seconds=0", 400),
    ("/api/history?seconds=1x", 400),
    ("/api/history?seconds=99999999999999999999", 400),
]:
    st, hdr, body = srv.request("GET", path)
    expect_eq("GET %s: status" % path, status, st)
    err = json.loads(body)
    expect(err["status"] == status and err["error"], "GET %s: body %r" % (path, body))
    expect(b"root:" not in body, "GET %s gave a file" % path)
st, _, body = srv.request("GET", "/api/queues/" + t)
expect("is a topic" in json.loads(body)["error"], body)
st, _, body = srv.request("GET", "/api/queues/.hidden")
expect_eq("the message of a bad name", "invalid name '.hidden': names are 1 to 200 characters "
          "of A-Z a-z 0-9 . _ -, not starting with a dot", json.loads(body)["error"])

section("methods, oversized and malformed requests: 4xx, and the server lives on")
for method in ("DELETE", "PUT", "PATCH", "OPTIONS", "BREW", "TRACE"):
    st, hdr, body = srv.request(method, "/metrics")
    expect_eq(method + " /metrics", 405, st)
    expect_eq(method + ": Allow", "GET, HEAD, POST", hdr.get("Allow"))
st, _, _ = srv.request("POST", "/metrics")
expect_eq("POST /metrics", 405, st)
st, hdr, body = srv.request("HEAD", "/metrics")
expect(st == 200 and body == b"", "HEAD /metrics: %d %r" % (st, body[:50]))
for what, data in [
    ("a 20 KiB header", b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20000 +
     b"\r\n\r\n"),
    ("200 headers", b"GET /metrics HTTP/1.1\r\nHost: x\r\n" +
     b"".join(b"X-H%d: %s\r\n" % (i, b"v" * 100) for i in range(200)) + b"\r\n"),
    ("a 20 KiB path", b"GET /" + b"a" * 20000 + b" HTTP/1.1\r\nHost: x\r\n\r\n"),
    ("a 2 KiB body", b"POST /api/queues/" + q.encode() +
     b"/purge HTTP/1.1\r\nHost: x\r\nContent-Length: 2048\r\n\r\n" + b"b" * 2048),
    ("a chunked 4 KiB body", b"POST /api/queues/" + q.encode() +
     b"/purge HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" +
     b"".join(b"400\r\n" + b"c" * 1024 + b"\r\n" for _ in range(4)) + b"0\r\n\r\n"),
    ("a garbage request line", b"GARBAGE\r\n\r\n"),
    ("no HTTP version", b"GET /metrics\r\n\r\n"),
    ("HTTP/9.9", b"GET /metrics HTTP/9.9\r\nHost: x\r\n\r\n"),
    ("a NUL in the path", b"GET /api/queues/a\x00b HTTP/1.1\r\nHost: x\r\n\r\n"),
    ("a bad header line", b"GET /metrics HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n"),
]:
    st = srv.raw(data)
    # A request line that is not HTTP at all: the library may close without an answer.
    malformed = what in ("a garbage request line", "no HTTP version")
    expect(400 <= st < 500 or st == 505 or (malformed and st == 0),
           "%s: status %d, expected 4xx" % (what, st))
    srv.get("/metrics")  # alive
# An endless chunked body: the connection is cut after 64 KiB (no answer can be sent before
# the library has read the body).
st = srv.raw(b"POST /api/queues/" + q.encode() + b"/purge HTTP/1.1\r\nHost: x\r\n"
             b"Transfer-Encoding: chunked\r\n\r\n" +
             b"".join(b"400\r\n" + b"c" * 1024 + b"\r\n" for _ in range(200)))
expect_eq("an endless chunked body: cut", 0, st)
srv.get("/metrics")
expect_eq("nothing was purged by refused requests", 2700 - held,
          srv.json("/api/queues/" + q)["depth"])

section("a segment the server may not read is listed as such")
bad = name("bad")
with open("/dev/shm/shmq." + bad, "wb") as f:
    f.write(b"\x00" * 8192)  # not a segment: corrupt
entries = {x["name"]: x for x in srv.json("/api/queues")}
expect_eq("a corrupt segment in the list", {"name": bad, "error": "corrupt or incomplete segment"},
          entries.get(bad))
# Opening it waits 2 s for a creator that would store the magic; that is done once, not
# at every scrape.
start = time.monotonic()
metrics = srv.metrics()
expect(time.monotonic() - start < 1.5, "a broken segment slows scrapes down: %.1f s" %
       (time.monotonic() - start))
expect_eq("readable 0", 0.0, metric(metrics, "shmq_segment_readable", name=bad))
expect_eq("readable 1", 1.0, metric(metrics, "shmq_segment_readable", name=q))
os.unlink("/dev/shm/shmq." + bad)
# Another user's queue: as root, the server runs as nobody (who may not read 0600 segments of
# root); as anyone else, a segment whose mode lets no one read it.
if os.geteuid() == 0:
    # A copy of the tool that nobody may run, whatever the permissions of the build tree.
    public = workdir()
    os.chmod(public, 0o755)
    binary = os.path.join(public, "shmq")
    shutil.copy(SHMQ, binary)
    os.chmod(binary, 0o755)
    other = Server("--interval", "200ms", binary=binary,
                   prefix=("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"))
    private = q
else:
    other = srv
    private = name("private")
    shmq("create", private)
    os.chmod("/dev/shm/shmq." + private, 0)
entries = {x["name"]: x for x in other.json("/api/queues")}
expect_eq("an unreadable queue in the list", {"name": private, "error": "permission denied"},
          entries.get(private))
st, _, body = other.request("GET", "/api/queues/" + private)
expect_eq("GET an unreadable queue", 403, st)
expect("permission denied" in json.loads(body)["error"], body)
expect_eq("unreadable in /metrics", 0.0,
          metric(other.metrics(), "shmq_segment_readable", name=private))
if other is not srv:
    other.stop()

section("a queue removed, and made again under its name, is read anew")
again = name("again")


def listed(n):
    return {x["name"]: x for x in srv.json("/api/queues")}.get(n)


shmq("create", again, "--capacity", "10")
shmq("push", again, "a", "b", "c")
expect_eq("first queue", (10, 3), (listed(again)["capacity"], listed(again)["depth"]))
shmq("rm", again)
expect_eq("removed", None, listed(again))
expect_eq("removed, in /metrics", None, metric(srv.metrics(), "shmq_queue_messages", queue=again))
shmq("create", again, "--capacity", "20")
shmq("push", again, "d")
expect_eq("made again", (20, 1), (listed(again)["capacity"], listed(again)["depth"]))
shmq("rm", again)
shmq("topic", "create", again)
expect_eq("a topic now", None, listed(again))
expect_eq("listed as a topic", [again],
          [x["name"] for x in srv.json("/api/topics") if x["name"] == again])
shmq("rm", again)

section("admin actions are refused unless enabled")
for path in ("/api/queues/%s/purge" % q, "/api/queues/%s/repair" % q,
             "/api/topics/%s/repair" % t):
    st, _, body = srv.request("POST", path, headers={"Authorization": "Bearer " + "x" * 32})
    expect_eq("POST %s without --allow-admin" % path, 403, st)
    expect_eq("its message", "admin actions are disabled: start the server with 'shmq serve "
              "--allow-admin --token-file FILE'", json.loads(body)["error"])
    st, _, _ = srv.request("GET", path)
    expect_eq("GET %s" % path, 403, st)
depth = srv.json("/api/queues/" + q)["depth"]
expect(depth > 0, "the queue still has its messages")

section("SIGTERM stops the server")
srv.stop(signal.SIGTERM)

section("admin actions with --allow-admin and a token")
token = "s3cr3t-" + os.urandom(12).hex()
token_file = os.path.join(work, "token")
with open(token_file, "w") as f:
    f.write(token + "\n")
os.chmod(token_file, 0o600)
adm = Server("--allow-admin", "--token-file", token_file)
purge = "/api/queues/%s/purge" % q
for headers, message in [
    ({}, "admin actions need the header 'Authorization: Bearer TOKEN' with the token of "
         "--token-file"),
    ({"Authorization": "Bearer wrong-" + token[6:]}, "wrong token: admin action refused"),
    ({"Authorization": "Bearer " + token[:-1]}, "wrong token: admin action refused"),
    ({"Authorization": "Bearer " + token + "x"}, "wrong token: admin action refused"),
    ({"Authorization": "Basic " + token}, "wrong token: admin action refused"),
    ({"Authorization": token}, "wrong token: admin action refused"),
]:
    st, _, body = adm.request("POST", purge, headers=headers)
    expect_eq("POST purge with %r" % headers, 403, st)
    expect_eq("its message", message, json.loads(body)["error"])
st, _, body = adm.request("GET", purge, headers={"Authorization": "Bearer " + token})
expect_eq("GET purge with the token", 403, st)
expect_eq("its message", "admin actions take POST only", json.loads(body)["error"])
expect_eq("nothing purged yet", depth, adm.json("/api/queues/" + q)["depth"])
auth = {"Authorization": "Bearer " + token}
st, _, body = adm.request("POST", "/api/queues/%s/purge" % t, headers=auth)
expect_eq("purge a topic", 409, st)
st, _, body = adm.request("POST", "/api/queues/%s/purge" % name("missing"), headers=auth)
expect_eq("purge a missing queue", 404, st)
st, _, body = adm.request("POST", "/api/queues/.bad/purge", headers=auth)
expect_eq("purge a bad name", 400, st)

st, _, body = adm.request("POST", "/api/queues/%s/repair" % q, headers=auth)
expect_eq("repair", 200, st)
rep = json.loads(body)
expect_eq("the repair's report", (q, "repair", 1, held),
          (rep["name"], rep["action"], rep["dead_participants"], rep["claims_returned"]))
after = adm.json("/api/queues/" + q)
expect_eq("no dead participant after the repair", 0, after["dead"])
expect_eq("recovered after the repair", held, after["recovered"])
expect_eq("the held messages are back", depth + held, after["depth"])
st, _, body = adm.request("POST", purge, headers=auth)
expect_eq("purge", 200, st)
expect_eq("purge's report", {"name": q, "action": "purge", "dropped": depth + held},
          json.loads(body))
expect_eq("depth after purge", 0, adm.json("/api/queues/" + q)["depth"])
sub.send_signal(signal.SIGKILL)
sub.wait()
st, _, body = adm.request("POST", "/api/topics/%s/repair" % t, headers=auth)
expect_eq("topic repair", 200, st)
expect(json.loads(body)["released"] >= 1, "the dead subscriber was released: %r" % body)
expect_eq("no dead handle left", 0, adm.json("/api/topics/" + t)["dead"])

section("SIGINT stops the server")
adm.stop(signal.SIGINT)
print("serve_api: all passed")
