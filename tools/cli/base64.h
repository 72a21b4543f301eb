/* Base64 (RFC 4648, standard alphabet, '=' padding): the payload encoding of the export format. */
#ifndef SHMQ_CLI_BASE64_H
#define SHMQ_CLI_BASE64_H

#include <stddef.h>
#include <stdio.h>

#include "buffer.h"

/* Characters cli_base64_encode writes for n bytes (with padding). */
static inline size_t cli_base64_encoded_size(size_t n)
{
    return (n + 2) / 3 * 4;
}

/* Encode n bytes into dst, which holds cli_base64_encoded_size(n) characters (no NUL added). */
void cli_base64_encode(const void *src, size_t n, char *dst);

/* Encode n bytes onto a stream, in chunks (no allocation). 0, or -errno of the stream. */
int cli_base64_write(FILE *out, const void *src, size_t n);

/* Decode n characters and append the bytes to out. Padding is optional, whitespace and
 * other characters are refused, and so are non-zero bits after the last byte (every payload
 * has one encoding). 0, -EINVAL (not base64; out unchanged), -EMSGSIZE (past out's limit) or
 * -ENOMEM. */
int cli_base64_decode(const char *src, size_t n, struct cli_buffer *out);

#endif /* SHMQ_CLI_BASE64_H */
