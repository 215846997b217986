/*
 * tr_task_cancel of a task of another loop, wherever that task is: asleep on its own loop,
 * blocked on a lock or a queue of a third loop (so the cancellation must find it there), or
 * on its way from one loop to another. Both directions. tr_task_cancel returns 1 when the
 * request was made, 0 for a task already done; the cancelled wait returns -ECANCELED, the task
 * ends cancelled, and the object it waited on is left as it was (the waiter gone from it).
 */
#include "loops.h"

#include <sched.h>

/* ---- a sleeper on the other loop ----------------------------------------------------------- */

struct sleeper {
    tr_event *started; /* of the canceller's loop */
    int home;          /* the loop it must run on */
    int rc;            /* what its sleep returned */
    int after;         /* what a wait after the cancelled one returned (sticky) */
};

static void *sleeper(void *arg) {
    struct sleeper *s = arg;
    CHECK_LOOP(s->home);
    CHECK_EQ(tr_event_set(s->started), 0);
    s->rc = tr_sleep(30000 * MS); /* 30 s: only the cancellation ends it in time */
    CHECK_LOOP(s->home);
    s->after = tr_sleep(1);
    return (void *)1;
}

/* The calling task cancels a sleeper on loop `there` (not its own). */
static void cancel_sleeper(int there) {
    struct sleeper s = {.home = there, .rc = 1, .after = 1};
    s.started = tr_event_new();
    tr_task *t = spawn_on((unsigned)there, sleeper, &s, "sleeper");
    CHECK_EQ(tr_event_wait(s.started), 0);
    uint64_t t0 = now_ns();
    CHECK_EQ(tr_task_cancel(t), 1);
    void *res = NULL;
    CHECK_EQ(tr_await(t, &res), -ECANCELED);
    CHECK(res == (void *)1); /* it returned normally after the cancellation: still cancelled */
    CHECK(now_ns() - t0 < 10000 * MS);
    CHECK_EQ(s.rc, -ECANCELED);
    CHECK_EQ(s.after, -ECANCELED);
    CHECK(tr_task_done(t) && tr_task_cancelled(t));
    CHECK_EQ(tr_task_error(t), -ECANCELED);
    CHECK_EQ(tr_task_cancel(t), 0); /* done: nothing to request */
    tr_task_release(t);
    CHECK_EQ(tr_event_free(s.started), 0);
}

/* A task of loop 1 cancels sleepers on loop 0. */
static void *cancels_on_0(void *arg) {
    (void)arg;
    CHECK_LOOP(1);
    cancel_sleeper(0);
    CHECK_LOOP(1);
    return NULL;
}

/*
 * Cancelled from another loop before it ever ran: it never runs. Its spawner keeps loop 1's
 * thread busy (no task switch) from the spawn until main's request is in loop 1's inbox, then
 * leaves loop 1 for a moment: loop 1 takes its inbox before it runs the new task.
 */
struct unrun {
    _Atomic(tr_task *) task;
    _Atomic int requested;
    tr_event *e; /* of loop 0 */
    int ran;
};

static void *never_runs(void *arg) {
    ((struct unrun *)arg)->ran = 1;
    return NULL;
}

static void *spawns_unrun(void *arg) {
    struct unrun *u = arg;
    CHECK_LOOP(1);
    tr_task *t = tr_spawn_named(never_runs, u, "never-runs");
    CHECK(t != NULL);
    atomic_store(&u->task, t);
    while (!atomic_load(&u->requested))
        sched_yield(); /* the thread, not the task: loop 1 runs nothing else meanwhile */
    CHECK(!tr_event_is_set(u->e)); /* a trip to loop 0 and back */
    return t;
}

static void cancel_unrun(void) {
    struct unrun u = {.ran = 0};
    u.e = tr_event_new();
    tr_task *s = spawn_on(1, spawns_unrun, &u, "spawns-unrun");
    tr_task *t;
    while (!(t = atomic_load(&u.task)))
        CHECK_EQ(tr_yield(), 0);
    CHECK_EQ(tr_task_cancel(t), 1);
    atomic_store(&u.requested, 1);
    CHECK(await_release(s, 0) == t);
    await_release(t, -ECANCELED);
    CHECK_EQ(u.ran, 0);
    CHECK_EQ(tr_event_free(u.e), 0);
}

/* ---- blocked on a lock or a queue of a third loop ----------------------------------------- */

struct blocked {
    tr_lock *lock;   /* of loop 2, held by `holder` */
    tr_queue *queue; /* of loop 2, empty */
    tr_event *held;  /* of loop 2: the holder has the lock */
    tr_event *done;  /* of loop 2: the holder may release it */
    int lock_rc, queue_rc;
};

static void *holder(void *arg) {
    struct blocked *b = arg;
    CHECK_LOOP(2);
    CHECK_EQ(tr_lock_acquire(b->lock), 0);
    CHECK_EQ(tr_event_set(b->held), 0);
    CHECK_EQ(tr_event_wait(b->done), 0);
    CHECK_EQ(tr_lock_release(b->lock), 0);
    /* The cancelled waiter left the queue: the release left the lock free. */
    CHECK(!tr_lock_locked(b->lock));
    return NULL;
}

static void *lock_waiter(void *arg) {
    struct blocked *b = arg;
    CHECK_LOOP(1);
    b->lock_rc = tr_lock_acquire(b->lock); /* waits on loop 2 */
    CHECK_LOOP(1);
    return NULL;
}

static void *queue_waiter(void *arg) {
    struct blocked *b = arg;
    CHECK_LOOP(1);
    void *item = (void *)1;
    b->queue_rc = tr_queue_get(b->queue, &item);
    CHECK(item == (void *)1); /* nothing was handed over */
    CHECK_LOOP(1);
    return NULL;
}

static void *make_queue0(void *arg) {
    (void)arg;
    return tr_queue_new(0);
}

/* Main (loop 0) cancels tasks of loop 1 that wait on loop 2's lock and queue. */
static void blocked_on_third_loop(void) {
    struct blocked b = {.lock_rc = 1, .queue_rc = 1};
    b.lock = on_loop(2, make_lock, NULL);
    b.queue = on_loop(2, make_queue0, NULL);
    b.held = on_loop(2, make_event, NULL);
    b.done = on_loop(2, make_event, NULL);
    tr_task *h = spawn_on(2, holder, &b, "holder");
    CHECK_EQ(tr_event_wait(b.held), 0);
    tr_task *lw = spawn_on(1, lock_waiter, &b, "lock-waiter");
    tr_task *qw = spawn_on(1, queue_waiter, &b, "queue-waiter");
    /* Likely blocked by now (the outcome is the same if the cancellation comes first). */
    CHECK_EQ(tr_sleep(20 * MS), 0);
    CHECK_EQ(tr_task_cancel(lw), 1);
    CHECK_EQ(tr_task_cancel(qw), 1);
    await_release(lw, -ECANCELED);
    await_release(qw, -ECANCELED);
    CHECK_EQ(b.lock_rc, -ECANCELED);
    CHECK_EQ(b.queue_rc, -ECANCELED);
    /* The queue works on: a put is not handed to the cancelled getter. */
    CHECK_EQ(tr_queue_put(b.queue, (void *)5), 0);
    CHECK_EQ(tr_queue_size(b.queue), 1);
    void *item = NULL;
    CHECK_EQ(tr_queue_try_get(b.queue, &item), 0);
    CHECK(item == (void *)5);
    CHECK_EQ(tr_event_set(b.done), 0);
    await_release(h, 0);
    CHECK(!tr_lock_locked(b.lock));
    CHECK_EQ(tr_lock_free(b.lock), 0);
    CHECK_EQ(tr_queue_free(b.queue), 0);
    CHECK_EQ(tr_event_free(b.held), 0);
    CHECK_EQ(tr_event_free(b.done), 0);
}

/* ---- on its way between loops ------------------------------------------------------------- */

/* Travels to loop 0 and back all the time (each tr_event_is_set of loop 0's event is a round
 * trip), and yields on its own loop in between: a cancellation finds it on either loop, or in
 * one loop's inbox on its way to it. Its first wait after the request returns -ECANCELED. */
struct traveller {
    tr_event *e; /* of loop 0 */
    _Atomic int trips;
    int rc;
};

static void *traveller(void *arg) {
    struct traveller *t = arg;
    CHECK_LOOP(1);
    for (;;) {
        CHECK(!tr_event_is_set(t->e));
        CHECK_LOOP(1);
        atomic_fetch_add(&t->trips, 1);
        int rc = tr_yield();
        if (rc < 0) {
            t->rc = rc;
            return NULL;
        }
    }
}

static void cancel_traveller(int rounds) {
    struct traveller t = {.rc = 1};
    t.e = tr_event_new();
    for (int i = 0; i < rounds; i++) {
        atomic_store(&t.trips, 0);
        t.rc = 1;
        tr_task *task = spawn_on(1, traveller, &t, "traveller");
        /* Let it make a few trips (a poll of what it reports, not a sleep to wait it out). */
        while (atomic_load(&t.trips) < 1 + i % 5)
            CHECK_EQ(tr_yield(), 0);
        CHECK_EQ(tr_task_cancel(task), 1);
        await_release(task, -ECANCELED);
        CHECK_EQ(t.rc, -ECANCELED);
    }
    CHECK_EQ(tr_event_free(t.e), 0);
}

static void *main_task(void *arg) {
    (void)arg;
    CHECK_EQ(tr_loop_count(), 3);
    cancel_sleeper(1); /* loop 0 cancels on loop 1 */
    await_release(spawn_on(1, cancels_on_0, NULL, "cancels-on-0"), 0); /* and back */
    cancel_sleeper(2);

    cancel_unrun();

    blocked_on_third_loop();
    cancel_traveller(RUNNING_ON_VALGRIND ? 20 : 300);
    return NULL;
}

int main(void) {
    CHECK_EQ(run_loops(3, main_task, NULL, NULL), 0);
    printf("cancelled across loops: sleepers, lock and queue waiters of a third loop, "
           "travellers\n");
    return 0;
}
