/*
 * tr_fail and tr_task_error, asyncio's task exceptions in C: a task fails with an errno, its
 * awaiter gets the error and still its return value, tr_task_error reports it from any thread
 * (-EBUSY before the end), a cancelled task reports -ECANCELED unless it failed, tr_run returns
 * the main task's failure, and a failure nobody reads is reported on stderr when the task is
 * let go, one line, while a retrieved one is not.
 */
#include "regress.h"

#include <pthread.h>

#define MS 1000000ull

static void *fails(void *arg) {
    tr_sleep(2 * MS);
    if (arg)
        return tr_fail((int)(intptr_t)arg);
    return (void *)5;
}

static void *fails_with_value(void *arg) {
    (void)arg;
    tr_fail(-EPROTO);
    return (void *)9; /* the return value is kept beside the failure */
}

static void *cancelled_then_fails(void *arg) {
    (void)arg;
    if (tr_sleep(1000 * MS) == -ECANCELED)
        return tr_fail(-EIO); /* the failure says more than the cancellation */
    return NULL;
}

static void *cancelled(void *arg) {
    (void)arg;
    tr_sleep(1000 * MS);
    return (void *)1;
}

static void *monitor(void *arg) {
    tr_task *t = arg;
    int rc;
    while ((rc = tr_task_error(t)) == -EBUSY)
        usleep(100);
    return (void *)(intptr_t)rc;
}

static void *outcomes_main(void *arg) {
    (void)arg;
    void *r = NULL;
    tr_task *t = tr_spawn(fails, (void *)(intptr_t)-ECONNRESET);
    CHECK_EQ(tr_task_error(t), -EBUSY);
    CHECK_EQ(tr_await(t, &r), -ECONNRESET);
    CHECK(r == NULL); /* tr_fail's NULL */
    CHECK_EQ(tr_task_error(t), -ECONNRESET);
    CHECK(!tr_task_cancelled(t) && tr_task_done(t));
    tr_task_release(t);

    t = tr_spawn(fails_with_value, NULL);
    CHECK_EQ(tr_await(t, &r), -EPROTO);
    CHECK(r == (void *)9);
    tr_task_release(t);

    t = tr_spawn(fails, NULL);
    CHECK_EQ(tr_await(t, &r), 0);
    CHECK(r == (void *)5);
    CHECK_EQ(tr_task_error(t), 0);
    tr_task_release(t);

    /* Not a negative errno: recorded as -EINVAL, never as success. */
    t = tr_spawn(fails, (void *)(intptr_t)5);
    CHECK_EQ(tr_await(t, NULL), -EINVAL);
    tr_task_release(t);
    t = tr_spawn(fails, (void *)(intptr_t)-5000);
    CHECK_EQ(tr_await(t, NULL), -EINVAL);
    tr_task_release(t);

    t = tr_spawn(cancelled_then_fails, NULL);
    CHECK_EQ(tr_yield(), 0);
    tr_task_cancel(t);
    CHECK_EQ(tr_await(t, NULL), -EIO);
    tr_task_release(t);

    t = tr_spawn(cancelled, NULL);
    CHECK_EQ(tr_yield(), 0);
    tr_task_cancel(t);
    CHECK_EQ(tr_await(t, NULL), -ECANCELED);
    CHECK_EQ(tr_task_error(t), -ECANCELED);
    tr_task_release(t);

    /* Any thread. */
    t = tr_spawn(fails, (void *)(intptr_t)-EPIPE);
    pthread_t th;
    CHECK(pthread_create(&th, NULL, monitor, t) == 0);
    CHECK_EQ(tr_await(t, NULL), -EPIPE);
    void *seen;
    pthread_join(th, &seen);
    CHECK_EQ((intptr_t)seen, -EPIPE);
    tr_task_release(t);

    CHECK_EQ(tr_task_error(NULL), -EINVAL);
    return tr_fail(-ENOTCONN); /* tr_run returns it */
}

/* Fire and forget: one failure nobody reads (reported), one read by tr_task_error (not). */
static void *forgotten_main(void *arg) {
    (void)arg;
    tr_task *t = tr_spawn_named(fails, (void *)(intptr_t)-ECONNREFUSED, "forgotten");
    tr_task_release(t);
    t = tr_spawn_named(fails, (void *)(intptr_t)-EHOSTUNREACH, "looked-at");
    while (tr_task_error(t) == -EBUSY)
        tr_sleep(1 * MS);
    tr_task_release(t);
    tr_sleep(10 * MS);
    return NULL;
}

static int forgotten_child(void *arg) {
    (void)arg;
    return tr_run(forgotten_main, NULL, NULL) == 0 ? 0 : 2;
}

int main(void) {
    errno = 0;
    CHECK(tr_fail(-EIO) == NULL && errno == EPERM); /* outside a task */
    CHECK_EQ(tr_run(outcomes_main, NULL, NULL), -ENOTCONN);

    struct child_output o;
    run_child(forgotten_child, NULL, &o);
    CHECK(WIFEXITED(o.status) && WEXITSTATUS(o.status) == 0);
    CHECK_EQ(count_substr(o.err, "was never retrieved"), 1);
    CHECK(strstr(o.err, "'forgotten'") != NULL);
    CHECK(strstr(o.err, "looked-at") == NULL);
    return 0;
}
