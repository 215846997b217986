/*
 * same_loop_ops.c - the same-loop operations of the summary's "vs before" rows, N at a time, for
 * counting instructions with callgrind against two builds (tools/bench_before.sh compiles it
 * against each build's libtaskring.a). Uses only calls that existed before the runtime had
 * several loops, so that it builds against either side.
 *
 *   same_loop_ops MODE N
 *
 *   spawn_run    N batches: spawn 1000 trivial tasks, release each, tr_yield until all ran
 *                (task/spawn_run_release/k:1000)
 *   spawn_await  N batches: spawn 1000, tr_await and release each
 *                (task/spawn_await_release/k:1000)
 *   yield        N tr_yield round trips with a partner task (task/yield_rtt)
 *   queue        N put/get round trips over two tr_queues of maxsize 1 with an echo task
 *                (sync/queue_pingpong/maxsize:1)
 *
 * Per-operation counts come from the difference of two runs (N and 3N, say).
 */
#include "taskring.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { BATCH = 1000 };

static const char *mode;
static long n;
static size_t done;
static int failed;
static bool stop;
static char ball, stop_item;
static tr_task *batch[BATCH];

static void *count_done(void *arg) {
    (void)arg;
    done++;
    return NULL;
}

static void *pong(void *arg) {
    (void)arg;
    while (!stop)
        if (tr_yield() < 0)
            break;
    return NULL;
}

struct echo {
    tr_queue *in, *out;
};

static void *echo(void *arg) {
    struct echo *e = arg;
    for (;;) {
        void *item;
        if (tr_queue_get(e->in, &item) < 0 || item == &stop_item)
            return NULL;
        if (tr_queue_put(e->out, item) < 0)
            return NULL;
    }
}

static void spawn_run(void) {
    size_t spawned = 0;
    for (long b = 0; b < n && !failed; b++) {
        for (int i = 0; i < BATCH; i++) {
            tr_task *t = tr_spawn(count_done, NULL);
            if (!t) {
                failed = 1;
                break;
            }
            tr_task_release(t);
            spawned++;
        }
        while (done < spawned)
            if (tr_yield() < 0)
                break;
    }
}

static void spawn_await(void) {
    for (long b = 0; b < n && !failed; b++) {
        for (int i = 0; i < BATCH; i++)
            failed |= !(batch[i] = tr_spawn(count_done, NULL));
        for (int i = 0; i < BATCH; i++) {
            if (batch[i] && tr_await(batch[i], NULL) < 0)
                failed = 1;
            tr_task_release(batch[i]);
        }
    }
}

static void yield_rtt(void) {
    tr_task *p = tr_spawn(pong, NULL);
    if (!p) {
        failed = 1;
        return;
    }
    tr_yield();
    for (long i = 0; i < n; i++)
        tr_yield();
    stop = true;
    tr_await(p, NULL);
    tr_task_release(p);
}

static void queue_rtt(void) {
    struct echo e = {tr_queue_new(1), tr_queue_new(1)};
    tr_task *p = e.in && e.out ? tr_spawn(echo, &e) : NULL;
    if (!p) {
        failed = 1;
        return;
    }
    tr_yield();
    for (long i = 0; i < n && !failed; i++) {
        void *got = NULL;
        if (tr_queue_put(e.in, &ball) < 0 || tr_queue_get(e.out, &got) < 0 || got != &ball)
            failed = 1;
    }
    if (failed)
        tr_task_cancel(p);
    else
        tr_queue_put(e.in, &stop_item);
    tr_await(p, NULL);
    tr_task_release(p);
    tr_queue_free(e.in);
    tr_queue_free(e.out);
}

static void *main_task(void *arg) {
    (void)arg;
    if (strcmp(mode, "spawn_run") == 0)
        spawn_run();
    else if (strcmp(mode, "spawn_await") == 0)
        spawn_await();
    else if (strcmp(mode, "yield") == 0)
        yield_rtt();
    else
        queue_rtt();
    return NULL;
}

int main(int argc, char **argv) {
    if (argc != 3 || (n = strtol(argv[2], NULL, 10)) <= 0 ||
        (strcmp(argv[1], "spawn_run") && strcmp(argv[1], "spawn_await") &&
         strcmp(argv[1], "yield") && strcmp(argv[1], "queue"))) {
        fprintf(stderr, "usage: %s spawn_run|spawn_await|yield|queue N\n", argv[0]);
        return 2;
    }
    mode = argv[1];
    int rc = tr_run(main_task, NULL, NULL);
    if (rc < 0 || failed) {
        fprintf(stderr, "same_loop_ops: %s\n", rc < 0 ? tr_strerror(rc) : "an operation failed");
        return 1;
    }
    return 0;
}
