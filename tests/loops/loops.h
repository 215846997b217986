/*
 * loops.h - what the multi-loop tests in tests/loops/ share, on top of tests/regress/regress.h
 * (CHECK, CHECK_EQ, SKIP_CODE, RUNNING_ON_VALGRIND, run_child).
 *
 * One program per behaviour of a runtime of several loops (tr_options.loops), named after it.
 * Each exits 0 (holds), 1 (broken: the failed check on stderr) or 77 (cannot run here).
 */
#ifndef TASKRING_LOOPS_H
#define TASKRING_LOOPS_H

#include "../regress/regress.h"

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#define MS 1000000ull

/* tr_run on `loops` loops. */
static inline int run_loops(unsigned loops, tr_fn fn, void *arg, void **result) {
    tr_options o = {.size = sizeof o, .loops = loops};
    return tr_run_with(&o, fn, arg, result);
}

static inline uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* tr_spawn_on_named, which must succeed. */
static inline tr_task *spawn_on(unsigned loop, tr_fn fn, void *arg, const char *name) {
    tr_task *t = tr_spawn_on_named(loop, fn, arg, name);
    if (!t) {
        fprintf(stderr, "tr_spawn_on_named(%u, %s): %s\n", loop, name ? name : "NULL",
                strerror(errno));
        exit(1);
    }
    return t;
}

/* Await t (expecting `expect`), release it, return its result. */
static inline void *await_release(tr_task *t, int expect) {
    void *result = (void *)(uintptr_t)0xdead;
    int rc = tr_await(t, &result);
    if (rc != expect) {
        char repr[160];
        tr_task_repr(t, repr, sizeof repr);
        fprintf(stderr, "tr_await(%s) = %d (%s), expected %d\n", repr, rc, tr_strerror(rc), expect);
        exit(1);
    }
    tr_task_release(t);
    return result;
}

/* Run fn(arg) as a task of loop `loop`, wait for it, and return what it returned: how a test
 * makes an object (an event, a lock...) owned by another loop. */
static inline void *on_loop(unsigned loop, tr_fn fn, void *arg) {
    return await_release(spawn_on(loop, fn, arg, NULL), 0);
}

static inline void *make_event(void *arg) {
    (void)arg;
    tr_event *e = tr_event_new();
    CHECK(e != NULL);
    return e;
}

static inline void *make_lock(void *arg) {
    (void)arg;
    tr_lock *l = tr_lock_new();
    CHECK(l != NULL);
    return l;
}

static inline void *make_queue(void *arg) {
    tr_queue *q = tr_queue_new((size_t)(uintptr_t)arg);
    CHECK(q != NULL);
    return q;
}

/* The loop the calling task runs on, checked to be `expect`. */
#define CHECK_LOOP(expect) CHECK_EQ(tr_loop_id(), (expect))

/* tr_options.report into one buffer. With several loops each stuck loop reports its own
 * tasks, from its own thread: the mutex keeps the reports whole. */
struct captured {
    pthread_mutex_t mu;
    char text[32768];
    int calls;
};

static inline void capture_init(struct captured *c) {
    memset(c, 0, sizeof *c);
    pthread_mutex_init(&c->mu, NULL);
}

static inline void capture(void *ctx, const char *text) {
    struct captured *c = ctx;
    pthread_mutex_lock(&c->mu);
    c->calls++;
    size_t used = strlen(c->text);
    snprintf(c->text + used, sizeof c->text - used, "%s", text);
    pthread_mutex_unlock(&c->mu);
}

/* A one-shot flag between plain threads (or from a plain thread to a loop thread that only
 * reads it): set once, waited for with a mutex and a condition variable. */
struct gate {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool open;
};

#define GATE_INIT                                                                                  \
    { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false }

static inline void gate_open(struct gate *g) {
    pthread_mutex_lock(&g->mu);
    g->open = true;
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->mu);
}

/* Wait until open (a plain thread or a tr_to_thread function only: it blocks its thread). */
static inline void gate_wait(struct gate *g) {
    pthread_mutex_lock(&g->mu);
    while (!g->open)
        pthread_cond_wait(&g->cv, &g->mu);
    pthread_mutex_unlock(&g->mu);
}

/* gate_wait as a tr_to_thread function: a task waits for a plain thread's gate. */
static inline void *gate_wait_fn(void *arg) {
    gate_wait(arg);
    return NULL;
}

#endif /* TASKRING_LOOPS_H */
