/* tr_spawn / tr_spawn_named / tr_task_retain / tr_task_release. */
#include <pthread.h>

#include "test_util.h"

static void *noop(void *arg) {
    return arg;
}

static void test_spawn_outside_loop(void **state) {
    (void)state;
    errno = 0;
    assert_null(tr_spawn(noop, NULL));
    assert_int_equal(errno, EPERM);
    errno = 0;
    assert_null(tr_spawn_named(noop, NULL, "x"));
    assert_int_equal(errno, EPERM);
    assert_int_equal(tr_task_count(), 0);
}

static void *bad_args_main(void *arg) {
    (void)arg;
    errno = 0;
    assert_null(tr_spawn(NULL, NULL));
    assert_int_equal(errno, EINVAL);
    errno = 0;
    assert_null(tr_spawn_named(NULL, NULL, "x"));
    assert_int_equal(errno, EINVAL);
    assert_int_equal(tr_task_count(), 1);
    return NULL;
}

static void test_spawn_bad_args(void **state) {
    (void)state;
    run_ok(bad_args_main, NULL);
}

/* ---- scheduling ---- */

static int ran[8];
static void *mark(void *arg) {
    int i = (int)(intptr_t)arg;
    ran[i] = 1;
    return (void *)(intptr_t)(100 + i);
}

static void *schedule_main(void *arg) {
    (void)arg;
    memset(ran, 0, sizeof ran);
    tr_task *t = tr_spawn(mark, (void *)0);
    assert_non_null(t);
    /* Scheduled to run soon, not run synchronously by tr_spawn. */
    assert_int_equal(ran[0], 0);
    assert_false(tr_task_done(t));
    assert_int_equal(tr_yield(), 0);
    assert_int_equal(ran[0], 1);
    assert_true(tr_task_done(t));
    assert_false(tr_task_cancelled(t));
    void *r = NULL;
    assert_int_equal(tr_await(t, &r), 0);
    assert_ptr_equal(r, (void *)100);
    tr_task_release(t);
    return NULL;
}

static void test_spawn_runs_soon(void **state) {
    (void)state;
    run_ok(schedule_main, NULL);
}

static int order[16];
static int norder;
static void *record_order(void *arg) {
    order[norder++] = (int)(intptr_t)arg;
    return NULL;
}

static void *fifo_main(void *arg) {
    (void)arg;
    norder = 0;
    tr_task *t[10];
    for (int i = 0; i < 10; i++)
        t[i] = tr_spawn(record_order, (void *)(intptr_t)i);
    for (int i = 0; i < 10; i++) {
        assert_int_equal(tr_await(t[i], NULL), 0);
        tr_task_release(t[i]);
    }
    assert_int_equal(norder, 10);
    for (int i = 0; i < 10; i++)
        assert_int_equal(order[i], i);
    return NULL;
}

static void test_spawn_order_fifo(void **state) {
    (void)state;
    run_ok(fifo_main, NULL);
}

/* ---- nested spawns ---- */

static void *spawn_tree(void *arg) {
    int depth = (int)(intptr_t)arg;
    if (depth == 0)
        return (void *)1;
    tr_task *a = tr_spawn(spawn_tree, (void *)(intptr_t)(depth - 1));
    tr_task *b = tr_spawn(spawn_tree, (void *)(intptr_t)(depth - 1));
    assert_non_null(a);
    assert_non_null(b);
    void *ra, *rb;
    assert_int_equal(tr_await(a, &ra), 0);
    assert_int_equal(tr_await(b, &rb), 0);
    tr_task_release(a);
    tr_task_release(b);
    return (void *)((intptr_t)ra + (intptr_t)rb);
}

static void test_nested_spawn(void **state) {
    (void)state;
    /* 2^8 leaves */
    assert_ptr_equal(run_ok(spawn_tree, (void *)8), (void *)256);
}

/* ---- fire and forget ---- */

static int ff_done;
static void *fire_and_forget(void *arg) {
    (void)arg;
    for (int i = 0; i < 3; i++)
        assert_int_equal(tr_yield(), 0);
    assert_int_equal(tr_sleep(2 * MS), 0);
    ff_done++;
    return NULL;
}

static void *ff_main(void *arg) {
    (void)arg;
    ff_done = 0;
    for (int i = 0; i < 4; i++)
        tr_task_release(tr_spawn(fire_and_forget, NULL));
    uint64_t deadline = now_ns() + 5000 * MS;
    while (ff_done < 4 && now_ns() < deadline)
        assert_int_equal(tr_sleep(1 * MS), 0);
    assert_int_equal(ff_done, 4);
    assert_int_equal(tr_task_count(), 1);
    return NULL;
}

static void test_fire_and_forget(void **state) {
    (void)state;
    run_ok(ff_main, NULL);
}

/* ---- names given at spawn ---- */

static void *named_main(void *arg) {
    (void)arg;
    char buf[32];
    strcpy(buf, "worker-one");
    tr_task *t = tr_spawn_named(noop, NULL, buf);
    assert_non_null(t);
    strcpy(buf, "overwritten");
    assert_string_equal(tr_task_name(t), "worker-one");

    long me = current_number();
    tr_task *d = tr_spawn_named(noop, NULL, NULL);
    assert_non_null(d);
    assert_true(task_number(tr_task_name(d)) > me);

    tr_task *e = tr_spawn_named(noop, NULL, "");
    assert_non_null(e);
    assert_string_equal(tr_task_name(e), "");

    assert_int_equal(tr_await(t, NULL), 0);
    assert_string_equal(tr_task_name(t), "worker-one");
    tr_task_release(t);
    tr_task_release(d);
    tr_task_release(e);
    return NULL;
}

static void test_spawn_named(void **state) {
    (void)state;
    run_ok(named_main, NULL);
}

/* ---- retain / release ---- */

static void *release_thread(void *arg) {
    tr_task *t = arg;
    for (int i = 0; i < 1000; i++)
        tr_task_release(tr_task_retain(t));
    tr_task_release(t); /* the reference given to this thread */
    return NULL;
}

static void *retain_main(void *arg) {
    (void)arg;
    errno = 0;
    assert_null(tr_task_retain(NULL));
    assert_int_equal(errno, EINVAL);
    tr_task_release(NULL); /* ignored */

    tr_task *t = tr_spawn(noop, (void *)3);
    assert_non_null(t);
    assert_ptr_equal(tr_task_retain(t), t);
    assert_ptr_equal(tr_task_retain(t), t);
    assert_int_equal(tr_await(t, NULL), 0);
    tr_task_release(t);
    tr_task_release(t);
    /* One reference left: still readable after it finished. */
    assert_true(tr_task_done(t));
    void *a = NULL;
    assert_ptr_equal(tr_task_fn(t, &a), noop);
    assert_ptr_equal(a, (void *)3);

    /* Retain/release from another thread while the loop runs. */
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, release_thread, tr_task_retain(t)), 0);
    for (int i = 0; i < 1000; i++)
        tr_task_release(tr_task_retain(t));
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_non_null(tr_task_name(t));
    tr_task_release(t);
    return NULL;
}

static void test_retain_release(void **state) {
    (void)state;
    run_ok(retain_main, NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spawn_outside_loop), cmocka_unit_test(test_spawn_bad_args),
        cmocka_unit_test(test_spawn_runs_soon),    cmocka_unit_test(test_spawn_order_fifo),
        cmocka_unit_test(test_nested_spawn),       cmocka_unit_test(test_fire_and_forget),
        cmocka_unit_test(test_spawn_named),        cmocka_unit_test(test_retain_release),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
