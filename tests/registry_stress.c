/*
 * registry_stress.c - the task registry seen from another thread while the loop churns.
 *
 *   registry_stress [--seconds S]     (default 3)
 *
 * The loop (main thread) keeps NLONG long-lived tasks alive the whole time and, flat out,
 * spawns short tasks that finish almost at once, keeping at most WINDOW of them in flight and
 * awaiting them oldest first. A second pthread - not a task - repeatedly takes snapshots with
 * tr_all_tasks(), tr_all_tasks_fill() into a set big enough for every live task, and
 * tr_all_tasks_fill() into a set of 4, and checks each one:
 *   - every long-lived task is in it (they are alive during the whole snapshot);
 *   - no task appears twice;
 *   - every entry is readable: name, done, cancelled, fn/arg, repr; its name is the right
 *     Task-N (the runtime formats names lazily, possibly from this thread);
 *   - no task known to be finished appears. Short task number s (its serial, also its arg)
 *     is awaited by the loop, which then publishes `finished` = s (release) before it drops
 *     its reference: a done task must leave all_tasks whoever still holds it. The monitor
 *     reads `finished` (acquire) before it starts a snapshot: every short task with a serial
 *     <= that value was done before the snapshot began, so it must not be in it.
 *   - no task appears before it was spawned: the loop publishes `spawning` = s before it
 *     calls tr_spawn for serial s; the monitor reads it after the snapshot, so every short
 *     task of the snapshot has a serial <= that value.
 *   - tr_all_tasks_fill returns a count that fits what is alive, like snprintf for the small
 *     set, and tr_task_count() stays within the same bounds.
 * The monitor stops after S seconds; the loop then drains and the long tasks end.
 * Under TSan this also checks the registry for data races.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "taskring.h"

#define NLONG 16
#define WINDOW 128
#define MAX_LIVE (1 + NLONG + WINDOW)
#define SMALL_CAP 4
#define MS 1000000ull

static tr_task *long_lived[NLONG];
static long main_number;
static atomic_uint_fast64_t finished; /* every short task with serial <= this is done */
static atomic_uint_fast64_t spawning; /* no short task with a serial above this exists */
static atomic_bool stop;
static atomic_uint_fast64_t violations;
static double run_seconds = 3.0;

static uint64_t stat_snapshots, stat_entries, stat_short_seen;
static uint64_t stat_spawned;

static void violation(const char *fmt, ...) {
    if (atomic_fetch_add(&violations, 1) < 30) {
        char line[512];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(line, sizeof line, fmt, ap);
        va_end(ap);
        fprintf(stderr, "registry_stress: VIOLATION: %s\n", line);
    }
}

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static long task_number(const char *name) {
    if (name == NULL || strncmp(name, "Task-", 5) != 0)
        return -1;
    char *end;
    long n = strtol(name + 5, &end, 10);
    return *end == '\0' ? n : -1;
}

/* ---- tasks ---- */

static void *short_task(void *arg) {
    uint64_t serial = (uint64_t)(uintptr_t)arg;
    int rc = 0;
    switch (serial % 5) {
    case 0:
        break;
    case 1:
        rc = tr_yield();
        break;
    case 2:
        rc = tr_yield();
        if (rc == 0)
            rc = tr_yield();
        break;
    case 3:
        rc = tr_sleep(0);
        break;
    case 4:
        rc = tr_sleep((serial * 7919) % 50000); /* < 50 us */
        break;
    }
    if (rc != 0)
        violation("short task %" PRIu64 ": suspension returned %d", serial, rc);
    return arg;
}

static void *long_task(void *arg) {
    (void)arg;
    while (!atomic_load(&stop))
        if (tr_sleep(1 * MS) != 0)
            return (void *)1;
    return NULL;
}

/* ---- the monitor thread ---- */

static int cmp_ptr(const void *a, const void *b) {
    uintptr_t x = (uintptr_t) * (void *const *)a, y = (uintptr_t) * (void *const *)b;
    return (x > y) - (x < y);
}

static void *loop_main(void *arg);

static void check_set(const tr_taskset *s, size_t expect_size, bool complete, uint64_t done_upto,
                      uint64_t spawned_upto, const char *what) {
    size_t n = tr_taskset_size(s);
    if (n != expect_size)
        violation("%s: size %zu, expected %zu", what, n, expect_size);
    if (n > MAX_LIVE)
        violation("%s: %zu tasks, at most %d can be alive", what, n, MAX_LIVE);
    void *ptrs[MAX_LIVE + 64];
    size_t np = 0;
    for (size_t i = 0; i < n; i++) {
        tr_task *t = tr_taskset_get(s, i);
        if (t == NULL) {
            violation("%s: entry %zu of %zu is NULL", what, i, n);
            continue;
        }
        if (np < sizeof ptrs / sizeof ptrs[0])
            ptrs[np++] = t;
        const char *name = tr_task_name(t);
        (void)tr_task_done(t);
        (void)tr_task_cancelled(t);
        char repr[256];
        if (tr_task_repr(t, repr, sizeof repr) <= 0)
            violation("%s: tr_task_repr failed", what);
        void *arg = NULL;
        tr_fn fn = tr_task_fn(t, &arg);
        long number = task_number(name);
        if (fn == short_task) {
            uint64_t serial = (uint64_t)(uintptr_t)arg;
            stat_short_seen++;
            if (serial <= done_upto)
                violation("%s: short task %" PRIu64 " was finished before the snapshot "
                          "began (finished <= %" PRIu64 ")",
                          what, serial, done_upto);
            if (serial > spawned_upto)
                violation("%s: short task %" PRIu64 " appears before it was spawned (<= %" PRIu64
                          ")",
                          what, serial, spawned_upto);
            if (number != main_number + NLONG + (long)serial)
                violation("%s: short task %" PRIu64 " named '%s', expected Task-%ld", what, serial,
                          name ? name : "(null)", main_number + NLONG + (long)serial);
        } else if (fn == long_task) {
            long idx = (long)(intptr_t)arg;
            if (number != main_number + 1 + idx)
                violation("%s: long task %ld named '%s'", what, idx, name ? name : "(null)");
        } else if (fn == loop_main) {
            if (number != main_number)
                violation("%s: main named '%s'", what, name ? name : "(null)");
        } else {
            violation("%s: entry with an unknown function", what);
        }
    }
    qsort(ptrs, np, sizeof ptrs[0], cmp_ptr);
    for (size_t i = 1; i < np; i++)
        if (ptrs[i] == ptrs[i - 1])
            violation("%s: a task appears twice", what);
    if (complete) {
        for (int i = 0; i < NLONG; i++) {
            void *key = long_lived[i];
            if (bsearch(&key, ptrs, np, sizeof ptrs[0], cmp_ptr) == NULL)
                violation("%s: long-lived task %d is missing", what, i);
        }
    }
    stat_snapshots++;
    stat_entries += n;
}

static void *monitor(void *arg) {
    (void)arg;
    tr_taskset *big = tr_taskset_new(MAX_LIVE + 16);
    tr_taskset *small = tr_taskset_new(SMALL_CAP);
    if (big == NULL || small == NULL) {
        violation("tr_taskset_new failed");
        atomic_store(&stop, true);
        return NULL;
    }
    uint64_t deadline = now_ns() + (uint64_t)(run_seconds * 1e9);
    for (uint64_t iter = 0; now_ns() < deadline; iter++) {
        uint64_t done_upto = atomic_load_explicit(&finished, memory_order_acquire);
        size_t count = tr_task_count();
        if (count < 1 + NLONG || count > MAX_LIVE)
            violation("tr_task_count() = %zu, expected %d..%d", count, 1 + NLONG, MAX_LIVE);
        switch (iter % 3) {
        case 0: {
            tr_taskset *s = tr_all_tasks();
            uint64_t spawned_upto = atomic_load_explicit(&spawning, memory_order_acquire);
            if (s == NULL) {
                violation("tr_all_tasks failed: %s", strerror(errno));
                break;
            }
            check_set(s, tr_taskset_size(s), true, done_upto, spawned_upto, "tr_all_tasks");
            tr_taskset_free(s); /* may drop the last reference to finished tasks */
            break;
        }
        case 1: {
            ssize_t n = tr_all_tasks_fill(big);
            uint64_t spawned_upto = atomic_load_explicit(&spawning, memory_order_acquire);
            if (n < 1 + NLONG || n > MAX_LIVE)
                violation("tr_all_tasks_fill(big) = %zd, expected %d..%d", n, 1 + NLONG, MAX_LIVE);
            if (n >= 0)
                check_set(big, (size_t)n, true, done_upto, spawned_upto, "fill(big)");
            break;
        }
        case 2: {
            ssize_t n = tr_all_tasks_fill(small);
            uint64_t spawned_upto = atomic_load_explicit(&spawning, memory_order_acquire);
            if (n < 1 + NLONG || n > MAX_LIVE)
                violation("tr_all_tasks_fill(small) = %zd, expected %d..%d", n, 1 + NLONG,
                          MAX_LIVE);
            if (n >= 0)
                check_set(small, (size_t)n < SMALL_CAP ? (size_t)n : SMALL_CAP, false, done_upto,
                          spawned_upto, "fill(small)");
            break;
        }
        }
        if (atomic_load(&violations) > 100)
            break;
    }
    tr_taskset_free(big);
    tr_taskset_free(small);
    atomic_store(&stop, true);
    return NULL;
}

/* ---- the loop ---- */

static void *loop_main(void *arg) {
    (void)arg;
    main_number = task_number(tr_task_name(tr_current()));
    for (int i = 0; i < NLONG; i++) {
        long_lived[i] = tr_spawn(long_task, (void *)(intptr_t)i);
        if (long_lived[i] == NULL) {
            violation("tr_spawn failed: %s", strerror(errno));
            return NULL;
        }
    }
    /* End a turn before the monitor starts: tr_task_count() on other threads may show a
     * loop's count as of its last turn. */
    if (tr_sleep(1 * MS) != 0)
        violation("main: tr_sleep failed");
    pthread_t th;
    if (pthread_create(&th, NULL, monitor, NULL) != 0) {
        violation("pthread_create failed");
        return NULL;
    }

    tr_task *ring[WINDOW];
    uint64_t oldest = 1, next = 1; /* serials in flight: [oldest, next) */
    while (!atomic_load(&stop) || oldest < next) {
        bool full = next - oldest == WINDOW;
        if (full || atomic_load(&stop)) {
            tr_task *t = ring[oldest % WINDOW];
            void *res = NULL;
            int rc = tr_await(t, &res);
            if (rc != 0 || res != (void *)(uintptr_t)oldest)
                violation("await of short task %" PRIu64 ": rc %d result %p", oldest, rc, res);
            if (!tr_task_done(t))
                violation("short task %" PRIu64 " not done after tr_await", oldest);
            /* Published while we still hold t: done is enough to leave all_tasks. */
            atomic_store_explicit(&finished, oldest, memory_order_release);
            tr_task_release(t);
            oldest++;
            continue;
        }
        atomic_store_explicit(&spawning, next, memory_order_release);
        tr_task *t = tr_spawn(short_task, (void *)(uintptr_t)next);
        if (t == NULL) {
            violation("tr_spawn failed: %s", strerror(errno));
            atomic_store(&stop, true);
            continue;
        }
        if (next % 97 == 0)
            (void)tr_task_name(t); /* the loop formats some names too */
        ring[next % WINDOW] = t;
        next++;
        if (next % 16 == 0) {
            int rc = tr_yield();
            if (rc != 0)
                violation("main: tr_yield returned %d", rc);
        }
    }
    stat_spawned = next - 1;
    pthread_join(th, NULL);

    for (int i = 0; i < NLONG; i++) {
        void *res = (void *)2;
        int rc = tr_await(long_lived[i], &res);
        if (rc != 0 || res != NULL)
            violation("long task %d: await rc %d result %p", i, rc, res);
        tr_task_release(long_lived[i]);
    }
    if (tr_task_count() != 1)
        violation("at the end tr_task_count() = %zu", tr_task_count());
    return NULL;
}

int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
            run_seconds = strtod(argv[++i], NULL);
        } else {
            fprintf(stderr, "usage: %s [--seconds S]\n", argv[0]);
            return 2;
        }
    }
    int rc = tr_run(loop_main, NULL, NULL);
    if (rc != 0) {
        fprintf(stderr, "registry_stress: tr_run: %s\n", tr_strerror(rc));
        return 1;
    }
    printf("registry_stress: %" PRIu64 " short tasks spawned; %" PRIu64 " snapshots, %" PRIu64
           " entries (%" PRIu64 " short tasks seen)\n",
           stat_spawned, stat_snapshots, stat_entries, stat_short_seen);
    uint64_t v = atomic_load(&violations);
    if (v > 0) {
        fprintf(stderr, "registry_stress: FAILED with %" PRIu64 " violations\n", v);
        return 1;
    }
    if (stat_snapshots == 0 || stat_short_seen == 0) {
        fprintf(stderr, "registry_stress: the monitor saw no churn; nothing was tested\n");
        return 1;
    }
    return 0;
}
