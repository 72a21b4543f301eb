/* One command run for one message (see command.h). */
#define _GNU_SOURCE /* memfd_create, pipe2, ppoll, execvpe */
#include "command.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"
#include "shmq.h"

#define READ_CHUNK 65536

static int write_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* A file holding the input, positioned at its start. */
static int input_file(const void *input, size_t len)
{
    int fd = memfd_create("shmq-message", MFD_CLOEXEC);
    if (fd < 0)
        return -errno;
    int err = write_all(fd, input, len);
    if (!err && lseek(fd, 0, SEEK_SET) != 0)
        err = -errno;
    if (err) {
        close(fd);
        return err;
    }
    return fd;
}

/* In the child: become the command. Never returns; an exec failure is reported through
 * err_fd (closed on exec) as an errno value. */
static void become_command(const struct cli_command *c, char *const envp[], int in, int out,
                           int err_fd, pid_t worker)
{
    int err = 0;
    setpgid(0, 0);
    /* Die with the worker, and not after it: it may have died before the prctl. */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != worker)
        _exit(127);
    if (dup2(in, STDIN_FILENO) < 0 || (out >= 0 && dup2(out, STDOUT_FILENO) < 0))
        err = errno;
    /* What the tool changed must not reach the command: exec keeps ignored signals ignored
     * and the signal mask as it is. */
    static const int changed[] = {SIGINT, SIGTERM, SIGHUP, SIGPIPE, SIGCHLD};
    for (size_t i = 0; i < sizeof changed / sizeof changed[0]; i++)
        signal(changed[i], SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    if (!err) {
        execvpe(c->argv[0], c->argv, envp);
        err = errno;
    }
    while (write(err_fd, &err, sizeof err) < 0 && errno == EINTR)
        continue;
    _exit(127);
}

/* Read what the command wrote, without blocking. Returns false at the end of the output. */
static bool collect(const struct cli_command *c, int fd, struct cli_command_result *r)
{
    char chunk[READ_CHUNK];
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof chunk);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return errno == EAGAIN; /* EAGAIN: nothing more for now */
        if (n == 0)
            return false;
        size_t room = c->capture_max > r->out.len ? c->capture_max - r->out.len : 0;
        size_t keep = (size_t)n < room ? (size_t)n : room;
        if (keep < (size_t)n || (keep && cli_buffer_append(&r->out, chunk, keep) != 0))
            r->truncated = true;
    }
}

static struct timespec timespec_of(int64_t ns)
{
    return (struct timespec){.tv_sec = (time_t)(ns / 1000000000),
                             .tv_nsec = (long)(ns % 1000000000)};
}

/* Wait for the command (pid) to end; it stays a zombie, so its process group cannot be taken
 * by another process meanwhile. Returns how it is to be reported. */
static enum cli_command_end wait_for(const struct cli_command *c, pid_t pid, int *out_fd,
                                     struct cli_command_result *r)
{
    int64_t now = cli_monotonic_ns();
    int64_t deadline = c->timeout_ns == SHMQ_FOREVER || c->timeout_ns > INT64_MAX - now
                           ? INT64_MAX
                           : now + c->timeout_ns;
    int64_t kill_at = INT64_MAX;
    bool stopping = false, killed = false;
    enum cli_command_end end = CLI_COMMAND_EXITED;
    for (;;) {
        siginfo_t si;
        si.si_pid = 0;
        if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid == pid)
            return end;
        now = cli_monotonic_ns();
        if (!stopping && (now >= deadline || (c->stop && c->stop()))) {
            end = now >= deadline ? CLI_COMMAND_TIMED_OUT : CLI_COMMAND_STOPPED;
            stopping = true;
            kill(-pid, SIGTERM);
            kill_at = c->grace_ns > INT64_MAX - now ? INT64_MAX : now + c->grace_ns;
        }
        if (stopping && !killed && now >= kill_at) {
            kill(-pid, SIGKILL);
            killed = true;
        }
        int64_t until = !stopping ? deadline : killed ? INT64_MAX : kill_at;
        struct timespec left = timespec_of(until == INT64_MAX ? 0 : until - now);
        struct pollfd pfd = {.fd = *out_fd, .events = POLLIN};
        int n = ppoll(&pfd, *out_fd >= 0 ? 1 : 0, until == INT64_MAX ? NULL : &left, c->wait_mask);
        if (n > 0 && !collect(c, *out_fd, r)) {
            close(*out_fd);
            *out_fd = -1;
        }
    }
}

int cli_command_run(const struct cli_command *c, char *const envp[], const void *input, size_t len,
                    struct cli_command_result *r)
{
    r->out.len = 0;
    r->truncated = false;
    int in = input_file(input, len);
    if (in < 0)
        return in;
    int out[2] = {-1, -1}, report[2] = {-1, -1};
    int err = 0;
    if ((c->capture && pipe2(out, O_CLOEXEC) != 0) || pipe2(report, O_CLOEXEC) != 0) {
        err = -errno;
        goto out;
    }
    pid_t worker = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        err = -errno;
        goto out;
    }
    if (pid == 0)
        become_command(c, envp, in, out[1], report[1], worker);
    /* Both sides set the group, so that it exists before either relies on it. */
    setpgid(pid, pid);
    close(report[1]);
    report[1] = -1;
    if (out[1] >= 0) {
        close(out[1]);
        out[1] = -1;
    }
    /* The report pipe closes on a successful exec, or carries the errno of a failed one. */
    int exec_errno = 0;
    ssize_t got;
    while ((got = read(report[0], &exec_errno, sizeof exec_errno)) < 0 && errno == EINTR)
        continue;
    if (got == (ssize_t)sizeof exec_errno) {
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
            continue;
        err = exec_errno ? -exec_errno : -ENOEXEC;
        goto out;
    }
    if (out[0] >= 0)
        fcntl(out[0], F_SETFL, fcntl(out[0], F_GETFL) | O_NONBLOCK);
    r->end = wait_for(c, pid, &out[0], r);
    if (out[0] >= 0)
        collect(c, out[0], r); /* what it wrote before it ended is in the pipe */
    if (r->end != CLI_COMMAND_EXITED)
        kill(-pid, SIGKILL); /* whatever it started goes with it */
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        continue;
    if (r->end == CLI_COMMAND_EXITED && WIFSIGNALED(status)) {
        r->end = CLI_COMMAND_KILLED;
        r->status = WTERMSIG(status);
    } else {
        r->status = WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status);
    }
out:
    for (int i = 0; i < 2; i++) {
        if (out[i] >= 0)
            close(out[i]);
        if (report[i] >= 0)
            close(report[i]);
    }
    close(in);
    return err;
}

void cli_command_end_text(const struct cli_command_result *r, char *buf, size_t size)
{
    switch (r->end) {
    case CLI_COMMAND_EXITED:
        snprintf(buf, size, "exited with status %d", r->status);
        break;
    case CLI_COMMAND_KILLED:
        snprintf(buf, size, "was killed by signal %d (%s)", r->status, strsignal(r->status));
        break;
    case CLI_COMMAND_TIMED_OUT:
        snprintf(buf, size, "timed out");
        break;
    case CLI_COMMAND_STOPPED:
        snprintf(buf, size, "was stopped");
        break;
    }
}

static int executable(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return -ENOENT;
    if (S_ISDIR(st.st_mode))
        return -EISDIR;
    return access(path, X_OK) == 0 ? 0 : -EACCES;
}

int cli_command_find(const char *argv0)
{
    if (!*argv0)
        return -ENOENT;
    if (strchr(argv0, '/'))
        return executable(argv0);
    const char *path = getenv("PATH");
    if (!path)
        path = "/bin:/usr/bin";
    int result = -ENOENT;
    for (const char *p = path;; p++) {
        const char *end = strchr(p, ':');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        char full[PATH_MAX];
        /* An empty entry is the current directory. */
        if (snprintf(full, sizeof full, "%.*s/%s", n ? (int)n : 1, n ? p : ".", argv0) <
            (int)sizeof full) {
            int err = executable(full);
            if (err == 0)
                return 0;
            if (err == -EACCES)
                result = err; /* execvp goes on looking too, and says so if nothing else runs */
        }
        if (!end)
            break;
        p = end;
    }
    return result;
}
