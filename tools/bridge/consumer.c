/* AMQP queue -> shm queue, acknowledged after the push (see consumer.h). */
#include "consumer.h"

#include <errno.h>
#include <string.h>

#include "properties.h"

#define DEFAULT_PREFETCH 256
#define HEARTBEAT_EVERY_NS 1000000000LL /* while waiting for room in the shm queue */

void bridge_consumer_init(struct bridge_consumer *k, struct bridge_session *s)
{
    memset(k, 0, sizeof *k);
    k->s = s;
    k->prefetch = s->cfg->prefetch ? s->cfg->prefetch : DEFAULT_PREFETCH;
    k->ack_every = k->prefetch / 2 ? k->prefetch / 2 : 1;
}

void bridge_consumer_lost(struct bridge_consumer *k)
{
    k->last_pushed = 0;
    k->unacked = 0;
}

/* Acknowledge every delivery pushed so far, in one ack. */
static int flush_acks(struct bridge_consumer *k, struct bridge_conn *c)
{
    if (k->unacked == 0)
        return 0;
    int status = amqp_basic_ack(c->amqp, BRIDGE_CHANNEL, k->last_pushed, 1 /* multiple */);
    k->unacked = 0;
    return bridge_conn_check_status(c, status, "acknowledging deliveries");
}

/* Push m to the queue, or publish it to the topic under subject, waiting for room as long as
 * it takes; *stopped when a stop came first (m is not pushed: the broker keeps it). */
static int push(struct bridge_consumer *k, struct bridge_conn *c, const struct shmq_msg *m,
                const char *subject, bool *stopped)
{
    struct bridge_session *s = k->s;
    int64_t last_heartbeat = bridge_now_ns();
    for (;;) {
        int err = s->topic ? shmq_publish_msg(s->t, subject, m, BRIDGE_SLICE_NS)
                           : shmq_push_msg(s->q, m, BRIDGE_SLICE_NS);
        if (err != -ETIMEDOUT && err != -EAGAIN && err != -EINTR)
            return err;
        if (s->cfg->stop && s->cfg->stop()) {
            *stopped = true;
            return 0;
        }
        /* The queue is full: settle what went in, and keep the connection alive. */
        if ((err = flush_acks(k, c)) != 0)
            return err;
        int64_t now = bridge_now_ns();
        if (now - last_heartbeat >= HEARTBEAT_EVERY_NS) {
            last_heartbeat = now;
            if ((err = bridge_conn_heartbeat(c)) != 0)
                return err;
        }
    }
}

/* One delivery into the shm queue. 0 when pushed (or when a stop came first). */
static int deliver(struct bridge_consumer *k, struct bridge_conn *c, const struct bridge_event *ev)
{
    struct bridge_session *s = k->s;
    const struct amqp_bridge_config *cfg = s->cfg;
    struct shmq_msg m = {.data = ev->message.body.bytes, .len = ev->message.body.len};
    struct bridge_in_meta meta;
    const char *why = "";
    bool stopped = false;
    char subject[SHMQ_SUBJECT_MAX + 1] = "";
    if (s->topic &&
        bridge_props_header_is(&ev->message.properties, BRIDGE_HEADER_ORIGIN, s->origin)) {
        /* A topic-out bridge of this very topic published it: it is here already. */
        s->st->looped++;
        k->last_pushed = ev->tag;
        return ++k->unacked >= k->ack_every ? flush_acks(k, c) : 0;
    }
    int err = bridge_props_to_msg(&ev->message.properties, &meta, &m, &why);
    if (err == 0 && s->topic) {
        amqp_bytes_t key = ev->routing_key;
        if (key.len > SHMQ_SUBJECT_MAX || memchr(key.bytes, 0, key.len)) {
            err = -EILSEQ;
        } else {
            memcpy(subject, key.bytes, key.len);
            subject[key.len] = 0;
            if (shmq_subject_check(subject) != 0)
                err = -EILSEQ;
        }
        if (err)
            why = "its routing key is not a shmq subject (words of bytes above 0x20, no '*' or "
                  "'#' in a word)";
    }
    if (err == 0)
        err = push(k, c, &m, subject, &stopped);
    if (err == -EMSGSIZE || err == -EILSEQ) {
        /* It cannot go: settle what went before it and leave it at the broker. */
        if (err == -EMSGSIZE)
            why = "it is larger than the queue's slots (payload and metadata)";
        int ack_err = flush_acks(k, c);
        if (ack_err == 0)
            amqp_basic_nack(c->amqp, BRIDGE_CHANNEL, ev->tag, 0, 1 /* requeue */);
        s->fatal = true;
        return bridge_fail(s, -EILSEQ,
                           "a message of %zu bytes from '%s' cannot go to '%s': %s; it stays in "
                           "'%s'",
                           ev->message.body.len, cfg->source, cfg->queue, why, cfg->source);
    }
    if (err == -ENOTCONN)
        return err;
    if (err) {
        s->fatal = true;
        return bridge_fail(s, err, "pushing to '%s': %s", cfg->queue, shmq_strerror(err));
    }
    if (stopped) {
        s->stopping = true;
        return 0;
    }
    s->st->forwarded++;
    if (ev->redelivered)
        s->st->redelivered++;
    bridge_session_activity(s);
    bridge_session_settled(s);
    k->last_pushed = ev->tag;
    if (++k->unacked >= k->ack_every)
        return flush_acks(k, c);
    return 0;
}

static int setup(struct bridge_consumer *k, struct bridge_conn *c)
{
    const struct amqp_bridge_config *cfg = k->s->cfg;
    int err;
    if ((err = bridge_conn_qos(c, k->prefetch)) != 0)
        return err;
    if (k->s->topic) { /* the bridge's own subscription: always there, kept while it is away */
        if ((err = bridge_conn_check_exchange(c, cfg->exchange)) != 0 ||
            (err = bridge_conn_declare_queue(c, cfg->source, cfg->exchange,
                                             cfg->binding ? cfg->binding : "#")) != 0)
            return err;
    } else if (cfg->declare && (err = bridge_conn_declare_queue(c, cfg->source, "", "")) != 0) {
        return err;
    }
    return bridge_conn_consume(c, cfg->source);
}

int bridge_consumer_session(struct bridge_consumer *k, struct bridge_conn *c)
{
    struct bridge_session *s = k->s;
    const struct amqp_bridge_config *cfg = s->cfg;
    s->fatal = true;
    int err = setup(k, c);
    if (err) {
        if (err == -ENOTCONN)
            s->fatal = false;
        return err;
    }
    s->fatal = false;
    struct bridge_event ev = {0};
    for (;;) {
        if (!s->stopping && cfg->stop && cfg->stop())
            s->stopping = true;
        if (s->stopping || (cfg->count && s->st->forwarded >= cfg->count) ||
            (cfg->idle_ns && bridge_now_ns() - s->active_ns >= cfg->idle_ns))
            break;
        /* With acks owed, only look at what is there: the acks go out when nothing is. */
        if ((err = bridge_conn_next(c, k->unacked ? 0 : BRIDGE_SLICE_NS, &ev)) != 0)
            break;
        if (ev.kind == BRIDGE_EVENT_NONE)
            err = flush_acks(k, c);
        else if (ev.kind == BRIDGE_EVENT_DELIVER)
            err = deliver(k, c, &ev);
        if (err)
            break;
    }
    bridge_event_clear(&ev);
    /* What was pushed is acknowledged, whatever ended the loop, if the connection works:
     * deliveries not pushed go back to the queue when the connection closes. */
    if (!c->broken) {
        int ack_err = flush_acks(k, c);
        if (err == 0)
            err = ack_err;
    }
    return err;
}
