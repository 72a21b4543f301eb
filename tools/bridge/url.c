/* Broker URLs (see url.h). */
#include "url.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "amqp_bridge.h"

/* Percent-encode a vhost for display: "/" is "%2f", as in the URL form that names it. */
static void encode_vhost(const char *vhost, char *out, size_t size)
{
    size_t n = 0;
    for (const char *p = vhost; *p && n + 4 < size; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '/' || c == '%' || c == '@' || c == ':' || c == '?' || c == '#' || c <= ' ' ||
            c >= 0x7f)
            n += (size_t)snprintf(out + n, size - n, "%%%02x", c);
        else
            out[n++] = (char)c;
    }
    out[n] = 0;
}

int bridge_url_parse(const char *text, struct bridge_url *u, char *why, size_t why_size)
{
    memset(u, 0, sizeof *u);
    if (strncmp(text, "amqps://", 8) == 0) {
        snprintf(why, why_size, "amqps:// (TLS) is not supported: use amqp://");
        return -EINVAL;
    }
    if (strncmp(text, "amqp://", 7) != 0) {
        snprintf(why, why_size,
                 "'%s' is not an AMQP URL: expected amqp://user:pass@host:port/vhost", text);
        return -EINVAL;
    }
    size_t len = strlen(text);
    u->buf = malloc(len + 1);
    if (!u->buf)
        return -ENOMEM;
    memcpy(u->buf, text, len + 1);
    /* "amqp://host//" (kombu's way of naming the vhost "/") becomes "amqp://host/". */
    char *path = strchr(u->buf + 7, '/');
    if (path && strcmp(path, "//") == 0)
        path[1] = 0;
    if (amqp_parse_url(u->buf, &u->info) != AMQP_STATUS_OK) {
        free(u->buf);
        u->buf = NULL;
        snprintf(why, why_size,
                 "bad AMQP URL (expected amqp://user:pass@host:port/vhost, with %%2f for a '/' "
                 "in the vhost)");
        return -EINVAL;
    }
    if (u->info.vhost[0] == 0)
        u->info.vhost = "/";
    char vhost[256];
    encode_vhost(u->info.vhost, vhost, sizeof vhost);
    const char *host = u->info.host;
    snprintf(u->display, sizeof u->display, "amqp://%s@%s%s%s:%d/%s", u->info.user,
             strchr(host, ':') ? "[" : "", host, strchr(host, ':') ? "]" : "", u->info.port, vhost);
    return 0;
}

void bridge_url_free(struct bridge_url *u)
{
    free(u->buf);
    u->buf = NULL;
}

int amqp_bridge_url_check(const char *url, char *out, size_t size, char *why, size_t why_size)
{
    struct bridge_url u;
    int err = bridge_url_parse(url, &u, why, why_size);
    if (err)
        return err;
    if (out)
        snprintf(out, size, "%s", u.display);
    bridge_url_free(&u);
    return 0;
}
