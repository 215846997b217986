/*
 * runtime.c - what the loops of one tr_run share: the loop count and the choice of a loop,
 * spawning on another loop, the end of the runtime (every loop drained), a deadlock across
 * loops, and the handles through which threads outside the runtime enter it.
 *
 * Ending. When main returns, loop 0 sets `stopping`; every loop then cancels its tasks, as one
 * loop did alone before. The runtime is over when no loop has a task of its own left. Each
 * loop publishes, at the moment its own count crosses zero, a register (version << 1 | busy);
 * loop 0 reads all registers twice in a row, and when both reads agree and show no loop busy,
 * there was an instant at which no task existed anywhere (the double collect of an atomic
 * snapshot). No task can appear after it: tasks are made by tasks, or by a handle's thread,
 * which is refused once the runtime stops. Then `finished` is set and every loop leaves.
 *
 * Deadlock across loops. A loop with nothing to do sleeps: it is woken through its inbox,
 * not by a deadlock check, since another loop may still wake it. A loop that has nothing
 * local that could wake it (no runnable task, no timer, no I/O, no tr_to_thread job) marks
 * itself stuck in a second register and rings loop 0. Loop 0, when stuck itself, reads every
 * inbox and register twice (inbox first, then register: a loop clears its stuck mark before
 * it takes its inbox); if all loops were stuck at one instant with empty inboxes and nobody
 * holds a handle, nothing can ever wake any of them: each loop is told to report and cancel
 * the stuck tasks on it.
 */
#include "runtime.h"
#include "wait.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

/* ---- the runtime's memory --------------------------------------------------------------- */

void runtime_unref(struct tr_runtime *rt) {
    if (atomic_fetch_sub_explicit(&rt->refs, 1, memory_order_acq_rel) != 1)
        return;
    for (unsigned i = 0; i < rt->nloops; i++)
        if (rt->ports[i].event_fd >= 0)
            close(rt->ports[i].event_fd);
    pthread_mutex_destroy(&rt->start_mu);
    pthread_mutex_destroy(&rt->report_mu);
    pthread_cond_destroy(&rt->start_cv);
    free(rt->ports);
    free(rt->loops);
    free(rt->threads);
    free(rt);
}

struct tr_runtime *runtime_new(const tr_options *opts, unsigned nloops, unsigned workers) {
    struct tr_runtime *rt = calloc(1, sizeof *rt);
    if (!rt)
        return NULL;
    size_t bytes;
    if (!size_of_array(nloops, sizeof(struct port), 0, &bytes)) {
        free(rt);
        return NULL;
    }
    bytes = (bytes + 63) & ~(size_t)63;
    rt->ports = aligned_alloc(64, bytes);
    rt->loops = calloc(nloops, sizeof *rt->loops);
    rt->threads = calloc(nloops, sizeof *rt->threads);
    if (!rt->ports || !rt->loops || !rt->threads) {
        free(rt->ports);
        free(rt->loops);
        free(rt->threads);
        free(rt);
        return NULL;
    }
    memset(rt->ports, 0, bytes);
    rt->nloops = nloops;
    rt->opts = *opts;
    atomic_init(&rt->refs, 1);
    pthread_mutex_init(&rt->start_mu, NULL);
    pthread_mutex_init(&rt->report_mu, NULL);
    pthread_cond_init(&rt->start_cv, NULL);
    workers_init(&rt->pool, workers);
    bool ok = true;
    for (unsigned i = 0; i < nloops; i++) {
        rt->ports[i].event_fd = eventfd(0, EFD_CLOEXEC);
        rt->ports[i].ring_fd = -1;
        ok &= rt->ports[i].event_fd >= 0;
    }
    if (!ok) {
        runtime_unref(rt);
        return NULL;
    }
    return rt;
}

/* How many loops: the option, else TASKRING_LOOPS ("cpus": one per online CPU), else 1. */
int runtime_loop_count(const tr_options *opts, unsigned *out) {
    unsigned n = opts->loops;
    if (n == 0) {
        const char *env = getenv("TASKRING_LOOPS");
        if (env && *env) {
            if (strcmp(env, "cpus") == 0) {
                long cpus = sysconf(_SC_NPROCESSORS_ONLN);
                n = cpus > 0 ? (unsigned)(cpus < MAX_LOOPS ? cpus : MAX_LOOPS) : 1;
            } else {
                char *end;
                unsigned long v = strtoul(env, &end, 10);
                if (*end || v == 0 || v > MAX_LOOPS)
                    return -EINVAL;
                n = (unsigned)v;
            }
        } else {
            n = 1;
        }
    }
    if (n > MAX_LOOPS)
        return -EINVAL;
    *out = n;
    return 0;
}

void signals_for_new_threads(sigset_t *set) {
    static const int synchronous[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS};
    sigfillset(set);
    for (size_t i = 0; i < sizeof synchronous / sizeof synchronous[0]; i++)
        sigdelset(set, synchronous[i]);
}

/* ---- registers: the end of the runtime, and deadlocks across loops ------------------------ */

static void reg_write(_Atomic uint64_t *reg, bool on) {
    uint64_t v = atomic_load_explicit(reg, memory_order_relaxed);
    atomic_store_explicit(reg, (((v >> 1) + 1) << 1) | on, memory_order_seq_cst);
}

void runtime_loop_busy(struct tr_loop *loop, bool busy) {
    struct tr_runtime *rt = loop->rt;
    if (!rt)
        return;
    reg_write(&loop->port->tasks_reg, busy);
    if (!busy && loop->id != 0 && atomic_load_explicit(&rt->stopping, memory_order_seq_cst))
        inbox_ring(rt, 0); /* loop 0 decides whether the runtime is over */
}

/* Was no loop busy at one instant between the two reads? */
static bool all_quiet(struct tr_runtime *rt) {
    uint64_t first[MAX_LOOPS];
    for (unsigned i = 0; i < rt->nloops; i++) {
        first[i] = atomic_load_explicit(&rt->ports[i].tasks_reg, memory_order_seq_cst);
        if (first[i] & 1)
            return false;
    }
    for (unsigned i = 0; i < rt->nloops; i++)
        if (atomic_load_explicit(&rt->ports[i].tasks_reg, memory_order_seq_cst) != first[i])
            return false;
    return true;
}

/* Were all loops stuck, with empty inboxes, at one instant between the two reads? */
static bool all_stuck(struct tr_runtime *rt) {
    uint64_t first[MAX_LOOPS];
    for (int pass = 0; pass < 2; pass++) {
        for (unsigned i = 0; i < rt->nloops; i++) {
            struct port *p = &rt->ports[i];
            uintptr_t head = atomic_load_explicit(&p->head, memory_order_seq_cst);
            if ((head != 0 && head != 2) || atomic_load_explicit(&p->poked, memory_order_seq_cst))
                return false; /* a message, or a poke (stopping...) it has not looked at */
            uint64_t v = atomic_load_explicit(&p->stuck_reg, memory_order_seq_cst);
            if (!(v & 1) || (pass == 1 && v != first[i]))
                return false;
            first[i] = v;
        }
    }
    return true;
}

bool runtime_finished(const struct tr_loop *loop) {
    return atomic_load_explicit(&loop->rt->finished, memory_order_acquire);
}

static void cancel_own(tr_task *t, void *ctx) {
    (void)ctx;
    task_request_cancel(t, false);
}

static void deadlock_run(struct tr_loop *loop, struct msg *m) {
    (void)m;
    deadlock_break_present(loop);
}

void runtime_poll(struct tr_loop *loop) {
    struct tr_runtime *rt = loop->rt;
    if (TR_UNLIKELY(!loop->stopping) && atomic_load_explicit(&rt->stopping, memory_order_acquire)) {
        /* asyncio.run's epilogue, on every loop: cancel what is left and let it finish. */
        loop->stopping = true;
        loop->cancel_retry = false;
        registry_for_each_own(loop, cancel_own, NULL);
    } else if (TR_UNLIKELY(loop->cancel_retry) && loop->stopping) {
        loop->cancel_retry = false;
        registry_for_each_own(loop, cancel_own, NULL);
    }
    inbox_drain(loop);
    size_t live = registry_shard_live(loop);
    if (atomic_load_explicit(&loop->port->live, memory_order_relaxed) != live)
        atomic_store_explicit(&loop->port->live, live, memory_order_relaxed);
    if (loop->id == 0 && loop->stopping && live == 0 &&
        !atomic_load_explicit(&rt->finished, memory_order_relaxed) && all_quiet(rt)) {
        atomic_store_explicit(&rt->finished, true, memory_order_release);
        for (unsigned i = 1; i < rt->nloops; i++)
            inbox_ring(rt, i);
    }
}

bool runtime_idle(struct tr_loop *loop) {
    struct tr_runtime *rt = loop->rt;
    bool handles = atomic_load_explicit(&rt->handles, memory_order_acquire) > 0;
    if (rt->nloops == 1 && !handles)
        return false; /* the loop alone decides: a local deadlock check */
    reg_write(&loop->port->stuck_reg, true);
    if (loop->id != 0) {
        inbox_ring(rt, 0); /* loop 0 decides */
        return true;
    }
    if (!handles && !all_quiet(rt) && all_stuck(rt)) {
        atomic_store_explicit(&rt->deadlock, true, memory_order_relaxed);
        for (unsigned i = 1; i < rt->nloops; i++) {
            struct msg *m = &rt->ports[i].deadlock_msg;
            m->run = deadlock_run;
            (void)inbox_post(rt, i, m);
        }
        reg_write(&loop->port->stuck_reg, false);
        return false; /* poll_once breaks this loop's share */
    }
    return true;
}

void runtime_awake(struct tr_loop *loop) {
    if (atomic_load_explicit(&loop->port->stuck_reg, memory_order_relaxed) & 1)
        reg_write(&loop->port->stuck_reg, false);
}

/* ---- choosing a loop, spawning on one ----------------------------------------------------- */

/*
 * TR_LOOP_ANY: the loop with the fewest live tasks as of its last turn; ties go round-robin:
 * call number `turn` takes the (turn % ties)-th of the loops that tie (from a loop, its own
 * counter, so that no write is shared with other loops; from a handle's thread, rt->rr).
 * Scanning from a moving start instead would favour the loop after one that never ties, the
 * caller's own loop typically (it has the caller). The counts may move between the two
 * passes: then the first pass's choice stands.
 */
static unsigned choose_loop(struct tr_runtime *rt, unsigned turn) {
    unsigned best = 0, ties = 0;
    size_t best_live = SIZE_MAX;
    for (unsigned i = 0; i < rt->nloops; i++) {
        size_t live = atomic_load_explicit(&rt->ports[i].live, memory_order_relaxed);
        if (live < best_live) {
            best = i;
            best_live = live;
            ties = 1;
        } else if (live == best_live) {
            ties++;
        }
    }
    unsigned pick = turn % ties;
    for (unsigned i = 0; i < rt->nloops; i++)
        if (atomic_load_explicit(&rt->ports[i].live, memory_order_relaxed) == best_live &&
            pick-- == 0)
            return i;
    return best;
}

struct spawn_req {
    tr_fn fn;
    void *arg;
    const char *name;
    tr_task *t;
    int err;
};

static int spawn_there(void *ctx) {
    struct spawn_req *r = ctx;
    r->t = task_create(tr_tls_loop, r->fn, r->arg, r->name, 2);
    r->err = r->t ? 0 : errno;
    return 0;
}

static tr_task *spawn_on(unsigned id, tr_fn fn, void *arg, const char *name) {
    struct tr_loop *loop = tr_tls_loop;
    if (!fn || !loop) {
        errno = fn ? EPERM : EINVAL;
        return NULL;
    }
    struct tr_runtime *rt = loop->rt;
    if (id == TR_LOOP_ANY)
        id = choose_loop(rt, loop->id + loop->any_next++);
    if (id >= rt->nloops) {
        errno = EINVAL;
        return NULL;
    }
    if (atomic_load_explicit(&rt->stopping, memory_order_acquire)) {
        errno = ESHUTDOWN; /* main has returned: what is left is being cancelled */
        return NULL;
    }
    if (id == loop->id)
        return task_create(loop, fn, arg, name, 2);
    struct spawn_req r = {fn, arg, name, NULL, 0};
    int rc = hop_call(rt->loops[id], spawn_there, &r);
    if (rc < 0) {
        errno = -rc;
        return NULL;
    }
    if (!r.t)
        errno = r.err;
    return r.t;
}

TR_EXPORT tr_task *tr_spawn_on(unsigned loop, tr_fn fn, void *arg) {
    return spawn_on(loop, fn, arg, NULL);
}

TR_EXPORT tr_task *tr_spawn_on_named(unsigned loop, tr_fn fn, void *arg, const char *name) {
    return spawn_on(loop, fn, arg, name);
}

TR_EXPORT int tr_loop_id(void) {
    struct tr_loop *loop = tr_tls_loop;
    return loop ? (int)loop->id : -EPERM;
}

TR_EXPORT unsigned tr_loop_count(void) {
    struct tr_loop *loop = tr_tls_loop;
    return loop ? loop->rt->nloops : 0;
}

/* ---- handles: entry from threads outside the runtime -------------------------------------- */

TR_EXPORT tr_runtime *tr_runtime_get(void) {
    struct tr_loop *loop = tr_tls_loop;
    if (!loop) {
        errno = EPERM;
        return NULL;
    }
    struct tr_runtime *rt = loop->rt;
    atomic_fetch_add_explicit(&rt->refs, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&rt->handles, 1, memory_order_acq_rel);
    return rt;
}

TR_EXPORT void tr_runtime_release(tr_runtime *rt) {
    if (!rt)
        return;
    if (atomic_fetch_sub_explicit(&rt->handles, 1, memory_order_acq_rel) == 1 &&
        !atomic_load_explicit(&rt->finished, memory_order_acquire))
        inbox_ring(rt, 0); /* tasks that all wait may be a deadlock now */
    runtime_unref(rt);
}

/* A spawn request from a thread outside the runtime, on that thread's stack. */
struct remote_spawn {
    struct msg m;
    struct spawn_req req;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done;
};

static void remote_spawn_run(struct tr_loop *loop, struct msg *m) {
    struct remote_spawn *s = (struct remote_spawn *)m;
    if (loop->stopping || atomic_load_explicit(&loop->rt->stopping, memory_order_seq_cst)) {
        s->req.err = ESHUTDOWN;
    } else {
        s->req.t = task_create(loop, s->req.fn, s->req.arg, s->req.name, 2);
        s->req.err = s->req.t ? 0 : errno;
        /* Registered (its loop's register says busy) before this second look at `stopping`:
         * either loop 0 sees the register, or we see the stop (both sequentially consistent).
         * Seen: it must never run, since the runtime may already be over. */
        if (s->req.t && atomic_load_explicit(&loop->rt->stopping, memory_order_seq_cst)) {
            s->req.t->cancel_requested = true;
            task_unref(s->req.t);
            s->req.t = NULL;
            s->req.err = ESHUTDOWN;
        }
    }
    pthread_mutex_lock(&s->mu);
    s->done = true;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu); /* the requester may free s as soon as this returns */
}

TR_EXPORT tr_task *tr_runtime_spawn(tr_runtime *rt, unsigned id, tr_fn fn, void *arg,
                                    const char *name) {
    if (!rt || !fn) {
        errno = EINVAL;
        return NULL;
    }
    if (tr_tls_loop) {
        errno = EDEADLK; /* it would block a loop: tr_spawn_on is the loop's way */
        return NULL;
    }
    if (atomic_load_explicit(&rt->stopping, memory_order_acquire)) {
        errno = ESHUTDOWN;
        return NULL;
    }
    if (id == TR_LOOP_ANY)
        id = choose_loop(rt, atomic_fetch_add_explicit(&rt->rr, 1, memory_order_relaxed));
    if (id >= rt->nloops) {
        errno = EINVAL;
        return NULL;
    }
    struct remote_spawn s = {.req = {fn, arg, name, NULL, 0}};
    s.m.run = remote_spawn_run;
    pthread_mutex_init(&s.mu, NULL);
    pthread_cond_init(&s.cv, NULL);
    if (inbox_post(rt, id, &s.m) < 0) {
        s.req.err = ESHUTDOWN;
    } else {
        pthread_mutex_lock(&s.mu);
        while (!s.done)
            pthread_cond_wait(&s.cv, &s.mu);
        pthread_mutex_unlock(&s.mu);
    }
    pthread_mutex_destroy(&s.mu);
    pthread_cond_destroy(&s.cv);
    if (!s.req.t)
        errno = s.req.err;
    return s.req.t;
}

/*
 * A thread outside the runtime waiting for a task's end: a waiter filed in the task's `done`
 * queue by the task's loop, whose on_fire signals the thread. It is on the heap and counted
 * twice (the thread, the filed waiter), so that a thread that gives up at its timeout leaves
 * it behind safely: the task's end frees it.
 */
struct join {
    struct msg m;
    struct waiter w;
    tr_task *t;
    _Atomic int refs;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done;
};

static void join_unref(struct join *j) {
    if (atomic_fetch_sub_explicit(&j->refs, 1, memory_order_acq_rel) != 1)
        return;
    pthread_mutex_destroy(&j->mu);
    pthread_cond_destroy(&j->cv);
    free(j);
}

static void join_signal(struct join *j) {
    pthread_mutex_lock(&j->mu);
    j->done = true;
    pthread_cond_signal(&j->cv);
    pthread_mutex_unlock(&j->mu);
    tr_task *t = j->t;
    join_unref(j);
    task_unref(t);
}

static void join_fired(struct waiter *w, int result) {
    (void)result;
    join_signal((struct join *)w->value);
}

static void join_run(struct tr_loop *loop, struct msg *m) {
    struct join *j = (struct join *)m;
    tr_task *t = j->t;
    if (atomic_load_explicit(&t->state, memory_order_acquire) == TASK_DONE) {
        join_signal(j);
        return;
    }
    struct waiter *w = &j->w;
    memset(w, 0, sizeof *w);
    w->task = NULL;
    w->loop = loop;
    w->object = t;
    w->value = j;
    w->on_fire = join_fired;
    w->kind = WAIT_TASK;
    wq_push(&t->done, w);
}

TR_EXPORT int tr_task_join(tr_task *t, uint64_t timeout_ns, void **result) {
    if (!t)
        return -EINVAL;
    task_check(t, "tr_task_join");
    if (tr_tls_loop)
        return -EDEADLK; /* a loop thread would block its loop: tr_await */
    if (atomic_load_explicit(&t->state, memory_order_acquire) == TASK_DONE)
        return task_outcome(t, result);
    struct join *j = calloc(1, sizeof *j);
    if (!j)
        return -ENOMEM;
    atomic_init(&j->refs, 2);
    j->t = t;
    j->m.run = join_run;
    pthread_mutex_init(&j->mu, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&j->cv, &attr);
    pthread_condattr_destroy(&attr);
    atomic_fetch_add_explicit(&t->refs, 1, memory_order_relaxed); /* dropped by the loop */
    /* The task's loop memory lives while t is held, and holds the runtime and its ports. */
    struct tr_loop *home = t->loop;
    if (inbox_post(home->rt, home->id, &j->m) < 0) {
        /* That loop has ended: t finished before it did. */
        atomic_fetch_sub_explicit(&t->refs, 1, memory_order_relaxed);
        j->refs = 1;
        join_unref(j);
        return task_outcome(t, result);
    }
    struct timespec at;
    clock_gettime(CLOCK_MONOTONIC, &at);
    bool limited = timeout_ns != UINT64_MAX;
    if (limited) {
        uint64_t ns = (uint64_t)at.tv_nsec + timeout_ns % 1000000000u;
        uint64_t s = (uint64_t)at.tv_sec + timeout_ns / 1000000000u + ns / 1000000000u;
        at.tv_sec = s > (uint64_t)LONG_MAX ? LONG_MAX : (time_t)s;
        at.tv_nsec = (long)(ns % 1000000000u);
    }
    int rc = 0;
    pthread_mutex_lock(&j->mu);
    while (!j->done && rc == 0)
        rc = limited ? pthread_cond_timedwait(&j->cv, &j->mu, &at)
                     : pthread_cond_wait(&j->cv, &j->mu);
    bool done = j->done;
    pthread_mutex_unlock(&j->mu);
    join_unref(j);
    if (!done)
        return -ETIME;
    return task_outcome(t, result);
}

/* ---- per-loop snapshot ---------------------------------------------------------------------- */

TR_EXPORT tr_taskset *tr_loop_tasks(unsigned id) {
    struct tr_loop *loop = tr_tls_loop;
    if (!loop) {
        errno = EPERM;
        return NULL;
    }
    if (id >= loop->rt->nloops) {
        errno = EINVAL;
        return NULL;
    }
    return taskset_of_loop(loop->rt->loops[id]);
}
