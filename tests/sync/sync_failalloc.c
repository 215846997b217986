/*
 * sync_failalloc.c - allocation failure injected (tests/failalloc) on every allocation of
 * every _new in turn, on queue growth, and on the timer of a deadline-bounded wait of each
 * object. Each must give its documented error (NULL + ENOMEM, -ENOMEM), leave the object as
 * it was (no waiter left behind, no item lost, a condition's lock held again), and leak
 * nothing (the valgrind and ASan runs check at exit).
 */
#include "sync_test.h"

#include "failalloc.h"

/* Run `call` with the n-th allocation failing, n = 0, 1, ... until it needs none; returns how
 * many allocations it made. `call` returns 0 on success, -ENOMEM on an injected failure. */
static long exhaust(int (*call)(void *), void *arg, const char *what) {
    for (long n = 0;; n++) {
        failalloc_arm(n);
        int rc = call(arg);
        bool injected = failalloc_injected();
        failalloc_disarm();
        if (!injected) {
            if (rc != 0)
                sync_fail(__FILE__, __LINE__, "%s: %d with no injected failure", what, rc);
            return n;
        }
        if (rc != -ENOMEM) {
            sync_fail(__FILE__, __LINE__, "%s: allocation %ld failed, got %d, not -ENOMEM", what, n,
                      rc);
            return n;
        }
    }
}

/* Each _new, then a use that shows the object works, then its _free. */
#define NEW_OR_ENOMEM(expr)                                                                        \
    errno = 0;                                                                                     \
    __typeof__(expr) obj = (expr);                                                                 \
    if (!obj)                                                                                      \
        return errno == ENOMEM ? -ENOMEM : -errno;

static int event_new(void *arg) {
    (void)arg;
    NEW_OR_ENOMEM(tr_event_new());
    T_EQ(tr_event_set(obj), 0);
    T_EQ(tr_event_wait(obj), 0);
    return tr_event_free(obj);
}

static int lock_new(void *arg) {
    (void)arg;
    NEW_OR_ENOMEM(tr_lock_new());
    T_EQ(tr_lock_acquire(obj), 0);
    T_EQ(tr_lock_release(obj), 0);
    return tr_lock_free(obj);
}

static int sem_new(void *arg) {
    (void)arg;
    NEW_OR_ENOMEM(tr_sem_new(1));
    T_EQ(tr_sem_acquire(obj), 0);
    T_EQ(tr_sem_release(obj), 0);
    return tr_sem_free(obj);
}

static int cond_new(void *arg) {
    tr_lock *given = arg;
    NEW_OR_ENOMEM(tr_cond_new(given));
    T_EQ(tr_lock_acquire(tr_cond_lock(obj)), 0);
    T_EQ(tr_cond_notify(obj, 1), 0);
    T_EQ(tr_lock_release(tr_cond_lock(obj)), 0);
    if (given)
        T_CHECK(!tr_lock_locked(given));
    return tr_cond_free(obj);
}

static int queue_new(void *arg) {
    size_t maxsize = *(size_t *)arg;
    NEW_OR_ENOMEM(tr_queue_new(maxsize));
    void *item;
    T_EQ(tr_queue_put(obj, &item), 0);
    T_EQ(tr_queue_get(obj, &item), 0);
    return tr_queue_free(obj);
}

static void *every_new(void *arg) {
    (void)arg;
    long n[8];
    n[0] = exhaust(event_new, NULL, "tr_event_new");
    n[1] = exhaust(lock_new, NULL, "tr_lock_new");
    n[2] = exhaust(sem_new, NULL, "tr_sem_new");
    n[3] = exhaust(cond_new, NULL, "tr_cond_new(NULL)");
    tr_lock *given = tr_lock_new();
    T_REQUIRE(given);
    n[4] = exhaust(cond_new, given, "tr_cond_new(lock)");
    T_EQ(tr_lock_free(given), 0);
    size_t sizes[3] = {0, 8, 5000};
    for (int i = 0; i < 3; i++)
        n[5 + i] = exhaust(queue_new, &sizes[i], "tr_queue_new");
    T_EQ(n[0], 1);
    T_EQ(n[1], 1);
    T_EQ(n[2], 1);
    T_EQ(n[3], 2); /* the condition and its own lock */
    T_EQ(n[4], 1);
    for (int i = 5; i < 8; i++)
        T_EQ(n[i], 2); /* the queue and its ring */
    return NULL;
}
SYNC_CASE(test_every_new_fails_cleanly, every_new)

/* A put that must grow the ring: -ENOMEM, the queue as it was; a put to a waiting getter and
 * a get never allocate. */
static tr_queue *gq;
static void *get_one(void *arg) {
    void **out = arg;
    T_EQ(tr_queue_get(gq, out), 0);
    return NULL;
}
static void *queue_growth(void *arg) {
    (void)arg;
    T_REQUIRE((gq = tr_queue_new(0)) != NULL);
    int i = 0;
    for (;; i++) { /* fill the first ring exactly: the next put must grow it */
        failalloc_arm(0);
        int rc = tr_queue_try_put(gq, (void *)(intptr_t)i);
        bool injected = failalloc_injected();
        failalloc_disarm();
        if (injected) {
            T_EQ(rc, -ENOMEM);
            break;
        }
        T_EQ(rc, 0);
        T_REQUIRE(i < 100000);
    }
    size_t len = tr_queue_size(gq);
    T_EQ(len, (size_t)i);
    failalloc_arm(0);
    T_EQ(tr_queue_put(gq, (void *)-1), -ENOMEM);
    T_CHECK(failalloc_injected());
    failalloc_disarm();
    T_EQ(tr_queue_size(gq), len);
    T_EQ(tr_queue_try_put(gq, (void *)(intptr_t)i), 0); /* now it grows */
    for (int k = 0; k <= i; k++) {
        void *item;
        failalloc_arm(0);
        T_EQ(tr_queue_try_get(gq, &item), 0);
        T_CHECK(!failalloc_injected());
        failalloc_disarm();
        T_EQ((intptr_t)item, k);
    }
    void *got = NULL;
    tr_task *t = spawn(get_one, &got);
    T_EQ(tr_yield(), 0);
    failalloc_arm(0);
    T_EQ(tr_queue_put(gq, (void *)7), 0); /* handed over */
    T_CHECK(!failalloc_injected());
    failalloc_disarm();
    T_EQ(finish(t), 0);
    T_CHECK(got == (void *)7);
    T_EQ(tr_queue_free(gq), 0);
    return NULL;
}
SYNC_CASE(test_queue_growth_fails_cleanly, queue_growth)

/* A wait bounded by a deadline arms the task's timer; when the loop's timer heap cannot grow
 * (a long sleeper holds the in-order list, so an earlier deadline needs the heap), the wait
 * returns -ENOMEM having changed nothing. */
static tr_event *ev;
static tr_lock *lk;
static tr_sem *sm;
static tr_cond *cv;
static tr_queue *qq;

static void *sleeper(void *arg) {
    (void)arg;
    T_EQ(tr_sleep(3600ull * 1000 * MS), -ECANCELED);
    return NULL;
}
static void *hold_lk(void *arg) {
    tr_event *until = arg;
    T_EQ(tr_lock_acquire(lk), 0);
    T_EQ(tr_event_wait(until), 0);
    T_EQ(tr_lock_release(lk), 0);
    return NULL;
}

/* One bounded wait with the timer's allocation failing. */
#define TIMED_ENOMEM(call)                                                                         \
    do {                                                                                           \
        tr_deadline d_;                                                                            \
        T_EQ(tr_deadline_begin(&d_, 1000 * MS), 0);                                                \
        failalloc_arm(0);                                                                          \
        T_EQ((call), -ENOMEM);                                                                     \
        T_CHECK(failalloc_injected());                                                             \
        failalloc_disarm();                                                                        \
        tr_deadline_end(&d_);                                                                      \
    } while (0)

static void *timer_enomem(void *arg) {
    (void)arg;
    tr_task *s = spawn(sleeper, NULL);
    T_EQ(tr_yield(), 0); /* the sleeper's far deadline heads the in-order list */
    T_REQUIRE((ev = tr_event_new()) && (lk = tr_lock_new()) && (sm = tr_sem_new(0)) &&
              (cv = tr_cond_new(NULL)) && (qq = tr_queue_new(1)));
    void *item;

    TIMED_ENOMEM(tr_event_wait(ev));
    T_EQ(tr_event_free(ev), 0); /* no waiter left */

    tr_event *until = tr_event_new();
    T_REQUIRE(until);
    tr_task *h = spawn(hold_lk, until);
    T_EQ(tr_yield(), 0);
    TIMED_ENOMEM(tr_lock_acquire(lk));
    T_EQ(tr_event_set(until), 0);
    T_EQ(finish(h), 0);
    T_CHECK(!tr_lock_locked(lk)); /* released to nobody: no waiter was left */
    T_EQ(tr_lock_free(lk), 0);

    TIMED_ENOMEM(tr_sem_acquire(sm));
    T_EQ(tr_sem_value(sm), 0);
    T_EQ(tr_sem_free(sm), 0);

    T_EQ(tr_lock_acquire(tr_cond_lock(cv)), 0);
    TIMED_ENOMEM(tr_cond_wait(cv));
    T_EQ(tr_lock_try_acquire(tr_cond_lock(cv)), -EDEADLK); /* held again */
    T_EQ(tr_lock_release(tr_cond_lock(cv)), 0);
    T_EQ(tr_cond_free(cv), 0);

    TIMED_ENOMEM(tr_queue_get(qq, &item));
    T_EQ(tr_queue_put(qq, (void *)1), 0);
    TIMED_ENOMEM(tr_queue_put(qq, (void *)2));
    T_EQ(tr_queue_size(qq), 1);
    TIMED_ENOMEM(tr_queue_join(qq));
    T_EQ(tr_queue_get(qq, &item), 0);
    T_CHECK(item == (void *)1);
    T_EQ(tr_queue_task_done(qq), 0);
    T_EQ(tr_queue_free(qq), 0);

    T_EQ(tr_event_free(until), 0);
    cancel(s);
    T_EQ(finish(s), -ECANCELED);
    return NULL;
}
SYNC_CASE(test_bounded_wait_timer_enomem, timer_enomem)

int main(int argc, char **argv) {
    sync_parse_args(argc, argv);
    const struct CMUnitTest tests[] = {
        SYNC_TEST(test_every_new_fails_cleanly),
        SYNC_TEST(test_queue_growth_fails_cleanly),
        SYNC_TEST(test_bounded_wait_timer_enomem),
    };
    return test_result(cmocka_run_group_tests(tests, NULL, NULL));
}
