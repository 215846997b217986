/*
 * all_tasks_skips_only_empty_groups: a snapshot skips the parts of the registry that hold no
 * task (a summary word per chunk of 4,096 slots, one bit per 64 slots) and nothing else.
 * Three chunks' worth of sleeping tasks are thinned to a sparse pattern (every 97th, plus one
 * dense run), the groups that emptied are refilled, and every snapshot must equal the set of
 * live tasks exactly, including through a capacity that ends in the middle of a group.
 */
#include "regress.h"

enum { N = 3 * 4096 + 100, REFILL = 2000 };

static tr_task *tasks[N + REFILL];
static bool live[N + REFILL];

static void *sleeper(void *arg) {
    (void)arg;
    tr_sleep(3600ull * 1000000000ull);
    return NULL;
}

static int cmp_ptr(const void *a, const void *b) {
    uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;
    return x < y ? -1 : x > y;
}

/* Snapshot == the tasks marked live, as sets; and a small capacity still counts them all. */
static void check_snapshot(size_t total) {
    size_t want = 0;
    tr_task **expect = malloc(sizeof *expect * total);
    CHECK(expect);
    for (size_t i = 0; i < total; i++)
        if (live[i])
            expect[want++] = tasks[i];
    tr_taskset *s = tr_all_tasks();
    CHECK(s);
    /* the main task is in the set too */
    CHECK_EQ(tr_taskset_size(s), want + 1);
    tr_task **got = malloc(sizeof *got * (want + 1));
    CHECK(got);
    size_t n = 0;
    for (size_t i = 0; i < tr_taskset_size(s); i++)
        if (tr_taskset_get(s, i) != tr_current())
            got[n++] = tr_taskset_get(s, i);
    CHECK_EQ(n, want);
    qsort(expect, want, sizeof *expect, cmp_ptr);
    qsort(got, n, sizeof *got, cmp_ptr);
    for (size_t i = 0; i < n; i++)
        CHECK(got[i] == expect[i]);
    tr_taskset_free(s);

    /* A capacity that ends inside a group: the count is still every task, and what fits is
     * live tasks. */
    tr_taskset *small = tr_taskset_new(37);
    CHECK(small);
    CHECK_EQ(tr_all_tasks_fill(small), (ssize_t)want + 1);
    size_t fits = want + 1 < 37 ? want + 1 : 37;
    CHECK_EQ(tr_taskset_size(small), fits);
    for (size_t i = 0; i < fits; i++) {
        tr_task *t = tr_taskset_get(small, i);
        CHECK(t == tr_current() || bsearch(&t, expect, want, sizeof *expect, cmp_ptr));
    }
    tr_taskset_free(small);
    free(expect);
    free(got);
}

static void cancel_and_finish(size_t i) {
    CHECK(tr_task_cancel(tasks[i]) >= 0);
    CHECK_EQ(tr_await(tasks[i], NULL), -ECANCELED);
    tr_task_release(tasks[i]);
    live[i] = false;
}

static void *main_task(void *arg) {
    (void)arg;
    for (size_t i = 0; i < N; i++) {
        tasks[i] = tr_spawn(sleeper, NULL);
        CHECK(tasks[i]);
        live[i] = true;
    }
    CHECK_EQ(tr_yield(), 0); /* they all start and sleep */
    check_snapshot(N);

    /* Thin out: keep every 97th and one dense run that straddles a group boundary. */
    for (size_t i = 0; i < N; i++)
        if (i % 97 != 0 && !(i >= 5000 && i < 5200))
            cancel_and_finish(i);
    check_snapshot(N);

    /* Refill the slots (and groups) that emptied. */
    for (size_t i = N; i < N + REFILL; i++) {
        tasks[i] = tr_spawn(sleeper, NULL);
        CHECK(tasks[i]);
        live[i] = true;
    }
    CHECK_EQ(tr_yield(), 0);
    check_snapshot(N + REFILL);

    /* Everything but one task gone: the snapshot is that task (and main). */
    size_t keep = N + REFILL - 1;
    for (size_t i = 0; i < N + REFILL; i++)
        if (live[i] && i != keep)
            cancel_and_finish(i);
    check_snapshot(N + REFILL);
    cancel_and_finish(keep);
    check_snapshot(N + REFILL);
    return NULL;
}

int main(void) {
    CHECK_EQ(tr_run(main_task, NULL, NULL), 0);
    puts("all_tasks_skips_only_empty_groups: ok");
    return 0;
}
