"""A kombu transport over shmq: ``Celery(broker="shmq://")`` with no broker process.

    import shmq.kombu            # registers the "shmq" scheme with kombu
    app = Celery("tasks", broker="shmq://", backend="rpc://")

Each kombu queue is an shmq queue named ``<namespace>.<queue>`` (the namespace is the URL's
virtual host, ``shmq:///myapp``, default ``kombu``; characters shmq does not allow in names
are escaped as ``_xx``). Exchanges and bindings live in one file per namespace,
``/dev/shm/shmq-kombu.<namespace>.state``, read and written under ``flock``, so a binding
declared by one process routes the messages of every other. Direct and topic exchanges route
through kombu's own matching; a fanout exchange (Celery's broadcast and remote control) puts
a copy into every queue bound to it, without waiting (a full queue of a vanished consumer
drops its copy).

Delivery: a consumer *claims* a message (``shmq_claim``); ``basic_ack`` is ``shmq_ack``,
``basic_reject(requeue=True)`` and closing the channel are ``shmq_nack``. A worker killed
with SIGKILL holds its claims in shared memory; the next process that opens or waits on the
queue gives them back (delivered again, ``redelivered`` set), subject to the queue's
``max_deliveries`` and ``dead_letter``. A waiting consumer sleeps in the kernel on every
queue it consumes at once (``shmq.wait_any``): no polling interval.

Transport options (``broker_transport_options``): ``capacity`` (messages per queue, 4096),
``slot_size`` (bytes per message, 16384), ``max_deliveries`` (0 = no limit),
``dead_letter`` (a kombu queue name), ``small_capacity`` (64, for Celery's pidbox and
rpc:// reply queues). A queue declared ``auto_delete`` is removed when the consumer that read it
is cancelled, its channel closes or its process exits (a process killed by a signal leaves it
behind: ``shmq ls``, ``shmq rm``).
"""
import atexit
import fcntl
import json
import os
import socket
import threading
import time
import weakref
from queue import Empty

from kombu.transport import TRANSPORT_ALIASES, virtual
from kombu.transport.virtual.base import queue_declare_ok_t
from kombu.utils.uuid import uuid
from kombu.utils import json as kjson

import shmq

__all__ = ["Transport", "Channel"]

STATE_DIR = "/dev/shm"
EXCHANGE_TYPES = ("direct", "topic", "fanout")
_SAFE = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-")


def queue_name(namespace, queue):
    """The shmq name of a kombu queue: namespace + '.' + the queue name, '_xx'-escaped."""
    out = [c if c in _SAFE else "".join("_%02x" % b for b in c.encode()) for c in queue]
    name = namespace + "." + "".join(out)
    if len(name) > shmq._shmq.NAME_MAX:
        raise ValueError("kombu queue name %r is too long for shmq (%d > %d characters "
                         "escaped)" % (queue, len(name), shmq._shmq.NAME_MAX))
    return name


def state_path(namespace):
    return os.path.join(STATE_DIR, "shmq-kombu.%s.state" % namespace)


class SharedState:
    """Exchanges and bindings of one namespace, shared by every process through a file.

    Readers take a shared flock and cache what they read until the file changes (its
    modification time, size or inode) or a second has passed; writers take an exclusive
    flock and rewrite it in place.
    """

    def __init__(self, namespace):
        self.path = state_path(namespace)
        self._key = None
        self._checked = 0.0
        self._data = {"exchanges": {}, "bindings": {}}

    def _open(self, create=True):
        fd = os.open(self.path, os.O_RDWR | os.O_CLOEXEC | (os.O_CREAT if create else 0), 0o600)
        return os.fdopen(fd, "r+")

    def _parse(self, text):
        """The file's content, checked: it is shared, so anything may be in it."""
        if not text.strip():
            return {"exchanges": {}, "bindings": {}}
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise self._corrupt("not JSON (%s)" % exc) from None
        if not isinstance(data, dict) or not isinstance(data.get("exchanges"), dict) or \
                not isinstance(data.get("bindings"), dict):
            raise self._corrupt("no exchanges and bindings tables")
        for name, ex in data["exchanges"].items():
            if not isinstance(ex, dict) or ex.get("type") not in EXCHANGE_TYPES:
                raise self._corrupt("exchange %r has no valid type" % name)
        for name, table in data["bindings"].items():
            if not isinstance(table, list) or not all(
                    isinstance(b, list) and len(b) == 3 and isinstance(b[0], str) and
                    (b[1] is None or isinstance(b[1], str)) and isinstance(b[2], str)
                    for b in table):
                raise self._corrupt("the bindings of exchange %r are not [key, pattern or "
                                    "null, queue]" % name)
        return data

    def _corrupt(self, why):
        return ValueError("shmq.kombu: %s is corrupt: %s. Remove it: the applications declare "
                          "their exchanges and bindings again when they reconnect."
                          % (self.path, why))

    def read(self):
        now = time.monotonic()
        try:
            st = os.stat(self.path)
            key = (st.st_ino, st.st_mtime_ns, st.st_size)
        except FileNotFoundError:
            key = None
        if key == self._key and now - self._checked < 1.0:
            return self._data
        if key is None:
            self._data = {"exchanges": {}, "bindings": {}}
        else:
            with self._open() as f:
                fcntl.flock(f, fcntl.LOCK_SH)
                self._data = self._parse(f.read())
        self._key, self._checked = key, now
        return self._data

    def update(self, fn, create=True):
        """Apply fn(data) under the exclusive lock and write the result. create=False: a
        removal, which has nothing to do when there is no file."""
        try:
            f = self._open(create)
        except FileNotFoundError:
            return None
        with f:
            fcntl.flock(f, fcntl.LOCK_EX)
            data = self._parse(f.read())
            fn(data)
            f.seek(0)
            f.truncate()
            f.write(json.dumps(data, sort_keys=True))
            f.flush()
        self._key = None  # read again next time
        return data


class QoS(virtual.QoS):
    """Unacked messages are shmq claims: ack = shmq_ack, reject/restore = shmq_nack."""

    def ack(self, delivery_tag):
        claim = self.channel._claims.pop(delivery_tag, None)
        if claim is not None:
            claim.ack()
        super().ack(delivery_tag)

    def reject(self, delivery_tag, requeue=False):
        claim = self.channel._claims.pop(delivery_tag, None)
        if claim is not None:
            if requeue:
                claim.nack()
            else:
                claim.ack()  # dropped, as AMQP drops a rejected message without a DLX
        super().reject(delivery_tag, requeue=False)

    def restore_unacked(self):
        """Give every message still claimed back to its queue (delivered again)."""
        self._flush()
        errors = []
        for tag in list(self._delivered):
            claim = self.channel._claims.pop(tag, None)
            try:
                if claim is not None:
                    claim.nack()
            except Exception as exc:  # a closed handle: the library gave it back already
                errors.append((exc, self._delivered[tag]))
        self._delivered.clear()
        return errors


_channels = weakref.WeakSet()  # open channels, for the exit handler below


@atexit.register
def _delete_auto_delete_queues():
    """At exit, remove the auto_delete queues this process declared and still has: a broker
    deletes them when the connection drops, and Celery clients (rpc:// reply queues) exit
    without closing theirs. A process killed by a signal leaves them (``shmq rm``)."""
    for ch in list(_channels):
        if ch.pid == os.getpid():
            for queue in list(ch._auto_delete):
                try:
                    ch._delete(queue)
                except Exception:  # noqa: BLE001  exiting: nothing left to report to
                    pass


class Channel(virtual.Channel):
    QoS = QoS
    supports_fanout = True
    do_restore = True

    def __init__(self, connection, **kwargs):
        opts = connection.client.transport_options or {}
        self.namespace = connection.namespace
        self.capacity = int(opts.get("capacity", 4096))
        self.small_capacity = int(opts.get("small_capacity", 64))
        self.slot_size = int(opts.get("slot_size", 16384))
        self.max_deliveries = int(opts.get("max_deliveries", 0))
        self.dead_letter = opts.get("dead_letter")
        self.put_timeout = opts.get("put_timeout")
        self.shared = SharedState(self.namespace)
        self._claims = {}
        self._no_ack_queues = set()
        self._auto_delete = set()  # auto_delete queues declared here: removed with their consumer
        self._local = threading.local()
        self._tag_serial = 0
        self.pid = os.getpid()
        super().__init__(connection, **kwargs)
        _channels.add(self)

    # ---- queues ----

    def _handles(self):
        h = getattr(self._local, "handles", None)
        if h is None:
            h = self._local.handles = {}
        return h

    def _is_small(self, queue):
        return queue.endswith(".pidbox") or "pidbox" in queue or len(queue) >= 32 and \
            queue.count("-") == 4  # rpc:// reply queues are uuids

    def _create(self, queue):
        name = queue_name(self.namespace, queue)
        dl = queue_name(self.namespace, self.dead_letter) if self.dead_letter else None
        try:
            return shmq.Queue.create(
                name, capacity=self.small_capacity if self._is_small(queue) else self.capacity,
                slot_size=self.slot_size, max_deliveries=self.max_deliveries, dead_letter=dl)
        except FileExistsError:
            return shmq.Queue.open(name)

    def _handle(self, queue, create=True):
        h = self._handles()
        q = h.get(queue)
        if q is None or q.closed:
            try:
                q = shmq.Queue.open(queue_name(self.namespace, queue))
            except FileNotFoundError:
                if not create:
                    raise
                q = self._create(queue)
            h[queue] = q
        return q

    def _new_queue(self, queue, **kwargs):
        self._handle(queue)

    def _has_queue(self, queue, **kwargs):
        try:
            self._handle(queue, create=False)
            return True
        except FileNotFoundError:
            return False

    def queue_declare(self, queue=None, passive=False, **kwargs):
        """Declare a queue. The declare-ok's message count is 0 unless passive: Celery declares
        its task queue with every publish, and counting (shmq_stat) costs far more than the put."""
        if not passive:
            queue = queue or "amq.gen-%s" % uuid()
            self._new_queue(queue, **kwargs)
            if kwargs.get("auto_delete"):
                self._auto_delete.add(queue)
            return queue_declare_ok_t(queue, 0, 0)
        return super().queue_declare(queue, passive=True, **kwargs)

    def _size(self, queue):
        return self._handle(queue).qsize()

    def _purge(self, queue):
        return self._handle(queue).purge()

    def _delete(self, queue, *args, **kwargs):
        q = self._handles().pop(queue, None)
        if q is not None:
            q.close()
        try:
            shmq.unlink(queue_name(self.namespace, queue))
        except FileNotFoundError:
            pass

        def drop(data):
            for ex, table in data["bindings"].items():
                data["bindings"][ex] = [b for b in table if b[2] != queue]
        self.shared.update(drop, create=False)

    def _put(self, queue, message, **kwargs):
        body = kjson.dumps(message).encode("utf-8")
        try:
            self._handle(queue).put(body, timeout=self.put_timeout)
        except ValueError as exc:
            if len(body) > self.slot_size:
                raise ValueError("shmq.kombu: a message of %d bytes does not fit the slots of "
                                 "queue %r (%d bytes): raise the transport option slot_size"
                                 % (len(body), queue, self.slot_size)) from exc
            raise

    def _put_fanout(self, exchange, message, routing_key, **kwargs):
        body = kjson.dumps(message).encode("utf-8")
        for _, _, queue in self.get_table(exchange):
            try:
                self._handle(queue).put_nowait(body)
            except (shmq.Full, FileNotFoundError):
                pass  # a consumer that went away: its copy is dropped

    def _next_tag(self):
        self._tag_serial += 1
        return "%d.%d.%d" % (os.getpid(), id(self), self._tag_serial)

    def _get(self, queue, timeout=None):
        q = self._handle(queue)
        while True:
            claim = q.claim(timeout=0)  # shmq.Empty is a queue.Empty
            try:
                payload = kjson.loads(bytes(claim.data))
                props = payload.get("properties") if isinstance(payload, dict) else None
                if isinstance(props, dict) and isinstance(props.get("delivery_info"), dict):
                    break
            except Exception:
                pass
            claim.ack()  # not a kombu message: drop it rather than loop on it
        tag = self._next_tag()
        props["delivery_tag"] = tag
        if claim.deliveries > 1:
            payload["redelivered"] = True
            props["delivery_info"]["redelivered"] = True
        if queue in self._no_ack_queues:
            claim.ack()
        else:
            self._claims[tag] = claim
        return payload

    def basic_consume(self, queue, no_ack, callback, consumer_tag, **kwargs):
        if no_ack:
            self._no_ack_queues.add(queue)
        else:
            self._no_ack_queues.discard(queue)
        return super().basic_consume(queue, no_ack, callback, consumer_tag, **kwargs)

    def basic_cancel(self, consumer_tag):
        """Cancel a consumer; an auto_delete queue that no consumer of this channel reads any
        more is deleted (AMQP deletes it when its last consumer goes: Celery's pidbox and
        rpc:// reply queues are each read by one process)."""
        queue = self._tag_to_queue.get(consumer_tag)
        super().basic_cancel(consumer_tag)
        if queue in self._auto_delete and queue not in self._tag_to_queue.values():
            self._auto_delete.discard(queue)
            self._delete(queue)

    def basic_get(self, queue, no_ack=False, **kwargs):
        try:
            payload = self._get(queue)
        except Empty:
            return None
        message = self.Message(payload, channel=self)
        tag = message.delivery_tag
        if no_ack:
            claim = self._claims.pop(tag, None)
            if claim is not None:
                claim.ack()
        else:
            self.qos.append(message, tag)
        return message

    # ---- exchanges and bindings, shared ----

    def exchange_declare(self, exchange=None, type="direct", durable=False, auto_delete=False,
                         arguments=None, nowait=False, passive=False):
        type = type or "direct"
        exchange = exchange or "amq.%s" % type
        if passive:
            if exchange not in self.shared.read()["exchanges"]:
                return super().exchange_declare(exchange, type, durable, auto_delete,
                                                arguments, nowait, passive)
            return None
        if self.shared.read()["exchanges"].get(exchange, {}).get("type") != type:
            def add(data):
                data["exchanges"].setdefault(exchange, {"type": type, "durable": durable,
                                                        "auto_delete": auto_delete})
            self.shared.update(add)
        return super().exchange_declare(exchange, type, durable, auto_delete, arguments,
                                        nowait, passive)

    def exchange_delete(self, exchange, if_unused=False, nowait=False):
        def drop(data):
            data["exchanges"].pop(exchange, None)
            data["bindings"].pop(exchange, None)
        self.shared.update(drop, create=False)
        self.state.exchanges.pop(exchange, None)

    def typeof(self, exchange, default="direct"):
        ex = self.shared.read()["exchanges"].get(exchange)
        if ex is None:
            return super().typeof(exchange, default)
        return self.exchange_types[ex["type"]]

    def get_table(self, exchange):
        return [tuple(b) for b in self.shared.read()["bindings"].get(exchange, [])]

    def queue_bind(self, queue, exchange=None, routing_key="", arguments=None, **kwargs):
        exchange = exchange or "amq.direct"
        meta = list(self.typeof(exchange).prepare_bind(queue, exchange, routing_key, arguments))
        if meta in self.shared.read()["bindings"].get(exchange, []):
            return

        def add(data):
            table = data["bindings"].setdefault(exchange, [])
            if meta not in table:
                table.append(meta)
        self.shared.update(add)

    def queue_unbind(self, queue, exchange=None, routing_key="", arguments=None, **kwargs):
        exchange = exchange or "amq.direct"
        meta = list(self.typeof(exchange).prepare_bind(queue, exchange, routing_key, arguments))

        def drop(data):
            table = data["bindings"].get(exchange, [])
            data["bindings"][exchange] = [b for b in table if b != meta]
        self.shared.update(drop, create=False)

    def queue_delete(self, queue, if_unused=False, if_empty=False, **kwargs):
        if if_empty and self._has_queue(queue) and self._size(queue):
            return
        self._delete(queue)

    def list_bindings(self):
        data = self.shared.read()
        return ((queue, exchange, rkey) for exchange, table in data["bindings"].items()
                for rkey, _, queue in table)

    def get_exchanges(self):
        return list(self.shared.read()["exchanges"])

    def close(self):
        super().close()  # cancels the consumers, restores (nacks) what is still claimed
        for q in self._handles().values():
            q.close()
        self._handles().clear()


class Transport(virtual.Transport):
    """kombu transport ``shmq://[/namespace]``: queues in shared memory, no broker."""

    Channel = Channel
    driver_type = "shmq"
    driver_name = "shmq"
    default_port = None
    polling_interval = None  # never used: drain_events sleeps in shmq.wait_any

    implements = virtual.Transport.implements.extend(
        asynchronous=False,
        exchange_type=frozenset(["direct", "topic", "fanout"]),
    )

    def __init__(self, client, **kwargs):
        vhost = (client.virtual_host or "").strip("/") or "kombu"
        if any(c not in _SAFE for c in vhost):
            raise ValueError("shmq:// namespace %r: use [A-Za-z0-9.-]" % vhost)
        self.namespace = vhost
        super().__init__(client, **kwargs)

    def driver_version(self):
        return shmq.__version__

    def drain_events(self, connection, timeout=None):
        """Deliver one message; sleep in the kernel on every consumed queue until one comes."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            try:
                self.cycle.get(self._deliver, timeout=0)
                return
            except Empty:
                pass
            waiting = []
            for channel in self.channels:
                if channel.connection is None or not channel._consumers or \
                        not channel.qos.can_consume():
                    continue
                for queue in channel._active_queues:
                    try:
                        waiting.append(channel._handle(queue))
                    except FileNotFoundError:
                        pass
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                raise socket.timeout()
            if not waiting:
                # Nothing to wait on (no consumer, or prefetch is full): wait for the caller.
                time.sleep(0.05 if remaining is None else min(remaining, 0.05))
                continue
            shmq.wait_any(waiting[:shmq._shmq.WAIT_ANY_MAX], timeout=remaining)


TRANSPORT_ALIASES.setdefault("shmq", "shmq.kombu:Transport")

