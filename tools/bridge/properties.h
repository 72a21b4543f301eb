/*
 * Message metadata between shmq and AMQP basic properties.
 *
 *   shmq_msg          AMQP
 *   type              type
 *   correlation_id    correlation_id
 *   reply_to          reply_to
 *   timestamp_ns      timestamp (whole seconds) + header x-shmq-timestamp-ns (exact)
 *   id                message_id "<queue>/<id>" (out only: shmq assigns ids itself)
 *   deliveries > 1    header x-shmq-deliveries (out only)
 *
 * AMQP short strings and shmq's metadata strings have the same limit, 255 bytes; a string
 * that holds a NUL byte cannot be a shmq string and is refused.
 */
#ifndef SHMQ_BRIDGE_PROPERTIES_H
#define SHMQ_BRIDGE_PROPERTIES_H

#include <amqp.h>
#include <stdbool.h>

#include "shmq.h"

#define BRIDGE_HEADER_TIMESTAMP_NS "x-shmq-timestamp-ns"
#define BRIDGE_HEADER_DELIVERIES "x-shmq-deliveries"
#define BRIDGE_HEADER_ORIGIN "x-shmq-origin" /* topics: "<host>/<topic>" of a topic-out bridge */
#define BRIDGE_HEADERS_MAX 24                /* room for Celery's headers plus ours */

/* The storage the properties of one outgoing message point into. */
struct bridge_out_props {
    amqp_basic_properties_t p;
    amqp_table_entry_t headers[BRIDGE_HEADERS_MAX];
    char message_id[SHMQ_NAME_MAX + 24];
};

/* Fill o->p from m's metadata: message id from queue and m->id, delivery mode 2 (persistent)
 * unless transient. Strings point into m: valid while m is claimed. Any headers already in
 * o->headers[0..nheaders) are kept (the Celery ones). */
void bridge_props_from_msg(struct bridge_out_props *o, const struct shmq_msg *m, const char *queue,
                           bool transient, int nheaders);

/* The part of an outgoing message id that is the shm id; false if it is not one of ours. */
bool bridge_props_parse_message_id(amqp_bytes_t message_id, uint64_t *id);

/* Whether p carries header `key` with the string value `value`. */
bool bridge_props_header_is(const amqp_basic_properties_t *p, const char *key, const char *value);

/* The storage the metadata of one incoming message point into. */
struct bridge_in_meta {
    char type[SHMQ_META_STR_MAX + 1];
    char correlation_id[SHMQ_META_STR_MAX + 1];
    char reply_to[SHMQ_META_STR_MAX + 1];
};

/* Fill m's metadata from p (m->data and m->len are left alone). 0, or -EILSEQ with the reason
 * in *why when a string cannot be carried. */
int bridge_props_to_msg(const amqp_basic_properties_t *p, struct bridge_in_meta *s,
                        struct shmq_msg *m, const char **why);

#endif /* SHMQ_BRIDGE_PROPERTIES_H */
