/*
 * shmq serve: what a request's path asks for. Pure string work with no HTTP library, so that
 * the fuzz target (fuzz/fuzz_serve_route.c) links it alone.
 *
 * Routes (anything else is -ENOENT, a 404):
 *   /  /index.html  /dashboard.css  /dashboard.js      the dashboard's assets
 *   /metrics                                           Prometheus exposition
 *   /api/queues  /api/queues/NAME                      JSON, as `shmq stat --json`
 *   /api/topics  /api/topics/NAME
 *   /api/history                                       the samples the server keeps
 *   /api/queues/NAME/purge  /api/queues/NAME/repair    admin actions (POST)
 *   /api/topics/NAME/repair
 * The path is what the HTTP library hands over (percent-decoding done, no query). A NAME is
 * taken as it is, up to SHMQ_NAME_MAX bytes (longer: -EINVAL); whether it is a valid queue
 * name is the library's call (shmq_name_check), so "..", "a b" or "" come back as names for
 * the caller to refuse.
 */
#ifndef SHMQ_CLI_SERVE_ROUTE_H
#define SHMQ_CLI_SERVE_ROUTE_H

#include <stddef.h>
#include <stdint.h>

#include "shmq.h"

enum serve_page {
    SERVE_PAGE_ASSET, /* .asset says which */
    SERVE_PAGE_METRICS,
    SERVE_PAGE_QUEUES, /* the list, or one queue when .named */
    SERVE_PAGE_TOPICS, /* the list, or one topic when .named */
    SERVE_PAGE_HISTORY,
    SERVE_PAGE_ADMIN, /* .action on .name; .topic says which kind */
};

enum serve_asset { SERVE_ASSET_HTML, SERVE_ASSET_CSS, SERVE_ASSET_JS };

enum serve_action { SERVE_ACTION_NONE, SERVE_ACTION_PURGE, SERVE_ACTION_REPAIR };

struct serve_route {
    enum serve_page page;
    enum serve_asset asset;
    enum serve_action action;
    int topic; /* 1: /api/topics/..., 0: /api/queues/... */
    int named; /* the path has a NAME segment (maybe an empty one) */
    char name[SHMQ_NAME_MAX + 1];
};

/* Parse path[0..len) (it need not end with NUL; a NUL inside is refused). 0, -ENOENT (no such
 * route), or -EINVAL (a NUL byte, or a name segment longer than SHMQ_NAME_MAX). */
int serve_route_parse(const char *path, size_t len, struct serve_route *r);

/* Percent-decode the NUL-terminated s in place ("%41" -> "A") and return its new length. An
 * escape that is not two hex digits, or that would give a NUL byte, is left as it is (so a
 * name holding it is refused by the name rules, instead of being cut at the NUL). The
 * result is never longer than s. The HTTP library calls it for paths and query arguments. */
size_t serve_unescape(char *s);

/* A query parameter holding a count of seconds: decimal digits only, 1..max. 0 or -EINVAL. */
int serve_query_seconds(const char *value, uint32_t max, uint32_t *out);

#endif /* SHMQ_CLI_SERVE_ROUTE_H */
