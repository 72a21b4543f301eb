/* shmq serve: admin actions behind a bearer token (see serve_admin.h). */
#include "serve_admin.h"

#include <errno.h>
#include <fcntl.h>
#include <strings.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "json.h"
#include "queue.h"

#define TOKEN_MIN 16

int serve_admin_load(struct serve_admin *a, const char *path, bool *insecure)
{
    memset(a, 0, sizeof *a);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int err = -errno;
        close(fd);
        return err;
    }
    *insecure = (st.st_mode & 077) != 0;
    char buf[SERVE_TOKEN_MAX + 2];
    size_t len = 0;
    ssize_t n;
    while (len < sizeof buf && (n = read(fd, buf + len, sizeof buf - len)) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int err = -errno;
            close(fd);
            return err;
        }
        len += (size_t)n;
    }
    close(fd);
    char *eol = memchr(buf, '\n', len);
    if (eol)
        len = (size_t)(eol - buf);
    if (len && buf[len - 1] == '\r')
        len--;
    if (len > SERVE_TOKEN_MAX)
        return -EFBIG;
    if (len < TOKEN_MIN)
        return -EINVAL;
    for (size_t i = 0; i < len; i++)
        if (buf[i] <= ' ' || buf[i] > '~')
            return -EINVAL;
    memcpy(a->token, buf, len);
    a->token[len] = 0;
    a->token_len = len;
    a->enabled = true;
    return 0;
}

bool serve_admin_authorized(const struct serve_admin *a, const char *authorization)
{
    static const char scheme[] = "Bearer ";
    if (!a->enabled || !authorization || strncasecmp(authorization, scheme, sizeof scheme - 1) != 0)
        return false;
    const char *given = authorization + sizeof scheme - 1;
    size_t len = strlen(given);
    /* Constant time in the token's contents: every byte is compared whatever differs. */
    unsigned char diff = len != a->token_len;
    for (size_t i = 0; i < a->token_len; i++)
        diff |= (unsigned char)(a->token[i] ^ (i < len ? given[i] : 0));
    return diff == 0;
}

static void report_head(struct cli_json *j, const struct serve_route *r, const char *action)
{
    cli_json_object_begin(j);
    cli_json_key(j, "name");
    cli_json_string(j, r->name);
    cli_json_key(j, "action");
    cli_json_string(j, action);
}

static int purge(const struct serve_route *r, struct cli_json *j)
{
    shmq_t *q;
    int err = shmq_open(r->name, &q);
    if (err)
        return err;
    int dropped = shmq_purge(q);
    shmq_close(q);
    if (dropped < 0)
        return dropped;
    report_head(j, r, "purge");
    cli_json_key(j, "dropped");
    cli_json_i64(j, dropped);
    cli_json_object_end(j);
    return 0;
}

static int repair_queue(const struct serve_route *r, struct cli_json *j)
{
    shmq_t *q;
    struct shmq_repair_report rep;
    int err = shmq_open(r->name, &q);
    if (err)
        return err;
    err = shmq_repair(q, &rep);
    shmq_close(q);
    if (err)
        return err;
    report_head(j, r, "repair");
    static const char *const keys[] = {"dead_participants", "claims_returned", "reservations_freed",
                                       "orphans_restored", "dead_lettered"};
    const uint32_t values[] = {rep.dead_participants, rep.claims_returned, rep.reservations_freed,
                               rep.orphans_restored, rep.dead_lettered};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        cli_json_key(j, keys[i]);
        cli_json_u64(j, values[i]);
    }
    cli_json_key(j, "busy");
    cli_json_bool(j, rep.busy != 0);
    cli_json_object_end(j);
    return 0;
}

/* As `shmq repair` does: opening the topic to use it releases the dead already, so the count
 * also comes from before and after. */
static int repair_topic(const struct serve_route *r, struct cli_json *j)
{
    int64_t before = cli_topic_dead(r->name);
    shmq_topic_t *t;
    int err = shmq_topic_open(r->name, &t);
    if (err)
        return err;
    int released = shmq_topic_repair(t);
    shmq_topic_close(t);
    if (released < 0)
        return released;
    int64_t after = cli_topic_dead(r->name);
    if (before >= 0 && after >= 0 && before - after > released)
        released = (int)(before - after);
    report_head(j, r, "repair");
    cli_json_key(j, "released");
    cli_json_i64(j, released);
    cli_json_object_end(j);
    return 0;
}

int serve_admin_run(const struct serve_route *r, FILE *out)
{
    struct cli_json j;
    cli_json_init(&j, out, false);
    int err;
    if (r->action == SERVE_ACTION_PURGE)
        err = purge(r, &j);
    else if (r->topic)
        err = repair_topic(r, &j);
    else
        err = repair_queue(r, &j);
    if (err)
        return err;
    return cli_json_finish(&j);
}
