/*
 * tr_gather: asyncio.gather's cases from test_tasks.py (GatherTestsBase, FutureGatherTests,
 * CoroutineGatherTests, test_cancel_gather_*), then bad input, deadlines and cancellation
 * of the caller at each point. Members are jobs (tasks_test.h) that sleep a few ms.
 */
#include "tasks_test.h"

static struct job ok_after(uint64_t ms, intptr_t value) {
    return (struct job){.sleep_ns = ms * MS, .value = (void *)value};
}

static struct job fail_after(uint64_t ms, int err) {
    return (struct job){.sleep_ns = ms * MS, .fail = err};
}

/* _check_success: results in array order whatever the finishing order, and only once the
 * last one is done. */
static void check_success(bool with_errors) {
    struct job j[3] = {ok_after(4, 2), ok_after(2, 1), ok_after(12, 3)};
    tr_task *t[3];
    for (int i = 0; i < 3; i++)
        t[i] = spawn_job(&j[i]);
    void *res[3] = {0};
    int err[3] = {9, 9, 9};
    CHECK_EQ(tr_gather(t, 3, res, with_errors ? err : NULL), 0);
    CHECK(j[2].finished && tr_task_done(t[2])); /* c was the last, and waited for */
    CHECK_EQ((intptr_t)res[0], 2);
    CHECK_EQ((intptr_t)res[1], 1);
    CHECK_EQ((intptr_t)res[2], 3);
    if (with_errors)
        for (int i = 0; i < 3; i++)
            CHECK_EQ(err[i], 0);
    release_all(t, 3);
}

TASK_CASE(test_success) {
    check_success(false);
    return NULL;
}

TASK_CASE(test_result_exception_success) {
    check_success(true);
    return NULL;
}

/* test_one_exception: the first failure comes back as soon as it happens; the others keep
 * running, and their finishing later touches nothing of the finished call. */
TASK_CASE(test_one_exception) {
    struct job j[5] = {ok_after(1, 1),
                       fail_after(3, -EDOM),
                       ok_after(200, 3),
                       {.sleep_ns = 1000 * MS},
                       fail_after(300, -ERANGE)};
    tr_task *t[5];
    for (int i = 0; i < 5; i++)
        t[i] = spawn_job(&j[i]);
    void *res[5];
    uint64_t t0 = now_ns();
    CHECK_EQ(tr_gather(t, 5, res, NULL), -EDOM);
    CHECK(now_ns() - t0 < 150 * MS || slow_build());
    CHECK(tr_task_done(t[1]) && !tr_task_done(t[2]) && !tr_task_done(t[4]));
    CHECK_EQ((intptr_t)res[0], 1);
    CHECK(res[2] == NULL && res[3] == NULL && res[4] == NULL);
    /* "Does nothing": c finishes, d is cancelled, e fails; res is not written any more. */
    res[2] = res[3] = res[4] = (void *)-1;
    CHECK_EQ(tr_task_cancel(t[3]), 1);
    for (int i = 2; i < 5; i++)
        await_done(t[i], 5000);
    CHECK(res[2] == (void *)-1 && res[3] == (void *)-1 && res[4] == (void *)-1);
    CHECK_EQ(tr_task_error(t[4]), -ERANGE);
    release_all(t, 5);
    return NULL;
}

/* test_return_exceptions: errors != NULL waits for all and reports each outcome; the return
 * value is the first failure in array order, not in time. */
TASK_CASE(test_return_exceptions) {
    struct job j[4] = {ok_after(6, 3), ok_after(1, 1), fail_after(12, -EDOM),
                       fail_after(3, -ERANGE)};
    tr_task *t[4];
    for (int i = 0; i < 4; i++)
        t[i] = spawn_job(&j[i]);
    void *res[4];
    int err[4];
    CHECK_EQ(tr_gather(t, 4, res, err), -EDOM); /* index 2, though index 3 failed first */
    for (int i = 0; i < 4; i++)
        CHECK(tr_task_done(t[i]));
    CHECK_EQ((intptr_t)res[0], 3);
    CHECK_EQ((intptr_t)res[1], 1);
    CHECK_EQ(err[0], 0);
    CHECK_EQ(err[1], 0);
    CHECK_EQ(err[2], -EDOM);
    CHECK_EQ(err[3], -ERANGE);
    release_all(t, 4);
    return NULL;
}

/* test_one_cancellation: a cancelled member is a failure with -ECANCELED; the gathering task
 * itself is not cancelled by it. */
TASK_CASE(test_one_cancellation) {
    struct job j[5] = {ok_after(1, 1),
                       {.sleep_ns = 1000 * MS},
                       ok_after(200, 3),
                       {.sleep_ns = 1000 * MS},
                       fail_after(200, -EIO)};
    tr_task *t[5];
    for (int i = 0; i < 5; i++)
        t[i] = spawn_job(&j[i]);
    CHECK_EQ(tr_sleep(2 * MS), 0);
    CHECK_EQ(tr_task_cancel(t[1]), 1);
    CHECK_EQ(tr_gather(t, 5, NULL, NULL), -ECANCELED);
    CHECK(tr_task_cancelled(t[1]) && !tr_task_done(t[2]));
    CHECK_EQ(tr_sleep(MS), 0); /* the caller is not cancelled */
    tr_task_cancel(t[3]);
    for (int i = 0; i < 5; i++)
        await_done(t[i], 5000);
    CHECK_EQ(tr_task_error(t[4]), -EIO);
    release_all(t, 5);
    return NULL;
}

/* test_result_exception_one_cancellation: with errors, cancelled members read -ECANCELED. */
TASK_CASE(test_result_exception_one_cancellation) {
    struct job j[6] = {ok_after(1, 1), fail_after(2, -EDOM),    {.sleep_ns = 1000 * MS},
                       ok_after(8, 3), {.sleep_ns = 1000 * MS}, fail_after(10, -ERANGE)};
    tr_task *t[6];
    for (int i = 0; i < 6; i++)
        t[i] = spawn_job(&j[i]);
    CHECK_EQ(tr_yield(), 0);
    CHECK_EQ(tr_task_cancel(t[2]), 1);
    CHECK_EQ(tr_task_cancel(t[4]), 1);
    void *res[6];
    int err[6];
    CHECK_EQ(tr_gather(t, 6, res, err), -EDOM);
    int want[6] = {0, -EDOM, -ECANCELED, 0, -ECANCELED, -ERANGE};
    for (int i = 0; i < 6; i++)
        CHECK_EQ(err[i], want[i]);
    CHECK_EQ((intptr_t)res[0], 1);
    CHECK_EQ((intptr_t)res[3], 3);
    release_all(t, 6);
    return NULL;
}

/* test_constructor_empty_sequence: nothing to gather is success at once. */
TASK_CASE(test_constructor_empty_sequence) {
    CHECK_EQ(tr_gather(NULL, 0, NULL, NULL), 0);
    tr_task *none[1];
    CHECK_EQ(tr_gather(none, 0, NULL, NULL), 0);
    return NULL;
}

/* test_constructor_heterogenous_futures: a task of another loop is refused, before anything
 * of the others is touched. */
TASK_CASE(test_constructor_heterogenous_futures) {
    struct foreign f;
    foreign_start(&f);
    struct job j = ok_after(1, 7);
    tr_task *t[2] = {spawn_job(&j), atomic_load(&f.task)};
    void *res[2] = {(void *)1, (void *)1};
    int err[2] = {1, 1};
    CHECK_EQ(tr_gather(t, 2, res, err), -EPERM);
    CHECK(res[0] == (void *)1 && err[0] == 1); /* nothing written */
    foreign_stop(&f);
    CHECK_EQ(tr_await(t[0], NULL), 0);
    tr_task_release(t[0]);
    return NULL;
}

/* test_duplicate_coroutines: a task listed several times counts each time. */
TASK_CASE(test_duplicate_coroutines) {
    struct job c = ok_after(2, 'c'), d = ok_after(1, 'd');
    tr_task *tc = spawn_job(&c), *td = spawn_job(&d);
    tr_task *t[4] = {tc, tc, td, tc};
    void *res[4];
    int err[4];
    CHECK_EQ(tr_gather(t, 4, res, err), 0);
    CHECK_EQ((intptr_t)res[0], 'c');
    CHECK_EQ((intptr_t)res[1], 'c');
    CHECK_EQ((intptr_t)res[2], 'd');
    CHECK_EQ((intptr_t)res[3], 'c');
    /* Fail-fast mode with the failing one listed twice: its error once, at once. */
    struct job e = fail_after(1, -EIO), s = {.sleep_ns = 1000 * MS};
    tr_task *te = spawn_job(&e), *ts = spawn_job(&s);
    tr_task *u[3] = {te, ts, te};
    CHECK_EQ(tr_gather(u, 3, NULL, NULL), -EIO);
    tr_task_cancel(ts);
    await_done(ts, 5000);
    tr_task_release(tc), tr_task_release(td), tr_task_release(te), tr_task_release(ts);
    return NULL;
}

/*
 * test_cancellation_broadcast, deliberately inverted: asyncio's gather cancels its children
 * when the gathering task is cancelled; tr_gather never cancels what it waits for (as
 * asyncio.wait does not: test_yield_wait_does_not_shield_cancel). The caller gets -ECANCELED
 * at once; the children run on and finish normally.
 */
struct gatherer {
    tr_task **tasks;
    size_t n;
    void **res;
    int *err;
    int rc;
    bool returned;
};

static void *gather_body(void *arg) {
    struct gatherer *g = arg;
    g->rc = tr_gather(g->tasks, g->n, g->res, g->err);
    g->returned = true;
    return NULL;
}

TASK_CASE(test_cancellation_broadcast) {
    struct job c1 = ok_after(100, 1), c2 = ok_after(100, 2);
    tr_task *kids[2] = {spawn_job(&c1), spawn_job(&c2)};
    struct gatherer g = {.tasks = kids, .n = 2};
    tr_task *outer = tr_spawn(gather_body, &g);
    CHECK_EQ(tr_sleep(2 * MS), 0);
    CHECK(!g.returned);
    CHECK_EQ(tr_task_cancel(outer), 1);
    CHECK_EQ(tr_await(outer, NULL), -ECANCELED);
    CHECK_EQ(g.rc, -ECANCELED);
    CHECK(!tr_task_done(kids[0]) && !tr_task_done(kids[1]));
    CHECK_EQ(tr_gather(kids, 2, NULL, NULL), 0);
    CHECK(!c1.saw_cancel && !c2.saw_cancel);
    tr_task_release(outer);
    release_all(kids, 2);
    return NULL;
}

/* test_exception_marking: the failure returned is the first one in time; a later one is not
 * taken for the caller (it stays to be retrieved from its task). */
TASK_CASE(test_exception_marking) {
    struct job a = fail_after(2, -EDOM), b = fail_after(8, -EPROTO);
    tr_task *t[2] = {spawn_job(&a), spawn_job(&b)};
    CHECK_EQ(tr_gather(t, 2, NULL, NULL), -EDOM);
    await_done(t[1], 5000);
    CHECK_EQ(tr_task_error(t[1]), -EPROTO);
    release_all(t, 2);
    return NULL;
}

/*
 * test_cancel_gather_1 (Python issue #26923, gather drops cancellation): the gathering task is
 * cancelled after every child is done but before it resumed. The outcome stands; the
 * cancellation is not lost either: the caller's next wait returns it.
 */
struct race {
    tr_task *victim;
    tr_task *child;
    int cancel_rc;
};

static void *child_42(void *arg) {
    (void)arg;
    return (void *)42;
}

/* Runs right behind the child: the child's end has just made the victim runnable. */
static void *cancel_when_child_done(void *arg) {
    struct race *r = arg;
    while (!tr_task_done(r->child))
        tr_yield();
    r->cancel_rc = tr_task_cancel(r->victim);
    return NULL;
}

struct victim {
    struct race *race;
    void *res;
    int rc, next_rc;
};

static void *gather_then_sleep(void *arg) {
    struct victim *v = arg;
    struct race *r = v->race;
    r->child = tr_spawn(child_42, NULL);
    tr_task *canceller = tr_spawn(cancel_when_child_done, r);
    v->rc = tr_gather(&r->child, 1, &v->res, NULL);
    v->next_rc = tr_sleep(MS);
    tr_task_release(canceller);
    return NULL;
}

TASK_CASE(test_cancel_gather_1) {
    struct race r = {0};
    struct victim v = {.race = &r};
    r.victim = tr_spawn(gather_then_sleep, &v);
    CHECK_EQ(tr_await(r.victim, NULL), -ECANCELED);
    CHECK_EQ(r.cancel_rc, 1);
    CHECK_EQ(v.rc, 0);
    CHECK_EQ((intptr_t)v.res, 42);
    CHECK_EQ(v.next_rc, -ECANCELED);
    tr_task_release(r.child);
    tr_task_release(r.victim);
    return NULL;
}

/* test_cancel_gather_2: a task gathering in a loop (return_exceptions=True) is cancelled;
 * the cancellation reaches it through the gather and it ends cancelled. */
static void *gather_loop(void *arg) {
    int *rounds = arg;
    for (;;) {
        struct job j = ok_after(2, 0);
        tr_task *t = tr_spawn(job_run, &j);
        int err;
        int rc = tr_gather(&t, 1, NULL, &err);
        if (rc == -ECANCELED) {
            /* j lives on this stack: let its task end first (shielded: we are cancelled). */
            tr_shield s;
            CHECK_EQ(tr_shield_begin(&s), 0);
            CHECK_EQ(tr_await(t, NULL), 0);
            tr_shield_end(&s);
            tr_task_release(t);
            return NULL;
        }
        CHECK_EQ(rc, 0);
        tr_task_release(t);
        if (++*rounds > 1000)
            return tr_fail(-EIO);
    }
}

TASK_CASE(test_cancel_gather_2) {
    int rounds = 0;
    tr_task *t = tr_spawn(gather_loop, &rounds);
    uint64_t end = now_ns() + 5000 * MS;
    while (rounds < 2) {
        CHECK(now_ns() < end);
        CHECK_EQ(tr_sleep(MS), 0);
    }
    CHECK_EQ(tr_task_cancel(t), 1);
    CHECK_EQ(tr_await(t, NULL), -ECANCELED);
    CHECK(rounds >= 1);
    tr_task_release(t);
    return NULL;
}

/* ---- bad input ------------------------------------------------------------------------------ */

static void *await_task(void *arg) {
    tr_await(arg, NULL);
    return NULL;
}

TASK_CASE(gather_bad_input) {
    void *res[2];
    int err[2];
    CHECK_EQ(tr_gather(NULL, 1, res, err), -EINVAL);
    struct job j = ok_after(2, 5);
    tr_task *t[3] = {spawn_job(&j), NULL, NULL};
    CHECK_EQ(tr_gather(t, 2, res, err), -EINVAL); /* a NULL element */
    t[1] = tr_current();
    CHECK_EQ(tr_gather(t, 2, res, err), -EDEADLK); /* the caller itself */
    /* A member waiting for the caller: the gather could never end. */
    tr_task *cyc = tr_spawn(await_task, tr_current());
    CHECK_EQ(tr_yield(), 0);
    t[1] = cyc;
    CHECK_EQ(tr_gather(t, 2, res, err), -EDEADLK);
    CHECK_EQ(tr_gather(t, 1, res, err), 0); /* the first one alone was fine all along */
    CHECK_EQ((intptr_t)res[0], 5);
    tr_task_release(t[0]);
    tr_task_release(cyc); /* ends when we do */
    return NULL;
}

static void *noop(void *arg) {
    return arg;
}

static tr_task *leftover;

static void *spawn_leftover(void *arg) {
    (void)arg;
    leftover = tr_spawn(noop, NULL);
    return NULL;
}

CASE(gather_outside_a_task) {
    /* Before tr_run, and with a task of a loop that has ended (its record is gone: only the
     * caller check can run, and it comes first). */
    CHECK_EQ(tr_gather(NULL, 0, NULL, NULL), -EPERM);
    run_main(spawn_leftover);
    tr_task *t[1] = {leftover};
    CHECK_EQ(tr_gather(t, 1, NULL, NULL), -EPERM);
}

/* ---- deadlines and cancellation of the caller ------------------------------------------------ */

TASK_CASE(gather_deadline_expires) {
    struct job j[3] = {ok_after(0, 1), ok_after(500, 2), fail_after(500, -EIO)};
    tr_task *t[3];
    for (int i = 0; i < 3; i++)
        t[i] = spawn_job(&j[i]);
    CHECK_EQ(tr_yield(), 0); /* they start: the scope below must not find them unstarted */
    void *res[3];
    int err[3];
    tr_deadline d;
    CHECK_EQ(tr_deadline_begin(&d, 10 * MS), 0);
    CHECK_EQ(tr_gather(t, 3, res, err), -ETIME);
    /* Each finished member's outcome, -EBUSY for the others. */
    CHECK_EQ(err[0], 0);
    CHECK_EQ((intptr_t)res[0], 1);
    CHECK_EQ(err[1], -EBUSY);
    CHECK_EQ(err[2], -EBUSY);
    CHECK(res[1] == NULL && res[2] == NULL);
    CHECK_EQ(tr_gather(t, 3, res, err), -ETIME); /* the scope has ended: at once */
    tr_deadline_end(&d);
    CHECK(!tr_task_done(t[1])); /* never cancelled by the gather */
    CHECK_EQ(tr_gather(t, 3, res, err), -EIO);
    CHECK_EQ((intptr_t)res[1], 2);
    release_all(t, 3);
    return NULL;
}

/* Cancelled before the call: -ECANCELED at once, unless nothing needs waiting for. */
static void *cancelled_before(void *arg) {
    (void)arg;
    struct job a = ok_after(0, 1), b = ok_after(200, 2);
    tr_task *t[2] = {spawn_job(&a), spawn_job(&b)};
    CHECK_EQ(tr_gather(t, 1, NULL, NULL), 0);
    CHECK_EQ(tr_task_cancel(tr_current()), 1);
    void *res[2];
    int err[2];
    CHECK_EQ(tr_gather(t, 1, res, err), 0); /* a is done: its outcome, as tr_await */
    CHECK_EQ((intptr_t)res[0], 1);
    CHECK_EQ(tr_gather(t, 2, res, err), -ECANCELED);
    CHECK_EQ(err[0], 0);
    CHECK_EQ(err[1], -EBUSY);
    /* b was not cancelled: wait for it (shielded: we are) before its job leaves our stack. */
    tr_shield s;
    CHECK_EQ(tr_shield_begin(&s), 0);
    CHECK_EQ(tr_gather(t, 2, res, err), 0);
    tr_shield_end(&s);
    CHECK(!b.saw_cancel && b.finished);
    CHECK_EQ((intptr_t)res[1], 2);
    release_all(t, 2);
    return NULL;
}

TASK_CASE(gather_caller_cancelled_before) {
    tr_task *t = tr_spawn(cancelled_before, NULL);
    CHECK_EQ(tr_await(t, NULL), -ECANCELED);
    tr_task_release(t);
    return NULL;
}

/* Cancelled while waiting, with errors: what is done is reported, the rest reads -EBUSY. */
TASK_CASE(gather_caller_cancelled_while_waiting) {
    struct job j[2] = {ok_after(0, 1), ok_after(200, 2)};
    tr_task *t[2] = {spawn_job(&j[0]), spawn_job(&j[1])};
    void *res[2];
    int err[2];
    struct gatherer g = {.tasks = t, .n = 2, .res = res, .err = err};
    tr_task *outer = tr_spawn(gather_body, &g);
    CHECK_EQ(tr_sleep(5 * MS), 0);
    CHECK_EQ(tr_task_cancel(outer), 1);
    CHECK_EQ(tr_await(outer, NULL), -ECANCELED);
    CHECK_EQ(g.rc, -ECANCELED);
    CHECK_EQ(err[0], 0);
    CHECK_EQ(err[1], -EBUSY);
    CHECK_EQ(tr_await(t[1], NULL), 0);
    CHECK(!j[1].saw_cancel);
    tr_task_release(outer);
    release_all(t, 2);
    return NULL;
}

/* The same in fail-fast mode, with more members than fit on the caller's stack. */
TASK_CASE(gather_caller_cancelled_many) {
    enum { N = 40 };
    struct job j[N];
    tr_task *t[N];
    for (int i = 0; i < N; i++) {
        j[i] = ok_after(i < N / 2 ? 0 : 300, i);
        t[i] = spawn_job(&j[i]);
    }
    void *res[N];
    struct gatherer g = {.tasks = t, .n = N, .res = res};
    tr_task *outer = tr_spawn(gather_body, &g);
    CHECK_EQ(tr_sleep(10 * MS), 0);
    CHECK_EQ(tr_task_cancel(outer), 1);
    CHECK_EQ(tr_await(outer, NULL), -ECANCELED);
    for (int i = 0; i < N; i++) {
        if (i < N / 2)
            CHECK_EQ((intptr_t)res[i], i);
        else
            CHECK(res[i] == NULL);
    }
    CHECK_EQ(tr_gather(t, N, res, NULL), 0);
    for (int i = 0; i < N; i++)
        CHECK_EQ((intptr_t)res[i], i);
    tr_task_release(outer);
    release_all(t, N);
    return NULL;
}

/* Members that never ran for lack of a stack are failures (-ENOMEM), as tr_await says. Not
 * reproducible without exhausting memory: a member failing with -ENOMEM stands in for it. */
TASK_CASE(gather_results_may_be_null) {
    struct job a = ok_after(1, 1), b = fail_after(2, -ENOMEM);
    tr_task *t[2] = {spawn_job(&a), spawn_job(&b)};
    int err[2];
    CHECK_EQ(tr_gather(t, 2, NULL, err), -ENOMEM);
    CHECK_EQ(err[0], 0);
    CHECK_EQ(err[1], -ENOMEM);
    release_all(t, 2);
    return NULL;
}
