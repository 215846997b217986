/*
 * sem.c - asyncio.Semaphore: a count of permits, waiters served in FIFO order.
 *
 * A release with tasks waiting does not add to the count: it hands the permit to the oldest
 * waiter as an owned wake-up (one waiter_fire). So permits are available only while nobody
 * waits, a late acquirer cannot take a permit a waiter was due, and a waiter woken and then
 * cancelled before it runs keeps the permit it was given (acquire returns 0; its next wait
 * gives -ECANCELED): no permit is ever lost, none is created.
 */
#include "sync.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>

struct tr_sem {
    struct tr_loop *loop;
    unsigned value; /* > 0 only while nobody waits */
    struct wait_queue waiters;
};

TR_EXPORT tr_sem *tr_sem_new(unsigned value) {
    struct tr_loop *loop;
    if (!calling_task(&loop)) {
        errno = EPERM;
        return NULL;
    }
    tr_sem *s = calloc(1, sizeof *s);
    if (!s) {
        errno = ENOMEM;
        return NULL;
    }
    s->loop = loop;
    s->value = value;
    return s;
}

TR_EXPORT int tr_sem_free(tr_sem *s) {
    if (!s)
        return 0;
    struct tr_loop *loop;
    if (!calling_task_on(s->loop, &loop))
        return -EPERM;
    if (s->waiters.len)
        return -EBUSY;
    free(s);
    return 0;
}

TR_EXPORT int tr_sem_acquire(tr_sem *s) {
    if (!s)
        return -EINVAL;
    struct tr_loop *loop;
    tr_task *self = calling_task_on(s->loop, &loop);
    if (!self)
        return -EPERM;
    if (wait_cancel_pending(self))
        return -ECANCELED;
    if (TR_LIKELY(s->value)) {
        s->value--;
        return 0;
    }
    int rc = sync_admit(self);
    if (rc < 0)
        return rc;
    struct waiter w;
    return sync_wait(&s->waiters, &w, loop, self, WAIT_SEM, s, NULL,
                     self->scope_deadline_ns); /* 0: handed a permit */
}

TR_EXPORT int tr_sem_try_acquire(tr_sem *s) {
    if (!s)
        return -EINVAL;
    struct tr_loop *loop;
    tr_task *self = calling_task_on(s->loop, &loop);
    if (!self)
        return -EPERM;
    if (!s->value)
        return -EAGAIN;
    s->value--;
    return 0;
}

TR_EXPORT int tr_sem_release(tr_sem *s) {
    if (!s)
        return -EINVAL;
    struct tr_loop *loop;
    tr_task *self = calling_task_on(s->loop, &loop);
    if (!self)
        return -EPERM;
    if (s->waiters.head) {
        waiter_fire(s->waiters.head, 0, true); /* the permit goes straight to the oldest */
        return 0;
    }
    if (s->value == UINT_MAX)
        return -EOVERFLOW;
    s->value++;
    return 0;
}

TR_EXPORT unsigned tr_sem_value(const tr_sem *s) {
    return s && s->loop == tr_tls_loop ? s->value : 0;
}
