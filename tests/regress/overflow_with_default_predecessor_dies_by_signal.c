/*
 * With SIGSEGV at its default action before tr_run (the usual case), the runtime's handler
 * used to end a stack overflow in abort(): the process died by SIGABRT, not by the fault,
 * and a SIGSEGV that was sent (kill, raise) rather than raised by a fault was "handed on" by
 * restoring SIG_DFL and returning: the signal was lost and the process ran on. Now an
 * overflow is reported and then dies by SIGSEGV (the fault's default action, with a core
 * where cores are enabled), and a sent SIGSEGV is sent again under the default action.
 * Children: one overflows, one raises SIGSEGV in a task. Not under sanitizers or valgrind.
 */
#include "regress.h"

__attribute__((noinline)) static unsigned recurse(unsigned depth, volatile char *prev) {
    volatile char frame[1024];
    frame[0] = (char)depth;
    frame[sizeof frame - 1] = prev != NULL ? prev[0] : 0;
    if (depth == 0)
        return frame[0];
    return recurse(depth - 1, frame) + frame[sizeof frame - 1];
}

static void *deep(void *arg) {
    (void)arg;
    return (void *)(uintptr_t)recurse(1u << 30, NULL);
}

static void *raises(void *arg) {
    (void)arg;
    raise(SIGSEGV);
    printf("raise(SIGSEGV) returned\n");
    return NULL;
}

static void *main_task(void *arg) {
    tr_task *t = tr_spawn_named((tr_fn)arg, NULL, "faulty");
    tr_await(t, NULL);
    return NULL;
}

static int child(void *arg) {
    alarm(10);
    CHECK(signal(SIGSEGV, SIG_DFL) != SIG_ERR);
    int rc = tr_run(main_task, arg, NULL);
    printf("survived: tr_run returned %d\n", rc);
    return 0;
}

static void expect_sigsegv(tr_fn fn, const char *what, bool report) {
    struct child_output o;
    run_child(child, (void *)fn, &o);
    bool reported = strstr(o.err, "stack overflow in task <Task pending name='faulty'") != NULL;
    if (!WIFSIGNALED(o.status) || WTERMSIG(o.status) != SIGSEGV || reported != report) {
        fprintf(stderr, "%s: want death by SIGSEGV%s; status 0x%x\nstdout: %sstderr: %s\n", what,
                report ? " after the report" : " without a report", o.status, o.out, o.err);
        exit(1);
    }
}

int main(void) {
    if (REGRESS_SANITIZED || RUNNING_ON_VALGRIND)
        return skip_because("the sanitizers and valgrind own SIGSEGV");
    expect_sigsegv(deep, "overflow", true);
    expect_sigsegv(raises, "raise(SIGSEGV) in a task", false);
    return 0;
}
