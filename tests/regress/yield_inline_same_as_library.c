/*
 * tr_yield() is taskring.h's inline fast path (a macro), with the library's tr_yield behind
 * it for every case the fast path leaves alone. Both must behave as one call:
 *   - outside tr_run: -EPERM;
 *   - round-robin order, the inline call and the library's `(tr_yield)()` mixed: the same
 *     FIFO order as ever;
 *   - a task that has never run at the head of the run queue (the library gives it a stack);
 *   - a cancelled caller gets -ECANCELED at once, without switching;
 *   - a task that yields flat out still lets a sleeper wake (the turn ends; the loop polls);
 *   - the same on a second loop of the runtime (its own thread: the thread-local differs).
 * And in a plain build on x86-64 the fast path must be there at all (TR__INLINE_YIELD), and
 * must do the switching: in the round-robin, only the calls written `(tr_yield)()` and a few
 * turn ends may reach the library (loop->library_yields). A header change that dropped the
 * fast path, or a layout mismatch that made it fall back every time, shows here; sanitizer
 * builds leave the fast path out.
 */
#include "regress.h"

#include "internal.h"

#include <stdatomic.h>

enum { RR_TASKS = 3, RR_ROUNDS = 200 };

static int order[RR_TASKS * RR_ROUNDS];
static int order_len;

static void *rr_task(void *arg) {
    int id = (int)(intptr_t)arg;
    for (int r = 0; r < RR_ROUNDS; r++) {
        order[order_len++] = id;
        /* Alternate the inline call and the library's, by task and round. */
        int rc = (r + id) % 2 ? tr_yield() : (tr_yield)();
        CHECK_EQ(rc, 0);
    }
    return NULL;
}

static void round_robin(void) {
    order_len = 0;
    uint64_t library_before = tr_tls_loop->library_yields;
    tr_task *t[RR_TASKS];
    for (int i = 0; i < RR_TASKS; i++)
        CHECK((t[i] = tr_spawn(rr_task, (void *)(intptr_t)i)) != NULL);
    for (int i = 0; i < RR_TASKS; i++) {
        CHECK_EQ(tr_await(t[i], NULL), 0);
        tr_task_release(t[i]);
    }
    CHECK_EQ(order_len, RR_TASKS * RR_ROUNDS);
    uint64_t library = tr_tls_loop->library_yields - library_before;
#if defined(TR__INLINE_YIELD) && !REGRESS_SANITIZED
    uint64_t explicit_calls = RR_TASKS * RR_ROUNDS / 2, turn_ends = RR_TASKS * RR_ROUNDS / 64 + 8;
    if (library > explicit_calls + turn_ends) {
        fprintf(stderr, "%llu of %d yields reached the library (written so: %llu)\n",
                (unsigned long long)library, RR_TASKS * RR_ROUNDS,
                (unsigned long long)explicit_calls);
        exit(1);
    }
#else
    CHECK_EQ(library, (uint64_t)(RR_TASKS * RR_ROUNDS)); /* every yield is the library's */
#endif
    for (int k = 0; k < order_len; k++)
        if (order[k] != k % RR_TASKS) {
            fprintf(stderr, "run %d was task %d, expected %d (FIFO round-robin)\n", k, order[k],
                    k % RR_TASKS);
            exit(1);
        }
}

static atomic_int spins;
static atomic_bool stop_spinning;

static void *spinner(void *arg) {
    (void)arg;
    while (!atomic_load(&stop_spinning)) {
        int rc = tr_yield();
        if (rc < 0)
            return (void *)(intptr_t)rc;
        atomic_fetch_add(&spins, 1);
    }
    return NULL;
}

static void *until_cancelled(void *arg) {
    int *seen = arg;
    for (;;) {
        int rc = tr_yield();
        if (rc < 0) {
            *seen = rc;
            /* Cancelled: the next one returns at once too, on the inline path's check. */
            CHECK_EQ(tr_yield(), -ECANCELED);
            return NULL;
        }
    }
}

static void *first_run(void *arg) {
    *(bool *)arg = true;
    return NULL;
}

/* Two spinners on this loop and a sleep that must end while they spin. */
static void sleeper_wakes_beside_spinners(void) {
    atomic_store(&stop_spinning, false);
    atomic_store(&spins, 0);
    tr_task *a = tr_spawn(spinner, NULL), *b = tr_spawn(spinner, NULL);
    CHECK(a && b);
    CHECK_EQ(tr_sleep(2000000), 0); /* 2 ms: returns although a and b never stop yielding */
    CHECK(atomic_load(&spins) > 0);
    atomic_store(&stop_spinning, true);
    CHECK_EQ(tr_await(a, NULL), 0);
    CHECK_EQ(tr_await(b, NULL), 0);
    tr_task_release(a);
    tr_task_release(b);
}

static void *on_loop_one(void *arg) {
    (void)arg;
    CHECK_EQ(tr_loop_id(), 1);
    round_robin();
    sleeper_wakes_beside_spinners();
    return NULL;
}

static void *main_task(void *arg) {
    (void)arg;
    round_robin();

    /* The head never ran: the fast path hands it to the library, which gives it a stack. */
    bool ran = false;
    tr_task *f = tr_spawn(first_run, &ran);
    CHECK(f != NULL);
    CHECK_EQ(tr_yield(), 0);
    CHECK(ran);
    tr_task_release(f);

    /* Cancelled while yielding, with another task always runnable (a spinner), so that
     * the fast path, not an empty run queue, is what must notice the cancellation. */
    atomic_store(&stop_spinning, false);
    tr_task *s = tr_spawn(spinner, NULL);
    CHECK(s != NULL);
    int seen = 0;
    tr_task *c = tr_spawn(until_cancelled, &seen);
    CHECK(c != NULL);
    CHECK_EQ(tr_yield(), 0); /* it runs and yields back */
    CHECK_EQ(tr_task_cancel(c), 1);
    CHECK_EQ(tr_await(c, NULL), -ECANCELED);
    CHECK_EQ(seen, -ECANCELED);
    tr_task_release(c);
    atomic_store(&stop_spinning, true);
    CHECK_EQ(tr_await(s, NULL), 0);
    tr_task_release(s);

    sleeper_wakes_beside_spinners();

    tr_task *other = tr_spawn_on(1, on_loop_one, NULL);
    CHECK(other != NULL);
    CHECK_EQ(tr_await(other, NULL), 0);
    tr_task_release(other);
    return NULL;
}

int main(void) {
#if !defined(TR__INLINE_YIELD)
#if defined(__x86_64__) && !REGRESS_SANITIZED && !defined(__SANITIZE_ADDRESS__) &&                 \
    !defined(__SANITIZE_THREAD__)
    fprintf(stderr, "taskring.h has no inline tr_yield in a plain x86-64 build\n");
    return 1;
#endif
    printf("inline tr_yield left out in this build: testing the library's only\n");
#endif
    CHECK_EQ(tr_yield(), -EPERM);
    CHECK_EQ((tr_yield)(), -EPERM);
    tr_options opts = {0};
    opts.size = sizeof opts;
    opts.loops = 2;
    CHECK_EQ(tr_run_with(&opts, main_task, NULL, NULL), 0);
    CHECK_EQ(tr_yield(), -EPERM);
    return 0;
}
