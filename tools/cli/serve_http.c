/* shmq serve: requests and responses on libmicrohttpd (see serve_http.h). */
#include "serve_http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "diag.h"
#include "serve_api.h"
#include "serve_assets.h"
#include "serve_metrics.h"
#include "serve_route.h"
#include "serve_snapshot.h"

#define HISTORY_SECONDS_MAX 86400

struct serve_http {
    struct MHD_Daemon *daemon;
    struct serve_context ctx;
};

/* What a request has sent so far: its body is only counted (no route takes one). */
struct request {
    size_t body;
    int answered; /* a response is queued already */
};

/* A response: a buffer to fill through a FILE (open_memstream). */
struct reply {
    FILE *out;
    char *buf;
    size_t len;
};

static int reply_open(struct reply *r)
{
    memset(r, 0, sizeof *r);
    r->out = open_memstream(&r->buf, &r->len);
    return r->out ? 0 : -ENOMEM;
}

/* Send r (closed here) with the status and the content type. */
static enum MHD_Result send_reply(struct MHD_Connection *c, struct reply *r, unsigned status,
                                  const char *type)
{
    if (fclose(r->out) != 0) {
        free(r->buf);
        return MHD_NO; /* out of memory: drop the connection */
    }
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(r->len, r->buf, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(r->buf);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "Content-Security-Policy",
                            "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'");
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "GET, HEAD, POST");
    enum MHD_Result ret = MHD_queue_response(c, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static const char json_type[] = "application/json";

static enum MHD_Result send_error(struct MHD_Connection *c, unsigned status, const char *fmt, ...)
    CLI_PRINTF(3, 4);

static enum MHD_Result send_error(struct MHD_Connection *c, unsigned status, const char *fmt, ...)
{
    char message[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    struct reply r;
    if (reply_open(&r))
        return MHD_NO;
    serve_api_error(r.out, (int)status, message);
    return send_reply(c, &r, status, json_type);
}

/* The status for a negative errno from the library. */
static unsigned status_of(int err)
{
    switch (err) {
    case -EINVAL:
        return MHD_HTTP_BAD_REQUEST;
    case -ENOENT:
        return MHD_HTTP_NOT_FOUND;
    case -EACCES:
    case -EPERM:
        return MHD_HTTP_FORBIDDEN;
    case -EMEDIUMTYPE:
    case -EBUSY:
        return MHD_HTTP_CONFLICT;
    default:
        return MHD_HTTP_INTERNAL_SERVER_ERROR;
    }
}

static enum MHD_Result send_asset(struct MHD_Connection *c, enum serve_asset which)
{
    const struct serve_asset_file *f = serve_asset_get(which);
    struct reply r;
    if (reply_open(&r))
        return MHD_NO;
    fwrite(f->data, 1, f->size, r.out);
    return send_reply(c, &r, MHD_HTTP_OK, f->content_type);
}

static enum MHD_Result send_metrics(struct MHD_Connection *c, const struct serve_context *ctx)
{
    int64_t start = cli_monotonic_ns();
    struct serve_snapshot s;
    int err = serve_snapshot_take(ctx->reader, &s);
    if (err)
        return send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot list the segments: %s",
                          strerror(-err));
    double seconds = (double)(cli_monotonic_ns() - start) / 1e9;
    struct reply r;
    if (reply_open(&r)) {
        serve_snapshot_free(&s);
        return MHD_NO;
    }
    serve_metrics_write(r.out, &s, seconds);
    serve_snapshot_free(&s);
    return send_reply(c, &r, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8");
}

static enum MHD_Result send_list(struct MHD_Connection *c, const struct serve_context *ctx,
                                 bool topics)
{
    struct serve_snapshot s;
    int err = serve_snapshot_take(ctx->reader, &s);
    if (err)
        return send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot list the segments: %s",
                          strerror(-err));
    struct reply r;
    if (reply_open(&r)) {
        serve_snapshot_free(&s);
        return MHD_NO;
    }
    serve_api_list(r.out, &s, topics);
    serve_snapshot_free(&s);
    return send_reply(c, &r, MHD_HTTP_OK, json_type);
}

static enum MHD_Result send_one(struct MHD_Connection *c, const struct serve_context *ctx,
                                const struct serve_route *rt)
{
    const char *what = rt->topic ? "topic" : "queue";
    struct cli_status e;
    int err = serve_entry_read(ctx->reader, rt->name, &e);
    if (err == -ENOENT)
        return send_error(c, MHD_HTTP_NOT_FOUND, "%s '%s' does not exist", what, rt->name);
    if (err)
        return send_error(c, status_of(err), "cannot read '%s': %s", rt->name, shmq_strerror(err));
    enum MHD_Result ret;
    if (e.kind == CLI_STATUS_UNREADABLE) {
        ret = send_error(c, status_of(e.error), "cannot read '%s': %s", rt->name,
                         shmq_strerror(e.error));
    } else if ((e.kind == CLI_STATUS_TOPIC) != (rt->topic != 0)) {
        ret = send_error(c, MHD_HTTP_NOT_FOUND, "'%s' is a %s, not a %s: see /api/%s/%s", rt->name,
                         rt->topic ? "queue" : "topic", what, rt->topic ? "queues" : "topics",
                         rt->name);
    } else {
        struct reply r;
        if (reply_open(&r)) {
            cli_status_free(&e);
            return MHD_NO;
        }
        serve_api_entry(r.out, &e);
        ret = send_reply(c, &r, MHD_HTTP_OK, json_type);
    }
    cli_status_free(&e);
    return ret;
}

static enum MHD_Result send_history(struct MHD_Connection *c, struct serve_history *h)
{
    const char *arg = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "seconds");
    uint32_t seconds = 0;
    if (arg && serve_query_seconds(arg, HISTORY_SECONDS_MAX, &seconds) != 0)
        return send_error(c, MHD_HTTP_BAD_REQUEST,
                          "seconds must be a whole number of seconds from 1 to %d",
                          HISTORY_SECONDS_MAX);
    struct reply r;
    if (reply_open(&r))
        return MHD_NO;
    serve_history_json(h, r.out, seconds);
    return send_reply(c, &r, MHD_HTTP_OK, json_type);
}

static enum MHD_Result send_admin(struct MHD_Connection *c, const struct serve_context *ctx,
                                  const struct serve_route *rt, bool post)
{
    if (!ctx->admin->enabled)
        return send_error(c, MHD_HTTP_FORBIDDEN,
                          "admin actions are disabled: start the server with 'shmq serve "
                          "--allow-admin --token-file FILE'");
    if (!post)
        return send_error(c, MHD_HTTP_FORBIDDEN, "admin actions take POST only");
    const char *auth =
        MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    if (!auth)
        return send_error(c, MHD_HTTP_FORBIDDEN,
                          "admin actions need the header 'Authorization: Bearer TOKEN' with the "
                          "token of --token-file");
    if (!serve_admin_authorized(ctx->admin, auth))
        return send_error(c, MHD_HTTP_FORBIDDEN, "wrong token: admin action refused");
    struct reply r;
    if (reply_open(&r))
        return MHD_NO;
    pthread_mutex_lock(&ctx->reader->lock); /* the library, one thread at a time */
    int err = serve_admin_run(rt, r.out);
    pthread_mutex_unlock(&ctx->reader->lock);
    if (err) {
        fclose(r.out);
        free(r.buf);
        if (err == -EMEDIUMTYPE)
            return send_error(c, MHD_HTTP_CONFLICT, "'%s' is a %s", rt->name,
                              rt->topic ? "queue" : "topic");
        if (err == -ENOENT)
            return send_error(c, MHD_HTTP_NOT_FOUND, "%s '%s' does not exist",
                              rt->topic ? "topic" : "queue", rt->name);
        return send_error(c, status_of(err), "cannot %s '%s': %s",
                          rt->action == SERVE_ACTION_PURGE ? "purge" : "repair", rt->name,
                          shmq_strerror(err));
    }
    return send_reply(c, &r, MHD_HTTP_OK, json_type);
}

static enum MHD_Result dispatch(struct MHD_Connection *c, const struct serve_context *ctx,
                                const char *url, bool post)
{
    struct serve_route rt;
    int err = serve_route_parse(url, strlen(url), &rt);
    if (err == -ENOENT)
        return send_error(c, MHD_HTTP_NOT_FOUND, "no such page (see / for the dashboard)");
    if (err)
        return send_error(c, MHD_HTTP_BAD_REQUEST, "malformed path: a name is at most %d bytes",
                          SHMQ_NAME_MAX);
    if (rt.named && shmq_name_check(rt.name) != 0)
        return send_error(c, MHD_HTTP_BAD_REQUEST,
                          "invalid name '%s': names are 1 to %d characters of A-Z a-z 0-9 . _ -, "
                          "not starting with a dot",
                          rt.name, SHMQ_NAME_MAX);
    if (rt.page == SERVE_PAGE_ADMIN)
        return send_admin(c, ctx, &rt, post);
    if (post)
        return send_error(c, MHD_HTTP_METHOD_NOT_ALLOWED,
                          "POST is for admin actions only: this page takes GET");
    switch (rt.page) {
    case SERVE_PAGE_ASSET:
        return send_asset(c, rt.asset);
    case SERVE_PAGE_METRICS:
        return send_metrics(c, ctx);
    case SERVE_PAGE_QUEUES:
        return rt.named ? send_one(c, ctx, &rt) : send_list(c, ctx, false);
    case SERVE_PAGE_TOPICS:
        return rt.named ? send_one(c, ctx, &rt) : send_list(c, ctx, true);
    case SERVE_PAGE_HISTORY:
        return send_history(c, ctx->history);
    default:
        return send_error(c, MHD_HTTP_NOT_FOUND, "no such page");
    }
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **req_cls)
{
    (void)version;
    (void)upload_data;
    const struct serve_context *ctx = cls;
    struct request *req = *req_cls;
    bool post = strcmp(method, MHD_HTTP_METHOD_POST) == 0;
    if (!req) {
        /* Headers only so far: refuse what needs no more at once. */
        if (!(req = calloc(1, sizeof *req)))
            return MHD_NO;
        *req_cls = req;
        if (!post && strcmp(method, MHD_HTTP_METHOD_GET) != 0 &&
            strcmp(method, MHD_HTTP_METHOD_HEAD) != 0) {
            req->answered = 1;
            return send_error(c, MHD_HTTP_METHOD_NOT_ALLOWED,
                              "method %.32s is not allowed: GET, HEAD, or POST for admin actions",
                              method);
        }
        const char *length =
            MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (length && strtoull(length, NULL, 10) > SERVE_BODY_MAX) {
            req->answered = 1;
            return send_error(c, MHD_HTTP_CONTENT_TOO_LARGE,
                              "request body too large: at most %d bytes", SERVE_BODY_MAX);
        }
        return MHD_YES;
    }
    if (*upload_data_size) {
        /* A body of unannounced length (chunked): the library takes no answer before it was
         * read, so it is read and dropped, up to a bound past which the connection is cut. */
        req->body += *upload_data_size;
        *upload_data_size = 0;
        return req->body > SERVE_BODY_DROP_MAX ? MHD_NO : MHD_YES;
    }
    if (req->answered)
        return MHD_YES;
    req->answered = 1;
    if (req->body > SERVE_BODY_MAX)
        return send_error(c, MHD_HTTP_CONTENT_TOO_LARGE, "request body too large: at most %d bytes",
                          SERVE_BODY_MAX);
    return dispatch(c, ctx, url, post);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **req_cls,
                         enum MHD_RequestTerminationCode code)
{
    (void)cls;
    (void)c;
    (void)code;
    free(*req_cls);
    *req_cls = NULL;
}

/* The library's messages, as ours ("shmq serve: http: ..."). */
static void on_log(void *cls, const char *fmt, va_list ap) CLI_PRINTF(2, 0);

static void on_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char message[512];
    vsnprintf(message, sizeof message, fmt, ap);
    size_t n = strlen(message);
    while (n && (message[n - 1] == '\n' || message[n - 1] == '.'))
        message[--n] = 0;
    cli_error("http: %s", message);
}

static size_t on_unescape(void *cls, struct MHD_Connection *c, char *s)
{
    (void)cls;
    (void)c;
    return serve_unescape(s);
}

static void address_text(const struct sockaddr_storage *ss, char *buf, size_t size)
{
    char host[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;
    if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
        inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
        port = ntohs(a->sin6_port);
        snprintf(buf, size, "[%s]:%u", host, port);
        return;
    }
    const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
    inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
    port = ntohs(a->sin_port);
    snprintf(buf, size, "%s:%u", host, port);
}

int serve_http_start(const struct sockaddr *addr, socklen_t addrlen,
                     const struct serve_context *ctx, struct serve_http **out, char *bound,
                     size_t size)
{
    (void)addrlen;
    struct serve_http *h = calloc(1, sizeof *h);
    if (!h)
        return -ENOMEM;
    h->ctx = *ctx;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ERROR_LOG;
    if (addr->sa_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    errno = 0;
    h->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, &h->ctx, MHD_OPTION_EXTERNAL_LOGGER, on_log, NULL,
        MHD_OPTION_SOCK_ADDR, addr, MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)SERVE_REQUEST_MAX,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)SERVE_CONNECTIONS_MAX, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)SERVE_IDLE_TIMEOUT_S, MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
        MHD_OPTION_UNESCAPE_CALLBACK, on_unescape, NULL, MHD_OPTION_END);
    if (!h->daemon) {
        int err = errno ? -errno : -EADDRINUSE;
        free(h);
        return err;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(h->daemon, MHD_DAEMON_INFO_LISTEN_FD);
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    memset(&ss, 0, sizeof ss);
    if (info && getsockname(info->listen_fd, (struct sockaddr *)&ss, &len) == 0)
        address_text(&ss, bound, size);
    else
        snprintf(bound, size, "?");
    *out = h;
    return 0;
}

void serve_http_stop(struct serve_http *h)
{
    if (!h)
        return;
    MHD_stop_daemon(h->daemon);
    free(h);
}
