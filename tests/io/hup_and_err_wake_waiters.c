/*
 * Hang-ups and errors wake every task waiting on the fd, whatever it waits for (epoll reports
 * them as EPOLLHUP / EPOLLERR): a pipe whose write end closes ends a blocked read with 0 and a
 * tr_poll(POLLIN) with POLLHUP; a pipe whose read end closes ends a blocked write with -EPIPE;
 * a connect to a port nobody listens on ends with -ECONNREFUSED.
 */
#include "io_test.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

struct op {
    int fd;
    int res;
    int kind; /* 0 read, 1 poll, 2 write until it fails */
};

static void *op_task(void *arg) {
    struct op *o = arg;
    static char buf[65536];
    if (o->kind == 0) {
        o->res = tr_read(o->fd, buf, 16, -1);
    } else if (o->kind == 1) {
        o->res = tr_poll(o->fd, POLLIN);
    } else {
        int n;
        while ((n = tr_write(o->fd, buf, sizeof buf, -1)) > 0)
            ;
        o->res = n;
    }
    return NULL;
}

static void *main_task(void *arg) {
    (void)arg;
    int p[2];
    T_REQUIRE(pipe2(p, O_CLOEXEC) == 0);
    struct op r = {.fd = p[0], .kind = 0}, q = {.fd = p[0], .kind = 1};
    tr_task *tr = tr_spawn(op_task, &r), *tq = tr_spawn(op_task, &q);
    tr_sleep(10 * MS);
    close(p[1]); /* the writer goes: EPOLLHUP for both waiters */
    tr_await(tr, NULL);
    tr_await(tq, NULL);
    tr_task_release(tr);
    tr_task_release(tq);
    T_EQ(r.res, 0);
    T_CHECK(q.res > 0 && (q.res & POLLHUP));
    close(p[0]);

    T_REQUIRE(pipe2(p, O_CLOEXEC) == 0);
    struct op w = {.fd = p[1], .kind = 2};
    tr_task *tw = tr_spawn(op_task, &w);
    tr_sleep(10 * MS); /* the pipe is full: the writer waits */
    close(p[0]);       /* the reader goes: EPOLLERR */
    tr_await(tw, NULL);
    tr_task_release(tw);
    T_EQ(w.res, -EPIPE);
    close(p[1]);

    int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    T_REQUIRE(c >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)io_unused_port())};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    T_EQ(tr_connect(c, (struct sockaddr *)&a, sizeof a), -ECONNREFUSED);
    close(c);
    return NULL;
}

static void test_hup_and_err(void **state) {
    (void)state;
    signal(SIGPIPE, SIG_IGN); /* a write to a pipe nobody reads raises it (write(2)) */
    io_run(main_task, NULL);
}

int main(int argc, char **argv) {
    io_parse_args(&argc, argv);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_hup_and_err, io_setup),
    };
    return test_result(cmocka_run_group_tests(tests, NULL, NULL));
}
