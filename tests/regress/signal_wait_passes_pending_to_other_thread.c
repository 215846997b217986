/*
 * When a thread's last wait for a signal ends while a wait on another thread still waits for
 * it, a signal of that number still pending for the first thread (one forwarded to it just as
 * its wait took another, say) is passed on to the other thread, not left there for a wait that
 * may never come.
 *
 * Made deterministic with two signals: loop A waits for {SIGTERM, SIGUSR1}; loop B, on another
 * thread, blocks both, sends both to its own thread, then waits for the same set. B's wait
 * takes one and ends with the other pending for B alone; that one must reach A's wait.
 */
#include "regress.h"

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#define MS 1000000ull

static const int both[] = {SIGTERM, SIGUSR1};

static atomic_bool a_waiting, a_returned;
static int a_res = 1, b_res = 1;

static void nap_ms(long ms) {
    struct timespec ts = {0, ms * 1000000L};
    nanosleep(&ts, NULL);
}

static void *a_wait(void *arg) {
    (void)arg;
    tr_deadline d;
    CHECK_EQ(tr_deadline_begin(&d, 5000 * MS), 0); /* not passed on: -ETIME */
    a_res = tr_signal_wait(both, 2);
    tr_deadline_end(&d);
    atomic_store(&a_returned, true);
    return NULL;
}

static void *a_main(void *arg) {
    (void)arg;
    tr_task *t = tr_spawn(a_wait, NULL);
    CHECK(t != NULL);
    CHECK_EQ(tr_sleep(10 * MS), 0); /* the waiter runs first and is then in its read */
    atomic_store(&a_waiting, true);
    /* Short naps in nanosleep: valgrind lets no other thread run while a loop sleeps in
     * io_uring_enter. */
    while (!atomic_load(&a_returned)) {
        nap_ms(1);
        CHECK_EQ(tr_sleep(1 * MS), 0);
    }
    CHECK_EQ(tr_await(t, NULL), 0);
    tr_task_release(t);
    return NULL;
}

static void *b_main(void *arg) {
    (void)arg;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGUSR1);
    CHECK_EQ(pthread_sigmask(SIG_BLOCK, &set, NULL), 0);
    CHECK_EQ(pthread_kill(pthread_self(), SIGTERM), 0);
    CHECK_EQ(pthread_kill(pthread_self(), SIGUSR1), 0);
    b_res = tr_signal_wait(both, 2);
    return NULL;
}

static void *run_a(void *arg) {
    CHECK_EQ(tr_run(a_main, arg, NULL), 0);
    return NULL;
}

static void *run_b(void *arg) {
    CHECK_EQ(tr_run(b_main, arg, NULL), 0);
    return NULL;
}

int main(void) {
    pthread_t a, b;
    CHECK_EQ(pthread_create(&a, NULL, run_a, NULL), 0);
    for (int i = 0; i < 10000 && !atomic_load(&a_waiting); i++)
        nap_ms(1);
    CHECK(atomic_load(&a_waiting));
    CHECK_EQ(pthread_create(&b, NULL, run_b, NULL), 0);
    CHECK_EQ(pthread_join(b, NULL), 0);
    CHECK_EQ(pthread_join(a, NULL), 0);
    CHECK(b_res == SIGTERM || b_res == SIGUSR1);
    int left_for_b = b_res == SIGTERM ? SIGUSR1 : SIGTERM;
    CHECK_EQ(a_res, left_for_b);
    struct sigaction now;
    for (int i = 0; i < 2; i++) {
        CHECK_EQ(sigaction(both[i], NULL, &now), 0);
        CHECK(!(now.sa_flags & SA_SIGINFO) && now.sa_handler == SIG_DFL);
    }
    return 0;
}
