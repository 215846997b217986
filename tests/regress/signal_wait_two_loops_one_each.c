/*
 * Two loops, on two threads, each with a tr_signal_wait for SIGTERM; the main thread waits for
 * nothing and leaves SIGTERM unblocked. A SIGTERM sent to the process wakes exactly one of the
 * two waits, and a second one, sent to the main thread with pthread_kill, wakes the other:
 * neither waits forever, the process survives both, and SIGTERM's default disposition is back
 * once both waits have ended.
 */
#include "regress.h"

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#define MS 1000000ull

struct loop_side {
    pthread_t thread;
    int run_rc;
    int res;
    atomic_bool waiting, returned;
};

static void nap_ms(long ms) {
    struct timespec ts = {0, ms * 1000000L};
    nanosleep(&ts, NULL);
}

static void *wait_term(void *arg) {
    struct loop_side *l = arg;
    tr_deadline d;
    CHECK_EQ(tr_deadline_begin(&d, 10000 * MS), 0); /* a lost signal fails, not hangs */
    l->res = tr_signal_wait((const int[]){SIGTERM}, 1);
    tr_deadline_end(&d);
    atomic_store(&l->returned, true);
    return NULL;
}

static void *loop_main(void *arg) {
    struct loop_side *l = arg;
    tr_task *t = tr_spawn(wait_term, l);
    CHECK(t != NULL);
    CHECK_EQ(tr_sleep(10 * MS), 0); /* the waiter runs first and is then in its read */
    atomic_store(&l->waiting, true);
    /* Not one long tr_await: valgrind runs one thread at a time and lets none other run
     * while a loop sleeps in io_uring_enter; nanosleep lets them. */
    while (!atomic_load(&l->returned)) {
        nap_ms(1);
        CHECK_EQ(tr_sleep(1 * MS), 0);
    }
    CHECK_EQ(tr_await(t, NULL), 0);
    tr_task_release(t);
    return NULL;
}

static void *loop_thread(void *arg) {
    struct loop_side *l = arg;
    l->run_rc = tr_run(loop_main, l, NULL);
    return NULL;
}

static int returned(const struct loop_side *l) {
    return atomic_load(&l[0].returned) + atomic_load(&l[1].returned);
}

/* Until `n` waits have returned, at most 10 s. */
static void until_returned(const struct loop_side *l, int n) {
    for (int i = 0; i < 10000 && returned(l) < n; i++)
        nap_ms(1);
    CHECK_EQ(returned(l), n);
}

int main(void) {
    signal(SIGTERM, SIG_DFL);
    sigset_t term;
    sigemptyset(&term);
    sigaddset(&term, SIGTERM);
    CHECK_EQ(pthread_sigmask(SIG_UNBLOCK, &term, NULL), 0);

    static struct loop_side l[2];
    for (int i = 0; i < 2; i++)
        CHECK_EQ(pthread_create(&l[i].thread, NULL, loop_thread, &l[i]), 0);
    for (int i = 0; i < 10000 && !(atomic_load(&l[0].waiting) && atomic_load(&l[1].waiting)); i++)
        nap_ms(1);
    CHECK(atomic_load(&l[0].waiting) && atomic_load(&l[1].waiting));

    CHECK_EQ(kill(getpid(), SIGTERM), 0);
    until_returned(l, 1);
    nap_ms(50);
    CHECK_EQ(returned(l), 1); /* one signal, one wait */

    CHECK_EQ(pthread_kill(pthread_self(), SIGTERM), 0);
    until_returned(l, 2);

    for (int i = 0; i < 2; i++) {
        CHECK_EQ(pthread_join(l[i].thread, NULL), 0);
        CHECK_EQ(l[i].run_rc, 0);
        CHECK_EQ(l[i].res, SIGTERM);
    }
    struct sigaction now;
    CHECK_EQ(sigaction(SIGTERM, NULL, &now), 0);
    CHECK(!(now.sa_flags & SA_SIGINFO) && now.sa_handler == SIG_DFL);
    return 0;
}
