/*
 * Releasing a task more often than it was retained aborts the process with a message that
 * mentions the release. Each case runs in a re-executed child process.
 */
#include "test_util.h"

static void *noop(void *arg) {
    return arg;
}

/* Two releases of the one reference tr_spawn gave, while the task is still scheduled. */
static void *release_twice_pending(void *arg) {
    (void)arg;
    tr_task *t = tr_spawn(noop, NULL);
    tr_task_release(t);
    tr_task_release(t);
    tr_yield();
    return NULL;
}

/* Retained once more, released three times, while the task is suspended. */
static void *sleeper(void *arg) {
    (void)arg;
    tr_sleep(10 * MS);
    return NULL;
}
static void *release_thrice_sleeping(void *arg) {
    (void)arg;
    tr_task *t = tr_spawn(sleeper, NULL);
    tr_yield();
    tr_task_retain(t);
    tr_task_release(t);
    tr_task_release(t);
    tr_task_release(t);
    tr_sleep(20 * MS);
    return NULL;
}

/* Released once more after the last reference went (the task finished and was released):
 * the record is not reused yet, so the misuse is detectable. */
static void *release_after_last(void *arg) {
    (void)arg;
    tr_task *t = tr_spawn(noop, NULL);
    tr_await(t, NULL);
    tr_task_release(t);
    tr_task_release(t);
    return NULL;
}

static int child_mode(const char *mode) {
    int rc;
    if (strcmp(mode, "--child-pending") == 0)
        rc = tr_run(release_twice_pending, NULL, NULL);
    else if (strcmp(mode, "--child-sleeping") == 0)
        rc = tr_run(release_thrice_sleeping, NULL, NULL);
    else if (strcmp(mode, "--child-done") == 0)
        rc = tr_run(release_after_last, NULL, NULL);
    else
        return 64;
    fprintf(stderr, "child survived the extra release: tr_run returned %d\n", rc);
    return 0;
}

static void check_aborts(const char *mode) {
    int status;
    char err[8192];
    run_self_child(mode, &status, err, sizeof err);
    if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGABRT)
        fail_msg("child did not abort (status 0x%x); stderr:\n%s", status, err);
    if (!contains_ci(err, "release"))
        fail_msg("child's stderr does not mention the release:\n%s", err);
}

static void test_release_twice_pending(void **state) {
    (void)state;
    check_aborts("--child-pending");
}

static void test_release_thrice_sleeping(void **state) {
    (void)state;
    check_aborts("--child-sleeping");
}

static void test_release_after_last(void **state) {
    (void)state;
    check_aborts("--child-done");
}

int main(int argc, char **argv) {
    if (argc > 1)
        return child_mode(argv[1]);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_release_twice_pending),
        cmocka_unit_test(test_release_thrice_sleeping),
        cmocka_unit_test(test_release_after_last),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
