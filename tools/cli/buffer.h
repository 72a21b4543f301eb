/*
 * A growable byte buffer with an upper bound: the payload and line buffers of the record
 * readers. Growth doubles; a request beyond `limit` is refused with -EMSGSIZE, so hostile
 * input can never make the tool allocate more than its caller allowed.
 */
#ifndef SHMQ_CLI_BUFFER_H
#define SHMQ_CLI_BUFFER_H

#include <stddef.h>

struct cli_buffer {
    unsigned char *data;
    size_t len;   /* bytes in use */
    size_t cap;   /* bytes allocated */
    size_t limit; /* cap never grows past this; 0 = SIZE_MAX */
};

/* Make room for at least `need` bytes in total (not in addition). 0, -EMSGSIZE past the
 * limit, or -ENOMEM; on failure the buffer is unchanged. */
int cli_buffer_reserve(struct cli_buffer *b, size_t need);

/* Append n bytes: 0, -EMSGSIZE or -ENOMEM (nothing appended). */
int cli_buffer_append(struct cli_buffer *b, const void *p, size_t n);

void cli_buffer_free(struct cli_buffer *b);

#endif /* SHMQ_CLI_BUFFER_H */
