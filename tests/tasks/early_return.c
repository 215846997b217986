/*
 * A combinator that returns before every task it watches has finished (deadline, the
 * caller's cancellation, FIRST_COMPLETED, gather's first failure, an iterator freed early)
 * must leave none of its sub-waiters in those tasks' done queues: the tasks finish later, and
 * a sub-waiter left behind would be a dangling pointer into the caller's stack or a freed
 * block. Each case makes the early return, then scribbles over the stack the call used and
 * poisons the arrays it was given, lets every task finish, and checks nothing was written.
 * Natively a leftover crashes or shows in the arrays; ASan and valgrind see the freed block.
 */
#include "tasks_test.h"

enum { SMALL = 5, LARGE = 100 }; /* on the caller's stack, and from the heap */

static struct job jobs[LARGE];
static tr_task *tasks[LARGE];
static void *results[LARGE];
static int errors[LARGE];

/* Member 0 ends soon (it fails with `first_fails`), the others later. */
static void start(size_t n, int first_fails) {
    for (size_t i = 0; i < n; i++) {
        jobs[i] = (struct job){.sleep_ns = (i == 0 ? 0 : 100) * MS, .value = (void *)(i + 1)};
        if (i == 0)
            jobs[i].fail = first_fails;
        tasks[i] = spawn_job(&jobs[i]);
    }
}

/* Overwrite the stack below the caller's frame: where the call's sub-waiters were. */
static __attribute__((noinline)) void scribble(int depth) {
    volatile unsigned char junk[2048];
    memset((void *)junk, 0xa5, sizeof junk);
    if (depth > 0)
        scribble(depth - 1);
    __asm__ volatile("" : : "r"(junk) : "memory");
}

/* Poison the arrays, let every task end, and check that nothing touched the arrays. */
static void finish_all(size_t n) {
    scribble(4);
    for (size_t i = 0; i < n; i++) {
        results[i] = (void *)0x5a5a;
        errors[i] = 0x5a5a;
    }
    CHECK_EQ(tr_wait(tasks, n, TR_ALL_COMPLETED), (int)n);
    for (size_t i = 0; i < n; i++) {
        CHECK(results[i] == (void *)0x5a5a);
        CHECK_EQ(errors[i], 0x5a5a);
        tr_task_error(tasks[i]);
        tr_task_release(tasks[i]);
    }
}

static int gather_with_deadline(size_t n) {
    tr_deadline d;
    CHECK_EQ(tr_deadline_begin(&d, 5 * MS), 0);
    int rc = tr_gather(tasks, n, results, errors);
    tr_deadline_end(&d);
    return rc;
}

TASK_CASE(gather_deadline_small) {
    start(SMALL, 0);
    CHECK_EQ(gather_with_deadline(SMALL), -ETIME);
    CHECK(errors[0] == 0 || errors[0] == -EBUSY); /* -EBUSY if the scope ran out first */
    CHECK_EQ(errors[1], -EBUSY);
    finish_all(SMALL);
    return NULL;
}

TASK_CASE(gather_deadline_large) {
    start(LARGE, 0);
    CHECK_EQ(gather_with_deadline(LARGE), -ETIME);
    finish_all(LARGE);
    return NULL;
}

static int gather_fail_fast(size_t n) {
    return tr_gather(tasks, n, results, NULL);
}

TASK_CASE(gather_first_failure_small) {
    start(SMALL, -EIO);
    CHECK_EQ(gather_fail_fast(SMALL), -EIO);
    finish_all(SMALL);
    return NULL;
}

TASK_CASE(gather_first_failure_large) {
    start(LARGE, -EIO);
    CHECK_EQ(gather_fail_fast(LARGE), -EIO);
    finish_all(LARGE);
    return NULL;
}

static int wait_first(size_t n) {
    return tr_wait(tasks, n, TR_FIRST_COMPLETED);
}

TASK_CASE(wait_first_completed_small) {
    start(SMALL, 0);
    CHECK_EQ(wait_first(SMALL), 1);
    finish_all(SMALL);
    return NULL;
}

TASK_CASE(wait_first_completed_large) {
    start(LARGE, 0);
    CHECK_EQ(wait_first(LARGE), 1);
    finish_all(LARGE);
    return NULL;
}

TASK_CASE(wait_first_error_large) {
    start(LARGE, -EPROTO);
    CHECK_EQ(tr_wait(tasks, LARGE, TR_FIRST_ERROR), 1);
    finish_all(LARGE);
    return NULL;
}

/* The caller is cancelled in the gather, with many tasks; a helper task does the checking. */
struct victim {
    size_t n;
    int rc;
};

static void *gather_body(void *arg) {
    struct victim *v = arg;
    v->rc = tr_gather(tasks, v->n, results, errors);
    scribble(4);
    return NULL;
}

static void cancel_in_gather(size_t n) {
    start(n, 0);
    struct victim v = {.n = n};
    tr_task *t = tr_spawn(gather_body, &v);
    CHECK_EQ(tr_sleep(5 * MS), 0);
    CHECK_EQ(tr_task_cancel(t), 1);
    CHECK_EQ(tr_await(t, NULL), -ECANCELED);
    tr_task_release(t);
    CHECK_EQ(v.rc, -ECANCELED);
    finish_all(n);
}

TASK_CASE(gather_cancelled_small) {
    cancel_in_gather(SMALL);
    return NULL;
}

TASK_CASE(gather_cancelled_large) {
    cancel_in_gather(LARGE);
    return NULL;
}

/* The caller's task ends (its stack is recycled for the next task) right after an early
 * return: a leftover sub-waiter would sit in a stack now used by someone else. */
static void *wait_and_leave(void *arg) {
    size_t n = (size_t)arg;
    CHECK_EQ(tr_wait(tasks, n, TR_FIRST_COMPLETED), 1);
    return NULL;
}

static void *stack_user(void *arg) {
    (void)arg;
    scribble(8);
    return NULL;
}

TASK_CASE(wait_caller_gone_small) {
    start(SMALL, 0);
    tr_task *t = tr_spawn(wait_and_leave, (void *)(uintptr_t)SMALL);
    CHECK_EQ(tr_await(t, NULL), 0);
    tr_task_release(t);
    for (int i = 0; i < 4; i++) {
        tr_task *u = tr_spawn(stack_user, NULL);
        CHECK_EQ(tr_await(u, NULL), 0);
        tr_task_release(u);
    }
    finish_all(SMALL);
    return NULL;
}

/* tr_as_completed freed after one entry; tr_wait_for past its limit. */
TASK_CASE(as_completed_freed_early) {
    start(LARGE, 0);
    tr_completed *it = tr_as_completed(tasks, LARGE);
    CHECK(it != NULL);
    tr_task *next;
    CHECK_EQ(tr_completed_next(it, &next), 1);
    CHECK(next == tasks[0]);
    tr_completed_free(it);
    finish_all(LARGE);
    return NULL;
}

TASK_CASE(wait_for_timed_out) {
    start(SMALL, 0);
    CHECK_EQ(tr_wait_for(tasks[1], MS, NULL), -ETIME); /* tasks[1] cancelled and done */
    CHECK(tr_task_cancelled(tasks[1]));
    finish_all(SMALL);
    return NULL;
}
