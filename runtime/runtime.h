/*
 * runtime.h - the runtime of N loops: what the loops of one tr_run share (runtime.c), each
 * loop's port (its inbox and doorbell, inbox.c) and the worker pool (worker.c).
 */
#ifndef TR_RUNTIME_H
#define TR_RUNTIME_H

#include "backend.h"

#include <pthread.h>
#include <signal.h>

enum { MAX_LOOPS = 256, MAX_WORKERS = 1024 };

/*
 * A loop's inbox and doorbell. It lives in the runtime, not in the loop, so that a thread
 * that posts to it races with nothing when the loop ends: the runtime outlives every
 * handle (tr_runtime_get). Cache-line aligned: other threads write here.
 */
struct port {
    _Alignas(64) _Atomic uintptr_t head; /* Treiber stack of tagged refs, newest first */
    _Atomic int sleeping;                /* the loop is (about to be) blocked in the kernel */
    _Atomic int poked;                   /* something it must look at changed (inbox_ring) */
    int ring_fd;                         /* target of IORING_OP_MSG_RING (io_uring loops), or -1 */
    int event_fd;                        /* rung by everyone else */
    uint64_t event_buf;                  /* the loop's read of event_fd lands here */
    struct io_target bell_done;          /* ... and completes here (backend.h) */
    _Atomic unsigned backend;            /* enum tr_backend the loop runs (tr_loop_backend) */
    /* (version << 1) | busy: the loop has live tasks of its own. Written by the loop when
     * its count crosses zero; read twice in a row by the termination check (runtime.c). */
    _Alignas(64) _Atomic uint64_t tasks_reg;
    /* (version << 1) | stuck: nothing local can wake the loop (deadlock check). */
    _Atomic uint64_t stuck_reg;
    _Atomic size_t live;     /* own live tasks, as of the last turn: TR_LOOP_ANY's choice */
    struct msg deadlock_msg; /* "report and cancel your stuck tasks" (one at a time) */
    struct tr_loop *loop;    /* while the loop runs */
};

/* A job of tr_to_thread (worker.c), on the calling task's stack. */
struct job {
    struct job *next;
    tr_fn fn;
    void *arg;
    void *result;
    unsigned loop; /* where the caller waits: the completion is posted there */
    struct msg done;
    struct waiter *waiter;
    int interrupted; /* -ECANCELED / -ETIME that came while fn ran */
};

struct workers {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct job *head, *tail;
    unsigned queued; /* jobs in the queue, not yet taken by a worker */
    unsigned threads, idle, max;
    bool stop;
    pthread_t *ids; /* started threads, for the join at the end */
    unsigned ids_cap;
};

struct tr_runtime {
    _Atomic uint32_t refs; /* tr_run's own + one per tr_runtime_get */
    _Atomic uint32_t handles;
    unsigned nloops;
    struct port *ports;
    struct tr_loop **loops;
    pthread_t *threads; /* loops 1..n-1 */
    tr_options opts;
    unsigned backend;      /* enum tr_backend: AUTO until loop 0 has chosen (backend.c) */
    _Atomic bool stopping; /* main has returned: every task is being cancelled */
    _Atomic bool finished; /* no task left on any loop: loops end */
    _Atomic bool deadlock; /* a deadlock across loops is being broken */
    _Atomic unsigned rr;   /* TR_LOOP_ANY's round-robin start */
    /* start-up: loop threads create their loops, then wait for everyone's go */
    pthread_mutex_t report_mu; /* deadlock reports of several loops: one at a time */
    pthread_mutex_t start_mu;
    pthread_cond_t start_cv;
    unsigned started;
    int start_rc;
    bool go;
    struct workers pool;
};

struct tr_runtime *runtime_new(const tr_options *opts, unsigned nloops, unsigned workers);
int runtime_loop_count(const tr_options *opts, unsigned *out);
/* The loop woke: it is not stuck (any more). */
void runtime_awake(struct tr_loop *loop);
/* tr_all_tasks of one loop (taskset.c). */
tr_taskset *taskset_of_loop(const struct tr_loop *loop);

/* The mask a thread the runtime starts (a loop, a worker) begins with: every signal blocked
 * but those a faulting instruction raises (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS),
 * which, blocked, would kill the process without running the stack-overflow report or the
 * program's own crash handler. */
void signals_for_new_threads(sigset_t *set);

void workers_init(struct workers *w, unsigned max);
/* Stop and join every worker (the runtime's end: no job is queued any more). */
void workers_destroy(struct workers *w);
/* A backend's blocking syscall (epoll: files) as fn(arg) on the pool, for `self` on `loop`
 * (its wait reports `opcode` on `fd`, introspect.c):
 * 0 once fn has run (its own result is in arg), or -ECANCELED / -ETIME when the task was
 * interrupted before a worker took the job (it never runs), -ENOMEM, -EAGAIN. A job a worker
 * has taken is waited for to its end, whatever comes: fn may be writing into the task's
 * buffer. */
int workers_io(struct tr_loop *loop, tr_task *self, tr_fn fn, void *arg, uint8_t opcode, int fd);

#endif
