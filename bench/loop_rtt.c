/*
 * loop_rtt.c - a small driver for profiling one cross-loop round trip at a time (callgrind,
 * perf stat), outside google-benchmark: N round trips of one kind, then the wall time per trip.
 *
 *   taskring_loop_rtt MODE N [awake]
 *
 *   same       tr_spawn + tr_await + release on loop 0 (of a 2-loop runtime)
 *   spawn      tr_spawn_on(1) + tr_await + release from loop 0
 *   queue      a task on loop 0 and one on loop 1 bounce one item over two tr_queues of
 *              maxsize 1, each owned by its consumer's loop
 *   queue-prod the same, each queue owned by its producer's loop
 *   to_thread  tr_to_thread of a trivial function (a 1-loop runtime)
 *   spin       no round trips: only the spinners of `awake`, N yields on loop 0
 *   msg_ring   the floor of `queue`, no runtime: two threads, each with its own ring, each
 *              waiting for a CQE and answering with a MSG_RING SQE to the other's ring
 *   condvar    the floor of `to_thread`, no runtime: a job handed to a worker thread waiting
 *              on a pthread condvar, the answer waited for on another
 *
 * awake: a spinner task on every loop (tr_yield in a loop, counted) keeps each loop from ever
 * sleeping in io_uring_enter, so no doorbell is rung and no thread waits in the kernel. That is
 * what valgrind needs: its 3.19 holds its big lock across a blocking io_uring_enter, so a
 * loop that sleeps there stops every other thread, and a runtime of two loops hangs. Each
 * spin also calls sched_yield, which makes valgrind run another thread at once. What is
 * counted then is the user-space work of a round trip (carrying tasks through inboxes,
 * switching, the queue or task calls) plus the spinners' yields, which the `spin` mode prices
 * (subtract spins x the cost of one).
 *
 * Per-trip costs come from the difference of two runs (N and 2N, say): setup and teardown cancel
 * out. docs/performance.md ("Loops") has the commands.
 */
#include "taskring.h"

#include <errno.h>
#include <liburing.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static long trips;
static int failed;
static char ball, stop;

/* awake: one spinner per loop; each counts its own yields (its loop's thread only). */
static bool awake;
static _Atomic bool spinning = true;
static long spins[2];

static void *spinner(void *arg) {
    long *n = arg;
    while (atomic_load_explicit(&spinning, memory_order_relaxed)) {
        if (tr_yield() < 0)
            break;
        sched_yield(); /* under valgrind: hand its lock to the other threads at once */
        ++*n;
    }
    return NULL;
}

/* Start the spinners (awake only): on loop 0 and, with two loops, on loop 1. */
static tr_task *spinners[2];
static void spinners_start(void) {
    if (!awake)
        return;
    for (unsigned i = 0; i < tr_loop_count() && i < 2; i++)
        spinners[i] = tr_spawn_on(i, spinner, &spins[i]);
}

static void spinners_stop(void) {
    atomic_store(&spinning, false);
    for (int i = 0; i < 2; i++)
        if (spinners[i]) {
            tr_await(spinners[i], NULL);
            tr_task_release(spinners[i]);
        }
}

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void *trivial(void *arg) {
    (void)arg;
    return NULL;
}

static void fail(const char *what, int err) {
    fprintf(stderr, "taskring_loop_rtt: %s: %s\n", what, tr_strerror(err < 0 ? err : -err));
    failed = 1;
}

static void *spawn_main(void *arg) {
    bool cross = arg != NULL;
    spinners_start();
    for (long i = 0; i < trips && !failed; i++) {
        tr_task *t = cross ? tr_spawn_on(1, trivial, NULL) : tr_spawn(trivial, NULL);
        if (!t) {
            fail("spawn", errno);
            break;
        }
        int rc = tr_await(t, NULL);
        if (rc < 0)
            fail("tr_await", rc);
        tr_task_release(t);
    }
    spinners_stop();
    return NULL;
}

struct echo {
    tr_queue *in, *out;
};

static void *echo_task(void *arg) {
    struct echo *e = arg;
    for (;;) {
        void *item = NULL;
        int rc = tr_queue_get(e->in, &item);
        if (rc == 0 && item == &stop)
            return NULL;
        if (rc == 0)
            rc = tr_queue_put(e->out, item);
        if (rc < 0) {
            fail("echo", rc);
            return NULL;
        }
    }
}

static void *new_queue(void *arg) {
    (void)arg;
    return tr_queue_new(1);
}

static void *queue_main(void *arg) {
    bool consumer = arg == NULL;
    spinners_start();
    tr_queue *q0 = tr_queue_new(1), *q1 = NULL;
    tr_task *maker = tr_spawn_on(1, new_queue, NULL);
    if (maker) {
        void *res = NULL;
        if (tr_await(maker, &res) == 0)
            q1 = res;
        tr_task_release(maker);
    }
    if (!q0 || !q1) {
        fail("tr_queue_new", ENOMEM);
        return NULL;
    }
    struct echo e = {consumer ? q1 : q0, consumer ? q0 : q1};
    tr_task *echo = tr_spawn_on(1, echo_task, &e);
    if (!echo) {
        fail("tr_spawn_on", errno);
        return NULL;
    }
    for (long i = 0; i < trips && !failed; i++) {
        void *got = NULL;
        int rc = tr_queue_put(e.in, &ball);
        if (rc == 0)
            rc = tr_queue_get(e.out, &got);
        if (rc < 0 || got != &ball)
            fail("tr_queue_put/get", rc < 0 ? rc : -EPROTO);
    }
    if (!failed)
        tr_queue_put(e.in, &stop);
    else
        tr_task_cancel(echo);
    tr_await(echo, NULL);
    tr_task_release(echo);
    tr_queue_free(q0);
    tr_queue_free(q1);
    spinners_stop();
    return NULL;
}

static void *to_thread_main(void *arg) {
    (void)arg;
    spinners_start();
    for (long i = 0; i < trips && !failed; i++) {
        int rc = tr_to_thread(trivial, NULL, NULL);
        if (rc < 0)
            fail("tr_to_thread", rc);
    }
    spinners_stop();
    return NULL;
}

static void *spin_main(void *arg) {
    (void)arg;
    spinners_start();
    for (long i = 0; i < trips && !failed; i++)
        tr_yield();
    spinners_stop();
    return NULL;
}

/* ---- the floors, without the runtime (as bench/bench_loops.cpp measures them) ---- */

static _Atomic int ring_fds[2] = {-1, -1};

static int floor_ring_init(struct io_uring *ring) {
    struct io_uring_params p;
    memset(&p, 0, sizeof p);
    p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN; /* the runtime's */
    int rc = io_uring_queue_init_params(8, ring, &p);
    if (rc == -EINVAL) {
        memset(&p, 0, sizeof p);
        rc = io_uring_queue_init_params(8, ring, &p);
    }
    return rc;
}

/* Send `data` to ring fd `to`, wait for the next CQE of our own ring: its user_data. */
static uint64_t send_wait(struct io_uring *ring, int to, uint64_t data) {
    struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
    struct io_uring_cqe *cqe;
    io_uring_prep_msg_ring(sqe, to, 0, data, 0);
    sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
    if (io_uring_submit_and_wait(ring, 1) < 0 || io_uring_peek_cqe(ring, &cqe) < 0)
        return 0;
    uint64_t got = cqe->user_data;
    io_uring_cqe_seen(ring, cqe);
    return got;
}

static void *ring_echo(void *arg) {
    (void)arg;
    struct io_uring ring;
    if (floor_ring_init(&ring) < 0) {
        atomic_store(&ring_fds[1], -2);
        return NULL;
    }
    atomic_store(&ring_fds[1], ring.ring_fd);
    int peer;
    while ((peer = atomic_load(&ring_fds[0])) == -1)
        sched_yield();
    struct io_uring_cqe *cqe;
    if (peer >= 0 && io_uring_wait_cqe(&ring, &cqe) == 0) {
        uint64_t got = cqe->user_data;
        io_uring_cqe_seen(&ring, cqe);
        while (got == 1)
            got = send_wait(&ring, peer, 1);
    }
    io_uring_queue_exit(&ring);
    return NULL;
}

static void msg_ring_floor(void) {
    pthread_t echo_thread;
    struct io_uring ring;
    pthread_create(&echo_thread, NULL, ring_echo, NULL);
    int rc = floor_ring_init(&ring);
    atomic_store(&ring_fds[0], rc < 0 ? -2 : ring.ring_fd);
    int peer;
    while ((peer = atomic_load(&ring_fds[1])) == -1)
        sched_yield();
    if (rc < 0 || peer < 0) {
        fail("io_uring_queue_init", rc < 0 ? rc : -EINVAL);
    } else {
        for (long i = 0; i < trips && !failed; i++)
            if (send_wait(&ring, peer, 1) != 1)
                fail("MSG_RING ping-pong", -EPROTO);
        struct io_uring_sqe *sqe = io_uring_get_sqe(&ring); /* the stop message */
        io_uring_prep_msg_ring(sqe, peer, 0, 2, 0);
        sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
        io_uring_submit(&ring);
    }
    pthread_join(echo_thread, NULL);
    if (rc == 0)
        io_uring_queue_exit(&ring);
}

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t job_cv = PTHREAD_COND_INITIALIZER, done_cv = PTHREAD_COND_INITIALIZER;
static bool job, answered, quit;

static void *handoff_worker(void *arg) {
    (void)arg;
    pthread_mutex_lock(&mu);
    for (;;) {
        while (!job && !quit)
            pthread_cond_wait(&job_cv, &mu);
        if (!job)
            break;
        job = false;
        pthread_mutex_unlock(&mu);
        trivial(NULL);
        pthread_mutex_lock(&mu);
        answered = true;
        pthread_cond_signal(&done_cv);
    }
    pthread_mutex_unlock(&mu);
    return NULL;
}

static void condvar_floor(void) {
    pthread_t worker;
    pthread_create(&worker, NULL, handoff_worker, NULL);
    for (long i = 0; i < trips; i++) {
        pthread_mutex_lock(&mu);
        job = true;
        answered = false;
        pthread_cond_signal(&job_cv);
        while (!answered)
            pthread_cond_wait(&done_cv, &mu);
        pthread_mutex_unlock(&mu);
    }
    pthread_mutex_lock(&mu);
    quit = true;
    pthread_cond_signal(&job_cv);
    pthread_mutex_unlock(&mu);
    pthread_join(worker, NULL);
}

int main(int argc, char **argv) {
    if (argc < 3 || argc > 4 || (trips = strtol(argv[2], NULL, 10)) <= 0 ||
        (argc == 4 && strcmp(argv[3], "awake") != 0)) {
        fprintf(stderr,
                "usage: %s same|spawn|queue|queue-prod|to_thread|spin|msg_ring|condvar N "
                "[awake]\n",
                argv[0]);
        return 2;
    }
    awake = argc == 4;
    const char *mode = argv[1];
    if (strcmp(mode, "msg_ring") == 0 || strcmp(mode, "condvar") == 0) {
        uint64_t t0 = now_ns();
        if (mode[0] == 'm')
            msg_ring_floor();
        else
            condvar_floor();
        uint64_t t1 = now_ns();
        printf("%s %ld trips: %.3f ms, %.1f ns/trip (setup included)\n", mode, trips,
               (t1 - t0) / 1e6, (double)(t1 - t0) / (double)trips);
        return failed;
    }
    tr_fn fn;
    void *arg = NULL;
    unsigned loops = 2;
    static char yes;
    if (strcmp(mode, "same") == 0) {
        fn = spawn_main;
    } else if (strcmp(mode, "spawn") == 0) {
        fn = spawn_main;
        arg = &yes;
    } else if (strcmp(mode, "queue") == 0) {
        fn = queue_main;
    } else if (strcmp(mode, "queue-prod") == 0) {
        fn = queue_main;
        arg = &yes;
    } else if (strcmp(mode, "to_thread") == 0) {
        fn = to_thread_main;
        loops = 1;
    } else if (strcmp(mode, "spin") == 0) {
        fn = spin_main;
        awake = true;
    } else {
        fprintf(stderr, "%s: unknown mode %s\n", argv[0], mode);
        return 2;
    }
    tr_options o = {0};
    o.size = sizeof o;
    o.loops = loops;
    uint64_t t0 = now_ns();
    int rc = tr_run_with(&o, fn, arg, NULL);
    uint64_t t1 = now_ns();
    if (rc < 0)
        fail("tr_run_with", rc);
    printf("%s %ld trips: %.3f ms, %.1f ns/trip (setup included)", mode, trips, (t1 - t0) / 1e6,
           (double)(t1 - t0) / (double)trips);
    if (awake)
        printf("; spinner yields: loop 0 %ld, loop 1 %ld", spins[0], spins[1]);
    printf("\n");
    return failed;
}
