/*
 * fiber.c - switching the CPU between tasks.
 *
 * Owns: the jump from one context to the next, a task's first entry and last exit, and the
 * rule for choosing what runs next. Tasks switch directly to one another (one jump_fcontext
 * per switch); only when a turn ends or nothing is runnable does control go back to the
 * scheduler context in loop.c, which polls io_uring and the timers on the thread's own stack.
 *
 * Every jump carries the task we left (NULL for the scheduler) as its data word. Whoever
 * resumes records where that task stopped (its fcontext) and, if it had finished, gives its
 * stack back: a finished task cannot free the stack it is still running on.
 */
#include "internal.h"
#include "sanitizer.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

/* At least this many dispatches per turn before the scheduler polls again, so two tasks
 * ping-ponging with tr_yield do not pay for a poll on every switch. */
enum { MIN_TURN = 64 };

/* What the resumed side does about the context it interrupted. */
static void after_switch(struct tr_loop *loop, transfer_t from) {
    tr_task *prev = from.data;
    if (!prev) {
        loop->sched_ctx = from.fctx;
        return;
    }
    if (atomic_load_explicit(&prev->state, memory_order_relaxed) != TASK_DONE) {
        prev->ctx = from.fctx;
        return;
    }
    /* prev has finished and will never run again: recycle its stack, drop the runtime's
     * reference that kept the record alive while it could still run. */
    san_fiber_destroy(prev);
    stack_put(&loop->stacks, prev->stack);
    prev->stack = NULL;
    task_unref(prev);
}

static void task_entry(transfer_t from) {
    struct tr_loop *loop = tr_tls_loop;
    tr_task *self = loop->current;
    san_after_switch(loop, self, from.data == NULL);
    after_switch(loop, from);

    void *result = self->fn(self->arg);

    task_finish(loop, self, result);
    /* Leave for good: the next context releases this stack (after_switch). */
    fiber_suspend(loop);
    abort(); /* unreachable: nothing resumes a finished task */
}

/* Give `to` its stack and initial context the first time it runs. */
static bool prepare_first_run(struct tr_loop *loop, tr_task *to) {
    to->stack = stack_get(&loop->stacks);
    if (!to->stack)
        return false;
    to->ctx = make_fcontext(to->stack->lo + to->stack->size, to->stack->size, task_entry);
    san_fiber_create(to);
    return true;
}

static void switch_to(struct tr_loop *loop, tr_task *from, tr_task *to) {
    bool from_done = from && atomic_load_explicit(&from->state, memory_order_relaxed) == TASK_DONE;
    fcontext_t target = loop->sched_ctx;
    if (to) {
        atomic_store_explicit(&to->state, TASK_RUNNING, memory_order_relaxed);
        to->wait = WAIT_NONE;
        target = to->ctx;
    }
    loop->current = to;
    san_before_switch(loop, from, to, from_done);
    transfer_t back = jump_fcontext(target, from);
    /* Resumed: `from` runs again. */
    san_after_switch(loop, from, back.data == NULL);
    after_switch(loop, back);
}

/*
 * Next task to run in this turn, or NULL to go back to the scheduler. Tasks cancelled
 * before they ever ran are finished here, without a stack. A task whose stack cannot be
 * allocated finishes with -ENOMEM instead of running.
 */
static tr_task *pick_next(struct tr_loop *loop) {
    while (loop->turn_left > 0) {
        tr_task *t = runq_pop(&loop->runq);
        if (!t)
            return NULL;
        uint8_t state = atomic_load_explicit(&t->state, memory_order_relaxed);
        if (state == TASK_SCHEDULED) {
            if (t->cancel_requested) {
                task_finish(loop, t, NULL);
                task_unref(t);
                continue;
            }
            if (!prepare_first_run(loop, t)) {
                atomic_store_explicit(&t->exit_code, -ENOMEM, memory_order_relaxed);
                task_finish(loop, t, NULL);
                task_unref(t);
                continue;
            }
        }
        loop->turn_left--;
        return t;
    }
    return NULL;
}

int fiber_suspend(struct tr_loop *loop) {
    tr_task *self = loop->current;
    tr_task *next = pick_next(loop);
    if (next == self) {
        atomic_store_explicit(&self->state, TASK_RUNNING, memory_order_relaxed);
        self->wait = WAIT_NONE;
    } else {
        switch_to(loop, self, next);
    }
    return self->wake_result;
}

void fiber_wake(struct tr_loop *loop, tr_task *t, int result) {
    t->wake_result = result;
    atomic_store_explicit(&t->state, TASK_READY, memory_order_relaxed);
    runq_push(&loop->runq, t);
}

void fiber_run_turn(struct tr_loop *loop) {
    size_t n = loop->runq.len;
    loop->turn_left = n > MIN_TURN ? (unsigned)n : MIN_TURN;
    tr_task *next = pick_next(loop);
    if (next)
        switch_to(loop, NULL, next);
}
