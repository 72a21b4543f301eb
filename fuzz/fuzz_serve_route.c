/*
 * fuzz_serve_route: what `shmq serve` makes of a request's path and query (tools/cli
 * serve_route.h) on any bytes: percent-decoding as the HTTP library calls it, the route, and
 * the seconds of /api/history.
 *
 * Input: byte 0 picks the parser (even: a path, odd: a query value), the rest is the text.
 * Beyond "no crash, no read past the end": decoding never lengthens and never makes a NUL; a
 * route's name is at most SHMQ_NAME_MAX bytes, holds no '/' and comes from the path; an admin
 * action only comes with a name; a path that parses gives the same route again when it is
 * built back from the route; seconds are 1..max and all digits.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expect.h"
#include "serve_route.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_route(const char *path, size_t len)
{
    struct serve_route r;
    int err = serve_route_parse(path, len, &r);
    EXPECT(err == 0 || err == -ENOENT || err == -EINVAL);
    if (err)
        return;
    size_t n = strlen(r.name);
    EXPECT(n <= SHMQ_NAME_MAX && !strchr(r.name, '/'));
    EXPECT(r.named || n == 0);
    EXPECT(r.page != SERVE_PAGE_ADMIN || r.named);
    EXPECT(r.action == SERVE_ACTION_NONE || r.page == SERVE_PAGE_ADMIN);
    if (r.named) {
        /* Built back, the path parses the same. */
        static const char *const actions[] = {"", "/purge", "/repair"};
        char again[SHMQ_NAME_MAX + 64];
        int m = snprintf(again, sizeof again, "/api/%s/%s%s", r.topic ? "topics" : "queues", r.name,
                         actions[r.action]);
        EXPECT(m > 0 && (size_t)m == len && memcmp(again, path, len) == 0);
        struct serve_route r2;
        EXPECT(serve_route_parse(again, (size_t)m, &r2) == 0);
        EXPECT(memcmp(&r, &r2, sizeof r) == 0);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    bool query = data[0] & 1;
    size_t len = size - 1;
    /* An exact-size copy: ASan sees any read past it. */
    char *text = malloc(len + 1);
    if (!text)
        return 0;
    memcpy(text, data + 1, len);
    text[len] = 0;
    if (query) {
        uint32_t max = (uint32_t)(data[0] >> 1) * 1000u + 1u, v = 0;
        if (serve_query_seconds(text, max, &v) == 0) {
            EXPECT(v >= 1 && v <= max);
            EXPECT(strspn(text, "0123456789") == strlen(text)); /* up to a NUL */
        }
    } else {
        check_route(text, len); /* raw, NULs included */
        size_t before = strlen(text);
        size_t after = serve_unescape(text);
        EXPECT(after <= before && after == strlen(text));
        check_route(text, after);
    }
    free(text);
    return 0;
}
