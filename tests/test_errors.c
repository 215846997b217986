/* Error paths of the whole API in one place: tr_strerror, NULL arguments, calls made outside
 * any loop. */
#include <limits.h>
#include <pthread.h>

#include "test_util.h"

static void *noop(void *arg) {
    return arg;
}

static void test_strerror(void **state) {
    (void)state;
    int errs[] = {0,       -EINVAL, -EPERM,     -EBUSY,  -ENOMEM, -ENOSYS,     -ENOENT, -EDEADLK,
                  -ERANGE, -EAGAIN, -ECANCELED, -EFAULT, -EMFILE, -EOPNOTSUPP, 1,       EINVAL,
                  -4095,   -99999,  INT_MIN,    INT_MAX, -1,      -ENFILE,     -EACCES};
    for (size_t i = 0; i < sizeof errs / sizeof errs[0]; i++) {
        const char *s = tr_strerror(errs[i]);
        if (s == NULL)
            fail_msg("tr_strerror(%d) is NULL", errs[i]);
        (void)strlen(s);
    }
    /* The errors taskring documents have real text. */
    int documented[] = {-EINVAL, -EPERM,   -EBUSY,  -ENOMEM,   -ENOSYS,
                        -ENOENT, -EDEADLK, -ERANGE, -ECANCELED};
    for (size_t i = 0; i < sizeof documented / sizeof documented[0]; i++)
        assert_true(strlen(tr_strerror(documented[i])) > 0);
    assert_string_not_equal(tr_strerror(-EINVAL), tr_strerror(-ENOMEM));
    /* The io_uring environment errors say what to do. */
    assert_true(strlen(tr_strerror(-EPERM)) > strlen("Operation not permitted"));
    assert_true(strlen(tr_strerror(-ENOSYS)) > strlen("Function not implemented"));
}

static void test_outside_loop(void **state) {
    (void)state;
    errno = 0;
    assert_null(tr_spawn(noop, NULL));
    assert_int_equal(errno, EPERM);
    errno = 0;
    assert_null(tr_spawn_named(noop, NULL, "n"));
    assert_int_equal(errno, EPERM);
    assert_null(tr_current());
    assert_int_equal(tr_sleep(1), -EPERM);
    assert_int_equal(tr_sleep(0), -EPERM);
    assert_int_equal(tr_yield(), -EPERM);
    assert_int_equal(tr_task_count(), 0);
    tr_taskset *s = tr_all_tasks();
    assert_non_null(s);
    assert_int_equal(tr_taskset_size(s), 0);
    tr_taskset_free(s);
}

static void test_null_args(void **state) {
    (void)state;
    char buf[16];
    assert_int_equal(tr_run(NULL, NULL, NULL), -EINVAL);
    tr_options opts = {0};
    assert_int_equal(tr_run_with(&opts, NULL, NULL, NULL), -EINVAL);
    errno = 0;
    assert_null(tr_task_retain(NULL));
    assert_int_equal(errno, EINVAL);
    tr_task_release(NULL);
    assert_int_equal(tr_await(NULL, NULL), -EINVAL);
    assert_int_equal(tr_task_cancel(NULL), -EINVAL);
    errno = 0;
    assert_null(tr_task_name(NULL));
    assert_int_equal(errno, EINVAL);
    assert_int_equal(tr_task_set_name(NULL, "x"), -EINVAL);
    errno = 0;
    assert_null(tr_task_fn(NULL, NULL));
    assert_int_equal(errno, EINVAL);
    void *arg = (void *)1;
    errno = 0;
    assert_null(tr_task_fn(NULL, &arg));
    assert_int_equal(errno, EINVAL);
    assert_ptr_equal(arg, (void *)1);
    /* bool / size_t / void calls: NULL gives false, 0, or is ignored. */
    assert_false(tr_task_done(NULL));
    assert_false(tr_task_cancelled(NULL));
    assert_int_equal(tr_taskset_size(NULL), 0);
    tr_taskset_free(NULL);
    assert_int_equal(tr_task_repr(NULL, buf, sizeof buf), -EINVAL);
    errno = 0;
    assert_null(tr_taskset_get(NULL, 0));
    assert_int_equal(errno, EINVAL);
    assert_int_equal(tr_taskset_remove(NULL, NULL), -EINVAL);
    assert_int_equal(tr_all_tasks_fill(NULL), -EINVAL);
}

static void *null_args_in_loop(void *arg) {
    (void)arg;
    test_null_args(NULL);
    errno = 0;
    assert_null(tr_spawn(NULL, NULL));
    assert_int_equal(errno, EINVAL);
    errno = 0;
    assert_null(tr_spawn_named(NULL, NULL, NULL));
    assert_int_equal(errno, EINVAL);
    assert_int_equal(tr_task_set_name(tr_current(), NULL), -EINVAL);
    assert_int_equal(tr_task_repr(tr_current(), NULL, 1), -EINVAL);
    return NULL;
}

static void test_null_args_in_loop(void **state) {
    (void)state;
    run_ok(null_args_in_loop, NULL);
}

/* A thread that runs no loop, while another thread's loop runs: the loop-thread-only calls
 * fail with EPERM even on a task it may read; the any-thread calls work. */
struct plain_results {
    int await_rc, cancel_rc, set_name_rc, sleep_rc, yield_rc, spawn_errno;
    bool spawn_null, current_null, name_ok, fn_ok;
};

static void *plain_thread(void *arg) {
    tr_task *t = arg;
    static struct plain_results r;
    r.await_rc = tr_await(t, NULL);
    r.cancel_rc = tr_task_cancel(t);
    r.set_name_rc = tr_task_set_name(t, "nope");
    r.sleep_rc = tr_sleep(1);
    r.yield_rc = tr_yield();
    errno = 0;
    r.spawn_null = tr_spawn(noop, NULL) == NULL;
    r.spawn_errno = errno;
    r.current_null = tr_current() == NULL;
    r.name_ok = task_number(tr_task_name(t)) > 0;
    r.fn_ok = tr_task_fn(t, NULL) == noop;
    return &r;
}

static void *plain_main(void *arg) {
    (void)arg;
    tr_task *t = tr_spawn(noop, NULL);
    pthread_t th;
    struct plain_results *r;
    assert_int_equal(pthread_create(&th, NULL, plain_thread, t), 0);
    assert_int_equal(pthread_join(th, (void **)&r), 0);
    assert_int_equal(r->await_rc, -EPERM);
    assert_int_equal(r->cancel_rc, -EPERM);
    assert_int_equal(r->set_name_rc, -EPERM);
    assert_int_equal(r->sleep_rc, -EPERM);
    assert_int_equal(r->yield_rc, -EPERM);
    assert_true(r->spawn_null);
    assert_int_equal(r->spawn_errno, EPERM);
    assert_true(r->current_null);
    assert_true(r->name_ok);
    assert_true(r->fn_ok);
    assert_false(tr_task_cancelled(t));
    assert_int_equal(tr_await(t, NULL), 0);
    tr_task_release(t);
    return NULL;
}

static void test_plain_thread_during_loop(void **state) {
    (void)state;
    run_ok(plain_main, NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_strerror),
        cmocka_unit_test(test_outside_loop),
        cmocka_unit_test(test_null_args),
        cmocka_unit_test(test_null_args_in_loop),
        cmocka_unit_test(test_plain_thread_during_loop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
