/*
 * tr_wait_for of a task of another loop, both ways: a task that finishes in time gives its
 * result; one that does not is cancelled on its own loop and waited for, so that when
 * tr_wait_for returns -ETIME the task is done (cancelled) and its wait saw -ECANCELED; a task
 * that fails while being cancelled gives its error instead; a timeout of 0 cancels at once.
 * The caller is back on its own loop after each.
 */
#include "loops.h"

static void *quick(void *arg) {
    CHECK_EQ(tr_sleep(1 * MS), 0);
    return arg;
}

struct slow {
    int home;
    int rc; /* what its sleep returned */
    bool fail_when_cancelled;
};

static void *slow(void *arg) {
    struct slow *s = arg;
    CHECK_LOOP(s->home);
    s->rc = tr_sleep(30000 * MS);
    CHECK_LOOP(s->home);
    if (s->fail_when_cancelled) {
        /* cleanup that still takes a moment, shielded, then a failure */
        tr_shield sh;
        tr_shield_begin(&sh);
        CHECK_EQ(tr_sleep(2 * MS), 0);
        tr_shield_end(&sh);
        return tr_fail(-EPIPE);
    }
    return (void *)3;
}

/* The calling task waits for tasks of loop `there`. */
static void wait_for_on(int there) {
    int home = tr_loop_id();
    void *res = NULL;
    tr_task *t = spawn_on((unsigned)there, quick, (void *)41, "quick");
    CHECK_EQ(tr_wait_for(t, 10000 * MS, &res), 0);
    CHECK(res == (void *)41);
    CHECK_LOOP(home);
    tr_task_release(t);

    struct slow s = {.home = there, .rc = 1};
    t = spawn_on((unsigned)there, slow, &s, "slow");
    uint64_t t0 = now_ns();
    CHECK_EQ(tr_wait_for(t, 20 * MS, &res), -ETIME);
    CHECK(now_ns() - t0 >= 20 * MS);
    CHECK_LOOP(home);
    CHECK(tr_task_done(t)); /* cancelled and waited for before tr_wait_for returned */
    CHECK(tr_task_cancelled(t));
    CHECK_EQ(s.rc, -ECANCELED);
    CHECK_EQ(tr_await(t, NULL), -ECANCELED);
    tr_task_release(t);

    struct slow f = {.home = there, .rc = 1, .fail_when_cancelled = true};
    t = spawn_on((unsigned)there, slow, &f, "fails-when-cancelled");
    res = (void *)1;
    CHECK_EQ(tr_wait_for(t, 20 * MS, &res), -EPIPE);
    CHECK(res == NULL); /* tr_fail's NULL */
    CHECK_LOOP(home);
    CHECK(tr_task_done(t) && !tr_task_cancelled(t));
    CHECK_EQ(f.rc, -ECANCELED);
    tr_task_release(t);

    struct slow z = {.home = there, .rc = 1};
    t = spawn_on((unsigned)there, slow, &z, "timeout-0");
    CHECK_EQ(tr_wait_for(t, 0, NULL), -ETIME);
    CHECK(tr_task_done(t) && tr_task_cancelled(t));
    CHECK(z.rc == 1 || z.rc == -ECANCELED); /* cancelled before or after it started */
    tr_task_release(t);

    /* A finished task: its outcome at once, whatever the timeout. */
    t = spawn_on((unsigned)there, quick, (void *)42, "done-already");
    CHECK_EQ(tr_await(t, NULL), 0);
    res = NULL;
    CHECK_EQ(tr_wait_for(t, 0, &res), 0);
    CHECK(res == (void *)42);
    tr_task_release(t);
}

static void *from_loop1(void *arg) {
    (void)arg;
    CHECK_LOOP(1);
    wait_for_on(0);
    CHECK_LOOP(1);
    return NULL;
}

/* The caller is cancelled while it waits for a task of another loop: the task is cancelled
 * and waited for too, and tr_wait_for returns -ECANCELED. */
struct outer {
    tr_task *inner;
    struct slow s;
    tr_event *waiting; /* of loop 0 */
    int rc;
};

static void *waits_for_inner(void *arg) {
    struct outer *o = arg;
    CHECK_LOOP(0);
    o->inner = spawn_on(1, slow, &o->s, "inner");
    CHECK_EQ(tr_event_set(o->waiting), 0);
    o->rc = tr_wait_for(o->inner, 30000 * MS, NULL);
    CHECK(tr_task_done(o->inner));
    return NULL;
}

static void caller_cancelled(void) {
    struct outer o = {.s = {.home = 1, .rc = 1}, .rc = 1};
    o.waiting = tr_event_new();
    tr_task *t = spawn_on(0, waits_for_inner, &o, "waits-for-inner");
    CHECK_EQ(tr_event_wait(o.waiting), 0);
    CHECK_EQ(tr_sleep(5 * MS), 0); /* likely in its wait by now; cancelled before, the same */
    CHECK_EQ(tr_task_cancel(t), 1);
    await_release(t, -ECANCELED);
    CHECK_EQ(o.rc, -ECANCELED);
    CHECK(tr_task_cancelled(o.inner));
    tr_task_release(o.inner);
    CHECK_EQ(tr_event_free(o.waiting), 0);
}

static void *main_task(void *arg) {
    (void)arg;
    CHECK_EQ(tr_loop_count(), 2);
    wait_for_on(1);
    await_release(spawn_on(1, from_loop1, NULL, "from-loop1"), 0);
    caller_cancelled();
    return NULL;
}

int main(void) {
    int rounds = RUNNING_ON_VALGRIND ? 1 : 5;
    for (int i = 0; i < rounds; i++)
        CHECK_EQ(run_loops(2, main_task, NULL, NULL), 0);
    printf("wait_for across loops: %d rounds\n", rounds);
    return 0;
}
