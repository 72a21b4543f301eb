/*
 * consumer QUEUE [COUNT] [--remove]
 *
 * Opens QUEUE (waiting up to 10 s for a producer to create it), pops COUNT messages (default
 * 1000000), checks that their sequence numbers arrive in order, prints the rate and the
 * queue's statistics, and with --remove deletes the queue at the end.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <shmq.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    int remove = 0, positional = 0;
    const char *name = NULL;
    uint64_t count = 1000000;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--remove") == 0)
            remove = 1;
        else if (positional++ == 0)
            name = argv[i];
        else
            count = strtoull(argv[i], NULL, 10);
    }
    if (!name) {
        fprintf(stderr, "usage: %s QUEUE [COUNT] [--remove]\n", argv[0]);
        return 2;
    }

    shmq_t *q;
    int err;
    for (int tries = 0; (err = shmq_open(name, &q)) == -ENOENT && tries < 1000; tries++)
        usleep(10000);
    if (err) {
        fprintf(stderr, "consumer: %s: %s\n", name, shmq_strerror(err));
        return 1;
    }

    unsigned char buf[65536];
    uint64_t out_of_order = 0, expect = 0;
    double start = 0;
    for (uint64_t i = 0; i < count; i++) {
        ssize_t n = shmq_pop(q, buf, sizeof buf, 10 * 1000000000LL);
        if (n < 0) {
            fprintf(stderr, "consumer: pop after %llu messages: %s\n", (unsigned long long)i,
                    shmq_strerror((int)n));
            return 1;
        }
        if (i == 0)
            start = now(); /* time the stream, not the wait for the producer */
        uint64_t seq;
        memcpy(&seq, buf, sizeof seq);
        out_of_order += seq != expect;
        expect = seq + 1;
    }
    double secs = now() - start;
    printf("consumer: received %llu messages in %.3f s: %.2f M msg/s, %llu out of order\n",
           (unsigned long long)count, secs, (double)count / (secs > 0 ? secs : 1) / 1e6,
           (unsigned long long)out_of_order);

    struct shmq_stat st;
    if (shmq_stat(q, &st) == 0)
        printf("queue %s: capacity %u, slot %u bytes, depth %llu, pushed %llu, popped %llu, "
               "full %llu, empty %llu, waits %llu, wakeups %llu\n",
               name, st.capacity, st.slot_size, (unsigned long long)st.depth,
               (unsigned long long)st.pushed, (unsigned long long)st.popped,
               (unsigned long long)st.full, (unsigned long long)st.empty,
               (unsigned long long)st.waits, (unsigned long long)st.wakeups);
    shmq_close(q);
    if (remove && (err = shmq_unlink(name)) != 0)
        fprintf(stderr, "consumer: remove %s: %s\n", name, shmq_strerror(err));
    return out_of_order ? 1 : 0;
}
