/*
 * JSON, the syntax: a streaming writer (for --json tables and the export format) and the
 * reading primitives of a recursive-descent parser over an in-memory buffer (for import).
 *
 * The writer keeps track of nesting and commas, so callers only say what comes next. It
 * always produces valid JSON: bytes that are not UTF-8 are written as U+FFFD (callers that
 * must keep arbitrary bytes use base64). Stream errors are sticky in the FILE: check ferror()
 * or the result of cli_json_finish().
 *
 * The reader never reads outside [start, end) and accepts no more nesting than
 * CLI_JSON_DEPTH_MAX. Its functions return 0 or -EINVAL (with r->error saying what was
 * expected), -ERANGE (a number too large), -EMSGSIZE or -ENOMEM (from the output buffer).
 */
#ifndef SHMQ_CLI_JSON_H
#define SHMQ_CLI_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "buffer.h"

#define CLI_JSON_DEPTH_MAX 64

/* ---- writing ---- */

struct cli_json {
    FILE *out;
    bool pretty;    /* newlines and two-space indentation */
    unsigned depth; /* open containers */
    bool after_key; /* a key was written: the value follows without a comma */
    bool has_items[CLI_JSON_DEPTH_MAX + 1]; /* per open container: a comma is due */
};

void cli_json_init(struct cli_json *j, FILE *out, bool pretty);
void cli_json_object_begin(struct cli_json *j);
void cli_json_object_end(struct cli_json *j);
void cli_json_array_begin(struct cli_json *j);
void cli_json_array_end(struct cli_json *j);
void cli_json_key(struct cli_json *j, const char *key);
void cli_json_string(struct cli_json *j, const char *s); /* NULL writes null */
void cli_json_string_n(struct cli_json *j, const void *s, size_t n);
void cli_json_base64(struct cli_json *j, const void *data, size_t n); /* a base64 string */
void cli_json_u64(struct cli_json *j, uint64_t v);
void cli_json_i64(struct cli_json *j, int64_t v);
void cli_json_bool(struct cli_json *j, bool v);
void cli_json_null(struct cli_json *j);
/* A token the caller knows to be a valid JSON number or literal. */
void cli_json_literal(struct cli_json *j, const char *token);
/* End the document with a newline. 0, or -errno if the stream failed at any point. */
int cli_json_finish(struct cli_json *j);

/* True if s[0..n) is well-formed UTF-8 (no overlongs, no surrogates, at most U+10FFFF). */
bool cli_utf8_valid(const void *s, size_t n);

/* ---- reading ---- */

struct cli_json_reader {
    const char *start, *p, *end;
    const char *error; /* after -EINVAL: what was expected, e.g. "a ':' after the key" */
};

void cli_json_reader_init(struct cli_json_reader *r, const char *buf, size_t len);
void cli_json_skip_space(struct cli_json_reader *r);
/* Skip whitespace; if the next character is c, consume it and return true. */
bool cli_json_consume(struct cli_json_reader *r, char c);
/* A string at r->p (after whitespace): its decoded bytes are appended to out (or dropped
 * when out is NULL). */
int cli_json_read_string(struct cli_json_reader *r, struct cli_buffer *out);
/* An integer (no fraction, no exponent). */
int cli_json_read_i64(struct cli_json_reader *r, int64_t *v);
int cli_json_read_u64(struct cli_json_reader *r, uint64_t *v);
/* Skip any one value. */
int cli_json_skip_value(struct cli_json_reader *r);
/*
 * The value at path in the JSON document text[0..len): path is keys separated by dots
 * ("order.customer.id"); a segment that is a number indexes an array ("items.0.sku"). A string
 * value is decoded into out; a number, true or false is copied as written. Returns 1 (out
 * set), 0 when there is no such value (a member missing, or a scalar on the way), -ENOMSG
 * when the value is an object, an array or null, -EINVAL when the document is not an object
 * or an array or is malformed on the way, -EMSGSIZE past out->limit, -ENOMEM. Only what lies
 * on the way is read: the rest of the document is not checked.
 */
int cli_json_lookup(const char *text, size_t len, const char *path, struct cli_buffer *out);

/* 1-based column of r->p, for messages. */
static inline size_t cli_json_column(const struct cli_json_reader *r)
{
    return (size_t)(r->p - r->start) + 1;
}

#endif /* SHMQ_CLI_JSON_H */
