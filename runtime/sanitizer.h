/*
 * sanitizer.h - tells AddressSanitizer and ThreadSanitizer about fiber switches.
 *
 * Both tools track "the current stack"; a jump_fcontext they did not see would make ASan
 * report false stack-buffer overflows and TSan mix up two tasks' histories. Every switch in
 * fiber.c is bracketed by these calls. In a normal build they compile to nothing. They are
 * always_inline because TSan instruments calls: an out-of-line helper would push its frame
 * on the old fiber's shadow stack and pop it from the new one's, which underflows. (Valgrind
 * needs no per-switch call: stack.c registers each stack once with VALGRIND_STACK_REGISTER.)
 */
#ifndef TR_SANITIZER_H
#define TR_SANITIZER_H

#include "internal.h"

#if defined(TASKRING_ASAN)
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif
#if defined(TASKRING_TSAN)
#include <sanitizer/tsan_interface.h>
#endif

/* Whether every switch must go through the library's annotated code: then the inline
 * tr_yield in taskring.h never switches itself (loop->inline_switch is false). */
#if defined(TASKRING_ASAN) || defined(TASKRING_TSAN)
#define SAN_ANNOTATES_SWITCHES 1
#else
#define SAN_ANNOTATES_SWITCHES 0
#endif

/* Bounds of the stack a context runs on: a task's pooled stack, or the scheduler's. */
static inline __attribute__((always_inline)) void san_target_bounds(const struct tr_loop *loop,
                                                                    const tr_task *to,
                                                                    const void **bottom,
                                                                    size_t *size) {
    (void)loop;
    if (to) {
        *bottom = to->stack->lo;
        *size = to->stack->size;
    } else {
#if defined(TASKRING_ASAN)
        *bottom = loop->sched_stack_bottom;
        *size = loop->sched_stack_size;
#else
        *bottom = NULL;
        *size = 0;
#endif
    }
}

/* Before jumping from `from` (NULL: the scheduler) to `to` (NULL: the scheduler). A context
 * that will never resume (a finished task) passes from_done so ASan drops its fake stack. */
static inline __attribute__((always_inline)) void
san_before_switch(struct tr_loop *loop, tr_task *from, tr_task *to, bool from_done) {
    (void)loop, (void)from, (void)to, (void)from_done;
#if defined(TASKRING_ASAN)
    const void *bottom;
    size_t size;
    san_target_bounds(loop, to, &bottom, &size);
    void **save = from_done ? NULL : from ? &from->asan_fake_stack : &loop->sched_fake_stack;
    __sanitizer_start_switch_fiber(save, bottom, size);
#endif
#if defined(TASKRING_TSAN)
    __tsan_switch_to_fiber(to ? to->tsan_fiber : loop->sched_tsan_fiber, 0);
#endif
}

/* Right after a context `self` (NULL: the scheduler) resumes; `came_from_scheduler` says
 * whether the jump came from the scheduler, whose stack bounds ASan then reports. */
static inline __attribute__((always_inline)) void
san_after_switch(struct tr_loop *loop, tr_task *self, bool came_from_scheduler) {
    (void)loop, (void)self, (void)came_from_scheduler;
#if defined(TASKRING_ASAN)
    const void *old_bottom = NULL;
    size_t old_size = 0;
    void *fake = self ? self->asan_fake_stack : loop->sched_fake_stack;
    __sanitizer_finish_switch_fiber(fake, &old_bottom, &old_size);
    if (came_from_scheduler && old_bottom) {
        loop->sched_stack_bottom = old_bottom;
        loop->sched_stack_size = old_size;
    }
#endif
}

static inline __attribute__((always_inline)) void san_fiber_create(tr_task *t) {
    (void)t;
#if defined(TASKRING_ASAN)
    /* A recycled stack still carries the shadow marks of its previous task's frames. */
    ASAN_UNPOISON_MEMORY_REGION(t->stack->lo, t->stack->size);
    t->asan_fake_stack = NULL;
#endif
#if defined(TASKRING_TSAN)
    t->tsan_fiber = __tsan_create_fiber(0);
#endif
}

static inline __attribute__((always_inline)) void san_fiber_destroy(tr_task *t) {
    (void)t;
#if defined(TASKRING_TSAN)
    if (t->tsan_fiber) {
        __tsan_destroy_fiber(t->tsan_fiber);
        t->tsan_fiber = NULL;
    }
#endif
}

static inline __attribute__((always_inline)) void san_loop_init(struct tr_loop *loop) {
    (void)loop;
#if defined(TASKRING_TSAN)
    loop->sched_tsan_fiber = __tsan_get_current_fiber();
#endif
}

#endif
