/*
 * tr_dump_on_signal: the dump comes from the signal handler, so it must work when no loop
 * can do anything: here both loops of the child are stuck in busy tasks (loop 0's main task
 * and a task on loop 1 spin). A thread of the child that blocks the signal sends it twice
 * (kill, then pthread_kill to the main thread: loop 1's thread blocks signals, so both land
 * on loop 0's), reads each dump from the pipe given to tr_dump_on_signal, then lets the busy
 * tasks end. The parent checks every dump's rows and that the child went on to exit 0.
 * Bad input and turning it off are checked in the parent.
 */
#include "regress.h"

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#define LONG_NS (60ull * 1000 * 1000 * 1000)

static atomic_int stop;
static int pipe_fd[2];
static pthread_t main_thread;

static void spin(void) {
    while (!atomic_load(&stop)) {
#if defined(TASKRING_TSAN)
        /* TSan delivers a signal at the next intercepted call: give it one. */
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
#endif
    }
}

static void *sleeper(void *arg) {
    (void)arg;
    tr_sleep(LONG_NS);
    return NULL;
}

static void *busy(void *arg) {
    (void)arg;
    spin();
    return NULL;
}

/* Read one dump: up to its last line, "taskring dump: N tasks". */
static void read_dump(FILE *out) {
    static char buf[1 << 16];
    size_t len = 0;
    for (;;) {
        ssize_t n = read(pipe_fd[0], buf + len, sizeof buf - 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        CHECK(n > 0);
        len += (size_t)n;
        buf[len] = '\0';
        const char *end = strstr(buf, " tasks\n");
        if (end && strstr(buf, "taskring dump: signal")) {
            fwrite(buf, 1, len, out);
            fflush(out);
            return;
        }
        CHECK(len < sizeof buf - 1);
    }
}

static void *kicker(void *arg) {
    (void)arg;
    sigset_t quit;
    sigemptyset(&quit);
    sigaddset(&quit, SIGQUIT);
    pthread_sigmask(SIG_BLOCK, &quit, NULL); /* not here: on a busy loop's thread */
    struct timespec ts = {0, 100 * 1000 * 1000};
    nanosleep(&ts, NULL); /* both loops are spinning by now */
    CHECK_EQ(kill(getpid(), SIGQUIT), 0);
    read_dump(stdout);
    CHECK_EQ(pthread_kill(main_thread, SIGQUIT), 0);
    read_dump(stdout);
    atomic_store(&stop, 1);
    return NULL;
}

static void *main_task(void *arg) {
    (void)arg;
    tr_task *s = tr_spawn_named(sleeper, NULL, "sleeper");
    tr_task *b = tr_spawn_on_named(1, busy, NULL, "busy-1");
    CHECK(s && b);
    tr_sleep(10 * 1000 * 1000); /* the sleeper sleeps, busy-1 spins */
    pthread_t k;
    CHECK_EQ(pthread_create(&k, NULL, kicker, NULL), 0);
    spin(); /* loop 0 stuck too */
    pthread_join(k, NULL);
    tr_task_cancel(s);
    tr_await(s, NULL);
    tr_await(b, NULL);
    tr_task_release(s);
    tr_task_release(b);
    return NULL;
}

static int child(void *arg) {
    (void)arg;
    alarm(60);
    main_thread = pthread_self();
    CHECK_EQ(pipe(pipe_fd), 0);
    CHECK_EQ(tr_dump_on_signal(SIGQUIT, pipe_fd[1]), 0);
    tr_options opts = {.loops = 2};
    int rc = tr_run_with(&opts, main_task, NULL, NULL);
    printf("continued: tr_run returned %d\n", rc);
    return rc == 0 ? 0 : 2;
}

static void check_dump(const char *d, const char *end) {
    size_t rows = 0;
    for (const char *p = strstr(d, "\n  id="); p && p < end; p = strstr(p + 1, "\n  id="))
        rows++;
    unsigned long tasks = 0;
    const char *last = strstr(d, "\ntaskring dump: ");
    CHECK(last && last < end && sscanf(last, "\ntaskring dump: %lu tasks", &tasks) == 1);
    CHECK_EQ(rows, tasks);
    CHECK_EQ(tasks, 3); /* main, sleeper, busy-1 */
    struct {
        const char *name, *what;
    } want[] = {
        {"name='Task-1'", "loop=0 state=running "},
        {"name='sleeper'", "wait=sleep deadline=+"},
        {"name='busy-1'", "loop=1 state=running "},
    };
    for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
        const char *p = strstr(d, want[i].name);
        CHECK(p && p < end);
        const char *line = p;
        while (line[-1] != '\n')
            line--;
        const char *eol = strchr(p, '\n');
        char row[512];
        snprintf(row, sizeof row, "%.*s", (int)(eol - line), line);
        if (!strstr(row, want[i].what)) {
            fprintf(stderr, "row lacks \"%s\": %s\n", want[i].what, row);
            exit(1);
        }
        CHECK(strstr(row, " fn=0x") != NULL); /* addresses: no dladdr in a handler */
    }
}

int main(void) {
    /* Bad input, in the parent. */
    CHECK_EQ(tr_dump_on_signal(SIGSEGV, 2), -EINVAL);
    CHECK_EQ(tr_dump_on_signal(SIGKILL, 2), -EINVAL);
    CHECK_EQ(tr_dump_on_signal(-1, 2), -EINVAL);
    CHECK_EQ(tr_dump_on_signal(SIGQUIT, -1), -EBADF);
    CHECK_EQ(tr_dump_on_signal(SIGQUIT, 1000), -EBADF);
    /* On, then off: the default disposition comes back. */
    CHECK_EQ(tr_dump_on_signal(SIGUSR2, 2), 0);
    struct sigaction sa;
    CHECK_EQ(sigaction(SIGUSR2, NULL, &sa), 0);
    CHECK(sa.sa_handler != SIG_DFL);
    CHECK_EQ(tr_dump_on_signal(0, -1), 0);
    CHECK_EQ(sigaction(SIGUSR2, NULL, &sa), 0);
    CHECK(sa.sa_handler == SIG_DFL);

    struct child_output o;
    run_child(child, NULL, &o);
    if (!WIFEXITED(o.status) || WEXITSTATUS(o.status) != 0 ||
        !strstr(o.out, "continued: tr_run returned 0")) {
        fprintf(stderr, "child status 0x%x\nstdout:\n%s\nstderr:\n%s", o.status, o.out, o.err);
        return 1;
    }
    const char *first = strstr(o.out, "taskring dump: signal 3");
    CHECK(first != NULL);
    const char *second = strstr(first + 1, "taskring dump: signal 3");
    CHECK(second != NULL);
    check_dump(first, second);
    check_dump(second, second + strlen(second));
    printf("%s", o.out);
    return 0;
}
