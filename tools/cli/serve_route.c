/* shmq serve: paths to routes (see serve_route.h). */
#include "serve_route.h"

#include <errno.h>
#include <string.h>

/* The next '/'-separated segment of [*p, end): its start and length; *p moves past it and
 * past the '/' that ends it. *more says whether a '/' ended it. */
static void next_segment(const char **p, const char *end, const char **seg, size_t *len, int *more)
{
    const char *slash = memchr(*p, '/', (size_t)(end - *p));
    *seg = *p;
    *len = (size_t)((slash ? slash : end) - *p);
    *more = slash != NULL;
    *p = slash ? slash + 1 : end;
}

static int segment_is(const char *seg, size_t len, const char *word)
{
    return strlen(word) == len && memcmp(seg, word, len) == 0;
}

static const struct {
    const char *path;
    enum serve_page page;
    enum serve_asset asset;
} fixed[] = {
    {"/", SERVE_PAGE_ASSET, SERVE_ASSET_HTML},
    {"/index.html", SERVE_PAGE_ASSET, SERVE_ASSET_HTML},
    {"/dashboard.css", SERVE_PAGE_ASSET, SERVE_ASSET_CSS},
    {"/dashboard.js", SERVE_PAGE_ASSET, SERVE_ASSET_JS},
    {"/metrics", SERVE_PAGE_METRICS, SERVE_ASSET_HTML},
    {"/api/queues", SERVE_PAGE_QUEUES, SERVE_ASSET_HTML},
    {"/api/topics", SERVE_PAGE_TOPICS, SERVE_ASSET_HTML},
    {"/api/history", SERVE_PAGE_HISTORY, SERVE_ASSET_HTML},
};

int serve_route_parse(const char *path, size_t len, struct serve_route *r)
{
    memset(r, 0, sizeof *r);
    if (!path || memchr(path, 0, len))
        return -EINVAL;
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) {
        if (segment_is(path, len, fixed[i].path)) {
            r->page = fixed[i].page;
            r->asset = fixed[i].asset;
            return 0;
        }
    }
    /* /api/{queues,topics}/NAME[/ACTION] */
    static const char api[] = "/api/";
    if (len < sizeof api - 1 || memcmp(path, api, sizeof api - 1) != 0)
        return -ENOENT;
    const char *p = path + sizeof api - 1, *end = path + len, *seg;
    size_t n;
    int more;
    next_segment(&p, end, &seg, &n, &more);
    if (segment_is(seg, n, "queues"))
        r->topic = 0;
    else if (segment_is(seg, n, "topics"))
        r->topic = 1;
    else
        return -ENOENT;
    if (!more)
        return -ENOENT; /* the lists matched above */
    next_segment(&p, end, &seg, &n, &more);
    if (n > SHMQ_NAME_MAX)
        return -EINVAL;
    memcpy(r->name, seg, n);
    r->name[n] = 0;
    r->named = 1;
    r->page = r->topic ? SERVE_PAGE_TOPICS : SERVE_PAGE_QUEUES;
    if (!more)
        return 0;
    next_segment(&p, end, &seg, &n, &more);
    if (more)
        return -ENOENT;
    if (segment_is(seg, n, "repair"))
        r->action = SERVE_ACTION_REPAIR;
    else if (!r->topic && segment_is(seg, n, "purge"))
        r->action = SERVE_ACTION_PURGE;
    else
        return -ENOENT;
    r->page = SERVE_PAGE_ADMIN;
    return 0;
}

int serve_query_seconds(const char *value, uint32_t max, uint32_t *out)
{
    if (!value || !*value)
        return -EINVAL;
    uint64_t v = 0;
    for (const char *c = value; *c; c++) {
        if (*c < '0' || *c > '9')
            return -EINVAL;
        v = v * 10 + (uint64_t)(*c - '0');
        if (v > max)
            return -EINVAL;
    }
    if (v == 0)
        return -EINVAL;
    *out = (uint32_t)v;
    return 0;
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

size_t serve_unescape(char *s)
{
    char *out = s;
    for (const char *in = s; *in;) {
        int hi, lo;
        if (in[0] == '%' && (hi = hex_digit(in[1])) >= 0 && (lo = hex_digit(in[2])) >= 0 &&
            (hi | lo) != 0) {
            *out++ = (char)(hi << 4 | lo);
            in += 3;
        } else {
            *out++ = *in++;
        }
    }
    *out = 0;
    return (size_t)(out - s);
}
