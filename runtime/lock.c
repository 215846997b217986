/*
 * lock.c - asyncio.Lock: held by one task at a time, handed to waiters in FIFO order.
 *
 * A release with tasks waiting does not unlock: it makes the oldest waiter the holder and
 * fires its waiter as an owned wake-up (one waiter_fire, nothing else). So the lock is never
 * free while anyone waits, a task arriving later cannot barge past the queue, and a waiter
 * cancelled after the hand-over but before it runs still returns 0 holding the lock (its
 * next wait gives -ECANCELED): the lock is never handed to nobody. A waiter cancelled or
 * timed out before the hand-over has been unlinked by the wake-up that ended its wait, so
 * it simply leaves the queue and no release ever sees it.
 *
 * The holder is recorded as its record and its Task-N number: records are reused once a task
 * is gone, numbers are not, so a task that got a dead holder's record is not taken for it. A
 * lock whose holder finished without releasing it stays locked (as in asyncio), but it can be
 * freed once nobody waits: the record of the holder stays readable while the loop lives
 * (record.c reuses records, never frees them before the loop ends), which is the only place
 * these calls can run.
 */
#include "sync.h"

#include <errno.h>
#include <stdlib.h>

struct tr_lock {
    struct tr_loop *loop;
    tr_task *holder; /* NULL: free (then nobody waits) */
    uint64_t holder_number;
    struct wait_queue waiters;
};

static inline bool held_by(const tr_lock *l, const tr_task *t) {
    return l->holder == t && l->holder_number == t->number;
}

static inline void take(tr_lock *l, tr_task *t) {
    l->holder = t;
    l->holder_number = t->number;
}

/* Held by a task that has not finished, or waited for: not to be freed. */
static bool busy(const tr_lock *l) {
    const tr_task *h = l->holder;
    if (l->waiters.len)
        return true;
    return h && h->number == l->holder_number &&
           atomic_load_explicit(&h->state, memory_order_relaxed) != TASK_DONE;
}

/* The caller (self, of l's loop) holds l. */
static inline void release_held(tr_lock *l) {
    struct waiter *w = l->waiters.head;
    if (w) {
        take(l, w->task);
        waiter_fire(w, 0, true); /* handed over: owned, so a late cancellation keeps it */
    } else {
        l->holder = NULL;
    }
}

/* For taskring-ps (debug.c): where a lock's holder is. */
const uint32_t lock_debug_offsets[2] = {offsetof(tr_lock, holder),
                                        offsetof(tr_lock, holder_number)};

TR_EXPORT tr_lock *tr_lock_new(void) {
    struct tr_loop *loop;
    if (!calling_task(&loop)) {
        errno = EPERM;
        return NULL;
    }
    tr_lock *l = calloc(1, sizeof *l);
    if (!l) {
        errno = ENOMEM;
        return NULL;
    }
    l->loop = loop;
    return l;
}

static int lock_free_there(void *p) {
    struct hop_args *h = p;
    return tr_lock_free(h->a);
}

static int lock_acquire_there(void *p) {
    struct hop_args *h = p;
    return tr_lock_acquire(h->a);
}

static int lock_try_acquire_there(void *p) {
    struct hop_args *h = p;
    return tr_lock_try_acquire(h->a);
}

static int lock_release_there(void *p) {
    struct hop_args *h = p;
    return tr_lock_release(h->a);
}

static int lock_locked_there(void *p) {
    struct hop_args *h = p;
    return tr_lock_locked(h->a);
}

TR_EXPORT int tr_lock_free(tr_lock *l) {
    if (!l)
        return 0;
    struct tr_loop *loop;
    if (!calling_task_on(l->loop, &loop))
        return hop_call(l->loop, lock_free_there, HOP_ARGS(l));
    if (busy(l))
        return -EBUSY;
    free(l);
    return 0;
}

TR_EXPORT int tr_lock_acquire(tr_lock *l) {
    if (!l)
        return -EINVAL;
    struct tr_loop *loop;
    tr_task *self = calling_task_on(l->loop, &loop);
    if (!self)
        return hop_call(l->loop, lock_acquire_there, HOP_ARGS(l));
    if (TR_UNLIKELY(l->holder && held_by(l, self)))
        return -EDEADLK;
    if (wait_cancel_pending(self))
        return -ECANCELED;
    if (TR_LIKELY(!l->holder)) {
        take(l, self); /* free means nobody waits: no queue to respect */
        return 0;
    }
    int rc = sync_admit(self);
    if (rc < 0)
        return rc;
    struct waiter w;
    /* 0: handed the lock. Interrupted: unlinked already, the lock not ours. */
    return sync_wait(&l->waiters, &w, loop, self, WAIT_LOCK, l, NULL, self->scope_deadline_ns);
}

TR_EXPORT int tr_lock_try_acquire(tr_lock *l) {
    if (!l)
        return -EINVAL;
    struct tr_loop *loop;
    tr_task *self = calling_task_on(l->loop, &loop);
    if (!self)
        return hop_call(l->loop, lock_try_acquire_there, HOP_ARGS(l));
    if (l->holder)
        return held_by(l, self) ? -EDEADLK : -EAGAIN;
    take(l, self);
    return 0;
}

TR_EXPORT int tr_lock_release(tr_lock *l) {
    if (!l)
        return -EINVAL;
    struct tr_loop *loop;
    tr_task *self = calling_task_on(l->loop, &loop);
    if (!self)
        return hop_call(l->loop, lock_release_there, HOP_ARGS(l));
    if (!l->holder || !held_by(l, self))
        return -EPERM;
    release_held(l);
    return 0;
}

TR_EXPORT bool tr_lock_locked(const tr_lock *l) {
    if (!l)
        return false;
    if (l->loop == tr_tls_loop)
        return l->holder != NULL;
    return hop_call(l->loop, lock_locked_there, HOP_ARGS((void *)l)) > 0;
}

/* ---- for cond.c -------------------------------------------------------------------------- */

struct tr_loop *lock_loop(const tr_lock *l) {
    return l->loop;
}

bool lock_busy(const tr_lock *l) {
    return busy(l);
}

bool lock_held_by(const tr_lock *l, const tr_task *t) {
    return l->holder && held_by(l, t);
}

void lock_release_held(tr_lock *l) {
    release_held(l);
}

int lock_reacquire(tr_lock *l, struct tr_loop *loop, tr_task *self) {
    if (!l->holder) {
        take(l, self);
        return 0;
    }
    if (self->cancel_forced)
        return -EDEADLK; /* a deadlock is being broken: a wait here might never end */
    /* Shielded and without a timer: only a cancellation through shields ends it. */
    tr_shield shield;
    tr_shield_begin(&shield);
    struct waiter w;
    int rc = sync_wait(&l->waiters, &w, loop, self, WAIT_LOCK, l, NULL, 0);
    tr_shield_end(&shield);
    return rc == 0 ? 0 : -EDEADLK;
}

/* For the deadlock report's wait cycles: the task that holds the lock, if it is still that
 * task (its record not reused for another). */
tr_task *lock_holder(const void *lock) {
    const tr_lock *l = lock;
    tr_task *h = l->holder;
    return h && h->number == l->holder_number ? h : NULL;
}
