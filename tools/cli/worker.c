/* One worker process of `shmq work` (see worker.h). */
#define _GNU_SOURCE /* environ */
#include "worker.h"

#include <errno.h>
#include <pthread.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "cli.h"
#include "clock.h"
#include "command.h"
#include "diag.h"
#include "interrupt.h"
#include "parse.h"
#include "queue.h"
#include "records.h"
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
    ENV_BATCH,
    ENV_VARS,
};

static const char *const env_names[ENV_VARS] = {
    "SHMQ_QUEUE",          "SHMQ_WORKER",   "SHMQ_ID",           "SHMQ_DELIVERIES", "SHMQ_TYPE",
    "SHMQ_CORRELATION_ID", "SHMQ_REPLY_TO", "SHMQ_TIMESTAMP_NS", "SHMQ_BATCH",
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

/* The environment for a job of n messages: with one message, its id, delivery count and
 * metadata; with a batch, SHMQ_BATCH (how many) instead, as the messages differ. */
static char **env_for(struct env *e, const struct cli_worker *w, const struct shmq_msg *m,
                      unsigned n)
{
    size_t at = e->inherited;
    env_set(e, &at, ENV_QUEUE, "%s", w->queue);
    env_set(e, &at, ENV_WORKER, "%u", w->index);
    if (w->batch > 1) {
        env_set(e, &at, ENV_BATCH, "%u", n);
        e->vars[at] = NULL;
        return e->vars;
    }
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
    shmq_t *output;  /* --output, or NULL */
    size_t out_slot; /* its slot size: the largest output record */
    struct shmq_stat st;
    struct env env;
    struct cli_command cmd;
    struct cli_command_result result;
    sigset_t wait_mask;
    bool told_no_reply_to;
    bool tty; /* stderr is a terminal: the parent may be drawing a progress line there */
    /* the job: the messages claimed for one run of the command, in the order claimed */
    struct shmq_msg *held;
    unsigned n;
    struct cli_buffer input; /* --batch: the messages framed, the command's standard input */
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

/* Claim into *m, waiting up to timeout_ns with the signals that wake this worker let in. */
static int claim(struct worker *k, struct shmq_msg *m, int64_t timeout_ns)
{
    sigset_t saved;
    sigprocmask(SIG_SETMASK, &k->wait_mask, &saved);
    int err = stop_level() ? -EINTR : shmq_claim(k->q, m, timeout_ns);
    sigprocmask(SIG_SETMASK, &saved, NULL);
    return err;
}

/*
 * Claim the job: one message, waiting for it as the worker does; with --batch up to N, the
 * others as long as the queue has them at once or, with --batch-wait, until that long after
 * the first. 0 with k->n >= 1, or the error of the first claim.
 */
static int claim_job(struct worker *k)
{
    const struct cli_worker *w = k->w;
    k->n = 0;
    int err = claim(k, &k->held[0], w->drain ? 0 : CLAIM_SLICE_NS);
    if (err)
        return err;
    k->n = 1;
    int64_t deadline = w->batch_wait_ns > 0 ? cli_monotonic_ns() + w->batch_wait_ns : 0;
    while (k->n < w->batch) {
        int64_t left = deadline ? deadline - cli_monotonic_ns() : 0;
        if (left < 0)
            left = 0;
        if (left > CLAIM_SLICE_NS)
            left = CLAIM_SLICE_NS;
        err = stop_level() ? -EINTR : shmq_claim(k->q, &k->held[k->n], left);
        if (err == -ETIMEDOUT && deadline && cli_monotonic_ns() < deadline)
            continue;
        if (err)
            break; /* empty, the deadline, a signal, or a ring that allows one claim */
        k->n++;
    }
    return 0;
}

/* Give back every message of the job as not delivered (shmq_release), oldest first (FIFO:
 * they are first in line again in their order; LIFO: the newest first, the oldest on top). */
static void release_job(struct worker *k)
{
    for (unsigned i = 0; i < k->n; i++) {
        unsigned at = k->st.kind == SHMQ_LIFO ? k->n - 1 - i : i;
        int err = shmq_release(k->q, &k->held[at]);
        if (err)
            say(k, "giving back message %" PRIu64 " failed (%s): closing the queue will",
                k->held[at].id, shmq_strerror(err));
    }
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
                "message %" PRIu64 " has no reply-to: it is acknowledged and its output "
                "dropped (and so are those of other such messages this worker takes)",
                m->id);
        k->told_no_reply_to = true;
    } else if (!k->w->quiet) {
        say(k, "message %" PRIu64 ": the reply to '%s' could not be sent: %s", m->id, m->reply_to,
            err == -EMSGSIZE ? "it is larger than the queue's slots" : shmq_strerror(err));
    }
}

/* Push one output record to --output, waiting while the queue is full; only a second signal
 * stops the wait (the first lets the jobs in hand finish, outputs included). */
static int push_output(struct worker *k, const struct shmq_msg *m)
{
    for (;;) {
        int err = shmq_push_msg(k->output, m, CLAIM_SLICE_NS);
        if (err != -ETIMEDOUT)
            return err;
        if (second_signal())
            return -EINTR;
    }
}

/*
 * --output: split the command's output into records of the work's framing and push each to
 * the output queue. Record i carries the correlation id of the job's message i (of its only
 * message, without --batch) unless a JSON line gives its own. 0, or an error after which
 * the job counts as failed (*why says what; the records pushed before it stay pushed).
 */
static int send_output(struct worker *k, char *why, size_t why_size)
{
    const struct cli_buffer *out = &k->result.out;
    if (k->result.truncated) {
        snprintf(why, why_size, "its output is larger than %zu bytes", k->cmd.capture_max);
        return -EMSGSIZE;
    }
    if (out->len == 0)
        return 0;
    FILE *in = fmemopen(out->data, out->len, "r");
    if (!in) {
        snprintf(why, why_size, "reading its output: %s", strerror(errno));
        return -errno;
    }
    struct cli_records records;
    cli_records_init(&records, in, k->w->format, k->out_slot);
    int err = 0;
    for (unsigned i = 0;; i++) {
        struct cli_record rec;
        int got = cli_records_next(&records, &rec);
        if (got <= 0) {
            if (got < 0) {
                snprintf(why, why_size, "its output cannot go to '%s': %s", k->w->output,
                         records.why);
                err = got;
            }
            break;
        }
        const struct shmq_msg *from = &k->held[k->w->batch > 1 ? i : 0];
        struct shmq_msg m = {
            .data = (void *)rec.data,
            .len = rec.len,
            .timestamp_ns = rec.timestamp_ns,
            .type = rec.type,
            .correlation_id = rec.correlation_id             ? rec.correlation_id
                              : i < k->n || k->w->batch == 1 ? from->correlation_id
                                                             : NULL,
            .reply_to = rec.reply_to,
        };
        if ((err = push_output(k, &m)) != 0) {
            snprintf(why, why_size, "pushing output record %u to '%s' failed: %s", i + 1,
                     k->w->output, err == -EINTR ? "stopped" : shmq_strerror(err));
            break;
        }
    }
    cli_records_free(&records);
    fclose(in);
    return err;
}

/* --batch: write the job's output to standard output in one piece, under the pool's lock,
 * so that the outputs of concurrent workers never mix within a line (or a record). */
static int write_output(struct worker *k)
{
    const struct cli_buffer *out = &k->result.out;
    if (out->len == 0)
        return 0;
    pthread_mutex_t *lock = &k->w->tally->output_lock;
    int locked = pthread_mutex_lock(lock);
    if (locked == EOWNERDEAD) {
        /* A worker died while writing: the lock is consistent, the output is what it is. */
        pthread_mutex_consistent(lock);
        locked = 0;
    }
    int err = 0;
    size_t done = 0;
    while (done < out->len) {
        ssize_t n = write(STDOUT_FILENO, out->data + done, out->len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            err = -errno;
            break;
        }
        done += (size_t)n;
    }
    if (locked == 0)
        pthread_mutex_unlock(lock);
    return err;
}

/* Name the job in messages: "message 42" or "batch of 1000 messages (42 to 1041)". */
static void job_name(const struct worker *k, char *buf, size_t size)
{
    if (k->n == 1)
        snprintf(buf, size, "message %" PRIu64, k->held[0].id);
    else
        snprintf(buf, size, "batch of %u messages (ids %" PRIu64 " to %" PRIu64 ")", k->n,
                 k->held[0].id, k->held[k->n - 1].id);
}

/* Give the job back after a failure, and say so: stopped on a second signal, every message
 * goes back as not delivered (release); failed or timed out, each is nacked (its delivery
 * count goes up, past max_deliveries it is dead-lettered). */
static void give_back(struct worker *k, const char *cause)
{
    const struct cli_worker *w = k->w;
    const struct cli_command_result *r = &k->result;
    struct cli_work_tally *t = w->tally;
    bool stopped = !cause && r->end == CLI_COMMAND_STOPPED;
    char name[96];
    job_name(k, name, sizeof name);
    if (stopped) {
        /* Relaxed: independent tallies (worker.h). */
        atomic_fetch_add_explicit(&t->stopped, k->n, memory_order_relaxed);
        release_job(k);
        if (!w->quiet)
            say(k, "%s: the command was stopped; %s back to the queue, as not delivered", name,
                k->n == 1 ? "it goes" : "they go");
        return;
    }
    bool timed_out = !cause && r->end == CLI_COMMAND_TIMED_OUT;
    unsigned last = 0, failed_back = 0;
    uint32_t deliveries = k->held[0].deliveries;
    for (unsigned i = 0; i < k->n; i++) {
        struct shmq_msg *m = &k->held[i];
        bool is_last = k->st.max_deliveries && m->deliveries >= k->st.max_deliveries;
        int64_t delay = is_last ? 0 : w->retry_delay_ns;
        last += is_last;
        if ((delay ? shmq_nack_delayed(k->q, m, delay) : shmq_nack(k->q, m)) != 0)
            failed_back++;
    }
    atomic_fetch_add_explicit(timed_out ? &t->timed_out : &t->failed, k->n, memory_order_relaxed);
    atomic_fetch_add_explicit(&t->past_limit, last, memory_order_relaxed);
    atomic_fetch_add_explicit(&t->retried, k->n - last, memory_order_relaxed);
    if (w->quiet && !failed_back)
        return;
    char how[320], of[32] = "", then[SHMQ_NAME_MAX + 160], wait[32];
    if (cause)
        snprintf(how, sizeof how, "%s", cause);
    else {
        char ended[96];
        cli_command_end_text(r, ended, sizeof ended);
        snprintf(how, sizeof how, "the command %s", ended);
    }
    if (k->st.max_deliveries)
        snprintf(of, sizeof of, " of %" PRIu32, k->st.max_deliveries);
    const char *it = k->n == 1 ? "it" : "they";
    if (failed_back)
        snprintf(then, sizeof then, "giving %u back failed: closing the queue will", failed_back);
    else if (last == 0 && w->retry_delay_ns) {
        cli_format_duration(w->retry_delay_ns, wait, sizeof wait);
        snprintf(then, sizeof then, "%s will be delivered again in %s", it, wait);
    } else if (last == 0)
        snprintf(then, sizeof then, "%s will be delivered again", it);
    else if (last < k->n)
        snprintf(then, sizeof then, "%u will be delivered again, %u were at their last delivery",
                 k->n - last, last);
    else if (k->st.dead_letter[0])
        snprintf(then, sizeof then, "that was %s last delivery: %s %s to '%s'",
                 k->n == 1 ? "its" : "their", it, k->n == 1 ? "goes" : "go", k->st.dead_letter);
    else
        snprintf(then, sizeof then, "that was %s last delivery: %s %s dropped",
                 k->n == 1 ? "its" : "their", it, k->n == 1 ? "is" : "are");
    say(k, "%s (delivery %" PRIu32 "%s): %s; %s", name, deliveries, of, how, then);
}

/* The job's input: the payload of its one message as it is, or with --batch every message
 * framed as the work's format says. */
static int job_input(struct worker *k, const void **data, size_t *len)
{
    if (k->w->batch == 1) {
        *data = k->held[0].data;
        *len = k->held[0].len;
        return 0;
    }
    char *bytes = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&bytes, &size);
    if (!f)
        return -ENOMEM;
    int err = 0;
    for (unsigned i = 0; i < k->n && !err; i++)
        err = cli_record_write(f, k->w->format, &k->held[i]);
    if (fclose(f) != 0 && !err)
        err = -ENOMEM;
    k->input.len = 0;
    if (!err)
        err = cli_buffer_append(&k->input, bytes, size);
    free(bytes);
    *data = k->input.data;
    *len = size;
    return err;
}

/* Run the command on the job and settle it. 0, or the exit code of a failure that ends the
 * worker. */
static int handle(struct worker *k)
{
    const struct cli_worker *w = k->w;
    struct cli_work_tally *t = w->tally;
    const void *input;
    size_t len;
    int err = job_input(k, &input, &len);
    char **envp = env_for(&k->env, w, k->held, k->n);
    /* Relaxed: a gauge for the progress line only. */
    atomic_fetch_add_explicit(&t->running, 1, memory_order_relaxed);
    if (!err)
        err = cli_command_run(&k->cmd, envp, input, len, &k->result);
    atomic_fetch_sub_explicit(&t->running, 1, memory_order_relaxed);
    if (err) {
        /* Not the messages' fault: give them back as they were and stop (the parent stops
         * the others). */
        release_job(k);
        say(k, "cannot run '%s': %s", w->argv[0], strerror(-err));
        return err == -ENOENT ? 127 : err == -EACCES || err == -ENOEXEC ? 126 : CLI_EXIT_FAILURE;
    }
    if (k->result.end != CLI_COMMAND_EXITED || k->result.status != 0) {
        give_back(k, NULL);
        return 0;
    }
    char why[512];
    if (w->output && (err = send_output(k, why, sizeof why)) != 0) {
        if (err == -EINTR) {
            k->result.end = CLI_COMMAND_STOPPED;
            give_back(k, NULL);
        } else {
            give_back(k, why);
        }
        return 0;
    }
    if (w->reply != CLI_WORK_REPLY_NONE)
        reply(k, &k->held[0]);
    else if (!w->output && w->batch > 1 && (err = write_output(k)) != 0 && err != -EPIPE)
        say(k, "writing the output of the command: %s", strerror(-err));
    for (unsigned i = 0; i < k->n; i++)
        if ((err = shmq_ack(k->q, &k->held[i])) != 0)
            return cli_fail(err, "acknowledging message %" PRIu64 " of '%s'", k->held[i].id,
                            w->queue);
    atomic_fetch_add_explicit(&t->done, k->n, memory_order_relaxed);
    return 0;
}

/* The largest output: a reply or an output record must fit a slot; a batch's output goes to
 * standard output in one piece and may be large. */
#define OUTPUT_MAX ((size_t)1 << 30)

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
    if (w->output) {
        struct shmq_stat ost;
        if ((code = cli_queue_open(w->output, 0, &k->output)) != 0 ||
            (code = cli_queue_stat(k->output, &ost)) != 0)
            return code;
        k->out_slot = ost.slot_size;
    }
    if ((err = env_init(&k->env)) != 0)
        return cli_fail_system(err, "worker %u", w->index);
    if (!(k->held = calloc(w->batch, sizeof *k->held)))
        return cli_fail_system(-ENOMEM, "worker %u", w->index);
    bool to_queue = w->reply != CLI_WORK_REPLY_NONE || w->output;
    k->cmd = (struct cli_command){
        .argv = w->argv,
        .timeout_ns = w->timeout_ns,
        .grace_ns = w->grace_ns,
        /* A batch's output is collected so that it reaches standard output whole. */
        .capture = to_queue || w->batch > 1,
        /* Whether a reply fits is the reply queue's to say (shmq_reply); the buffer grows
         * only as far as the output goes. */
        .capture_max = to_queue ? SHMQ_SLOT_SIZE_MAX * (size_t)w->batch : OUTPUT_MAX,
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
        int err = claim_job(&k);
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
            code = handle(&k);
        }
    }
    if (k.output)
        shmq_close(k.output);
    if (k.q)
        shmq_close(k.q);
    free(k.env.vars);
    free(k.held);
    cli_buffer_free(&k.input);
    cli_buffer_free(&k.result.out);
    return code;
}
