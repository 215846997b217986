/*
 * A plain thread (no loop) enters a runtime of 3 loops through a tr_runtime handle: it spawns
 * a task on each loop (and on TR_LOOP_ANY) with tr_runtime_spawn, named, and joins each with
 * tr_task_join (result and outcome: 0, a failure, -ECANCELED); a join times out with -ETIME
 * while the task waits (the task runs on) and succeeds once it is done. The calls that would
 * block a loop are refused on a loop thread (-EDEADLK). After tr_run has returned, the handle
 * still works: tr_runtime_spawn gives NULL + ESHUTDOWN, and tr_task_join of a finished task the
 * thread still holds gives its outcome; then the thread releases both.
 */
#include "loops.h"

struct shared {
    tr_runtime *rt;
    tr_event *gate; /* of loop 1: a task waits on it */
    struct gate phase1_done;
    struct gate run_over;
    tr_task *kept; /* finished during the run, joined again after it */
    pthread_t thread;
};

static void *report_loop(void *arg) {
    (void)arg;
    return (void *)(intptr_t)(tr_loop_id() + 100);
}

static void *waits_for_gate(void *arg) {
    struct shared *s = arg;
    CHECK_LOOP(2);
    CHECK_EQ(tr_event_wait(s->gate), 0);
    return (void *)77;
}

static void *opens_gate(void *arg) {
    struct shared *s = arg;
    CHECK_EQ(tr_event_set(s->gate), 0);
    return NULL;
}

static void *fails(void *arg) {
    (void)arg;
    return tr_fail(-ENOTCONN);
}

static void *sleeps(void *arg) {
    (void)arg;
    tr_sleep(30000 * MS);
    return NULL;
}

static void *cancels(void *arg) {
    CHECK_EQ(tr_task_cancel(arg), 1);
    return NULL;
}

static void *on_loop_thread(void *arg) {
    struct shared *s = arg;
    /* A loop thread must not block in these. */
    errno = 0;
    CHECK(tr_runtime_spawn(s->rt, 0, report_loop, NULL, NULL) == NULL);
    CHECK_EQ(errno, EDEADLK);
    CHECK_EQ(tr_task_join(tr_current(), 0, NULL), -EDEADLK);
    return NULL;
}

static tr_task *rspawn(struct shared *s, unsigned loop, tr_fn fn, void *arg, const char *name) {
    tr_task *t = tr_runtime_spawn(s->rt, loop, fn, arg, name);
    if (!t) {
        fprintf(stderr, "tr_runtime_spawn(%u, %s): %s\n", loop, name, strerror(errno));
        exit(1);
    }
    return t;
}

static void *thread_main(void *arg) {
    struct shared *s = arg;
    CHECK_EQ(tr_loop_id(), -EPERM);
    CHECK(tr_current() == NULL);
    char name[32], buf[32];
    void *res;

    /* one on each loop, named */
    for (unsigned l = 0; l < 3; l++) {
        snprintf(name, sizeof name, "foreign-%u", l);
        tr_task *t = rspawn(s, l, report_loop, NULL, name);
        CHECK(tr_task_name_copy(t, buf, sizeof buf) > 0 && strcmp(buf, name) == 0);
        res = NULL;
        CHECK_EQ(tr_task_join(t, UINT64_MAX, &res), 0);
        CHECK_EQ((intptr_t)res, 100 + l);
        CHECK(tr_task_done(t));
        res = NULL;
        CHECK_EQ(tr_task_join(t, 0, &res), 0); /* done: at once, again */
        CHECK_EQ((intptr_t)res, 100 + l);
        tr_task_release(t);
    }
    /* TR_LOOP_ANY, and the default name */
    tr_task *t = rspawn(s, TR_LOOP_ANY, report_loop, NULL, NULL);
    CHECK(strncmp(tr_task_name(t), "Task-", 5) == 0);
    res = NULL;
    CHECK_EQ(tr_task_join(t, UINT64_MAX, &res), 0);
    CHECK((intptr_t)res >= 100 && (intptr_t)res < 103);
    tr_task_release(t);

    /* bad requests */
    errno = 0;
    CHECK(tr_runtime_spawn(s->rt, 3, report_loop, NULL, NULL) == NULL);
    CHECK_EQ(errno, EINVAL);
    errno = 0;
    CHECK(tr_runtime_spawn(s->rt, 0, NULL, NULL, NULL) == NULL);
    CHECK_EQ(errno, EINVAL);
    errno = 0;
    CHECK(tr_runtime_spawn(NULL, 0, report_loop, NULL, NULL) == NULL);
    CHECK_EQ(errno, EINVAL);
    CHECK_EQ(tr_task_join(NULL, 0, NULL), -EINVAL);

    /* a join that times out, then one that succeeds */
    tr_task *w = rspawn(s, 2, waits_for_gate, s, "waits-for-gate");
    CHECK_EQ(tr_task_join(w, 0, NULL), -ETIME);
    uint64_t t0 = now_ns();
    CHECK_EQ(tr_task_join(w, 20 * MS, NULL), -ETIME);
    CHECK(now_ns() - t0 >= 20 * MS);
    CHECK(!tr_task_done(w)); /* it runs on */
    tr_task *o = rspawn(s, 0, opens_gate, s, "opens-gate");
    CHECK_EQ(tr_task_join(o, UINT64_MAX, NULL), 0);
    tr_task_release(o);
    res = NULL;
    CHECK_EQ(tr_task_join(w, 10000 * MS, &res), 0);
    CHECK(res == (void *)77);
    tr_task_release(w);

    /* outcomes: a failure, a cancellation (a plain thread cannot cancel: a task does) */
    t = rspawn(s, 1, fails, NULL, "fails");
    res = (void *)1;
    CHECK_EQ(tr_task_join(t, UINT64_MAX, &res), -ENOTCONN);
    CHECK(res == NULL);
    tr_task_release(t);
    t = rspawn(s, 1, sleeps, NULL, "sleeps");
    CHECK_EQ(tr_task_cancel(t), -EPERM); /* no loop on this thread */
    tr_task *c = rspawn(s, 0, cancels, t, "cancels");
    CHECK_EQ(tr_task_join(t, UINT64_MAX, NULL), -ECANCELED);
    CHECK(tr_task_cancelled(t));
    CHECK_EQ(tr_task_join(c, UINT64_MAX, NULL), 0);
    tr_task_release(c);
    tr_task_release(t);

    /* refusals on a loop thread, checked by a task */
    t = rspawn(s, 1, on_loop_thread, s, "on-loop-thread");
    CHECK_EQ(tr_task_join(t, UINT64_MAX, NULL), 0);
    tr_task_release(t);

    /* one kept for after the run */
    s->kept = rspawn(s, 2, report_loop, NULL, "kept");
    CHECK_EQ(tr_task_join(s->kept, UINT64_MAX, NULL), 0);

    gate_open(&s->phase1_done);
    gate_wait(&s->run_over);

    /* tr_run has returned */
    errno = 0;
    CHECK(tr_runtime_spawn(s->rt, 0, report_loop, NULL, NULL) == NULL);
    CHECK_EQ(errno, ESHUTDOWN);
    errno = 0;
    CHECK(tr_runtime_spawn(s->rt, TR_LOOP_ANY, report_loop, NULL, NULL) == NULL);
    CHECK_EQ(errno, ESHUTDOWN);
    res = NULL;
    CHECK_EQ(tr_task_join(s->kept, UINT64_MAX, &res), 0);
    CHECK_EQ((intptr_t)res, 102);
    CHECK(tr_task_name_copy(s->kept, buf, sizeof buf) > 0 && strcmp(buf, "kept") == 0);
    tr_task_release(s->kept);
    tr_runtime_release(s->rt);
    tr_runtime_release(NULL); /* ignored */
    return NULL;
}

static void *main_task(void *arg) {
    struct shared *s = arg;
    s->rt = tr_runtime_get();
    CHECK(s->rt != NULL);
    s->gate = on_loop(1, make_event, NULL);
    CHECK(pthread_create(&s->thread, NULL, thread_main, s) == 0);
    /* Wait (on a worker, not on the loop) until the thread is done with the runtime. */
    CHECK_EQ(tr_to_thread(gate_wait_fn, &s->phase1_done, NULL), 0);
    CHECK_EQ(tr_event_free(s->gate), 0);
    return NULL;
}

int main(void) {
    static struct shared s = {.phase1_done = GATE_INIT, .run_over = GATE_INIT};
    CHECK_EQ(run_loops(3, main_task, &s, NULL), 0);
    gate_open(&s.run_over); /* the thread goes on with the runtime gone */
    CHECK(pthread_join(s.thread, NULL) == 0);
    printf("a plain thread spawned on 3 loops and joined, before and after tr_run\n");
    return 0;
}
