/*
 * tasks_test.h - what the programs of tests/tasks/ share: a tiny case registry, checks, and
 * the task bodies most cases are built from.
 *
 * A program holds several cases, each one behaviour, named after it or after the CPython test
 * it mirrors (Lib/test/test_asyncio/test_tasks.py, test_waitfor.py, test_taskgroups.py). ctest
 * runs every case as its own test in its own process (`PROGRAM CASE`); CMake finds the cases
 * by the CASE( / TASK_CASE( lines of the source. Without an argument a program runs them all.
 *
 * A case exits 0 when the behaviour holds, 1 with the failed check on stderr when it does not,
 * 77 (ctest's SKIP_RETURN_CODE) with the reason on stdout when it cannot run here. Every wait
 * in a case is bounded (sleeps of milliseconds, deadline scopes), so a broken runtime makes a
 * case fail or time out, never hang ctest past its TIMEOUT.
 */
#ifndef TASKRING_TASKS_TEST_H
#define TASKRING_TASKS_TEST_H

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* CHECK, CHECK_EQ, RUNNING_ON_VALGRIND and the skip code: the regression programs' own. */
#include "../regress/regress.h"

#define MS 1000000ull

/* ---- the case registry -------------------------------------------------------------------- */

struct test_case {
    const char *name;
    void (*fn)(void);
};

static struct test_case test_cases[128];
static size_t test_case_count;

static inline void case_add(const char *name, void (*fn)(void)) {
    if (test_case_count == sizeof test_cases / sizeof test_cases[0]) {
        fprintf(stderr, "tasks_test.h: too many cases\n");
        exit(2);
    }
    test_cases[test_case_count++] = (struct test_case){name, fn};
}

/* A case: a plain function, run in the program's main thread. */
#define CASE(name)                                                                                 \
    static void name(void);                                                                        \
    __attribute__((constructor)) static void name##_register(void) {                               \
        case_add(#name, name);                                                                     \
    }                                                                                              \
    static void name(void)

static inline void run_main(void *(*fn)(void *)) {
    int rc = tr_run(fn, NULL, NULL);
    if (rc != 0) {
        fprintf(stderr, "tr_run returned %d (%s)\n", rc, tr_strerror(rc));
        exit(1);
    }
}

/* A case whose body is tr_run's main task; tr_run must return 0. */
#define TASK_CASE(name)                                                                            \
    static void *name##_main(void *arg);                                                           \
    CASE(name) {                                                                                   \
        run_main(name##_main);                                                                     \
    }                                                                                              \
    static void *name##_main(__attribute__((unused)) void *arg)

static inline int skip_case(const char *why) {
    printf("SKIP: %s\n", why);
    exit(77);
}

/* Options after the case names ("--tasks 1000") are for the cases: test_option reads them. */
static int test_argc;
static char **test_argv;

static inline const char *test_option(const char *name) {
    for (int a = 1; a + 1 < test_argc; a++)
        if (strcmp(test_argv[a], name) == 0)
            return test_argv[a + 1];
    return NULL;
}

int main(int argc, char **argv) {
    test_argc = argc;
    test_argv = argv;
    if (argc > 1 && strcmp(argv[1], "--list") == 0) {
        for (size_t i = 0; i < test_case_count; i++)
            printf("%s\n", test_cases[i].name);
        return 0;
    }
    int named = 0;
    for (int a = 1; a < argc; a++) {
        if (strncmp(argv[a], "--", 2) == 0)
            a++; /* an option and its value */
        else
            named++;
    }
    int ran = 0;
    for (size_t i = 0; i < test_case_count; i++) {
        bool wanted = named == 0;
        for (int a = 1; a < argc; a++) {
            if (strncmp(argv[a], "--", 2) == 0)
                a++;
            else
                wanted |= strcmp(argv[a], test_cases[i].name) == 0;
        }
        if (!wanted)
            continue;
        test_cases[i].fn();
        printf("ok %s\n", test_cases[i].name);
        fflush(stdout);
        ran++;
    }
    if (ran == 0) {
        fprintf(stderr, "no such case\n");
        return 2;
    }
    return 0;
}

/* ---- helpers ------------------------------------------------------------------------------ */

static inline uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Under valgrind or a sanitizer everything is 10-100 times slower: large cases scale down. */
static inline bool slow_build(void) {
#if defined(TASKRING_ASAN) || defined(TASKRING_TSAN)
    return true;
#else
    return RUNNING_ON_VALGRIND;
#endif
}

/* Sleep until CLOCK_MONOTONIC reaches `at`; tr_sleep's error if one cuts it short. */
static inline int sleep_until(uint64_t at) {
    for (;;) {
        uint64_t now = now_ns();
        if (now >= at)
            return 0;
        int rc = tr_sleep(at - now);
        if (rc < 0)
            return rc;
    }
}

/* Let every other runnable task run a few times. */
static inline void settle_turns(int turns) {
    for (int i = 0; i < turns; i++)
        CHECK_EQ(tr_yield(), 0);
}

/*
 * A member doing what a case needs: sleep `sleep_ns` (0: none), then fail with `fail` or
 * return `value`. When its sleep is cancelled it records it and, with `cleanup_ns`, does a
 * shielded cleanup that long (asyncio's `except CancelledError: await sleep(...)`), then fails
 * with `cleanup_fail` if set (an exception raised in `finally`). `spawn_into`, when set, is
 * tried on cancellation (a group refusing new members once it is cancelling).
 */
struct job {
    uint64_t sleep_ns;
    int fail;
    void *value;
    uint64_t cleanup_ns;
    int cleanup_fail;
    int yields; /* tr_yield this many times before anything else */
    /* observed */
    bool started, finished, saw_cancel;
    int sleep_rc, cleanup_rc;
    uint64_t ended_at;
};

static inline void *job_run(void *arg) {
    struct job *j = arg;
    j->started = true;
    for (int i = 0; i < j->yields; i++)
        tr_yield();
    j->sleep_rc = j->sleep_ns ? tr_sleep(j->sleep_ns) : 0;
    void *ret = j->value;
    if (j->sleep_rc == -ECANCELED) {
        j->saw_cancel = true;
        if (j->cleanup_ns) {
            tr_shield s;
            CHECK_EQ(tr_shield_begin(&s), 0);
            j->cleanup_rc = tr_sleep(j->cleanup_ns);
            tr_shield_end(&s);
        }
        if (j->cleanup_fail)
            ret = tr_fail(j->cleanup_fail);
    } else if (j->fail) {
        ret = tr_fail(j->fail);
    }
    j->finished = true;
    j->ended_at = now_ns();
    return ret;
}

static inline tr_task *spawn_job(struct job *j) {
    tr_task *t = tr_spawn(job_run, j);
    CHECK(t != NULL);
    return t;
}

static inline void release_all(tr_task **t, size_t n) {
    for (size_t i = 0; i < n; i++)
        tr_task_release(t[i]);
}

/* Wait until t is done, whatever it returns (bounded: t must end within `ms`). */
static inline void await_done(tr_task *t, uint64_t ms) {
    uint64_t end = now_ns() + ms * MS;
    while (!tr_task_done(t)) {
        CHECK(now_ns() < end);
        CHECK_EQ(tr_sleep(MS / 2), 0);
    }
}

/*
 * Objects of another loop, for the -EPERM checks: a thread runs its own tr_run, whose main
 * task makes a task (sleeping until released), a group with one such member and an
 * as_completed iterator over the task, publishes them, and cleans up once released.
 */
struct foreign {
    pthread_t thread;
    _Atomic(tr_task *) task;
    _Atomic(tr_group *) group;
    _Atomic(tr_completed *) iter;
    atomic_bool release;
};

static inline void *foreign_sleeper(void *arg) {
    struct foreign *f = arg;
    while (!atomic_load(&f->release))
        if (tr_sleep(MS / 2) < 0)
            break;
    return NULL;
}

static inline void *foreign_main(void *arg) {
    struct foreign *f = arg;
    tr_task *t = tr_spawn(foreign_sleeper, f);
    tr_group *g = tr_group_new();
    CHECK(t && g && tr_group_spawn(g, foreign_sleeper, f));
    tr_completed *it = tr_as_completed(&t, 1);
    CHECK(it != NULL);
    atomic_store(&f->iter, it);
    atomic_store(&f->group, g);
    atomic_store(&f->task, t);
    CHECK_EQ(tr_await(t, NULL), 0);
    CHECK_EQ(tr_group_wait(g), 0);
    CHECK_EQ(tr_group_free(g), 0);
    tr_completed_free(it);
    tr_task_release(t);
    return NULL;
}

static inline void *foreign_thread(void *arg) {
    CHECK_EQ(tr_run(foreign_main, arg, NULL), 0);
    return NULL;
}

/* Start the other loop and wait (in a task of ours, or not) until its objects exist. */
static inline void foreign_start(struct foreign *f) {
    memset(f, 0, sizeof *f);
    CHECK_EQ(pthread_create(&f->thread, NULL, foreign_thread, f), 0);
    uint64_t end = now_ns() + 10000 * MS;
    while (!atomic_load(&f->task)) {
        CHECK(now_ns() < end);
        struct timespec ts = {0, 100000};
        nanosleep(&ts, NULL);
    }
}

static inline void foreign_stop(struct foreign *f) {
    atomic_store(&f->release, true);
    CHECK_EQ(pthread_join(f->thread, NULL), 0);
}

#endif /* TASKRING_TASKS_TEST_H */
