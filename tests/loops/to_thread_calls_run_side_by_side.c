/*
 * Two tr_to_thread calls made one right after the other run at the same time when the pool
 * may have two threads (tr_options.workers >= 2), whatever the pool had before. The pool used
 * to start a thread only when no thread was idle, without counting the jobs already queued
 * for the idle ones: with one idle worker (left by an earlier call), two calls in a row both
 * found "one idle" before it woke up, so both jobs went to that one worker, one after the
 * other. A job that waits for the other then waited forever (here: until its 5 s limit).
 */
#include "loops.h"

struct pair {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int arrived;
};

/* Waits (5 s at most) until both have arrived: 0 when they met, -1 when not. */
static void *meet(void *arg) {
    struct pair *p = arg;
    pthread_mutex_lock(&p->mu);
    p->arrived++;
    pthread_cond_broadcast(&p->cv);
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 5;
    int rc = 0;
    while (p->arrived < 2 && rc == 0)
        rc = pthread_cond_timedwait(&p->cv, &p->mu, &until);
    pthread_mutex_unlock(&p->mu);
    return (void *)(intptr_t)(p->arrived >= 2 ? 0 : -1);
}

static void *nothing(void *arg) {
    return arg;
}

static void *calls_meet(void *arg) {
    void *res = (void *)1;
    CHECK_EQ(tr_to_thread(meet, arg, &res), 0);
    return res;
}

static void *main_task(void *arg) {
    (void)arg;
    /* Leave one worker idle (a fresh pool has none), then two calls back to back on one
     * loop: the first wakes the idle one, the second comes before it is awake. */
    CHECK_EQ(tr_to_thread(nothing, NULL, NULL), 0);
    struct pair p = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};
    tr_task *a = spawn_on(1, calls_meet, &p, "meet-a");
    tr_task *b = spawn_on(1, calls_meet, &p, "meet-b");
    CHECK_EQ((intptr_t)await_release(a, 0), 0);
    CHECK_EQ((intptr_t)await_release(b, 0), 0);
    return NULL;
}

int main(void) {
    /* A fresh runtime (and pool) each round: once the pool has its two threads, no round can
     * show it. */
    int rounds = RUNNING_ON_VALGRIND ? 5 : 50;
    for (int r = 0; r < rounds; r++) {
        tr_options o = {.size = sizeof o, .loops = 2, .workers = 2};
        CHECK_EQ(tr_run_with(&o, main_task, NULL, NULL), 0);
    }
    printf("two tr_to_thread calls in a row ran side by side: %d rounds\n", rounds);
    return 0;
}
