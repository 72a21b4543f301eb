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

#endif /* SHMQ_CLI_JSONL_H */
