/*
 * The bridge's run: open the shm queue, connect, run the direction's loop on the connection,
 * and when the connection is lost, connect again after a pause that doubles from 100 ms up to
 * cfg->backoff_max_ns (with ±25% jitter, so that bridges do not come back in step), for as
 * long as cfg->retry_ns allows. What was in flight when a connection died is settled on the
 * next one (publisher.h, consumer.h); what is still held when the run ends is given back.
 */
#include "amqp_bridge.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "celery.h"
#include "connection.h"
#include "consumer.h"
#include "publisher.h"
#include "session.h"
#include "url.h"

#define CONNECT_TIMEOUT_NS (5 * 1000000000LL)
#define BACKOFF_MIN_NS (100 * 1000000LL)
#define DEFAULT_BACKOFF_MAX_NS (10 * 1000000000LL)
#define DEFAULT_HEARTBEAT_S 30
#define LOG_EVERY_NS (10 * 1000000000LL) /* while the broker stays unreachable */
/* Connections that end with the broker refusing something while streaming (no message
 * moved in between) before the refusal is taken as lasting. */
#define REFUSALS_MAX 3

int64_t bridge_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void bridge_session_activity(struct bridge_session *s)
{
    s->active_ns = bridge_now_ns();
    if (!s->first_ns)
        s->first_ns = s->active_ns;
}

void bridge_session_settled(struct bridge_session *s)
{
    s->last_ns = bridge_now_ns();
}

static void vlog(const struct bridge_session *s, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
static void vlog(const struct bridge_session *s, const char *fmt, va_list ap)
{
    FILE *log = s->cfg->log;
    if (!log)
        return;
    char text[1024];
    vsnprintf(text, sizeof text, fmt, ap);
    fprintf(log, "shmq bridge: %s\n", text);
    fflush(log);
}

void bridge_info(const struct bridge_session *s, const char *fmt, ...)
{
    if (!s->cfg->verbose)
        return;
    va_list ap;
    va_start(ap, fmt);
    vlog(s, fmt, ap);
    va_end(ap);
}

void bridge_warn(const struct bridge_session *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog(s, fmt, ap);
    va_end(ap);
}

int bridge_fail(struct bridge_session *s, int err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->why, s->why_size, fmt, ap);
    va_end(ap);
    return err;
}

static void format_duration(int64_t ns, char *buf, size_t size)
{
    if (ns < 1000000000)
        snprintf(buf, size, "%lld ms", (long long)(ns / 1000000));
    else
        snprintf(buf, size, "%.1f s", (double)ns / 1e9);
}

/* Sleep up to ns in slices, returning early when a stop is asked. */
static void pause_for(struct bridge_session *s, int64_t ns)
{
    int64_t until = bridge_now_ns() + ns;
    for (;;) {
        if (s->cfg->stop && s->cfg->stop())
            return;
        int64_t left = until - bridge_now_ns();
        if (left <= 0)
            return;
        if (left > BRIDGE_SLICE_NS)
            left = BRIDGE_SLICE_NS;
        struct timespec ts = {.tv_sec = 0, .tv_nsec = (long)left};
        nanosleep(&ts, NULL);
    }
}

static int64_t jitter(int64_t ns)
{
    /* ±25%: rand() is enough to spread bridges apart */
    return ns - ns / 4 + (int64_t)((double)ns / 2 * ((double)rand() / RAND_MAX));
}

/* Everything a run holds. */
struct run {
    struct bridge_session s;
    struct bridge_url url;
    struct bridge_celery celery;
    bool celery_ready;
    struct bridge_publisher pub;
    bool pub_ready;
    struct bridge_consumer con;
    char routing_key[256];
    char reply_queue[256];
};

static void host_name(char *host, size_t size)
{
    if (gethostname(host, size) != 0)
        snprintf(host, size, "localhost");
    host[size - 1] = 0;
}

/* The shm side: open the queue, or open the topic (and subscribe, for topic-out). */
static int open_shm(struct run *r, const struct amqp_bridge_config *cfg)
{
    struct bridge_session *s = &r->s;
    int err;
    if (!s->topic) {
        if ((err = shmq_open(cfg->queue, &s->q)) != 0) {
            s->q = NULL;
            return bridge_fail(s, err, "queue '%s': %s%s", cfg->queue, shmq_strerror(err),
                               err == -EMEDIUMTYPE ? " (a topic: use topic-out or topic-in)" : "");
        }
        return 0;
    }
    if ((err = shmq_topic_open(cfg->queue, &s->t)) != 0) {
        s->t = NULL;
        return bridge_fail(s, err, "topic '%s': %s%s", cfg->queue, shmq_strerror(err),
                           err == -EMEDIUMTYPE ? " (a queue: use out or in)" : "");
    }
    char host[200];
    host_name(host, sizeof host);
    snprintf(s->origin, sizeof s->origin, "%s/%s", host, cfg->queue);
    if (cfg->direction != AMQP_BRIDGE_TOPIC_OUT)
        return 0;
    /* Durable: while the bridge is away its group keeps its place (and, with the BLOCK
     * policy, holds publishers back for the topic's group timeout). */
    const char *pattern = cfg->pattern ? cfg->pattern : "#";
    const char *group = cfg->group ? cfg->group : "shmq-bridge";
    if ((err = shmq_subscribe(s->t, pattern, group, SHMQ_SUB_DURABLE, &s->sub)) != 0) {
        s->sub = NULL;
        return bridge_fail(s, err, "subscribing to topic '%s' (pattern '%s', group '%s'): %s%s",
                           cfg->queue, pattern, group, shmq_strerror(err),
                           err == -EINVAL ? " (a group of that name with another pattern?)" : "");
    }
    return 0;
}

static int prepare(struct run *r, const struct amqp_bridge_config *cfg)
{
    struct bridge_session *s = &r->s;
    int err = bridge_url_parse(cfg->url, &r->url, s->why, s->why_size);
    if (err)
        return err;
    s->topic = cfg->direction == AMQP_BRIDGE_TOPIC_OUT || cfg->direction == AMQP_BRIDGE_TOPIC_IN;
    if ((err = open_shm(r, cfg)) != 0)
        return err;
    if (cfg->direction == AMQP_BRIDGE_IN || cfg->direction == AMQP_BRIDGE_TOPIC_IN) {
        bridge_consumer_init(&r->con, s);
        return 0;
    }
    snprintf(r->routing_key, sizeof r->routing_key, "%s",
             cfg->routing_key   ? cfg->routing_key
             : cfg->celery_task ? "celery"
                                : cfg->queue);
    s->routing_key = r->routing_key;
    if (cfg->celery_task) {
        char host[200];
        host_name(host, sizeof host);
        snprintf(r->reply_queue, sizeof r->reply_queue, "%s",
                 cfg->reply_queue ? cfg->reply_queue : "shmq.replies.");
        if (!cfg->reply_queue)
            strncat(r->reply_queue, host, sizeof r->reply_queue - strlen(r->reply_queue) - 1);
        s->reply_queue = r->reply_queue;
        struct shmq_stat st;
        if ((err = shmq_stat(s->q, &st)) != 0)
            return bridge_fail(s, err, "queue '%s': %s", cfg->queue, shmq_strerror(err));
        if ((err = bridge_celery_init(&r->celery, cfg->celery_task, cfg->celery_args,
                                      r->reply_queue, cfg->queue, st.created_ns)) != 0)
            return bridge_fail(s, err, "%s", strerror(-err));
        r->celery_ready = true;
    }
    if ((err = bridge_publisher_init(&r->pub, s, cfg->celery_task ? &r->celery : NULL)) != 0)
        return bridge_fail(s, err, "%s", strerror(-err));
    r->pub_ready = true;
    return 0;
}

static void finish(struct run *r)
{
    if (r->pub_ready) {
        bridge_publisher_give_back(&r->pub);
        bridge_publisher_free(&r->pub);
    }
    if (r->celery_ready)
        bridge_celery_free(&r->celery);
    if (r->s.q)
        shmq_close(r->s.q);
    if (r->s.t)
        shmq_topic_close(r->s.t); /* and the subscription: a durable group keeps its place */
    bridge_url_free(&r->url);
}

static bool publishes(const struct amqp_bridge_config *cfg)
{
    return cfg->direction == AMQP_BRIDGE_OUT || cfg->direction == AMQP_BRIDGE_TOPIC_OUT;
}

static void lost(struct run *r)
{
    if (publishes(r->s.cfg))
        bridge_publisher_lost(&r->pub);
    else
        bridge_consumer_lost(&r->con);
}

int amqp_bridge_run(const struct amqp_bridge_config *cfg_in, struct amqp_bridge_stats *st,
                    char *why, size_t why_size)
{
    struct amqp_bridge_config cfg = *cfg_in;
    bool topic = cfg.direction == AMQP_BRIDGE_TOPIC_OUT || cfg.direction == AMQP_BRIDGE_TOPIC_IN;
    if (!cfg.exchange)
        cfg.exchange = topic ? "amq.topic" : "";
    char source[300];
    if (cfg.direction == AMQP_BRIDGE_TOPIC_IN && !cfg.source) {
        char host[200];
        host_name(host, sizeof host);
        snprintf(source, sizeof source, "shmq.topic.%s.%s", host, cfg.queue);
        cfg.source = source;
    }
    if (!cfg.backoff_max_ns)
        cfg.backoff_max_ns = DEFAULT_BACKOFF_MAX_NS;
    if (cfg.backoff_max_ns < BACKOFF_MIN_NS)
        cfg.backoff_max_ns = BACKOFF_MIN_NS;
    memset(st, 0, sizeof *st);
    why[0] = 0;
    struct run *r = calloc(1, sizeof *r);
    if (!r) {
        snprintf(why, why_size, "out of memory");
        return -ENOMEM;
    }
    struct bridge_session *s = &r->s;
    s->cfg = &cfg;
    s->st = st;
    s->why = why;
    s->why_size = why_size;
    s->active_ns = bridge_now_ns();
    srand((unsigned)(s->active_ns ^ getpid()));

    int err = prepare(r, &cfg);
    int64_t backoff = BACKOFF_MIN_NS, down_since = 0, logged_at = INT64_MIN / 2;
    unsigned refusals = 0;
    while (err == 0) {
        if (cfg.stop && cfg.stop())
            break; /* nothing is in flight between two connections: all is held or settled */
        struct bridge_conn c;
        err = bridge_conn_open(&c, &r->url, cfg.heartbeat_s ? cfg.heartbeat_s : DEFAULT_HEARTBEAT_S,
                               CONNECT_TIMEOUT_NS);
        if (err == -ENOTCONN) {
            int64_t now = bridge_now_ns();
            if (!down_since)
                down_since = now;
            if (cfg.retry_ns && now - down_since >= cfg.retry_ns) {
                char d[32];
                format_duration(now - down_since, d, sizeof d);
                err = bridge_fail(s, -ETIMEDOUT, "%s: %s (for %s, giving up)", r->url.display,
                                  c.error, d);
                break;
            }
            int64_t pause = jitter(backoff);
            /* The first failure and then one line every LOG_EVERY_NS, unless verbose. */
            if (cfg.verbose || now - logged_at >= LOG_EVERY_NS) {
                char d[32];
                format_duration(now - down_since, d, sizeof d);
                bridge_warn(s, "%s: %s (for %s); trying again, pausing up to %.1f s",
                            r->url.display, c.error, d, (double)cfg.backoff_max_ns / 1e9);
                logged_at = now;
            }
            pause_for(s, pause);
            backoff = backoff * 2 > cfg.backoff_max_ns ? cfg.backoff_max_ns : backoff * 2;
            err = 0;
            continue;
        }
        if (err) {
            err = bridge_fail(s, err, "%s: %s", r->url.display, c.error);
            break;
        }
        st->connections++;
        if (down_since) {
            int64_t down = bridge_now_ns() - down_since;
            if (st->connections > 1)
                st->downtime_ns += down;
            char d[32];
            format_duration(down, d, sizeof d);
            bridge_warn(s, "connected to %s after %s", r->url.display, d);
        } else {
            bridge_info(s, "connected to %s", r->url.display);
        }
        down_since = 0;
        backoff = BACKOFF_MIN_NS;
        s->active_ns = bridge_now_ns(); /* time without a broker is not idle time */
        uint64_t before = st->forwarded;
        err = publishes(&cfg) ? bridge_publisher_session(&r->pub, &c)
                              : bridge_consumer_session(&r->con, &c);
        if (err && !why[0])
            bridge_fail(s, err, "%s", c.error);
        bridge_conn_close(&c);
        if (err == 0 || s->fatal)
            break;
        /* The connection is gone (or the broker refused something mid-stream): go on with a
         * new one, unless the refusal keeps coming back with nothing moving in between. */
        refusals = err == -ENOTCONN || st->forwarded > before ? 0 : refusals + 1;
        if (refusals >= REFUSALS_MAX)
            break;
        lost(r);
        if (cfg.stop && cfg.stop()) {
            err = 0;
            break;
        }
        bridge_warn(s, "%s; reconnecting", why);
        why[0] = 0;
        down_since = bridge_now_ns();
        err = 0;
    }
    if (s->first_ns && s->last_ns > s->first_ns)
        st->elapsed_ns = s->last_ns - s->first_ns;
    finish(r);
    free(r);
    return err;
}
