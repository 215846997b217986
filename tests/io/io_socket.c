/*
 * io_socket.c - tr_recv, tr_send, tr_recvmsg, tr_sendmsg, tr_shutdown on socketpairs and
 * TCP loopback pairs: data, short reads, blocking until data, EOF, peer reset, bad fds,
 * flags passed through (MSG_PEEK, MSG_WAITALL, MSG_DONTWAIT, MSG_TRUNC), ancillary data,
 * and -EPERM outside a task.
 */
#include "io_test.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

/* A task blocked in one receive call; `res` is its result once done. */
struct blocked {
    int fd;
    int kind; /* 0 recv, 1 recvmsg */
    int flags;
    char buf[64];
    int res;
    bool returned;
};

static void *blocked_recv(void *arg) {
    struct blocked *b = arg;
    memset(b->buf, 0, sizeof b->buf);
    if (b->kind == 0) {
        b->res = tr_recv(b->fd, b->buf, sizeof b->buf, b->flags);
    } else {
        struct iovec iov = {b->buf, sizeof b->buf};
        struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
        b->res = tr_recvmsg(b->fd, &msg, b->flags);
    }
    b->returned = true;
    return NULL;
}

/* Spawn blocked_recv(b), let it block for a while, and check that it did. */
static tr_task *start_blocked(struct blocked *b) {
    b->returned = false;
    tr_task *t = tr_spawn(blocked_recv, b);
    if (!t)
        return NULL;
    tr_sleep(20 * MS);
    if (b->returned)
        io_fail(__FILE__, __LINE__, "receive returned %d without anything to receive", b->res);
    return t;
}

static int finish_blocked(tr_task *t) {
    int rc = tr_await(t, NULL);
    tr_task_release(t);
    return rc;
}

/* ---- data, short reads, blocking ------------------------------------------------------------
 */

static void *send_recv_task(void *arg) {
    (void)arg;
    int sv[2];
    T_REQUIRE(io_socketpair(SOCK_STREAM, sv) == 0);
    char buf[64];
    memset(buf, 0, sizeof buf);

    T_EQ(tr_send(sv[0], "ping", 4, MSG_NOSIGNAL), 4);
    T_EQ(tr_recv(sv[1], buf, sizeof buf, 0), 4); /* asked for 64, 4 are there */
    T_CHECK(memcmp(buf, "ping", 4) == 0);

    /* Two sends, one receive large enough: a stream gives what is there (up to len). */
    T_EQ(tr_send(sv[1], "ab", 2, MSG_NOSIGNAL), 2);
    T_EQ(tr_send(sv[1], "cd", 2, MSG_NOSIGNAL), 2);
    memset(buf, 0, sizeof buf);
    T_EQ(tr_recv(sv[0], buf, 3, 0), 3); /* asked for less than there is */
    T_CHECK(memcmp(buf, "abc", 3) == 0);
    T_EQ(tr_recv(sv[0], buf, sizeof buf, 0), 1);
    T_EQ(buf[0], 'd');

    /* A receiver blocks until data comes, and gets exactly that. */
    struct blocked b = {.fd = sv[1]};
    tr_task *t = start_blocked(&b);
    T_REQUIRE(t);
    T_EQ(tr_send(sv[0], "late", 4, MSG_NOSIGNAL), 4);
    T_EQ(finish_blocked(t), 0);
    T_EQ(b.res, 4);
    T_CHECK(memcmp(b.buf, "late", 4) == 0);

    /* The same through recvmsg. */
    struct blocked m = {.fd = sv[0], .kind = 1};
    t = start_blocked(&m);
    T_REQUIRE(t);
    T_EQ(tr_send(sv[1], "viamsg", 6, MSG_NOSIGNAL), 6);
    T_EQ(finish_blocked(t), 0);
    T_EQ(m.res, 6);
    T_CHECK(memcmp(m.buf, "viamsg", 6) == 0);

    close(sv[0]);
    close(sv[1]);
    return NULL;
}

static void test_send_recv(void **state) {
    (void)state;
    io_run(send_recv_task, NULL);
}

/* ---- flags pass through ----------------------------------------------------------------------
 */

static void *flags_task(void *arg) {
    (void)arg;
    int sv[2];
    T_REQUIRE(io_socketpair(SOCK_STREAM, sv) == 0);
    char buf[64];

    T_EQ(tr_recv(sv[1], buf, sizeof buf, MSG_DONTWAIT), -EAGAIN);

    T_EQ(tr_send(sv[0], "peek", 4, MSG_NOSIGNAL), 4);
    memset(buf, 0, sizeof buf);
    T_EQ(tr_recv(sv[1], buf, sizeof buf, MSG_PEEK), 4);
    T_CHECK(memcmp(buf, "peek", 4) == 0);
    memset(buf, 0, sizeof buf);
    T_EQ(tr_recv(sv[1], buf, sizeof buf, 0), 4); /* still there after the peek */
    T_CHECK(memcmp(buf, "peek", 4) == 0);

    /* MSG_WAITALL: 8 bytes arriving in two pieces come back as one result. */
    struct blocked b = {.fd = sv[1], .flags = MSG_WAITALL};
    /* blocked_recv asks for sizeof buf (64): send exactly that in two halves. */
    tr_task *t = start_blocked(&b);
    T_REQUIRE(t);
    char half[32];
    memset(half, 'x', sizeof half);
    T_EQ(tr_send(sv[0], half, sizeof half, MSG_NOSIGNAL), 32);
    tr_sleep(10 * MS);
    T_CHECK(!b.returned); /* half is not all */
    memset(half, 'y', sizeof half);
    T_EQ(tr_send(sv[0], half, sizeof half, MSG_NOSIGNAL), 32);
    T_EQ(finish_blocked(t), 0);
    T_EQ(b.res, 64);
    T_EQ(b.buf[0], 'x');
    T_EQ(b.buf[63], 'y');

    /* A length beyond 32 bits is clamped, not truncated (2^32 + 3 would become 3). */
    if (!io_buffers_checked()) {
        T_EQ(tr_send(sv[0], "12345678", 8, MSG_NOSIGNAL), 8);
        memset(buf, 0, sizeof buf);
        T_EQ(tr_recv(sv[1], buf, ((size_t)1 << 32) + 3, 0), 8);
        T_CHECK(memcmp(buf, "12345678", 8) == 0);
    }

    /* Datagrams: MSG_TRUNC returns the real length; recvmsg reports truncation. */
    int dv[2];
    T_REQUIRE(io_socketpair(SOCK_DGRAM, dv) == 0);
    char big[100];
    memset(big, 'd', sizeof big);
    T_EQ(tr_send(dv[0], big, sizeof big, MSG_NOSIGNAL), 100);
    memset(buf, 0, sizeof buf);
    T_EQ(tr_recv(dv[1], buf, 10, MSG_TRUNC), 100);
    T_EQ(tr_send(dv[0], big, sizeof big, MSG_NOSIGNAL), 100);
    char small[10];
    struct iovec iov = {small, sizeof small};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
    T_EQ(tr_recvmsg(dv[1], &msg, 0), 10);
    T_CHECK(msg.msg_flags & MSG_TRUNC);

    close(dv[0]);
    close(dv[1]);
    close(sv[0]);
    close(sv[1]);
    return NULL;
}

static void test_flags(void **state) {
    (void)state;
    io_run(flags_task, NULL);
}

/* ---- sendmsg / recvmsg: iovecs and SCM_RIGHTS ------------------------------------------------
 */

static void *msg_task(void *arg) {
    (void)arg;
    int sv[2];
    T_REQUIRE(io_socketpair(SOCK_STREAM, sv) == 0);

    char h[] = "head:", b[] = "body:", t[] = "tail";
    struct iovec out[3] = {{h, 5}, {b, 5}, {t, 4}};
    struct msghdr smsg = {.msg_iov = out, .msg_iovlen = 3};
    T_EQ(tr_sendmsg(sv[0], &smsg, MSG_NOSIGNAL), 14);

    char r1[7], r2[7];
    memset(r1, 0, sizeof r1);
    memset(r2, 0, sizeof r2);
    struct iovec in[2] = {{r1, sizeof r1}, {r2, sizeof r2}};
    struct msghdr rmsg = {.msg_iov = in, .msg_iovlen = 2};
    T_EQ(tr_recvmsg(sv[1], &rmsg, 0), 14);
    T_CHECK(memcmp(r1, "head:bo", 7) == 0);
    T_CHECK(memcmp(r2, "dy:tail", 7) == 0);

    /* Pass a file descriptor. */
    int file = io_tmpfile();
    T_REQUIRE(file >= 0);
    char one = '!';
    struct iovec iov1 = {&one, 1};
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(int))];
    } ctl;
    memset(&ctl, 0, sizeof ctl);
    struct msghdr fmsg = {.msg_iov = &iov1,
                          .msg_iovlen = 1,
                          .msg_control = ctl.buf,
                          .msg_controllen = sizeof ctl.buf};
    struct cmsghdr *c = CMSG_FIRSTHDR(&fmsg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &file, sizeof file);
    T_EQ(tr_sendmsg(sv[0], &fmsg, MSG_NOSIGNAL), 1);

    char got = 0;
    struct iovec iov2 = {&got, 1};
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(int))];
    } rctl;
    memset(&rctl, 0, sizeof rctl);
    struct msghdr gmsg = {.msg_iov = &iov2,
                          .msg_iovlen = 1,
                          .msg_control = rctl.buf,
                          .msg_controllen = sizeof rctl.buf};
    T_EQ(tr_recvmsg(sv[1], &gmsg, MSG_CMSG_CLOEXEC), 1);
    T_EQ(got, '!');
    struct cmsghdr *rc = CMSG_FIRSTHDR(&gmsg);
    T_REQUIRE(rc != NULL);
    T_EQ(rc->cmsg_level, SOL_SOCKET);
    T_EQ(rc->cmsg_type, SCM_RIGHTS);
    int passed = -1;
    memcpy(&passed, CMSG_DATA(rc), sizeof passed);
    T_CHECK(passed >= 0 && passed != file);
    struct stat s1, s2;
    T_EQ(fstat(file, &s1), 0);
    T_EQ(fstat(passed, &s2), 0);
    T_EQ(s1.st_ino, s2.st_ino);
    T_EQ(s1.st_dev, s2.st_dev);
    T_EQ(fcntl(passed, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
    close(passed);
    close(file);
    close(sv[0]);
    close(sv[1]);
    return NULL;
}

static void test_msg(void **state) {
    (void)state;
    io_run(msg_task, NULL);
}

/* ---- EOF -------------------------------------------------------------------------------------
 */

static void *eof_task(void *arg) {
    (void)arg;
    char buf[16];
    struct iovec iov = {buf, sizeof buf};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};

    /* Peer already closed, data still queued: the data first, then 0. */
    int sv[2];
    T_REQUIRE(io_socketpair(SOCK_STREAM, sv) == 0);
    T_EQ(tr_send(sv[0], "last", 4, MSG_NOSIGNAL), 4);
    close(sv[0]);
    memset(buf, 0, sizeof buf);
    T_EQ(tr_recv(sv[1], buf, sizeof buf, 0), 4);
    T_EQ(tr_recv(sv[1], buf, sizeof buf, 0), 0);
    T_EQ(tr_recvmsg(sv[1], &msg, 0), 0);
    T_EQ(tr_recv(sv[1], buf, sizeof buf, 0), 0); /* and stays 0 */
    close(sv[1]);

    /* Blocked receivers woken by the peer's close (socketpair) and shutdown (TCP). */
    T_REQUIRE(io_socketpair(SOCK_STREAM, sv) == 0);
    struct blocked b = {.fd = sv[1]};
    tr_task *t = start_blocked(&b);
    T_REQUIRE(t);
    close(sv[0]);
    T_EQ(finish_blocked(t), 0);
    T_EQ(b.res, 0);
    close(sv[1]);

    int c, s;
    T_REQUIRE(io_tcp_pair(&c, &s) == 0);
    struct blocked m = {.fd = s, .kind = 1};
    t = start_blocked(&m);
    T_REQUIRE(t);
    T_EQ(shutdown(c, SHUT_WR), 0);
    T_EQ(finish_blocked(t), 0);
    T_EQ(m.res, 0);
    /* The other direction still works after a half close. */
    T_EQ(tr_send(s, "back", 4, MSG_NOSIGNAL), 4);
    memset(buf, 0, sizeof buf);
    T_EQ(tr_recv(c, buf, sizeof buf, 0), 4);
    T_CHECK(memcmp(buf, "back", 4) == 0);
    close(c);
    T_EQ(tr_recv(s, buf, sizeof buf, 0), 0);
    close(s);
    return NULL;
}

static void test_eof(void **state) {
    (void)state;
    io_run(eof_task, NULL);
}

/* ---- peer reset ------------------------------------------------------------------------------
 */

static bool reset_or_pipe(int rc) {
    return rc == -ECONNRESET || rc == -EPIPE;
}

static void *reset_task(void *arg) {
    (void)arg;
    char buf[16];
    int c, s;

    /* Reset before the call: recv reports it, later sends get -EPIPE. */
    T_REQUIRE(io_tcp_pair(&c, &s) == 0);
    T_EQ(io_set_linger_reset(c), 0);
    close(c);
    T_EQ(tr_recv(s, buf, sizeof buf, 0), -ECONNRESET);
    int rc = tr_send(s, "x", 1, MSG_NOSIGNAL);
    T_CHECK(reset_or_pipe(rc));
    T_EQ(tr_send(s, "x", 1, MSG_NOSIGNAL), -EPIPE);
    close(s);

    /* Reset before the call: the first send reports it (no SIGPIPE with MSG_NOSIGNAL). */
    T_REQUIRE(io_tcp_pair(&c, &s) == 0);
    T_EQ(io_set_linger_reset(c), 0);
    close(c);
    rc = tr_send(s, "x", 1, MSG_NOSIGNAL);
    T_CHECK(reset_or_pipe(rc));
    struct iovec iov = {(void *)"y", 1};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
    rc = tr_sendmsg(s, &msg, MSG_NOSIGNAL);
    T_CHECK(reset_or_pipe(rc));
    close(s);

    /* Reset while blocked in recv and in recvmsg. */
    for (int kind = 0; kind < 2; kind++) {
        T_REQUIRE(io_tcp_pair(&c, &s) == 0);
        struct blocked b = {.fd = s, .kind = kind};
        tr_task *t = start_blocked(&b);
        T_REQUIRE(t);
        T_EQ(io_set_linger_reset(c), 0);
        close(c);
        T_EQ(finish_blocked(t), 0);
        T_EQ(b.res, -ECONNRESET);
        close(s);
    }

    /* Reset with unread data queued on the resetting side. */
    T_REQUIRE(io_tcp_pair(&c, &s) == 0);
    T_EQ(tr_send(s, "unread", 6, MSG_NOSIGNAL), 6);
    tr_sleep(5 * MS);
    close(c); /* unread data: the kernel sends RST even without SO_LINGER */
    T_EQ(tr_recv(s, buf, sizeof buf, 0), -ECONNRESET);
    close(s);
    return NULL;
}

static void test_reset(void **state) {
    (void)state;
    io_run(reset_task, NULL);
}

/* ---- shutdown --------------------------------------------------------------------------------
 */

static void *shutdown_task(void *arg) {
    (void)arg;
    char buf[16];
    int sv[2];
    T_REQUIRE(io_socketpair(SOCK_STREAM, sv) == 0);
    T_EQ(tr_shutdown(sv[0], SHUT_WR), 0);
    T_EQ(tr_recv(sv[1], buf, sizeof buf, 0), 0); /* the peer sees EOF */
    T_EQ(tr_send(sv[0], "x", 1, MSG_NOSIGNAL), -EPIPE);
    /* The read side of sv[0] still works. */
    T_EQ(tr_send(sv[1], "r", 1, MSG_NOSIGNAL), 1);
    T_EQ(tr_recv(sv[0], buf, sizeof buf, 0), 1);
    T_EQ(tr_shutdown(sv[0], SHUT_RDWR), 0);
    T_EQ(tr_recv(sv[0], buf, sizeof buf, 0), 0);
    close(sv[0]);
    close(sv[1]);

    /* TCP: shutdown wakes a blocked peer with EOF. */
    int c, s;
    T_REQUIRE(io_tcp_pair(&c, &s) == 0);
    struct blocked b = {.fd = s};
    tr_task *t = start_blocked(&b);
    T_REQUIRE(t);
    T_EQ(tr_shutdown(c, SHUT_WR), 0);
    T_EQ(finish_blocked(t), 0);
    T_EQ(b.res, 0);
    close(c);
    close(s);

    /* Errors. */
    T_EQ(tr_shutdown(-1, SHUT_RDWR), -EBADF);
    int file = io_tmpfile();
    T_REQUIRE(file >= 0);
    T_EQ(tr_shutdown(file, SHUT_RDWR), -ENOTSOCK);
    close(file);
    int lone = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    T_REQUIRE(lone >= 0);
    T_EQ(tr_shutdown(lone, SHUT_RDWR), -ENOTCONN);
    T_REQUIRE(io_socketpair(SOCK_STREAM, sv) == 0);
    T_EQ(tr_shutdown(sv[0], 42), -EINVAL);
    close(sv[0]);
    close(sv[1]);
    close(lone);
    return NULL;
}

static void test_shutdown(void **state) {
    (void)state;
    io_run(shutdown_task, NULL);
}

/* ---- bad descriptors -------------------------------------------------------------------------
 */

static void *bad_fd_task(void *arg) {
    (void)arg;
    char buf[8] = {0};
    struct iovec iov = {buf, sizeof buf};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
    T_EQ(tr_recv(-1, buf, sizeof buf, 0), -EBADF);
    T_EQ(tr_send(-1, buf, sizeof buf, MSG_NOSIGNAL), -EBADF);
    T_EQ(tr_recvmsg(-1, &msg, 0), -EBADF);
    T_EQ(tr_sendmsg(-1, &msg, MSG_NOSIGNAL), -EBADF);

    int sv[2];
    T_REQUIRE(io_socketpair(SOCK_STREAM, sv) == 0);
    close(sv[0]);
    close(sv[1]);
    T_EQ(tr_recv(sv[0], buf, sizeof buf, 0), -EBADF);
    T_EQ(tr_send(sv[1], buf, sizeof buf, MSG_NOSIGNAL), -EBADF);

    int file = io_tmpfile();
    T_REQUIRE(file >= 0);
    T_EQ(tr_recv(file, buf, sizeof buf, 0), -ENOTSOCK);
    T_EQ(tr_send(file, buf, sizeof buf, MSG_NOSIGNAL), -ENOTSOCK);
    T_EQ(tr_recvmsg(file, &msg, 0), -ENOTSOCK);
    T_EQ(tr_sendmsg(file, &msg, MSG_NOSIGNAL), -ENOTSOCK);
    close(file);
    return NULL;
}

static void test_bad_fd(void **state) {
    (void)state;
    io_run(bad_fd_task, NULL);
}

/* ---- a bulk stream between two tasks ---------------------------------------------------------
 */

enum { BULK_BYTES = 8 << 20 };

struct bulk {
    int fd;
    unsigned char *data;
    size_t moved;
    int error;
};

static void *bulk_sender(void *arg) {
    struct bulk *b = arg;
    size_t chunk = 1;
    while (b->moved < BULK_BYTES) {
        size_t n = BULK_BYTES - b->moved < chunk ? BULK_BYTES - b->moved : chunk;
        int rc = tr_send(b->fd, b->data + b->moved, n, MSG_NOSIGNAL);
        if (rc <= 0) {
            b->error = rc ? rc : -EIO;
            break;
        }
        b->moved += (size_t)rc;
        chunk = chunk * 7 % 300007 + 1; /* varied sizes, up to ~300 KB */
    }
    tr_shutdown(b->fd, SHUT_WR);
    return NULL;
}

static void *bulk_receiver(void *arg) {
    struct bulk *b = arg;
    size_t chunk = 3;
    for (;;) {
        size_t room = BULK_BYTES - b->moved;
        int rc = tr_recv(b->fd, b->data + b->moved, room < chunk ? room : chunk, 0);
        if (rc < 0) {
            b->error = rc;
            break;
        }
        if (rc == 0 || room == 0)
            break;
        b->moved += (size_t)rc;
        chunk = chunk * 5 % 200003 + 1;
    }
    return NULL;
}

static void *bulk_task(void *arg) {
    (void)arg;
    int c, s;
    T_REQUIRE(io_tcp_pair(&c, &s) == 0);
    struct bulk out = {.fd = c, .data = malloc(BULK_BYTES)};
    struct bulk in = {.fd = s, .data = malloc(BULK_BYTES)};
    T_REQUIRE(out.data && in.data);
    for (size_t i = 0; i < BULK_BYTES; i++)
        out.data[i] = (unsigned char)((i * 2654435761u) >> 11);
    memset(in.data, 0, BULK_BYTES);
    tr_task *rt = tr_spawn(bulk_receiver, &in);
    tr_task *st = tr_spawn(bulk_sender, &out);
    T_REQUIRE(rt && st);
    T_EQ(tr_await(st, NULL), 0);
    T_EQ(tr_await(rt, NULL), 0);
    T_EQ(out.error, 0);
    T_EQ(in.error, 0);
    T_EQ(out.moved, BULK_BYTES);
    T_EQ(in.moved, BULK_BYTES);
    T_CHECK(memcmp(out.data, in.data, BULK_BYTES) == 0);
    tr_task_release(rt);
    tr_task_release(st);
    free(out.data);
    free(in.data);
    close(c);
    close(s);
    return NULL;
}

static void test_bulk(void **state) {
    (void)state;
    io_run(bulk_task, NULL);
}

/* ---- outside a task ------------------------------------------------------------------------
 */

static void test_outside_task(void **state) {
    (void)state;
    int sv[2];
    assert_int_equal(io_socketpair(SOCK_STREAM, sv), 0);
    assert_int_equal(send(sv[0], "q", 1, 0), 1);
    char buf[8] = {0};
    struct iovec iov = {buf, sizeof buf};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
    assert_int_equal(tr_recv(sv[1], buf, sizeof buf, 0), -EPERM);
    assert_int_equal(tr_send(sv[0], buf, 1, MSG_NOSIGNAL), -EPERM);
    assert_int_equal(tr_recvmsg(sv[1], &msg, 0), -EPERM);
    assert_int_equal(tr_sendmsg(sv[0], &msg, MSG_NOSIGNAL), -EPERM);
    assert_int_equal(tr_shutdown(sv[0], SHUT_RDWR), -EPERM);
    /* Nothing was consumed or shut down. */
    assert_int_equal(recv(sv[1], buf, sizeof buf, MSG_DONTWAIT), 1);
    assert_int_equal(send(sv[0], "z", 1, MSG_NOSIGNAL), 1);
    close(sv[0]);
    close(sv[1]);
}

int main(int argc, char **argv) {
    io_parse_args(&argc, argv);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_send_recv, io_setup),
        cmocka_unit_test_setup(test_flags, io_setup),
        cmocka_unit_test_setup(test_msg, io_setup),
        cmocka_unit_test_setup(test_eof, io_setup),
        cmocka_unit_test_setup(test_reset, io_setup),
        cmocka_unit_test_setup(test_shutdown, io_setup),
        cmocka_unit_test_setup(test_bad_fd, io_setup),
        cmocka_unit_test_setup(test_bulk, io_setup),
        cmocka_unit_test_setup(test_outside_task, io_setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
