/*
 * suspend.c - the calls that suspend the calling task on their own: tr_await, tr_sleep,
 * tr_yield, and the task outcome calls tr_fail and tr_task_error.
 *
 * tr_await and tr_sleep are waits like any other (wait.c); tr_yield only goes to the back of
 * the run queue (fiber.h). Cancellation is sticky: once requested, every suspension returns
 * -ECANCELED at once, because C code cannot be unwound the way asyncio throws
 * CancelledError; the task is expected to return.
 */
#include "wait.h"

#include <errno.h>

/* Would `self` waiting for `target` close a cycle of awaits? Only tasks still suspended in
 * their tr_await count: one woken (timed out, cancelled) but not yet run still has
 * `awaiting` set, and will not wait again. */
static bool closes_cycle(const tr_task *self, const tr_task *target) {
    for (const tr_task *t = target; t;
         t = atomic_load_explicit(&((tr_task *)t)->awaiting, memory_order_relaxed)) {
        if (t == self)
            return true;
        if (atomic_load_explicit(&t->state, memory_order_relaxed) != TASK_SUSPENDED)
            return false;
    }
    return false;
}

static int await_there(void *p) {
    struct hop_args *h = p;
    return tr_await(h->a, h->b);
}

TR_EXPORT int tr_await(tr_task *t, void **result) {
    if (!t)
        return -EINVAL;
    struct tr_loop *loop;
    tr_task *self = calling_task_on(t->loop, &loop);
    if (!self) {
        /* A task of another loop: its end is filed and fired there, so wait there. */
        return hop_call(t->loop, await_there, HOP_ARGS(t, result));
    }
    task_check(t, "tr_await");
    if (t == self)
        return -EDEADLK; /* asyncio: "Task cannot await on itself" */
    if (atomic_load_explicit(&t->state, memory_order_relaxed) == TASK_DONE)
        return task_outcome(t, result);
    int rc = wait_admit(self);
    if (rc < 0)
        return rc;
    if (closes_cycle(self, t))
        return -EDEADLK;

    /* Hold t while we wait: the caller's own reference may be dropped meanwhile (a task
     * from a snapshot, or released by another task). */
    atomic_fetch_add_explicit(&t->refs, 1, memory_order_relaxed);
    struct waiter w;
    waiter_init(&w, loop, self, WAIT_TASK, t);
    wq_push(&t->done, &w);
    atomic_store_explicit(&self->awaiting, t, memory_order_relaxed);
    rc = wait_block(&w);
    atomic_store_explicit(&self->awaiting, NULL, memory_order_relaxed);
    if (rc == 0)
        rc = task_outcome(t, result);
    task_unref(t);
    return rc;
}

/* In parentheses: taskring.h may make tr_yield() a macro for its inline fast path. */
TR_EXPORT int(tr_yield)(void) {
    struct tr_loop *loop;
    tr_task *self = calling_task(&loop);
    if (!self)
        return -EPERM;
    loop->library_yields++; /* tests see how often the inline path let go */
    if (self->cancel_requested && (!self->shield || self->cancel_forced))
        return -ECANCELED;
    return fiber_yield(loop, self);
}

TR_EXPORT int tr_sleep(uint64_t ns) {
    if (ns == 0)
        return tr_yield(); /* never through a kernel timer: that costs ~17 us */
    struct tr_loop *loop;
    tr_task *self = calling_task(&loop);
    if (!self)
        return -EPERM;
    int rc = wait_admit(self);
    if (rc < 0)
        return rc;
    struct waiter w;
    waiter_init(&w, loop, self, WAIT_SLEEP, NULL);
    uint64_t deadline = deadline_after(loop_clock_ns(), ns);
    if (!w.timer_at || deadline < w.timer_at) {
        w.timer_at = deadline; /* the sleep ends first: its end is no error */
        w.timer_result = 0;
    }
    return wait_block(&w);
}

/* ---- outcomes ------------------------------------------------------------------------------ */

TR_EXPORT void *tr_fail(int err) {
    struct tr_loop *loop;
    tr_task *self = calling_task(&loop);
    if (!self) {
        errno = EPERM;
        return NULL;
    }
    /* A failure must never read as success: anything but a negative errno is -EINVAL. */
    if (err >= 0 || err < -4095)
        err = -EINVAL;
    atomic_store_explicit(&self->exit_code, err, memory_order_relaxed);
    return NULL;
}

TR_EXPORT int tr_task_error(const tr_task *ct) {
    if (!ct)
        return -EINVAL;
    tr_task *t = (tr_task *)ct; /* marking the error seen is bookkeeping, not a change */
    /* Acquire: pairs with task_finish's release of DONE, which follows the exit code. */
    if (atomic_load_explicit(&t->state, memory_order_acquire) != TASK_DONE)
        return -EBUSY;
    return task_take_exit_code(t);
}
