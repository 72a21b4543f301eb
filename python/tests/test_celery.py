"""Celery and kombu over shmq://, with real worker processes (python -m celery worker).

Each test has its own namespace (shmq:///test-py<pid>-<n>): its queues and its exchange
and binding file are removed afterwards.
"""
import collections
import os
import signal
import subprocess
import threading
import time

import pytest

import shmq
import shmq.kombu
from conftest import EXAMPLE, PYTHON, ROOT, wait_for, worker_log

kombu = pytest.importorskip("kombu")


def ran(env):
    """The task numbers the workers recorded, in order (one line each)."""
    try:
        with open(env["SHMQ_RECORD"]) as f:
            return [int(line) for line in f.read().split()]
    except FileNotFoundError:
        return []


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# ---- the transport alone ----


def test_scheme_registered_and_bad_namespace():
    from kombu.transport import TRANSPORT_ALIASES
    assert TRANSPORT_ALIASES["shmq"] == "shmq.kombu:Transport"
    with pytest.raises(ValueError, match="namespace"):
        kombu.Connection("shmq:///bad@name").connect()
    assert shmq.kombu.queue_name("ns", "celery@host.pidbox") == "ns.celery_40host.pidbox"
    with pytest.raises(ValueError, match="too long"):
        shmq.kombu.queue_name("ns", "q" * 300)


def test_routing_is_shared_between_processes(name):
    """Bindings declared in one process route the messages another process publishes."""
    url = "shmq:///%s" % name
    ex_direct = kombu.Exchange("d", type="direct")
    ex_topic = kombu.Exchange("t", type="topic")
    ex_fan = kombu.Exchange("f", type="fanout")
    queues = [kombu.Queue("qd", ex_direct, routing_key="k"),
              kombu.Queue("qt", ex_topic, routing_key="orders.*.created"),
              kombu.Queue("qf1", ex_fan), kombu.Queue("qf2", ex_fan)]
    with kombu.Connection(url) as c:
        for q in queues:
            q(c.default_channel).declare()
    code = """
import kombu, shmq.kombu
with kombu.Connection(%r) as c, c.Producer() as p:
    p.publish({"to": "direct"}, exchange="d", routing_key="k")
    p.publish({"to": "nobody"}, exchange="d", routing_key="other")
    p.publish({"to": "topic"}, exchange="t", routing_key="orders.eu.created")
    p.publish({"to": "nobody"}, exchange="t", routing_key="orders.eu.deleted")
    p.publish({"to": "fanout"}, exchange="f", routing_key="")
""" % url
    subprocess.run([PYTHON, "-c", code], check=True, timeout=60)
    with kombu.Connection(url) as c:
        got = {}
        for q in queues:
            bq = q(c.default_channel)
            msgs = []
            while True:
                m = bq.get(no_ack=False)
                if m is None:
                    break
                msgs.append(m.payload)
                m.ack()
            got[q.name] = msgs
        assert got == {"qd": [{"to": "direct"}], "qt": [{"to": "topic"}],
                       "qf1": [{"to": "fanout"}], "qf2": [{"to": "fanout"}]}
        # Unbinding in one process is seen by the next publish.
        c.default_channel.queue_unbind("qf2", exchange="f")
        with c.Producer() as p:
            p.publish({"n": 2}, exchange="f", routing_key="")
        assert queues[3](c.default_channel).get() is None
        assert queues[2](c.default_channel).get(no_ack=True).payload == {"n": 2}
        for q in queues:
            c.default_channel.queue_delete(q.name)
        # The fanout exchange is a topic: it stays (as a broker's exchange does) until deleted.
        assert shmq.kombu.fanout_topic_name(name, "f") in shmq.list_queues()
        c.default_channel.exchange_delete("f")
    assert not [n for n in shmq.list_queues() if n.startswith(name + ".")]


def test_corrupt_state_file_and_foreign_messages(name):
    """The shared file and the queues are untrusted: clear errors, no crash, no loop."""
    url = "shmq:///%s" % name
    path = shmq.kombu.state_path(name)
    for content, why in ((b"{not json", "not JSON"), (b"[]", "no exchanges"),
                         (b'{"exchanges": {"x": {"type": "weird"}}, "bindings": {}}', "valid type"),
                         (b'{"exchanges": {}, "bindings": {"x": [["k", 1]]}}', "bindings")):
        with open(path, "wb") as f:
            f.write(content)
        with kombu.Connection(url) as c:
            with pytest.raises(ValueError, match=why):
                c.default_channel.exchange_declare("x", type="direct")
    os.unlink(path)
    with kombu.Connection(url) as c:
        bq = kombu.Queue("mixed")(c.default_channel)
        bq.declare()
        raw = shmq.Queue.open(shmq.kombu.queue_name(name, "mixed"))
        raw.put(b"\xff not json")
        raw.put(b"[1, 2]")
        raw.put(b'{"properties": 5}')
        raw.put(b'{"properties": {"delivery_info": null}}')
        with c.Producer() as p:
            p.publish({"ok": 1}, routing_key="mixed")
        m = bq.get(no_ack=True)
        assert m is not None and m.payload == {"ok": 1}  # the foreign ones were dropped
        assert raw.qsize() == 0
        raw.close()
        c.default_channel.queue_delete("mixed")


def test_auto_delete_queues_go_at_exit(name):
    """A client that exits without closing (as Celery's rpc:// clients do) leaves no reply
    queue; a durable queue stays."""
    code = """
import kombu, shmq.kombu
c = kombu.Connection("shmq:///%s")
kombu.Queue("reply-like", auto_delete=True)(c.default_channel).declare()
kombu.Queue("durable")(c.default_channel).declare()
print(sorted(n for n in shmq.list_queues() if n.startswith("%s.")))
""" % (name, name)
    r = subprocess.run([PYTHON, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "reply-like" in r.stdout  # it existed while the process ran
    assert sorted(n for n in shmq.list_queues() if n.startswith(name + ".")) == [name + ".durable"]


def test_fanout_is_a_topic_and_late_subscribers_miss_earlier_broadcasts(name):
    """A fanout exchange is one shmq topic, each bound queue a group of it: a publish is one
    topic message (no copy into the queues); a queue bound after a broadcast does not get it;
    a durable queue's group keeps at most fanout_capacity messages while nobody reads."""
    url = "shmq:///%s" % name
    opts = {"fanout_capacity": 4}
    ex = kombu.Exchange("bc", type="fanout")
    with kombu.Connection(url, transport_options=opts) as c, c.Producer() as p:
        ch = c.default_channel
        p.publish({"n": 0}, exchange="bc", routing_key="")  # never bound: dropped, no topic
        assert shmq.kombu.fanout_topic_name(name, "bc") not in shmq.list_queues()
        early = kombu.Queue("early", ex, auto_delete=True)(ch)
        early.declare()
        p.publish({"n": 1}, exchange="bc", routing_key="")
        late = kombu.Queue("late", ex, auto_delete=True)(ch)
        late.declare()
        p.publish({"n": 2}, exchange="bc", routing_key="")
        assert early.get(no_ack=True).payload == {"n": 1}
        assert early.get(no_ack=True).payload == {"n": 2}
        assert early.get(no_ack=True) is None
        assert late.get(no_ack=True).payload == {"n": 2}  # not n=1: it was not bound yet
        assert late.get(no_ack=True) is None
        with shmq.Topic.open(shmq.kombu.fanout_topic_name(name, "bc")) as t:
            st = t._stat()
            assert st["overwrite"] and st["capacity"] == 4 and st["published"] == 2
            groups = {g["name"]: g for g in st["group_list"]}
            assert set(groups) == {"early", "late"}
            assert (groups["early"]["delivered"], groups["late"]["delivered"]) == (2, 1)
            assert not groups["early"]["durable"]
        for q in ("early", "late"):  # nothing went through the queues themselves
            assert shmq.Queue.open(shmq.kombu.queue_name(name, q))._stat()["pushed"] == 0
        # A durable queue keeps receiving with no consumer, up to the ring: the oldest go.
        kombu.Queue("keeper", ex)(ch).declare()
    with kombu.Connection(url, transport_options=opts) as c, c.Producer() as p:
        for i in range(10):
            p.publish({"k": i}, exchange="bc", routing_key="")
        keeper = kombu.Queue("keeper", ex)(c.default_channel)
        got = []
        while True:
            m = keeper.get(no_ack=True)
            if m is None:
                break
            got.append(m.payload["k"])
        assert got == [6, 7, 8, 9]
        # The auto_delete queues' groups went with the channel that was their member.
        with shmq.Topic.open(shmq.kombu.fanout_topic_name(name, "bc")) as t:
            assert [g["name"] for g in t._stat()["group_list"]] == ["keeper"]
        for q in ("keeper", "early", "late"):
            c.default_channel.queue_delete(q)
        with shmq.Topic.open(shmq.kombu.fanout_topic_name(name, "bc")) as t:
            assert t._stat()["group_list"] == []
        c.default_channel.exchange_delete("bc")
    assert not [n for n in shmq.list_queues() if n.startswith(name + ".")]


def test_fanout_group_table_full_is_a_clear_error(name):
    """The 65th queue bound to one fanout exchange finds the topic's group table full: a
    clear OSError naming the exchange and the queue, and the 64 others still receive. A
    message too large for the topic's slots is a clear ValueError, not a silent drop."""
    url = "shmq:///%s" % name
    ex = kombu.Exchange("many", type="fanout")
    with kombu.Connection(url, transport_options={"capacity": 2, "slot_size": 1024}) as c:
        ch = c.default_channel
        for i in range(64):
            kombu.Queue("q%d" % i, ex, auto_delete=True)(ch).declare()
        with pytest.raises(OSError, match="'many'.*no room for the group of queue 'q64'"):
            kombu.Queue("q64", ex, auto_delete=True)(ch).declare()
        assert len(shmq.kombu.SharedState(name).read()["bindings"]["many"]) == 64
        with c.Producer() as p:
            with pytest.raises(ValueError, match="does not fit the slots of fanout exchange"):
                p.publish({"big": "x" * 2000}, exchange="many", routing_key="")
            p.publish({"all": 1}, exchange="many", routing_key="")
        for i in range(64):
            assert kombu.Queue("q%d" % i, ex)(ch).get(no_ack=True).payload == {"all": 1}
        for i in range(65):
            ch.queue_delete("q%d" % i)
        ch.exchange_delete("many")
    assert not [n for n in shmq.list_queues() if n.startswith(name + ".")]


def test_auto_delete_queue_of_a_killed_process_goes_at_next_open(name):
    """A process killed by SIGKILL cannot remove its auto_delete queues: the next connection
    to the namespace does (its owners are recorded with their start time). A live owner's
    queue, a durable queue and an owner whose pid was reused are told apart."""
    url = "shmq:///%s" % name
    code = """
import os, signal, kombu, shmq.kombu
c = kombu.Connection("shmq:///%s")
ex = kombu.Exchange("bc", type="fanout")
kombu.Queue("reply-like", auto_delete=True)(c.default_channel).declare()
kombu.Queue("pidbox-like", ex, auto_delete=True)(c.default_channel).declare()
kombu.Queue("durable")(c.default_channel).declare()
print("declared", flush=True)
os.kill(os.getpid(), signal.SIGKILL)
""" % name
    with kombu.Connection(url) as mine:
        kombu.Queue("mine", auto_delete=True)(mine.default_channel).declare()
        r = subprocess.run([PYTHON, "-c", code], capture_output=True, text=True, timeout=60)
        assert r.returncode == -signal.SIGKILL and "declared" in r.stdout, r.stderr
        left = sorted(n[len(name) + 1:] for n in shmq.list_queues() if n.startswith(name + "."))
        assert left == ["_xfanout.bc", "durable", "mine", "pidbox-like", "reply-like"]
        # An owner record whose pid is alive but started at another time (a reused pid).
        def forge(data):
            data["owners"]["reused"] = [[os.getpid(), 1]]
        shmq.kombu.SharedState(name).update(forge)
        shmq.Queue.create(shmq.kombu.queue_name(name, "reused")).close()
        with kombu.Connection(url) as c:
            c.default_channel  # opening the transport removes the orphans
            left = sorted(n[len(name) + 1:] for n in shmq.list_queues()
                          if n.startswith(name + "."))
            assert left == ["_xfanout.bc", "durable", "mine"]
            data = shmq.kombu.SharedState(name).read()
            assert list(data["owners"]) == ["mine"]
            assert data["owners"]["mine"] == [[os.getpid(), shmq.kombu.process_start(os.getpid())]]
            assert data["bindings"]["bc"] == []  # pidbox-like's binding went too
            with shmq.Topic.open(shmq.kombu.fanout_topic_name(name, "bc")) as t:
                assert t._stat()["group_list"] == []  # the dead member's group is released
            c.default_channel.queue_delete("durable")
            c.default_channel.exchange_delete("bc")
        mine.default_channel.queue_delete("mine")
    # A corrupt owners table is reported, not trusted.
    def corrupt(data):
        data["owners"] = {"x": [[-1, "a"]]}
    with pytest.raises(ValueError, match="owners"):
        shmq.kombu.SharedState(name).update(corrupt)
        shmq.kombu.SharedState(name).read()
    assert not [n for n in shmq.list_queues() if n.startswith(name + ".")]


def test_reject_and_close_give_messages_back(name):
    url = "shmq:///%s" % name
    q = kombu.Queue("work")
    with kombu.Connection(url) as c:
        bq = q(c.default_channel)
        bq.declare()
        with c.Producer() as p:
            p.publish({"n": 1}, routing_key="work")
        m = bq.get()
        m.reject(requeue=True)
        m = bq.get()
        assert m.payload == {"n": 1} and m.delivery_info.get("redelivered")
        # Left unacked: closing the connection gives it back (shmq_nack), not a copy.
    with kombu.Connection(url) as c:
        bq = q(c.default_channel)
        m = bq.get()
        assert m.payload == {"n": 1}
        m.reject(requeue=False)  # dropped
        assert bq.get() is None
        c.default_channel.queue_delete("work")


def test_delivery_limit_and_dead_letters(name):
    """Past max_deliveries a message goes to the dead-letter queue instead of coming back."""
    url = "shmq:///%s" % name
    opts = {"max_deliveries": 2, "dead_letter": "dead"}
    with kombu.Connection(url, transport_options=opts) as c:
        bq = kombu.Queue("limited")(c.default_channel)
        bq.declare()
        with c.Producer() as p:
            p.publish({"poison": True}, routing_key="limited")
        for _ in range(2):
            m = bq.get()
            assert m is not None and m.payload == {"poison": True}
            m.reject(requeue=True)
        assert bq.get() is None
        dead = kombu.Queue("dead")(c.default_channel)
        m = dead.get(no_ack=True)
        assert m is not None and m.payload == {"poison": True}
        st = shmq.Queue.open(shmq.kombu.queue_name(name, "limited")).stat()
        assert st.max_deliveries == 2 and st.dead_lettered == 1
        for q in ("limited", "dead"):
            c.default_channel.queue_delete(q)


@pytest.mark.parametrize("fanout", [False, True], ids=["queue", "fanout-topic"])
def test_consumer_sleeps_until_a_message_comes(name, fanout):
    """drain_events sleeps in the kernel and wakes at once, not at a polling interval: for a
    message put in the queue, and for one broadcast to the topic of a fanout exchange it is
    bound to (wait_any waits on the queue and the group at once)."""
    url = "shmq:///%s" % name
    ex = kombu.Exchange("fx", type="fanout") if fanout else None
    q = kombu.Queue("sleepy", ex) if fanout else kombu.Queue("sleepy")
    got = []
    with kombu.Connection(url) as c:
        q(c.default_channel).declare()
        p = subprocess.Popen([PYTHON, "-c", """
import time, kombu, shmq.kombu
time.sleep(0.5)
with kombu.Connection(%r) as c, c.Producer() as p:
    p.publish({"t": time.time()}, exchange=%r, routing_key="sleepy")
""" % (url, "fx" if fanout else "")])
        with c.Consumer(q, callbacks=[lambda body, m: (got.append((body, time.time())), m.ack())]):
            t0 = cpu_seconds(os.getpid())
            c.drain_events(timeout=20)
            used = cpu_seconds(os.getpid()) - t0
        p.wait(timeout=30)
        body, at = got[0]
        assert at - body["t"] < 0.25, "woken %.3f s after the publish" % (at - body["t"])
        assert used < 0.3
        with pytest.raises(TimeoutError):
            c.drain_events(timeout=0.1)
        c.default_channel.queue_delete("sleepy")
        if fanout:
            c.default_channel.exchange_delete("fx")
    assert not [n for n in shmq.list_queues() if n.startswith(name + ".")]


# ---- a real Celery worker ----


def send_records(tasks_mod, n, start=0):
    for i in range(start, start + n):
        tasks_mod.record.apply_async((i,), ignore_result=True)


def test_10000_tasks_none_lost_none_twice(celery_env, start_worker):
    import tasks
    n = 10000
    start_worker()
    t0 = time.monotonic()
    send_records(tasks, n)
    wait_for(lambda: len(ran(celery_env)) >= n, 240, "10000 tasks", interval=0.2)
    took = time.monotonic() - t0
    time.sleep(0.5)  # anything run twice would show now
    got = ran(celery_env)
    dup = [k for k, v in collections.Counter(got).items() if v > 1]
    assert not dup, "run twice: %s" % dup[:10]
    assert sorted(got) == list(range(n)), worker_log(celery_env)
    print("10000 tasks in %.1f s" % took)


def test_acks_late_worker_killed_mid_run_loses_nothing(celery_env, start_worker):
    import tasks
    n = 10000
    # Send from a thread while the worker runs (a full queue makes the sender wait), so that
    # the kill lands mid-run however fast the worker is.
    sender = threading.Thread(target=send_records, args=(tasks, n))
    sender.start()
    w = start_worker(SHMQ_ACKS_LATE="1")
    wait_for(lambda: len(ran(celery_env)) >= 2000, 120, "2000 tasks before the kill",
             interval=0.01)
    w.kill(signal.SIGKILL)
    done_at_kill = len(ran(celery_env))
    assert done_at_kill < n, "the worker finished before it could be killed"
    start_worker(SHMQ_ACKS_LATE="1")
    wait_for(lambda: set(ran(celery_env)) >= set(range(n)), 240,
             "every task after the kill (had %d)" % done_at_kill, interval=0.2)
    sender.join(timeout=60)
    counts = collections.Counter(ran(celery_env))
    again = [k for k, v in counts.items() if v > 1]
    # At-least-once: only what the killed worker had claimed and not acked runs twice
    # (at most its prefetch of 4 plus the one it was running).
    assert len(again) <= 5, again
    assert set(counts) == set(range(n))


def test_rpc_results_and_errors(celery_env, start_worker):
    import tasks
    start_worker()
    assert tasks.total.delay([1, 2, 3.5]).get(timeout=30) == 6.5
    r = tasks.downsample.delay([0, 2, 4, 6], 2, 2)
    assert r.get(timeout=30) == {"width": 1, "height": 1, "pixels": [3]}
    with pytest.raises(ValueError, match="rows of"):
        tasks.downsample.delay([1, 2, 3], 2, 1).get(timeout=30)
    rs = [tasks.total.delay([i, i]) for i in range(50)]
    assert [x.get(timeout=30) for x in rs] == [2 * i for i in range(50)]


def test_inspect_ping_and_idle_cpu(celery_env, start_worker):
    w = start_worker()
    out = wait_for(lambda: subprocess.run(
        [PYTHON, "-m", "celery", "-A", "tasks", "inspect", "ping", "-t", "3"], cwd=EXAMPLE,
        env=celery_env, capture_output=True, text=True, timeout=60).stdout.count("pong") and True,
        60, "celery inspect ping to answer", interval=0.5)
    assert out
    r = subprocess.run([PYTHON, "-m", "celery", "-A", "tasks", "inspect", "ping", "-t", "3"],
                       cwd=EXAMPLE, env=celery_env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "pong" in r.stdout, r.stdout + r.stderr
    # Idle: the worker sleeps in the kernel (the benchmark measures 30 s; here 5 s).
    time.sleep(1)
    c0, t0 = cpu_seconds(w.proc.pid), time.monotonic()
    time.sleep(5)
    share = (cpu_seconds(w.proc.pid) - c0) / (time.monotonic() - t0)
    assert share < 0.02, "idle worker used %.1f%% of a CPU" % (100 * share)
    # Remote control through the fanout exchange: the worker shuts down (a worker that
    # shuts down sends no reply, so the command's own status says nothing).
    subprocess.run([PYTHON, "-m", "celery", "-A", "tasks", "control", "shutdown", "-t", "1"],
                   cwd=EXAMPLE, env=celery_env, capture_output=True, text=True, timeout=60)
    w.proc.wait(timeout=30)
    assert w.proc.returncode == 0, worker_log(celery_env)
    # Its pidbox queue was auto_delete: gone with its consumer.
    ns = celery_env["SHMQ_BROKER_URL"].rsplit("/", 1)[1]
    topic = shmq.kombu.fanout_topic_name(ns, "celery.pidbox")
    assert not [n for n in shmq.list_queues() if n.startswith(ns + ".") and "pidbox" in n and
                n != topic]
    # ... and so was its group in the exchange's topic.
    with shmq.Topic.open(topic) as t:
        assert t._stat()["group_list"] == []


def test_broadcast_reaches_two_workers_through_one_topic(celery_env, start_worker):
    """celery inspect ping with two workers: one message in the celery.pidbox topic, one
    delivery to each worker's group, two pongs; the pidbox queues carry nothing."""
    workers = [start_worker(), start_worker()]
    ns = celery_env["SHMQ_BROKER_URL"].rsplit("/", 1)[1]

    def ping():
        r = subprocess.run([PYTHON, "-m", "celery", "-A", "tasks", "inspect", "ping", "-t", "3"],
                           cwd=EXAMPLE, env=celery_env, capture_output=True, text=True,
                           timeout=60)
        return r.stdout.count("pong")

    wait_for(lambda: ping() == 2, 90, "both workers to answer a ping", interval=0.5)
    topic = shmq.Topic.open(shmq.kombu.fanout_topic_name(ns, "celery.pidbox"))
    before = topic._stat()
    assert len(before["group_list"]) == 2 and all(g["members"] >= 1
                                                  for g in before["group_list"])
    assert ping() == 2
    after = topic._stat()
    assert after["published"] == before["published"] + 1
    delivered = {g["name"]: g["delivered"] for g in before["group_list"]}
    assert sorted(g["delivered"] - delivered[g["name"]] for g in after["group_list"]) == [1, 1]
    pidbox = [n for n in shmq.list_queues() if n.startswith(ns + ".") and
              n.endswith(".pidbox") and "_xfanout" not in n]
    assert len(pidbox) == 2
    for n in pidbox:
        assert shmq.Queue.open(n)._stat()["pushed"] == 0
    # Broadcast shutdown: both go, with their groups.
    subprocess.run([PYTHON, "-m", "celery", "-A", "tasks", "control", "shutdown", "-t", "1"],
                   cwd=EXAMPLE, env=celery_env, capture_output=True, text=True, timeout=60)
    for w in workers:
        w.proc.wait(timeout=30)
        assert w.proc.returncode == 0, worker_log(celery_env)
    assert topic._stat()["group_list"] == []
    topic.close()


def test_flask_example_end_to_end(celery_env, start_worker):
    start_worker()
    import app as flask_app
    client = flask_app.app.test_client()
    r = client.post("/sum", json={"numbers": "nope"})
    assert r.status_code == 400 and "numbers" in r.get_json()["error"]
    r = client.post("/downsample", json={"pixels": [1, 2, 3], "width": 2})
    assert r.status_code == 400
    r = client.post("/sum", json={"numbers": [1, 2, 3, 4]})
    assert r.status_code == 202
    tid = r.get_json()["id"]
    r = client.get("/result/%s?wait=30" % tid)
    assert r.status_code == 200, r.get_json()
    assert r.get_json() == {"id": tid, "state": "SUCCESS", "result": 10}
    r = client.post("/downsample", json={"pixels": [0, 10, 20, 30], "width": 2, "factor": 2})
    r = client.get("/result/%s?wait=30" % r.get_json()["id"])
    assert r.get_json()["result"] == {"width": 1, "height": 1, "pixels": [15]}


# ---- the same app on RabbitMQ, by its broker URL alone ----


def amqp_broker():
    """Start the shared loopback RabbitMQ (idempotent; check.sh stops it at the end)."""
    r = subprocess.run([os.path.join(ROOT, "tools", "amqp_test_broker.sh"), "start"],
                       capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        if os.environ.get("SHMQ_TEST_AMQP") == "1":
            pytest.fail("the test broker did not start: " + r.stderr[-2000:])
        pytest.skip("no RabbitMQ on loopback (SHMQ_TEST_AMQP=1 makes this a failure)")
    return "amqp://guest:guest@127.0.0.1:5672//"


def test_flask_example_on_amqp(celery_env, start_worker, name, monkeypatch):
    url = amqp_broker()
    queue = name  # private: the broker is shared with other tests
    for k, v in (("SHMQ_BROKER_URL", url), ("SHMQ_CELERY_QUEUE", queue)):
        celery_env[k] = v
        monkeypatch.setenv(k, v)
    start_worker()
    import app as flask_app
    assert flask_app.celery_app.conf.broker_url.startswith("amqp://")
    client = flask_app.app.test_client()
    try:
        r = client.post("/sum", json={"numbers": [5, 6]})
        assert r.status_code == 202
        r = client.get("/result/%s?wait=60" % r.get_json()["id"])
        assert r.get_json()["result"] == 11, worker_log(celery_env)
    finally:
        with kombu.Connection(url) as c:
            c.default_channel.queue_delete(queue)
