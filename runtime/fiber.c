/*
 * fiber.c - switching the CPU between tasks: the slow paths behind fiber.h.
 *
 * Owns: a task's first entry and last exit, the rule for choosing what runs next, and the
 * turn. Tasks switch directly to one another (one jump_fcontext per switch); only when a
 * turn ends or nothing is runnable does control go back to the scheduler context in loop.c,
 * which polls io_uring and the timers on the thread's own stack.
 */
#include "fiber.h"

#include <errno.h>
#include <stdlib.h>

/* A turn runs every task that was runnable when it began, once (FIFO fairness), but at
 * least MIN_TURN dispatches, so two tasks ping-ponging with tr_yield do not pay for a poll
 * on every switch, and at most MAX_TURN, so a million runnable tasks do not hold back
 * completions and expired timers for seconds. */
enum { MIN_TURN = 64, MAX_TURN = 1024 };

/* ---- what taskring.h's inline tr_yield relies on ------------------------------------------
 * It reads and writes the first fields of the loop and the task through mirror structs, and
 * jumps through tr__switch_v1; the "v1" in the symbols is the layout's version: change any
 * of this and the version (taskring.h, here, internal.h's tr_tls_loop) goes up together. */
#if defined(TR__INLINE_YIELD)
#define SAME_FIELD(hot, field, ours, ours_field)                                                   \
    _Static_assert(offsetof(struct hot, field) == offsetof(struct ours, ours_field) &&             \
                       sizeof(((struct hot *)0)->field) == sizeof(((struct ours *)0)->ours_field), \
                   #ours "." #ours_field " moved: taskring.h's struct " #hot " must follow")
SAME_FIELD(tr__loop_hot, runq_head, tr_loop, runq.head);
SAME_FIELD(tr__loop_hot, runq_tail, tr_loop, runq.tail);
SAME_FIELD(tr__loop_hot, runq_len, tr_loop, runq.len);
SAME_FIELD(tr__loop_hot, current, tr_loop, current);
SAME_FIELD(tr__loop_hot, now_ns, tr_loop, now_ns);
SAME_FIELD(tr__loop_hot, turn_left, tr_loop, turn_left);
SAME_FIELD(tr__loop_hot, inline_switch, tr_loop, inline_switch);
SAME_FIELD(tr__task_hot, ctx, tr_task, ctx);
SAME_FIELD(tr__task_hot, run_next, tr_task, run_next);
SAME_FIELD(tr__task_hot, ran_ns, tr_task, ran_ns);
SAME_FIELD(tr__task_hot, wake_result, tr_task, wake_result);
SAME_FIELD(tr__task_hot, state, tr_task, state);
SAME_FIELD(tr__task_hot, cancel_requested, tr_task, cancel_requested);
_Static_assert((int)TR__TASK_RUNNING == (int)TASK_RUNNING && (int)TR__TASK_READY == (int)TASK_READY,
               "taskring.h's task states must follow enum task_state");
_Static_assert(TR__RESUME_TAGS == (FIBER_FINISHED | FIBER_HOPPING),
               "taskring.h's resume tags must follow fiber.h's");
/* Version 1, frozen: programs built against it read exactly these offsets. The checks above
 * keep the mirror and the records together; these keep the mirror itself from moving without
 * a new version. Changing any: rename the three _v1 symbols (taskring.h, internal.h, here)
 * and write the new version's table. */
_Static_assert(offsetof(struct tr__loop_hot, runq_head) == 0 &&
                   offsetof(struct tr__loop_hot, runq_tail) == 8 &&
                   offsetof(struct tr__loop_hot, runq_len) == 16 &&
                   offsetof(struct tr__loop_hot, current) == 24 &&
                   offsetof(struct tr__loop_hot, now_ns) == 32 &&
                   offsetof(struct tr__loop_hot, turn_left) == 40 &&
                   offsetof(struct tr__loop_hot, inline_switch) == 44 &&
                   offsetof(struct tr__task_hot, ctx) == 0 &&
                   offsetof(struct tr__task_hot, run_next) == 8 &&
                   offsetof(struct tr__task_hot, ran_ns) == 16 &&
                   offsetof(struct tr__task_hot, wake_result) == 24 &&
                   offsetof(struct tr__task_hot, state) == 28 &&
                   offsetof(struct tr__task_hot, cancel_requested) == 29 && TR__TASK_RUNNING == 1 &&
                   TR__TASK_READY == 3 && TR__RESUME_TAGS == 3,
               "the inline fast path's layout v1 changed: give it a new version");
#undef SAME_FIELD
#endif

/* jump_fcontext under a name of ours, so that programs need not link libboost_context
 * themselves: the inline yield jumps here (push + jmp, like fcontext_switch). */
__asm__(".text\n"
        ".globl tr__switch_v1\n"
        ".type tr__switch_v1, @function\n"
        "tr__switch_v1:\n\t"
        "jmp jump_fcontext@PLT\n"
        ".size tr__switch_v1, .-tr__switch_v1\n");

/* The inline yield was resumed by something other than a live task. */
TR_EXPORT void tr__resumed_v1(void *ctx, void *data) {
    fiber_resumed_slow(tr_tls_loop, (transfer_t){ctx, data});
}

void fiber_resumed_slow(struct tr_loop *loop, transfer_t from) {
    uintptr_t word = (uintptr_t)from.data;
    if (!word) {
        loop->sched_ctx = from.fctx;
        return;
    }
    if (word & FIBER_HOPPING) {
        /* Its context is saved only now, on this side of the jump: only now may the other
         * loop resume it. */
        tr_task *t = (tr_task *)(word & ~FIBER_HOPPING);
        t->ctx = from.fctx;
        inbox_post_task(loop, loop->hop_target, t);
        loop->hop_target = NULL;
        return;
    }
    /* A task that has finished and will never run again: recycle its stack, and drop the
     * runtime's reference that kept the record alive while it could still run. */
    tr_task *prev = (tr_task *)(word & ~FIBER_FINISHED);
    san_fiber_destroy(prev);
    stack_put(&loop->stacks, prev->stack);
    prev->stack = NULL;
    task_unref(prev);
}

static void task_entry(transfer_t from);

/* Give `t` its stack and initial context the first time it runs; false when it cannot run
 * (cancelled before it started, or no stack for it): then it is finished here, without one.
 * Out of line: pick_next itself then needs no frame beyond the loop. */
static __attribute__((noinline)) bool prepare_first_run(struct tr_loop *loop, tr_task *t) {
    if (TR_LIKELY(!t->cancel_requested)) {
        t->stack = stack_get(&loop->stacks);
        if (TR_LIKELY(t->stack != NULL)) {
            t->ctx = make_fcontext(t->stack->lo + t->stack->size, t->stack->size, task_entry);
            san_fiber_create(t);
            return true;
        }
        atomic_store_explicit(&t->exit_code, -ENOMEM, memory_order_relaxed);
    }
    task_finish(loop, t, NULL);
    task_unref(t);
    return false;
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
        if (atomic_load_explicit(&t->state, memory_order_relaxed) == TASK_SCHEDULED &&
            !prepare_first_run(loop, t))
            continue;
        loop->turn_left--;
        return t;
    }
    return NULL;
}

/* Jump from `from` (a task, possibly finished, or NULL for the scheduler) to `to` (a task,
 * or NULL for the scheduler). */
static void switch_any(struct tr_loop *loop, tr_task *from, tr_task *to, bool from_done) {
    fcontext_t target = loop->sched_ctx;
    if (to) {
        atomic_store_explicit(&to->state, TASK_RUNNING, memory_order_relaxed);
        __atomic_store_n(&to->ran_ns, loop->now_ns, __ATOMIC_RELAXED); /* read by dumps */
        target = to->ctx;
    }
    loop->current = to;
    san_before_switch(loop, from, to, from_done);
    void *word = from_done ? (void *)((uintptr_t)from | FIBER_FINISHED) : from;
    transfer_t back = fcontext_switch(target, word);
    /* Resumed: `from` runs again (never when from_done). */
    san_after_switch(loop, from, back.data == NULL);
    fiber_resumed(loop, back);
}

int fiber_suspend_slow(struct tr_loop *loop, tr_task *self) {
    tr_task *next = pick_next(loop);
    if (next == self)
        atomic_store_explicit(&self->state, TASK_RUNNING, memory_order_relaxed);
    else
        switch_any(loop, self, next, false);
    return self->wake_result;
}

static void task_entry(transfer_t from) {
    struct tr_loop *loop = tr_tls_loop;
    tr_task *self = loop->current;
    san_after_switch(loop, self, from.data == NULL);
    fiber_resumed(loop, from);

    void *result = self->fn(self->arg);

    task_finish(loop, self, result);
    /* Leave for good: whoever runs next recycles this stack (fiber_resumed_slow). */
    switch_any(loop, self, pick_next(loop), true);
    abort(); /* unreachable: nothing resumes a finished task */
}

/*
 * Leave `loop` for `to`: always through the scheduler, which hands the task over once its
 * context is saved (fiber_resumed_slow). What runs after the jump runs on another thread: the
 * loop is read afresh, never from a register or a TLS address kept from before.
 */
struct tr_loop *fiber_hop(struct tr_loop *loop, tr_task *self, struct tr_loop *to) {
    loop->hop_target = to;
    atomic_store_explicit(&self->state, TASK_MOVING, memory_order_relaxed);
    loop->current = NULL;
    san_before_switch(loop, self, NULL, false);
    transfer_t back = fcontext_switch(loop->sched_ctx, (void *)((uintptr_t)self | FIBER_HOPPING));
    struct tr_loop *now = tls_loop_reload();
    san_after_switch(now, self, back.data == NULL);
    fiber_resumed(now, back);
    return now;
}

void fiber_run_turn(struct tr_loop *loop) {
    size_t n = loop->runq.len;
    loop->turn_left = n < MIN_TURN ? MIN_TURN : n > MAX_TURN ? MAX_TURN : (unsigned)n;
    tr_task *next = pick_next(loop);
    if (next)
        switch_any(loop, NULL, next, false);
}
