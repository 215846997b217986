/*
 * sync_lock.c - tr_lock_*: CPython's LockTests (test_locks.py) that map onto the calls, then
 * the owned hand-over (a waiter handed the lock and cancelled before it runs keeps it), FIFO
 * order, deadlines, cancellation before the call, recursion, holders, and bad input.
 */
#include "sync_test.h"

static tr_lock *lock;
static struct order result;

struct locker {
    int tag;
    int rc;               /* tr_lock_acquire's */
    tr_event *blocker;    /* wait for it while holding the lock (NULL: do not) */
    bool release;         /* release after logging */
    bool wait_after_lock; /* then wait (a tr_yield) to show it is cancelled at its next wait */
    int next_rc;
};

static void *lockit(void *arg) {
    struct locker *a = arg;
    a->rc = tr_lock_acquire(lock);
    if (a->rc != 0)
        return NULL;
    T_CHECK(tr_lock_locked(lock));
    order_add(&result, a->tag);
    if (a->blocker)
        T_EQ(tr_event_wait(a->blocker), 0);
    if (a->wait_after_lock)
        a->next_rc = tr_yield();
    if (a->release)
        T_EQ(tr_lock_release(lock), 0);
    return NULL;
}

static void reset(void) {
    result.n = 0;
    lock = tr_lock_new();
    if (!lock)
        sync_fail(__FILE__, __LINE__, "tr_lock_new: errno %d", errno);
}

/* ---- LockTests ------------------------------------------------------------------------------- */

/* test_lock (and test_release_no_waiters): acquire holds it, release frees it. */
static void *lock_lock(void *arg) {
    (void)arg;
    reset();
    T_CHECK(!tr_lock_locked(lock));
    T_EQ(tr_lock_acquire(lock), 0);
    T_CHECK(tr_lock_locked(lock));
    T_EQ(tr_lock_release(lock), 0);
    T_CHECK(!tr_lock_locked(lock));
    T_EQ(tr_lock_free(lock), 0);
    return NULL;
}
SYNC_CASE(test_lock_lock, lock_lock)
SYNC_CASE(test_lock_release_no_waiters, lock_lock)

/* test_acquire: waiters get the lock one release at a time, in order; one that comes later
 * queues behind them. */
static void *lock_acquire(void *arg) {
    (void)arg;
    reset();
    T_EQ(tr_lock_acquire(lock), 0);
    struct locker a[3] = {{.tag = 1}, {.tag = 2}, {.tag = 3}};
    tr_task *t1 = spawn(lockit, &a[0]);
    tr_task *t2 = spawn(lockit, &a[1]);
    settle();
    T_EQ(result.n, 0);
    /* Each waiter keeps the lock (no release): main releases on its behalf below, as the
     * Python test does. A lock is the task's: main cannot, so the tasks hand it on. */
    T_EQ(tr_lock_release(lock), 0);
    settle();
    T_CHECK(ORDER_IS(&result, 1));
    settle();
    T_CHECK(ORDER_IS(&result, 1));
    tr_task *t3 = spawn(lockit, &a[2]);
    settle();
    T_EQ(tr_lock_release(lock), -EPERM); /* t1 holds it now, not main */
    T_EQ(finish(t1), 0);                 /* t1 returned holding it: it stays held */
    T_CHECK(tr_lock_locked(lock));
    T_CHECK(ORDER_IS(&result, 1));
    T_EQ(a[0].rc, 0);
    /* Nobody can release for a finished holder: t2 and t3 stay queued; end them. */
    cancel(t2);
    cancel(t3);
    T_EQ(finish(t2), -ECANCELED);
    T_EQ(finish(t3), -ECANCELED);
    T_EQ(a[1].rc, -ECANCELED);
    T_EQ(a[2].rc, -ECANCELED);
    T_CHECK(tr_lock_locked(lock)); /* still held by the finished t1 ... */
    T_EQ(tr_lock_free(lock), 0);   /* ... which does not keep it from being freed */
    return NULL;
}
SYNC_CASE(test_lock_acquire_holder_finished, lock_acquire)

/* test_acquire as asyncio runs it, where each holder releases when done. */
static void *lock_acquire_in_order(void *arg) {
    (void)arg;
    reset();
    T_EQ(tr_lock_acquire(lock), 0);
    tr_event *step = tr_event_new();
    T_REQUIRE(step);
    struct locker a[3] = {{.tag = 1, .release = true, .blocker = step},
                          {.tag = 2, .release = true, .blocker = step},
                          {.tag = 3, .release = true}};
    tr_task *t1 = spawn(lockit, &a[0]);
    tr_task *t2 = spawn(lockit, &a[1]);
    settle();
    T_EQ(result.n, 0);
    T_EQ(tr_lock_release(lock), 0);
    settle();
    T_CHECK(ORDER_IS(&result, 1)); /* t1 holds it, blocked on `step`; t2 waits */
    tr_task *t3 = spawn(lockit, &a[2]);
    settle();
    T_CHECK(ORDER_IS(&result, 1));
    T_EQ(tr_event_set(step), 0); /* t1 releases to t2, t2 releases to t3 */
    settle();
    T_CHECK(ORDER_IS(&result, 1, 2, 3));
    T_EQ(finish(t1), 0);
    T_EQ(finish(t2), 0);
    T_EQ(finish(t3), 0);
    for (int i = 0; i < 3; i++)
        T_EQ(a[i].rc, 0);
    T_CHECK(!tr_lock_locked(lock));
    T_EQ(tr_lock_free(lock), 0);
    T_EQ(tr_event_free(step), 0);
    return NULL;
}
SYNC_CASE(test_lock_acquire, lock_acquire_in_order)

/* test_acquire_cancel: a waiter cancelled while waiting leaves the queue. */
static void *lock_acquire_cancel(void *arg) {
    (void)arg;
    reset();
    T_EQ(tr_lock_acquire(lock), 0);
    struct locker a = {.tag = 1, .release = true};
    tr_task *t = spawn(lockit, &a);
    settle();
    cancel(t);
    T_EQ(finish(t), -ECANCELED);
    T_EQ(a.rc, -ECANCELED);
    T_EQ(tr_lock_release(lock), 0);
    T_CHECK(!tr_lock_locked(lock)); /* nobody waits: released, not handed over */
    T_EQ(tr_lock_free(lock), 0);
    return NULL;
}
SYNC_CASE(test_lock_acquire_cancel, lock_acquire_cancel)

/* test_cancel_race: A holds it, B and C wait; B is cancelled just as A releases: C gets it. */
static void *lock_cancel_race(void *arg) {
    (void)arg;
    reset();
    tr_event *fa = tr_event_new();
    T_REQUIRE(fa);
    struct locker a = {.tag = 1, .blocker = fa, .release = true};
    struct locker b = {.tag = 2, .release = true};
    struct locker c = {.tag = 3, .release = true};
    tr_task *ta = spawn(lockit, &a);
    settle();
    T_CHECK(tr_lock_locked(lock));
    tr_task *tb = spawn(lockit, &b);
    settle();
    tr_task *tc = spawn(lockit, &c);
    settle();
    T_EQ(tr_event_set(fa), 0);
    cancel(tb);
    settle();
    T_CHECK(!tr_lock_locked(lock));
    T_CHECK(ORDER_IS(&result, 1, 3));
    T_EQ(finish(ta), 0);
    T_EQ(finish(tb), -ECANCELED);
    T_EQ(b.rc, -ECANCELED);
    T_EQ(finish(tc), 0);
    T_EQ(tr_lock_free(lock), 0);
    T_EQ(tr_event_free(fa), 0);
    return NULL;
}
SYNC_CASE(test_lock_cancel_race, lock_cancel_race)

/* test_cancel_release_race: with three waiters, cancelling the first and releasing at once
 * lets exactly one task take the lock. */
static void *lock_cancel_release_race(void *arg) {
    (void)arg;
    reset();
    T_EQ(tr_lock_acquire(lock), 0);
    struct locker a[3] = {{.tag = 1}, {.tag = 2}, {.tag = 3}};
    tr_task *t[3];
    for (int i = 0; i < 3; i++)
        t[i] = spawn(lockit, &a[i]);
    settle();
    cancel(t[0]);
    T_EQ(tr_lock_release(lock), 0);
    settle();
    T_CHECK(ORDER_IS(&result, 2)); /* one lock taken, by t2 */
    T_EQ(finish(t[0]), -ECANCELED);
    T_EQ(finish(t[1]), 0);
    cancel(t[2]); /* stuck behind the finished holder t2 */
    T_EQ(finish(t[2]), -ECANCELED);
    T_EQ(a[2].rc, -ECANCELED);
    T_CHECK(tr_lock_locked(lock)); /* held by the finished t2 */
    T_EQ(tr_lock_free(lock), 0);
    return NULL;
}
SYNC_CASE(test_lock_cancel_release_race, lock_cancel_release_race)

/* test_finished_waiter_cancelled: a waiter cancelled before the release, another spawned but
 * not yet waiting: the release frees the lock and the newcomer takes it. */
static void *lock_finished_waiter_cancelled(void *arg) {
    (void)arg;
    reset();
    T_EQ(tr_lock_acquire(lock), 0);
    struct locker b = {.tag = 2}, c = {.tag = 3, .release = true};
    tr_task *tb = spawn(lockit, &b);
    settle();
    tr_task *tc = spawn(lockit, &c);
    cancel(tb);
    T_EQ(tr_lock_release(lock), 0);
    T_EQ(tr_yield(), 0); /* tb finishes; tc takes the free lock, releases */
    T_EQ(finish(tb), -ECANCELED);
    T_EQ(finish(tc), 0);
    T_CHECK(ORDER_IS(&result, 3));
    T_CHECK(!tr_lock_locked(lock));
    T_EQ(tr_lock_free(lock), 0);
    return NULL;
}
SYNC_CASE(test_lock_finished_waiter_cancelled, lock_finished_waiter_cancelled)

/* test_release_not_acquired: -EPERM, and nothing changes. */
static void *lock_release_not_acquired(void *arg) {
    (void)arg;
    reset();
    T_EQ(tr_lock_release(lock), -EPERM);
    T_CHECK(!tr_lock_locked(lock));
    T_EQ(tr_lock_free(lock), 0);
    return NULL;
}
SYNC_CASE(test_lock_release_not_acquired, lock_release_not_acquired)

/* ---- owned hand-over ------------------------------------------------------------------------- */

/* Handed the lock, then cancelled before it runs: acquire still returns 0 with the lock held;
 * the cancellation comes at the task's next wait. Its release goes to the next waiter. */
static void *lock_handed_then_cancelled(void *arg) {
    (void)arg;
    reset();
    T_EQ(tr_lock_acquire(lock), 0);
    struct locker b = {.tag = 2, .wait_after_lock = true, .release = true, .next_rc = 1};
    struct locker c = {.tag = 3, .release = true};
    tr_task *tb = spawn(lockit, &b);
    tr_task *tc = spawn(lockit, &c);
    settle();
    T_EQ(tr_lock_release(lock), 0); /* handed to b */
    cancel(tb);                     /* b woken, not yet run */
    settle();
    T_EQ(b.rc, 0);
    T_EQ(b.next_rc, -ECANCELED);
    T_CHECK(ORDER_IS(&result, 2, 3));
    T_EQ(finish(tb), -ECANCELED); /* it returned, cancelled */
    T_EQ(finish(tc), 0);
    T_CHECK(!tr_lock_locked(lock));
    T_EQ(tr_lock_free(lock), 0);
    return NULL;
}
SYNC_CASE(test_lock_handed_then_cancelled_keeps_it, lock_handed_then_cancelled)

/* Many waiters get it in the order they began to wait. */
static void *lock_fifo_order(void *arg) {
    (void)arg;
    reset();
    T_EQ(tr_lock_acquire(lock), 0);
    enum { N = 10 };
    struct locker a[N];
    tr_task *t[N];
    for (int i = 0; i < N; i++) {
        a[i] = (struct locker){.tag = i, .release = true};
        t[i] = spawn(lockit, &a[i]);
        settle();
    }
    T_EQ(tr_lock_release(lock), 0);
    settle();
    T_CHECK(ORDER_IS(&result, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9));
    for (int i = 0; i < N; i++)
        T_EQ(finish(t[i]), 0);
    T_EQ(tr_lock_free(lock), 0);
    return NULL;
}
SYNC_CASE(test_lock_fifo_order, lock_fifo_order)

/* A late acquirer does not barge: the lock is handed to the waiter even though it has not run
 * yet when the newcomer asks. */
static void *lock_no_barging(void *arg) {
    (void)arg;
    reset();
    T_EQ(tr_lock_acquire(lock), 0);
    struct locker b = {.tag = 2, .release = true};
    tr_task *tb = spawn(lockit, &b);
    settle();
    T_EQ(tr_lock_release(lock), 0);
    T_CHECK(tr_lock_locked(lock));            /* b's already */
    T_EQ(tr_lock_try_acquire(lock), -EAGAIN); /* so main cannot take it */
    T_EQ(tr_lock_acquire(lock), 0);           /* waits for b's release */
    T_CHECK(ORDER_IS(&result, 2));
    T_EQ(tr_lock_release(lock), 0);
    T_EQ(finish(tb), 0);
    T_EQ(tr_lock_free(lock), 0);
    return NULL;
}
SYNC_CASE(test_lock_no_barging, lock_no_barging)

/* ---- deadlines, cancellation before the call ------------------------------------------------- */

static void *timed_locker(void *arg) {
    int *rc = arg;
    tr_deadline d;
    uint64_t t0 = now_ns();
    T_EQ(tr_deadline_begin(&d, 30 * MS), 0);
    *rc = tr_lock_acquire(lock);
    tr_deadline_end(&d);
    uint64_t el = now_ns() - t0;
    T_CHECK(el >= 30 * MS && el < 30 * MS + SLACK);
    return NULL;
}

/* The deadline ends a wait with -ETIME; the waiter leaves the queue, the one behind it gets
 * the lock at the release. Past the deadline a free lock is still taken (no wait). */
static void *lock_acquire_deadline(void *arg) {
    (void)arg;
    reset();
    T_EQ(tr_lock_acquire(lock), 0);
    int rc = 1;
    tr_task *timed = spawn(timed_locker, &rc);
    settle();
    struct locker c = {.tag = 3, .release = true};
    tr_task *tc = spawn(lockit, &c);
    settle();
    T_EQ(finish(timed), 0);
    T_EQ(rc, -ETIME);
    T_EQ(tr_lock_release(lock), 0); /* to c, not to the timed-out waiter */
    T_EQ(finish(tc), 0);
    T_CHECK(ORDER_IS(&result, 3));
    tr_deadline d;
    T_EQ(tr_deadline_begin(&d, 0), 0);
    T_EQ(tr_lock_acquire(lock), 0);
    tr_deadline_end(&d);
    T_EQ(tr_lock_release(lock), 0);
    T_EQ(tr_lock_free(lock), 0);
    return NULL;
}
SYNC_CASE(test_lock_acquire_deadline, lock_acquire_deadline)

/* Cancelled before the call: acquire refuses even a free lock; try_acquire and release work
 * (cleanup); a shield lets acquire through. */
static void *lock_cancel_before_acquire(void *arg) {
    (void)arg;
    reset();
    T_EQ(tr_task_cancel(tr_current()), 1);
    T_EQ(tr_lock_acquire(lock), -ECANCELED);
    T_CHECK(!tr_lock_locked(lock));
    T_EQ(tr_lock_try_acquire(lock), 0);
    T_EQ(tr_lock_release(lock), 0);
    tr_shield s;
    T_EQ(tr_shield_begin(&s), 0);
    T_EQ(tr_lock_acquire(lock), 0);
    T_EQ(tr_lock_release(lock), 0);
    tr_shield_end(&s);
    T_EQ(tr_lock_free(lock), 0);
    return NULL;
}
static void test_lock_cancel_before_acquire(void **state) {
    (void)state;
    T_EQ(tr_run(lock_cancel_before_acquire, NULL, NULL), -ECANCELED);
    assert_int_equal(sync_failures, 0);
}

/* ---- holders, recursion ---------------------------------------------------------------------- */

static void *release_other(void *arg) {
    (void)arg;
    T_EQ(tr_lock_release(lock), -EPERM);
    T_EQ(tr_lock_try_acquire(lock), -EAGAIN);
    return NULL;
}

static void *lock_holders(void *arg) {
    (void)arg;
    reset();
    T_EQ(tr_lock_acquire(lock), 0);
    T_EQ(tr_lock_acquire(lock), -EDEADLK);
    T_EQ(tr_lock_try_acquire(lock), -EDEADLK);
    T_EQ(finish(spawn(release_other, NULL)), 0); /* another task can neither release nor take */
    T_CHECK(tr_lock_locked(lock));
    T_EQ(tr_lock_free(lock), -EBUSY); /* held */
    T_EQ(tr_lock_release(lock), 0);
    T_EQ(tr_lock_release(lock), -EPERM); /* not held any more */
    T_EQ(tr_lock_try_acquire(lock), 0);
    T_EQ(tr_lock_release(lock), 0);
    T_EQ(tr_lock_free(lock), 0);
    return NULL;
}
SYNC_CASE(test_lock_holders_and_recursion, lock_holders)

/* A task that finished holding the lock leaves it held; a task that later gets the same task
 * record is not taken for the holder. While someone waits the lock cannot be freed; then it
 * can, the holder being gone. */
static tr_lock *orphan;
static void *take_and_return(void *arg) {
    (void)arg;
    T_EQ(tr_lock_acquire(orphan), 0);
    return NULL;
}
static void *not_the_holder(void *arg) {
    (void)arg;
    T_EQ(tr_lock_release(orphan), -EPERM);
    T_EQ(tr_lock_try_acquire(orphan), -EAGAIN);
    return NULL;
}
static void *lock_holder_finished(void *arg) {
    (void)arg;
    T_REQUIRE((orphan = tr_lock_new()) != NULL);
    T_EQ(finish(spawn(take_and_return, NULL)), 0);
    T_CHECK(tr_lock_locked(orphan));
    for (int i = 0; i < 200; i++) /* records are reused: some of these get the holder's */
        T_EQ(finish(spawn(not_the_holder, NULL)), 0);
    tr_deadline d;
    T_EQ(tr_deadline_begin(&d, 10 * MS), 0);
    T_EQ(tr_lock_acquire(orphan), -ETIME); /* nobody will ever release it */
    tr_deadline_end(&d);
    T_CHECK(tr_lock_locked(orphan));
    T_EQ(tr_lock_free(orphan), 0);
    return NULL;
}
SYNC_CASE(test_lock_holder_finished_stays_held, lock_holder_finished)

/* ---- bad input ------------------------------------------------------------------------------ */

static void *lock_bad_input(void *arg) {
    (void)arg;
    T_EQ(tr_lock_free(NULL), 0);
    T_EQ(tr_lock_acquire(NULL), -EINVAL);
    T_EQ(tr_lock_try_acquire(NULL), -EINVAL);
    T_EQ(tr_lock_release(NULL), -EINVAL);
    T_CHECK(!tr_lock_locked(NULL));
    reset();
    T_EQ(tr_lock_acquire(lock), 0);
    struct locker b = {.tag = 2, .release = true};
    tr_task *tb = spawn(lockit, &b);
    settle();
    T_EQ(tr_lock_free(lock), -EBUSY); /* held, and waited for */
    T_EQ(tr_lock_release(lock), 0);
    T_EQ(tr_lock_free(lock), -EBUSY); /* held by b now */
    T_EQ(finish(tb), 0);
    T_EQ(tr_lock_free(lock), 0);
    return NULL;
}
SYNC_CASE(test_lock_bad_input, lock_bad_input)

static void test_lock_outside_task(void **state) {
    (void)state;
    errno = 0;
    assert_null(tr_lock_new());
    assert_int_equal(errno, EPERM);
}

int main(int argc, char **argv) {
    sync_parse_args(argc, argv);
    const struct CMUnitTest tests[] = {
        SYNC_TEST(test_lock_lock),
        SYNC_TEST(test_lock_release_no_waiters),
        SYNC_TEST(test_lock_acquire),
        SYNC_TEST(test_lock_acquire_holder_finished),
        SYNC_TEST(test_lock_acquire_cancel),
        SYNC_TEST(test_lock_cancel_race),
        SYNC_TEST(test_lock_cancel_release_race),
        SYNC_TEST(test_lock_finished_waiter_cancelled),
        SYNC_TEST(test_lock_release_not_acquired),
        SYNC_TEST(test_lock_handed_then_cancelled_keeps_it),
        SYNC_TEST(test_lock_fifo_order),
        SYNC_TEST(test_lock_no_barging),
        SYNC_TEST(test_lock_acquire_deadline),
        SYNC_TEST(test_lock_cancel_before_acquire),
        SYNC_TEST(test_lock_holders_and_recursion),
        SYNC_TEST(test_lock_holder_finished_stays_held),
        SYNC_TEST(test_lock_bad_input),
        SYNC_TEST(test_lock_outside_task),
    };
    return test_result(cmocka_run_group_tests(tests, NULL, NULL));
}
