/*
 * all_tasks_one.c - asyncio.all_tasks() with only one task running.
 *
 * C version of the tutorial's first example: the main task reports a message, takes a
 * snapshot of every task that is not done (tr_all_tasks) and prints each one's name and
 * function. The only task is the main task itself, "Task-1".
 *
 * Expected output:
 *     main coroutine started
 *     > Task-1, <fn main_task>
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "taskring.h"

void *main_task(void *arg);

/* The function part of a line: the name of one of this program's task functions, or the
 * address of an unknown one (asyncio prints the coroutine object). */
static void print_task(tr_task *t) {
    tr_fn fn = tr_task_fn(t, NULL);
    if (fn == main_task)
        printf("> %s, <fn main_task>\n", tr_task_name(t));
    else
        printf("> %s, <fn %p>\n", tr_task_name(t), (void *)(uintptr_t)fn);
}

void *main_task(void *arg) {
    (void)arg;
    printf("main coroutine started\n");
    tr_taskset *tasks = tr_all_tasks();
    if (tasks == NULL) {
        perror("tr_all_tasks");
        return (void *)1;
    }
    for (size_t i = 0; i < tr_taskset_size(tasks); i++)
        print_task(tr_taskset_get(tasks, i));
    tr_taskset_free(tasks);
    return NULL;
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
