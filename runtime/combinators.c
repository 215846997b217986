/*
 * combinators.c - waiting on several tasks at once: tr_gather, tr_wait, tr_wait_for and the
 * tr_as_completed iterator (asyncio.gather, wait, wait_for, as_completed).
 *
 * They share one mechanism, a watch. The caller blocks in one waiter of its own (the parent:
 * the task's `waiter`, so cancellation and its deadline reach it as they reach any wait) and
 * files one sub-waiter per listed task in that task's `done` queue. A sub-waiter wakes nobody:
 * its on_fire hook runs inside task_finish, notes the outcome in the watch and fires the parent
 * when the call's condition holds (the first completion, the first failure, the last task).
 * Filing costs a few stores per task and a finish one waiter_fire, with no switch per task;
 * what a gather of many tasks adds to awaiting each is mostly the pass that files them (task
 * records far apart in memory: it prefetches a few ahead).
 *
 * Whatever ends the wait, the caller unlinks the sub-waiters still filed before it returns: a
 * task that finishes later finds nothing of ours in its queue. Up to WATCH_ON_STACK sub-waiters
 * live on the caller's stack; more come from one allocation, freed on the way out.
 *
 * The parent is fired with an owned result: once the condition holds, a cancellation or
 * deadline that arrives before the caller resumes does not replace the outcome (asyncio's
 * gather refuses to be cancelled once its children are done); it comes at the next wait.
 */
#include "runtime.h"
#include "wait.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>

enum { WATCH_ON_STACK = 8 };

enum watch_mode {
    WATCH_ALL,           /* every task done (tr_wait ALL_COMPLETED, gather with errors) */
    WATCH_FIRST,         /* any task done (FIRST_COMPLETED) */
    WATCH_FIRST_ERROR,   /* any task failed and was not cancelled (FIRST_ERROR), or all done */
    WATCH_FIRST_FAILURE, /* any task failed, cancellation included (gather without errors) */
};

struct watch {
    struct waiter parent; /* the caller blocks in this one */
    struct waiter *subs;  /* subs[i] watches tasks[i]; queue NULL: not filed */
    size_t pending;       /* entries whose task has not finished */
    int mode;             /* enum watch_mode */
    /* tr_gather's outcome */
    void **results;
    int *errors;
    size_t first_failed; /* errors mode: lowest index that failed (SIZE_MAX: none yet) */
    int error;           /* what tr_gather returns */
};

static inline int exit_code_of(const tr_task *t) {
    return atomic_load_explicit(&t->exit_code, memory_order_relaxed);
}

static inline bool is_done(const tr_task *t) {
    /* Acquire: a task of another loop's result and exit code are final once DONE is seen. */
    return atomic_load_explicit(&t->state, memory_order_acquire) == TASK_DONE;
}

/* A finished entry's outcome into the gather's arrays; its error, retrieved when errors are
 * reported (errors mode: every one is handed to the caller). */
static void note_outcome(struct watch *ws, size_t i, tr_task *t) {
    if (ws->results)
        ws->results[i] = t->result;
    if (ws->errors) {
        int code = task_take_exit_code(t);
        ws->errors[i] = code;
        if (code != 0 && i < ws->first_failed) {
            ws->first_failed = i;
            ws->error = code;
        }
    }
}

/* A watched task finished (called by task_finish through waiter_fire). */
static void watch_fired(struct waiter *sub, int result) {
    (void)result;
    struct watch *ws = sub->value;
    tr_task *t = (tr_task *)sub->object;
    bool fire = --ws->pending == 0;
    int code;
    switch (ws->mode) {
    case WATCH_FIRST:
        fire = true;
        break;
    case WATCH_FIRST_ERROR:
        code = exit_code_of(t);
        fire |= code != 0 && code != -ECANCELED;
        break;
    case WATCH_FIRST_FAILURE:
        if (ws->results)
            ws->results[sub - ws->subs] = t->result;
        code = exit_code_of(t);
        if (code != 0 && ws->error == 0) {
            ws->error = task_take_exit_code(t); /* the one failure the caller is told */
            fire = true;
        }
        break;
    default: /* WATCH_ALL */
        if (ws->results || ws->errors)
            note_outcome(ws, (size_t)(sub - ws->subs), t);
        break;
    }
    if (fire)
        waiter_fire(&ws->parent, 0, true); /* no-op once fired */
}

/* Does self waiting for t close a cycle of awaits (t is self, or waits for it)? */
static bool closes_cycle(const tr_task *self, const tr_task *t) {
    for (; t; t = atomic_load_explicit(&t->awaiting, memory_order_relaxed))
        if (t == self)
            return true;
    return false;
}

/*
 * Check every entry: not NULL (-EINVAL), of the caller's loop (-EPERM), a task (aborts
 * otherwise), neither the caller nor waiting for it (-EDEADLK). Counts the entries not done
 * in *pending, and sets *done_failed to the first done entry that failed (cancellation
 * counts when `cancel_fails`), SIZE_MAX if none.
 */
static int check_tasks(tr_task *self, struct tr_loop *loop, tr_task *const *tasks, size_t n,
                       const char *caller, bool cancel_fails, size_t *pending,
                       size_t *done_failed) {
    size_t left = 0, failed = SIZE_MAX;
    for (size_t i = 0; i < n; i++) {
        tr_task *t = tasks[i];
        if (!t)
            return -EINVAL;
        if (t->loop != loop && !is_done(t))
            return -EPERM; /* proxies stand in for those (proxies_begin) */
        task_check(t, caller);
        if (is_done(t)) {
            int code = exit_code_of(t);
            if (failed == SIZE_MAX && code != 0 && (cancel_fails || code != -ECANCELED))
                failed = i;
        } else {
            if (closes_cycle(self, t))
                return -EDEADLK;
            left++;
        }
    }
    *pending = left;
    *done_failed = failed;
    return 0;
}

/* ---- tasks of other loops ------------------------------------------------------------------
 *
 * A watch files sub-waiters in each task's `done` queue, which only the task's own loop may
 * touch, and fires in task_finish on that loop. So each task of another loop that is not done
 * yet is watched through a proxy: a task of the caller's loop that waits for it there (carried
 * over by hop_call), comes back, and finishes with its outcome (return value and error); the
 * watch then works on local tasks only. A proxy never reports an unretrieved error (its task
 * does, unless retrieving the proxy's retrieved it: task_take_exit_code). Proxies are
 * cancelled and released when the call (or the iterator) is done with them.
 */
static int wait_done_there(void *ctx) {
    tr_task *u = ctx;
    struct tr_loop *loop;
    tr_task *self = calling_task(&loop);
    if (is_done(u))
        return 0;
    int rc = wait_admit(self);
    if (rc < 0)
        return rc;
    struct waiter w;
    waiter_init(&w, loop, self, WAIT_TASK, u);
    wq_push(&u->done, &w);
    atomic_store_explicit(&self->awaiting, u, memory_order_relaxed);
    rc = wait_block(&w);
    atomic_store_explicit(&self->awaiting, NULL, memory_order_relaxed);
    return rc;
}

static void *proxy_fn(void *arg) {
    tr_task *u = arg;
    /* A proxy starts only while its call still waits (once the call is over it is cancelled,
     * and a task cancelled before it starts never does): the caller's reference holds u. */
    atomic_fetch_add_explicit(&u->refs, 1, memory_order_relaxed);
    void *result = NULL;
    if (hop_call(u->loop, wait_done_there, u) == 0 && is_done(u)) {
        /* Acquire (is_done): u's result and exit code are final. Not retrieved here. */
        tr_task *self = tr_current();
        atomic_store_explicit(&self->exit_code, exit_code_of(u), memory_order_relaxed);
        result = u->result;
    }
    task_unref(u);
    return result;
}

bool task_is_proxy(const tr_task *t) {
    return t->fn == proxy_fn;
}

struct proxies {
    tr_task **tasks; /* the array the watch uses: NULL when every task is local */
    size_t n;
};

/* Replace every task of another loop that is not done by a proxy. 0, or -EINVAL (NULL
 * entry), -EPERM (a task of another runtime), -EDEADLK (it waits for the caller), -ENOMEM. */
static int proxies_begin(struct proxies *px, tr_task *self, struct tr_loop *loop,
                         tr_task *const *tasks, size_t n) {
    px->tasks = NULL;
    px->n = n;
    if (loop->rt->nloops == 1)
        return 0; /* every task of the runtime is local: no extra pass */
    size_t first = 0;
    while (first < n && (!tasks[first] || tasks[first]->loop == loop || is_done(tasks[first])))
        first++;
    if (first == n)
        return 0;
    for (size_t i = first; i < n; i++) {
        tr_task *u = tasks[i];
        if (!u)
            return -EINVAL;
        if (u->loop == loop || is_done(u))
            continue;
        if (u->loop->rt != loop->rt)
            return -EPERM;
        task_check(u, "tr_gather/tr_wait/tr_as_completed");
        if (closes_cycle(self, u))
            return -EDEADLK;
    }
    tr_task **copy = realloc_array(NULL, n, sizeof *copy);
    if (!copy)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        tr_task *u = tasks[i];
        copy[i] = u;
        if (i < first || u->loop == loop || is_done(u))
            continue;
        tr_task *p = task_create(loop, proxy_fn, u, "proxy", 2);
        if (!p) {
            for (size_t k = 0; k < i; k++)
                if (copy[k] != tasks[k]) {
                    task_request_cancel(copy[k], false);
                    task_unref(copy[k]);
                }
            free(copy);
            return -ENOMEM;
        }
        atomic_store_explicit(&p->retrieved, true, memory_order_relaxed);
        copy[i] = p;
    }
    px->tasks = copy;
    return 0;
}

static void proxies_end(struct proxies *px, tr_task *const *tasks) {
    if (!px->tasks)
        return;
    for (size_t i = 0; i < px->n; i++)
        if (px->tasks[i] != tasks[i]) {
            task_request_cancel(px->tasks[i], false); /* no-op when done */
            task_unref(px->tasks[i]);
        }
    free(px->tasks);
    px->tasks = NULL;
}

/* The sub-waiters for n entries: on the stack for a few, else one block (NULL: no memory). */
static struct waiter *subs_get(struct waiter *local, size_t n) {
    if (n <= WATCH_ON_STACK)
        return local;
    size_t bytes;
    if (!size_of_array(n, sizeof(struct waiter), 0, &bytes))
        return NULL;
    return malloc(bytes);
}

/* Records are far apart in memory: a pass over many tasks is a pass of cache misses. Asking
 * for the lines a few entries ahead lets them overlap. */
enum { PREFETCH_AHEAD = 8 };

static inline void prefetch_task(tr_task *const *tasks, size_t i, size_t n) {
    if (i + PREFETCH_AHEAD < n) {
        const char *t = (const char *)tasks[i + PREFETCH_AHEAD]; /* never faults, even if bad */
        __builtin_prefetch(t);
        __builtin_prefetch(t + offsetof(struct tr_task, done), 1);
    }
}

/*
 * One pass over the entries: check each (as check_tasks), and file a sub-waiter for every one
 * not done. An argument error unlinks what was filed and returns the error, with nothing else
 * changed. On success *done_failed is the first done entry that failed (cancellation counts
 * when `cancel_fails`), SIZE_MAX if none, and ws->pending the entries filed.
 */
static int watch_file(struct watch *ws, tr_task *self, struct tr_loop *loop, tr_task *const *tasks,
                      size_t n, const char *caller, bool cancel_fails, size_t *done_failed) {
    size_t failed = SIZE_MAX, filed = 0;
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        prefetch_task(tasks, i, n);
        tr_task *t = tasks[i];
        struct waiter *sub = &ws->subs[i];
        sub->queue = NULL;
        if (!t) {
            rc = -EINVAL;
        } else if (t->loop != loop && !is_done(t)) {
            rc = -EPERM;
        } else {
            task_check(t, caller);
            if (is_done(t)) {
                int code = exit_code_of(t);
                if (failed == SIZE_MAX && code != 0 && (cancel_fails || code != -ECANCELED))
                    failed = i;
                continue;
            }
            if (closes_cycle(self, t))
                rc = -EDEADLK;
        }
        if (rc < 0) {
            for (size_t k = 0; k < i; k++)
                if (ws->subs[k].queue)
                    wq_unlink(&ws->subs[k]);
            return rc;
        }
        /* The few fields waiter_fire reads, and what a report would: no full init. */
        sub->task = self;
        sub->object = t;
        sub->value = ws;
        sub->on_fire = watch_fired;
        sub->fired = false;
        sub->kind = WAIT_TASKS;
        wq_push(&t->done, sub);
        filed++;
    }
    ws->pending = filed;
    *done_failed = failed;
    return 0;
}

/* The outcome of every entry done before the call (gather: into the arrays). */
static void note_done_at_start(struct watch *ws, tr_task *const *tasks, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!ws->subs[i].queue)
            note_outcome(ws, i, tasks[i]);
}

/* Leaving early: unlink the sub-waiters still filed; their entries read NULL / -EBUSY.
 * ws->pending stays what it was: the entries still running. */
static void watch_unfile(struct watch *ws, size_t n) {
    size_t left = ws->pending;
    for (size_t i = 0; left > 0 && i < n; i++) {
        struct waiter *sub = &ws->subs[i];
        if (!sub->queue)
            continue;
        wq_unlink(sub);
        left--;
        if (ws->results)
            ws->results[i] = NULL;
        if (ws->errors)
            ws->errors[i] = -EBUSY;
    }
}

/* Block until the watch fires or the wait is interrupted; then unlink whatever is still
 * filed. Returns wait_block's result. */
static int watch_block(struct watch *ws, struct tr_loop *loop, tr_task *self, size_t n) {
    const tr_task *first = NULL;
    for (size_t i = 0; !first && i < n; i++)
        if (ws->subs[i].queue)
            first = ws->subs[i].object;
    waiter_init(&ws->parent, loop, self, WAIT_TASKS, first);
    int rc = wait_block(&ws->parent);
    watch_unfile(ws, n);
    return rc;
}

/* Every entry's outcome as it is now: the done ones', NULL and -EBUSY for the others.
 * Returns the error of the first failed entry in array order (errors mode), or 0. */
static int record_now(tr_task *const *tasks, size_t n, void **results, int *errors) {
    int first = 0;
    for (size_t i = 0; i < n; i++) {
        tr_task *t = tasks[i];
        bool done = is_done(t);
        if (results)
            results[i] = done ? t->result : NULL;
        if (errors) {
            errors[i] = done ? task_take_exit_code(t) : -EBUSY;
            if (done && errors[i] != 0 && first == 0)
                first = errors[i];
        }
    }
    return first;
}

/* Without memory for the sub-waiters: the answer if it needs no wait, else -ENOMEM (or the
 * refused admission); either way the arrays describe the entries as they are. */
static int gather_without_memory(tr_task *self, struct tr_loop *loop, tr_task *const *tasks,
                                 size_t n, void **results, int *errors, int admit) {
    size_t pending, done_failed;
    int rc = check_tasks(self, loop, tasks, n, "tr_gather", true, &pending, &done_failed);
    if (rc < 0)
        return rc;
    int first = record_now(tasks, n, results, errors);
    if (!errors && done_failed != SIZE_MAX)
        return task_take_exit_code(tasks[done_failed]);
    if (pending == 0)
        return first;
    return admit < 0 ? admit : -ENOMEM;
}

TR_EXPORT int tr_gather(tr_task *const *tasks, size_t n, void **results, int *errors) {
    if (!tasks && n > 0)
        return -EINVAL;
    struct tr_loop *loop;
    tr_task *self = calling_task(&loop);
    if (!self)
        return -EPERM;
    if (n == 0)
        return 0;
    struct proxies px;
    int prc = proxies_begin(&px, self, loop, tasks, n);
    if (prc < 0)
        return prc;
    tr_task *const *given = tasks;
    if (px.tasks)
        tasks = px.tasks;
    /* Asked first, applied only if the call has to wait: done tasks give their outcome to a
     * cancelled caller too, as tr_await does. */
    int admit = wait_admit(self);
    struct waiter local[WATCH_ON_STACK];
    struct waiter *subs = subs_get(local, n);
    if (!subs) {
        int rc = gather_without_memory(self, loop, tasks, n, results, errors, admit);
        proxies_end(&px, given);
        return rc;
    }
    bool fail_fast = !errors;
    struct watch ws = {
        .subs = subs,
        .mode = fail_fast ? WATCH_FIRST_FAILURE : WATCH_ALL,
        .results = results,
        .errors = errors,
        .first_failed = SIZE_MAX,
    };
    size_t done_failed;
    int rc = watch_file(&ws, self, loop, tasks, n, "tr_gather", true, &done_failed);
    if (rc == 0) {
        if (ws.pending < n && (results || errors))
            note_done_at_start(&ws, tasks, n);
        if (fail_fast && done_failed != SIZE_MAX) {
            watch_unfile(&ws, n); /* failed already: no wait */
            rc = task_take_exit_code(tasks[done_failed]);
        } else if (ws.pending == 0) {
            rc = ws.error;
        } else if (admit < 0) {
            watch_unfile(&ws, n);
            rc = admit;
        } else {
            rc = watch_block(&ws, loop, self, n);
            if (rc == 0)
                rc = ws.error;
        }
    }
    if (subs != local)
        free(subs);
    proxies_end(&px, given);
    return rc;
}

/* Does tr_wait's mode hold without waiting? */
static bool wait_satisfied(int mode, size_t n, size_t pending, size_t done_failed) {
    return pending == 0 || (mode == TR_FIRST_COMPLETED && pending < n) ||
           (mode == TR_FIRST_ERROR && done_failed != SIZE_MAX);
}

static int wait_without_memory(tr_task *self, struct tr_loop *loop, tr_task *const *tasks, size_t n,
                               int mode, int admit) {
    size_t pending, done_failed;
    int rc = check_tasks(self, loop, tasks, n, "tr_wait", false, &pending, &done_failed);
    if (rc < 0)
        return rc;
    if (wait_satisfied(mode, n, pending, done_failed))
        return (int)(n - pending);
    return admit < 0 ? admit : -ENOMEM;
}

TR_EXPORT int tr_wait(tr_task *const *tasks, size_t n, int mode) {
    if ((!tasks && n > 0) || n == 0 ||
        (mode != TR_FIRST_COMPLETED && mode != TR_FIRST_ERROR && mode != TR_ALL_COMPLETED))
        return -EINVAL;
    if (n > INT_MAX)
        return -EOVERFLOW; /* the count would not fit the return value */
    struct tr_loop *loop;
    tr_task *self = calling_task(&loop);
    if (!self)
        return -EPERM;
    struct proxies px;
    int prc = proxies_begin(&px, self, loop, tasks, n);
    if (prc < 0)
        return prc;
    tr_task *const *given = tasks;
    if (px.tasks)
        tasks = px.tasks;
    int admit = wait_admit(self);
    struct waiter local[WATCH_ON_STACK];
    struct waiter *subs = subs_get(local, n);
    if (!subs) {
        int rc = wait_without_memory(self, loop, tasks, n, mode, admit);
        proxies_end(&px, given);
        return rc;
    }
    struct watch ws = {
        .subs = subs,
        .mode = mode == TR_FIRST_COMPLETED ? WATCH_FIRST
                : mode == TR_FIRST_ERROR   ? WATCH_FIRST_ERROR
                                           : WATCH_ALL,
    };
    size_t done_failed;
    int rc = watch_file(&ws, self, loop, tasks, n, "tr_wait", false, &done_failed);
    if (rc == 0) {
        if (wait_satisfied(mode, n, ws.pending, done_failed)) {
            watch_unfile(&ws, n);
            rc = (int)(n - ws.pending);
        } else if (admit < 0) {
            watch_unfile(&ws, n);
            rc = admit;
        } else {
            rc = watch_block(&ws, loop, self, n);
            if (rc == 0)
                rc = (int)(n - ws.pending);
        }
    }
    if (subs != local)
        free(subs);
    proxies_end(&px, given);
    return rc;
}

/* ---- tr_wait_for ------------------------------------------------------------------------- */

/*
 * After the caller's wait for t was cut short: cancel t and wait until it has finished. This
 * wait must end because t ends, not because of the caller: a shield holds the caller's own
 * cancellation back and the waiter has no deadline (t was cancelled, and cancellation is
 * sticky, so it finishes; asyncio's wait_for waits for the cancelled task the same way). Only
 * a cancellation forced through shields (tr_run breaking a deadlock) ends it early.
 */
static void cancel_and_settle(struct tr_loop *loop, tr_task *self, tr_task *t) {
    task_request_cancel(t, false);
    tr_shield shield;
    tr_shield_begin(&shield);
    while (!is_done(t) && !self->cancel_forced) {
        struct waiter w;
        waiter_init(&w, loop, self, WAIT_TASK, t);
        w.timer_at = 0;
        wq_push(&t->done, &w);
        wait_block(&w); /* t's end, or a forced cancellation */
    }
    tr_shield_end(&shield);
}

static int wait_for_there(void *p) {
    struct hop_args *h = p;
    return tr_wait_for(h->a, (uint64_t)h->c, h->b);
}

TR_EXPORT int tr_wait_for(tr_task *t, uint64_t timeout_ns, void **result) {
    if (!t)
        return -EINVAL;
    struct tr_loop *loop;
    tr_task *self = calling_task(&loop);
    if (!self)
        return -EPERM;
    if (t->loop != loop)
        return hop_call(t->loop, wait_for_there, HOP_ARGS(t, (void *)result, timeout_ns));
    task_check(t, "tr_wait_for");
    if (t == self)
        return -EDEADLK;
    if (is_done(t))
        return task_outcome(t, result);
    if (closes_cycle(self, t))
        return -EDEADLK;

    /* Hold t: the caller's reference may be dropped while we wait (tr_await does the same). */
    atomic_fetch_add_explicit(&t->refs, 1, memory_order_relaxed);
    int rc = wait_admit(self);
    if (rc == 0 && timeout_ns == 0)
        rc = -ETIME; /* asyncio: timeout <= 0 cancels at once a task that is not done */
    if (rc == 0) {
        struct waiter w;
        waiter_init(&w, loop, self, WAIT_TASK, t);
        if (timeout_ns != UINT64_MAX) { /* UINT64_MAX: no limit of its own */
            uint64_t at = deadline_after(loop_clock_ns(), timeout_ns);
            if (!w.timer_at || at < w.timer_at)
                w.timer_at = at; /* -ETIME either way: ours or the caller's scope */
        }
        wq_push(&t->done, &w);
        atomic_store_explicit(&self->awaiting, t, memory_order_relaxed);
        rc = wait_block(&w);
        atomic_store_explicit(&self->awaiting, NULL, memory_order_relaxed);
    }
    if (rc == 0 || is_done(t)) {
        /* t finished before anything cut the wait short: its outcome, whatever came after. */
        rc = task_outcome(t, result);
    } else if (rc == -ETIME || rc == -ECANCELED) {
        cancel_and_settle(loop, self, t);
        /* A task that failed while being cancelled says more than the timeout (asyncio
         * re-raises its exception). */
        int code = is_done(t) ? task_take_exit_code(t) : -ECANCELED;
        if (code != 0 && code != -ECANCELED) {
            if (result)
                *result = t->result;
            rc = code;
        }
    } /* else -ENOMEM: the timer could not be armed; nothing waited, t runs on */
    task_unref(t);
    return rc;
}

/* ---- tr_as_completed ----------------------------------------------------------------------- */

struct tr_completed {
    struct tr_loop *loop;
    struct waiter *waiter;   /* the task blocked in tr_completed_next, or NULL */
    struct wait_queue ready; /* finished entries not yet returned, in the order they finished */
    size_t n;
    size_t filed;      /* sub-waiters still in a task's done queue */
    size_t scan;       /* no entry below this is still filed (for the report's "waits on") */
    bool freed;        /* tr_completed_free ran while a task waited: that task frees it */
    struct proxies px; /* stand-ins for tasks of other loops, and the caller's array */
    tr_task **given;
    struct waiter subs[]; /* subs[i] watches the i-th task; object = the task */
};

static void completed_fired(struct waiter *sub, int result) {
    (void)result;
    tr_completed *it = sub->value;
    it->filed--;
    wq_push(&it->ready, sub);
    if (it->waiter)
        waiter_fire(it->waiter, 0, true);
}

TR_EXPORT tr_completed *tr_as_completed(tr_task *const *tasks, size_t n) {
    if (!tasks && n > 0) {
        errno = EINVAL;
        return NULL;
    }
    struct tr_loop *loop;
    tr_task *self = calling_task(&loop);
    if (!self) {
        errno = EPERM;
        return NULL;
    }
    struct proxies px;
    int rc = proxies_begin(&px, self, loop, tasks, n);
    if (rc < 0) {
        errno = -rc;
        return NULL;
    }
    tr_task **given = NULL;
    if (px.tasks) {
        /* The caller's array may go once we return; ours maps proxies back to its tasks. */
        given = realloc_array(NULL, n, sizeof *given);
        if (!given) {
            proxies_end(&px, tasks);
            errno = ENOMEM;
            return NULL;
        }
        for (size_t i = 0; i < n; i++)
            given[i] = tasks[i];
        tasks = px.tasks;
    }
    size_t pending, done_failed;
    rc = check_tasks(self, loop, tasks, n, "tr_as_completed", false, &pending, &done_failed);
    size_t bytes;
    tr_completed *it = rc < 0                                                        ? NULL
                       : size_of_array(n, sizeof(struct waiter), sizeof *it, &bytes) ? malloc(bytes)
                                                                                     : NULL;
    if (!it) {
        if (given)
            proxies_end(&px, given);
        free(given);
        errno = rc < 0 ? -rc : ENOMEM;
        return NULL;
    }
    *it = (tr_completed){.loop = loop, .n = n, .filed = pending, .px = px, .given = given};
    /* The ones done already come first, in array order; the others as they finish. */
    for (size_t i = 0; i < n; i++) {
        tr_task *t = tasks[i];
        struct waiter *sub = &it->subs[i];
        sub->task = self;
        sub->object = t;
        sub->value = it;
        sub->on_fire = completed_fired;
        sub->fired = false;
        sub->kind = WAIT_TASKS;
        wq_push(is_done(t) ? &it->ready : &t->done, sub);
    }
    return it;
}

/* The first entry still waiting for its task, for a report of what the caller waits on. An
 * entry never goes back to waiting, so the scan only moves forward: O(n) over all calls. */
static const void *completed_first_filed(tr_completed *it) {
    while (it->scan < it->n &&
           (!it->subs[it->scan].queue || it->subs[it->scan].queue == &it->ready))
        it->scan++;
    return it->scan < it->n ? it->subs[it->scan].object : NULL;
}

static void completed_unlink(tr_completed *it) {
    for (size_t i = 0; it->filed > 0 && i < it->n; i++) {
        struct waiter *sub = &it->subs[i];
        if (sub->queue && sub->queue != &it->ready) {
            wq_unlink(sub);
            it->filed--;
        }
    }
}

TR_EXPORT int tr_completed_next(tr_completed *it, tr_task **t) {
    if (!it || !t)
        return -EINVAL;
    struct tr_loop *loop;
    tr_task *self = calling_task(&loop);
    if (!self || it->loop != loop)
        return -EPERM;
    if (it->waiter)
        return -EBUSY; /* another task waits on this iterator */
    if (!it->ready.head) {
        if (it->filed == 0)
            return 0; /* every task has been returned */
        int rc = wait_admit(self);
        if (rc < 0)
            return rc;
        struct waiter w;
        waiter_init(&w, loop, self, WAIT_TASKS, completed_first_filed(it));
        it->waiter = &w;
        rc = wait_block(&w);
        it->waiter = NULL;
        if (it->freed) {
            free(it);
            return -EBADF;
        }
        if (rc < 0)
            return rc;
    }
    struct waiter *sub = it->ready.head;
    wq_unlink(sub); /* returned: in no queue now */
    *t = it->given ? it->given[sub - it->subs] : (tr_task *)sub->object;
    return 1;
}

TR_EXPORT void tr_completed_free(tr_completed *it) {
    if (!it)
        return;
    /* Sub-waiters still filed sit in tasks of its loop: only that loop's thread may unlink
     * them. Once none is (every task finished, or tr_run ended), any thread may free it. */
    if (it->filed > 0 && tr_tls_loop != it->loop)
        return;
    completed_unlink(it);
    if (it->given) {
        if (tr_tls_loop == it->loop) {
            proxies_end(&it->px, it->given);
        } else { /* every proxy is done (none filed): only references to drop */
            for (size_t i = 0; i < it->n; i++)
                if (it->px.tasks[i] != it->given[i])
                    task_unref(it->px.tasks[i]);
            free(it->px.tasks);
        }
        free(it->given);
        it->given = NULL;
    }
    if (it->waiter) {
        /* A task waits in tr_completed_next: it returns -EBADF and frees the iterator. */
        it->freed = true;
        waiter_fire(it->waiter, -EBADF, true);
        return;
    }
    free(it);
}
