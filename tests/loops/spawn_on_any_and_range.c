/*
 * tr_spawn_on and the loop queries: a task spawned on loop i runs there (tr_loop_id() == i,
 * tr_loop_count() the same everywhere), a loop out of range or a NULL function is refused
 * (NULL + EINVAL), the calls are refused outside a loop (NULL + EPERM, tr_loop_id -EPERM,
 * tr_loop_count 0) and once main has returned (NULL + ESHUTDOWN). TR_LOOP_ANY takes the loop
 * with the fewest live tasks, so that tasks spread evenly, and breaks ties round-robin. The
 * loop count comes from tr_options.loops or TASKRING_LOOPS ("cpus" included), and bad values
 * are refused (-EINVAL).
 */
#include "loops.h"

#include <stdatomic.h>

static void *where(void *arg) {
    (void)arg;
    CHECK_EQ(tr_loop_count(), 3);
    return (void *)(intptr_t)tr_loop_id();
}

static void *nothing(void *arg) {
    return arg;
}

/* ---- loops in range, and out ---------------------------------------------------------------- */

static void ranges(void) {
    CHECK_EQ(tr_loop_id(), 0);
    CHECK_EQ(tr_loop_count(), 3);
    for (unsigned i = 0; i < 3; i++) {
        tr_task *t = tr_spawn_on(i, where, NULL);
        CHECK(t != NULL);
        CHECK_EQ((intptr_t)await_release(t, 0), i);
        t = tr_spawn_on_named(i, where, NULL, "named-on");
        CHECK(t != NULL && strcmp(tr_task_name(t), "named-on") == 0);
        CHECK_EQ((intptr_t)await_release(t, 0), i);
    }
    errno = 0;
    CHECK(tr_spawn_on(3, nothing, NULL) == NULL);
    CHECK_EQ(errno, EINVAL);
    errno = 0;
    CHECK(tr_spawn_on(TR_LOOP_ANY - 1, nothing, NULL) == NULL);
    CHECK_EQ(errno, EINVAL);
    errno = 0;
    CHECK(tr_spawn_on_named(1, NULL, NULL, "x") == NULL);
    CHECK_EQ(errno, EINVAL);
    errno = 0;
    CHECK(tr_spawn_on(TR_LOOP_ANY, NULL, NULL) == NULL);
    CHECK_EQ(errno, EINVAL);
    errno = 0;
    CHECK(tr_loop_tasks(3) == NULL);
    CHECK_EQ(errno, EINVAL);
}

/* ---- TR_LOOP_ANY ------------------------------------------------------------------------------
 *
 * A loop publishes its live count once per turn; TR_LOOP_ANY reads what was published. So
 * that every count is current when a choice is made, main makes a round trip to each loop
 * after each spawn (tr_event_is_set on an event of that loop): a loop that runs main has
 * published the count of the turn before, which includes the task spawned there.
 */
struct any {
    tr_event *own[3];  /* of loops 0, 1, 2 */
    tr_event *release; /* of loop 0: the parked tasks wait on it */
};

static void settle(struct any *a) {
    for (int k = 0; k < 2; k++)
        for (int i = 1; i < 3; i++)
            CHECK(!tr_event_is_set(a->own[i]));
}

static void *parked(void *arg) {
    struct any *a = arg;
    CHECK_EQ(tr_event_wait(a->release), 0);
    return (void *)(intptr_t)tr_loop_id();
}

static void any_spreads(struct any *a) {
    enum { K = 8, N = 3 * K };
    tr_task *t[N];
    settle(a);
    for (int i = 0; i < N; i++) {
        t[i] = tr_spawn_on(TR_LOOP_ANY, parked, a);
        CHECK(t[i] != NULL);
        settle(a);
    }
    /* Main counts on loop 0: 3K + 1 live tasks in all, each loop's snapshot its own. */
    int listed[3];
    for (unsigned l = 0; l < 3; l++) {
        tr_taskset *s = tr_loop_tasks(l);
        CHECK(s != NULL);
        listed[l] = (int)tr_taskset_size(s);
        tr_taskset_free(s);
    }
    CHECK_EQ(listed[0] + listed[1] + listed[2], N + 1);
    CHECK_EQ(tr_event_set(a->release), 0);
    int per[3] = {0, 0, 0};
    for (int i = 0; i < N; i++) {
        intptr_t l = (intptr_t)await_release(t[i], 0);
        CHECK(l >= 0 && l < 3);
        per[l]++;
    }
    int with_main[3] = {per[0] + 1, per[1], per[2]};
    for (int l = 0; l < 3; l++)
        CHECK_EQ(listed[l], with_main[l]);
    int lo = with_main[0], hi = with_main[0];
    for (int l = 1; l < 3; l++) {
        lo = with_main[l] < lo ? with_main[l] : lo;
        hi = with_main[l] > hi ? with_main[l] : hi;
    }
    if (hi - lo > 1) {
        fprintf(stderr, "TR_LOOP_ANY spread %d + main, %d, %d\n", per[0], per[1], per[2]);
        exit(1);
    }
    CHECK_EQ(tr_event_clear(a->release), 0);
}

/* Ties: with every count settled, main's loop has one task (main) and loops 1 and 2 none, so
 * each spawn is a tie between loops 1 and 2: round-robin gives each of them half. */
static void any_ties_round_robin(struct any *a) {
    enum { N = 12 };
    int per[3] = {0, 0, 0};
    settle(a);
    for (int i = 0; i < N; i++) {
        tr_task *t = tr_spawn_on(TR_LOOP_ANY, where, NULL);
        CHECK(t != NULL);
        intptr_t l = (intptr_t)await_release(t, 0);
        CHECK(l >= 0 && l < 3);
        per[l]++;
        settle(a);
    }
    if (per[0] != 0 || per[1] < N / 2 - 1 || per[2] < N / 2 - 1) {
        fprintf(stderr, "TR_LOOP_ANY ties: %d, %d, %d of %d spawns on loops 0, 1, 2\n", per[0],
                per[1], per[2], N);
        exit(1);
    }
}

/* ---- outside a loop ----------------------------------------------------------------------- */

static void outside_checks(void) {
    CHECK_EQ(tr_loop_id(), -EPERM);
    CHECK_EQ(tr_loop_count(), 0);
    errno = 0;
    CHECK(tr_spawn_on(0, nothing, NULL) == NULL);
    CHECK_EQ(errno, EPERM);
    errno = 0;
    CHECK(tr_spawn_on(TR_LOOP_ANY, nothing, NULL) == NULL);
    CHECK_EQ(errno, EPERM);
    errno = 0;
    CHECK(tr_spawn_on_named(0, nothing, NULL, "x") == NULL);
    CHECK_EQ(errno, EPERM);
    errno = 0;
    CHECK(tr_loop_tasks(0) == NULL);
    CHECK_EQ(errno, EPERM);
    errno = 0;
    CHECK(tr_runtime_get() == NULL);
    CHECK_EQ(errno, EPERM);
    CHECK_EQ(tr_to_thread(nothing, NULL, NULL), -EPERM);
}

static void *plain_thread(void *arg) {
    (void)arg;
    outside_checks();
    return NULL;
}

static void *join_thread(void *arg) {
    CHECK(pthread_join(*(pthread_t *)arg, NULL) == 0);
    return NULL;
}

/* ---- after main returned ------------------------------------------------------------------ */

struct late {
    int sleep_rc;
    tr_task *t0, *t1, *any;
    int err0, err1, err_any;
};

static struct late late;
static atomic_bool late_started; /* main waits for it: a task cancelled unstarted never runs */

/* Left running when main returns: the end of tr_run cancels it, and then it tries to spawn. */
static void *spawns_late(void *arg) {
    (void)arg;
    CHECK_LOOP(1);
    atomic_store(&late_started, true);
    late.sleep_rc = tr_sleep(30000 * MS);
    errno = 0;
    late.t0 = tr_spawn_on(0, nothing, NULL);
    late.err0 = errno;
    errno = 0;
    late.t1 = tr_spawn_on(1, nothing, NULL);
    late.err1 = errno;
    errno = 0;
    late.any = tr_spawn_on(TR_LOOP_ANY, nothing, NULL);
    late.err_any = errno;
    tr_task_release(late.t0);
    tr_task_release(late.t1);
    tr_task_release(late.any);
    return NULL;
}

static void *make_event_here(void *arg) {
    (void)arg;
    tr_event *e = tr_event_new();
    CHECK(e != NULL);
    return e;
}

static void *main_task(void *arg) {
    (void)arg;
    ranges();
    pthread_t th;
    CHECK(pthread_create(&th, NULL, plain_thread, NULL) == 0);
    CHECK_EQ(tr_to_thread(join_thread, &th, NULL), 0);

    struct any a;
    a.own[0] = tr_event_new();
    a.own[1] = on_loop(1, make_event_here, NULL);
    a.own[2] = on_loop(2, make_event_here, NULL);
    a.release = tr_event_new();
    any_spreads(&a);
    any_ties_round_robin(&a);
    for (int i = 0; i < 3; i++)
        CHECK_EQ(tr_event_free(a.own[i]), 0);
    CHECK_EQ(tr_event_free(a.release), 0);

    tr_task_release(spawn_on(1, spawns_late, NULL, "spawns-late"));
    /* Started before main returns, or the end of the runtime may cancel it before it ever
     * runs (as it may any task not started yet): the epoll backend's doorbell, an eventfd
     * write, brings the stop as fast as the spawn. */
    while (!atomic_load(&late_started))
        tr_sleep(1 * MS);
    return NULL;
}

static void *count_loops(void *arg) {
    (void)arg;
    return (void *)(uintptr_t)tr_loop_count();
}

/* tr_run with loops = 0 and TASKRING_LOOPS = env: the loop count, or the error. */
static int loops_from_env(const char *env, unsigned *count) {
    if (env)
        CHECK(setenv("TASKRING_LOOPS", env, 1) == 0);
    else
        CHECK(unsetenv("TASKRING_LOOPS") == 0);
    tr_options o = {.size = sizeof o};
    void *res = NULL;
    int rc = tr_run_with(&o, count_loops, NULL, &res);
    *count = (unsigned)(uintptr_t)res;
    return rc;
}

int main(void) {
    outside_checks(); /* before any runtime */
    CHECK_EQ(run_loops(3, main_task, NULL, NULL), 0);
    outside_checks(); /* after */
    CHECK_EQ(late.sleep_rc, -ECANCELED);
    CHECK(late.t0 == NULL && late.t1 == NULL && late.any == NULL);
    CHECK_EQ(late.err0, ESHUTDOWN);
    CHECK_EQ(late.err1, ESHUTDOWN);
    CHECK_EQ(late.err_any, ESHUTDOWN);

    unsigned n = 0;
    CHECK_EQ(loops_from_env(NULL, &n), 0);
    CHECK_EQ(n, 1);
    CHECK_EQ(loops_from_env("2", &n), 0);
    CHECK_EQ(n, 2);
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    if (!RUNNING_ON_VALGRIND || cpus <= 8) {
        CHECK_EQ(loops_from_env("cpus", &n), 0);
        CHECK_EQ(n, cpus > 256 ? 256 : cpus);
    }
    CHECK_EQ(loops_from_env("0", &n), -EINVAL);
    CHECK_EQ(loops_from_env("257", &n), -EINVAL);
    CHECK_EQ(loops_from_env("2x", &n), -EINVAL);
    CHECK_EQ(loops_from_env("", &n), 0); /* empty: as if unset */
    CHECK_EQ(n, 1);
    CHECK(unsetenv("TASKRING_LOOPS") == 0);
    tr_options o = {.size = sizeof o, .loops = 257};
    CHECK_EQ(tr_run_with(&o, count_loops, NULL, NULL), -EINVAL);
    o.loops = 2;
    CHECK(setenv("TASKRING_LOOPS", "3", 1) == 0); /* the option wins */
    void *res = NULL;
    CHECK_EQ(tr_run_with(&o, count_loops, NULL, &res), 0);
    CHECK_EQ((uintptr_t)res, 2);
    CHECK(unsetenv("TASKRING_LOOPS") == 0);
    printf("tr_spawn_on: loops in range and out, TR_LOOP_ANY, outside a loop, after main\n");
    return 0;
}
