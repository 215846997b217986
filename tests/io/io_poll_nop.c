/*
 * io_poll_nop.c - tr_poll readiness masks (ready at once, blocking until ready, hang-up,
 * bad fds) and tr_nop round trips, plus -EPERM outside a task.
 */
#include "io_test.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct poller {
    int fd;
    unsigned events;
    int res;
    bool returned;
};

static void *poll_one(void *arg) {
    struct poller *p = arg;
    p->res = tr_poll(p->fd, p->events);
    p->returned = true;
    return NULL;
}

static void *poll_task(void *arg) {
    (void)arg;
    int sv[2];
    T_REQUIRE(io_socketpair(SOCK_STREAM, sv) == 0);

    /* Writable at once; nothing to read yet. */
    int rc = tr_poll(sv[0], POLLOUT);
    T_CHECK(rc > 0 && (rc & POLLOUT));
    T_EQ(rc & POLLIN, 0);

    /* A poll for POLLIN blocks until data arrives. */
    struct poller p = {.fd = sv[1], .events = POLLIN};
    tr_task *t = tr_spawn(poll_one, &p);
    T_REQUIRE(t);
    tr_sleep(20 * MS);
    T_CHECK(!p.returned);
    T_EQ(send(sv[0], "x", 1, 0), 1);
    T_EQ(tr_await(t, NULL), 0);
    tr_task_release(t);
    T_CHECK(p.res & POLLIN);
    T_EQ(p.res & POLLOUT, 0); /* only what was asked for (plus error conditions) */

    /* Ready now: returns at once, data untouched. */
    rc = tr_poll(sv[1], POLLIN | POLLOUT);
    T_CHECK((rc & POLLIN) && (rc & POLLOUT));
    char c = 0;
    T_EQ(recv(sv[1], &c, 1, MSG_DONTWAIT), 1);
    T_EQ(c, 'x');

    /* Hang-up: the peer closes while a poll waits. */
    p = (struct poller){.fd = sv[1], .events = POLLIN};
    t = tr_spawn(poll_one, &p);
    T_REQUIRE(t);
    tr_sleep(10 * MS);
    T_CHECK(!p.returned);
    close(sv[0]);
    T_EQ(tr_await(t, NULL), 0);
    tr_task_release(t);
    T_CHECK(p.res & (POLLHUP | POLLRDHUP | POLLIN));
    T_CHECK(p.res & POLLHUP);
    close(sv[1]);

    /* A pipe: POLLIN after a write, POLLHUP once the writer is gone. */
    int pp[2];
    T_REQUIRE(pipe2(pp, O_CLOEXEC) == 0);
    rc = tr_poll(pp[1], POLLOUT);
    T_CHECK(rc & POLLOUT);
    T_EQ(write(pp[1], "y", 1), 1);
    rc = tr_poll(pp[0], POLLIN);
    T_CHECK(rc & POLLIN);
    close(pp[1]);
    rc = tr_poll(pp[0], POLLIN);
    T_CHECK(rc & POLLHUP);
    close(pp[0]);

    /* Regular files are always ready. */
    int f = io_tmpfile();
    T_REQUIRE(f >= 0);
    rc = tr_poll(f, POLLIN | POLLOUT);
    T_CHECK((rc & POLLIN) && (rc & POLLOUT));
    close(f);

    /* Bad descriptors. */
    T_EQ(tr_poll(-1, POLLIN), -EBADF);
    T_EQ(tr_poll(f, POLLIN), -EBADF); /* closed just above */
    return NULL;
}

static void test_poll(void **state) {
    (void)state;
    io_run(poll_task, NULL);
}

/* Many tasks poll different sockets; each wakes for its own only. */
enum { POLLERS = 32 };

static void *poll_many_task(void *arg) {
    (void)arg;
    int sv[POLLERS][2];
    struct poller p[POLLERS];
    tr_task *t[POLLERS];
    for (int i = 0; i < POLLERS; i++) {
        T_REQUIRE(io_socketpair(SOCK_STREAM, sv[i]) == 0);
        p[i] = (struct poller){.fd = sv[i][1], .events = POLLIN};
        t[i] = tr_spawn(poll_one, &p[i]);
        T_REQUIRE(t[i]);
    }
    tr_sleep(10 * MS);
    /* Wake the odd ones only. */
    for (int i = 1; i < POLLERS; i += 2)
        T_EQ(send(sv[i][0], "o", 1, 0), 1);
    for (int i = 1; i < POLLERS; i += 2)
        T_EQ(tr_await(t[i], NULL), 0);
    for (int i = 0; i < POLLERS; i++) {
        T_EQ(p[i].returned, i % 2 == 1);
        if (i % 2)
            T_CHECK(p[i].res & POLLIN);
    }
    for (int i = 0; i < POLLERS; i += 2)
        T_EQ(send(sv[i][0], "e", 1, 0), 1);
    for (int i = 0; i < POLLERS; i++) {
        T_EQ(tr_await(t[i], NULL), 0);
        T_CHECK(p[i].res & POLLIN);
        tr_task_release(t[i]);
        close(sv[i][0]);
        close(sv[i][1]);
    }
    return NULL;
}

static void test_poll_many(void **state) {
    (void)state;
    io_run(poll_many_task, NULL);
}

static void *nop_task(void *arg) {
    (void)arg;
    for (int i = 0; i < 1000; i++) {
        int rc = tr_nop();
        if (rc != 0) {
            T_EQ(rc, 0);
            break;
        }
    }
    return NULL;
}

static void test_nop(void **state) {
    (void)state;
    io_run(nop_task, NULL);
}

static void test_outside_task(void **state) {
    (void)state;
    int sv[2];
    assert_int_equal(io_socketpair(SOCK_STREAM, sv), 0);
    assert_int_equal(tr_poll(sv[0], POLLOUT), -EPERM);
    assert_int_equal(tr_nop(), -EPERM);
    close(sv[0]);
    close(sv[1]);
}

int main(int argc, char **argv) {
    io_parse_args(&argc, argv);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_poll, io_setup),
        cmocka_unit_test_setup(test_poll_many, io_setup),
        cmocka_unit_test_setup(test_nop, io_setup),
        cmocka_unit_test_setup(test_outside_task, io_setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
