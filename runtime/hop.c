/*
 * hop.c - using another loop's objects: a call is carried to the loop that owns its object.
 *
 * Every object (a task's end, a lock, a queue, an event, a group...) is touched by the
 * thread of the loop that owns it, and nothing else, so none of them needs an atomic or a
 * lock and a same-loop call costs what it did with one loop. A task that calls into an
 * object of another loop of its runtime is carried there (fiber_hop: its context goes
 * through that loop's inbox), makes the call as a task of that loop, waits there if the call
 * waits, and is carried back before the call returns: user code always runs on the task's
 * own loop. A cancellation finds the task wherever it is (cancel_post).
 */
#include "runtime.h"
#include "wait.h"

#include <errno.h>
#include <stdlib.h>

int hop_call(const struct tr_loop *owner, int (*fn)(void *ctx), void *ctx) {
    struct tr_loop *loop = tr_tls_loop;
    tr_task *self = loop ? loop->current : NULL;
    if (!self || !owner || owner == loop || owner->rt != loop->rt)
        return -EPERM;
    fiber_hop(loop, self, (struct tr_loop *)owner);
    int rc = fn(ctx);
    fiber_hop(tls_loop_reload(), self, loop);
    return rc;
}

/*
 * A cancellation for a task that is on another loop, or on its way to one. Whoever carries a
 * task writes `at` before handing it over, so a message posted to the loop `at` names is
 * either ahead of the task in that loop's inbox (the task is MOVING there: the request is
 * noted and its next wait returns it), or the task has left again, and the message follows
 * it. A message holds a reference: the record cannot be reused under it.
 */
struct cancel_msg {
    struct msg m;
    tr_task *t;
    bool force;
};

static void cancel_run(struct tr_loop *loop, struct msg *m) {
    struct cancel_msg *c = (struct cancel_msg *)m;
    tr_task *t = c->t;
    struct tr_loop *at = atomic_load_explicit(&t->at, memory_order_acquire);
    if (at != loop && atomic_load_explicit(&t->state, memory_order_acquire) != TASK_DONE &&
        inbox_post(loop->rt, at->id, m) == 0)
        return; /* it moved on: follow it */
    if (at == loop)
        task_request_cancel(t, c->force);
    task_unref(t);
    free(c);
}

int cancel_post(tr_task *t, bool force) {
    struct tr_loop *at = atomic_load_explicit(&t->at, memory_order_acquire);
    struct cancel_msg *c = malloc(sizeof *c);
    if (!c)
        return -ENOMEM;
    atomic_fetch_add_explicit(&t->refs, 1, memory_order_relaxed);
    c->m.run = cancel_run;
    c->t = t;
    c->force = force;
    if (inbox_post(at->rt, at->id, &c->m) < 0) {
        task_unref(t); /* that loop has ended: so has t */
        free(c);
    }
    return 0;
}
