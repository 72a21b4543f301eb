/*
 * The export format: one message per line as a JSON object.
 *
 *   {"id":42,"deliveries":1,"timestamp_ns":1700000000000000000,"type":"order",
 *    "correlation_id":"c-7","reply_to":"replies","data_b64":"aGVsbG8="}
 *
 * Written: "id" and "deliveries" always, every metadata field that is set, and the payload
 * as base64 in "data_b64". A metadata string that is not UTF-8 is written as "<key>_b64"
 * (base64), so that any bytes survive the round trip.
 *
 * Read: the payload from "data_b64" or, for hand-written input, "data" (a JSON string whose
 * UTF-8 bytes are the payload); metadata from "type", "correlation_id", "reply_to" (or their
 * "_b64" forms) and "timestamp_ns". "id" and "deliveries" are checked but belong to the
 * queue that held the message: an import gets new ones. Unknown keys are skipped, so files
 * written by later versions still import; a key given twice is an error.
 */
#ifndef SHMQ_CLI_JSONL_H
#define SHMQ_CLI_JSONL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "buffer.h"
#include "shmq.h"

/* A decoded line. The caller zero-initialises it and may set data.limit (the largest
 * payload accepted); it is reused from line to line and released with cli_jsonl_message_free. */
struct cli_jsonl_message {
    struct cli_buffer data; /* the payload */
    const char *type;       /* NULL when absent; else points into the arrays below */
    const char *correlation_id;
    const char *reply_to;
    int64_t timestamp_ns; /* 0 when absent */
    uint64_t id;          /* 0 when absent */
    uint32_t deliveries;  /* 0 when absent */
    /* private */
    char type_text[SHMQ_META_STR_MAX + 1];
    char correlation_text[SHMQ_META_STR_MAX + 1];
    char reply_to_text[SHMQ_META_STR_MAX + 1];
    struct cli_buffer scratch;
};

/*
 * Decode one line (without its newline; surrounding whitespace is fine) of len bytes; line
 * need not be NUL-terminated. 0, or:
 *   -EINVAL   malformed; why (of why_size bytes) says what and where ("column 12: ...")
 *   -EMSGSIZE the payload is larger than m->data.limit
 *   -ENOMEM
 */
int cli_jsonl_decode(const char *line, size_t len, struct cli_jsonl_message *m, char *why,
                     size_t why_size);

void cli_jsonl_message_free(struct cli_jsonl_message *m);

/* Write m (as claimed or peeked) as one line. 0 or -errno of the stream. */
int cli_jsonl_write(FILE *out, const struct shmq_msg *m);

/*
 * Write a topic's message (as `shmq sub --jsonl` does) as one line: "seq", "lost" when not 0,
 * "subject", then what cli_jsonl_write writes after "deliveries" (timestamp, the metadata d
 * has, with the same "_b64" forms, and "data_b64"). 0 or -errno of the stream.
 *
 *   {"seq":5,"subject":"orders.eu","type":"price","data_b64":"aGVsbG8="}
 */
int cli_jsonl_write_delivery(FILE *out, const struct shmq_delivery *d, const void *data,
                             size_t len);

/*
 * The description of the queue that an export starts with, on its first line:
 *
 *   {"shmq_export":1,"queue":"jobs","export":"drain","kind":"fifo","capacity":1024,
 *    "slot_size":256,"flags":["single_producer"],"max_participants":128,"ttl_ns":0,
 *    "max_deliveries":3,"dead_letter":"jobs.failed","mode":"0600","depth":17}
 *
 * "shmq_export" (the format's version, 1) comes first: that is how the line is told from a
 * message. "flags" lists "single_producer" and "single_consumer"; "dead_letter" is null when
 * there is none; "mode" is octal; "export" is "drain" or "keep" (how it was made); "depth"
 * is the number of messages ready when the export began. Reading checks every value against
 * the library's limits, skips unknown keys and needs only "shmq_export".
 */
struct cli_export_header {
    uint32_t version;
    char queue[SHMQ_NAME_MAX + 1]; /* "" when absent */
    bool keep;
    struct shmq_config config; /* config.dead_letter points to dead_letter below, or NULL */
    char dead_letter[SHMQ_NAME_MAX + 1];
    uint64_t depth;
};

/* Decode line (len bytes) as a header: 1 (h filled), 0 when it is not one (its first key is
 * not "shmq_export": a message), or -EINVAL with why saying what is wrong. */
int cli_jsonl_decode_header(const char *line, size_t len, struct cli_export_header *h, char *why,
                            size_t why_size);

/* Write the header of an export of the queue `name` (st: its shmq_stat) as one line. */
int cli_jsonl_write_header(FILE *out, const char *name, const struct shmq_stat *st, bool keep);

#endif /* SHMQ_CLI_JSONL_H */
