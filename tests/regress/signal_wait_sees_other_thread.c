/*
 * tr_signal_wait used to block its signals on the loop thread only. A SIGTERM the kernel gave
 * to another thread of the process, one that leaves SIGTERM unblocked, ran the default action
 * there: pthread_kill to that thread, or kill(getpid()) while only that thread could take it,
 * killed the process, and the wait's signalfd never saw the signal. Now each of those wakes the
 * wait with SIGTERM, once; the process survives; the disposition the program had (here the
 * default) is back after each wait; and the loop thread keeps SIGTERM blocked.
 */
#include "regress.h"

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#define MS 1000000ull

/* What the main task lets the sender do: 1 pthread_kill itself, 2 kill the process. */
static atomic_int go;

static void nap_ms(long ms) {
    struct timespec ts = {0, ms * 1000000L};
    nanosleep(&ts, NULL);
}

/* Wait (at most 10 s) until the main task says `step`. */
static bool until_go(int step) {
    for (int i = 0; i < 10000; i++) {
        if (atomic_load(&go) >= step)
            return true;
        nap_ms(1);
    }
    return false;
}

static void *sender(void *arg) {
    (void)arg;
    /* The only thread of the process that takes SIGTERM: the loop thread blocks it from the
     * first wait on (and this thread may have inherited that mask). */
    sigset_t term;
    sigemptyset(&term);
    sigaddset(&term, SIGTERM);
    CHECK_EQ(pthread_sigmask(SIG_UNBLOCK, &term, NULL), 0);
    if (!until_go(1))
        return NULL;
    CHECK_EQ(pthread_kill(pthread_self(), SIGTERM), 0); /* thread-directed, to this thread */
    if (!until_go(2))
        return NULL;
    CHECK_EQ(kill(getpid(), SIGTERM), 0); /* process-directed: only this thread can take it */
    return NULL;
}

struct waiter {
    int res;
    atomic_bool returned;
};

static void *wait_term(void *arg) {
    struct waiter *w = arg;
    tr_deadline d;
    CHECK_EQ(tr_deadline_begin(&d, 5000 * MS), 0); /* a lost signal fails, not hangs */
    w->res = tr_signal_wait((const int[]){SIGTERM}, 1);
    tr_deadline_end(&d);
    atomic_store(&w->returned, true);
    return NULL;
}

static bool term_pending(void) {
    sigset_t p;
    CHECK_EQ(sigpending(&p), 0); /* this thread's and the process's */
    return sigismember(&p, SIGTERM) == 1;
}

static bool term_blocked(void) {
    sigset_t now;
    CHECK_EQ(pthread_sigmask(SIG_BLOCK, NULL, &now), 0);
    return sigismember(&now, SIGTERM) == 1;
}

static void check_disposition(const struct sigaction *want) {
    struct sigaction now;
    CHECK_EQ(sigaction(SIGTERM, NULL, &now), 0);
    CHECK(now.sa_handler == want->sa_handler);
    CHECK_EQ(now.sa_flags, want->sa_flags);
}

/* One wait in its own task, woken by the sender's step `step`. */
static void wait_for_step(int step, const struct sigaction *before) {
    struct waiter w = {.res = 1};
    tr_task *t = tr_spawn(wait_term, &w);
    CHECK(t != NULL);
    /* The waiter runs first and is then suspended in its read: the wait is active. */
    CHECK_EQ(tr_sleep(10 * MS), 0);
    CHECK(!atomic_load(&w.returned));
    atomic_store(&go, step);
    /* Not one long tr_await: valgrind runs one thread at a time and lets none other run
     * while the loop sleeps in io_uring_enter, so the loop also naps in nanosleep, where the
     * sender can run. */
    for (int i = 0; i < 5000 && !atomic_load(&w.returned); i++) {
        nap_ms(1);
        CHECK_EQ(tr_sleep(1 * MS), 0);
    }
    CHECK_EQ(tr_await(t, NULL), 0);
    tr_task_release(t);
    CHECK_EQ(w.res, SIGTERM);
    check_disposition(before);
    CHECK(!term_pending()); /* consumed by the wait, not left over for the next */
    CHECK(term_blocked());
}

static void *main_task(void *arg) {
    (void)arg;
    struct sigaction before;
    CHECK_EQ(sigaction(SIGTERM, NULL, &before), 0);
    CHECK(before.sa_handler == SIG_DFL); /* the case that killed the process */
    int fds = count_fds();
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, sender, NULL), 0);
    wait_for_step(1, &before);
    wait_for_step(2, &before);
    CHECK_EQ(pthread_join(th, NULL), 0);
    /* Each signal woke exactly one wait: nothing is left for another. */
    tr_deadline d;
    CHECK_EQ(tr_deadline_begin(&d, 30 * MS), 0);
    CHECK_EQ(tr_signal_wait((const int[]){SIGTERM}, 1), -ETIME);
    tr_deadline_end(&d);
    check_disposition(&before);
    CHECK_EQ(count_fds(), fds);
    return NULL;
}

int main(void) {
    signal(SIGTERM, SIG_DFL);
    CHECK_EQ(tr_run(main_task, NULL, NULL), 0);
    return 0;
}
