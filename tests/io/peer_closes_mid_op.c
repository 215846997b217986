/*
 * The peer goes away while a task waits in an operation on the connection: a receive returns
 * 0 (end of stream) on an orderly close and -ECONNRESET on a reset; a send blocked on a full
 * buffer returns -EPIPE or -ECONNRESET, and no SIGPIPE ends the process (sends never raise
 * it, on either backend). TCP over loopback, so resets are real.
 */
#include "io_test.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct op {
    int fd;
    int res;
    bool returned;
};

static void *recv_task(void *arg) {
    struct op *o = arg;
    char buf[64];
    o->res = tr_recv(o->fd, buf, sizeof buf, 0);
    o->returned = true;
    return NULL;
}

static void *send_task(void *arg) {
    struct op *o = arg;
    static char big[1 << 20];
    for (;;) {
        int n = tr_send(o->fd, big, sizeof big, 0); /* no MSG_NOSIGNAL: must not kill us */
        if (n <= 0) {
            o->res = n;
            break;
        }
    }
    o->returned = true;
    return NULL;
}

static void *main_task(void *arg) {
    (void)arg;
    int c, s;
    /* Orderly close: EOF. */
    T_REQUIRE(io_tcp_pair(&c, &s) == 0);
    struct op r = {.fd = c};
    tr_task *t = tr_spawn(recv_task, &r);
    tr_sleep(10 * MS);
    T_CHECK(!r.returned);
    close(s);
    tr_await(t, NULL);
    tr_task_release(t);
    T_EQ(r.res, 0);
    close(c);

    /* Reset: -ECONNRESET. */
    T_REQUIRE(io_tcp_pair(&c, &s) == 0);
    r = (struct op){.fd = c};
    t = tr_spawn(recv_task, &r);
    tr_sleep(10 * MS);
    T_REQUIRE(io_set_linger_reset(s) == 0);
    close(s);
    tr_await(t, NULL);
    tr_task_release(t);
    T_EQ(r.res, -ECONNRESET);
    close(c);

    /* A send blocked on a full buffer, then the peer resets. */
    T_REQUIRE(io_tcp_pair(&c, &s) == 0);
    struct op w = {.fd = c};
    t = tr_spawn(send_task, &w);
    tr_sleep(30 * MS);
    T_CHECK(!w.returned); /* blocked: nobody reads */
    T_REQUIRE(io_set_linger_reset(s) == 0);
    close(s);
    tr_await(t, NULL);
    tr_task_release(t);
    T_CHECK(w.res == -ECONNRESET || w.res == -EPIPE);
    /* Once more on the dead connection: an error, not a signal. */
    T_CHECK(tr_send(c, "x", 1, 0) < 0);
    close(c);
    return NULL;
}

static void test_peer_closes(void **state) {
    (void)state;
    signal(SIGPIPE, SIG_DFL); /* a SIGPIPE would end the test */
    io_run(main_task, NULL);
}

int main(int argc, char **argv) {
    io_parse_args(&argc, argv);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_peer_closes, io_setup),
    };
    return test_result(cmocka_run_group_tests(tests, NULL, NULL));
}
