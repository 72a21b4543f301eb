/*
 * shmq serve: the HTTP side, on libmicrohttpd (no HTTP parsing of our own). One internal
 * thread answers the requests one at a time; request lines and headers are bounded by the
 * library's per-connection memory limit (SERVE_REQUEST_MAX: larger requests get 413/414/431),
 * bodies by SERVE_BODY_MAX (413; a chunked body longer than
 * SERVE_BODY_DROP_MAX has its connection cut), connections in number and by an idle timeout.
 *
 * Status codes: 404 for unknown paths and segments, 400 for a name the library refuses, 403
 * for a segment the server may not read and for refused admin actions, 405 for methods other
 * than GET, HEAD and POST (and POST outside the admin paths). Errors are JSON
 * {"error", "status"}.
 */
#ifndef SHMQ_CLI_SERVE_HTTP_H
#define SHMQ_CLI_SERVE_HTTP_H

#include <stddef.h>
#include <sys/socket.h>

#include "serve_admin.h"
#include "serve_history.h"

#define SERVE_REQUEST_MAX (16 * 1024)   /* request line + headers, per connection */
#define SERVE_BODY_MAX 1024             /* admin requests need no body */
#define SERVE_BODY_DROP_MAX (64 * 1024) /* a longer chunked body: the connection is cut */
#define SERVE_CONNECTIONS_MAX 64
#define SERVE_IDLE_TIMEOUT_S 10

struct serve_context {
    const struct serve_admin *admin;
    struct serve_history *history;
    struct serve_reader *reader; /* shared with the sampler */
};

struct serve_http;

/* Listen on addr and answer from another thread until serve_http_stop. bound gets the address
 * it listens on ("127.0.0.1:9187", the port the system chose for port 0). 0, or -errno (with
 * why[] saying what failed: "address in use"...). */
int serve_http_start(const struct sockaddr *addr, socklen_t addrlen,
                     const struct serve_context *ctx, struct serve_http **out, char *bound,
                     size_t size);

/* Stop listening, finish the request being answered, free everything. */
void serve_http_stop(struct serve_http *h);

#endif /* SHMQ_CLI_SERVE_HTTP_H */
