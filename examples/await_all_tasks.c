/*
 * await_all_tasks.c - waiting on all tasks, the wrong way and the right way.
 *
 * C version of the tutorial's last two examples, in one program:
 *
 *   ./await_all_tasks          the naive version: the main task awaits every task of
 *                              tr_all_tasks(), itself included. Awaiting itself fails with
 *                              -EDEADLK (asyncio's "Task cannot await on itself"); like the
 *                              Python program's uncaught RuntimeError, the program reports it
 *                              on stderr and exits with status 1. tr_run cancels the tasks
 *                              that were still sleeping.
 *
 *   ./await_all_tasks --fixed  the fixed version: the main task first removes itself
 *                              (tr_current) from the set, then awaits the rest. It prints
 *                              nothing after the "task i is running" lines and exits with 0.
 *
 * Expected output (naive):
 *     main coroutine started
 *     task 0 is running
 *     ...
 *     task 9 is running
 *     RuntimeError: Task cannot await on itself: <Task pending name='Task-1' fn=main_task>
 *
 * The task's description comes from tr_task_repr; the function's name appears because the
 * program is linked with -rdynamic (CMake: ENABLE_EXPORTS ON).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "taskring.h"

#define NTASKS 10
#define MS 1000000ull

void *main_task(void *arg);
void *task_coroutine(void *arg);

#define MAIN_OK ((void *)0)
#define MAIN_RUNTIME_ERROR ((void *)1)
#define MAIN_FAILED ((void *)2)

void *task_coroutine(void *arg) {
    int value = (int)(intptr_t)arg;
    printf("task %d is running\n", value);
    tr_sleep(1000 * MS);
    return NULL;
}

void *main_task(void *arg) {
    bool fixed = arg != NULL;
    printf("main coroutine started\n");

    /* Start the tasks and drop our references: all_tasks finds them anyway. */
    for (int i = 0; i < NTASKS; i++) {
        tr_task *t = tr_spawn(task_coroutine, (void *)(intptr_t)i);
        if (t == NULL) {
            perror("tr_spawn");
            return MAIN_FAILED;
        }
        tr_task_release(t);
    }
    tr_sleep(100 * MS); /* allow the tasks time to start */

    tr_taskset *tasks = tr_all_tasks();
    if (tasks == NULL) {
        perror("tr_all_tasks");
        return MAIN_FAILED;
    }
    if (fixed) {
        int rc = tr_taskset_remove(tasks, tr_current());
        if (rc < 0) {
            fprintf(stderr, "tr_taskset_remove: %s\n", tr_strerror(rc));
            tr_taskset_free(tasks);
            return MAIN_FAILED;
        }
    }

    void *outcome = MAIN_OK;
    for (size_t i = 0; i < tr_taskset_size(tasks); i++) {
        tr_task *t = tr_taskset_get(tasks, i);
        int rc = tr_await(t, NULL);
        if (rc == -EDEADLK && t == tr_current()) {
            char repr[256];
            tr_task_repr(t, repr, sizeof repr);
            fflush(stdout);
            fprintf(stderr, "RuntimeError: Task cannot await on itself: %s\n", repr);
            outcome = MAIN_RUNTIME_ERROR;
            break;
        }
        if (rc < 0) {
            fprintf(stderr, "tr_await(%s): %s\n", tr_task_name(t), tr_strerror(rc));
            outcome = MAIN_FAILED;
            break;
        }
    }
    tr_taskset_free(tasks);
    return outcome;
}

int main(int argc, char **argv) {
    bool fixed = argc > 1 && strcmp(argv[1], "--fixed") == 0;
    if (argc > 1 && !fixed) {
        fprintf(stderr, "usage: %s [--fixed]\n", argv[0]);
        return 2;
    }
    void *result = MAIN_FAILED;
    int rc = tr_run(main_task, fixed ? (void *)1 : NULL, &result);
    fflush(stdout);
    if (rc < 0) {
        fprintf(stderr, "tr_run: %s\n", tr_strerror(rc));
        return EXIT_FAILURE;
    }
    return result == MAIN_OK ? EXIT_SUCCESS : EXIT_FAILURE;
}
