/*
 * A blocking fd that takes no RWF_NOWAIT (a terminal, here a pty's slave side without
 * O_NONBLOCK, as an interactive stdin is): tr_read on it waits for readiness like any socket,
 * so cancelling it or its deadline ends it at once (io_uring polls it too). The bug: epoll ran
 * the read on a worker thread, blocked in read(2) until input came, and a cancelled call
 * (or tr_run's end) waited for that. Two readers of one line: one gets it, the other goes on
 * waiting without blocking the loop, and gets the next line.
 */
#include "io_test.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int master = -1, slave = -1;
static atomic_bool finished;

/* Unblocks a stuck worker (the bug) after 2 s, so that the test fails instead of hanging. */
static void *rescuer(void *arg) {
    (void)arg;
    for (int i = 0; i < 200 && !atomic_load(&finished); i++)
        usleep(10000);
    if (!atomic_load(&finished)) {
        for (int i = 0; i < 8; i++)
            (void)!write(master, "rescue\n", 7);
    }
    return NULL;
}

struct op {
    int res;
    char buf[32];
    uint64_t bound_ns;
};

static void *read_task(void *arg) {
    struct op *o = arg;
    tr_deadline d;
    if (o->bound_ns)
        tr_deadline_begin(&d, o->bound_ns);
    o->res = tr_read(slave, o->buf, sizeof o->buf - 1, -1);
    if (o->bound_ns)
        tr_deadline_end(&d);
    return NULL;
}

static void *main_task(void *arg) {
    (void)arg;
    /* Cancelled while it waits: -ECANCELED at once. */
    struct op c = {0};
    tr_task *t = tr_spawn(read_task, &c);
    T_REQUIRE(t);
    tr_sleep(5 * MS);
    uint64_t t0 = io_now_ns();
    tr_task_cancel(t);
    tr_await(t, NULL);
    tr_task_release(t);
    T_EQ(c.res, -ECANCELED);
    T_CHECK(io_now_ns() - t0 < 1000 * MS);

    /* Its deadline: -ETIME at the deadline. */
    struct op d = {.bound_ns = 20 * MS};
    t0 = io_now_ns();
    t = tr_spawn(read_task, &d);
    tr_await(t, NULL);
    tr_task_release(t);
    T_EQ(d.res, -ETIME);
    T_CHECK(io_now_ns() - t0 < 1000 * MS);

    /* Two readers, one line: the other keeps waiting, the loop keeps running. */
    struct op a = {.bound_ns = 1500 * MS}, b = {.bound_ns = 1500 * MS};
    tr_task *ta = tr_spawn(read_task, &a), *tb = tr_spawn(read_task, &b);
    tr_sleep(5 * MS);
    T_EQ(write(master, "one\n", 4), 4);
    t0 = io_now_ns();
    tr_sleep(20 * MS);
    T_CHECK(io_now_ns() - t0 < 500 * MS); /* the loop was not blocked in a read */
    T_EQ(write(master, "two\n", 4), 4);
    tr_await(ta, NULL);
    tr_await(tb, NULL);
    tr_task_release(ta);
    tr_task_release(tb);
    T_EQ(a.res, 4);
    T_EQ(b.res, 4);
    T_CHECK(strcmp(a.buf, b.buf) != 0); /* one line each */
    return NULL;
}

static void test_blocking_tty_read_cancels(void **state) {
    (void)state;
    master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (master < 0 || grantpt(master) < 0 || unlockpt(master) < 0) {
        TEST_SKIP("no pty here");
    }
    slave = open(ptsname(master), O_RDWR | O_NOCTTY | O_CLOEXEC); /* blocking */
    assert_true(slave >= 0);
    pthread_t th;
    atomic_store(&finished, false);
    assert_int_equal(pthread_create(&th, NULL, rescuer, NULL), 0);
    io_run(main_task, NULL);
    atomic_store(&finished, true);
    pthread_join(th, NULL);
    assert_int_equal(fcntl(slave, F_GETFL) & O_NONBLOCK, 0); /* the program's flags unchanged */
    close(slave);
    close(master);
}

int main(int argc, char **argv) {
    io_parse_args(&argc, argv);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_blocking_tty_read_cancels, io_setup),
    };
    return test_result(cmocka_run_group_tests(tests, NULL, NULL));
}
