/*
 * A lock of one loop used by tasks of others: mutual exclusion across threads (a counter that
 * only the holder touches, checked by TSan as well as by the count), FIFO hand-over to a
 * waiter of another loop, the holder's identity (-EDEADLK for the holder, -EPERM for a task
 * that does not hold it, -EAGAIN for a try), tr_lock_locked and tr_lock_free from another loop.
 */
#include "loops.h"

struct shared {
    tr_lock *lock;
    long counter;  /* only touched by the holder */
    int inside;    /* holders inside right now: never more than 1 */
    int order[16]; /* FIFO: who got the lock in which turn */
    int next;      /* the next slot of order */
};

struct worker {
    struct shared *s;
    int id;
    int rounds;
};

static void *contend(void *arg) {
    struct worker *w = arg;
    struct shared *s = w->s;
    for (int i = 0; i < w->rounds; i++) {
        CHECK_EQ(tr_lock_acquire(s->lock), 0);
        CHECK_EQ(s->inside, 0);
        s->inside = 1;
        long before = s->counter;
        if (i % 4 == 0)
            CHECK_EQ(tr_yield(), 0); /* hold it across a switch: others queue up */
        s->counter = before + 1;
        s->inside = 0;
        CHECK_EQ(tr_lock_release(s->lock), 0);
    }
    return NULL;
}

/* Tasks of every loop take a lock of `owner` in turn. */
static void mutual_exclusion(unsigned loops, unsigned owner, int per_task) {
    struct shared s = {0};
    s.lock = on_loop(owner, make_lock, NULL);
    enum { TASKS_PER_LOOP = 4 };
    struct worker w[4 * TASKS_PER_LOOP];
    tr_task *t[4 * TASKS_PER_LOOP];
    unsigned n = 0;
    for (unsigned l = 0; l < loops; l++)
        for (int k = 0; k < TASKS_PER_LOOP; k++, n++) {
            w[n] = (struct worker){&s, (int)n, per_task};
            t[n] = spawn_on(l, contend, &w[n], "contend");
        }
    for (unsigned i = 0; i < n; i++)
        await_release(t[i], 0);
    CHECK_EQ(s.counter, (long)n * per_task);
    CHECK(!tr_lock_locked(s.lock));
    CHECK_EQ(tr_lock_free(s.lock), 0);
}

/* ---- FIFO hand-over to waiters of other loops ---------------------------------------------- */

static void *take_in_turn(void *arg) {
    struct worker *w = arg;
    struct shared *s = w->s;
    CHECK_EQ(tr_lock_acquire(s->lock), 0);
    s->order[s->next++] = w->id;
    CHECK_EQ(tr_lock_release(s->lock), 0);
    return NULL;
}

/*
 * Main holds a lock of loop 0; tasks of loops 1, 2 and 0 wait for it, and get it one at a
 * time once main lets go. Tasks of one loop reach the lock in the order they were spawned (a
 * loop runs its new tasks in order, and each carries itself to loop 0 through loop 0's inbox,
 * which is FIFO), so each loop's waiters must get it in spawn order: a hand-over that skipped
 * the oldest waiter, or a later one barging in, would show. (Across loops the order in which
 * they reach loop 0 is not fixed, so the test asserts none.)
 */
static void fifo_handover(void) {
    struct shared s = {0};
    s.lock = tr_lock_new();
    CHECK_EQ(tr_lock_acquire(s.lock), 0);
    static const unsigned where[] = {1, 2, 0, 1, 2, 0, 1, 2, 1, 2};
    enum { N = sizeof where / sizeof where[0] };
    struct worker w[N];
    tr_task *t[N];
    for (int i = 0; i < N; i++) {
        w[i] = (struct worker){&s, i, 1};
        t[i] = spawn_on(where[i], take_in_turn, &w[i], "take-in-turn");
    }
    CHECK_EQ(tr_sleep(5 * MS), 0); /* let them queue up: likely, not needed for the checks */
    CHECK_EQ(s.next, 0);           /* nobody got past the held lock */
    CHECK_EQ(tr_lock_try_acquire(s.lock), -EDEADLK);
    CHECK_EQ(tr_lock_release(s.lock), 0);
    for (int i = 0; i < N; i++)
        await_release(t[i], 0);
    CHECK_EQ(s.next, N);
    int last[3] = {-1, -1, -1}, seen[N] = {0};
    for (int k = 0; k < N; k++) {
        int i = s.order[k];
        CHECK(i >= 0 && i < N && !seen[i]);
        seen[i] = 1;
        CHECK(i > last[where[i]]); /* in spawn order within each loop */
        last[where[i]] = i;
    }
    CHECK_EQ(tr_lock_free(s.lock), 0);
}

/* ---- who holds it ----------------------------------------------------------------------- */

struct ident {
    tr_lock *lock; /* of loop 0 */
    tr_event *held, *go;
};

static void *holds_remote(void *arg) {
    struct ident *d = arg;
    CHECK_LOOP(1);
    CHECK_EQ(tr_lock_acquire(d->lock), 0);
    CHECK_LOOP(1);
    CHECK(tr_lock_locked(d->lock));
    CHECK_EQ(tr_lock_acquire(d->lock), -EDEADLK);
    CHECK_EQ(tr_lock_try_acquire(d->lock), -EDEADLK);
    CHECK_EQ(tr_lock_free(d->lock), -EBUSY); /* held by a task not yet finished */
    CHECK_EQ(tr_event_set(d->held), 0);
    CHECK_EQ(tr_event_wait(d->go), 0);
    CHECK_EQ(tr_lock_release(d->lock), 0);
    CHECK_EQ(tr_lock_release(d->lock), -EPERM); /* nobody holds it */
    return NULL;
}

static void *not_holder(void *arg) {
    struct ident *d = arg;
    CHECK_LOOP(2);
    CHECK(tr_lock_locked(d->lock));
    CHECK_EQ(tr_lock_release(d->lock), -EPERM);
    CHECK_EQ(tr_lock_try_acquire(d->lock), -EAGAIN);
    return NULL;
}

static void identity(void) {
    struct ident d;
    d.lock = tr_lock_new();
    d.held = tr_event_new();
    d.go = tr_event_new();
    tr_task *h = spawn_on(1, holds_remote, &d, "holds-remote");
    CHECK_EQ(tr_event_wait(d.held), 0);
    CHECK(tr_lock_locked(d.lock));
    CHECK_EQ(tr_lock_release(d.lock), -EPERM); /* main does not hold it */
    CHECK_EQ(tr_lock_try_acquire(d.lock), -EAGAIN);
    await_release(spawn_on(2, not_holder, &d, "not-holder"), 0);
    CHECK_EQ(tr_event_set(d.go), 0);
    await_release(h, 0);
    CHECK(!tr_lock_locked(d.lock));
    CHECK_EQ(tr_lock_try_acquire(d.lock), 0);
    CHECK_EQ(tr_lock_release(d.lock), 0);
    CHECK_EQ(tr_lock_free(d.lock), 0);
    CHECK_EQ(tr_event_free(d.held), 0);
    CHECK_EQ(tr_event_free(d.go), 0);
}

/* A lock of loop 1, freed from loop 0 once its holder (of loop 1) finished holding it. */
static void *take_and_keep(void *arg) {
    CHECK_EQ(tr_lock_acquire(arg), 0);
    return NULL;
}

static void free_from_other_loop(void) {
    tr_lock *l = on_loop(1, make_lock, NULL);
    await_release(spawn_on(1, take_and_keep, l, "take-and-keep"), 0);
    CHECK(tr_lock_locked(l)); /* a task that ends holding a lock leaves it held */
    CHECK_EQ(tr_lock_try_acquire(l), -EAGAIN);
    CHECK_EQ(tr_lock_free(l), 0); /* nobody waits, the holder is gone */
}

static void *main_task(void *arg) {
    int rounds = *(int *)arg;
    CHECK_EQ(tr_loop_count(), 3);
    mutual_exclusion(3, 0, rounds);
    mutual_exclusion(3, 2, rounds);
    fifo_handover();
    identity();
    free_from_other_loop();
    return NULL;
}

int main(void) {
    int rounds = RUNNING_ON_VALGRIND ? 20 : 500;
    CHECK_EQ(run_loops(3, main_task, &rounds, NULL), 0);
    printf("lock across loops: %d rounds per task, FIFO hand-over, holder checks\n", rounds);
    return 0;
}
