/* The one blocking loop (see block.h). */
#include <errno.h>

#include "block.h"

int shmq__block_wait(const struct shmq__block *b, int64_t deadline)
{
    if (deadline == 0)
        return -EAGAIN;
    int r;
    for (unsigned i = 0; i < b->spins; i++) {
        shmq__wait_spin_pause();
        if ((r = b->attempt(b->ctx)) != -EAGAIN)
            return r;
    }
    int64_t slice_end = shmq__now_mono() + b->slice_ns(b->ctx);
    for (;;) {
        uint32_t key = shmq__wait_prepare(b->ec);
        if ((r = b->attempt(b->ctx)) != -EAGAIN)
            return r; /* the word stays armed: at most one needless wake-up later */
        shmq__count(b->sleeps, 1);
        int slept = shmq__wait_sleep(b->ec, key, slice_end < deadline ? slice_end : deadline);
        if (slept == 0 && b->woken)
            b->woken(b->ctx);
        /* A sleep that timed out (a slice's end or the deadline) found nobody to wake it:
         * the idle duty runs before the last look, so a caller waiting in short timeouts
         * still gets it. */
        if (slept == -ETIMEDOUT && b->idle)
            b->idle(b->ctx);
        if ((r = b->attempt(b->ctx)) != -EAGAIN)
            return r;
        if (slept == -EINTR)
            return -EINTR;
        int64_t now = shmq__now_mono();
        if (now >= deadline)
            return -ETIMEDOUT;
        if (now >= slice_end)
            slice_end = now + b->slice_ns(b->ctx);
    }
}
