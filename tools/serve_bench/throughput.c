/*
 * serve_bench/throughput: one producer process and one consumer process move 64-byte messages
 * through a default (MPMC FIFO) queue for SECONDS; prints the messages per second the
 * consumer received. tools/serve_bench.py runs it with and without `shmq serve` scraping
 * /metrics, to measure what the scrapes cost the queue's users.
 *
 * usage: throughput NAME SECONDS   (NAME is created and removed)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "shmq.h"

#define MSG 64
#define BATCH_CHECK 1024 /* pushes between looks at the clock */

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int consume(const char *name, int report)
{
    shmq_t *q;
    int err = shmq_open(name, &q);
    if (err) {
        fprintf(stderr, "throughput: open: %s\n", shmq_strerror(err));
        return 1;
    }
    char buf[MSG];
    uint64_t count = 0;
    double start = 0;
    for (;;) {
        ssize_t n = shmq_pop(q, buf, sizeof buf, SHMQ_FOREVER);
        if (n < 0) {
            fprintf(stderr, "throughput: pop: %s\n", shmq_strerror((int)n));
            return 1;
        }
        if (count == 0)
            start = now();
        if (n == 1) /* the producer's last message */
            break;
        count++;
    }
    double rate = (double)count / (now() - start);
    shmq_close(q);
    if (write(report, &rate, sizeof rate) != sizeof rate)
        return 1;
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s NAME SECONDS\n", argv[0]);
        return 2;
    }
    const char *name = argv[1];
    double seconds = atof(argv[2]);
    struct shmq_config cfg = {.capacity = 4096, .slot_size = MSG};
    shmq_t *q;
    int err = shmq_create(name, &cfg, &q);
    if (err) {
        fprintf(stderr, "throughput: create %s: %s\n", name, shmq_strerror(err));
        return 1;
    }
    int fds[2];
    if (pipe(fds) != 0)
        return 1;
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        _exit(consume(name, fds[1]));
    }
    close(fds[1]);
    char msg[MSG];
    memset(msg, 'm', sizeof msg);
    double end = now() + seconds;
    for (uint64_t i = 0;; i++) {
        if (i % BATCH_CHECK == 0 && now() > end)
            break;
        if ((err = shmq_push(q, msg, sizeof msg, SHMQ_FOREVER)) != 0) {
            fprintf(stderr, "throughput: push: %s\n", shmq_strerror(err));
            break;
        }
    }
    shmq_push(q, msg, 1, SHMQ_FOREVER);
    double rate = 0;
    ssize_t got = read(fds[0], &rate, sizeof rate);
    int status = 0;
    waitpid(pid, &status, 0);
    shmq_close(q);
    shmq_unlink(name);
    if (got != sizeof rate || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return 1;
    printf("%.0f\n", rate);
    return 0;
}
