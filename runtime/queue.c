/*
 * queue.c - asyncio.Queue: a FIFO of pointers, bounded or not, with Python 3.13's shutdown
 * and asyncio's task_done/join.
 *
 * Items sit in a ring buffer (a power of two long). A put that finds a getter waiting hands
 * the item straight to the oldest one: the item goes into the getter's waiter.value and the
 * wake-up is owned, so a getter cancelled after the hand-over but before it runs still
 * returns 0 with the item (its next wait gives -ECANCELED) and no item is ever swallowed; a
 * getter cancelled before it was handed anything has left the queue and the item waits for
 * the next one. Symmetrically, a put into a full bounded queue waits with its item in its
 * waiter.value: when a get frees a slot, the oldest putter's item moves into the ring and
 * that putter is woken with an owned 0, so "put returned 0" always means "the item is in".
 * Getters wait only while the ring is empty and putters only while it is full, so each
 * hand-over is one waiter_fire, O(1), FIFO.
 *
 * A bounded queue of at most RING_PREALLOC items gets its whole ring at tr_queue_new and
 * never allocates again; a larger or unbounded one starts with RING_FIRST slots and doubles
 * (then a put may return -ENOMEM). The ring never shrinks.
 */
#include "sync.h"

#include <errno.h>
#include <stdlib.h>

enum { RING_FIRST = 16, RING_PREALLOC = 1024 };

struct tr_queue {
    struct tr_loop *loop;
    void **ring;
    size_t cap; /* a power of two */
    size_t head;
    size_t len;
    size_t maxsize;    /* 0: unbounded */
    size_t unfinished; /* put and not yet task_done */
    bool shutdown;
    struct wait_queue getters; /* only while len == 0 */
    struct wait_queue putters; /* only while len == maxsize */
    struct wait_queue joiners;
};

static size_t ring_size_for(size_t maxsize) {
    if (maxsize == 0 || maxsize > RING_PREALLOC)
        return RING_FIRST;
    size_t cap = RING_FIRST;
    while (cap < maxsize)
        cap *= 2;
    return cap;
}

static inline void *ring_pop(tr_queue *q) {
    void *item = q->ring[q->head];
    q->head = (q->head + 1) & (q->cap - 1);
    q->len--;
    return item;
}

/* The caller has checked that there is room under maxsize. */
static int ring_push(tr_queue *q, void *item) {
    if (TR_UNLIKELY(q->len == q->cap)) {
        size_t cap = q->cap * 2;
        void **ring = realloc_array(NULL, cap, sizeof *ring);
        if (!ring)
            return -ENOMEM;
        for (size_t i = 0; i < q->len; i++)
            ring[i] = q->ring[(q->head + i) & (q->cap - 1)];
        free(q->ring);
        q->ring = ring;
        q->cap = cap;
        q->head = 0;
    }
    q->ring[(q->head + q->len) & (q->cap - 1)] = item;
    q->len++;
    return 0;
}

static inline bool full(const tr_queue *q) {
    return q->maxsize && q->len >= q->maxsize;
}

static void wake_joiners(tr_queue *q) {
    while (q->joiners.head)
        waiter_fire(q->joiners.head, 0, false);
}

/* A put without waiting: to the oldest getter, or into the ring; -EAGAIN when full. */
static inline int put_now(tr_queue *q, void *item) {
    struct waiter *g = q->getters.head;
    if (g) {
        g->value = item;
        waiter_fire(g, 0, true); /* owned: the getter keeps the item whatever comes next */
    } else if (full(q)) {
        return -EAGAIN;
    } else {
        int rc = ring_push(q, item);
        if (rc < 0)
            return rc;
    }
    q->unfinished++;
    return 0;
}

/* A get without waiting (the ring is not empty): the slot it frees goes to the oldest
 * putter, whose item moves in. */
static inline void *get_now(tr_queue *q) {
    void *item = ring_pop(q);
    struct waiter *p = q->putters.head;
    if (p) {
        (void)ring_push(q, p->value); /* the slot just freed: never grows */
        q->unfinished++;
        waiter_fire(p, 0, true);
    }
    return item;
}

/* Common checks: q and its loop. The calling task in *self (NULL outside one). */
#define QUEUE_CHECK(q, self, loop, there, ...)                                                     \
    do {                                                                                           \
        if (!(q))                                                                                  \
            return -EINVAL;                                                                        \
        (self) = calling_task_on((q)->loop, &(loop));                                              \
        if (!(self))                                                                               \
            return hop_call((q)->loop, there, HOP_ARGS(__VA_ARGS__));                              \
    } while (0)

static int queue_put_there(void *p) {
    struct hop_args *h = p;
    return tr_queue_put(h->a, h->b);
}

static int queue_try_put_there(void *p) {
    struct hop_args *h = p;
    return tr_queue_try_put(h->a, h->b);
}

static int queue_get_there(void *p) {
    struct hop_args *h = p;
    return tr_queue_get(h->a, h->b);
}

static int queue_try_get_there(void *p) {
    struct hop_args *h = p;
    return tr_queue_try_get(h->a, h->b);
}

static int queue_shutdown_there(void *p) {
    struct hop_args *h = p;
    return tr_queue_shutdown(h->a, h->c != 0);
}

static int queue_task_done_there(void *p) {
    struct hop_args *h = p;
    return tr_queue_task_done(h->a);
}

static int queue_join_there(void *p) {
    struct hop_args *h = p;
    return tr_queue_join(h->a);
}

static int queue_free_there(void *p) {
    struct hop_args *h = p;
    return tr_queue_free(h->a);
}

static int queue_size_there(void *p) {
    struct hop_args *h = p;
    h->c = tr_queue_size(h->a);
    return 0;
}

TR_EXPORT tr_queue *tr_queue_new(size_t maxsize) {
    struct tr_loop *loop;
    if (!calling_task(&loop)) {
        errno = EPERM;
        return NULL;
    }
    tr_queue *q = calloc(1, sizeof *q);
    if (!q) {
        errno = ENOMEM;
        return NULL;
    }
    q->cap = ring_size_for(maxsize);
    q->ring = realloc_array(NULL, q->cap, sizeof *q->ring);
    if (!q->ring) {
        free(q);
        errno = ENOMEM;
        return NULL;
    }
    q->loop = loop;
    q->maxsize = maxsize;
    return q;
}

TR_EXPORT int tr_queue_free(tr_queue *q) {
    if (!q)
        return 0;
    struct tr_loop *loop;
    if (!calling_task_on(q->loop, &loop))
        return hop_call(q->loop, queue_free_there, HOP_ARGS(q));
    if (q->getters.len || q->putters.len || q->joiners.len)
        return -EBUSY;
    free(q->ring);
    free(q);
    return 0;
}

TR_EXPORT int tr_queue_put(tr_queue *q, void *item) {
    struct tr_loop *loop;
    tr_task *self;
    QUEUE_CHECK(q, self, loop, queue_put_there, q, item);
    if (wait_cancel_pending(self))
        return -ECANCELED;
    if (q->shutdown)
        return -ESHUTDOWN;
    int rc = put_now(q, item);
    if (TR_LIKELY(rc != -EAGAIN))
        return rc;
    rc = sync_admit(self);
    if (rc < 0)
        return rc;
    struct waiter w;
    /* 0: the item is in; -ESHUTDOWN, -ECANCELED, -ETIME, -ENOMEM: it is not */
    return sync_wait(&q->putters, &w, loop, self, WAIT_QUEUE_PUT, q, item, self->scope_deadline_ns);
}

TR_EXPORT int tr_queue_try_put(tr_queue *q, void *item) {
    struct tr_loop *loop;
    tr_task *self;
    QUEUE_CHECK(q, self, loop, queue_try_put_there, q, item);
    if (q->shutdown)
        return -ESHUTDOWN;
    return put_now(q, item);
}

TR_EXPORT int tr_queue_get(tr_queue *q, void **item) {
    struct tr_loop *loop;
    tr_task *self;
    QUEUE_CHECK(q, self, loop, queue_get_there, q, item);
    if (!item)
        return -EINVAL;
    if (wait_cancel_pending(self))
        return -ECANCELED; /* the items stay queued */
    if (TR_LIKELY(q->len)) {
        *item = get_now(q);
        return 0;
    }
    if (q->shutdown)
        return -ESHUTDOWN;
    int rc = sync_admit(self);
    if (rc < 0)
        return rc;
    struct waiter w;
    rc = sync_wait(&q->getters, &w, loop, self, WAIT_QUEUE_GET, q, NULL, self->scope_deadline_ns);
    if (rc == 0)
        *item = w.value; /* handed over by a put */
    return rc;
}

TR_EXPORT int tr_queue_try_get(tr_queue *q, void **item) {
    struct tr_loop *loop;
    tr_task *self;
    QUEUE_CHECK(q, self, loop, queue_try_get_there, q, item);
    if (!item)
        return -EINVAL;
    if (q->len) {
        *item = get_now(q);
        return 0;
    }
    return q->shutdown ? -ESHUTDOWN : -EAGAIN;
}

TR_EXPORT size_t tr_queue_size(const tr_queue *q) {
    if (!q)
        return 0;
    if (q->loop == tr_tls_loop)
        return q->len;
    struct hop_args h = {(void *)q, NULL, 0};
    return hop_call(q->loop, queue_size_there, &h) < 0 ? 0 : (size_t)h.c;
}

TR_EXPORT int tr_queue_shutdown(tr_queue *q, bool immediate) {
    struct tr_loop *loop;
    tr_task *self;
    QUEUE_CHECK(q, self, loop, queue_shutdown_there, q, NULL, immediate);
    (void)self;
    q->shutdown = true;
    if (immediate && q->len) {
        size_t dropped = q->len;
        q->len = 0;
        q->head = 0;
        q->unfinished = q->unfinished > dropped ? q->unfinished - dropped : 0;
        if (!q->unfinished)
            wake_joiners(q);
    }
    /* Getters wait only on an empty queue: there is nothing left for them to drain. */
    while (q->getters.head)
        waiter_fire(q->getters.head, -ESHUTDOWN, false);
    while (q->putters.head)
        waiter_fire(q->putters.head, -ESHUTDOWN, false);
    return 0;
}

TR_EXPORT int tr_queue_task_done(tr_queue *q) {
    struct tr_loop *loop;
    tr_task *self;
    QUEUE_CHECK(q, self, loop, queue_task_done_there, q);
    (void)self;
    if (!q->unfinished)
        return -EINVAL;
    if (!--q->unfinished)
        wake_joiners(q);
    return 0;
}

TR_EXPORT int tr_queue_join(tr_queue *q) {
    struct tr_loop *loop;
    tr_task *self;
    QUEUE_CHECK(q, self, loop, queue_join_there, q);
    if (wait_cancel_pending(self))
        return -ECANCELED;
    if (!q->unfinished)
        return 0;
    int rc = sync_admit(self);
    if (rc < 0)
        return rc;
    struct waiter w;
    return sync_wait(&q->joiners, &w, loop, self, WAIT_QUEUE_JOIN, q, NULL,
                     self->scope_deadline_ns);
}

size_t queue_len_of(const void *q) {
    return ((const tr_queue *)q)->len;
}
