/*
 * tr_await_graph over a long plain chain: T_i awaits T_{i-1}, T_0 sleeps. Built from a task
 * with the default (64 KiB) stack, both ways: who awaits T_0 (every other task, one link
 * each) and what T_{N-1} waits for (every other task). The walks once recursed per link and
 * overflowed the stack near N = 1000; the cycle check walked the path per node (quadratic).
 */
#include "regress.h"

#define LONG_NS (60ull * 1000 * 1000 * 1000)

static void *sleeper(void *arg) {
    (void)arg;
    tr_sleep(LONG_NS);
    return NULL;
}

static void *awaiter(void *arg) {
    tr_await(arg, NULL);
    return NULL;
}

static size_t n_tasks;

static void *main_task(void *arg) {
    (void)arg;
    size_t n = n_tasks;
    tr_task **t = calloc(n, sizeof *t);
    CHECK(t != NULL);
    t[0] = tr_spawn(sleeper, NULL);
    CHECK(t[0] != NULL);
    for (size_t i = 1; i < n; i++) {
        t[i] = tr_spawn(awaiter, t[i - 1]);
        CHECK(t[i] != NULL);
    }
    tr_sleep(20ull * 1000 * 1000); /* every awaiter in its tr_await */

    tr_graph *up = tr_await_graph(t[0]);
    CHECK(up != NULL);
    CHECK_EQ(tr_graph_size(up), n);
    const tr_graph_node *last = tr_graph_get(up, n - 1);
    CHECK(last != NULL);
    CHECK(last->task == t[n - 1]);
    CHECK_EQ(last->depth, n - 1);
    CHECK_EQ(last->dir, TR_GRAPH_AWAITED_BY);
    CHECK(!last->cycle && !last->seen);
    tr_graph_free(up);

    tr_graph *down = tr_await_graph(t[n - 1]);
    CHECK(down != NULL);
    CHECK_EQ(tr_graph_size(down), n);
    last = tr_graph_get(down, n - 1);
    CHECK(last != NULL);
    CHECK(last->task == t[0]);
    CHECK_EQ(last->depth, n - 1);
    CHECK_EQ(last->dir, TR_GRAPH_AWAITS);
    CHECK(!last->cycle && !last->seen);
    CHECK(last->waits_on != NULL && strcmp(last->waits_on, "sleep") == 0);
    tr_graph_free(down);

    tr_task_cancel(t[0]);
    for (size_t i = 0; i < n; i++) {
        tr_await(t[i], NULL);
        tr_task_release(t[i]);
    }
    free(t);
    return NULL;
}

int main(void) {
    /* Under valgrind and the sanitizers (TSan takes some 30 s to start 20000 fibers; the two
     * graphs, 0.2 s): 5000, still five times the depth that overflowed a debug build. */
    n_tasks = RUNNING_ON_VALGRIND || REGRESS_SANITIZED ? 5000 : 20000;
    CHECK_EQ(tr_run(main_task, NULL, NULL), 0);
    return 0;
}
