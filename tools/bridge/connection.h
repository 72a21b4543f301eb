/*
 * A connection to the broker: TCP, login, one channel, and the frames that come back turned
 * into events (confirms, returns, deliveries).
 *
 * Failures are sorted in two kinds, because the bridge reacts to them differently:
 *   -ENOTCONN  the connection is gone or could not be made (refused, reset, heartbeat timeout,
 *              broker shutting down): reconnecting may cure it, after a pause;
 *   other      the broker refused what we asked (login, vhost, a missing exchange or queue, an
 *              inconsistent declaration): reconnecting will not help. -EACCES, -ENOENT, -EINVAL.
 * In both cases c->error says what happened, in words, and the connection is unusable: close it.
 */
#ifndef SHMQ_BRIDGE_CONNECTION_H
#define SHMQ_BRIDGE_CONNECTION_H

#include <amqp.h>
#include <stdbool.h>
#include <stdint.h>

#include "url.h"

#define BRIDGE_CHANNEL 1

struct bridge_conn {
    amqp_connection_state_t amqp; /* NULL when closed */
    bool broken;                  /* a failure was seen: do not try a polite close */
    char error[320];
};

/* Connect to u, log in, open channel BRIDGE_CHANNEL. timeout_ns bounds the TCP connection and
 * the handshake. 0 or an error as above (c is closed again on failure). */
int bridge_conn_open(struct bridge_conn *c, const struct bridge_url *u, unsigned heartbeat_s,
                     int64_t timeout_ns);

/* Close politely if the connection still works, then free everything. */
void bridge_conn_close(struct bridge_conn *c);

/* Check the reply of a synchronous method (amqp_get_rpc_reply) or a status code; on failure
 * fill c->error with "<what>: <reason>" and return the error kind. */
int bridge_conn_check_reply(struct bridge_conn *c, amqp_rpc_reply_t r, const char *what);
int bridge_conn_check_status(struct bridge_conn *c, int status, const char *what);

/* Channel setup, each 0 or an error: publisher confirms; the prefetch limit; a durable queue
 * (bound to exchange with key when exchange is not ""); a check that an exchange exists;
 * a consumer on a queue (manual acknowledgements). */
int bridge_conn_confirm_select(struct bridge_conn *c);
int bridge_conn_qos(struct bridge_conn *c, unsigned prefetch);
int bridge_conn_declare_queue(struct bridge_conn *c, const char *queue, const char *exchange,
                              const char *key);
int bridge_conn_check_exchange(struct bridge_conn *c, const char *exchange);
int bridge_conn_consume(struct bridge_conn *c, const char *queue);

enum bridge_event_kind {
    BRIDGE_EVENT_NONE,    /* the timeout passed */
    BRIDGE_EVENT_ACK,     /* publisher confirm: tag (and all before it if multiple) */
    BRIDGE_EVENT_NACK,    /* the broker could not take tag (and all before it if multiple) */
    BRIDGE_EVENT_RETURN,  /* a mandatory message had no queue to go to: message */
    BRIDGE_EVENT_DELIVER, /* a message from a consumer: message, tag, redelivered, consumer */
};

struct bridge_event {
    enum bridge_event_kind kind;
    uint64_t tag;
    bool multiple;
    bool redelivered;
    amqp_bytes_t consumer_tag;
    amqp_bytes_t routing_key; /* DELIVER: the key it was published with */
    amqp_message_t message;   /* RETURN and DELIVER: freed by the next bridge_conn_next */
    bool has_message;
};

/*
 * Wait up to timeout_ns (0 = only what is already there) for the next event; heartbeats are
 * sent and answered meanwhile. The previous event's message is freed first. 0 (ev->kind says
 * what came, BRIDGE_EVENT_NONE at the timeout) or an error as above; a channel or connection
 * closed by the broker is answered and reported.
 */
int bridge_conn_next(struct bridge_conn *c, int64_t timeout_ns, struct bridge_event *ev);

/* Free the event's message, if any (bridge_conn_next does it too). */
void bridge_event_clear(struct bridge_event *ev);

/* Send a heartbeat now: keeps the connection alive while the bridge waits on shm. */
int bridge_conn_heartbeat(struct bridge_conn *c);

#endif /* SHMQ_BRIDGE_CONNECTION_H */
