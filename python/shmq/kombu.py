"""A kombu transport over shmq: ``Celery(broker="shmq://")`` with no broker process.

    import shmq.kombu            # registers the "shmq" scheme with kombu
    app = Celery("tasks", broker="shmq://", backend="rpc://")

Each kombu queue is an shmq queue named ``<namespace>.<queue>`` (the namespace is the URL's
virtual host, ``shmq:///myapp``, default ``kombu``; characters shmq does not allow in names
are escaped as ``_xx``). Exchanges and bindings live in one file per namespace,
``/dev/shm/shmq-kombu.<namespace>.state``, read and written under ``flock``, so a binding
declared by one process routes the messages of every other. Direct and topic exchanges route
through kombu's own matching.

Fanout (Celery's broadcast and remote control) goes through shmq topics: a fanout exchange
is the topic ``<namespace>._xfanout.<exchange>`` (an overwrite topic: a publisher never
waits), and each queue bound to it is a subscriber group of that topic (named after the
queue) that gets every message; the consumers of the queue are the group's members, and a
consumer waits on the queue and on its groups at once. The group is made when the queue is
bound: a broadcast published before that is not received (as with RabbitMQ). The group of an
``auto_delete`` queue goes with its last member (a dead process's membership is released by
the library); the group of any other queue is durable and keeps what is broadcast while
nobody consumes, up to ``fanout_capacity`` messages (older ones are dropped). A fanout message
is taken when it is delivered: acks and rejects do not apply to it.

Delivery: a consumer *claims* a message (``shmq_claim``); ``basic_ack`` is ``shmq_ack``,
``basic_reject(requeue=True)`` and closing the channel are ``shmq_nack``. A worker killed
with SIGKILL holds its claims in shared memory; the next process that opens or waits on the
queue gives them back (delivered again, ``redelivered`` set), subject to the queue's
``max_deliveries`` and ``dead_letter``. A waiting consumer sleeps in the kernel on every
queue it consumes at once (``shmq.wait_any``): no polling interval.

Transport options (``broker_transport_options``): ``capacity`` (messages per queue, 4096),
``slot_size`` (bytes per message, 16384), ``max_deliveries`` (0 = no limit),
``dead_letter`` (a kombu queue name), ``small_capacity`` (64, for Celery's pidbox and
rpc:// reply queues), ``fanout_capacity`` (256, a power of two: messages a fanout topic keeps;
64 groups per topic). A queue declared ``auto_delete`` is removed when the consumer that read
it is cancelled, its channel closes or its process exits; its declaring processes are recorded
(pid and start time) in the state file, and when all of them are gone (killed by a signal) the
next connection to the namespace removes it.
"""
import atexit
import errno
import fcntl
import hashlib
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


def _escape(text):
    """text with every character shmq names do not allow as '_xx' (its UTF-8 bytes in hex):
    the result never holds '_x', which the transport's own names use."""
    return "".join(c if c in _SAFE else "".join("_%02x" % b for b in c.encode()) for c in text)


def _shmq_name(prefix, what, kind):
    name = prefix + _escape(what)
    if len(name) > shmq._shmq.NAME_MAX:
        raise ValueError("kombu %s name %r is too long for shmq (%d > %d characters "
                         "escaped)" % (kind, what, len(name), shmq._shmq.NAME_MAX))
    return name


def queue_name(namespace, queue):
    """The shmq name of a kombu queue: namespace + '.' + the queue name, '_xx'-escaped."""
    return _shmq_name(namespace + ".", queue, "queue")


def fanout_topic_name(namespace, exchange):
    """The shmq topic of a fanout exchange: namespace + '._xfanout.' + the escaped name."""
    return _shmq_name(namespace + "._xfanout.", exchange, "exchange")


GROUP_NAME_MAX = 63  # SHMQ_GROUP_NAME_MAX


def group_name(queue):
    """The topic group of a kombu queue: its escaped name, or '_x' + a SHA-1 of it when that
    is too long for a group name (or starts with '.')."""
    g = _escape(queue)
    if not g or len(g) > GROUP_NAME_MAX or g.startswith("."):
        g = "_x" + hashlib.sha1(queue.encode("utf-8", "surrogatepass")).hexdigest()
    return g


def process_start(pid):
    """The start time of process pid (clock ticks since boot), or None if it is gone (a
    zombie counts as gone)."""
    try:
        with open("/proc/%d/stat" % pid, "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
    except (OSError, IndexError):
        return None
    if len(fields) < 20 or fields[0] in (b"Z", b"X"):
        return None
    return int(fields[19])


def owner_alive(owner):
    pid, start = owner
    return process_start(pid) == start


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
        self._data = {"exchanges": {}, "bindings": {}, "owners": {}}
        self._fanout_index = (None, {})

    def _open(self, create=True):
        fd = os.open(self.path, os.O_RDWR | os.O_CLOEXEC | (os.O_CREAT if create else 0), 0o600)
        return os.fdopen(fd, "r+")

    def _parse(self, text):
        """The file's content, checked: it is shared, so anything may be in it."""
        if not text.strip():
            return {"exchanges": {}, "bindings": {}, "owners": {}}
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
        owners = data.setdefault("owners", {})
        if not isinstance(owners, dict) or not all(
                isinstance(lst, list) and all(
                    isinstance(o, list) and len(o) == 2 and
                    all(type(x) is int and 0 < x < 1 << 62 for x in o) for o in lst)
                for lst in owners.values()):
            raise self._corrupt("owners is not {queue: [[pid, start time], ...]}")
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
            self._data = {"exchanges": {}, "bindings": {}, "owners": {}}
        else:
            with self._open() as f:
                fcntl.flock(f, fcntl.LOCK_SH)
                self._data = self._parse(f.read())
        self._key, self._checked = key, now
        return self._data

    def fanouts_of(self, queue):
        """The fanout exchanges queue is bound to (an index rebuilt when the file changes)."""
        data = self.read()
        if self._fanout_index[0] is not data:
            index = {}
            for ex, table in data["bindings"].items():
                if data["exchanges"].get(ex, {}).get("type") == "fanout":
                    for b in table:
                        index.setdefault(b[2], []).append(ex)
            self._fanout_index = (data, index)
        return self._fanout_index[1].get(queue, ())

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
    without closing theirs. Those of a process killed by a signal are removed by the next
    connection to the namespace (Channel.remove_orphans)."""
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
        self.fanout_capacity = int(opts.get("fanout_capacity", 256))
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
        if not getattr(connection, "_swept", False):
            connection._swept = True
            self.remove_orphans()

    # ---- queues ----

    def _handles(self):
        h = getattr(self._local, "handles", None)
        if h is None:
            h = self._local.handles = {}
        return h

    def _topics(self):
        t = getattr(self._local, "topics", None)
        if t is None:
            t = self._local.topics = {}
        return t

    def _subs(self):
        s = getattr(self._local, "subs", None)
        if s is None:
            s = self._local.subs = {}
        return s

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
        its task queue with every publish, and counting (shmq_stat) costs far more than the put.
        An auto_delete queue records this process as an owner first (see remove_orphans)."""
        if not passive:
            queue = queue or "amq.gen-%s" % uuid()
            if kwargs.get("auto_delete"):
                self._add_owner(queue)
                self._auto_delete.add(queue)
            self._new_queue(queue, **kwargs)
            return queue_declare_ok_t(queue, 0, 0)
        return super().queue_declare(queue, passive=True, **kwargs)

    def _add_owner(self, queue):
        me = [os.getpid(), process_start(os.getpid())]
        if me in self.shared.read()["owners"].get(queue, []):
            return

        def add(data):
            lst = data["owners"].setdefault(queue, [])
            if me not in lst:
                lst.append(me)
        self.shared.update(add)

    def remove_orphans(self):
        """Remove the auto_delete queues whose every declaring process is gone (killed by a
        signal: a process that exits removes its own). Runs once per connection; returns the
        kombu names of the queues removed."""
        if all(any(owner_alive(o) for o in lst)
               for lst in self.shared.read()["owners"].values()):
            return []
        removed = []

        def prune(data):
            owners = data["owners"]
            for queue in list(owners):
                live = [o for o in owners[queue] if owner_alive(o)]
                if live:
                    owners[queue] = live
                    continue
                del owners[queue]
                removed.append(queue)
                try:  # under the lock: a process declaring it again waits for us
                    shmq.unlink(queue_name(self.namespace, queue))
                except (FileNotFoundError, ValueError):
                    pass
            for ex, table in data["bindings"].items():
                data["bindings"][ex] = [b for b in table if b[2] not in removed]
        self.shared.update(prune, create=False)
        # Their topic groups were ephemeral: the library releases a dead process's members.
        return removed

    def _size(self, queue):
        return self._handle(queue).qsize()

    def _purge(self, queue):
        return self._handle(queue).purge()

    def _delete(self, queue, *args, **kwargs):
        q = self._handles().pop(queue, None)
        if q is not None:
            q.close()
        for exchange in list(self.shared.fanouts_of(queue)):
            self._leave_fanout(exchange, queue)
        try:
            shmq.unlink(queue_name(self.namespace, queue))
        except FileNotFoundError:
            pass

        def drop(data):
            for ex, table in data["bindings"].items():
                data["bindings"][ex] = [b for b in table if b[2] != queue]
            data["owners"].pop(queue, None)
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

    # ---- fanout: topics ----

    def _topic(self, exchange, create=True):
        topics = self._topics()
        t = topics.get(exchange)
        if t is None:
            name = fanout_topic_name(self.namespace, exchange)
            try:
                t = shmq.Topic.open(name)
            except FileNotFoundError:
                if not create:
                    raise
                try:
                    # An empty subject takes 8 bytes of a slot: a message that fits a queue
                    # fits the topic.
                    t = shmq.Topic.create(name, capacity=self.fanout_capacity,
                                          slot_size=self.slot_size + 8, overwrite=True)
                except FileExistsError:
                    t = shmq.Topic.open(name)
            topics[exchange] = t
        return t

    def _subscription(self, exchange, queue):
        """This thread's membership of queue's group in the exchange's topic (joined now if
        need be: the group is made by the first member)."""
        subs = self._subs()
        key = (exchange, queue)
        sub = subs.get(key)
        if sub is None:
            durable = queue not in self.shared.read()["owners"]
            topic = self._topic(exchange)
            try:
                try:
                    sub = topic.subscribe(None, group=group_name(queue), durable=durable)
                except ValueError:
                    # The group exists with the other durability (the queue was declared
                    # differently elsewhere): join it as it is.
                    sub = topic.subscribe(None, group=group_name(queue), durable=not durable)
            except OSError as exc:
                if exc.errno != errno.EUSERS:
                    raise
                raise OSError(errno.EUSERS, "shmq.kombu: fanout exchange %r (topic %s) has no "
                              "room for the group of queue %r: its group or member table is "
                              "full (64 groups, 128 members); delete unused queues bound to it"
                              % (exchange, topic.name, queue)) from exc
            subs[key] = sub
        return sub

    def _leave_fanout(self, exchange, queue):
        """Stop queue's group receiving the exchange's messages: leave it, and remove it if
        no other consumer (another thread or process) is still a member."""
        sub = self._subs().pop((exchange, queue), None)
        if sub is not None:
            sub.close()
        try:
            self._topic(exchange, create=False).delete_group(group_name(queue))
        except FileNotFoundError:
            pass
        except OSError as exc:
            if exc.errno != errno.EBUSY:
                raise

    def _put_fanout(self, exchange, message, routing_key, **kwargs):
        """Publish once into the exchange's topic: every bound queue's group gets it."""
        body = kjson.dumps(message).encode("utf-8")
        try:
            topic = self._topic(exchange, create=False)
        except FileNotFoundError:
            return  # never bound: nobody to deliver to (a broker drops it too)
        try:
            topic.publish("", body, timeout=0)
        except ValueError as exc:
            if len(body) > self.slot_size:
                raise ValueError("shmq.kombu: a message of %d bytes does not fit the slots of "
                                 "fanout exchange %r (%d bytes): raise the transport option "
                                 "slot_size" % (len(body), exchange, self.slot_size)) from exc
            raise

    def _next_tag(self):
        self._tag_serial += 1
        return "%d.%d.%d" % (os.getpid(), id(self), self._tag_serial)

    @staticmethod
    def _decode(raw):
        """A kombu message's payload and properties, or (None, None) for anything else."""
        try:
            payload = kjson.loads(raw)
            props = payload.get("properties") if isinstance(payload, dict) else None
            if isinstance(props, dict) and isinstance(props.get("delivery_info"), dict):
                return payload, props
        except Exception:  # noqa: BLE001  untrusted bytes: any failure means "not ours"
            pass
        return None, None

    def _get(self, queue, timeout=None):
        q = self._handle(queue)
        while True:
            try:
                claim = q.claim(timeout=0)  # shmq.Empty is a queue.Empty
            except Empty:
                return self._get_fanout(queue)
            payload, props = self._decode(bytes(claim.data))
            if payload is not None:
                break
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

    def _get_fanout(self, queue):
        """The next message of queue's groups in the fanout topics it is bound to."""
        for exchange in self.shared.fanouts_of(queue):
            sub = self._subscription(exchange, queue)
            while True:
                try:
                    delivery = sub.next(timeout=0)
                except Empty:
                    break
                payload, props = self._decode(delivery.data)
                if payload is not None:
                    props["delivery_tag"] = self._next_tag()
                    return payload  # taken from the group: nothing to ack
        raise Empty()

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
        if self.typeof(exchange).type == "fanout":
            for key in [k for k in self._subs() if k[0] == exchange]:
                self._subs().pop(key).close()
            t = self._topics().pop(exchange, None)
            if t is not None:
                t.close()
            try:  # handles other processes hold keep working until they close them
                shmq.unlink(fanout_topic_name(self.namespace, exchange))
            except FileNotFoundError:
                pass

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
            if self.typeof(exchange).type == "fanout":
                self._subscription(exchange, queue)
            return

        if self.typeof(exchange).type == "fanout":
            # The group first: it receives from now on, and a full group table leaves no
            # binding behind.
            self._subscription(exchange, queue)

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
        if self.typeof(exchange).type == "fanout":
            self._leave_fanout(exchange, queue)

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
        for sub in self._subs().values():
            sub.close()  # a durable group keeps what comes meanwhile; an ephemeral one goes
        self._subs().clear()
        for t in self._topics().values():
            t.close()
        self._topics().clear()


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
                    for exchange in channel.shared.fanouts_of(queue):
                        waiting.append(channel._subscription(exchange, queue))
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                raise socket.timeout()
            if not waiting:
                # Nothing to wait on (no consumer, or prefetch is full): wait for the caller.
                time.sleep(0.05 if remaining is None else min(remaining, 0.05))
                continue
            shmq.wait_any(waiting[:shmq._shmq.WAIT_ANY_MAX], timeout=remaining)


TRANSPORT_ALIASES.setdefault("shmq", "shmq.kombu:Transport")

