/*
 * Evidence for tools/cli/README.md ("JSON: jansson"): what jansson 2.14 does with the values
 * the export format carries, and how long it takes to write an export line compared with the
 * tool's streaming writer (json.c, jsonl.c). Not built by CMake; see the README for the
 * command.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base64.h"
#include "buffer.h"
#include "jsonl.h"

static void behaviour(void)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    /* 1. a metadata string that is not UTF-8 */
    json_t *bad = json_string("\xff\xfe");
    printf("json_string(invalid UTF-8) = %s\n", bad ? "a string" : "NULL (refused)");
    json_t *nc = json_stringn_nocheck("\xff", 1);
    char *d = json_dumps(nc, JSON_ENCODE_ANY);
    if (!d)
        printf("json_stringn_nocheck: json_dumps fails (NULL)\n");
    else
        printf("json_stringn_nocheck dumps %zu bytes: valid JSON? %s\n", strlen(d),
               strchr(d, '\xff') ? "no (raw 0xff byte)" : "yes");
    /* 2. an id above INT64_MAX */
    json_error_t e;
    json_t *big = json_loads("{\"id\":18446744073709551615}", 0, &e);
    printf("u64 id: %s (%s)\n", big ? "parsed" : "refused", big ? "" : e.text);
    /* 3. key order, compact form, escapes, U+2028, DEL */
    json_t *o = json_object();
    json_object_set_new(o, "id", json_integer(1));
    json_object_set_new(o, "deliveries", json_integer(1));
    json_object_set_new(o, "type", json_string("a/b\x7f\xe2\x80\xa8\x01"));
    char *c = json_dumps(o, JSON_COMPACT);
    printf("compact: %s\n", c);
    char *p = json_dumps(o, JSON_INDENT(2));
    printf("indent 2:\n%s\n", p);
    /* 4. a duplicate key, NUL in a string */
    json_t *dup = json_loads("{\"a\":1,\"a\":2}", JSON_REJECT_DUPLICATES, &e);
    printf("duplicate key with JSON_REJECT_DUPLICATES: %s: %s (line %d col %d pos %d)\n",
           dup ? "accepted" : "refused", e.text, e.line, e.column, e.position);
    json_t *nul = json_loads("{\"a\":\"x\\u0000y\"}", 0, &e);
    printf("\\u0000 in a string without JSON_ALLOW_NUL: %s: %s\n", nul ? "accepted" : "refused",
           e.text);
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}
static void timing(int n)
{
    char payload[40];
    memset(payload, 'x', sizeof payload);
    struct shmq_msg m = {
        .data = payload, .len = sizeof payload, .type = "order", .id = 12345, .deliveries = 1};
    FILE *null = fopen("/dev/null", "w");
    double t0 = now();
    for (int i = 0; i < n; i++) {
        m.id = (uint64_t)i;
        cli_jsonl_write(null, &m);
    }
    double ours = now() - t0;
    t0 = now();
    char b64[64];
    for (int i = 0; i < n; i++) {
        json_t *o = json_object();
        json_object_set_new(o, "id", json_integer(i));
        json_object_set_new(o, "deliveries", json_integer(1));
        json_object_set_new(o, "type", json_string("order"));
        cli_base64_encode(payload, sizeof payload, b64);
        json_object_set_new(o, "data_b64",
                            json_stringn(b64, cli_base64_encoded_size(sizeof payload)));
        json_dumpf(o, null, JSON_COMPACT);
        fputc('\n', null);
        json_decref(o);
    }
    double theirs = now() - t0;
    printf("%d lines: shmq writer %.0f ns/line, jansson %.0f ns/line (x%.2f)\n", n, ours * 1e9 / n,
           theirs * 1e9 / n, theirs / ours);
}

int main(int argc, char **argv)
{
    behaviour();
    timing(argc > 1 ? atoi(argv[1]) : 1000000);
    return 0;
}
