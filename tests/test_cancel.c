/* tr_task_cancel: before first run, while sleeping / runnable / awaiting, sticky, self, done,
 * errors. */
#include <pthread.h>
#include <stdatomic.h>

#include "test_util.h"

static void *noop(void *arg) {
    return arg;
}

static int ran;
static void *mark_ran(void *arg) {
    (void)arg;
    ran = 1;
    return (void *)1;
}

static void *before_first_run_main(void *arg) {
    (void)arg;
    assert_int_equal(tr_task_cancel(NULL), -EINVAL);
    ran = 0;
    tr_task *t = tr_spawn(mark_ran, NULL);
    assert_int_equal(tr_task_cancel(t), 1);
    assert_int_equal(tr_yield(), 0);
    assert_int_equal(tr_sleep(1 * MS), 0);
    assert_int_equal(ran, 0);
    assert_true(tr_task_done(t));
    assert_true(tr_task_cancelled(t));
    assert_int_equal(tr_await(t, NULL), -ECANCELED);
    /* Cancelling a done task: 0. */
    assert_int_equal(tr_task_cancel(t), 0);
    tr_task_release(t);

    /* Cancelled before running, then awaited directly (without a yield first). */
    t = tr_spawn(mark_ran, NULL);
    assert_int_equal(tr_task_cancel(t), 1);
    assert_int_equal(tr_await(t, NULL), -ECANCELED);
    assert_int_equal(ran, 0);
    tr_task_release(t);
    return NULL;
}

static void test_cancel_before_first_run(void **state) {
    (void)state;
    run_ok(before_first_run_main, NULL);
    assert_int_equal(ran, 0);
}

/* ---- sticky cancellation of a sleeping task ---- */

struct sticky {
    int sleep_rc, sleep_again_rc, yield_rc, await_rc, sleep0_rc;
    uint64_t slept_ns;
    int finished;
};

static void *sticky_task(void *arg) {
    struct sticky *s = arg;
    uint64_t t0 = now_ns();
    s->sleep_rc = tr_sleep(10000 * MS);
    s->slept_ns = now_ns() - t0;
    s->sleep_again_rc = tr_sleep(10000 * MS);
    s->sleep0_rc = tr_sleep(0);
    s->yield_rc = tr_yield();
    tr_task *other = tr_spawn(noop, NULL);
    assert_non_null(other); /* spawning still works */
    s->await_rc = tr_await(other, NULL);
    tr_task_release(other);
    s->finished = 1;
    return (void *)1;
}

static void *sticky_main(void *arg) {
    struct sticky *s = arg;
    tr_task *t = tr_spawn(sticky_task, s);
    assert_int_equal(tr_sleep(2 * MS), 0); /* t is asleep */
    assert_false(tr_task_done(t));
    assert_int_equal(tr_task_cancel(t), 1);
    assert_false(tr_task_cancelled(t)); /* requested, not finished yet */
    /* A second request while still not done is a request too. */
    assert_int_equal(tr_task_cancel(t), 1);
    uint64_t t0 = now_ns();
    assert_int_equal(tr_await(t, NULL), -ECANCELED);
    assert_true(now_ns() - t0 < 5000 * MS);
    assert_true(tr_task_done(t));
    assert_true(tr_task_cancelled(t));
    assert_int_equal(tr_task_cancel(t), 0);
    tr_task_release(t);
    return NULL;
}

static void test_cancel_sleeping_sticky(void **state) {
    (void)state;
    struct sticky s = {1, 1, 1, 1, 1, 0, 0};
    run_ok(sticky_main, &s);
    assert_int_equal(s.sleep_rc, -ECANCELED);
    assert_true(s.slept_ns < 5000 * MS);
    assert_int_equal(s.sleep_again_rc, -ECANCELED);
    assert_int_equal(s.sleep0_rc, -ECANCELED);
    assert_int_equal(s.yield_rc, -ECANCELED);
    assert_int_equal(s.await_rc, -ECANCELED);
    assert_int_equal(s.finished, 1);
}

/* ---- runnable (yielded) task ---- */

static int yield_rcs[3];
static void *yielder(void *arg) {
    (void)arg;
    for (int i = 0; i < 3; i++)
        yield_rcs[i] = tr_yield();
    return NULL;
}

static void *runnable_main(void *arg) {
    (void)arg;
    tr_task *t = tr_spawn(yielder, NULL);
    assert_int_equal(tr_yield(), 0); /* t ran its first yield, and is runnable again */
    assert_int_equal(tr_task_cancel(t), 1);
    assert_int_equal(tr_await(t, NULL), -ECANCELED);
    tr_task_release(t);
    return NULL;
}

static void test_cancel_runnable(void **state) {
    (void)state;
    run_ok(runnable_main, NULL);
    assert_int_equal(yield_rcs[0], -ECANCELED);
    assert_int_equal(yield_rcs[1], -ECANCELED);
    assert_int_equal(yield_rcs[2], -ECANCELED);
}

/* ---- self cancellation ---- */

static int self_rc[3];
static void *self_cancel(void *arg) {
    (void)arg;
    self_rc[0] = tr_task_cancel(tr_current());
    self_rc[1] = tr_yield();
    self_rc[2] = tr_sleep(1 * MS);
    return NULL;
}

static void *self_main(void *arg) {
    (void)arg;
    tr_task *t = tr_spawn(self_cancel, NULL);
    assert_int_equal(tr_await(t, NULL), -ECANCELED);
    assert_true(tr_task_cancelled(t));
    tr_task_release(t);
    return NULL;
}

static void test_cancel_self(void **state) {
    (void)state;
    run_ok(self_main, NULL);
    assert_int_equal(self_rc[0], 1);
    assert_int_equal(self_rc[1], -ECANCELED);
    assert_int_equal(self_rc[2], -ECANCELED);
}

/* ---- a task finished normally is not cancelled ---- */

static void *normal_main(void *arg) {
    (void)arg;
    tr_task *t = tr_spawn(noop, (void *)4);
    void *r;
    assert_int_equal(tr_await(t, &r), 0);
    assert_ptr_equal(r, (void *)4);
    assert_true(tr_task_done(t));
    assert_false(tr_task_cancelled(t));
    assert_int_equal(tr_task_cancel(t), 0);
    /* still not cancelled: the request was not made */
    assert_false(tr_task_cancelled(t));
    assert_int_equal(tr_await(t, &r), 0);
    tr_task_release(t);
    return NULL;
}

static void test_cancel_done(void **state) {
    (void)state;
    run_ok(normal_main, NULL);
}

/* ---- cancelling many sleepers wakes only them ---- */

static int woke_normally;
static void *sleeper(void *arg) {
    uint64_t ms = (uint64_t)(uintptr_t)arg;
    int rc = tr_sleep(ms * MS);
    if (rc == 0)
        woke_normally++;
    return (void *)(intptr_t)rc;
}

static void *many_main(void *arg) {
    (void)arg;
    woke_normally = 0;
    tr_task *t[20];
    for (int i = 0; i < 20; i++)
        t[i] = tr_spawn(sleeper, (void *)(uintptr_t)(i % 2 ? 10000 : 20));
    assert_int_equal(tr_yield(), 0);
    for (int i = 1; i < 20; i += 2)
        assert_int_equal(tr_task_cancel(t[i]), 1);
    for (int i = 0; i < 20; i++) {
        void *r = (void *)1;
        int rc = tr_await(t[i], &r);
        if (i % 2) {
            assert_int_equal(rc, -ECANCELED);
            assert_true(tr_task_cancelled(t[i]));
        } else {
            assert_int_equal(rc, 0);
            assert_ptr_equal(r, NULL);
            assert_false(tr_task_cancelled(t[i]));
        }
        tr_task_release(t[i]);
    }
    assert_int_equal(woke_normally, 10);
    return NULL;
}

static void test_cancel_some_sleepers(void **state) {
    (void)state;
    run_ok(many_main, NULL);
}

/* ---- from another thread ---- */

static void *cancel_from_thread(void *arg) {
    return (void *)(intptr_t)tr_task_cancel(arg);
}

static void *thread_main(void *arg) {
    (void)arg;
    tr_task *t = tr_spawn(sleeper, (void *)(uintptr_t)10000);
    assert_int_equal(tr_yield(), 0);
    pthread_t th;
    void *rc;
    assert_int_equal(pthread_create(&th, NULL, cancel_from_thread, t), 0);
    assert_int_equal(pthread_join(th, &rc), 0);
    assert_int_equal((int)(intptr_t)rc, -EPERM);
    assert_false(tr_task_done(t));
    assert_int_equal(tr_task_cancel(t), 1);
    assert_int_equal(tr_await(t, NULL), -ECANCELED);
    tr_task_release(t);
    return NULL;
}

static void test_cancel_other_thread(void **state) {
    (void)state;
    run_ok(thread_main, NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cancel_before_first_run),
        cmocka_unit_test(test_cancel_sleeping_sticky),
        cmocka_unit_test(test_cancel_runnable),
        cmocka_unit_test(test_cancel_self),
        cmocka_unit_test(test_cancel_done),
        cmocka_unit_test(test_cancel_some_sleepers),
        cmocka_unit_test(test_cancel_other_thread),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
