/* tr_run / tr_run_with: results, arguments, errors, nesting, shutdown of leftover tasks. */
#include "test_util.h"

static void *return_arg(void *arg) {
    return arg;
}

static int main_calls;
static void *count_calls(void *arg) {
    (void)arg;
    main_calls++;
    return NULL;
}

static void test_null_main(void **state) {
    (void)state;
    void *result = (void *)7;
    assert_int_equal(tr_run(NULL, NULL, &result), -EINVAL);
    assert_ptr_equal(result, (void *)7);
    tr_options opts = {0};
    assert_int_equal(tr_run_with(&opts, NULL, NULL, &result), -EINVAL);
}

static void test_result_and_arg(void **state) {
    (void)state;
    int x;
    void *result = NULL;
    assert_int_equal(tr_run(return_arg, &x, &result), 0);
    assert_ptr_equal(result, &x);
    /* NULL result pointer is allowed. */
    assert_int_equal(tr_run(return_arg, &x, NULL), 0);
    /* Loops can be run one after another on the same thread. */
    for (int i = 0; i < 5; i++)
        assert_ptr_equal(run_ok(return_arg, (void *)(intptr_t)(i + 1)), (void *)(intptr_t)(i + 1));
}

static void *nested_main(void *arg) {
    (void)arg;
    main_calls = 0;
    void *result = (void *)7;
    assert_int_equal(tr_run(count_calls, NULL, &result), -EBUSY);
    tr_options opts = {0};
    assert_int_equal(tr_run_with(&opts, count_calls, NULL, &result), -EBUSY);
    assert_int_equal(main_calls, 0);
    assert_ptr_equal(result, (void *)7);
    /* The loop is not disturbed by the refused call. */
    assert_int_equal(tr_yield(), 0);
    return (void *)42;
}

static void *nested_in_child(void *arg) {
    (void)arg;
    return (void *)(intptr_t)tr_run(count_calls, NULL, NULL);
}

static void *nested_child_main(void *arg) {
    (void)arg;
    tr_task *t = tr_spawn(nested_in_child, NULL);
    assert_non_null(t);
    void *r = NULL;
    assert_int_equal(tr_await(t, &r), 0);
    assert_int_equal((int)(intptr_t)r, -EBUSY);
    tr_task_release(t);
    return NULL;
}

static void test_nested_run(void **state) {
    (void)state;
    assert_ptr_equal(run_ok(nested_main, NULL), (void *)42);
    main_calls = 0;
    run_ok(nested_child_main, NULL);
    assert_int_equal(main_calls, 0);
}

static void test_options(void **state) {
    (void)state;
    void *result = NULL;
    tr_options opts = {0};
    assert_int_equal(tr_run_with(&opts, return_arg, (void *)1, &result), 0);
    assert_ptr_equal(result, (void *)1);

    for (size_t i = 0; i < sizeof opts.reserved / sizeof opts.reserved[0]; i++) {
        tr_options bad = {0};
        bad.reserved[i] = 1;
        main_calls = 0;
        assert_int_equal(tr_run_with(&bad, count_calls, NULL, NULL), -EINVAL);
        assert_int_equal(main_calls, 0);
    }

    size_t guards[] = {1, 4095, 64 * 1024 * 1024 + 1, SIZE_MAX};
    for (size_t i = 0; i < sizeof guards / sizeof guards[0]; i++) {
        tr_options bad = {.guard_size = guards[i]};
        main_calls = 0;
        assert_int_equal(tr_run_with(&bad, count_calls, NULL, NULL), -EINVAL);
        assert_int_equal(main_calls, 0);
    }
    tr_options page_guard = {.guard_size = 4096};
    assert_int_equal(tr_run_with(&page_guard, return_arg, (void *)2, &result), 0);
    assert_ptr_equal(result, (void *)2);

    size_t tiny[] = {1, 4096, 8192, 16 * 1024 - 1};
    for (size_t i = 0; i < sizeof tiny / sizeof tiny[0]; i++) {
        tr_options bad = {.stack_size = tiny[i]};
        main_calls = 0;
        assert_int_equal(tr_run_with(&bad, count_calls, NULL, NULL), -EINVAL);
        assert_int_equal(main_calls, 0);
    }

    /* Bounds: stack_size 16 KiB..1 GiB, ring_entries 2..32768. */
    tr_options huge_stack = {.stack_size = (size_t)1024 * 1024 * 1024 + 4096};
    assert_int_equal(tr_run_with(&huge_stack, count_calls, NULL, NULL), -EINVAL);
    tr_options huge_ring = {.ring_entries = 32769};
    assert_int_equal(tr_run_with(&huge_ring, count_calls, NULL, NULL), -EINVAL);
    tr_options tiny_ring = {.ring_entries = 1};
    assert_int_equal(tr_run_with(&tiny_ring, count_calls, NULL, NULL), -EINVAL);
    assert_int_equal(main_calls, 0);

    /* NULL options are the defaults. */
    assert_int_equal(tr_run_with(NULL, return_arg, (void *)4, &result), 0);
    assert_ptr_equal(result, (void *)4);

    /* The documented minimum is accepted, and so are other explicit settings. */
    tr_options min = {.stack_size = 16 * 1024};
    assert_int_equal(tr_run_with(&min, return_arg, (void *)2, &result), 0);
    assert_ptr_equal(result, (void *)2);
    tr_options custom = {.stack_size = 256 * 1024, .max_idle_stacks = 1, .ring_entries = 8};
    assert_int_equal(tr_run_with(&custom, return_arg, (void *)3, &result), 0);
    assert_ptr_equal(result, (void *)3);
}

/* A task that uses a large part of its (custom) stack. */
static void *use_stack(void *arg) {
    size_t n = (size_t)(uintptr_t)arg;
    volatile char buf[200 * 1024];
    for (size_t i = 0; i < n && i < sizeof buf; i += 512)
        buf[i] = (char)i;
    assert_int_equal(tr_yield(), 0);
    unsigned sum = 0;
    for (size_t i = 0; i < n && i < sizeof buf; i += 512)
        sum += (unsigned char)buf[i];
    return (void *)(uintptr_t)sum;
}

static void *big_stack_main(void *arg) {
    (void)arg;
    tr_task *t[4];
    for (int i = 0; i < 4; i++)
        t[i] = tr_spawn(use_stack, (void *)(uintptr_t)(200 * 1024));
    unsigned expect = 0;
    for (size_t i = 0; i < 200 * 1024; i += 512)
        expect += (unsigned char)(char)i;
    for (int i = 0; i < 4; i++) {
        void *r;
        assert_int_equal(tr_await(t[i], &r), 0);
        assert_int_equal((uintptr_t)r, expect);
        tr_task_release(t[i]);
    }
    return NULL;
}

static void test_stack_size_honoured(void **state) {
    (void)state;
    /* 200 KiB of locals need a stack larger than the 64 KiB default. */
    tr_options opts = {.stack_size = 1024 * 1024};
    assert_int_equal(tr_run_with(&opts, big_stack_main, NULL, NULL), 0);
}

/* ---- leftover tasks at shutdown ----
 * Task handles of a loop must not be used once its tr_run returned (docs/api.md, "After
 * tr_run returns"); a snapshot set may: it is how the tasks' end states are read here. */

struct leftover {
    int sleep_rc;
    int after_yield_rc;
    int finished;
    int never_started_ran;
    int late_spawn_ran;
    int late_spawn_ok;
};

static void *never_started(void *arg) {
    int *ran = arg;
    *ran = 1;
    return NULL;
}

static void *leftover_sleeper(void *arg) {
    struct leftover *lo = arg;
    lo->sleep_rc = tr_sleep(10000 * MS);
    lo->after_yield_rc = tr_yield(); /* sticky: still cancelled */
    /* Spawned during tr_run's final phase: created cancelled, never runs. */
    tr_task *late = tr_spawn(never_started, &lo->late_spawn_ran);
    if (late != NULL) {
        lo->late_spawn_ok = 1;
        tr_task_release(late);
    }
    lo->finished = 1;
    return NULL;
}

static void *leftover_main(void *arg) {
    struct leftover *lo = arg;
    tr_task *sleeper = tr_spawn(leftover_sleeper, &lo[0]);
    assert_non_null(sleeper);
    assert_int_equal(tr_yield(), 0); /* the sleeper starts and goes to sleep */
    tr_task *unstarted = tr_spawn(never_started, &lo[0].never_started_ran);
    assert_non_null(unstarted);
    /* A fire-and-forget leftover too, never started either. */
    tr_task_release(tr_spawn(leftover_sleeper, &lo[1]));
    tr_task_release(sleeper);
    tr_task_release(unstarted);
    /* main, the sleeper, the two unstarted ones */
    tr_taskset *s = tr_all_tasks();
    assert_non_null(s);
    assert_int_equal(tr_taskset_size(s), 4);
    return s;
}

static void test_leftover_tasks_cancelled(void **state) {
    (void)state;
    struct leftover lo[2];
    memset(lo, 0, sizeof lo);
    lo[0].sleep_rc = lo[1].sleep_rc = 1;
    uint64_t t0 = now_ns();
    tr_taskset *s = run_ok(leftover_main, lo);
    uint64_t elapsed = now_ns() - t0;
    assert_true(elapsed < 5000 * MS); /* did not wait out the 10 s sleep */

    assert_int_equal(lo[0].sleep_rc, -ECANCELED);
    assert_int_equal(lo[0].after_yield_rc, -ECANCELED);
    assert_int_equal(lo[0].finished, 1);
    assert_int_equal(lo[0].late_spawn_ok, 1);
    assert_int_equal(lo[0].late_spawn_ran, 0);
    assert_int_equal(lo[0].never_started_ran, 0);
    /* The fire-and-forget sleeper never started (main returned first). */
    assert_int_equal(lo[1].finished, 0);
    assert_int_equal(lo[1].sleep_rc, 1);

    /* Every task of the snapshot is done; all but main ended cancelled. */
    assert_non_null(s);
    assert_int_equal(tr_taskset_size(s), 4);
    int cancelled = 0, mains = 0;
    for (size_t i = 0; i < tr_taskset_size(s); i++) {
        tr_task *t = tr_taskset_get(s, i);
        assert_true(tr_task_done(t));
        if (tr_task_fn(t, NULL) == leftover_main) {
            mains++;
            assert_false(tr_task_cancelled(t));
        } else {
            cancelled += tr_task_cancelled(t);
        }
    }
    assert_int_equal(mains, 1);
    assert_int_equal(cancelled, 3);
    tr_taskset_free(s);

    assert_int_equal(tr_task_count(), 0);
    s = tr_all_tasks();
    assert_non_null(s);
    assert_int_equal(tr_taskset_size(s), 0);
    tr_taskset_free(s);
}

/* ---- main cancelled ---- */

static void *cancel_target(void *arg) {
    tr_task *main_task = arg;
    assert_int_equal(tr_task_cancel(main_task), 1);
    return NULL;
}

static int main_sleep_rc;
static void *cancelled_main(void *arg) {
    (void)arg;
    tr_task *t = tr_spawn(cancel_target, tr_current());
    assert_non_null(t);
    main_sleep_rc = tr_sleep(10000 * MS);
    tr_task_release(t);
    return (void *)9;
}

static void test_main_cancelled(void **state) {
    (void)state;
    main_sleep_rc = 1;
    uint64_t t0 = now_ns();
    assert_int_equal(tr_run(cancelled_main, NULL, NULL), -ECANCELED);
    assert_true(now_ns() - t0 < 5000 * MS);
    assert_int_equal(main_sleep_rc, -ECANCELED);
    assert_int_equal(tr_task_count(), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_null_main),           cmocka_unit_test(test_result_and_arg),
        cmocka_unit_test(test_nested_run),          cmocka_unit_test(test_options),
        cmocka_unit_test(test_stack_size_honoured), cmocka_unit_test(test_leftover_tasks_cancelled),
        cmocka_unit_test(test_main_cancelled),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
