/*
 * sync_other_loop.c - every tr_event_*, tr_lock_*, tr_sem_*, tr_cond_*, tr_queue_* call made
 * on objects of loop A from a task of loop B (a second tr_run on another thread) and from a
 * thread with no loop: -EPERM (NULL + EPERM for the pointer calls, false/0 for the readers),
 * nothing changed. Loop A keeps using the objects meanwhile, so under TSan a rejected call
 * that read the object's state before its loop check would show as a data race.
 */
#include "sync_test.h"

#include <pthread.h>
#include <stdatomic.h>

static struct objects {
    tr_event *ev;
    tr_lock *lock;
    tr_sem *sem;
    tr_cond *cond;
    tr_queue *q;
} A;

static atomic_int finished; /* how many of the two foreign threads are done */

/* Every call on A's objects, from somewhere that is not loop A. */
static void poke_all(void) {
    void *item = NULL;
    T_EQ(tr_event_set(A.ev), -EPERM);
    T_EQ(tr_event_clear(A.ev), -EPERM);
    T_EQ(tr_event_wait(A.ev), -EPERM);
    T_CHECK(!tr_event_is_set(A.ev));
    T_EQ(tr_event_free(A.ev), -EPERM);

    T_EQ(tr_lock_acquire(A.lock), -EPERM);
    T_EQ(tr_lock_try_acquire(A.lock), -EPERM);
    T_EQ(tr_lock_release(A.lock), -EPERM);
    T_CHECK(!tr_lock_locked(A.lock));
    T_EQ(tr_lock_free(A.lock), -EPERM);

    T_EQ(tr_sem_acquire(A.sem), -EPERM);
    T_EQ(tr_sem_try_acquire(A.sem), -EPERM);
    T_EQ(tr_sem_release(A.sem), -EPERM);
    T_EQ(tr_sem_value(A.sem), 0);
    T_EQ(tr_sem_free(A.sem), -EPERM);

    errno = 0;
    T_CHECK(tr_cond_lock(A.cond) == NULL && errno == EPERM);
    T_EQ(tr_cond_wait(A.cond), -EPERM);
    T_EQ(tr_cond_notify(A.cond, 1), -EPERM);
    T_EQ(tr_cond_notify_all(A.cond), -EPERM);
    T_EQ(tr_cond_free(A.cond), -EPERM);
    errno = 0;
    T_CHECK(tr_cond_new(A.lock) == NULL && errno == EPERM); /* test_ambiguous_loops */

    T_EQ(tr_queue_put(A.q, NULL), -EPERM);
    T_EQ(tr_queue_try_put(A.q, NULL), -EPERM);
    T_EQ(tr_queue_get(A.q, &item), -EPERM);
    T_EQ(tr_queue_try_get(A.q, &item), -EPERM);
    T_EQ(tr_queue_size(A.q), 0);
    T_EQ(tr_queue_shutdown(A.q, true), -EPERM);
    T_EQ(tr_queue_task_done(A.q), -EPERM);
    T_EQ(tr_queue_join(A.q), -EPERM);
    T_EQ(tr_queue_free(A.q), -EPERM);
}

static void *loop_b_main(void *arg) {
    (void)arg;
    for (int round = 0; round < 50; round++) {
        poke_all();
        T_EQ(tr_yield(), 0);
    }
    /* B's own objects are fine in B. */
    tr_lock *mine = tr_lock_new();
    T_REQUIRE(mine);
    T_EQ(tr_lock_acquire(mine), 0);
    T_EQ(tr_lock_release(mine), 0);
    T_EQ(tr_lock_free(mine), 0);
    return NULL;
}

static void *thread_b(void *arg) {
    (void)arg;
    int rc = tr_run(loop_b_main, NULL, NULL);
    if (rc != 0)
        sync_fail(__FILE__, __LINE__, "loop B: tr_run %d", rc);
    atomic_fetch_add(&finished, 1);
    return NULL;
}

static void *thread_c(void *arg) { /* no loop at all */
    (void)arg;
    for (int round = 0; round < 50; round++)
        poke_all();
    errno = 0;
    T_CHECK(tr_event_new() == NULL && errno == EPERM);
    errno = 0;
    T_CHECK(tr_lock_new() == NULL && errno == EPERM);
    errno = 0;
    T_CHECK(tr_sem_new(1) == NULL && errno == EPERM);
    errno = 0;
    T_CHECK(tr_cond_new(NULL) == NULL && errno == EPERM);
    errno = 0;
    T_CHECK(tr_queue_new(0) == NULL && errno == EPERM);
    atomic_fetch_add(&finished, 1);
    return NULL;
}

/* A second task of loop A, so that A's objects have waiters coming and going. */
static void *partner(void *arg) {
    (void)arg;
    while (atomic_load(&finished) < 2) {
        T_EQ(tr_lock_acquire(A.lock), 0);
        T_EQ(tr_lock_release(A.lock), 0);
        void *item;
        if (tr_queue_get(A.q, &item) < 0)
            break;
        T_EQ(tr_sem_acquire(A.sem), 0);
        T_EQ(tr_event_wait(A.ev), 0);
    }
    return NULL;
}

static void *loop_a_main(void *arg) {
    (void)arg;
    atomic_store(&finished, 0);
    A.ev = tr_event_new();
    A.lock = tr_lock_new();
    A.sem = tr_sem_new(0);
    A.cond = tr_cond_new(NULL);
    A.q = tr_queue_new(4);
    T_REQUIRE(A.ev && A.lock && A.sem && A.cond && A.q);
    tr_task *p = spawn(partner, NULL);
    pthread_t b, c;
    T_REQUIRE(pthread_create(&b, NULL, thread_b, NULL) == 0);
    T_REQUIRE(pthread_create(&c, NULL, thread_c, NULL) == 0);
    tr_lock *cl = tr_cond_lock(A.cond);
    while (atomic_load(&finished) < 2) {
        T_EQ(tr_lock_acquire(A.lock), 0);
        T_EQ(tr_yield(), 0); /* the partner queues for the lock */
        T_EQ(tr_lock_release(A.lock), 0);
        T_EQ(tr_queue_put(A.q, NULL), 0);
        T_EQ(tr_sem_release(A.sem), 0);
        T_EQ(tr_event_set(A.ev), 0);
        T_EQ(tr_lock_acquire(cl), 0);
        T_EQ(tr_cond_notify_all(A.cond), 0);
        T_EQ(tr_lock_release(cl), 0);
        T_EQ(tr_yield(), 0);
        T_EQ(tr_event_clear(A.ev), 0);
    }
    T_EQ(tr_queue_shutdown(A.q, true), 0); /* the partner's get ends it */
    T_EQ(tr_event_set(A.ev), 0);
    T_EQ(tr_sem_release(A.sem), 0);
    T_EQ(finish(p), 0);
    pthread_join(b, NULL);
    pthread_join(c, NULL);
    T_EQ(tr_event_free(A.ev), 0);
    T_EQ(tr_lock_free(A.lock), 0);
    T_EQ(tr_sem_free(A.sem), 0);
    T_EQ(tr_cond_free(A.cond), 0);
    T_EQ(tr_queue_free(A.q), 0);
    return NULL;
}
SYNC_CASE(test_sync_calls_from_another_loop_and_no_loop, loop_a_main)

int main(int argc, char **argv) {
    sync_parse_args(argc, argv);
    const struct CMUnitTest tests[] = {
        SYNC_TEST(test_sync_calls_from_another_loop_and_no_loop),
    };
    return test_result(cmocka_run_group_tests(tests, NULL, NULL));
}
