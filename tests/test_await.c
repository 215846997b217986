/* tr_await: results, errors, self-await, await cycles, many awaiters, cancellation. */
#include <pthread.h>
#include <stdatomic.h>

#include "test_util.h"

static void *value_after_sleep(void *arg) {
    assert_int_equal(tr_sleep(5 * MS), 0);
    return arg;
}

static void *value_now(void *arg) {
    return arg;
}

static void *basic_main(void *arg) {
    (void)arg;
    assert_int_equal(tr_await(NULL, NULL), -EINVAL);
    void *r = (void *)1;
    assert_int_equal(tr_await(NULL, &r), -EINVAL);
    assert_ptr_equal(r, (void *)1);

    tr_task *t = tr_spawn(value_after_sleep, (void *)0x1234);
    assert_non_null(t);
    uint64_t t0 = now_ns();
    assert_int_equal(tr_await(t, &r), 0);
    assert_true(now_ns() - t0 >= 5 * MS);
    assert_ptr_equal(r, (void *)0x1234);
    assert_true(tr_task_done(t));
    assert_false(tr_task_cancelled(t));
    /* Awaiting a done task again: same result; NULL result pointer is fine. */
    r = NULL;
    assert_int_equal(tr_await(t, &r), 0);
    assert_ptr_equal(r, (void *)0x1234);
    assert_int_equal(tr_await(t, NULL), 0);
    tr_task_release(t);
    return NULL;
}

static void test_basic(void **state) {
    (void)state;
    run_ok(basic_main, NULL);
}

/* ---- awaiting a done task does not suspend ---- */

static atomic_int ticks;
static atomic_bool ticker_stop;
static void *ticker(void *arg) {
    (void)arg;
    while (!ticker_stop) {
        ticks++;
        if (tr_yield() != 0)
            break;
    }
    return NULL;
}

static void *done_main(void *arg) {
    (void)arg;
    ticks = 0;
    ticker_stop = false;
    tr_task *t = tr_spawn(value_now, (void *)5);
    tr_task *tk = tr_spawn(ticker, NULL);
    assert_int_equal(tr_yield(), 0);
    assert_true(tr_task_done(t));
    int before = ticks;
    void *r;
    assert_int_equal(tr_await(t, &r), 0);
    assert_ptr_equal(r, (void *)5);
    assert_int_equal(ticks, before); /* returned at once: the ticker did not run */
    ticker_stop = true;
    assert_int_equal(tr_await(tk, NULL), 0);
    tr_task_release(t);
    tr_task_release(tk);
    return NULL;
}

static void test_await_done_returns_at_once(void **state) {
    (void)state;
    run_ok(done_main, NULL);
}

/* ---- self ---- */

static void *self_main(void *arg) {
    (void)arg;
    void *r = (void *)1;
    assert_int_equal(tr_await(tr_current(), &r), -EDEADLK);
    assert_ptr_equal(r, (void *)1);
    /* The task is unharmed: it can still suspend and finish normally. */
    assert_false(tr_task_done(tr_current()));
    assert_int_equal(tr_yield(), 0);
    assert_int_equal(tr_sleep(1 * MS), 0);
    return (void *)77;
}

static void *self_child(void *arg) {
    (void)arg;
    return (void *)(intptr_t)tr_await(tr_current(), NULL);
}

static void *self_child_main(void *arg) {
    (void)arg;
    tr_task *t = tr_spawn(self_child, NULL);
    void *r;
    assert_int_equal(tr_await(t, &r), 0);
    assert_int_equal((int)(intptr_t)r, -EDEADLK);
    tr_task_release(t);
    return NULL;
}

static void test_await_self(void **state) {
    (void)state;
    assert_ptr_equal(run_ok(self_main, NULL), (void *)77);
    run_ok(self_child_main, NULL);
}

/* ---- cycles ---- */

struct ring {
    tr_task *task[4];
    int n;
    int rc[4];
    void *result[4];
};

struct ring_arg {
    struct ring *ring;
    int i;
};

static void *await_next(void *arg) {
    struct ring_arg *ra = arg;
    struct ring *ring = ra->ring;
    int next = (ra->i + 1) % ring->n;
    ring->rc[ra->i] = tr_await(ring->task[next], &ring->result[ra->i]);
    return (void *)(intptr_t)(ra->i + 1000);
}

/* Tasks 0..n-1 run in order; task i awaits task i+1, the last one awaits task 0. */
static void *cycle_main(void *arg) {
    struct ring *ring = arg;
    struct ring_arg ra[4];
    for (int i = 0; i < ring->n; i++) {
        ra[i].ring = ring;
        ra[i].i = i;
        ring->rc[i] = 1;
        ring->task[i] = tr_spawn(await_next, &ra[i]);
        assert_non_null(ring->task[i]);
    }
    for (int i = 0; i < ring->n; i++) {
        assert_int_equal(tr_await(ring->task[i], NULL), 0);
    }
    for (int i = 0; i < ring->n; i++)
        tr_task_release(ring->task[i]);
    return NULL;
}

static void test_await_cycle(void **state) {
    (void)state;
    for (int n = 2; n <= 4; n++) {
        struct ring ring = {.n = n};
        run_ok(cycle_main, &ring);
        /* The last one closes the cycle and is refused; the others get their results. */
        assert_int_equal(ring.rc[n - 1], -EDEADLK);
        for (int i = 0; i < n - 1; i++) {
            assert_int_equal(ring.rc[i], 0);
            assert_ptr_equal(ring.result[i], (void *)(intptr_t)(i + 1 + 1000));
        }
    }
}

/* A chain that is not a cycle: c awaits a, a awaits b. No deadlock reported. */
static void *chain_b(void *arg) {
    (void)arg;
    assert_int_equal(tr_sleep(2 * MS), 0);
    return (void *)2;
}

static void *chain_a(void *arg) {
    tr_task *b = arg;
    void *r;
    assert_int_equal(tr_await(b, &r), 0);
    return (void *)((intptr_t)r + 1);
}

static void *chain_c(void *arg) {
    tr_task *a = arg;
    void *r;
    assert_int_equal(tr_await(a, &r), 0);
    return (void *)((intptr_t)r + 1);
}

static void *chain_main(void *arg) {
    (void)arg;
    tr_task *b = tr_spawn(chain_b, NULL);
    tr_task *a = tr_spawn(chain_a, b);
    tr_task *c = tr_spawn(chain_c, a);
    void *r;
    assert_int_equal(tr_await(c, &r), 0);
    assert_ptr_equal(r, (void *)4);
    /* main also waits on b, which a and c (indirectly) wait on: not a cycle */
    assert_int_equal(tr_await(b, &r), 0);
    assert_ptr_equal(r, (void *)2);
    tr_task_release(a);
    tr_task_release(b);
    tr_task_release(c);
    return NULL;
}

static void test_await_chain(void **state) {
    (void)state;
    run_ok(chain_main, NULL);
}

/* A task awaiting the main task while the main awaits it: the second await is refused. */
static int child_await_rc;
static void *await_main_task(void *arg) {
    tr_task *main_task = arg;
    child_await_rc = tr_await(main_task, NULL);
    return NULL;
}

static void *main_cycle_main(void *arg) {
    (void)arg;
    child_await_rc = 1;
    tr_task *t = tr_spawn(await_main_task, tr_current());
    assert_int_equal(tr_yield(), 0); /* t now awaits us */
    assert_false(tr_task_done(t));
    assert_int_equal(child_await_rc, 1);
    assert_int_equal(tr_await(t, NULL), -EDEADLK);
    tr_task_release(t);
    return (void *)8; /* t's wait ends when we return */
}

static void test_await_main_cycle(void **state) {
    (void)state;
    assert_ptr_equal(run_ok(main_cycle_main, NULL), (void *)8);
    /* t's await was accepted and ended with main: 0, or -ECANCELED when tr_run's final
     * phase cancelled t before it resumed. */
    assert_true(child_await_rc == 0 || child_await_rc == -ECANCELED);
}

/* ---- many awaiters ---- */

#define NAWAITERS 50

struct many {
    tr_task *target;
    int rc[NAWAITERS];
    void *result[NAWAITERS];
};

struct many_arg {
    struct many *m;
    int i;
};

static void *awaiter(void *arg) {
    struct many_arg *ma = arg;
    ma->m->rc[ma->i] = tr_await(ma->m->target, &ma->m->result[ma->i]);
    return NULL;
}

static void *many_main(void *arg) {
    struct many *m = arg;
    m->target = tr_spawn(value_after_sleep, (void *)0xabc);
    struct many_arg ma[NAWAITERS];
    tr_task *w[NAWAITERS];
    for (int i = 0; i < NAWAITERS; i++) {
        ma[i].m = m;
        ma[i].i = i;
        m->rc[i] = 1;
        w[i] = tr_spawn(awaiter, &ma[i]);
    }
    for (int i = 0; i < NAWAITERS; i++) {
        assert_int_equal(tr_await(w[i], NULL), 0);
        tr_task_release(w[i]);
    }
    tr_task_release(m->target);
    return NULL;
}

static void test_many_awaiters(void **state) {
    (void)state;
    struct many m;
    run_ok(many_main, &m);
    for (int i = 0; i < NAWAITERS; i++) {
        assert_int_equal(m.rc[i], 0);
        assert_ptr_equal(m.result[i], (void *)0xabc);
    }
}

/* ---- cancellation and await ---- */

static void *long_sleep(void *arg) {
    (void)arg;
    tr_sleep(10000 * MS);
    return (void *)1;
}

static int waiter_rc;
static void *wait_on(void *arg) {
    waiter_rc = tr_await(arg, NULL);
    return NULL;
}

static void *cancel_main(void *arg) {
    (void)arg;
    /* Awaiting a task that gets cancelled while we wait. */
    tr_task *t = tr_spawn(long_sleep, NULL);
    assert_int_equal(tr_yield(), 0);
    tr_task *w = tr_spawn(wait_on, t);
    assert_int_equal(tr_yield(), 0); /* w awaits t */
    assert_int_equal(tr_task_cancel(t), 1);
    assert_int_equal(tr_await(w, NULL), 0);
    assert_int_equal(waiter_rc, -ECANCELED);
    /* Awaiting an already cancelled task. */
    void *r = (void *)3;
    assert_int_equal(tr_await(t, &r), -ECANCELED);
    assert_true(tr_task_cancelled(t));
    tr_task_release(t);
    tr_task_release(w);

    /* Awaiting a task cancelled before it ran. */
    t = tr_spawn(long_sleep, NULL);
    assert_int_equal(tr_task_cancel(t), 1);
    assert_int_equal(tr_await(t, NULL), -ECANCELED);
    tr_task_release(t);

    /* The awaiting task itself is cancelled while it waits. */
    t = tr_spawn(long_sleep, NULL);
    waiter_rc = 1;
    w = tr_spawn(wait_on, t);
    assert_int_equal(tr_yield(), 0);
    assert_int_equal(tr_task_cancel(w), 1);
    uint64_t t0 = now_ns();
    assert_int_equal(tr_await(w, NULL), -ECANCELED);
    assert_true(now_ns() - t0 < 5000 * MS);
    assert_int_equal(waiter_rc, -ECANCELED);
    assert_true(tr_task_cancelled(w));
    tr_task_cancel(t);
    tr_task_release(t);
    tr_task_release(w);
    return NULL;
}

static void test_await_cancelled(void **state) {
    (void)state;
    run_ok(cancel_main, NULL);
}

/* ---- outside a loop, and across loops ---- */

static int outside_await_rc, outside_null_rc;
static void *await_from_plain_thread(void *arg) {
    void *r = (void *)1;
    outside_await_rc = tr_await(arg, &r);
    outside_null_rc = (r == (void *)1) ? 0 : -1;
    return NULL;
}

static void *outside_main(void *arg) {
    (void)arg;
    tr_task *t = tr_spawn(value_after_sleep, (void *)6);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, await_from_plain_thread, t), 0);
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_int_equal(outside_await_rc, -EPERM);
    assert_int_equal(outside_null_rc, 0); /* *result untouched */
    void *r;
    assert_int_equal(tr_await(t, &r), 0);
    assert_ptr_equal(r, (void *)6);
    /* A done task, from a thread without a loop: still -EPERM. */
    assert_int_equal(pthread_create(&th, NULL, await_from_plain_thread, t), 0);
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_int_equal(outside_await_rc, -EPERM);
    tr_task_release(t);
    return NULL;
}

static void test_await_outside(void **state) {
    (void)state;
    outside_await_rc = 1;
    run_ok(outside_main, NULL);
}

static atomic_int phase;
static tr_task *foreign;
static int foreign_await_rc, foreign_cancel_rc, foreign_name_rc;

static void *foreign_loop_main(void *arg) {
    (void)arg;
    foreign_await_rc = tr_await(foreign, NULL);
    foreign_cancel_rc = tr_task_cancel(foreign);
    foreign_name_rc = tr_task_set_name(foreign, "stolen");
    return NULL;
}

static void *foreign_thread(void *arg) {
    (void)arg;
    int rc = tr_run(foreign_loop_main, NULL, NULL);
    phase = 2;
    return (void *)(intptr_t)rc;
}

static void *owner_main(void *arg) {
    (void)arg;
    foreign = tr_spawn(long_sleep, NULL);
    assert_int_equal(tr_yield(), 0);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, foreign_thread, NULL), 0);
    uint64_t deadline = now_ns() + 5000 * MS;
    while (phase != 2 && now_ns() < deadline)
        assert_int_equal(tr_sleep(1 * MS), 0);
    void *rc;
    assert_int_equal(pthread_join(th, &rc), 0);
    assert_int_equal((int)(intptr_t)rc, 0);
    assert_int_equal(foreign_await_rc, -EPERM);
    assert_int_equal(foreign_cancel_rc, -EPERM);
    assert_int_equal(foreign_name_rc, -EPERM);
    assert_false(tr_task_done(foreign));
    assert_string_not_equal(tr_task_name(foreign), "stolen");
    assert_int_equal(tr_task_cancel(foreign), 1);
    assert_int_equal(tr_await(foreign, NULL), -ECANCELED);
    tr_task_release(foreign);
    return NULL;
}

static void test_await_other_loop(void **state) {
    (void)state;
    phase = 0;
    run_ok(owner_main, NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basic),         cmocka_unit_test(test_await_done_returns_at_once),
        cmocka_unit_test(test_await_self),    cmocka_unit_test(test_await_cycle),
        cmocka_unit_test(test_await_chain),   cmocka_unit_test(test_await_main_cycle),
        cmocka_unit_test(test_many_awaiters), cmocka_unit_test(test_await_cancelled),
        cmocka_unit_test(test_await_outside), cmocka_unit_test(test_await_other_loop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
