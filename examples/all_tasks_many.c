/*
 * all_tasks_many.c - asyncio.all_tasks() with many tasks running.
 *
 * C version of the tutorial's second example: the main task starts 10 tasks, sleeps 0.1 s so
 * that each of them starts (and goes to sleep for 1 s), then prints every task that is not
 * done: the 10 tasks and the main task itself, in no particular order. Finally it awaits
 * the tasks it started.
 *
 * Expected output (the "> " lines in any order):
 *     main coroutine started
 *     task 0 is running
 *     ...
 *     task 9 is running
 *     > Task-1, <fn main_task>
 *     > Task-2, <fn task_coroutine>
 *     ...
 *     > Task-11, <fn task_coroutine>
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "taskring.h"

#define NTASKS 10
#define MS 1000000ull

void *main_task(void *arg);
void *task_coroutine(void *arg);

static void print_task(tr_task *t) {
    tr_fn fn = tr_task_fn(t, NULL);
    if (fn == main_task)
        printf("> %s, <fn main_task>\n", tr_task_name(t));
    else if (fn == task_coroutine)
        printf("> %s, <fn task_coroutine>\n", tr_task_name(t));
    else
        printf("> %s, <fn %p>\n", tr_task_name(t), (void *)(uintptr_t)fn);
}

void *task_coroutine(void *arg) {
    int value = (int)(intptr_t)arg;
    printf("task %d is running\n", value);
    tr_sleep(1000 * MS);
    return NULL;
}

void *main_task(void *arg) {
    (void)arg;
    printf("main coroutine started\n");

    tr_task *started[NTASKS];
    for (int i = 0; i < NTASKS; i++) {
        started[i] = tr_spawn(task_coroutine, (void *)(intptr_t)i);
        if (started[i] == NULL) {
            perror("tr_spawn");
            return (void *)1;
        }
    }
    tr_sleep(100 * MS); /* allow the tasks time to start */

    tr_taskset *tasks = tr_all_tasks();
    if (tasks == NULL) {
        perror("tr_all_tasks");
        return (void *)1;
    }
    for (size_t i = 0; i < tr_taskset_size(tasks); i++)
        print_task(tr_taskset_get(tasks, i));
    tr_taskset_free(tasks);

    void *failed = NULL;
    for (int i = 0; i < NTASKS; i++) {
        int rc = tr_await(started[i], NULL);
        if (rc < 0) {
            fprintf(stderr, "tr_await: %s\n", tr_strerror(rc));
            failed = (void *)1;
        }
        tr_task_release(started[i]);
    }
    return failed;
}

int main(void) {
    void *result = NULL;
    int rc = tr_run(main_task, NULL, &result);
    if (rc < 0) {
        fprintf(stderr, "tr_run: %s\n", tr_strerror(rc));
        return EXIT_FAILURE;
    }
    return result == NULL ? EXIT_SUCCESS : EXIT_FAILURE;
}
