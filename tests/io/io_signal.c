/*
 * io_signal.c - tr_signal_wait: woken by kill() from another task, by pthread_kill() and
 * kill() from another thread, by a signal already pending; sets of two signals; two waiters
 * for different signals; a signal outside the set does not wake; argument errors (NULL,
 * empty, not a signal) that leave the signal mask alone; no fd leak.
 */
#include "io_test.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static sigset_t set_of(int a, int b) {
    sigset_t s;
    sigemptyset(&s);
    if (a)
        sigaddset(&s, a);
    if (b)
        sigaddset(&s, b);
    return s;
}

/* Consume whatever of `sig` is still pending, so tests stay independent. */
static void drain_pending(int sig) {
    sigset_t s = set_of(sig, 0);
    struct timespec zero = {0, 0};
    while (sigtimedwait(&s, NULL, &zero) == sig)
        ;
}

struct waiter {
    int a, b; /* the set */
    int res;
    bool returned;
};

static void *wait_task(void *arg) {
    struct waiter *w = arg;
    int sigs[2] = {w->a, w->b};
    w->res = tr_signal_wait(sigs, w->b ? 2 : 1);
    w->returned = true;
    return NULL;
}

/* ---- from another task --------------------------------------------------------------------
 */

static void *killer(void *arg) {
    int sig = (int)(intptr_t)arg;
    tr_sleep(10 * MS);
    kill(getpid(), sig);
    return NULL;
}

static void *from_task_main(void *arg) {
    (void)arg;
    int before = io_count_fds();
    struct waiter w = {.a = SIGUSR1, .res = 1};
    tr_task *wt = tr_spawn(wait_task, &w);
    tr_task *kt = tr_spawn(killer, (void *)(intptr_t)SIGUSR1);
    T_REQUIRE(wt && kt);
    tr_sleep(5 * MS);
    T_CHECK(!w.returned);
    T_EQ(tr_await(wt, NULL), 0);
    T_EQ(tr_await(kt, NULL), 0);
    T_EQ(w.res, SIGUSR1);
    tr_task_release(wt);
    tr_task_release(kt);

    /* Twice in a row. */
    for (int i = 0; i < 2; i++) {
        w = (struct waiter){.a = SIGUSR1, .res = 1};
        wt = tr_spawn(wait_task, &w);
        kt = tr_spawn(killer, (void *)(intptr_t)SIGUSR1);
        T_REQUIRE(wt && kt);
        T_EQ(tr_await(wt, NULL), 0);
        T_EQ(tr_await(kt, NULL), 0);
        T_EQ(w.res, SIGUSR1);
        tr_task_release(wt);
        tr_task_release(kt);
    }
    T_EQ(io_count_fds(), before); /* each wait's signalfd is closed */
    return NULL;
}

static void test_from_task(void **state) {
    (void)state;
    io_run(from_task_main, NULL);
    drain_pending(SIGUSR1);
}

/* ---- from another thread ------------------------------------------------------------------
 */

struct sender {
    pthread_t target;
    int sig;
    bool directed; /* pthread_kill(target) rather than kill(getpid()) */
};

static void *sender_thread(void *arg) {
    struct sender *s = arg;
    struct timespec ts = {0, 20 * 1000 * 1000};
    nanosleep(&ts, NULL);
    if (s->directed)
        pthread_kill(s->target, s->sig);
    else
        kill(getpid(), s->sig);
    return NULL;
}

static void *from_thread_main(void *arg) {
    bool directed = arg != NULL;
    struct waiter w = {.a = SIGUSR1, .res = 1};
    tr_task *wt = tr_spawn(wait_task, &w);
    T_REQUIRE(wt);
    tr_sleep(5 * MS); /* the waiter has blocked SIGUSR1: the new thread inherits that mask */
    T_CHECK(!w.returned);
    struct sender s = {.target = pthread_self(), .sig = SIGUSR1, .directed = directed};
    pthread_t th;
    T_REQUIRE(pthread_create(&th, NULL, sender_thread, &s) == 0);
    tr_deadline d;
    tr_deadline_begin(&d, 5000 * MS);
    T_EQ(tr_await(wt, NULL), 0);
    tr_deadline_end(&d);
    pthread_join(th, NULL);
    T_EQ(w.res, SIGUSR1);
    if (!w.returned) {
        tr_task_cancel(wt);
        tr_await(wt, NULL);
    }
    tr_task_release(wt);
    return NULL;
}

static void test_pthread_kill_from_thread(void **state) {
    (void)state;
    io_run(from_thread_main, (void *)1);
    drain_pending(SIGUSR1);
}

static void test_kill_from_thread(void **state) {
    (void)state;
    io_run(from_thread_main, NULL);
    drain_pending(SIGUSR1);
}

/* ---- sets, pending signals, several waiters -----------------------------------------------
 */

static void *sets_main(void *arg) {
    (void)arg;
    /* Already pending before the wait: returns at once. */
    sigset_t s2 = set_of(SIGUSR2, 0);
    T_EQ(pthread_sigmask(SIG_BLOCK, &s2, NULL), 0);
    T_EQ(raise(SIGUSR2), 0);
    T_EQ(tr_signal_wait((const int[]){SIGUSR2}, 1), SIGUSR2);

    /* A set of two: whichever comes. */
    struct waiter w = {.a = SIGUSR1, .b = SIGUSR2, .res = 1};
    tr_task *wt = tr_spawn(wait_task, &w);
    tr_task *kt = tr_spawn(killer, (void *)(intptr_t)SIGUSR2);
    T_REQUIRE(wt && kt);
    T_EQ(tr_await(wt, NULL), 0);
    T_EQ(w.res, SIGUSR2);
    tr_await(kt, NULL);
    tr_task_release(wt);
    tr_task_release(kt);

    /* Two waiters for different signals each get their own. */
    struct waiter w1 = {.a = SIGUSR1, .res = 1}, w2 = {.a = SIGUSR2, .res = 1};
    tr_task *t1 = tr_spawn(wait_task, &w1);
    tr_task *t2 = tr_spawn(wait_task, &w2);
    T_REQUIRE(t1 && t2);
    tr_sleep(5 * MS);
    kill(getpid(), SIGUSR2);
    tr_sleep(20 * MS);
    T_CHECK(w2.returned);
    T_CHECK(!w1.returned); /* SIGUSR2 is not in its set */
    kill(getpid(), SIGUSR1);
    T_EQ(tr_await(t1, NULL), 0);
    T_EQ(tr_await(t2, NULL), 0);
    T_EQ(w1.res, SIGUSR1);
    T_EQ(w2.res, SIGUSR2);
    tr_task_release(t1);
    tr_task_release(t2);

    /* Two waiters for the same signal: one signal wakes exactly one of them. */
    w1 = (struct waiter){.a = SIGUSR1, .res = 1};
    w2 = (struct waiter){.a = SIGUSR1, .res = 1};
    t1 = tr_spawn(wait_task, &w1);
    t2 = tr_spawn(wait_task, &w2);
    T_REQUIRE(t1 && t2);
    tr_sleep(5 * MS);
    kill(getpid(), SIGUSR1);
    tr_sleep(20 * MS);
    T_EQ(w1.returned + w2.returned, 1);
    kill(getpid(), SIGUSR1);
    T_EQ(tr_await(t1, NULL), 0);
    T_EQ(tr_await(t2, NULL), 0);
    T_EQ(w1.res, SIGUSR1);
    T_EQ(w2.res, SIGUSR1);
    tr_task_release(t1);
    tr_task_release(t2);
    return NULL;
}

static void test_sets(void **state) {
    (void)state;
    io_run(sets_main, NULL);
    drain_pending(SIGUSR1);
    drain_pending(SIGUSR2);
}

/* ---- errors --------------------------------------------------------------------------------
 */

static bool blocked_now(int sig) {
    sigset_t now;
    pthread_sigmask(SIG_SETMASK, NULL, &now);
    return sigismember(&now, sig) == 1;
}

static void *bad_args_main(void *arg) {
    (void)arg;
    int one = SIGUSR1;
    T_EQ(tr_signal_wait(NULL, 1), -EINVAL);
    T_EQ(tr_signal_wait(NULL, 0), -EINVAL);
    T_EQ(tr_signal_wait(&one, 0), -EINVAL); /* empty */
    T_EQ(tr_signal_wait((const int[]){0}, 1), -EINVAL);
    T_EQ(tr_signal_wait((const int[]){-1}, 1), -EINVAL);
    T_EQ(tr_signal_wait((const int[]){_NSIG + 1}, 1), -EINVAL);
    /* A bad entry after a good one: refused before anything is blocked. */
    bool before = blocked_now(SIGWINCH);
    T_EQ(tr_signal_wait((const int[]){SIGWINCH, 100000}, 2), -EINVAL);
    T_EQ(blocked_now(SIGWINCH), before);
    return NULL;
}

static void test_errors(void **state) {
    (void)state;
    io_run(bad_args_main, NULL);
    /* Outside a task: -EPERM, and the mask is untouched. */
    bool before = blocked_now(SIGWINCH);
    assert_int_equal(tr_signal_wait((const int[]){SIGWINCH}, 1), -EPERM);
    assert_int_equal(blocked_now(SIGWINCH), before);
}

int main(int argc, char **argv) {
    io_parse_args(&argc, argv);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_from_task, io_setup),
        cmocka_unit_test_setup(test_pthread_kill_from_thread, io_setup),
        cmocka_unit_test_setup(test_kill_from_thread, io_setup),
        cmocka_unit_test_setup(test_sets, io_setup),
        cmocka_unit_test_setup(test_errors, io_setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
