/*
 * "Cancel it, then await it": a watcher awaiting main is cancelled by main, which then awaits
 * the watcher. The watcher has been woken but has not run yet, so its `awaiting` still named
 * main, and tr_await refused with a false -EDEADLK. Only tasks still suspended in their
 * await count for the cycle check. (Found by review.)
 */
#include "regress.h"

static void *watcher(void *arg) {
    tr_task *main_task = arg;
    int rc = tr_await(main_task, NULL);
    return (void *)(intptr_t)rc;
}

static void *main_task(void *arg) {
    (void)arg;
    tr_task *w = tr_spawn(watcher, tr_current());
    CHECK_EQ(tr_yield(), 0);                 /* the watcher now awaits main */
    CHECK_EQ(tr_task_cancel(w), 1);          /* woken, not yet run */
    CHECK_EQ(tr_await(w, NULL), -ECANCELED); /* not -EDEADLK */
    tr_task_release(w);
    /* A real cycle is still refused: a watcher that stays waiting. */
    w = tr_spawn(watcher, tr_current());
    CHECK_EQ(tr_yield(), 0);
    CHECK_EQ(tr_await(w, NULL), -EDEADLK);
    tr_task_cancel(w);
    tr_task_release(w);
    return NULL;
}

int main(void) {
    CHECK_EQ(tr_run(main_task, NULL, NULL), 0);
    return 0;
}
