/*
 * tr_wait: asyncio.wait's cases from test_tasks.py (test_wait*, the cancellation-propagation
 * cases that go through wait()), then bad input, deadlines and the caller's cancellation.
 * tr_wait returns how many of the tasks are done; the done/pending split of asyncio is read
 * with tr_task_done.
 */
#include "tasks_test.h"

static struct job ok_after(uint64_t ms, intptr_t value) {
    return (struct job){.sleep_ns = ms * MS, .value = (void *)value};
}

static struct job fail_after(uint64_t ms, int err) {
    return (struct job){.sleep_ns = ms * MS, .fail = err};
}

static size_t count_done(tr_task **t, size_t n) {
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        k += tr_task_done(t[i]);
    return k;
}

/* test_wait: ALL_COMPLETED; doing it again returns at once. */
TASK_CASE(test_wait) {
    struct job a = ok_after(2, 0), b = ok_after(4, 0);
    tr_task *ta = spawn_job(&a), *tb = spawn_job(&b);
    tr_task *t[2] = {tb, ta};
    CHECK_EQ(tr_wait(t, 2, TR_ALL_COMPLETED), 2);
    CHECK(a.finished && b.finished);
    uint64_t t0 = now_ns();
    CHECK_EQ(tr_wait(t, 2, TR_ALL_COMPLETED), 2);
    CHECK(now_ns() - t0 < 5 * MS || slow_build());
    tr_task_release(ta), tr_task_release(tb);
    return NULL;
}

/* test_wait_duplicate_coroutines: a task listed twice counts twice (asyncio makes a set of
 * its argument; tr_wait counts entries, as tr_gather does). */
TASK_CASE(test_wait_duplicate_coroutines) {
    struct job c = ok_after(1, 0), s = ok_after(3, 0);
    tr_task *tc = spawn_job(&c), *ts = spawn_job(&s);
    tr_task *t[3] = {tc, tc, ts};
    CHECK_EQ(tr_wait(t, 3, TR_ALL_COMPLETED), 3);
    struct job l = ok_after(1000, 0);
    tr_task *tl = spawn_job(&l);
    struct job d = ok_after(1, 0);
    tr_task *td = spawn_job(&d);
    tr_task *u[4] = {tl, td, tl, td};
    CHECK_EQ(tr_wait(u, 4, TR_FIRST_COMPLETED), 2); /* td twice */
    tr_task_cancel(tl);
    await_done(tl, 5000);
    tr_task_release(tc), tr_task_release(ts), tr_task_release(tl), tr_task_release(td);
    return NULL;
}

/* test_wait_errors, test_wait_invalid_args: nothing to wait for, or an unknown mode. */
TASK_CASE(test_wait_errors) {
    struct job j = ok_after(1, 0);
    tr_task *t = spawn_job(&j);
    CHECK_EQ(tr_wait(&t, 0, TR_ALL_COMPLETED), -EINVAL);
    CHECK_EQ(tr_wait(NULL, 0, TR_ALL_COMPLETED), -EINVAL);
    CHECK_EQ(tr_wait(&t, 1, -1), -EINVAL);
    CHECK_EQ(tr_wait(&t, 1, 0), -EINVAL);
    CHECK_EQ(tr_wait(&t, 1, 4), -EINVAL);
    CHECK(!tr_task_done(t));
    CHECK_EQ(tr_wait(&t, 1, TR_ALL_COMPLETED), 1);
    tr_task_release(t);
    return NULL;
}

TASK_CASE(test_wait_invalid_args) {
    CHECK_EQ(tr_wait(NULL, 1, TR_ALL_COMPLETED), -EINVAL);
    tr_task *t[2] = {tr_current(), NULL};
    CHECK_EQ(tr_wait(t + 1, 1, TR_FIRST_COMPLETED), -EINVAL); /* a NULL element */
    CHECK_EQ(tr_wait(t, 1, TR_FIRST_COMPLETED), -EDEADLK);    /* the caller itself */
    CHECK_EQ(tr_wait(t, (size_t)INT32_MAX + 1, TR_ALL_COMPLETED), -EOVERFLOW);
    return NULL;
}

/* test_wait_first_completed: the first one done ends the wait; the other runs on. */
TASK_CASE(test_wait_first_completed) {
    struct job a = ok_after(1000, 0), b = ok_after(2, 0);
    tr_task *ta = spawn_job(&a), *tb = spawn_job(&b);
    tr_task *t[2] = {tb, ta};
    CHECK_EQ(tr_wait(t, 2, TR_FIRST_COMPLETED), 1);
    CHECK(tr_task_done(tb) && !tr_task_done(ta));
    CHECK_EQ(tr_task_error(tb), 0);
    CHECK(!a.saw_cancel);
    tr_task_cancel(ta);
    CHECK_EQ(tr_wait(t, 2, TR_ALL_COMPLETED), 2);
    tr_task_release(ta), tr_task_release(tb);
    return NULL;
}

/* test_wait_really_done: the count is what is done when the call returns, always consistent
 * with tr_task_done. */
TASK_CASE(test_wait_really_done) {
    struct job a = {.yields = 1}, b = {.yields = 2};
    tr_task *ta = spawn_job(&a), *tb = spawn_job(&b);
    tr_task *t[2] = {tb, ta};
    int k = tr_wait(t, 2, TR_FIRST_COMPLETED);
    CHECK(k >= 1);
    CHECK_EQ((size_t)k, count_done(t, 2));
    CHECK(tr_task_done(ta));
    CHECK_EQ(tr_wait(t, 2, TR_ALL_COMPLETED), 2);
    tr_task_release(ta), tr_task_release(tb);
    return NULL;
}

/* test_wait_first_exception: a member that failed already satisfies it at once. */
TASK_CASE(test_wait_first_exception) {
    struct job a = ok_after(1000, 0), b = fail_after(0, -EDOM);
    tr_task *ta = spawn_job(&a), *tb = spawn_job(&b);
    tr_task *t[2] = {tb, ta};
    CHECK_EQ(tr_yield(), 0); /* b has failed */
    CHECK(tr_task_done(tb));
    uint64_t t0 = now_ns();
    CHECK_EQ(tr_wait(t, 2, TR_FIRST_ERROR), 1);
    CHECK(now_ns() - t0 < 5 * MS || slow_build());
    CHECK(!tr_task_done(ta));
    CHECK_EQ(tr_task_error(tb), -EDOM);
    tr_task_cancel(ta);
    CHECK_EQ(tr_wait(t, 2, TR_ALL_COMPLETED), 2);
    tr_task_release(ta), tr_task_release(tb);
    return NULL;
}

/* test_wait_first_exception_in_wait: a failure during the wait ends it. */
TASK_CASE(test_wait_first_exception_in_wait) {
    struct job a = ok_after(1000, 0), b = fail_after(3, -EDOM);
    tr_task *ta = spawn_job(&a), *tb = spawn_job(&b);
    tr_task *t[2] = {tb, ta};
    CHECK_EQ(tr_wait(t, 2, TR_FIRST_ERROR), 1);
    CHECK(tr_task_done(tb) && !tr_task_done(ta));
    CHECK_EQ(tr_task_error(tb), -EDOM);
    tr_task_cancel(ta);
    CHECK_EQ(tr_wait(t, 2, TR_ALL_COMPLETED), 2);
    tr_task_release(ta), tr_task_release(tb);
    return NULL;
}

/* FIRST_ERROR is asyncio's FIRST_EXCEPTION: a cancelled member is no exception there (it
 * checks `not f.cancelled()`), so it does not end the wait; successes do not either. */
TASK_CASE(test_wait_first_exception_skips_cancelled) {
    struct job c = ok_after(1000, 0), ok = ok_after(0, 0), late = fail_after(15, -EPROTO);
    tr_task *tc = spawn_job(&c), *tok = spawn_job(&ok), *tl = spawn_job(&late);
    CHECK_EQ(tr_yield(), 0);
    CHECK_EQ(tr_task_cancel(tc), 1);
    tr_task *t[3] = {tc, tok, tl};
    CHECK_EQ(tr_wait(t, 3, TR_FIRST_ERROR), 3); /* only the failure ended it */
    CHECK(tr_task_cancelled(tc));
    CHECK_EQ(tr_task_error(tl), -EPROTO);
    /* And with no failure at all it is ALL_COMPLETED. */
    struct job x = ok_after(1, 0), y = ok_after(3, 0);
    tr_task *u[2] = {spawn_job(&x), spawn_job(&y)};
    CHECK_EQ(tr_wait(u, 2, TR_FIRST_ERROR), 2);
    tr_task_release(tc), tr_task_release(tok), tr_task_release(tl);
    release_all(u, 2);
    return NULL;
}

/* test_wait_with_exception: ALL_COMPLETED counts failures as done. */
TASK_CASE(test_wait_with_exception) {
    struct job a = ok_after(1, 0), b = fail_after(3, -EDOM);
    tr_task *t[2] = {spawn_job(&b), spawn_job(&a)};
    CHECK_EQ(tr_wait(t, 2, TR_ALL_COMPLETED), 2);
    CHECK_EQ(tr_task_error(t[0]), -EDOM);
    CHECK_EQ(tr_task_error(t[1]), 0);
    CHECK_EQ(tr_wait(t, 2, TR_ALL_COMPLETED), 2);
    release_all(t, 2);
    return NULL;
}

/* test_wait_with_timeout, test_wait_concurrent_complete: asyncio.wait(timeout=) is a deadline
 * scope around tr_wait: -ETIME, and the done/pending split by tr_task_done. */
TASK_CASE(test_wait_with_timeout) {
    struct job a = ok_after(0, 0), b = ok_after(1000, 0);
    tr_task *ta = spawn_job(&a), *tb = spawn_job(&b);
    tr_task *t[2] = {tb, ta};
    CHECK_EQ(tr_yield(), 0); /* they start: the scope below must not find them unstarted */
    tr_deadline d;
    CHECK_EQ(tr_deadline_begin(&d, 20 * MS), 0);
    uint64_t t0 = now_ns();
    CHECK_EQ(tr_wait(t, 2, TR_ALL_COMPLETED), -ETIME);
    CHECK(now_ns() - t0 >= 19 * MS);
    tr_deadline_end(&d);
    CHECK(tr_task_done(ta) && !tr_task_done(tb));
    CHECK(!b.saw_cancel); /* tr_wait never cancels */
    tr_task_cancel(tb);
    CHECK_EQ(tr_wait(t, 2, TR_ALL_COMPLETED), 2);
    tr_task_release(ta), tr_task_release(tb);
    return NULL;
}

/* test_yield_wait_does_not_shield_cancel: cancelling the waiter ends its wait early and
 * leaves the tasks it waited for running. */
struct waiter_state {
    tr_task **tasks;
    size_t n;
    int mode;
    int rc;
    bool returned;
};

static void *wait_body(void *arg) {
    struct waiter_state *w = arg;
    w->rc = tr_wait(w->tasks, w->n, w->mode);
    w->returned = true;
    return NULL;
}

TASK_CASE(test_yield_wait_does_not_shield_cancel) {
    struct job inner = ok_after(200, 0);
    tr_task *ti = spawn_job(&inner);
    struct waiter_state w = {.tasks = &ti, .n = 1, .mode = TR_ALL_COMPLETED};
    tr_task *outer = tr_spawn(wait_body, &w);
    CHECK_EQ(tr_sleep(2 * MS), 0);
    CHECK(!w.returned);
    CHECK_EQ(tr_task_cancel(outer), 1);
    CHECK_EQ(tr_await(outer, NULL), -ECANCELED);
    CHECK_EQ(w.rc, -ECANCELED);
    CHECK(!tr_task_done(ti));
    CHECK_EQ(tr_await(ti, NULL), 0); /* proof == 1: inner ran to its end */
    CHECK(inner.finished && !inner.saw_cancel);
    tr_task_release(outer), tr_task_release(ti);
    return NULL;
}

/* test_cancel_with_message_then_future_result / _exception: wait() on a task cancelled while
 * it sleeps returns it done, and its outcome is the cancellation. */
TASK_CASE(test_cancel_with_message_then_future_result) {
    struct job j = ok_after(10000, 0);
    tr_task *t = spawn_job(&j);
    CHECK_EQ(tr_yield(), 0);
    CHECK_EQ(tr_task_cancel(t), 1);
    CHECK_EQ(tr_wait(&t, 1, TR_ALL_COMPLETED), 1);
    CHECK(tr_task_cancelled(t) && j.saw_cancel);
    CHECK_EQ(tr_task_error(t), -ECANCELED);
    tr_task_release(t);
    return NULL;
}

/* test_cancel_with_message_before_starting_task: cancelled before it ever ran. */
TASK_CASE(test_cancel_with_message_before_starting_task) {
    struct job j = ok_after(10000, 0);
    tr_task *t = spawn_job(&j);
    CHECK_EQ(tr_task_cancel(t), 1);
    CHECK_EQ(tr_wait(&t, 1, TR_ALL_COMPLETED), 1);
    CHECK(tr_task_cancelled(t) && !j.started);
    tr_task_release(t);
    return NULL;
}

/* test_current_task_with_interleaving_tasks: two tasks that keep handing control to each
 * other, waited for together. */
TASK_CASE(test_current_task_with_interleaving_tasks) {
    struct job a = {.yields = 3}, b = {.yields = 5};
    tr_task *t[2] = {spawn_job(&a), spawn_job(&b)};
    CHECK_EQ(tr_wait(t, 2, TR_ALL_COMPLETED), 2);
    CHECK(a.finished && b.finished);
    release_all(t, 2);
    return NULL;
}

/* ---- bad input, deadlines, the caller's cancellation ---------------------------------------- */

CASE(wait_outside_a_task) {
    tr_task *t[1] = {NULL};
    CHECK_EQ(tr_wait(t, 1, TR_ALL_COMPLETED), -EPERM);
}

TASK_CASE(wait_other_loop) {
    struct foreign f;
    foreign_start(&f);
    tr_task *t[1] = {atomic_load(&f.task)};
    CHECK_EQ(tr_wait(t, 1, TR_FIRST_COMPLETED), -EPERM);
    foreign_stop(&f);
    return NULL;
}

TASK_CASE(wait_deadline_already_passed) {
    struct job j = ok_after(10, 0);
    tr_task *t = spawn_job(&j);
    tr_deadline d;
    CHECK_EQ(tr_deadline_begin(&d, 0), 0);
    CHECK_EQ(tr_wait(&t, 1, TR_ALL_COMPLETED), -ETIME);
    tr_deadline_end(&d);
    CHECK_EQ(tr_wait(&t, 1, TR_ALL_COMPLETED), 1);
    tr_task_release(t);
    return NULL;
}

static void *cancelled_first(void *arg) {
    (void)arg;
    struct job a = ok_after(0, 0), b = ok_after(200, 0);
    tr_task *t[2] = {spawn_job(&a), spawn_job(&b)};
    CHECK_EQ(tr_yield(), 0);
    CHECK(tr_task_done(t[0]));
    CHECK_EQ(tr_task_cancel(tr_current()), 1);
    /* Satisfied without waiting: the count, as tr_await gives a done task's outcome. */
    CHECK_EQ(tr_wait(t, 2, TR_FIRST_COMPLETED), 1);
    /* Would have to wait: refused. */
    CHECK_EQ(tr_wait(t, 2, TR_ALL_COMPLETED), -ECANCELED);
    tr_shield s;
    CHECK_EQ(tr_shield_begin(&s), 0);
    CHECK_EQ(tr_wait(t, 2, TR_ALL_COMPLETED), 2); /* b's job is on this stack */
    tr_shield_end(&s);
    release_all(t, 2);
    return NULL;
}

TASK_CASE(wait_caller_cancelled_before) {
    tr_task *t = tr_spawn(cancelled_first, NULL);
    CHECK_EQ(tr_await(t, NULL), -ECANCELED);
    tr_task_release(t);
    return NULL;
}

/* Satisfied, then cancelled before resuming: the count stands, the cancellation comes at the
 * next wait. */
static void *finish_now(void *arg) {
    (void)arg;
    return NULL;
}

struct late_cancel {
    tr_task *victim, *member;
    int rc, next_rc;
};

static void *cancel_behind(void *arg) {
    struct late_cancel *l = arg;
    while (!tr_task_done(l->member))
        tr_yield();
    tr_task_cancel(l->victim);
    return NULL;
}

static void *wait_then_sleep(void *arg) {
    struct late_cancel *l = arg;
    l->member = tr_spawn(finish_now, NULL);
    tr_task *c = tr_spawn(cancel_behind, l);
    l->rc = tr_wait(&l->member, 1, TR_ALL_COMPLETED);
    l->next_rc = tr_sleep(MS);
    tr_task_release(c);
    return NULL;
}

TASK_CASE(wait_cancelled_after_satisfied) {
    struct late_cancel l = {0};
    l.victim = tr_spawn(wait_then_sleep, &l);
    CHECK_EQ(tr_await(l.victim, NULL), -ECANCELED);
    CHECK_EQ(l.rc, 1);
    CHECK_EQ(l.next_rc, -ECANCELED);
    tr_task_release(l.member), tr_task_release(l.victim);
    return NULL;
}

/* Many tasks (the sub-waiters come from the heap), every mode. */
TASK_CASE(wait_many_each_mode) {
    enum { N = 64 };
    struct job j[N];
    tr_task *t[N];
    for (int i = 0; i < N; i++) {
        j[i] = i == 40 ? fail_after(100, -EIO) : ok_after(i < 10 ? 0 : 300, 0);
        t[i] = spawn_job(&j[i]);
    }
    int k = tr_wait(t, N, TR_FIRST_COMPLETED);
    CHECK(k >= 1 && k <= 10);
    CHECK_EQ((size_t)k, count_done(t, N));
    k = tr_wait(t, N, TR_FIRST_ERROR);
    CHECK(tr_task_done(t[40]));
    CHECK_EQ((size_t)k, count_done(t, N));
    CHECK(k >= 11 && k < N);
    CHECK_EQ(tr_wait(t, N, TR_ALL_COMPLETED), N);
    CHECK_EQ(tr_task_error(t[40]), -EIO);
    release_all(t, N);
    return NULL;
}
