/*
 * Permissions between users, with real users: children that drop privileges with setgroups,
 * setresgid and setresuid (so the test needs root; without it, it is skipped).
 *
 *   - a queue created 0600 (the default) by one user cannot be opened by another, writable or
 *     as an observer: -EACCES; nor removed (/dev/shm is sticky), nor created again (-EEXIST);
 *     the CLI says "permission denied" and exits 4;
 *   - cfg.mode = 0660 (`shmq create --mode 0660`) lets a user who shares the queue's group
 *     produce and consume; a user outside the group still gets -EACCES;
 *   - 0640 lets the group look (observer handles, `shmq stat`) but not write;
 *   - the mode is exactly the one asked for whatever the creator's umask, and a dead-letter
 *     queue made on demand gets its queue's mode.
 *
 * The users: OWNER is nobody (uid 65534) with primary group SHARED; PEER another uid whose
 * supplementary groups include SHARED; STRANGER a third uid in no group of theirs.
 */
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <sys/stat.h>

#include "test_util.h"

#define SHARED_GID 64200u

struct user {
    const char *what;
    uid_t uid;
    gid_t gid;
    gid_t groups[1];
    size_t ngroups;
};

static const struct user OWNER = {"owner (nobody)", 65534, SHARED_GID, {0}, 0};
static const struct user PEER = {"peer", 64201, 64201, {SHARED_GID}, 1};
static const struct user STRANGER = {"stranger", 64202, 64202, {0}, 0};

#define SKIP_STATUS 77

/* Become u for good: groups first (they need the privilege that setresuid gives up). */
static void become(const struct user *u)
{
    if (setgroups(u->ngroups, u->ngroups ? u->groups : NULL) != 0 ||
        setresgid(u->gid, u->gid, u->gid) != 0 || setresuid(u->uid, u->uid, u->uid) != 0)
        _exit(SKIP_STATUS);
    umask(077); /* the library must not let it narrow the mode asked for */
}

/* Run fn(arg) as u in a child: its exit status (CHILD_CHECK failures are 100). */
static int as_user(const struct user *u, void (*fn)(const char *name), const char *name)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        alarm(30);
        become(u);
        fn(name);
        _exit(0);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (WIFSIGNALED(status))
        fail_msg("%s: killed by signal %d", u->what, WTERMSIG(status));
    return WEXITSTATUS(status);
}

/* as_user, and the child must succeed. */
static void as(const struct user *u, void (*fn)(const char *name), const char *name)
{
    int status = as_user(u, fn, name);
    if (status == SKIP_STATUS)
        skip();
    if (status != 0)
        fail_msg("%s: a check failed (exit status %d)", u->what, status);
}

static bool need_root(void)
{
    if (geteuid() == 0)
        return true;
    fprintf(stderr, "(skipped: changing users needs root; run the tests as root to check "
                    "permissions)\n");
    return false;
}

static void assert_object(const char *name, mode_t mode, uid_t uid, gid_t gid)
{
    char path[SHMQ_NAME_MAX + 32];
    snprintf(path, sizeof path, "/dev/shm/shmq.%s", name);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    if ((st.st_mode & 07777) != mode || st.st_uid != uid || st.st_gid != gid)
        fail_msg("%s: mode %04o uid %u gid %u, expected %04o %u %u", path,
                 (unsigned)(st.st_mode & 07777), (unsigned)st.st_uid, (unsigned)st.st_gid,
                 (unsigned)mode, (unsigned)uid, (unsigned)gid);
}

/* ---- the CLI, run as a user, its stderr captured ---- */

static char cli_path[PATH_MAX];

/* The tool built next to this test (build/tests/test_permissions -> build/tools/shmq). */
static bool cli_find(void)
{
    const char *env = getenv("SHMQ_CLI");
    if (env) {
        snprintf(cli_path, sizeof cli_path, "%s", env);
        return access(cli_path, X_OK) == 0;
    }
    char self[PATH_MAX + 16];
    ssize_t n = readlink("/proc/self/exe", self, PATH_MAX - 1);
    if (n <= 0)
        return false;
    self[n] = 0;
    char *slash = strrchr(self, '/');
    if (!slash)
        return false;
    strcpy(slash, "/../tools/shmq");
    if (strlen(self) >= sizeof cli_path)
        return false;
    strcpy(cli_path, self);
    return access(cli_path, X_OK) == 0;
}

#define CLI_CANNOT_RUN 127

/* Run the tool as u; its exit code (128 + N for signal N), stderr into err. */
static int cli_as(const struct user *u, char *const argv[], char *err, size_t cap)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        become(u);
        int null = open("/dev/null", O_RDWR);
        dup2(null, 0);
        dup2(null, 1);
        dup2(fds[1], 2);
        close(fds[0]);
        execv(cli_path, argv);
        _exit(CLI_CANNOT_RUN); /* e.g. a build directory the user may not enter */
    }
    close(fds[1]);
    /* Read to the end, keeping what fits: a child never blocks on a full pipe. */
    size_t len = 0;
    char rest[256];
    for (;;) {
        bool room = len < cap - 1;
        ssize_t n = read(fds[0], room ? err + len : rest, room ? cap - 1 - len : sizeof rest);
        if (n <= 0)
            break;
        if (room)
            len += (size_t)n;
    }
    err[len] = 0;
    close(fds[0]);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (WIFEXITED(status) && WEXITSTATUS(status) == SKIP_STATUS)
        skip();
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

#define CLI(...) ((char *const[]){"shmq", __VA_ARGS__, NULL})

/* The tool as u must exit with `code`, and its stderr hold `words` (NULL: anything). */
static void cli_expect(const struct user *u, char *const argv[], int code, const char *words)
{
    char err[1024];
    int got = cli_as(u, argv, err, sizeof err);
    if (got == CLI_CANNOT_RUN) {
        fprintf(stderr, "(%s cannot run %s: the tool's messages are not checked)\n", u->what,
                cli_path);
        return;
    }
    if (got != code || (words && !strstr(err, words)))
        fail_msg("shmq %s %s as %s: exit %d (expected %d), stderr: %s", argv[1],
                 argv[2] ? argv[2] : "", u->what, got, code, err);
}

/* ---- what the children do ---- */

static void create_default(const char *name)
{
    shmq_t *q;
    CHILD_CHECK(shmq_create(name, NULL, &q) == 0);
    CHILD_CHECK(shmq_push(q, "secret", 6, 0) == 0);
    CHILD_CHECK(shmq_close(q) == 0);
}

static void create_0660(const char *name)
{
    shmq_t *q;
    CHILD_CHECK(shmq_create(name, &(struct shmq_config){.mode = 0660}, &q) == 0);
    CHILD_CHECK(shmq_close(q) == 0);
}

static void create_0640(const char *name)
{
    shmq_t *q;
    CHILD_CHECK(shmq_create(name, &(struct shmq_config){.mode = 0640}, &q) == 0);
    CHILD_CHECK(shmq_push(q, "look", 4, 0) == 0);
    CHILD_CHECK(shmq_close(q) == 0);
}

static void locked_out(const char *name)
{
    shmq_t *q = NULL;
    CHILD_CHECK(shmq_open(name, &q) == -EACCES);
    CHILD_CHECK(shmq_open_ex(name, SHMQ_OPEN_OBSERVE, &q) == -EACCES);
    CHILD_CHECK(q == NULL);
    CHILD_CHECK(shmq_create(name, NULL, &q) == -EEXIST);
    /* /dev/shm is sticky: only the owner removes it (the kernel says EPERM or EACCES). */
    int err = shmq_unlink(name);
    CHILD_CHECK(err == -EPERM || err == -EACCES);
}

static void produce(const char *name)
{
    shmq_t *q;
    CHILD_CHECK(shmq_open(name, &q) == 0);
    CHILD_CHECK(shmq_push(q, "from the peer", 13, 0) == 0);
    CHILD_CHECK(shmq_close(q) == 0);
}

static void consume(const char *name)
{
    shmq_t *q;
    CHILD_CHECK(shmq_open(name, &q) == 0);
    char buf[32];
    CHILD_CHECK(shmq_pop(q, buf, sizeof buf, 0) == 13);
    CHILD_CHECK(memcmp(buf, "from the peer", 13) == 0);
    CHILD_CHECK(shmq_push(q, "answer", 6, 0) == 0);
    CHILD_CHECK(shmq_close(q) == 0);
}

static void consume_answer(const char *name)
{
    shmq_t *q;
    CHILD_CHECK(shmq_open(name, &q) == 0);
    char buf[32];
    CHILD_CHECK(shmq_pop(q, buf, sizeof buf, 0) == 6);
    CHILD_CHECK(shmq_close(q) == 0);
}

static void observe_only(const char *name)
{
    shmq_t *q = NULL;
    CHILD_CHECK(shmq_open(name, &q) == -EACCES);
    CHILD_CHECK(shmq_open_ex(name, SHMQ_OPEN_OBSERVE, &q) == 0);
    struct shmq_stat st;
    CHILD_CHECK(shmq_stat(q, &st) == 0);
    CHILD_CHECK(st.depth == 1 && st.mode == 0640 && st.owner_uid == 65534);
    CHILD_CHECK(shmq_push(q, "x", 1, 0) == -EPERM);
    CHILD_CHECK(shmq_close(q) == 0);
}

/* ---- the tests ---- */

static void private_queue_is_private(void **state)
{
    (void)state;
    if (!need_root())
        skip();
    const char *name = test_name("perm-private");
    as(&OWNER, create_default, name);
    assert_object(name, 0600, OWNER.uid, OWNER.gid);
    as(&PEER, locked_out, name);
    as(&STRANGER, locked_out, name);
    assert_object(name, 0600, OWNER.uid, OWNER.gid); /* still there, unchanged */

    if (!cli_find()) {
        fprintf(stderr, "(the shmq tool was not found: its messages are not checked)\n");
        return;
    }
    for (const char *const *verb = (const char *const[]){"push", "pop", "stat", "peek", NULL};
         *verb; verb++) {
        char *const *argv = strcmp(*verb, "push") == 0 ? CLI((char *)*verb, (char *)name, "m")
                                                       : CLI((char *)*verb, (char *)name);
        cli_expect(&PEER, argv, 4, "permission denied");
        cli_expect(&PEER, argv, 4, name);
    }
    cli_expect(&PEER, CLI("rm", (char *)name), 4, NULL);
    assert_object(name, 0600, OWNER.uid, OWNER.gid);
    /* Its owner still gets in. */
    cli_expect(&OWNER, CLI("pop", (char *)name), 0, NULL);
}

static void group_mode_lets_the_group_in(void **state)
{
    (void)state;
    if (!need_root())
        skip();
    const char *name = test_name("perm-group");
    as(&OWNER, create_0660, name);
    assert_object(name, 0660, OWNER.uid, SHARED_GID); /* exact, despite umask 077 */
    as(&PEER, produce, name);
    as(&OWNER, consume, name);
    as(&PEER, consume_answer, name);
    as(&STRANGER, locked_out, name);

    if (!cli_find())
        return;
    const char *made = test_name("perm-cli");
    cli_expect(&OWNER, CLI("create", "--mode", "0660", (char *)made), 0, NULL);
    assert_object(made, 0660, OWNER.uid, SHARED_GID);
    cli_expect(&PEER, CLI("push", (char *)made, "hello"), 0, NULL);
    cli_expect(&PEER, CLI("pop", (char *)made), 0, NULL);
    cli_expect(&STRANGER, CLI("push", (char *)made, "hello"), 4, "permission denied");
}

static void read_only_group_can_look(void **state)
{
    (void)state;
    if (!need_root())
        skip();
    const char *name = test_name("perm-look");
    as(&OWNER, create_0640, name);
    assert_object(name, 0640, OWNER.uid, SHARED_GID);
    as(&PEER, observe_only, name);
    as(&STRANGER, locked_out, name);
    if (!cli_find())
        return;
    cli_expect(&PEER, CLI("stat", (char *)name), 0, NULL);
    cli_expect(&PEER, CLI("peek", (char *)name), 0, NULL);
    cli_expect(&PEER, CLI("push", (char *)name, "x"), 4, "permission denied");
    cli_expect(&STRANGER, CLI("stat", (char *)name), 4, "permission denied");
}

static char dead_letter_name[64];

static void expire_into_dead_letters(const char *name)
{
    shmq_t *q;
    CHILD_CHECK(
        shmq_create(
            name, &(struct shmq_config){.mode = 0660, .ttl_ns = 1, .dead_letter = dead_letter_name},
            &q) == 0);
    CHILD_CHECK(shmq_push(q, "stale", 5, 0) == 0);
    nanosleep(&(struct timespec){.tv_nsec = 1000000}, NULL);
    struct shmq_msg m;
    CHILD_CHECK(shmq_claim(q, &m, 0) == -EAGAIN);
    struct shmq_stat st;
    CHILD_CHECK(shmq_stat(q, &st) == 0 && st.dead_lettered == 1);
    CHILD_CHECK(shmq_close(q) == 0);
}

static void take_dead_letter(const char *name)
{
    shmq_t *q;
    CHILD_CHECK(shmq_open(name, &q) == 0);
    char buf[16];
    CHILD_CHECK(shmq_pop(q, buf, sizeof buf, 0) == 5 && memcmp(buf, "stale", 5) == 0);
    CHILD_CHECK(shmq_close(q) == 0);
}

static void dead_letters_keep_the_mode(void **state)
{
    (void)state;
    if (!need_root())
        skip();
    const char *name = test_name("perm-dl");
    snprintf(dead_letter_name, sizeof dead_letter_name, "%s", test_name("perm-dl-dead"));
    as(&OWNER, expire_into_dead_letters, name);
    assert_object(dead_letter_name, 0660, OWNER.uid, SHARED_GID);
    as(&PEER, take_dead_letter, dead_letter_name); /* the group reads its dead letters */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(private_queue_is_private),
        cmocka_unit_test(group_mode_lets_the_group_in),
        cmocka_unit_test(read_only_group_can_look),
        cmocka_unit_test(dead_letters_keep_the_mode),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
