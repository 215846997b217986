/*
 * While a tr_signal_wait for SIGTERM is active, SIGTERM's disposition is the runtime's
 * forwarding handler; the program's own comes back when the last such wait ends, however it
 * ends: cancelled, past its deadline, or woken. Here the program's disposition is a handler of
 * its own: after a cancelled wait and after an expired one, sigaction reports that handler
 * with its flags and mask again, and a SIGTERM then sent to a thread that does not block it
 * runs that handler. While one of two waits is cancelled, the other keeps the forwarding: the
 * signal wakes it and does not reach the program's handler. No signalfd is left open.
 */
#include "regress.h"

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#define MS 1000000ull

static atomic_int handled; /* SIGTERMs the program's handler saw */

static void program_handler(int sig) {
    (void)sig;
    atomic_fetch_add(&handled, 1);
}

static struct sigaction mine; /* as sigaction reports it back */

static bool is_mine(void) {
    struct sigaction now;
    CHECK_EQ(sigaction(SIGTERM, NULL, &now), 0);
    return !(now.sa_flags & SA_SIGINFO) && now.sa_handler == program_handler &&
           now.sa_flags == mine.sa_flags && sigismember(&now.sa_mask, SIGUSR1) == 1 &&
           sigismember(&now.sa_mask, SIGUSR2) == 0;
}

static void nap_ms(long ms) {
    struct timespec ts = {0, ms * 1000000L};
    nanosleep(&ts, NULL);
}

/* A thread that takes SIGTERM (the loop thread blocks it) sends it to itself. */
static void *term_self(void *arg) {
    (void)arg;
    sigset_t term;
    sigemptyset(&term);
    sigaddset(&term, SIGTERM);
    CHECK_EQ(pthread_sigmask(SIG_UNBLOCK, &term, NULL), 0);
    CHECK_EQ(pthread_kill(pthread_self(), SIGTERM), 0);
    return NULL;
}

static void send_from_thread(void) {
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, term_self, NULL), 0);
    CHECK_EQ(pthread_join(th, NULL), 0);
}

struct waiter {
    int res;
    atomic_bool returned;
};

static void *wait_term(void *arg) {
    struct waiter *w = arg;
    w->res = tr_signal_wait((const int[]){SIGTERM}, 1);
    atomic_store(&w->returned, true);
    return NULL;
}

static tr_task *spawn_waiter(struct waiter *w) {
    *w = (struct waiter){.res = 1};
    tr_task *t = tr_spawn(wait_term, w);
    CHECK(t != NULL);
    return t;
}

static void cancel_waiter(tr_task *t, struct waiter *w) {
    CHECK_EQ(tr_task_cancel(t), 1);
    CHECK_EQ(tr_await(t, NULL), -ECANCELED); /* it returns, and finishes cancelled */
    tr_task_release(t);
    CHECK_EQ(w->res, -ECANCELED);
}

static void *main_task(void *arg) {
    (void)arg;
    int fds = count_fds();

    /* Cancelled: the program's handler is back. */
    struct waiter a, b;
    tr_task *ta = spawn_waiter(&a);
    CHECK_EQ(tr_sleep(10 * MS), 0); /* the waiter is in its read */
    CHECK(!is_mine());              /* the wait forwards meanwhile */
    cancel_waiter(ta, &a);
    CHECK(is_mine());

    /* Past its deadline: the same. */
    tr_deadline d;
    CHECK_EQ(tr_deadline_begin(&d, 10 * MS), 0);
    CHECK_EQ(tr_signal_wait((const int[]){SIGTERM}, 1), -ETIME);
    tr_deadline_end(&d);
    CHECK(is_mine());

    /* One of two waits cancelled: the other still forwards, and gets the signal. */
    ta = spawn_waiter(&a);
    tr_task *tb = spawn_waiter(&b);
    CHECK_EQ(tr_sleep(10 * MS), 0);
    cancel_waiter(ta, &a);
    CHECK(!is_mine());
    send_from_thread();
    /* Short naps in nanosleep too: under valgrind no other thread runs while the loop sleeps
     * in io_uring_enter (the signal is already forwarded here; this is for its completion). */
    for (int i = 0; i < 5000 && !atomic_load(&b.returned); i++) {
        nap_ms(1);
        CHECK_EQ(tr_sleep(1 * MS), 0);
    }
    CHECK_EQ(tr_await(tb, NULL), 0);
    tr_task_release(tb);
    CHECK_EQ(b.res, SIGTERM);
    CHECK_EQ(atomic_load(&handled), 0);
    CHECK(is_mine());

    /* No wait: the signal runs the program's handler. */
    send_from_thread();
    CHECK_EQ(atomic_load(&handled), 1);
    CHECK(is_mine());
    CHECK_EQ(count_fds(), fds);
    return NULL;
}

int main(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = program_handler;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaddset(&sa.sa_mask, SIGUSR1);
    CHECK_EQ(sigaction(SIGTERM, &sa, NULL), 0);
    CHECK_EQ(sigaction(SIGTERM, NULL, &mine), 0);
    CHECK_EQ(tr_run(main_task, NULL, NULL), 0);
    return 0;
}
