/*
 * Task groups: asyncio.TaskGroup's cases from test_taskgroups.py, then bad input, deadlines,
 * the waiting task's cancellation at each point, freeing with members running.
 *
 * What maps differently: the "body" of `async with TaskGroup()` is the code between
 * tr_group_new and tr_group_wait. A member's failure cancels the other members but not the
 * task that made the group (a C task cannot be un-cancelled, as asyncio's uncancel() does);
 * a body that raises is a body that calls tr_group_cancel and returns its own error. Members
 * that swallow their cancellation (asyncio) hold it back with a shield here.
 */
#include "tasks_test.h"

static struct job ok_after(uint64_t ms, intptr_t value) {
    return (struct job){.sleep_ns = ms * MS, .value = (void *)value};
}

static struct job fail_after(uint64_t ms, int err) {
    return (struct job){.sleep_ns = ms * MS, .fail = err};
}

static tr_task *spawn_in(tr_group *g, struct job *j) {
    tr_task *t = tr_group_spawn(g, job_run, j);
    CHECK(t != NULL);
    return t;
}

static intptr_t value_of(tr_task *t) {
    void *res = NULL;
    CHECK_EQ(tr_await(t, &res), 0);
    return (intptr_t)res;
}

static tr_group *new_group(void) {
    tr_group *g = tr_group_new();
    CHECK(g != NULL);
    return g;
}

/* test_taskgroup_01 */
TASK_CASE(test_taskgroup_01) {
    tr_group *g = new_group();
    struct job a = ok_after(2, 42), b = ok_after(4, 11);
    tr_task *t1 = spawn_in(g, &a), *t2 = spawn_in(g, &b);
    CHECK_EQ(tr_group_size(g), 2);
    CHECK_EQ(tr_group_wait(g), 0);
    CHECK_EQ(tr_group_size(g), 0);
    CHECK_EQ(value_of(t1), 42);
    CHECK_EQ(value_of(t2), 11);
    CHECK_EQ(tr_group_free(g), 0);
    return NULL;
}

/* test_taskgroup_02: a member added while the first one runs. */
TASK_CASE(test_taskgroup_02) {
    tr_group *g = new_group();
    struct job a = ok_after(2, 42), b = ok_after(4, 11);
    tr_task *t1 = spawn_in(g, &a);
    CHECK_EQ(tr_sleep(3 * MS), 0);
    tr_task *t2 = spawn_in(g, &b);
    CHECK_EQ(tr_group_wait(g), 0);
    CHECK_EQ(value_of(t1), 42);
    CHECK_EQ(value_of(t2), 11);
    CHECK_EQ(tr_group_free(g), 0);
    return NULL;
}

/* test_taskgroup_03: a member cancelled from outside is no failure: the group carries on. */
TASK_CASE(test_taskgroup_03) {
    tr_group *g = new_group();
    struct job a = ok_after(1000, 42), b = ok_after(4, 11);
    tr_task *t1 = spawn_in(g, &a);
    CHECK_EQ(tr_sleep(2 * MS), 0);
    CHECK_EQ(tr_task_cancel(t1), 1);
    tr_task *t2 = spawn_in(g, &b);
    CHECK_EQ(tr_group_wait(g), 0);
    CHECK(tr_task_cancelled(t1));
    CHECK_EQ(value_of(t2), 11);
    CHECK_EQ(tr_group_free(g), 0);
    return NULL;
}

/* test_taskgroup_04: a failure cancels the other members and is what the wait returns. */
TASK_CASE(test_taskgroup_04) {
    tr_group *g = new_group();
    struct job a = fail_after(2, -EDOM), b = ok_after(1000, 0);
    spawn_in(g, &a);
    tr_task *t2 = spawn_in(g, &b);
    CHECK_EQ(tr_group_wait(g), -EDOM);
    CHECK(b.saw_cancel && tr_task_cancelled(t2));
    CHECK_EQ(tr_sleep(MS), 0); /* the waiting task is not cancelled */
    CHECK_EQ(tr_group_free(g), 0);
    return NULL;
}

/* test_cancel_children_on_child_error: several failures; the first is returned, the long
 * member is cancelled. */
TASK_CASE(test_cancel_children_on_child_error) {
    tr_group *g = new_group();
    struct job f[3] = {fail_after(2, -EDOM), fail_after(2, -EDOM), fail_after(2, -EDOM)};
    struct job l = ok_after(5000, 0);
    tr_task *ft[3];
    for (int i = 0; i < 3; i++)
        ft[i] = spawn_in(g, &f[i]);
    spawn_in(g, &l);
    CHECK_EQ(tr_group_wait(g), -EDOM);
    /* The wait returns one error; the others stay with their tasks, to be read. Those woken
     * together with the first but cancelled by its failure before they ran end cancelled
     * (CPython's "partial sub errors" when the host is busy). */
    int doms = 0;
    for (int i = 0; i < 3; i++) {
        int e = tr_task_error(ft[i]);
        CHECK(e == -EDOM || e == -ECANCELED);
        doms += e == -EDOM;
    }
    CHECK(doms >= 1);
    CHECK(l.saw_cancel && l.finished);
    CHECK_EQ(tr_group_free(g), 0);
    return NULL;
}

/* test_cancellation: cancelling the task in tr_group_wait cancels every member, and the wait
 * returns once each has seen it. */
struct runner {
    struct job jobs[5];
    tr_task *tasks[5];
    int members;
    uint64_t body_sleep_ns; /* sleep in the body before waiting (test_taskgroup_07) */
    int body_rc, wait_rc;
    int cancelled_members;
    bool waited;
};

static void *runner_body(void *arg) {
    struct runner *r = arg;
    tr_group *g = new_group();
    for (int i = 0; i < r->members; i++)
        r->tasks[i] = spawn_in(g, &r->jobs[i]);
    if (r->body_sleep_ns)
        r->body_rc = tr_sleep(r->body_sleep_ns);
    r->wait_rc = tr_group_wait(g);
    r->waited = true;
    for (int i = 0; i < r->members; i++) {
        r->cancelled_members += r->jobs[i].saw_cancel && r->jobs[i].finished;
        tr_task_error(r->tasks[i]); /* read every error: none is reported as lost */
    }
    CHECK_EQ(tr_group_free(g), 0);
    return NULL;
}

static void run_cancelled_runner(struct runner *r, uint64_t cancel_after_ns, int want_task) {
    tr_task *t = tr_spawn(runner_body, r);
    CHECK_EQ(tr_sleep(cancel_after_ns), 0);
    CHECK(!tr_task_done(t));
    CHECK_EQ(tr_task_cancel(t), 1);
    CHECK_EQ(tr_await(t, NULL), want_task);
    tr_task_release(t);
}

TASK_CASE(test_cancellation) {
    struct runner r = {.members = 5};
    for (int i = 0; i < 5; i++)
        r.jobs[i] = ok_after(5000, 0);
    run_cancelled_runner(&r, 5 * MS, -ECANCELED);
    CHECK_EQ(r.wait_rc, -ECANCELED);
    CHECK_EQ(r.cancelled_members, 5);
    return NULL;
}

/* test_taskgroup_07: cancelled in the body, before the wait: the wait still cancels and
 * waits for every member. */
TASK_CASE(test_taskgroup_07) {
    struct runner r = {.members = 5, .body_sleep_ns = 10000 * MS};
    for (int i = 0; i < 5; i++)
        r.jobs[i] = ok_after(5000, 0);
    run_cancelled_runner(&r, 5 * MS, -ECANCELED);
    CHECK_EQ(r.body_rc, -ECANCELED);
    CHECK_EQ(r.wait_rc, -ECANCELED);
    CHECK_EQ(r.cancelled_members, 5);
    return NULL;
}

/* test_taskgroup_08: members that fail while being cancelled: their failure wins over the
 * waiting task's cancellation (asyncio raises the ExceptionGroup, not CancelledError). */
TASK_CASE(test_taskgroup_08) {
    struct runner r = {.members = 5};
    for (int i = 0; i < 5; i++)
        r.jobs[i] = (struct job){.sleep_ns = 10000 * MS, .cleanup_fail = -EDOM};
    run_cancelled_runner(&r, 5 * MS, -ECANCELED); /* the task itself still ends cancelled */
    CHECK_EQ(r.wait_rc, -EDOM);
    return NULL;
}

/* test_cancellation_in_body: the body is cancelled while it sleeps, before any failure. */
TASK_CASE(test_cancellation_in_body) {
    struct runner r = {.members = 5, .body_sleep_ns = 10000 * MS};
    for (int i = 0; i < 5; i++)
        r.jobs[i] = fail_after(1000, -EDOM);
    run_cancelled_runner(&r, 5 * MS, -ECANCELED);
    CHECK_EQ(r.wait_rc, -ECANCELED);
    return NULL;
}

/* test_taskgroup_09, test_taskgroup_10: the body gives up (in asyncio, raises): it cancels the
 * group; the members end cancelled and the wait says so. */
static void body_gives_up(uint64_t sleep_first_ns) {
    tr_group *g = new_group();
    struct job a = ok_after(1000, 42), b = ok_after(2000, 11);
    tr_task *t1 = spawn_in(g, &a), *t2 = spawn_in(g, &b);
    if (sleep_first_ns)
        CHECK_EQ(tr_sleep(sleep_first_ns), 0);
    CHECK_EQ(tr_group_cancel(g), 2);
    CHECK_EQ(tr_group_wait(g), -ECANCELED);
    CHECK(tr_task_cancelled(t1) && tr_task_cancelled(t2));
    CHECK_EQ(tr_group_free(g), 0);
}

TASK_CASE(test_taskgroup_09) {
    body_gives_up(2 * MS);
    return NULL;
}

TASK_CASE(test_taskgroup_10) {
    body_gives_up(0);
    return NULL;
}

/* test_taskgroup_11, test_taskgroup_12: nested groups; the task is cancelled while in the
 * inner wait; the inner members fail in their cleanup. The inner wait returns their failure,
 * the outer one (asked after the cancellation) cancels its own members and says so. */
struct nested {
    int inner_rc, outer_rc;
    bool outer_member;
};

static void *nested_runner(void *arg) {
    struct nested *n = arg;
    tr_group *g1 = new_group();
    struct job sleeper = ok_after(10000, 0);
    if (n->outer_member)
        spawn_in(g1, &sleeper);
    tr_group *g2 = new_group();
    struct job f[5];
    tr_task *ft[5];
    for (int i = 0; i < 5; i++) {
        f[i] = (struct job){.sleep_ns = 10000 * MS, .cleanup_fail = -EDOM};
        ft[i] = spawn_in(g2, &f[i]);
    }
    n->inner_rc = tr_group_wait(g2);
    for (int i = 0; i < 5; i++)
        CHECK_EQ(tr_task_error(ft[i]), -EDOM);
    n->outer_rc = tr_group_wait(g1);
    CHECK_EQ(tr_group_free(g2), 0);
    CHECK_EQ(tr_group_free(g1), 0);
    if (n->outer_member)
        CHECK(sleeper.saw_cancel);
    return n->inner_rc < 0 ? tr_fail(n->inner_rc) : NULL;
}

static void nested_case(bool outer_member) {
    struct nested n = {.outer_member = outer_member};
    tr_task *t = tr_spawn(nested_runner, &n);
    CHECK_EQ(tr_sleep(5 * MS), 0);
    CHECK_EQ(tr_task_cancel(t), 1);
    CHECK_EQ(tr_await(t, NULL), -EDOM); /* the failure it returned says more */
    CHECK_EQ(n.inner_rc, -EDOM);
    CHECK_EQ(n.outer_rc, outer_member ? -ECANCELED : 0);
    tr_task_release(t);
}

TASK_CASE(test_taskgroup_11) {
    nested_case(false);
    return NULL;
}

TASK_CASE(test_taskgroup_12) {
    nested_case(true);
    return NULL;
}

/* test_taskgroup_13, test_taskgroup_14: a failure in one of two nested groups. It cancels
 * its own group's members; the other group is the body's business (here: it sees the error
 * and cancels the other group itself). */
TASK_CASE(test_taskgroup_13) {
    tr_group *g1 = new_group();
    struct job crash = fail_after(2, -EINVAL), sib = ok_after(1000, 0);
    spawn_in(g1, &crash);
    spawn_in(g1, &sib);
    tr_group *g2 = new_group();
    struct job slow = ok_after(100, 0);
    spawn_in(g2, &slow);
    CHECK_EQ(tr_group_wait(g2), 0); /* unaffected by g1's failure */
    CHECK(sib.saw_cancel);          /* g1's failure cancelled g1's other member */
    CHECK_EQ(tr_group_wait(g1), -EINVAL);
    CHECK_EQ(tr_group_free(g2), 0);
    CHECK_EQ(tr_group_free(g1), 0);
    return NULL;
}

TASK_CASE(test_taskgroup_14) {
    tr_group *g1 = new_group();
    struct job long1 = ok_after(10000, 0);
    spawn_in(g1, &long1);
    tr_group *g2 = new_group();
    struct job crash = fail_after(2, -EINVAL);
    spawn_in(g2, &crash);
    int rc = tr_group_wait(g2);
    CHECK_EQ(rc, -EINVAL);
    CHECK_EQ(tr_group_cancel(g1), 1);
    CHECK_EQ(tr_group_wait(g1), -ECANCELED);
    CHECK(long1.saw_cancel);
    CHECK_EQ(tr_group_free(g2), 0);
    CHECK_EQ(tr_group_free(g1), 0);
    return NULL;
}

/* test_taskgroup_15, test_taskgroup_16: the body is cancelled, cleans up for a while
 * (shielded), and meanwhile a member fails: the wait returns that failure. 16 runs the same
 * one task further down. */
static void *crash_while_body_cleans_up(void *arg) {
    int *wait_rc = arg;
    tr_group *g = new_group();
    struct job crash = fail_after(15, -EDOM);
    spawn_in(g, &crash);
    CHECK_EQ(tr_sleep(10000 * MS), -ECANCELED);
    tr_shield s;
    CHECK_EQ(tr_shield_begin(&s), 0);
    CHECK_EQ(tr_sleep(100 * MS), 0);
    tr_shield_end(&s);
    CHECK(crash.finished);
    *wait_rc = tr_group_wait(g);
    CHECK_EQ(tr_group_free(g), 0);
    return NULL;
}

static void *await_nested(void *arg) {
    tr_task *t = tr_spawn(crash_while_body_cleans_up, arg);
    int rc = tr_await(t, NULL);
    if (rc == -ECANCELED) {
        /* asyncio: awaiting a task and being cancelled cancels the awaited task too. */
        tr_task_cancel(t);
        tr_shield s;
        tr_shield_begin(&s);
        tr_await(t, NULL);
        tr_shield_end(&s);
    }
    tr_task_release(t);
    return NULL;
}

TASK_CASE(test_taskgroup_15) {
    int wait_rc = 1;
    tr_task *t = tr_spawn(crash_while_body_cleans_up, &wait_rc);
    CHECK_EQ(tr_sleep(5 * MS), 0);
    CHECK_EQ(tr_task_cancel(t), 1);
    CHECK_EQ(tr_await(t, NULL), -ECANCELED);
    CHECK_EQ(wait_rc, -EDOM);
    tr_task_release(t);
    return NULL;
}

TASK_CASE(test_taskgroup_16) {
    int wait_rc = 1;
    tr_task *t = tr_spawn(await_nested, &wait_rc);
    CHECK_EQ(tr_sleep(5 * MS), 0);
    CHECK_EQ(tr_task_cancel(t), 1);
    CHECK_EQ(tr_await(t, NULL), -ECANCELED);
    CHECK_EQ(wait_rc, -EDOM);
    tr_task_release(t);
    return NULL;
}

/* test_taskgroup_17: an empty group; the body is cancelled. Nothing to wait for: 0, and the
 * task ends cancelled all the same. */
static void *empty_body(void *arg) {
    int *rc = arg;
    tr_group *g = new_group();
    CHECK_EQ(tr_sleep(10000 * MS), -ECANCELED);
    *rc = tr_group_wait(g);
    CHECK_EQ(tr_group_free(g), 0);
    return NULL;
}

TASK_CASE(test_taskgroup_17) {
    int rc = 1;
    tr_task *t = tr_spawn(empty_body, &rc);
    CHECK_EQ(tr_sleep(2 * MS), 0);
    CHECK_EQ(tr_task_cancel(t), 1);
    CHECK_EQ(tr_await(t, NULL), -ECANCELED);
    CHECK_EQ(rc, 0);
    tr_task_release(t);
    return NULL;
}

/* test_taskgroup_22: cancelled while waiting for two healthy members. */
TASK_CASE(test_taskgroup_22) {
    struct runner r = {.members = 2};
    r.jobs[0] = ok_after(1000, 42);
    r.jobs[1] = ok_after(2000, 11);
    run_cancelled_runner(&r, 2 * MS, -ECANCELED);
    CHECK_EQ(r.wait_rc, -ECANCELED);
    CHECK_EQ(r.cancelled_members, 2);
    return NULL;
}

/* test_taskgroup_23: finished members leave the count while others are added. */
TASK_CASE(test_taskgroup_23) {
    tr_group *g = new_group();
    struct job j[10];
    for (int count = 0; count < 10; count++) {
        CHECK_EQ(tr_sleep(2 * MS), 0);
        j[count] = ok_after(5, 0);
        spawn_in(g, &j[count]);
        if (count == 5)
            CHECK(tr_group_size(g) < 5);
    }
    uint64_t end = now_ns() + 5000 * MS;
    while (tr_group_size(g) > 0) { /* each ends 5 ms after it began */
        CHECK(now_ns() < end);
        CHECK_EQ(tr_sleep(MS), 0);
    }
    CHECK_EQ(tr_group_wait(g), 0);
    CHECK_EQ(tr_group_free(g), 0);
    return NULL;
}

/* test_taskgroup_24: a member adds members to its own group; the wait covers them. */
struct root {
    tr_group *g;
    struct job kids[2];
};

static void *root_body(void *arg) {
    struct root *r = arg;
    CHECK_EQ(tr_sleep(2 * MS), 0);
    r->kids[0] = ok_after(2, 0);
    r->kids[1] = ok_after(4, 0);
    spawn_in(r->g, &r->kids[0]);
    spawn_in(r->g, &r->kids[1]);
    return NULL;
}

TASK_CASE(test_taskgroup_24) {
    struct root r = {.g = new_group()};
    CHECK(tr_group_spawn(r.g, root_body, &r));
    CHECK_EQ(tr_group_wait(r.g), 0);
    CHECK(r.kids[0].finished && r.kids[1].finished);
    CHECK_EQ(tr_group_free(r.g), 0);
    return NULL;
}

/* test_taskgroup_25: hydras spawn two more each; hercules fails once there are ten. Spawning
 * into the group after the failure is refused (ECANCELED), and the wait returns the failure. */
struct hydra_state {
    tr_group *g;
    int nhydras;
    int refused;
};

static void *hydra(void *arg) {
    struct hydra_state *h = arg;
    h->nhydras++;
    if (tr_sleep(MS) < 0)
        return NULL;
    for (int i = 0; i < 2; i++) {
        errno = 0;
        if (!tr_group_spawn(h->g, hydra, h)) {
            CHECK_EQ(errno, ECANCELED);
            h->refused++;
        }
    }
    return NULL;
}

static void *hercules(void *arg) {
    struct hydra_state *h = arg;
    while (h->nhydras < 10)
        if (tr_sleep(MS) < 0)
            return NULL;
    return tr_fail(-EDOM);
}

TASK_CASE(test_taskgroup_25) {
    struct hydra_state h = {.g = new_group()};
    CHECK(tr_group_spawn(h.g, hydra, &h));
    CHECK(tr_group_spawn(h.g, hercules, &h));
    CHECK_EQ(tr_group_wait(h.g), -EDOM);
    CHECK(h.nhydras >= 10);
    CHECK_EQ(tr_group_size(h.g), 0);
    CHECK_EQ(tr_group_free(h.g), 0);
    return NULL;
}

static void *noop_for_name(void *arg) {
    return arg;
}

/* test_taskgroup_task_name, test_name */
static void *record_name(void *arg) {
    snprintf(arg, 32, "%s", tr_task_name(tr_current()));
    return NULL;
}

TASK_CASE(test_taskgroup_task_name) {
    tr_group *g = new_group();
    char seen[32] = "";
    tr_task *t = tr_group_spawn_named(g, record_name, seen, "yolo");
    CHECK(t != NULL);
    CHECK(strcmp(tr_task_name(t), "yolo") == 0);
    tr_task *u = tr_group_spawn_named(g, noop_for_name, NULL, NULL);
    CHECK(u && strncmp(tr_task_name(u), "Task-", 5) == 0);
    CHECK_EQ(tr_group_wait(g), 0);
    CHECK(strcmp(seen, "yolo") == 0); /* the member's own view of its name */
    CHECK_EQ(tr_group_free(g), 0);
    return NULL;
}

/* test_taskgroup_no_create_task_after_failure: a member cancelled because another failed
 * cannot add members. */
struct late_spawn {
    tr_group *g;
    tr_task *spawned;
    int err;
};

static void *spawn_on_cancel(void *arg) {
    struct late_spawn *l = arg;
    if (tr_sleep(1000 * MS) == -ECANCELED) {
        errno = 0;
        l->spawned = tr_group_spawn(l->g, hydra, NULL);
        l->err = errno;
    }
    return NULL;
}

TASK_CASE(test_taskgroup_no_create_task_after_failure) {
    struct late_spawn l = {.g = new_group()};
    struct job crash = fail_after(1, -EDOM);
    spawn_in(l.g, &crash);
    CHECK(tr_group_spawn(l.g, spawn_on_cancel, &l));
    CHECK_EQ(tr_group_wait(l.g), -EDOM);
    CHECK(l.spawned == NULL);
    CHECK_EQ(l.err, ECANCELED);
    CHECK_EQ(tr_group_free(l.g), 0);
    return NULL;
}

/* test_taskgroup_finished: after a failed or cancelled wait the group takes no more
 * members; after a successful one it may be used again (a bundle). */
TASK_CASE(test_taskgroup_finished) {
    tr_group *g = new_group();
    struct job a = ok_after(1, 0);
    spawn_in(g, &a);
    CHECK_EQ(tr_group_wait(g), 0);
    struct job b = ok_after(1, 7);
    tr_task *t = spawn_in(g, &b);
    CHECK_EQ(tr_group_wait(g), 0);
    CHECK_EQ(value_of(t), 7);
    struct job c = fail_after(1, -EIO);
    spawn_in(g, &c);
    CHECK_EQ(tr_group_wait(g), -EIO);
    errno = 0;
    CHECK(tr_group_spawn(g, job_run, &a) == NULL && errno == ECANCELED);
    CHECK_EQ(tr_group_wait(g), -EIO); /* the same answer again */
    CHECK_EQ(tr_group_free(g), 0);
    return NULL;
}

/* test_taskgroup_not_entered, test_taskgroup_without_parent_task: no group outside a task. */
CASE(test_taskgroup_without_parent_task) {
    errno = 0;
    CHECK(tr_group_new() == NULL && errno == EPERM);
    tr_group *bogus = (tr_group *)&bogus; /* never read: the caller check comes first */
    errno = 0;
    CHECK(tr_group_spawn(bogus, job_run, NULL) == NULL && errno == EPERM);
    CHECK_EQ(tr_group_wait(bogus), -EPERM);
    CHECK_EQ(tr_group_free(bogus), -EPERM);
}

/* test_taskgroup_already_entered, test_taskgroup_double_enter: one waiter at a time. */
static void *wait_group(void *arg) {
    return (void *)(intptr_t)tr_group_wait(arg);
}

TASK_CASE(test_taskgroup_already_entered) {
    tr_group *g = new_group();
    struct job a = ok_after(300, 0);
    spawn_in(g, &a);
    tr_task *w = tr_spawn(wait_group, g);
    CHECK_EQ(tr_yield(), 0);
    CHECK_EQ(tr_group_wait(g), -EBUSY);
    CHECK_EQ(tr_group_free(g), -EBUSY);
    void *rc;
    CHECK_EQ(tr_await(w, &rc), 0);
    CHECK_EQ((intptr_t)rc, 0);
    tr_task_release(w);
    CHECK_EQ(tr_group_free(g), 0);
    return NULL;
}

/* test_cancels_task_if_created_during_creation (gh-128550): a member adds one that fails at
 * once; the adding member is cancelled at its next wait, and the failure is returned. */
struct second {
    tr_group *g;
    bool ran;
    int rc1;
};

static void *third_task(void *arg) {
    (void)arg;
    return tr_fail(-EDOM);
}

static void *second_task(void *arg) {
    struct second *s = arg;
    CHECK(tr_group_spawn(s->g, third_task, NULL));
    s->rc1 = tr_sleep(0);
    int rc2 = tr_sleep(0);
    CHECK(s->rc1 == -ECANCELED || rc2 == -ECANCELED);
    s->ran = true;
    return NULL;
}

TASK_CASE(test_cancels_task_if_created_during_creation) {
    struct second s = {.g = new_group()};
    CHECK(tr_group_spawn(s.g, second_task, &s));
    CHECK_EQ(tr_group_wait(s.g), -EDOM);
    CHECK(s.ran);
    CHECK_EQ(tr_group_free(s.g), 0);
    return NULL;
}

/* test_cancellation_does_not_leak_out_of_tg: after a failed wait the waiting task is not
 * cancelled. */
TASK_CASE(test_cancellation_does_not_leak_out_of_tg) {
    tr_group *g = new_group();
    CHECK(tr_group_spawn(g, third_task, NULL));
    CHECK_EQ(tr_group_wait(g), -EDOM);
    CHECK_EQ(tr_sleep(0), 0);
    CHECK_EQ(tr_sleep(MS), 0);
    CHECK_EQ(tr_group_free(g), 0);
    return NULL;
}

/* test_error_and_cancel: a group whose member failed, then the task that waited on it is
 * cancelled from outside: its later wait is cancelled as usual. */
static void *error_then_sleep(void *arg) {
    int *rcs = arg;
    tr_group *g = new_group();
    CHECK(tr_group_spawn(g, third_task, NULL));
    rcs[0] = tr_group_wait(g);
    CHECK_EQ(tr_group_free(g), 0);
    rcs[1] = tr_sleep(1000 * MS);
    return NULL;
}

TASK_CASE(test_error_and_cancel) {
    int rcs[2] = {1, 1};
    tr_task *t = tr_spawn(error_then_sleep, rcs);
    uint64_t end = now_ns() + 5000 * MS;
    while (rcs[0] == 1) { /* until its group wait has returned */
        CHECK(now_ns() < end);
        CHECK_EQ(tr_sleep(MS), 0);
    }
    CHECK_EQ(rcs[0], -EDOM);
    CHECK_EQ(tr_task_cancel(t), 1);
    CHECK_EQ(tr_await(t, NULL), -ECANCELED);
    CHECK_EQ(rcs[1], -ECANCELED);
    tr_task_release(t);
    return NULL;
}

/* ---- beyond the ports ------------------------------------------------------------------------ */

/* Members are ordinary tasks: tr_all_tasks lists them. */
TASK_CASE(group_members_in_all_tasks) {
    tr_group *g = new_group();
    struct job j[3] = {ok_after(20, 0), ok_after(20, 0), ok_after(20, 0)};
    tr_task *m[3];
    for (int i = 0; i < 3; i++)
        m[i] = spawn_in(g, &j[i]);
    tr_taskset *s = tr_all_tasks();
    CHECK(s != NULL);
    int found = 0;
    for (size_t i = 0; i < tr_taskset_size(s); i++)
        for (int k = 0; k < 3; k++)
            found += tr_taskset_get(s, i) == m[k];
    CHECK_EQ(found, 3);
    tr_taskset_free(s);
    CHECK_EQ(tr_group_wait(g), 0);
    CHECK_EQ(tr_group_free(g), 0);
    return NULL;
}

/* A member waiting on (or freeing) its own group would wait for itself. */
static void *wait_own_group(void *arg) {
    tr_group *g = arg;
    CHECK_EQ(tr_group_wait(g), -EDEADLK);
    CHECK_EQ(tr_group_free(g), -EDEADLK);
    return NULL;
}

TASK_CASE(group_member_waits_own_group) {
    tr_group *g = new_group();
    CHECK(tr_group_spawn(g, wait_own_group, g));
    CHECK_EQ(tr_group_wait(g), 0);
    CHECK_EQ(tr_group_free(g), 0);
    return NULL;
}

TASK_CASE(group_bad_input) {
    errno = 0;
    CHECK(tr_group_spawn(NULL, noop_for_name, NULL) == NULL && errno == EINVAL);
    tr_group *g = new_group();
    errno = 0;
    CHECK(tr_group_spawn(g, NULL, NULL) == NULL && errno == EINVAL);
    CHECK(tr_group_spawn_named(NULL, noop_for_name, NULL, "x") == NULL && errno == EINVAL);
    CHECK_EQ(tr_group_wait(NULL), -EINVAL);
    CHECK_EQ(tr_group_cancel(NULL), -EINVAL);
    CHECK_EQ(tr_group_size(NULL), 0);
    CHECK_EQ(tr_group_free(NULL), 0);
    CHECK_EQ(tr_group_size(g), 0);
    CHECK_EQ(tr_group_wait(g), 0); /* empty: nothing to wait for */
    CHECK_EQ(tr_group_cancel(g), 0);
    CHECK_EQ(tr_group_wait(g), -ECANCELED);
    CHECK_EQ(tr_group_free(g), 0);
    /* Another loop's group. */
    struct foreign f;
    foreign_start(&f);
    tr_group *fg = atomic_load(&f.group);
    errno = 0;
    CHECK(tr_group_spawn(fg, noop_for_name, NULL) == NULL && errno == EPERM);
    CHECK_EQ(tr_group_wait(fg), -EPERM);
    CHECK_EQ(tr_group_cancel(fg), -EPERM);
    CHECK_EQ(tr_group_free(fg), -EPERM);
    CHECK_EQ(tr_group_size(fg), 1); /* any thread */
    foreign_stop(&f);
    return NULL;
}

/* The deadline scope of the waiting task ends: members are cancelled, and waited for even
 * though their cleanup outlasts the deadline. */
TASK_CASE(group_deadline_expires) {
    tr_group *g = new_group();
    struct job a = {.sleep_ns = 10000 * MS, .cleanup_ns = 20 * MS};
    struct job b = ok_after(1, 0);
    spawn_in(g, &a);
    spawn_in(g, &b);
    CHECK_EQ(tr_yield(), 0); /* they start: the scope below must not find them unstarted */
    tr_deadline d;
    CHECK_EQ(tr_deadline_begin(&d, 5 * MS), 0);
    uint64_t t0 = now_ns();
    CHECK_EQ(tr_group_wait(g), -ETIME);
    CHECK(now_ns() - t0 >= 24 * MS);
    CHECK(a.finished && a.cleanup_rc == 0);
    CHECK_EQ(tr_group_size(g), 0);
    tr_deadline_end(&d);
    errno = 0;
    CHECK(tr_group_spawn(g, job_run, &b) == NULL && errno == ECANCELED);
    CHECK_EQ(tr_group_free(g), 0);
    return NULL;
}

/* The waiting task cancelled while the group waits for its cancelled members: held back
 * until they are done (no member outlives the wait). */
TASK_CASE(group_cancelled_while_settling) {
    struct runner r = {.members = 2};
    r.jobs[0] = (struct job){.sleep_ns = 10000 * MS, .cleanup_ns = 200 * MS};
    r.jobs[1] = fail_after(2, -EIO);
    tr_task *t = tr_spawn(runner_body, &r);
    uint64_t end = now_ns() + 5000 * MS;
    while (!r.jobs[0].saw_cancel) { /* the failure cancels member 0: it cleans up */
        CHECK(now_ns() < end);
        CHECK_EQ(tr_sleep(MS), 0);
    }
    CHECK(!r.waited);
    CHECK_EQ(tr_task_cancel(t), 1);
    CHECK_EQ(tr_await(t, NULL), -ECANCELED);
    CHECK_EQ(r.wait_rc, -EIO);
    CHECK(r.jobs[0].finished && r.jobs[0].cleanup_rc == 0);
    tr_task_release(t);
    return NULL;
}

/* Every member done, then the waiting task cancelled before it resumed: the outcome stands,
 * the cancellation comes with the next wait. */
struct late {
    tr_group *g;
    tr_task *victim;
    int rc, next_rc;
};

static void *cancel_victim_when_empty(void *arg) {
    struct late *l = arg;
    while (tr_group_size(l->g) > 0)
        tr_yield();
    tr_task_cancel(l->victim);
    return NULL;
}

static void *finish_now(void *arg) {
    return arg;
}

static void *group_then_sleep(void *arg) {
    struct late *l = arg;
    l->g = new_group();
    CHECK(tr_group_spawn(l->g, finish_now, NULL));
    tr_task *c = tr_spawn(cancel_victim_when_empty, l);
    l->rc = tr_group_wait(l->g);
    l->next_rc = tr_sleep(MS);
    CHECK_EQ(tr_group_free(l->g), 0);
    tr_task_release(c);
    return NULL;
}

TASK_CASE(group_cancelled_after_all_done) {
    struct late l = {0};
    l.victim = tr_spawn(group_then_sleep, &l);
    CHECK_EQ(tr_await(l.victim, NULL), -ECANCELED);
    CHECK_EQ(l.rc, 0);
    CHECK_EQ(l.next_rc, -ECANCELED);
    tr_task_release(l.victim);
    return NULL;
}

/* Already cancelled when it calls tr_group_wait. */
static void *pre_cancelled_wait(void *arg) {
    struct runner *r = arg;
    tr_group *g = new_group();
    for (int i = 0; i < r->members; i++)
        r->tasks[i] = spawn_in(g, &r->jobs[i]);
    CHECK_EQ(tr_yield(), 0); /* the members start, and sleep */
    CHECK_EQ(tr_task_cancel(tr_current()), 1);
    r->wait_rc = tr_group_wait(g);
    for (int i = 0; i < r->members; i++)
        r->cancelled_members += r->jobs[i].finished && tr_task_cancelled(r->tasks[i]);
    CHECK_EQ(tr_group_free(g), 0);
    return NULL;
}

TASK_CASE(group_caller_cancelled_before) {
    struct runner r = {.members = 3};
    for (int i = 0; i < 3; i++)
        r.jobs[i] = (struct job){.sleep_ns = 1000 * MS, .cleanup_ns = 2 * MS};
    tr_task *t = tr_spawn(pre_cancelled_wait, &r);
    CHECK_EQ(tr_await(t, NULL), -ECANCELED);
    CHECK_EQ(r.wait_rc, -ECANCELED);
    CHECK_EQ(r.cancelled_members, 3);
    tr_task_release(t);
    return NULL;
}

/* tr_group_free with members running cancels them and waits; tr_group_cancel counts. */
TASK_CASE(group_free_with_members_running) {
    tr_group *g = new_group();
    struct job j[3] = {
        ok_after(1000, 0), {.sleep_ns = 1000 * MS, .cleanup_ns = 5 * MS}, ok_after(0, 0)};
    for (int i = 0; i < 3; i++)
        spawn_in(g, &j[i]);
    CHECK_EQ(tr_sleep(MS), 0);
    CHECK_EQ(tr_group_size(g), 2);
    CHECK_EQ(tr_group_free(g), 0);
    CHECK(j[0].finished && j[0].saw_cancel && j[1].finished && j[1].cleanup_rc == 0);
    return NULL;
}

/* Members spawned across several blocks of sub-waiters, some failing late: one error, every
 * member done, nothing left behind. */
TASK_CASE(group_many_members) {
    enum { N = 300 };
    static struct job j[N];
    tr_group *g = new_group();
    for (int i = 0; i < N; i++) {
        j[i] = i == 250 ? fail_after(50, -EIO) : ok_after(i % 2 ? 0 : 1000, 0);
        spawn_in(g, &j[i]);
    }
    CHECK_EQ(tr_group_size(g), N);
    CHECK_EQ(tr_group_wait(g), -EIO);
    CHECK_EQ(tr_group_size(g), 0);
    for (int i = 0; i < N; i++)
        CHECK(j[i].finished);
    CHECK(j[0].saw_cancel && !j[1].saw_cancel);
    CHECK_EQ(tr_group_free(g), 0);
    return NULL;
}

/* The last member ends, and before the waiting task resumes another task adds a member: the
 * wait goes on until that one is done too (no member outlives the wait). */
struct late_member {
    tr_group *g;
    struct job job;
    bool spawned;
};

static void *spawn_when_empty(void *arg) {
    struct late_member *l = arg;
    while (tr_group_size(l->g) > 0)
        tr_yield();
    l->job = (struct job){.sleep_ns = 20 * MS};
    l->spawned = tr_group_spawn(l->g, job_run, &l->job) != NULL;
    return NULL;
}

TASK_CASE(group_member_added_while_wait_wakes) {
    struct late_member l = {.g = new_group()};
    CHECK(tr_group_spawn(l.g, finish_now, NULL));
    tr_task *h = tr_spawn(spawn_when_empty, &l);
    CHECK_EQ(tr_group_wait(l.g), 0);
    CHECK(l.spawned && l.job.finished);
    CHECK_EQ(tr_group_size(l.g), 0);
    CHECK_EQ(tr_await(h, NULL), 0);
    tr_task_release(h);
    CHECK_EQ(tr_group_free(l.g), 0);
    return NULL;
}
