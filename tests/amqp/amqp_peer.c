/*
 * amqp_peer: the broker side of the bridge tests, with librabbitmq directly (not the bridge).
 *
 *   amqp_peer declare URL QUEUE               a durable queue
 *   amqp_peer delete URL QUEUE...             delete queues (missing ones are fine)
 *   amqp_peer delete-exchange URL EXCHANGE... delete exchanges (missing ones are fine)
 *   amqp_peer count URL QUEUE                 print how many messages are ready in QUEUE
 *   amqp_peer bind URL QUEUE EXCHANGE KEY     bind a queue to an exchange
 *   amqp_peer publish URL TARGET PRODUCERS N  PRODUCERS processes, one connection each, publish
 *                                             "p<k> <seq>" for seq 1..N (persistent, with
 *                                             publisher confirms); TARGET is a QUEUE (through
 *                                             the default exchange) or EXCHANGE/PREFIX (routing
 *                                             key PREFIX.p<k>); prints the rate
 *   amqp_peer consume URL QUEUE IDLE_MS       print every message of QUEUE as a line until none
 *                                             came for IDLE_MS; acked after it is written
 *   amqp_peer check PRODUCERS N [MAX_DUP [MAX_REORDER]]
 *                                             read "p<k> <seq>" lines from stdin: every one of
 *                                             PRODUCERS x N must be there; duplicates and first
 *                                             arrivals out of per-producer order must not pass
 *                                             the maxima (default 0)
 *
 * Every wait is bounded (PEER_TIMEOUT_S without any frame is a failure). Exit 0 on success,
 * 1 on a failed check or a broker error, 2 on usage errors.
 */
#include <amqp.h>
#include <amqp_tcp_socket.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PEER_TIMEOUT_S 30
#define PUBLISH_WINDOW 1000

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "amqp_peer: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(1);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void check_reply(amqp_rpc_reply_t r, const char *what)
{
    if (r.reply_type == AMQP_RESPONSE_NORMAL)
        return;
    if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION)
        die("%s: %s", what, amqp_error_string2(r.library_error));
    if (r.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION && r.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
        amqp_channel_close_t *c = r.reply.decoded;
        die("%s: %.*s", what, (int)c->reply_text.len, (char *)c->reply_text.bytes);
    }
    if (r.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION &&
        r.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
        amqp_connection_close_t *c = r.reply.decoded;
        die("%s: %.*s", what, (int)c->reply_text.len, (char *)c->reply_text.bytes);
    }
    die("%s: failed", what);
}

static amqp_connection_state_t connect_to(const char *url_text)
{
    char *url = strdup(url_text);
    struct amqp_connection_info info;
    if (!url || amqp_parse_url(url, &info) != AMQP_STATUS_OK)
        die("bad URL %s", url_text);
    amqp_connection_state_t c = amqp_new_connection();
    amqp_socket_t *s = amqp_tcp_socket_new(c);
    struct timeval tv = {.tv_sec = 5};
    if (!s || amqp_socket_open_noblock(s, info.host, info.port, &tv) != AMQP_STATUS_OK)
        die("cannot connect to %s:%d", info.host, info.port);
    struct timeval rpc = {.tv_sec = PEER_TIMEOUT_S};
    amqp_set_rpc_timeout(c, &rpc);
    check_reply(
        amqp_login(c, info.vhost, 0, 131072, 0, AMQP_SASL_METHOD_PLAIN, info.user, info.password),
        "login");
    amqp_channel_open(c, 1);
    check_reply(amqp_get_rpc_reply(c), "channel.open");
    free(url);
    return c;
}

static void disconnect(amqp_connection_state_t c)
{
    amqp_channel_close(c, 1, AMQP_REPLY_SUCCESS);
    amqp_connection_close(c, AMQP_REPLY_SUCCESS);
    amqp_destroy_connection(c);
}

/* Wait for the next method frame, at most PEER_TIMEOUT_S. */
static amqp_frame_t next_method(amqp_connection_state_t c)
{
    for (;;) {
        amqp_frame_t f;
        struct timeval tv = {.tv_sec = PEER_TIMEOUT_S};
        int st = amqp_simple_wait_frame_noblock(c, &f, &tv);
        if (st == AMQP_STATUS_TIMEOUT)
            die("nothing from the broker for %d s", PEER_TIMEOUT_S);
        if (st != AMQP_STATUS_OK)
            die("waiting for the broker: %s", amqp_error_string2(st));
        if (f.frame_type == AMQP_FRAME_METHOD)
            return f;
    }
}

static int cmd_declare(const char *url, const char *queue)
{
    amqp_connection_state_t c = connect_to(url);
    amqp_queue_declare(c, 1, amqp_cstring_bytes(queue), 0, 1, 0, 0, amqp_empty_table);
    check_reply(amqp_get_rpc_reply(c), "queue.declare");
    disconnect(c);
    return 0;
}

static int cmd_delete(const char *url, int n, char **queues)
{
    amqp_connection_state_t c = connect_to(url);
    for (int i = 0; i < n; i++) {
        amqp_queue_delete(c, 1, amqp_cstring_bytes(queues[i]), 0, 0);
        check_reply(amqp_get_rpc_reply(c), "queue.delete");
    }
    disconnect(c);
    return 0;
}

static int cmd_delete_exchange(const char *url, int n, char **exchanges)
{
    amqp_connection_state_t c = connect_to(url);
    for (int i = 0; i < n; i++) {
        amqp_exchange_delete(c, 1, amqp_cstring_bytes(exchanges[i]), 0);
        check_reply(amqp_get_rpc_reply(c), "exchange.delete");
    }
    disconnect(c);
    return 0;
}

static int cmd_count(const char *url, const char *queue)
{
    amqp_connection_state_t c = connect_to(url);
    amqp_queue_declare_ok_t *ok =
        amqp_queue_declare(c, 1, amqp_cstring_bytes(queue), 1, 0, 0, 0, amqp_empty_table);
    check_reply(amqp_get_rpc_reply(c), "queue.declare (passive)");
    printf("%" PRIu32 "\n", ok->message_count);
    disconnect(c);
    return 0;
}

static int cmd_bind(const char *url, const char *queue, const char *exchange, const char *key)
{
    amqp_connection_state_t c = connect_to(url);
    amqp_queue_bind(c, 1, amqp_cstring_bytes(queue), amqp_cstring_bytes(exchange),
                    amqp_cstring_bytes(key), amqp_empty_table);
    check_reply(amqp_get_rpc_reply(c), "queue.bind");
    disconnect(c);
    return 0;
}

/* One producer: "p<k> <seq>" for seq 1..n, confirmed PUBLISH_WINDOW at a time. */
static void publish_one(const char *url, const char *target, unsigned k, unsigned long n)
{
    char exchange[256] = "", key[512];
    const char *slash = strchr(target, '/');
    if (slash) {
        snprintf(exchange, sizeof exchange, "%.*s", (int)(slash - target), target);
        snprintf(key, sizeof key, "%s.p%u", slash + 1, k);
    } else {
        snprintf(key, sizeof key, "%s", target);
    }
    amqp_connection_state_t c = connect_to(url);
    amqp_confirm_select(c, 1);
    check_reply(amqp_get_rpc_reply(c), "confirm.select");
    amqp_basic_properties_t p = {._flags = AMQP_BASIC_DELIVERY_MODE_FLAG, .delivery_mode = 2};
    uint64_t published = 0, confirmed = 0;
    for (unsigned long seq = 1; seq <= n;) {
        for (; seq <= n && published - confirmed < PUBLISH_WINDOW; seq++) {
            char body[64];
            int len = snprintf(body, sizeof body, "p%u %lu", k, seq);
            amqp_bytes_t b = {.len = (size_t)len, .bytes = body};
            if (amqp_basic_publish(c, 1, amqp_cstring_bytes(exchange), amqp_cstring_bytes(key), 0,
                                   0, &p, b) != AMQP_STATUS_OK)
                die("publish failed");
            published++;
        }
        while (published - confirmed >= (seq <= n ? PUBLISH_WINDOW : 1)) {
            amqp_frame_t f = next_method(c);
            if (f.payload.method.id == AMQP_BASIC_NACK_METHOD)
                die("the broker nacked a message");
            if (f.payload.method.id != AMQP_BASIC_ACK_METHOD)
                die("unexpected method 0x%08x", (unsigned)f.payload.method.id);
            amqp_basic_ack_t *a = f.payload.method.decoded;
            /* RabbitMQ confirms the messages of one queue in order */
            confirmed = a->delivery_tag > confirmed ? a->delivery_tag : confirmed;
            amqp_maybe_release_buffers(c);
        }
    }
    disconnect(c);
}

static int cmd_publish(const char *url, const char *queue, unsigned producers, unsigned long n)
{
    double t0 = now_s();
    for (unsigned k = 1; k <= producers; k++) {
        pid_t pid = fork();
        if (pid < 0)
            die("fork: %s", strerror(errno));
        if (pid == 0) {
            publish_one(url, queue, k, n);
            _exit(0);
        }
    }
    int failed = 0, status;
    while (wait(&status) > 0)
        failed |= !WIFEXITED(status) || WEXITSTATUS(status) != 0;
    double t = now_s() - t0;
    fprintf(stderr, "amqp_peer: published %lu messages in %.2f s (%.0f msg/s, confirmed)\n",
            producers * n, t, (double)(producers * n) / t);
    return failed;
}

static int cmd_consume(const char *url, const char *queue, long idle_ms)
{
    amqp_connection_state_t c = connect_to(url);
    amqp_basic_qos(c, 1, 0, 500, 0);
    check_reply(amqp_get_rpc_reply(c), "basic.qos");
    amqp_basic_consume(c, 1, amqp_cstring_bytes(queue), amqp_empty_bytes, 0, 0, 0,
                       amqp_empty_table);
    check_reply(amqp_get_rpc_reply(c), "basic.consume");
    uint64_t last = 0, unacked = 0, count = 0;
    for (;;) {
        amqp_envelope_t e;
        amqp_maybe_release_buffers(c);
        struct timeval tv = {.tv_sec = idle_ms / 1000, .tv_usec = idle_ms % 1000 * 1000};
        amqp_rpc_reply_t r = amqp_consume_message(c, &e, &tv, 0);
        if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION &&
            r.library_error == AMQP_STATUS_TIMEOUT)
            break;
        check_reply(r, "consuming");
        fwrite(e.message.body.bytes, 1, e.message.body.len, stdout);
        putchar('\n');
        last = e.delivery_tag;
        count++;
        amqp_destroy_envelope(&e);
        if (++unacked >= 250 || !amqp_data_in_buffer(c)) {
            if (fflush(stdout) != 0)
                die("writing: %s", strerror(errno));
            if (amqp_basic_ack(c, 1, last, 1) != AMQP_STATUS_OK)
                die("ack failed");
            unacked = 0;
        }
    }
    if (fflush(stdout) != 0)
        die("writing: %s", strerror(errno));
    if (unacked && amqp_basic_ack(c, 1, last, 1) != AMQP_STATUS_OK)
        die("ack failed");
    disconnect(c);
    fprintf(stderr, "amqp_peer: consumed %" PRIu64 " messages from %s\n", count, queue);
    return 0;
}

static int cmd_check(unsigned producers, unsigned long n, unsigned long max_dup,
                     unsigned long max_reorder)
{
    unsigned char *seen = calloc((size_t)producers * (n + 1), 1);
    unsigned long *high = calloc(producers, sizeof *high);
    if (!seen || !high)
        die("out of memory");
    unsigned long lines = 0, unique = 0, dup = 0, reorder = 0, bad = 0;
    char line[256];
    while (fgets(line, sizeof line, stdin)) {
        unsigned k;
        unsigned long seq;
        char end;
        lines++;
        if (sscanf(line, "p%u %lu%c", &k, &seq, &end) != 3 || end != '\n' || k < 1 ||
            k > producers || seq < 1 || seq > n) {
            if (bad++ < 5)
                fprintf(stderr, "amqp_peer: unexpected line %lu: %s", lines, line);
            continue;
        }
        unsigned char *s = &seen[(size_t)(k - 1) * (n + 1) + seq];
        if (*s) {
            dup++;
            continue;
        }
        *s = 1;
        unique++;
        if (seq < high[k - 1]) {
            if (reorder++ < 5)
                fprintf(stderr, "amqp_peer: p%u %lu arrived after p%u %lu\n", k, seq, k,
                        high[k - 1]);
        } else {
            high[k - 1] = seq;
        }
    }
    unsigned long expected = producers * n, missing = expected - unique;
    if (missing) {
        unsigned long shown = 0;
        for (unsigned k = 1; k <= producers && shown < 5; k++)
            for (unsigned long q = 1; q <= n && shown < 5; q++)
                if (!seen[(size_t)(k - 1) * (n + 1) + q]) {
                    fprintf(stderr, "amqp_peer: missing p%u %lu\n", k, q);
                    shown++;
                }
    }
    printf("check: %lu lines, %lu of %lu messages, %lu missing, %lu duplicates, %lu out of "
           "order, %lu malformed\n",
           lines, unique, expected, missing, dup, reorder, bad);
    free(seen);
    free(high);
    if (missing || bad || dup > max_dup || reorder > max_reorder) {
        fprintf(stderr,
                "amqp_peer: check FAILED (allowed: %lu duplicates, %lu out of order, nothing "
                "missing or malformed)\n",
                max_dup, max_reorder);
        return 1;
    }
    return 0;
}

static unsigned long number(const char *s)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || end == s || *end)
        die("not a number: '%s'", s);
    return v;
}

int main(int argc, char **argv)
{
    const char *cmd = argc > 1 ? argv[1] : "";
    if (strcmp(cmd, "declare") == 0 && argc == 4)
        return cmd_declare(argv[2], argv[3]);
    if (strcmp(cmd, "delete") == 0 && argc >= 4)
        return cmd_delete(argv[2], argc - 3, argv + 3);
    if (strcmp(cmd, "delete-exchange") == 0 && argc >= 4)
        return cmd_delete_exchange(argv[2], argc - 3, argv + 3);
    if (strcmp(cmd, "bind") == 0 && argc == 6)
        return cmd_bind(argv[2], argv[3], argv[4], argv[5]);
    if (strcmp(cmd, "count") == 0 && argc == 4)
        return cmd_count(argv[2], argv[3]);
    if (strcmp(cmd, "publish") == 0 && argc == 6)
        return cmd_publish(argv[2], argv[3], (unsigned)number(argv[4]), number(argv[5]));
    if (strcmp(cmd, "consume") == 0 && argc == 5)
        return cmd_consume(argv[2], argv[3], (long)number(argv[4]));
    if (strcmp(cmd, "check") == 0 && argc >= 4 && argc <= 6)
        return cmd_check((unsigned)number(argv[2]), number(argv[3]), argc > 4 ? number(argv[4]) : 0,
                         argc > 5 ? number(argv[5]) : 0);
    fprintf(stderr, "usage: amqp_peer "
                    "declare|delete|delete-exchange|bind|count|publish|consume|check ... (see the "
                    "comment at the top of amqp_peer.c)\n");
    return 2;
}
