/*
 * regress.h - what every regression program in tests/regress/ shares.
 *
 * One program per behaviour or bug, named after it, in the manner of liburing's test/: it
 * exits 0 when the behaviour holds, 1 (with the failed check on stderr) when it does not, and
 * SKIP_CODE (77, ctest's SKIP_RETURN_CODE) with the reason on stdout when it cannot run here.
 */
#ifndef TASKRING_REGRESS_H
#define TASKRING_REGRESS_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "taskring.h"

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#endif
#endif
#ifndef RUNNING_ON_VALGRIND
#define RUNNING_ON_VALGRIND 0
#endif

#if defined(TASKRING_ASAN) || defined(TASKRING_TSAN)
#define REGRESS_SANITIZED 1
#else
#define REGRESS_SANITIZED 0
#endif

enum { SKIP_CODE = 77 };

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);               \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

#define CHECK_EQ(a, b)                                                                             \
    do {                                                                                           \
        long long a_ = (long long)(a), b_ = (long long)(b);                                        \
        if (a_ != b_) {                                                                            \
            fprintf(stderr, "%s:%d: check failed: %s == %s (%lld != %lld)\n", __FILE__, __LINE__,  \
                    #a, #b, a_, b_);                                                               \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

static inline int skip_because(const char *why) {
    printf("SKIP: %s\n", why);
    return SKIP_CODE;
}

/* A child that reports: run fn(arg) in a fork with stderr (and stdout, when out is not NULL)
 * collected, and give its wait status. The child must not return into the parent's code, so
 * fn's return value is its exit status. No threads exist when the tests fork. */
struct child_output {
    int status;
    char err[16384];
    char out[4096];
};

static inline void drain_fd(int fd, char *buf, size_t cap) {
    size_t used = 0;
    for (;;) {
        char chunk[512];
        ssize_t n = read(fd, chunk, sizeof chunk);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        size_t take = (size_t)n < cap - 1 - used ? (size_t)n : cap - 1 - used;
        memcpy(buf + used, chunk, take);
        used += take;
    }
    buf[used] = '\0';
    close(fd);
}

static inline void run_child(int (*fn)(void *), void *arg, struct child_output *o) {
    int err[2], out[2];
    CHECK(pipe(err) == 0 && pipe(out) == 0);
    fflush(NULL);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        struct rlimit no_core = {0, 0};
        setrlimit(RLIMIT_CORE, &no_core);
        dup2(err[1], STDERR_FILENO);
        dup2(out[1], STDOUT_FILENO);
        close(err[0]), close(err[1]), close(out[0]), close(out[1]);
        int rc = fn(arg);
        fflush(NULL);
        _exit(rc);
    }
    close(err[1]), close(out[1]);
    /* Both pipes are small: read stdout after stderr only because children here print little
     * on stdout (a pipe buffer holds 64 KiB). */
    drain_fd(err[0], o->err, sizeof o->err);
    drain_fd(out[0], o->out, sizeof o->out);
    pid_t w;
    do
        w = waitpid(pid, &o->status, 0);
    while (w < 0 && errno == EINTR);
    CHECK(w == pid);
}

/* Open file descriptors of the process (for checks that a call leaks none). */
static inline int count_fds(void) {
    DIR *d = opendir("/proc/self/fd");
    CHECK(d != NULL);
    int n = 0;
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

static inline size_t count_substr(const char *hay, const char *needle) {
    size_t n = 0, len = strlen(needle);
    for (const char *p = strstr(hay, needle); p; p = strstr(p + len, needle))
        n++;
    return n;
}

#endif /* TASKRING_REGRESS_H */
