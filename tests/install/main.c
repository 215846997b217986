/*
 * Consumer of an installed taskring: built against the installed header and library only
 * (find_package or pkg-config), by tests/install/run.sh.
 *
 * Usage: consumer LABEL   - prints "install consumer LABEL: OK" and exits 0 on success.
 */
#include <taskring.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static int failures;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);               \
            failures++;                                                                            \
        }                                                                                          \
    } while (0)

static void *child(void *arg) {
    int *runs = arg;
    if (tr_sleep(1000 * 1000) != 0) /* 1 ms */
        return NULL;
    if (tr_yield() != 0)
        return NULL;
    (*runs)++;
    return (void *)(intptr_t)42;
}

static void *main_task(void *arg) {
    (void)arg;
    tr_task *self = tr_current();
    CHECK(self != NULL);
    CHECK(self && strcmp(tr_task_name(self), "Task-1") == 0);

    int runs = 0;
    tr_task *named = tr_spawn_named(child, &runs, "consumer-child");
    tr_task *plain = tr_spawn(child, &runs);
    CHECK(named != NULL && plain != NULL);
    if (!named || !plain)
        return NULL;
    CHECK(strcmp(tr_task_name(named), "consumer-child") == 0);
    CHECK(strncmp(tr_task_name(plain), "Task-", 5) == 0);
    CHECK(strcmp(tr_task_name(plain), "Task-1") != 0);
    CHECK(tr_task_count() >= 3);

    void *res = NULL;
    CHECK(tr_await(named, &res) == 0);
    CHECK(res == (void *)(intptr_t)42);
    CHECK(tr_await(plain, &res) == 0);
    CHECK(res == (void *)(intptr_t)42);
    CHECK(runs == 2);
    CHECK(tr_task_done(named) && !tr_task_cancelled(named));
    CHECK(tr_await(self, NULL) == -EDEADLK);

    char repr[128];
    CHECK(tr_task_repr(named, repr, sizeof repr) > 0);
    CHECK(strstr(repr, "consumer-child") != NULL);

    tr_task_release(named);
    tr_task_release(plain);
    return (void *)"done";
}

int main(int argc, char **argv) {
    const char *label = argc > 1 ? argv[1] : "consumer";
    void *result = NULL;
    int rc = tr_run(main_task, NULL, &result);
    if (rc < 0) {
        fprintf(stderr, "install consumer %s: tr_run failed: %s\n", label, tr_strerror(rc));
        return 1;
    }
    CHECK(result != NULL && strcmp((const char *)result, "done") == 0);
    CHECK(tr_task_count() == 0);
    if (failures) {
        fprintf(stderr, "install consumer %s: %d check(s) failed\n", label, failures);
        return 1;
    }
    printf("install consumer %s: OK (taskring %d.%d.%d)\n", label, TASKRING_VERSION_MAJOR,
           TASKRING_VERSION_MINOR, TASKRING_VERSION_PATCH);
    return 0;
}
