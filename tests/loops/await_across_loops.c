/*
 * tr_await of a task of another loop, both ways: the caller is carried to the awaited task's
 * loop, waits there, and comes back with the result (or the error the task failed with).
 * After the await the caller runs on its own loop again. A cycle of awaits across loops that
 * is formed one await after the other is refused (-EDEADLK) by the await that would close it,
 * through two loops and through three.
 */
#include "loops.h"

static void *answer(void *arg) {
    CHECK_LOOP(1);
    return arg;
}

static void *answer_later(void *arg) {
    CHECK_LOOP(1);
    CHECK_EQ(tr_sleep(5 * MS), 0);
    CHECK_LOOP(1);
    return arg;
}

static void *fails(void *arg) {
    (void)arg;
    tr_fail(-EPROTO);
    return (void *)7; /* tr_await still hands over what it returned */
}

static void *answer_on_0(void *arg) {
    CHECK_LOOP(0);
    tr_sleep(1 * MS);
    return arg;
}

/* A task of loop 1 awaiting tasks of loop 0: one it spawns there, one that main made. */
struct reverse {
    tr_task *of_main; /* a task of loop 0, spawned by main */
};

static void *awaits_loop0(void *arg) {
    struct reverse *r = arg;
    CHECK_LOOP(1);
    tr_task *t = spawn_on(0, answer_on_0, (void *)11, "answer-on-0");
    void *res = NULL;
    CHECK_EQ(tr_await(t, &res), 0);
    CHECK(res == (void *)11);
    CHECK_LOOP(1);
    tr_task_release(t);

    res = NULL;
    CHECK_EQ(tr_await(r->of_main, &res), 0);
    CHECK(res == (void *)12);
    CHECK_LOOP(1);

    t = spawn_on(0, fails, NULL, "fails-on-0");
    res = NULL;
    CHECK_EQ(tr_await(t, &res), -EPROTO);
    CHECK(res == (void *)7);
    CHECK_LOOP(1);
    CHECK_EQ(tr_task_error(t), -EPROTO);
    tr_task_release(t);
    return (void *)13;
}

/* ---- a cycle formed one await after the other -------------------------------------------- */

/*
 * P awaits Q, and Q's next await is to begin only once P is surely suspended in that await.
 * The baton: Q waits on a condition of P's loop; P notifies it (tr_cond_notify counts the
 * waiters it woke, so P knows Q was waiting), releases the lock and awaits Q at once. Both
 * then travel to Q's loop, P first (P leaves P's loop before Q runs there again): Q's loop
 * runs P into its wait before Q is back home. Whatever Q does next happens after P's
 * suspension.
 */
static void pass_baton(tr_cond *c) {
    tr_lock *l = tr_cond_lock(c);
    CHECK(l != NULL);
    for (;;) {
        CHECK_EQ(tr_lock_acquire(l), 0);
        int woken = tr_cond_notify(c, 1);
        CHECK_EQ(tr_lock_release(l), 0);
        if (woken == 1)
            return;
        CHECK_EQ(woken, 0);
        CHECK_EQ(tr_sleep(1 * MS), 0); /* nobody waits yet: look again */
    }
}

static void wait_baton(tr_cond *c) {
    tr_lock *l = tr_cond_lock(c);
    CHECK(l != NULL);
    CHECK_EQ(tr_lock_acquire(l), 0);
    CHECK_EQ(tr_cond_wait(c), 0);
    CHECK_EQ(tr_lock_release(l), 0);
}

static void *make_cond(void *arg) {
    (void)arg;
    tr_cond *c = tr_cond_new(NULL);
    CHECK(c != NULL);
    return c;
}

/* Two loops: A (loop 0) awaits B (loop 1), then B awaits A. */
struct cycle {
    tr_cond *cond; /* of loop 0, A's */
    tr_task *a, *b;
    int b_rc;
};

static void *cycle_b(void *arg) {
    struct cycle *c = arg;
    CHECK_LOOP(1);
    wait_baton(c->cond);
    CHECK_LOOP(1);
    c->b_rc = tr_await(c->a, NULL); /* A waits for B: this await would close the cycle */
    CHECK_LOOP(1);
    return (void *)21;
}

static void *cycle_a(void *arg) {
    struct cycle *c = arg;
    CHECK_LOOP(0);
    pass_baton(c->cond);
    void *res = NULL;
    CHECK_EQ(tr_await(c->b, &res), 0);
    CHECK(res == (void *)21);
    CHECK_LOOP(0);
    return (void *)22;
}

static void cycle_of_two(void) {
    struct cycle c = {0};
    c.cond = make_cond(NULL); /* main is on loop 0 */
    c.a = spawn_on(0, cycle_a, &c, "cycle-a");
    c.b = spawn_on(1, cycle_b, &c, "cycle-b");
    CHECK(await_release(c.a, 0) == (void *)22);
    CHECK(await_release(c.b, 0) == (void *)21);
    CHECK_EQ(c.b_rc, -EDEADLK);
    CHECK_EQ(tr_cond_free(c.cond), 0);
}

/* Three loops: X (loop 0) awaits Y (loop 1), then Y awaits Z (loop 2), then Z awaits X. */
struct chain {
    tr_task *x, *y, *z;
    tr_cond *c0, *c1; /* of loops 0 (X's) and 1 (Y's) */
    int z_rc;
};

static void *chain_z(void *arg) {
    struct chain *c = arg;
    CHECK_LOOP(2);
    wait_baton(c->c1);
    c->z_rc = tr_await(c->x, NULL);
    CHECK_LOOP(2);
    return (void *)33;
}

static void *chain_y(void *arg) {
    struct chain *c = arg;
    CHECK_LOOP(1);
    wait_baton(c->c0);
    pass_baton(c->c1);
    void *res = NULL;
    CHECK_EQ(tr_await(c->z, &res), 0);
    CHECK(res == (void *)33);
    CHECK_LOOP(1);
    return (void *)32;
}

static void *chain_x(void *arg) {
    struct chain *c = arg;
    CHECK_LOOP(0);
    pass_baton(c->c0);
    void *res = NULL;
    CHECK_EQ(tr_await(c->y, &res), 0);
    CHECK(res == (void *)32);
    CHECK_LOOP(0);
    return (void *)31;
}

static void cycle_of_three(void) {
    struct chain c = {0};
    c.c0 = make_cond(NULL);
    c.c1 = on_loop(1, make_cond, NULL);
    c.x = spawn_on(0, chain_x, &c, "chain-x");
    c.y = spawn_on(1, chain_y, &c, "chain-y");
    c.z = spawn_on(2, chain_z, &c, "chain-z");
    CHECK(await_release(c.x, 0) == (void *)31);
    CHECK(await_release(c.y, 0) == (void *)32);
    CHECK(await_release(c.z, 0) == (void *)33);
    CHECK_EQ(c.z_rc, -EDEADLK);
    CHECK_EQ(tr_cond_free(c.c0), 0);
    CHECK_EQ(tr_cond_free(c.c1), 0);
}

static void *main_two(void *arg) {
    (void)arg;
    CHECK_LOOP(0);
    CHECK_EQ(tr_loop_count(), 2);

    /* loop 0 awaits loop 1: done at once, done later, failed */
    CHECK(await_release(spawn_on(1, answer, (void *)1, "answer"), 0) == (void *)1);
    CHECK_LOOP(0);
    CHECK(await_release(spawn_on(1, answer_later, (void *)2, "answer-later"), 0) == (void *)2);
    CHECK_LOOP(0);
    tr_task *t = spawn_on(1, fails, NULL, "fails-on-1");
    void *res = NULL;
    CHECK_EQ(tr_await(t, &res), -EPROTO);
    CHECK(res == (void *)7);
    CHECK_LOOP(0);
    /* a finished task of another loop: its outcome again, at once */
    res = NULL;
    CHECK_EQ(tr_await(t, &res), -EPROTO);
    CHECK(res == (void *)7);
    CHECK_LOOP(0);
    tr_task_release(t);

    /* loop 1 awaits loop 0 */
    struct reverse r;
    r.of_main = spawn_on(0, answer_on_0, (void *)12, "of-main");
    CHECK(await_release(spawn_on(1, awaits_loop0, &r, "awaits-loop0"), 0) == (void *)13);
    CHECK_LOOP(0);
    CHECK(await_release(r.of_main, 0) == (void *)12);

    cycle_of_two();
    return (void *)100;
}

static void *main_three(void *arg) {
    (void)arg;
    CHECK_EQ(tr_loop_count(), 3);
    cycle_of_three();
    return (void *)200;
}

int main(void) {
    int rounds = RUNNING_ON_VALGRIND ? 2 : 10;
    for (int i = 0; i < rounds; i++) {
        void *res = NULL;
        CHECK_EQ(run_loops(2, main_two, NULL, &res), 0);
        CHECK(res == (void *)100);
    }
    void *res = NULL;
    CHECK_EQ(run_loops(3, main_three, NULL, &res), 0);
    CHECK(res == (void *)200);
    printf("await across loops: %d rounds of 2 loops, a cycle through 3 loops\n", rounds);
    return 0;
}
