/* tr_sleep and tr_yield: errors outside a task, lower bounds, wake order, round-robin. */
#include "test_util.h"

static void test_outside(void **state) {
    (void)state;
    assert_int_equal(tr_sleep(1 * MS), -EPERM);
    assert_int_equal(tr_sleep(0), -EPERM);
    assert_int_equal(tr_yield(), -EPERM);
}

static void *sleep_bounds_main(void *arg) {
    (void)arg;
    uint64_t durations[] = {1, 1000, 100000, 1 * MS, 10 * MS, 50 * MS};
    for (size_t i = 0; i < sizeof durations / sizeof durations[0]; i++) {
        uint64_t t0 = now_ns();
        assert_int_equal(tr_sleep(durations[i]), 0);
        uint64_t slept = now_ns() - t0;
        if (slept < durations[i])
            fail_msg("tr_sleep(%llu) returned after %llu ns", (unsigned long long)durations[i],
                     (unsigned long long)slept);
    }
    return NULL;
}

static void test_sleep_at_least(void **state) {
    (void)state;
    run_ok(sleep_bounds_main, NULL);
}

/* ---- wake order follows deadlines ---- */

static int woke[8];
static int nwoke;
static void *sleep_then_record(void *arg) {
    int ms = (int)(intptr_t)arg;
    uint64_t t0 = now_ns();
    assert_int_equal(tr_sleep((uint64_t)ms * MS), 0);
    assert_true(now_ns() - t0 >= (uint64_t)ms * MS);
    woke[nwoke++] = ms;
    return NULL;
}

static void *order_main(void *arg) {
    (void)arg;
    nwoke = 0;
    int ms[] = {40, 10, 30, 20, 50};
    tr_task *t[5];
    for (int i = 0; i < 5; i++)
        t[i] = tr_spawn(sleep_then_record, (void *)(intptr_t)ms[i]);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(tr_await(t[i], NULL), 0);
        tr_task_release(t[i]);
    }
    assert_int_equal(nwoke, 5);
    for (int i = 0; i < 5; i++)
        assert_int_equal(woke[i], 10 * (i + 1));
    return NULL;
}

static void test_wake_order(void **state) {
    (void)state;
    run_ok(order_main, NULL);
}

/* ---- sleeps overlap: a sleeping task does not block the loop ---- */

static void *sleep_50(void *arg) {
    (void)arg;
    assert_int_equal(tr_sleep(50 * MS), 0);
    return NULL;
}

static void *overlap_main(void *arg) {
    (void)arg;
    tr_task *t[200];
    uint64_t t0 = now_ns();
    for (int i = 0; i < 200; i++)
        t[i] = tr_spawn(sleep_50, NULL);
    for (int i = 0; i < 200; i++) {
        assert_int_equal(tr_await(t[i], NULL), 0);
        tr_task_release(t[i]);
    }
    uint64_t elapsed = now_ns() - t0;
    assert_true(elapsed >= 50 * MS);
    /* 200 sequential sleeps would take 10 s; concurrent ones well under 5 s. */
    assert_true(elapsed < 5000 * MS);
    return NULL;
}

static void test_sleeps_overlap(void **state) {
    (void)state;
    run_ok(overlap_main, NULL);
}

/* ---- round-robin ---- */

static int trace[64];
static int ntrace;
static int counters[3];

static void *yield_loop(void *arg) {
    int id = (int)(intptr_t)arg;
    for (int i = 0; i < 3; i++) {
        trace[ntrace++] = id;
        counters[id]++;
        assert_int_equal(tr_yield(), 0);
    }
    return NULL;
}

static void *rr_main(void *arg) {
    (void)arg;
    ntrace = 0;
    memset(counters, 0, sizeof counters);
    tr_task *t[3];
    for (int i = 0; i < 3; i++)
        t[i] = tr_spawn(yield_loop, (void *)(intptr_t)i);
    /* Each yield of main lets every other runnable task run exactly once. */
    for (int round = 1; round <= 3; round++) {
        assert_int_equal(tr_yield(), 0);
        for (int i = 0; i < 3; i++)
            assert_int_equal(counters[i], round);
    }
    for (int i = 0; i < 3; i++) {
        assert_int_equal(tr_await(t[i], NULL), 0);
        tr_task_release(t[i]);
    }
    assert_int_equal(ntrace, 9);
    for (int i = 0; i < 9; i++)
        assert_int_equal(trace[i], i % 3);
    return NULL;
}

static void test_yield_round_robin(void **state) {
    (void)state;
    run_ok(rr_main, NULL);
}

/* tr_sleep(0) is tr_yield(). */
static void *sleep0_main(void *arg) {
    (void)arg;
    memset(counters, 0, sizeof counters);
    ntrace = 0;
    tr_task *t[3];
    for (int i = 0; i < 3; i++)
        t[i] = tr_spawn(yield_loop, (void *)(intptr_t)i);
    for (int round = 1; round <= 3; round++) {
        assert_int_equal(tr_sleep(0), 0);
        for (int i = 0; i < 3; i++)
            assert_int_equal(counters[i], round);
    }
    for (int i = 0; i < 3; i++) {
        assert_int_equal(tr_await(t[i], NULL), 0);
        tr_task_release(t[i]);
    }
    return NULL;
}

static void test_sleep0_is_yield(void **state) {
    (void)state;
    run_ok(sleep0_main, NULL);
}

/* Yield with nothing else runnable returns at once, even while others sleep. */
static void *lonely_main(void *arg) {
    (void)arg;
    assert_int_equal(tr_yield(), 0);
    tr_task *s = tr_spawn(sleep_50, NULL);
    assert_int_equal(tr_yield(), 0); /* s starts sleeping */
    /* Had any of these yields waited for the timer, s would be done. */
    for (int i = 0; i < 1000; i++)
        assert_int_equal(tr_yield(), 0);
    assert_false(tr_task_done(s));
    assert_int_equal(tr_await(s, NULL), 0);
    tr_task_release(s);
    return NULL;
}

static void test_yield_alone(void **state) {
    (void)state;
    run_ok(lonely_main, NULL);
}

/* A busy yielding task does not starve a sleeper whose deadline passed. */
static volatile int sleeper_woke;
static void *short_sleeper(void *arg) {
    (void)arg;
    assert_int_equal(tr_sleep(5 * MS), 0);
    sleeper_woke = 1;
    return NULL;
}

static void *starve_main(void *arg) {
    (void)arg;
    sleeper_woke = 0;
    tr_task *s = tr_spawn(short_sleeper, NULL);
    uint64_t deadline = now_ns() + 3000 * MS;
    while (!sleeper_woke && now_ns() < deadline)
        assert_int_equal(tr_yield(), 0);
    assert_int_equal(sleeper_woke, 1);
    tr_task_release(s);
    return NULL;
}

static void test_yield_does_not_starve_timers(void **state) {
    (void)state;
    run_ok(starve_main, NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_outside),
        cmocka_unit_test(test_sleep_at_least),
        cmocka_unit_test(test_wake_order),
        cmocka_unit_test(test_sleeps_overlap),
        cmocka_unit_test(test_yield_round_robin),
        cmocka_unit_test(test_sleep0_is_yield),
        cmocka_unit_test(test_yield_alone),
        cmocka_unit_test(test_yield_does_not_starve_timers),
        cmocka_unit_test(test_outside),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
