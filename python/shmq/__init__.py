"""shmq: brokerless, lock-free message queues in POSIX shared memory.

    import shmq
    q = shmq.Queue.create("orders", capacity=1024, slot_size=256)
    q.put(b"hello")                       # copy in (waits while full; timeout= in seconds)
    q.get(timeout=1.0)                    # b'hello', or shmq.Empty after one second
    with q.claim() as m:                  # zero copy: m.data is a memoryview into the slot
        handle(m.data)                    # acked on success, nacked (delivered again) on error
    shmq.unlink("orders")

A queue is a named segment in /dev/shm shared by every process that opens it; a process killed
while it holds a claimed message has it delivered again. Topics broadcast to subscriber
groups. Errors are the library's errno values as Python exceptions: FileNotFoundError,
FileExistsError, PermissionError, ValueError (bad argument, message too large), shmq.Empty /
shmq.Full (queue.Empty / queue.Full), shmq.CorruptQueue, OSError for the rest.

Handles follow a fork (the child opens its own on first use) and pickle by name (spawn);
give each thread its own handle (Queue.open). Blocking calls release the GIL and can be
interrupted with Ctrl-C (nothing is taken then).
"""
import dataclasses
from typing import Iterator, Optional

from . import _shmq
from ._shmq import (  # noqa: F401
    CorruptQueue,
    Delivery,
    Empty,
    Full,
    Message,
    Subscription,
    list_queues,
    strerror,
    unlink,
    wait_any,
)

__all__ = [
    "Queue", "Topic", "Message", "Subscription", "Delivery", "Stat", "Empty", "Full",
    "CorruptQueue", "list_queues", "unlink", "strerror", "wait_any",
]
__version__ = "0.1.0"
library_version = _shmq.library_version


@dataclasses.dataclass(frozen=True)
class Stat:
    """A queue's configuration and counters (sums over every handle that ever opened it)."""

    name: str
    lifo: bool
    flags: int
    capacity: int
    slot_size: int
    mode: int
    max_participants: int
    segment_bytes: int
    depth: int  #: messages ready to be consumed (exact when quiescent)
    in_flight: int  #: claimed and not yet acked
    pushed: int
    popped: int
    acked: int
    nacked: int
    full: int
    empty: int
    waits: int
    wakeups: int
    participants: int
    producers: int
    consumers: int
    creator_pid: int
    owner_uid: int
    max_deliveries: int
    redelivered: int
    expired: int
    dead_lettered: int
    dropped: int
    recovered: int
    dead: int
    created: float  #: seconds since the epoch
    ttl: Optional[float]
    dead_letter: Optional[str]


class Queue(_shmq.Queue):
    __doc__ = _shmq.Queue.__doc__ + """

    Queue.create(name, ...) / Queue.open(name); put/get (copies, like queue.Queue with
    timeouts in seconds), put_nowait/get_nowait, put_many/get_many, claim() -> Message
    (zero copy, ack/nack), reserve(size) -> Message (write in place, commit), call/reply
    (request-reply), stat() -> Stat, iteration (yields payloads until closed; blocking),
    and use as a context manager (closes the handle).
    """

    __slots__ = ()

    def stat(self) -> Stat:
        """The queue's configuration and counters, as a Stat dataclass."""
        return Stat(**self._stat())

    def __iter__(self) -> Iterator[bytes]:
        """Yield messages as they come (get() forever); stop with Ctrl-C or break."""
        while True:
            yield self.get()

    def __len__(self) -> int:
        return self.qsize()

    def empty(self) -> bool:
        """True when no message is ready (a snapshot, like queue.Queue.empty)."""
        return self.qsize() == 0


class Topic(_shmq.Topic):
    __doc__ = _shmq.Topic.__doc__ + """

    Topic.create(name, ...) / Topic.open(name); publish(subject, data); subscribe(pattern,
    group=None, durable=False) -> Subscription, an iterator of Delivery(subject, data, seq,
    lost, type, correlation_id, reply_to, timestamp).
    """

    __slots__ = ()
