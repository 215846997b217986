/*
 * worker.c - tr_to_thread: blocking work on a pool of threads, off the loops.
 *
 * The calling task files a job (on its own stack) in the pool's queue and waits for it like
 * for any other source (wait.c). A thread cannot be interrupted, so the waiter's
 * on_interrupt only notes a cancellation or an ended deadline scope: the wait ends when fn
 * returns, never before (fn may still be using what the task lent it). The worker posts the
 * job's completion to the caller's loop inbox, which fires the waiter there; that post is
 * the last time the worker touches the job.
 *
 * Threads start on demand, up to `max`, when no idle one can take a job, and live until the
 * runtime ends: a pool that has grown is there for the next burst. They run with every
 * asynchronous signal blocked, so that a process-directed signal goes to a thread that
 * expects it (signals_for_new_threads).
 */
#include "runtime.h"
#include "test_hooks.h"
#include "wait.h"

#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>

void workers_init(struct workers *w, unsigned max) {
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    w->max = max;
}

/* Tests only (test_hooks.h): called on the worker before each job. */
static _Atomic(void (*)(void)) job_hook;

void workers_set_job_hook(void (*hook)(void)) {
    atomic_store(&job_hook, hook);
}

static struct tr_runtime *runtime_of(struct workers *w) {
    return (struct tr_runtime *)((char *)w - offsetof(struct tr_runtime, pool));
}

static void *worker_main(void *arg) {
    struct workers *w = arg;
    struct tr_runtime *rt = runtime_of(w);
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (!w->head && !w->stop) {
            w->idle++;
            pthread_cond_wait(&w->cv, &w->mu);
            w->idle--;
        }
        struct job *j = w->head;
        if (!j)
            break; /* stopping, and nothing queued */
        w->head = j->next;
        if (!w->head)
            w->tail = NULL;
        w->queued--;
        pthread_mutex_unlock(&w->mu);
        void (*hook)(void) = atomic_load_explicit(&job_hook, memory_order_relaxed);
        if (TR_UNLIKELY(hook))
            hook(); /* a test parks this worker here, with the job taken */
        j->result = j->fn(j->arg);
        (void)inbox_post(rt, j->loop, &j->done); /* the caller's loop waits: it is open */
        pthread_mutex_lock(&w->mu);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

/* A new worker thread, under w->mu. False when the system refused. */
static bool start_worker(struct workers *w) {
    if (w->threads == w->ids_cap) {
        unsigned cap = w->ids_cap ? w->ids_cap * 2 : 8;
        pthread_t *ids = realloc_array(w->ids, cap, sizeof *ids);
        if (!ids)
            return false;
        w->ids = ids;
        w->ids_cap = cap;
    }
    sigset_t all, old;
    signals_for_new_threads(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old); /* inherited by the new thread */
    int rc = pthread_create(&w->ids[w->threads], NULL, worker_main, w);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0)
        return false;
    w->threads++;
    return true;
}

/*
 * Queue j; -EAGAIN when no thread runs and none could be started. A new thread starts when
 * the idle ones are all spoken for by jobs queued already: an idle worker that was signalled
 * counts as idle until it wakes up, so two jobs in a row must not both count on it.
 */
static int workers_submit(struct workers *w, struct job *j) {
    pthread_mutex_lock(&w->mu);
    if (w->queued >= w->idle && w->threads < w->max && !start_worker(w) && w->threads == 0) {
        pthread_mutex_unlock(&w->mu);
        return -EAGAIN;
    }
    w->queued++;
    j->next = NULL;
    if (w->tail)
        w->tail->next = j;
    else
        w->head = j;
    w->tail = j;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    return 0;
}

void workers_destroy(struct workers *w) {
    pthread_mutex_lock(&w->mu);
    w->stop = true;
    pthread_cond_broadcast(&w->cv);
    unsigned n = w->threads;
    pthread_mutex_unlock(&w->mu);
    for (unsigned i = 0; i < n; i++)
        pthread_join(w->ids[i], NULL);
    free(w->ids);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
}

static void job_interrupted(struct waiter *wt, int err) {
    struct job *j = wt->value;
    if (!j->interrupted)
        j->interrupted = err; /* returned once fn is done; the wait goes on */
}

static void job_done(struct tr_loop *loop, struct msg *m) {
    (void)loop;
    struct job *j = (struct job *)((char *)m - offsetof(struct job, done));
    waiter_fire(j->waiter, 0, true);
}

/* workers_io's interruption: a job still queued is taken back (no worker will touch it) and
 * the wait ends now; one a worker has is waited for, as for tr_to_thread. */
static void job_withdraw(struct waiter *wt, int err) {
    struct job *j = wt->value;
    struct workers *w = &wt->loop->rt->pool;
    bool found = false;
    pthread_mutex_lock(&w->mu);
    for (struct job **pp = &w->head, *prev = NULL; *pp; prev = *pp, pp = &(*pp)->next) {
        if (*pp != j)
            continue;
        *pp = j->next;
        if (w->tail == j)
            w->tail = prev;
        w->queued--;
        found = true;
        break;
    }
    pthread_mutex_unlock(&w->mu);
    if (found)
        waiter_fire(wt, err, false);
    else if (!j->interrupted)
        j->interrupted = err;
}

int workers_io(struct tr_loop *loop, tr_task *self, tr_fn fn, void *arg, uint8_t opcode, int fd) {
    int rc = wait_admit(self);
    if (rc < 0)
        return rc;
    struct job j = {.fn = fn, .arg = arg, .loop = loop->id};
    struct waiter w;
    waiter_init(&w, loop, self, WAIT_IO, NULL);
    w.io_opcode = opcode; /* for reports (introspect.c): the call the worker makes */
    w.io_fd = fd;
    /* The timer is armed before the job is filed: once it is, the wait must happen. */
    if (w.timer_at && task_timer_arm(loop, self, w.timer_at) < 0)
        return -ENOMEM;
    w.timer_at = 0;
    w.on_interrupt = job_withdraw;
    w.value = &j;
    j.waiter = &w;
    j.done.run = job_done;
    rc = workers_submit(&loop->rt->pool, &j);
    if (rc < 0) {
        if (self->in_timer)
            task_timer_disarm(loop, self);
        return rc;
    }
    loop->offloaded++;
    rc = wait_block(&w); /* fired by job_done, or by job_withdraw while it was queued */
    loop->offloaded--;
    return rc < 0 ? rc : 0;
}

TR_EXPORT int tr_to_thread(tr_fn fn, void *arg, void **result) {
    if (!fn)
        return -EINVAL;
    struct tr_loop *loop;
    tr_task *self = calling_task(&loop);
    if (!self)
        return -EPERM;
    int rc = wait_admit(self);
    if (rc < 0)
        return rc;
    struct job j = {.fn = fn, .arg = arg, .loop = loop->id};
    struct waiter w;
    waiter_init(&w, loop, self, WAIT_THREAD, (const void *)fn);
    w.on_interrupt = job_interrupted;
    w.value = &j;
    j.waiter = &w;
    j.done.run = job_done;
    rc = workers_submit(&loop->rt->pool, &j);
    if (rc < 0)
        return rc;
    loop->offloaded++;
    wait_block(&w); /* fired by job_done only */
    loop->offloaded--;
    if (result)
        *result = j.result;
    return j.interrupted;
}
