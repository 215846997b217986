/*
 * fiber.h - the switch between two tasks, inline, because it is the hottest path there is:
 * a tr_yield round trip should cost little more than two bare jump_fcontext calls.
 *
 * Every jump carries a word telling the resumed side what it interrupted: NULL for the
 * scheduler, a task pointer for a task that is still alive, or that pointer with bit 0 set
 * for a task that has just finished, whose stack the resumed side must recycle (a finished
 * task cannot free the stack it is still running on), or with bit 1 set for a task that
 * leaves for another loop (the resumed scheduler hands it over once its context is saved).
 * fiber.c has the slow paths.
 */
#ifndef TR_FIBER_H
#define TR_FIBER_H

#include "internal.h"
#include "sanitizer.h"

#define FIBER_FINISHED ((uintptr_t)1)
#define FIBER_HOPPING ((uintptr_t)2) /* a task leaving for another loop (fiber_hop) */

/* Slow half of fiber_resumed: the scheduler's context, or a finished task's leftovers. */
void fiber_resumed_slow(struct tr_loop *loop, transfer_t from);
/* Slow half of fiber_suspend: first runs, cancelled-before-start tasks, turn ends. */
int fiber_suspend_slow(struct tr_loop *loop, tr_task *self);
/* The scheduler's half: hand the CPU to the run queue for one turn. */
void fiber_run_turn(struct tr_loop *loop);

/* Record where the context we interrupted stopped. */
static inline void fiber_resumed(struct tr_loop *loop, transfer_t from) {
    uintptr_t word = (uintptr_t)from.data;
    if (TR_LIKELY(word && !(word & (FIBER_FINISHED | FIBER_HOPPING))))
        ((tr_task *)word)->ctx = from.fctx;
    else
        fiber_resumed_slow(loop, from);
}

/* Jump from the running task `self` to `to`, which has run before; returns when `self`
 * is resumed. */
static inline void fiber_switch(struct tr_loop *loop, tr_task *self, tr_task *to) {
    atomic_store_explicit(&to->state, TASK_RUNNING, memory_order_relaxed);
    __atomic_store_n(&to->ran_ns, loop->now_ns, __ATOMIC_RELAXED); /* read by dumps */
    loop->current = to;
    san_before_switch(loop, self, to, false);
    transfer_t back = fcontext_switch(to->ctx, self);
    san_after_switch(loop, self, back.data == NULL);
    fiber_resumed(loop, back);
}

/*
 * Suspend the current task, which is already filed wherever its wake-up will come from,
 * and run the next one. Returns the task's wake_result once something resumes it.
 */
static inline int fiber_suspend(struct tr_loop *loop) {
    tr_task *self = loop->current;
    tr_task *next = loop->runq.head;
    if (TR_LIKELY(next && loop->turn_left &&
                  atomic_load_explicit(&next->state, memory_order_relaxed) == TASK_READY)) {
        runq_pop(&loop->runq);
        loop->turn_left--;
        if (next == self)
            atomic_store_explicit(&self->state, TASK_RUNNING, memory_order_relaxed);
        else
            fiber_switch(loop, self, next);
        return self->wake_result;
    }
    return fiber_suspend_slow(loop, self);
}

/*
 * tr_yield's fast path: the running task goes to the back of the run queue and the head
 * runs, in one step (no length bookkeeping: one in, one out). Falls back to the general
 * path when the head has never run, the turn is over, or nothing else is runnable.
 */
static inline int fiber_yield(struct tr_loop *loop, tr_task *self) {
    tr_task *next = loop->runq.head;
    self->wake_result = 0;
    if (TR_LIKELY(next && loop->turn_left &&
                  atomic_load_explicit(&next->state, memory_order_relaxed) == TASK_READY)) {
        loop->turn_left--;
        self->run_next = NULL;
        loop->runq.tail->run_next = self;
        loop->runq.tail = self;
        loop->runq.head = next->run_next;
        atomic_store_explicit(&self->state, TASK_READY, memory_order_relaxed);
        fiber_switch(loop, self, next);
        return self->wake_result;
    }
    fiber_wake(loop, self, 0);
    return fiber_suspend(loop);
}

#endif
