/*
 * loop.c - tr_run and the scheduler: one backend (io_uring or epoll: backend.h), one run queue,
 * one timer heap per loop.
 *
 * The scheduler runs on the thread's own stack. Each turn it
 *   1. dispatches what the backend has completed (no syscall when nothing is pending),
 *   2. wakes the sleepers whose deadline has passed,
 *   3. sends what is queued (io_uring: every pending SQE in one io_uring_enter), or, when
 *      nothing is runnable, sleeps in the backend's wait until the first completion or the
 *      earliest deadline (one kernel timeout for the whole timer heap, passed with the wait),
 *   4. hands the CPU to the run queue for a turn (fiber.c), tasks switching directly to one
 *      another until the turn is used up or nobody is runnable.
 * When the main task is done, every remaining task is cancelled and the loop runs until the
 * last one has finished; then everything the loop owns is freed.
 */
#include "fiber.h"
#include "io.h"
#include "runtime.h"

#include <pthread.h>
#include <valgrind/valgrind.h>
#include <signal.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum {
    DEFAULT_STACK = 64 * 1024,
    MIN_STACK = 16 * 1024,
    DEFAULT_IDLE_STACKS = 4096,
    DEFAULT_GUARD = 256 * 1024,
    MIN_GUARD = 4 * 1024,
    MAX_RING = 32768,
    MAX_GUARD = 64 * 1024 * 1024,
    TRIM_PER_TURN = 8,     /* idle stacks returned to the kernel per busy turn */
    TRIM_WHEN_IDLE = 4096, /* ... and before the loop sleeps */
};
#define DEADLOCK_RECHECK_NS UINT64_C(50000000)

static void expire_timers(struct tr_loop *loop) {
    loop->now_ns = loop_clock_ns();
    tr_task *t;
    while ((t = timer_heap_top(&loop->timers)) && t->deadline_ns <= loop->now_ns) {
        task_timer_disarm(loop, t);
        wait_timer_expired(t);
    }
}

/* Steps 1-3 of a turn. Blocks in the kernel only when `may_block` and nothing is runnable. */
static void poll_once(struct tr_loop *loop, bool may_block) {
    registry_publish(loop);
    runtime_poll(loop); /* the inbox, a stop to notice, the runtime's end */
    const struct backend *be = loop->be;
    be->reap(loop);
    if (timer_heap_size(&loop->timers))
        expire_timers(loop);
    bool idle = loop->runq.len == 0;
    stack_pool_trim(&loop->stacks, idle ? TRIM_WHEN_IDLE : TRIM_PER_TURN);
    record_pool_turn(loop);
    if (may_block && idle) {
        if (runtime_finished(loop) && registry_shard_live(loop) == 0)
            return; /* the runtime is over: leave */
        /* What is queued goes out first (a doorbell for another loop, completing at once):
         * left in the queue, it would read as work and the loop would sleep unmarked. */
        be->flush(loop);
        tr_task *first = timer_heap_top(&loop->timers);
        bool stuck = !first && loop->inflight == 0 && loop->offloaded == 0 && !be->pending(loop);
        if (stuck && !runtime_idle(loop)) {
            deadlock_break(loop); /* the cancelled tasks are runnable now */
            return;
        }
        be->bell_arm(loop);
        if (!inbox_sleep_begin(loop)) {
            /* Something arrived: the next poll takes it. The doorbell's read goes out now, or
             * the next idle poll would count it as work and skip the stuck mark. */
            be->flush(loop);
            return;
        }
        uint64_t wait = first ? first->deadline_ns - loop->now_ns : UINT64_MAX;
        /* Loop 0 of several, stuck: it looks again now and then, whether or not a poke came
         * (a backstop for the deadlock check across loops; see runtime.c). */
        if (stuck && loop->id == 0 && loop->rt->nloops > 1 && wait > DEADLOCK_RECHECK_NS)
            wait = DEADLOCK_RECHECK_NS;
        be->wait(loop, wait); /* what completed is dispatched below */
        inbox_awake(loop);
        runtime_awake(loop);
        be->reap(loop);
        if (timer_heap_size(&loop->timers))
            expire_timers(loop);
        inbox_drain(loop);
    } else if (be->pending(loop) || loop->inflight) {
        be->kick(loop); /* submit, and take what completed, without waiting */
    }
}

static int loop_create(struct tr_runtime *rt, unsigned id, struct tr_loop **out) {
    const tr_options *opts = &rt->opts;
    struct tr_loop *loop = calloc(1, sizeof *loop);
    if (!loop)
        return -ENOMEM;
    size_t stack = opts->stack_size ? opts->stack_size : DEFAULT_STACK;
    size_t idle = opts->max_idle_stacks ? opts->max_idle_stacks : DEFAULT_IDLE_STACKS;
    loop->under_valgrind = RUNNING_ON_VALGRIND != 0;
    loop->inline_switch = !SAN_ANNOTATES_SWITCHES;
    int rc = backend_create(loop, rt, id == 0);
    if (rc == 0)
        rc = stack_pool_init(&loop->stacks, stack,
                             opts->guard_size ? opts->guard_size : DEFAULT_GUARD, idle);
    if (rc == 0)
        rc = registry_attach(loop);
    if (rc == 0)
        rc = stack_overflow_guard_install(loop);
    if (rc < 0) {
        if (loop->shard)
            registry_detach(loop);
        if (loop->be)
            loop->be->destroy(loop);
        free(loop);
        return rc;
    }
    loop->report = opts->report;
    loop->report_ctx = opts->report_ctx;
    loop->now_ns = loop_clock_ns(); /* the tasks of the first turn are stamped with it (dumps) */
    san_loop_init(loop);
    *out = loop;
    return 0;
}

static void loop_destroy(struct tr_loop *loop) {
    inbox_close(loop);
    task_numbers_return(loop);
    listeners_stop(loop);
    loop->be->drain(loop);
    listeners_free_all(loop);
    loop->be->destroy(loop);
    stack_overflow_guard_remove(loop);
    timer_heap_free(&loop->timers);
    stack_pool_destroy(&loop->stacks);
    registry_detach(loop);
    record_pool_end(loop); /* frees loop, now or when the last outliving reference goes */
}

/* Options as this library knows them: a caller built before `size` existed (size 0) has the
 * 0.1 layout, the same bytes with zeros where the new fields are. */
static int check_options(const tr_options *opts) {
    for (size_t i = 0; i < sizeof opts->reserved / sizeof opts->reserved[0]; i++)
        if (opts->reserved[i])
            return -EINVAL;
    if (opts->stack_size && (opts->stack_size < MIN_STACK || opts->stack_size > (1u << 30)))
        return -EINVAL;
    if (opts->guard_size && (opts->guard_size < MIN_GUARD || opts->guard_size > MAX_GUARD))
        return -EINVAL;
    if (opts->ring_entries == 1 || opts->ring_entries > MAX_RING) /* a call may need 2 SQEs */
        return -EINVAL;
    if (opts->workers > MAX_WORKERS)
        return -EINVAL;
    if (opts->backend > TR_BACKEND_EPOLL || (opts->flags & ~TR_OPTION_QUIET))
        return -EINVAL;
    return 0;
}

/* Make loop `id` of rt on the calling thread: its ring belongs to this thread. */
static int loop_join_runtime(struct tr_runtime *rt, unsigned id, struct tr_loop **out) {
    struct tr_loop *loop;
    int rc = loop_create(rt, id, &loop);
    if (rc < 0)
        return rc;
    atomic_fetch_add_explicit(&rt->refs, 1, memory_order_relaxed); /* the loop's memory's */
    loop->rt = rt;
    loop->id = id;
    loop->now_ns = loop_clock_ns(); /* tasks spawned before the first poll get a real time */
    loop->port = &rt->ports[id];
    rt->ports[id].ring_fd = loop->ring_ready ? loop->ring.ring_fd : -1;
    atomic_store_explicit(&rt->ports[id].backend, (unsigned)loop->be->kind, memory_order_release);
    rt->ports[id].loop = loop;
    rt->loops[id] = loop;
    *out = loop;
    return 0;
}

/* Turns until the runtime is over and this loop's own tasks are gone. */
static void loop_serve(struct tr_loop *loop) {
    while (!runtime_finished(loop) || registry_shard_live(loop) > 0) {
        poll_once(loop, true);
        fiber_run_turn(loop);
    }
    loop->be->flush(loop); /* doorbells rung on the way out (MSG_RING SQEs) */
}

/* Loops 1..n-1: made on their own thread, then the go (or the news that one failed). */
static void *loop_thread(void *arg) {
    struct tr_runtime *rt = arg;
    pthread_mutex_lock(&rt->start_mu);
    /* The low 16 bits count the ids handed out, the high ones the loops ready: a loop that is
     * ready already must not shift the next one's id. */
    unsigned id = ++rt->started & 0xffffu;
    pthread_mutex_unlock(&rt->start_mu);
    struct tr_loop *loop = NULL;
    int rc = loop_join_runtime(rt, id, &loop);
    pthread_mutex_lock(&rt->start_mu);
    if (rc < 0 && rt->start_rc == 0)
        rt->start_rc = rc;
    rt->started += 1u << 16; /* ready (or failed) count, above the id counter */
    pthread_cond_broadcast(&rt->start_cv);
    while (!rt->go)
        pthread_cond_wait(&rt->start_cv, &rt->start_mu);
    bool run = rt->start_rc == 0;
    pthread_mutex_unlock(&rt->start_mu);
    if (loop) {
        tr_tls_loop = loop;
        if (run)
            loop_serve(loop);
        tr_tls_loop = NULL;
        loop_destroy(loop);
    }
    return NULL;
}

/* Start loops 1..n-1; 0, or the first error (every started thread has then ended). */
static int start_loops(struct tr_runtime *rt, unsigned *threads) {
    unsigned n = 0;
    int rc = 0;
    sigset_t all, old;
    signals_for_new_threads(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old); /* loop threads start with signals blocked */
    for (unsigned i = 1; i < rt->nloops; i++) {
        if (pthread_create(&rt->threads[i], NULL, loop_thread, rt) != 0) {
            rc = -EAGAIN;
            break;
        }
        n++;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_mutex_lock(&rt->start_mu);
    while ((rt->started >> 16) < n)
        pthread_cond_wait(&rt->start_cv, &rt->start_mu);
    if (rc == 0)
        rc = rt->start_rc;
    rt->start_rc = rc;
    rt->go = true;
    pthread_cond_broadcast(&rt->start_cv);
    pthread_mutex_unlock(&rt->start_mu);
    *threads = n;
    return rc;
}

static void join_loops(struct tr_runtime *rt, unsigned threads) {
    for (unsigned i = 1; i <= threads; i++)
        pthread_join(rt->threads[i], NULL);
}

static unsigned default_workers(unsigned nloops) {
    unsigned n = 4 * nloops;
    return n < 8 ? 8 : n > MAX_WORKERS ? MAX_WORKERS : n;
}

TR_EXPORT int tr_run_with(const tr_options *opts, tr_fn main_fn, void *arg, void **result) {
    tr_options given = {0};
    if (opts) {
        /* Only the bytes the caller has: an older caller's struct may be shorter. A later
         * caller's may be longer: its fields past ours must be zero (unknown to us). */
        if (opts->size > sizeof given) {
            const unsigned char *extra = (const unsigned char *)opts + sizeof given;
            for (size_t i = 0; i < opts->size - sizeof given; i++)
                if (extra[i])
                    return -EINVAL;
        }
        size_t have = opts->size == 0 || opts->size > sizeof given ? sizeof given : opts->size;
        memcpy(&given, opts, have);
    }
    if (!main_fn)
        return -EINVAL;
    int rc = check_options(&given);
    if (rc < 0)
        return rc;
    unsigned nloops, backend;
    rc = runtime_loop_count(&given, &nloops);
    if (rc < 0)
        return rc;
    rc = backend_choice(&given, &backend);
    if (rc < 0)
        return rc;
    if (tr_tls_loop)
        return -EBUSY; /* asyncio.run: "cannot be called from a running event loop" */

    struct tr_runtime *rt =
        runtime_new(&given, nloops, given.workers ? given.workers : default_workers(nloops));
    if (!rt)
        return -ENOMEM;
    rt->backend = backend;
    struct tr_loop *loop;
    rc = loop_join_runtime(rt, 0, &loop);
    if (rc < 0) {
        workers_destroy(&rt->pool);
        runtime_unref(rt);
        return rc;
    }
    unsigned threads = 0;
    rc = start_loops(rt, &threads);
    tr_task *main_task = NULL;
    if (rc == 0) {
        tr_tls_loop = loop;
        main_task = task_create(loop, main_fn, arg, NULL, 2); /* + ours, for the result */
        if (!main_task)
            rc = -ENOMEM;
    }
    if (main_task) {
        loop->main_task = main_task;
        while (atomic_load_explicit(&main_task->state, memory_order_relaxed) != TASK_DONE) {
            poll_once(loop, true);
            fiber_run_turn(loop);
        }
    }
    /* asyncio.run's epilogue on every loop (runtime_poll): cancel what is left, let it
     * finish; then every loop leaves once no loop has a task. */
    tr_tls_loop = loop;
    atomic_store_explicit(&rt->stopping, true, memory_order_seq_cst);
    for (unsigned i = 1; i < rt->nloops; i++)
        inbox_ring(rt, i);
    loop_serve(loop);
    join_loops(rt, threads);
    workers_destroy(&rt->pool); /* no job is left: every task has finished */

    if (main_task) {
        rc = task_take_exit_code(main_task);
        if (rc == 0 && result)
            *result = main_task->result;
        if (loop->deadlocked || atomic_load_explicit(&rt->deadlock, memory_order_relaxed))
            rc = -EDEADLK; /* whatever main returned once its wait was broken */
        task_unref(main_task);
    }
    tr_tls_loop = NULL;
    loop_destroy(loop);
    runtime_unref(rt); /* tr_run's own: handles and loops' memory may hold it longer */
    return rc;
}

TR_EXPORT int tr_run(tr_fn main_fn, void *arg, void **result) {
    return tr_run_with(NULL, main_fn, arg, result);
}
