/*
 * shmq work: a pool of worker processes that run a command for each message of a queue, as
 * Celery's worker runs tasks (worker.h says what one worker does).
 *
 * This process only supervises: it forks the workers, passes signals on to them (the first
 * stops them taking messages, the second stops the commands they run), starts a new worker in
 * place of one that a signal killed (after giving back what it held), draws a progress line on
 * a terminal and prints a summary at the end. The workers count what they do in a shared
 * anonymous mapping (struct cli_work_tally).
 */
#define _GNU_SOURCE /* ppoll, sched_getaffinity */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "clock.h"
#include "command.h"
#include "diag.h"
#include "interrupt.h"
#include "options.h"
#include "parse.h"
#include "queue.h"
#include "worker.h"

#define JOBS_MAX 1024
#define BATCH_MAX 1000000
#define DEFAULT_GRACE_NS (2 * 1000000000LL)
#define RESPAWN_AFTER_NS (1000000000LL) /* a worker is started again at most once a second */
#define PROGRESS_AFTER_NS (500 * 1000000LL)
#define PROGRESS_EVERY_NS (200 * 1000000LL)

struct worker_slot {
    pid_t pid;          /* 0: not running */
    bool again;         /* to be started again (a signal killed it) */
    int64_t started_ns; /* when it was last started */
};

struct pool {
    struct cli_worker proto; /* what every worker gets; index and cpu are set per worker */
    unsigned jobs;
    int *cpus; /* --cpus LIST, or NULL */
    unsigned ncpus;
    struct worker_slot *slots;
    unsigned running;   /* workers alive */
    unsigned stop;      /* the level asked of the workers (worker.h) */
    int failure;        /* the exit code of the first worker that failed, or 0 */
    sigset_t wait_mask; /* the signal mask while waiting */
    int64_t started_ns;
    bool progress, progress_drawn;
    int64_t progress_ns;
};

/* ---- workers ---- */

static int start_worker(struct pool *p, unsigned i)
{
    struct worker_slot *s = &p->slots[i];
    /* Nothing buffered may be written twice, by the parent and by a child. */
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0)
        return -errno;
    if (pid == 0) {
        struct cli_worker w = p->proto;
        w.index = i;
        w.cpu = p->cpus ? p->cpus[i % p->ncpus] : -1;
        _exit(cli_worker_run(&w));
    }
    s->pid = pid;
    s->again = false;
    s->started_ns = cli_monotonic_ns();
    p->running++;
    return 0;
}

/* Ask every worker to go as far as `level` (1: take nothing more, 2: stop the commands). */
static void stop_workers(struct pool *p, unsigned level)
{
    if (level > 2)
        level = 2;
    if (level <= p->stop)
        return;
    p->stop = level;
    /* Relaxed: see stop_level() in worker.c; the SIGTERM below wakes the workers to read it. */
    atomic_store_explicit(&p->proto.tally->stop, level, memory_order_relaxed);
    for (unsigned i = 0; i < p->jobs; i++)
        if (p->slots[i].pid > 0)
            kill(p->slots[i].pid, SIGTERM);
}

/* A worker killed by a signal held a message, perhaps: open the queue, which runs the reaper,
 * so that the message is delivered again now rather than when some process next opens it. */
static void give_back_now(const char *name)
{
    shmq_t *q;
    if (shmq_open(name, &q) == 0)
        shmq_close(q);
}

static void worker_ended(struct pool *p, pid_t pid, int status)
{
    unsigned i = 0;
    while (i < p->jobs && p->slots[i].pid != pid)
        i++;
    if (i == p->jobs)
        return; /* not a worker: a command started by this process cannot exist */
    struct worker_slot *s = &p->slots[i];
    s->pid = 0;
    p->running--;
    if (WIFEXITED(status)) {
        if (WEXITSTATUS(status) != 0 && !p->failure) {
            /* It said why. The others stop as after a signal. */
            p->failure = WEXITSTATUS(status);
            stop_workers(p, 1);
        }
        return;
    }
    int sig = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
    give_back_now(p->proto.queue);
    s->again = p->stop == 0;
    if (p->progress_drawn)
        fputs("\r\033[K", stderr);
    cli_error("worker %u (pid %d) was killed by signal %d (%s); the message it held goes back to "
              "the queue%s",
              i, (int)pid, sig, strsignal(sig), s->again ? "; starting another" : "");
}

static void reap(struct pool *p)
{
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
        worker_ended(p, pid, status);
}

/* Start the workers that are due again; returns when the next one is due (INT64_MAX: none). */
static int64_t restart_due(struct pool *p, int64_t now)
{
    int64_t next = INT64_MAX;
    for (unsigned i = 0; i < p->jobs; i++) {
        struct worker_slot *s = &p->slots[i];
        if (!s->again)
            continue;
        if (p->stop) {
            s->again = false;
            continue;
        }
        int64_t due = s->started_ns + RESPAWN_AFTER_NS;
        if (due > now) {
            next = due < next ? due : next;
            continue;
        }
        int err = start_worker(p, i);
        if (err) {
            cli_fail_system(err, "cannot start worker %u again", i);
            s->again = false;
            if (!p->failure)
                p->failure = CLI_EXIT_FAILURE;
            stop_workers(p, 1);
        }
    }
    return next;
}

/* ---- what is shown ---- */

static uint64_t tally_of(_Atomic uint64_t *counter)
{
    /* Relaxed: independent tallies (worker.h). */
    return atomic_load_explicit(counter, memory_order_relaxed);
}

static void draw_progress(struct pool *p, int64_t now)
{
    if (!p->progress || now - p->started_ns < PROGRESS_AFTER_NS ||
        now - p->progress_ns < PROGRESS_EVERY_NS)
        return;
    struct cli_work_tally *t = p->proto.tally;
    uint64_t done = tally_of(&t->done), failed = tally_of(&t->failed);
    uint64_t timed_out = tally_of(&t->timed_out);
    double seconds = (double)(now - p->started_ns) / 1e9;
    /* Relaxed: a gauge (worker.h). */
    unsigned running = atomic_load_explicit(&t->running, memory_order_relaxed);
    fprintf(stderr,
            "\rshmq work %s: %u/%u running, %" PRIu64 " done, %" PRIu64 " failed, %" PRIu64
            " timed out, %.1f/s%s\033[K",
            p->proto.queue, running, p->jobs, done, failed, timed_out,
            (double)(done + failed + timed_out) / seconds, p->stop ? " (stopping)" : "");
    fflush(stderr);
    p->progress_drawn = true;
    p->progress_ns = now;
}

static void print_summary(struct pool *p)
{
    struct cli_work_tally *t = p->proto.tally;
    uint64_t done = tally_of(&t->done), failed = tally_of(&t->failed);
    uint64_t retried = tally_of(&t->retried), timed_out = tally_of(&t->timed_out);
    uint64_t past_limit = tally_of(&t->past_limit), stopped = tally_of(&t->stopped);
    uint64_t unanswered = tally_of(&t->unanswered);
    double seconds = (double)(cli_monotonic_ns() - p->started_ns) / 1e9;
    char extra[160] = "";
    size_t used = 0;
    if (past_limit)
        used += (size_t)snprintf(extra + used, sizeof extra - used,
                                 ", %" PRIu64 " past max deliveries", past_limit);
    if (stopped && used < sizeof extra)
        used += (size_t)snprintf(extra + used, sizeof extra - used,
                                 ", %" PRIu64 " stopped and given back", stopped);
    if (unanswered && used < sizeof extra)
        snprintf(extra + used, sizeof extra - used, ", %" PRIu64 " repl%s not sent", unanswered,
                 unanswered == 1 ? "y" : "ies");
    if (p->progress_drawn)
        fputs("\r\033[K", stderr);
    cli_error("%" PRIu64 " done, %" PRIu64 " failed, %" PRIu64 " retried, %" PRIu64
              " timed out%s in %.2fs (%.1f messages/s)",
              done, failed, retried, timed_out, extra, seconds,
              seconds > 0 ? (double)(done + failed + timed_out + stopped) / seconds : 0.0);
}

/* ---- the pool ---- */

static void on_child(int sig)
{
    (void)sig; /* only to end ppoll: SIGCHLD's default action would discard the signal */
}

/* Run the pool until every worker has ended. */
static void supervise(struct pool *p)
{
    for (;;) {
        reap(p);
        stop_workers(p, cli_interrupt_count());
        int64_t now = cli_monotonic_ns();
        int64_t next = restart_due(p, now);
        if (p->running == 0 && next == INT64_MAX)
            return;
        draw_progress(p, now);
        if (p->progress) {
            int64_t tick = now + PROGRESS_EVERY_NS;
            next = tick < next ? tick : next;
        }
        struct timespec left = {0};
        if (next != INT64_MAX) {
            int64_t ns = next > now ? next - now : 0;
            left = (struct timespec){.tv_sec = (time_t)(ns / 1000000000),
                                     .tv_nsec = (long)(ns % 1000000000)};
        }
        ppoll(NULL, 0, next == INT64_MAX ? NULL : &left, &p->wait_mask);
    }
}

/* --cpus: "near", or a list of CPUs this process may run on. 0 or an exit code. */
static int choose_cpus(struct pool *p, const char *cpus, shmq_t *q)
{
    int err;
    if (strcmp(cpus, "near") == 0) {
        /* Pinned here, before the forks: the workers and their commands inherit it. */
        if ((err = shmq_pin_near(q)) != 0)
            return cli_fail(err, "cannot run near '%s' (drop --cpus near)", p->proto.queue);
        return 0;
    }
    if (!(p->cpus = calloc(CLI_CPU_LIST_MAX, sizeof *p->cpus)))
        return cli_fail_system(-ENOMEM, "--cpus");
    err = cli_parse_cpu_list(cpus, p->cpus, CLI_CPU_LIST_MAX, &p->ncpus);
    if (err) {
        cli_error("invalid value '%s' for --cpus: expected 'near' or CPU numbers and ranges "
                  "such as 0-3,8 (at most %d CPUs, numbers up to %d) (see 'shmq work --help')",
                  cpus, CLI_CPU_LIST_MAX, CLI_CPU_MAX);
        return CLI_EXIT_USAGE;
    }
    cpu_set_t allowed;
    if (sched_getaffinity(0, sizeof allowed, &allowed) != 0)
        return 0; /* the workers' pinning will say */
    for (unsigned i = 0; i < p->ncpus; i++) {
        int cpu = p->cpus[i];
        if (cpu >= CPU_SETSIZE || !CPU_ISSET(cpu, &allowed)) {
            cli_error("CPU %d does not exist or is not allowed to this process (--cpus)", cpu);
            return CLI_EXIT_USAGE;
        }
    }
    return 0;
}

/* Check the queue and the command, and set up what the workers share. 0 or an exit code. */
static int prepare(struct pool *p, const char *cpus)
{
    const char *name = p->proto.queue;
    int err = cli_command_find(p->proto.argv[0]);
    if (err) {
        cli_error("cannot run '%s': %s", p->proto.argv[0],
                  err == -ENOENT ? "command not found" : strerror(-err));
        return err == -ENOENT ? 127 : 126;
    }
    shmq_t *q;
    struct shmq_stat st;
    int code = cli_queue_open(name, SHMQ_OPEN_OBSERVE, &q);
    if (code)
        return code;
    if ((code = cli_queue_stat(q, &st)) == 0 && cpus)
        code = choose_cpus(p, cpus, q);
    shmq_close(q);
    if (code)
        return code;
    if (p->proto.output) {
        shmq_t *o;
        if ((code = cli_queue_open(p->proto.output, SHMQ_OPEN_OBSERVE, &o)) != 0)
            return code;
        shmq_close(o);
    }
    if ((st.flags & SHMQ_SINGLE_CONSUMER) && p->jobs > 1) {
        cli_error("'%s' takes one consumer at a time: use -j 1", name);
        return CLI_EXIT_USAGE;
    }
    if (!(p->slots = calloc(p->jobs, sizeof *p->slots)))
        return cli_fail_system(-ENOMEM, "starting the workers");
    void *shared = mmap(NULL, sizeof(struct cli_work_tally), PROT_READ | PROT_WRITE,
                        MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (shared == MAP_FAILED)
        return cli_fail_system(-errno, "starting the workers");
    p->proto.tally = shared; /* zero-filled */
    pthread_mutexattr_t attr;
    pthread_mutexattr_init(&attr);
    pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
    pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
    err = pthread_mutex_init(&p->proto.tally->output_lock, &attr);
    pthread_mutexattr_destroy(&attr);
    if (err)
        return cli_fail_system(-err, "starting the workers");
    return 0;
}

static int run_pool(struct pool *p)
{
    /* Signals reach this process only inside ppoll, so none slips between a check and a
     * wait; the workers start with the same mask and set up their own (worker.c). */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = on_child;
    sigaction(SIGCHLD, &sa, NULL);
    sigset_t block, saved;
    sigemptyset(&block);
    sigaddset(&block, SIGCHLD);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGHUP);
    sigprocmask(SIG_BLOCK, &block, &saved);
    p->wait_mask = saved;
    sigdelset(&p->wait_mask, SIGCHLD);
    sigdelset(&p->wait_mask, SIGINT);
    sigdelset(&p->wait_mask, SIGTERM);
    sigdelset(&p->wait_mask, SIGHUP);

    p->started_ns = p->progress_ns = cli_monotonic_ns();
    p->progress = isatty(STDERR_FILENO) != 0;
    p->proto.parent = getpid();
    int err = 0;
    for (unsigned i = 0; i < p->jobs && !err && !cli_interrupt_count(); i++)
        err = start_worker(p, i);
    if (err) {
        cli_fail_system(err, "cannot start the workers");
        p->failure = CLI_EXIT_FAILURE;
        stop_workers(p, 1);
    }
    supervise(p);
    print_summary(p);
    /* A signal still pending is delivered here, and recorded for main() to re-raise. */
    sigprocmask(SIG_SETMASK, &saved, NULL);

    struct cli_work_tally *t = p->proto.tally;
    if (p->failure)
        return p->failure;
    if (cli_interrupted())
        return CLI_EXIT_SIGNAL + cli_interrupted();
    return tally_of(&t->failed) + tally_of(&t->timed_out) ? CLI_EXIT_FAILURE : CLI_EXIT_OK;
}

static int parse_reply(const char *text, enum cli_work_reply *reply)
{
    if (!text)
        *reply = CLI_WORK_REPLY_NONE;
    else if (strcmp(text, "line") == 0)
        *reply = CLI_WORK_REPLY_LINE;
    else if (strcmp(text, "raw") == 0)
        *reply = CLI_WORK_REPLY_RAW;
    else {
        cli_error("invalid value '%s' for --reply: expected 'line' or 'raw' (see 'shmq work "
                  "--help')",
                  text);
        return CLI_EXIT_USAGE;
    }
    return 0;
}

static int run(int argc, char **argv)
{
    uint64_t jobs = 1, batch = 1;
    int format = CLI_RECORDS_LINES;
    const char *reply = NULL, *cpus = NULL;
    struct pool p = {.proto = {.timeout_ns = SHMQ_FOREVER, .grace_ns = DEFAULT_GRACE_NS}};
    const struct cli_option options[] = {
        {.name = "jobs",
         .letter = 'j',
         .kind = CLI_OPTION_COUNT,
         .target = &jobs,
         .value_name = "N",
         .min = 1,
         .max = JOBS_MAX,
         .help = "run N workers, each one command at a time (default 1)"},
        {.name = "batch",
         .letter = 'b',
         .kind = CLI_OPTION_COUNT,
         .target = &batch,
         .value_name = "N",
         .min = 1,
         .max = BATCH_MAX,
         .help = "give each command up to N messages at once, framed (default 1: the payload)"},
        {.name = "batch-wait",
         .kind = CLI_OPTION_DURATION,
         .target = &p.proto.batch_wait_ns,
         .value_name = "DURATION",
         .help = "wait up to DURATION for a batch to fill (default: take what is there)"},
        {.name = "output",
         .letter = 'o',
         .kind = CLI_OPTION_STRING,
         .target = &p.proto.output,
         .value_name = "QUEUE",
         .help = "push each record the command writes to QUEUE, with the correlation id"},
        {.name = "reply",
         .kind = CLI_OPTION_STRING,
         .target = &reply,
         .value_name = "line|raw",
         .implicit = "line",
         .help = "send the command's output to the message's reply-to (line: less one final "
                 "newline)"},
        {.name = "timeout",
         .letter = 't',
         .kind = CLI_OPTION_DURATION,
         .target = &p.proto.timeout_ns,
         .value_name = "DURATION",
         .help = "stop a command that runs longer, and give its message back (default: none)"},
        {.name = "grace",
         .kind = CLI_OPTION_DURATION,
         .target = &p.proto.grace_ns,
         .value_name = "DURATION",
         .help = "time between SIGTERM and SIGKILL when stopping a command (default 2s)"},
        {.name = "retry-delay",
         .kind = CLI_OPTION_DURATION,
         .target = &p.proto.retry_delay_ns,
         .value_name = "DURATION",
         .help = "deliver a failed message again only after DURATION (default 0)"},
        {.name = "cpus",
         .kind = CLI_OPTION_STRING,
         .target = &cpus,
         .value_name = "LIST|near",
         .help = "pin worker i to the i-th CPU of LIST (0-3,8), or all near the queue's memory"},
        {.name = "drain",
         .kind = CLI_OPTION_FLAG,
         .target = &p.proto.drain,
         .help = "end when the queue has no message to claim, instead of waiting for more"},
        {.name = "quiet",
         .letter = 'q',
         .kind = CLI_OPTION_FLAG,
         .target = &p.proto.quiet,
         .help = "no line for each failed message (the summary stays)"},
        CLI_OPTIONS_RECORD_FORMAT(&format),
    };
    /* Everything after the first "--" is the command, never options of work. */
    int split = 1;
    while (split < argc && strcmp(argv[split], "--") != 0)
        split++;
    /* Without "--", a command given anyway must not read as "too many operands". */
    struct cli_verb verb = cli_verb_work;
    if (split == argc)
        verb.max_operands = -1;
    int n, code;
    if (!cli_options_parse(&verb, options, CLI_COUNT_OF(options), split, argv, &n, &code))
        return code;
    if (split + 1 >= argc) {
        cli_error("%s: usage is 'shmq work [options] %s' (see 'shmq work --help')",
                  n > 1 ? "the command must follow '--'" : "no command", cli_verb_work.operands);
        return CLI_EXIT_USAGE;
    }
    if ((code = cli_queue_check_name(argv[1])) != 0 ||
        (code = parse_reply(reply, &p.proto.reply)) != 0)
        return code;
    if (format != CLI_RECORDS_LINES && batch == 1 && !p.proto.output) {
        cli_error("-0, --raw and --jsonl frame the messages of --batch and the records of "
                  "--output: give one of those (see 'shmq work --help')");
        return CLI_EXIT_USAGE;
    }
    if (reply && (batch > 1 || p.proto.output)) {
        cli_error("--reply answers one message with one command's output: it cannot be used "
                  "with --batch or --output (see 'shmq work --help')");
        return CLI_EXIT_USAGE;
    }
    if (p.proto.output && (code = cli_queue_check_name(p.proto.output)) != 0)
        return code;
    if (p.proto.grace_ns == SHMQ_FOREVER) {
        cli_error("--grace must be finite: a command that ignores SIGTERM must be killed");
        return CLI_EXIT_USAGE;
    }
    if (p.proto.timeout_ns == 0)
        p.proto.timeout_ns = SHMQ_FOREVER; /* "--timeout 0": none, as for the waits */
    p.proto.queue = argv[1];
    p.proto.argv = argv + split + 1;
    p.proto.batch = (unsigned)batch;
    p.proto.format = (enum cli_record_format)format;
    if (p.proto.batch_wait_ns == SHMQ_FOREVER) {
        cli_error("--batch-wait must be finite: a batch that never fills would never run");
        return CLI_EXIT_USAGE;
    }
    p.jobs = (unsigned)jobs;
    code = prepare(&p, cpus);
    if (!code)
        code = run_pool(&p);
    if (p.proto.tally)
        munmap(p.proto.tally, sizeof *p.proto.tally);
    free(p.slots);
    free(p.cpus);
    return code;
}

const struct cli_verb cli_verb_work = {
    .name = "work",
    .operands = "NAME -- CMD [ARG...]",
    .min_operands = 1,
    .max_operands = 1,
    .summary = "run a command for each message, with N workers",
    .description =
        "Start N worker processes; each claims a message of NAME, runs CMD with the payload\n"
        "on its standard input and the metadata in its environment, and settles the message\n"
        "by the exit status: 0 acknowledges it; anything else, or --timeout, gives it back,\n"
        "and the queue delivers it again (after --retry-delay) until its max deliveries, then\n"
        "moves it to its dead-letter queue (see 'shmq create --help'; without a limit a message\n"
        "that always fails comes back for ever, and --drain does not end). CMD's standard output\n"
        "and error are work's, unless --reply sends the output to the message's reply-to\n"
        "queue (what 'shmq call' waits on) before the message is acknowledged; a message\n"
        "without a reply-to is acknowledged, its output dropped, with a warning.\n\n"
        "--batch N gives each command up to N messages at once (those ready, or more within\n"
        "--batch-wait), framed on its standard input as lines, or -0, --raw, --jsonl; then\n"
        "exit 0 acknowledges them all and anything else nacks them all (each counts a\n"
        "delivery). A batch's output is collected and written to standard output in one piece\n"
        "after the command succeeded (a failed batch's output is dropped: it runs again), so\n"
        "outputs of concurrent workers never mix. SHMQ_BATCH says how many messages came; the\n"
        "per-message variables below are not set. --output QUEUE pushes each record of the\n"
        "output (in the same framing) to QUEUE instead, with the correlation id of the input\n"
        "(record i of a batch gets message i's), before acknowledging; a record that cannot\n"
        "be pushed fails the job.\n\n"
        "The environment: SHMQ_QUEUE, SHMQ_WORKER (0 to N-1), SHMQ_ID, SHMQ_DELIVERIES (1 on\n"
        "the first delivery), and when the message has them SHMQ_TYPE, SHMQ_CORRELATION_ID,\n"
        "SHMQ_REPLY_TO and SHMQ_TIMESTAMP_NS. The payload is given as it is, without a\n"
        "newline added. CMD runs in a process group of its own and dies with its worker;\n"
        "--timeout sends SIGTERM to the group, then SIGKILL after --grace.\n\n"
        "Ctrl-C, SIGTERM or SIGHUP stop the workers taking messages and let the commands that\n"
        "run finish; a second one stops those too and gives their messages back as never\n"
        "delivered (delivery counts unchanged, first in line again). A worker\n"
        "killed by a signal is started again (what it held goes back to the queue). At the\n"
        "end a summary goes to stderr: done, failed, retried, timed out; on a terminal a\n"
        "progress line shows meanwhile. Exit status: as for a signal (130 for Ctrl-C); with\n"
        "--drain 0 when every command succeeded and 1 otherwise; 127 when CMD is not found,\n"
        "126 when it cannot be run; 3 or 4 when NAME cannot be opened.\n\n"
        "--cpus pins worker i, and the commands it runs, to the i-th CPU of a list (taken\n"
        "round), or with 'near' every worker to the CPUs of the queue's NUMA node.",
    .run = run,
};
