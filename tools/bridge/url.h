/*
 * Broker URLs: amqp://user:pass@host:port/vhost, parsed with librabbitmq's amqp_parse_url
 * (percent-decoding included), plus two forms people write for the vhost "/" that it does not
 * take: Celery's and kombu's "amqp://host//" and an empty vhost ("amqp://host/"), which
 * RabbitMQ has no use for. Defaults: guest:guest@localhost:5672, vhost "/".
 * amqps:// is refused: the bridge speaks plain TCP only.
 */
#ifndef SHMQ_BRIDGE_URL_H
#define SHMQ_BRIDGE_URL_H

#include <amqp.h>
#include <stddef.h>

struct bridge_url {
    struct amqp_connection_info info; /* points into buf */
    char *buf;                        /* the copy amqp_parse_url cut into pieces */
    char display[512];                /* the URL without the password */
};

/* 0, or -EINVAL with the reason in why (nothing to free), or -ENOMEM. */
int bridge_url_parse(const char *text, struct bridge_url *u, char *why, size_t why_size);
void bridge_url_free(struct bridge_url *u);

#endif /* SHMQ_BRIDGE_URL_H */
