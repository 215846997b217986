/*
 * tr_signal_wait used to accept SIGSEGV (and SIGBUS, SIGFPE, SIGILL) and leave it blocked on
 * the loop thread: a later stack overflow then killed the process with a bare SIGSEGV and no
 * report. It also accepted SIGKILL and SIGSTOP, whose wait can never end. Those signals (and
 * SIGTRAP, SIGSYS) are refused with -EINVAL, before anything is blocked, and an overflow after
 * the refusal is still reported with the task's name.
 */
#include "regress.h"

#include <pthread.h>

static const int refused[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS, SIGKILL, SIGSTOP};
enum { NREFUSED = sizeof refused / sizeof refused[0] };

static bool blocked(int sig) {
    sigset_t now;
    CHECK(pthread_sigmask(SIG_BLOCK, NULL, &now) == 0);
    return sigismember(&now, sig) == 1;
}

static void *refuse_main(void *arg) {
    (void)arg;
    for (int i = 0; i < NREFUSED; i++) {
        CHECK_EQ(tr_signal_wait(&refused[i], 1), -EINVAL);
        CHECK(!blocked(refused[i]));
        /* Mixed with a waitable signal: refused as a whole, and that one is not blocked
         * either. */
        int pair[] = {SIGUSR1, refused[i]};
        CHECK_EQ(tr_signal_wait(pair, 2), -EINVAL);
        CHECK(!blocked(SIGUSR1));
    }
    return NULL;
}

__attribute__((noinline)) static unsigned recurse(unsigned depth, volatile char *prev) {
    volatile char frame[1024];
    frame[0] = (char)depth;
    frame[sizeof frame - 1] = prev != NULL ? prev[0] : 0;
    if (depth == 0)
        return frame[0];
    return recurse(depth - 1, frame) + frame[sizeof frame - 1];
}

static void *overflow(void *arg) {
    (void)arg;
    return (void *)(uintptr_t)recurse(1u << 30, NULL);
}

static void *overflow_main(void *arg) {
    (void)arg;
    int segv = SIGSEGV;
    CHECK_EQ(tr_signal_wait(&segv, 1), -EINVAL);
    tr_task *t = tr_spawn_named(overflow, NULL, "overflows-after-refusal");
    tr_await(t, NULL);
    return NULL;
}

static int overflow_child(void *arg) {
    (void)arg;
    tr_run(overflow_main, NULL, NULL);
    return 0;
}

int main(int argc, char **argv) {
    CHECK_EQ(tr_run(refuse_main, NULL, NULL), 0);
    if (argc > 1 && strcmp(argv[1], "--refusals-only") == 0)
        return 0;
    if (REGRESS_SANITIZED || RUNNING_ON_VALGRIND)
        return skip_because("refusals checked; the overflow report needs the runtime's own "
                            "SIGSEGV handler, which sanitizers and valgrind replace");
    struct child_output o;
    run_child(overflow_child, NULL, &o);
    if (!WIFSIGNALED(o.status) || WTERMSIG(o.status) != SIGSEGV ||
        !strstr(o.err, "stack overflow in task <Task pending name='overflows-after-refusal'")) {
        fprintf(stderr, "child status 0x%x, stderr:\n%s", o.status, o.err);
        return 1;
    }
    return 0;
}
