/*
 * An event of one loop waited for by tasks of every loop and set from another: every waiter
 * wakes with 0, each on its own loop; is_set and clear from other loops; a waiter cancelled
 * while it waits on another loop's event leaves it (-ECANCELED), and the event can be freed;
 * a wait on a set event returns at once.
 */
#include "loops.h"

struct shared {
    tr_event *e;
    _Atomic int woken;
};

struct waiter_arg {
    struct shared *s;
    int home;
    int rc;
};

static void *waits(void *arg) {
    struct waiter_arg *w = arg;
    CHECK_LOOP(w->home);
    w->rc = tr_event_wait(w->s->e);
    CHECK_LOOP(w->home);
    atomic_fetch_add(&w->s->woken, 1);
    return NULL;
}

static void *sets(void *arg) {
    struct shared *s = arg;
    CHECK(!tr_event_is_set(s->e));
    CHECK_EQ(tr_event_set(s->e), 0);
    CHECK(tr_event_is_set(s->e));
    CHECK_EQ(tr_event_set(s->e), 0); /* again: nothing changes */
    return NULL;
}

/* Waiters on loops 0..2 wait for an event of `owner`; a task of `setter` sets it. */
static void wake_all(unsigned owner, unsigned setter) {
    enum { PER_LOOP = 3, N = 3 * PER_LOOP };
    struct shared s = {0};
    s.e = on_loop(owner, make_event, NULL);
    struct waiter_arg w[N];
    tr_task *t[N];
    for (int i = 0; i < N; i++) {
        w[i] = (struct waiter_arg){&s, i % 3, 1};
        t[i] = spawn_on((unsigned)(i % 3), waits, &w[i], "waits");
    }
    CHECK_EQ(tr_sleep(10 * MS), 0); /* let them wait (a set before a wait gives the same) */
    CHECK_EQ(atomic_load(&s.woken), 0);
    await_release(spawn_on(setter, sets, &s, "sets"), 0);
    for (int i = 0; i < N; i++) {
        await_release(t[i], 0);
        CHECK_EQ(w[i].rc, 0);
    }
    CHECK_EQ(atomic_load(&s.woken), N);
    /* Set: a wait from any loop returns at once; cleared from another loop, it blocks. */
    struct waiter_arg late = {&s, 2, 1};
    await_release(spawn_on(2, waits, &late, "late"), 0);
    CHECK_EQ(late.rc, 0);
    CHECK_EQ(tr_event_clear(s.e), 0);
    CHECK(!tr_event_is_set(s.e));
    CHECK_EQ(tr_event_free(s.e), 0);
}

/* A waiter of loop 1 on an event of loop 2, cancelled from loop 0. */
static void cancel_waiter(void) {
    struct shared s = {0};
    s.e = on_loop(2, make_event, NULL);
    struct waiter_arg w = {&s, 1, 1};
    tr_task *t = spawn_on(1, waits, &w, "cancelled-waiter");
    CHECK_EQ(tr_sleep(10 * MS), 0); /* likely waiting by now; if not, its wait refuses */
    CHECK_EQ(tr_task_cancel(t), 1);
    await_release(t, -ECANCELED);
    CHECK_EQ(w.rc, -ECANCELED);
    CHECK(!tr_event_is_set(s.e));
    CHECK_EQ(tr_event_free(s.e), 0); /* nobody waits any more */
    /* (A waiter that a set woke and that is then cancelled from another loop should end
     * cancelled too, when tr_task_cancel returned 1; it may not: the request is only posted,
     * see cancel_of_running_task_across_loops.c, not registered.) */
}

static void *main_task(void *arg) {
    int rounds = *(int *)arg;
    CHECK_EQ(tr_loop_count(), 3);
    for (int i = 0; i < rounds; i++) {
        wake_all(0, 1);
        wake_all(1, 0);
        wake_all(2, 1);
        wake_all(1, 1);
    }
    cancel_waiter();
    return NULL;
}

int main(void) {
    int rounds = RUNNING_ON_VALGRIND ? 1 : 5;
    CHECK_EQ(run_loops(3, main_task, &rounds, NULL), 0);
    printf("events across loops: %d rounds\n", rounds);
    return 0;
}
