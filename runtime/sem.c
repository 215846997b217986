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

static int sem_free_there(void *p) {
    struct hop_args *h = p;
    return tr_sem_free(h->a);
}

static int sem_acquire_there(void *p) {
    struct hop_args *h = p;
    return tr_sem_acquire(h->a);
}

static int sem_try_acquire_there(void *p) {
    struct hop_args *h = p;
    return tr_sem_try_acquire(h->a);
}

static int sem_release_there(void *p) {
    struct hop_args *h = p;
    return tr_sem_release(h->a);
}

static int sem_value_there(void *p) {
    struct hop_args *h = p;
    h->c = tr_sem_value(h->a);
    return 0;
}

TR_EXPORT int tr_sem_free(tr_sem *s) {
    if (!s)
        return 0;
    struct tr_loop *loop;
    if (!calling_task_on(s->loop, &loop))
        return hop_call(s->loop, sem_free_there, HOP_ARGS(s));
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
        return hop_call(s->loop, sem_acquire_there, HOP_ARGS(s));
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
        return hop_call(s->loop, sem_try_acquire_there, HOP_ARGS(s));
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
        return hop_call(s->loop, sem_release_there, HOP_ARGS(s));
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
    if (!s)
        return 0;
    if (s->loop == tr_tls_loop)
        return s->value;
    struct hop_args h = {(void *)s, NULL, 0};
    return hop_call(s->loop, sem_value_there, &h) < 0 ? 0 : (unsigned)h.c;
}
