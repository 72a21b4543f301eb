/*
 * Unit tests of the bridge's pieces that need no broker: broker URLs, the Celery protocol-2
 * encoding, the route of results back to shm, and the metadata mapping. The real broker and a
 * real Celery worker are in the scripts next to this file.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "celery.h"
#include "properties.h"
#include "url.h"

static void bytes_equal(amqp_bytes_t b, const char *s)
{
    assert_int_equal(b.len, strlen(s));
    assert_memory_equal(b.bytes, s, b.len);
}

/* ---- URLs ---- */

static void test_url_forms(void **state)
{
    (void)state;
    static const struct {
        const char *url, *user, *password, *host, *vhost;
        int port;
    } cases[] = {
        {"amqp://u:p@h:1234/v", "u", "p", "h", "v", 1234},
        {"amqp://h", "guest", "guest", "h", "/", 5672},
        {"amqp://h/", "guest", "guest", "h", "/", 5672},    /* empty vhost: "/" */
        {"amqp://h//", "guest", "guest", "h", "/", 5672},   /* kombu's form */
        {"amqp://h/%2f", "guest", "guest", "h", "/", 5672}, /* librabbitmq's form */
        {"amqp://a%40b:p%3aq@[::1]:5673/x%2fy", "a@b", "p:q", "::1", "x/y", 5673},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct bridge_url u;
        char why[200];
        assert_int_equal(bridge_url_parse(cases[i].url, &u, why, sizeof why), 0);
        assert_string_equal(u.info.user, cases[i].user);
        assert_string_equal(u.info.password, cases[i].password);
        assert_string_equal(u.info.host, cases[i].host);
        assert_string_equal(u.info.vhost, cases[i].vhost);
        assert_int_equal(u.info.port, cases[i].port);
        assert_null(strstr(u.display, ":p@")); /* never the password */
        bridge_url_free(&u);
    }
    struct bridge_url u;
    char why[200];
    assert_int_equal(bridge_url_parse("amqp://u:secret@h:1/v", &u, why, sizeof why), 0);
    assert_string_equal(u.display, "amqp://u@h:1/v");
    bridge_url_free(&u);
}

static void test_url_refused(void **state)
{
    (void)state;
    static const char *bad[] = {"http://h",     "amqps://h", "amqp://h:99999", "amqp://h:x/",
                                "amqp://h/a/b", "",          "amqp://h/%zz"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct bridge_url u;
        char why[200] = "";
        assert_int_equal(bridge_url_parse(bad[i], &u, why, sizeof why), -EINVAL);
        assert_true(why[0] != 0);
    }
}

/* ---- Celery ---- */

static const amqp_table_entry_t *header(const struct bridge_out_props *o, int n, const char *key)
{
    for (int i = 0; i < n; i++)
        if (o->headers[i].key.len == strlen(key) &&
            memcmp(o->headers[i].key.bytes, key, strlen(key)) == 0)
            return &o->headers[i];
    fail_msg("no header %s", key);
    return NULL;
}

static int encode(struct bridge_celery *c, const char *payload, const char *corr,
                  const char *reply_to, struct bridge_out_props *o, amqp_bytes_t *body,
                  const char **why)
{
    struct shmq_msg m = {.data = (void *)payload,
                         .len = strlen(payload),
                         .correlation_id = corr,
                         .reply_to = reply_to,
                         .id = 42};
    memset(&o->p, 0, sizeof o->p);
    return bridge_celery_encode(c, &m, o, body, why);
}

static void test_celery_message(void **state)
{
    (void)state;
    struct bridge_celery c;
    assert_int_equal(
        bridge_celery_init(&c, "proj.add", AMQP_BRIDGE_CELERY_STRING, "replies", "q", 123), 0);
    struct bridge_out_props o;
    amqp_bytes_t body;
    const char *why = NULL;
    int n = encode(&c, "say \"hi\"\n\\", NULL, NULL, &o, &body, &why);
    assert_int_equal(n, 16);
    bytes_equal(body, "[[\"say \\\"hi\\\"\\n\\\\\"], {}, {\"callbacks\": null, \"errbacks\": null, "
                      "\"chain\": null, \"chord\": null}]");
    /* the fields and types Celery 5's as_task_v2 sends (None is a void field) */
    static const struct {
        const char *key;
        amqp_field_value_kind_t kind;
    } fields[] = {
        {"lang", AMQP_FIELD_KIND_UTF8},     {"task", AMQP_FIELD_KIND_UTF8},
        {"id", AMQP_FIELD_KIND_UTF8},       {"shadow", AMQP_FIELD_KIND_VOID},
        {"eta", AMQP_FIELD_KIND_VOID},      {"expires", AMQP_FIELD_KIND_VOID},
        {"group", AMQP_FIELD_KIND_VOID},    {"group_index", AMQP_FIELD_KIND_VOID},
        {"retries", AMQP_FIELD_KIND_I32},   {"timelimit", AMQP_FIELD_KIND_ARRAY},
        {"root_id", AMQP_FIELD_KIND_UTF8},  {"parent_id", AMQP_FIELD_KIND_VOID},
        {"argsrepr", AMQP_FIELD_KIND_UTF8}, {"kwargsrepr", AMQP_FIELD_KIND_UTF8},
        {"origin", AMQP_FIELD_KIND_UTF8},   {"ignore_result", AMQP_FIELD_KIND_BOOLEAN},
    };
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        assert_int_equal(header(&o, n, fields[i].key)->value.kind, fields[i].kind);
    bytes_equal(header(&o, n, "lang")->value.value.bytes, "py");
    bytes_equal(header(&o, n, "task")->value.value.bytes, "proj.add");
    amqp_bytes_t id = header(&o, n, "id")->value.value.bytes;
    assert_int_equal(id.len, 36);
    assert_int_equal(((const char *)id.bytes)[14], '8'); /* version 8 UUID */
    bytes_equal(header(&o, n, "root_id")->value.value.bytes, c.task_id);
    bytes_equal(header(&o, n, "argsrepr")->value.value.bytes, "[\"say \\\"hi\\\"\\n\\\\\"]");
    bytes_equal(header(&o, n, "kwargsrepr")->value.value.bytes, "{}");
    bytes_equal(o.p.content_type, "application/json");
    bytes_equal(o.p.content_encoding, "utf-8");
    bytes_equal(o.p.correlation_id, c.task_id); /* no reply wanted: the task id */
    assert_false(o.p._flags & AMQP_BASIC_REPLY_TO_FLAG);

    /* the same message has the same task id; another message another one */
    char first[37];
    memcpy(first, c.task_id, sizeof first);
    encode(&c, "x", NULL, NULL, &o, &body, &why);
    assert_string_equal(c.task_id, first);
    struct shmq_msg other = {.data = "x", .len = 1, .id = 43};
    memset(&o.p, 0, sizeof o.p);
    bridge_celery_encode(&c, &other, &o, &body, &why);
    assert_string_not_equal(c.task_id, first);

    /* a reply wanted: the route travels in the correlation id */
    encode(&c, "x", "corr.1", "shmq-reply.1.2", &o, &body, &why);
    bytes_equal(o.p.correlation_id, "corr.1@shmq-reply.1.2");
    bytes_equal(o.p.reply_to, "replies");

    /* not UTF-8 */
    assert_int_equal(encode(&c, "\xff", NULL, NULL, &o, &body, &why), -EILSEQ);
    assert_non_null(why);
    bridge_celery_free(&c);
}

static void test_celery_json_args(void **state)
{
    (void)state;
    struct bridge_celery c;
    assert_int_equal(bridge_celery_init(&c, "t", AMQP_BRIDGE_CELERY_JSON, "r", "q", 1), 0);
    struct bridge_out_props o;
    amqp_bytes_t body;
    const char *why;
    int n = encode(&c, " [1, \"a\"] ", NULL, NULL, &o, &body, &why);
    assert_true(n > 0);
    bytes_equal(body,
                "[ [1, \"a\"] , {}, {\"callbacks\": null, \"errbacks\": null, \"chain\": null, "
                "\"chord\": null}]");
    n = encode(&c, "{\"a\": 1}", NULL, NULL, &o, &body, &why);
    assert_true(n > 0);
    bytes_equal(body, "[[], {\"a\": 1}, {\"callbacks\": null, \"errbacks\": null, \"chain\": null, "
                      "\"chord\": null}]");
    bytes_equal(header(&o, n, "argsrepr")->value.value.bytes, "[]");
    bytes_equal(header(&o, n, "kwargsrepr")->value.value.bytes, "{\"a\": 1}");
    static const char *bad[] = {"1", "\"s\"", "[1", "[1] [2]", "{\"a\": }", "", "null"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(encode(&c, bad[i], NULL, NULL, &o, &body, &why), -EILSEQ);
    bridge_celery_free(&c);
}

static void test_celery_repr_cut(void **state)
{
    (void)state;
    struct bridge_celery c;
    assert_int_equal(bridge_celery_init(&c, "t", AMQP_BRIDGE_CELERY_STRING, "r", "q", 1), 0);
    char big[3000];
    size_t n = 0;
    while (n + 2 < sizeof big) { /* "é" is two bytes: the cut must not split one */
        big[n++] = (char)0xc3;
        big[n++] = (char)0xa9;
    }
    big[n] = 0;
    struct bridge_out_props o;
    amqp_bytes_t body;
    const char *why;
    int h = encode(&c, big, NULL, NULL, &o, &body, &why);
    assert_true(h > 0);
    amqp_bytes_t repr = header(&o, h, "argsrepr")->value.value.bytes;
    assert_true(repr.len <= BRIDGE_CELERY_REPR_MAX && repr.len >= BRIDGE_CELERY_REPR_MAX - 1);
    assert_true(((const unsigned char *)repr.bytes)[repr.len - 1] == 0xa9);
    bridge_celery_free(&c);
}

static void test_reply_route(void **state)
{
    (void)state;
    char q[SHMQ_NAME_MAX + 1], corr[SHMQ_META_STR_MAX + 1];
    assert_true(bridge_celery_reply_route(amqp_cstring_bytes("a@b@shmq-reply.1.2"), q, sizeof q,
                                          corr, sizeof corr));
    assert_string_equal(q, "shmq-reply.1.2");
    assert_string_equal(corr, "a@b");
    assert_true(
        bridge_celery_reply_route(amqp_cstring_bytes("@r"), q, sizeof q, corr, sizeof corr));
    assert_string_equal(corr, "");
    assert_false(
        bridge_celery_reply_route(amqp_cstring_bytes("no-route"), q, sizeof q, corr, sizeof corr));
    assert_false(bridge_celery_reply_route(amqp_cstring_bytes("c@bad name"), q, sizeof q, corr,
                                           sizeof corr));
    assert_false(
        bridge_celery_reply_route(amqp_cstring_bytes("c@"), q, sizeof q, corr, sizeof corr));

    char status[BRIDGE_CELERY_STATUS_MAX];
    const char *result =
        "{\"task_id\": \"x\", \"result\": {\"status\": 1}, \"status\": \"SUCCESS\"}";
    assert_true(bridge_celery_result_status(result, strlen(result), status, sizeof status));
    assert_string_equal(status, "SUCCESS");
    assert_true(bridge_celery_state_is_ready(status));
    assert_false(bridge_celery_state_is_ready("STARTED"));
    assert_false(bridge_celery_result_status("\x80\x03pickle", 9, status, sizeof status));
}

/* ---- metadata ---- */

static void test_properties(void **state)
{
    (void)state;
    struct shmq_msg m = {.type = "t",
                         .correlation_id = "c",
                         .reply_to = "r",
                         .timestamp_ns = 1700000000123456789LL,
                         .id = 77,
                         .deliveries = 3};
    struct bridge_out_props o;
    memset(&o.p, 0, sizeof o.p);
    bridge_props_from_msg(&o, &m, "jobs", false, 0);
    bytes_equal(o.p.message_id, "jobs/77");
    bytes_equal(o.p.type, "t");
    bytes_equal(o.p.correlation_id, "c");
    bytes_equal(o.p.reply_to, "r");
    assert_int_equal(o.p.delivery_mode, 2);
    assert_int_equal(o.p.timestamp, 1700000000);
    assert_int_equal(o.p.headers.num_entries, 2); /* exact time, deliveries */
    uint64_t id;
    assert_true(bridge_props_parse_message_id(o.p.message_id, &id));
    assert_int_equal(id, 77);
    assert_false(bridge_props_parse_message_id(amqp_cstring_bytes("77"), &id));
    assert_false(bridge_props_parse_message_id(amqp_cstring_bytes("jobs/"), &id));

    /* and back: the exact time from our header wins over the seconds */
    struct shmq_msg in = {0};
    struct bridge_in_meta meta;
    const char *why;
    assert_int_equal(bridge_props_to_msg(&o.p, &meta, &in, &why), 0);
    assert_string_equal(in.type, "t");
    assert_string_equal(in.correlation_id, "c");
    assert_string_equal(in.reply_to, "r");
    assert_int_equal(in.timestamp_ns, m.timestamp_ns);

    /* from another AMQP client: seconds only; empty strings are absent; NUL refused */
    amqp_basic_properties_t p = {._flags = AMQP_BASIC_TIMESTAMP_FLAG | AMQP_BASIC_TYPE_FLAG,
                                 .timestamp = 5,
                                 .type = {0, NULL}};
    assert_int_equal(bridge_props_to_msg(&p, &meta, &in, &why), 0);
    assert_int_equal(in.timestamp_ns, 5000000000LL);
    assert_null(in.type);
    p._flags = AMQP_BASIC_CORRELATION_ID_FLAG;
    p.correlation_id = (amqp_bytes_t){3, "a\0b"};
    assert_int_equal(bridge_props_to_msg(&p, &meta, &in, &why), -EILSEQ);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_url_forms),       cmocka_unit_test(test_url_refused),
        cmocka_unit_test(test_celery_message),  cmocka_unit_test(test_celery_json_args),
        cmocka_unit_test(test_celery_repr_cut), cmocka_unit_test(test_reply_route),
        cmocka_unit_test(test_properties),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
