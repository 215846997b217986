/*
 * sync_event.c - tr_event_*: CPython's EventTests (test_locks.py) that map onto the calls,
 * then FIFO order, deadlines, cancellation at each point, and bad input.
 */
#include "sync_test.h"

static tr_event *ev;
static struct order result;

struct waiter_arg {
    int tag;
    int rc;
};

static void *wait_and_log(void *arg) {
    struct waiter_arg *a = arg;
    a->rc = tr_event_wait(ev);
    if (a->rc == 0)
        order_add(&result, a->tag);
    return NULL;
}

/* ---- EventTests ------------------------------------------------------------------------------ */

/* test_wait: two waiters, a third spawned before the set runs first (it finds it set). */
static void *event_wait(void *arg) {
    (void)arg;
    result.n = 0;
    T_REQUIRE((ev = tr_event_new()) != NULL);
    T_CHECK(!tr_event_is_set(ev));
    struct waiter_arg a[3] = {{1, 1}, {2, 1}, {3, 1}};
    tr_task *t1 = spawn(wait_and_log, &a[0]);
    tr_task *t2 = spawn(wait_and_log, &a[1]);
    settle();
    T_EQ(result.n, 0);
    tr_task *t3 = spawn(wait_and_log, &a[2]);
    T_EQ(tr_event_set(ev), 0);
    settle();
    T_CHECK(ORDER_IS(&result, 3, 1, 2));
    T_EQ(finish(t1), 0);
    T_EQ(finish(t2), 0);
    T_EQ(finish(t3), 0);
    for (int i = 0; i < 3; i++)
        T_EQ(a[i].rc, 0);
    T_EQ(tr_event_free(ev), 0);
    return NULL;
}
SYNC_CASE(test_event_wait, event_wait)

/* test_wait_on_set */
static void *event_wait_on_set(void *arg) {
    (void)arg;
    T_REQUIRE((ev = tr_event_new()) != NULL);
    T_EQ(tr_event_set(ev), 0);
    T_EQ(tr_event_wait(ev), 0);
    T_EQ(tr_event_wait(ev), 0);
    T_EQ(tr_event_free(ev), 0);
    return NULL;
}
SYNC_CASE(test_event_wait_on_set, event_wait_on_set)

/* test_wait_cancel: a waiter cancelled while waiting returns -ECANCELED and leaves no waiter
 * behind (the event can be freed). */
static void *event_wait_cancel(void *arg) {
    (void)arg;
    result.n = 0;
    T_REQUIRE((ev = tr_event_new()) != NULL);
    struct waiter_arg a = {1, 1};
    tr_task *t = spawn(wait_and_log, &a);
    settle();
    T_EQ(tr_event_free(ev), -EBUSY);
    cancel(t);
    T_EQ(finish(t), -ECANCELED);
    T_EQ(a.rc, -ECANCELED);
    T_EQ(tr_event_free(ev), 0);
    return NULL;
}
SYNC_CASE(test_event_wait_cancel, event_wait_cancel)

/* test_clear */
static void *event_clear(void *arg) {
    (void)arg;
    T_REQUIRE((ev = tr_event_new()) != NULL);
    T_CHECK(!tr_event_is_set(ev));
    T_EQ(tr_event_set(ev), 0);
    T_CHECK(tr_event_is_set(ev));
    T_EQ(tr_event_clear(ev), 0);
    T_CHECK(!tr_event_is_set(ev));
    T_EQ(tr_event_free(ev), 0);
    return NULL;
}
SYNC_CASE(test_event_clear, event_clear)

/* test_clear_with_waiters: set, clear, set, set wakes the waiter once; it returns 0 although
 * the event was cleared after the first set. */
static void *event_clear_with_waiters(void *arg) {
    (void)arg;
    result.n = 0;
    T_REQUIRE((ev = tr_event_new()) != NULL);
    struct waiter_arg a = {1, 1};
    tr_task *t = spawn(wait_and_log, &a);
    settle();
    T_EQ(result.n, 0);
    T_EQ(tr_event_set(ev), 0);
    T_EQ(tr_event_clear(ev), 0);
    T_CHECK(!tr_event_is_set(ev));
    T_EQ(tr_event_set(ev), 0);
    T_EQ(tr_event_set(ev), 0);
    settle();
    T_CHECK(ORDER_IS(&result, 1));
    T_EQ(finish(t), 0);
    T_EQ(a.rc, 0);
    T_EQ(tr_event_free(ev), 0);
    return NULL;
}
SYNC_CASE(test_event_clear_with_waiters, event_clear_with_waiters)

/* ---- order, deadlines, cancellation -------------------------------------------------------- */

/* Many waiters are woken in the order they began to wait. */
static void *event_fifo_order(void *arg) {
    (void)arg;
    result.n = 0;
    T_REQUIRE((ev = tr_event_new()) != NULL);
    enum { N = 12 };
    struct waiter_arg a[N];
    tr_task *t[N];
    for (int i = 0; i < N; i++) {
        a[i] = (struct waiter_arg){i, 1};
        t[i] = spawn(wait_and_log, &a[i]);
        settle(); /* each is waiting before the next starts */
    }
    T_EQ(tr_event_set(ev), 0);
    settle();
    T_CHECK(ORDER_IS(&result, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11));
    for (int i = 0; i < N; i++)
        T_EQ(finish(t[i]), 0);
    T_EQ(tr_event_free(ev), 0);
    return NULL;
}
SYNC_CASE(test_event_fifo_order, event_fifo_order)

/* A deadline scope ends the wait with -ETIME; the waiter leaves, others stay. */
static void *event_wait_deadline(void *arg) {
    (void)arg;
    result.n = 0;
    T_REQUIRE((ev = tr_event_new()) != NULL);
    struct waiter_arg other = {7, 1};
    tr_task *t = spawn(wait_and_log, &other);
    settle();
    tr_deadline d;
    uint64_t t0 = now_ns();
    T_EQ(tr_deadline_begin(&d, 30 * MS), 0);
    T_EQ(tr_event_wait(ev), -ETIME);
    tr_deadline_end(&d);
    uint64_t el = now_ns() - t0;
    T_CHECK(el >= 30 * MS && el < 30 * MS + SLACK);
    T_CHECK(!tr_task_cancelled(tr_current()));
    T_EQ(tr_event_set(ev), 0); /* the other waiter is still there, and is woken */
    T_EQ(finish(t), 0);
    T_CHECK(ORDER_IS(&result, 7));
    /* Past its deadline a wait that need not wait succeeds; one that would, does not. */
    T_EQ(tr_deadline_begin(&d, 0), 0);
    T_EQ(tr_event_wait(ev), 0);
    T_EQ(tr_event_clear(ev), 0);
    T_EQ(tr_event_wait(ev), -ETIME);
    tr_deadline_end(&d);
    T_EQ(tr_event_free(ev), 0);
    return NULL;
}
SYNC_CASE(test_event_wait_deadline, event_wait_deadline)

/* Cancelled before the call: -ECANCELED at once, even when set; a shield holds it back. */
static void *event_cancel_before_wait(void *arg) {
    (void)arg;
    T_REQUIRE((ev = tr_event_new()) != NULL);
    T_EQ(tr_event_set(ev), 0);
    T_EQ(tr_task_cancel(tr_current()), 1);
    T_EQ(tr_event_wait(ev), -ECANCELED);
    tr_shield s;
    T_EQ(tr_shield_begin(&s), 0);
    T_EQ(tr_event_wait(ev), 0);
    tr_shield_end(&s);
    T_EQ(tr_event_clear(ev), 0); /* the calls that never wait still work */
    T_EQ(tr_event_set(ev), 0);
    T_EQ(tr_event_free(ev), 0);
    return NULL;
}
static void test_event_cancel_before_wait(void **state) {
    (void)state;
    /* The main task ends cancelled: tr_run reports it. */
    T_EQ(tr_run(event_cancel_before_wait, NULL, NULL), -ECANCELED);
    assert_int_equal(sync_failures, 0);
}

/* Woken by the set, cancelled before it runs: the wake-up hands nothing over, so the wait
 * returns -ECANCELED (as asyncio raises CancelledError into it). The event stays set. */
static void *event_cancel_after_set(void *arg) {
    (void)arg;
    result.n = 0;
    T_REQUIRE((ev = tr_event_new()) != NULL);
    struct waiter_arg a = {1, 1}, b = {2, 1};
    tr_task *ta = spawn(wait_and_log, &a);
    tr_task *tb = spawn(wait_and_log, &b);
    settle();
    T_EQ(tr_event_set(ev), 0);
    cancel(ta); /* woken, not yet running */
    settle();
    T_EQ(finish(ta), -ECANCELED);
    T_EQ(a.rc, -ECANCELED);
    T_EQ(finish(tb), 0);
    T_CHECK(ORDER_IS(&result, 2));
    T_CHECK(tr_event_is_set(ev));
    T_EQ(tr_event_free(ev), 0);
    return NULL;
}
SYNC_CASE(test_event_cancel_after_set_before_run, event_cancel_after_set)

/* tr_run's end cancels a task still waiting for an event that is never set; the waiter,
 * last user of the event, frees it (in its loop: after tr_run, _free is -EPERM). */
static int forever_rc = 1;
static void *event_wait_forever(void *arg) {
    (void)arg;
    forever_rc = tr_event_wait(ev);
    T_EQ(tr_event_free(ev), 0);
    return NULL;
}
static void *event_left_waiting(void *arg) {
    (void)arg;
    T_REQUIRE((ev = tr_event_new()) != NULL);
    tr_task *t = spawn(event_wait_forever, NULL);
    settle();
    tr_task_release(t); /* still waiting when main returns */
    return NULL;
}
static void test_event_waiter_cancelled_at_run_end(void **state) {
    (void)state;
    sync_run(event_left_waiting, NULL);
    assert_int_equal(forever_rc, -ECANCELED);
}

/* ---- bad input ------------------------------------------------------------------------------ */

static void *event_bad_input(void *arg) {
    (void)arg;
    T_EQ(tr_event_free(NULL), 0);
    T_EQ(tr_event_set(NULL), -EINVAL);
    T_EQ(tr_event_clear(NULL), -EINVAL);
    T_EQ(tr_event_wait(NULL), -EINVAL);
    T_CHECK(!tr_event_is_set(NULL));
    /* Free with a waiter: -EBUSY, and nothing is freed. */
    T_REQUIRE((ev = tr_event_new()) != NULL);
    struct waiter_arg a = {1, 1};
    result.n = 0;
    tr_task *t = spawn(wait_and_log, &a);
    settle();
    T_EQ(tr_event_free(ev), -EBUSY);
    T_EQ(tr_event_set(ev), 0);
    T_EQ(finish(t), 0);
    T_EQ(tr_event_free(ev), 0);
    return NULL;
}
SYNC_CASE(test_event_bad_input, event_bad_input)

static void test_event_outside_task(void **state) {
    (void)state;
    errno = 0;
    assert_null(tr_event_new());
    assert_int_equal(errno, EPERM);
}

int main(int argc, char **argv) {
    sync_parse_args(argc, argv);
    const struct CMUnitTest tests[] = {
        SYNC_TEST(test_event_wait),
        SYNC_TEST(test_event_wait_on_set),
        SYNC_TEST(test_event_wait_cancel),
        SYNC_TEST(test_event_clear),
        SYNC_TEST(test_event_clear_with_waiters),
        SYNC_TEST(test_event_fifo_order),
        SYNC_TEST(test_event_wait_deadline),
        SYNC_TEST(test_event_cancel_before_wait),
        SYNC_TEST(test_event_cancel_after_set_before_run),
        SYNC_TEST(test_event_waiter_cancelled_at_run_end),
        SYNC_TEST(test_event_bad_input),
        SYNC_TEST(test_event_outside_task),
    };
    return test_result(cmocka_run_group_tests(tests, NULL, NULL));
}
