/*
 * 100,000 tasks (--tasks N; fewer under TSan and valgrind, see CMakeLists.txt) through each
 * combinator and a group: every outcome arrives, in its place, and nothing is left behind
 * (valgrind and ASan check at exit). Each case also prints how long it took per task next to
 * spawn + await + release of the same tasks, for a first look; bench/ has the real figures.
 */
#include "tasks_test.h"

static size_t n_tasks(void) {
    const char *s = test_option("--tasks");
    long n = s ? strtol(s, NULL, 10) : 100000;
    CHECK(n > 0);
    return (size_t)n;
}

static void *ret_arg(void *arg) {
    return arg;
}

static void *fail_if_odd_million(void *arg) {
    return (uintptr_t)arg == 777 ? tr_fail(-EIO) : arg;
}

static tr_task **alloc_tasks(size_t n) {
    tr_task **t = calloc(n, sizeof *t);
    CHECK(t != NULL);
    return t;
}

static void spawn_n(tr_task **t, size_t n, tr_fn fn) {
    for (size_t i = 0; i < n; i++) {
        t[i] = tr_spawn(fn, (void *)(uintptr_t)i);
        CHECK(t[i] != NULL);
    }
}

/* The reference: spawn n, await each, release. ns per task. */
static double baseline(size_t n) {
    tr_task **t = alloc_tasks(n);
    uint64_t t0 = now_ns();
    spawn_n(t, n, ret_arg);
    for (size_t i = 0; i < n; i++) {
        void *res;
        CHECK_EQ(tr_await(t[i], &res), 0);
        CHECK_EQ((uintptr_t)res, i);
        tr_task_release(t[i]);
    }
    double per = (double)(now_ns() - t0) / (double)n;
    free(t);
    return per;
}

static void report(const char *what, size_t n, uint64_t took) {
    double per = (double)took / (double)n;
    double base = baseline(n);
    printf("%s: %zu tasks, %.0f ns/task; spawn+await+release %.0f ns/task (%.2fx)\n", what, n, per,
           base, per / base);
}

TASK_CASE(gather_many_tasks) {
    size_t n = n_tasks();
    tr_task **t = alloc_tasks(n);
    void **res = calloc(n, sizeof *res);
    CHECK(res != NULL);
    uint64_t t0 = now_ns();
    spawn_n(t, n, ret_arg);
    CHECK_EQ(tr_gather(t, n, res, NULL), 0);
    release_all(t, n);
    uint64_t took = now_ns() - t0;
    for (size_t i = 0; i < n; i++)
        CHECK_EQ((uintptr_t)res[i], i);
    report("tr_gather", n, took);
    free(res);
    free(t);
    return NULL;
}

TASK_CASE(gather_many_tasks_with_errors) {
    size_t n = n_tasks();
    tr_task **t = alloc_tasks(n);
    void **res = calloc(n, sizeof *res);
    int *err = calloc(n, sizeof *err);
    CHECK(res && err);
    spawn_n(t, n, fail_if_odd_million);
    CHECK_EQ(tr_gather(t, n, res, err), n > 777 ? -EIO : 0);
    for (size_t i = 0; i < n; i++) {
        CHECK_EQ(err[i], i == 777 ? -EIO : 0);
        if (i != 777)
            CHECK_EQ((uintptr_t)res[i], i);
    }
    release_all(t, n);
    free(res), free(err), free(t);
    return NULL;
}

TASK_CASE(wait_many_tasks) {
    size_t n = n_tasks();
    if (n > INT32_MAX)
        return NULL;
    tr_task **t = alloc_tasks(n);
    uint64_t t0 = now_ns();
    spawn_n(t, n, ret_arg);
    CHECK_EQ(tr_wait(t, n, TR_ALL_COMPLETED), (int)n);
    release_all(t, n);
    report("tr_wait", n, now_ns() - t0);
    free(t);
    return NULL;
}

TASK_CASE(as_completed_many_tasks) {
    size_t n = n_tasks();
    tr_task **t = alloc_tasks(n);
    uint64_t t0 = now_ns();
    spawn_n(t, n, ret_arg);
    tr_completed *it = tr_as_completed(t, n);
    CHECK(it != NULL);
    size_t got = 0;
    tr_task *next;
    int rc;
    while ((rc = tr_completed_next(it, &next)) == 1) {
        /* Each returns the order it finished in: spawn order, here. */
        CHECK(next == t[got]);
        got++;
    }
    CHECK_EQ(rc, 0);
    CHECK_EQ(got, n);
    tr_completed_free(it);
    release_all(t, n);
    report("tr_as_completed", n, now_ns() - t0);
    free(t);
    return NULL;
}

TASK_CASE(group_many_tasks) {
    size_t n = n_tasks();
    uint64_t t0 = now_ns();
    tr_group *g = tr_group_new();
    CHECK(g != NULL);
    for (size_t i = 0; i < n; i++)
        CHECK(tr_group_spawn(g, ret_arg, (void *)(uintptr_t)i) != NULL);
    CHECK_EQ(tr_group_size(g), n);
    CHECK_EQ(tr_group_wait(g), 0);
    CHECK_EQ(tr_group_size(g), 0);
    CHECK_EQ(tr_group_free(g), 0);
    report("tr_group", n, now_ns() - t0);
    return NULL;
}

/* A failure among many cancels the rest; the group still waits for every one. */
static void *sleep_or_fail(void *arg) {
    if ((uintptr_t)arg == 0)
        return tr_fail(-EPROTO);
    tr_sleep(1000 * MS);
    return NULL;
}

TASK_CASE(group_many_tasks_one_fails) {
    size_t n = n_tasks() / 10 + 1; /* each sleeper holds a stack meanwhile */
    tr_group *g = tr_group_new();
    CHECK(g != NULL);
    for (size_t i = n; i-- > 0;)
        CHECK(tr_group_spawn(g, sleep_or_fail, (void *)(uintptr_t)i) != NULL);
    uint64_t t0 = now_ns();
    CHECK_EQ(tr_group_wait(g), -EPROTO);
    CHECK(now_ns() - t0 < 900 * MS || slow_build()); /* cancelled, not slept out */
    CHECK_EQ(tr_group_free(g), 0);
    return NULL;
}
