/*
 * sync_sem.c - tr_sem_*: CPython's SemaphoreTests (test_locks.py) that map onto the calls,
 * then the owned hand-over (a waiter woken and cancelled at once keeps its permit), FIFO
 * order, deadlines, cancellation before the call, overflow, and bad input.
 *
 * One difference from asyncio shapes several ports: a release with waiters hands its permit
 * straight to the oldest (tr_sem_value stays 0), where asyncio raises the value and lets the
 * woken task take it when it runs. Permits are granted in the same order; what differs is
 * the value seen meanwhile and that a newcomer finds no permit a waiter was due.
 */
#include "sync_test.h"

static tr_sem *sem;
static struct order result;

struct acquirer {
    int tag;
    int rc;
    bool release;         /* release right after logging */
    bool release_later;   /* tr_yield, then release */
    int second_tag;       /* > 0: then acquire again and log this */
    tr_event *hold_until; /* keep the permit until it is set */
};

static void *acquire_and_log(void *arg) {
    struct acquirer *a = arg;
    a->rc = tr_sem_acquire(sem);
    if (a->rc != 0)
        return NULL;
    order_add(&result, a->tag);
    if (a->hold_until)
        T_EQ(tr_event_wait(a->hold_until), 0);
    if (a->release_later)
        T_EQ(tr_sleep(5 * MS), 0);
    if (a->release || a->release_later)
        T_EQ(tr_sem_release(sem), 0);
    if (a->second_tag > 0) {
        T_EQ(tr_sem_acquire(sem), 0);
        order_add(&result, a->second_tag);
        if (a->release_later)
            T_EQ(tr_sleep(5 * MS), 0);
        if (a->release || a->release_later)
            T_EQ(tr_sem_release(sem), 0);
    }
    return NULL;
}

static void reset(unsigned value) {
    result.n = 0;
    sem = tr_sem_new(value);
    if (!sem)
        sync_fail(__FILE__, __LINE__, "tr_sem_new: errno %d", errno);
}

/* ---- SemaphoreTests -------------------------------------------------------------------------- */

/* test_initial_value_zero (locked() is "no permit"), test_semaphore. */
static void *semaphore_initial_value(void *arg) {
    (void)arg;
    reset(0);
    T_EQ(tr_sem_value(sem), 0);
    T_EQ(tr_sem_try_acquire(sem), -EAGAIN);
    T_EQ(tr_sem_free(sem), 0);
    reset(1);
    T_EQ(tr_sem_value(sem), 1);
    T_EQ(tr_sem_free(sem), 0);
    return NULL;
}
SYNC_CASE(test_semaphore_initial_value_zero, semaphore_initial_value)

/* test_acquire: value 3, two taken, three tasks ask (one gets it at once), a fourth comes,
 * two releases go to the two oldest waiters; one waiter is left. */
static void *semaphore_acquire(void *arg) {
    (void)arg;
    reset(3);
    T_EQ(tr_sem_acquire(sem), 0);
    T_EQ(tr_sem_acquire(sem), 0);
    T_EQ(tr_sem_value(sem), 1);
    struct acquirer a[4] = {{.tag = 1}, {.tag = 2}, {.tag = 3}, {.tag = 4}};
    tr_task *t[4];
    for (int i = 0; i < 3; i++)
        t[i] = spawn(acquire_and_log, &a[i]);
    settle();
    T_CHECK(ORDER_IS(&result, 1));
    T_EQ(tr_sem_value(sem), 0);
    t[3] = spawn(acquire_and_log, &a[3]);
    T_EQ(tr_sem_release(sem), 0);
    T_EQ(tr_sem_release(sem), 0);
    T_EQ(tr_sem_value(sem), 0); /* handed over, not counted */
    settle();
    T_EQ(tr_sem_value(sem), 0);
    T_CHECK(ORDER_IS(&result, 1, 2, 3)); /* FIFO: the two that waited, not the newcomer */
    T_EQ(tr_sem_free(sem), -EBUSY);      /* t4 waits */
    T_EQ(tr_sem_release(sem), 0);        /* cleanup: the last one */
    for (int i = 0; i < 4; i++) {
        T_EQ(finish(t[i]), 0);
        T_EQ(a[i].rc, 0);
    }
    T_CHECK(ORDER_IS(&result, 1, 2, 3, 4));
    T_EQ(tr_sem_free(sem), 0);
    return NULL;
}
SYNC_CASE(test_semaphore_acquire, semaphore_acquire)

/* test_acquire_cancel */
static void *semaphore_acquire_cancel(void *arg) {
    (void)arg;
    reset(1);
    T_EQ(tr_sem_acquire(sem), 0);
    struct acquirer a = {.tag = 1};
    tr_task *t = spawn(acquire_and_log, &a);
    settle();
    cancel(t);
    T_EQ(finish(t), -ECANCELED);
    T_EQ(a.rc, -ECANCELED);
    T_EQ(tr_sem_free(sem), 0); /* no waiter left */
    return NULL;
}
SYNC_CASE(test_semaphore_acquire_cancel, semaphore_acquire_cancel)

/* test_acquire_cancel_before_awoken: two waiters cancelled, then one release: the third gets
 * the permit, the fourth still waits. */
static void *semaphore_cancel_before_awoken(void *arg) {
    (void)arg;
    reset(0);
    struct acquirer a[4] = {{.tag = 1}, {.tag = 2}, {.tag = 3}, {.tag = 4}};
    tr_task *t[4];
    for (int i = 0; i < 4; i++)
        t[i] = spawn(acquire_and_log, &a[i]);
    settle();
    cancel(t[0]);
    cancel(t[1]);
    T_EQ(tr_sem_release(sem), 0);
    settle();
    T_CHECK(tr_task_done(t[2]));
    T_CHECK(!tr_task_done(t[3]));
    T_EQ(a[2].rc, 0);
    cancel(t[3]);
    for (int i = 0; i < 4; i++)
        T_EQ(finish(t[i]), i == 2 ? 0 : -ECANCELED);
    T_CHECK(ORDER_IS(&result, 3));
    T_EQ(tr_sem_value(sem), 0); /* t3 holds the one permit */
    T_EQ(tr_sem_free(sem), 0);
    return NULL;
}
SYNC_CASE(test_semaphore_acquire_cancel_before_awoken, semaphore_cancel_before_awoken)

/* test_acquire_hang: the first waiter cancelled, a release goes to the second. */
static void *semaphore_acquire_hang(void *arg) {
    (void)arg;
    reset(0);
    struct acquirer a = {.tag = 1}, b = {.tag = 2};
    tr_task *t1 = spawn(acquire_and_log, &a);
    tr_task *t2 = spawn(acquire_and_log, &b);
    settle();
    cancel(t1);
    T_EQ(tr_sem_release(sem), 0);
    settle();
    T_EQ(tr_sem_value(sem), 0);
    T_CHECK(tr_task_done(t2));
    T_EQ(finish(t1), -ECANCELED);
    T_EQ(finish(t2), 0);
    T_EQ(tr_sem_free(sem), 0);
    return NULL;
}
SYNC_CASE(test_semaphore_acquire_hang, semaphore_acquire_hang)

/* test_acquire_no_hang: c1 holds the permit over a yield, releases, then cancels c2, which was
 * handed the permit by that release and has not run yet. asyncio's c2 is cancelled and passes
 * the permit on; here c2 keeps it (owned hand-over): its acquire returns 0, it releases, and it
 * finishes cancelled. Either way nothing hangs: the permit can be acquired afterwards. */
static tr_task *no_hang_c2;
static int no_hang_c2_rc = 1;
static void *no_hang_c1(void *arg) {
    (void)arg;
    T_EQ(tr_sem_acquire(sem), 0);
    T_EQ(tr_yield(), 0);
    T_EQ(tr_sem_release(sem), 0);
    cancel(no_hang_c2);
    return NULL;
}
static void *no_hang_c2_fn(void *arg) {
    (void)arg;
    no_hang_c2_rc = tr_sem_acquire(sem);
    if (no_hang_c2_rc == 0)
        T_EQ(tr_sem_release(sem), 0);
    return NULL;
}
static void *semaphore_acquire_no_hang(void *arg) {
    (void)arg;
    reset(1);
    tr_task *t1 = spawn(no_hang_c1, NULL);
    no_hang_c2 = spawn(no_hang_c2_fn, NULL);
    T_EQ(finish(t1), 0);
    T_EQ(tr_await(no_hang_c2, NULL), -ECANCELED);
    T_CHECK(tr_task_cancelled(no_hang_c2));
    tr_task_release(no_hang_c2);
    T_EQ(no_hang_c2_rc, 0);
    tr_deadline d;
    T_EQ(tr_deadline_begin(&d, 1000 * MS), 0);
    T_EQ(tr_sem_acquire(sem), 0);
    tr_deadline_end(&d);
    T_EQ(tr_sem_release(sem), 0);
    T_EQ(tr_sem_free(sem), 0);
    return NULL;
}
SYNC_CASE(test_semaphore_acquire_no_hang, semaphore_acquire_no_hang)

/* test_release_no_waiters */
static void *semaphore_release_no_waiters(void *arg) {
    (void)arg;
    reset(1);
    T_EQ(tr_sem_acquire(sem), 0);
    T_EQ(tr_sem_value(sem), 0);
    T_EQ(tr_sem_release(sem), 0);
    T_EQ(tr_sem_value(sem), 1);
    T_EQ(tr_sem_free(sem), 0);
    return NULL;
}
SYNC_CASE(test_semaphore_release_no_waiters, semaphore_release_no_waiters)

/* test_acquire_fifo_order: three tasks each take the permit twice, holding it a while: the
 * grants alternate in arrival order. */
static void *semaphore_fifo_order(void *arg) {
    (void)arg;
    reset(1);
    struct acquirer a[3] = {{.tag = 11, .second_tag = 12, .release_later = true},
                            {.tag = 21, .second_tag = 22, .release_later = true},
                            {.tag = 31, .second_tag = 32, .release_later = true}};
    tr_task *t[3];
    for (int i = 0; i < 3; i++)
        t[i] = spawn(acquire_and_log, &a[i]);
    for (int i = 0; i < 3; i++)
        T_EQ(finish(t[i]), 0);
    T_CHECK(ORDER_IS(&result, 11, 21, 31, 12, 22, 32));
    T_EQ(tr_sem_free(sem), 0);
    return NULL;
}
SYNC_CASE(test_semaphore_acquire_fifo_order, semaphore_fifo_order)

/* test_acquire_fifo_order_2: value 1; c1 takes it (at once), c2 and c3 wait; two releases
 * grant c2, then c3. c2 then releases and acquires again: asyncio makes it queue behind c3,
 * whose wake-up is still pending; here c3 holds its permit already, so c2 finds the one it
 * gave back. Grants stay in arrival order (1, 2, 3, then 4); c3 logs after c2 only because it
 * runs after it. */
static void *semaphore_fifo_order_2(void *arg) {
    (void)arg;
    reset(1);
    struct acquirer a[3] = {{.tag = 1}, {.tag = 2, .release = true, .second_tag = 4}, {.tag = 3}};
    tr_task *t[3];
    for (int i = 0; i < 3; i++)
        t[i] = spawn(acquire_and_log, &a[i]);
    settle();
    T_EQ(tr_sem_release(sem), 0);
    T_EQ(tr_sem_release(sem), 0);
    for (int i = 0; i < 3; i++)
        T_EQ(finish(t[i]), 0);
    T_CHECK(ORDER_IS(&result, 1, 2, 4, 3));
    T_EQ(tr_sem_value(sem), 1); /* c2 gave its second permit back */
    T_EQ(tr_sem_free(sem), 0);
    return NULL;
}
SYNC_CASE(test_semaphore_acquire_fifo_order_2, semaphore_fifo_order_2)

/* test_acquire_fifo_order_3: value 0; the first waiter cancelled; two releases go to the
 * other two in order. */
static void *semaphore_fifo_order_3(void *arg) {
    (void)arg;
    reset(0);
    struct acquirer a[3] = {{.tag = 1}, {.tag = 2}, {.tag = 3}};
    tr_task *t[3];
    for (int i = 0; i < 3; i++)
        t[i] = spawn(acquire_and_log, &a[i]);
    settle();
    cancel(t[0]);
    settle();
    T_EQ(tr_sem_release(sem), 0);
    T_EQ(tr_sem_release(sem), 0);
    T_EQ(finish(t[0]), -ECANCELED);
    T_EQ(finish(t[1]), 0);
    T_EQ(finish(t[2]), 0);
    T_CHECK(ORDER_IS(&result, 2, 3));
    T_EQ(tr_sem_free(sem), 0);
    return NULL;
}
SYNC_CASE(test_semaphore_acquire_fifo_order_3, semaphore_fifo_order_3)

/* test_acquire_fifo_order_4: c1 waits; c2 releases three times (the first goes to c1, two are
 * counted) and acquires; c3 acquires. asyncio counts all three and makes c2 queue behind c1;
 * here c1 already has its permit, so c2 takes a counted one at once, and so does c3: every
 * grant is still in arrival order, c1's first. They log in the order they run: c2 and c3
 * were in the run queue before c1 was woken. */
static void *fifo4_c2(void *arg) {
    (void)arg;
    T_EQ(tr_sem_release(sem), 0);
    T_EQ(tr_sem_release(sem), 0);
    T_EQ(tr_sem_release(sem), 0);
    T_EQ(tr_sem_value(sem), 2);
    T_EQ(tr_sem_acquire(sem), 0);
    order_add(&result, 2);
    return NULL;
}
static void *semaphore_fifo_order_4(void *arg) {
    (void)arg;
    reset(0);
    struct acquirer a1 = {.tag = 1}, a3 = {.tag = 3};
    tr_task *t1 = spawn(acquire_and_log, &a1);
    tr_task *t2 = spawn(fifo4_c2, NULL);
    tr_task *t3 = spawn(acquire_and_log, &a3);
    T_EQ(finish(t1), 0);
    T_EQ(finish(t2), 0);
    T_EQ(finish(t3), 0);
    T_CHECK(ORDER_IS(&result, 2, 3, 1));
    T_EQ(tr_sem_value(sem), 0);
    T_EQ(tr_sem_free(sem), 0);
    return NULL;
}
SYNC_CASE(test_semaphore_acquire_fifo_order_4, semaphore_fifo_order_4)

/* ---- owned hand-over ------------------------------------------------------------------------- */

/* Woken by a release and cancelled before it runs: the waiter keeps the permit (acquire
 * returns 0), so nothing is lost: it releases, and the next waiter gets it. */
static void *semaphore_woken_then_cancelled(void *arg) {
    (void)arg;
    reset(0);
    struct acquirer a = {.tag = 1, .release = true}, b = {.tag = 2, .release = true};
    tr_task *ta = spawn(acquire_and_log, &a);
    tr_task *tb = spawn(acquire_and_log, &b);
    settle();
    T_EQ(tr_sem_release(sem), 0); /* to a */
    cancel(ta);                   /* woken, not yet run */
    settle();
    T_EQ(a.rc, 0);
    T_CHECK(ORDER_IS(&result, 1, 2));
    T_EQ(finish(ta), -ECANCELED); /* it finished cancelled, having used its permit */
    T_EQ(finish(tb), 0);
    T_EQ(tr_sem_value(sem), 1); /* the one permit, back */
    T_EQ(tr_sem_free(sem), 0);
    return NULL;
}
SYNC_CASE(test_semaphore_woken_then_cancelled_keeps_permit, semaphore_woken_then_cancelled)

/* Many waiters, each released once: granted in the order they began to wait. */
static void *semaphore_fifo_many(void *arg) {
    (void)arg;
    reset(0);
    enum { N = 10 };
    struct acquirer a[N];
    tr_task *t[N];
    for (int i = 0; i < N; i++) {
        a[i] = (struct acquirer){.tag = i};
        t[i] = spawn(acquire_and_log, &a[i]);
        settle();
    }
    for (int i = N - 1; i >= 0; i--) /* releases in a burst: order comes from the queue */
        T_EQ(tr_sem_release(sem), 0);
    settle();
    T_CHECK(ORDER_IS(&result, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9));
    for (int i = 0; i < N; i++)
        T_EQ(finish(t[i]), 0);
    T_EQ(tr_sem_free(sem), 0);
    return NULL;
}
SYNC_CASE(test_semaphore_fifo_many_waiters, semaphore_fifo_many)

/* ---- deadlines, cancellation before the call, overflow ------------------------------------- */

static void *semaphore_acquire_deadline(void *arg) {
    (void)arg;
    reset(0);
    struct acquirer b = {.tag = 2};
    tr_deadline d;
    uint64_t t0 = now_ns();
    T_EQ(tr_deadline_begin(&d, 30 * MS), 0);
    tr_task *tb = spawn(acquire_and_log, &b); /* queues behind main */
    T_EQ(tr_sem_acquire(sem), -ETIME);
    tr_deadline_end(&d);
    uint64_t el = now_ns() - t0;
    T_CHECK(el >= 30 * MS && el < 30 * MS + SLACK);
    T_EQ(tr_sem_release(sem), 0); /* to b: main left the queue */
    T_EQ(finish(tb), 0);
    T_CHECK(ORDER_IS(&result, 2));
    T_EQ(tr_sem_release(sem), 0);
    T_EQ(tr_deadline_begin(&d, 0), 0); /* expired, but a permit is there: no wait */
    T_EQ(tr_sem_acquire(sem), 0);
    T_EQ(tr_sem_acquire(sem), -ETIME);
    tr_deadline_end(&d);
    T_EQ(tr_sem_free(sem), 0);
    return NULL;
}
SYNC_CASE(test_semaphore_acquire_deadline, semaphore_acquire_deadline)

static void *semaphore_cancel_before_acquire(void *arg) {
    (void)arg;
    reset(2);
    T_EQ(tr_task_cancel(tr_current()), 1);
    T_EQ(tr_sem_acquire(sem), -ECANCELED);
    T_EQ(tr_sem_value(sem), 2);
    T_EQ(tr_sem_try_acquire(sem), 0);
    T_EQ(tr_sem_release(sem), 0);
    tr_shield s;
    T_EQ(tr_shield_begin(&s), 0);
    T_EQ(tr_sem_acquire(sem), 0);
    tr_shield_end(&s);
    T_EQ(tr_sem_release(sem), 0);
    T_EQ(tr_sem_value(sem), 2);
    T_EQ(tr_sem_free(sem), 0);
    return NULL;
}
static void test_semaphore_cancel_before_acquire(void **state) {
    (void)state;
    T_EQ(tr_run(semaphore_cancel_before_acquire, NULL, NULL), -ECANCELED);
    assert_int_equal(sync_failures, 0);
}

static void *semaphore_overflow(void *arg) {
    (void)arg;
    reset(UINT_MAX - 1);
    T_EQ(tr_sem_release(sem), 0);
    T_EQ(tr_sem_value(sem), UINT_MAX);
    T_EQ(tr_sem_release(sem), -EOVERFLOW);
    T_EQ(tr_sem_value(sem), UINT_MAX);
    T_EQ(tr_sem_try_acquire(sem), 0);
    T_EQ(tr_sem_value(sem), UINT_MAX - 1);
    T_EQ(tr_sem_free(sem), 0);
    return NULL;
}
SYNC_CASE(test_semaphore_release_overflow, semaphore_overflow)

/* ---- bad input ------------------------------------------------------------------------------ */

static void *semaphore_bad_input(void *arg) {
    (void)arg;
    T_EQ(tr_sem_free(NULL), 0);
    T_EQ(tr_sem_acquire(NULL), -EINVAL);
    T_EQ(tr_sem_try_acquire(NULL), -EINVAL);
    T_EQ(tr_sem_release(NULL), -EINVAL);
    T_EQ(tr_sem_value(NULL), 0);
    reset(0);
    struct acquirer a = {.tag = 1};
    tr_task *t = spawn(acquire_and_log, &a);
    settle();
    T_EQ(tr_sem_free(sem), -EBUSY);
    T_EQ(tr_sem_release(sem), 0);
    T_EQ(finish(t), 0);
    T_EQ(tr_sem_free(sem), 0); /* a permit taken and never given back is no waiter */
    return NULL;
}
SYNC_CASE(test_semaphore_bad_input, semaphore_bad_input)

static void test_semaphore_outside_task(void **state) {
    (void)state;
    errno = 0;
    assert_null(tr_sem_new(1));
    assert_int_equal(errno, EPERM);
}

int main(int argc, char **argv) {
    sync_parse_args(argc, argv);
    const struct CMUnitTest tests[] = {
        SYNC_TEST(test_semaphore_initial_value_zero),
        SYNC_TEST(test_semaphore_acquire),
        SYNC_TEST(test_semaphore_acquire_cancel),
        SYNC_TEST(test_semaphore_acquire_cancel_before_awoken),
        SYNC_TEST(test_semaphore_acquire_hang),
        SYNC_TEST(test_semaphore_acquire_no_hang),
        SYNC_TEST(test_semaphore_release_no_waiters),
        SYNC_TEST(test_semaphore_acquire_fifo_order),
        SYNC_TEST(test_semaphore_acquire_fifo_order_2),
        SYNC_TEST(test_semaphore_acquire_fifo_order_3),
        SYNC_TEST(test_semaphore_acquire_fifo_order_4),
        SYNC_TEST(test_semaphore_woken_then_cancelled_keeps_permit),
        SYNC_TEST(test_semaphore_fifo_many_waiters),
        SYNC_TEST(test_semaphore_acquire_deadline),
        SYNC_TEST(test_semaphore_cancel_before_acquire),
        SYNC_TEST(test_semaphore_release_overflow),
        SYNC_TEST(test_semaphore_bad_input),
        SYNC_TEST(test_semaphore_outside_task),
    };
    return test_result(cmocka_run_group_tests(tests, NULL, NULL));
}
