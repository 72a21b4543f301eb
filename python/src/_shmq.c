/*
 * shmq._shmq: the CPython binding of libshmq. The C API stays the single source of truth:
 * every operation below is one or a few calls of include/shmq.h, plus what Python needs on
 * top: seconds for timeouts, exceptions for negative errno values, the buffer protocol for
 * zero-copy access to a claimed or reserved slot, the GIL released while waiting or copying
 * large payloads, Ctrl-C during a wait, and handles that follow a fork.
 *
 * Threads: a libshmq handle belongs to one thread at a time. While a call runs without the
 * GIL the object is marked busy, and a second thread that uses it meanwhile gets a
 * RuntimeError instead of racing on the handle.
 *
 * Waiting: a blocking call waits in slices of at most SLICE_NS without the GIL; between two
 * slices (and when the wait ends with -EINTR because a signal handler ran) it checks for
 * Python signals, so Ctrl-C raises KeyboardInterrupt promptly. libshmq takes nothing when a
 * wait ends by timeout or signal, so an interrupted get/claim leaves the queue as it was.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>

#include <errno.h>
#include <pthread.h>
#include <math.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "shmq.h"

#define SLICE_NS (200 * 1000000LL)   /* a wait looks at Python's signals this often */
#define NOGIL_COPY_BYTES (64 * 1024) /* copies at least this large run without the GIL */
#define FOREVER (-1LL)

static PyObject *Empty, *Full, *CorruptQueue;

/* This process's pid, kept by a fork handler: getpid() is a system call, and every call
 * checks whether the handle it uses was opened before a fork. */
static pid_t self_pid;
static void after_fork_child(void)
{
    self_pid = getpid();
}
static inline pid_t current_pid(void)
{
    return self_pid;
}
static PyTypeObject QueueType, MessageType, TopicType, SubscriptionType;
static PyTypeObject DeliveryType;

/* ---- errors ---- */

/* Raise the exception for a negative errno value, with the library's words. */
static PyObject *raise_err(int err, const char *name)
{
    int e = err < 0 ? -err : err;
    const char *words = shmq_strerror(err);
    switch (e) {
    case EINVAL:
    case EMSGSIZE:
        if (name)
            PyErr_Format(PyExc_ValueError, "%s: %s", name, words);
        else
            PyErr_SetString(PyExc_ValueError, words);
        return NULL;
    case ENOMEM:
        return PyErr_NoMemory();
    case EBADMSG: {
        PyObject *args = Py_BuildValue("(iss)", e, words, name ? name : "");
        if (args) {
            PyErr_SetObject(CorruptQueue, args);
            Py_DECREF(args);
        }
        return NULL;
    }
    default: {
        /* OSError picks FileNotFoundError, PermissionError, FileExistsError... by errno. */
        PyObject *args =
            name ? Py_BuildValue("(iss)", e, words, name) : Py_BuildValue("(is)", e, words);
        if (args) {
            PyErr_SetObject(PyExc_OSError, args);
            Py_DECREF(args);
        }
        return NULL;
    }
    }
}

/* ---- arguments ---- */

/* None = FOREVER; a number of seconds >= 0 becomes nanoseconds. */
static int timeout_arg(PyObject *o, int64_t *ns)
{
    if (o == NULL || o == Py_None) {
        *ns = FOREVER;
        return 0;
    }
    if (!PyNumber_Check(o) || PyBool_Check(o)) {
        PyErr_Format(PyExc_TypeError, "timeout must be a number of seconds or None, not %.100s",
                     Py_TYPE(o)->tp_name);
        return -1;
    }
    double s = PyFloat_AsDouble(o);
    if (s == -1.0 && PyErr_Occurred())
        return -1;
    if (isnan(s) || s < 0) {
        PyErr_SetString(PyExc_ValueError, "timeout must be >= 0 seconds (or None to wait forever)");
        return -1;
    }
    *ns = s >= 9.2e9 ? FOREVER : (int64_t)(s * 1e9);
    return 0;
}

static int64_t now_mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* A metadata string: None or str (UTF-8) or bytes, at most SHMQ_META_STR_MAX bytes. The
 * result points into o or into a new bytes object kept in *keep. */
static int meta_arg(PyObject *o, const char *what, const char **out, PyObject **keep)
{
    *out = NULL;
    if (o == NULL || o == Py_None)
        return 0;
    Py_ssize_t n;
    const char *s;
    if (PyUnicode_Check(o)) {
        s = PyUnicode_AsUTF8AndSize(o, &n);
        if (!s)
            return -1;
    } else if (PyBytes_Check(o)) {
        s = PyBytes_AS_STRING(o);
        n = PyBytes_GET_SIZE(o);
    } else {
        PyErr_Format(PyExc_TypeError, "%s must be str, bytes or None, not %.100s", what,
                     Py_TYPE(o)->tp_name);
        return -1;
    }
    if ((size_t)n != strlen(s)) {
        PyErr_Format(PyExc_ValueError, "%s must not contain NUL characters", what);
        return -1;
    }
    if (n > SHMQ_META_STR_MAX) {
        PyErr_Format(PyExc_ValueError, "%s is %zd bytes long: at most %d", what, n,
                     SHMQ_META_STR_MAX);
        return -1;
    }
    (void)keep;
    *out = s;
    return 0;
}

/* Fill m's metadata from the keyword values. */
static int meta_fill(struct shmq_msg *m, PyObject *type, PyObject *corr, PyObject *reply,
                     PyObject *ts)
{
    if (meta_arg(type, "type", &m->type, NULL) ||
        meta_arg(corr, "correlation_id", &m->correlation_id, NULL) ||
        meta_arg(reply, "reply_to", &m->reply_to, NULL))
        return -1;
    m->timestamp_ns = 0;
    if (ts && ts != Py_None) {
        if (!PyNumber_Check(ts) || PyBool_Check(ts)) {
            PyErr_SetString(PyExc_TypeError, "timestamp must be seconds since the epoch or None");
            return -1;
        }
        double s = PyFloat_AsDouble(ts);
        if (s == -1.0 && PyErr_Occurred())
            return -1;
        if (isnan(s) || s <= 0 || s >= 9.2e9) {
            PyErr_SetString(PyExc_ValueError, "timestamp must be > 0 seconds since the epoch");
            return -1;
        }
        m->timestamp_ns = (int64_t)(s * 1e9);
    }
    return 0;
}

/* A read-only bytes-like argument. */
static int data_arg(PyObject *o, Py_buffer *view)
{
    if (PyUnicode_Check(o)) {
        PyErr_SetString(PyExc_TypeError,
                        "data must be bytes-like (bytes, bytearray, memoryview), not str: "
                        "encode it first");
        return -1;
    }
    if (PyObject_GetBuffer(o, view, PyBUF_CONTIG_RO) < 0) {
        PyErr_Format(PyExc_TypeError,
                     "data must be bytes-like (bytes, bytearray, memoryview), "
                     "not %.100s",
                     Py_TYPE(o)->tp_name);
        return -1;
    }
    return 0;
}

/* ---- waiting ---- */

/* One attempt of a blocking operation with a timeout in ns (0 = do not wait). */
typedef int (*op_fn)(void *ctx, int64_t timeout_ns);

#define INTERRUPTED INT_MIN /* a Python exception (KeyboardInterrupt...) is set */

/*
 * Run op: first with the GIL and no waiting (the fast path), then without the GIL in
 * slices until it succeeds, fails otherwise, or timeout_ns passes (-ETIMEDOUT; -EAGAIN for
 * a timeout of 0). *busy marks the object in use while the GIL is released.
 */
static int run_wait(int *busy, op_fn op, void *ctx, int64_t timeout_ns)
{
    int r = op(ctx, 0);
    if (r != -EAGAIN || timeout_ns == 0)
        return r;
    int64_t deadline = timeout_ns == FOREVER ? INT64_MAX : now_mono() + timeout_ns;
    for (;;) {
        int64_t now = now_mono();
        if (now >= deadline)
            return -ETIMEDOUT;
        int64_t slice = deadline - now < SLICE_NS ? deadline - now : SLICE_NS;
        *busy = 1;
        Py_BEGIN_ALLOW_THREADS
            r = op(ctx, slice);
        Py_END_ALLOW_THREADS
        *busy = 0;
        if (r != -ETIMEDOUT && r != -EINTR && r != -EAGAIN)
            return r;
        if (PyErr_CheckSignals() < 0)
            return INTERRUPTED;
    }
}

/* After run_wait: -1 with the exception set when r is a failure (exc, worded with `fmt` and
 * the object's name, when nothing came before the timeout), else 0. */
static int wait_failed(int r, PyObject *exc, const char *fmt, const char *name)
{
    if (r == INTERRUPTED)
        return -1;
    if (r == -EAGAIN || r == -ETIMEDOUT) {
        PyErr_Format(exc, fmt, name);
        return -1;
    }
    if (r < 0) {
        raise_err(r, name);
        return -1;
    }
    return 0;
}

/* ---- Queue ---- */

typedef struct {
    PyObject_HEAD shmq_t *q;
    pid_t pid; /* the process that opened q: a forked child opens its own */
    int busy;  /* a call runs without the GIL */
    int views; /* buffers into this handle's slots (Message.data) not yet released */
    uint32_t slot_size;
    char *scratch; /* get()'s buffer of slot_size bytes (slots up to SCRATCH_MAX), or NULL */
    char name[SHMQ_NAME_MAX + 1];
    PyObject *weakrefs;
} QueueObject;

#define SCRATCH_MAX (64 * 1024) /* larger slots: get() claims and copies once, exactly */

static int busy_check(int busy)
{
    if (busy) {
        PyErr_SetString(PyExc_RuntimeError,
                        "this handle is in use by another thread: give each thread its own "
                        "(Queue.open / Topic.open)");
        return -1;
    }
    return 0;
}

/* The handle, reopened in a forked child; NULL with an exception if closed or busy. */
static shmq_t *queue_handle(QueueObject *self)
{
    if (!self->q) {
        PyErr_Format(PyExc_ValueError, "queue %s is closed", self->name);
        return NULL;
    }
    if (busy_check(self->busy))
        return NULL;
    if (self->pid != current_pid()) {
        /* Handles do not cross fork(): the parent's stays the parent's (not closed here). */
        shmq_t *q = NULL;
        int r = shmq_open(self->name, &q);
        if (r) {
            raise_err(r, self->name);
            return NULL;
        }
        self->q = q;
        self->pid = current_pid();
    }
    return self->q;
}

static PyObject *queue_wrap(PyTypeObject *type, shmq_t *q)
{
    QueueObject *self = (QueueObject *)type->tp_alloc(type, 0);
    if (!self) {
        shmq_close(q);
        return NULL;
    }
    self->q = q;
    self->pid = current_pid();
    snprintf(self->name, sizeof self->name, "%s", shmq_name(q));
    struct shmq_stat st;
    self->slot_size = shmq_stat(q, &st) == 0 ? st.slot_size : SHMQ_DEFAULT_SLOT_SIZE;
    if (self->slot_size <= SCRATCH_MAX && !(self->scratch = PyMem_Malloc(self->slot_size))) {
        Py_DECREF(self);
        return PyErr_NoMemory();
    }
    return (PyObject *)self;
}

static int name_arg(PyObject *o, const char **name)
{
    if (!PyUnicode_Check(o)) {
        PyErr_Format(PyExc_TypeError, "name must be str, not %.100s", Py_TYPE(o)->tp_name);
        return -1;
    }
    *name = PyUnicode_AsUTF8(o);
    if (!*name)
        return -1;
    if (shmq_name_check(*name)) {
        PyErr_Format(PyExc_ValueError,
                     "invalid name %R: 1..%d characters of [A-Za-z0-9._-], not starting with '.'",
                     o, SHMQ_NAME_MAX);
        return -1;
    }
    return 0;
}

static int u32_arg(PyObject *o, const char *what, uint32_t *out)
{
    if (!o || o == Py_None)
        return 0;
    if (!PyLong_Check(o) || PyBool_Check(o)) {
        PyErr_Format(PyExc_TypeError, "%s must be an int, not %.100s", what, Py_TYPE(o)->tp_name);
        return -1;
    }
    long long v = PyLong_AsLongLong(o);
    if (v == -1 && PyErr_Occurred())
        return -1;
    if (v < 0 || v > UINT32_MAX) {
        PyErr_Format(PyExc_ValueError, "%s must be between 0 and %u", what, UINT32_MAX);
        return -1;
    }
    *out = (uint32_t)v;
    return 0;
}

PyDoc_STRVAR(
    queue_create_doc,
    "Queue.create(name, capacity=1024, slot_size=256, lifo=False, single_producer=False,\n"
    "             single_consumer=False, ttl=None, max_deliveries=0, dead_letter=None,\n"
    "             mode=0o600) -> Queue\n\n"
    "Create the queue `name` (/dev/shm/shmq.<name>) and open it. FileExistsError if it exists.\n"
    "capacity: messages it holds; slot_size: bytes per message (payload plus any metadata);\n"
    "lifo: a stack instead of a FIFO; single_producer/single_consumer: promises enforced by the\n"
    "library (both select the fastest ring); ttl: seconds after which an undelivered message\n"
    "expires; max_deliveries: deliveries before a message goes to dead_letter (a queue name) or\n"
    "is dropped; mode: permission bits of the segment.");

static PyObject *queue_create(PyTypeObject *type, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {
        "name", "capacity",       "slot_size",   "lifo", "single_producer",  "single_consumer",
        "ttl",  "max_deliveries", "dead_letter", "mode", "max_participants", NULL};
    PyObject *name_o, *cap = NULL, *slot = NULL, *ttl = NULL, *maxd = NULL, *dl = Py_None,
                      *mode = NULL, *maxp = NULL;
    int lifo = 0, sp = 0, sc = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "U|OOpppOOOOO:create", kwlist, &name_o, &cap, &slot,
                                     &lifo, &sp, &sc, &ttl, &maxd, &dl, &mode, &maxp))
        return NULL;
    const char *name;
    if (name_arg(name_o, &name))
        return NULL;
    struct shmq_config cfg = {0};
    cfg.kind = lifo ? SHMQ_LIFO : SHMQ_FIFO;
    if (u32_arg(cap, "capacity", &cfg.capacity) || u32_arg(slot, "slot_size", &cfg.slot_size) ||
        u32_arg(maxd, "max_deliveries", &cfg.max_deliveries) || u32_arg(mode, "mode", &cfg.mode) ||
        u32_arg(maxp, "max_participants", &cfg.max_participants))
        return NULL;
    if (cap && cfg.capacity == 0) {
        PyErr_SetString(PyExc_ValueError, "capacity must be at least 1");
        return NULL;
    }
    if (slot && cfg.slot_size == 0) {
        PyErr_SetString(PyExc_ValueError, "slot_size must be at least 1");
        return NULL;
    }
    cfg.flags = (sp ? SHMQ_SINGLE_PRODUCER : 0) | (sc ? SHMQ_SINGLE_CONSUMER : 0);
    if (ttl && ttl != Py_None) {
        int64_t ns;
        if (timeout_arg(ttl, &ns))
            return NULL;
        if (ns <= 0 || ns == FOREVER) {
            PyErr_SetString(PyExc_ValueError, "ttl must be a positive number of seconds or None");
            return NULL;
        }
        cfg.ttl_ns = ns;
    }
    if (dl != Py_None && name_arg(dl, &cfg.dead_letter))
        return NULL;
    shmq_t *q = NULL;
    int r;
    Py_BEGIN_ALLOW_THREADS
        r = shmq_create(name, &cfg, &q);
    Py_END_ALLOW_THREADS
    if (r)
        return raise_err(r, name);
    return queue_wrap(type, q);
}

PyDoc_STRVAR(queue_open_doc,
             "Queue.open(name) -> Queue\n\nOpen an existing queue "
             "(FileNotFoundError if there is none, PermissionError, CorruptQueue).");

static PyObject *queue_open(PyTypeObject *type, PyObject *args)
{
    PyObject *name_o;
    if (!PyArg_ParseTuple(args, "U:open", &name_o))
        return NULL;
    const char *name;
    if (name_arg(name_o, &name))
        return NULL;
    shmq_t *q = NULL;
    int r;
    Py_BEGIN_ALLOW_THREADS
        r = shmq_open(name, &q);
    Py_END_ALLOW_THREADS
    if (r)
        return raise_err(r, name);
    return queue_wrap(type, q);
}

static PyObject *queue_new(PyTypeObject *type, PyObject *args, PyObject *kw)
{
    (void)args;
    (void)kw;
    (void)type;
    PyErr_SetString(PyExc_TypeError, "use Queue.create(name, ...) or Queue.open(name)");
    return NULL;
}

static void queue_dealloc(QueueObject *self)
{
    if (self->weakrefs)
        PyObject_ClearWeakRefs((PyObject *)self);
    if (self->q && self->pid == current_pid())
        shmq_close(self->q);
    PyMem_Free(self->scratch);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

PyDoc_STRVAR(queue_close_doc,
             "close()\n\nClose the handle; a message it still holds goes back to the "
             "queue. Closing twice is harmless.");
static PyObject *queue_close(QueueObject *self, PyObject *unused)
{
    (void)unused;
    if (busy_check(self->busy))
        return NULL;
    if (self->views > 0) {
        /* Closing may unmap the segment under them: refuse rather than leave views to freed
         * memory. */
        PyErr_Format(PyExc_BufferError,
                     "queue %s: %d view(s) into claimed or reserved slots are alive: ack, nack, "
                     "commit or discard their messages (or release the views) before close()",
                     self->name, self->views);
        return NULL;
    }
    if (self->q && self->pid == current_pid())
        shmq_close(self->q);
    self->q = NULL;
    Py_RETURN_NONE;
}

/* put */
struct push_ctx {
    shmq_t *q;
    const void *data;
    size_t len;
    struct shmq_msg *m; /* with metadata, else NULL */
};
static int push_op(void *arg, int64_t timeout_ns)
{
    struct push_ctx *c = arg;
    return c->m ? shmq_push_msg(c->q, c->m, timeout_ns)
                : shmq_push(c->q, c->data, c->len, timeout_ns);
}

static PyObject *do_put(QueueObject *self, PyObject *data, int64_t timeout, PyObject *type,
                        PyObject *corr, PyObject *reply, PyObject *ts)
{
    shmq_t *q = queue_handle(self);
    if (!q)
        return NULL;
    Py_buffer view;
    if (data_arg(data, &view))
        return NULL;
    struct shmq_msg m = {0};
    if (meta_fill(&m, type, corr, reply, ts)) {
        PyBuffer_Release(&view);
        return NULL;
    }
    bool meta = m.type || m.correlation_id || m.reply_to || m.timestamp_ns;
    m.data = view.buf;
    m.len = (size_t)view.len;
    struct push_ctx c = {q, view.buf, (size_t)view.len, meta ? &m : NULL};
    int r;
    if ((size_t)view.len >= NOGIL_COPY_BYTES) {
        /* A large copy: let other threads run (the first attempt still does not wait). */
        self->busy = 1;
        Py_BEGIN_ALLOW_THREADS
            r = push_op(&c, 0);
        Py_END_ALLOW_THREADS
        self->busy = 0;
        if (r == -EAGAIN && timeout != 0)
            r = run_wait(&self->busy, push_op, &c, timeout);
    } else {
        r = run_wait(&self->busy, push_op, &c, timeout);
    }
    PyBuffer_Release(&view);
    if (wait_failed(r, Full, "queue %s is full", self->name))
        return NULL;
    Py_RETURN_NONE;
}

/* Vectorcall arguments as a tuple and a dict, for the keyword paths. */
typedef PyObject *(*kwfunc)(QueueObject *, PyObject *, PyObject *);
static PyObject *call_kw(kwfunc fn, QueueObject *self, PyObject *const *args, Py_ssize_t nargs,
                         PyObject *kwnames)
{
    PyObject *tuple = PyTuple_New(nargs), *dict = NULL, *r = NULL;
    if (!tuple)
        return NULL;
    for (Py_ssize_t i = 0; i < nargs; i++) {
        Py_INCREF(args[i]);
        PyTuple_SET_ITEM(tuple, i, args[i]);
    }
    if (kwnames) {
        if (!(dict = PyDict_New()))
            goto out;
        for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(kwnames); i++)
            if (PyDict_SetItem(dict, PyTuple_GET_ITEM(kwnames, i), args[nargs + i]) < 0)
                goto out;
    }
    r = fn(self, tuple, dict);
out:
    Py_DECREF(tuple);
    Py_XDECREF(dict);
    return r;
}

PyDoc_STRVAR(
    queue_put_doc,
    "put(data, timeout=None, *, type=None, correlation_id=None, reply_to=None, timestamp=None)\n\n"
    "Copy one message (bytes-like) in. Waits for room up to timeout seconds (None = forever) and\n"
    "raises shmq.Full then. The metadata travel with the message (str of at most 255 bytes;\n"
    "timestamp in seconds since the epoch). ValueError when the message does not fit a slot.");
static PyObject *queue_put_kw(QueueObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"data",     "timeout",   "type", "correlation_id",
                             "reply_to", "timestamp", NULL};
    PyObject *data, *to = Py_None, *type = NULL, *corr = NULL, *reply = NULL, *ts = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O|O$OOOO:put", kwlist, &data, &to, &type, &corr,
                                     &reply, &ts))
        return NULL;
    int64_t timeout;
    if (timeout_arg(to, &timeout))
        return NULL;
    return do_put(self, data, timeout, type, corr, reply, ts);
}

PyDoc_STRVAR(queue_put_nowait_doc, "put_nowait(data, **metadata)\n\nput(data, timeout=0): "
                                   "shmq.Full at once if the queue is full.");
static PyObject *queue_put_nowait_kw(QueueObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"data", "type", "correlation_id", "reply_to", "timestamp", NULL};
    PyObject *data, *type = NULL, *corr = NULL, *reply = NULL, *ts = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O|$OOOO:put_nowait", kwlist, &data, &type, &corr,
                                     &reply, &ts))
        return NULL;
    return do_put(self, data, 0, type, corr, reply, ts);
}

/* get: claim, copy into a bytes object of the exact size, ack. */
struct claim_ctx {
    shmq_t *q;
    struct shmq_msg *m;
};
static int claim_op(void *arg, int64_t timeout_ns)
{
    struct claim_ctx *c = arg;
    return shmq_claim(c->q, c->m, timeout_ns);
}

/* Copy a claimed message out and ack it; NULL with an exception (the message is nacked). */
static PyObject *copy_and_ack(QueueObject *self, shmq_t *q, struct shmq_msg *m)
{
    PyObject *b = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)m->len);
    if (!b) {
        shmq_nack(q, m);
        return NULL;
    }
    if (m->len >= NOGIL_COPY_BYTES) {
        self->busy = 1;
        Py_BEGIN_ALLOW_THREADS
            memcpy(PyBytes_AS_STRING(b), m->data, m->len);
        Py_END_ALLOW_THREADS
        self->busy = 0;
    } else {
        memcpy(PyBytes_AS_STRING(b), m->data, m->len);
    }
    int r = shmq_ack(q, m);
    if (r) {
        Py_DECREF(b);
        return raise_err(r, self->name);
    }
    return b;
}

struct pop_ctx {
    shmq_t *q;
    char *buf;
    size_t cap;
};
static int pop_op(void *arg, int64_t timeout_ns)
{
    struct pop_ctx *c = arg;
    ssize_t r = shmq_pop(c->q, c->buf, c->cap, timeout_ns);
    return r > INT_MAX ? -EMSGSIZE : (int)r;
}

static PyObject *do_get(QueueObject *self, int64_t timeout)
{
    shmq_t *q = queue_handle(self);
    if (!q)
        return NULL;
    if (self->scratch) {
        /* A small slot: pop into the handle's buffer (every message fits), then copy. */
        struct pop_ctx pc = {q, self->scratch, self->slot_size};
        int r = run_wait(&self->busy, pop_op, &pc, timeout);
        if (wait_failed(r, Empty, "queue %s is empty", self->name))
            return NULL;
        return PyBytes_FromStringAndSize(self->scratch, r);
    }
    struct shmq_msg m;
    struct claim_ctx c = {q, &m};
    int r = run_wait(&self->busy, claim_op, &c, timeout);
    if (wait_failed(r, Empty, "queue %s is empty", self->name))
        return NULL;
    return copy_and_ack(self, q, &m);
}

PyDoc_STRVAR(queue_get_doc, "get(timeout=None) -> bytes\n\nTake the next message (its payload; "
                            "use claim() for the metadata). Waits up to timeout seconds\n(None = "
                            "forever) and raises shmq.Empty then. At-most-once once it returns.");
static PyObject *queue_get_kw(QueueObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"timeout", NULL};
    PyObject *to = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|O:get", kwlist, &to))
        return NULL;
    int64_t timeout;
    if (timeout_arg(to, &timeout))
        return NULL;
    return do_get(self, timeout);
}

PyDoc_STRVAR(queue_get_nowait_doc, "get_nowait() -> bytes\n\nget(timeout=0): shmq.Empty at once "
                                   "if the queue is empty.");
static PyObject *queue_get_nowait(QueueObject *self, PyObject *unused)
{
    (void)unused;
    return do_get(self, 0);
}

PyDoc_STRVAR(
    queue_put_many_doc,
    "put_many(items, timeout=None) -> int\n\nPut every bytes-like item of the iterable in order,\n"
    "waiting for room up to timeout seconds for each. Returns how many were put; if the\n"
    "timeout passes first, raises shmq.Full whose .count says how many went in.");
static PyObject *queue_put_many(QueueObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"items", "timeout", NULL};
    PyObject *items, *to = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O|O:put_many", kwlist, &items, &to))
        return NULL;
    int64_t timeout;
    if (timeout_arg(to, &timeout))
        return NULL;
    PyObject *seq = PySequence_Fast(items, "put_many needs an iterable of bytes-like items");
    if (!seq)
        return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq), done = 0;
    PyObject *res = NULL;
    enum { BATCH = 64 };
    Py_buffer views[BATCH];
    struct iovec iov[BATCH];
    while (done < n) {
        shmq_t *q = queue_handle(self);
        if (!q)
            goto out;
        unsigned k = 0;
        for (; k < BATCH && done + k < n; k++) {
            if (data_arg(PySequence_Fast_GET_ITEM(seq, done + k), &views[k])) {
                for (unsigned j = 0; j < k; j++)
                    PyBuffer_Release(&views[j]);
                goto out;
            }
            iov[k].iov_base = views[k].buf;
            iov[k].iov_len = (size_t)views[k].len;
        }
        int r = shmq_push_batch(q, iov, k, 0);
        if (r == -EAGAIN && timeout != 0) {
            struct push_ctx c = {q, iov[0].iov_base, iov[0].iov_len, NULL};
            r = run_wait(&self->busy, push_op, &c, timeout);
            if (r == 0)
                r = 1;
        }
        for (unsigned j = 0; j < k; j++)
            PyBuffer_Release(&views[j]);
        if (r == INTERRUPTED)
            goto out;
        if (r == -EAGAIN || r == -ETIMEDOUT) {
            PyObject *e = PyObject_CallFunction(Full, "s", "queue is full");
            if (e) {
                PyObject *cnt = PyLong_FromSsize_t(done);
                if (cnt) {
                    PyObject_SetAttrString(e, "count", cnt);
                    Py_DECREF(cnt);
                }
                PyErr_SetObject(Full, e);
                Py_DECREF(e);
            }
            goto out;
        }
        if (r < 0) {
            raise_err(r, self->name);
            goto out;
        }
        done += r;
    }
    res = PyLong_FromSsize_t(done);
out:
    Py_DECREF(seq);
    return res;
}

PyDoc_STRVAR(
    queue_get_many_doc,
    "get_many(max, timeout=None) -> list[bytes]\n\nTake up to max messages: waits up to timeout\n"
    "seconds for the first (shmq.Empty then), then takes what is ready without waiting.");
static PyObject *queue_get_many(QueueObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"max", "timeout", NULL};
    Py_ssize_t max;
    PyObject *to = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "n|O:get_many", kwlist, &max, &to))
        return NULL;
    if (max < 1) {
        PyErr_SetString(PyExc_ValueError, "max must be at least 1");
        return NULL;
    }
    int64_t timeout;
    if (timeout_arg(to, &timeout))
        return NULL;
    PyObject *first = do_get(self, timeout);
    if (!first)
        return NULL;
    PyObject *list = PyList_New(1);
    if (!list) {
        Py_DECREF(first);
        return NULL;
    }
    PyList_SET_ITEM(list, 0, first);
    for (Py_ssize_t i = 1; i < max; i++) {
        struct shmq_msg m;
        int r = shmq_claim(self->q, &m, 0);
        if (r == -EAGAIN)
            break;
        if (r < 0) {
            Py_DECREF(list);
            return raise_err(r, self->name);
        }
        PyObject *b = copy_and_ack(self, self->q, &m);
        if (!b || PyList_Append(list, b) < 0) {
            Py_XDECREF(b);
            Py_DECREF(list);
            return NULL;
        }
        Py_DECREF(b);
    }
    return list;
}

/* ---- Message: a claimed or reserved slot ---- */

enum { MSG_CLAIMED = 1, MSG_RESERVED = 2 };

typedef struct {
    PyObject_HEAD QueueObject *queue;
    struct shmq_msg m;
    pid_t pid;
    int kind;       /* MSG_CLAIMED or MSG_RESERVED */
    int done;       /* acked, nacked, committed or discarded */
    int exports;    /* buffers handed out and not released */
    PyObject *view; /* a weak reference to the memoryview .data returns */
    PyObject *type, *correlation_id, *reply_to; /* copies of the metadata (claimed) */
    size_t cap;                                 /* reserved: bytes asked for */
} MessageObject;

static PyObject *opt_str(const char *s)
{
    if (!s)
        Py_RETURN_NONE;
    return PyUnicode_DecodeUTF8(s, (Py_ssize_t)strlen(s), "surrogateescape");
}

static PyObject *message_wrap(QueueObject *queue, const struct shmq_msg *m, int kind, size_t cap)
{
    MessageObject *self = PyObject_New(MessageObject, &MessageType);
    if (!self)
        return NULL;
    Py_INCREF(queue);
    self->queue = queue;
    self->m = *m;
    self->pid = current_pid();
    self->kind = kind;
    self->done = 0;
    self->exports = 0;
    self->view = NULL;
    self->cap = cap;
    self->type = self->correlation_id = self->reply_to = NULL;
    if (kind == MSG_CLAIMED) {
        if (!(self->type = opt_str(m->type)) ||
            !(self->correlation_id = opt_str(m->correlation_id)) ||
            !(self->reply_to = opt_str(m->reply_to))) {
            Py_DECREF(self);
            return NULL;
        }
    }
    return (PyObject *)self;
}

/* Release the memoryview .data gave out; -1 (BufferError) if views of it remain. */
static int message_release_views(MessageObject *self)
{
    if (self->view) {
        PyObject *v = PyWeakref_GetObject(self->view); /* borrowed; None once it is gone */
        if (v != Py_None) {
            PyObject *r = PyObject_CallMethod(v, "release", NULL);
            if (!r)
                return -1;
            Py_DECREF(r);
        }
        Py_CLEAR(self->view);
    }
    if (self->exports > 0) {
        PyErr_Format(PyExc_BufferError,
                     "the message's data is still referenced by %d buffer(s) (slices or "
                     "memoryviews of .data): release them, or copy with bytes(), first",
                     self->exports);
        return -1;
    }
    return 0;
}

static int message_usable(MessageObject *self, int kind, const char *what)
{
    if (self->done) {
        PyErr_Format(PyExc_ValueError, "%s: the message was already %s", what,
                     self->kind == MSG_CLAIMED ? "acked or nacked" : "committed or discarded");
        return -1;
    }
    if (kind && self->kind != kind) {
        PyErr_Format(PyExc_TypeError, "%s: not for a %s message", what,
                     self->kind == MSG_CLAIMED ? "claimed" : "reserved");
        return -1;
    }
    if (self->pid != current_pid()) {
        PyErr_SetString(PyExc_RuntimeError, "a claimed or reserved message does not cross fork()");
        return -1;
    }
    if (!self->queue->q || self->queue->pid != self->pid) {
        PyErr_SetString(PyExc_ValueError, "the queue handle of this message was closed");
        return -1;
    }
    return busy_check(self->queue->busy);
}

static void message_dealloc(MessageObject *self)
{
    /* Never acked: give it back (as the library does when a handle closes). */
    if (!self->done && self->pid == current_pid() && self->queue->q &&
        self->queue->pid == self->pid && !self->queue->busy) {
        if (self->kind == MSG_CLAIMED)
            shmq_nack(self->queue->q, &self->m);
        else
            shmq_discard(self->queue->q, &self->m);
    }
    Py_XDECREF(self->view);
    Py_XDECREF(self->type);
    Py_XDECREF(self->correlation_id);
    Py_XDECREF(self->reply_to);
    Py_DECREF(self->queue);
    PyObject_Free(self);
}

static int message_getbuffer(MessageObject *self, Py_buffer *view, int flags)
{
    if (self->done) {
        PyErr_SetString(PyExc_ValueError, "the message was acked (or nacked): its data is gone; "
                                          "copy it with bytes(msg.data) before ack");
        view->obj = NULL;
        return -1;
    }
    if (self->pid != current_pid()) {
        PyErr_SetString(PyExc_RuntimeError, "a claimed message does not cross fork()");
        view->obj = NULL;
        return -1;
    }
    size_t len = self->kind == MSG_CLAIMED ? self->m.len : self->cap;
    int ro = self->kind == MSG_CLAIMED;
    if (PyBuffer_FillInfo(view, (PyObject *)self, self->m.data, (Py_ssize_t)len, ro, flags) < 0)
        return -1;
    self->exports++;
    self->queue->views++;
    return 0;
}

static void message_releasebuffer(MessageObject *self, Py_buffer *view)
{
    (void)view;
    self->exports--;
    self->queue->views--;
}

static PyBufferProcs message_as_buffer = {(getbufferproc)message_getbuffer,
                                          (releasebufferproc)message_releasebuffer};

static PyObject *message_data(MessageObject *self, void *closure)
{
    (void)closure;
    if (self->done) {
        PyErr_SetString(PyExc_ValueError, "the message was acked (or nacked): its data is gone; "
                                          "copy it with bytes(msg.data) before ack");
        return NULL;
    }
    /* The same memoryview while it lives, so that ack() can release the one the caller holds.
     * Only a weak reference is kept: a strong one would be a cycle (the view holds the
     * message), and a message dropped without ack would then never be given back. */
    if (self->view) {
        PyObject *v = PyWeakref_GetObject(self->view);
        if (v != Py_None) {
            Py_INCREF(v);
            return v;
        }
        Py_CLEAR(self->view);
    }
    PyObject *v = PyMemoryView_FromObject((PyObject *)self);
    if (!v)
        return NULL;
    if (!(self->view = PyWeakref_NewRef(v, NULL))) {
        Py_DECREF(v);
        return NULL;
    }
    return v;
}

static PyObject *message_finish(MessageObject *self, int ack, int64_t delay)
{
    if (message_usable(self, MSG_CLAIMED, ack ? "ack" : "nack") || message_release_views(self))
        return NULL;
    int r = ack         ? shmq_ack(self->queue->q, &self->m)
            : delay > 0 ? shmq_nack_delayed(self->queue->q, &self->m, delay)
                        : shmq_nack(self->queue->q, &self->m);
    if (r)
        return raise_err(r, self->queue->name);
    self->done = 1;
    Py_RETURN_NONE;
}

PyDoc_STRVAR(message_ack_doc, "ack()\n\nFinish the message: its slot is free again and .data is "
                              "released (BufferError if views\nof it are still held).");
static PyObject *message_ack(MessageObject *self, PyObject *unused)
{
    (void)unused;
    return message_finish(self, 1, 0);
}

PyDoc_STRVAR(message_nack_doc, "nack(delay=None)\n\nGive the message back to the queue "
                               "(delivered again, deliveries + 1), after delay seconds\nif given.");
static PyObject *message_nack(MessageObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"delay", NULL};
    PyObject *d = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|O:nack", kwlist, &d))
        return NULL;
    int64_t delay = 0;
    if (d != Py_None && timeout_arg(d, &delay))
        return NULL;
    if (delay == FOREVER) {
        PyErr_SetString(PyExc_ValueError, "delay is too large");
        return NULL;
    }
    return message_finish(self, 0, delay);
}

PyDoc_STRVAR(
    message_commit_doc,
    "commit(length=None, *, type=None, correlation_id=None, reply_to=None, timestamp=None)\n\n"
    "Publish a reserved message of `length` bytes (default: the size reserved).");
static PyObject *message_commit(MessageObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"length", "type", "correlation_id", "reply_to", "timestamp", NULL};
    PyObject *len_o = Py_None, *type = NULL, *corr = NULL, *reply = NULL, *ts = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|O$OOOO:commit", kwlist, &len_o, &type, &corr,
                                     &reply, &ts))
        return NULL;
    if (message_usable(self, MSG_RESERVED, "commit"))
        return NULL;
    size_t len = self->cap;
    if (len_o != Py_None) {
        Py_ssize_t l = PyNumber_AsSsize_t(len_o, PyExc_OverflowError);
        if (l == -1 && PyErr_Occurred())
            return NULL;
        if (l < 0 || (size_t)l > self->cap) {
            PyErr_Format(PyExc_ValueError, "length must be between 0 and the %zu bytes reserved",
                         self->cap);
            return NULL;
        }
        len = (size_t)l;
    }
    struct shmq_msg m = self->m;
    if (meta_fill(&m, type, corr, reply, ts))
        return NULL;
    if (message_release_views(self))
        return NULL;
    m.len = len;
    int r = shmq_commit(self->queue->q, &m);
    if (r)
        return raise_err(r, self->queue->name);
    self->m = m;
    self->done = 1;
    Py_RETURN_NONE;
}

PyDoc_STRVAR(message_discard_doc, "discard()\n\nGive a reserved slot back unused.");
static PyObject *message_discard(MessageObject *self, PyObject *unused)
{
    (void)unused;
    if (message_usable(self, MSG_RESERVED, "discard") || message_release_views(self))
        return NULL;
    int r = shmq_discard(self->queue->q, &self->m);
    if (r)
        return raise_err(r, self->queue->name);
    self->done = 1;
    Py_RETURN_NONE;
}

static PyObject *message_enter(MessageObject *self, PyObject *unused)
{
    (void)unused;
    Py_INCREF(self);
    return (PyObject *)self;
}

/* Claimed: ack on success, nack on an exception. Reserved: commit / discard. */
static PyObject *message_exit(MessageObject *self, PyObject *args)
{
    PyObject *et, *ev, *tb;
    if (!PyArg_ParseTuple(args, "OOO", &et, &ev, &tb))
        return NULL;
    if (self->done)
        Py_RETURN_FALSE;
    PyObject *r;
    if (self->kind == MSG_CLAIMED)
        r = et == Py_None ? message_finish(self, 1, 0) : message_finish(self, 0, 0);
    else {
        if (et == Py_None) {
            PyObject *none = PyTuple_New(0);
            r = none ? message_commit(self, none, NULL) : NULL;
            Py_XDECREF(none);
        } else {
            r = message_discard(self, NULL);
        }
    }
    if (!r)
        return NULL;
    Py_DECREF(r);
    Py_RETURN_FALSE;
}

static PyObject *message_get_id(MessageObject *self, void *c)
{
    (void)c;
    return PyLong_FromUnsignedLongLong(self->m.id);
}
static PyObject *message_get_deliveries(MessageObject *self, void *c)
{
    (void)c;
    return PyLong_FromUnsignedLong(self->m.deliveries);
}
static PyObject *message_get_timestamp(MessageObject *self, void *c)
{
    (void)c;
    if (self->kind != MSG_CLAIMED || self->m.timestamp_ns == 0)
        Py_RETURN_NONE;
    return PyFloat_FromDouble((double)self->m.timestamp_ns / 1e9);
}
static PyObject *message_get_len(MessageObject *self, void *c)
{
    (void)c;
    return PyLong_FromSize_t(self->kind == MSG_CLAIMED ? self->m.len : self->cap);
}
static PyObject *message_get_done(MessageObject *self, void *c)
{
    (void)c;
    return PyBool_FromLong(self->done);
}

static Py_ssize_t message_length(MessageObject *self)
{
    return (Py_ssize_t)(self->kind == MSG_CLAIMED ? self->m.len : self->cap);
}
static PySequenceMethods message_as_sequence = {.sq_length = (lenfunc)message_length};

static PyObject *message_repr(MessageObject *self)
{
    return PyUnicode_FromFormat("<shmq.Message %s id=%llu len=%zu deliveries=%u%s>",
                                self->kind == MSG_CLAIMED ? "claimed" : "reserved",
                                (unsigned long long)self->m.id,
                                self->kind == MSG_CLAIMED ? self->m.len : self->cap,
                                self->m.deliveries, self->done ? " finished" : "");
}

static PyMethodDef message_methods[] = {
    {"ack", (PyCFunction)message_ack, METH_NOARGS, message_ack_doc},
    {"nack", (PyCFunction)(void (*)(void))message_nack, METH_VARARGS | METH_KEYWORDS,
     message_nack_doc},
    {"commit", (PyCFunction)(void (*)(void))message_commit, METH_VARARGS | METH_KEYWORDS,
     message_commit_doc},
    {"discard", (PyCFunction)message_discard, METH_NOARGS, message_discard_doc},
    {"__enter__", (PyCFunction)message_enter, METH_NOARGS, NULL},
    {"__exit__", (PyCFunction)message_exit, METH_VARARGS, NULL},
    {NULL, NULL, 0, NULL}};

static PyMemberDef message_members[] = {
    {"type", T_OBJECT, offsetof(MessageObject, type), READONLY,
     "application message type, or None"},
    {"correlation_id", T_OBJECT, offsetof(MessageObject, correlation_id), READONLY,
     "request/reply correlation id, or None"},
    {"reply_to", T_OBJECT, offsetof(MessageObject, reply_to), READONLY,
     "name of the queue to answer on, or None"},
    {"queue", T_OBJECT, offsetof(MessageObject, queue), READONLY, "the Queue it came from"},
    {NULL, 0, 0, 0, NULL}};

static PyGetSetDef message_getset[] = {
    {"data", (getter)message_data, NULL,
     "memoryview of the payload in the slot (writable for a reservation); released by "
     "ack/nack/commit/discard",
     NULL},
    {"id", (getter)message_get_id, NULL, "the message's id in the queue", NULL},
    {"deliveries", (getter)message_get_deliveries, NULL,
     "1 on the first delivery, +1 on each redelivery", NULL},
    {"timestamp", (getter)message_get_timestamp, NULL,
     "producer's time (seconds since the epoch) or None", NULL},
    {"len", (getter)message_get_len, NULL, "payload bytes", NULL},
    {"finished", (getter)message_get_done, NULL, "True after ack/nack/commit/discard", NULL},
    {NULL, NULL, NULL, NULL, NULL}};

static PyTypeObject MessageType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "shmq.Message",
    .tp_basicsize = sizeof(MessageObject),
    .tp_dealloc = (destructor)message_dealloc,
    .tp_repr = (reprfunc)message_repr,
    .tp_as_buffer = &message_as_buffer,
    .tp_as_sequence = &message_as_sequence,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc =
        "A claimed message (Queue.claim) or a reserved slot (Queue.reserve).\n\n"
        "Claimed: .data is a read-only memoryview into the slot, valid until ack() or nack();\n"
        "metadata as attributes. `with q.claim() as m:` acks on success, nacks on an exception.\n"
        "Reserved: .data is writable; commit() publishes, discard() gives the slot back.\n"
        "A message dropped without either is given back (nack / discard).",
    .tp_methods = message_methods,
    .tp_members = message_members,
    .tp_getset = message_getset,
};

PyDoc_STRVAR(
    queue_claim_doc,
    "claim(timeout=None) -> Message\n\nTake the next message without copying it: .data is a\n"
    "memoryview into the slot until ack() or nack(). If this process dies first, the message is\n"
    "delivered again. shmq.Empty after timeout seconds (None = forever).");
static PyObject *queue_claim(QueueObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"timeout", NULL};
    PyObject *to = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|O:claim", kwlist, &to))
        return NULL;
    int64_t timeout;
    if (timeout_arg(to, &timeout))
        return NULL;
    shmq_t *q = queue_handle(self);
    if (!q)
        return NULL;
    struct shmq_msg m;
    struct claim_ctx c = {q, &m};
    int r = run_wait(&self->busy, claim_op, &c, timeout);
    if (wait_failed(r, Empty, "queue %s is empty", self->name))
        return NULL;
    PyObject *msg = message_wrap(self, &m, MSG_CLAIMED, 0);
    if (!msg)
        shmq_nack(q, &m);
    return msg;
}

struct reserve_ctx {
    shmq_t *q;
    size_t len;
    struct shmq_msg *m;
};
static int reserve_op(void *arg, int64_t timeout_ns)
{
    struct reserve_ctx *c = arg;
    return shmq_reserve(c->q, c->len, c->m, timeout_ns);
}

PyDoc_STRVAR(
    queue_reserve_doc,
    "reserve(size, timeout=None) -> Message\n\nTake a free slot for a message of up to size "
    "bytes:\n"
    "fill .data (a writable memoryview), then commit() or discard(). shmq.Full after timeout.");
static PyObject *queue_reserve(QueueObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"size", "timeout", NULL};
    Py_ssize_t size;
    PyObject *to = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "n|O:reserve", kwlist, &size, &to))
        return NULL;
    if (size < 0) {
        PyErr_SetString(PyExc_ValueError, "size must be >= 0");
        return NULL;
    }
    int64_t timeout;
    if (timeout_arg(to, &timeout))
        return NULL;
    shmq_t *q = queue_handle(self);
    if (!q)
        return NULL;
    struct shmq_msg m;
    struct reserve_ctx c = {q, (size_t)size, &m};
    int r = run_wait(&self->busy, reserve_op, &c, timeout);
    if (wait_failed(r, Full, "queue %s is full", self->name))
        return NULL;
    PyObject *msg = message_wrap(self, &m, MSG_RESERVED, (size_t)size);
    if (!msg)
        shmq_discard(q, &m);
    return msg;
}

/* call / reply */
struct call_ctx {
    shmq_t *q;
    const void *req;
    size_t len;
    void *buf;
    size_t cap;
};
static int call_op(void *arg, int64_t timeout_ns)
{
    struct call_ctx *c = arg;
    ssize_t r = shmq_call(c->q, c->req, c->len, c->buf, c->cap, timeout_ns);
    return r > INT_MAX ? -EMSGSIZE : (int)r;
}

PyDoc_STRVAR(
    queue_call_doc,
    "call(data, timeout=None, max_reply=65536) -> bytes\n\nRequest-reply: send data with a fresh\n"
    "correlation id and this thread's reply queue, and wait for the answer (TimeoutError after\n"
    "timeout seconds; None = forever). The server answers with reply(msg, data).");
static PyObject *queue_call(QueueObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"data", "timeout", "max_reply", NULL};
    PyObject *data, *to = Py_None;
    Py_ssize_t maxr = 65536;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O|On:call", kwlist, &data, &to, &maxr))
        return NULL;
    int64_t timeout;
    if (timeout_arg(to, &timeout))
        return NULL;
    if (maxr < 0) {
        PyErr_SetString(PyExc_ValueError, "max_reply must be >= 0");
        return NULL;
    }
    shmq_t *q = queue_handle(self);
    if (!q)
        return NULL;
    Py_buffer view;
    if (data_arg(data, &view))
        return NULL;
    PyObject *b = PyBytes_FromStringAndSize(NULL, maxr);
    if (!b) {
        PyBuffer_Release(&view);
        return NULL;
    }
    /* shmq_call sends its request once: wait for the reply in one call without the GIL. */
    struct call_ctx c = {q, view.buf, (size_t)view.len, PyBytes_AS_STRING(b), (size_t)maxr};
    int r;
    self->busy = 1;
    Py_BEGIN_ALLOW_THREADS
        r = call_op(&c, timeout == FOREVER ? SHMQ_FOREVER : timeout);
    Py_END_ALLOW_THREADS
    self->busy = 0;
    PyBuffer_Release(&view);
    if (r == -EINTR) {
        Py_DECREF(b);
        if (PyErr_CheckSignals() < 0)
            return NULL;
        return raise_err(r, self->name);
    }
    if (r == -ETIMEDOUT || r == -EAGAIN) {
        Py_DECREF(b);
        PyErr_Format(PyExc_TimeoutError, "no reply on queue %s within the timeout", self->name);
        return NULL;
    }
    if (r < 0) {
        Py_DECREF(b);
        return raise_err(r, self->name);
    }
    if (_PyBytes_Resize(&b, r) < 0)
        return NULL;
    return b;
}

PyDoc_STRVAR(queue_reply_doc, "reply(msg, data)\n\nAnswer a request claimed from this queue: push "
                              "data to its reply-to queue with its\ncorrelation id. ValueError if "
                              "it has no reply-to. Does not ack msg.");
static PyObject *queue_reply(QueueObject *self, PyObject *args)
{
    PyObject *msg_o, *data;
    if (!PyArg_ParseTuple(args, "O!O:reply", &MessageType, &msg_o, &data))
        return NULL;
    MessageObject *msg = (MessageObject *)msg_o;
    if (message_usable(msg, MSG_CLAIMED, "reply"))
        return NULL;
    shmq_t *q = queue_handle(self);
    if (!q)
        return NULL;
    Py_buffer view;
    if (data_arg(data, &view))
        return NULL;
    int r = shmq_reply(q, &msg->m, view.buf, (size_t)view.len);
    PyBuffer_Release(&view);
    if (r)
        return raise_err(r, self->name);
    Py_RETURN_NONE;
}

#define STAT_U(f)                                                                                  \
    PyDict_SetItemString(d, #f, o = PyLong_FromUnsignedLongLong((unsigned long long)st.f)),        \
        Py_XDECREF(o)
#define STAT_S(f)                                                                                  \
    PyDict_SetItemString(d, #f, o = PyLong_FromLongLong((long long)st.f)), Py_XDECREF(o)

PyDoc_STRVAR(queue_stat_dict_doc, "_stat() -> dict\n\nThe counters of shmq_stat (see stat()).");
static PyObject *queue_stat_dict(QueueObject *self, PyObject *unused)
{
    (void)unused;
    shmq_t *q = queue_handle(self);
    if (!q)
        return NULL;
    struct shmq_stat st;
    int r = shmq_stat(q, &st);
    if (r)
        return raise_err(r, self->name);
    PyObject *d = PyDict_New(), *o;
    if (!d)
        return NULL;
    PyDict_SetItemString(d, "name", o = PyUnicode_FromString(self->name));
    Py_XDECREF(o);
    PyDict_SetItemString(d, "lifo", st.kind == SHMQ_LIFO ? Py_True : Py_False);
    STAT_U(flags);
    STAT_U(capacity);
    STAT_U(slot_size);
    STAT_U(mode);
    STAT_U(max_participants);
    STAT_U(segment_bytes);
    STAT_U(depth);
    STAT_U(in_flight);
    STAT_U(pushed);
    STAT_U(popped);
    STAT_U(acked);
    STAT_U(nacked);
    STAT_U(full);
    STAT_U(empty);
    STAT_U(waits);
    STAT_U(wakeups);
    STAT_U(participants);
    STAT_U(producers);
    STAT_U(consumers);
    STAT_S(creator_pid);
    STAT_U(owner_uid);
    STAT_U(max_deliveries);
    STAT_U(redelivered);
    STAT_U(expired);
    STAT_U(dead_lettered);
    STAT_U(dropped);
    STAT_U(recovered);
    STAT_U(dead);
    PyDict_SetItemString(d, "created", o = PyFloat_FromDouble((double)st.created_ns / 1e9));
    Py_XDECREF(o);
    if (st.ttl_ns)
        o = PyFloat_FromDouble((double)st.ttl_ns / 1e9);
    else
        Py_INCREF(o = Py_None);
    PyDict_SetItemString(d, "ttl", o);
    Py_XDECREF(o);
    if (st.dead_letter[0])
        o = PyUnicode_FromString(st.dead_letter);
    else
        Py_INCREF(o = Py_None);
    PyDict_SetItemString(d, "dead_letter", o);
    Py_XDECREF(o);
    if (PyErr_Occurred()) {
        Py_DECREF(d);
        return NULL;
    }
    return d;
}

PyDoc_STRVAR(queue_qsize_doc, "qsize() -> int\n\nMessages ready to be consumed (exact when "
                              "quiescent).");
static PyObject *queue_qsize(QueueObject *self, PyObject *unused)
{
    (void)unused;
    shmq_t *q = queue_handle(self);
    if (!q)
        return NULL;
    struct shmq_stat st;
    int r = shmq_stat(q, &st);
    if (r)
        return raise_err(r, self->name);
    return PyLong_FromUnsignedLongLong(st.depth);
}

PyDoc_STRVAR(queue_purge_doc, "purge() -> int\n\nDrop every ready message; returns how many.");
static PyObject *queue_purge(QueueObject *self, PyObject *unused)
{
    (void)unused;
    shmq_t *q = queue_handle(self);
    if (!q)
        return NULL;
    int r = shmq_purge(q);
    if (r < 0)
        return raise_err(r, self->name);
    return PyLong_FromLong(r);
}

PyDoc_STRVAR(queue_repair_doc, "repair() -> dict\n\nGive back now everything dead processes "
                               "held (claims, reservations, orphans).");
static PyObject *queue_repair(QueueObject *self, PyObject *unused)
{
    (void)unused;
    shmq_t *q = queue_handle(self);
    if (!q)
        return NULL;
    struct shmq_repair_report rep;
    int r = shmq_repair(q, &rep);
    if (r < 0)
        return raise_err(r, self->name);
    return Py_BuildValue("{sIsIsIsIsI}", "dead_participants", rep.dead_participants,
                         "claims_returned", rep.claims_returned, "reservations_freed",
                         rep.reservations_freed, "orphans_restored", rep.orphans_restored,
                         "dead_lettered", rep.dead_lettered);
}

static PyObject *queue_get_name(QueueObject *self, void *c)
{
    (void)c;
    return PyUnicode_FromString(self->name);
}
static PyObject *queue_get_slot_size(QueueObject *self, void *c)
{
    (void)c;
    return PyLong_FromUnsignedLong(self->slot_size);
}
static PyObject *queue_get_closed(QueueObject *self, void *c)
{
    (void)c;
    return PyBool_FromLong(self->q == NULL);
}

static PyObject *queue_reduce(QueueObject *self, PyObject *unused)
{
    (void)unused;
    /* Pickled (multiprocessing spawn, a Pool's arguments): the other side opens by name. */
    PyObject *open = PyObject_GetAttrString((PyObject *)Py_TYPE(self), "open");
    if (!open)
        return NULL;
    PyObject *r = Py_BuildValue("(N(s))", open, self->name);
    return r;
}

static PyObject *queue_enter(PyObject *self, PyObject *unused)
{
    (void)unused;
    Py_INCREF(self);
    return self;
}
static PyObject *queue_exit(QueueObject *self, PyObject *args)
{
    (void)args;
    PyObject *r = queue_close(self, NULL);
    if (!r)
        return NULL;
    Py_DECREF(r);
    Py_RETURN_FALSE;
}

static PyObject *queue_repr(QueueObject *self)
{
    return PyUnicode_FromFormat("<shmq.Queue %s%s>", self->name, self->q ? "" : " closed");
}

/* The common calls without keywords take a fast path; the rest parse as usual. */
static PyObject *queue_put(QueueObject *self, PyObject *const *args, Py_ssize_t nargs,
                           PyObject *kwnames)
{
    if (kwnames || nargs < 1 || nargs > 2)
        return call_kw(queue_put_kw, self, args, nargs, kwnames);
    int64_t timeout;
    if (timeout_arg(nargs == 2 ? args[1] : NULL, &timeout))
        return NULL;
    return do_put(self, args[0], timeout, NULL, NULL, NULL, NULL);
}
static PyObject *queue_put_nowait(QueueObject *self, PyObject *const *args, Py_ssize_t nargs,
                                  PyObject *kwnames)
{
    if (kwnames || nargs != 1)
        return call_kw(queue_put_nowait_kw, self, args, nargs, kwnames);
    return do_put(self, args[0], 0, NULL, NULL, NULL, NULL);
}
static PyObject *queue_get(QueueObject *self, PyObject *const *args, Py_ssize_t nargs,
                           PyObject *kwnames)
{
    if (kwnames || nargs > 1)
        return call_kw(queue_get_kw, self, args, nargs, kwnames);
    int64_t timeout;
    if (timeout_arg(nargs == 1 ? args[0] : NULL, &timeout))
        return NULL;
    return do_get(self, timeout);
}

static PyMethodDef queue_methods[] = {
    {"create", (PyCFunction)(void (*)(void))queue_create, METH_CLASS | METH_VARARGS | METH_KEYWORDS,
     queue_create_doc},
    {"open", (PyCFunction)queue_open, METH_CLASS | METH_VARARGS, queue_open_doc},
    {"put", (PyCFunction)(void (*)(void))queue_put, METH_FASTCALL | METH_KEYWORDS, queue_put_doc},
    {"put_nowait", (PyCFunction)(void (*)(void))queue_put_nowait, METH_FASTCALL | METH_KEYWORDS,
     queue_put_nowait_doc},
    {"get", (PyCFunction)(void (*)(void))queue_get, METH_FASTCALL | METH_KEYWORDS, queue_get_doc},
    {"get_nowait", (PyCFunction)queue_get_nowait, METH_NOARGS, queue_get_nowait_doc},
    {"put_many", (PyCFunction)(void (*)(void))queue_put_many, METH_VARARGS | METH_KEYWORDS,
     queue_put_many_doc},
    {"get_many", (PyCFunction)(void (*)(void))queue_get_many, METH_VARARGS | METH_KEYWORDS,
     queue_get_many_doc},
    {"claim", (PyCFunction)(void (*)(void))queue_claim, METH_VARARGS | METH_KEYWORDS,
     queue_claim_doc},
    {"reserve", (PyCFunction)(void (*)(void))queue_reserve, METH_VARARGS | METH_KEYWORDS,
     queue_reserve_doc},
    {"call", (PyCFunction)(void (*)(void))queue_call, METH_VARARGS | METH_KEYWORDS, queue_call_doc},
    {"reply", (PyCFunction)queue_reply, METH_VARARGS, queue_reply_doc},
    {"_stat", (PyCFunction)queue_stat_dict, METH_NOARGS, queue_stat_dict_doc},
    {"qsize", (PyCFunction)queue_qsize, METH_NOARGS, queue_qsize_doc},
    {"purge", (PyCFunction)queue_purge, METH_NOARGS, queue_purge_doc},
    {"repair", (PyCFunction)queue_repair, METH_NOARGS, queue_repair_doc},
    {"close", (PyCFunction)queue_close, METH_NOARGS, queue_close_doc},
    {"__reduce__", (PyCFunction)queue_reduce, METH_NOARGS, NULL},
    {"__enter__", (PyCFunction)queue_enter, METH_NOARGS, NULL},
    {"__exit__", (PyCFunction)queue_exit, METH_VARARGS, NULL},
    {NULL, NULL, 0, NULL}};

static PyGetSetDef queue_getset[] = {
    {"name", (getter)queue_get_name, NULL, "the queue's name (without the shmq. prefix)", NULL},
    {"slot_size", (getter)queue_get_slot_size, NULL, "bytes per message", NULL},
    {"closed", (getter)queue_get_closed, NULL, "True after close()", NULL},
    {NULL, NULL, NULL, NULL, NULL}};

static PyTypeObject QueueType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "shmq._shmq.Queue",
    .tp_basicsize = sizeof(QueueObject),
    .tp_dealloc = (destructor)queue_dealloc,
    .tp_repr = (reprfunc)queue_repr,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_doc = "A handle on a shmq queue in shared memory (see Queue.create / Queue.open).",
    .tp_weaklistoffset = offsetof(QueueObject, weakrefs),
    .tp_methods = queue_methods,
    .tp_getset = queue_getset,
    .tp_new = queue_new,
};

/* ---- Topic and Subscription ---- */

typedef struct {
    PyObject_HEAD shmq_topic_t *t;
    pid_t pid;
    int busy;
    uint32_t slot_size;
    char name[SHMQ_NAME_MAX + 1];
    PyObject *weakrefs;
} TopicObject;

typedef struct {
    PyObject_HEAD TopicObject *topic;
    shmq_sub_t *sub;
    pid_t pid;
    char *buf;
    size_t cap;
} SubscriptionObject;

static shmq_topic_t *topic_handle(TopicObject *self)
{
    if (!self->t) {
        PyErr_Format(PyExc_ValueError, "topic %s is closed", self->name);
        return NULL;
    }
    if (busy_check(self->busy))
        return NULL;
    if (self->pid != current_pid()) {
        shmq_topic_t *t = NULL;
        int r = shmq_topic_open(self->name, &t);
        if (r) {
            raise_err(r, self->name);
            return NULL;
        }
        self->t = t;
        self->pid = current_pid();
    }
    return self->t;
}

static PyObject *topic_wrap(PyTypeObject *type, shmq_topic_t *t)
{
    TopicObject *self = (TopicObject *)type->tp_alloc(type, 0);
    if (!self) {
        shmq_topic_close(t);
        return NULL;
    }
    self->t = t;
    self->pid = current_pid();
    snprintf(self->name, sizeof self->name, "%s", shmq_topic_name(t));
    struct shmq_topic_stat st;
    self->slot_size = shmq_topic_stat(t, &st) == 0 ? st.slot_size : SHMQ_DEFAULT_SLOT_SIZE;
    return (PyObject *)self;
}

PyDoc_STRVAR(
    topic_create_doc,
    "Topic.create(name, capacity=1024, slot_size=256, overwrite=False, mode=0o600) -> Topic\n\n"
    "Create a broadcast topic: every subscriber group gets every message whose subject matches\n"
    "its pattern. capacity must be a power of two. overwrite=True: publishers never wait; a slow\n"
    "group loses the oldest messages (Delivery.lost says how many).");
static PyObject *topic_create(PyTypeObject *type, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"name", "capacity", "slot_size", "overwrite", "mode", NULL};
    PyObject *name_o, *cap = NULL, *slot = NULL, *mode = NULL;
    int ow = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "U|OOpO:create", kwlist, &name_o, &cap, &slot, &ow,
                                     &mode))
        return NULL;
    const char *name;
    if (name_arg(name_o, &name))
        return NULL;
    struct shmq_topic_config cfg = {0};
    cfg.policy = ow ? SHMQ_TOPIC_OVERWRITE : SHMQ_TOPIC_BLOCK;
    if (u32_arg(cap, "capacity", &cfg.capacity) || u32_arg(slot, "slot_size", &cfg.slot_size) ||
        u32_arg(mode, "mode", &cfg.mode))
        return NULL;
    if ((cap && cfg.capacity == 0) || (slot && cfg.slot_size == 0)) {
        PyErr_SetString(PyExc_ValueError, "capacity and slot_size must be positive");
        return NULL;
    }
    shmq_topic_t *t = NULL;
    int r;
    Py_BEGIN_ALLOW_THREADS
        r = shmq_topic_create(name, &cfg, &t);
    Py_END_ALLOW_THREADS
    if (r)
        return raise_err(r, name);
    return topic_wrap(type, t);
}

PyDoc_STRVAR(topic_open_doc, "Topic.open(name) -> Topic\n\nOpen an existing topic.");
static PyObject *topic_open(PyTypeObject *type, PyObject *args)
{
    PyObject *name_o;
    if (!PyArg_ParseTuple(args, "U:open", &name_o))
        return NULL;
    const char *name;
    if (name_arg(name_o, &name))
        return NULL;
    shmq_topic_t *t = NULL;
    int r;
    Py_BEGIN_ALLOW_THREADS
        r = shmq_topic_open(name, &t);
    Py_END_ALLOW_THREADS
    if (r)
        return raise_err(r, name);
    return topic_wrap(type, t);
}

static void topic_dealloc(TopicObject *self)
{
    if (self->weakrefs)
        PyObject_ClearWeakRefs((PyObject *)self);
    if (self->t && self->pid == current_pid())
        shmq_topic_close(self->t);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

PyDoc_STRVAR(topic_close_doc, "close()\n\nClose the topic handle and every subscription made "
                              "through it.");
static PyObject *topic_close(TopicObject *self, PyObject *unused)
{
    (void)unused;
    if (busy_check(self->busy))
        return NULL;
    if (self->t && self->pid == current_pid())
        shmq_topic_close(self->t);
    self->t = NULL;
    Py_RETURN_NONE;
}

struct publish_ctx {
    shmq_topic_t *t;
    const char *subject;
    struct shmq_msg *m;
};
static int publish_op(void *arg, int64_t timeout_ns)
{
    struct publish_ctx *c = arg;
    return shmq_publish_msg(c->t, c->subject, c->m, timeout_ns);
}

PyDoc_STRVAR(
    topic_publish_doc,
    "publish(subject, data, timeout=None, *, type=None, correlation_id=None, reply_to=None,\n"
    "        timestamp=None)\n\nPublish a copy of data under subject (words joined by '.').\n"
    "A blocking topic waits up to timeout seconds for its slowest group (shmq.Full then).");
static PyObject *topic_publish(TopicObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"subject",        "data",     "timeout",   "type",
                             "correlation_id", "reply_to", "timestamp", NULL};
    const char *subject;
    PyObject *data, *to = Py_None, *type = NULL, *corr = NULL, *reply = NULL, *ts = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "sO|O$OOOO:publish", kwlist, &subject, &data, &to,
                                     &type, &corr, &reply, &ts))
        return NULL;
    int64_t timeout;
    if (timeout_arg(to, &timeout))
        return NULL;
    if (shmq_subject_check(subject)) {
        PyErr_Format(PyExc_ValueError,
                     "invalid subject %s: words joined by '.', without '*', '#' "
                     "or control characters",
                     subject);
        return NULL;
    }
    shmq_topic_t *t = topic_handle(self);
    if (!t)
        return NULL;
    Py_buffer view;
    if (data_arg(data, &view))
        return NULL;
    struct shmq_msg m = {0};
    if (meta_fill(&m, type, corr, reply, ts)) {
        PyBuffer_Release(&view);
        return NULL;
    }
    m.data = view.buf;
    m.len = (size_t)view.len;
    struct publish_ctx c = {t, subject, &m};
    int r = run_wait(&self->busy, publish_op, &c, timeout);
    PyBuffer_Release(&view);
    if (wait_failed(r, Full, "topic %s: a subscriber group is a whole ring behind", self->name))
        return NULL;
    Py_RETURN_NONE;
}

PyDoc_STRVAR(
    topic_subscribe_doc,
    "subscribe(pattern=None, group=None, durable=False) -> Subscription\n\nJoin the group `group`\n"
    "(created on first use; members of a group share its messages) or, without a group, a\n"
    "private one. pattern: '*' matches one word, '#' any number (None = '#'). A new group sees\n"
    "what is published after it was created.");
static PyObject *topic_subscribe(TopicObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"pattern", "group", "durable", NULL};
    const char *pattern = NULL, *group = NULL;
    int durable = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|zzp:subscribe", kwlist, &pattern, &group,
                                     &durable))
        return NULL;
    if (pattern && shmq_pattern_check(pattern)) {
        PyErr_Format(PyExc_ValueError,
                     "invalid pattern %s: words joined by '.', a whole word may "
                     "be '*' or '#'",
                     pattern);
        return NULL;
    }
    shmq_topic_t *t = topic_handle(self);
    if (!t)
        return NULL;
    SubscriptionObject *s = PyObject_New(SubscriptionObject, &SubscriptionType);
    if (!s)
        return NULL;
    s->sub = NULL;
    s->pid = current_pid();
    s->cap = self->slot_size;
    s->buf = PyMem_Malloc(s->cap ? s->cap : 1);
    Py_INCREF(self);
    s->topic = self;
    if (!s->buf) {
        Py_DECREF(s);
        return PyErr_NoMemory();
    }
    int r = shmq_subscribe(t, pattern, group, durable ? SHMQ_SUB_DURABLE : 0, &s->sub);
    if (r) {
        Py_DECREF(s);
        return raise_err(r, self->name);
    }
    return (PyObject *)s;
}

static PyObject *topic_get_name(TopicObject *self, void *c)
{
    (void)c;
    return PyUnicode_FromString(self->name);
}

static PyObject *topic_reduce(TopicObject *self, PyObject *unused)
{
    (void)unused;
    PyObject *open = PyObject_GetAttrString((PyObject *)Py_TYPE(self), "open");
    if (!open)
        return NULL;
    return Py_BuildValue("(N(s))", open, self->name);
}

static PyObject *topic_exit(TopicObject *self, PyObject *args)
{
    (void)args;
    PyObject *r = topic_close(self, NULL);
    if (!r)
        return NULL;
    Py_DECREF(r);
    Py_RETURN_FALSE;
}

PyDoc_STRVAR(topic_stat_dict_doc,
             "_stat() -> dict\n\nThe counters of shmq_topic_stat (published, groups, members,\n"
             "...) and 'group_list': one dict per group (name, pattern, durable, members,\n"
             "delivered, lost, lag) from shmq_topic_groups.");
static PyObject *topic_stat_dict(TopicObject *self, PyObject *unused)
{
    (void)unused;
    shmq_topic_t *t = topic_handle(self);
    if (!t)
        return NULL;
    struct shmq_topic_stat st;
    int r = shmq_topic_stat(t, &st);
    if (r)
        return raise_err(r, self->name);
    /* Groups may come and go between the two calls: ask again while the table grew. */
    struct shmq_group_info *gi = NULL;
    int n = 0;
    for (unsigned cap = 16;; cap = (unsigned)n) {
        struct shmq_group_info *g2 = PyMem_Realloc(gi, cap * sizeof *gi);
        if (!g2) {
            PyMem_Free(gi);
            return PyErr_NoMemory();
        }
        gi = g2;
        n = shmq_topic_groups(t, gi, cap);
        if (n < 0) {
            PyMem_Free(gi);
            return raise_err(n, self->name);
        }
        if ((unsigned)n <= cap)
            break;
    }
    PyObject *d = PyDict_New(), *o, *list = PyList_New(0);
    if (!d || !list) {
        Py_XDECREF(d);
        Py_XDECREF(list);
        PyMem_Free(gi);
        return NULL;
    }
    PyDict_SetItemString(d, "name", o = PyUnicode_FromString(self->name));
    Py_XDECREF(o);
    PyDict_SetItemString(d, "overwrite", st.policy == SHMQ_TOPIC_OVERWRITE ? Py_True : Py_False);
    STAT_U(capacity);
    STAT_U(slot_size);
    STAT_U(max_groups);
    STAT_U(max_members);
    STAT_U(groups);
    STAT_U(members);
    STAT_U(participants);
    STAT_U(dead);
    STAT_U(published);
    STAT_U(full);
    STAT_U(waits);
    STAT_U(overtaken);
    for (int i = 0; i < n; i++) {
        /* Names and patterns come from shared memory: bounded, whatever they hold. */
        PyObject *g = Py_BuildValue(
            "{s:s#,s:s#,s:O,s:I,s:K,s:K,s:K}", "name", gi[i].name,
            (Py_ssize_t)strnlen(gi[i].name, sizeof gi[i].name), "pattern", gi[i].pattern,
            (Py_ssize_t)strnlen(gi[i].pattern, sizeof gi[i].pattern), "durable",
            (gi[i].flags & SHMQ_SUB_DURABLE) ? Py_True : Py_False, "members", gi[i].members,
            "delivered", (unsigned long long)gi[i].delivered, "lost",
            (unsigned long long)gi[i].lost, "lag", (unsigned long long)gi[i].lag);
        if (!g || PyList_Append(list, g)) {
            Py_XDECREF(g);
            break;
        }
        Py_DECREF(g);
    }
    PyMem_Free(gi);
    PyDict_SetItemString(d, "group_list", list);
    Py_DECREF(list);
    if (PyErr_Occurred()) {
        Py_DECREF(d);
        return NULL;
    }
    return d;
}

PyDoc_STRVAR(topic_delete_group_doc,
             "delete_group(group)\n\nRemove a group that has no member (a durable one): its\n"
             "messages are dropped. FileNotFoundError if there is no such group, OSError with\n"
             "errno EBUSY while it has a member.");
static PyObject *topic_delete_group(TopicObject *self, PyObject *args)
{
    const char *group;
    if (!PyArg_ParseTuple(args, "s:delete_group", &group))
        return NULL;
    shmq_topic_t *t = topic_handle(self);
    if (!t)
        return NULL;
    int r = shmq_topic_group_delete(t, group);
    if (r)
        return raise_err(r, group);
    Py_RETURN_NONE;
}

static PyMethodDef topic_methods[] = {
    {"create", (PyCFunction)(void (*)(void))topic_create, METH_CLASS | METH_VARARGS | METH_KEYWORDS,
     topic_create_doc},
    {"open", (PyCFunction)topic_open, METH_CLASS | METH_VARARGS, topic_open_doc},
    {"publish", (PyCFunction)(void (*)(void))topic_publish, METH_VARARGS | METH_KEYWORDS,
     topic_publish_doc},
    {"subscribe", (PyCFunction)(void (*)(void))topic_subscribe, METH_VARARGS | METH_KEYWORDS,
     topic_subscribe_doc},
    {"close", (PyCFunction)topic_close, METH_NOARGS, topic_close_doc},
    {"_stat", (PyCFunction)topic_stat_dict, METH_NOARGS, topic_stat_dict_doc},
    {"delete_group", (PyCFunction)topic_delete_group, METH_VARARGS, topic_delete_group_doc},
    {"__reduce__", (PyCFunction)topic_reduce, METH_NOARGS, NULL},
    {"__enter__", (PyCFunction)queue_enter, METH_NOARGS, NULL},
    {"__exit__", (PyCFunction)topic_exit, METH_VARARGS, NULL},
    {NULL, NULL, 0, NULL}};

static PyGetSetDef topic_getset[] = {
    {"name", (getter)topic_get_name, NULL, "the topic's name", NULL},
    {NULL, NULL, NULL, NULL, NULL}};

static PyTypeObject TopicType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "shmq._shmq.Topic",
    .tp_basicsize = sizeof(TopicObject),
    .tp_dealloc = (destructor)topic_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_doc = "A broadcast topic in shared memory (see Topic.create / Topic.open).",
    .tp_weaklistoffset = offsetof(TopicObject, weakrefs),
    .tp_methods = topic_methods,
    .tp_getset = topic_getset,
    .tp_new = queue_new,
};

static int sub_usable(SubscriptionObject *self)
{
    if (!self->sub || !self->topic->t) {
        PyErr_SetString(PyExc_ValueError, "the subscription is closed");
        return -1;
    }
    if (self->pid != current_pid() || self->topic->pid != self->pid) {
        PyErr_SetString(PyExc_RuntimeError,
                        "a subscription does not cross fork(): subscribe again in this process");
        return -1;
    }
    return busy_check(self->topic->busy);
}

static void sub_dealloc(SubscriptionObject *self)
{
    if (self->sub && self->topic->t && self->pid == current_pid() && self->topic->pid == self->pid)
        shmq_unsubscribe(self->sub);
    PyMem_Free(self->buf);
    Py_DECREF(self->topic);
    PyObject_Free(self);
}

PyDoc_STRVAR(sub_close_doc, "close()\n\nLeave the group (unread messages stay the group's).");
static PyObject *sub_close(SubscriptionObject *self, PyObject *unused)
{
    (void)unused;
    if (self->sub && self->topic->t && self->pid == current_pid() &&
        self->topic->pid == self->pid) {
        if (busy_check(self->topic->busy))
            return NULL;
        shmq_unsubscribe(self->sub);
    }
    self->sub = NULL;
    Py_RETURN_NONE;
}

struct next_ctx {
    SubscriptionObject *s;
    struct shmq_delivery *d;
};
static int next_op(void *arg, int64_t timeout_ns)
{
    struct next_ctx *c = arg;
    ssize_t r = shmq_next(c->s->sub, c->s->buf, c->s->cap, c->d, timeout_ns);
    return r > INT_MAX ? -EMSGSIZE : (int)r;
}

static PyObject *make_delivery(SubscriptionObject *s, const struct shmq_delivery *d, int len)
{
    PyObject *t = PyStructSequence_New(&DeliveryType);
    if (!t)
        return NULL;
    PyObject *items[8] = {
        PyUnicode_DecodeUTF8(d->subject, d->subject_len, "surrogateescape"),
        PyBytes_FromStringAndSize(s->buf, len),
        PyLong_FromUnsignedLongLong(d->seq),
        PyLong_FromUnsignedLongLong(d->lost),
        opt_str((d->meta & SHMQ_HAS_TYPE) ? d->type : NULL),
        opt_str((d->meta & SHMQ_HAS_CORRELATION_ID) ? d->correlation_id : NULL),
        opt_str((d->meta & SHMQ_HAS_REPLY_TO) ? d->reply_to : NULL),
        d->timestamp_ns ? PyFloat_FromDouble((double)d->timestamp_ns / 1e9)
                        : (Py_INCREF(Py_None), Py_None),
    };
    for (int i = 0; i < 8; i++) {
        if (!items[i]) {
            for (int j = 0; j < 8; j++)
                Py_XDECREF(items[j]);
            Py_DECREF(t);
            return NULL;
        }
        PyStructSequence_SET_ITEM(t, i, items[i]);
    }
    return t;
}

PyDoc_STRVAR(sub_next_doc, "next(timeout=None) -> Delivery\n\nThe group's next matching message "
                           "for this member: Delivery(subject, data, seq, lost, type,\n"
                           "correlation_id, reply_to, timestamp). shmq.Empty after timeout "
                           "seconds.");
static PyObject *sub_next(SubscriptionObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"timeout", NULL};
    PyObject *to = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|O:next", kwlist, &to))
        return NULL;
    int64_t timeout;
    if (timeout_arg(to, &timeout) || sub_usable(self))
        return NULL;
    struct shmq_delivery d;
    struct next_ctx c = {self, &d};
    int r = run_wait(&self->topic->busy, next_op, &c, timeout);
    if (wait_failed(r, Empty, "topic %s: nothing for this subscription", self->topic->name))
        return NULL;
    return make_delivery(self, &d, r);
}

static PyObject *sub_iternext(SubscriptionObject *self)
{
    PyObject *none = PyTuple_New(0);
    if (!none)
        return NULL;
    PyObject *r = sub_next(self, none, NULL);
    Py_DECREF(none);
    return r;
}

static PyObject *sub_iter(PyObject *self)
{
    Py_INCREF(self);
    return self;
}

static PyObject *sub_exit(SubscriptionObject *self, PyObject *args)
{
    (void)args;
    PyObject *r = sub_close(self, NULL);
    if (!r)
        return NULL;
    Py_DECREF(r);
    Py_RETURN_FALSE;
}

static PyMethodDef sub_methods[] = {
    {"next", (PyCFunction)(void (*)(void))sub_next, METH_VARARGS | METH_KEYWORDS, sub_next_doc},
    {"close", (PyCFunction)sub_close, METH_NOARGS, sub_close_doc},
    {"__enter__", (PyCFunction)queue_enter, METH_NOARGS, NULL},
    {"__exit__", (PyCFunction)sub_exit, METH_VARARGS, NULL},
    {NULL, NULL, 0, NULL}};

static PyMemberDef sub_members[] = {
    {"topic", T_OBJECT, offsetof(SubscriptionObject, topic), READONLY, "the Topic"},
    {NULL, 0, 0, 0, NULL}};

static PyTypeObject SubscriptionType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "shmq.Subscription",
    .tp_basicsize = sizeof(SubscriptionObject),
    .tp_dealloc = (destructor)sub_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A subscription to a topic: an iterator of Delivery (blocking), or next(timeout).",
    .tp_iter = sub_iter,
    .tp_iternext = (iternextfunc)sub_iternext,
    .tp_methods = sub_methods,
    .tp_members = sub_members,
};

static PyStructSequence_Field delivery_fields[] = {
    {"subject", "the message's subject"},
    {"data", "payload (bytes)"},
    {"seq", "position in the topic: 0, 1, 2, ... in publish order"},
    {"lost", "messages of this group overwritten before it read them, just before this one"},
    {"type", "metadata or None"},
    {"correlation_id", "metadata or None"},
    {"reply_to", "metadata or None"},
    {"timestamp", "seconds since the epoch, or None"},
    {NULL, NULL}};
static PyStructSequence_Desc delivery_desc = {"shmq.Delivery", "A message received from a topic.",
                                              delivery_fields, 8};

/* ---- module functions ---- */

static int foreach_cb(const char *name, void *arg)
{
    PyObject *s = PyUnicode_FromString(name);
    if (!s || PyList_Append((PyObject *)arg, s) < 0) {
        Py_XDECREF(s);
        return -ENOMEM;
    }
    Py_DECREF(s);
    return 0;
}

PyDoc_STRVAR(list_queues_doc, "list_queues() -> list[str]\n\nNames of every shmq queue and topic "
                              "in /dev/shm, sorted.");
static PyObject *mod_list_queues(PyObject *m, PyObject *unused)
{
    (void)m;
    (void)unused;
    PyObject *list = PyList_New(0);
    if (!list)
        return NULL;
    int r = shmq_foreach(foreach_cb, list);
    if (r) {
        Py_DECREF(list);
        return PyErr_Occurred() ? NULL : raise_err(r, NULL);
    }
    if (PyList_Sort(list) < 0) {
        Py_DECREF(list);
        return NULL;
    }
    return list;
}

PyDoc_STRVAR(unlink_doc, "unlink(name)\n\nRemove a queue or topic name (handles already open keep "
                         "working). FileNotFoundError if absent.");
static PyObject *mod_unlink(PyObject *m, PyObject *args)
{
    (void)m;
    PyObject *name_o;
    if (!PyArg_ParseTuple(args, "U:unlink", &name_o))
        return NULL;
    const char *name;
    if (name_arg(name_o, &name))
        return NULL;
    int r = shmq_unlink(name);
    if (r)
        return raise_err(r, name);
    Py_RETURN_NONE;
}

PyDoc_STRVAR(strerror_doc, "strerror(err) -> str\n\nThe library's words for an errno value.");
static PyObject *mod_strerror(PyObject *m, PyObject *args)
{
    (void)m;
    int e;
    if (!PyArg_ParseTuple(args, "i:strerror", &e))
        return NULL;
    return PyUnicode_FromString(shmq_strerror(e));
}

struct wait_ctx {
    struct shmq_wait_item *items;
    unsigned n;
};
static int wait_op(void *arg, int64_t timeout_ns)
{
    struct wait_ctx *c = arg;
    return shmq_wait_any(c->items, c->n, timeout_ns);
}

PyDoc_STRVAR(
    wait_any_doc,
    "wait_any(items, timeout=None) -> list\n\nSleep until any of the Queues and Subscriptions in\n"
    "items may have something to take; returns those that look ready ([] after timeout seconds).\n"
    "Readiness is a hint: take with get_nowait()/claim(0)/next(0) and call again on shmq.Empty.");
static PyObject *mod_wait_any(PyObject *mod, PyObject *args, PyObject *kw)
{
    (void)mod;
    static char *kwlist[] = {"items", "timeout", NULL};
    PyObject *items_o, *to = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O|O:wait_any", kwlist, &items_o, &to))
        return NULL;
    int64_t timeout;
    if (timeout_arg(to, &timeout))
        return NULL;
    PyObject *seq = PySequence_Fast(items_o, "wait_any needs a sequence of Queue or Subscription");
    if (!seq)
        return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    PyObject *res = NULL;
    if (n < 1 || n > SHMQ_WAIT_ANY_MAX) {
        PyErr_Format(PyExc_ValueError, "wait_any takes 1 to %d items", SHMQ_WAIT_ANY_MAX);
        goto out;
    }
    struct shmq_wait_item it[SHMQ_WAIT_ANY_MAX];
    int *busy[SHMQ_WAIT_ANY_MAX];
    memset(it, 0, sizeof it);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *o = PySequence_Fast_GET_ITEM(seq, i);
        if (PyObject_TypeCheck(o, &QueueType)) {
            QueueObject *q = (QueueObject *)o;
            if (!(it[i].queue = queue_handle(q)))
                goto out;
            busy[i] = &q->busy;
        } else if (PyObject_TypeCheck(o, &SubscriptionType)) {
            SubscriptionObject *s = (SubscriptionObject *)o;
            if (sub_usable(s))
                goto out;
            it[i].sub = s->sub;
            busy[i] = &s->topic->busy;
        } else {
            PyErr_Format(PyExc_TypeError,
                         "wait_any: items must be Queue or Subscription, not %.100s",
                         Py_TYPE(o)->tp_name);
            goto out;
        }
    }
    struct wait_ctx c = {it, (unsigned)n};
    int r;
    int any_busy = 0;
    r = wait_op(&c, 0);
    if (r == -EAGAIN && timeout != 0) {
        /* Mark every object busy while the GIL is released. */
        for (Py_ssize_t i = 0; i < n; i++)
            *busy[i] = 1;
        r = run_wait(&any_busy, wait_op, &c, timeout);
        for (Py_ssize_t i = 0; i < n; i++)
            *busy[i] = 0;
    }
    if (r == INTERRUPTED)
        goto out;
    if (r == -EAGAIN || r == -ETIMEDOUT) {
        res = PyList_New(0);
        goto out;
    }
    if (r < 0) {
        raise_err(r, NULL);
        goto out;
    }
    res = PyList_New(0);
    for (Py_ssize_t i = 0; res && i < n; i++)
        if (it[i].ready && PyList_Append(res, PySequence_Fast_GET_ITEM(seq, i)) < 0)
            Py_CLEAR(res);
out:
    Py_DECREF(seq);
    return res;
}

PyDoc_STRVAR(c_loop_doc, "_c_loop(queue, n, size) -> float\n\nBenchmark helper: n rounds of "
                         "shmq_push + shmq_pop of size bytes on queue,\nall in C; returns "
                         "nanoseconds per round (the floor under put_nowait + get_nowait).");
static PyObject *mod_c_loop(PyObject *mod, PyObject *args)
{
    (void)mod;
    PyObject *qo;
    Py_ssize_t n, size;
    if (!PyArg_ParseTuple(args, "O!nn:_c_loop", &QueueType, &qo, &n, &size))
        return NULL;
    if (n < 1 || size < 0 || size > 4096) {
        PyErr_SetString(PyExc_ValueError, "n >= 1 and 0 <= size <= 4096");
        return NULL;
    }
    QueueObject *self = (QueueObject *)qo;
    shmq_t *q = queue_handle(self);
    if (!q)
        return NULL;
    char in[4096], out[4096];
    memset(in, 'x', (size_t)size);
    int64_t t0 = now_mono();
    for (Py_ssize_t i = 0; i < n; i++) {
        int r = shmq_push(q, in, (size_t)size, 0);
        ssize_t got = r ? r : shmq_pop(q, out, sizeof out, 0);
        if (got != size)
            return raise_err(got < 0 ? (int)got : -EBADMSG, self->name);
    }
    return PyFloat_FromDouble((double)(now_mono() - t0) / (double)n);
}

static PyMethodDef module_methods[] = {
    {"_c_loop", mod_c_loop, METH_VARARGS, c_loop_doc},
    {"list_queues", mod_list_queues, METH_NOARGS, list_queues_doc},
    {"unlink", mod_unlink, METH_VARARGS, unlink_doc},
    {"strerror", mod_strerror, METH_VARARGS, strerror_doc},
    {"wait_any", (PyCFunction)(void (*)(void))mod_wait_any, METH_VARARGS | METH_KEYWORDS,
     wait_any_doc},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module_def = {PyModuleDef_HEAD_INIT,
                                        "shmq._shmq",
                                        "The C binding of libshmq (use the shmq package).",
                                        -1,
                                        module_methods,
                                        NULL,
                                        NULL,
                                        NULL,
                                        NULL};

static PyObject *new_exception(PyObject *mod, const char *name, PyObject *base, const char *doc)
{
    char full[64];
    snprintf(full, sizeof full, "shmq.%s", name);
    PyObject *e = PyErr_NewExceptionWithDoc(full, doc, base, NULL);
    if (e && PyModule_AddObjectRef(mod, name, e) < 0)
        Py_CLEAR(e);
    return e;
}

PyMODINIT_FUNC PyInit__shmq(void)
{
    self_pid = getpid();
    if (pthread_atfork(NULL, NULL, after_fork_child) != 0) {
        PyErr_SetString(PyExc_ImportError, "shmq: pthread_atfork failed");
        return NULL;
    }
    PyObject *mod = PyModule_Create(&module_def);
    if (!mod)
        return NULL;
    PyObject *queue_mod = PyImport_ImportModule("queue");
    if (!queue_mod)
        goto fail;
    PyObject *qe = PyObject_GetAttrString(queue_mod, "Empty");
    PyObject *qf = PyObject_GetAttrString(queue_mod, "Full");
    Py_DECREF(queue_mod);
    if (!qe || !qf) {
        Py_XDECREF(qe);
        Py_XDECREF(qf);
        goto fail;
    }
    Empty = new_exception(mod, "Empty", qe, "Nothing to take before the timeout (a queue.Empty).");
    Full = new_exception(mod, "Full", qf, "No room before the timeout (a queue.Full).");
    Py_DECREF(qe);
    Py_DECREF(qf);
    CorruptQueue =
        new_exception(mod, "CorruptQueue", PyExc_OSError,
                      "The segment's header or a ring is not what shmq wrote (EBADMSG).");
    if (!Empty || !Full || !CorruptQueue)
        goto fail;
    if (PyType_Ready(&QueueType) < 0 || PyType_Ready(&MessageType) < 0 ||
        PyType_Ready(&TopicType) < 0 || PyType_Ready(&SubscriptionType) < 0)
        goto fail;
    if (DeliveryType.tp_name == NULL &&
        PyStructSequence_InitType2(&DeliveryType, &delivery_desc) < 0)
        goto fail;
    if (PyModule_AddObjectRef(mod, "Queue", (PyObject *)&QueueType) < 0 ||
        PyModule_AddObjectRef(mod, "Message", (PyObject *)&MessageType) < 0 ||
        PyModule_AddObjectRef(mod, "Topic", (PyObject *)&TopicType) < 0 ||
        PyModule_AddObjectRef(mod, "Subscription", (PyObject *)&SubscriptionType) < 0 ||
        PyModule_AddObjectRef(mod, "Delivery", (PyObject *)&DeliveryType) < 0 ||
        PyModule_AddStringConstant(mod, "library_version", shmq_version()) < 0 ||
        PyModule_AddIntConstant(mod, "NAME_MAX", SHMQ_NAME_MAX) < 0 ||
        PyModule_AddIntConstant(mod, "META_STR_MAX", SHMQ_META_STR_MAX) < 0 ||
        PyModule_AddIntConstant(mod, "WAIT_ANY_MAX", SHMQ_WAIT_ANY_MAX) < 0)
        goto fail;
    return mod;
fail:
    Py_DECREF(mod);
    return NULL;
}
