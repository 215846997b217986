/*
 * io_cancel_reuse.c - a task cancelled while its operation is in flight, and its stack reused
 * right after.
 *
 * Task A blocks in a receive into a buffer on its own stack. A is cancelled and awaited;
 * at once many tasks B are spawned (the first of them gets A's stack back: stacks are reused
 * most-recent-first). Each B fills a large array on its stack with its own pattern, yields a
 * few times, and verifies the pattern. Meanwhile data is written into the socket (or pipe)
 * A was reading. If the kernel still had A's receive, it would write that data into a B's
 * stack. Afterwards every byte written must still be in the socket: the cancelled receive
 * took nothing.
 *
 * Kinds, one per round in turn: tr_recv on a socketpair, tr_recvmsg on TCP loopback (msghdr
 * and iovec on the stack too), tr_read on a pipe, tr_recv inside a deadline scope (with a
 * linked timeout in flight).
 *
 *   io_cancel_reuse [--rounds N] [--tasks M]     defaults: 40 rounds, 64 tasks B
 */
#include "io_test.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

enum { A_BUF = 4096, B_FILL = 24 * 1024, DATA_CHUNK = 8192, DATA_CHUNKS = 4, B_YIELDS = 4 };
enum kind { K_RECV, K_RECVMSG_TCP, K_READ_PIPE, K_RECV_SCOPE, K_COUNT };

static long rounds = 40;
static long tasks_b = 64;

struct round {
    enum kind kind;
    int rfd; /* what A reads */
    int wfd; /* where the data is written */
    int a_res;
    bool a_buf_intact;
    int round;
};

static void *task_a(void *arg) {
    struct round *r = arg;
    unsigned char buf[A_BUF];
    memset(buf, 0xAA, sizeof buf);
    struct iovec iov = {buf, sizeof buf};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
    tr_deadline d;
    switch (r->kind) {
    case K_RECV:
        r->a_res = tr_recv(r->rfd, buf, sizeof buf, 0);
        break;
    case K_RECVMSG_TCP:
        r->a_res = tr_recvmsg(r->rfd, &msg, 0);
        break;
    case K_READ_PIPE:
        r->a_res = tr_read(r->rfd, buf, sizeof buf, -1);
        break;
    case K_RECV_SCOPE:
        tr_deadline_begin(&d, 60000 * MS);
        r->a_res = tr_recv(r->rfd, buf, sizeof buf, 0);
        tr_deadline_end(&d);
        break;
    default:
        break;
    }
    r->a_buf_intact = true;
    for (size_t i = 0; i < sizeof buf; i++)
        if (buf[i] != 0xAA)
            r->a_buf_intact = false;
    return NULL;
}

struct filler {
    int round;
    int id;
    size_t corrupted; /* bytes that changed under the task */
};

static unsigned char pattern(int round, int id, size_t i) {
    return (unsigned char)((size_t)round * 131u + (size_t)id * 31u + i * 7u + 1u);
}

static void *task_b(void *arg) {
    struct filler *f = arg;
    volatile unsigned char fill[B_FILL];
    for (size_t i = 0; i < sizeof fill; i++)
        fill[i] = pattern(f->round, f->id, i);
    for (int y = 0; y < B_YIELDS; y++) {
        tr_yield();
        tr_sleep(1); /* through the timers too: the loop polls the ring in between */
    }
    for (size_t i = 0; i < sizeof fill; i++)
        if (fill[i] != pattern(f->round, f->id, i))
            f->corrupted++;
    return NULL;
}

static bool open_round(struct round *r) {
    int fds[2];
    switch (r->kind) {
    case K_RECV:
    case K_RECV_SCOPE:
        if (io_socketpair(SOCK_STREAM, fds) != 0)
            return false;
        r->rfd = fds[1];
        r->wfd = fds[0];
        return true;
    case K_RECVMSG_TCP:
        if (io_tcp_pair(&fds[0], &fds[1]) != 0)
            return false;
        r->rfd = fds[1];
        r->wfd = fds[0];
        return true;
    case K_READ_PIPE:
        if (pipe2(fds, O_CLOEXEC) != 0)
            return false;
        fcntl(fds[1], F_SETPIPE_SZ, 1 << 16);
        r->rfd = fds[0];
        r->wfd = fds[1];
        return true;
    default:
        return false;
    }
}

/* Everything written must still be readable: the cancelled receive took nothing. */
static size_t drain(int fd) {
    size_t total = 0;
    unsigned char buf[4096];
    int fl = fcntl(fd, F_GETFL);
    fcntl(fd, F_SETFL, fl | O_NONBLOCK);
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n <= 0)
            break;
        for (ssize_t i = 0; i < n; i++)
            if (buf[i] != 0x55)
                return (size_t)-1;
        total += (size_t)n;
    }
    fcntl(fd, F_SETFL, fl);
    return total;
}

static void *main_task(void *arg) {
    (void)arg;
    static unsigned char data[DATA_CHUNK];
    memset(data, 0x55, sizeof data);
    struct filler *fillers = calloc((size_t)tasks_b, sizeof *fillers);
    tr_task **bt = calloc((size_t)tasks_b, sizeof *bt);
    T_REQUIRE(fillers && bt);
    size_t total_corrupted = 0;

    for (int round = 0; round < rounds; round++) {
        struct round r = {.kind = (enum kind)(round % K_COUNT), .round = round, .a_res = 1};
        T_REQUIRE(open_round(&r));

        tr_task *a = tr_spawn(task_a, &r);
        T_REQUIRE(a);
        tr_sleep(1 * MS); /* A's receive is in the kernel now */
        T_EQ(tr_task_cancel(a), 1);
        T_EQ(tr_await(a, NULL), -ECANCELED);
        tr_task_release(a);
        T_EQ(r.a_res, -ECANCELED);
        T_CHECK(r.a_buf_intact);

        /* Reuse A's stack at once. */
        for (int i = 0; i < tasks_b; i++) {
            fillers[i] = (struct filler){.round = round, .id = i};
            bt[i] = tr_spawn(task_b, &fillers[i]);
            T_REQUIRE(bt[i]);
        }
        tr_yield(); /* the Bs fill their stacks */
        size_t written = 0;
        for (int c = 0; c < DATA_CHUNKS; c++) {
            ssize_t n = write(r.wfd, data, sizeof data);
            T_CHECK(n == (ssize_t)sizeof data);
            if (n > 0)
                written += (size_t)n;
            tr_yield();
        }
        for (int i = 0; i < tasks_b; i++) {
            T_EQ(tr_await(bt[i], NULL), 0);
            tr_task_release(bt[i]);
            total_corrupted += fillers[i].corrupted;
            if (fillers[i].corrupted)
                io_fail(__FILE__, __LINE__,
                        "round %d (kind %d): task B%d: %zu bytes of its stack "
                        "changed under it",
                        round, (int)r.kind, i, fillers[i].corrupted);
        }
        size_t left = drain(r.rfd);
        if (left != written)
            io_fail(__FILE__, __LINE__,
                    "round %d (kind %d): wrote %zu bytes, %zd readable after "
                    "the cancelled receive",
                    round, (int)r.kind, written, (ssize_t)left);
        close(r.rfd);
        close(r.wfd);
    }
    printf("io_cancel_reuse: %ld rounds x %ld tasks, %zu corrupted bytes\n", rounds, tasks_b,
           total_corrupted);
    free(fillers);
    free(bt);
    return NULL;
}

static void test_cancel_then_reuse(void **state) {
    (void)state;
    io_run(main_task, NULL);
}

int main(int argc, char **argv) {
    rounds = io_arg_long(&argc, argv, "rounds", rounds);
    tasks_b = io_arg_long(&argc, argv, "tasks", tasks_b);
    io_parse_args(&argc, argv);
    if (rounds < 1 || tasks_b < 1) {
        fprintf(stderr, "usage: %s [--rounds N] [--tasks M]\n", argv[0]);
        return 2;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_cancel_then_reuse, io_setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
