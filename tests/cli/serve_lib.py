"""Helpers of the tests of `shmq serve` (serve_*.py): segments named for this run, a server
started on a free loopback port that stops by itself, HTTP requests, raw requests.

Every server, browser and Prometheus a test starts gets SIGKILL when the test's process ends
(PR_SET_PDEATHSIG), so that none outlives a test that died or timed out; the test stops them
itself when it ends normally. Segments are named
clitest-<script>-<pid>-... and removed at the end, whatever happened.
"""
import atexit
import ctypes
import fcntl
import glob
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

SHMQ = sys.argv[1] if len(sys.argv) > 1 else sys.exit("usage: %s PATH_TO_SHMQ" % sys.argv[0])
PREFIX = "clitest-%s-%d-" % (os.path.basename(sys.argv[0]).split(".")[0], os.getpid())
_children = []
_dirs = []
_libc = ctypes.CDLL(None, use_errno=True)
PR_SET_PDEATHSIG = 1


def name(suffix):
    return PREFIX + suffix


def section(text):
    print("---", text, flush=True)


def fail(text):
    print("FAIL:", text, file=sys.stderr, flush=True)
    sys.exit(1)


def expect(cond, what):
    if not cond:
        fail(what)


def expect_eq(what, want, got):
    if want != got:
        fail("%s\n  expected: %r\n  actual:   %r" % (what, want, got))


def shmq(*args, check=True, **kw):
    r = subprocess.run([SHMQ, *args], capture_output=True, text=True, **kw)
    if check and r.returncode != 0:
        fail("shmq %s exited %d: %s" % (" ".join(args), r.returncode, r.stderr.strip()))
    return r


def _die_with_parent():
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def spawn(argv, **kw):
    """A child that is killed when this test's process ends, and stopped at exit."""
    p = subprocess.Popen(argv, preexec_fn=_die_with_parent, **kw)
    _children.append(p)
    return p


def workdir():
    """A temporary directory, removed at exit."""
    d = tempfile.mkdtemp(prefix="shmq-serve-test-")
    _dirs.append(d)
    return d


def _cleanup():
    for p in _children:
        if p.poll() is None:
            p.kill()
            p.wait()
    for d in _dirs:
        shutil.rmtree(d, ignore_errors=True)
    for f in glob.glob("/dev/shm/shmq." + PREFIX + "*"):
        subprocess.run([SHMQ, "rm", "-f", f[len("/dev/shm/shmq."):]], capture_output=True)
        if os.path.exists(f):
            os.unlink(f)


atexit.register(_cleanup)


def wait_until(seconds, what, fn):
    deadline = time.monotonic() + seconds
    while True:
        v = fn()
        if v:
            return v
        if time.monotonic() > deadline:
            fail("waited %gs for: %s" % (seconds, what))
        time.sleep(0.05)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Server:
    """`shmq serve --listen 127.0.0.1:0 ARGS`, its port read from the line it prints."""

    def __init__(self, *args, prefix=(), binary=SHMQ):
        self.proc = spawn([*prefix, binary, "serve", "--listen", "127.0.0.1:0", *args],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        m = re.fullmatch(r"listening on http://127\.0\.0\.1:(\d+)/\n", line)
        if not m:
            self.proc.kill()
            fail("shmq serve did not say where it listens: %r, stderr %r" %
                 (line, self.proc.stderr.read()))
        self.port = int(m.group(1))

    def request(self, method, path, headers=None, body=None, timeout=10):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            c.request(method, path, body=body, headers=headers or {})
            r = c.getresponse()
            return r.status, dict(r.getheaders()), r.read()
        finally:
            c.close()

    def get(self, path, status=200):
        st, hdr, body = self.request("GET", path)
        if st != status:
            fail("GET %s: status %d, expected %d: %r" % (path, st, status, body[:300]))
        return hdr, body

    def json(self, path, status=200):
        hdr, body = self.get(path, status)
        expect(hdr.get("Content-Type") == "application/json",
               "GET %s: Content-Type %r" % (path, hdr.get("Content-Type")))
        return json.loads(body)

    def metrics(self):
        hdr, body = self.get("/metrics")
        expect(hdr.get("Content-Type", "").startswith("text/plain; version=0.0.4"),
               "/metrics Content-Type %r" % hdr.get("Content-Type"))
        return body.decode()

    def raw(self, data, timeout=10):
        """Send bytes as they are; the status of the answer (0 if the server closed at once)."""
        s = socket.create_connection(("127.0.0.1", self.port), timeout=timeout)
        try:
            try:
                s.sendall(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # it may close before reading everything: the answer tells
            reply = b""
            try:
                while b"\r\n" not in reply:
                    chunk = s.recv(4096)
                    if not chunk:
                        break
                    reply += chunk
            except ConnectionResetError:
                pass
            m = re.match(rb"HTTP/1\.[01] (\d{3}) ", reply)
            return int(m.group(1)) if m else 0
        finally:
            s.close()

    def stop(self, sig=signal.SIGTERM):
        """Signal it; it must stop within 5 s, killed by that signal (what every verb does)."""
        self.proc.send_signal(sig)
        try:
            code = self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            fail("shmq serve did not stop within 5 s of signal %d" % sig)
        err = self.proc.stderr.read()
        expect(code == -sig, "shmq serve ended with %d after signal %d, stderr %r" %
               (code, sig, err))
        return err


def metric(text, family, **labels):
    """The value of one sample of the exposition text, or None."""
    want = ",".join('%s="%s"' % kv for kv in labels.items())
    for line in text.splitlines():
        if line.startswith(family + "{") or line.startswith(family + " "):
            m = re.fullmatch(r"(\w+)(?:\{(.*)\})? (\S+)", line)
            if m and m.group(1) == family:
                have = m.group(2) or ""
                if all(('%s="%s"' % kv) in have.split(",") for kv in labels.items()) or \
                        (not labels and not have):
                    return float(m.group(3))
    return None


class Producer:
    """`shmq push NAME` fed `n` lines at a time, on demand."""

    def __init__(self, queue):
        self.proc = spawn([SHMQ, "push", queue], stdin=subprocess.PIPE, text=True)

    def feed(self, n, size=32):
        self.proc.stdin.write(("m" * size + "\n") * n)
        self.proc.stdin.flush()

    def close(self):
        self.proc.stdin.close()
        expect_eq("push exit code", 0, self.proc.wait(30))


def hold_by_dead(queue, count):
    """Leave messages claimed by a process that is gone: `shmq pop` blocks writing them to a
    pipe nobody reads (it acknowledges only what it wrote), and is killed."""
    r, w = os.pipe()
    fcntl.fcntl(w, 1031, 4096)  # F_SETPIPE_SZ: a small pipe fills at once
    p = spawn([SHMQ, "pop", "-n", str(count), queue], stdout=w)
    os.close(w)
    wait_until(10, "pop to hold messages", lambda: json.loads(
        shmq("stat", "--json", queue).stdout)["in_flight"] > 0 and
        time.sleep(0.3) is None)
    p.send_signal(signal.SIGKILL)
    p.wait()
    os.close(r)
    st = json.loads(shmq("stat", "--json", queue).stdout)
    expect(st["dead"] == 1 and st["in_flight"] > 0, "a dead participant holds messages: %r" % st)
    return st["in_flight"]
