/* tr_taskset_remove / tr_taskset_get / tr_taskset_size, and the tutorial's pattern: remove
 * the current task from all_tasks, then await the rest. */
#include "test_util.h"

static void *sleep_ms(void *arg) {
    if (tr_sleep((uint64_t)(uintptr_t)arg * MS) != 0)
        return NULL;
    return arg;
}

/* Sleeps in 1 ms steps until the gate opens, then returns its argument. */
static bool gate_open;
static void *gated(void *arg) {
    while (!gate_open)
        if (tr_sleep(1 * MS) != 0)
            return NULL;
    return arg;
}

static void *remove_main(void *arg) {
    (void)arg;
    gate_open = false;
    tr_task *t[6];
    for (int i = 0; i < 6; i++)
        t[i] = tr_spawn(gated, (void *)(uintptr_t)(10 + i));
    tr_task *outsider = tr_spawn(sleep_ms, (void *)1);
    assert_int_equal(tr_await(outsider, NULL), 0); /* done: not in the next snapshot */

    tr_taskset *s = tr_all_tasks();
    assert_non_null(s);
    assert_int_equal(tr_taskset_size(s), 7);

    assert_int_equal(tr_taskset_remove(NULL, t[0]), -EINVAL);
    assert_int_equal(tr_taskset_remove(s, NULL), -EINVAL);
    assert_int_equal(tr_taskset_remove(s, outsider), -ENOENT);
    assert_int_equal(tr_taskset_size(s), 7);

    assert_int_equal(tr_taskset_remove(s, tr_current()), 0);
    assert_int_equal(tr_taskset_size(s), 6);
    assert_false(set_contains(s, tr_current()));
    assert_int_equal(tr_taskset_remove(s, tr_current()), -ENOENT);
    assert_int_equal(tr_taskset_size(s), 6);

    assert_int_equal(tr_taskset_remove(s, t[3]), 0);
    assert_int_equal(tr_taskset_size(s), 5);
    assert_set_distinct(s);
    for (int i = 0; i < 6; i++)
        assert_int_equal(set_contains(s, t[i]), i != 3);
    errno = 0;
    assert_null(tr_taskset_get(s, 5));
    assert_int_equal(errno, ERANGE);

    /* Await the rest, as the tutorial's fixed example does. */
    gate_open = true;
    for (size_t i = 0; i < tr_taskset_size(s); i++) {
        tr_task *x = tr_taskset_get(s, i);
        void *r;
        assert_int_equal(tr_await(x, &r), 0);
        uintptr_t ms = (uintptr_t)r;
        assert_true(ms >= 10 && ms <= 15 && ms != 13);
        assert_true(tr_task_done(x));
    }

    /* Remove everything; the set is then empty but usable. */
    while (tr_taskset_size(s) > 0)
        assert_int_equal(tr_taskset_remove(s, tr_taskset_get(s, tr_taskset_size(s) - 1)), 0);
    assert_int_equal(tr_taskset_remove(s, t[0]), -ENOENT);
    errno = 0;
    assert_null(tr_taskset_get(s, 0));
    assert_int_equal(errno, ERANGE);
    tr_taskset_free(s);

    assert_int_equal(tr_await(t[3], NULL), 0);
    for (int i = 0; i < 6; i++)
        tr_task_release(t[i]);
    tr_task_release(outsider);
    return NULL;
}

static void test_remove(void **state) {
    (void)state;
    run_ok(remove_main, NULL);
}

/* A removed task is no longer kept alive by the set; the others still are. */
static void *remove_keeps_others_main(void *arg) {
    (void)arg;
    tr_task *a = tr_spawn(sleep_ms, (void *)1);
    tr_task *b = tr_spawn(sleep_ms, (void *)1);
    tr_taskset *s = tr_all_tasks();
    assert_int_equal(tr_taskset_size(s), 3);
    assert_int_equal(tr_taskset_remove(s, a), 0);
    tr_task_release(b); /* b now lives through the set only */
    assert_int_equal(tr_await(a, NULL), 0);
    assert_int_equal(tr_sleep(3 * MS), 0);
    assert_true(tr_task_done(b));
    assert_true(set_contains(s, b));
    assert_non_null(tr_task_name(b));
    char buf[128];
    assert_true(tr_task_repr(b, buf, sizeof buf) > 0);
    tr_task_release(a);
    tr_taskset_free(s);
    return NULL;
}

static void test_remove_keeps_others(void **state) {
    (void)state;
    run_ok(remove_keeps_others_main, NULL);
}

/* Sets from tr_taskset_new support remove too. */
static void *new_set_main(void *arg) {
    (void)arg;
    tr_taskset *s = tr_taskset_new(2);
    assert_non_null(s);
    assert_int_equal(tr_taskset_remove(s, tr_current()), -ENOENT);
    assert_int_equal(tr_all_tasks_fill(s), 1);
    assert_int_equal(tr_taskset_remove(s, tr_current()), 0);
    assert_int_equal(tr_taskset_size(s), 0);
    tr_taskset_free(s);
    return NULL;
}

static void test_new_set_remove(void **state) {
    (void)state;
    run_ok(new_set_main, NULL);
}

/* A set entry whose task lost its last reference cannot be retained again (ESRCH); one that
 * is still referenced can. */
static void *retain_entry_main(void *arg) {
    (void)arg;
    tr_task *gone = tr_spawn(sleep_ms, (void *)1);
    tr_task *kept = tr_spawn(sleep_ms, (void *)1);
    tr_taskset *s = tr_all_tasks();
    assert_true(set_contains(s, gone));
    assert_true(set_contains(s, kept));
    assert_int_equal(tr_await(gone, NULL), 0);
    tr_task_release(gone); /* last reference: done, and released */
    errno = 0;
    assert_null(tr_task_retain(gone));
    assert_int_equal(errno, ESRCH);
    assert_non_null(tr_task_name(gone)); /* still readable through the set */
    assert_true(tr_task_done(gone));
    assert_ptr_equal(tr_task_retain(kept), kept);
    tr_taskset_free(s);
    assert_int_equal(tr_await(kept, NULL), 0);
    tr_task_release(kept);
    tr_task_release(kept);
    return NULL;
}

static void test_retain_set_entry(void **state) {
    (void)state;
    run_ok(retain_entry_main, NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_remove),
        cmocka_unit_test(test_remove_keeps_others),
        cmocka_unit_test(test_new_set_remove),
        cmocka_unit_test(test_retain_set_entry),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
