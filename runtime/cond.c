/*
 * cond.c - asyncio.Condition: a FIFO of waiters over a lock.
 *
 * tr_cond_wait files the caller's waiter, releases the lock (handing it to the lock's oldest
 * waiter, if any), suspends, and then takes the lock back (lock.c, lock_reacquire) before it
 * returns, whatever ended the wait. A notification is an owned wake-up: a waiter notified
 * and then cancelled before it runs still returns 0 (its next wait gives -ECANCELED), so no
 * notification is lost to a cancellation; a waiter cancelled or timed out before the notify
 * has left the queue, and a notify only counts waiters still in it.
 *
 * The re-acquire cannot be cancelled or timed out: a caller that returned without the lock
 * would run its cleanup unprotected and release a lock it does not hold. It therefore lasts
 * as long as the holder keeps the lock. If the holder never lets go (it is stuck itself, or
 * finished holding it), the loop ends up with nothing to run, and tr_run breaks the deadlock
 * by cancelling through shields: that cancellation, the one kind the re-acquire gives way
 * to, makes tr_cond_wait return -EDEADLK without the lock. So the wait always terminates.
 */
#include "sync.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>

struct tr_cond {
    struct tr_loop *loop;
    tr_lock *lock;
    bool own_lock; /* made by tr_cond_new(NULL): freed with the condition */
    struct wait_queue waiters;
};

TR_EXPORT tr_cond *tr_cond_new(tr_lock *lock) {
    struct tr_loop *loop;
    if (!calling_task(&loop) || (lock && lock_loop(lock) != loop)) {
        errno = EPERM;
        return NULL;
    }
    tr_cond *c = calloc(1, sizeof *c);
    if (!c) {
        errno = ENOMEM;
        return NULL;
    }
    if (!lock) {
        lock = tr_lock_new();
        if (!lock) {
            free(c);
            errno = ENOMEM;
            return NULL;
        }
        c->own_lock = true;
    }
    c->loop = loop;
    c->lock = lock;
    return c;
}

static int cond_free_there(void *p) {
    struct hop_args *h = p;
    return tr_cond_free(h->a);
}

static int cond_lock_there(void *p) {
    struct hop_args *h = p;
    h->b = tr_cond_lock(h->a);
    return h->b ? 0 : -errno;
}

static int cond_wait_there(void *p) {
    struct hop_args *h = p;
    return tr_cond_wait(h->a);
}

static int cond_notify_there(void *p) {
    struct hop_args *h = p;
    return tr_cond_notify(h->a, (size_t)h->c);
}

TR_EXPORT int tr_cond_free(tr_cond *c) {
    if (!c)
        return 0;
    struct tr_loop *loop;
    if (!calling_task_on(c->loop, &loop))
        return hop_call(c->loop, cond_free_there, HOP_ARGS(c));
    if (c->waiters.len || (c->own_lock && lock_busy(c->lock)))
        return -EBUSY;
    if (c->own_lock)
        tr_lock_free(c->lock);
    free(c);
    return 0;
}

TR_EXPORT tr_lock *tr_cond_lock(tr_cond *c) {
    if (!c) {
        errno = EINVAL;
        return NULL;
    }
    struct tr_loop *loop;
    if (calling_task(&loop) && c->loop != loop) {
        struct hop_args h = {c, NULL, 0};
        int rc = hop_call(c->loop, cond_lock_there, &h);
        if (rc < 0)
            errno = -rc;
        return h.b;
    }
    if (!calling_task(&loop)) {
        errno = EPERM;
        return NULL;
    }
    return c->lock;
}

TR_EXPORT int tr_cond_wait(tr_cond *c) {
    if (!c)
        return -EINVAL;
    struct tr_loop *loop;
    tr_task *self = calling_task_on(c->loop, &loop);
    if (!self)
        return hop_call(c->loop, cond_wait_there, HOP_ARGS(c));
    if (!lock_held_by(c->lock, self))
        return -EPERM;
    /* Refused before anything changes: the caller still holds the lock. */
    if (wait_cancel_pending(self))
        return -ECANCELED;
    int rc = sync_admit(self);
    if (rc < 0)
        return rc;
    /* Release, then wait: nothing runs in between, so no notify can come before we are in
     * the queue, and the lock goes to its next waiter now. */
    lock_release_held(c->lock);
    struct waiter w;
    rc = sync_wait(&c->waiters, &w, loop, self, WAIT_COND, c, NULL, self->scope_deadline_ns);
    /* 0: notified; -ECANCELED, -ETIME, -ENOMEM (no timer): not notified, out of the queue */
    int held = lock_reacquire(c->lock, loop, self);
    return held < 0 ? held : rc;
}

TR_EXPORT int tr_cond_notify(tr_cond *c, size_t n) {
    if (!c)
        return -EINVAL;
    struct tr_loop *loop;
    tr_task *self = calling_task_on(c->loop, &loop);
    if (!self)
        return hop_call(c->loop, cond_notify_there, HOP_ARGS(c, NULL, n));
    if (!lock_held_by(c->lock, self))
        return -EPERM;
    int woken = 0;
    while (n-- && c->waiters.head && woken < INT_MAX) {
        waiter_fire(c->waiters.head, 0, true); /* owned: a late cancellation keeps it */
        woken++;
    }
    return woken;
}

TR_EXPORT int tr_cond_notify_all(tr_cond *c) {
    return tr_cond_notify(c, SIZE_MAX);
}
