/*
 * wait.h - the wait primitive's hot half, inline: filing a waiter, blocking without a timer,
 * and firing. A lock hand-over or a queue ping-pong is one wait and one fire plus two switches,
 * measured against a tr_yield round trip, so these must cost a few stores each. The rest
 * (timers, interruption, cancellation) is in wait.c; the model is described there.
 */
#ifndef TR_WAIT_H
#define TR_WAIT_H

#include "fiber.h"

#include <errno.h>

/* A fresh waiter for the calling task `self`: bounded by its deadline scope, in no queue.
 * Field by field: a compound literal would clear the whole struct with a string store. */
static inline void waiter_init(struct waiter *w, struct tr_loop *loop, tr_task *self,
                               enum wait_kind kind, const void *object) {
    w->prev = w->next = NULL;
    w->queue = NULL;
    w->task = self;
    w->loop = loop;
    w->object = object;
    w->value = NULL;
    w->on_fire = NULL;
    w->on_interrupt = NULL;
    w->timer_at = self->scope_deadline_ns;
    w->timer_result = -ETIME;
    w->kind = (uint8_t)kind;
    w->fired = false;
    w->owned = false;
}

/* Is a cancellation pending that no shield holds back? */
static inline bool wait_cancel_pending(const tr_task *self) {
    return TR_UNLIKELY(self->cancel_requested && (!self->shield || self->cancel_forced));
}

/* May `self` start a wait? 0, -ECANCELED (a cancellation is pending and no shield holds it
 * back) or -ETIME (its deadline scope has ended). Every wait asks before filing a waiter. */
static inline int wait_admit(const tr_task *self) {
    if (wait_cancel_pending(self))
        return -ECANCELED;
    if (TR_UNLIKELY(self->scope_deadline_ns) && loop_clock_ns() >= self->scope_deadline_ns)
        return -ETIME;
    return 0;
}

/* The task's wait becomes visible to readers (introspect.c): `waiter` first, then the
 * sequence step, so a reader that sees no step read a waiter filled before it looked. */
static inline void wait_publish(tr_task *self, struct waiter *w) {
    __atomic_store_n(&self->waiter, w, __ATOMIC_RELEASE); /* after w's fields */
    atomic_store_explicit(&self->wait_seq,
                          atomic_load_explicit(&self->wait_seq, memory_order_relaxed) + 1,
                          memory_order_release);
    atomic_store_explicit(&self->state, TASK_SUSPENDED, memory_order_relaxed);
}

/* The wait is over: the step first, so a reader that read the waiter (now about to be
 * overwritten on the task's stack) sees the sequence move and retries. */
static inline void wait_unpublish(tr_task *self) {
    atomic_store_explicit(&self->wait_seq,
                          atomic_load_explicit(&self->wait_seq, memory_order_relaxed) + 1,
                          memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
    __atomic_store_n(&self->waiter, NULL, __ATOMIC_RELAXED); /* a mov; readers load it */
}

/* wait_block with a timer to arm (wait.c). */
int wait_block_timed(struct waiter *w);

/*
 * Suspend the calling task until w fires (the caller has filed w where its wake-up comes
 * from). Arms the task's timer when w->timer_at is set. Returns the result it fired with:
 * the source's, -ECANCELED, -ETIME, or -ENOMEM (the timer could not be armed: w is unlinked
 * and nothing waits).
 */
static inline int wait_block(struct waiter *w) {
    if (TR_UNLIKELY(w->timer_at))
        return wait_block_timed(w);
    tr_task *self = w->task;
    wait_publish(self, w);
    int rc = fiber_suspend(w->loop);
    wait_unpublish(self);
    return rc;
}

/*
 * The source's wake-up: unlink w, disarm its timer, make its task runnable with `result`.
 * `owned`: the result hands the task something it must not lose (an fd, a lock, an item),
 * so a cancellation that arrives before the task runs does not replace it. Returns false (and
 * does nothing) when w has fired already. A waiter knows its loop: delivering a wake-up to a
 * task of another loop is this function's business alone.
 */
static inline bool waiter_fire(struct waiter *w, int result, bool owned) {
    if (TR_UNLIKELY(w->fired))
        return false;
    if (w->queue)
        wq_unlink(w);
    if (TR_UNLIKELY(w->on_fire != NULL)) {
        w->on_fire(w, result); /* a sub-waiter: decides itself whether its task wakes */
        return true;
    }
    w->fired = true;
    w->owned = owned;
    if (TR_UNLIKELY(w->task->in_timer))
        task_timer_disarm(w->loop, w->task);
    fiber_wake(w->loop, w->task, result);
    return true;
}

#endif
