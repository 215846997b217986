/*
 * sync.h - what the synchronisation objects share (event.c, lock.c, sem.c, cond.c, queue.c).
 *
 * Each object belongs to the loop it was made on and keeps its waiters in FIFO wait queues.
 * A waiter's kind and object say what a stuck task waits on (for deadlock reports):
 *   WAIT_EVENT       a tr_event *
 *   WAIT_LOCK        a tr_lock *   (tr_lock_acquire, and tr_cond_wait taking its lock back)
 *   WAIT_SEM         a tr_sem *
 *   WAIT_COND        a tr_cond *   (waiting for a notify)
 *   WAIT_QUEUE_GET   a tr_queue *  (queue_len_of, internal.h: its items)
 *   WAIT_QUEUE_PUT   a tr_queue *  (the putter's item in waiter.value)
 *   WAIT_QUEUE_JOIN  a tr_queue *
 * A hand-over (a lock, a permit, a notification, an item, a slot) is one owned fire of the
 * oldest waiter and nothing more.
 *
 * The wait is sync_wait below; the fire is waiter_fire, and a call that could wait first asks
 * wait_cancel_pending (a cancelled task is refused even when it would not have to wait), both
 * in wait.h.
 */
#ifndef TR_SYNC_H
#define TR_SYNC_H

#include "wait.h"

#include <errno.h>

/* wait_admit's deadline half, asked only when the call must wait: 0, or -ETIME once the
 * caller's deadline scope has ended (an object that can serve the call at once does so past
 * the deadline: it costs no wait). No clock read when no scope is open. */
static inline int sync_admit(const tr_task *self) {
    if (TR_LIKELY(!self->scope_deadline_ns))
        return 0;
    return loop_clock_ns() >= self->scope_deadline_ns ? -ETIME : 0;
}

/*
 * File a fresh waiter `w` for `self` at the tail of `q` and suspend until it fires: returns
 * the result it fired with (the object's, -ECANCELED, -ETIME, or -ENOMEM when the timer could
 * not be armed; then w is out of q). `value` rides in the waiter (a putter's item); `timer_at`
 * is the caller's self->scope_deadline_ns, or 0 for a wait no deadline ends.
 */
static inline int sync_wait(struct wait_queue *q, struct waiter *w, struct tr_loop *loop,
                            tr_task *self, enum wait_kind kind, const void *object, void *value,
                            uint64_t timer_at) {
    waiter_init(w, loop, self, kind, object);
    w->value = value;
    w->timer_at = timer_at;
    wq_push(q, w);
    return wait_block(w);
}

/* ---- lock.c, for cond.c ---------------------------------------------------------------------- */

struct tr_loop *lock_loop(const tr_lock *l);
bool lock_held_by(const tr_lock *l, const tr_task *t);
bool lock_busy(const tr_lock *l);   /* what makes tr_lock_free refuse: a live holder, waiters */
void lock_release_held(tr_lock *l); /* the caller holds l: hand it on, or free it */
/* Take l back after a condition wait. Neither a cancellation nor a deadline stops it (it waits
 * shielded, with no timer). 0 (held), or -EDEADLK when a cancellation that goes through
 * shields (tr_run breaking a deadlock) ended the wait or came before it: then l is not held. */
int lock_reacquire(tr_lock *l, struct tr_loop *loop, tr_task *self);

#endif
