/*
 * Records: how messages are framed on a byte stream, in both directions.
 *
 *   lines   one message per line, "\n" ends it (the default)
 *   nul     one message per NUL-terminated record (-0, as xargs -0 and find -print0)
 *   raw     a 4-byte little-endian length, then that many bytes (--raw)
 *   jsonl   one JSON object per line, the export format with metadata (--jsonl, jsonl.h)
 *   csv     one RFC 4180 record per message (--csv): a quoted field may hold commas, quotes
 *           ("") and line breaks; the payload is the record's text without its terminator
 *           (LF or CRLF). Written back as it is, with a LF; a payload that is not one record
 *           is written as a single quoted field. A malformed record is an error.
 *
 * A last line or NUL record without its terminator still counts; an empty input has no
 * records. Lines are byte-exact: nothing is stripped but the terminator.
 *
 * The reader never holds more than about max_len bytes of a record (plus what one read
 * brought in) whatever the input is, and rejects a longer record instead of reading on: it is
 * safe on any input (it is fuzzed through fmemopen).
 */
#ifndef SHMQ_CLI_RECORDS_H
#define SHMQ_CLI_RECORDS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "buffer.h"
#include "jsonl.h"
#include "shmq.h"

enum cli_record_format {
    CLI_RECORDS_LINES,
    CLI_RECORDS_NUL,
    CLI_RECORDS_RAW,
    CLI_RECORDS_JSONL,
    CLI_RECORDS_CSV,
};

/* One message read from a stream. Everything points into the reader: valid until the next
 * call. For the formats without metadata the strings are NULL and the timestamp 0. */
struct cli_record {
    const void *data;
    size_t len;
    const char *type;
    const char *correlation_id;
    const char *reply_to;
    int64_t timestamp_ns;
};

struct cli_records {
    /* read-only */
    enum cli_record_format format;
    size_t max_len;  /* largest payload accepted */
    uint64_t number; /* 1-based number of the record last returned or rejected */
    uint64_t offset; /* bytes of the stream consumed so far */
    char why[320];   /* after an error: what was wrong, starting "line N:" or "record N:" */
    /* private */
    FILE *in;
    struct cli_buffer buf; /* unread bytes are [pos, buf.len) */
    size_t pos;
    size_t scanned; /* bytes after pos already searched for a terminator */
    bool eof;
    bool skip_header; /* CSV: the first record is a header, not a message */
    struct cli_jsonl_message json;
    /* JSON lines: the description of the queue an export starts with (jsonl.h) */
    bool has_header;
    struct cli_export_header header, spare_header;
};

/*
 * Prepare to read records of the given format from `in`, payloads of at most max_len bytes.
 * When `in` has a file descriptor the reader uses read(2) on it, so that records arriving
 * through a pipe are returned as soon as they are complete (stdio would wait to fill its
 * buffer); `in` must not have been read through stdio before. Without a descriptor (fmemopen)
 * it uses fread.
 */
void cli_records_init(struct cli_records *r, FILE *in, enum cli_record_format format,
                      size_t max_len);

/*
 * The next record: 1 (rec filled), 0 at the end of the input, or an error, after which the
 * reader must not be used again (except for cli_records_free):
 *   -EMSGSIZE  the record is longer than max_len (r->why says which)
 *   -EINVAL    a malformed record: a truncated raw record, bad JSON (r->why says what)
 *   -EINTR     a signal interrupted a read; the reader is intact and may be called again
 *   -ENOMEM, or -errno of a failed read (r->why says so)
 */
int cli_records_next(struct cli_records *r, struct cli_record *rec);

/* Whether cli_records_next can return without reading the input (the next line, NUL or raw
 * record is complete in the buffer, or the input has ended); false for the other formats. A
 * producer that holds records back checks it before a read might block. */
bool cli_records_ready(const struct cli_records *r);

void cli_records_free(struct cli_records *r);

/*
 * JSON lines, before the first record: read the first line if it is an export's header
 * (jsonl.h) into r->header, without taking a message line. 1 (r->has_header set), 0 (no
 * header: the line is left for cli_records_next), or an error as cli_records_next's (a
 * malformed header: -EINVAL, r->why says what). Later headers (exports put end to end) are
 * passed over by cli_records_next.
 */
int cli_records_read_header(struct cli_records *r);

/*
 * --type-field, --subject-field: the text at path (json.h, cli_json_lookup) in the record's
 * payload, read as JSON, into text (max bytes and a NUL). 1 (found), 0 (the record has no
 * such value), -EINVAL with why saying what is wrong (not JSON on the way, an object, an
 * array or null, too long, a NUL), -ENOMEM.
 */
int cli_record_field(const struct cli_record *rec, const char *path, char *text, size_t max,
                     char *why, size_t why_size);

/* Change the largest payload accepted (after the header made the queue known). */
void cli_records_set_max_len(struct cli_records *r, size_t max_len);

/* "line" or "record": what the formats call one record, for messages. */
const char *cli_records_unit(enum cli_record_format format);

/* Write one message in the given format. 0, or -errno of the stream (-EPIPE and so on). */
int cli_record_write(FILE *out, enum cli_record_format format, const struct shmq_msg *m);

/*
 * Write a topic's message (d and its payload, as shmq_next gave them), as `shmq sub` does:
 * with --jsonl as cli_jsonl_write_delivery writes it; in the other formats the record is the
 * subject, a tab and the payload, framed as cli_record_write frames a message ("orders.eu\tx\n").
 * 0, -ENOMEM, or -errno of the stream.
 */
int cli_record_write_delivery(FILE *out, enum cli_record_format format,
                              const struct shmq_delivery *d, const void *data, size_t len);

#endif /* SHMQ_CLI_RECORDS_H */
