/*
 * wait.c - the calls that suspend the calling task: tr_await, tr_sleep, tr_yield.
 *
 * Each one files the task where its wake-up will come from (another task's waiter list, the
 * timer heap, the run queue), then fiber_suspend()s. Cancellation is sticky: once requested,
 * every suspension returns -ECANCELED at once, because C code cannot be unwound the way
 * asyncio throws CancelledError; the task is expected to return.
 */
#include "fiber.h"

#include <errno.h>

/* Would `self` waiting for `target` close a cycle of awaits? */
static bool closes_cycle(const tr_task *self, const tr_task *target) {
    for (const tr_task *t = target; t; t = t->awaiting)
        if (t == self)
            return true;
    return false;
}

static int finished_result(tr_task *t, void **result) {
    int code = task_take_exit_code(t);
    if (code < 0)
        return code;
    if (result)
        *result = t->result;
    return 0;
}

TR_EXPORT int tr_await(tr_task *t, void **result) {
    if (!t)
        return -EINVAL;
    struct tr_loop *loop;
    tr_task *self = calling_task(&loop);
    if (!self || t->loop != loop)
        return -EPERM;
    task_check(t, "tr_await");
    if (t == self)
        return -EDEADLK; /* asyncio: "Task cannot await on itself" */
    if (atomic_load_explicit(&t->state, memory_order_relaxed) == TASK_DONE)
        return finished_result(t, result);
    if (self->cancel_requested)
        return -ECANCELED;
    if (closes_cycle(self, t))
        return -EDEADLK;

    if (self->scope_deadline_ns && loop_clock_ns() >= self->scope_deadline_ns)
        return -ETIME;

    /* Hold t while we wait: the caller's own reference may be dropped meanwhile (a task
     * from a snapshot, or released by another task). */
    atomic_fetch_add_explicit(&t->refs, 1, memory_order_relaxed);
    self->awaiting = t;
    int rc = task_wait_in_list(loop, self, &t->waiters);
    self->awaiting = NULL; /* cleared by the waker too; not when arming the timer failed */
    if (rc == 0)
        rc = finished_result(t, result);
    task_unref(t);
    return rc;
}

TR_EXPORT int tr_yield(void) {
    struct tr_loop *loop;
    tr_task *self = calling_task(&loop);
    if (!self)
        return -EPERM;
    if (self->cancel_requested)
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
    if (self->cancel_requested)
        return -ECANCELED;
    uint64_t now = loop_clock_ns();
    uint64_t deadline = now + ns < now ? UINT64_MAX : now + ns;
    int on_fire = 0;
    if (self->scope_deadline_ns && self->scope_deadline_ns <= deadline) {
        if (self->scope_deadline_ns <= now)
            return -ETIME;
        deadline = self->scope_deadline_ns; /* the scope ends the sleep early */
        on_fire = -ETIME;
    }
    if (task_timer_arm(loop, self, deadline, on_fire) < 0)
        return -ENOMEM;
    self->wait = WAIT_SLEEP;
    atomic_store_explicit(&self->state, TASK_SUSPENDED, memory_order_relaxed);
    return fiber_suspend(loop);
}
