/*
 * A semaphore and a condition of one loop used from others. The semaphore: never more holders
 * than permits across all loops (and as many as permits at once: the first holders wait for
 * each other, which only works if that many can hold it together), try_acquire and value from
 * another loop, the permits all back at the end. The condition: waiters of other loops
 * notified by a task of another (tr_cond_notify counts exactly the waiters it woke), each
 * holding the lock again when its wait returns, -EPERM for a notify or wait without the lock,
 * and tr_cond_new refusing a lock of another loop.
 */
#include "loops.h"

/* ---- the semaphore -------------------------------------------------------------------------- */

enum { PERMITS = 2, HOLDERS = 9 };

struct sem_shared {
    tr_sem *sem;        /* of loop 0 */
    tr_event *together; /* of loop 1: PERMITS holders held it at once */
    _Atomic int inside, max_inside, first;
};

static void *hold(void *arg) {
    struct sem_shared *s = arg;
    CHECK_EQ(tr_sem_acquire(s->sem), 0);
    int in = atomic_fetch_add(&s->inside, 1) + 1;
    CHECK(in <= PERMITS);
    int max = atomic_load(&s->max_inside);
    while (in > max && !atomic_compare_exchange_weak(&s->max_inside, &max, in))
        ;
    /* The first PERMITS holders wait until PERMITS hold it together. */
    if (atomic_fetch_add(&s->first, 1) < PERMITS) {
        if (in == PERMITS)
            CHECK_EQ(tr_event_set(s->together), 0);
        CHECK_EQ(tr_event_wait(s->together), 0);
    } else {
        CHECK_EQ(tr_yield(), 0);
    }
    atomic_fetch_sub(&s->inside, 1);
    CHECK_EQ(tr_sem_release(s->sem), 0);
    return NULL;
}

static void *try_from_other_loop(void *arg) {
    struct sem_shared *s = arg;
    CHECK_LOOP(2);
    CHECK_EQ(tr_sem_value(s->sem), PERMITS);
    CHECK_EQ(tr_sem_try_acquire(s->sem), 0);
    CHECK_EQ(tr_sem_value(s->sem), PERMITS - 1);
    CHECK_EQ(tr_sem_try_acquire(s->sem), 0);
    CHECK_EQ(tr_sem_try_acquire(s->sem), -EAGAIN);
    CHECK_EQ(tr_sem_value(s->sem), 0);
    CHECK_EQ(tr_sem_release(s->sem), 0);
    CHECK_EQ(tr_sem_release(s->sem), 0);
    CHECK_EQ(tr_sem_value(s->sem), PERMITS);
    return NULL;
}

static void semaphore(void) {
    struct sem_shared s = {0};
    s.sem = tr_sem_new(PERMITS);
    CHECK(s.sem != NULL);
    s.together = on_loop(1, make_event, NULL);
    await_release(spawn_on(2, try_from_other_loop, &s, "try"), 0);
    tr_task *t[HOLDERS];
    for (int i = 0; i < HOLDERS; i++)
        t[i] = spawn_on((unsigned)(1 + i % 2), hold, &s, "hold"); /* loops 1 and 2 */
    for (int i = 0; i < HOLDERS; i++)
        await_release(t[i], 0);
    CHECK_EQ(atomic_load(&s.max_inside), PERMITS);
    CHECK_EQ(atomic_load(&s.inside), 0);
    CHECK_EQ(tr_sem_value(s.sem), PERMITS);
    CHECK_EQ(tr_sem_free(s.sem), 0);
    CHECK_EQ(tr_event_free(s.together), 0);
}

/* ---- the condition -------------------------------------------------------------------------- */

enum { WAITERS = 4 };

/*
 * `queued` counts the waiters in the condition's queue, exactly: a waiter adds itself under
 * the lock just before tr_cond_wait (which enqueues it and lets go of the lock in one step, on
 * the condition's loop), and the notifier takes off as many as tr_cond_notify says it woke.
 */
struct cond_shared {
    tr_cond *cond; /* of loop 0, with its own lock */
    int ready;     /* the predicate, under the lock */
    int queued;    /* under the lock */
    int wakeups;   /* waits that returned 0, under the lock */
    int got;       /* waiters that saw the predicate, under the lock */
};

static void *cond_waiter(void *arg) {
    struct cond_shared *c = arg;
    int home = tr_loop_id();
    tr_lock *l = tr_cond_lock(c->cond);
    CHECK(l != NULL);
    CHECK_EQ(tr_cond_wait(c->cond), -EPERM); /* not holding the lock */
    CHECK_EQ(tr_lock_acquire(l), 0);
    while (!c->ready) {
        c->queued++;
        CHECK_EQ(tr_cond_wait(c->cond), 0);
        c->wakeups++;
        CHECK_LOOP(home);
        CHECK_EQ(tr_lock_try_acquire(l), -EDEADLK); /* it holds the lock again */
    }
    c->got++;
    CHECK_EQ(tr_lock_release(l), 0);
    return NULL;
}

/* Hold the lock with all WAITERS in the condition's queue. */
static void lock_with_all_queued(struct cond_shared *c, tr_lock *l) {
    for (;;) {
        CHECK_EQ(tr_lock_acquire(l), 0);
        if (c->queued == WAITERS)
            return;
        CHECK(c->queued < WAITERS);
        CHECK_EQ(tr_lock_release(l), 0);
        CHECK_EQ(tr_sleep(1 * MS), 0);
    }
}

/* A task of loop 2 notifies the waiters of loops 1 and 2 on main's condition: one, which
 * finds the predicate false and waits again, then all of them. */
static void *notifier(void *arg) {
    struct cond_shared *c = arg;
    CHECK_LOOP(2);
    tr_lock *l = tr_cond_lock(c->cond);
    CHECK_EQ(tr_cond_notify(c->cond, 1), -EPERM); /* not holding the lock */
    lock_with_all_queued(c, l);
    CHECK_EQ(tr_cond_notify(c->cond, 0), 0);
    int n = tr_cond_notify(c->cond, 1);
    CHECK_EQ(n, 1);
    c->queued -= n;
    CHECK_EQ(tr_lock_release(l), 0);
    lock_with_all_queued(c, l); /* the woken one is back in the queue */
    c->ready = 1;
    n = tr_cond_notify_all(c->cond);
    CHECK_EQ(n, WAITERS);
    c->queued -= n;
    CHECK_EQ(tr_cond_notify_all(c->cond), 0); /* nobody left to wake */
    CHECK_EQ(tr_lock_release(l), 0);
    return NULL;
}

static void condition(void) {
    struct cond_shared c = {0};
    c.cond = tr_cond_new(NULL);
    CHECK(c.cond != NULL);
    tr_task *w[WAITERS];
    for (int i = 0; i < WAITERS; i++)
        w[i] = spawn_on((unsigned)(1 + i % 2), cond_waiter, &c, "cond-waiter");
    await_release(spawn_on(2, notifier, &c, "notifier"), 0);
    for (int i = 0; i < WAITERS; i++)
        await_release(w[i], 0);
    CHECK_EQ(c.got, WAITERS);
    CHECK_EQ(c.wakeups, WAITERS + 1);
    CHECK_EQ(c.queued, 0);
    CHECK_EQ(tr_cond_free(c.cond), 0);
}

/* A condition over a lock of another loop is refused. */
static void *cond_over(void *arg) {
    errno = 0;
    CHECK(tr_cond_new(arg) == NULL);
    CHECK_EQ(errno, EPERM);
    return NULL;
}

static void *main_task(void *arg) {
    int rounds = *(int *)arg;
    CHECK_EQ(tr_loop_count(), 3);
    for (int i = 0; i < rounds; i++) {
        semaphore();
        condition();
    }
    tr_lock *l = tr_lock_new();
    await_release(spawn_on(1, cond_over, l, "cond-over"), 0);
    CHECK_EQ(tr_lock_free(l), 0);
    return NULL;
}

int main(void) {
    int rounds = RUNNING_ON_VALGRIND ? 2 : 20;
    CHECK_EQ(run_loops(3, main_task, &rounds, NULL), 0);
    printf("semaphore and condition across loops: %d rounds\n", rounds);
    return 0;
}
