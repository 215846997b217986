/*
 * tr_wait_for: asyncio.wait_for's cases (test_waitfor.py, and the wait_for cases of
 * test_tasks.py), then bad input, the caller's deadline and cancellation at each point.
 *
 * A C task cannot refuse a cancellation: the asyncio cases where the inner coroutine catches
 * CancelledError and carries on are ported with a cancel shield (tr_shield), which is how a
 * taskring task holds a cancellation back; those that return a value instead of re-raising
 * end cancelled here, and wait_for reports the timeout.
 */
#include "tasks_test.h"

static struct job ok_after(uint64_t ms, intptr_t value) {
    return (struct job){.sleep_ns = ms * MS, .value = (void *)value};
}

/* SlowTask: runs for `ms` whatever happens (a shield holds every cancellation back). */
struct slow {
    uint64_t ms;
    bool exited;
};

static void *slow_run(void *arg) {
    struct slow *s = arg;
    tr_shield sh;
    CHECK_EQ(tr_shield_begin(&sh), 0);
    CHECK_EQ(sleep_until(now_ns() + s->ms * MS), 0);
    tr_shield_end(&sh);
    s->exited = true;
    return (void *)42;
}

struct wait_for_call {
    tr_task *t;
    uint64_t timeout_ns;
    uint64_t started_at;
    bool started;
    void *res;
    int rc;
    bool returned;
    bool t_done_at_return;
};

static void *wait_for_body(void *arg) {
    struct wait_for_call *w = arg;
    w->started_at = now_ns();
    w->started = true;
    w->rc = tr_wait_for(w->t, w->timeout_ns, &w->res);
    w->t_done_at_return = tr_task_done(w->t);
    w->returned = true;
    return NULL;
}

/* test_asyncio_wait_for_cancelled: cancelling the caller cancels t and waits until it has
 * finished, however long it holds the cancellation back. */
TASK_CASE(test_asyncio_wait_for_cancelled) {
    struct slow s = {.ms = 300};
    tr_task *t = tr_spawn(slow_run, &s);
    struct wait_for_call w = {.t = t, .timeout_ns = 600 * MS};
    tr_task *wt = tr_spawn(wait_for_body, &w);
    CHECK_EQ(tr_yield(), 0);
    CHECK_EQ(tr_task_cancel(wt), 1);
    CHECK_EQ(tr_await(wt, NULL), -ECANCELED);
    CHECK_EQ(w.rc, -ECANCELED);
    CHECK(s.exited && w.t_done_at_return);
    CHECK(tr_task_cancelled(t));
    tr_task_release(wt), tr_task_release(t);
    return NULL;
}

/* test_asyncio_wait_for_timeout: on timeout, t is cancelled and waited for. */
TASK_CASE(test_asyncio_wait_for_timeout) {
    struct slow s = {.ms = 20};
    tr_task *t = tr_spawn(slow_run, &s);
    uint64_t t0 = now_ns();
    CHECK_EQ(tr_wait_for(t, 10 * MS, NULL), -ETIME);
    CHECK(now_ns() - t0 >= 19 * MS);
    CHECK(s.exited && tr_task_cancelled(t));
    tr_task_release(t);
    return NULL;
}

/* test_wait_for_timeout_less_then_0_or_0_future_done: a done task's outcome, timeout or not. */
TASK_CASE(test_wait_for_timeout_less_then_0_or_0_future_done) {
    struct job j = ok_after(0, 'd');
    tr_task *t = spawn_job(&j);
    CHECK_EQ(tr_yield(), 0);
    CHECK(tr_task_done(t));
    void *res = NULL;
    CHECK_EQ(tr_wait_for(t, 0, &res), 0);
    CHECK_EQ((intptr_t)res, 'd');
    tr_task_release(t);
    return NULL;
}

/* test_wait_for_timeout_less_then_0_or_0_coroutine_do_not_started: timeout 0 on a task that
 * has not run yet cancels it before it starts. */
TASK_CASE(test_wait_for_timeout_less_then_0_or_0_coroutine_do_not_started) {
    struct job j = ok_after(0, 'd');
    tr_task *t = spawn_job(&j);
    uint64_t t0 = now_ns();
    CHECK_EQ(tr_wait_for(t, 0, NULL), -ETIME);
    CHECK(now_ns() - t0 < 100 * MS);
    CHECK(!j.started && tr_task_cancelled(t));
    tr_task_release(t);
    return NULL;
}

/* test_wait_for_timeout_less_then_0_or_0: timeout 0 on a running task: cancelled, and done
 * (its cleanup ran) when wait_for returns. */
TASK_CASE(test_wait_for_timeout_less_then_0_or_0) {
    struct job j = ok_after(10000, 'd');
    tr_task *t = spawn_job(&j);
    CHECK_EQ(tr_yield(), 0);
    CHECK(j.started);
    uint64_t t0 = now_ns();
    CHECK_EQ(tr_wait_for(t, 0, NULL), -ETIME);
    CHECK(now_ns() - t0 < 100 * MS);
    CHECK(j.finished && j.saw_cancel && tr_task_cancelled(t));
    tr_task_release(t);
    return NULL;
}

/* test_wait_for: the timeout cancels the task, which is done when wait_for returns. */
TASK_CASE(test_wait_for) {
    struct job j = ok_after(10000, 'd');
    tr_task *t = spawn_job(&j);
    uint64_t t0 = now_ns();
    void *res = (void *)1;
    CHECK_EQ(tr_wait_for(t, 10 * MS, &res), -ETIME);
    uint64_t took = now_ns() - t0;
    CHECK(took >= 9 * MS && (took < 500 * MS || slow_build()));
    CHECK(j.finished && tr_task_cancelled(t));
    CHECK(res == (void *)1); /* untouched on a timeout */
    tr_task_release(t);
    return NULL;
}

/* test_wait_for_blocking: no limit (timeout=None is UINT64_MAX here). */
TASK_CASE(test_wait_for_blocking) {
    struct job j = ok_after(2, 'd');
    tr_task *t = spawn_job(&j);
    void *res = NULL;
    CHECK_EQ(tr_wait_for(t, UINT64_MAX, &res), 0);
    CHECK_EQ((intptr_t)res, 'd');
    tr_task_release(t);
    return NULL;
}

/* test_wait_for_race_condition: done within the limit: its result. */
TASK_CASE(test_wait_for_race_condition) {
    struct job j = ok_after(5, 'k');
    tr_task *t = spawn_job(&j);
    void *res = NULL;
    CHECK_EQ(tr_wait_for(t, 200 * MS, &res), 0);
    CHECK_EQ((intptr_t)res, 'k');
    CHECK(!j.saw_cancel);
    tr_task_release(t);
    return NULL;
}

/*
 * test_wait_for_cancellation_race_condition (test_tasks.py's form: the awaited future gets
 * its result and the waiting task is cancelled in the same loop iteration): t finished first,
 * so its result is returned; the cancellation is not lost (test_wait_for_issue86296): the
 * caller's next wait returns it.
 */
static void *return_k(void *arg) {
    (void)arg;
    return (void *)'k';
}

struct race {
    tr_task *victim, *inner;
    void *res;
    int rc, next_rc;
    bool reached_end;
};

static void *cancel_behind(void *arg) {
    struct race *r = arg;
    while (!tr_task_done(r->inner))
        tr_yield();
    tr_task_cancel(r->victim);
    return NULL;
}

static void *wait_for_then_sleep(void *arg) {
    struct race *r = arg;
    r->inner = tr_spawn(return_k, NULL);
    tr_task *c = tr_spawn(cancel_behind, r);
    r->rc = tr_wait_for(r->inner, 100000 * MS, &r->res);
    r->next_rc = tr_sleep(1000 * MS);
    r->reached_end = r->next_rc == 0;
    tr_task_release(c);
    return NULL;
}

TASK_CASE(test_wait_for_cancellation_race_condition) {
    struct race r = {0};
    r.victim = tr_spawn(wait_for_then_sleep, &r);
    CHECK_EQ(tr_await(r.victim, NULL), -ECANCELED);
    CHECK_EQ(r.rc, 0);
    CHECK_EQ((intptr_t)r.res, 'k');
    CHECK_EQ(r.next_rc, -ECANCELED);
    CHECK(!r.reached_end);
    tr_task_release(r.inner), tr_task_release(r.victim);
    return NULL;
}

/* test_wait_for_issue86296: wait_for of a task that ends at once, then the caller is
 * cancelled while it sleeps: the cancellation is delivered, the end is never reached. */
static void *wait_for_quick_then_sleep(void *arg) {
    struct race *r = arg;
    tr_task *inner = tr_spawn(return_k, NULL);
    r->rc = tr_wait_for(inner, 100000 * MS, &r->res);
    tr_task_release(inner);
    r->next_rc = tr_sleep(1000 * MS);
    r->reached_end = r->next_rc == 0;
    return NULL;
}

TASK_CASE(test_wait_for_issue86296) {
    struct race r = {0};
    tr_task *t = tr_spawn(wait_for_quick_then_sleep, &r);
    CHECK_EQ(tr_sleep(2 * MS), 0);
    CHECK(!tr_task_done(t));
    CHECK_EQ(tr_task_cancel(t), 1);
    CHECK_EQ(tr_await(t, NULL), -ECANCELED);
    CHECK_EQ(r.rc, 0);
    CHECK(!r.reached_end);
    tr_task_release(t);
    return NULL;
}

/* test_wait_for_waits_for_task_cancellation: the cancelled task cleans up for a while (a
 * shielded sleep in its `except CancelledError`); wait_for returns only after that. */
TASK_CASE(test_wait_for_waits_for_task_cancellation) {
    struct job j = {.sleep_ns = 10000 * MS, .cleanup_ns = 10 * MS};
    tr_task *t = spawn_job(&j);
    CHECK_EQ(tr_wait_for(t, MS / 10, NULL), -ETIME);
    CHECK(j.finished && j.saw_cancel && tr_task_done(t));
    CHECK_EQ(j.cleanup_rc, 0);
    tr_task_release(t);
    return NULL;
}

TASK_CASE(test_wait_for_waits_for_task_cancellation_w_timeout_0) {
    struct job j = {.sleep_ns = 10000 * MS, .cleanup_ns = 10 * MS};
    tr_task *t = spawn_job(&j);
    CHECK_EQ(tr_sleep(MS / 10), 0);
    CHECK_EQ(tr_wait_for(t, 0, NULL), -ETIME);
    CHECK(j.finished && j.saw_cancel && tr_task_done(t));
    tr_task_release(t);
    return NULL;
}

/* test_wait_for_reraises_exception_during_cancellation: a task that fails while being
 * cancelled: its error, not -ETIME. */
TASK_CASE(test_wait_for_reraises_exception_during_cancellation) {
    struct job j = {.sleep_ns = 200 * MS, .cleanup_fail = -EPROTO};
    tr_task *t = spawn_job(&j);
    CHECK_EQ(tr_wait_for(t, MS / 10, NULL), -EPROTO);
    CHECK(j.finished);
    tr_task_release(t);
    return NULL;
}

/* test_wait_for_raises_timeout_error_if_returned_during_cancellation, and
 * test_wait_for_cancel_suppressed: asyncio lets a task swallow its cancellation and return 42;
 * a taskring task that was cancelled ends cancelled whatever it returns, so wait_for reports
 * the timeout. */
static void *return_42_on_cancel(void *arg) {
    (void)arg;
    if (tr_sleep(10000 * MS) == -ECANCELED)
        return (void *)42;
    return NULL;
}

TASK_CASE(test_wait_for_cancel_suppressed) {
    tr_task *t = tr_spawn(return_42_on_cancel, NULL);
    void *res = NULL;
    CHECK_EQ(tr_wait_for(t, 10 * MS, &res), -ETIME);
    CHECK(res == NULL && tr_task_cancelled(t));
    tr_task_release(t);
    return NULL;
}

/* test_wait_for_self_cancellation: the inner task holds every cancellation back for a while;
 * wait_for itself is still cancellable (its caller gets -ECANCELED), and it returns only
 * once the inner task, cancelled with it, has finished. */
TASK_CASE(test_wait_for_self_cancellation) {
    struct slow s = {.ms = 300};
    tr_task *inner = tr_spawn(slow_run, &s);
    CHECK_EQ(tr_yield(), 0); /* inner is running (shielded) before any timeout can hit it */
    struct wait_for_call w = {.t = inner, .timeout_ns = 10 * MS};
    tr_task *wt = tr_spawn(wait_for_body, &w);
    /* Sleep well past wt's own timeout: timers expire in deadline order, so by the time this
     * sleep ends wait_for has timed out and waits for inner. */
    CHECK_EQ(tr_yield(), 0);
    CHECK(w.started);
    CHECK_EQ(sleep_until(w.started_at + w.timeout_ns + 50 * MS), 0);
    CHECK(!w.returned);
    CHECK_EQ(tr_task_cancel(wt), 1);
    CHECK_EQ(tr_await(wt, NULL), -ECANCELED); /* the waiting task ends cancelled ... */
    CHECK_EQ(w.rc, -ETIME);                   /* ... though wait_for itself timed out */
    CHECK(w.t_done_at_return && s.exited);
    CHECK_EQ(tr_await(inner, NULL), -ECANCELED);
    tr_task_release(inner), tr_task_release(wt);
    return NULL;
}

/* test_cancel_blocking_wait_for, test_cancel_wait_for (Python issue #23219): cancelling the
 * wait cancels the task, with no limit and with one. */
static void cancel_wait_for(uint64_t timeout_ns) {
    struct job j = ok_after(100000, 0);
    tr_task *t = spawn_job(&j);
    struct wait_for_call w = {.t = t, .timeout_ns = timeout_ns};
    tr_task *wt = tr_spawn(wait_for_body, &w);
    CHECK_EQ(tr_yield(), 0);
    CHECK_EQ(tr_task_cancel(wt), 1);
    CHECK_EQ(tr_await(wt, NULL), -ECANCELED);
    CHECK_EQ(w.rc, -ECANCELED);
    CHECK(tr_task_cancelled(t) && j.finished);
    tr_task_release(wt), tr_task_release(t);
}

TASK_CASE(test_cancel_blocking_wait_for) {
    cancel_wait_for(UINT64_MAX);
    return NULL;
}

TASK_CASE(test_cancel_wait_for) {
    cancel_wait_for(60000 * MS);
    return NULL;
}

/* ---- bad input, the caller's deadline and cancellation ---------------------------------- */

static void *await_it(void *arg) {
    tr_await(arg, NULL);
    return NULL;
}

TASK_CASE(wait_for_bad_input) {
    CHECK_EQ(tr_wait_for(NULL, MS, NULL), -EINVAL);
    CHECK_EQ(tr_wait_for(tr_current(), MS, NULL), -EDEADLK);
    tr_task *cyc = tr_spawn(await_it, tr_current());
    CHECK_EQ(tr_yield(), 0);
    CHECK_EQ(tr_wait_for(cyc, MS, NULL), -EDEADLK);
    CHECK(!tr_task_done(cyc)); /* refused before anything happened to it */
    struct foreign f;
    foreign_start(&f);
    CHECK_EQ(tr_wait_for(atomic_load(&f.task), MS, NULL), -EPERM);
    foreign_stop(&f);
    tr_task_release(cyc);
    return NULL;
}

CASE(wait_for_outside_a_task) {
    CHECK_EQ(tr_wait_for(NULL, 0, NULL), -EINVAL);
    tr_task *bogus = (tr_task *)&bogus; /* never dereferenced: the caller check comes first */
    CHECK_EQ(tr_wait_for(bogus, 0, NULL), -EPERM);
}

/* The caller's own deadline scope ends before the timeout: the same as a timeout (asyncio's
 * outer timeout cancels the task in wait_for, which cancels the inner one), and the wait for
 * the cancelled task is not cut short by the expired scope. */
TASK_CASE(wait_for_outer_deadline) {
    struct job j = {.sleep_ns = 10000 * MS, .cleanup_ns = 20 * MS};
    tr_task *t = spawn_job(&j);
    CHECK_EQ(tr_yield(), 0); /* the job is sleeping: on a slow machine it must not be
                              * cancelled before it ever ran */
    tr_deadline d;
    CHECK_EQ(tr_deadline_begin(&d, 5 * MS), 0);
    uint64_t t0 = now_ns();
    CHECK_EQ(tr_wait_for(t, 1000 * MS, NULL), -ETIME);
    CHECK(now_ns() - t0 >= 24 * MS);
    CHECK(j.finished && j.cleanup_rc == 0 && tr_task_cancelled(t));
    /* The scope has ended: wait_for on a task that is not done times out at once. */
    struct job k = ok_after(10000, 0);
    tr_task *u = spawn_job(&k);
    CHECK_EQ(tr_wait_for(u, 1000 * MS, NULL), -ETIME);
    CHECK(tr_task_cancelled(u));
    tr_deadline_end(&d);
    tr_task_release(t), tr_task_release(u);
    return NULL;
}

/* Cancelled while wait_for waits for the task it has cancelled on timeout: held back until
 * that task has finished, then delivered by the next wait. */
TASK_CASE(wait_for_cancelled_while_settling) {
    struct job j = {.sleep_ns = 10000 * MS, .cleanup_ns = 200 * MS};
    tr_task *t = spawn_job(&j);
    struct wait_for_call w = {.t = t, .timeout_ns = 2 * MS};
    tr_task *wt = tr_spawn(wait_for_body, &w);
    uint64_t end = now_ns() + 5000 * MS;
    while (!j.saw_cancel) { /* timed out: wait_for now waits for t's cleanup */
        CHECK(now_ns() < end);
        CHECK_EQ(tr_sleep(MS), 0);
    }
    CHECK(!w.returned);
    CHECK_EQ(tr_task_cancel(wt), 1);
    CHECK_EQ(tr_await(wt, NULL), -ECANCELED);
    CHECK_EQ(w.rc, -ETIME);
    CHECK(w.t_done_at_return && j.cleanup_rc == 0);
    tr_task_release(wt), tr_task_release(t);
    return NULL;
}

/* Cancelled before the call: t is cancelled too (the caller owns its fate, as when cancelled
 * inside), waited for, -ECANCELED; a done t still gives its outcome. */
struct pre {
    tr_task *done, *running;
    int rc_done, rc_running;
};

static void *pre_cancelled(void *arg) {
    struct pre *p = arg;
    CHECK_EQ(tr_task_cancel(tr_current()), 1);
    p->rc_done = tr_wait_for(p->done, MS, NULL);
    p->rc_running = tr_wait_for(p->running, 1000 * MS, NULL);
    return NULL;
}

TASK_CASE(wait_for_caller_cancelled_before) {
    struct job a = ok_after(0, 0), b = {.sleep_ns = 10000 * MS, .cleanup_ns = 5 * MS};
    struct pre p = {spawn_job(&a), spawn_job(&b), 1, 1};
    CHECK_EQ(tr_yield(), 0);
    tr_task *t = tr_spawn(pre_cancelled, &p);
    CHECK_EQ(tr_await(t, NULL), -ECANCELED);
    CHECK_EQ(p.rc_done, 0);
    CHECK_EQ(p.rc_running, -ECANCELED);
    CHECK(tr_task_cancelled(p.running) && b.finished);
    tr_task_release(t), tr_task_release(p.done), tr_task_release(p.running);
    return NULL;
}

/* A task that fails within the limit: its error and its return value, as tr_await. */
static void *fail_with_value(void *arg) {
    (void)arg;
    tr_fail(-EIO);
    return (void *)7;
}

TASK_CASE(wait_for_failure_on_time) {
    tr_task *t = tr_spawn(fail_with_value, NULL);
    void *res = NULL;
    CHECK_EQ(tr_wait_for(t, 1000 * MS, &res), -EIO);
    CHECK_EQ((intptr_t)res, 7);
    tr_task_release(t);
    return NULL;
}
