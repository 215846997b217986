/*
 * io_seccomp.c - io_uring unavailable: in a fork()ed child, a seccomp filter makes
 * io_uring_setup fail with EPERM (a container profile refusing it) or ENOSYS (a kernel or
 * filter hiding it). tr_run must return that error without crashing, hanging or running
 * main, tr_strerror must explain it (io_uring, and seccomp for EPERM), and the thread must be
 * left without a loop (a second tr_run fails the same way, tr_spawn says EPERM).
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

static int child(int err, const char *const *words) {
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
    void *result = (void *)1;
    int rc = tr_run(never_main, NULL, &result);
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
        tr_nop() != -EPERM || tr_run(never_main, NULL, NULL) != -err || main_ran) {
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
    io_parse_args(&argc, argv);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_eperm, io_setup),
        cmocka_unit_test_setup(test_enosys, io_setup),
        cmocka_unit_test_setup(test_parent_unaffected, io_setup),
    };
    return test_result(cmocka_run_group_tests(tests, NULL, NULL));
}
