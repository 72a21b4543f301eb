/* A connection to the broker and the events it sends (see connection.h). */
#include "connection.h"

#include <amqp_tcp_socket.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>

#define FRAME_MAX 131072            /* librabbitmq's default, RabbitMQ's too */
#define RPC_TIMEOUT_S 15            /* bound on every synchronous method (declare, consume...) */
#define CLOSE_TIMEOUT_NS 2000000000 /* a polite close waits this long at most */

static struct timeval timeval_of(int64_t ns)
{
    struct timeval tv = {.tv_sec = (time_t)(ns / 1000000000),
                         .tv_usec = (suseconds_t)(ns % 1000000000 / 1000)};
    return tv;
}

static int fail(struct bridge_conn *c, int kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(struct bridge_conn *c, int kind, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->error, sizeof c->error, fmt, ap);
    va_end(ap);
    c->broken = true;
    return kind;
}

/* What a close code from the broker means for us (AMQP 0-9-1 reply codes). */
static int close_kind(uint16_t code)
{
    switch (code) {
    case AMQP_ACCESS_REFUSED: /* 403: login, or no permission on a resource */
    case AMQP_NOT_ALLOWED:    /* 530: e.g. the vhost does not exist or is not ours */
        return -EACCES;
    case AMQP_NOT_FOUND: /* 404: no such exchange or queue */
        return -ENOENT;
    case AMQP_PRECONDITION_FAILED: /* 406: a declaration that contradicts an existing one */
    case AMQP_RESOURCE_LOCKED:     /* 405: an exclusive queue of another connection */
        return -EINVAL;
    default: /* 320 connection forced (broker stopping), 541 internal error, ... */
        return -ENOTCONN;
    }
}

/* The broker closed the channel or the connection: answer, and say why in c->error. */
static int closed_by_broker(struct bridge_conn *c, const amqp_method_t *m, const char *what)
{
    if (m->id == AMQP_CONNECTION_CLOSE_METHOD) {
        const amqp_connection_close_t *cl = m->decoded;
        amqp_connection_close_ok_t ok;
        amqp_send_method(c->amqp, 0, AMQP_CONNECTION_CLOSE_OK_METHOD, &ok);
        return fail(c, close_kind(cl->reply_code), "%s: the broker closed the connection: %.*s",
                    what, (int)cl->reply_text.len, (const char *)cl->reply_text.bytes);
    }
    if (m->id == AMQP_CHANNEL_CLOSE_METHOD) {
        const amqp_channel_close_t *cl = m->decoded;
        amqp_channel_close_ok_t ok;
        amqp_send_method(c->amqp, BRIDGE_CHANNEL, AMQP_CHANNEL_CLOSE_OK_METHOD, &ok);
        return fail(c, close_kind(cl->reply_code), "%s: %.*s", what, (int)cl->reply_text.len,
                    (const char *)cl->reply_text.bytes);
    }
    return fail(c, -ENOTCONN, "%s: unexpected method 0x%08x from the broker", what,
                (unsigned)m->id);
}

int bridge_conn_check_status(struct bridge_conn *c, int status, const char *what)
{
    if (status == AMQP_STATUS_OK)
        return 0;
    return fail(c, -ENOTCONN, "%s: %s", what, amqp_error_string2(status));
}

int bridge_conn_check_reply(struct bridge_conn *c, amqp_rpc_reply_t r, const char *what)
{
    switch (r.reply_type) {
    case AMQP_RESPONSE_NORMAL:
        return 0;
    case AMQP_RESPONSE_NONE:
        return fail(c, -ENOTCONN, "%s: no reply from the broker", what);
    case AMQP_RESPONSE_LIBRARY_EXCEPTION:
        return bridge_conn_check_status(c, r.library_error, what);
    case AMQP_RESPONSE_SERVER_EXCEPTION:
        return closed_by_broker(c, &r.reply, what);
    }
    return fail(c, -ENOTCONN, "%s: unknown reply type", what);
}

int bridge_conn_open(struct bridge_conn *c, const struct bridge_url *u, unsigned heartbeat_s,
                     int64_t timeout_ns)
{
    memset(c, 0, sizeof *c);
    c->amqp = amqp_new_connection();
    if (!c->amqp)
        return fail(c, -ENOMEM, "out of memory");
    amqp_socket_t *s = amqp_tcp_socket_new(c->amqp);
    if (!s) {
        bridge_conn_close(c);
        return fail(c, -ENOMEM, "out of memory");
    }
    struct timeval tv = timeval_of(timeout_ns);
    int status = amqp_socket_open_noblock(s, u->info.host, u->info.port, &tv);
    if (status != AMQP_STATUS_OK) {
        /* librabbitmq keeps the socket's own error to itself: say what it can be. */
        bridge_conn_close(c);
        return fail(c, -ENOTCONN, "cannot connect to %s:%d: %s", u->info.host, u->info.port,
                    status == AMQP_STATUS_SOCKET_ERROR
                        ? "refused or unreachable (is the broker running?)"
                        : amqp_error_string2(status));
    }
    amqp_set_handshake_timeout(c->amqp, &tv);
    struct timeval rpc = {.tv_sec = RPC_TIMEOUT_S};
    amqp_set_rpc_timeout(c->amqp, &rpc);
    amqp_rpc_reply_t r = amqp_login(c->amqp, u->info.vhost, 0, FRAME_MAX, (int)heartbeat_s,
                                    AMQP_SASL_METHOD_PLAIN, u->info.user, u->info.password);
    int err = bridge_conn_check_reply(c, r, "login");
    if (err == 0) {
        amqp_channel_open(c->amqp, BRIDGE_CHANNEL);
        err = bridge_conn_check_reply(c, amqp_get_rpc_reply(c->amqp), "opening a channel");
    }
    if (err) {
        char error[sizeof c->error];
        memcpy(error, c->error, sizeof error);
        bridge_conn_close(c);
        memcpy(c->error, error, sizeof error);
        return err;
    }
    return 0;
}

void bridge_conn_close(struct bridge_conn *c)
{
    if (!c->amqp)
        return;
    if (!c->broken) {
        /* Polite, and bounded: a broker that does not answer is not waited for. */
        struct timeval tv = timeval_of(CLOSE_TIMEOUT_NS);
        amqp_set_rpc_timeout(c->amqp, &tv);
        amqp_rpc_reply_t r = amqp_channel_close(c->amqp, BRIDGE_CHANNEL, AMQP_REPLY_SUCCESS);
        if (r.reply_type == AMQP_RESPONSE_NORMAL)
            amqp_connection_close(c->amqp, AMQP_REPLY_SUCCESS);
    }
    amqp_destroy_connection(c->amqp);
    c->amqp = NULL;
}

int bridge_conn_confirm_select(struct bridge_conn *c)
{
    amqp_confirm_select(c->amqp, BRIDGE_CHANNEL);
    return bridge_conn_check_reply(c, amqp_get_rpc_reply(c->amqp), "enabling publisher confirms");
}

int bridge_conn_qos(struct bridge_conn *c, unsigned prefetch)
{
    amqp_basic_qos(c->amqp, BRIDGE_CHANNEL, 0, (uint16_t)(prefetch > 65535 ? 65535 : prefetch), 0);
    return bridge_conn_check_reply(c, amqp_get_rpc_reply(c->amqp), "setting the prefetch limit");
}

int bridge_conn_declare_queue(struct bridge_conn *c, const char *queue, const char *exchange,
                              const char *key)
{
    char what[300];
    snprintf(what, sizeof what, "declaring queue '%s'", queue);
    amqp_queue_declare(c->amqp, BRIDGE_CHANNEL, amqp_cstring_bytes(queue), 0, 1, 0, 0,
                       amqp_empty_table);
    int err = bridge_conn_check_reply(c, amqp_get_rpc_reply(c->amqp), what);
    if (err || !exchange || !exchange[0])
        return err;
    snprintf(what, sizeof what, "binding queue '%s' to exchange '%s'", queue, exchange);
    amqp_queue_bind(c->amqp, BRIDGE_CHANNEL, amqp_cstring_bytes(queue),
                    amqp_cstring_bytes(exchange), amqp_cstring_bytes(key), amqp_empty_table);
    return bridge_conn_check_reply(c, amqp_get_rpc_reply(c->amqp), what);
}

int bridge_conn_check_exchange(struct bridge_conn *c, const char *exchange)
{
    if (!exchange[0])
        return 0; /* the default exchange always exists */
    char what[300];
    snprintf(what, sizeof what, "looking for exchange '%s'", exchange);
    /* passive: only checks that it exists; the type is not looked at */
    amqp_exchange_declare(c->amqp, BRIDGE_CHANNEL, amqp_cstring_bytes(exchange),
                          amqp_cstring_bytes("direct"), 1, 0, 0, 0, amqp_empty_table);
    return bridge_conn_check_reply(c, amqp_get_rpc_reply(c->amqp), what);
}

int bridge_conn_consume(struct bridge_conn *c, const char *queue)
{
    char what[300];
    snprintf(what, sizeof what, "consuming from queue '%s'", queue);
    amqp_basic_consume(c->amqp, BRIDGE_CHANNEL, amqp_cstring_bytes(queue), amqp_empty_bytes, 0,
                       0 /* manual acknowledgements */, 0, amqp_empty_table);
    return bridge_conn_check_reply(c, amqp_get_rpc_reply(c->amqp), what);
}

void bridge_event_clear(struct bridge_event *ev)
{
    if (ev->has_message)
        amqp_destroy_message(&ev->message);
    memset(ev, 0, sizeof *ev);
}

/* The content (header and body frames) that follows a basic.return or basic.deliver. */
static int read_content(struct bridge_conn *c, struct bridge_event *ev, const char *what)
{
    amqp_rpc_reply_t r = amqp_read_message(c->amqp, BRIDGE_CHANNEL, &ev->message, 0);
    int err = bridge_conn_check_reply(c, r, what);
    if (err == 0)
        ev->has_message = true;
    return err;
}

int bridge_conn_next(struct bridge_conn *c, int64_t timeout_ns, struct bridge_event *ev)
{
    bridge_event_clear(ev);
    /* Decoded frames live in the channel's pool until released: the last event is done. */
    amqp_maybe_release_buffers(c->amqp);
    struct timeval tv = timeval_of(timeout_ns);
    amqp_frame_t f;
    int status = amqp_simple_wait_frame_noblock(c->amqp, &f, &tv);
    if (status == AMQP_STATUS_TIMEOUT)
        return 0;
    if (status != AMQP_STATUS_OK)
        return bridge_conn_check_status(c, status, "connection to the broker");
    if (f.frame_type != AMQP_FRAME_METHOD)
        return fail(c, -ENOTCONN, "unexpected frame of type %u from the broker",
                    (unsigned)f.frame_type);
    switch (f.payload.method.id) {
    case AMQP_BASIC_ACK_METHOD: {
        const amqp_basic_ack_t *a = f.payload.method.decoded;
        ev->kind = BRIDGE_EVENT_ACK;
        ev->tag = a->delivery_tag;
        ev->multiple = a->multiple;
        return 0;
    }
    case AMQP_BASIC_NACK_METHOD: {
        const amqp_basic_nack_t *n = f.payload.method.decoded;
        ev->kind = BRIDGE_EVENT_NACK;
        ev->tag = n->delivery_tag;
        ev->multiple = n->multiple;
        return 0;
    }
    case AMQP_BASIC_RETURN_METHOD:
        ev->kind = BRIDGE_EVENT_RETURN;
        return read_content(c, ev, "reading a returned message");
    case AMQP_BASIC_DELIVER_METHOD: {
        const amqp_basic_deliver_t *d = f.payload.method.decoded;
        ev->kind = BRIDGE_EVENT_DELIVER;
        ev->tag = d->delivery_tag;
        ev->redelivered = d->redelivered;
        ev->consumer_tag = d->consumer_tag; /* in the channel pool: kept by read_content */
        ev->routing_key = d->routing_key;
        return read_content(c, ev, "reading a delivery");
    }
    case AMQP_BASIC_CANCEL_METHOD:
        return fail(c, -ENOTCONN, "the broker cancelled our consumer (was the queue deleted?)");
    case AMQP_CHANNEL_CLOSE_METHOD:
    case AMQP_CONNECTION_CLOSE_METHOD:
        return closed_by_broker(c, &f.payload.method, "broker");
    default:
        return 0; /* nothing we asked for (channel.flow...): ignored */
    }
}

int bridge_conn_heartbeat(struct bridge_conn *c)
{
    amqp_frame_t hb = {.frame_type = AMQP_FRAME_HEARTBEAT, .channel = 0};
    return bridge_conn_check_status(c, amqp_send_frame(c->amqp, &hb), "sending a heartbeat");
}
