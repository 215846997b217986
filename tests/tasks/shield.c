/*
 * Cancel shields (tr_shield_begin / tr_shield_end): test_tasks.py's asyncio.shield cases,
 * ported onto what a shield is here. asyncio.shield(inner) protects the inner awaitable from
 * the outer task's cancellation; a taskring shield protects the calling task's own waits: a
 * cancellation requested meanwhile is held back and comes with the first wait after the
 * shield ends. So "outer cancelled" means: the caller's next wait after the shield returns
 * -ECANCELED, while what it waited for inside ran to its end.
 */
#include "tasks_test.h"

static struct job ok_after(uint64_t ms, intptr_t value) {
    return (struct job){.sleep_ns = ms * MS, .value = (void *)value};
}

/* test_shield_result */
TASK_CASE(test_shield_result) {
    struct job j = ok_after(2, 42);
    tr_task *t = spawn_job(&j);
    tr_shield s;
    CHECK_EQ(tr_shield_begin(&s), 0);
    void *res = NULL;
    CHECK_EQ(tr_await(t, &res), 0);
    tr_shield_end(&s);
    CHECK_EQ((intptr_t)res, 42);
    tr_task_release(t);
    return NULL;
}

/* test_shield_exception */
TASK_CASE(test_shield_exception) {
    struct job j = {.sleep_ns = 2 * MS, .fail = -EPROTO};
    tr_task *t = spawn_job(&j);
    tr_shield s;
    CHECK_EQ(tr_shield_begin(&s), 0);
    CHECK_EQ(tr_await(t, NULL), -EPROTO);
    tr_shield_end(&s);
    tr_task_release(t);
    return NULL;
}

/* test_shield_cancel_inner: what is awaited inside the shield is cancelled: the await says
 * so; the shield holds back only the caller's own cancellation. */
TASK_CASE(test_shield_cancel_inner) {
    struct job j = ok_after(1000, 0);
    tr_task *t = spawn_job(&j);
    tr_shield s;
    CHECK_EQ(tr_shield_begin(&s), 0);
    CHECK_EQ(tr_yield(), 0);
    CHECK_EQ(tr_task_cancel(t), 1);
    CHECK_EQ(tr_await(t, NULL), -ECANCELED);
    tr_shield_end(&s);
    CHECK_EQ(tr_sleep(0), 0); /* the caller itself is not cancelled */
    tr_task_release(t);
    return NULL;
}

/* test_shield_cancel_outer, test_shield_effect: the shielded task is cancelled while it waits
 * inside the shield: that wait runs to its end, the inner task is not affected, and the
 * cancellation arrives at the first wait after the shield. */
struct outer {
    tr_task *inner;
    int await_rc, after_rc;
    bool past_await;
};

static void *shielded_outer(void *arg) {
    struct outer *o = arg;
    tr_shield s;
    CHECK_EQ(tr_shield_begin(&s), 0);
    o->await_rc = tr_await(o->inner, NULL);
    o->past_await = true;
    tr_shield_end(&s);
    o->after_rc = tr_sleep(1000 * MS);
    return NULL;
}

TASK_CASE(test_shield_effect) {
    struct job in = ok_after(300, 0);
    struct outer o = {.inner = spawn_job(&in)};
    tr_task *t = tr_spawn(shielded_outer, &o);
    CHECK_EQ(tr_sleep(2 * MS), 0);
    CHECK_EQ(tr_task_cancel(t), 1);
    CHECK_EQ(tr_sleep(2 * MS), 0);
    CHECK(!o.past_await && !tr_task_done(o.inner)); /* held back: still waiting */
    CHECK_EQ(tr_await(t, NULL), -ECANCELED);
    CHECK_EQ(o.await_rc, 0);
    CHECK(in.finished && !in.saw_cancel); /* proof == 1 */
    CHECK_EQ(o.after_rc, -ECANCELED);
    tr_task_release(o.inner), tr_task_release(t);
    return NULL;
}

TASK_CASE(test_shield_cancel_outer) {
    struct job in = ok_after(5, 0);
    struct outer o = {.inner = spawn_job(&in)};
    tr_task *t = tr_spawn(shielded_outer, &o);
    CHECK_EQ(tr_yield(), 0);
    CHECK_EQ(tr_task_cancel(t), 1);
    CHECK_EQ(tr_await(t, NULL), -ECANCELED);
    CHECK(tr_task_cancelled(t));
    CHECK_EQ(o.await_rc, 0);
    CHECK_EQ(o.after_rc, -ECANCELED);
    tr_task_release(o.inner), tr_task_release(t);
    return NULL;
}

/* test_shield_shortcut: a done task inside a shield: at once. */
TASK_CASE(test_shield_shortcut) {
    struct job j = ok_after(0, 42);
    tr_task *t = spawn_job(&j);
    CHECK_EQ(tr_yield(), 0);
    tr_shield s;
    CHECK_EQ(tr_shield_begin(&s), 0);
    void *res = NULL;
    CHECK_EQ(tr_await(t, &res), 0);
    CHECK_EQ((intptr_t)res, 42);
    tr_shield_end(&s);
    tr_task_release(t);
    return NULL;
}

/* test_shield_gather, test_gather_shield: a gather inside a shield survives the caller's
 * cancellation and reports every child's result; the cancellation comes after. */
struct shielded_gather {
    tr_task *kids[2];
    void *res[2];
    int rc, after_rc;
};

static void *gather_in_shield(void *arg) {
    struct shielded_gather *g = arg;
    tr_shield s;
    CHECK_EQ(tr_shield_begin(&s), 0);
    g->rc = tr_gather(g->kids, 2, g->res, NULL);
    tr_shield_end(&s);
    g->after_rc = tr_yield();
    return NULL;
}

TASK_CASE(test_shield_gather) {
    struct job a = ok_after(4, 1), b = ok_after(6, 2);
    struct shielded_gather g = {.kids = {spawn_job(&a), spawn_job(&b)}};
    tr_task *t = tr_spawn(gather_in_shield, &g);
    CHECK_EQ(tr_yield(), 0);
    CHECK_EQ(tr_task_cancel(t), 1);
    CHECK_EQ(tr_await(t, NULL), -ECANCELED);
    CHECK_EQ(g.rc, 0);
    CHECK_EQ((intptr_t)g.res[0], 1);
    CHECK_EQ((intptr_t)g.res[1], 2);
    CHECK_EQ(g.after_rc, -ECANCELED);
    CHECK(!a.saw_cancel && !b.saw_cancel); /* the children were never touched */
    tr_task_release(g.kids[0]), tr_task_release(g.kids[1]), tr_task_release(t);
    return NULL;
}

/* Deadline scopes still apply inside a shield: cleanup can be bounded. */
TASK_CASE(shield_keeps_deadlines) {
    tr_shield s;
    CHECK_EQ(tr_shield_begin(&s), 0);
    tr_deadline d;
    CHECK_EQ(tr_deadline_begin(&d, 3 * MS), 0);
    CHECK_EQ(tr_sleep(1000 * MS), -ETIME);
    tr_deadline_end(&d);
    tr_shield_end(&s);
    return NULL;
}

/* Nested shields: the cancellation comes after the outermost one ends. */
static void *nested_shields(void *arg) {
    int *rcs = arg;
    tr_shield a, b;
    CHECK_EQ(tr_shield_begin(&a), 0);
    CHECK_EQ(tr_shield_begin(&b), 0);
    CHECK_EQ(tr_task_cancel(tr_current()), 1);
    rcs[0] = tr_sleep(MS);
    tr_shield_end(&b);
    rcs[1] = tr_sleep(MS);
    tr_shield_end(&a);
    rcs[2] = tr_sleep(MS);
    return NULL;
}

TASK_CASE(shield_nested) {
    int rcs[3] = {1, 1, 1};
    tr_task *t = tr_spawn(nested_shields, rcs);
    CHECK_EQ(tr_await(t, NULL), -ECANCELED);
    CHECK_EQ(rcs[0], 0);
    CHECK_EQ(rcs[1], 0);
    CHECK_EQ(rcs[2], -ECANCELED);
    tr_task_release(t);
    return NULL;
}

/* A task cancelled before the shield: its waits inside the shield are allowed (cleanup after
 * a cancellation is what shields are for). */
static void *shield_after_cancel(void *arg) {
    int *rcs = arg;
    rcs[0] = tr_sleep(1000 * MS); /* cancelled here */
    tr_shield s;
    CHECK_EQ(tr_shield_begin(&s), 0);
    rcs[1] = tr_sleep(MS);
    tr_shield_end(&s);
    rcs[2] = tr_sleep(MS);
    return NULL;
}

TASK_CASE(shield_cleanup_after_cancel) {
    int rcs[3] = {1, 1, 1};
    tr_task *t = tr_spawn(shield_after_cancel, rcs);
    CHECK_EQ(tr_yield(), 0);
    CHECK_EQ(tr_task_cancel(t), 1);
    CHECK_EQ(tr_await(t, NULL), -ECANCELED);
    CHECK_EQ(rcs[0], -ECANCELED);
    CHECK_EQ(rcs[1], 0);
    CHECK_EQ(rcs[2], -ECANCELED);
    tr_task_release(t);
    return NULL;
}

TASK_CASE(shield_bad_input) {
    CHECK_EQ(tr_shield_begin(NULL), -EINVAL);
    tr_shield_end(NULL); /* ignored */
    return NULL;
}

CASE(shield_outside_a_task) {
    tr_shield s;
    CHECK_EQ(tr_shield_begin(&s), -EPERM);
    tr_shield_end(&s); /* ignored */
}
