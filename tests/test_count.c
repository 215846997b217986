/* tr_task_count: live (not done) tasks of the process, from any thread. */
#include <pthread.h>
#include <stdatomic.h>

#include "test_util.h"

static void *noop(void *arg) {
    return arg;
}

static void *sleeper(void *arg) {
    (void)arg;
    tr_sleep(10000 * MS);
    return NULL;
}

static void *count_from_thread(void *arg) {
    (void)arg;
    return (void *)(uintptr_t)tr_task_count();
}

static size_t count_elsewhere(void) {
    pthread_t th;
    void *r;
    assert_int_equal(pthread_create(&th, NULL, count_from_thread, NULL), 0);
    assert_int_equal(pthread_join(th, &r), 0);
    return (size_t)(uintptr_t)r;
}

static void *count_main(void *arg) {
    (void)arg;
    assert_int_equal(tr_task_count(), 1);
    tr_task *t[10];
    for (int i = 0; i < 5; i++)
        t[i] = tr_spawn(noop, NULL);
    for (int i = 5; i < 10; i++)
        t[i] = tr_spawn(sleeper, NULL);
    assert_int_equal(tr_task_count(), 11); /* scheduled tasks count */
    assert_int_equal(tr_yield(), 0);
    assert_int_equal(tr_task_count(), 6); /* the noops are done, though still referenced */
    /* Another thread sees the count as of the loop's last turn: sleeping ends one. */
    assert_int_equal(tr_sleep(1 * MS), 0);
    assert_int_equal(tr_task_count(), 6);
    assert_int_equal(count_elsewhere(), 6);
    tr_taskset *s = tr_all_tasks();
    assert_int_equal(tr_taskset_size(s), tr_task_count());
    tr_taskset_free(s);
    for (int i = 5; i < 10; i++) {
        assert_int_equal(tr_task_cancel(t[i]), 1);
        assert_int_equal(tr_await(t[i], NULL), -ECANCELED);
        assert_int_equal(tr_task_count(), (size_t)(1 + 9 - i));
    }
    for (int i = 0; i < 10; i++)
        tr_task_release(t[i]);
    assert_int_equal(tr_task_count(), 1);
    /* Fire-and-forget tasks count while they live. */
    tr_task_release(tr_spawn(noop, NULL));
    assert_int_equal(tr_task_count(), 2);
    assert_int_equal(tr_yield(), 0);
    assert_int_equal(tr_task_count(), 1);
    return NULL;
}

static void test_count(void **state) {
    (void)state;
    assert_int_equal(tr_task_count(), 0);
    run_ok(count_main, NULL);
    assert_int_equal(tr_task_count(), 0);
}

/* Leftovers cancelled by tr_run are no longer counted once it returns. */
static void *leftover_main(void *arg) {
    (void)arg;
    for (int i = 0; i < 20; i++)
        tr_task_release(tr_spawn(sleeper, NULL));
    assert_int_equal(tr_yield(), 0);
    for (int i = 0; i < 20; i++)
        tr_task_release(tr_spawn(noop, NULL));
    assert_int_equal(tr_task_count(), 41);
    return NULL;
}

static void test_count_after_leftovers(void **state) {
    (void)state;
    run_ok(leftover_main, NULL);
    assert_int_equal(tr_task_count(), 0);
}

/* Two loops at once: the count is the sum. */
static atomic_int phase;

static void *second_loop_main(void *arg) {
    (void)arg;
    tr_task *t[3];
    for (int i = 0; i < 3; i++)
        t[i] = tr_spawn(sleeper, NULL);
    tr_sleep(1 * MS); /* end a turn: other threads now see this loop's count */
    phase = 1;
    while (phase != 2)
        if (tr_sleep(1 * MS) != 0)
            break;
    for (int i = 0; i < 3; i++) {
        tr_task_cancel(t[i]);
        tr_await(t[i], NULL);
        tr_task_release(t[i]);
    }
    return NULL;
}

static void *second_loop(void *arg) {
    (void)arg;
    return (void *)(intptr_t)tr_run(second_loop_main, NULL, NULL);
}

static void *two_loops_main(void *arg) {
    (void)arg;
    phase = 0;
    tr_task *t = tr_spawn(sleeper, NULL);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, second_loop, NULL), 0);
    uint64_t deadline = now_ns() + 5000 * MS;
    while (phase != 1 && now_ns() < deadline)
        assert_int_equal(tr_sleep(1 * MS), 0);
    assert_int_equal(phase, 1);
    assert_int_equal(tr_task_count(), 2 + 4);
    phase = 2;
    void *rc;
    assert_int_equal(pthread_join(th, &rc), 0);
    assert_int_equal((int)(intptr_t)rc, 0);
    assert_int_equal(tr_task_count(), 2);
    tr_task_cancel(t);
    tr_await(t, NULL);
    tr_task_release(t);
    assert_int_equal(tr_task_count(), 1);
    return NULL;
}

static void test_count_two_loops(void **state) {
    (void)state;
    run_ok(two_loops_main, NULL);
    assert_int_equal(tr_task_count(), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_count),
        cmocka_unit_test(test_count_after_leftovers),
        cmocka_unit_test(test_count_two_loops),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
