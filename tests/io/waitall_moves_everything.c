/*
 * MSG_WAITALL on a stream socket: tr_send, tr_sendmsg, tr_recv and tr_recvmsg return only once
 * the whole length has moved (or an error, EOF, a cancellation or deadline after some bytes
 * did), as io_uring retries them. Here 1 MiB goes through a socket with a small buffer, read
 * by a slow peer in 4 KiB pieces (and written in pieces for the receiving side). On a datagram
 * socket MSG_WAITALL changes nothing: tr_recv returns one datagram, never two run together.
 */
#include "io_test.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

enum { TOTAL = 1 << 20, PIECE = 4096 };

static char out_buf[TOTAL], in_buf[TOTAL];

struct side {
    int fd;
    int res;
    int kind; /* 0 send, 1 sendmsg, 2 recv, 3 recvmsg */
};

static void *waitall_task(void *arg) {
    struct side *s = arg;
    struct iovec iov[2] = {{out_buf, TOTAL / 2}, {out_buf + TOTAL / 2, TOTAL / 2}};
    struct msghdr m = {.msg_iov = iov, .msg_iovlen = 2};
    tr_deadline d;
    tr_deadline_begin(&d, 10000 * MS);
    switch (s->kind) {
    case 0:
        s->res = tr_send(s->fd, out_buf, TOTAL, MSG_WAITALL);
        break;
    case 1:
        s->res = tr_sendmsg(s->fd, &m, MSG_WAITALL);
        break;
    case 2:
        s->res = tr_recv(s->fd, in_buf, TOTAL, MSG_WAITALL);
        break;
    default:
        iov[0].iov_base = in_buf;
        iov[1].iov_base = in_buf + TOTAL / 2;
        s->res = tr_recvmsg(s->fd, &m, MSG_WAITALL);
        break;
    }
    tr_deadline_end(&d);
    return NULL;
}

static void *main_task(void *arg) {
    (void)arg;
    for (int i = 0; i < TOTAL; i++)
        out_buf[i] = (char)(i * 7 + 3);
    for (int kind = 0; kind < 4; kind++) {
        int sv[2];
        T_REQUIRE(io_socketpair(SOCK_STREAM, sv) == 0);
        int small = 8192;
        setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
        setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
        memset(in_buf, 0, sizeof in_buf);
        bool sending = kind < 2;
        struct side s = {.fd = sending ? sv[0] : sv[1], .kind = kind};
        tr_task *t = tr_spawn(waitall_task, &s);
        T_REQUIRE(t);
        /* The peer, in pieces, a tr_sleep between them. */
        size_t moved = 0;
        tr_deadline pd;
        tr_deadline_begin(&pd, 10000 * MS); /* the bug: the peer would wait forever */
        while (moved < TOTAL) {
            tr_sleep(MS / 10);
            if (tr_task_done(t) && (!sending || moved >= (size_t)(s.res > 0 ? s.res : 0)))
                break; /* returned early (the bug): nothing more will move */
            int n = sending ? tr_recv(sv[1], in_buf + moved, PIECE, 0)
                            : tr_send(sv[0], out_buf + moved, PIECE, 0);
            if (n <= 0)
                break;
            moved += (size_t)n;
        }
        tr_deadline_end(&pd);
        tr_await(t, NULL);
        tr_task_release(t);
        if (s.res != TOTAL)
            print_message("kind %d: returned %d\n", kind, s.res);
        T_EQ(s.res, TOTAL);
        if (s.res == TOTAL)
            T_CHECK(memcmp(in_buf, out_buf, TOTAL) == 0);
        close(sv[0]);
        close(sv[1]);
    }

    /* A datagram socket: one datagram per call. */
    int dv[2];
    T_REQUIRE(io_socketpair(SOCK_DGRAM, dv) == 0);
    T_EQ(send(dv[0], "abc", 3, 0), 3);
    T_EQ(send(dv[0], "def", 3, 0), 3);
    tr_deadline d;
    tr_deadline_begin(&d, 3000 * MS);
    char buf[64];
    T_EQ(tr_recv(dv[1], buf, sizeof buf, MSG_WAITALL), 3);
    T_EQ(tr_recv(dv[1], buf, sizeof buf, MSG_WAITALL), 3);
    T_CHECK(memcmp(buf, "def", 3) == 0);
    tr_deadline_end(&d);
    close(dv[0]);
    close(dv[1]);
    return NULL;
}

static void test_waitall_moves_everything(void **state) {
    (void)state;
    io_run(main_task, NULL);
}

int main(int argc, char **argv) {
    io_parse_args(&argc, argv);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_waitall_moves_everything, io_setup),
    };
    return test_result(cmocka_run_group_tests(tests, NULL, NULL));
}
