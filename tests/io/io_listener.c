/*
 * io_listener.c - tr_listener_open / tr_listener_accept / tr_listener_close: N connections
 * give N distinct fds (plain clients and task clients), several acceptor tasks, connections
 * queued before anyone accepts, close waking waiters with -ECANCELED and closing queued
 * connections, reopening on the same socket, bad input, another loop's listener.
 */
#include "io_test.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>
#include <valgrind/valgrind.h>

enum { N = 32 };

static int local_port(int fd) {
    struct sockaddr_in sin;
    socklen_t len = sizeof sin;
    return getsockname(fd, (struct sockaddr *)&sin, &len) == 0 ? ntohs(sin.sin_port) : -1;
}

static int peer_port(int fd) {
    struct sockaddr_in sin;
    socklen_t len = sizeof sin;
    return getpeername(fd, (struct sockaddr *)&sin, &len) == 0 ? ntohs(sin.sin_port) : -1;
}

/* ---- N plain clients, N distinct accepted fds ------------------------------------------------
 */

static void *plain_clients_task(void *arg) {
    (void)arg;
    int port;
    int lfd = io_tcp_listen(N, &port);
    T_REQUIRE(lfd >= 0);
    tr_listener *l = tr_listener_open(lfd);
    T_REQUIRE(l);
    int clients[N], accepted[N];
    for (int i = 0; i < N; i++) {
        clients[i] = io_tcp_connect(port);
        T_REQUIRE(clients[i] >= 0);
    }
    for (int i = 0; i < N; i++) {
        accepted[i] = tr_listener_accept(l);
        T_REQUIRE(accepted[i] >= 0);
        for (int j = 0; j < i; j++)
            T_CHECK(accepted[j] != accepted[i]);
        T_EQ(fcntl(accepted[i], F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
    }
    /* Each client's connection was accepted exactly once. */
    for (int i = 0; i < N; i++) {
        int matches = 0;
        for (int j = 0; j < N; j++)
            matches += peer_port(accepted[j]) == local_port(clients[i]);
        T_EQ(matches, 1);
    }
    /* And they carry data. */
    for (int i = 0; i < N; i++) {
        char c = (char)('a' + i % 26), got = 0;
        T_EQ(send(clients[i], &c, 1, 0), 1);
        int j = 0;
        while (j < N && peer_port(accepted[j]) != local_port(clients[i]))
            j++;
        T_REQUIRE(j < N);
        T_EQ(tr_recv(accepted[j], &got, 1, 0), 1);
        T_EQ(got, c);
    }
    tr_listener_close(l);
    for (int i = 0; i < N; i++) {
        close(clients[i]);
        close(accepted[i]);
    }
    close(lfd);
    return NULL;
}

static void test_plain_clients(void **state) {
    (void)state;
    int before = io_count_fds();
    io_run(plain_clients_task, NULL);
    assert_int_equal(io_count_fds(), before);
}

/* ---- clients as tasks (tr_connect) ------------------------------------------------------------
 */

struct tclient {
    int port;
    int id;
    int res;
};

static void *connect_client(void *arg) {
    struct tclient *c = arg;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    T_REQUIRE(fd >= 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)c->port)};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    c->res = tr_connect(fd, (struct sockaddr *)&sin, sizeof sin);
    if (c->res == 0) {
        int id = c->id;
        T_EQ(tr_send(fd, &id, sizeof id, MSG_NOSIGNAL), (int)sizeof id);
        char b;
        T_EQ(tr_recv(fd, &b, 1, 0), 0); /* the server closes */
    }
    close(fd);
    return NULL;
}

static void *task_clients_task(void *arg) {
    (void)arg;
    int port;
    int lfd = io_tcp_listen(N, &port);
    T_REQUIRE(lfd >= 0);
    tr_listener *l = tr_listener_open(lfd);
    T_REQUIRE(l);
    struct tclient cl[N];
    tr_task *ct[N];
    for (int i = 0; i < N; i++) {
        cl[i] = (struct tclient){.port = port, .id = i, .res = 1};
        ct[i] = tr_spawn(connect_client, &cl[i]);
        T_REQUIRE(ct[i]);
    }
    int seen[N] = {0};
    int fds[N];
    for (int i = 0; i < N; i++) {
        fds[i] = tr_listener_accept(l);
        T_REQUIRE(fds[i] >= 0);
        int id = -1;
        T_EQ(tr_recv(fds[i], &id, sizeof id, MSG_WAITALL), (int)sizeof id);
        T_REQUIRE(id >= 0 && id < N);
        seen[id]++;
    }
    for (int i = 0; i < N; i++) {
        T_EQ(seen[i], 1);
        T_EQ(tr_close(fds[i]), 0);
    }
    for (int i = 0; i < N; i++) {
        T_EQ(tr_await(ct[i], NULL), 0);
        T_EQ(cl[i].res, 0);
        tr_task_release(ct[i]);
    }
    tr_listener_close(l);
    close(lfd);
    return NULL;
}

static void test_task_clients(void **state) {
    (void)state;
    io_run(task_clients_task, NULL);
}

/* ---- several acceptor tasks -------------------------------------------------------------------
 */

struct pool {
    tr_listener *l;
    int fds[4 * N];
    int count;
    int per_task[4];
};

struct acc_arg {
    struct pool *p;
    int idx;
    int last; /* the error that ended the loop */
};

static void *acceptor(void *arg) {
    struct acc_arg *a = arg;
    for (;;) {
        int fd = tr_listener_accept(a->p->l);
        if (fd < 0) {
            a->last = fd;
            return NULL;
        }
        T_REQUIRE(a->p->count < 4 * N);
        a->p->fds[a->p->count++] = fd;
        a->p->per_task[a->idx]++;
        tr_yield(); /* let the others take some */
    }
}

static void *acceptors_task(void *arg) {
    (void)arg;
    int port;
    int lfd = io_tcp_listen(4 * N, &port);
    T_REQUIRE(lfd >= 0);
    struct pool p = {.l = tr_listener_open(lfd)};
    T_REQUIRE(p.l);
    struct acc_arg a[4];
    tr_task *t[4];
    for (int i = 0; i < 4; i++) {
        a[i] = (struct acc_arg){.p = &p, .idx = i};
        t[i] = tr_spawn(acceptor, &a[i]);
        T_REQUIRE(t[i]);
    }
    tr_sleep(5 * MS); /* all four wait */
    int clients[4 * N];
    for (int i = 0; i < 4 * N; i++) {
        clients[i] = io_tcp_connect(port);
        T_REQUIRE(clients[i] >= 0);
        if (i % 16 == 15)
            tr_sleep(1 * MS);
    }
    uint64_t until = io_now_ns() + 5000 * MS;
    while (p.count < 4 * N && io_now_ns() < until)
        tr_sleep(1 * MS);
    T_EQ(p.count, 4 * N);
    for (int i = 0; i < p.count; i++)
        for (int j = 0; j < i; j++)
            T_CHECK(p.fds[i] != p.fds[j]);
    /* Closing the listener ends every acceptor's loop with -ECANCELED. */
    tr_listener_close(p.l);
    for (int i = 0; i < 4; i++) {
        T_EQ(tr_await(t[i], NULL), 0);
        T_EQ(a[i].last, -ECANCELED);
        tr_task_release(t[i]);
    }
    for (int i = 0; i < p.count; i++)
        close(p.fds[i]);
    for (int i = 0; i < 4 * N; i++)
        close(clients[i]);
    close(lfd);
    return NULL;
}

static void test_several_acceptors(void **state) {
    (void)state;
    io_run(acceptors_task, NULL);
}

/* ---- queued before anyone accepts; the queue grows ----------------------------------------------
 */

enum { QUEUED = 200 };

static void *queued_task(void *arg) {
    (void)arg;
    int port;
    int lfd = io_tcp_listen(QUEUED, &port);
    T_REQUIRE(lfd >= 0);
    tr_listener *l = tr_listener_open(lfd);
    T_REQUIRE(l);
    static int clients[QUEUED], fds[QUEUED];
    for (int i = 0; i < QUEUED; i++) {
        clients[i] = io_tcp_connect(port);
        T_REQUIRE(clients[i] >= 0);
        if (i % 50 == 49)
            tr_sleep(2 * MS); /* the listener drains the backlog into its queue */
    }
    tr_sleep(20 * MS);
    for (int i = 0; i < QUEUED; i++) {
        fds[i] = tr_listener_accept(l);
        T_REQUIRE(fds[i] >= 0);
    }
    for (int i = 0; i < QUEUED; i++)
        for (int j = 0; j < i; j++)
            T_CHECK(fds[i] != fds[j]);
    tr_listener_close(l);
    for (int i = 0; i < QUEUED; i++) {
        close(fds[i]);
        close(clients[i]);
    }
    close(lfd);
    return NULL;
}

static void test_queued(void **state) {
    (void)state;
    assert_int_equal(io_raise_nofile(4096), 0);
    io_run(queued_task, NULL);
}

/* ---- close ---------------------------------------------------------------------------------
 */

struct waiter {
    tr_listener *l;
    int res;
    bool returned;
};

static void *wait_accept(void *arg) {
    struct waiter *w = arg;
    w->res = tr_listener_accept(w->l);
    w->returned = true;
    return NULL;
}

static void *close_wakes_task(void *arg) {
    (void)arg;
    int port;
    int lfd = io_tcp_listen(8, &port);
    T_REQUIRE(lfd >= 0);
    tr_listener *l = tr_listener_open(lfd);
    T_REQUIRE(l);
    struct waiter w[3];
    tr_task *t[3];
    for (int i = 0; i < 3; i++) {
        w[i] = (struct waiter){.l = l, .res = 1};
        t[i] = tr_spawn(wait_accept, &w[i]);
        T_REQUIRE(t[i]);
    }
    tr_sleep(10 * MS);
    for (int i = 0; i < 3; i++)
        T_CHECK(!w[i].returned);
    tr_listener_close(l);
    for (int i = 0; i < 3; i++) {
        T_EQ(tr_await(t[i], NULL), 0); /* woken, not cancelled: they return normally */
        T_CHECK(w[i].returned);
        T_EQ(w[i].res, -ECANCELED);
        tr_task_release(t[i]);
    }

    /* The socket is free for a new listener, which gets the next connection. */
    tr_listener *l2 = tr_listener_open(lfd);
    T_REQUIRE(l2);
    int c = io_tcp_connect(port);
    T_REQUIRE(c >= 0);
    int fd = tr_listener_accept(l2);
    T_CHECK(fd >= 0);
    tr_listener_close(l2);
    close(fd);
    close(c);
    close(lfd);
    return NULL;
}

static void test_close_wakes(void **state) {
    (void)state;
    io_run(close_wakes_task, NULL);
}

static void *close_queued_task(void *arg) {
    (void)arg;
    int port;
    int lfd = io_tcp_listen(8, &port);
    T_REQUIRE(lfd >= 0);
    int base = io_count_fds();
    tr_listener *l = tr_listener_open(lfd);
    T_REQUIRE(l);
    int clients[5];
    for (int i = 0; i < 5; i++) {
        clients[i] = io_tcp_connect(port);
        T_REQUIRE(clients[i] >= 0);
    }
    tr_sleep(20 * MS); /* accepted into the listener's queue */
    T_EQ(io_count_fds(), base + 10);
    tr_listener_close(l);
    tr_sleep(10 * MS);
    T_EQ(io_count_fds(), base + 5); /* the queued connections were closed */
    for (int i = 0; i < 5; i++) {
        char b;
        tr_deadline d;
        tr_deadline_begin(&d, 2000 * MS);
        T_EQ(tr_recv(clients[i], &b, 1, 0), 0); /* the client sees the close */
        tr_deadline_end(&d);
        close(clients[i]);
    }
    close(lfd);
    return NULL;
}

static void test_close_queued(void **state) {
    (void)state;
    io_run(close_queued_task, NULL);
}

/* ---- an accept error is reported, and the listener recovers -------------------------------------
 *
 * With RLIMIT_NOFILE at the lowest free descriptor when the listener arms its accept
 * (io_uring takes the limit at submission), the kernel's accept fails with EMFILE. The
 * acceptor gets that error; with the limit back, the next accept gets the connection that
 * waited in the backlog meanwhile, and later ones.
 */

static void *emfile_task(void *arg) {
    (void)arg;
    int port;
    int lfd = io_tcp_listen(8, &port);
    T_REQUIRE(lfd >= 0);
    int c2 = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    T_REQUIRE(c2 >= 0);
    struct rlimit old, low;
    T_REQUIRE(getrlimit(RLIMIT_NOFILE, &old) == 0);
    int lowest_free = 0;
    while (fcntl(lowest_free, F_GETFD) >= 0)
        lowest_free++;
    low = old;
    low.rlim_cur = (rlim_t)lowest_free; /* no new descriptor fits */
    T_REQUIRE(setrlimit(RLIMIT_NOFILE, &low) == 0);
    tr_listener *l = tr_listener_open(lfd); /* arms its accept under the low limit */
    T_CHECK(l != NULL);
    tr_sleep(2 * MS);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int crc = connect(c2, (struct sockaddr *)&sin, sizeof sin);
    int rc = 1;
    if (l) {
        tr_deadline d;
        tr_deadline_begin(&d, 2000 * MS);
        rc = tr_listener_accept(l);
        tr_deadline_end(&d);
    }
    T_REQUIRE(setrlimit(RLIMIT_NOFILE, &old) == 0);
    T_REQUIRE(l);
    T_EQ(crc, 0);
    T_EQ(rc, -EMFILE);
    if (rc >= 0)
        close(rc);

    /* Recovered: the connection that waited, then a new one. */
    tr_deadline d;
    tr_deadline_begin(&d, 2000 * MS);
    int fd2 = tr_listener_accept(l);
    T_CHECK(fd2 >= 0);
    int c3 = io_tcp_connect(port);
    T_CHECK(c3 >= 0);
    int fd3 = tr_listener_accept(l);
    T_CHECK(fd3 >= 0);
    tr_deadline_end(&d);
    if (fd2 >= 0)
        T_EQ(peer_port(fd2), local_port(c2));
    if (fd3 >= 0)
        T_EQ(peer_port(fd3), local_port(c3));

    tr_listener_close(l);
    if (fd2 >= 0)
        close(fd2);
    if (fd3 >= 0)
        close(fd3);
    close(c2);
    if (c3 >= 0)
        close(c3);
    close(lfd);
    return NULL;
}

static void test_accept_error_recovers(void **state) {
    (void)state;
    if (RUNNING_ON_VALGRIND)
        TEST_SKIP("valgrind emulates RLIMIT_NOFILE: the kernel never sees the low limit");
    io_run(emfile_task, NULL);
}

/* ---- a tiny ring: the completion queue overflows under a burst of connections ----------------
 *
 * With 2 SQ entries the CQ has 4: a burst of accepted connections overflows it, and the
 * kernel may end the multishot accept (a final CQE without IORING_CQE_F_MORE). The listener
 * must re-arm and take every connection.
 */

enum { BURST = 64 };

static void *tiny_ring_task(void *arg) {
    (void)arg;
    int port;
    int lfd = io_tcp_listen(BURST, &port);
    T_REQUIRE(lfd >= 0);
    tr_listener *l = tr_listener_open(lfd);
    T_REQUIRE(l);
    tr_sleep(2 * MS);
    int clients[BURST], fds[BURST];
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < BURST; i++) {
            clients[i] = io_tcp_connect(port);
            T_REQUIRE(clients[i] >= 0);
        }
        tr_deadline d;
        tr_deadline_begin(&d, 3000 * MS);
        int got = 0;
        for (; got < BURST; got++) {
            fds[got] = tr_listener_accept(l);
            if (fds[got] < 0)
                break;
        }
        tr_deadline_end(&d);
        T_EQ(got, BURST);
        for (int i = 0; i < got; i++)
            close(fds[i]);
        for (int i = 0; i < BURST; i++)
            close(clients[i]);
    }
    tr_listener_close(l);
    close(lfd);
    return NULL;
}

static void test_tiny_ring(void **state) {
    (void)state;
    tr_options opts = {.ring_entries = 2};
    io_run_with(&opts, tiny_ring_task, NULL);
}

/* ---- bad input ------------------------------------------------------------------------------
 */

static void *bad_input_task(void *arg) {
    (void)arg;
    T_EQ(tr_listener_accept(NULL), -EINVAL);
    errno = 0;
    T_CHECK(tr_listener_open(-1) == NULL);
    T_EQ(errno, EBADF);
    tr_listener_close(NULL); /* ignored */

    /* Not a listening socket: accept reports the kernel's error instead of hanging. */
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    T_REQUIRE(s >= 0);
    tr_listener *l = tr_listener_open(s);
    T_REQUIRE(l);
    tr_deadline d;
    tr_deadline_begin(&d, 2000 * MS);
    T_EQ(tr_listener_accept(l), -EINVAL);
    tr_deadline_end(&d);
    tr_listener_close(l);
    close(s);

    int f = io_tmpfile();
    T_REQUIRE(f >= 0);
    l = tr_listener_open(f);
    T_REQUIRE(l);
    tr_deadline_begin(&d, 2000 * MS);
    T_EQ(tr_listener_accept(l), -ENOTSOCK);
    tr_deadline_end(&d);
    tr_listener_close(l);
    close(f);
    return NULL;
}

static void test_bad_input(void **state) {
    (void)state;
    io_run(bad_input_task, NULL);
    int port;
    int lfd = io_tcp_listen(1, &port);
    assert_true(lfd >= 0);
    errno = 0;
    assert_null(tr_listener_open(lfd)); /* outside a task */
    assert_int_equal(errno, EPERM);
    assert_int_equal(tr_listener_accept(NULL), -EINVAL);
    close(lfd);
}

/* ---- a listener of another loop ----------------------------------------------------------------
 */

static tr_listener *foreign;
static int foreign_res;

static void *other_loop_main(void *arg) {
    (void)arg;
    foreign_res = tr_listener_accept(foreign);
    return NULL;
}

static int no_loop_res;

static void *other_thread(void *arg) {
    (void)arg;
    no_loop_res = tr_listener_accept(foreign); /* a thread without any loop */
    int rc = tr_run(other_loop_main, NULL, NULL);
    return (void *)(intptr_t)rc;
}

static void *other_loop_task(void *arg) {
    (void)arg;
    int port;
    int lfd = io_tcp_listen(4, &port);
    T_REQUIRE(lfd >= 0);
    foreign = tr_listener_open(lfd);
    T_REQUIRE(foreign);
    foreign_res = 1;
    no_loop_res = 1;
    pthread_t th;
    T_REQUIRE(pthread_create(&th, NULL, other_thread, NULL) == 0);
    void *rc = NULL;
    pthread_join(th, &rc); /* blocks this loop briefly: fine here */
    T_EQ((intptr_t)rc, 0);
    T_EQ(foreign_res, -EPERM);
    T_EQ(no_loop_res, -EPERM);
    /* Still usable by its own loop. */
    int c = io_tcp_connect(port);
    T_REQUIRE(c >= 0);
    int fd = tr_listener_accept(foreign);
    T_CHECK(fd >= 0);
    tr_listener_close(foreign);
    close(fd);
    close(c);
    close(lfd);
    return NULL;
}

static void test_other_loop(void **state) {
    (void)state;
    io_run(other_loop_task, NULL);
}

int main(int argc, char **argv) {
    io_parse_args(&argc, argv);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_plain_clients, io_setup),
        cmocka_unit_test_setup(test_task_clients, io_setup),
        cmocka_unit_test_setup(test_several_acceptors, io_setup),
        cmocka_unit_test_setup(test_queued, io_setup),
        cmocka_unit_test_setup(test_close_wakes, io_setup),
        cmocka_unit_test_setup(test_close_queued, io_setup),
        cmocka_unit_test_setup(test_accept_error_recovers, io_setup),
        cmocka_unit_test_setup(test_tiny_ring, io_setup),
        cmocka_unit_test_setup(test_bad_input, io_setup),
        cmocka_unit_test_setup(test_other_loop, io_setup),
    };
    return test_result(cmocka_run_group_tests(tests, NULL, NULL));
}
