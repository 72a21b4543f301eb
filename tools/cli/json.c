/* JSON writing and reading primitives. */
#include "json.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "base64.h"

/* ---- UTF-8 ---- */

/* Length of the well-formed UTF-8 sequence at s (n bytes available), or 0. */
static size_t utf8_sequence(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    if (c < 0x80)
        return 1;
    size_t len;
    uint32_t min, cp;
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2, min = 0x80, cp = c & 0x1fu;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3, min = 0x800, cp = c & 0x0fu;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4, min = 0x10000, cp = c & 0x07u;
    } else {
        return 0;
    }
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3fu);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

bool cli_utf8_valid(const void *s, size_t n)
{
    const unsigned char *p = s;
    while (n) {
        size_t len = utf8_sequence(p, n);
        if (!len)
            return false;
        p += len;
        n -= len;
    }
    return true;
}

/* ---- writing ---- */

void cli_json_init(struct cli_json *j, FILE *out, bool pretty)
{
    memset(j, 0, sizeof *j);
    j->out = out;
    j->pretty = pretty;
}

static void newline_indent(struct cli_json *j, unsigned depth)
{
    if (!j->pretty)
        return;
    fputc('\n', j->out);
    for (unsigned i = 0; i < depth; i++)
        fputs("  ", j->out);
}

/* Everything a value needs before it: a comma and a line break inside containers. */
static void value_prefix(struct cli_json *j)
{
    if (j->after_key) {
        j->after_key = false;
        return;
    }
    if (j->depth == 0)
        return;
    if (j->has_items[j->depth])
        fputc(',', j->out);
    j->has_items[j->depth] = true;
    newline_indent(j, j->depth);
}

static void container_begin(struct cli_json *j, char open)
{
    value_prefix(j);
    fputc(open, j->out);
    /* Deeper nesting than the tool ever writes would be a bug; keep the bookkeeping safe. */
    if (j->depth < CLI_JSON_DEPTH_MAX)
        j->depth++;
    j->has_items[j->depth] = false;
}

static void container_end(struct cli_json *j, char close)
{
    if (j->depth == 0)
        return;
    if (j->has_items[j->depth])
        newline_indent(j, j->depth - 1);
    j->depth--;
    fputc(close, j->out);
}

void cli_json_object_begin(struct cli_json *j)
{
    container_begin(j, '{');
}
void cli_json_object_end(struct cli_json *j)
{
    container_end(j, '}');
}
void cli_json_array_begin(struct cli_json *j)
{
    container_begin(j, '[');
}
void cli_json_array_end(struct cli_json *j)
{
    container_end(j, ']');
}

static void write_escaped(FILE *out, const unsigned char *s, size_t n)
{
    fputc('"', out);
    while (n) {
        /* The longest run that needs no escaping goes out in one write. */
        size_t run = 0;
        while (run < n && s[run] >= 0x20 && s[run] < 0x80 && s[run] != '"' && s[run] != '\\')
            run++;
        while (run < n && s[run] >= 0x80) {
            size_t len = utf8_sequence(s + run, n - run);
            if (!len)
                break;
            run += len;
        }
        if (run) {
            fwrite(s, 1, run, out);
            s += run;
            n -= run;
            continue;
        }
        unsigned char c = *s;
        switch (c) {
        case '"':
            fputs("\\\"", out);
            break;
        case '\\':
            fputs("\\\\", out);
            break;
        case '\n':
            fputs("\\n", out);
            break;
        case '\r':
            fputs("\\r", out);
            break;
        case '\t':
            fputs("\\t", out);
            break;
        default:
            if (c < 0x20)
                fprintf(out, "\\u%04x", c);
            else
                fputs("\\ufffd", out); /* not UTF-8 */
            break;
        }
        s++;
        n--;
    }
    fputc('"', out);
}

void cli_json_key(struct cli_json *j, const char *key)
{
    value_prefix(j);
    write_escaped(j->out, (const unsigned char *)key, strlen(key));
    fputs(j->pretty ? ": " : ":", j->out);
    j->after_key = true;
}

void cli_json_string_n(struct cli_json *j, const void *s, size_t n)
{
    value_prefix(j);
    write_escaped(j->out, s, n);
}

void cli_json_string(struct cli_json *j, const char *s)
{
    if (!s)
        cli_json_null(j);
    else
        cli_json_string_n(j, s, strlen(s));
}

void cli_json_base64(struct cli_json *j, const void *data, size_t n)
{
    value_prefix(j);
    fputc('"', j->out);
    cli_base64_write(j->out, data, n);
    fputc('"', j->out);
}

void cli_json_u64(struct cli_json *j, uint64_t v)
{
    value_prefix(j);
    fprintf(j->out, "%" PRIu64, v);
}

void cli_json_i64(struct cli_json *j, int64_t v)
{
    value_prefix(j);
    fprintf(j->out, "%" PRId64, v);
}

void cli_json_bool(struct cli_json *j, bool v)
{
    cli_json_literal(j, v ? "true" : "false");
}

void cli_json_null(struct cli_json *j)
{
    cli_json_literal(j, "null");
}

void cli_json_literal(struct cli_json *j, const char *token)
{
    value_prefix(j);
    fputs(token, j->out);
}

int cli_json_finish(struct cli_json *j)
{
    fputc('\n', j->out);
    return ferror(j->out) ? -(errno ? errno : EIO) : 0;
}

/* ---- reading ---- */

void cli_json_reader_init(struct cli_json_reader *r, const char *buf, size_t len)
{
    r->start = r->p = buf;
    r->end = buf + len;
    r->error = NULL;
}

void cli_json_skip_space(struct cli_json_reader *r)
{
    while (r->p < r->end && (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r'))
        r->p++;
}

bool cli_json_consume(struct cli_json_reader *r, char c)
{
    cli_json_skip_space(r);
    if (r->p < r->end && *r->p == c) {
        r->p++;
        return true;
    }
    return false;
}

static int fail(struct cli_json_reader *r, const char *expected)
{
    r->error = expected;
    return -EINVAL;
}

/* Four hex digits at r->p. */
static int read_hex4(struct cli_json_reader *r, uint32_t *v)
{
    if (r->end - r->p < 4)
        return fail(r, "four hex digits after \\u");
    uint32_t x = 0;
    for (int i = 0; i < 4; i++) {
        char c = r->p[i];
        uint32_t d;
        if (c >= '0' && c <= '9')
            d = (uint32_t)(c - '0');
        else if (c >= 'a' && c <= 'f')
            d = (uint32_t)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            d = (uint32_t)(c - 'A' + 10);
        else
            return fail(r, "four hex digits after \\u");
        x = x << 4 | d;
    }
    r->p += 4;
    *v = x;
    return 0;
}

/* Append to out, or drop the bytes when out is NULL (skipping a value). */
static int append(struct cli_buffer *out, const void *p, size_t n)
{
    return out ? cli_buffer_append(out, p, n) : 0;
}

static int append_code_point(struct cli_buffer *out, uint32_t cp)
{
    unsigned char u[4];
    size_t n;
    if (cp < 0x80) {
        u[0] = (unsigned char)cp;
        n = 1;
    } else if (cp < 0x800) {
        u[0] = (unsigned char)(0xc0 | cp >> 6);
        u[1] = (unsigned char)(0x80 | (cp & 0x3f));
        n = 2;
    } else if (cp < 0x10000) {
        u[0] = (unsigned char)(0xe0 | cp >> 12);
        u[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
        u[2] = (unsigned char)(0x80 | (cp & 0x3f));
        n = 3;
    } else {
        u[0] = (unsigned char)(0xf0 | cp >> 18);
        u[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
        u[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
        u[3] = (unsigned char)(0x80 | (cp & 0x3f));
        n = 4;
    }
    return append(out, u, n);
}

/* The escape after a backslash (r->p is past the backslash). */
static int read_escape(struct cli_json_reader *r, struct cli_buffer *out)
{
    if (r->p >= r->end)
        return fail(r, "an escape after '\\'");
    char c = *r->p++;
    static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
    const char *hit = c ? strchr(from, c) : NULL;
    if (hit)
        return append(out, &to[hit - from], 1);
    if (c != 'u')
        return fail(r, "one of \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\u");
    uint32_t cp;
    int err = read_hex4(r, &cp);
    if (err)
        return err;
    if (cp >= 0xdc00 && cp <= 0xdfff)
        return fail(r, "a high surrogate before a low one");
    if (cp >= 0xd800 && cp <= 0xdbff) {
        uint32_t low;
        if (r->end - r->p < 2 || r->p[0] != '\\' || r->p[1] != 'u')
            return fail(r, "a low surrogate \\uDC00-\\uDFFF after a high one");
        r->p += 2;
        if ((err = read_hex4(r, &low)) != 0)
            return err;
        if (low < 0xdc00 || low > 0xdfff)
            return fail(r, "a low surrogate \\uDC00-\\uDFFF after a high one");
        cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
    }
    return append_code_point(out, cp);
}

int cli_json_read_string(struct cli_json_reader *r, struct cli_buffer *out)
{
    if (!cli_json_consume(r, '"'))
        return fail(r, "a string");
    for (;;) {
        const char *run = r->p;
        while (r->p < r->end && *r->p != '"' && *r->p != '\\' && (unsigned char)*r->p >= 0x20)
            r->p++;
        int err = append(out, run, (size_t)(r->p - run));
        if (err)
            return err;
        if (r->p >= r->end)
            return fail(r, "a closing '\"'");
        char c = *r->p++;
        if (c == '"')
            return 0;
        if (c != '\\') {
            r->p--;
            return fail(r, "no control characters inside a string (escape them)");
        }
        if ((err = read_escape(r, out)) != 0)
            return err;
    }
}

/* The extent of a number at r->p per the JSON grammar; *integer says if it has no fraction
 * or exponent. */
static int scan_number(struct cli_json_reader *r, const char **start, bool *integer)
{
    cli_json_skip_space(r);
    const char *p = r->p;
    *start = p;
    *integer = true;
    if (p < r->end && *p == '-')
        p++;
    if (p >= r->end || *p < '0' || *p > '9')
        return fail(r, "a number");
    if (*p == '0')
        p++;
    else
        while (p < r->end && *p >= '0' && *p <= '9')
            p++;
    if (p < r->end && *p == '.') {
        *integer = false;
        p++;
        if (p >= r->end || *p < '0' || *p > '9')
            return fail(r, "digits after the decimal point");
        while (p < r->end && *p >= '0' && *p <= '9')
            p++;
    }
    if (p < r->end && (*p == 'e' || *p == 'E')) {
        *integer = false;
        p++;
        if (p < r->end && (*p == '+' || *p == '-'))
            p++;
        if (p >= r->end || *p < '0' || *p > '9')
            return fail(r, "digits in the exponent");
        while (p < r->end && *p >= '0' && *p <= '9')
            p++;
    }
    r->p = p;
    return 0;
}

/* Magnitude of the integer [s, e) (digits, after an optional '-'); -ERANGE past max. */
static int integer_magnitude(const char *s, const char *e, uint64_t max, uint64_t *v)
{
    uint64_t x = 0;
    if (s < e && *s == '-')
        s++;
    for (; s < e; s++) {
        uint64_t d = (uint64_t)(*s - '0');
        if (x > (max - d) / 10)
            return -ERANGE;
        x = x * 10 + d;
    }
    *v = x;
    return 0;
}

int cli_json_read_i64(struct cli_json_reader *r, int64_t *v)
{
    const char *s;
    bool integer;
    int err = scan_number(r, &s, &integer);
    if (err)
        return err;
    if (!integer) {
        r->p = s;
        return fail(r, "an integer");
    }
    bool negative = *s == '-';
    uint64_t mag;
    if ((err = integer_magnitude(s, r->p, negative ? (uint64_t)INT64_MAX + 1 : INT64_MAX, &mag)))
        return err;
    *v = negative ? (mag == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)mag) : (int64_t)mag;
    return 0;
}

int cli_json_read_u64(struct cli_json_reader *r, uint64_t *v)
{
    const char *s;
    bool integer;
    int err = scan_number(r, &s, &integer);
    if (err)
        return err;
    if (!integer || *s == '-') {
        r->p = s;
        return fail(r, "a non-negative integer");
    }
    return integer_magnitude(s, r->p, UINT64_MAX, v);
}

static int skip_literal(struct cli_json_reader *r, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)(r->end - r->p) < n || memcmp(r->p, word, n) != 0)
        return fail(r, "a value");
    r->p += n;
    return 0;
}

static int skip_value_at(struct cli_json_reader *r, unsigned depth)
{
    cli_json_skip_space(r);
    if (r->p >= r->end)
        return fail(r, "a value");
    if (depth >= CLI_JSON_DEPTH_MAX)
        return fail(r, "less nesting");
    const char *s;
    bool integer;
    int err;
    switch (*r->p) {
    case '"':
        return cli_json_read_string(r, NULL);
    case 't':
        return skip_literal(r, "true");
    case 'f':
        return skip_literal(r, "false");
    case 'n':
        return skip_literal(r, "null");
    case '[':
        r->p++;
        if (cli_json_consume(r, ']'))
            return 0;
        do {
            if ((err = skip_value_at(r, depth + 1)) != 0)
                return err;
        } while (cli_json_consume(r, ','));
        return cli_json_consume(r, ']') ? 0 : fail(r, "',' or ']' in an array");
    case '{':
        r->p++;
        if (cli_json_consume(r, '}'))
            return 0;
        do {
            cli_json_skip_space(r);
            if ((err = cli_json_read_string(r, NULL)) != 0)
                return err;
            if (!cli_json_consume(r, ':'))
                return fail(r, "a ':' after the key");
            if ((err = skip_value_at(r, depth + 1)) != 0)
                return err;
        } while (cli_json_consume(r, ','));
        return cli_json_consume(r, '}') ? 0 : fail(r, "',' or '}' in an object");
    default:
        return scan_number(r, &s, &integer);
    }
}

int cli_json_skip_value(struct cli_json_reader *r)
{
    return skip_value_at(r, 0);
}

/* One step of a path: the segment [seg, seg + n) as an object key, or as an array index. */
static int lookup_step(struct cli_json_reader *r, const char *seg, size_t n)
{
    cli_json_skip_space(r);
    if (cli_json_consume(r, '{')) {
        if (cli_json_consume(r, '}'))
            return 0;
        struct cli_buffer key = {.limit = 4096};
        int found = 0;
        do {
            key.len = 0;
            cli_json_skip_space(r);
            int err = cli_json_read_string(r, &key);
            if (err || !cli_json_consume(r, ':')) {
                cli_buffer_free(&key);
                return err && err != -EMSGSIZE ? err : -EINVAL;
            }
            if (key.len == n && (n == 0 || memcmp(key.data, seg, n) == 0)) {
                found = 1; /* the first of repeated keys, as most readers do */
                break;
            }
            if ((err = cli_json_skip_value(r)) != 0) {
                cli_buffer_free(&key);
                return err;
            }
        } while (cli_json_consume(r, ','));
        cli_buffer_free(&key);
        return found;
    }
    if (cli_json_consume(r, '[')) {
        uint64_t index = 0;
        for (size_t i = 0; i < n; i++) {
            if (seg[i] < '0' || seg[i] > '9' || index > UINT32_MAX)
                return 0; /* not an index: nothing there */
            index = index * 10 + (uint64_t)(seg[i] - '0');
        }
        if (n == 0 || cli_json_consume(r, ']'))
            return 0;
        for (uint64_t i = 0; i < index; i++) {
            int err = cli_json_skip_value(r);
            if (err)
                return err;
            if (!cli_json_consume(r, ','))
                return 0; /* fewer elements */
        }
        return 1;
    }
    return 0; /* a scalar has no members */
}

int cli_json_lookup(const char *text, size_t len, const char *path, struct cli_buffer *out)
{
    struct cli_json_reader r;
    cli_json_reader_init(&r, text, len);
    out->len = 0;
    cli_json_skip_space(&r);
    if (r.p == r.end || (*r.p != '{' && *r.p != '['))
        return -EINVAL; /* not a JSON document with members */
    for (const char *seg = path;;) {
        const char *dot = strchr(seg, '.');
        size_t n = dot ? (size_t)(dot - seg) : strlen(seg);
        int found = lookup_step(&r, seg, n);
        if (found <= 0)
            return found;
        if (!dot)
            break;
        seg = dot + 1;
    }
    cli_json_skip_space(&r);
    if (r.p < r.end && *r.p == '"') {
        int err = cli_json_read_string(&r, out);
        return err ? err : 1;
    }
    const char *start = r.p;
    int err = cli_json_skip_value(&r);
    if (err)
        return err;
    if (*start == '{' || *start == '[' || *start == 'n')
        return -ENOMSG; /* an object, an array or null: no text to take */
    return cli_buffer_append(out, start, (size_t)(r.p - start)) ? -ENOMEM : 1;
}
