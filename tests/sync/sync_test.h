/*
 * sync_test.h - what the synchronisation tests in tests/sync/ share.
 *
 * Each program is a cmocka suite; each case runs its body as the main task of a tr_run and
 * is named after the CPython test it mirrors (Lib/test/test_asyncio/test_locks.py,
 * test_queues.py) or after the behaviour it checks. cmocka's assert_* longjmp, which must not
 * happen on a task's stack, so task code uses the T_* checks: they record a failure (file,
 * line, values, task) and the case asserts after tr_run that none was recorded (sync_run).
 *
 * "Settle" below means: let every runnable task run until it blocks. The run queue is FIFO
 * and a task runs until it suspends, so tr_yield calls of the main task do it: one per link
 * of the longest chain of wake-ups (a lock handed along ten waiters is ten), so settle()
 * yields SETTLE_YIELDS times.
 */
#ifndef TR_SYNC_TEST_H
#define TR_SYNC_TEST_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "taskring.h"
#include "../skip.h"

#define MS 1000000ull
/* Upper bounds on elapsed time are generous: the tests also run under valgrind and TSan. */
#define SLACK (2000 * MS)

static _Atomic int sync_failures;

static inline void sync_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static inline void sync_fail(const char *file, int line, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    tr_task *self = tr_current();
    if (++sync_failures <= 20)
        fprintf(stderr, "%s:%d: [%s] %s\n", file, line, self ? tr_task_name(self) : "no task", msg);
    fflush(stderr);
}

/* "-ECANCELED" for -125, "42" for 42. */
static inline const char *rcname(long long v, char buf[static 32]) {
    if (v < 0 && v > -4096) {
        const char *name = strerrorname_np((int)-v);
        if (name) {
            snprintf(buf, 32, "-%s", name);
            return buf;
        }
    }
    snprintf(buf, 32, "%lld", v);
    return buf;
}

#define T_CHECK(cond)                                                                              \
    do {                                                                                           \
        if (!(cond))                                                                               \
            sync_fail(__FILE__, __LINE__, "check failed: %s", #cond);                              \
    } while (0)

#define T_EQ(actual, expected)                                                                     \
    do {                                                                                           \
        long long a_ = (long long)(actual), e_ = (long long)(expected);                            \
        if (a_ != e_) {                                                                            \
            char ba_[32], be_[32];                                                                 \
            sync_fail(__FILE__, __LINE__, "%s == %s: got %s, expected %s", #actual, #expected,     \
                      rcname(a_, ba_), rcname(e_, be_));                                           \
        }                                                                                          \
    } while (0)

/* As T_CHECK, but the enclosing task function (returning void *) returns NULL. */
#define T_REQUIRE(cond)                                                                            \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            sync_fail(__FILE__, __LINE__, "requirement failed: %s", #cond);                        \
            return NULL;                                                                           \
        }                                                                                          \
    } while (0)

static inline uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline int sync_setup(void **state) {
    (void)state;
    sync_failures = 0;
    return 0;
}

/* tr_run(fn, arg): asserts (cmocka) that it returned 0 and that no T_* check failed. */
static inline void sync_run(tr_fn fn, void *arg) {
    int rc = tr_run(fn, arg, NULL);
    if (rc != 0)
        fprintf(stderr, "tr_run: %d (%s)\n", rc, tr_strerror(rc));
    assert_int_equal(rc, 0);
    assert_int_equal(sync_failures, 0);
}

/* One case: `body` is the main task. */
#define SYNC_CASE(name, body)                                                                      \
    static void name(void **state) {                                                               \
        (void)state;                                                                               \
        sync_run(body, NULL);                                                                      \
    }
#define SYNC_TEST(name) cmocka_unit_test_setup(name, sync_setup)

/* Let every runnable task run until it blocks (see the top of this file). */
enum { SETTLE_YIELDS = 64 };
static inline void settle(void) {
    for (int i = 0; i < SETTLE_YIELDS; i++)
        if (tr_yield() < 0)
            sync_fail(__FILE__, __LINE__, "settle: tr_yield failed");
}

/* tr_spawn that must succeed (NULL after recording the failure). */
static inline tr_task *spawn(tr_fn fn, void *arg) {
    tr_task *t = tr_spawn(fn, arg);
    if (!t)
        sync_fail(__FILE__, __LINE__, "tr_spawn: errno %d", errno);
    return t;
}

/* Await t and release it; returns tr_await's result. */
static inline int finish(tr_task *t) {
    if (!t)
        return -EINVAL;
    int rc = tr_await(t, NULL);
    tr_task_release(t);
    return rc;
}

/* A log of small integers, in the order things happened. */
struct order {
    int v[64];
    int n;
};

static inline void order_add(struct order *o, int v) {
    if (o->n < 64)
        o->v[o->n++] = v;
}

/* Does o hold exactly the n values of `want`, in that order? */
static inline bool order_is(const struct order *o, const int *want, int n) {
    if (o->n != n)
        return false;
    for (int i = 0; i < n; i++)
        if (o->v[i] != want[i])
            return false;
    return true;
}

#define ORDER_IS(o, ...)                                                                           \
    order_is((o), (const int[]){__VA_ARGS__}, (int)(sizeof((int[]){__VA_ARGS__}) / sizeof(int)))

/* Cancel t and check the request was made. */
static inline void cancel(tr_task *t) {
    if (tr_task_cancel(t) != 1)
        sync_fail(__FILE__, __LINE__, "tr_task_cancel did not request");
}

/* The command line every program takes: --only PATTERN, --skip PATTERN (cmocka filters). */
static inline void sync_parse_args(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        if (i + 1 < argc && strcmp(argv[i], "--only") == 0)
            cmocka_set_test_filter(argv[++i]);
        else if (i + 1 < argc && strcmp(argv[i], "--skip") == 0)
            cmocka_set_skip_filter(argv[++i]);
        else {
            fprintf(stderr, "%s: unknown argument '%s'\n", argv[0], argv[i]);
            exit(2);
        }
    }
}

#endif
