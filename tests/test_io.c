/* The I/O calls: each suspends only its task until the io_uring operation completes.
 * Success on pipes, files, socketpairs and TCP loopback; kernel errors passed through;
 * -EPERM outside a task; -EFAULT for tr_openat(NULL); cancellation before and during an
 * operation. */
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <linux/io_uring.h>

#include "test_util.h"

/* ---- outside a task ---- */

static void test_outside_task(void **state) {
    (void)state;
    char buf[4];
    struct iovec iov = {buf, sizeof buf};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
    struct sockaddr_in sa = {0};
    unsigned salen = sizeof sa;
    assert_int_equal(tr_read(0, buf, sizeof buf, -1), -EPERM);
    assert_int_equal(tr_write(1, buf, 0, -1), -EPERM);
    assert_int_equal(tr_readv(0, &iov, 1, -1), -EPERM);
    assert_int_equal(tr_writev(1, &iov, 1, -1), -EPERM);
    assert_int_equal(tr_recv(0, buf, sizeof buf, 0), -EPERM);
    assert_int_equal(tr_send(1, buf, sizeof buf, 0), -EPERM);
    assert_int_equal(tr_recvmsg(0, &msg, 0), -EPERM);
    assert_int_equal(tr_sendmsg(1, &msg, 0), -EPERM);
    assert_int_equal(tr_accept(0, (struct sockaddr *)&sa, &salen, 0), -EPERM);
    assert_int_equal(tr_connect(0, (struct sockaddr *)&sa, salen), -EPERM);
    assert_int_equal(tr_shutdown(0, SHUT_RDWR), -EPERM);
    assert_int_equal(tr_openat(AT_FDCWD, "/dev/null", O_RDONLY, 0), -EPERM);
    assert_int_equal(tr_close(12345), -EPERM);
    assert_int_equal(tr_fsync(1, 0), -EPERM);
    assert_int_equal(tr_poll(0, POLLIN), -EPERM);
    assert_int_equal(tr_nop(), -EPERM);
    /* checked before anything else */
    assert_int_equal(tr_openat(AT_FDCWD, NULL, O_RDONLY, 0), -EFAULT);
}

/* ---- files ---- */

static void *file_main(void *arg) {
    (void)arg;
    char path[] = "/tmp/taskring-test-io-XXXXXX";
    int tmp = mkstemp(path);
    assert_true(tmp >= 0);
    close(tmp);

    assert_int_equal(tr_openat(AT_FDCWD, NULL, O_RDONLY, 0), -EFAULT);
    int fd = tr_openat(AT_FDCWD, path, O_RDWR | O_TRUNC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(tr_write(fd, "hello world", 11, 0), 11);
    assert_int_equal(tr_fsync(fd, 0), 0);
    assert_int_equal(tr_fsync(fd, IORING_FSYNC_DATASYNC), 0);
    char buf[64] = {0};
    assert_int_equal(tr_read(fd, buf, 5, 6), 5);
    assert_memory_equal(buf, "world", 5);

    /* offset -1: the file position, which advances */
    assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
    assert_int_equal(tr_write(fd, "ab", 2, -1), 2);
    assert_int_equal(tr_write(fd, "cd", 2, -1), 2);
    assert_int_equal(lseek(fd, 0, SEEK_CUR), 4);
    memset(buf, 0, sizeof buf);
    assert_int_equal(tr_read(fd, buf, 3, -1), 3);
    assert_memory_equal(buf, "o w", 3);
    memset(buf, 0, sizeof buf);
    assert_int_equal(tr_read(fd, buf, sizeof buf, 0), 11);
    assert_string_equal(buf, "abcdo world");
    assert_int_equal(tr_read(fd, buf, sizeof buf, 100), 0); /* EOF */

    /* vectored */
    struct iovec out[2] = {{"12", 2}, {"345", 3}};
    assert_int_equal(tr_writev(fd, out, 2, 0), 5);
    char a[3] = {0}, b[4] = {0};
    struct iovec in[2] = {{a, 2}, {b, 3}};
    assert_int_equal(tr_readv(fd, in, 2, 0), 5);
    assert_string_equal(a, "12");
    assert_string_equal(b, "345");

    assert_int_equal(tr_close(fd), 0);
    assert_int_equal(tr_close(fd), -EBADF);
    assert_int_equal(tr_read(fd, buf, 1, 0), -EBADF);
    assert_int_equal(tr_openat(AT_FDCWD, "/nonexistent/taskring", O_RDONLY, 0), -ENOENT);
    unlink(path);
    return NULL;
}

static void test_files(void **state) {
    (void)state;
    run_ok(file_main, NULL);
}

/* ---- pipes: a read suspends only its task ---- */

struct pipe_reader {
    int fd;
    int rc;
    char buf[16];
    uint64_t done_at;
};

static void *pipe_read_task(void *arg) {
    struct pipe_reader *r = arg;
    r->rc = tr_read(r->fd, r->buf, sizeof r->buf, -1);
    r->done_at = now_ns();
    return NULL;
}

static void *pipe_main(void *arg) {
    (void)arg;
    enum { N = 32 };
    int fds[N][2];
    struct pipe_reader r[N];
    tr_task *t[N];
    for (int i = 0; i < N; i++) {
        assert_int_equal(pipe(fds[i]), 0);
        r[i].fd = fds[i][0];
        r[i].rc = 1;
        t[i] = tr_spawn(pipe_read_task, &r[i]);
    }
    assert_int_equal(tr_sleep(5 * MS), 0); /* the loop runs while all readers wait */
    for (int i = 0; i < N; i++)
        assert_false(tr_task_done(t[i]));
    /* Answer them in reverse order, through the ring too. */
    for (int i = N - 1; i >= 0; i--) {
        char msg[16];
        int len = snprintf(msg, sizeof msg, "pipe %d", i);
        assert_int_equal(tr_write(fds[i][1], msg, (size_t)len, -1), len);
    }
    for (int i = 0; i < N; i++) {
        assert_int_equal(tr_await(t[i], NULL), 0);
        char want[16];
        int len = snprintf(want, sizeof want, "pipe %d", i);
        assert_int_equal(r[i].rc, len);
        assert_memory_equal(r[i].buf, want, (size_t)len);
        tr_task_release(t[i]);
        close(fds[i][0]);
        close(fds[i][1]);
    }
    return NULL;
}

static void test_pipes(void **state) {
    (void)state;
    run_ok(pipe_main, NULL);
}

/* ---- poll and nop ---- */

static void *poll_task(void *arg) {
    int fd = (int)(intptr_t)arg;
    return (void *)(intptr_t)tr_poll(fd, POLLIN);
}

static void *poll_main(void *arg) {
    (void)arg;
    assert_int_equal(tr_nop(), 0);
    int p[2];
    assert_int_equal(pipe(p), 0);
    /* writable at once */
    int rc = tr_poll(p[1], POLLOUT);
    assert_true(rc > 0 && (rc & POLLOUT));
    tr_task *t = tr_spawn(poll_task, (void *)(intptr_t)p[0]);
    assert_int_equal(tr_sleep(2 * MS), 0);
    assert_false(tr_task_done(t));
    assert_int_equal(write(p[1], "x", 1), 1);
    void *r;
    assert_int_equal(tr_await(t, &r), 0);
    assert_true((int)(intptr_t)r & POLLIN);
    tr_task_release(t);
    close(p[0]);
    close(p[1]);
    return NULL;
}

static void test_poll_nop(void **state) {
    (void)state;
    run_ok(poll_main, NULL);
}

/* ---- socketpair: send/recv, sendmsg/recvmsg, shutdown ---- */

static void *sock_peer(void *arg) {
    int fd = (int)(intptr_t)arg;
    char buf[32];
    int n = tr_recv(fd, buf, sizeof buf, 0);
    if (n <= 0)
        return (void *)(intptr_t)-1;
    /* echo back, upper-cased, with sendmsg */
    for (int i = 0; i < n; i++)
        if (buf[i] >= 'a' && buf[i] <= 'z')
            buf[i] = (char)(buf[i] - 32);
    struct iovec iov = {buf, (size_t)n};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
    if (tr_sendmsg(fd, &msg, 0) != n)
        return (void *)(intptr_t)-2;
    /* then wait for the end of the stream */
    return (void *)(intptr_t)tr_recv(fd, buf, sizeof buf, 0);
}

static void *socket_main(void *arg) {
    (void)arg;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    tr_task *peer = tr_spawn(sock_peer, (void *)(intptr_t)sv[1]);
    assert_int_equal(tr_send(sv[0], "hello", 5, MSG_NOSIGNAL), 5);
    char buf[16] = {0};
    struct iovec iov = {buf, sizeof buf};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
    assert_int_equal(tr_recvmsg(sv[0], &msg, 0), 5);
    assert_string_equal(buf, "HELLO");
    assert_int_equal(tr_shutdown(sv[0], SHUT_WR), 0);
    void *r;
    assert_int_equal(tr_await(peer, &r), 0);
    assert_int_equal((int)(intptr_t)r, 0); /* the peer saw the end of the stream */
    tr_task_release(peer);
    assert_int_equal(tr_shutdown(-1, SHUT_WR), -EBADF);
    close(sv[0]);
    close(sv[1]);
    return NULL;
}

static void test_sockets(void **state) {
    (void)state;
    run_ok(socket_main, NULL);
}

/* ---- TCP loopback: accept / connect ---- */

static int listen_loopback(struct sockaddr_in *addr) {
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(lfd >= 0);
    memset(addr, 0, sizeof *addr);
    addr->sin_family = AF_INET;
    addr->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(lfd, (struct sockaddr *)addr, sizeof *addr), 0);
    socklen_t len = sizeof *addr;
    assert_int_equal(getsockname(lfd, (struct sockaddr *)addr, &len), 0);
    assert_int_equal(listen(lfd, 16), 0);
    return lfd;
}

static struct sockaddr_in server_addr;

static void *client_task(void *arg) {
    (void)arg;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return (void *)(intptr_t)-errno;
    int rc = tr_connect(fd, (struct sockaddr *)&server_addr, sizeof server_addr);
    if (rc == 0)
        rc = tr_send(fd, "ping", 4, MSG_NOSIGNAL) == 4 ? 0 : -EIO;
    close(fd);
    return (void *)(intptr_t)rc;
}

static void *tcp_main(void *arg) {
    (void)arg;
    int lfd = listen_loopback(&server_addr);
    tr_task *c = tr_spawn(client_task, NULL);
    struct sockaddr_in peer;
    unsigned plen = sizeof peer;
    int fd = tr_accept(lfd, (struct sockaddr *)&peer, &plen, SOCK_CLOEXEC);
    assert_true(fd >= 0);
    assert_int_equal(plen, sizeof peer);
    assert_int_equal(peer.sin_family, AF_INET);
    assert_int_equal(ntohl(peer.sin_addr.s_addr), INADDR_LOOPBACK);
    assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    char buf[8] = {0};
    assert_int_equal(tr_recv(fd, buf, sizeof buf, MSG_WAITALL), 4);
    assert_string_equal(buf, "ping");
    void *r;
    assert_int_equal(tr_await(c, &r), 0);
    assert_int_equal((int)(intptr_t)r, 0);
    tr_task_release(c);
    assert_int_equal(tr_close(fd), 0);

    /* NULL address is allowed, as for accept4(2) */
    c = tr_spawn(client_task, NULL);
    fd = tr_accept(lfd, NULL, NULL, 0);
    assert_true(fd >= 0);
    assert_int_equal(tr_await(c, NULL), 0);
    tr_task_release(c);
    close(fd);

    /* Connecting to a closed port: the kernel's error. */
    close(lfd);
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_int_equal(tr_connect(s, (struct sockaddr *)&server_addr, sizeof server_addr),
                     -ECONNREFUSED);
    close(s);
    assert_int_equal(tr_accept(-1, NULL, NULL, 0), -EBADF);
    return NULL;
}

static void test_tcp(void **state) {
    (void)state;
    run_ok(tcp_main, NULL);
}

/* ---- cancellation ---- */

struct blocked {
    int fd;
    int rc;
    int after_rc;
    char buf[8];
};

static void *blocked_reader(void *arg) {
    struct blocked *b = arg;
    b->rc = tr_read(b->fd, b->buf, sizeof b->buf, -1);
    b->after_rc = tr_nop(); /* sticky: at once, nothing submitted */
    return NULL;
}

static void *cancel_io_main(void *arg) {
    (void)arg;
    int p[2];
    assert_int_equal(pipe(p), 0);
    struct blocked b = {.fd = p[0], .rc = 1, .after_rc = 1};
    tr_task *t = tr_spawn(blocked_reader, &b);
    assert_int_equal(tr_sleep(2 * MS), 0);
    assert_false(tr_task_done(t));
    uint64_t t0 = now_ns();
    assert_int_equal(tr_task_cancel(t), 1);
    assert_int_equal(tr_await(t, NULL), -ECANCELED);
    assert_true(now_ns() - t0 < 5000 * MS);
    assert_int_equal(b.rc, -ECANCELED);
    assert_int_equal(b.after_rc, -ECANCELED);
    tr_task_release(t);
    /* The cancelled read consumed nothing: data written now is there for read(2). */
    assert_int_equal(write(p[1], "data", 4), 4);
    char buf[8];
    assert_int_equal(read(p[0], buf, sizeof buf), 4);
    assert_memory_equal(buf, "data", 4);
    close(p[0]);
    close(p[1]);
    return NULL;
}

static void test_cancel_during_io(void **state) {
    (void)state;
    run_ok(cancel_io_main, NULL);
}

struct cancelled_io {
    int wfd;
    int write_rc, nop_rc, poll_rc, open_rc;
};

static void *io_after_cancel(void *arg) {
    struct cancelled_io *c = arg;
    tr_task_cancel(tr_current());
    c->write_rc = tr_write(c->wfd, "x", 1, -1);
    c->nop_rc = tr_nop();
    c->poll_rc = tr_poll(c->wfd, POLLOUT);
    c->open_rc = tr_openat(AT_FDCWD, "/dev/null", O_RDONLY, 0);
    return NULL;
}

static void *cancelled_main(void *arg) {
    (void)arg;
    int p[2];
    assert_int_equal(pipe2(p, O_NONBLOCK), 0);
    struct cancelled_io c = {.wfd = p[1], 1, 1, 1, 1};
    tr_task *t = tr_spawn(io_after_cancel, &c);
    assert_int_equal(tr_await(t, NULL), -ECANCELED);
    tr_task_release(t);
    assert_int_equal(c.write_rc, -ECANCELED);
    assert_int_equal(c.nop_rc, -ECANCELED);
    assert_int_equal(c.poll_rc, -ECANCELED);
    assert_int_equal(c.open_rc, -ECANCELED);
    char buf[4];
    assert_int_equal(read(p[0], buf, sizeof buf), -1); /* nothing was written */
    assert_int_equal(errno, EAGAIN);
    close(p[0]);
    close(p[1]);
    return NULL;
}

static void test_io_of_cancelled_task(void **state) {
    (void)state;
    run_ok(cancelled_main, NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_outside_task),
        cmocka_unit_test(test_files),
        cmocka_unit_test(test_pipes),
        cmocka_unit_test(test_poll_nop),
        cmocka_unit_test(test_sockets),
        cmocka_unit_test(test_tcp),
        cmocka_unit_test(test_cancel_during_io),
        cmocka_unit_test(test_io_of_cancelled_task),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
