"""Fixtures of the shmq Python tests: unique names removed afterwards, Celery workers.

Every queue, topic and kombu namespace a test makes starts with "test-py<pid>-" and is
removed at the end of the test (and checked: a leftover fails the test that left it).
"""
import glob
import itertools
import os
import signal
import subprocess
import sys
import time

import pytest

import shmq

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
EXAMPLE = os.path.join(ROOT, "examples", "python", "flask_celery")
PYTHON = sys.executable  # the venv's (made from /usr/bin/python3 with the system packages)
_serial = itertools.count()


def _remove(prefix):
    for n in shmq.list_queues():
        if n.startswith(prefix):
            try:
                shmq.unlink(n)
            except FileNotFoundError:
                pass
    for f in glob.glob("/dev/shm/shmq-kombu.%s*.state" % prefix):
        os.unlink(f)


@pytest.fixture
def name():
    """A fresh queue/topic name; everything named with it as a prefix is removed after."""
    n = "test-py%d-%d" % (os.getpid(), next(_serial))
    _remove(n)
    yield n
    _remove(n)


def wait_for(cond, timeout, what, interval=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(interval)
    raise AssertionError("timed out after %.0f s waiting for %s" % (timeout, what))


class Worker:
    """A real Celery worker process: python -m celery -A tasks worker --pool=solo."""

    def __init__(self, env, extra=()):
        self.env = env
        self.log = open(env["SHMQ_WORKER_LOG"], "ab")
        self.proc = subprocess.Popen(
            [PYTHON, "-m", "celery", "-A", "tasks", "worker", "--pool=solo", "-l", "warning",
             "--without-gossip", "--without-mingle", "-n", "w%d@%%h" % next(_serial), *extra],
            cwd=EXAMPLE, env=env, stdout=self.log, stderr=subprocess.STDOUT,
            start_new_session=True)

    def kill(self, sig=signal.SIGKILL):
        if self.proc.poll() is None:
            os.kill(self.proc.pid, sig)
        self.proc.wait(timeout=30)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()
        self.log.close()


@pytest.fixture
def celery_env(name, tmp_path, monkeypatch):
    """Environment of the example app on a private shmq:// namespace (this process too)."""
    env = dict(os.environ)
    env.update(SHMQ_BROKER_URL="shmq:///%s" % name, SHMQ_RECORD=str(tmp_path / "ran"),
               SHMQ_WORKER_LOG=str(tmp_path / "worker.log"),
               PYTHONPATH=os.pathsep.join([EXAMPLE] + sys.path))
    for k in ("SHMQ_BROKER_URL", "SHMQ_RECORD"):
        monkeypatch.setenv(k, env[k])
    monkeypatch.syspath_prepend(EXAMPLE)
    for mod in ("tasks", "app"):
        sys.modules.pop(mod, None)
    yield env
    for mod in ("tasks", "app"):
        sys.modules.pop(mod, None)


@pytest.fixture
def start_worker(celery_env):
    workers = []

    def start(**extra_env):
        env = dict(celery_env, **extra_env)
        w = Worker(env)
        workers.append(w)
        return w

    yield start
    for w in workers:
        w.stop()


def worker_log(env):
    """The workers' output, for an assertion's message."""
    try:
        return open(env["SHMQ_WORKER_LOG"], errors="replace").read()[-4000:]
    except OSError:
        return "(no worker log)"
