/* Celery results back to shm reply queues (see replies.h). */
#include "replies.h"

#include <errno.h>
#include <string.h>

#include "celery.h"
#include "session.h"

void bridge_replies_forward(struct bridge_session *s, const amqp_message_t *msg)
{
    const amqp_basic_properties_t *p = &msg->properties;
    char queue[SHMQ_NAME_MAX + 1], correlation[SHMQ_META_STR_MAX + 1];
    char status[BRIDGE_CELERY_STATUS_MAX];
    if (!(p->_flags & AMQP_BASIC_CORRELATION_ID_FLAG) ||
        !bridge_celery_reply_route(p->correlation_id, queue, sizeof queue, correlation,
                                   sizeof correlation)) {
        s->st->replies_dropped++;
        bridge_warn(s, "a message on the reply queue has no route back (correlation id "
                       "\"<id>@<shm queue>\"): dropped");
        return;
    }
    const char *type = NULL;
    if (bridge_celery_result_status(msg->body.bytes, msg->body.len, status, sizeof status)) {
        if (!bridge_celery_state_is_ready(status)) {
            s->st->replies_ignored++;
            return;
        }
        type = status;
    }
    shmq_t *q;
    int err = shmq_open(queue, &q);
    if (err == 0) {
        struct shmq_msg m = {.data = msg->body.bytes,
                             .len = msg->body.len,
                             .type = type,
                             .correlation_id = correlation[0] ? correlation : NULL};
        err = shmq_push_msg(q, &m, 0);
        shmq_close(q);
    }
    if (err == 0) {
        s->st->replies++;
        return;
    }
    s->st->replies_dropped++;
    if (err == -EMSGSIZE)
        bridge_warn(s, "a result of %zu bytes does not fit the slots of reply queue '%s': dropped",
                    msg->body.len, queue);
    else if (err != -ENOENT && err != -EAGAIN)
        bridge_warn(s, "reply queue '%s': %s: result dropped", queue, shmq_strerror(err));
}
