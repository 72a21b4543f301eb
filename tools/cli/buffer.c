/* Growable byte buffers with a limit. */
#include "buffer.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define BUFFER_MIN 256

int cli_buffer_reserve(struct cli_buffer *b, size_t need)
{
    if (need <= b->cap)
        return 0;
    size_t limit = b->limit ? b->limit : SIZE_MAX;
    if (need > limit)
        return -EMSGSIZE;
    size_t cap = b->cap ? b->cap : BUFFER_MIN;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? SIZE_MAX : cap * 2;
    if (cap > limit)
        cap = limit;
    unsigned char *p = realloc(b->data, cap);
    if (!p)
        return -ENOMEM;
    b->data = p;
    b->cap = cap;
    return 0;
}

int cli_buffer_append(struct cli_buffer *b, const void *p, size_t n)
{
    if (n > SIZE_MAX - b->len)
        return -EMSGSIZE;
    int err = cli_buffer_reserve(b, b->len + n);
    if (err)
        return err;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    return 0;
}

void cli_buffer_free(struct cli_buffer *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}
