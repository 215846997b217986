/*
 * tr_as_completed / tr_completed_next / tr_completed_free: asyncio.as_completed's cases from
 * test_tasks.py, then bad input, deadlines, the caller's cancellation, an iterator freed early
 * or while a task waits on it.
 */
#include "tasks_test.h"

static struct job ok_after(uint64_t ms, intptr_t value) {
    return (struct job){.sleep_ns = ms * MS, .value = (void *)value};
}

static intptr_t value_of(tr_task *t) {
    void *res = NULL;
    CHECK_EQ(tr_await(t, &res), 0); /* done: returns at once */
    return (intptr_t)res;
}

/* test_as_completed: in the order they finish; doing it again (all done) returns them in
 * array order without waiting. */
TASK_CASE(test_as_completed) {
    struct job a = ok_after(2, 'a'), b = ok_after(2, 'b'), c = ok_after(200, 'c');
    tr_task *t[3] = {spawn_job(&b), spawn_job(&c), spawn_job(&a)};
    tr_completed *it = tr_as_completed(t, 3);
    CHECK(it != NULL);
    intptr_t got[3];
    tr_task *next;
    for (int i = 0; i < 3; i++) {
        CHECK_EQ(tr_completed_next(it, &next), 1);
        CHECK(tr_task_done(next));
        got[i] = value_of(next);
    }
    CHECK_EQ(tr_completed_next(it, &next), 0);
    CHECK_EQ(tr_completed_next(it, &next), 0); /* stays at the end */
    CHECK((got[0] == 'a' && got[1] == 'b') || (got[0] == 'b' && got[1] == 'a'));
    CHECK_EQ(got[2], 'c');
    tr_completed_free(it);
    it = tr_as_completed(t, 3);
    CHECK(it != NULL);
    uint64_t t0 = now_ns();
    for (int i = 0; i < 3; i++) {
        CHECK_EQ(tr_completed_next(it, &next), 1);
        CHECK(next == t[i]);
    }
    CHECK_EQ(tr_completed_next(it, &next), 0);
    CHECK(now_ns() - t0 < 5 * MS || slow_build());
    tr_completed_free(it);
    release_all(t, 3);
    return NULL;
}

/* test_as_completed_with_timeout: a deadline scope around the loop: the first comes, the
 * second wait times out; after the scope, calling again goes on. */
TASK_CASE(test_as_completed_with_timeout) {
    struct job a = ok_after(0, 'a'), b = ok_after(300, 'b');
    tr_task *t[2] = {spawn_job(&a), spawn_job(&b)};
    CHECK_EQ(tr_yield(), 0); /* they start: the scope below must not find them unstarted */
    tr_completed *it = tr_as_completed(t, 2);
    CHECK(it != NULL);
    tr_task *next;
    tr_deadline d;
    CHECK_EQ(tr_deadline_begin(&d, 15 * MS), 0);
    CHECK_EQ(tr_completed_next(it, &next), 1);
    CHECK_EQ(value_of(next), 'a');
    CHECK_EQ(tr_completed_next(it, &next), -ETIME);
    CHECK_EQ(tr_completed_next(it, &next), -ETIME);
    tr_deadline_end(&d);
    CHECK(!tr_task_done(t[1]) && !b.saw_cancel); /* nothing was cancelled */
    CHECK_EQ(tr_completed_next(it, &next), 1);
    CHECK_EQ(value_of(next), 'b');
    CHECK_EQ(tr_completed_next(it, &next), 0);
    tr_completed_free(it);
    release_all(t, 2);
    return NULL;
}

/* test_as_completed_with_unused_timeout */
TASK_CASE(test_as_completed_with_unused_timeout) {
    struct job a = ok_after(1, 'a');
    tr_task *t = spawn_job(&a);
    tr_deadline d;
    CHECK_EQ(tr_deadline_begin(&d, 1000 * MS), 0);
    tr_completed *it = tr_as_completed(&t, 1);
    CHECK(it != NULL);
    tr_task *next;
    CHECK_EQ(tr_completed_next(it, &next), 1);
    CHECK_EQ(value_of(next), 'a');
    CHECK_EQ(tr_completed_next(it, &next), 0);
    tr_deadline_end(&d);
    tr_completed_free(it);
    tr_task_release(t);
    return NULL;
}

/* test_as_completed_concurrent: two finishing together both come out. */
TASK_CASE(test_as_completed_concurrent) {
    struct job a = ok_after(3, 'a'), b = ok_after(3, 'b');
    tr_task *t[2] = {spawn_job(&a), spawn_job(&b)};
    tr_completed *it = tr_as_completed(t, 2);
    CHECK(it != NULL);
    tr_task *x, *y;
    CHECK_EQ(tr_completed_next(it, &x), 1);
    CHECK_EQ(tr_completed_next(it, &y), 1);
    CHECK(x != y && (x == t[0] || x == t[1]) && (y == t[0] || y == t[1]));
    CHECK_EQ(tr_completed_next(it, &x), 0);
    tr_completed_free(it);
    release_all(t, 2);
    return NULL;
}

/* test_as_completed_duplicate_coroutines: asyncio makes a set of its argument; here every
 * entry is returned once, so a task listed twice comes twice (as gather and wait count it). */
TASK_CASE(test_as_completed_duplicate_coroutines) {
    struct job h = ok_after(1, 'h'), s = ok_after(3, 's');
    tr_task *th = spawn_job(&h), *ts = spawn_job(&s);
    tr_task *t[3] = {th, th, ts};
    tr_completed *it = tr_as_completed(t, 3);
    CHECK(it != NULL);
    tr_task *next;
    int hams = 0, spams = 0;
    while (tr_completed_next(it, &next) == 1) {
        hams += next == th;
        spams += next == ts;
    }
    CHECK_EQ(hams, 2);
    CHECK_EQ(spams, 1);
    tr_completed_free(it);
    tr_task_release(th), tr_task_release(ts);
    return NULL;
}

/* test_as_completed_invalid_args, and the rest of the bad input. */
TASK_CASE(test_as_completed_invalid_args) {
    errno = 0;
    CHECK(tr_as_completed(NULL, 1) == NULL && errno == EINVAL);
    tr_task *t[2] = {NULL, tr_current()};
    errno = 0;
    CHECK(tr_as_completed(t, 2) == NULL && errno == EINVAL);
    errno = 0;
    CHECK(tr_as_completed(t + 1, 1) == NULL && errno == EDEADLK);
    tr_task *next;
    CHECK_EQ(tr_completed_next(NULL, &next), -EINVAL);
    tr_completed *it = tr_as_completed(NULL, 0);
    CHECK(it != NULL);
    CHECK_EQ(tr_completed_next(it, NULL), -EINVAL);
    CHECK_EQ(tr_completed_next(it, &next), 0); /* nothing to return */
    tr_completed_free(it);
    tr_completed_free(NULL);
    struct foreign f;
    foreign_start(&f);
    tr_task *ft = atomic_load(&f.task);
    errno = 0;
    CHECK(tr_as_completed(&ft, 1) == NULL && errno == EPERM);
    CHECK_EQ(tr_completed_next(atomic_load(&f.iter), &next), -EPERM);
    tr_completed_free(atomic_load(&f.iter)); /* not ours: ignored, its loop frees it */
    foreign_stop(&f);
    return NULL;
}

CASE(as_completed_outside_a_task) {
    errno = 0;
    CHECK(tr_as_completed(NULL, 0) == NULL && errno == EPERM);
    tr_task *next;
    CHECK_EQ(tr_completed_next(NULL, &next), -EINVAL);
    tr_completed *bogus = (tr_completed *)&bogus; /* never read: the caller check is first */
    CHECK_EQ(tr_completed_next(bogus, &next), -EPERM);
}

/* Freed before the end: the tasks still running finish later and touch nothing of it. */
TASK_CASE(as_completed_free_early) {
    enum { N = 12 };
    struct job j[N];
    tr_task *t[N];
    for (int i = 0; i < N; i++) {
        j[i] = ok_after(i == 0 ? 1 : 10, i);
        t[i] = spawn_job(&j[i]);
    }
    tr_completed *it = tr_as_completed(t, N);
    CHECK(it != NULL);
    tr_task *next;
    CHECK_EQ(tr_completed_next(it, &next), 1);
    CHECK(next == t[0]);
    tr_completed_free(it);
    CHECK_EQ(tr_wait(t, N, TR_ALL_COMPLETED), N);
    release_all(t, N);
    return NULL;
}

/* Freed by another task while one waits in tr_completed_next: that call returns -EBADF (and
 * frees it); a second task waiting on the same iterator gets -EBUSY. */
struct nexter {
    tr_completed *it;
    tr_task *got;
    int rc;
};

static void *next_body(void *arg) {
    struct nexter *n = arg;
    n->rc = tr_completed_next(n->it, &n->got);
    return NULL;
}

TASK_CASE(as_completed_free_while_waiting) {
    struct job j = ok_after(300, 0);
    tr_task *t = spawn_job(&j);
    tr_completed *it = tr_as_completed(&t, 1);
    CHECK(it != NULL);
    struct nexter n1 = {.it = it, .rc = 1}, n2 = {.it = it, .rc = 1};
    tr_task *w1 = tr_spawn(next_body, &n1);
    CHECK_EQ(tr_yield(), 0); /* w1 waits */
    tr_task *w2 = tr_spawn(next_body, &n2);
    CHECK_EQ(tr_await(w2, NULL), 0);
    CHECK_EQ(n2.rc, -EBUSY);
    tr_task *next;
    CHECK_EQ(tr_completed_next(it, &next), -EBUSY);
    tr_completed_free(it);
    CHECK_EQ(tr_await(w1, NULL), 0);
    CHECK_EQ(n1.rc, -EBADF);
    CHECK_EQ(tr_await(t, NULL), 0); /* its finishing touches nothing freed */
    tr_task_release(w1), tr_task_release(w2), tr_task_release(t);
    return NULL;
}

/* Cancelled in tr_completed_next: -ECANCELED; entries already finished are still handed out
 * (no wait needed), and once none is ready every call returns -ECANCELED. */
static void *cancelled_consumer(void *arg) {
    tr_task **t = arg;
    tr_completed *it = tr_as_completed(t, 2);
    CHECK(it != NULL);
    tr_task *next;
    CHECK_EQ(tr_completed_next(it, &next), -ECANCELED); /* cancelled while it waits */
    CHECK_EQ(tr_completed_next(it, &next), -ECANCELED); /* sticky: refused at once */
    tr_shield s;
    CHECK_EQ(tr_shield_begin(&s), 0);
    CHECK_EQ(tr_await(t[0], NULL), 0); /* t[0] finishes meanwhile */
    tr_shield_end(&s);
    CHECK_EQ(tr_completed_next(it, &next), 1);
    CHECK(next == t[0]);
    CHECK_EQ(tr_completed_next(it, &next), -ECANCELED);
    tr_completed_free(it);
    return NULL;
}

TASK_CASE(as_completed_caller_cancelled) {
    struct job a = ok_after(300, 0), b = ok_after(1000, 0);
    tr_task *t[2] = {spawn_job(&a), spawn_job(&b)};
    tr_task *c = tr_spawn(cancelled_consumer, t);
    CHECK_EQ(tr_sleep(MS), 0);
    CHECK_EQ(tr_task_cancel(c), 1);
    CHECK_EQ(tr_await(c, NULL), -ECANCELED);
    tr_task_cancel(t[1]);
    CHECK_EQ(tr_wait(t, 2, TR_ALL_COMPLETED), 2);
    tr_task_release(c);
    release_all(t, 2);
    return NULL;
}

/* An entry that finishes while the caller is not in tr_completed_next is kept, in order. */
TASK_CASE(as_completed_order_kept_between_calls) {
    /* Yielding 30, 10, 40, 20 times: they finish in the order 2nd, 4th, 1st, 3rd. */
    struct job j[4] = {{.yields = 30, .value = (void *)3},
                       {.yields = 10, .value = (void *)1},
                       {.yields = 40, .value = (void *)4},
                       {.yields = 20, .value = (void *)2}};
    tr_task *t[4];
    for (int i = 0; i < 4; i++)
        t[i] = spawn_job(&j[i]);
    tr_completed *it = tr_as_completed(t, 4);
    CHECK(it != NULL);
    CHECK_EQ(tr_wait(t, 4, TR_ALL_COMPLETED), 4); /* all finish before the first call */
    tr_task *next;
    for (intptr_t want = 1; want <= 4; want++) {
        CHECK_EQ(tr_completed_next(it, &next), 1);
        CHECK_EQ(value_of(next), want);
    }
    CHECK_EQ(tr_completed_next(it, &next), 0);
    tr_completed_free(it);
    release_all(t, 4);
    return NULL;
}

/* An iterator left unfreed when its tasks are done may be freed after tr_run: nothing of it
 * is filed in a task any more. */
static tr_completed *kept;

static void *make_iterator(void *arg) {
    (void)arg;
    struct job j = ok_after(1, 0);
    tr_task *t = spawn_job(&j);
    kept = tr_as_completed(&t, 1);
    CHECK(kept != NULL);
    CHECK_EQ(tr_await(t, NULL), 0);
    tr_task_release(t);
    return NULL;
}

CASE(as_completed_free_after_run) {
    run_main(make_iterator);
    tr_completed_free(kept);
}
