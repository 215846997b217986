/*
 * test_hooks.h - private hooks that let a test put the runtime in a state it reaches only by
 * chance: not in the public header, not for programs. Tests that include it link the static
 * library (tests/regress/CMakeLists.txt, INTERNALS). Each hook is always compiled in and
 * costs one relaxed load where it sits when unset.
 */
#ifndef TR_TEST_HOOKS_H
#define TR_TEST_HOOKS_H

/* epoch.c: called by every epoch pin (tr_all_tasks, tr_all_tasks_fill, tr_task_name_copy and
 * tr_task_repr on another thread, ...) on the pinning thread, after the pin holds its epoch
 * and before the caller scans or reads. NULL (the default) turns it off. A test parks a
 * snapshotting thread in it, to order a loop's releases and reclaim passes against the pin. */
void epoch_set_pin_hook(void (*hook)(void));

/* task.c: called by every release on a thread that is not the task's loop, right after its
 * reference is gone and before it is done. NULL (the default) turns it off. A test parks a
 * releasing thread there while another thread releases the last reference. */
void task_set_remote_release_hook(void (*hook)(void));

/* worker.c: called on a worker thread right before it runs a job (tr_to_thread's, or an epoll
 * backend's file call). NULL (the default) turns it off. A test parks the worker there, to
 * cancel the call while a worker has its job (a regular file's read cannot be made to block). */
void workers_set_job_hook(void (*hook)(void));

#endif
