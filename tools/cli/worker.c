/* One worker process of `shmq work` (see worker.h). */
#define _GNU_SOURCE /* environ */
#include "worker.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "cli.h"
#include "command.h"
#include "diag.h"
#include "interrupt.h"
#include "parse.h"
#include "queue.h"
#include "shmq.h"

/* A claim waits at most this long before the worker looks at its signals again. The wait
 * ends early on a signal (-EINTR); the slice only bounds the delay of a signal that comes
 * just before the wait starts. */
#define CLAIM_SLICE_NS (500 * 1000000LL)

/* ---- the command's environment ---- */

/* The variables a worker sets for each message; the caller's own values of them are dropped,
 * so that a variable is set exactly when the message has the field. */
enum env_var {
    ENV_QUEUE,
    ENV_WORKER,
    ENV_ID,
    ENV_DELIVERIES,
    ENV_TYPE,
    ENV_CORRELATION_ID,
    ENV_REPLY_TO,
    ENV_TIMESTAMP_NS,
    ENV_VARS,
};

static const char *const env_names[ENV_VARS] = {
    "SHMQ_QUEUE", "SHMQ_WORKER",         "SHMQ_ID",       "SHMQ_DELIVERIES",
    "SHMQ_TYPE",  "SHMQ_CORRELATION_ID", "SHMQ_REPLY_TO", "SHMQ_TIMESTAMP_NS",
};

struct env {
    char **vars; /* the inherited ones, then ours, then NULL */
    size_t inherited;
    char own[ENV_VARS][SHMQ_NAME_MAX + SHMQ_META_STR_MAX + 32];
};

static bool is_own(const char *entry)
{
    for (int i = 0; i < ENV_VARS; i++) {
        size_t n = strlen(env_names[i]);
        if (strncmp(entry, env_names[i], n) == 0 && entry[n] == '=')
            return true;
    }
    return false;
}

static int env_init(struct env *e)
{
    size_t n = 0;
    for (char **p = environ; *p; p++)
        n++;
    if (!(e->vars = calloc(n + ENV_VARS + 1, sizeof *e->vars)))
        return -ENOMEM;
    e->inherited = 0;
    for (char **p = environ; *p; p++)
        if (!is_own(*p))
            e->vars[e->inherited++] = *p;
    return 0;
}

static void env_set(struct env *e, size_t *at, enum env_var v, const char *fmt, ...)
    CLI_PRINTF(4, 5);
static void env_set(struct env *e, size_t *at, enum env_var v, const char *fmt, ...)
{
    int n = snprintf(e->own[v], sizeof e->own[v], "%s=", env_names[v]);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->own[v] + n, sizeof e->own[v] - (size_t)n, fmt, ap);
    va_end(ap);
    e->vars[(*at)++] = e->own[v];
}

static char **env_for(struct env *e, const struct cli_worker *w, const struct shmq_msg *m)
{
    size_t at = e->inherited;
    env_set(e, &at, ENV_QUEUE, "%s", w->queue);
    env_set(e, &at, ENV_WORKER, "%u", w->index);
    env_set(e, &at, ENV_ID, "%" PRIu64, m->id);
    env_set(e, &at, ENV_DELIVERIES, "%" PRIu32, m->deliveries);
    if (m->type)
        env_set(e, &at, ENV_TYPE, "%s", m->type);
    if (m->correlation_id)
        env_set(e, &at, ENV_CORRELATION_ID, "%s", m->correlation_id);
    if (m->reply_to)
        env_set(e, &at, ENV_REPLY_TO, "%s", m->reply_to);
    if (m->timestamp_ns)
        env_set(e, &at, ENV_TIMESTAMP_NS, "%" PRId64, m->timestamp_ns);
    e->vars[at] = NULL;
    return e->vars;
}

/* ---- one worker ---- */

struct worker {
    const struct cli_worker *w;
    shmq_t *q;
    struct shmq_stat st;
    struct env env;
    struct cli_command cmd;
    struct cli_command_result result;
    sigset_t wait_mask;
    bool told_no_reply_to;
    bool tty; /* stderr is a terminal: the parent may be drawing a progress line there */
};

/* How far to stop: the SIGTERMs this worker received, or what the parent asks for. */
static const struct cli_work_tally *tally;

static unsigned stop_level(void)
{
    /* Relaxed: the word publishes nothing else, and it is read again after every wake-up
     * (the parent's SIGTERM comes after its store). */
    unsigned asked = atomic_load_explicit(&tally->stop, memory_order_relaxed);
    unsigned own = cli_interrupt_count();
    return own > asked ? own : asked;
}

static bool second_signal(void)
{
    return stop_level() >= 2;
}

static void on_child(int sig)
{
    (void)sig; /* only to wake ppoll: SIGCHLD's default action would discard the signal */
}

/* Signals as worker.h says; *wait_mask is the mask to wait with. */
static void signals_setup(sigset_t *wait_mask)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    sa.sa_handler = on_child;
    sigaction(SIGCHLD, &sa, NULL);
    /* SIGTERM keeps the handler that counts it (interrupt.h), inherited from the parent. */
    sigset_t block;
    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGCHLD);
    sigprocmask(SIG_BLOCK, &block, wait_mask);
    sigdelset(wait_mask, SIGTERM);
    sigdelset(wait_mask, SIGCHLD);
}

/* A line about one message on stderr, over the parent's progress line if there is one. */
static void say(const struct worker *k, const char *fmt, ...) CLI_PRINTF(2, 3);
static void say(const struct worker *k, const char *fmt, ...)
{
    char text[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    if (k->tty)
        fputs("\r\033[K", stderr);
    cli_error("%s", text);
}

static int claim(struct worker *k, struct shmq_msg *m)
{
    sigset_t saved;
    sigprocmask(SIG_SETMASK, &k->wait_mask, &saved);
    int err = stop_level() ? -EINTR : shmq_claim(k->q, m, k->w->drain ? 0 : CLAIM_SLICE_NS);
    sigprocmask(SIG_SETMASK, &saved, NULL);
    return err;
}

/* Send the command's output as the reply to m. Done or not, the message is acknowledged
 * afterwards: the work was done, and doing it again would not make the reply fit. */
static void reply(struct worker *k, const struct shmq_msg *m)
{
    const struct cli_buffer *out = &k->result.out;
    size_t len = out->len;
    if (k->w->reply == CLI_WORK_REPLY_LINE && len > 0 && out->data[len - 1] == '\n')
        len--;
    int err = k->result.truncated ? -EMSGSIZE : shmq_reply(k->q, m, out->data, len);
    if (err == 0)
        return;
    atomic_fetch_add_explicit(&k->w->tally->unanswered, 1, memory_order_relaxed);
    if (!m->reply_to) {
        if (!k->told_no_reply_to && !k->w->quiet)
            say(k,
                "message %" PRIu64 " has no reply-to: its reply is dropped (and so are those "
                "of other such messages this worker takes)",
                m->id);
        k->told_no_reply_to = true;
    } else if (!k->w->quiet) {
        say(k, "message %" PRIu64 ": the reply to '%s' could not be sent: %s", m->id, m->reply_to,
            err == -EMSGSIZE ? "it is larger than the queue's slots" : shmq_strerror(err));
    }
}

/* Give m back after a failure, and say so. */
static void give_back(struct worker *k, struct shmq_msg *m)
{
    const struct cli_worker *w = k->w;
    const struct cli_command_result *r = &k->result;
    struct cli_work_tally *t = w->tally;
    bool last = k->st.max_deliveries && m->deliveries >= k->st.max_deliveries;
    bool stopped = r->end == CLI_COMMAND_STOPPED;
    int64_t delay = last || stopped ? 0 : w->retry_delay_ns;
    uint64_t id = m->id;
    uint32_t deliveries = m->deliveries;
    /* Relaxed: independent tallies (worker.h). */
    if (stopped)
        atomic_fetch_add_explicit(&t->stopped, 1, memory_order_relaxed);
    else
        atomic_fetch_add_explicit(r->end == CLI_COMMAND_TIMED_OUT ? &t->timed_out : &t->failed, 1,
                                  memory_order_relaxed);
    if (!stopped)
        atomic_fetch_add_explicit(last ? &t->past_limit : &t->retried, 1, memory_order_relaxed);
    int err = delay ? shmq_nack_delayed(k->q, m, delay) : shmq_nack(k->q, m);
    if (w->quiet && !err)
        return;
    char how[96], of[32] = "", then[SHMQ_NAME_MAX + 128], wait[32];
    cli_command_end_text(r, how, sizeof how);
    if (k->st.max_deliveries)
        snprintf(of, sizeof of, " of %" PRIu32, k->st.max_deliveries);
    if (err)
        snprintf(then, sizeof then, "giving it back failed (%s): closing the queue will",
                 shmq_strerror(err));
    else if (stopped)
        snprintf(then, sizeof then, "it goes back to the queue");
    else if (!last && delay) {
        cli_format_duration(delay, wait, sizeof wait);
        snprintf(then, sizeof then, "it will be delivered again in %s", wait);
    } else if (!last)
        snprintf(then, sizeof then, "it will be delivered again");
    else if (k->st.dead_letter[0])
        snprintf(then, sizeof then, "that was its last delivery: it goes to '%s'",
                 k->st.dead_letter);
    else
        snprintf(then, sizeof then, "that was its last delivery: it is dropped");
    say(k, "message %" PRIu64 " (delivery %" PRIu32 "%s): the command %s; %s", id, deliveries, of,
        how, then);
}

/* Run the command on m and settle m. 0, or the exit code of a failure that ends the worker. */
static int handle(struct worker *k, struct shmq_msg *m)
{
    const struct cli_worker *w = k->w;
    struct cli_work_tally *t = w->tally;
    /* Relaxed: a gauge for the progress line only. */
    atomic_fetch_add_explicit(&t->running, 1, memory_order_relaxed);
    int err = cli_command_run(&k->cmd, env_for(&k->env, w, m), m->data, m->len, &k->result);
    atomic_fetch_sub_explicit(&t->running, 1, memory_order_relaxed);
    if (err) {
        /* Not the message's fault: give it back and stop (the parent stops the others). */
        shmq_nack(k->q, m);
        say(k, "cannot run '%s': %s", w->argv[0], strerror(-err));
        return err == -ENOENT ? 127 : err == -EACCES || err == -ENOEXEC ? 126 : CLI_EXIT_FAILURE;
    }
    if (k->result.end == CLI_COMMAND_EXITED && k->result.status == 0) {
        if (w->reply != CLI_WORK_REPLY_NONE)
            reply(k, m);
        if ((err = shmq_ack(k->q, m)) != 0)
            return cli_fail(err, "acknowledging message %" PRIu64 " of '%s'", m->id, w->queue);
        atomic_fetch_add_explicit(&t->done, 1, memory_order_relaxed);
        return 0;
    }
    give_back(k, m);
    return 0;
}

static int setup(struct worker *k, const struct cli_worker *w)
{
    k->w = w;
    tally = w->tally;
    k->tty = isatty(STDERR_FILENO) != 0;
    signals_setup(&k->wait_mask);
    /* The parent may die before this: then no SIGTERM will come from it. */
    if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || getppid() != w->parent)
        raise(SIGTERM); /* blocked: it ends the first wait */
    int err;
    if (w->cpu >= 0 && (err = shmq_pin_cpu(w->cpu)) != 0)
        return cli_fail(err, "cannot pin worker %u to CPU %d", w->index, w->cpu);
    int code = cli_queue_open(w->queue, 0, &k->q);
    if (code)
        return code;
    if ((code = cli_queue_stat(k->q, &k->st)) != 0)
        return code;
    if ((err = env_init(&k->env)) != 0)
        return cli_fail_system(err, "worker %u", w->index);
    k->cmd = (struct cli_command){
        .argv = w->argv,
        .timeout_ns = w->timeout_ns,
        .grace_ns = w->grace_ns,
        .capture = w->reply != CLI_WORK_REPLY_NONE,
        /* Whether a reply fits is the reply queue's to say (shmq_reply); the buffer grows
         * only as far as the output goes. */
        .capture_max = SHMQ_SLOT_SIZE_MAX,
        .wait_mask = &k->wait_mask,
        .stop = second_signal,
    };
    return 0;
}

int cli_worker_run(const struct cli_worker *w)
{
    struct worker k;
    memset(&k, 0, sizeof k);
    int code = setup(&k, w);
    while (!code && stop_level() == 0) {
        struct shmq_msg m;
        int err = claim(&k, &m);
        if (err == -ETIMEDOUT || err == -EINTR)
            continue;
        if (err == -EAGAIN)
            break; /* --drain: nothing to claim */
        if (err == -EBUSY) {
            cli_error("another process consumes from '%s', which takes one consumer at a time",
                      w->queue);
            code = CLI_EXIT_FAILURE;
        } else if (err) {
            code = cli_fail(err, "claiming from '%s'", w->queue);
        } else {
            code = handle(&k, &m);
        }
    }
    if (k.q)
        shmq_close(k.q);
    free(k.env.vars);
    cli_buffer_free(&k.result.out);
    return code;
}
