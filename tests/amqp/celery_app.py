"""The Celery app of the bridge tests (tests/amqp/celery.sh): a stock worker runs these tasks.

Each task leaves an effect the test checks: a line appended to the file named by
SHMQ_TEST_CELERY_OUT. Results go back through the rpc:// backend, which is what lets
`shmq call` get an answer through the bridge.
"""
import os

from celery import Celery

QUEUE = os.environ["SHMQ_TEST_CELERY_QUEUE"]

app = Celery("shmq_bridge_test", broker=os.environ["SHMQ_TEST_CELERY_BROKER"], backend="rpc://")
app.conf.update(
    task_default_queue=QUEUE,
    task_default_exchange=QUEUE,
    task_default_routing_key=QUEUE,
    accept_content=["json"],
    worker_hijack_root_logger=False,
)


def _effect(line):
    with open(os.environ["SHMQ_TEST_CELERY_OUT"], "a", encoding="utf-8") as f:
        f.write(line + "\n")


@app.task
def append(text):
    """A message pushed with `shmq push`, as the task's one string argument."""
    _effect("append " + text)


@app.task
def add(a, b):
    """JSON arguments: [a, b] or {"a": ..., "b": ...}."""
    _effect(f"add {a} + {b} = {a + b}")
    return a + b
