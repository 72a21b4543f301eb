/*
 * shmq bridge: forward a queue to an AMQP broker (RabbitMQ), or an AMQP queue into a shmq
 * queue. The work is done by the bridge module (tools/bridge/amqp_bridge.h), built only when
 * librabbitmq is found (SHMQ_WITH_AMQP); without it the verb still parses its options and
 * answers --help, then says that this build has no AMQP support.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "diag.h"
#include "interrupt.h"
#include "options.h"
#include "parse.h"
#include "queue.h"

#ifdef SHMQ_WITH_AMQP
#include "amqp_bridge.h"
#endif

extern const struct cli_verb cli_verb_bridge;

#define DEFAULT_URL "amqp://guest:guest@127.0.0.1:5672/%2f"

struct bridge_options {
    const char *url;
    const char *exchange;
    const char *routing_key;
    const char *from;
    const char *celery_task;
    const char *celery_args;
    const char *reply_queue;
    const char *pattern;
    const char *group;
    const char *binding;
    uint64_t window;
    uint64_t prefetch;
    uint64_t count;
    int64_t idle_ns;
    int64_t retry_ns;
    int64_t backoff_max_ns;
    int64_t heartbeat_ns;
    bool declare;
    bool transient;
    bool verbose;
    bool quiet;
};

#ifdef SHMQ_WITH_AMQP
static bool stop_requested(void)
{
    return cli_interrupted() != 0;
}

static int exit_code_of(int err)
{
    switch (-err) {
    case EILSEQ:
        return CLI_EXIT_BAD_INPUT;
    case EINVAL:
    case ETIMEDOUT:
        return CLI_EXIT_FAILURE;
    default:
        return cli_exit_code(err);
    }
}

static void counter(const char *name, uint64_t value, const char *meaning)
{
    fprintf(stderr, "  %-12s %-8" PRIu64 " %s\n", name, value, meaning);
}

static void print_summary(const struct amqp_bridge_config *cfg, const struct amqp_bridge_stats *st,
                          const char *url)
{
    double s = (double)st->elapsed_ns / 1e9;
    char rate[64] = "";
    if (st->elapsed_ns > 0 && st->forwarded > 1)
        snprintf(rate, sizeof rate, ", %.0f msg/s", (double)st->forwarded / s);
    if (cfg->direction == AMQP_BRIDGE_TOPIC_OUT || cfg->direction == AMQP_BRIDGE_TOPIC_IN) {
        bool out = cfg->direction == AMQP_BRIDGE_TOPIC_OUT;
        fprintf(stderr,
                "shmq bridge: %s: %" PRIu64 " message%s %s topic '%s' %s exchange '%s' at %s in "
                "%.2f s%s\n",
                out ? "topic-out" : "topic-in", st->forwarded, st->forwarded == 1 ? "" : "s",
                out ? "from" : "to", cfg->queue, out ? "to" : "from",
                cfg->exchange ? cfg->exchange : "amq.topic", url, s, rate);
        if (out) {
            counter("republished", st->republished,
                    "sent again after a lost connection or a broker nack (possible duplicates)");
            counter("lost", st->lost, "overwritten in the topic before the bridge read them");
            counter("dropped", st->dropped, "unconfirmed at exit (a topic cannot take them back)");
        } else {
            counter("redelivered", st->redelivered,
                    "marked redelivered by the broker (possible duplicates)");
            counter("looped", st->looped, "sent by a topic-out bridge of this topic: skipped");
        }
        fprintf(stderr, "  %-12s %-8" PRIu64 " %.1f s without a broker\n", "connections",
                st->connections, (double)st->downtime_ns / 1e9);
        return;
    }
    if (cfg->direction == AMQP_BRIDGE_OUT)
        fprintf(stderr,
                "shmq bridge: out: %" PRIu64 " message%s from '%s' to %s (exchange '%s', "
                "routing key '%s') in %.2f s%s\n",
                st->forwarded, st->forwarded == 1 ? "" : "s", cfg->queue, url, cfg->exchange,
                cfg->routing_key   ? cfg->routing_key
                : cfg->celery_task ? "celery"
                                   : cfg->queue,
                s, rate);
    else
        fprintf(
            stderr, "shmq bridge: in: %" PRIu64 " message%s from '%s' at %s to '%s' in %.2f s%s\n",
            st->forwarded, st->forwarded == 1 ? "" : "s", cfg->source, url, cfg->queue, s, rate);
    if (cfg->direction == AMQP_BRIDGE_OUT) {
        counter("republished", st->republished,
                "sent again after a lost connection or a broker nack (possible duplicates)");
        counter("redelivered", st->redelivered,
                "claimed again after an earlier bridge died (possible duplicates)");
        counter("returned", st->returned, "unroutable, published again");
        counter("given-back", st->given_back, "unconfirmed at exit, back in the queue");
        if (st->ack_failures)
            counter("ack-failures", st->ack_failures, "confirmed, but the queue refused the ack");
        if (cfg->celery_task)
            fprintf(stderr,
                    "  %-12s %-8" PRIu64 " Celery results to reply queues (%" PRIu64
                    " dropped, %" PRIu64 " intermediate states skipped)\n",
                    "replies", st->replies, st->replies_dropped, st->replies_ignored);
    } else {
        counter("redelivered", st->redelivered,
                "marked redelivered by the broker (possible duplicates)");
    }
    fprintf(stderr, "  %-12s %-8" PRIu64 " %.1f s without a broker\n", "connections",
            st->connections, (double)st->downtime_ns / 1e9);
}
#endif

static int run(int argc, char **argv)
{
    struct bridge_options o = {.url = getenv("SHMQ_AMQP_URL"), .celery_args = "string"};
    if (!o.url || !o.url[0])
        o.url = DEFAULT_URL;
    o.backoff_max_ns = 10 * 1000000000LL;
    o.heartbeat_ns = 30 * 1000000000LL;
    const struct cli_option options[] = {
        {.name = "url",
         .letter = 'u',
         .kind = CLI_OPTION_STRING,
         .target = &o.url,
         .value_name = "URL",
         .help =
             "broker: amqp://user:pass@host:port/vhost (default $SHMQ_AMQP_URL, else " DEFAULT_URL
             ")"},
        {.name = "exchange",
         .letter = 'e',
         .kind = CLI_OPTION_STRING,
         .target = &o.exchange,
         .value_name = "NAME",
         .help = "out: exchange to publish to (default: the default "
                 "exchange, which routes to the queue named by the key)"},
        {.name = "routing-key",
         .letter = 'k',
         .kind = CLI_OPTION_STRING,
         .target = &o.routing_key,
         .value_name = "KEY",
         .help = "out: routing key (default: the queue's name; 'celery' with --celery)"},
        {.name = "from",
         .letter = 'f',
         .kind = CLI_OPTION_STRING,
         .target = &o.from,
         .value_name = "AMQP_QUEUE",
         .help = "in: AMQP queue to consume (default: NAME)"},
        {.name = "declare",
         .kind = CLI_OPTION_FLAG,
         .target = &o.declare,
         .help = "declare the AMQP queue, durable (out: the routing key's, bound to the exchange)"},
        {.name = "window",
         .letter = 'w',
         .kind = CLI_OPTION_COUNT,
         .target = &o.window,
         .value_name = "N",
         .min = 1,
         .max = 65536,
         .help = "out: messages published and not yet confirmed, at most (default 512)"},
        {.name = "prefetch",
         .kind = CLI_OPTION_COUNT,
         .target = &o.prefetch,
         .value_name = "N",
         .min = 1,
         .max = 65535,
         .help = "in: deliveries the broker sends ahead of the acks (default 256)"},
        {.name = "transient",
         .kind = CLI_OPTION_FLAG,
         .target = &o.transient,
         .help = "out: delivery mode 1 (the broker may keep messages in memory only)"},
        {.name = "celery",
         .kind = CLI_OPTION_STRING,
         .target = &o.celery_task,
         .value_name = "TASK",
         .help = "out: send each message as a Celery task message of TASK"},
        {.name = "celery-args",
         .kind = CLI_OPTION_STRING,
         .target = &o.celery_args,
         .value_name = "string|json",
         .help = "how a message becomes the task's arguments (default string)"},
        {.name = "pattern",
         .kind = CLI_OPTION_STRING,
         .target = &o.pattern,
         .value_name = "PATTERN",
         .help = "topic-out: subjects to forward (default '#': all)"},
        {.name = "group",
         .kind = CLI_OPTION_STRING,
         .target = &o.group,
         .value_name = "GROUP",
         .help = "topic-out: the bridge's durable subscriber group (default shmq-bridge)"},
        {.name = "binding",
         .kind = CLI_OPTION_STRING,
         .target = &o.binding,
         .value_name = "KEY",
         .help = "topic-in: binding key of the bridge's queue (default '#')"},
        {.name = "reply-queue",
         .kind = CLI_OPTION_STRING,
         .target = &o.reply_queue,
         .value_name = "AMQP_QUEUE",
         .help = "out with --celery: where task results come back (default shmq.replies.HOST)"},
        {.name = "count",
         .letter = 'n',
         .kind = CLI_OPTION_COUNT,
         .target = &o.count,
         .value_name = "N",
         .min = 1,
         .help = "stop after N messages"},
        {.name = "idle",
         .kind = CLI_OPTION_DURATION,
         .target = &o.idle_ns,
         .value_name = "DURATION",
         .help = "stop when no message came for DURATION (time without a broker not counted)"},
        {.name = "retry-for",
         .kind = CLI_OPTION_DURATION,
         .target = &o.retry_ns,
         .value_name = "DURATION",
         .help = "give up when the broker stays unreachable this long (default: never)"},
        {.name = "backoff-max",
         .kind = CLI_OPTION_DURATION,
         .target = &o.backoff_max_ns,
         .value_name = "DURATION",
         .help = "longest pause between two connection attempts (default 10s)"},
        {.name = "heartbeat",
         .kind = CLI_OPTION_DURATION,
         .target = &o.heartbeat_ns,
         .value_name = "DURATION",
         .help = "AMQP heartbeat interval (default 30s; 0 = none)"},
        {.name = "verbose",
         .letter = 'v',
         .kind = CLI_OPTION_FLAG,
         .target = &o.verbose,
         .help = "say when connections are made (losses are always said)"},
        {.name = "quiet",
         .letter = 'q',
         .kind = CLI_OPTION_FLAG,
         .target = &o.quiet,
         .help = "no summary at exit"},
    };
    int n, code;
    if (!cli_options_parse(&cli_verb_bridge, options, CLI_COUNT_OF(options), argc, argv, &n, &code))
        return code;
    const char *direction = argv[1], *name = argv[2];
    static const char *const directions[] = {"out", "in", "topic-out", "topic-in"};
    int dir = -1;
    for (int i = 0; i < 4; i++)
        if (strcmp(direction, directions[i]) == 0)
            dir = i;
    if (dir < 0) {
        cli_error("the direction is 'out' (queue to broker), 'in' (broker to queue), "
                  "'topic-out' or 'topic-in', not '%s' (see 'shmq bridge --help')",
                  direction);
        return CLI_EXIT_USAGE;
    }
    bool topic = dir >= 2;
    if ((code = cli_queue_check_name(name)) != 0)
        return code;
    /* Each option that belongs to some directions only, with the directions it belongs to. */
    const struct {
        bool given;
        const char *name;
        unsigned dirs; /* bit i: directions[i] */
    } owned[] = {
        {o.exchange != NULL, "--exchange", 1 | 4 | 8},
        {o.routing_key != NULL, "--routing-key", 1},
        {o.window != 0, "--window", 1 | 4},
        {o.transient, "--transient", 1 | 4},
        {o.celery_task != NULL, "--celery", 1},
        {o.reply_queue != NULL, "--reply-queue", 1},
        {o.from != NULL, "--from", 2 | 8},
        {o.prefetch != 0, "--prefetch", 2 | 8},
        {o.declare, "--declare", 1 | 2},
        {o.pattern != NULL, "--pattern", 4},
        {o.group != NULL, "--group", 4},
        {o.binding != NULL, "--binding", 8},
    };
    for (size_t i = 0; i < CLI_COUNT_OF(owned); i++) {
        if (!owned[i].given || (owned[i].dirs & (1u << dir)))
            continue;
        char list[64] = "";
        for (int d = 0; d < 4; d++)
            if (owned[i].dirs & (1u << d))
                snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s",
                         list[0] ? ", " : "", directions[d]);
        cli_error("%s applies to 'shmq bridge %s' only", owned[i].name, list);
        return CLI_EXIT_USAGE;
    }
    bool json_args = strcmp(o.celery_args, "json") == 0;
    if (!json_args && strcmp(o.celery_args, "string") != 0) {
        cli_error("--celery-args is 'string' or 'json', not '%s'", o.celery_args);
        return CLI_EXIT_USAGE;
    }
    if (o.heartbeat_ns != 0 &&
        (o.heartbeat_ns < 1000000000LL || o.heartbeat_ns > 3600000000000LL)) {
        cli_error("--heartbeat must be 0 or between 1s and 1h");
        return CLI_EXIT_USAGE;
    }
#ifndef SHMQ_WITH_AMQP
    (void)json_args;
    (void)topic;
    cli_error("this shmq was built without AMQP support: librabbitmq was not found when it was "
              "built (Debian: install librabbitmq-dev, then configure again with "
              "-DSHMQ_WITH_AMQP=ON)");
    return CLI_EXIT_FAILURE;
#else
    char url[600], why[1024];
    if (amqp_bridge_url_check(o.url, url, sizeof url, why, sizeof why) != 0) {
        cli_error("--url: %s", why);
        return CLI_EXIT_USAGE;
    }
    static const enum amqp_bridge_direction kinds[] = {AMQP_BRIDGE_OUT, AMQP_BRIDGE_IN,
                                                       AMQP_BRIDGE_TOPIC_OUT, AMQP_BRIDGE_TOPIC_IN};
    struct amqp_bridge_config cfg = {
        .direction = kinds[dir],
        .queue = name,
        .url = o.url,
        .exchange = o.exchange ? o.exchange
                    : topic    ? NULL
                               : "",
        .routing_key = o.routing_key,
        .window = (unsigned)o.window,
        .transient = o.transient,
        .celery_task = o.celery_task,
        .celery_args = json_args ? AMQP_BRIDGE_CELERY_JSON : AMQP_BRIDGE_CELERY_STRING,
        .reply_queue = o.reply_queue,
        .source = o.from  ? o.from
                  : topic ? NULL
                          : name,
        .pattern = o.pattern,
        .group = o.group,
        .binding = o.binding,
        .prefetch = (unsigned)o.prefetch,
        .declare = o.declare,
        .count = o.count,
        .idle_ns = o.idle_ns == SHMQ_FOREVER ? 0 : o.idle_ns,
        .retry_ns = o.retry_ns == SHMQ_FOREVER ? 0 : o.retry_ns,
        .backoff_max_ns = o.backoff_max_ns,
        .heartbeat_s = (unsigned)(o.heartbeat_ns / 1000000000LL),
        .log = stderr,
        .verbose = o.verbose,
        .stop = stop_requested,
    };
    struct amqp_bridge_stats st;
    int err = amqp_bridge_run(&cfg, &st, why, sizeof why);
    if (!o.quiet && (err == 0 || st.connections > 0 || st.forwarded > 0))
        print_summary(&cfg, &st, url);
    if (err) {
        cli_error("%s", why);
        return exit_code_of(err);
    }
    return CLI_EXIT_OK;
#endif
}

const struct cli_verb cli_verb_bridge = {
    .name = "bridge",
    .operands = "out|in|topic-out|topic-in NAME",
    .min_operands = 2,
    .max_operands = 2,
    .summary = "forward a queue or topic to an AMQP broker (RabbitMQ), or back",
    .description =
        "shmq bridge out NAME        moves every message of queue NAME to an AMQP exchange;\n"
        "shmq bridge in NAME         moves every message of an AMQP queue into queue NAME;\n"
        "shmq bridge topic-out NAME  publishes topic NAME's messages to an AMQP topic\n"
        "                            exchange, the subject as the routing key;\n"
        "shmq bridge topic-in NAME   publishes what an AMQP topic exchange routes to it into\n"
        "                            topic NAME, the routing key as the subject.\n"
        "It runs until Ctrl-C or SIGTERM (or --count, --idle), then prints what it did.\n"
        "Run one bridge per direction and queue; several bridges may serve one queue.\n\n"
        "Nothing is lost. Out: a message is claimed, published with publisher confirms, and\n"
        "acknowledged to the queue only when the broker has confirmed it; if the bridge\n"
        "dies, the queue delivers its claims again. In: a delivery is acknowledged to the\n"
        "broker only after it is in the queue; if the bridge dies, the broker delivers it\n"
        "again. When the broker goes away the bridge reconnects, pausing 100ms, 200ms, ...\n"
        "up to --backoff-max, and sends again what was not confirmed. A message can arrive\n"
        "twice only after such a failure: the summary counts the possible duplicates\n"
        "(republished, redelivered), and every copy of a message sent out carries the same\n"
        "AMQP message_id, NAME/ID, so a consumer can drop the second one. Order is kept per\n"
        "producer, except for messages delivered again after a failure.\n\n"
        "Out publishes with the mandatory flag, persistent (delivery mode 2) unless\n"
        "--transient: a message that no queue takes comes back and is published again\n"
        "(with growing pauses) until a queue is bound; use --declare to make the queue.\n\n"
        "Metadata travels in the AMQP properties both ways: type, correlation_id, reply_to,\n"
        "timestamp (the nanoseconds in the header x-shmq-timestamp-ns). Out also sets\n"
        "message_id and, for a message the queue delivered before, x-shmq-deliveries.\n\n"
        "Celery: with --celery TASK each message becomes a Celery task message (protocol 2,\n"
        "JSON), so that a stock Celery worker runs TASK: by default with the message as its\n"
        "one string argument (it must be UTF-8); with --celery-args json the message is a\n"
        "JSON array of arguments, or an object of keyword arguments. It goes to the Celery\n"
        "queue 'celery' (--routing-key for another). Task ids are derived from the message,\n"
        "so a message sent twice has one task id. A message with a reply-to (shmq call)\n"
        "gets its result back when the Celery app uses the rpc:// result backend: the bridge\n"
        "consumes --reply-queue and pushes each final result (Celery's JSON: status, result,\n"
        "traceback) to the caller's reply queue, with the task state as the message type.\n\n"
        "Topics: topic-out subscribes in a durable group (--group, --pattern) and publishes\n"
        "to --exchange (default amq.topic), not mandatory: a message no AMQP subscriber\n"
        "wants is dropped, as in a shm topic. A topic group has no claim/ack: what the bridge\n"
        "took and the broker had not confirmed when the bridge is KILLED is lost (at most\n"
        "--window messages; a clean stop waits for the confirms). topic-in binds its own\n"
        "durable queue (--from, default shmq.topic.HOST.NAME) with --binding (AMQP binding\n"
        "keys are shmq patterns) and skips what a topic-out bridge of the same topic sent,\n"
        "so both can run at once.\n\n"
        "A message that cannot be carried (too large for the queue's slots, not UTF-8 for a\n"
        "Celery string argument, ...) stops the bridge with exit code 7; it stays where it\n"
        "was. A broker that refuses the login, the vhost or a missing exchange or queue\n"
        "stops it at once (exit code 4 or 3).\n\n"
        "The summary on exit (stderr): messages forwarded, time and rate, then one line per\n"
        "counter: republished, redelivered (possible duplicates), returned (unroutable),\n"
        "given-back (unconfirmed at exit: back in the queue), connections and time without\n"
        "a broker.\n\n"
        "examples:\n"
        "  shmq bridge out jobs --declare                  # queue jobs -> AMQP queue jobs\n"
        "  shmq bridge out orders -e events -k orders.new  # to an exchange\n"
        "  shmq bridge in jobs --from work --prefetch 500  # AMQP queue work -> queue jobs\n"
        "  shmq bridge out tasks --celery proj.tasks.add --celery-args json\n"
        "  shmq bridge out jobs -n 100000 -u amqp://app:secret@10.0.0.5:5672/prod\n"
        "  shmq bridge topic-out prices --pattern 'prices.eu.#'  # to amq.topic\n"
        "  shmq bridge topic-in prices --binding 'prices.us.#'   # from amq.topic",
    .run = run,
};
