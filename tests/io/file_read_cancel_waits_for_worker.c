/*
 * A read that runs on the worker pool (the epoll backend's way with an fd that takes no
 * RWF_NOWAIT and is blocking: here a pty, the same path as a regular file whose pages must be
 * read) is cancelled while a worker is blocked in it. The call must return only once the
 * worker's read has returned, with what it read (bytes moved are never dropped), so that the
 * buffer on the task's stack is never written after the call. A second read, cancelled while
 * still queued behind the first (one worker), is taken back and returns -ECANCELED at once.
 * On io_uring the same program checks the same contract (the kernel's cancellation).
 */
#include "io_test.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct reader {
    int fd;
    char buf[16];
    int res;
    bool returned;
};

static void *read_task(void *arg) {
    struct reader *r = arg;
    r->res = tr_read(r->fd, r->buf, sizeof r->buf, -1);
    r->returned = true;
    return NULL;
}

static void *main_task(void *arg) {
    int *skip = arg;
    int master = posix_openpt(O_RDWR | O_NOCTTY);
    if (master < 0 || grantpt(master) != 0 || unlockpt(master) != 0) {
        *skip = 1;
        return NULL;
    }
    int slave = open(ptsname(master), O_RDWR | O_NOCTTY);
    T_REQUIRE(slave >= 0);
    struct reader a = {.fd = slave}, b = {.fd = slave};
    tr_task *ta = tr_spawn(read_task, &a);
    T_REQUIRE(ta);
    tr_sleep(200 * MS); /* a is blocked in its read (on a worker, on epoll) */
    tr_task *tb = tr_spawn(read_task, &b);
    T_REQUIRE(tb);
    tr_sleep(10 * MS); /* b is queued behind a (one worker) */

    T_EQ(tr_task_cancel(tb), 1);
    T_EQ(tr_task_cancel(ta), 1);
    for (int i = 0; i < 2000 && !b.returned; i++)
        tr_sleep(1 * MS);
    tr_sleep(20 * MS); /* and a little more for a, which must not return */
    T_CHECK(b.returned);
    T_EQ(b.res, -ECANCELED); /* taken back before anyone read for it */
    if (tr_loop_backend(0) == TR_BACKEND_EPOLL)
        T_CHECK(!a.returned); /* its worker still reads: the call waits for it */
    /* The data the worker (or the kernel) reads. */
    T_EQ(write(master, "late\n", 5), 5);
    tr_await(ta, NULL);
    T_CHECK(a.returned);
    if (a.res >= 0) {
        T_CHECK(a.res >= 4 && memcmp(a.buf, "late", 4) == 0); /* the bytes are kept */
    } else {
        T_EQ(a.res, -ECANCELED); /* io_uring: cancelled before anything came */
    }
    tr_task_release(ta);
    tr_task_release(tb);
    close(slave);
    close(master);
    return NULL;
}

static void test_cancel_waits_for_worker(void **state) {
    (void)state;
    int skip = 0;
    tr_options o = {.size = sizeof o, .workers = 1};
    io_run_with(&o, main_task, &skip);
    if (skip)
        TEST_SKIP("no pty here");
}

int main(int argc, char **argv) {
    io_parse_args(&argc, argv);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_cancel_waits_for_worker, io_setup),
    };
    return test_result(cmocka_run_group_tests(tests, NULL, NULL));
}
