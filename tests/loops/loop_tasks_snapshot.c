/*
 * tr_loop_tasks(i) lists exactly the unfinished tasks of loop i (the loop that spawned them,
 * wherever they wait now: here every one waits on an event of loop 0, so all are *at* loop
 * 0), from any loop's task; tr_all_tasks lists every one of every loop. Finished tasks drop
 * out of both.
 */
#include "loops.h"

enum { LOOPS = 3 };
static const int per_loop[LOOPS] = {2, 3, 5};

struct shared {
    tr_event *release; /* of loop 0 */
    tr_task *tasks[LOOPS][8];
};

static void *parked(void *arg) {
    struct shared *s = arg;
    CHECK_EQ(tr_event_wait(s->release), 0);
    return NULL;
}

/* Every task in set belongs to loop l: it is one of those spawned there (or main, for 0). */
static void check_set_of_loop(struct shared *s, tr_taskset *set, int l, tr_task *main_task) {
    size_t n = tr_taskset_size(set);
    CHECK_EQ(n, per_loop[l] + (l == 0 ? 1 : 0));
    int found = 0;
    for (size_t i = 0; i < n; i++) {
        tr_task *t = tr_taskset_get(set, i);
        CHECK(t != NULL);
        if (t == main_task) {
            CHECK_EQ(l, 0);
            continue;
        }
        int k;
        for (k = 0; k < per_loop[l] && s->tasks[l][k] != t; k++)
            ;
        CHECK(k < per_loop[l]); /* one of loop l's */
        char want[32], name[32];
        snprintf(want, sizeof want, "L%d-%d", l, k);
        CHECK(tr_task_name_copy(t, name, sizeof name) > 0);
        CHECK(strcmp(name, want) == 0);
        found++;
    }
    CHECK_EQ(found, per_loop[l]);
    CHECK(tr_taskset_get(set, n) == NULL && errno == ERANGE);
}

struct probe {
    struct shared *s;
    tr_task *main_task;
};

/* The same snapshots, taken by a task of loop 2. */
static void *snapshot_from_loop2(void *arg) {
    struct probe *p = arg;
    CHECK_LOOP(2);
    for (int l = 0; l < LOOPS; l++) {
        tr_taskset *set = tr_loop_tasks((unsigned)l);
        CHECK(set != NULL);
        /* This task is loop 2's too, and not finished: one more there. */
        if (l == 2) {
            CHECK_EQ(tr_taskset_remove(set, tr_current()), 0);
        }
        check_set_of_loop(p->s, set, l, p->main_task);
        tr_taskset_free(set);
    }
    return NULL;
}

static void *main_task(void *arg) {
    (void)arg;
    struct shared s = {0};
    s.release = tr_event_new();
    tr_task *me = tr_current();
    for (int l = 0; l < LOOPS; l++)
        for (int k = 0; k < per_loop[l]; k++) {
            char name[32];
            snprintf(name, sizeof name, "L%d-%d", l, k);
            s.tasks[l][k] = spawn_on((unsigned)l, parked, &s, name);
        }
    /* Every one waits on loop 0's event: at loop 0, but each still of its own loop. Let them
     * get there (the snapshot is the same whether they run yet or not). */
    CHECK_EQ(tr_sleep(10 * MS), 0);
    for (int l = 0; l < LOOPS; l++) {
        tr_taskset *set = tr_loop_tasks((unsigned)l);
        CHECK(set != NULL);
        check_set_of_loop(&s, set, l, me);
        tr_taskset_free(set);
    }
    struct probe p = {&s, me};
    await_release(spawn_on(2, snapshot_from_loop2, &p, "snapshot-from-loop2"), 0);

    tr_taskset *all = tr_all_tasks();
    CHECK(all != NULL);
    CHECK_EQ(tr_taskset_size(all), 1 + 2 + 3 + 5);
    for (int l = 0; l < LOOPS; l++)
        for (int k = 0; k < per_loop[l]; k++)
            CHECK_EQ(tr_taskset_remove(all, s.tasks[l][k]), 0);
    CHECK_EQ(tr_taskset_remove(all, me), 0);
    CHECK_EQ(tr_taskset_size(all), 0);
    tr_taskset_free(all);

    CHECK_EQ(tr_event_set(s.release), 0);
    for (int l = 0; l < LOOPS; l++)
        for (int k = 0; k < per_loop[l]; k++)
            await_release(s.tasks[l][k], 0);
    for (int l = 0; l < LOOPS; l++) {
        tr_taskset *set = tr_loop_tasks((unsigned)l);
        CHECK(set != NULL);
        CHECK_EQ(tr_taskset_size(set), l == 0 ? 1 : 0); /* main only */
        if (l == 0)
            CHECK(tr_taskset_get(set, 0) == me);
        tr_taskset_free(set);
    }
    all = tr_all_tasks();
    CHECK_EQ(tr_taskset_size(all), 1);
    tr_taskset_free(all);
    CHECK_EQ(tr_event_free(s.release), 0);
    return NULL;
}

int main(void) {
    int rounds = RUNNING_ON_VALGRIND ? 2 : 20;
    for (int i = 0; i < rounds; i++)
        CHECK_EQ(run_loops(LOOPS, main_task, NULL, NULL), 0);
    printf("tr_loop_tasks and tr_all_tasks over %d loops: %d rounds\n", LOOPS, rounds);
    return 0;
}
