/*
 * io_tcp.c - tr_accept and tr_connect on 127.0.0.1 (port 0): peer addresses, accept flags,
 * connect errors, many concurrent handshakes between tasks of one loop, bad fds, and -EPERM
 * outside a task.
 */
#include "io_test.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static struct sockaddr_in loopback(int port) {
    struct sockaddr_in sin;
    memset(&sin, 0, sizeof sin);
    sin.sin_family = AF_INET;
    sin.sin_port = htons((uint16_t)port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return sin;
}

static int new_socket(void) {
    return socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
}

/* ---- one handshake, both sides in tasks -------------------------------------------------------
 */

struct acceptor {
    int lfd;
    int flags;
    bool want_addr;
    struct sockaddr_in peer;
    unsigned peer_len;
    int fd;
};

static void *accept_one(void *arg) {
    struct acceptor *a = arg;
    memset(&a->peer, 0, sizeof a->peer);
    a->peer_len = sizeof a->peer;
    a->fd = tr_accept(a->lfd, a->want_addr ? (struct sockaddr *)&a->peer : NULL,
                      a->want_addr ? &a->peer_len : NULL, a->flags);
    return NULL;
}

static void *handshake_task(void *arg) {
    (void)arg;
    int port;
    int lfd = io_tcp_listen(16, &port);
    T_REQUIRE(lfd >= 0);

    /* The acceptor waits first; the connection comes later. */
    struct acceptor a = {.lfd = lfd, .flags = SOCK_CLOEXEC, .want_addr = true, .fd = -100};
    tr_task *at = tr_spawn(accept_one, &a);
    T_REQUIRE(at);
    tr_sleep(10 * MS);
    T_EQ(a.fd, -100); /* still blocked */

    int c = new_socket();
    T_REQUIRE(c >= 0);
    struct sockaddr_in dst = loopback(port);
    T_EQ(tr_connect(c, (struct sockaddr *)&dst, sizeof dst), 0);
    T_EQ(tr_await(at, NULL), 0);
    tr_task_release(at);
    T_REQUIRE(a.fd >= 0);

    /* The accepted peer address is the client's local address. */
    struct sockaddr_in local;
    socklen_t len = sizeof local;
    T_EQ(getsockname(c, (struct sockaddr *)&local, &len), 0);
    T_EQ(a.peer_len, sizeof(struct sockaddr_in));
    T_EQ(a.peer.sin_family, AF_INET);
    T_EQ(a.peer.sin_addr.s_addr, htonl(INADDR_LOOPBACK));
    T_EQ(a.peer.sin_port, local.sin_port);
    T_EQ(fcntl(a.fd, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
    T_EQ(fcntl(a.fd, F_GETFL) & O_NONBLOCK, 0);

    /* Data both ways. */
    char buf[16];
    memset(buf, 0, sizeof buf);
    T_EQ(tr_send(c, "hello", 5, MSG_NOSIGNAL), 5);
    T_EQ(tr_recv(a.fd, buf, sizeof buf, 0), 5);
    T_CHECK(memcmp(buf, "hello", 5) == 0);
    T_EQ(tr_send(a.fd, "world", 5, MSG_NOSIGNAL), 5);
    T_EQ(tr_recv(c, buf, sizeof buf, 0), 5);
    T_CHECK(memcmp(buf, "world", 5) == 0);

    /* A second connect on a connected socket. */
    T_EQ(tr_connect(c, (struct sockaddr *)&dst, sizeof dst), -EISCONN);
    close(c);
    close(a.fd);

    /* The connection already waits in the backlog: accept returns at once; NULL address,
     * SOCK_NONBLOCK honoured. */
    int c2 = io_tcp_connect(port);
    T_REQUIRE(c2 >= 0);
    int fd = tr_accept(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    T_REQUIRE(fd >= 0);
    T_EQ(fcntl(fd, F_GETFL) & O_NONBLOCK, O_NONBLOCK);
    close(fd);
    close(c2);
    close(lfd);
    return NULL;
}

static void test_handshake(void **state) {
    (void)state;
    io_run(handshake_task, NULL);
}

/* ---- errors ----------------------------------------------------------------------------------
 */

static void *errors_task(void *arg) {
    (void)arg;
    /* Nothing listens. */
    int port = io_unused_port();
    T_REQUIRE(port > 0);
    int c = new_socket();
    T_REQUIRE(c >= 0);
    struct sockaddr_in dst = loopback(port);
    T_EQ(tr_connect(c, (struct sockaddr *)&dst, sizeof dst), -ECONNREFUSED);
    close(c);

    /* Bad fds, sockets in the wrong state, non-sockets, bad addresses. */
    T_EQ(tr_connect(-1, (struct sockaddr *)&dst, sizeof dst), -EBADF);
    T_EQ(tr_accept(-1, NULL, NULL, 0), -EBADF);
    int s = new_socket();
    T_REQUIRE(s >= 0);
    T_EQ(tr_accept(s, NULL, NULL, 0), -EINVAL);               /* not listening */
    T_EQ(tr_connect(s, (struct sockaddr *)&dst, 3), -EINVAL); /* address too short */
    close(s);
    int file = io_tmpfile();
    T_REQUIRE(file >= 0);
    T_EQ(tr_accept(file, NULL, NULL, 0), -ENOTSOCK);
    T_EQ(tr_connect(file, (struct sockaddr *)&dst, sizeof dst), -ENOTSOCK);
    close(file);
    int lfd = io_tcp_listen(4, &port);
    T_REQUIRE(lfd >= 0);
    T_EQ(tr_accept(lfd, NULL, NULL, 0x40000000), -EINVAL); /* unknown accept flag */
    close(lfd);
    return NULL;
}

static void test_errors(void **state) {
    (void)state;
    io_run(errors_task, NULL);
}

/* ---- many concurrent handshakes and echoes in one loop --------------------------------------
 */

enum { PEERS = 64 };

struct pair_ctx {
    int port;
    int accepted[PEERS];
    int served;
    int clients_ok;
};

struct client {
    struct pair_ctx *p;
    int id;
};

static void *client_task(void *arg) {
    struct client *cl = arg;
    int fd = new_socket();
    T_REQUIRE(fd >= 0);
    struct sockaddr_in dst = loopback(cl->p->port);
    T_REQUIRE_EQ(tr_connect(fd, (struct sockaddr *)&dst, sizeof dst), 0);
    int id = cl->id;
    T_REQUIRE_EQ(tr_send(fd, &id, sizeof id, MSG_NOSIGNAL), (int)sizeof id);
    int back = -1;
    T_REQUIRE_EQ(tr_recv(fd, &back, sizeof back, MSG_WAITALL), (int)sizeof back);
    T_EQ(back, id * 3);
    T_EQ(tr_close(fd), 0);
    cl->p->clients_ok++;
    return NULL;
}

struct conn {
    struct pair_ctx *p;
    int fd;
};

static void *conn_task(void *arg) {
    struct conn *cn = arg;
    int id = -1;
    T_REQUIRE_EQ(tr_recv(cn->fd, &id, sizeof id, MSG_WAITALL), (int)sizeof id);
    T_REQUIRE(id >= 0 && id < PEERS);
    int triple = id * 3;
    T_REQUIRE_EQ(tr_send(cn->fd, &triple, sizeof triple, MSG_NOSIGNAL), (int)sizeof triple);
    char b;
    T_EQ(tr_recv(cn->fd, &b, 1, 0), 0); /* the client closes */
    T_EQ(tr_close(cn->fd), 0);
    cn->p->served++;
    return NULL;
}

static void *many_task(void *arg) {
    (void)arg;
    struct pair_ctx p = {0};
    int lfd = io_tcp_listen(PEERS, &p.port);
    T_REQUIRE(lfd >= 0);

    struct client clients[PEERS];
    tr_task *ct[PEERS];
    for (int i = 0; i < PEERS; i++) {
        clients[i] = (struct client){&p, i};
        ct[i] = tr_spawn(client_task, &clients[i]);
        T_REQUIRE(ct[i]);
    }
    struct conn conns[PEERS];
    tr_task *st[PEERS];
    for (int i = 0; i < PEERS; i++) {
        int fd = tr_accept(lfd, NULL, NULL, SOCK_CLOEXEC);
        T_REQUIRE(fd >= 0); /* numbers may repeat: finished connections are closed */
        conns[i] = (struct conn){&p, fd};
        st[i] = tr_spawn(conn_task, &conns[i]);
        T_REQUIRE(st[i]);
    }
    for (int i = 0; i < PEERS; i++) {
        T_EQ(tr_await(ct[i], NULL), 0);
        T_EQ(tr_await(st[i], NULL), 0);
        tr_task_release(ct[i]);
        tr_task_release(st[i]);
    }
    T_EQ(p.clients_ok, PEERS);
    T_EQ(p.served, PEERS);
    close(lfd);
    return NULL;
}

static void test_many(void **state) {
    (void)state;
    int before = io_count_fds();
    io_run(many_task, NULL);
    assert_int_equal(io_count_fds(), before); /* every connection closed by tr_close */
}

/* ---- several tasks accept on one socket ------------------------------------------------------
 */

struct multi {
    int lfd;
    int got[PEERS];
    int ngot;
};

static void *multi_acceptor(void *arg) {
    struct multi *m = arg;
    for (;;) {
        int fd = tr_accept(m->lfd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0)
            return (void *)(intptr_t)fd;
        T_REQUIRE(m->ngot < PEERS);
        m->got[m->ngot++] = fd;
    }
}

static void *multi_task(void *arg) {
    (void)arg;
    int port;
    struct multi m = {.lfd = io_tcp_listen(PEERS, &port)};
    T_REQUIRE(m.lfd >= 0);
    tr_task *acc[4];
    for (int i = 0; i < 4; i++) {
        acc[i] = tr_spawn(multi_acceptor, &m);
        T_REQUIRE(acc[i]);
    }
    tr_sleep(5 * MS);
    int clients[PEERS];
    for (int i = 0; i < PEERS; i++) {
        clients[i] = io_tcp_connect(port);
        T_REQUIRE(clients[i] >= 0);
        if (i % 8 == 7)
            tr_yield();
    }
    uint64_t until = io_now_ns() + 5000 * MS;
    while (m.ngot < PEERS && io_now_ns() < until)
        tr_sleep(1 * MS);
    T_EQ(m.ngot, PEERS);
    for (int i = 0; i < m.ngot; i++)
        for (int j = 0; j < i; j++)
            T_CHECK(m.got[i] != m.got[j]);
    for (int i = 0; i < 4; i++) {
        T_EQ(tr_task_cancel(acc[i]), 1);
        T_EQ(tr_await(acc[i], NULL), -ECANCELED);
        tr_task_release(acc[i]);
    }
    for (int i = 0; i < m.ngot; i++)
        close(m.got[i]);
    for (int i = 0; i < PEERS; i++)
        close(clients[i]);
    close(m.lfd);
    return NULL;
}

static void test_several_acceptors(void **state) {
    (void)state;
    io_run(multi_task, NULL);
}

/* ---- outside a task ------------------------------------------------------------------------
 */

static void test_outside_task(void **state) {
    (void)state;
    int port;
    int lfd = io_tcp_listen(4, &port);
    assert_true(lfd >= 0);
    int c = io_tcp_connect(port);
    assert_true(c >= 0);
    assert_int_equal(tr_accept(lfd, NULL, NULL, 0), -EPERM);
    int s = new_socket();
    struct sockaddr_in dst = loopback(port);
    assert_int_equal(tr_connect(s, (struct sockaddr *)&dst, sizeof dst), -EPERM);
    /* The pending connection was not taken; the socket did not connect. */
    int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    assert_true(fd >= 0);
    struct sockaddr_in peer;
    socklen_t len = sizeof peer;
    assert_int_equal(getpeername(s, (struct sockaddr *)&peer, &len), -1);
    assert_int_equal(errno, ENOTCONN);
    close(fd);
    close(s);
    close(c);
    close(lfd);
}

int main(int argc, char **argv) {
    io_parse_args(&argc, argv);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_handshake, io_setup),
        cmocka_unit_test_setup(test_errors, io_setup),
        cmocka_unit_test_setup(test_many, io_setup),
        cmocka_unit_test_setup(test_several_acceptors, io_setup),
        cmocka_unit_test_setup(test_outside_task, io_setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
