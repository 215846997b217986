/*
 * The signal dump to a pipe nobody drains: the handler, every signal masked, once blocked in
 * write(2) for good and stopped its loop (SIGTERM stayed pending). It now gives up after its
 * write bound (about 1 s): the dump is cut short, the handler returns, the program goes on.
 * A child fills a pipe it never reads, blocking and then non-blocking, raises the signal from
 * a task and must get past raise() in a few seconds; the parent kills it after 20 s.
 */
#include "regress.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define LONG_NS (60ull * 1000 * 1000 * 1000)

static int pipe_fd[2];

static uint64_t mono_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void *sleeper(void *arg) {
    (void)arg;
    tr_sleep(LONG_NS);
    return NULL;
}

static void fill(int fd) {
    int flags = fcntl(fd, F_GETFL);
    CHECK(flags >= 0);
    CHECK_EQ(fcntl(fd, F_SETFL, flags | O_NONBLOCK), 0);
    char junk[4096];
    memset(junk, 'x', sizeof junk);
    while (write(fd, junk, sizeof junk) > 0) {
    }
    CHECK(errno == EAGAIN || errno == EWOULDBLOCK);
    CHECK_EQ(fcntl(fd, F_SETFL, flags), 0);
}

static void dump_once(bool nonblocking) {
    if (nonblocking)
        CHECK_EQ(fcntl(pipe_fd[1], F_SETFL, fcntl(pipe_fd[1], F_GETFL) | O_NONBLOCK), 0);
    uint64_t t0 = mono_ns();
    CHECK_EQ(raise(SIGUSR1), 0);
    uint64_t took = mono_ns() - t0;
    CHECK(took < 5ull * 1000 * 1000 * 1000);
}

static void *main_task(void *arg) {
    (void)arg;
    tr_task *t[16];
    for (size_t i = 0; i < 16; i++)
        CHECK((t[i] = tr_spawn(sleeper, NULL)) != NULL);
    tr_sleep(10ull * 1000 * 1000);
    dump_once(false);
    dump_once(true);
    /* The loop still runs: a sleep ends, the tasks are cancelled and reaped. */
    tr_sleep(1000 * 1000);
    for (size_t i = 0; i < 16; i++) {
        tr_task_cancel(t[i]);
        tr_await(t[i], NULL);
        tr_task_release(t[i]);
    }
    return NULL;
}

int main(void) {
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        CHECK_EQ(pipe(pipe_fd), 0);
        fill(pipe_fd[1]);
        CHECK_EQ(tr_dump_on_signal(SIGUSR1, pipe_fd[1]), 0);
        CHECK_EQ(tr_run(main_task, NULL, NULL), 0);
        CHECK_EQ(tr_dump_on_signal(0, -1), 0);
        _exit(0);
    }
    int status = 0;
    for (int i = 0; i < 2000; i++) { /* 20 s */
        pid_t r = waitpid(pid, &status, WNOHANG);
        CHECK(r >= 0);
        if (r == pid) {
            CHECK(WIFEXITED(status));
            CHECK_EQ(WEXITSTATUS(status), 0);
            return 0;
        }
        usleep(10 * 1000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    fprintf(stderr, "the child is stuck in the signal dump\n");
    return 1;
}
