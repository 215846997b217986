/*
 * sync_cond.c - tr_cond_*: CPython's ConditionTests (test_locks.py) that map onto the calls,
 * then FIFO order, the re-acquire (it outlasts deadlines and cancellations, and gives way only
 * to tr_run's deadlock breaking), cancellation before the call, and bad input.
 *
 * asyncio's locks have no owner: its tests release a lock from a task that did not take it.
 * taskring's lock belongs to its holder, so in the ports each task releases what it took.
 */
#include "sync_test.h"

/* What tr_run does to break a deadlock (runtime/task.c): cancel through shields. White-box,
 * to show that the re-acquire gives way to it and to nothing else. */
void task_request_cancel(tr_task *t, bool force);

static tr_cond *cond;
static tr_lock *lock;
static struct order result;

struct waiter_arg {
    int tag;
    int rc;          /* tr_cond_wait's */
    int next_rc;     /* with `then_wait`: the wait after it */
    bool held;       /* the lock was held when tr_cond_wait returned */
    bool release;    /* release the lock at the end */
    bool then_wait;  /* after a successful wait, wait again (to see a pending cancellation) */
    bool *predicate; /* wait until *predicate (wait_for) */
    bool timed;      /* inside a deadline scope of `timeout` */
    uint64_t timeout;
    uint64_t elapsed;
};

static void *cond_waiter(void *arg) {
    struct waiter_arg *a = arg;
    T_EQ(tr_lock_acquire(lock), 0);
    tr_deadline d;
    if (a->timed)
        T_EQ(tr_deadline_begin(&d, a->timeout), 0);
    uint64_t t0 = now_ns();
    do
        a->rc = tr_cond_wait(cond);
    while (a->rc == 0 && a->predicate && !*a->predicate);
    a->elapsed = now_ns() - t0;
    if (a->timed)
        tr_deadline_end(&d);
    a->held = tr_lock_locked(lock) && tr_lock_try_acquire(lock) == -EDEADLK;
    if (a->rc == 0)
        order_add(&result, a->tag);
    if (a->rc == 0 && a->then_wait)
        a->next_rc = tr_cond_wait(cond);
    if (a->release && a->held)
        T_EQ(tr_lock_release(lock), 0);
    return NULL;
}

static void reset(tr_lock *with) {
    result.n = 0;
    cond = tr_cond_new(with);
    if (!cond) {
        sync_fail(__FILE__, __LINE__, "tr_cond_new: errno %d", errno);
        return;
    }
    lock = tr_cond_lock(cond);
}

static void done(void) {
    T_EQ(tr_cond_free(cond), 0);
}

/* ---- ConditionTests -------------------------------------------------------------------------- */

/* test_wait: three waiters; a notify while main holds the lock wakes nobody yet; main's release
 * lets the first re-acquire; notify(2) and the releases let the other two through in order. */
static void *condition_wait(void *arg) {
    (void)arg;
    reset(NULL);
    struct waiter_arg a[3] = {
        {.tag = 1, .release = true}, {.tag = 2, .release = true}, {.tag = 3, .release = true}};
    tr_task *t[3];
    for (int i = 0; i < 3; i++)
        t[i] = spawn(cond_waiter, &a[i]);
    settle();
    T_EQ(result.n, 0);
    T_CHECK(!tr_lock_locked(lock));
    T_EQ(tr_lock_acquire(lock), 0);
    T_EQ(tr_cond_notify(cond, 1), 1);
    settle();
    T_EQ(result.n, 0);
    T_CHECK(tr_lock_locked(lock));
    T_EQ(tr_lock_release(lock), 0);
    settle();
    T_CHECK(ORDER_IS(&result, 1));
    T_EQ(tr_lock_acquire(lock), 0);
    T_EQ(tr_cond_notify(cond, 2), 2);
    settle();
    T_CHECK(ORDER_IS(&result, 1));
    T_EQ(tr_lock_release(lock), 0);
    settle();
    T_CHECK(ORDER_IS(&result, 1, 2, 3));
    for (int i = 0; i < 3; i++) {
        T_EQ(finish(t[i]), 0);
        T_EQ(a[i].rc, 0);
        T_CHECK(a[i].held);
    }
    done();
    return NULL;
}
SYNC_CASE(test_condition_wait, condition_wait)

/* test_wait_cancel: cancelled while waiting: -ECANCELED, the lock held again, no waiter left. */
static void *condition_wait_cancel(void *arg) {
    (void)arg;
    reset(NULL);
    struct waiter_arg a = {.tag = 1, .release = true};
    tr_task *t = spawn(cond_waiter, &a);
    settle();
    cancel(t);
    T_EQ(finish(t), -ECANCELED);
    T_EQ(a.rc, -ECANCELED);
    T_CHECK(a.held);
    T_CHECK(!tr_lock_locked(lock));
    done(); /* no waiter left */
    return NULL;
}
SYNC_CASE(test_condition_wait_cancel, condition_wait_cancel)

/* test_wait_cancel_contested: notified, then cancelled before it runs, while main holds the
 * lock and then releases it: the wait returns 0 (the notification is kept) holding the lock. */
static void *condition_wait_cancel_contested(void *arg) {
    (void)arg;
    reset(NULL);
    struct waiter_arg a = {.tag = 1};
    tr_task *t = spawn(cond_waiter, &a);
    settle();
    T_CHECK(!tr_lock_locked(lock));
    T_EQ(tr_lock_acquire(lock), 0);
    T_EQ(tr_cond_notify(cond, 1), 1);
    cancel(t);
    T_EQ(tr_lock_release(lock), 0);
    settle();
    T_EQ(a.rc, 0);
    T_CHECK(a.held);
    T_CHECK(tr_lock_locked(lock)); /* the finished waiter kept it (no release) */
    T_EQ(finish(t), -ECANCELED);
    done(); /* held by a finished task, its lock is no obstacle */
    return NULL;
}
SYNC_CASE(test_condition_wait_cancel_contested, condition_wait_cancel_contested)

/* test_wait_cancel_after_notify: notified, waiting to re-acquire, then cancelled: the
 * re-acquire is not interrupted; once main releases, the wait returns holding the lock, and
 * the task finishes cancelled. */
static void *condition_wait_cancel_after_notify(void *arg) {
    (void)arg;
    reset(NULL);
    struct waiter_arg a = {.tag = 1, .release = true, .rc = 1};
    tr_task *t = spawn(cond_waiter, &a);
    settle();
    T_EQ(tr_lock_acquire(lock), 0);
    T_EQ(tr_cond_notify(cond, 1), 1);
    settle(); /* t is in the re-acquire now */
    cancel(t);
    settle();
    T_EQ(a.rc, 1); /* still there */
    T_EQ(tr_lock_release(lock), 0);
    settle();
    T_EQ(a.rc, 0);
    T_CHECK(a.held);
    T_EQ(finish(t), -ECANCELED);
    T_CHECK(!tr_lock_locked(lock));
    done();
    return NULL;
}
SYNC_CASE(test_condition_wait_cancel_after_notify, condition_wait_cancel_after_notify)

/* test_wait_unacquired */
static void *condition_wait_unacquired(void *arg) {
    (void)arg;
    reset(NULL);
    T_EQ(tr_cond_wait(cond), -EPERM);
    done();
    return NULL;
}
SYNC_CASE(test_condition_wait_unacquired, condition_wait_unacquired)

/* test_wait_for: the waiter re-checks its predicate after each notification. */
static void *condition_wait_for(void *arg) {
    (void)arg;
    reset(NULL);
    bool presult = false;
    struct waiter_arg a = {.tag = 1, .release = true, .predicate = &presult};
    tr_task *t = spawn(cond_waiter, &a);
    settle();
    T_EQ(tr_lock_acquire(lock), 0);
    T_EQ(tr_cond_notify(cond, 1), 1);
    T_EQ(tr_lock_release(lock), 0);
    settle();
    T_EQ(result.n, 0);
    presult = true;
    T_EQ(tr_lock_acquire(lock), 0);
    T_EQ(tr_cond_notify(cond, 1), 1);
    T_EQ(tr_lock_release(lock), 0);
    settle();
    T_CHECK(ORDER_IS(&result, 1));
    T_EQ(finish(t), 0);
    done();
    return NULL;
}
SYNC_CASE(test_condition_wait_for, condition_wait_for)

/* test_notify: notify(1) wakes one; notify(1) + notify(2048) wake the other two. */
static void *condition_notify(void *arg) {
    (void)arg;
    reset(NULL);
    struct waiter_arg a[3] = {
        {.tag = 1, .release = true}, {.tag = 2, .release = true}, {.tag = 3, .release = true}};
    tr_task *t[3];
    for (int i = 0; i < 3; i++)
        t[i] = spawn(cond_waiter, &a[i]);
    settle();
    T_EQ(tr_lock_acquire(lock), 0);
    T_EQ(tr_cond_notify(cond, 1), 1);
    T_EQ(tr_lock_release(lock), 0);
    settle();
    T_CHECK(ORDER_IS(&result, 1));
    T_EQ(tr_lock_acquire(lock), 0);
    T_EQ(tr_cond_notify(cond, 1), 1);
    T_EQ(tr_cond_notify(cond, 2048), 1);
    T_EQ(tr_cond_notify(cond, 2048), 0);
    T_EQ(tr_lock_release(lock), 0);
    settle();
    T_CHECK(ORDER_IS(&result, 1, 2, 3));
    for (int i = 0; i < 3; i++)
        T_EQ(finish(t[i]), 0);
    done();
    return NULL;
}
SYNC_CASE(test_condition_notify, condition_notify)

/* test_notify_all */
static void *condition_notify_all(void *arg) {
    (void)arg;
    reset(NULL);
    struct waiter_arg a[2] = {{.tag = 1, .release = true}, {.tag = 2, .release = true}};
    tr_task *t1 = spawn(cond_waiter, &a[0]);
    tr_task *t2 = spawn(cond_waiter, &a[1]);
    settle();
    T_EQ(tr_lock_acquire(lock), 0);
    T_EQ(tr_cond_notify_all(cond), 2);
    T_EQ(tr_lock_release(lock), 0);
    settle();
    T_CHECK(ORDER_IS(&result, 1, 2));
    T_EQ(finish(t1), 0);
    T_EQ(finish(t2), 0);
    done();
    return NULL;
}
SYNC_CASE(test_condition_notify_all, condition_notify_all)

/* test_notify_unacquired, test_notify_all_unacquired: -EPERM, also when another task holds. */
static void *hold_lock(void *arg) {
    tr_event *until = arg;
    T_EQ(tr_lock_acquire(lock), 0);
    T_EQ(tr_event_wait(until), 0);
    T_EQ(tr_lock_release(lock), 0);
    return NULL;
}
static void *condition_notify_unacquired(void *arg) {
    (void)arg;
    reset(NULL);
    T_EQ(tr_cond_notify(cond, 1), -EPERM);
    T_EQ(tr_cond_notify_all(cond), -EPERM);
    tr_event *until = tr_event_new();
    T_REQUIRE(until);
    tr_task *t = spawn(hold_lock, until);
    settle();
    T_EQ(tr_cond_notify(cond, 1), -EPERM);
    T_EQ(tr_cond_notify_all(cond), -EPERM);
    T_EQ(tr_cond_wait(cond), -EPERM);
    T_EQ(tr_cond_free(cond), -EBUSY); /* its own lock is held */
    T_EQ(tr_event_set(until), 0);
    T_EQ(finish(t), 0);
    T_EQ(tr_event_free(until), 0);
    done();
    return NULL;
}
SYNC_CASE(test_condition_notify_unacquired, condition_notify_unacquired)
SYNC_CASE(test_condition_notify_all_unacquired, condition_notify_unacquired)

/* test_explicit_lock: a condition over a lock it was given; the lock outlives it. */
static void *condition_explicit_lock(void *arg) {
    (void)arg;
    tr_lock *mine = tr_lock_new();
    T_REQUIRE(mine);
    reset(mine);
    T_CHECK(tr_cond_lock(cond) == mine);
    T_CHECK(!tr_lock_locked(mine));
    T_EQ(tr_lock_acquire(tr_cond_lock(cond)), 0);
    T_CHECK(tr_lock_locked(mine));
    T_EQ(tr_cond_notify(cond, 1), 0); /* held through the condition's lock: allowed */
    T_EQ(tr_lock_release(mine), 0);
    T_CHECK(!tr_lock_locked(tr_cond_lock(cond)));
    done();
    T_EQ(tr_lock_free(mine), 0); /* not freed with the condition */
    /* Two conditions may share one lock. */
    T_REQUIRE((mine = tr_lock_new()) != NULL);
    tr_cond *c1 = tr_cond_new(mine), *c2 = tr_cond_new(mine);
    T_REQUIRE(c1 && c2);
    T_EQ(tr_lock_acquire(mine), 0);
    T_EQ(tr_cond_notify(c1, 1), 0);
    T_EQ(tr_cond_notify(c2, 1), 0);
    T_EQ(tr_lock_release(mine), 0);
    T_EQ(tr_cond_free(c1), 0);
    T_EQ(tr_cond_free(c2), 0);
    T_EQ(tr_lock_free(mine), 0);
    return NULL;
}
SYNC_CASE(test_condition_explicit_lock, condition_explicit_lock)

/* test_timeout_in_block: a deadline ends the wait with -ETIME, the lock held again. */
static void *condition_timeout_in_block(void *arg) {
    (void)arg;
    reset(NULL);
    T_EQ(tr_lock_acquire(lock), 0);
    tr_deadline d;
    uint64_t t0 = now_ns();
    T_EQ(tr_deadline_begin(&d, 30 * MS), 0);
    T_EQ(tr_cond_wait(cond), -ETIME);
    tr_deadline_end(&d);
    uint64_t el = now_ns() - t0;
    T_CHECK(el >= 30 * MS && el < 30 * MS + SLACK);
    T_EQ(tr_lock_try_acquire(lock), -EDEADLK); /* held by main */
    T_EQ(tr_lock_release(lock), 0);
    /* Past the deadline: refused before letting go of the lock. */
    T_EQ(tr_lock_acquire(lock), 0);
    T_EQ(tr_deadline_begin(&d, 0), 0);
    T_EQ(tr_cond_wait(cond), -ETIME);
    tr_deadline_end(&d);
    T_EQ(tr_lock_release(lock), 0);
    done();
    return NULL;
}
SYNC_CASE(test_condition_timeout_in_block, condition_timeout_in_block)

/* test_cancelled_error_wakeup: cancelled while waiting for the notification: -ECANCELED with
 * the lock held. */
static void *condition_cancelled_error_wakeup(void *arg) {
    (void)arg;
    reset(NULL);
    bool wake = false;
    struct waiter_arg a = {.tag = 1, .release = true, .predicate = &wake};
    tr_task *t = spawn(cond_waiter, &a);
    settle();
    cancel(t);
    T_EQ(finish(t), -ECANCELED);
    T_EQ(a.rc, -ECANCELED);
    T_CHECK(a.held);
    done();
    return NULL;
}
SYNC_CASE(test_condition_cancelled_error_wakeup, condition_cancelled_error_wakeup)

/* test_cancelled_error_re_aquire: notified, then cancelled while re-acquiring. asyncio raises
 * CancelledError out of the wait; here the notification was handed over and is kept: the wait
 * returns 0 holding the lock, and the cancellation comes at the next wait. */
static void *condition_cancelled_error_reacquire(void *arg) {
    (void)arg;
    reset(NULL);
    bool wake = false;
    struct waiter_arg a = {.tag = 1, .release = true, .predicate = &wake, .then_wait = true};
    tr_task *t = spawn(cond_waiter, &a);
    settle();
    T_EQ(tr_lock_acquire(lock), 0);
    wake = true;
    T_EQ(tr_cond_notify(cond, 1), 1);
    settle(); /* t re-acquiring */
    cancel(t);
    T_EQ(tr_lock_release(lock), 0);
    T_EQ(finish(t), -ECANCELED);
    T_EQ(a.rc, 0);
    T_CHECK(a.held);
    T_EQ(a.next_rc, -ECANCELED);
    T_CHECK(!tr_lock_locked(lock));
    done();
    return NULL;
}
SYNC_CASE(test_condition_cancelled_error_re_aquire, condition_cancelled_error_reacquire)

/* test_cancelled_wakeup, test_cancelled_wakeup_relock: a consumer notified and cancelled at
 * once (while its wake-up is pending, or while it re-acquires) does not lose the wake-up: it
 * consumes the cstate it was notified for. */
static int cstate;
static void *consumer(void *arg) {
    int *rc = arg;
    T_EQ(tr_lock_acquire(lock), 0);
    for (;;) {
        while (cstate == 0) {
            *rc = tr_cond_wait(cond);
            if (*rc < 0) {
                T_EQ(tr_lock_release(lock), 0); /* held again even when it failed */
                return NULL;
            }
        }
        if (cstate < 0)
            break;
        cstate--;
    }
    T_EQ(tr_lock_release(lock), 0);
    return NULL;
}
static void *cancelled_wakeup(void *arg) {
    bool relock = arg != NULL;
    reset(NULL);
    cstate = 0;
    int rc[2] = {1, 1};
    tr_task *c[2] = {spawn(consumer, &rc[0]), spawn(consumer, &rc[1])};
    settle();
    T_EQ(tr_lock_acquire(lock), 0);
    cstate += 1;
    T_EQ(tr_cond_notify(cond, 1), 1);
    if (relock)
        settle(); /* c[0] wakes and waits to re-acquire */
    cancel(c[0]);
    /* Wait (briefly) for the item to be consumed: nobody notifies, so this times out. */
    tr_deadline d;
    T_EQ(tr_deadline_begin(&d, 10 * MS), 0);
    int r;
    while (cstate != 0 && (r = tr_cond_wait(cond)) == 0)
        ;
    tr_deadline_end(&d);
    T_EQ(cstate, 0);
    cstate = -1;
    T_EQ(tr_cond_notify_all(cond), 1);
    T_EQ(tr_lock_release(lock), 0);
    T_EQ(finish(c[1]), 0);
    T_EQ(finish(c[0]), -ECANCELED);
    T_EQ(rc[0], -ECANCELED); /* at its wait after consuming */
    done();
    return NULL;
}
static void test_condition_cancelled_wakeup(void **state_) {
    (void)state_;
    sync_run(cancelled_wakeup, NULL);
}
static void test_condition_cancelled_wakeup_relock(void **state_) {
    (void)state_;
    sync_run(cancelled_wakeup, (void *)1);
}

/* ---- order, the re-acquire ------------------------------------------------------------------- */

static void *condition_fifo_order(void *arg) {
    (void)arg;
    reset(NULL);
    enum { N = 10 };
    struct waiter_arg a[N];
    tr_task *t[N];
    for (int i = 0; i < N; i++) {
        a[i] = (struct waiter_arg){.tag = i, .release = true};
        t[i] = spawn(cond_waiter, &a[i]);
        settle();
    }
    T_EQ(tr_lock_acquire(lock), 0);
    T_EQ(tr_cond_notify(cond, 3), 3);
    T_EQ(tr_cond_notify_all(cond), N - 3);
    T_EQ(tr_lock_release(lock), 0);
    settle();
    T_CHECK(ORDER_IS(&result, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9));
    for (int i = 0; i < N; i++)
        T_EQ(finish(t[i]), 0);
    done();
    return NULL;
}
SYNC_CASE(test_condition_fifo_order, condition_fifo_order)

/* The deadline ends the wait for the notification, not the re-acquire: while main holds the
 * lock past the waiter's deadline, the waiter returns -ETIME only once main releases. */
static void *condition_reacquire_outlasts_deadline(void *arg) {
    (void)arg;
    reset(NULL);
    struct waiter_arg a = {.tag = 1, .release = true, .timed = true, .timeout = 20 * MS, .rc = 1};
    tr_task *t = spawn(cond_waiter, &a);
    settle();
    T_EQ(tr_lock_acquire(lock), 0);
    T_EQ(tr_sleep(60 * MS), 0); /* the waiter's deadline passes meanwhile */
    T_EQ(a.rc, 1);
    T_EQ(tr_lock_release(lock), 0);
    T_EQ(finish(t), 0);
    T_EQ(a.rc, -ETIME);
    T_CHECK(a.held);
    T_CHECK(a.elapsed >= 60 * MS);
    done();
    return NULL;
}
SYNC_CASE(test_condition_reacquire_outlasts_deadline, condition_reacquire_outlasts_deadline)

/* When the lock's holder never lets go, tr_run ends the deadlock by cancelling through
 * shields (simulated here): the re-acquire gives way and tr_cond_wait returns -EDEADLK
 * without the lock, in each of the three places the cancellation can find the waiter. */
static void *condition_reacquire_forced(void *arg) {
    (void)arg;
    reset(NULL);
    /* 1. In the re-acquire, after a notification. */
    struct waiter_arg a = {.tag = 1, .release = true, .rc = 1};
    tr_task *t = spawn(cond_waiter, &a);
    settle();
    T_EQ(tr_lock_acquire(lock), 0);
    T_EQ(tr_cond_notify(cond, 1), 1);
    settle();
    cancel(t); /* an ordinary cancellation: held back by the re-acquire's shield */
    settle();
    T_EQ(a.rc, 1);
    task_request_cancel(t, true);
    T_EQ(finish(t), -ECANCELED);
    T_EQ(a.rc, -EDEADLK);
    T_CHECK(!a.held);
    T_EQ(tr_lock_try_acquire(lock), -EDEADLK); /* main still holds it */
    /* 2. Waiting for the notification, the lock held by main: no wait for it at all. */
    struct waiter_arg b = {.tag = 2, .release = true, .rc = 1};
    T_EQ(tr_lock_release(lock), 0);
    t = spawn(cond_waiter, &b);
    settle();
    T_EQ(tr_lock_acquire(lock), 0);
    task_request_cancel(t, true);
    T_EQ(finish(t), -ECANCELED);
    T_EQ(b.rc, -EDEADLK);
    T_CHECK(!b.held);
    T_EQ(tr_lock_release(lock), 0);
    /* 3. Waiting for the notification, the lock free: taken back, the wait cancelled. */
    struct waiter_arg c = {.tag = 3, .release = true, .rc = 1};
    t = spawn(cond_waiter, &c);
    settle();
    task_request_cancel(t, true);
    T_EQ(finish(t), -ECANCELED);
    T_EQ(c.rc, -ECANCELED);
    T_CHECK(c.held);
    T_CHECK(!tr_lock_locked(lock));
    T_EQ(result.n, 0);
    done();
    return NULL;
}
SYNC_CASE(test_condition_reacquire_gives_way_to_deadlock_breaking, condition_reacquire_forced)

/* Cancelled before the call: -ECANCELED at once, and the lock never changed hands (a task
 * queued for it did not get it in between). A shield lets the wait through. */
static void *condition_cancel_before_wait(void *arg) {
    (void)arg;
    reset(NULL);
    T_EQ(tr_lock_acquire(lock), 0);
    struct waiter_arg other = {.tag = 9, .release = true};
    tr_task *t = spawn(cond_waiter, &other); /* queues for the lock */
    settle();
    T_EQ(tr_task_cancel(tr_current()), 1);
    T_EQ(tr_cond_wait(cond), -ECANCELED);
    T_EQ(tr_lock_try_acquire(lock), -EDEADLK); /* still main's */
    T_EQ(tr_cond_notify(cond, 1), 0);          /* the calls that never wait still work */
    tr_shield s;
    T_EQ(tr_shield_begin(&s), 0);
    T_EQ(tr_lock_release(lock), 0); /* to `other`, which waits on the condition */
    settle();
    T_EQ(tr_lock_acquire(lock), 0);
    T_EQ(tr_cond_notify(cond, 1), 1);
    T_EQ(tr_lock_release(lock), 0);
    T_EQ(tr_await(t, NULL), 0);
    tr_shield_end(&s);
    tr_task_release(t);
    T_CHECK(ORDER_IS(&result, 9));
    done();
    return NULL;
}
static void test_condition_cancel_before_wait(void **state) {
    (void)state;
    T_EQ(tr_run(condition_cancel_before_wait, NULL, NULL), -ECANCELED);
    assert_int_equal(sync_failures, 0);
}

/* ---- bad input ------------------------------------------------------------------------------ */

static void *condition_bad_input(void *arg) {
    (void)arg;
    T_EQ(tr_cond_free(NULL), 0);
    T_EQ(tr_cond_wait(NULL), -EINVAL);
    T_EQ(tr_cond_notify(NULL, 1), -EINVAL);
    T_EQ(tr_cond_notify_all(NULL), -EINVAL);
    errno = 0;
    T_CHECK(tr_cond_lock(NULL) == NULL && errno == EINVAL);
    reset(NULL);
    T_EQ(tr_lock_acquire(lock), 0);
    T_EQ(tr_cond_notify(cond, 0), 0); /* n == 0 */
    T_EQ(tr_lock_release(lock), 0);
    struct waiter_arg a = {.tag = 1, .release = true};
    tr_task *t = spawn(cond_waiter, &a);
    settle();
    T_EQ(tr_cond_free(cond), -EBUSY); /* a waiter */
    T_EQ(tr_lock_acquire(lock), 0);
    T_EQ(tr_cond_notify_all(cond), 1);
    T_EQ(tr_cond_free(cond), -EBUSY); /* its own lock, held */
    T_EQ(tr_lock_release(lock), 0);
    T_EQ(finish(t), 0);
    done();
    return NULL;
}
SYNC_CASE(test_condition_bad_input, condition_bad_input)

static void test_condition_outside_task(void **state) {
    (void)state;
    errno = 0;
    assert_null(tr_cond_new(NULL));
    assert_int_equal(errno, EPERM);
}

int main(int argc, char **argv) {
    sync_parse_args(argc, argv);
    const struct CMUnitTest tests[] = {
        SYNC_TEST(test_condition_wait),
        SYNC_TEST(test_condition_wait_cancel),
        SYNC_TEST(test_condition_wait_cancel_contested),
        SYNC_TEST(test_condition_wait_cancel_after_notify),
        SYNC_TEST(test_condition_wait_unacquired),
        SYNC_TEST(test_condition_wait_for),
        SYNC_TEST(test_condition_notify),
        SYNC_TEST(test_condition_notify_all),
        SYNC_TEST(test_condition_notify_unacquired),
        SYNC_TEST(test_condition_notify_all_unacquired),
        SYNC_TEST(test_condition_explicit_lock),
        SYNC_TEST(test_condition_timeout_in_block),
        SYNC_TEST(test_condition_cancelled_error_wakeup),
        SYNC_TEST(test_condition_cancelled_error_re_aquire),
        SYNC_TEST(test_condition_cancelled_wakeup),
        SYNC_TEST(test_condition_cancelled_wakeup_relock),
        SYNC_TEST(test_condition_fifo_order),
        SYNC_TEST(test_condition_reacquire_outlasts_deadline),
        SYNC_TEST(test_condition_reacquire_gives_way_to_deadlock_breaking),
        SYNC_TEST(test_condition_cancel_before_wait),
        SYNC_TEST(test_condition_bad_input),
        SYNC_TEST(test_condition_outside_task),
    };
    return test_result(cmocka_run_group_tests(tests, NULL, NULL));
}
