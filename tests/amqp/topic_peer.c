/*
 * topic_peer: the shm topic side of the topic bridge tests, through the public API.
 *
 *   topic_peer create TOPIC                     a BLOCK topic of 4096 messages of 256 bytes
 *   topic_peer rm TOPIC
 *   topic_peer publish TOPIC PREFIX PRODUCERS N PRODUCERS processes publish "p<k> <seq>",
 *                                               seq 1..N, under subject PREFIX.p<k>
 *   topic_peer subscribe TOPIC PATTERN IDLE_MS  print every message's payload as a line until
 *                                               none came for IDLE_MS, checking that its
 *                                               subject ends in ".p<k>" for payload "p<k> ...";
 *                                               "subscribed" on stderr once it is
 *
 * Every wait is bounded. Exit 0 on success, 1 on a failure, 2 on usage errors.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "shmq.h"

#define SECOND 1000000000LL

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "topic_peer: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(1);
}

static shmq_topic_t *open_topic(const char *name)
{
    shmq_topic_t *t;
    int err = shmq_topic_open(name, &t);
    if (err)
        die("topic %s: %s", name, shmq_strerror(err));
    return t;
}

static void publish_one(const char *name, const char *prefix, unsigned k, unsigned long n)
{
    shmq_topic_t *t = open_topic(name);
    char subject[SHMQ_SUBJECT_MAX + 1];
    snprintf(subject, sizeof subject, "%s.p%u", prefix, k);
    for (unsigned long seq = 1; seq <= n; seq++) {
        char body[64];
        int len = snprintf(body, sizeof body, "p%u %lu", k, seq);
        int err = shmq_publish(t, subject, body, (size_t)len, 30 * SECOND);
        if (err)
            die("publishing %s: %s", body, shmq_strerror(err));
    }
    shmq_topic_close(t);
}

static int cmd_publish(const char *name, const char *prefix, unsigned producers, unsigned long n)
{
    for (unsigned k = 1; k <= producers; k++) {
        pid_t pid = fork();
        if (pid < 0)
            die("fork: %s", strerror(errno));
        if (pid == 0) {
            publish_one(name, prefix, k, n);
            _exit(0);
        }
    }
    int failed = 0, status;
    while (wait(&status) > 0)
        failed |= !WIFEXITED(status) || WEXITSTATUS(status) != 0;
    return failed;
}

static int cmd_subscribe(const char *name, const char *pattern, long idle_ms)
{
    shmq_topic_t *t = open_topic(name);
    shmq_sub_t *sub;
    int err = shmq_subscribe(t, pattern, NULL, 0, &sub);
    if (err)
        die("subscribing to %s: %s", pattern, shmq_strerror(err));
    fprintf(stderr, "subscribed\n");
    char buf[256];
    struct shmq_delivery d;
    unsigned long count = 0;
    for (;;) {
        ssize_t n = shmq_next(sub, buf, sizeof buf - 1, &d, idle_ms * 1000000LL);
        if (n == -ETIMEDOUT || n == -EAGAIN)
            break;
        if (n < 0)
            die("next: %s", shmq_strerror((int)n));
        if (d.lost)
            die("%llu messages lost in the topic", (unsigned long long)d.lost);
        buf[n] = 0;
        const char *word = strrchr(d.subject, '.');
        size_t wlen = strcspn(buf, " ");
        if (!word || strlen(word + 1) != wlen || memcmp(word + 1, buf, wlen) != 0)
            die("message '%s' came with subject '%s'", buf, d.subject);
        printf("%s\n", buf);
        count++;
    }
    if (fflush(stdout) != 0)
        die("writing: %s", strerror(errno));
    fprintf(stderr, "topic_peer: %lu messages matching %s\n", count, pattern);
    shmq_topic_close(t);
    return 0;
}

static unsigned long number(const char *s)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || end == s || *end)
        die("not a number: '%s'", s);
    return v;
}

int main(int argc, char **argv)
{
    const char *cmd = argc > 1 ? argv[1] : "";
    if (strcmp(cmd, "create") == 0 && argc == 3) {
        struct shmq_topic_config cfg = {.capacity = 4096, .slot_size = 256};
        shmq_topic_t *t;
        int err = shmq_topic_create(argv[2], &cfg, &t);
        if (err)
            die("creating %s: %s", argv[2], shmq_strerror(err));
        shmq_topic_close(t);
        return 0;
    }
    if (strcmp(cmd, "rm") == 0 && argc == 3)
        return shmq_topic_unlink(argv[2]) == 0 ? 0 : 1;
    if (strcmp(cmd, "publish") == 0 && argc == 6)
        return cmd_publish(argv[2], argv[3], (unsigned)number(argv[4]), number(argv[5]));
    if (strcmp(cmd, "subscribe") == 0 && argc == 5)
        return cmd_subscribe(argv[2], argv[3], (long)number(argv[4]));
    fprintf(stderr, "usage: topic_peer create|rm|publish|subscribe ... (see topic_peer.c)\n");
    return 2;
}
