/*
 * Every allocation on the paths of the combinators and groups fails once, in turn
 * (tests/failalloc/failalloc.h): tr_gather and tr_wait with more tasks than fit on the stack,
 * and in a deadline scope (the caller's timer), tr_as_completed, tr_completed_next in a
 * scope, tr_wait_for, tr_group_new, tr_group_spawn across block boundaries,
 * tr_group_spawn_named, tr_group_wait in a scope. Each failure must give its documented
 * error, lose nothing (the tasks run to their end, the group is as it was) and leak nothing
 * (valgrind and ASan check at exit).
 */
#include "tasks_test.h"

#include "failalloc.h"

enum { N = 20 }; /* more than the sub-waiters kept on the caller's stack */

static struct job jobs[N];
static tr_task *tasks[N];

/* Members that have started (their stacks exist) and keep yielding, so that while the call
 * under test waits nothing else allocates; and an anchor task sleeping long, so that the
 * caller's timer goes into the loop's timer heap (which grows by allocation: the first push
 * of a loop allocates it) rather than the list of in-order deadlines. */
static tr_task *anchor;
static struct job anchor_job = {.sleep_ns = 100000 * MS};

static void start(void) {
    if (!anchor) {
        anchor = tr_spawn(job_run, &anchor_job);
        CHECK(anchor != NULL);
        tr_task_release(anchor); /* cancelled when tr_run ends */
    }
    for (int i = 0; i < N; i++) {
        jobs[i] = (struct job){.yields = 10, .value = (void *)(intptr_t)(i + 1)};
        tasks[i] = spawn_job(&jobs[i]);
    }
    CHECK_EQ(tr_yield(), 0);
}

static void finish(void) {
    CHECK_EQ(tr_wait(tasks, N, TR_ALL_COMPLETED), N);
    for (int i = 0; i < N; i++) {
        CHECK(jobs[i].finished && !jobs[i].saw_cancel);
        CHECK_EQ(tr_task_error(tasks[i]), 0);
        tr_task_release(tasks[i]);
    }
}

/* The allocation failure being armed: `call` brackets the one call under test with these, so
 * that its own setup (spawning members) and checks allocate freely. */
static long fail_at;
static bool injected_now;

static void arm(void) {
    failalloc_arm(fail_at);
}

static void disarm(void) {
    injected_now = failalloc_injected();
    failalloc_disarm();
}

/* Run `call` with the n-th allocation of the call under test failing, n = 0, 1, ... until
 * it needs none; `call` returns 0 on success, -ENOMEM when it failed. Returns how many
 * allocations it made. */
static long exhaust(int (*call)(void *), void *arg, const char *what) {
    for (long n = 0;; n++) {
        fail_at = n;
        injected_now = false;
        int rc = call(arg);
        if (!injected_now) {
            if (rc != 0) {
                fprintf(stderr, "%s: failed with %d and no injected failure\n", what, rc);
                exit(1);
            }
            return n;
        }
        if (rc != -ENOMEM) {
            fprintf(stderr, "%s: allocation %ld failed, call returned %d, not -ENOMEM\n", what, n,
                    rc);
            exit(1);
        }
    }
}

static int gather_call(void *arg) {
    bool scoped = arg != NULL;
    start();
    void *res[N];
    int err[N];
    tr_deadline d;
    if (scoped)
        CHECK_EQ(tr_deadline_begin(&d, 10000 * MS), 0);
    arm();
    int rc = tr_gather(tasks, N, res, err);
    disarm();
    if (scoped)
        tr_deadline_end(&d);
    if (rc == 0)
        for (int i = 0; i < N; i++)
            CHECK_EQ((intptr_t)res[i], i + 1);
    else
        for (int i = 0; i < N; i++) /* the state at the time: running, or done */
            CHECK(err[i] == -EBUSY || (err[i] == 0 && (intptr_t)res[i] == i + 1));
    finish();
    return rc;
}

static int wait_call(void *arg) {
    bool scoped = arg != NULL;
    start();
    tr_deadline d;
    if (scoped)
        CHECK_EQ(tr_deadline_begin(&d, 10000 * MS), 0);
    arm();
    int rc = tr_wait(tasks, N, TR_ALL_COMPLETED);
    disarm();
    if (scoped)
        tr_deadline_end(&d);
    finish();
    return rc == N ? 0 : rc;
}

/* The caller's timer is armed in the loop's timer heap, which grows by allocation: in a
 * fresh loop the first scoped wait allocates it. Each test below runs in its own tr_run. */
TASK_CASE(gather_many) {
    anchor = NULL; /* a new loop */
    CHECK(exhaust(gather_call, NULL, "tr_gather") >= 1);
    return NULL;
}

TASK_CASE(gather_many_in_deadline_scope) {
    anchor = NULL; /* a new loop */
    CHECK(exhaust(gather_call, "scoped", "tr_gather in a scope") >= 2);
    return NULL;
}

TASK_CASE(wait_many) {
    anchor = NULL; /* a new loop */
    CHECK(exhaust(wait_call, NULL, "tr_wait") >= 1);
    return NULL;
}

TASK_CASE(wait_many_in_deadline_scope) {
    anchor = NULL; /* a new loop */
    CHECK(exhaust(wait_call, "scoped", "tr_wait in a scope") >= 2);
    return NULL;
}

static int as_completed_call(void *arg) {
    bool scoped = arg != NULL;
    start();
    errno = 0;
    if (!scoped)
        arm();
    tr_completed *it = tr_as_completed(tasks, N);
    if (!scoped)
        disarm();
    int rc = 0;
    if (!it) {
        CHECK_EQ(errno, ENOMEM);
        rc = -ENOMEM;
    } else {
        tr_deadline d;
        if (scoped)
            CHECK_EQ(tr_deadline_begin(&d, 10000 * MS), 0);
        tr_task *t;
        int got = 0, r;
        if (scoped)
            arm();
        r = tr_completed_next(it, &t);
        if (scoped)
            disarm();
        if (r == -ENOMEM) {
            rc = -ENOMEM;
            r = tr_completed_next(it, &t); /* call again to go on */
        }
        CHECK_EQ(r, 1);
        got++;
        while ((r = tr_completed_next(it, &t)) == 1)
            got++;
        CHECK_EQ(r, 0);
        CHECK_EQ(got, N);
        if (scoped)
            tr_deadline_end(&d);
        tr_completed_free(it);
    }
    finish();
    return rc;
}

TASK_CASE(as_completed) {
    anchor = NULL; /* a new loop */
    CHECK(exhaust(as_completed_call, NULL, "tr_as_completed") >= 1);
    return NULL;
}

TASK_CASE(as_completed_next_in_deadline_scope) {
    anchor = NULL; /* a new loop */
    CHECK(exhaust(as_completed_call, "scoped", "tr_completed_next in a scope") >= 1);
    return NULL;
}

/* tr_wait_for arms a timer: without memory for it nothing waits, t runs on. */
static int wait_for_call(void *arg) {
    (void)arg;
    start();
    void *res = NULL;
    arm();
    int rc = tr_wait_for(tasks[0], 10000 * MS, &res);
    disarm();
    if (rc == 0)
        CHECK_EQ((intptr_t)res, 1);
    finish();
    return rc;
}

TASK_CASE(wait_for) {
    anchor = NULL; /* a new loop */
    CHECK(exhaust(wait_for_call, NULL, "tr_wait_for") >= 1);
    return NULL;
}

static int group_new_call(void *arg) {
    (void)arg;
    errno = 0;
    arm();
    tr_group *g = tr_group_new();
    disarm();
    if (!g) {
        CHECK_EQ(errno, ENOMEM);
        return -ENOMEM;
    }
    CHECK_EQ(tr_group_free(g), 0);
    return 0;
}

TASK_CASE(group_new) {
    anchor = NULL; /* a new loop */
    CHECK(exhaust(group_new_call, NULL, "tr_group_new") >= 1);
    return NULL;
}

/* One spawn into g; a failure leaves the group as it was. */
struct spawn_arg {
    tr_group *g;
    const char *name;
    int spawned;
    struct job jobs[60];
};

static int group_spawn_call(void *arg) {
    struct spawn_arg *s = arg;
    size_t before = tr_group_size(s->g);
    struct job *j = &s->jobs[s->spawned];
    *j = (struct job){.sleep_ns = 2 * MS};
    errno = 0;
    arm();
    tr_task *t = s->name ? tr_group_spawn_named(s->g, job_run, j, s->name)
                         : tr_group_spawn(s->g, job_run, j);
    disarm();
    if (!t) {
        CHECK_EQ(errno, ENOMEM);
        CHECK_EQ(tr_group_size(s->g), before);
        return -ENOMEM;
    }
    CHECK_EQ(tr_group_size(s->g), before + 1);
    if (s->name)
        CHECK(strcmp(tr_task_name(t), s->name) == 0);
    s->spawned++;
    return 0;
}

static void spawn_many(const char *name) {
    static struct spawn_arg s;
    memset(&s, 0, sizeof s);
    s.g = tr_group_new();
    s.name = name;
    CHECK(s.g != NULL);
    long total = 0;
    /* 60 members: across the first blocks of sub-waiters (16, then 32 more). */
    for (int k = 0; k < 60; k++)
        total += exhaust(group_spawn_call, &s, "tr_group_spawn");
    CHECK_EQ(s.spawned, 60);
    CHECK(total >= 3); /* at least the three blocks */
    CHECK_EQ(tr_group_wait(s.g), 0);
    for (int k = 0; k < 60; k++)
        CHECK(s.jobs[k].finished && !s.jobs[k].saw_cancel);
    CHECK_EQ(tr_group_free(s.g), 0);
}

TASK_CASE(group_spawn) {
    anchor = NULL; /* a new loop */
    spawn_many(NULL);
    return NULL;
}

TASK_CASE(group_spawn_named) {
    anchor = NULL; /* a new loop */
    spawn_many("member-with-a-name");
    return NULL;
}

/* tr_group_wait in a scope arms the caller's timer: without memory, the members are
 * cancelled and waited for (no member outlives the wait), and it returns -ENOMEM. */
static int group_wait_call(long fail) {
    start(); /* the anchor, and members to ignore */
    finish();
    tr_group *g = tr_group_new();
    CHECK(g != NULL);
    struct job j[3];
    for (int i = 0; i < 3; i++) {
        j[i] = (struct job){.yields = 10, .sleep_ns = 3 * MS};
        CHECK(tr_group_spawn(g, job_run, &j[i]));
    }
    CHECK_EQ(tr_yield(), 0);
    tr_deadline d;
    CHECK_EQ(tr_deadline_begin(&d, 10000 * MS), 0);
    fail_at = fail;
    arm();
    int rc = tr_group_wait(g);
    disarm();
    bool injected = injected_now;
    tr_deadline_end(&d);
    CHECK_EQ(tr_group_size(g), 0);
    for (int i = 0; i < 3; i++)
        CHECK(j[i].finished && j[i].saw_cancel == injected);
    CHECK_EQ(tr_group_free(g), 0);
    CHECK_EQ(rc, injected ? -ENOMEM : 0);
    return injected;
}

TASK_CASE(group_wait_in_deadline_scope) {
    anchor = NULL;                      /* a new loop */
    CHECK_EQ(group_wait_call(0), 1);    /* first use of the timer heap: it allocates */
    CHECK_EQ(group_wait_call(1000), 0); /* the same wait, with the memory it needs */
    return NULL;
}
