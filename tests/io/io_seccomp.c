/*
 * io_seccomp.c - io_uring unavailable: in a fork()ed child, a seccomp filter makes
 * io_uring_setup fail with EPERM (a container profile refusing it), ENOSYS (a kernel or
 * filter hiding it) or EINVAL, or ENOMEM (a resource error, which is no reason to fall back).
 *
 *   - TR_BACKEND_IO_URING: tr_run must return that error without crashing, hanging or running
 *     main, tr_strerror must explain it (io_uring, and seccomp for EPERM), and the thread must
 *     be left without a loop (a second tr_run fails the same way, tr_spawn says EPERM);
 *   - auto (the default): EPERM, ENOSYS and EINVAL fall back to epoll: main runs, its loops
 *     say TR_BACKEND_EPOLL, socket I/O works, and exactly one line on stderr names the reason
 *     and the fix (seccomp, kernel.io_uring_disabled); none with TR_OPTION_QUIET. ENOMEM is
 *     returned, as with io_uring alone.
 *
 * `io_seccomp --exec PROGRAM ARGS...` installs the EPERM filter and runs PROGRAM under it
 * (ctest runs every I/O test that way: the fallback runs the whole I/O suite).
 *
 * The child reports through its exit status; the parent asserts on it.
 */
#include "io_test.h"

#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#if defined(__x86_64__)
#define FILTER_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define FILTER_ARCH AUDIT_ARCH_AARCH64
#endif

enum {
    CHILD_OK = 0,
    CHILD_NO_SECCOMP = 10, /* the filter could not be installed: skip */
    CHILD_FILTER_INEFFECTIVE = 11,
    CHILD_WRONG_RC = 12,
    CHILD_MAIN_RAN = 13,
    CHILD_BAD_TEXT = 14,
    CHILD_LEFT_STATE = 15,
    CHILD_NO_FALLBACK = 16,
    CHILD_BAD_LINE = 17,
};

/* io_uring_setup -> SECCOMP_RET_ERRNO | err; everything else allowed. */
static int install_filter(unsigned err) {
#ifndef FILTER_ARCH
    (void)err;
    errno = ENOTSUP; /* no audit arch known for this machine: the test skips */
    return -1;
#else
    struct sock_filter filter[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, FILTER_ARCH, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW), /* another ABI: not ours to filter */
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (err & SECCOMP_RET_DATA)),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {.len = (unsigned short)(sizeof filter / sizeof filter[0]),
                              .filter = filter};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        return -errno;
    if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0)
        return -errno;
    return 0;
#endif
}

static bool main_ran;

static void *never_main(void *arg) {
    (void)arg;
    main_ran = true;
    return NULL;
}

static int fallback_loops;
static int fallback_io;

/* Main on the fallback: every loop says epoll, and a socket round trip works. */
static void *fallback_main(void *arg) {
    (void)arg;
    main_ran = true;
    for (unsigned i = 0; i < tr_loop_count(); i++)
        if (tr_loop_backend(i) == TR_BACKEND_EPOLL)
            fallback_loops++;
    int sv[2];
    char buf[8];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0) {
        if (tr_send(sv[0], "ping", 4, 0) == 4 && tr_recv(sv[1], buf, sizeof buf, 0) == 4 &&
            memcmp(buf, "ping", 4) == 0 && tr_nop() == 0)
            fallback_io = 1;
        close(sv[0]);
        close(sv[1]);
    }
    return NULL;
}

/* tr_run_with(opts, fallback_main) with stderr captured into `text`: its return value. */
static int run_captured(const tr_options *opts, char *text, size_t size) {
    fflush(stderr);
    FILE *tmp = tmpfile();
    if (!tmp)
        return -errno;
    int saved = dup(2);
    dup2(fileno(tmp), 2);
    main_ran = false;
    fallback_loops = fallback_io = 0;
    int rc = tr_run_with(opts, fallback_main, NULL, NULL);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    rewind(tmp);
    size_t n = fread(text, 1, size - 1, tmp);
    text[n] = 0;
    fclose(tmp);
    return rc;
}

static int count_lines(const char *text) {
    int n = 0;
    for (; *text; text++)
        n += *text == '\n';
    return n;
}

/* auto: falls back for EPERM, ENOSYS, EINVAL, says so once (never with TR_OPTION_QUIET). */
static int check_fallback(int err) {
    char text[2048];
    tr_options o = {.size = sizeof o, .loops = 2};
    int rc = run_captured(&o, text, sizeof text);
    if (err == ENOMEM) { /* a resource error: no fallback, and no line */
        if (rc != -ENOMEM || main_ran || text[0]) {
            fprintf(stderr, "child: ENOMEM: tr_run -> %d, main ran %d, stderr \"%s\"\n", rc,
                    main_ran, text);
            return CHILD_NO_FALLBACK;
        }
        return CHILD_OK;
    }
    if (rc != 0 || !main_ran || fallback_loops != 2 || !fallback_io) {
        fprintf(stderr, "child: fallback: tr_run -> %d, main ran %d, epoll loops %d, io %d\n", rc,
                main_ran, fallback_loops, fallback_io);
        return CHILD_NO_FALLBACK;
    }
    static const char *const must[] = {
        "taskring:", "io_uring", "epoll", "seccomp", "kernel.io_uring_disabled", NULL};
    for (const char *const *w = must; *w; w++) {
        if (count_lines(text) != 1 || !strstr(text, *w)) {
            fprintf(stderr, "child: the fallback's stderr is not one line naming \"%s\": \"%s\"\n",
                    *w, text);
            return CHILD_BAD_LINE;
        }
    }
    printf("child: fallback said: %s", text);
    o.flags = TR_OPTION_QUIET;
    rc = run_captured(&o, text, sizeof text);
    if (rc != 0 || !main_ran || text[0]) {
        fprintf(stderr, "child: quiet fallback: tr_run -> %d, stderr \"%s\"\n", rc, text);
        return CHILD_BAD_LINE;
    }
    return CHILD_OK;
}

static int child(int err, const char *const *words) {
    unsetenv("TASKRING_BACKEND"); /* the choice is made here */
    if (install_filter((unsigned)err) != 0) {
        fprintf(stderr, "child: cannot install a seccomp filter: %s\n", strerror(errno));
        return CHILD_NO_SECCOMP;
    }
    /* The filter works: the raw syscall now fails with err. */
    long raw = syscall(__NR_io_uring_setup, 4, NULL);
    if (raw != -1 || errno != err) {
        fprintf(stderr, "child: io_uring_setup still returns %ld (errno %d)\n", raw, errno);
        return CHILD_FILTER_INEFFECTIVE;
    }
    int fb = check_fallback(err);
    if (fb != CHILD_OK)
        return fb;
    tr_options only = {.size = sizeof only, .backend = TR_BACKEND_IO_URING};
    void *result = (void *)1;
    main_ran = false;
    int rc = tr_run_with(&only, never_main, NULL, &result);
    if (rc != -err) {
        fprintf(stderr, "child: tr_run returned %d (%s), expected %d\n", rc, tr_strerror(rc), -err);
        return CHILD_WRONG_RC;
    }
    if (main_ran || result != (void *)1) {
        fprintf(stderr, "child: main ran, or the result was written, without a loop\n");
        return CHILD_MAIN_RAN;
    }
    const char *text = tr_strerror(rc);
    for (const char *const *w = words; *w; w++) {
        if (!text || !strstr(text, *w)) {
            fprintf(stderr, "child: tr_strerror(%d) = \"%s\" does not mention \"%s\"\n", rc,
                    text ? text : "(null)", *w);
            return CHILD_BAD_TEXT;
        }
    }
    /* Nothing is left behind on this thread. */
    errno = 0;
    if (tr_current() != NULL || tr_spawn(never_main, NULL) != NULL || errno != EPERM ||
        tr_nop() != -EPERM || tr_run_with(&only, never_main, NULL, NULL) != -err || main_ran) {
        fprintf(stderr, "child: state left behind after the failed tr_run\n");
        return CHILD_LEFT_STATE;
    }
    printf("child: tr_run -> %d: %s\n", rc, text);
    fflush(stdout);
    return CHILD_OK;
}

static void run_child(int err, const char *const *words) {
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        exit(child(err, words)); /* exit, not _exit: sanitizers check the child too */
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (WIFSIGNALED(status)) {
        fprintf(stderr, "child killed by signal %d\n", WTERMSIG(status));
        fail();
    }
    assert_true(WIFEXITED(status));
    if (WEXITSTATUS(status) == CHILD_NO_SECCOMP)
        TEST_SKIP("no seccomp filter can be installed here");
    assert_int_equal(WEXITSTATUS(status), CHILD_OK);
}

static void test_eperm(void **state) {
    (void)state;
    static const char *const words[] = {"io_uring", "seccomp", NULL};
    run_child(EPERM, words);
}

static void test_enosys(void **state) {
    (void)state;
    static const char *const words[] = {"io_uring", NULL};
    run_child(ENOSYS, words);
}

static void test_einval(void **state) {
    (void)state;
    static const char *const words[] = {NULL};
    run_child(EINVAL, words);
}

static void test_enomem_no_fallback(void **state) {
    (void)state;
    static const char *const words[] = {"memory", NULL};
    run_child(ENOMEM, words);
}

/* The parent itself still has io_uring: a normal loop runs after the children. */
static void *ok_main(void *arg) {
    (void)arg;
    T_EQ(tr_nop(), 0);
    return (void *)(intptr_t)7;
}

static void test_parent_unaffected(void **state) {
    (void)state;
    assert_int_equal((intptr_t)io_run(ok_main, NULL), 7);
}

int main(int argc, char **argv) {
    if (argc >= 3 && strcmp(argv[1], "--exec") == 0) {
        unsetenv("TASKRING_BACKEND");
        if (install_filter(EPERM) != 0) {
            printf("SKIPPED: cannot install a seccomp filter: %s\n", strerror(errno));
            return 77;
        }
        execv(argv[2], argv + 2);
        fprintf(stderr, "io_seccomp: cannot run %s: %s\n", argv[2], strerror(errno));
        return 1;
    }
    io_parse_args(&argc, argv);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_eperm, io_setup),
        cmocka_unit_test_setup(test_enosys, io_setup),
        cmocka_unit_test_setup(test_einval, io_setup),
        cmocka_unit_test_setup(test_enomem_no_fallback, io_setup),
        cmocka_unit_test_setup(test_parent_unaffected, io_setup),
    };
    return test_result(cmocka_run_group_tests(tests, NULL, NULL));
}
