/*
 * Celery task messages, protocol version 2, as Celery 5 sends and a stock worker runs them
 * (docs.celeryq.dev "Message Protocol", and celery/app/amqp.py as_task_v2):
 *
 *   properties  content_type "application/json", content_encoding "utf-8",
 *               correlation_id = the task id, reply_to (for results), delivery_mode 2, priority 0
 *   headers     lang "py", task, id, root_id (= id), parent_id, group, group_index, shadow,
 *               eta, expires, retries 0, timelimit [null, null], argsrepr, kwargsrepr, origin,
 *               ignore_result false; absent values are AMQP void fields, as py-amqp sends None
 *   body        JSON [args, kwargs, {"callbacks": null, "errbacks": null, "chain": null,
 *               "chord": null}]
 *
 * The message becomes the arguments: as one string argument (it must be UTF-8), or as JSON
 * (an array = positional arguments, an object = keyword arguments). argsrepr and kwargsrepr,
 * which Celery only shows in logs and events, are the JSON text of the arguments, cut to
 * 1024 bytes as Celery cuts its repr.
 *
 * Results for request-reply (shmq_call): a message with a reply-to queue R and a correlation
 * id C is sent with the AMQP reply_to set to the bridge's reply queue and the correlation_id
 * set to "C@R". Celery's rpc:// result backend publishes the result to reply_to with that
 * correlation_id, so the route back to the shm queue travels with the result itself: any
 * bridge consuming the reply queue can deliver it, after a restart too. The task id is a
 * fresh UUID either way. Queue names have no '@', so "C@R" splits at its last '@'.
 */
#ifndef SHMQ_BRIDGE_CELERY_H
#define SHMQ_BRIDGE_CELERY_H

#include <amqp.h>
#include <stdbool.h>
#include <stddef.h>

#include "amqp_bridge.h"
#include "buffer.h"
#include "properties.h"
#include "shmq.h"

#define BRIDGE_CELERY_REPR_MAX 1024 /* Celery's argsrepr_maxsize and kwargsrepr_maxsize */
#define BRIDGE_CELERY_STATUS_MAX 32

struct bridge_celery {
    const char *task;
    enum amqp_bridge_celery_args args;
    const char *reply_queue;
    char origin[300]; /* "shmq-bridge.<pid>@<host>", like Celery's "gen<pid>@<host>" */
    char task_id[37]; /* of the message being encoded */
    char correlation[SHMQ_META_STR_MAX + 1];
    char argsrepr[BRIDGE_CELERY_REPR_MAX + 1];
    char kwargsrepr[BRIDGE_CELERY_REPR_MAX + 1];
    amqp_field_value_t timelimit[2];
    struct cli_buffer body;
    uint64_t queue_key; /* the queue's identity, for task ids */
};

/* 0 or -ENOMEM. queue and created_ns name the shm queue the messages come from. */
int bridge_celery_init(struct bridge_celery *c, const char *task, enum amqp_bridge_celery_args args,
                       const char *reply_queue, const char *queue, int64_t created_ns);
void bridge_celery_free(struct bridge_celery *c);

/*
 * Encode m as a task message: the body (valid until the next call) and o's properties and
 * headers; returns how many headers it used. -EILSEQ with *why when the message cannot be
 * the task's arguments (not UTF-8, not a JSON array or object, a reply route too long).
 */
int bridge_celery_encode(struct bridge_celery *c, const struct shmq_msg *m,
                         struct bridge_out_props *o, amqp_bytes_t *body, const char **why);

/* Split a result's correlation id "C@R" into the shm reply queue R and C (empty C: none).
 * false when it is not such a route. */
bool bridge_celery_reply_route(amqp_bytes_t correlation_id, char *queue, size_t queue_size,
                               char *correlation, size_t correlation_size);

/* The "status" of a result of Celery's rpc backend (JSON). false if the body is not one. */
bool bridge_celery_result_status(const void *body, size_t len, char *status, size_t size);

/* Whether a task state is final (Celery's READY_STATES: SUCCESS, FAILURE, REVOKED). */
bool bridge_celery_state_is_ready(const char *status);

#endif /* SHMQ_BRIDGE_CELERY_H */
