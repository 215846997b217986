/* tr_current: the running task, NULL outside any task. */
#include <pthread.h>

#include "test_util.h"

static void test_outside(void **state) {
    (void)state;
    assert_null(tr_current());
}

static void *child(void *arg) {
    tr_task **slot = arg;
    *slot = tr_current();
    assert_int_equal(tr_yield(), 0);
    assert_ptr_equal(tr_current(), *slot);
    assert_int_equal(tr_sleep(1 * MS), 0);
    assert_ptr_equal(tr_current(), *slot);
    return NULL;
}

static void *other_thread(void *arg) {
    (void)arg;
    /* A thread with no loop has no current task, even while another thread's loop runs. */
    return tr_current();
}

static int main_marker;
static void *current_main(void *arg) {
    assert_ptr_equal(arg, &main_marker);
    tr_task *self = tr_current();
    assert_non_null(self);
    void *a = NULL;
    assert_ptr_equal(tr_task_fn(self, &a), current_main);
    assert_ptr_equal(a, &main_marker);
    assert_false(tr_task_done(self));
    assert_true(task_number(tr_task_name(self)) > 0);

    tr_task *seen[3] = {NULL, NULL, NULL};
    tr_task *t[3];
    for (int i = 0; i < 3; i++)
        t[i] = tr_spawn(child, &seen[i]);
    assert_ptr_equal(tr_current(), self);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(tr_await(t[i], NULL), 0);
        assert_ptr_equal(seen[i], t[i]);
        assert_ptr_equal(tr_current(), self);
        tr_task_release(t[i]);
    }

    pthread_t th;
    void *other = (void *)1;
    assert_int_equal(pthread_create(&th, NULL, other_thread, NULL), 0);
    assert_int_equal(pthread_join(th, &other), 0);
    assert_null(other);
    return self;
}

static void test_inside(void **state) {
    (void)state;
    tr_task *self = run_ok(current_main, &main_marker);
    assert_non_null(self); /* the pointer is only compared, not used */
    assert_null(tr_current());
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_outside),
        cmocka_unit_test(test_inside),
        cmocka_unit_test(test_outside),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
