/*
 * stress.c - many tasks on one loop: spawn, sleep, yield, await, cancel, snapshot.
 *
 *   stress [--tasks N] [--batch B] [--seed S]      (defaults: 100000, 500, 1)
 *
 * Within one tr_run, spawns N tasks in batches (two batches in flight at a time). Each task
 * sleeps 0-2 ms and/or yields, some await an earlier task, some take snapshots; about 10%
 * are cancelled, half of those before they first run. All choices come from a deterministic
 * PRNG. Checked throughout:
 *   - every snapshot (tr_all_tasks) holds no task twice, none of them done when taken, and
 *     as many tasks as tr_task_count() reports at that moment (one loop, taken in a task);
 *   - the snapshot stays readable after its tasks finish: each entry's name, function,
 *     argument and done flag are read again later, and the name is the right Task-N;
 *   - each task's result reaches tr_await; cancelled tasks report tr_task_cancelled and
 *     -ECANCELED from tr_await, their next suspension returns -ECANCELED, and tasks
 *     cancelled before they ran never run;
 *   - at the end only the main task is alive (tr_task_count() == 1).
 * Prints the violations (up to a limit) and exits 1 when there is any.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "taskring.h"

#define MS 1000000ull

enum kind { K_SLEEP, K_YIELD, K_YIELD_SLEEP, K_AWAIT, K_SNAPSHOT };

struct rec {
    uint32_t serial;
    uint8_t kind;
    uint8_t ran;
    uint8_t cancel_requested;    /* tr_task_cancel returned 1 */
    uint8_t cancelled_unstarted; /* ... before the task ran */
    uint32_t sleep_ns;
    uint32_t yields;
    int64_t target; /* K_AWAIT: serial of an earlier task */
    tr_task *task;  /* main's reference, until the task is awaited */
};

static struct rec *recs;
static size_t ntasks;
static long main_number;
static uint64_t violations;
static uint64_t snapshots, snapshot_entries, cancelled_count, awaits_checked;

static void violation(const char *fmt, ...) {
    if (violations++ < 30) {
        va_list ap;
        va_start(ap, fmt);
        fprintf(stderr, "stress: VIOLATION: ");
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
        va_end(ap);
    }
}

static uint64_t rng_state;
static uint64_t rng(void) {
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void *expected_result(const struct rec *r) {
    return (void *)(uintptr_t)((uint64_t)r->serial * 2 + 1);
}

static long task_number(const char *name) {
    if (name == NULL || strncmp(name, "Task-", 5) != 0)
        return -1;
    char *end;
    long n = strtol(name + 5, &end, 10);
    return *end == '\0' ? n : -1;
}

/* ---- snapshots ---- */

static int cmp_ptr(const void *a, const void *b) {
    uintptr_t x = (uintptr_t) * (void *const *)a, y = (uintptr_t) * (void *const *)b;
    return (x > y) - (x < y);
}

static void *stress_task(void *arg);
static void *main_task(void *arg);

/* Read everything an entry offers; check it is the task it claims to be. */
static void check_entry(tr_task *t, const char *when) {
    const char *name = tr_task_name(t);
    void *arg = NULL;
    tr_fn fn = tr_task_fn(t, &arg);
    (void)tr_task_done(t);
    (void)tr_task_cancelled(t);
    if (name == NULL) {
        violation("%s: entry with NULL name", when);
        return;
    }
    if (fn == main_task) {
        if (task_number(name) != main_number)
            violation("%s: main task named '%s', expected Task-%ld", when, name, main_number);
    } else if (fn == stress_task) {
        struct rec *r = arg;
        if (r < recs || r >= recs + ntasks) {
            violation("%s: entry '%s' has a foreign argument", when, name);
            return;
        }
        long want = main_number + 1 + (long)r->serial;
        if (task_number(name) != want)
            violation("%s: task serial %" PRIu32 " named '%s', expected Task-%ld", when, r->serial,
                      name, want);
    } else {
        violation("%s: entry '%s' with unknown function", when, name);
    }
}

/* Take a snapshot and check it at once (nothing else runs meanwhile). */
static tr_taskset *snapshot(const char *when) {
    tr_taskset *s = tr_all_tasks();
    size_t count = tr_task_count();
    if (s == NULL) {
        violation("%s: tr_all_tasks failed: %s", when, strerror(errno));
        return NULL;
    }
    size_t n = tr_taskset_size(s);
    snapshots++;
    snapshot_entries += n;
    if (n != count)
        violation("%s: snapshot has %zu tasks, tr_task_count() says %zu", when, n, count);
    void **ptrs = malloc((n + 1) * sizeof *ptrs);
    bool self = false;
    for (size_t i = 0; i < n; i++) {
        tr_task *t = tr_taskset_get(s, i);
        ptrs[i] = t;
        if (t == NULL) {
            violation("%s: tr_taskset_get(%zu) of %zu is NULL", when, i, n);
            continue;
        }
        if (tr_task_done(t))
            violation("%s: snapshot holds a done task '%s'", when, tr_task_name(t));
        self |= t == tr_current();
    }
    if (!self)
        violation("%s: snapshot taken by a task does not hold it", when);
    qsort(ptrs, n, sizeof *ptrs, cmp_ptr);
    for (size_t i = 1; i < n; i++)
        if (ptrs[i] == ptrs[i - 1])
            violation("%s: task '%s' twice in a snapshot", when, tr_task_name(ptrs[i]));
    free(ptrs);
    return s;
}

/* Later, after other tasks ran (and maybe finished): the set is still readable. */
static void recheck(tr_taskset *s, const char *when) {
    if (s == NULL)
        return;
    for (size_t i = 0; i < tr_taskset_size(s); i++)
        check_entry(tr_taskset_get(s, i), when);
    tr_taskset_free(s);
}

/* ---- tasks ---- */

static void *stress_task(void *arg) {
    struct rec *r = arg;
    r->ran = 1;
    if (r->cancelled_unstarted)
        violation("task %" PRIu32 " runs although cancelled before it started", r->serial);
    if (tr_current() == NULL || tr_task_fn(tr_current(), NULL) != stress_task)
        violation("task %" PRIu32 ": tr_current() is wrong", r->serial);

    int rc = 0;
    switch (r->kind) {
    case K_SLEEP:
        rc = tr_sleep(r->sleep_ns);
        break;
    case K_YIELD_SLEEP:
    case K_YIELD:
        for (uint32_t i = 0; i < r->yields && rc == 0; i++)
            rc = tr_yield();
        if (r->kind == K_YIELD_SLEEP && rc == 0)
            rc = tr_sleep(r->sleep_ns);
        break;
    case K_AWAIT: {
        struct rec *t = &recs[r->target];
        void *res = NULL;
        rc = tr_await(t->task, &res);
        awaits_checked++;
        if (rc == 0) {
            if (res != expected_result(t))
                violation("task %" PRIu32 " awaited %" PRIu32 ": result %p, expected %p", r->serial,
                          t->serial, res, expected_result(t));
            if (t->cancel_requested)
                violation("task %" PRIu32 ": await of cancelled task %" PRIu32 " returned 0",
                          r->serial, t->serial);
        } else if (rc == -ECANCELED) {
            if (!t->cancel_requested && !r->cancel_requested)
                violation("task %" PRIu32 ": await of %" PRIu32
                          " returned -ECANCELED, neither was cancelled",
                          r->serial, t->serial);
            rc = 0; /* not necessarily our own cancellation */
        }
        break;
    }
    case K_SNAPSHOT: {
        tr_taskset *s = snapshot("snapshot in a task");
        rc = tr_yield();
        if (rc == 0)
            rc = tr_sleep(r->sleep_ns);
        recheck(s, "snapshot in a task, read after sleeping");
        break;
    }
    }
    if (rc != 0 && rc != -ECANCELED)
        violation("task %" PRIu32 ": suspension returned %d", r->serial, rc);
    if (rc == -ECANCELED && !r->cancel_requested)
        violation("task %" PRIu32 ": -ECANCELED without a cancel request", r->serial);
    if (r->cancel_requested) {
        /* Sticky: whatever the body saw, the next suspension reports the cancellation. */
        rc = tr_yield();
        if (rc != -ECANCELED)
            violation("task %" PRIu32 ": cancelled, but tr_yield returned %d", r->serial, rc);
    }
    return expected_result(r);
}

/* ---- main ---- */

static void spawn_batch(size_t first, size_t count) {
    for (size_t i = first; i < first + count; i++) {
        struct rec *r = &recs[i];
        uint64_t x = rng();
        r->serial = (uint32_t)i;
        r->sleep_ns = (uint32_t)(rng() % (2 * MS + 1));
        r->yields = 1 + (uint32_t)(rng() % 4);
        r->target = -1;
        unsigned pct = (unsigned)(x % 100);
        if (pct < 35)
            r->kind = K_SLEEP;
        else if (pct < 60)
            r->kind = K_YIELD;
        else if (pct < 78)
            r->kind = K_YIELD_SLEEP;
        else if (pct < 99 && i > first)
            r->kind = K_AWAIT;
        else
            r->kind = K_SNAPSHOT;
        if (r->kind == K_AWAIT) {
            /* an earlier task that main still holds (this batch or the previous one) */
            size_t window = i - first + (first >= count ? count : first);
            r->target = (int64_t)(i - 1 - (size_t)(rng() % window));
        }
        r->task = tr_spawn(stress_task, r);
        if (r->task == NULL) {
            violation("tr_spawn failed: %s", strerror(errno));
            exit(1);
        }
    }
    /* ~5% cancelled before they run */
    for (size_t i = first; i < first + count; i++) {
        if (rng() % 100 >= 5)
            continue;
        int rc = tr_task_cancel(recs[i].task);
        if (rc != 1)
            violation("cancel of unstarted task %zu returned %d", i, rc);
        recs[i].cancel_requested = 1;
        recs[i].cancelled_unstarted = 1;
        cancelled_count++;
    }
}

/* ~5% more cancelled while in flight */
static void cancel_some(size_t first, size_t count) {
    for (size_t i = first; i < first + count; i++) {
        struct rec *r = &recs[i];
        if (r->cancel_requested || rng() % 100 >= 5)
            continue;
        bool was_done = tr_task_done(r->task);
        int rc = tr_task_cancel(r->task);
        if (rc == 1 && !was_done) {
            r->cancel_requested = 1;
            cancelled_count++;
        } else if (!(rc == 0 && was_done)) {
            violation("cancel of task %zu (done=%d) returned %d", i, was_done, rc);
        }
    }
}

static void await_batch(size_t first, size_t count) {
    for (size_t i = first; i < first + count; i++) {
        struct rec *r = &recs[i];
        void *res = NULL;
        int rc = tr_await(r->task, &res);
        if (!tr_task_done(r->task))
            violation("task %zu not done after tr_await returned %d", i, rc);
        if (r->cancel_requested) {
            if (rc != -ECANCELED)
                violation("await of cancelled task %zu returned %d", i, rc);
            if (!tr_task_cancelled(r->task))
                violation("cancelled task %zu: tr_task_cancelled is false", i);
            if (r->cancelled_unstarted && r->ran)
                violation("task %zu ran although cancelled before it started", i);
        } else {
            if (rc != 0)
                violation("await of task %zu returned %d", i, rc);
            else if (res != expected_result(r))
                violation("task %zu: result %p, expected %p", i, res, expected_result(r));
            if (tr_task_cancelled(r->task))
                violation("task %zu reports cancelled, never asked", i);
            if (!r->ran)
                violation("task %zu never ran", i);
        }
    }
}

static void release_batch(size_t first, size_t count) {
    for (size_t i = first; i < first + count; i++) {
        tr_task_release(recs[i].task);
        recs[i].task = NULL;
    }
}

static size_t batch_size = 500;

static void *main_task(void *arg) {
    (void)arg;
    main_number = task_number(tr_task_name(tr_current()));
    if (main_number <= 0)
        violation("main task named '%s'", tr_task_name(tr_current()));

    tr_taskset *older = NULL;
    size_t prev_first = 0, prev_count = 0;
    for (size_t first = 0; first < ntasks; first += batch_size) {
        size_t count = ntasks - first < batch_size ? ntasks - first : batch_size;
        spawn_batch(first, count);

        tr_taskset *s1 = snapshot("main, after spawning a batch");
        int rc = tr_yield();
        if (rc != 0)
            violation("main: tr_yield returned %d", rc);
        cancel_some(first, count);
        recheck(older, "main, snapshot of the previous batch");
        older = snapshot("main, after one yield");
        rc = tr_sleep(rng() % (1 * MS));
        if (rc != 0)
            violation("main: tr_sleep returned %d", rc);

        if (prev_count > 0) {
            await_batch(prev_first, prev_count);
            release_batch(prev_first, prev_count);
        }
        recheck(s1, "main, first snapshot of a batch after awaiting");
        prev_first = first;
        prev_count = count;
    }
    await_batch(prev_first, prev_count);
    release_batch(prev_first, prev_count);
    recheck(older, "main, last snapshot");

    size_t live = tr_task_count();
    if (live != 1)
        violation("at the end tr_task_count() is %zu, expected 1", live);
    tr_taskset *s = snapshot("main, at the end");
    if (s != NULL && tr_taskset_size(s) != 1)
        violation("at the end a snapshot holds %zu tasks", tr_taskset_size(s));
    recheck(s, "main, at the end");
    return (void *)0x5157;
}

int main(int argc, char **argv) {
    ntasks = 100000;
    rng_state = 1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--tasks") == 0 && i + 1 < argc)
            ntasks = strtoul(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--batch") == 0 && i + 1 < argc)
            batch_size = strtoul(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc)
            rng_state = strtoull(argv[++i], NULL, 10);
        else {
            fprintf(stderr, "usage: %s [--tasks N] [--batch B] [--seed S]\n", argv[0]);
            return 2;
        }
    }
    if (ntasks == 0 || batch_size == 0) {
        fprintf(stderr, "stress: --tasks and --batch must be positive\n");
        return 2;
    }
    recs = calloc(ntasks, sizeof *recs);
    if (recs == NULL) {
        perror("calloc");
        return 1;
    }

    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    void *result = NULL;
    int rc = tr_run(main_task, NULL, &result);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (rc != 0) {
        fprintf(stderr, "stress: tr_run: %s\n", tr_strerror(rc));
        return 1;
    }
    if (result != (void *)0x5157)
        violation("tr_run's result is %p", result);
    if (tr_task_count() != 0)
        violation("after tr_run, tr_task_count() is %zu", tr_task_count());
    size_t ran = 0;
    for (size_t i = 0; i < ntasks; i++)
        ran += recs[i].ran;
    free(recs);

    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    printf("stress: %zu tasks (%zu ran, %" PRIu64 " cancelled), %" PRIu64 " awaits of tasks, "
           "%" PRIu64 " snapshots (%" PRIu64 " entries) in %.2f s\n",
           ntasks, ran, cancelled_count, awaits_checked, snapshots, snapshot_entries, secs);
    if (violations > 0) {
        fprintf(stderr, "stress: FAILED with %" PRIu64 " violations\n", violations);
        return 1;
    }
    return 0;
}
