/*
 * A task reference retained by another thread used to die with its loop: a monitoring thread
 * that did tr_all_tasks -> tr_task_retain -> tr_taskset_free and read tr_task_name after
 * tr_run returned read freed memory (ASan: heap-use-after-free in tr_task_name, the slab
 * freed by the loop's end), and its last release wrote into the freed loop. A retained task
 * now stays valid after its loop ended, on any thread: name, fn, repr, done, error, release.
 */
#include "regress.h"

#include <pthread.h>
#include <stdatomic.h>

#define MS 1000000ull
enum { WORKERS = 8, ROUNDS = 200 };

static void *worker(void *arg) {
    if (arg)
        return tr_fail(-EPROTO);
    tr_sleep(1 * MS);
    return NULL;
}

/* 1. The main task hands a retained reference out of tr_run. */
static void *hand_out(void *arg) {
    (void)arg;
    tr_task *t = tr_spawn_named(worker, (void *)1, "outlives-its-loop");
    CHECK(t != NULL);
    CHECK_EQ(tr_await(t, NULL), -EPROTO);
    return t; /* the spawner's reference, kept */
}

/* 2. A monitor thread retains every task it sees, and reads and releases them after the
 * loop has ended. */
struct monitor {
    _Atomic int phase; /* 0 running, 1 the monitor has its references, 2 tr_run returned */
    tr_task *held[64];
    size_t n;
};

static void *monitor_thread(void *arg) {
    struct monitor *m = arg;
    while (m->n == 0) {
        tr_taskset *s = tr_all_tasks();
        CHECK(s != NULL);
        for (size_t i = 0; i < tr_taskset_size(s) && m->n < 64; i++) {
            tr_task *t = tr_task_retain(tr_taskset_get(s, i));
            if (t)
                m->held[m->n++] = t;
        }
        tr_taskset_free(s);
    }
    atomic_store(&m->phase, 1);
    while (atomic_load(&m->phase) != 2)
        usleep(100);
    for (size_t i = 0; i < m->n; i++) {
        tr_task *t = m->held[i];
        CHECK(tr_task_name(t) != NULL);
        char buf[128];
        CHECK(tr_task_repr(t, buf, sizeof buf) > 0);
        CHECK(tr_task_done(t));
        CHECK(tr_task_error(t) == 0 || tr_task_error(t) == -ECANCELED);
        CHECK(tr_task_fn(t, NULL) != NULL);
        tr_task_release(t);
    }
    return NULL;
}

static void *watched(void *arg) {
    struct monitor *m = arg;
    tr_task *w[WORKERS];
    for (int i = 0; i < WORKERS; i++)
        w[i] = tr_spawn(worker, NULL);
    while (atomic_load(&m->phase) == 0)
        tr_sleep(1 * MS);
    for (int i = 0; i < WORKERS; i++) {
        tr_await(w[i], NULL);
        tr_task_release(w[i]);
    }
    return NULL;
}

/* 3. Releases racing with the loop's end, from another thread. */
struct race {
    tr_task *t;
    _Atomic int go;
};

static void *racer(void *arg) {
    struct race *r = arg;
    while (!atomic_load(&r->go))
        ;
    tr_task_release(r->t);
    return NULL;
}

static void *race_main(void *arg) {
    struct race *r = arg;
    r->t = tr_spawn(worker, NULL);
    tr_await(r->t, NULL);
    atomic_store(&r->go, 1); /* the release may land before, during or after the end */
    return NULL;
}

int main(void) {
    void *out = NULL;
    CHECK_EQ(tr_run(hand_out, NULL, &out), 0);
    tr_task *t = out;
    CHECK(strcmp(tr_task_name(t), "outlives-its-loop") == 0);
    char buf[160];
    CHECK(tr_task_repr(t, buf, sizeof buf) > 0 && strstr(buf, "outlives-its-loop"));
    CHECK(tr_task_done(t) && tr_task_error(t) == -EPROTO);
    CHECK(tr_task_retain(t) == t);
    tr_task_release(t);
    tr_task_release(t); /* the last: frees the ended loop's records */

    struct monitor m = {0};
    pthread_t th;
    CHECK(pthread_create(&th, NULL, monitor_thread, &m) == 0);
    CHECK_EQ(tr_run(watched, &m, NULL), 0);
    atomic_store(&m.phase, 2);
    pthread_join(th, NULL);
    CHECK(m.n > 0);

    int rounds = RUNNING_ON_VALGRIND ? 20 : ROUNDS;
    for (int i = 0; i < rounds; i++) {
        struct race r = {0};
        CHECK(pthread_create(&th, NULL, racer, &r) == 0);
        CHECK_EQ(tr_run(race_main, &r, NULL), 0);
        pthread_join(th, NULL);
    }
    printf("references read after their loop ended: 1 + %zu; %d racing releases\n", m.n, rounds);
    return 0;
}
