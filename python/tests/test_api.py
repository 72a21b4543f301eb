"""The shmq Python API's contract: bad arguments and errors first, then each operation."""
import contextlib
import errno
import gc
import multiprocessing
import os
import pickle
import pydoc
import queue as stdqueue
import signal
import subprocess
import sys
import threading
import time

import pytest

import shmq


def mk(name, **kw):
    kw.setdefault("capacity", 4)
    kw.setdefault("slot_size", 64)
    return shmq.Queue.create(name, **kw)


# ---- errors and bad arguments ----


def test_exceptions_are_the_standard_ones():
    assert issubclass(shmq.Empty, stdqueue.Empty)
    assert issubclass(shmq.Full, stdqueue.Full)
    assert issubclass(shmq.CorruptQueue, OSError)


def test_create_and_open_errors(name):
    with pytest.raises(FileNotFoundError) as e:
        shmq.Queue.open(name)
    assert e.value.errno == errno.ENOENT and name in str(e.value)
    q = mk(name)
    with pytest.raises(FileExistsError):
        mk(name)
    for bad in ("", ".hidden", "a/b", "x" * 201, "sp ace"):
        with pytest.raises(ValueError, match="invalid name"):
            shmq.Queue.create(bad)
    with pytest.raises(TypeError, match="str"):
        shmq.Queue.create(b"bytes-name")
    with pytest.raises(TypeError, match="capacity must be an int"):
        shmq.Queue.create(name + "x", capacity="4")
    with pytest.raises(ValueError, match="capacity must be at least 1"):
        shmq.Queue.create(name + "x", capacity=0)
    with pytest.raises(ValueError, match="between 0 and"):
        shmq.Queue.create(name + "x", capacity=-1)
    with pytest.raises(ValueError):  # the library's limit, in its words
        shmq.Queue.create(name + "x", capacity=1 << 30)
    with pytest.raises(ValueError, match="ttl"):
        shmq.Queue.create(name + "x", ttl=0)
    with pytest.raises(TypeError):
        shmq.Queue(name)  # only create/open make handles
    assert name + "x" not in shmq.list_queues()  # nothing left behind by the failures
    q.close()


def test_topic_and_queue_share_the_namespace(name):
    mk(name).close()
    with pytest.raises(OSError) as e:
        shmq.Topic.open(name)
    assert e.value.errno == errno.EMEDIUMTYPE
    assert shmq.strerror(-errno.EMEDIUMTYPE) in str(e.value)


def test_participant_table_full_and_single_producer(name):
    q = mk(name, max_participants=1)
    with pytest.raises(OSError) as e:
        shmq.Queue.open(name)
    assert e.value.errno == errno.EUSERS and shmq.strerror(-errno.EUSERS) in str(e.value)
    q.close()
    p1 = mk(name + "sp", single_producer=True)
    p2 = shmq.Queue.open(name + "sp")
    p1.put(b"first producer")
    with pytest.raises(OSError) as e:
        p2.put(b"second producer")
    assert e.value.errno == errno.EBUSY
    assert p2.get_nowait() == b"first producer"  # consuming is still allowed
    p1.close()
    p2.close()


def test_corrupt_segment(name):
    with open("/dev/shm/shmq." + name, "wb") as f:
        f.write(b"\x00garbage" * 512)
    with pytest.raises(shmq.CorruptQueue) as e:
        shmq.Queue.open(name)
    assert e.value.errno == errno.EBADMSG


@pytest.mark.skipif(os.geteuid() == 0, reason="root opens any segment")
def test_permission(name):
    mk(name, mode=0o000).close()
    with pytest.raises(PermissionError):
        shmq.Queue.open(name)


def test_bad_put_and_get_arguments(name):
    q = mk(name)
    with pytest.raises(TypeError, match="not str"):
        q.put("text")
    with pytest.raises(TypeError, match="bytes-like"):
        q.put(12)
    with pytest.raises(ValueError, match=">= 0"):
        q.put(b"x", timeout=-1)
    with pytest.raises(ValueError):
        q.get(timeout=float("nan"))
    with pytest.raises(TypeError, match="timeout"):
        q.get(timeout="1")
    with pytest.raises(TypeError, match="timeout"):
        q.get(timeout=True)
    with pytest.raises(ValueError) as e:
        q.put(b"x" * 65)  # larger than a slot
    assert shmq.strerror(-errno.EMSGSIZE) in str(e.value)
    with pytest.raises(ValueError, match="at most 255"):
        q.put(b"x", type="t" * 256)
    with pytest.raises(TypeError, match="type must be"):
        q.put(b"x", type=5)
    with pytest.raises(ValueError, match="NUL"):
        q.put(b"x", reply_to="a\0b")
    with pytest.raises(ValueError, match="timestamp"):
        q.put(b"x", timestamp=-1)
    with pytest.raises(ValueError, match="at least 1"):
        q.get_many(0)
    assert q.qsize() == 0  # nothing went in
    q.close()
    with pytest.raises(ValueError, match="closed"):
        q.put(b"x")
    q.close()  # twice is harmless


# ---- put / get ----


@pytest.mark.parametrize("kw", [{}, {"lifo": True}, {"single_producer": True, "single_consumer": True},
                                {"slot_size": 61}])
def test_put_get_empty_full(name, kw):
    q = mk(name, **kw)
    with pytest.raises(shmq.Empty):
        q.get_nowait()
    for i in range(4):
        q.put(bytes([i]) * (i + 1))
    with pytest.raises(shmq.Full):
        q.put_nowait(b"x")
    t0 = time.monotonic()
    with pytest.raises(stdqueue.Full):
        q.put(b"x", timeout=0.2)
    assert 0.18 <= time.monotonic() - t0 < 2
    got = [q.get(timeout=1) for _ in range(4)]
    want = [bytes([i]) * (i + 1) for i in range(4)]
    assert got == (want[::-1] if kw.get("lifo") else want)
    t0 = time.monotonic()
    with pytest.raises(stdqueue.Empty):
        q.get(timeout=0.2)
    assert 0.18 <= time.monotonic() - t0 < 2
    q.put(bytearray(b"ba"))
    q.put(memoryview(b"xmv")[1:])
    assert sorted([q.get(), q.get()]) == [b"ba", b"mv"]
    q.put(b"")
    assert q.get_nowait() == b""
    q.close()


def test_put_many_get_many(name):
    q = mk(name, capacity=8)
    assert q.put_many([b"a", b"b", b"c"]) == 3
    assert q.get_many(10) == [b"a", b"b", b"c"]
    with pytest.raises(shmq.Full) as e:
        q.put_many([b"%d" % i for i in range(10)], timeout=0.05)
    assert e.value.count == 8
    assert len(q.get_many(5)) == 5 and len(q.get_many(5)) == 3
    with pytest.raises(shmq.Empty):
        q.get_many(3, timeout=0)
    with pytest.raises(TypeError):
        q.put_many([b"a", "str"])
    with pytest.raises(TypeError):
        q.put_many(5)
    q.close()


def test_stat_list_iter_len(name):
    q = mk(name, capacity=8, ttl=60, max_deliveries=3, dead_letter=name + "-dl")
    q.put(b"1")
    q.put(b"2")
    st = q.stat()
    assert isinstance(st, shmq.Stat)
    assert (st.name, st.capacity, st.slot_size, st.depth, st.pushed) == (name, 8, 64, 2, 2)
    assert st.max_deliveries == 3 and st.ttl == 60.0 and st.dead_letter == name + "-dl"
    assert st.creator_pid == os.getpid() and not st.lifo
    assert len(q) == 2 and not q.empty()
    assert name in shmq.list_queues()
    it = iter(q)
    assert next(it) == b"1" and next(it) == b"2"
    assert q.empty()
    assert q.purge() == 0
    q.put(b"3")
    assert q.purge() == 1
    q.close()


# ---- claim / ack / nack, zero copy ----


def test_claim_metadata_and_ack(name):
    q = mk(name)
    ts = time.time()
    q.put(b"payload", type="order", correlation_id="c-1", reply_to="answers", timestamp=ts)
    m = q.claim(timeout=1)
    assert isinstance(m.data, memoryview) and m.data.readonly
    assert bytes(m.data) == b"payload" and len(m) == 7
    assert (m.type, m.correlation_id, m.reply_to, m.deliveries) == ("order", "c-1", "answers", 1)
    assert abs(m.timestamp - ts) < 1e-6 and m.id > 0
    view = m.data
    m.ack()
    assert m.finished
    with pytest.raises(ValueError, match="released"):
        view[0]
    with pytest.raises(ValueError, match="acked"):
        m.data
    with pytest.raises(ValueError, match="already acked"):
        m.ack()
    with pytest.raises(ValueError, match="already"):
        m.nack()
    assert q.stat().acked >= 1
    q.put(b"plain")
    m = q.claim()
    assert (m.type, m.correlation_id, m.reply_to, m.timestamp) == (None, None, None, None)
    m.ack()
    q.close()


def test_ack_refuses_while_a_view_is_alive(name):
    q = mk(name)
    q.put(b"abcdef")
    m = q.claim()
    part = m.data[1:3]
    with pytest.raises(BufferError, match="still referenced"):
        m.ack()
    assert bytes(part) == b"bc"  # still valid: the slot was not given back
    part.release()
    m.ack()
    q.close()


def test_nack_redelivers_and_delay(name):
    q = mk(name)
    q.put(b"again")
    m = q.claim()
    m.nack()
    m = q.claim()
    assert m.deliveries == 2 and bytes(m.data) == b"again"
    m.nack(delay=0.2)
    with pytest.raises(shmq.Empty):
        q.claim(timeout=0)
    t0 = time.monotonic()
    m = q.claim(timeout=5)
    assert time.monotonic() - t0 >= 0.1 and m.deliveries == 3
    m.ack()
    with pytest.raises(ValueError, match=">= 0"):
        q.put(b"x") or q.claim().nack(delay=-1)
    q.close()


def test_claim_context_manager(name):
    q = mk(name)
    q.put(b"ok")
    with q.claim() as m:
        assert bytes(m.data) == b"ok"
    assert m.finished and q.stat().in_flight == 0
    q.put(b"fails")
    with pytest.raises(RuntimeError):
        with q.claim() as m:
            raise RuntimeError("handler failed")
    m = q.claim(timeout=1)
    assert bytes(m.data) == b"fails" and m.deliveries == 2
    m.ack()
    q.close()


def test_dropped_claim_is_given_back(name):
    q = mk(name)
    q.put(b"lost?")
    m = q.claim()
    del m
    gc.collect()
    assert q.get(timeout=1) == b"lost?"
    q.put(b"looked at")
    m = q.claim()
    assert bytes(m.data) == b"looked at"  # .data was used: no cycle keeps the message alive
    del m
    m = q.claim(timeout=1)
    assert bytes(m.data) == b"looked at" and m.deliveries == 2
    m.ack()
    q.close()


def test_close_refuses_while_views_into_slots_live(name):
    q = mk(name)
    q.put(b"view")
    m = q.claim()
    v = m.data
    with pytest.raises(BufferError, match="before close"):
        q.close()
    assert bytes(v) == b"view" and not q.closed  # still mapped, still usable
    m.ack()
    q.close()
    with pytest.raises(ValueError, match="released"):
        v[0]


def test_reserve_commit_discard(name):
    q = mk(name)
    r = q.reserve(10)
    assert not r.data.readonly and len(r.data) == 10
    r.data[:5] = b"hello"
    with pytest.raises(ValueError, match="between 0 and"):
        r.commit(11)
    with pytest.raises(TypeError, match="not for a reserved"):
        r.ack()
    r.commit(5, type="greeting")
    m = q.claim()
    assert bytes(m.data) == b"hello" and m.type == "greeting"
    m.ack()
    r = q.reserve(3)
    r.discard()
    with pytest.raises(ValueError, match="already committed or discarded"):
        r.commit()
    with pytest.raises(shmq.Empty):
        q.get_nowait()
    with q.reserve(2) as r:
        r.data[:] = b"cm"
    assert q.get() == b"cm"
    with pytest.raises(ValueError):
        q.reserve(65)  # larger than a slot
    with pytest.raises(ValueError, match=">= 0"):
        q.reserve(-1)
    q.close()


# ---- request-reply ----


def test_call_reply(name):
    q = mk(name, slot_size=256)
    ready = threading.Event()

    def server():
        s = shmq.Queue.open(name)
        ready.set()
        m = s.claim(timeout=10)
        s.reply(m, b"re:" + bytes(m.data))
        m.ack()
        s.close()

    t = threading.Thread(target=server)
    t.start()
    ready.wait()
    assert q.call(b"ping", timeout=10) == b"re:ping"
    t.join()
    with pytest.raises(TimeoutError):
        q.call(b"nobody answers", timeout=0.2)
    m = q.claim()
    with pytest.raises(TypeError):
        q.reply("not a message", b"x")
    m.ack()
    q.put(b"no reply-to")
    m = q.claim()
    with pytest.raises(ValueError):
        q.reply(m, b"x")
    m.ack()
    q.close()


# ---- topics ----


def test_topic_publish_subscribe(name):
    t = shmq.Topic.create(name, capacity=16, slot_size=128)
    with pytest.raises(ValueError, match="invalid pattern"):
        t.subscribe("a*")
    with pytest.raises(ValueError, match="invalid subject"):
        t.publish("a.*", b"x")
    s_all = t.subscribe()
    s_eu = t.subscribe("orders.eu.*")
    g1, g2 = t.subscribe("#", group="workers"), t.subscribe("#", group="workers")
    t.publish("orders.eu.created", b"1", type="created")
    t.publish("orders.us.created", b"2")
    d = s_all.next(timeout=1)
    assert isinstance(d, shmq.Delivery)
    assert (d.subject, d.data, d.seq, d.lost, d.type) == ("orders.eu.created", b"1", 0, 0, "created")
    assert s_all.next(timeout=1).data == b"2"
    assert [x.data for x in [s_eu.next(timeout=1)]] == [b"1"]
    with pytest.raises(shmq.Empty):
        s_eu.next(timeout=0.05)
    shared = [g1.next(timeout=0), g2.next(timeout=0)]  # the group's two messages, one each
    assert sorted(x.data for x in shared) == [b"1", b"2"]
    with pytest.raises(shmq.Empty):
        g1.next(timeout=0)
    it = iter(s_all)
    t.publish("x", b"3")
    assert next(it).data == b"3"
    s_all.close()
    with pytest.raises(ValueError, match="closed"):
        s_all.next(timeout=0)
    t.close()
    shmq.unlink(name)


def test_wait_any(name):
    a, b = mk(name + "a"), mk(name + "b")
    t = shmq.Topic.create(name + "t")
    s = t.subscribe()
    assert shmq.wait_any([a, b, s], timeout=0) == []
    t0 = time.monotonic()
    assert shmq.wait_any([a, b, s], timeout=0.1) == []
    assert time.monotonic() - t0 >= 0.09
    b.put(b"x")
    assert shmq.wait_any([a, b, s], timeout=5) == [b]
    t.publish("s", b"y")
    assert shmq.wait_any([a, s], timeout=5) == [s]
    with pytest.raises(TypeError, match="Queue or Subscription"):
        shmq.wait_any([a, "x"])
    with pytest.raises(ValueError, match="1 to"):
        shmq.wait_any([])

    def later():
        time.sleep(0.2)
        shmq.Queue.open(name + "a").put(b"z")

    th = threading.Thread(target=later)
    th.start()
    t0 = time.monotonic()
    assert shmq.wait_any([a], timeout=10) == [a]
    assert time.monotonic() - t0 < 5
    th.join()
    for q in (a, b, t):
        q.close()


# ---- threads, signals, processes ----


def test_gil_released_while_waiting(name):
    q = mk(name)
    got = []
    th = threading.Thread(target=lambda: got.append(q.get(timeout=10)))
    th.start()
    n = 0
    t0 = time.monotonic()
    while time.monotonic() - t0 < 0.3:
        n += 1  # this thread runs while the other waits
    assert n > 1000
    # The waiting handle is busy: another thread using it gets a clear error, not a race.
    with pytest.raises(RuntimeError, match="another thread"):
        q.put(b"x")
    shmq.Queue.open(name).put(b"done")
    th.join()
    assert got == [b"done"]
    q.close()


def _stamps_inside(windows, stamps):
    """How many of the windows (start, end) hold a stamp strictly inside."""
    return sum(any(a < t < b for t in stamps) for a, b in windows)


@contextlib.contextmanager
def _stamping():
    """Another thread stamps time.monotonic() and sleeps 0.2 ms (giving the GIL back), while
    the switch interval is 60 s: the interpreter never takes the GIL from a thread, so the
    stamper runs only while the test's thread gives the GIL up itself. A stamp strictly
    inside a call's window proves that the call released the GIL."""
    stop = threading.Event()
    stamps = []

    def stamp():
        while not stop.is_set():
            stamps.append(time.monotonic())
            time.sleep(0.0002)

    interval = sys.getswitchinterval()
    th = threading.Thread(target=stamp)
    th.start()
    sys.setswitchinterval(60)
    try:
        yield stamps
    finally:
        sys.setswitchinterval(interval)
        stop.set()
        th.join()


def test_gil_released_while_copying_large_payloads(name):
    """Another thread runs Python code DURING 16 MiB puts and gets; a copy by a C call that
    keeps the GIL gets no stamp (the control: the measure can fail)."""
    size = 16 << 20
    q = mk(name, capacity=2, slot_size=size)
    payload = bytes(range(256)) * (size // 256)
    puts, gets, held = [], [], []
    with _stamping() as stamps:
        for _ in range(10):
            t0 = time.monotonic()
            q.put(payload)
            t1 = time.monotonic()
            got = q.get()
            t2 = time.monotonic()
            bytearray(got)  # the same copy by a C call that keeps the GIL
            t3 = time.monotonic()
            assert got == payload
            puts.append((t0, t1))
            gets.append((t1, t2))
            held.append((t2, t3))
    assert _stamps_inside(puts, stamps) >= 5, "no other thread ran during 16 MiB puts"
    assert _stamps_inside(gets, stamps) >= 5, "no other thread ran during 16 MiB gets"
    assert _stamps_inside(held, stamps) == 0
    q.close()


def test_gil_released_while_blocked_in_get(name):
    """The same measure for a wait: stamps fall inside a get(timeout=0.5) that times out."""
    q = mk(name)
    with _stamping() as stamps:
        t0 = time.monotonic()
        with pytest.raises(shmq.Empty):
            q.get(timeout=0.5)
        t1 = time.monotonic()
    assert t1 - t0 >= 0.5
    inside = [t for t in stamps if t0 < t < t1]
    assert len(inside) > 100, "the other thread ran %d times in a 0.5 s wait" % len(inside)
    q.close()


def test_ctrl_c_interrupts_a_wait_and_takes_nothing(name):
    mk(name).close()
    code = ("import shmq, sys\nq = shmq.Queue.open(%r)\nprint('waiting', flush=True)\n"
            "try:\n    q.get()\nexcept KeyboardInterrupt:\n    print('interrupted', flush=True)\n"
            "    sys.exit(3)\n" % name)
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "waiting"
    time.sleep(0.3)
    p.send_signal(signal.SIGINT)
    out, _ = p.communicate(timeout=10)
    assert p.returncode == 3 and "interrupted" in out
    q = shmq.Queue.open(name)
    q.put(b"still here")
    assert q.get_nowait() == b"still here"
    assert q.stat().in_flight == 0
    q.close()


def _consume(q, n, out):
    out.put(sorted(q.get(timeout=20) for _ in range(n)))


def _produce(name, start, n):
    q = shmq.Queue.open(name)
    for i in range(start, start + n):
        q.put(b"%05d" % i, timeout=20)


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_multiprocessing(name, method):
    ctx = multiprocessing.get_context(method)
    q = mk(name, capacity=64)
    out = ctx.Queue()
    consumers = [ctx.Process(target=_consume, args=(q, 150, out)) for _ in range(2)]
    producers = [ctx.Process(target=_produce, args=(name, i * 100, 100)) for i in range(3)]
    for p in consumers + producers:
        p.start()
    got = out.get(timeout=60) + out.get(timeout=60)
    for p in consumers + producers:
        p.join(timeout=30)
        assert p.exitcode == 0
    assert sorted(got) == [b"%05d" % i for i in range(300)]
    # The parent's handle still works after the children used theirs.
    q.put(b"p")
    assert q.get_nowait() == b"p"
    q.close()


def test_pickle_opens_by_name(name):
    q = mk(name)
    q2 = pickle.loads(pickle.dumps(q))
    q2.put(b"via pickle")
    assert q.get_nowait() == b"via pickle"
    q.close()
    q2.close()


def test_kill_9_while_holding_a_claim(name):
    q = mk(name)
    q.put(b"precious")
    code = ("import shmq, os, signal\nq = shmq.Queue.open(%r)\nm = q.claim(timeout=5)\n"
            "print(bytes(m.data).decode(), flush=True)\nos.kill(os.getpid(), signal.SIGKILL)\n"
            % name)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert r.returncode == -signal.SIGKILL and r.stdout.strip() == "precious"
    m = q.claim(timeout=10)  # the dead claim is given back while we wait
    assert bytes(m.data) == b"precious" and m.deliveries == 2
    m.ack()
    assert q.stat().recovered >= 0 and q.stat().redelivered >= 1
    q.close()


def test_help_answers():
    text = pydoc.render_doc(shmq.Queue, renderer=pydoc.plaintext)
    for word in ("claim", "put_many", "timeout", "shmq.Empty", "reserve", "memoryview"):
        assert word in text, word
    assert "subscribe" in pydoc.render_doc(shmq.Topic, renderer=pydoc.plaintext)
    assert shmq.__doc__ and "Ctrl-C" in shmq.__doc__


@pytest.mark.parametrize("start", ["fork", "spawn"])
def test_multiprocessing_example(name, start):
    example = os.path.join(os.path.dirname(__file__), "..", "..", "examples", "python",
                           "producer_consumer.py")
    r = subprocess.run([sys.executable, example, "--messages", "5000", "--start", start,
                        "--name", name], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "10000 messages" in r.stdout and "all once" in r.stdout, \
        r.stdout + r.stderr
    assert name not in shmq.list_queues()
    r = subprocess.run([sys.executable, example, "--consumers", "0"], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 2 and "at least 1" in r.stderr


def _publish_in_child(t, n):
    for i in range(n):
        t.publish("child.%d" % i, b"%d" % i, timeout=10)


def _subscription_in_child(s, out):
    try:
        s.next(timeout=0)
        out.put("no error")
    except RuntimeError as e:
        out.put(str(e))


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_topic_across_processes(name, method):
    ctx = multiprocessing.get_context(method)
    t = shmq.Topic.create(name, capacity=16)
    s = t.subscribe("child.*")
    p = ctx.Process(target=_publish_in_child, args=(t, 5))  # the topic pickles by name
    p.start()
    got = [s.next(timeout=20).data for _ in range(5)]
    p.join(timeout=30)
    assert p.exitcode == 0 and got == [b"%d" % i for i in range(5)]
    if method == "fork":
        out = ctx.Queue()
        p = ctx.Process(target=_subscription_in_child, args=(s, out))
        p.start()
        assert "does not cross fork" in out.get(timeout=20)
        p.join(timeout=30)
    t.close()
