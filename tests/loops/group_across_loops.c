/*
 * A task group made on loop 1, used from loop 0: tr_group_spawn from loop 0 makes members
 * that run on loop 1 (the group's loop), tr_group_wait from loop 0 waits for them all,
 * tr_group_size reads from loop 0, tr_group_cancel from loop 0 cancels every member, the
 * first member to fail cancels the others (and the wait returns its error), and
 * tr_group_free from loop 0 frees it.
 */
#include "loops.h"

static void *make_group(void *arg) {
    (void)arg;
    CHECK_LOOP(1);
    tr_group *g = tr_group_new();
    CHECK(g != NULL);
    return g;
}

static _Atomic int finished_ok;

struct go {
    tr_event *go;     /* of loop 0: members wait for it */
    tr_event *nested; /* of loop 0: the nested member is spawned */
    tr_group *g;
};

static struct go go;

/* arg: the value it returns, once `go` is set. */
static void *member(void *arg) {
    CHECK_LOOP(1);
    CHECK_EQ(tr_event_wait(go.go), 0);
    CHECK_LOOP(1);
    atomic_fetch_add(&finished_ok, 1);
    return arg;
}

struct forever {
    tr_event *started; /* of loop 0 */
    _Atomic int rc_cancelled;
};

static void *sleeps_forever(void *arg) {
    struct forever *f = arg;
    CHECK_LOOP(1);
    CHECK_EQ(tr_event_set(f->started), 0);
    int rc = tr_sleep(30000 * MS);
    if (rc == -ECANCELED)
        atomic_fetch_add(&f->rc_cancelled, 1);
    return NULL;
}

static void *fails_after_start(void *arg) {
    struct forever *f = arg;
    CHECK_LOOP(1);
    CHECK_EQ(tr_event_wait(f->started), 0); /* after the first sleeper started */
    return tr_fail(-EPROTO);
}

/* A member that spawns another member into its own group (from loop 1, the group's loop). */
static void *spawns_member(void *arg) {
    (void)arg;
    CHECK_LOOP(1);
    CHECK(tr_group_spawn(go.g, member, (void *)9) != NULL);
    CHECK_EQ(tr_event_set(go.nested), 0);
    CHECK_EQ(tr_event_wait(go.go), 0);
    return NULL;
}

static void spawn_and_wait(void) {
    tr_group *g = on_loop(1, make_group, NULL);
    go.g = g;
    go.go = tr_event_new();
    go.nested = tr_event_new();
    atomic_store(&finished_ok, 0);
    tr_task *m[4];
    for (int i = 0; i < 4; i++) {
        m[i] = tr_group_spawn(g, member, (void *)(uintptr_t)(i + 1));
        CHECK(m[i] != NULL);
    }
    CHECK(tr_group_spawn_named(g, spawns_member, NULL, "spawns-member") != NULL);
    CHECK_EQ(tr_event_wait(go.nested), 0);
    CHECK_EQ(tr_group_size(g), 6); /* 4, the spawner and its member: all wait for `go` */
    CHECK_EQ(atomic_load(&finished_ok), 0);
    CHECK_EQ(tr_event_set(go.go), 0);
    CHECK_LOOP(0);
    CHECK_EQ(tr_group_wait(g), 0); /* the nested member too */
    CHECK_LOOP(0);
    CHECK_EQ(tr_group_size(g), 0);
    CHECK_EQ(atomic_load(&finished_ok), 5);
    for (int i = 0; i < 4; i++) {
        CHECK(tr_task_done(m[i]));
        void *res = NULL;
        CHECK_EQ(tr_await(m[i], &res), 0); /* borrowed: no release */
        CHECK(res == (void *)(uintptr_t)(i + 1));
    }
    /* After a wait that returned 0 the group takes new members. */
    CHECK(tr_group_spawn(g, member, (void *)1) != NULL);
    CHECK_EQ(tr_group_wait(g), 0);
    CHECK_EQ(atomic_load(&finished_ok), 6);
    CHECK_EQ(tr_group_free(g), 0);
    CHECK_EQ(tr_event_free(go.go), 0);
    CHECK_EQ(tr_event_free(go.nested), 0);
}

static void cancel_from_other_loop(void) {
    tr_group *g = on_loop(1, make_group, NULL);
    struct forever f = {0};
    f.started = tr_event_new();
    enum { N = 3 };
    for (int i = 0; i < N; i++)
        CHECK(tr_group_spawn(g, sleeps_forever, &f) != NULL);
    CHECK_EQ(tr_event_wait(f.started), 0);
    CHECK_EQ(tr_group_cancel(g), N); /* all still running */
    CHECK_EQ(tr_group_wait(g), -ECANCELED);
    CHECK_EQ(tr_group_size(g), 0);
    /* each sleep that had begun returned -ECANCELED; one that had not never ran */
    CHECK(atomic_load(&f.rc_cancelled) >= 1 && atomic_load(&f.rc_cancelled) <= N);
    errno = 0;
    CHECK(tr_group_spawn(g, member, NULL) == NULL); /* cancelling: no new members */
    CHECK_EQ(errno, ECANCELED);
    CHECK_EQ(tr_group_cancel(g), 0);
    CHECK_EQ(tr_group_free(g), 0);
    CHECK_EQ(tr_event_free(f.started), 0);
}

static void failure_cancels_others(void) {
    tr_group *g = on_loop(1, make_group, NULL);
    struct forever f = {0};
    f.started = tr_event_new();
    tr_task *s1 = tr_group_spawn_named(g, sleeps_forever, &f, "sleeper-1");
    tr_task *s2 = tr_group_spawn_named(g, sleeps_forever, &f, "sleeper-2");
    tr_task *bad = tr_group_spawn_named(g, fails_after_start, &f, "fails");
    CHECK(s1 && s2 && bad);
    uint64_t t0 = now_ns();
    CHECK_EQ(tr_group_wait(g), -EPROTO);
    CHECK(now_ns() - t0 < 10000 * MS);
    CHECK(tr_task_done(s1) && tr_task_done(s2) && tr_task_done(bad));
    CHECK(tr_task_cancelled(s1));
    CHECK(tr_task_cancelled(s2));
    CHECK_EQ(tr_task_error(bad), -EPROTO);
    CHECK_EQ(atomic_load(&f.rc_cancelled), 2); /* both had started (`started` was set) */
    CHECK_EQ(tr_group_free(g), 0);
    CHECK_EQ(tr_event_free(f.started), 0);
}

/* tr_group_free from loop 0 with members still running: they are cancelled and waited for. */
static void free_with_members(void) {
    tr_group *g = on_loop(1, make_group, NULL);
    struct forever f = {0};
    f.started = tr_event_new();
    tr_task *m = tr_group_spawn(g, sleeps_forever, &f);
    CHECK(m != NULL);
    tr_task *held = tr_task_retain(m); /* the group drops its reference at free */
    CHECK(held == m);
    CHECK_EQ(tr_event_wait(f.started), 0);
    CHECK_EQ(tr_group_free(g), 0);
    CHECK(tr_task_done(held) && tr_task_cancelled(held));
    CHECK_EQ(atomic_load(&f.rc_cancelled), 1);
    tr_task_release(held);
    CHECK_EQ(tr_event_free(f.started), 0);
}

static void *main_task(void *arg) {
    int rounds = *(int *)arg;
    CHECK_EQ(tr_loop_count(), 2);
    for (int i = 0; i < rounds; i++) {
        spawn_and_wait();
        cancel_from_other_loop();
        failure_cancels_others();
        free_with_members();
    }
    return NULL;
}

int main(void) {
    int rounds = RUNNING_ON_VALGRIND ? 2 : 10;
    CHECK_EQ(run_loops(2, main_task, &rounds, NULL), 0);
    printf("groups of loop 1 used from loop 0: %d rounds\n", rounds);
    return 0;
}
