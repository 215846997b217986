/*
 * A monitoring thread retains tasks of both loops of a runtime from tr_all_tasks snapshots
 * while it runs, and after tr_run has returned (both loops gone) reads each one's name, repr,
 * done flag and error, and releases it: every read gives the task's final state, and nothing
 * is read after it was freed or leaked (ASan, valgrind). Some of the tasks were renamed by the
 * other loop before they finished; some failed, some were cancelled. Then releases that race
 * with the end of a 2-loop run, from another thread.
 */
#include "loops.h"

#include <sched.h>
#include <unistd.h>

enum { PER_LOOP = 6, TASKS = 2 * PER_LOOP };

/* Task i: on loop i % 2; outcome by i % 3: 0 returns i, 1 fails -EPROTO, 2 is cancelled. */
struct monitor {
    _Atomic int phase; /* 0 running, 1 the monitor holds its references, 2 tr_run returned */
    tr_task *held[TASKS];
    size_t n;
    tr_event *finish; /* of loop 0 */
    tr_task *tasks[TASKS];
};

static void name_of(char *buf, size_t len, int i, bool renamed) {
    snprintf(buf, len, renamed ? "renamed-%d-by-%d" : "task-%d", i, 1 - i % 2);
}

static void *body(void *arg) {
    struct monitor *m = arg;
    int rc = tr_event_wait(m->finish);
    tr_task *self = tr_current();
    int i = -1;
    for (int k = 0; k < TASKS; k++)
        if (m->tasks[k] == self)
            i = k;
    CHECK(i >= 0);
    if (i % 3 == 2) {
        CHECK_EQ(rc, -ECANCELED);
        return NULL;
    }
    CHECK_EQ(rc, 0);
    if (i % 3 == 1)
        return tr_fail(-EPROTO);
    return (void *)(intptr_t)i;
}

static void *monitor_thread(void *arg) {
    struct monitor *m = arg;
    /* Retain every task of ours from snapshots until all TASKS are held. */
    while (m->n < TASKS) {
        tr_taskset *s = tr_all_tasks();
        CHECK(s != NULL);
        for (size_t k = 0; k < tr_taskset_size(s); k++) {
            tr_task *t = tr_taskset_get(s, k);
            char name[32];
            CHECK(tr_task_name_copy(t, name, sizeof name) > 0);
            if (strncmp(name, "task-", 5) != 0)
                continue; /* main */
            bool have = false;
            for (size_t j = 0; j < m->n; j++)
                have |= m->held[j] == t;
            if (!have) {
                tr_task *r = tr_task_retain(t);
                CHECK(r == t); /* none can finish before phase 1 */
                m->held[m->n++] = r;
            }
        }
        tr_taskset_free(s);
    }
    atomic_store(&m->phase, 1);
    while (atomic_load(&m->phase) != 2)
        usleep(100);
    /* Both loops have ended. */
    for (size_t j = 0; j < m->n; j++) {
        tr_task *t = m->held[j];
        int i = -1;
        for (int k = 0; k < TASKS; k++)
            if (m->tasks[k] == t)
                i = k;
        CHECK(i >= 0);
        char want[32], name[32], repr[160];
        name_of(want, sizeof want, i, i % 2 == 0);
        CHECK(tr_task_name_copy(t, name, sizeof name) == (int)strlen(want));
        CHECK(strcmp(name, want) == 0);
        CHECK(strcmp(tr_task_name(t), want) == 0);
        CHECK(tr_task_repr(t, repr, sizeof repr) > 0);
        CHECK(strstr(repr, want) != NULL);
        CHECK(tr_task_done(t));
        CHECK(tr_task_fn(t, NULL) == body);
        switch (i % 3) {
        case 0:
            CHECK_EQ(tr_task_error(t), 0);
            CHECK(strncmp(repr, "<Task finished ", 15) == 0);
            break;
        case 1:
            CHECK_EQ(tr_task_error(t), -EPROTO);
            CHECK(strncmp(repr, "<Task finished ", 15) == 0);
            break;
        default:
            CHECK_EQ(tr_task_error(t), -ECANCELED);
            CHECK(tr_task_cancelled(t));
            CHECK(strncmp(repr, "<Task cancelled ", 16) == 0);
        }
        tr_task_release(t);
    }
    return NULL;
}

static void *renamer(void *arg) {
    struct monitor *m = arg;
    for (int i = 0; i < TASKS; i += 2) { /* the tasks of loop 0, renamed from loop 1 */
        char name[32];
        name_of(name, sizeof name, i, true);
        CHECK_EQ(tr_task_set_name(m->tasks[i], name), 0);
    }
    return NULL;
}

static void *watched(void *arg) {
    struct monitor *m = arg;
    m->finish = tr_event_new();
    for (int i = 0; i < TASKS; i++) {
        char name[32];
        name_of(name, sizeof name, i, false);
        m->tasks[i] = spawn_on((unsigned)(i % 2), body, m, name);
    }
    while (atomic_load(&m->phase) == 0)
        CHECK_EQ(tr_sleep(1 * MS), 0); /* until the monitor holds them (a poll) */
    await_release(spawn_on(1, renamer, m, "renamer"), 0);
    for (int i = 2; i < TASKS; i += 3)
        CHECK_EQ(tr_task_cancel(m->tasks[i]), 1);
    CHECK_EQ(tr_event_set(m->finish), 0);
    for (int i = 0; i < TASKS; i++) {
        void *res = NULL;
        int rc = tr_await(m->tasks[i], &res); /* reads every error: none unretrieved */
        CHECK_EQ(rc, i % 3 == 0 ? 0 : i % 3 == 1 ? -EPROTO : -ECANCELED);
        if (i % 3 == 0)
            CHECK_EQ((intptr_t)res, i);
        tr_task_release(m->tasks[i]);
    }
    CHECK_EQ(tr_event_free(m->finish), 0);
    return NULL;
}

/* ---- releases racing with the end -------------------------------------------------------- */

struct race {
    tr_task *t[2];
    _Atomic int go;
};

static void *racer(void *arg) {
    struct race *r = arg;
    while (!atomic_load(&r->go))
        sched_yield();
    tr_task_release(r->t[0]);
    tr_task_release(r->t[1]);
    return NULL;
}

static void *quick(void *arg) {
    return arg;
}

static void *race_main(void *arg) {
    struct race *r = arg;
    r->t[0] = spawn_on(0, quick, NULL, "quick-0");
    r->t[1] = spawn_on(1, quick, NULL, "quick-1");
    CHECK_EQ(tr_await(r->t[0], NULL), 0);
    CHECK_EQ(tr_await(r->t[1], NULL), 0);
    atomic_store(&r->go, 1); /* the releases may land before, during or after the end */
    return NULL;
}

int main(void) {
    static struct monitor m;
    pthread_t th;
    CHECK(pthread_create(&th, NULL, monitor_thread, &m) == 0);
    CHECK_EQ(run_loops(2, watched, &m, NULL), 0);
    atomic_store(&m.phase, 2);
    CHECK(pthread_join(th, NULL) == 0);
    CHECK_EQ(m.n, TASKS);

    int rounds = RUNNING_ON_VALGRIND ? 10 : 200;
    for (int i = 0; i < rounds; i++) {
        struct race r = {0};
        CHECK(pthread_create(&th, NULL, racer, &r) == 0);
        CHECK_EQ(run_loops(2, race_main, &r, NULL), 0);
        CHECK(pthread_join(th, NULL) == 0);
    }
    printf("%d references of 2 loops read after tr_run; %d racing releases\n", TASKS, rounds);
    return 0;
}
