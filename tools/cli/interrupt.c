/* Signals recorded instead of obeyed at once, and waits cut into slices (see interrupt.h). */
#include "interrupt.h"

#include <errno.h>
#include <signal.h>
#include <string.h>

#include "clock.h"
#include "shmq.h"

static volatile sig_atomic_t received;
static volatile sig_atomic_t count;

static void record_signal(int sig)
{
    if (!received)
        received = sig;
    if (count < 1000)
        count++;
}

void cli_interrupt_install(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = record_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; /* no SA_RESTART: a blocked read returns EINTR and the loop sees the signal */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

int cli_interrupted(void)
{
    return received;
}

unsigned cli_interrupt_count(void)
{
    return (unsigned)count;
}

int cli_wait_sliced(cli_wait_op op, void *ctx, int64_t timeout_ns)
{
    /* First without waiting: an operation that need not wait (the common case: room in the
     * queue, a message ready) then reads no clock, here or in the library. */
    int err = op(ctx, 0);
    if (timeout_ns <= 0 || err != -EAGAIN)
        return err;
    if (cli_interrupted())
        return -EINTR;
    int64_t start = cli_monotonic_ns();
    for (;;) {
        int64_t left =
            timeout_ns == SHMQ_FOREVER ? SHMQ_FOREVER : timeout_ns - (cli_monotonic_ns() - start);
        if (left <= 0)
            return -ETIMEDOUT;
        err = op(ctx, left < CLI_WAIT_SLICE_NS ? left : CLI_WAIT_SLICE_NS);
        if (err != -ETIMEDOUT && err != -EAGAIN)
            return err;
        if (cli_interrupted())
            return -EINTR;
    }
}
