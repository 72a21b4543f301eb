/*
 * shmq serve: admin actions (purge a queue, repair a queue or a topic). They are the only
 * requests that change a segment, so they are off unless the server was started with
 * --allow-admin --token-file FILE, take POST only, and need "Authorization: Bearer TOKEN"
 * with the file's token (compared in constant time). Everything else is refused with 403.
 */
#ifndef SHMQ_CLI_SERVE_ADMIN_H
#define SHMQ_CLI_SERVE_ADMIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "serve_route.h"

#define SERVE_TOKEN_MAX 4096

struct serve_admin {
    bool enabled;
    char token[SERVE_TOKEN_MAX + 1];
    size_t token_len;
};

/* Read the token: the file's first line, without its line end; at least 16 visible ASCII
 * characters, no spaces. 0, -errno of the file, -EINVAL (empty, too short, bad characters) or
 * -EFBIG (longer than SERVE_TOKEN_MAX). *insecure tells that others than the owner may read
 * the file. */
int serve_admin_load(struct serve_admin *a, const char *path, bool *insecure);

/* Whether the Authorization header (NULL when absent) carries the token. */
bool serve_admin_authorized(const struct serve_admin *a, const char *authorization);

/* Do r's action (r->page is SERVE_PAGE_ADMIN, r->name valid) and write its JSON report to out.
 * 0, or the library's negative errno (-ENOENT, -EACCES, -EMEDIUMTYPE for the wrong kind,
 * -EBUSY when another repair runs...). */
int serve_admin_run(const struct serve_route *r, FILE *out);

#endif /* SHMQ_CLI_SERVE_ADMIN_H */
