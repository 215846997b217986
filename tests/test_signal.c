/* tr_signal_wait: waits for a signal through a signalfd read on the ring. */
#include <pthread.h>
#include <signal.h>

#include "test_util.h"

static void test_outside_task(void **state) {
    (void)state;
    static const int usr1[] = {SIGUSR1};
    assert_int_equal(tr_signal_wait(usr1, 1), -EPERM);
}

static pthread_t loop_thread;

static void *send_later(void *arg) {
    int sig = (int)(intptr_t)arg;
    if (tr_sleep(5 * MS) != 0)
        return (void *)1;
    /* to the loop thread, where the waiter blocked the signal */
    return (void *)(intptr_t)pthread_kill(loop_thread, sig);
}

static void *signal_main(void *arg) {
    (void)arg;
    loop_thread = pthread_self();
    static const int set[] = {SIGUSR1, SIGUSR2}, bad[] = {0, 99999};
    assert_int_equal(tr_signal_wait(NULL, 1), -EINVAL);
    assert_int_equal(tr_signal_wait(set, 0), -EINVAL);
    assert_int_equal(tr_signal_wait(bad + 1, 1), -EINVAL);

    /* Sent while we wait: the signal is consumed and its number returned. */
    tr_task *t = tr_spawn(send_later, (void *)(intptr_t)SIGUSR2);
    assert_int_equal(tr_signal_wait(set, 2), SIGUSR2);
    void *r;
    assert_int_equal(tr_await(t, &r), 0);
    assert_null(r);
    tr_task_release(t);

    /* Pending before the wait (blocked since the last call): returned at once. */
    assert_int_equal(pthread_kill(pthread_self(), SIGUSR1), 0);
    assert_int_equal(tr_signal_wait(set, 2), SIGUSR1);
    sigset_t pending;
    sigpending(&pending);
    assert_false(sigismember(&pending, SIGUSR1)); /* consumed */

    /* A deadline ends the wait with -ETIME. */
    tr_deadline d;
    assert_int_equal(tr_deadline_begin(&d, 5 * MS), 0);
    assert_int_equal(tr_signal_wait(set, 2), -ETIME);
    tr_deadline_end(&d);
    return NULL;
}

static void test_signal(void **state) {
    (void)state;
    run_ok(signal_main, NULL);
}

static int waiter_rc;
static void *waiter(void *arg) {
    waiter_rc = tr_signal_wait(arg, 1);
    return NULL;
}

static void *cancel_main(void *arg) {
    (void)arg;
    static int usr1[] = {SIGUSR1};
    waiter_rc = 1;
    tr_task *t = tr_spawn(waiter, usr1);
    assert_int_equal(tr_sleep(2 * MS), 0);
    assert_false(tr_task_done(t));
    assert_int_equal(tr_task_cancel(t), 1);
    assert_int_equal(tr_await(t, NULL), -ECANCELED);
    assert_int_equal(waiter_rc, -ECANCELED);
    tr_task_release(t);
    return NULL;
}

static void test_cancel(void **state) {
    (void)state;
    run_ok(cancel_main, NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_outside_task),
        cmocka_unit_test(test_signal),
        cmocka_unit_test(test_cancel),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
