/* shm queue -> AMQP with publisher confirms (see publisher.h for the window's invariants). */
#include "publisher.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "properties.h"

#define DEFAULT_WINDOW 512
#define DRAIN_NS (10 * 1000000000LL)          /* at a stop: confirms are awaited this long */
#define RETURN_PAUSE_MIN_NS (100 * 1000000LL) /* first pause after an unroutable message */
#define REPLY_PREFETCH 64

static struct bridge_pending *at(const struct bridge_publisher *p, uint64_t pos)
{
    return &p->ring[pos & (p->cap - 1)];
}

int bridge_publisher_init(struct bridge_publisher *p, struct bridge_session *s,
                          struct bridge_celery *celery)
{
    memset(p, 0, sizeof *p);
    p->s = s;
    p->celery = celery;
    p->window = s->cfg->window ? s->cfg->window : DEFAULT_WINDOW;
    p->cap = 2;
    while (p->cap < 2 * (uint64_t)p->window)
        p->cap <<= 1;
    p->ring = calloc(p->cap, sizeof *p->ring);
    p->tagpos = calloc(p->cap, sizeof *p->tagpos);
    if (!p->ring || !p->tagpos) {
        bridge_publisher_free(p);
        return -ENOMEM;
    }
    p->next_tag = p->low_tag = 1;
    p->return_pause = RETURN_PAUSE_MIN_NS;
    return 0;
}

void bridge_publisher_free(struct bridge_publisher *p)
{
    for (uint64_t i = 0; p->ring && i < p->cap; i++) {
        if (p->ring[i].copy) {
            free(p->ring[i].copy->buf);
            free(p->ring[i].copy);
        }
    }
    free(p->ring);
    free(p->tagpos);
    p->ring = NULL;
    p->tagpos = NULL;
}

/* The entry published with `tag` on this channel, if it still waits for its confirm. */
static struct bridge_pending *unsettled(const struct bridge_publisher *p, uint64_t tag)
{
    if (tag < p->low_tag || tag >= p->next_tag)
        return NULL;
    uint64_t pos = p->tagpos[tag & (p->cap - 1)];
    if (pos < p->head || pos >= p->tail)
        return NULL;
    struct bridge_pending *e = at(p, pos);
    if (e->tag != tag || (e->state != PENDING_WAIT && e->state != PENDING_RETURNED))
        return NULL;
    return e;
}

static void advance(struct bridge_publisher *p)
{
    while (p->low_tag < p->next_tag && !unsettled(p, p->low_tag))
        p->low_tag++;
    while (p->head < p->tail && at(p, p->head)->state == PENDING_DONE)
        p->head++;
}

static void mark_redo(struct bridge_publisher *p, struct bridge_pending *e)
{
    e->state = PENDING_REDO;
    p->redo++;
}

/* The broker's answer for one tag: confirmed (ok) or not. */
static void settle(struct bridge_publisher *p, uint64_t tag, bool ok)
{
    struct bridge_session *s = p->s;
    struct bridge_pending *e = unsettled(p, tag);
    if (!e)
        return;
    p->waiting--;
    if (ok && e->state == PENDING_WAIT) {
        /* The broker has it: only now may the shm queue forget it (a topic copy is just
         * forgotten). */
        int err = s->topic ? 0 : shmq_ack(s->q, &e->m);
        if (err) {
            s->st->ack_failures++;
            bridge_warn(s,
                        "acknowledging message %llu to '%s' after its confirm: %s (it will "
                        "be delivered and published again)",
                        (unsigned long long)e->m.id, s->cfg->queue, shmq_strerror(err));
        }
        e->state = PENDING_DONE;
        s->st->forwarded++;
        p->return_pause = RETURN_PAUSE_MIN_NS; /* messages route again */
        bridge_session_settled(s);
        return;
    }
    if (e->state == PENDING_WAIT)
        s->st->republished++; /* nacked by the broker: it may or may not have kept it */
    mark_redo(p, e);
}

static void confirm(struct bridge_publisher *p, const struct bridge_event *ev, bool ok)
{
    if (ev->multiple) {
        for (uint64_t t = p->low_tag; t <= ev->tag && t < p->next_tag; t++)
            settle(p, t, ok);
    } else {
        settle(p, ev->tag, ok);
    }
    advance(p);
}

/* An unroutable message came back: its confirm follows; it is published again after a pause
 * that grows while messages keep coming back. */
static void returned(struct bridge_publisher *p, const struct bridge_event *ev)
{
    struct bridge_session *s = p->s;
    const amqp_basic_properties_t *props = &ev->message.properties;
    uint64_t id;
    if (!(props->_flags & AMQP_BASIC_MESSAGE_ID_FLAG) ||
        !bridge_props_parse_message_id(props->message_id, &id))
        return;
    for (uint64_t pos = p->head; pos < p->tail; pos++) {
        struct bridge_pending *e = at(p, pos);
        if (e->state == PENDING_WAIT && e->m.id == id) {
            e->state = PENDING_RETURNED;
            s->st->returned++;
            break;
        }
    }
    if (p->return_pause == RETURN_PAUSE_MIN_NS)
        bridge_warn(s,
                    "the broker returned messages: no queue is bound to exchange '%s' with "
                    "routing key '%s'; they will be published again until one is",
                    s->cfg->exchange, s->routing_key);
    p->redo_at = bridge_now_ns() + p->return_pause;
    p->return_pause *= 2;
    if (p->return_pause > s->cfg->backoff_max_ns)
        p->return_pause = s->cfg->backoff_max_ns;
}

/* Publish the entry at pos (claimed, not published on this channel): WAIT on success. */
static int publish(struct bridge_publisher *p, struct bridge_conn *c, uint64_t pos)
{
    struct bridge_session *s = p->s;
    struct bridge_pending *e = at(p, pos);
    struct bridge_out_props o;
    memset(&o.p, 0, sizeof o.p);
    amqp_bytes_t body = {.len = e->m.len, .bytes = e->m.data};
    int nheaders = 0;
    const char *key = s->routing_key;
    if (s->topic) { /* the subject is the routing key; the origin stops loops (topic-in) */
        key = e->copy->d.subject;
        o.headers[0].key = amqp_cstring_bytes(BRIDGE_HEADER_ORIGIN);
        o.headers[0].value.kind = AMQP_FIELD_KIND_UTF8;
        o.headers[0].value.value.bytes = amqp_cstring_bytes(s->origin);
        nheaders = 1;
    }
    if (p->celery) {
        const char *why = "";
        nheaders = bridge_celery_encode(p->celery, &e->m, &o, &body, &why);
        if (nheaders < 0) /* this message's own problem (see fill) */
            return bridge_fail(s, nheaders == -EILSEQ ? -EILSEQ : nheaders,
                               "message %llu of '%s' cannot be a Celery task message: %s; it is "
                               "back in the queue",
                               (unsigned long long)e->m.id, s->cfg->queue,
                               nheaders == -EILSEQ ? why : strerror(-nheaders));
    }
    bridge_props_from_msg(&o, &e->m, s->cfg->queue, s->cfg->transient, nheaders);
    /* Mandatory for queues: a message no queue takes comes back. Not for topics: a message
     * no subscriber wants is nobody's, as in the shm topic itself. */
    int status = amqp_basic_publish(c->amqp, BRIDGE_CHANNEL, amqp_cstring_bytes(s->cfg->exchange),
                                    amqp_cstring_bytes(key), !s->topic, 0, &o.p, body);
    if (status != AMQP_STATUS_OK)
        return bridge_conn_check_status(c, status, "publishing");
    e->tag = p->next_tag++;
    e->state = PENDING_WAIT;
    p->tagpos[e->tag & (p->cap - 1)] = pos;
    p->waiting++;
    return 0;
}

/* Publish again, in claim order, what was lost, nacked or returned. */
static int republish(struct bridge_publisher *p, struct bridge_conn *c)
{
    for (uint64_t pos = p->head; pos < p->tail && p->redo > 0; pos++) {
        if (at(p, pos)->state != PENDING_REDO)
            continue;
        p->redo--;
        int err = publish(p, c, pos);
        if (err) {
            mark_redo(p, at(p, pos));
            return err;
        }
    }
    return 0;
}

/* The next message of the topic into e's copy: 0, or as shmq_next. */
static int take_from_topic(struct bridge_publisher *p, struct bridge_pending *e, int64_t wait)
{
    struct bridge_session *s = p->s;
    struct bridge_topic_copy *c = e->copy;
    if (!c && !(c = e->copy = calloc(1, sizeof *c)))
        return -ENOMEM;
    for (;;) {
        ssize_t n = shmq_next(s->sub, c->buf, c->cap, &c->d, wait);
        if (n == -EMSGSIZE) { /* d.len says how much room it needs */
            unsigned char *bigger = realloc(c->buf, c->d.len);
            if (!bigger)
                return -ENOMEM;
            c->buf = bigger;
            c->cap = c->d.len;
            continue;
        }
        if (n < 0)
            return (int)n;
        const struct shmq_delivery *d = &c->d;
        e->m = (struct shmq_msg){
            .data = c->buf,
            .len = (size_t)n,
            .timestamp_ns = d->timestamp_ns,
            .type = d->meta & SHMQ_HAS_TYPE ? d->type : NULL,
            .correlation_id = d->meta & SHMQ_HAS_CORRELATION_ID ? d->correlation_id : NULL,
            .reply_to = d->meta & SHMQ_HAS_REPLY_TO ? d->reply_to : NULL,
            .id = d->seq,
        };
        s->st->lost += d->lost;
        return 0;
    }
}

/* Claim and publish new messages while the window has room. *claimed: how many. */
static int fill(struct bridge_publisher *p, struct bridge_conn *c, unsigned *claimed)
{
    struct bridge_session *s = p->s;
    const struct amqp_bridge_config *cfg = s->cfg;
    *claimed = 0;
    while (p->waiting < p->window && p->tail - p->head < p->cap) {
        uint64_t held = p->waiting + p->redo;
        if (cfg->count && s->st->forwarded + held >= cfg->count)
            break;
        /* Nothing in flight: wait for the queue (a slice, then look at the broker again). */
        int64_t wait = p->waiting == 0 && *claimed == 0 ? BRIDGE_SLICE_NS : 0;
        struct bridge_pending *e = at(p, p->tail);
        int err = s->topic ? take_from_topic(p, e, wait) : shmq_claim(s->q, &e->m, wait);
        if (err == -EAGAIN || err == -ETIMEDOUT || err == -EINTR)
            break;
        if (err == -EINPROGRESS) { /* a single-consumer ring: one claim at a time */
            p->window = 1;
            break;
        }
        if (err) {
            s->fatal = true;
            return bridge_fail(s, err, "taking from '%s': %s", cfg->queue, shmq_strerror(err));
        }
        if (e->m.deliveries > 1)
            s->st->redelivered++;
        bridge_session_activity(s);
        uint64_t pos = p->tail++;
        ++*claimed;
        if ((err = publish(p, c, pos)) != 0) {
            if (err == -ENOTCONN) {
                mark_redo(p, e);
                return err;
            }
            /* This message cannot go: it goes back to the queue, and the run ends once the
             * confirms of those published before it have come (giving them back unconfirmed
             * would make duplicates). A topic cannot take it back: it is counted dropped. */
            if (s->topic)
                s->st->dropped++;
            else
                shmq_nack(s->q, &e->m);
            p->tail--;
            p->bad_message = err;
            s->stopping = true;
            p->drain_until = bridge_now_ns() + DRAIN_NS;
            return 0;
        }
    }
    return 0;
}

/* Everything the broker sent: confirms, returns, results. Waits up to timeout_ns for the
 * first. */
static int drain_events(struct bridge_publisher *p, struct bridge_conn *c, int64_t timeout_ns)
{
    struct bridge_event ev = {0};
    int err;
    for (;;) {
        if ((err = bridge_conn_next(c, timeout_ns, &ev)) != 0)
            break;
        timeout_ns = 0;
        if (ev.kind == BRIDGE_EVENT_NONE)
            break;
        if (ev.kind == BRIDGE_EVENT_ACK || ev.kind == BRIDGE_EVENT_NACK) {
            confirm(p, &ev, ev.kind == BRIDGE_EVENT_ACK);
        } else if (ev.kind == BRIDGE_EVENT_RETURN) {
            returned(p, &ev);
        } else if (ev.kind == BRIDGE_EVENT_DELIVER) {
            bridge_replies_forward(p->s, &ev.message);
            int status = amqp_basic_ack(c->amqp, BRIDGE_CHANNEL, ev.tag, 0);
            if ((err = bridge_conn_check_status(c, status, "acknowledging a result")) != 0)
                break;
        }
    }
    bridge_event_clear(&ev);
    return err;
}

static int setup(struct bridge_publisher *p, struct bridge_conn *c)
{
    struct bridge_session *s = p->s;
    const struct amqp_bridge_config *cfg = s->cfg;
    int err;
    if ((err = bridge_conn_confirm_select(c)) != 0 ||
        (err = bridge_conn_check_exchange(c, cfg->exchange)) != 0)
        return err;
    if (cfg->declare && !s->topic &&
        (err = bridge_conn_declare_queue(c, s->routing_key, cfg->exchange, s->routing_key)) != 0)
        return err;
    if (p->celery && ((err = bridge_conn_declare_queue(c, s->reply_queue, "", "")) != 0 ||
                      (err = bridge_conn_qos(c, REPLY_PREFETCH)) != 0 ||
                      (err = bridge_conn_consume(c, s->reply_queue)) != 0))
        return err;
    return 0;
}

int bridge_publisher_session(struct bridge_publisher *p, struct bridge_conn *c)
{
    struct bridge_session *s = p->s;
    const struct amqp_bridge_config *cfg = s->cfg;
    s->fatal = true;
    int err = setup(p, c);
    if (err) {
        if (err == -ENOTCONN)
            s->fatal = false;
        return err;
    }
    s->fatal = false;
    for (;;) {
        int64_t now = bridge_now_ns();
        if (!s->stopping && cfg->stop && cfg->stop()) {
            s->stopping = true;
            p->drain_until = now + DRAIN_NS;
        }
        /* Over: stopped with nothing unconfirmed (REDO entries are given back), the count
         * reached, or idle with nothing held. */
        if (s->stopping && (p->waiting == 0 || now >= p->drain_until)) {
            s->fatal = p->bad_message != 0;
            return p->bad_message;
        }
        if (p->waiting == 0 && p->redo == 0) {
            if (cfg->count && s->st->forwarded >= cfg->count)
                return 0;
            if (cfg->idle_ns && now - s->active_ns >= cfg->idle_ns)
                return 0;
        }
        unsigned claimed = 0;
        if (!s->stopping && p->redo > 0 && p->waiting == 0 && now >= p->redo_at)
            err = republish(p, c);
        else if (!s->stopping && p->redo == 0)
            err = fill(p, c, &claimed);
        if (err)
            return err;
        /* Wait for the broker only when there is nothing else to do. */
        bool busy = claimed > 0 && p->waiting < p->window;
        int64_t wait = p->waiting > 0 && !busy ? BRIDGE_SLICE_NS : 0;
        if (p->redo > 0 && p->waiting == 0) {
            int64_t left = p->redo_at - bridge_now_ns();
            wait = left > BRIDGE_SLICE_NS ? BRIDGE_SLICE_NS : left > 0 ? left : 0;
        }
        if ((err = drain_events(p, c, wait)) != 0) {
            if (p->bad_message) { /* the held messages are given back: end with the cause */
                s->fatal = true;
                return p->bad_message;
            }
            return err;
        }
    }
}

void bridge_publisher_lost(struct bridge_publisher *p)
{
    for (uint64_t pos = p->head; pos < p->tail; pos++) {
        struct bridge_pending *e = at(p, pos);
        if (e->state == PENDING_WAIT)
            p->s->st->republished++; /* the broker may have it: a possible duplicate */
        if (e->state == PENDING_WAIT || e->state == PENDING_RETURNED)
            mark_redo(p, e);
    }
    p->waiting = 0;
    p->next_tag = p->low_tag = 1;
    p->redo_at = 0;
}

void bridge_publisher_give_back(struct bridge_publisher *p)
{
    struct bridge_session *s = p->s;
    for (uint64_t pos = p->head; pos < p->tail; pos++) {
        struct bridge_pending *e = at(p, pos);
        if (e->state == PENDING_DONE)
            continue;
        if (s->topic) {
            s->st->dropped++; /* taken from the group: nowhere to give it back */
        } else {
            shmq_nack(s->q, &e->m);
            s->st->given_back++;
        }
        e->state = PENDING_DONE;
    }
    p->head = p->tail;
    p->waiting = p->redo = 0;
}
