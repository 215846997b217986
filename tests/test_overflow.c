/*
 * A task that overflows its stack kills the process (the guard page is hit), with a message
 * on stderr that names the task. Runs in a re-executed child process. Skipped under
 * sanitizers and valgrind, which handle the fault themselves.
 */
#include "test_util.h"

/* Deep recursion that the compiler cannot turn into a loop. */
__attribute__((noinline)) static unsigned recurse(unsigned depth, volatile char *prev) {
    volatile char frame[1024];
    frame[0] = (char)depth;
    frame[sizeof frame - 1] = prev != NULL ? prev[0] : 0;
    if (depth == 0)
        return frame[0];
    return recurse(depth - 1, frame) + frame[sizeof frame - 1];
}

static void *deep(void *arg) {
    (void)arg;
    return (void *)(uintptr_t)recurse(1u << 30, NULL);
}

static void *overflow_named_main(void *arg) {
    (void)arg;
    tr_task *t = tr_spawn_named(deep, NULL, "deep-recursion");
    tr_await(t, NULL);
    return NULL;
}

static void *overflow_default_main(void *arg) {
    (void)arg;
    tr_task *t = tr_spawn(deep, NULL); /* Task-2 in this fresh process */
    tr_await(t, NULL);
    return NULL;
}

static int child_mode(const char *mode) {
    int rc;
    if (strcmp(mode, "--child-overflow-named") == 0)
        rc = tr_run(overflow_named_main, NULL, NULL);
    else if (strcmp(mode, "--child-overflow-default") == 0)
        rc = tr_run(overflow_default_main, NULL, NULL);
    else
        return 64;
    fprintf(stderr, "child survived its stack overflow: tr_run returned %d\n", rc);
    return 0;
}

static void check_overflow(const char *mode, const char *name) {
    if (TEST_SANITIZED || RUNNING_ON_VALGRIND)
        TEST_SKIP("the sanitizers and valgrind handle SIGSEGV themselves");
    int status;
    char err[8192];
    run_self_child(mode, &status, err, sizeof err);
    if (!WIFSIGNALED(status))
        fail_msg("child was not killed by a signal (status 0x%x); stderr:\n%s", status, err);
    int sig = WTERMSIG(status);
    if (sig != SIGSEGV && sig != SIGBUS && sig != SIGABRT)
        fail_msg("child killed by unexpected signal %d; stderr:\n%s", sig, err);
    if (strstr(err, name) == NULL)
        fail_msg("child's stderr does not name the task '%s':\n%s", name, err);
}

static void test_overflow_named(void **state) {
    (void)state;
    check_overflow("--child-overflow-named", "deep-recursion");
}

static void test_overflow_default_name(void **state) {
    (void)state;
    check_overflow("--child-overflow-default", "Task-2");
}

int main(int argc, char **argv) {
    if (argc > 1)
        return child_mode(argv[1]);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_overflow_named),
        cmocka_unit_test(test_overflow_default_name),
    };
    return test_result(cmocka_run_group_tests(tests, NULL, NULL));
}
