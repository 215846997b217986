/*
 * io_cancel.c - cancelling tasks blocked in I/O: the call returns -ECANCELED, tr_await of the
 * task gives -ECANCELED, the kernel operation is really gone (it consumes nothing later),
 * cancellation is sticky, a deadline scope does not turn it into -ETIME, a completion that
 * races with the cancel is not lost, and tr_run's final cancellation unblocks every I/O wait.
 */
#include "io_test.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

enum kind { K_RECV, K_RECVMSG, K_ACCEPT, K_LISTENER, K_SLEEP, K_POLL, K_READ, K_SIGNAL, K_COUNT };

static const char *kind_name[K_COUNT] = {
    "tr_recv",  "tr_recvmsg", "tr_accept",     "tr_listener_accept",
    "tr_sleep", "tr_poll",    "tr_read(pipe)", "tr_signal_wait"};

struct blocked {
    enum kind kind;
    int fd;
    tr_listener *l;
    bool in_scope;     /* inside a (long) deadline scope */
    bool own_listener; /* close the listener after the call */
    int res;
    bool returned;
};

static void *blocked_call(void *arg) {
    struct blocked *b = arg;
    char buf[32];
    memset(buf, 0, sizeof buf);
    struct iovec iov = {buf, sizeof buf};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
    tr_deadline d;
    if (b->in_scope)
        tr_deadline_begin(&d, 60000 * MS);
    switch (b->kind) {
    case K_RECV:
        b->res = tr_recv(b->fd, buf, sizeof buf, 0);
        break;
    case K_RECVMSG:
        b->res = tr_recvmsg(b->fd, &msg, 0);
        break;
    case K_ACCEPT:
        b->res = tr_accept(b->fd, NULL, NULL, SOCK_CLOEXEC);
        break;
    case K_LISTENER:
        b->res = tr_listener_accept(b->l);
        break;
    case K_SLEEP:
        b->res = tr_sleep(60000 * MS);
        break;
    case K_POLL:
        b->res = tr_poll(b->fd, POLLIN);
        break;
    case K_READ:
        b->res = tr_read(b->fd, buf, sizeof buf, -1);
        break;
    case K_SIGNAL:
        b->res = tr_signal_wait((const int[]){SIGUSR2}, 1);
        break;
    default:
        break;
    }
    if (b->in_scope)
        tr_deadline_end(&d);
    if (b->own_listener)
        tr_listener_close(b->l);
    b->returned = true;
    return NULL;
}

/* What a blocked call waits on, and how to check afterwards that it let go of it. */
struct target {
    int sv[2]; /* socketpair: recv, recvmsg, poll read sv[1] */
    int pp[2]; /* pipe */
    int lfd;   /* listening socket for tr_accept */
    int port;
    int lfd2; /* listening socket for the listener */
    int port2;
    tr_listener *l;
};

static bool target_open(struct target *t) {
    if (io_socketpair(SOCK_STREAM, t->sv) != 0 || pipe2(t->pp, O_CLOEXEC) != 0)
        return false;
    t->lfd = io_tcp_listen(8, &t->port);
    t->lfd2 = io_tcp_listen(8, &t->port2);
    if (t->lfd < 0 || t->lfd2 < 0)
        return false;
    t->l = tr_listener_open(t->lfd2);
    return t->l != NULL;
}

static void target_close(struct target *t) {
    tr_listener_close(t->l);
    close(t->sv[0]);
    close(t->sv[1]);
    close(t->pp[0]);
    close(t->pp[1]);
    close(t->lfd);
    close(t->lfd2);
}

static void setup_blocked(struct blocked *b, enum kind k, struct target *t) {
    memset(b, 0, sizeof *b);
    b->kind = k;
    b->l = t->l;
    b->fd = k == K_ACCEPT ? t->lfd : k == K_READ ? t->pp[0] : t->sv[1];
}

/* After the cancelled call returned: the resource works, and nothing was consumed. */
static void check_released(enum kind k, struct target *t) {
    char buf[8];
    memset(buf, 0, sizeof buf);
    int c, fd;
    switch (k) {
    case K_RECV:
    case K_RECVMSG:
    case K_POLL:
        T_EQ(send(t->sv[0], "abc", 3, 0), 3);
        tr_sleep(5 * MS); /* a cancelled-but-live kernel recv would take it now */
        T_EQ(tr_recv(t->sv[1], buf, sizeof buf, 0), 3);
        T_CHECK(memcmp(buf, "abc", 3) == 0);
        break;
    case K_READ:
        T_EQ(write(t->pp[1], "p", 1), 1);
        tr_sleep(5 * MS);
        T_EQ(tr_read(t->pp[0], buf, sizeof buf, -1), 1);
        break;
    case K_ACCEPT:
        c = io_tcp_connect(t->port);
        T_CHECK(c >= 0);
        tr_sleep(5 * MS);
        fd = tr_accept(t->lfd, NULL, NULL, SOCK_CLOEXEC);
        T_CHECK(fd >= 0);
        close(fd);
        close(c);
        break;
    case K_LISTENER:
        c = io_tcp_connect(t->port2);
        T_CHECK(c >= 0);
        fd = tr_listener_accept(t->l);
        T_CHECK(fd >= 0);
        close(fd);
        close(c);
        break;
    default:
        break;
    }
}

static void *cancel_each_task(void *arg) {
    bool in_scope = arg != NULL;
    for (int k = 0; k < K_COUNT; k++) {
        struct target tg;
        T_REQUIRE(target_open(&tg));
        struct blocked b;
        setup_blocked(&b, (enum kind)k, &tg);
        b.in_scope = in_scope;
        tr_task *t = tr_spawn(blocked_call, &b);
        T_REQUIRE(t);
        tr_sleep(10 * MS);
        if (b.returned)
            io_fail(__FILE__, __LINE__, "%s returned %d before anything happened", kind_name[k],
                    b.res);
        T_EQ(tr_task_cancel(t), 1);
        T_EQ(tr_await(t, NULL), -ECANCELED);
        T_CHECK(tr_task_cancelled(t));
        T_CHECK(b.returned);
        if (b.res != -ECANCELED) {
            char name[32];
            io_fail(__FILE__, __LINE__, "cancelled %s%s returned %s, expected -ECANCELED",
                    kind_name[k], in_scope ? " (in a deadline scope)" : "", io_rcname(b.res, name));
        }
        T_EQ(tr_task_cancel(t), 0); /* done already */
        tr_task_release(t);
        tr_deadline d; /* fail rather than hang if the kernel operation lives on */
        tr_deadline_begin(&d, 2000 * MS);
        check_released((enum kind)k, &tg);
        tr_deadline_end(&d);
        target_close(&tg);
    }
    return NULL;
}

static void test_cancel_blocked(void **state) {
    (void)state;
    io_run(cancel_each_task, NULL);
}

static void test_cancel_blocked_in_scope(void **state) {
    (void)state;
    io_run(cancel_each_task, (void *)1);
}

/* ---- sticky: a cancelled task's later calls fail at once ---------------------------------------
 */

static void *self_cancel_task(void *arg) {
    struct target *tg = arg;
    T_EQ(tr_task_cancel(tr_current()), 1);
    char buf[8];
    memset(buf, 0, sizeof buf);
    /* Data is there, yet nothing is consumed. */
    T_EQ(tr_recv(tg->sv[1], buf, sizeof buf, 0), -ECANCELED);
    T_EQ(tr_nop(), -ECANCELED);
    T_EQ(tr_poll(tg->sv[1], POLLIN), -ECANCELED);
    T_EQ(tr_listener_accept(tg->l), -ECANCELED);
    T_EQ(tr_sleep(1 * MS), -ECANCELED);
    T_EQ(tr_recv(tg->sv[1], buf, sizeof buf, 0), -ECANCELED); /* still */
    T_EQ(buf[0], 0);
    return NULL;
}

static void *sticky_task(void *arg) {
    (void)arg;
    struct target tg;
    T_REQUIRE(target_open(&tg));
    T_EQ(send(tg.sv[0], "keep", 4, 0), 4);
    int c = io_tcp_connect(tg.port2);
    T_REQUIRE(c >= 0);
    tr_sleep(5 * MS);
    tr_task *t = tr_spawn(self_cancel_task, &tg);
    T_REQUIRE(t);
    T_EQ(tr_await(t, NULL), -ECANCELED);
    tr_task_release(t);
    char buf[8];
    T_EQ(tr_recv(tg.sv[1], buf, sizeof buf, 0), 4);
    int fd = tr_listener_accept(tg.l); /* the queued connection is still there */
    T_CHECK(fd >= 0);
    close(fd);
    close(c);
    target_close(&tg);
    return NULL;
}

static void test_sticky(void **state) {
    (void)state;
    io_run(sticky_task, NULL);
}

/* ---- many at once ----------------------------------------------------------------------------
 */

enum { MANY = 200 };

static void *many_task(void *arg) {
    (void)arg;
    static int sv[MANY][2];
    static struct blocked b[MANY];
    tr_task *t[MANY];
    for (int i = 0; i < MANY; i++) {
        T_REQUIRE(io_socketpair(SOCK_STREAM, sv[i]) == 0);
        b[i] = (struct blocked){
            .kind = i % 2 ? K_RECV : K_POLL, .fd = sv[i][1], .in_scope = i % 3 == 0};
        t[i] = tr_spawn(blocked_call, &b[i]);
        T_REQUIRE(t[i]);
    }
    tr_sleep(20 * MS);
    for (int i = 0; i < MANY; i++)
        T_EQ(tr_task_cancel(t[i]), 1);
    for (int i = 0; i < MANY; i++) {
        T_EQ(tr_await(t[i], NULL), -ECANCELED);
        T_EQ(b[i].res, -ECANCELED);
        tr_task_release(t[i]);
        close(sv[i][0]);
        close(sv[i][1]);
    }
    return NULL;
}

static void test_many(void **state) {
    (void)state;
    assert_int_equal(io_raise_nofile(4096), 0);
    io_run(many_task, NULL);
}

/* ---- a completion that races with the cancel --------------------------------------------------
 *
 * The operation completes in the kernel and the task is already queued to run when another
 * task cancels it. Whatever the call returns, what the kernel delivered must not be lost: a
 * receive returns its bytes (or leaves them in the socket), an accepted connection is returned
 * (or closed, not leaked).
 */

static int unread(int fd) {
    int n = -1;
    ioctl(fd, FIONREAD, &n);
    return n;
}

static void *race_recv_task(void *arg) {
    (void)arg;
    int sv[2];
    T_REQUIRE(io_socketpair(SOCK_STREAM, sv) == 0);
    struct blocked b = {.kind = K_RECV, .fd = sv[1]};
    tr_task *t = tr_spawn(blocked_call, &b);
    T_REQUIRE(t);
    tr_sleep(10 * MS);
    T_EQ(send(sv[0], "raced", 5, 0), 5);
    if (tr_loop_backend(0) == TR_BACKEND_EPOLL) {
        /* Readiness: nothing is moved until the receiver runs its recv. Cancelled now, it
         * returns -ECANCELED and the bytes stay in the socket (or, had it run, it has them). */
        T_EQ(tr_task_cancel(t), 1);
        tr_await(t, NULL);
        T_CHECK(b.returned);
        T_CHECK((b.res == -ECANCELED && unread(sv[1]) == 5) || (b.res == 5 && unread(sv[1]) == 0));
        tr_task_release(t);
        close(sv[0]);
        close(sv[1]);
        return NULL;
    }
    /* Yield until the kernel has moved the bytes: this task was queued before the
     * completion was reaped, so it runs before the receiver does. */
    int spins = 0;
    while (unread(sv[1]) != 0 && spins++ < 100000)
        tr_yield();
    T_EQ(unread(sv[1]), 0);
    T_CHECK(!b.returned);
    T_EQ(tr_task_cancel(t), 1);
    tr_await(t, NULL);
    T_CHECK(b.returned);
    if (b.res != 5) {
        char name[32];
        io_fail(__FILE__, __LINE__,
                "recv completed in the kernel, then its task was cancelled: returned %s and "
                "the 5 bytes are gone",
                io_rcname(b.res, name));
    }
    tr_task_release(t);
    close(sv[0]);
    close(sv[1]);
    return NULL;
}

static void test_race_recv(void **state) {
    (void)state;
    io_run(race_recv_task, NULL);
}

static void *race_listener_task(void *arg) {
    (void)arg;
    int port;
    int lfd = io_tcp_listen(8, &port);
    T_REQUIRE(lfd >= 0);
    tr_listener *l = tr_listener_open(lfd);
    T_REQUIRE(l);
    struct blocked b = {.kind = K_LISTENER, .l = l};
    tr_task *t = tr_spawn(blocked_call, &b);
    T_REQUIRE(t);
    tr_sleep(10 * MS);
    int before = io_count_fds();
    int c = io_tcp_connect(port);
    T_REQUIRE(c >= 0);
    /* Yield until the multishot accept has created the connection's fd. */
    int spins = 0;
    while (io_count_fds() < before + 2 && spins++ < 100000)
        tr_yield();
    T_EQ(io_count_fds(), before + 2); /* the client's socket and the accepted one */
    T_CHECK(!b.returned);
    T_EQ(tr_task_cancel(t), 1);
    tr_await(t, NULL);
    T_CHECK(b.returned);
    tr_task_release(t);
    if (b.res >= 0) {
        close(b.res); /* handed over despite the cancel: fine */
    } else {
        T_EQ(b.res, -ECANCELED);
        /* Not handed over: the listener must still have it (or have closed it). */
        tr_deadline d;
        tr_deadline_begin(&d, 50 * MS);
        int fd = tr_listener_accept(l);
        tr_deadline_end(&d);
        if (fd >= 0)
            close(fd);
    }
    tr_listener_close(l);
    close(c);
    tr_sleep(5 * MS); /* the listener's cancellation completes */
    if (io_count_fds() != before)
        io_fail(__FILE__, __LINE__,
                "an accepted connection leaked: acceptor cancelled after the hand-over "
                "returned %d; %d fds open, %d expected",
                b.res, io_count_fds(), before);
    close(lfd);
    return NULL;
}

static void test_race_listener(void **state) {
    (void)state;
    io_run(race_listener_task, NULL);
}

/* ---- tr_run's epilogue cancels every I/O wait -------------------------------------------------
 */

static struct blocked epilogue_b[K_COUNT];

static void *epilogue_main(void *arg) {
    struct target *tg = arg;
    T_REQUIRE(target_open(tg));
    for (int k = 0; k < K_COUNT; k++) {
        setup_blocked(&epilogue_b[k], (enum kind)k, tg);
        epilogue_b[k].in_scope = k % 2;
        epilogue_b[k].own_listener = k == K_LISTENER;
        tr_task *t = tr_spawn(blocked_call, &epilogue_b[k]);
        T_REQUIRE(t);
        tr_task_release(t);
    }
    tr_sleep(10 * MS);
    return NULL; /* everything else is still blocked */
}

static void test_run_epilogue(void **state) {
    (void)state;
    int before = io_count_fds();
    struct target tg;
    memset(&tg, 0, sizeof tg);
    io_run(epilogue_main, &tg);
    for (int k = 0; k < K_COUNT; k++) {
        if (!epilogue_b[k].returned || epilogue_b[k].res != -ECANCELED) {
            char name[32];
            fprintf(stderr, "%s at tr_run's end: returned=%d res=%s\n", kind_name[k],
                    epilogue_b[k].returned, io_rcname(epilogue_b[k].res, name));
            fail();
        }
    }
    /* The listener was closed by its task once its accept returned. */
    close(tg.sv[0]);
    close(tg.sv[1]);
    close(tg.pp[0]);
    close(tg.pp[1]);
    close(tg.lfd);
    close(tg.lfd2);
    assert_int_equal(io_count_fds(), before);
}

int main(int argc, char **argv) {
    io_parse_args(&argc, argv);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_cancel_blocked, io_setup),
        cmocka_unit_test_setup(test_cancel_blocked_in_scope, io_setup),
        cmocka_unit_test_setup(test_sticky, io_setup),
        cmocka_unit_test_setup(test_many, io_setup),
        cmocka_unit_test_setup(test_race_recv, io_setup),
        cmocka_unit_test_setup(test_race_listener, io_setup),
        cmocka_unit_test_setup(test_run_epilogue, io_setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
