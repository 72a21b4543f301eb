/*
 * shmq serve: an HTTP server for monitoring stacks and browsers: Prometheus metrics, a JSON
 * API with the fields of `shmq stat --json`, a live dashboard, and (only when asked for, behind
 * a token) purge and repair. It looks at every queue and topic through observer handles: it
 * never takes a participant entry, never runs the reaper and never writes to a segment, except
 * in an admin action.
 *
 * The pieces, one per file: serve_route (paths), serve_snapshot (reading the segments),
 * serve_metrics (Prometheus), serve_api (JSON), serve_history (samples for the charts),
 * serve_assets (the embedded page), serve_admin (token and actions), serve_http
 * (libmicrohttpd). This file is the verb: options, the address, the sampling loop, the stop.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "clock.h"
#include "diag.h"
#include "interrupt.h"
#include "options.h"
#include "serve_http.h"

extern const struct cli_verb cli_verb_serve;

#define DEFAULT_LISTEN "127.0.0.1:9187"
#define TICK_NS (100 * 1000000LL) /* how often the loop looks for a signal */
#define HISTORY_SAMPLES_MAX 3600  /* per queue: an hour at the default interval */

/* "HOST:PORT" with HOST a dotted IPv4 address, "localhost" or "[IPv6]". 0 or -EINVAL. */
static int parse_listen(const char *text, struct sockaddr_storage *ss, socklen_t *len)
{
    memset(ss, 0, sizeof *ss);
    const char *colon = strrchr(text, ':');
    if (!colon || colon == text || strlen(colon + 1) == 0 || strlen(colon + 1) > 5)
        return -EINVAL;
    char *end;
    unsigned long port = strtoul(colon + 1, &end, 10);
    if (*end || port > 65535 || colon[1] < '0' || colon[1] > '9')
        return -EINVAL;
    char host[64];
    size_t n = (size_t)(colon - text);
    if (n >= sizeof host)
        return -EINVAL;
    memcpy(host, text, n);
    host[n] = 0;
    if (host[0] == '[') {
        if (n < 3 || host[n - 1] != ']')
            return -EINVAL;
        host[n - 1] = 0;
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
        if (inet_pton(AF_INET6, host + 1, &a->sin6_addr) != 1)
            return -EINVAL;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons((uint16_t)port);
        *len = sizeof *a;
        return 0;
    }
    struct sockaddr_in *a = (struct sockaddr_in *)ss;
    if (strcmp(host, "localhost") == 0)
        snprintf(host, sizeof host, "127.0.0.1");
    if (inet_pton(AF_INET, host, &a->sin_addr) != 1)
        return -EINVAL;
    a->sin_family = AF_INET;
    a->sin_port = htons((uint16_t)port);
    *len = sizeof *a;
    return 0;
}

static bool is_loopback(const struct sockaddr_storage *ss)
{
    if (ss->ss_family == AF_INET6)
        return IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)ss)->sin6_addr);
    return (ntohl(((const struct sockaddr_in *)ss)->sin_addr.s_addr) >> 24) == 127;
}

static void sample(struct serve_reader *r, struct serve_history *h)
{
    struct serve_snapshot s;
    int err = serve_snapshot_take(r, &s);
    if (!err) {
        err = serve_history_add(h, &s);
        serve_snapshot_free(&s);
    }
    if (err)
        cli_error("cannot sample the queues for the history: %s", strerror(-err));
}

/* Sample every interval until a signal comes. */
static void run_until_signal(struct serve_reader *r, struct serve_history *h, int64_t interval_ns)
{
    int64_t next = cli_monotonic_ns();
    while (!cli_interrupted()) {
        int64_t now = cli_monotonic_ns();
        if (now >= next) {
            sample(r, h);
            next += interval_ns;
            if (next <= now)
                next = now + interval_ns; /* a slow sample: skip, do not catch up */
            continue;
        }
        int64_t wait = next - now < TICK_NS ? next - now : TICK_NS;
        nanosleep(&(struct timespec){.tv_sec = wait / 1000000000, .tv_nsec = wait % 1000000000},
                  NULL);
    }
}

static int run(int argc, char **argv)
{
    const char *listen = DEFAULT_LISTEN, *token_file = NULL;
    int64_t interval_ns = 1000000000, history_ns = 300 * 1000000000LL;
    bool allow_admin = false;
    const struct cli_option options[] = {
        {.name = "listen",
         .kind = CLI_OPTION_STRING,
         .target = &listen,
         .value_name = "ADDR:PORT",
         .help = "address to listen on (default " DEFAULT_LISTEN "; port 0: any free port)"},
        {.name = "interval",
         .kind = CLI_OPTION_DURATION,
         .target = &interval_ns,
         .value_name = "DURATION",
         .help = "how often the history of the charts is sampled (default 1s)"},
        {.name = "history",
         .kind = CLI_OPTION_DURATION,
         .target = &history_ns,
         .value_name = "DURATION",
         .help = "how far back the history goes (default 5m, at most 3600 intervals)"},
        {.name = "allow-admin",
         .kind = CLI_OPTION_FLAG,
         .target = &allow_admin,
         .help = "accept POST purge and repair requests (needs --token-file)"},
        {.name = "token-file",
         .kind = CLI_OPTION_STRING,
         .target = &token_file,
         .value_name = "FILE",
         .help = "the bearer token admin requests must carry (first line of FILE)"},
    };
    int n, code;
    if (!cli_options_parse(&cli_verb_serve, options, CLI_COUNT_OF(options), argc, argv, &n, &code))
        return code;
    struct sockaddr_storage addr;
    socklen_t addrlen;
    if (parse_listen(listen, &addr, &addrlen) != 0) {
        cli_error("invalid value '%s' for --listen: expected ADDR:PORT, e.g. 127.0.0.1:9187 or "
                  "[::1]:9187",
                  listen);
        return CLI_EXIT_USAGE;
    }
    if (interval_ns < 100000000 || interval_ns > 60000000000LL) {
        cli_error("--interval must be from 100ms to 1m");
        return CLI_EXIT_USAGE;
    }
    if (history_ns < interval_ns || history_ns / interval_ns > HISTORY_SAMPLES_MAX) {
        cli_error("--history must be at least --interval and at most %d intervals (40 bytes "
                  "each per queue)",
                  HISTORY_SAMPLES_MAX);
        return CLI_EXIT_USAGE;
    }
    if (allow_admin != (token_file != NULL)) {
        cli_error(allow_admin ? "--allow-admin needs --token-file FILE: admin requests must "
                                "carry its token"
                              : "--token-file is only for --allow-admin");
        return CLI_EXIT_USAGE;
    }
    static struct serve_admin admin; /* static: the token stays off the stack */
    if (token_file) {
        bool insecure = false;
        int err = serve_admin_load(&admin, token_file, &insecure);
        if (err == -EINVAL || err == -EFBIG) {
            cli_error("the token in '%s' must be one line of 16 to %d visible ASCII characters",
                      token_file, SERVE_TOKEN_MAX);
            return CLI_EXIT_USAGE;
        }
        if (err)
            return cli_fail_system(err, "cannot read the token file '%s'", token_file);
        if (insecure)
            cli_error("warning: others than its owner may read the token file '%s'", token_file);
    }
    if (!is_loopback(&addr))
        cli_error("warning: listening on %s, not on loopback: whoever reaches it sees every "
                  "queue's name and statistics",
                  listen);

    struct serve_history history;
    struct serve_reader reader;
    int err = serve_history_init(&history, (unsigned)(history_ns / interval_ns) + 1,
                                 interval_ns / 1000000);
    if (err)
        return cli_fail_system(err, "cannot keep the history");
    if ((err = serve_reader_init(&reader)) != 0) {
        serve_history_free(&history);
        return cli_fail_system(err, "cannot start");
    }
#ifdef SHMQ_WITH_HTTP
    struct serve_context ctx = {.admin = &admin, .history = &history, .reader = &reader};
    struct serve_http *http;
    char bound[80];
    err =
        serve_http_start((const struct sockaddr *)&addr, addrlen, &ctx, &http, bound, sizeof bound);
    if (err) {
        serve_reader_free(&reader);
        serve_history_free(&history);
        return cli_fail_system(err, "cannot listen on %s", listen);
    }
    /* One line on stdout, for people and for scripts that started it on port 0. */
    printf("listening on http://%s/\n", bound);
    fflush(stdout);
    run_until_signal(&reader, &history, interval_ns);
    serve_http_stop(http);
#else
    (void)addrlen;
    (void)run_until_signal;
    cli_error("this shmq was built without libmicrohttpd: install libmicrohttpd-dev and build "
              "it again to serve");
    serve_reader_free(&reader);
    serve_history_free(&history);
    return CLI_EXIT_FAILURE;
#endif
    serve_reader_free(&reader);
    serve_history_free(&history);
    return CLI_EXIT_OK;
}

const struct cli_verb cli_verb_serve = {
    .name = "serve",
    .operands = "",
    .min_operands = 0,
    .max_operands = 0,
    .summary = "serve metrics, a JSON API and a live dashboard over HTTP",
    .description =
        "Serve every queue and topic of this machine over HTTP until SIGINT or SIGTERM:\n"
        "  GET /metrics            Prometheus text format (shmq_queue_messages, ..._total\n"
        "                          counters, shmq_topic_group_lag_messages, ...)\n"
        "  GET /api/queues[/NAME]  JSON: the objects of 'shmq stat --json'\n"
        "  GET /api/topics[/NAME]  the same for topics (with \"group_list\")\n"
        "  GET /api/history        the samples the dashboard draws (?seconds=N)\n"
        "  GET /                   a live dashboard (no internet needed: it is built in)\n"
        "  POST /api/queues/NAME/purge, /api/queues/NAME/repair, /api/topics/NAME/repair\n"
        "                          admin actions, only with --allow-admin and the header\n"
        "                          'Authorization: Bearer TOKEN' (403 otherwise)\n\n"
        "It only looks: segments are opened as an observer (read-only, no participant\n"
        "entry, no reaper), so what dead processes hold stays held until an admin repair or\n"
        "'shmq repair'. A segment it may not read is listed with an \"error\". It prints\n"
        "'listening on http://ADDR:PORT/' when ready. It listens on loopback unless --listen\n"
        "says otherwise; requests are bounded (16 KiB of headers, 1 KiB of body).",
    .run = run,
};
