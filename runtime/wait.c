/*
 * wait.c - the one wait primitive: how a task waits, is woken, is cancelled, times out.
 *
 * Every suspension except tr_yield is a waiter (internal.h) on the waiting task's stack:
 * tr_await and the combinators file it in the awaited task's `done` queue, tr_sleep arms the
 * task's timer only, an I/O call hangs it off its operation record, a listener, lock, queue or
 * event keeps a FIFO wait_queue of them. Whatever the source, the same four things happen:
 *
 *   admit      before filing: a pending cancellation or an ended deadline scope refuses
 *   block      the task suspends; its timer is armed when the wait has a deadline
 *   fire       the source wakes it with a result (unlinked, timer disarmed, made runnable)
 *   interrupt  cancellation or the timer: the source's on_interrupt, or fire with the error
 *
 * Owned results: a source that hands the woken task something (an accepted fd, a lock, a
 * semaphore permit, a queue item) fires with `owned`; a cancellation that comes after the
 * wake-up but before the task runs then leaves the result alone, and the task sees
 * -ECANCELED at its next suspension instead (cancellation is sticky). Without `owned` the
 * woken wait returns -ECANCELED, as asyncio raises CancelledError into a task whose future
 * completed but which has not resumed yet.
 *
 * A waiter knows its loop: waking a task of another loop is waiter_fire's business alone.
 */
#include "wait.h"

#include <errno.h>

int wait_block_timed(struct waiter *w) {
    tr_task *self = w->task;
    struct tr_loop *loop = w->loop;
    if (task_timer_arm(loop, self, w->timer_at) < 0) {
        if (w->queue)
            wq_unlink(w);
        return -ENOMEM;
    }
    wait_publish(self, w);
    int rc = fiber_suspend(loop);
    wait_unpublish(self);
    return rc;
}

void waiter_interrupt(struct waiter *w, int err) {
    if (w->fired)
        return;
    if (w->on_interrupt)
        w->on_interrupt(w, err);
    else
        waiter_fire(w, err, false);
}

void wait_timer_expired(tr_task *t) {
    struct waiter *w = t->waiter; /* loop.c has taken t out of the timers */
    if (!w)
        return;
    if (w->timer_result == 0)
        waiter_fire(w, 0, false); /* a sleep that ran its course */
    else
        waiter_interrupt(w, w->timer_result);
}

void wait_cancel(tr_task *t, bool force) {
    if (t->shield && !force)
        return; /* held back: the first wait after the shield ends returns it */
    struct waiter *w = t->waiter;
    switch (atomic_load_explicit(&t->state, memory_order_relaxed)) {
    case TASK_SUSPENDED:
        if (w)
            waiter_interrupt(w, -ECANCELED);
        break;
    case TASK_READY:
        /* Woken, not yet running. A yield (no waiter), or a wake-up that hands nothing
         * over, returns -ECANCELED instead; an owned result is kept. */
        if (!w || !w->owned)
            t->wake_result = -ECANCELED;
        break;
    default: /* SCHEDULED: never runs (fiber.c). RUNNING: its next suspension. */
        break;
    }
}
