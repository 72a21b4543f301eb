/* Opening queues named on the command line. */
#include "queue.h"

#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "diag.h"

int cli_queue_check_name(const char *name)
{
    if (shmq_name_check(name) == 0)
        return 0;
    cli_error("'%s' is not a queue name: use 1 to %d of A-Z a-z 0-9 . _ -, not starting "
              "with a dot",
              name, SHMQ_NAME_MAX);
    return CLI_EXIT_USAGE;
}

int cli_queue_open(const char *name, uint32_t flags, shmq_t **q)
{
    int code = cli_queue_check_name(name);
    if (code)
        return code;
    int err = shmq_open_ex(name, flags, q);
    if (err == 0)
        return 0;
    if (err == -ENOENT) {
        cli_error("queue '%s' does not exist", name);
        return CLI_EXIT_NOT_FOUND;
    }
    if (err == -EMEDIUMTYPE) {
        cli_error("'%s' is a topic, not a queue: publish with 'shmq pub', read with 'shmq sub'",
                  name);
        return CLI_EXIT_USAGE;
    }
    return cli_fail(err, "cannot open queue '%s'", name);
}

int cli_queue_or_topic_open(const char *name, uint32_t flags, shmq_t **q, bool *topic)
{
    *topic = false;
    int err = shmq_name_check(name) == 0 ? shmq_open_ex(name, flags, q) : -EINVAL;
    if (err == 0)
        return 0;
    if (err == -EMEDIUMTYPE) {
        *topic = true;
        return 0;
    }
    return cli_queue_open(name, flags, q); /* says why, as for a queue */
}

int cli_topic_open(const char *name, uint32_t flags, shmq_topic_t **t)
{
    int code = cli_queue_check_name(name);
    if (code)
        return code;
    int err = shmq_topic_open_ex(name, flags, t);
    if (err == 0)
        return 0;
    if (err == -ENOENT) {
        cli_error("topic '%s' does not exist", name);
        return CLI_EXIT_NOT_FOUND;
    }
    if (err == -EMEDIUMTYPE) {
        cli_error("'%s' is a queue, not a topic", name);
        return CLI_EXIT_USAGE;
    }
    return cli_fail(err, "cannot open topic '%s'", name);
}

int cli_queue_stat(shmq_t *q, struct shmq_stat *st)
{
    int err = shmq_stat(q, st);
    return err ? cli_fail(err, "cannot read the statistics of '%s'", shmq_name(q)) : 0;
}

/* ---- listing ---- */

struct name_list {
    char **names; /* NULL-terminated once it has room */
    size_t count, cap;
};

/* Make room for one more name and the terminating NULL. */
static int name_list_grow(struct name_list *l)
{
    if (l->count + 2 <= l->cap)
        return 0;
    size_t cap = l->cap ? l->cap * 2 : 16;
    char **names = realloc(l->names, cap * sizeof *names);
    if (!names)
        return -ENOMEM;
    l->names = names;
    l->cap = cap;
    return 0;
}

static int collect_name(const char *name, void *arg)
{
    struct name_list *l = arg;
    int err = name_list_grow(l);
    if (err)
        return err;
    if (!(l->names[l->count] = strdup(name)))
        return -ENOMEM;
    l->names[++l->count] = NULL;
    return 0;
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int cli_queue_names(char ***names, size_t *count)
{
    struct name_list l = {0};
    int err = shmq_foreach(collect_name, &l);
    if (!err && (err = name_list_grow(&l)) == 0)
        l.names[l.count] = NULL;
    if (err) {
        cli_queue_names_free(l.names);
        return err;
    }
    qsort(l.names, l.count, sizeof *l.names, compare_names);
    *names = l.names;
    *count = l.count;
    return 0;
}

void cli_queue_names_free(char **names)
{
    for (char **p = names; p && *p; p++)
        free(*p);
    free(names);
}

/* ---- participants ---- */

void cli_queue_live_roles(const struct shmq_participant_info *list, unsigned count,
                          unsigned *producers, unsigned *consumers)
{
    *producers = *consumers = 0;
    for (unsigned i = 0; i < count; i++) {
        if (!list[i].alive)
            continue;
        *producers += (list[i].roles & SHMQ_ROLE_PRODUCER) != 0;
        *consumers += (list[i].roles & SHMQ_ROLE_CONSUMER) != 0;
    }
}

/* ---- topics ---- */

static void bits_text(uint32_t bits, const uint32_t *bit, const char *const *names, size_t n,
                      char *buf, size_t size);

int64_t cli_topic_dead(const char *name)
{
    shmq_topic_t *t;
    struct shmq_topic_stat st;
    if (shmq_topic_open_ex(name, SHMQ_OPEN_OBSERVE, &t) != 0)
        return -1;
    int err = shmq_topic_stat(t, &st);
    shmq_topic_close(t);
    return err ? -1 : (int64_t)st.dead;
}

int cli_topic_groups(shmq_topic_t *t, struct shmq_group_info **list, unsigned *count,
                     struct cli_topic_totals *totals)
{
    /* Groups may come and go between the calls: ask again until the list held them all. */
    unsigned cap = 16;
    for (;;) {
        struct shmq_group_info *l = calloc(cap, sizeof *l);
        if (!l)
            return -ENOMEM;
        int n = shmq_topic_groups(t, l, cap);
        if (n < 0) {
            free(l);
            return n;
        }
        if ((unsigned)n <= cap) {
            *list = l;
            *count = (unsigned)n;
            memset(totals, 0, sizeof *totals);
            for (unsigned i = 0; i < *count; i++) {
                if (l[i].lag > totals->max_lag)
                    totals->max_lag = l[i].lag;
                totals->delivered += l[i].delivered;
                totals->lost += l[i].lost;
            }
            return 0;
        }
        free(l);
        cap = (unsigned)n + 16;
    }
}

void cli_topic_group_flags_text(uint32_t flags, char *buf, size_t size)
{
    static const uint32_t bit[] = {SHMQ_SUB_DURABLE, SHMQ_GROUP_PRIVATE};
    static const char *const names[] = {"durable", "private"};
    bits_text(flags, bit, names, 2, buf, size);
}

const char *cli_topic_policy_name(enum shmq_topic_policy policy)
{
    return policy == SHMQ_TOPIC_OVERWRITE ? "overwrite" : "block";
}

/* ---- words ---- */

const char *cli_queue_kind_name(enum shmq_kind kind)
{
    return kind == SHMQ_LIFO ? "lifo" : "fifo";
}

/* Join the names of the bits set in `bits` with commas, or write "none". */
static void bits_text(uint32_t bits, const uint32_t *bit, const char *const *names, size_t n,
                      char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = 0;
    for (size_t i = 0; i < n; i++) {
        if (!(bits & bit[i]))
            continue;
        int w = snprintf(buf + used, size - used, "%s%s", used ? "," : "", names[i]);
        if (w < 0 || (size_t)w >= size - used)
            break;
        used += (size_t)w;
    }
    if (!used)
        snprintf(buf, size, "none");
}

void cli_queue_flags_text(uint32_t flags, char *buf, size_t size)
{
    static const uint32_t bit[] = {SHMQ_SINGLE_PRODUCER, SHMQ_SINGLE_CONSUMER};
    static const char *const names[] = {"single-producer", "single-consumer"};
    bits_text(flags, bit, names, 2, buf, size);
}

void cli_queue_roles_text(uint32_t roles, char *buf, size_t size)
{
    static const uint32_t bit[] = {SHMQ_ROLE_PRODUCER, SHMQ_ROLE_CONSUMER};
    static const char *const names[] = {"producer", "consumer"};
    bits_text(roles, bit, names, 2, buf, size);
}

void cli_queue_mode_text(uint32_t mode, char *buf, size_t size)
{
    snprintf(buf, size, "%04o", mode & 0777u);
}

void cli_queue_owner_text(uid_t uid, char *buf, size_t size)
{
    struct passwd pw, *found = NULL;
    char scratch[1024];
    if (getpwuid_r(uid, &pw, scratch, sizeof scratch, &found) == 0 && found)
        snprintf(buf, size, "%s", found->pw_name);
    else
        snprintf(buf, size, "%lu", (unsigned long)uid);
}

void cli_time_text(int64_t ns, char *buf, size_t size)
{
    time_t seconds = (time_t)(ns / 1000000000);
    struct tm tm;
    if (ns <= 0 || !localtime_r(&seconds, &tm)) {
        snprintf(buf, size, "-");
        return;
    }
    char zone[8];
    strftime(zone, sizeof zone, "%z", &tm); /* +0200 -> +02:00 below */
    char date[32];
    strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &tm);
    if (strlen(zone) == 5)
        snprintf(buf, size, "%s%.3s:%s", date, zone, zone + 3);
    else
        snprintf(buf, size, "%s", date);
}

void cli_numa_online_text(char *buf, size_t size)
{
    FILE *f = fopen("/sys/devices/system/node/online", "r");
    size_t n = 0;
    if (f) {
        n = fread(buf, 1, size - 1, f);
        fclose(f);
    }
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
        n--;
    buf[n] = 0;
    if (n == 0)
        snprintf(buf, size, "unknown");
}
