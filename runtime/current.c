/*
 * current.c - which loop and which task run on this thread, and the clock every deadline is
 * measured on. The one thread-local of the library lives here: per-loop state is in the loop.
 */
#include "internal.h"

#include <time.h>

/* initial-exec: one %fs-relative load per access, even in the shared library. Exported (as
 * tr__current_loop_v1) for the inline tr_yield in taskring.h. */
TR_EXPORT __attribute__((tls_model("initial-exec"))) _Thread_local struct tr_loop *tr_tls_loop;

uint64_t loop_clock_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Out of line, in its own file: a call the compiler cannot see through, so the %fs-relative
 * load happens here, on the thread that runs now. */
__attribute__((noinline)) struct tr_loop *tls_loop_reload(void) {
    __asm__ volatile("" ::: "memory");
    return tr_tls_loop;
}

TR_EXPORT tr_task *tr_current(void) {
    struct tr_loop *loop;
    return calling_task(&loop);
}
