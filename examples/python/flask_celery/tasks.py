"""The Celery side of the example: tasks that run in a worker.

The broker comes from SHMQ_BROKER_URL (default shmq://, no broker process; amqp://... moves
the same app to RabbitMQ). Results come back with rpc://.

    /usr/bin/python3 -m celery -A tasks worker --pool=solo
"""
import os

import shmq.kombu  # noqa: F401  (registers the shmq:// scheme with kombu)
from celery import Celery

broker = os.environ.get("SHMQ_BROKER_URL", "shmq://")
app = Celery("tasks", broker=broker, backend=os.environ.get("SHMQ_RESULT_BACKEND", "rpc://"))
app.conf.update(
    task_acks_late=os.environ.get("SHMQ_ACKS_LATE") == "1",
    worker_prefetch_multiplier=int(os.environ.get("SHMQ_PREFETCH", "4")),
    worker_hijack_root_logger=False,
    broker_connection_retry_on_startup=True,
    # A private queue name when several apps share one RabbitMQ (the tests do).
    task_default_queue=os.environ.get("SHMQ_CELERY_QUEUE", "celery"),
)


@app.task
def total(numbers):
    """Sum a list of numbers."""
    return sum(numbers)


@app.task
def downsample(pixels, width, factor):
    """Average factor x factor blocks of a grey image given as a flat list of bytes."""
    if width <= 0 or factor <= 0 or len(pixels) % width:
        raise ValueError("pixels must be rows of `width` values, factor >= 1")
    height = len(pixels) // width
    out_w, out_h = width // factor, height // factor
    out = []
    for y in range(out_h):
        for x in range(out_w):
            block = [pixels[(y * factor + dy) * width + x * factor + dx]
                     for dy in range(factor) for dx in range(factor)]
            out.append(sum(block) // len(block))
    return {"width": out_w, "height": out_h, "pixels": out}


@app.task
def record(n):
    """Append n to the file named by SHMQ_RECORD (the tests count what ran, and how often)."""
    path = os.environ.get("SHMQ_RECORD")
    if path:
        with open(path, "a") as f:
            f.write("%d\n" % n)
    return n
