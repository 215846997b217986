/*
 * tr_to_thread: the function runs on a worker thread (no loop there), its result comes back
 * to the calling task on its own loop; a cancellation of the caller while the function runs is
 * delivered only when the function has returned (-ECANCELED, the result still stored, and the
 * function's last write visible); a deadline scope that ends meanwhile gives -ETIME the same
 * way; many calls from several loops at once never run more functions at a time than
 * tr_options.workers, and do run that many; and the refusals (-EINVAL, -EPERM).
 */
#include "loops.h"

#include <unistd.h>

static void *twice(void *arg) {
    CHECK_EQ(tr_loop_id(), -EPERM); /* a worker runs no loop */
    CHECK(tr_current() == NULL);
    return (void *)((intptr_t)arg * 2);
}

static void *basic(void *arg) {
    (void)arg;
    int home = tr_loop_id();
    for (intptr_t i = 1; i <= 20; i++) {
        void *res = NULL;
        CHECK_EQ(tr_to_thread(twice, (void *)i, &res), 0);
        CHECK_EQ((intptr_t)res, 2 * i);
        CHECK_LOOP(home);
    }
    CHECK_EQ(tr_to_thread(twice, (void *)1, NULL), 0); /* no result wanted */
    CHECK_EQ(tr_to_thread(NULL, NULL, NULL), -EINVAL);
    return NULL;
}

/* ---- cancellation and deadlines wait for the function ------------------------------------- */

struct slow {
    struct gate started;
    struct gate may_finish;
    int flag; /* written by the function just before it returns */
};

static void *slow_fn(void *arg) {
    struct slow *s = arg;
    gate_open(&s->started);
    gate_wait(&s->may_finish);
    usleep(20000); /* a late last write: a call that returned early would not see it */
    s->flag = 1;
    return (void *)7;
}

struct caller {
    struct slow *s;
    int rc, flag_seen, home;
    void *res;
};

static void *calls_slow(void *arg) {
    struct caller *c = arg;
    c->home = tr_loop_id();
    c->rc = tr_to_thread(slow_fn, c->s, &c->res);
    c->flag_seen = c->s->flag;
    CHECK_LOOP(c->home);
    CHECK_EQ(tr_sleep(1), -ECANCELED); /* sticky */
    return NULL;
}

static void cancel_during(unsigned loop) {
    struct slow s = {.started = GATE_INIT, .may_finish = GATE_INIT};
    struct caller c = {.s = &s, .rc = 1};
    tr_task *t = spawn_on(loop, calls_slow, &c, "calls-slow");
    CHECK_EQ(tr_to_thread(gate_wait_fn, &s.started, NULL), 0); /* slow_fn runs */
    CHECK_EQ(tr_task_cancel(t), 1);
    CHECK(!tr_task_done(t)); /* slow_fn cannot return before may_finish */
    gate_open(&s.may_finish);
    await_release(t, -ECANCELED);
    CHECK_EQ(c.rc, -ECANCELED);
    CHECK_EQ(c.flag_seen, 1);
    CHECK(c.res == (void *)7);
    CHECK_EQ((int)loop, c.home);
}

static void *sleepy_fn(void *arg) {
    usleep((useconds_t)(uintptr_t)arg);
    return (void *)9;
}

static void *deadline_during(void *arg) {
    (void)arg;
    tr_deadline d;
    CHECK_EQ(tr_deadline_begin(&d, 10 * MS), 0);
    void *res = NULL;
    uint64_t t0 = now_ns();
    CHECK_EQ(tr_to_thread(sleepy_fn, (void *)(uintptr_t)100000, &res), -ETIME); /* 100 ms */
    CHECK(now_ns() - t0 >= 100 * MS); /* not before the function returned */
    CHECK(res == (void *)9);
    CHECK(tr_deadline_expired(&d));
    tr_deadline_end(&d);
    /* A scope that does not end first changes nothing. */
    CHECK_EQ(tr_deadline_begin(&d, 10000 * MS), 0);
    CHECK_EQ(tr_to_thread(sleepy_fn, (void *)(uintptr_t)1000, &res), 0);
    tr_deadline_end(&d);
    return NULL;
}

/* ---- bounded by tr_options.workers ---------------------------------------------------------- */

enum { WORKERS = 3, CALLS = 12 };

struct pool {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int running, max_running, arrived;
};

/* The first WORKERS calls wait (5 s at most) until WORKERS run at once; a pool that ran
 * fewer at a time would make them time out, one that ran more would show in max_running. */
static void *busy_fn(void *arg) {
    struct pool *p = arg;
    pthread_mutex_lock(&p->mu);
    int me = p->arrived++;
    p->running++;
    if (p->running > p->max_running)
        p->max_running = p->running;
    pthread_cond_broadcast(&p->cv);
    int timed_out = 0;
    if (me < WORKERS) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 5;
        while (p->running < WORKERS && !timed_out)
            timed_out = pthread_cond_timedwait(&p->cv, &p->mu, &until) != 0;
    }
    pthread_mutex_unlock(&p->mu);
    usleep(1000);
    pthread_mutex_lock(&p->mu);
    p->running--;
    pthread_mutex_unlock(&p->mu);
    return (void *)(intptr_t)(timed_out ? -1 : me);
}

static void *calls_busy(void *arg) {
    void *res = NULL;
    CHECK_EQ(tr_to_thread(busy_fn, arg, &res), 0);
    return res;
}

static void *bounded_main(void *arg) {
    struct pool *p = arg;
    tr_task *t[CALLS];
    for (int i = 0; i < CALLS; i++)
        t[i] = spawn_on((unsigned)(i % 2), calls_busy, p, "calls-busy");
    for (int i = 0; i < CALLS; i++) {
        intptr_t me = (intptr_t)await_release(t[i], 0);
        CHECK(me >= 0 && me < CALLS); /* -1: the first ones waited in vain */
    }
    return NULL;
}

static void *main_task(void *arg) {
    (void)arg;
    await_release(spawn_on(0, basic, NULL, "basic-0"), 0);
    await_release(spawn_on(1, basic, NULL, "basic-1"), 0);
    cancel_during(1);
    cancel_during(0);
    await_release(spawn_on(1, deadline_during, NULL, "deadline"), 0);
    return NULL;
}

int main(void) {
    CHECK_EQ(tr_to_thread(twice, NULL, NULL), -EPERM); /* not in a task */
    CHECK_EQ(run_loops(2, main_task, NULL, NULL), 0);

    struct pool p = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};
    tr_options o = {.size = sizeof o, .loops = 2, .workers = WORKERS};
    CHECK_EQ(tr_run_with(&o, bounded_main, &p, NULL), 0);
    CHECK_EQ(p.max_running, WORKERS);
    CHECK_EQ(p.arrived, CALLS);
    CHECK_EQ(p.running, 0);

    o.workers = 1025;
    CHECK_EQ(tr_run_with(&o, bounded_main, &p, NULL), -EINVAL);
    printf("tr_to_thread: results, cancellation and deadlines after the function, at most %d "
           "at once\n",
           WORKERS);
    return 0;
}
