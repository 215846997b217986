/*
 * tr_shield_begin/end: a cancel-protected scope for cleanup. Inside it waits do not return
 * -ECANCELED, a cancellation requested meanwhile is delivered by the first wait after the
 * scope ends, deadline scopes still bound the waits inside, and shields nest.
 */
#include "regress.h"

#define MS 1000000ull

struct probe {
    int in_shield;   /* what the shielded wait returned */
    int after;       /* the first wait after tr_shield_end */
    int inner_after; /* nested: a wait between the inner and the outer end */
    int bounded;     /* a sleep inside a shield, past a deadline scope */
    int awaited;     /* tr_await inside a shield while cancelled */
};

static void *child(void *arg) {
    (void)arg;
    tr_sleep(20 * MS);
    return (void *)7;
}

static void *shielded(void *arg) {
    struct probe *p = arg;
    tr_shield s, inner;
    CHECK_EQ(tr_shield_begin(&s), 0);
    p->in_shield = tr_sleep(30 * MS); /* cancelled meanwhile: runs its course */
    CHECK_EQ(tr_shield_begin(&inner), 0);
    tr_shield_end(&inner);
    p->inner_after = tr_sleep(1 * MS); /* still inside the outer shield */
    tr_deadline d;
    tr_deadline_begin(&d, 5 * MS);
    p->bounded = tr_sleep(10000 * MS); /* the deadline still applies: cleanup is bounded */
    tr_deadline_end(&d);
    tr_task *c = tr_spawn(child, NULL);
    void *r = NULL;
    p->awaited = tr_await(c, &r); /* a shielded await gets the child's outcome */
    CHECK(r == (void *)7);
    tr_task_release(c);
    tr_shield_end(&s);
    p->after = tr_sleep(1 * MS);
    return NULL;
}

static void *main_task(void *arg) {
    struct probe *p = arg;
    tr_task *t = tr_spawn(shielded, p);
    CHECK(t != NULL);
    CHECK_EQ(tr_sleep(5 * MS), 0);
    CHECK_EQ(tr_task_cancel(t), 1);
    CHECK_EQ(tr_await(t, NULL), -ECANCELED); /* it finishes cancelled */
    tr_task_release(t);

    /* Bad input. */
    CHECK_EQ(tr_shield_begin(NULL), -EINVAL);
    tr_shield_end(NULL); /* ignored */
    return NULL;
}

int main(void) {
    struct probe p = {1, 1, 1, 1, 1};
    CHECK_EQ(tr_run(main_task, &p, NULL), 0);
    CHECK_EQ(p.in_shield, 0);
    CHECK_EQ(p.inner_after, 0);
    CHECK_EQ(p.bounded, -ETIME);
    CHECK_EQ(p.awaited, 0);
    CHECK_EQ(p.after, -ECANCELED);
    tr_shield s;
    CHECK_EQ(tr_shield_begin(&s), -EPERM); /* outside a task */
    return 0;
}
