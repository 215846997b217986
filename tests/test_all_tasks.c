/* tr_all_tasks / tr_all_tasks_fill / tr_taskset_new: which tasks a snapshot holds, and that
 * the snapshot stays readable. */
#include <pthread.h>
#include <stdatomic.h>

#include "test_util.h"

static void test_outside_empty(void **state) {
    (void)state;
    tr_taskset *s = tr_all_tasks();
    assert_non_null(s);
    assert_int_equal(tr_taskset_size(s), 0);
    errno = 0;
    assert_null(tr_taskset_get(s, 0));
    assert_int_equal(errno, ERANGE);
    tr_taskset_free(s);
}

static void *only_main(void *arg) {
    (void)arg;
    tr_taskset *s = tr_all_tasks();
    assert_non_null(s);
    assert_int_equal(tr_taskset_size(s), 1);
    assert_ptr_equal(tr_taskset_get(s, 0), tr_current());
    tr_taskset_free(s);
    return NULL;
}

static void test_only_main(void **state) {
    (void)state;
    run_ok(only_main, NULL);
}

/* ---- every state ---- */

static atomic_bool release_spinner;
static void *noop(void *arg) {
    return arg;
}
static void *sleeper(void *arg) {
    (void)arg;
    return (void *)(intptr_t)tr_sleep(10000 * MS);
}
static void *awaiter(void *arg) {
    return (void *)(intptr_t)tr_await(arg, NULL);
}
static void *spinner(void *arg) {
    (void)arg;
    while (!release_spinner)
        if (tr_yield() != 0)
            break;
    return NULL;
}

static void *states_main(void *arg) {
    (void)arg;
    release_spinner = false;
    tr_task *finished = tr_spawn(noop, NULL);
    tr_task *sleeping = tr_spawn(sleeper, NULL);
    tr_task *awaiting = tr_spawn(awaiter, sleeping);
    tr_task *spinning = tr_spawn(spinner, NULL);
    tr_task *cancelled = tr_spawn(sleeper, NULL);
    assert_int_equal(tr_yield(), 0);
    assert_true(tr_task_done(finished));
    assert_int_equal(tr_task_cancel(cancelled), 1);
    assert_int_equal(tr_await(cancelled, NULL), -ECANCELED);
    tr_task *unstarted = tr_spawn(noop, NULL);

    tr_taskset *s = tr_all_tasks();
    assert_non_null(s);
    assert_set_distinct(s);
    assert_true(set_contains(s, tr_current())); /* running */
    assert_true(set_contains(s, sleeping));     /* suspended in tr_sleep */
    assert_true(set_contains(s, awaiting));     /* suspended in tr_await */
    assert_true(set_contains(s, spinning));     /* runnable, yielded */
    assert_true(set_contains(s, unstarted));    /* scheduled, never ran */
    assert_false(set_contains(s, finished));    /* done */
    assert_false(set_contains(s, cancelled));   /* done by cancellation */
    assert_int_equal(tr_taskset_size(s), 5);
    for (size_t i = 0; i < tr_taskset_size(s); i++)
        assert_false(tr_task_done(tr_taskset_get(s, i)));
    errno = 0;
    assert_null(tr_taskset_get(s, 5));
    assert_int_equal(errno, ERANGE);
    errno = 0;
    assert_null(tr_taskset_get(s, SIZE_MAX));
    assert_int_equal(errno, ERANGE);

    /* Finish every task but main; the set, taken before, stays readable. */
    release_spinner = true;
    assert_int_equal(tr_task_cancel(sleeping), 1);
    tr_task *all[] = {finished, sleeping, awaiting, spinning, cancelled, unstarted};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        tr_await(all[i], NULL);
        assert_true(tr_task_done(all[i]));
        tr_task_release(all[i]);
    }
    /* We hold no reference any more except through the set. */
    assert_int_equal(tr_taskset_size(s), 5);
    int done = 0;
    for (size_t i = 0; i < tr_taskset_size(s); i++) {
        tr_task *t = tr_taskset_get(s, i);
        assert_non_null(t);
        assert_non_null(tr_task_name(t));
        assert_true(task_number(tr_task_name(t)) > 0);
        assert_non_null(tr_task_fn(t, NULL));
        char buf[128];
        assert_true(tr_task_repr(t, buf, sizeof buf) > 0);
        done += tr_task_done(t);
    }
    assert_int_equal(done, 4);

    tr_taskset *after = tr_all_tasks();
    assert_int_equal(tr_taskset_size(after), 1);
    assert_ptr_equal(tr_taskset_get(after, 0), tr_current());
    tr_taskset_free(after);
    return s; /* freed outside the loop */
}

static void test_states(void **state) {
    (void)state;
    tr_taskset *s = run_ok(states_main, NULL);
    assert_non_null(s);
    /* The loop is gone; the set still holds its (now all done) tasks. */
    for (size_t i = 0; i < tr_taskset_size(s); i++) {
        assert_true(tr_task_done(tr_taskset_get(s, i)));
        assert_non_null(tr_task_name(tr_taskset_get(s, i)));
    }
    tr_taskset_free(s);
}

/* ---- bad arguments ---- */

static void test_bad_args(void **state) {
    (void)state;
    errno = 0;
    assert_null(tr_taskset_get(NULL, 0));
    assert_int_equal(errno, EINVAL);
    assert_int_equal(tr_all_tasks_fill(NULL), -EINVAL);
}

/* ---- fill ---- */

static void *fill_main(void *arg) {
    (void)arg;
    tr_task *t[10];
    for (int i = 0; i < 10; i++)
        t[i] = tr_spawn(sleeper, NULL);
    assert_int_equal(tr_yield(), 0);

    tr_taskset *big = tr_taskset_new(64);
    assert_non_null(big);
    assert_int_equal(tr_taskset_size(big), 0);
    assert_int_equal(tr_all_tasks_fill(big), 11);
    assert_int_equal(tr_taskset_size(big), 11);
    assert_set_distinct(big);
    assert_true(set_contains(big, tr_current()));
    for (int i = 0; i < 10; i++)
        assert_true(set_contains(big, t[i]));

    tr_taskset *small = tr_taskset_new(4);
    assert_non_null(small);
    assert_int_equal(tr_all_tasks_fill(small), 11);
    assert_int_equal(tr_taskset_size(small), 4);
    assert_set_distinct(small);
    for (size_t i = 0; i < 4; i++) {
        tr_task *x = tr_taskset_get(small, i);
        assert_true(x == tr_current() || set_contains(big, x));
    }
    errno = 0;
    assert_null(tr_taskset_get(small, 4));
    assert_int_equal(errno, ERANGE);

    tr_taskset *none = tr_taskset_new(0);
    assert_non_null(none);
    assert_int_equal(tr_all_tasks_fill(none), 11);
    assert_int_equal(tr_taskset_size(none), 0);

    /* Refilled in place after half of the tasks finish. */
    for (int i = 0; i < 5; i++) {
        assert_int_equal(tr_task_cancel(t[i]), 1);
        assert_int_equal(tr_await(t[i], NULL), -ECANCELED);
    }
    assert_int_equal(tr_all_tasks_fill(big), 6);
    assert_int_equal(tr_taskset_size(big), 6);
    for (int i = 0; i < 5; i++)
        assert_false(set_contains(big, t[i]));
    for (int i = 5; i < 10; i++)
        assert_true(set_contains(big, t[i]));
    assert_int_equal(tr_all_tasks_fill(small), 6);
    assert_int_equal(tr_taskset_size(small), 4);

    /* Removing from a filled set, then refilling it. */
    assert_int_equal(tr_taskset_remove(big, tr_current()), 0);
    assert_int_equal(tr_taskset_size(big), 5);
    assert_int_equal(tr_all_tasks_fill(big), 6);
    assert_true(set_contains(big, tr_current()));

    for (int i = 5; i < 10; i++) {
        assert_int_equal(tr_task_cancel(t[i]), 1);
        assert_int_equal(tr_await(t[i], NULL), -ECANCELED);
    }
    /* The filled set kept them readable. */
    for (size_t i = 0; i < tr_taskset_size(big); i++)
        assert_non_null(tr_task_name(tr_taskset_get(big, i)));
    for (int i = 0; i < 10; i++)
        tr_task_release(t[i]);
    assert_int_equal(tr_all_tasks_fill(big), 1);
    assert_ptr_equal(tr_taskset_get(big, 0), tr_current());
    tr_taskset_free(big);
    tr_taskset_free(small);
    tr_taskset_free(none);
    return NULL;
}

static void test_fill(void **state) {
    (void)state;
    run_ok(fill_main, NULL);
    tr_taskset *s = tr_taskset_new(8);
    assert_non_null(s);
    assert_int_equal(tr_all_tasks_fill(s), 0);
    assert_int_equal(tr_taskset_size(s), 0);
    tr_taskset_free(s);
}

/* ---- process-wide: tasks of another thread's loop ---- */

static atomic_int other_phase;
static atomic_uintptr_t other_task;

static void *other_loop_main(void *arg) {
    (void)arg;
    tr_task *t = tr_spawn(sleeper, NULL);
    other_task = (uintptr_t)t;
    tr_sleep(1 * MS); /* end a turn: other threads now see this loop's count */
    other_phase = 1;
    while (other_phase != 2)
        if (tr_sleep(1 * MS) != 0)
            break;
    tr_task_cancel(t);
    tr_await(t, NULL);
    tr_task_release(t);
    return NULL;
}

static void *other_thread(void *arg) {
    (void)arg;
    return (void *)(intptr_t)tr_run(other_loop_main, NULL, NULL);
}

static void *cross_main(void *arg) {
    (void)arg;
    other_phase = 0;
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, other_thread, NULL), 0);
    uint64_t deadline = now_ns() + 5000 * MS;
    while (other_phase != 1 && now_ns() < deadline)
        assert_int_equal(tr_sleep(1 * MS), 0);
    assert_int_equal(other_phase, 1);

    tr_taskset *s = tr_all_tasks();
    assert_non_null(s);
    assert_set_distinct(s);
    assert_true(set_contains(s, tr_current()));
    assert_true(set_contains(s, (tr_task *)other_task));
    /* us, the other loop's main, its sleeper */
    assert_int_equal(tr_taskset_size(s), 3);
    assert_int_equal(tr_task_count(), 3);
    tr_taskset_free(s);

    other_phase = 2;
    void *rc;
    assert_int_equal(pthread_join(th, &rc), 0);
    assert_int_equal((int)(intptr_t)rc, 0);
    s = tr_all_tasks();
    assert_int_equal(tr_taskset_size(s), 1);
    tr_taskset_free(s);
    return NULL;
}

static void test_other_loop(void **state) {
    (void)state;
    run_ok(cross_main, NULL);
}

/* ---- from a thread that runs no loop ---- */

static atomic_int monitor_ok;
static void *monitor(void *arg) {
    tr_task **expect = arg;
    tr_taskset *s = tr_all_tasks();
    if (s == NULL)
        return NULL;
    int found = 0;
    for (int i = 0; i < 4; i++)
        found += set_contains(s, expect[i]);
    if (found == 4 && tr_taskset_size(s) == 4 && tr_task_count() == 4)
        monitor_ok = 1;
    tr_taskset_free(s);
    return NULL;
}

static void *monitored_main(void *arg) {
    (void)arg;
    tr_task *expect[4];
    expect[0] = tr_current();
    for (int i = 1; i < 4; i++)
        expect[i] = tr_spawn(sleeper, NULL);
    /* A full turn (sleeping ends one), so that other threads see this loop's count. */
    assert_int_equal(tr_sleep(1 * MS), 0);
    monitor_ok = 0;
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, monitor, expect), 0);
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_int_equal(monitor_ok, 1);
    for (int i = 1; i < 4; i++) {
        tr_task_cancel(expect[i]);
        tr_task_release(expect[i]);
    }
    return NULL;
}

static void test_from_plain_thread(void **state) {
    (void)state;
    run_ok(monitored_main, NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_outside_empty),
        cmocka_unit_test(test_only_main),
        cmocka_unit_test(test_states),
        cmocka_unit_test(test_bad_args),
        cmocka_unit_test(test_fill),
        cmocka_unit_test(test_other_loop),
        cmocka_unit_test(test_from_plain_thread),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
