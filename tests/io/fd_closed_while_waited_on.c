/*
 * The program closes an fd with close(2) while a task waits in tr_recv on it. The wait is
 * then ended by cancellation or by its deadline, as any wait (it may also end with an error:
 * never does it hang past them or crash). Then the fd number comes back for new sockets,
 * many times: every wait on the new file is woken by its own data, so no registration that
 * belonged to the closed file (the epoll backend's) swallows a wake-up.
 */
#include "io_test.h"

#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

struct op {
    int fd;
    int res;
    bool returned;
    uint64_t bound_ns; /* bounded_recv_task's deadline */
};

static void *recv_task(void *arg) {
    struct op *o = arg;
    char buf[8];
    o->res = tr_recv(o->fd, buf, sizeof buf, 0);
    o->returned = true;
    return NULL;
}

static void *bounded_recv_task(void *arg) {
    struct op *o = arg;
    char buf[8];
    tr_deadline d;
    tr_deadline_begin(&d, o->bound_ns);
    o->res = tr_recv(o->fd, buf, sizeof buf, 0);
    tr_deadline_end(&d);
    o->returned = true;
    return NULL;
}

static void *main_task(void *arg) {
    (void)arg;
    for (int round = 0; round < 20; round++) {
        int sv[2];
        T_REQUIRE(io_socketpair(SOCK_STREAM, sv) == 0);
        struct op a = {.fd = sv[1]}, b = {.fd = sv[1], .bound_ns = 30 * MS};
        tr_task *ta = tr_spawn(recv_task, &a), *tb = tr_spawn(bounded_recv_task, &b);
        T_REQUIRE(ta && tb);
        tr_sleep(2 * MS);
        close(sv[1]); /* behind taskring's back, while both wait on it */
        close(sv[0]);
        T_EQ(tr_task_cancel(ta), 1);
        tr_await(ta, NULL);
        tr_await(tb, NULL);
        T_CHECK(a.returned && b.returned);
        T_CHECK(a.res == -ECANCELED || a.res <= 0);
        T_CHECK(b.res == -ETIME || b.res <= 0);
        tr_task_release(ta);
        tr_task_release(tb);

        /* The numbers come back: a wait on the new socket is woken by its data. */
        int nv[2];
        T_REQUIRE(io_socketpair(SOCK_STREAM, nv) == 0);
        /* Its deadline is far: it must be its data that wakes it (valgrind on a busy
         * machine can take tens of ms to send). */
        struct op c = {.fd = nv[1], .bound_ns = 5000 * MS};
        tr_task *tc = tr_spawn(bounded_recv_task, &c);
        tr_sleep(2 * MS);
        T_EQ(send(nv[0], "new", 3, 0), 3);
        tr_await(tc, NULL);
        tr_task_release(tc);
        T_EQ(c.res, 3);
        close(nv[0]);
        close(nv[1]);
    }
    return NULL;
}

static void test_fd_closed_while_waited_on(void **state) {
    (void)state;
    io_run(main_task, NULL);
}

int main(int argc, char **argv) {
    io_parse_args(&argc, argv);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_fd_closed_while_waited_on, io_setup),
    };
    return test_result(cmocka_run_group_tests(tests, NULL, NULL));
}
