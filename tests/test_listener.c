/* Listeners: tr_listener_open / tr_listener_accept / tr_listener_close (multishot accept). */
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>

#include "test_util.h"

static int listen_loopback(struct sockaddr_in *addr) {
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(lfd >= 0);
    memset(addr, 0, sizeof *addr);
    addr->sin_family = AF_INET;
    addr->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(lfd, (struct sockaddr *)addr, sizeof *addr), 0);
    socklen_t len = sizeof *addr;
    assert_int_equal(getsockname(lfd, (struct sockaddr *)addr, &len), 0);
    assert_int_equal(listen(lfd, 64), 0);
    return lfd;
}

/* A plain blocking connect; loopback completes it through the backlog. */
static int connect_to(const struct sockaddr_in *addr) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    assert_int_equal(connect(fd, (const struct sockaddr *)addr, sizeof *addr), 0);
    return fd;
}

/* The accepted fd `a` is connected to client `c`. */
static void assert_connected(int a, int c) {
    char buf[8] = {0};
    assert_int_equal(write(c, "hi", 2), 2);
    assert_int_equal(read(a, buf, sizeof buf), 2);
    assert_string_equal(buf, "hi");
}

static void test_outside_task(void **state) {
    (void)state;
    errno = 0;
    assert_null(tr_listener_open(3));
    assert_int_equal(errno, EPERM);
    assert_int_equal(tr_listener_accept(NULL), -EINVAL);
    tr_listener_close(NULL);
}

struct accept_waiter {
    tr_listener *l;
    int fd;
};

static void *accept_task(void *arg) {
    struct accept_waiter *w = arg;
    w->fd = tr_listener_accept(w->l);
    return NULL;
}

static void *from_plain_thread(void *arg) {
    return (void *)(intptr_t)tr_listener_accept(arg);
}

static void *listener_main(void *arg) {
    (void)arg;
    errno = 0;
    assert_null(tr_listener_open(-1));
    assert_int_equal(errno, EBADF);
    assert_int_equal(tr_listener_accept(NULL), -EINVAL);

    struct sockaddr_in addr;
    int lfd = listen_loopback(&addr);
    tr_listener *l = tr_listener_open(lfd);
    assert_non_null(l);

    /* Connections made while nobody waits are queued, then handed out at once. */
    int c[3];
    for (int i = 0; i < 3; i++)
        c[i] = connect_to(&addr);
    assert_int_equal(tr_sleep(5 * MS), 0); /* let the multishot accept collect them */
    int a[3];
    for (int i = 0; i < 3; i++) {
        a[i] = tr_listener_accept(l);
        assert_true(a[i] >= 0);
        assert_true(fcntl(a[i], F_GETFD) & FD_CLOEXEC);
    }
    /* Which accepted fd belongs to which client is not promised: match by data. */
    for (int i = 0; i < 3; i++) {
        char msg[2] = {(char)('0' + i), 0};
        assert_int_equal(write(c[i], msg, 1), 1);
    }
    int seen = 0;
    for (int i = 0; i < 3; i++) {
        char ch;
        assert_int_equal(read(a[i], &ch, 1), 1);
        seen |= 1 << (ch - '0');
    }
    assert_int_equal(seen, 7);
    for (int i = 0; i < 3; i++) {
        close(a[i]);
        close(c[i]);
    }

    /* A waiting task gets the next connection. */
    struct accept_waiter w = {l, -999};
    tr_task *t = tr_spawn(accept_task, &w);
    assert_int_equal(tr_yield(), 0);
    assert_false(tr_task_done(t));
    int client = connect_to(&addr);
    assert_int_equal(tr_await(t, NULL), 0);
    assert_true(w.fd >= 0);
    assert_connected(w.fd, client);
    close(w.fd);
    close(client);
    tr_task_release(t);

    /* From a thread without a loop: EPERM. */
    pthread_t th;
    void *rc;
    assert_int_equal(pthread_create(&th, NULL, from_plain_thread, l), 0);
    assert_int_equal(pthread_join(th, &rc), 0);
    assert_int_equal((int)(intptr_t)rc, -EPERM);

    /* A cancelled waiter: -ECANCELED. A deadline: -ETIME. */
    w.fd = -999;
    t = tr_spawn(accept_task, &w);
    assert_int_equal(tr_yield(), 0);
    assert_int_equal(tr_task_cancel(t), 1);
    assert_int_equal(tr_await(t, NULL), -ECANCELED);
    assert_int_equal(w.fd, -ECANCELED);
    tr_task_release(t);
    tr_deadline d;
    assert_int_equal(tr_deadline_begin(&d, 5 * MS), 0);
    assert_int_equal(tr_listener_accept(l), -ETIME);
    tr_deadline_end(&d);

    /* The listener still works after those. */
    client = connect_to(&addr);
    int fd = tr_listener_accept(l);
    assert_true(fd >= 0);
    assert_connected(fd, client);
    close(fd);
    close(client);

    /* Closing wakes every waiter with -ECANCELED. */
    struct accept_waiter ws[3];
    tr_task *wt[3];
    for (int i = 0; i < 3; i++) {
        ws[i].l = l;
        ws[i].fd = -999;
        wt[i] = tr_spawn(accept_task, &ws[i]);
    }
    assert_int_equal(tr_yield(), 0);
    tr_listener_close(l);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(tr_await(wt[i], NULL), 0);
        assert_int_equal(ws[i].fd, -ECANCELED);
        tr_task_release(wt[i]);
    }
    /* The listener did not own lfd: it is still open. */
    assert_true(fcntl(lfd, F_GETFD) >= 0);
    close(lfd);
    return NULL;
}

static void test_listener(void **state) {
    (void)state;
    run_ok(listener_main, NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_outside_task),
        cmocka_unit_test(test_listener),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
