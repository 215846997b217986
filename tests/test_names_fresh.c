/* Task-N numbering in a fresh process: the first loop's main is exactly "Task-1", the first
 * task it spawns "Task-2"; the next loop continues the count. This program must create no
 * other task before these checks. */
#include "test_util.h"

static void *noop(void *arg) {
    return arg;
}

static void *first_main(void *arg) {
    (void)arg;
    assert_string_equal(tr_task_name(tr_current()), "Task-1");
    tr_task *t = tr_spawn(noop, NULL);
    assert_string_equal(tr_task_name(t), "Task-2");
    assert_int_equal(tr_await(t, NULL), 0);
    tr_task_release(t);
    return NULL;
}

static void *second_main(void *arg) {
    (void)arg;
    assert_string_equal(tr_task_name(tr_current()), "Task-3");
    tr_task *t = tr_spawn(noop, NULL);
    assert_string_equal(tr_task_name(t), "Task-4");
    assert_int_equal(tr_await(t, NULL), 0);
    tr_task_release(t);
    return NULL;
}

static void test_fresh_numbers(void **state) {
    (void)state;
    run_ok(first_main, NULL);
    run_ok(second_main, NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fresh_numbers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
