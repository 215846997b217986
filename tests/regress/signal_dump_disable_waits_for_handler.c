/*
 * tr_dump_on_signal(0) returns only once no dump handler is in flight, so that the caller may
 * close the fd. A plain thread takes the signal and its handler waits on a full pipe (up to
 * the write bound, about 1 s); the main thread turns the dump off meanwhile, then drains the
 * pipe. Had it returned at once, the handler would find room and write its dump into it: only
 * the filler may come out.
 */
#include "regress.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

static atomic_bool stop;

static void *idle_thread(void *arg) {
    (void)arg;
    while (!atomic_load(&stop))
        usleep(1000);
    return NULL;
}

static uint64_t mono_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int main(void) {
    int p[2];
    CHECK_EQ(pipe(p), 0);
    CHECK_EQ(fcntl(p[0], F_SETFL, O_NONBLOCK), 0);
    CHECK_EQ(fcntl(p[1], F_SETFL, O_NONBLOCK), 0);
    char junk[4096];
    memset(junk, 'x', sizeof junk);
    size_t filled = 0;
    for (ssize_t n; (n = write(p[1], junk, sizeof junk)) > 0;)
        filled += (size_t)n;
    CHECK(filled > 0);

    /* Every other thread blocks the signal: the idle thread takes it. */
    sigset_t usr1, old;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, idle_thread, NULL), 0);
    CHECK_EQ(pthread_sigmask(SIG_BLOCK, &usr1, &old), 0);
    CHECK_EQ(tr_dump_on_signal(SIGUSR1, p[1]), 0);
    CHECK_EQ(pthread_kill(th, SIGUSR1), 0);
    usleep(200 * 1000); /* the handler is waiting for room */

    uint64_t t0 = mono_ns();
    CHECK_EQ(tr_dump_on_signal(0, -1), 0);
    uint64_t waited = mono_ns() - t0;
    /* Drain the pipe: the handler, had it still been running, would now write. */
    size_t got = 0;
    char buf[4096];
    for (int quiet = 0; quiet < 30;) {
        ssize_t n = read(p[0], buf, sizeof buf);
        if (n > 0) {
            for (ssize_t i = 0; i < n; i++)
                CHECK(buf[i] == 'x');
            got += (size_t)n;
            quiet = 0;
        } else {
            CHECK(n < 0 && errno == EAGAIN);
            quiet++;
            usleep(10 * 1000);
        }
    }
    CHECK_EQ(got, filled);
    CHECK(waited < 5ull * 1000 * 1000 * 1000);

    atomic_store(&stop, true);
    CHECK_EQ(pthread_join(th, NULL), 0);
    CHECK_EQ(pthread_sigmask(SIG_SETMASK, &old, NULL), 0);
    close(p[0]);
    close(p[1]);
    return 0;
}
