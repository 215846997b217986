/*
 * event.c - asyncio.Event: a flag tasks wait for.
 *
 * tr_event_set fires every waiter, oldest first, each in O(1). The wake-up hands nothing
 * over, so it is not owned: a waiter cancelled after the set but before it runs returns
 * -ECANCELED, as asyncio raises CancelledError into it; nothing is lost, the event stays set
 * (or was cleared by someone, which concerns only later waits).
 */
#include "sync.h"

#include <errno.h>
#include <stdlib.h>

struct tr_event {
    struct tr_loop *loop;
    bool set;
    struct wait_queue waiters;
};

TR_EXPORT tr_event *tr_event_new(void) {
    struct tr_loop *loop;
    if (!calling_task(&loop)) {
        errno = EPERM;
        return NULL;
    }
    tr_event *e = calloc(1, sizeof *e);
    if (!e) {
        errno = ENOMEM;
        return NULL;
    }
    e->loop = loop;
    return e;
}

static int event_free_there(void *p) {
    struct hop_args *h = p;
    return tr_event_free(h->a);
}

static int event_set_there(void *p) {
    struct hop_args *h = p;
    return tr_event_set(h->a);
}

static int event_clear_there(void *p) {
    struct hop_args *h = p;
    return tr_event_clear(h->a);
}

static int event_is_set_there(void *p) {
    struct hop_args *h = p;
    return tr_event_is_set(h->a);
}

static int event_wait_there(void *p) {
    struct hop_args *h = p;
    return tr_event_wait(h->a);
}

TR_EXPORT int tr_event_free(tr_event *e) {
    if (!e)
        return 0;
    struct tr_loop *loop;
    if (!calling_task_on(e->loop, &loop))
        return hop_call(e->loop, event_free_there, HOP_ARGS(e));
    if (e->waiters.len)
        return -EBUSY;
    free(e);
    return 0;
}

TR_EXPORT int tr_event_set(tr_event *e) {
    if (!e)
        return -EINVAL;
    struct tr_loop *loop;
    if (!calling_task_on(e->loop, &loop))
        return hop_call(e->loop, event_set_there, HOP_ARGS(e));
    e->set = true;
    /* Each waiter lives on its own task's stack, and each task record elsewhere: with many
     * waiters both are cold. Fetch the next ones while this one is fired. */
    for (struct waiter *w = e->waiters.head; w;) {
        struct waiter *next = w->next;
        if (next) {
            __builtin_prefetch(next->next, 1);
            __builtin_prefetch(next->task, 1);
        }
        waiter_fire(w, 0, false);
        w = next;
    }
    return 0;
}

TR_EXPORT int tr_event_clear(tr_event *e) {
    if (!e)
        return -EINVAL;
    struct tr_loop *loop;
    if (!calling_task_on(e->loop, &loop))
        return hop_call(e->loop, event_clear_there, HOP_ARGS(e));
    e->set = false;
    return 0;
}

TR_EXPORT bool tr_event_is_set(const tr_event *e) {
    if (!e)
        return false;
    if (e->loop == tr_tls_loop)
        return e->set;
    return hop_call(e->loop, event_is_set_there, HOP_ARGS((void *)e)) > 0;
}

TR_EXPORT int tr_event_wait(tr_event *e) {
    if (!e)
        return -EINVAL;
    struct tr_loop *loop;
    tr_task *self = calling_task_on(e->loop, &loop);
    if (!self)
        return hop_call(e->loop, event_wait_there, HOP_ARGS(e));
    if (wait_cancel_pending(self))
        return -ECANCELED;
    if (e->set)
        return 0;
    int rc = sync_admit(self);
    if (rc < 0)
        return rc;
    struct waiter w;
    return sync_wait(&e->waiters, &w, loop, self, WAIT_EVENT, e, NULL, self->scope_deadline_ns);
}
