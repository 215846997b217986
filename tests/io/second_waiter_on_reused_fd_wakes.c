/*
 * The program closes an fd with close(2) while a task still waits on it (tr_poll), and the
 * number comes back for a new socket. A second task waits on the new socket, for the same
 * readiness as the stale waiter: it must be woken by its own data. (epoll: the stale wait's
 * registration went with the closed file; the new wait must ask again, not trust it.)
 */
#include "io_test.h"

#include <errno.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

struct op {
    int fd;
    int res;
    uint64_t bound_ns;
};

static void *poll_task(void *arg) {
    struct op *o = arg;
    o->res = tr_poll(o->fd, POLLIN);
    return NULL;
}

static void *recv_task(void *arg) {
    struct op *o = arg;
    char buf[8];
    tr_deadline d;
    tr_deadline_begin(&d, o->bound_ns);
    o->res = tr_recv(o->fd, buf, sizeof buf, 0);
    tr_deadline_end(&d);
    return NULL;
}

static void *main_task(void *arg) {
    (void)arg;
    for (int round = 0; round < 5; round++) {
        int sv[2];
        T_REQUIRE(io_socketpair(SOCK_STREAM, sv) == 0);
        int num = sv[1];
        struct op a = {.fd = num};
        tr_task *ta = tr_spawn(poll_task, &a);
        T_REQUIRE(ta);
        tr_sleep(2 * MS); /* a waits on sv[1] */
        close(sv[0]);     /* behind taskring's back; both ends, so that nothing wakes a */
        close(sv[1]);

        int nv[2];
        T_REQUIRE(io_socketpair(SOCK_STREAM, nv) == 0);
        int mine = nv[0] == num ? 0 : nv[1] == num ? 1 : -1;
        T_REQUIRE(mine >= 0); /* the number came back */
        struct op b = {.fd = nv[mine], .bound_ns = 3000 * MS};
        tr_task *tb = tr_spawn(recv_task, &b);
        T_REQUIRE(tb);
        tr_sleep(2 * MS);
        T_EQ(send(nv[1 - mine], "new", 3, 0), 3);
        tr_await(tb, NULL);
        T_EQ(b.res, 3); /* its data woke it (the bug: -ETIME, never woken) */
        tr_task_release(tb);

        tr_task_cancel(ta); /* io_uring: still waiting on the closed file; epoll: maybe woken */
        tr_await(ta, NULL);
        tr_task_release(ta);
        close(nv[0]);
        close(nv[1]);
    }
    return NULL;
}

static void test_second_waiter_on_reused_fd_wakes(void **state) {
    (void)state;
    io_run(main_task, NULL);
}

int main(int argc, char **argv) {
    io_parse_args(&argc, argv);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_second_waiter_on_reused_fd_wakes, io_setup),
    };
    return test_result(cmocka_run_group_tests(tests, NULL, NULL));
}
