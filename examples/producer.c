/*
 * producer QUEUE [COUNT] [SIZE]
 *
 * Creates the FIFO queue QUEUE if it does not exist, then pushes COUNT messages (default
 * 1000000) of SIZE bytes (default 64), each starting with its sequence number, waiting
 * whenever the queue is full. Prints the rate.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <shmq.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 4) {
        fprintf(stderr, "usage: %s QUEUE [COUNT] [SIZE]\n", argv[0]);
        return 2;
    }
    const char *name = argv[1];
    uint64_t count = argc > 2 ? strtoull(argv[2], NULL, 10) : 1000000;
    size_t size = argc > 3 ? strtoul(argv[3], NULL, 10) : 64;
    if (size < sizeof(uint64_t) || size > 65536) {
        fprintf(stderr, "producer: SIZE must be 8..65536 bytes\n");
        return 2;
    }

    /* Create the queue, or open it if a peer made it first. */
    struct shmq_config cfg = {.kind = SHMQ_FIFO, .capacity = 4096, .slot_size = (uint32_t)size};
    shmq_t *q;
    int err = shmq_create(name, &cfg, &q);
    if (err == -EEXIST)
        err = shmq_open(name, &q);
    if (err) {
        fprintf(stderr, "producer: %s: %s\n", name, shmq_strerror(err));
        return 1;
    }

    unsigned char *msg = calloc(1, size);
    double start = now();
    for (uint64_t seq = 0; seq < count; seq++) {
        memcpy(msg, &seq, sizeof seq);
        err = shmq_push(q, msg, size, SHMQ_FOREVER); /* waits while the queue is full */
        if (err) {
            fprintf(stderr, "producer: push %llu: %s\n", (unsigned long long)seq,
                    shmq_strerror(err));
            return 1;
        }
    }
    double secs = now() - start;
    printf("producer: sent %llu messages of %zu bytes in %.3f s: %.2f M msg/s\n",
           (unsigned long long)count, size, secs, (double)count / secs / 1e6);
    free(msg);
    shmq_close(q);
    return 0;
}
