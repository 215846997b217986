/*
 * group.c - task groups (tr_group_*): asyncio.TaskGroup's structured concurrency, libdill's
 * bundles. A group owns its members: the first one to fail cancels the others, the task
 * waiting on the group is never left with a member still running, and the group holds each
 * member's reference until it is freed.
 *
 * Each member carries one sub-waiter of the group in its `done` queue (the watch of
 * combinators.c, kept for the member's whole life): when the member finishes, task_finish
 * fires it, and its on_fire hook counts the member out, notes a first failure (cancelling the
 * others), and wakes the task in tr_group_wait once none is left. The sub-waiters live in
 * blocks that double in size, so spawning a member costs a few stores (one allocation per
 * block, not per member) on top of the task itself. Doubling without a small cap matters: a
 * group of 100,000 freed as thirty blocks of a few hundred KiB made malloc trim the heap and
 * the next group fault every page in again (a third of the cost of a group, measured).
 */
#include "wait.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>

enum { BLOCK_FIRST = 16, BLOCK_MAX = 1 << 20, PREFETCH_AHEAD = 8 };

struct member_block {
    struct member_block *next;
    size_t used, cap;
    struct waiter slot[]; /* one per member; object = the member, queue NULL once it is done */
};

struct tr_group {
    struct tr_loop *loop;
    _Atomic size_t live;   /* members not done; written by the loop, read from any thread */
    struct waiter *waiter; /* the task in tr_group_wait or tr_group_free, or NULL */
    struct member_block *head, *tail;
    tr_task *failed;    /* the first member that failed (not cancelled), or NULL */
    bool cancelling;    /* a member failed, tr_group_cancel, or the waiter gave up: no spawns */
    bool cancel_called; /* tr_group_cancel: tr_group_wait returns -ECANCELED */
};

static inline size_t live_of(const tr_group *g) {
    return atomic_load_explicit(&g->live, memory_order_relaxed);
}

/* Only the loop's thread changes the count: a load and a store, no read-modify-write. */
static inline void live_set(tr_group *g, size_t v) {
    atomic_store_explicit(&g->live, v, memory_order_relaxed);
}

/* Request the cancellation of every member still running; returns how many there were. */
static size_t cancel_members(tr_group *g) {
    g->cancelling = true;
    size_t n = 0;
    for (struct member_block *b = g->head; b; b = b->next)
        for (size_t i = 0; i < b->used; i++)
            if (b->slot[i].queue) {
                task_request_cancel((tr_task *)b->slot[i].object, false);
                n++;
            }
    return n;
}

/* A member finished (task_finish, through waiter_fire). */
static void member_fired(struct waiter *sub, int result) {
    (void)result;
    tr_group *g = sub->value;
    tr_task *t = (tr_task *)sub->object;
    size_t live = live_of(g) - 1;
    live_set(g, live);
    int code = atomic_load_explicit(&t->exit_code, memory_order_relaxed);
    /* A cancelled member is no failure: someone asked for it (asyncio's TaskGroup carries on
     * when a member is cancelled from outside). Its error is retrieved when tr_group_wait
     * returns it. */
    if (code != 0 && code != -ECANCELED && !g->failed) {
        g->failed = t;
        if (!g->cancelling)
            cancel_members(g);
    }
    if (live == 0 && g->waiter)
        waiter_fire(g->waiter, 0, true);
}

/* Is self a member of g that has not finished (waiting on g would wait for itself)? */
static bool live_member(const tr_group *g, const tr_task *self) {
    if (self->loop != g->loop)
        return false; /* members are tasks of the group's loop; another's done queue is not ours */
    for (const struct waiter *w = self->done.head; w; w = w->next)
        if (w->on_fire == member_fired && w->value == g)
            return true;
    return false;
}

/* The calling task and the checks every waiting call makes. */
static int group_caller(tr_group *g, struct tr_loop **loop, tr_task **self) {
    *self = calling_task(loop);
    if (!*self || g->loop != *loop)
        return -EPERM;
    if (live_member(g, *self))
        return -EDEADLK;
    if (g->waiter)
        return -EBUSY; /* another task is in tr_group_wait or tr_group_free */
    return 0;
}

/*
 * Wait until every member is done, after they have been cancelled. The members end because
 * they were cancelled, not because of the caller: a shield holds its cancellation back and
 * the waiter has no deadline. Only a cancellation forced through shields (tr_run breaking a
 * deadlock) gives up early.
 */
static void settle(tr_group *g, struct tr_loop *loop, tr_task *self) {
    tr_shield shield;
    tr_shield_begin(&shield);
    while (live_of(g) > 0 && !self->cancel_forced) {
        struct waiter w;
        waiter_init(&w, loop, self, WAIT_GROUP, g);
        w.timer_at = 0;
        g->waiter = &w;
        wait_block(&w);
        g->waiter = NULL;
    }
    tr_shield_end(&shield);
}

TR_EXPORT tr_group *tr_group_new(void) {
    struct tr_loop *loop;
    if (!calling_task(&loop)) {
        errno = EPERM;
        return NULL;
    }
    tr_group *g = malloc(sizeof *g);
    if (!g) {
        errno = ENOMEM;
        return NULL;
    }
    *g = (tr_group){.loop = loop};
    atomic_init(&g->live, 0);
    return g;
}

/* A free slot for one more member (NULL: no memory for a new block). */
static struct waiter *slot_get(tr_group *g) {
    struct member_block *b = g->tail;
    if (!b || b->used == b->cap) {
        size_t cap = b ? (b->cap < BLOCK_MAX ? b->cap * 2 : BLOCK_MAX) : BLOCK_FIRST;
        struct member_block *nb = malloc(sizeof *nb + cap * sizeof(struct waiter));
        if (!nb)
            return NULL;
        nb->next = NULL;
        nb->used = 0;
        nb->cap = cap;
        if (b)
            b->next = nb;
        else
            g->head = nb;
        g->tail = b = nb;
    }
    return &b->slot[b->used];
}

struct group_spawn_args {
    tr_group *g;
    tr_fn fn;
    void *arg;
    const char *name;
    tr_task *t;
    int err;
};

static tr_task *group_spawn(tr_group *g, tr_fn fn, void *arg, const char *name);

static int group_spawn_there(void *p) {
    struct group_spawn_args *a = p;
    a->t = group_spawn(a->g, a->fn, a->arg, a->name);
    a->err = a->t ? 0 : errno;
    return 0;
}

static int group_wait_there(void *p) {
    struct hop_args *h = p;
    return tr_group_wait(h->a);
}

static int group_cancel_there(void *p) {
    struct hop_args *h = p;
    return tr_group_cancel(h->a);
}

static int group_free_there(void *p) {
    struct hop_args *h = p;
    return tr_group_free(h->a);
}

static tr_task *group_spawn(tr_group *g, tr_fn fn, void *arg, const char *name) {
    if (!g || !fn) {
        errno = EINVAL;
        return NULL;
    }
    struct tr_loop *loop = tr_tls_loop;
    if (loop && g->loop != loop) {
        struct group_spawn_args a = {g, fn, arg, name, NULL, 0};
        int rc = hop_call(g->loop, group_spawn_there, &a);
        errno = rc < 0 ? -rc : a.err;
        return a.t;
    }
    if (!loop) {
        errno = EPERM;
        return NULL;
    }
    if (g->cancelling) {
        errno = ECANCELED; /* asyncio: no new task once the group is shutting down */
        return NULL;
    }
    struct waiter *sub = slot_get(g);
    if (!sub) {
        errno = ENOMEM;
        return NULL;
    }
    tr_task *t = task_create(loop, fn, arg, name, 2); /* the runtime's + the group's */
    if (!t)
        return NULL; /* errno set; the slot stays free for the next one */
    g->tail->used++;
    live_set(g, live_of(g) + 1);
    sub->task = loop->current;
    sub->object = t;
    sub->value = g;
    sub->on_fire = member_fired;
    sub->fired = false;
    sub->kind = WAIT_GROUP;
    wq_push(&t->done, sub);
    return t;
}

TR_EXPORT tr_task *tr_group_spawn(tr_group *g, tr_fn fn, void *arg) {
    return group_spawn(g, fn, arg, NULL);
}

TR_EXPORT tr_task *tr_group_spawn_named(tr_group *g, tr_fn fn, void *arg, const char *name) {
    return group_spawn(g, fn, arg, name);
}

TR_EXPORT int tr_group_wait(tr_group *g) {
    if (!g)
        return -EINVAL;
    struct tr_loop *loop;
    tr_task *self;
    if (g->loop != tr_tls_loop)
        return hop_call(g->loop, group_wait_there, HOP_ARGS(g));
    int rc = group_caller(g, &loop, &self);
    if (rc < 0)
        return rc;
    /* Until none is left: members may spawn members while the wait is being woken. */
    while (rc == 0 && live_of(g) > 0) {
        rc = wait_admit(self);
        if (rc == 0) {
            struct waiter w;
            waiter_init(&w, loop, self, WAIT_GROUP, g);
            g->waiter = &w;
            rc = wait_block(&w);
            g->waiter = NULL;
        }
    }
    if (rc < 0) {
        /* Cancelled, past its deadline, or no timer: no member may outlive the wait. */
        cancel_members(g);
        settle(g, loop, self);
    }
    /* A member's failure says more than the caller's cancellation (asyncio raises the
     * ExceptionGroup, not CancelledError, when members fail while the group is cancelled). */
    if (g->failed)
        return task_take_exit_code(g->failed);
    if (rc < 0)
        return rc;
    return g->cancel_called ? -ECANCELED : 0;
}

TR_EXPORT int tr_group_cancel(tr_group *g) {
    if (!g)
        return -EINVAL;
    if (g->loop != tr_tls_loop)
        return hop_call(g->loop, group_cancel_there, HOP_ARGS(g));
    g->cancel_called = true;
    size_t n = cancel_members(g);
    return n > INT_MAX ? INT_MAX : (int)n;
}

TR_EXPORT size_t tr_group_size(const tr_group *g) {
    return g ? live_of(g) : 0;
}

TR_EXPORT int tr_group_free(tr_group *g) {
    if (!g)
        return 0;
    struct tr_loop *loop;
    tr_task *self;
    if (g->loop != tr_tls_loop)
        return hop_call(g->loop, group_free_there, HOP_ARGS(g));
    int rc = group_caller(g, &loop, &self);
    if (rc < 0)
        return rc;
    if (live_of(g) > 0) {
        cancel_members(g);
        settle(g, loop, self);
    }
    struct member_block *b = g->head;
    while (b) {
        for (size_t i = 0; i < b->used; i++) {
            struct waiter *sub = &b->slot[i];
            /* Releasing touches each record: ask for a few ahead, so the misses overlap. */
            if (i + PREFETCH_AHEAD < b->used)
                __builtin_prefetch(b->slot[i + PREFETCH_AHEAD].object, 1);
            if (sub->queue) /* still running: only after a forced cancellation */
                wq_unlink(sub);
            task_unref((tr_task *)sub->object);
        }
        struct member_block *next = b->next;
        free(b);
        b = next;
    }
    free(g);
    return 0;
}

/* ---- for reports (graph.c): read on the group's own loop ------------------------------------ */

tr_task *group_waiting_task(const void *group) {
    const tr_group *g = group;
    return g->waiter ? g->waiter->task : NULL;
}

void group_for_each_member(const void *group, void (*f)(tr_task *t, void *ctx), void *ctx) {
    const tr_group *g = group;
    for (const struct member_block *b = g->head; b; b = b->next)
        for (size_t i = 0; i < b->used; i++)
            if (b->slot[i].queue) /* not done */
                f((tr_task *)b->slot[i].object, ctx);
}
