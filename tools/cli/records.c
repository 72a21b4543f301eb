/* Records on byte streams: reading and writing the four framings (see records.h). */
#include "records.h"

#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "json.h"

#define READ_CHUNK (256 * 1024)
/* A JSON line carries its payload escaped (at worst 6 characters a byte, "\u0000") plus
 * metadata and numbers: its length limit follows from the payload's. */
#define JSON_ESCAPE_RATIO 6
#define JSON_LINE_SLACK 8192
/* A header line is short; a longer first line is a message. */
#define HEADER_LINE_MAX 4096

void cli_records_init(struct cli_records *r, FILE *in, enum cli_record_format format,
                      size_t max_len)
{
    memset(r, 0, sizeof *r);
    r->in = in;
    r->format = format;
    r->max_len = max_len;
    r->json.data.limit = max_len;
}

void cli_records_free(struct cli_records *r)
{
    cli_buffer_free(&r->buf);
    cli_jsonl_message_free(&r->json);
}

const char *cli_records_unit(enum cli_record_format format)
{
    return format == CLI_RECORDS_LINES || format == CLI_RECORDS_JSONL ? "line" : "record";
}

static int complain(struct cli_records *r, int err, const char *fmt, ...) CLI_PRINTF(3, 4);
static int complain(struct cli_records *r, int err, const char *fmt, ...)
{
    int n = snprintf(r->why, sizeof r->why, "%s %llu", cli_records_unit(r->format),
                     (unsigned long long)r->number);
    if (n >= 0 && (size_t)n < sizeof r->why) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(r->why + n, sizeof r->why - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return err;
}

/* Move the unread bytes to the front and read more after them; sets eof at the end. */
static int fill(struct cli_records *r)
{
    struct cli_buffer *b = &r->buf;
    if (r->pos) {
        memmove(b->data, b->data + r->pos, b->len - r->pos);
        b->len -= r->pos;
        r->pos = 0;
    }
    int err = cli_buffer_reserve(b, b->len + READ_CHUNK);
    if (err)
        return err;
    size_t room = b->cap - b->len;
    int fd = fileno(r->in);
    size_t got;
    if (fd >= 0) {
        ssize_t n = read(fd, b->data + b->len, room);
        if (n < 0) {
            if (errno == EINTR)
                return -EINTR;
            snprintf(r->why, sizeof r->why, "read error");
            return -errno;
        }
        got = (size_t)n;
    } else {
        got = fread(b->data + b->len, 1, room, r->in);
        if (got == 0 && ferror(r->in)) {
            snprintf(r->why, sizeof r->why, "read error");
            return -EIO;
        }
    }
    b->len += got;
    if (got == 0)
        r->eof = true;
    return 0;
}

static void consume(struct cli_records *r, size_t n)
{
    r->pos += n;
    r->offset += n;
    r->scanned = 0;
}

/* The next record ending in `delim` (or at the end of input), of at most `limit` bytes. */
static int next_delimited(struct cli_records *r, unsigned char delim, size_t limit,
                          const unsigned char **rec, size_t *len)
{
    for (;;) {
        size_t avail = r->buf.len - r->pos;
        const unsigned char *start = avail ? r->buf.data + r->pos : NULL;
        const unsigned char *hit =
            avail > r->scanned ? memchr(start + r->scanned, delim, avail - r->scanned) : NULL;
        if (hit) {
            r->number++;
            if ((size_t)(hit - start) > limit)
                return complain(r, -EMSGSIZE, " is longer than %zu bytes", limit);
            *rec = start;
            *len = (size_t)(hit - start);
            consume(r, *len + 1);
            return 1;
        }
        r->scanned = avail;
        if (avail > limit) {
            r->number++;
            return complain(r, -EMSGSIZE, " is longer than %zu bytes", limit);
        }
        if (r->eof) {
            if (avail == 0)
                return 0;
            r->number++;
            *rec = start;
            *len = avail;
            consume(r, avail);
            return 1;
        }
        int err = fill(r);
        if (err)
            return err;
    }
}

/* Make n unread bytes available: 0, or 1 if the input ends first. */
static int ensure(struct cli_records *r, size_t n)
{
    while (r->buf.len - r->pos < n && !r->eof) {
        int err = fill(r);
        if (err)
            return err;
    }
    return r->buf.len - r->pos < n ? 1 : 0;
}

static int next_raw(struct cli_records *r, struct cli_record *rec)
{
    int err = ensure(r, 4);
    if (err < 0)
        return err;
    size_t avail = r->buf.len - r->pos;
    if (err == 1 && avail == 0)
        return 0;
    r->number++;
    if (err == 1)
        return complain(r, -EINVAL, ": truncated length prefix (%zu of 4 bytes)", avail);
    const unsigned char *p = r->buf.data + r->pos;
    uint32_t len =
        (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    if (len > r->max_len)
        return complain(r, -EMSGSIZE, ": length %u is larger than %zu bytes", len, r->max_len);
    if ((err = ensure(r, 4 + (size_t)len)) < 0)
        return err;
    if (err == 1)
        return complain(r, -EINVAL, ": truncated: %zu of %u bytes", r->buf.len - r->pos - 4, len);
    rec->data = r->buf.data + r->pos + 4;
    rec->len = len;
    consume(r, 4 + (size_t)len);
    return 1;
}

static bool is_blank(const unsigned char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
            return false;
    return true;
}

static int next_jsonl(struct cli_records *r, struct cli_record *rec)
{
    size_t limit = r->max_len > (SIZE_MAX - JSON_LINE_SLACK) / JSON_ESCAPE_RATIO
                       ? SIZE_MAX
                       : r->max_len * JSON_ESCAPE_RATIO + JSON_LINE_SLACK;
    const unsigned char *line;
    size_t len;
    int got;
    do {
        if ((got = next_delimited(r, '\n', limit, &line, &len)) <= 0)
            return got;
        if (!is_blank(line, len)) {
            /* An export's description of its queue: the first is kept, any other (exports
             * put end to end) is passed over. */
            char why[256];
            struct cli_export_header *h = r->has_header ? &r->spare_header : &r->header;
            int header = cli_jsonl_decode_header((const char *)line, len, h, why, sizeof why);
            if (header < 0)
                return complain(r, header, ": %s", why);
            if (header == 0)
                break;
            r->has_header = true;
        }
    } while (true);
    char detail[256];
    int err = cli_jsonl_decode((const char *)line, len, &r->json, detail, sizeof detail);
    if (err == -EINVAL)
        return complain(r, err, ": %s", detail);
    if (err == -EMSGSIZE || (!err && r->json.data.len > r->max_len))
        return complain(r, -EMSGSIZE, ": the payload is larger than %zu bytes", r->max_len);
    if (err)
        return err;
    rec->data = r->json.data.data;
    rec->len = r->json.data.len;
    rec->type = r->json.type;
    rec->correlation_id = r->json.correlation_id;
    rec->reply_to = r->json.reply_to;
    rec->timestamp_ns = r->json.timestamp_ns;
    return 1;
}

/*
 * The end of the CSV record that starts at s (n bytes available): RFC 4180, a record ends at a
 * line feed outside quotes (a CR before it is part of the terminator). Returns 1 with *len (the
 * record without its terminator) and *used (with it), 0 when more input is needed, or -EINVAL
 * with *len at the offending byte. At the end of the input (eof) the rest is the last record.
 */
static int csv_record(const unsigned char *s, size_t n, bool eof, size_t *len, size_t *used)
{
    enum { FIELD_START, UNQUOTED, QUOTED, QUOTE_IN_QUOTED } st = FIELD_START;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = s[i];
        switch (st) {
        case FIELD_START:
        case UNQUOTED:
            if (c == '\n') {
                *len = i > 0 && s[i - 1] == '\r' ? i - 1 : i;
                *used = i + 1;
                return 1;
            }
            if (c == '\r' && i + 1 == n && !eof)
                return 0; /* a CRLF, perhaps: the next read says */
            if (c == '\r' && i + 1 < n && s[i + 1] != '\n') {
                *len = i;
                return -EINVAL; /* a CR that does not end the record */
            }
            if (c == ',')
                st = FIELD_START;
            else if (c == '"' && st == FIELD_START)
                st = QUOTED;
            else if (c == '"') {
                *len = i;
                return -EINVAL; /* a quote inside an unquoted field */
            } else
                st = UNQUOTED;
            break;
        case QUOTED:
            if (c == '"')
                st = QUOTE_IN_QUOTED;
            break;
        case QUOTE_IN_QUOTED:
            if (c == '"')
                st = QUOTED; /* "" is a quote */
            else if (c == ',')
                st = FIELD_START;
            else if (c == '\n') {
                *len = i > 0 && s[i - 1] == '\r' ? i - 1 : i;
                *used = i + 1;
                return 1;
            } else if (c == '\r' && i + 1 == n && !eof) {
                return 0;
            } else if (!(c == '\r' && (i + 1 == n || s[i + 1] == '\n'))) {
                *len = i;
                return -EINVAL; /* text after a closing quote */
            }
            break;
        }
    }
    if (!eof)
        return 0;
    if (st == QUOTED) {
        *len = n;
        return -EINVAL; /* the input ends inside quotes */
    }
    *len = n > 0 && s[n - 1] == '\r' ? n - 1 : n;
    *used = n;
    return 1;
}

static int next_csv(struct cli_records *r, struct cli_record *rec)
{
    for (;;) {
        size_t avail = r->buf.len - r->pos, len = 0, used = 0;
        const unsigned char *start = avail ? r->buf.data + r->pos : NULL;
        if (avail == 0 && r->eof)
            return 0;
        int got = avail ? csv_record(start, avail, r->eof, &len, &used) : 0;
        if (got == 1 && len > r->max_len) {
            r->number++;
            return complain(r, -EMSGSIZE, " is longer than %zu bytes", r->max_len);
        }
        if (got == 1) {
            r->number++;
            consume(r, used);
            if (r->skip_header && r->number == 1)
                continue;
            rec->data = start;
            rec->len = len;
            return 1;
        }
        if (got < 0) {
            r->number++;
            return complain(r, got, ": byte %zu: %s", len + 1,
                            len == avail         ? "the input ends inside a quoted field"
                            : start[len] == '"'  ? "a quote inside an unquoted field"
                            : start[len] == '\r' ? "a carriage return inside a field"
                                                 : "text after a closing quote");
        }
        if (avail > r->max_len + 2) {
            r->number++;
            return complain(r, -EMSGSIZE, " is longer than %zu bytes", r->max_len);
        }
        int err = fill(r);
        if (err)
            return err;
    }
}

bool cli_records_ready(const struct cli_records *r)
{
    size_t avail = r->buf.len - r->pos;
    if (r->eof)
        return true;
    if (avail == 0)
        return false;
    const unsigned char *start = r->buf.data + r->pos;
    switch (r->format) {
    case CLI_RECORDS_LINES:
    case CLI_RECORDS_NUL:
        return memchr(start, r->format == CLI_RECORDS_NUL ? 0 : '\n', avail) != NULL;
    case CLI_RECORDS_RAW:
        return avail >= 4 && avail - 4 >= ((size_t)start[0] | (size_t)start[1] << 8 |
                                           (size_t)start[2] << 16 | (size_t)start[3] << 24);
    default:
        return false;
    }
}

int cli_records_next(struct cli_records *r, struct cli_record *rec)
{
    memset(rec, 0, sizeof *rec);
    const unsigned char *data;
    size_t len;
    int got;
    switch (r->format) {
    case CLI_RECORDS_LINES:
    case CLI_RECORDS_NUL:
        got = next_delimited(r, r->format == CLI_RECORDS_NUL ? 0 : '\n', r->max_len, &data, &len);
        if (got == 1) {
            rec->data = data;
            rec->len = len;
        }
        return got;
    case CLI_RECORDS_RAW:
        return next_raw(r, rec);
    case CLI_RECORDS_JSONL:
        return next_jsonl(r, rec);
    case CLI_RECORDS_CSV:
        return next_csv(r, rec);
    }
    return -EINVAL;
}

/* The error of a failed stdio write (stdio sets errno; a stream already in error may not). */
static int write_error(void)
{
    return errno ? -errno : -EIO;
}

/* CSV out: a payload that is one well-formed record goes as it is; any other is written as
 * one quoted field, so that the output always reads back as one record per message. */
static int write_csv(FILE *out, const struct shmq_msg *m)
{
    size_t len = 0, used = 0;
    const unsigned char *p = m->data;
    bool whole = m->len == 0 ||
                 (csv_record(p, m->len, true, &len, &used) == 1 && len == m->len && used == m->len);
    if (whole) {
        if (m->len && fwrite(p, 1, m->len, out) != m->len)
            return write_error();
    } else {
        if (putc('"', out) == EOF)
            return write_error();
        for (size_t i = 0; i < m->len; i++)
            if ((p[i] == '"' && putc('"', out) == EOF) || putc(p[i], out) == EOF)
                return write_error();
        if (putc('"', out) == EOF)
            return write_error();
    }
    return putc('\n', out) == EOF ? write_error() : 0;
}

int cli_record_write(FILE *out, enum cli_record_format format, const struct shmq_msg *m)
{
    if (format == CLI_RECORDS_JSONL)
        return cli_jsonl_write(out, m);
    if (format == CLI_RECORDS_CSV)
        return write_csv(out, m);
    if (format == CLI_RECORDS_RAW) {
        uint32_t n = (uint32_t)m->len;
        unsigned char prefix[4] = {(unsigned char)n, (unsigned char)(n >> 8),
                                   (unsigned char)(n >> 16), (unsigned char)(n >> 24)};
        if (fwrite(prefix, 1, sizeof prefix, out) != sizeof prefix)
            return write_error();
    }
    if (m->len && fwrite(m->data, 1, m->len, out) != m->len)
        return write_error();
    if (format == CLI_RECORDS_LINES && putc('\n', out) == EOF)
        return write_error();
    if (format == CLI_RECORDS_NUL && putc('\0', out) == EOF)
        return write_error();
    return 0;
}

int cli_record_write_delivery(FILE *out, enum cli_record_format format,
                              const struct shmq_delivery *d, const void *data, size_t len)
{
    if (format == CLI_RECORDS_JSONL)
        return cli_jsonl_write_delivery(out, d, data, len);
    /* Subjects hold no tab (nor any byte below 0x21): the first tab ends the subject. */
    size_t subject_len = d->subject_len < sizeof d->subject ? d->subject_len : 0;
    struct cli_buffer record = {.data = NULL};
    int err = cli_buffer_reserve(&record, subject_len + 1 + len);
    if (!err) {
        cli_buffer_append(&record, d->subject, subject_len);
        cli_buffer_append(&record, "\t", 1);
        cli_buffer_append(&record, data, len);
        struct shmq_msg m = {.data = record.data, .len = record.len};
        err = cli_record_write(out, format, &m);
    }
    cli_buffer_free(&record);
    return err;
}

int cli_records_read_header(struct cli_records *r)
{
    if (r->format != CLI_RECORDS_JSONL || r->number != 0)
        return 0;
    for (;;) {
        size_t avail = r->buf.len - r->pos;
        const unsigned char *start = avail ? r->buf.data + r->pos : NULL;
        const unsigned char *hit = avail ? memchr(start, '\n', avail) : NULL;
        if (hit || r->eof || avail > HEADER_LINE_MAX) {
            size_t len = hit ? (size_t)(hit - start) : avail;
            if (len > HEADER_LINE_MAX || len == 0)
                return 0; /* a message, or nothing: the next record says */
            char why[256];
            int got =
                cli_jsonl_decode_header((const char *)start, len, &r->header, why, sizeof why);
            if (got <= 0) {
                if (got < 0) {
                    r->number++;
                    return complain(r, got, ": %s", why);
                }
                return 0;
            }
            r->number++;
            consume(r, hit ? len + 1 : len);
            r->has_header = true;
            return 1;
        }
        int err = fill(r);
        if (err)
            return err;
    }
}

void cli_records_set_max_len(struct cli_records *r, size_t max_len)
{
    r->max_len = max_len;
    r->json.data.limit = max_len;
}

int cli_record_field(const struct cli_record *rec, const char *path, char *text, size_t max,
                     char *why, size_t why_size)
{
    struct cli_buffer value = {.limit = max};
    int got = cli_json_lookup(rec->data, rec->len, path, &value);
    if (got == 1 && value.len && memchr(value.data, 0, value.len))
        got = -EILSEQ;
    if (got == 1) {
        if (value.len)
            memcpy(text, value.data, value.len);
        text[value.len] = 0;
    }
    switch (got) {
    case 1:
    case 0:
        break;
    case -ENOMSG:
        snprintf(why, why_size, "\"%s\" is an object, an array or null, not a text", path);
        break;
    case -EMSGSIZE:
        snprintf(why, why_size, "\"%s\" is longer than %zu bytes", path, max);
        break;
    case -EILSEQ:
        snprintf(why, why_size, "\"%s\" contains a NUL byte", path);
        break;
    case -ENOMEM:
        snprintf(why, why_size, "out of memory");
        break;
    default:
        snprintf(why, why_size, "the record is not valid JSON on the way to \"%s\"", path);
        got = -EINVAL;
        break;
    }
    cli_buffer_free(&value);
    return got < 0 ? (got == -ENOMEM ? got : -EINVAL) : got;
}
