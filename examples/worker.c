/*
 * worker QUEUE [IDLE_MS]
 *
 * A task worker with acknowledgements: claims each message without copying it, "runs" it
 * (here: a checksum of its bytes), and acks it. A message whose payload starts with "fail"
 * is nacked once and so comes back with its delivery count raised; the worker acks it the
 * second time. Exits after IDLE_MS (default 1000) without work and prints what it did.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <shmq.h>

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: %s QUEUE [IDLE_MS]\n", argv[0]);
        return 2;
    }
    int64_t idle_ns = (argc > 2 ? strtoll(argv[2], NULL, 10) : 1000) * 1000000LL;
    shmq_t *q;
    int err = shmq_open(argv[1], &q);
    if (err) {
        fprintf(stderr, "worker: %s: %s\n", argv[1], shmq_strerror(err));
        return 1;
    }
    uint64_t done = 0, retried = 0, checksum = 0;
    for (;;) {
        struct shmq_msg m;
        err = shmq_claim(q, &m, idle_ns);
        if (err == -ETIMEDOUT)
            break;
        if (err) {
            fprintf(stderr, "worker: claim: %s\n", shmq_strerror(err));
            return 1;
        }
        /* m.data points into the queue's slot until ack or nack. */
        if (m.len >= 4 && memcmp(m.data, "fail", 4) == 0 && m.deliveries == 1) {
            retried++;
            err = shmq_nack(q, &m); /* back to the queue, delivered again later */
        } else {
            for (size_t i = 0; i < m.len; i++)
                checksum = checksum * 31 + ((unsigned char *)m.data)[i];
            done++;
            err = shmq_ack(q, &m);
        }
        if (err) {
            fprintf(stderr, "worker: finish: %s\n", shmq_strerror(err));
            return 1;
        }
    }
    printf("worker: %llu tasks done, %llu retried, checksum %016llx\n", (unsigned long long)done,
           (unsigned long long)retried, (unsigned long long)checksum);
    shmq_close(q);
    return 0;
}
