/*
 * test_util.h - helpers shared by taskring's cmocka tests.
 *
 * cmocka's assertions may be used inside tasks: a failing assertion longjmps out of the task
 * back to cmocka, which reports the failure. The loop of that tr_run is then abandoned, so
 * later tests of the same program may fail with -EBUSY: read the first failure.
 */
#ifndef TASKRING_TEST_UTIL_H
#define TASKRING_TEST_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "taskring.h"
#include "skip.h"

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#endif
#endif
#ifndef RUNNING_ON_VALGRIND
#define RUNNING_ON_VALGRIND 0
#endif

#define MS 1000000ull

#if defined(TASKRING_ASAN) || defined(TASKRING_TSAN)
#define TEST_SANITIZED 1
#else
#define TEST_SANITIZED 0
#endif

static inline uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* N of a "Task-N" name; -1 when name is not of that form. */
static inline long task_number(const char *name) {
    if (name == NULL || strncmp(name, "Task-", 5) != 0)
        return -1;
    const char *p = name + 5;
    if (*p < '1' || *p > '9')
        return -1;
    char *end;
    long n = strtol(p, &end, 10);
    return *end == '\0' ? n : -1;
}

/* Number of the calling task's default name. */
static inline long current_number(void) {
    tr_task *self = tr_current();
    assert_non_null(self);
    long n = task_number(tr_task_name(self));
    assert_true(n > 0);
    return n;
}

/* tr_run(fn, arg) that must succeed; returns main's result. */
static inline void *run_ok(tr_fn fn, void *arg) {
    void *result = (void *)(uintptr_t)0xdeadbeef;
    int rc = tr_run(fn, arg, &result);
    if (rc != 0)
        fail_msg("tr_run: %d (%s)", rc, tr_strerror(rc));
    return result;
}

/* Is `t` in `s`? */
static inline bool set_contains(const tr_taskset *s, const tr_task *t) {
    for (size_t i = 0; i < tr_taskset_size(s); i++)
        if (tr_taskset_get(s, i) == t)
            return true;
    return false;
}

/* Assert that no task appears twice in s. */
static inline void assert_set_distinct(const tr_taskset *s) {
    size_t n = tr_taskset_size(s);
    for (size_t i = 0; i < n; i++) {
        tr_task *a = tr_taskset_get(s, i);
        assert_non_null(a);
        for (size_t j = i + 1; j < n; j++)
            assert_ptr_not_equal(a, tr_taskset_get(s, j));
    }
}

/* Yield `n` times, asserting each succeeds. */
static inline void yield_n(int n) {
    for (int i = 0; i < n; i++)
        assert_int_equal(tr_yield(), 0);
}

/*
 * Death tests. The test program re-executes itself (/proc/self/exe) with `mode` as its only
 * argument, so the child starts clean: no cmocka signal handlers, no inherited loop. The
 * program's main() must dispatch such modes before starting cmocka. Collects the child's
 * stderr into err (NUL-terminated) and its wait status into *status.
 */
static inline void run_self_child(const char *mode, int *status, char *err, size_t errlen) {
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct rlimit no_core = {0, 0};
        setrlimit(RLIMIT_CORE, &no_core);
        close(fds[0]);
        dup2(fds[1], STDERR_FILENO);
        close(fds[1]);
        int devnull = open("/dev/null", O_WRONLY);
        if (devnull >= 0)
            dup2(devnull, STDOUT_FILENO);
        execl("/proc/self/exe", "taskring-death-test", mode, (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    size_t used = 0;
    for (;;) {
        char chunk[512];
        ssize_t n = read(fds[0], chunk, sizeof chunk);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        size_t take = (size_t)n;
        if (errlen > 0 && take > errlen - 1 - used)
            take = errlen - 1 - used;
        memcpy(err + used, chunk, take);
        used += take;
    }
    if (errlen > 0)
        err[used] = '\0';
    close(fds[0]);
    pid_t w;
    do
        w = waitpid(pid, status, 0);
    while (w < 0 && errno == EINTR);
    assert_int_equal(w, pid);
}

/* Case-insensitive strstr. */
static inline bool contains_ci(const char *hay, const char *needle) {
    size_t n = strlen(needle);
    for (; *hay != '\0'; hay++)
        if (strncasecmp(hay, needle, n) == 0)
            return true;
    return false;
}

#endif /* TASKRING_TEST_UTIL_H */
