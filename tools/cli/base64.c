/* Base64 encoding and strict decoding. */
#include "base64.h"

#include <errno.h>
#include <stdint.h>

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

#define CHUNK_BYTES 3072 /* a multiple of 3: chunks encode without padding in the middle */

void cli_base64_encode(const void *src, size_t n, char *dst)
{
    const unsigned char *s = src;
    size_t i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8 | s[i + 2];
        *dst++ = alphabet[v >> 18];
        *dst++ = alphabet[(v >> 12) & 63];
        *dst++ = alphabet[(v >> 6) & 63];
        *dst++ = alphabet[v & 63];
    }
    if (i < n) {
        uint32_t v = (uint32_t)s[i] << 16 | (i + 1 < n ? (uint32_t)s[i + 1] << 8 : 0);
        *dst++ = alphabet[v >> 18];
        *dst++ = alphabet[(v >> 12) & 63];
        *dst++ = i + 1 < n ? alphabet[(v >> 6) & 63] : '=';
        *dst++ = '=';
    }
}

int cli_base64_write(FILE *out, const void *src, size_t n)
{
    const unsigned char *s = src;
    char chunk[CHUNK_BYTES / 3 * 4];
    while (n) {
        size_t take = n < CHUNK_BYTES ? n : CHUNK_BYTES;
        size_t chars = cli_base64_encoded_size(take);
        cli_base64_encode(s, take, chunk);
        if (fwrite(chunk, 1, chars, out) != chars)
            return -errno;
        s += take;
        n -= take;
    }
    return 0;
}

/* The 6-bit value of a base64 character, or -1. */
static int sextet(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

int cli_base64_decode(const char *src, size_t n, struct cli_buffer *out)
{
    /* Padding: at most two '=', only at the end of a 4-character group. */
    if (n % 4 == 0 && n >= 1 && src[n - 1] == '=') {
        n--;
        if (src[n - 1] == '=')
            n--;
    }
    if (n % 4 == 1)
        return -EINVAL;
    if (n == 0)
        return 0;
    size_t bytes = n / 4 * 3 + (n % 4 ? n % 4 - 1 : 0);
    if (bytes > SIZE_MAX - out->len)
        return -EMSGSIZE;
    int err = cli_buffer_reserve(out, out->len + bytes);
    if (err)
        return err;
    unsigned char *dst = out->data + out->len;
    uint32_t acc = 0;
    unsigned bits = 0;
    for (size_t i = 0; i < n; i++) {
        int v = sextet((unsigned char)src[i]);
        if (v < 0)
            return -EINVAL;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            *dst++ = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    if (acc != 0)
        return -EINVAL; /* bits left over after the last byte must be zero */
    out->len += bytes;
    return 0;
}
