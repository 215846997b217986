/*
 * io_deadline.c - deadline scopes (tr_deadline_begin/end/expired): I/O, tr_sleep, tr_await
 * and tr_listener_accept return -ETIME once the scope's time has passed; nested scopes never
 * extend the outer one; calls after expiry fail at once without consuming anything; a scope
 * that does not expire changes nothing; linked timeouts still work when the submission
 * queue fills up between an operation and its timeout.
 */
#include "io_test.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Upper bounds are generous: the tests also run under valgrind and on loaded machines. */
#define SLACK (1500 * MS)

static uint64_t since(uint64_t t0) {
    return io_now_ns() - t0;
}

/* ---- a single expiring scope ---------------------------------------------------------------
 */

static void *recv_expires_task(void *arg) {
    (void)arg;
    int sv[2];
    T_REQUIRE(io_socketpair(SOCK_STREAM, sv) == 0);
    char buf[16];
    tr_deadline d;
    uint64_t t0 = io_now_ns();
    T_EQ(tr_deadline_begin(&d, 50 * MS), 0);
    T_CHECK(!tr_deadline_expired(&d));
    T_EQ(tr_recv(sv[1], buf, sizeof buf, 0), -ETIME);
    uint64_t el = since(t0);
    T_CHECK(tr_deadline_expired(&d));
    tr_deadline_end(&d);
    T_CHECK(el >= 50 * MS);
    T_CHECK(el < 50 * MS + SLACK);
    T_CHECK(tr_deadline_expired(&d)); /* still answers for the ended scope */
    T_CHECK(!tr_task_cancelled(tr_current()));

    /* The socket is fine and nothing was consumed by the timed-out receive. */
    T_EQ(send(sv[0], "after", 5, 0), 5);
    memset(buf, 0, sizeof buf);
    T_EQ(tr_recv(sv[1], buf, sizeof buf, 0), 5);
    T_CHECK(memcmp(buf, "after", 5) == 0);
    close(sv[0]);
    close(sv[1]);
    return NULL;
}

static void test_recv_expires(void **state) {
    (void)state;
    io_run(recv_expires_task, NULL);
}

/* Other operations in a per-call scope: poll, accept, a pipe read, recvmsg. */
static void *per_call_task(void *arg) {
    (void)arg;
    int sv[2], pp[2], port;
    T_REQUIRE(io_socketpair(SOCK_STREAM, sv) == 0);
    T_REQUIRE(pipe2(pp, O_CLOEXEC) == 0);
    int lfd = io_tcp_listen(4, &port);
    T_REQUIRE(lfd >= 0);
    char buf[8];
    struct iovec iov = {buf, sizeof buf};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
    for (int op = 0; op < 4; op++) {
        tr_deadline d;
        uint64_t t0 = io_now_ns();
        T_EQ(tr_deadline_begin(&d, 30 * MS), 0);
        int rc = -1;
        switch (op) {
        case 0:
            rc = tr_poll(sv[1], POLLIN);
            break;
        case 1:
            rc = tr_accept(lfd, NULL, NULL, 0);
            break;
        case 2:
            rc = tr_read(pp[0], buf, sizeof buf, -1);
            break;
        case 3:
            rc = tr_recvmsg(sv[1], &msg, 0);
            break;
        }
        uint64_t el = since(t0);
        T_EQ(rc, -ETIME);
        T_CHECK(tr_deadline_expired(&d));
        tr_deadline_end(&d);
        T_CHECK(el >= 30 * MS && el < 30 * MS + SLACK);
    }
    /* All of them still work without a scope. */
    T_EQ(write(pp[1], "p", 1), 1);
    T_EQ(tr_read(pp[0], buf, sizeof buf, -1), 1);
    int c = io_tcp_connect(port);
    T_REQUIRE(c >= 0);
    int a = tr_accept(lfd, NULL, NULL, SOCK_CLOEXEC);
    T_CHECK(a >= 0);
    close(a);
    close(c);
    close(lfd);
    close(pp[0]);
    close(pp[1]);
    close(sv[0]);
    close(sv[1]);
    return NULL;
}

static void test_per_call(void **state) {
    (void)state;
    io_run(per_call_task, NULL);
}

/* ---- nesting ---------------------------------------------------------------------------------
 */

static void *nested_longer_task(void *arg) {
    (void)arg;
    int sv[2];
    T_REQUIRE(io_socketpair(SOCK_STREAM, sv) == 0);
    char buf[8];
    tr_deadline outer, inner;
    uint64_t t0 = io_now_ns();
    T_EQ(tr_deadline_begin(&outer, 50 * MS), 0);
    T_EQ(tr_deadline_begin(&inner, 10000 * MS), 0); /* longer: must not extend */
    T_EQ(tr_recv(sv[1], buf, sizeof buf, 0), -ETIME);
    uint64_t el = since(t0);
    T_CHECK(el >= 50 * MS);
    T_CHECK(el < 50 * MS + SLACK); /* far from 10 s */
    T_CHECK(tr_deadline_expired(&outer));
    T_CHECK(tr_deadline_expired(&inner)); /* capped at the outer deadline */
    tr_deadline_end(&inner);
    /* Back in the (expired) outer scope. */
    T_EQ(tr_nop(), -ETIME);
    tr_deadline_end(&outer);
    T_EQ(tr_nop(), 0);
    close(sv[0]);
    close(sv[1]);
    return NULL;
}

static void test_nested_inner_longer(void **state) {
    (void)state;
    io_run(nested_longer_task, NULL);
}

static void *nested_shorter_task(void *arg) {
    (void)arg;
    int sv[2];
    T_REQUIRE(io_socketpair(SOCK_STREAM, sv) == 0);
    char buf[8];
    tr_deadline outer, inner;
    T_EQ(tr_deadline_begin(&outer, 10000 * MS), 0);
    uint64_t t0 = io_now_ns();
    T_EQ(tr_deadline_begin(&inner, 30 * MS), 0);
    T_EQ(tr_recv(sv[1], buf, sizeof buf, 0), -ETIME);
    uint64_t el = since(t0);
    T_CHECK(el >= 30 * MS && el < 30 * MS + SLACK);
    T_CHECK(tr_deadline_expired(&inner));
    T_CHECK(!tr_deadline_expired(&outer));
    tr_deadline_end(&inner);
    /* The outer scope is in force again: calls work, and a wait longer than the inner
     * scope's deadline is not cut short by it. */
    T_EQ(tr_nop(), 0);
    T_EQ(tr_sleep(40 * MS), 0);
    T_EQ(send(sv[0], "o", 1, 0), 1);
    T_EQ(tr_recv(sv[1], buf, sizeof buf, 0), 1);
    T_CHECK(!tr_deadline_expired(&outer));
    tr_deadline_end(&outer);
    T_CHECK(!tr_deadline_expired(&outer));
    close(sv[0]);
    close(sv[1]);
    return NULL;
}

static void test_nested_inner_shorter(void **state) {
    (void)state;
    io_run(nested_shorter_task, NULL);
}

/* ---- tr_sleep, tr_await, tr_listener_accept ---------------------------------------------------
 */

static void *sleep_task(void *arg) {
    (void)arg;
    tr_deadline d;
    uint64_t t0 = io_now_ns();
    T_EQ(tr_deadline_begin(&d, 50 * MS), 0);
    T_EQ(tr_sleep(10000 * MS), -ETIME); /* ends early, at the scope's deadline */
    uint64_t el = since(t0);
    T_CHECK(el >= 50 * MS && el < 50 * MS + SLACK);
    T_CHECK(tr_deadline_expired(&d));
    tr_deadline_end(&d);

    /* A sleep that ends before the deadline returns 0. */
    T_EQ(tr_deadline_begin(&d, 5000 * MS), 0);
    t0 = io_now_ns();
    T_EQ(tr_sleep(20 * MS), 0);
    T_CHECK(since(t0) >= 20 * MS);
    T_CHECK(!tr_deadline_expired(&d));
    tr_deadline_end(&d);
    return NULL;
}

static void test_sleep(void **state) {
    (void)state;
    io_run(sleep_task, NULL);
}

struct slow {
    bool finished;
    uint64_t ran_until;
};

static void *slow_child(void *arg) {
    struct slow *s = arg;
    if (tr_sleep(200 * MS) != 0)
        return NULL;
    s->finished = true;
    s->ran_until = io_now_ns();
    return (void *)(intptr_t)77;
}

static void *await_task(void *arg) {
    (void)arg;
    struct slow s = {0};
    tr_task *child = tr_spawn(slow_child, &s);
    T_REQUIRE(child);
    tr_deadline d;
    uint64_t t0 = io_now_ns();
    T_EQ(tr_deadline_begin(&d, 50 * MS), 0);
    void *res = (void *)1;
    T_EQ(tr_await(child, &res), -ETIME);
    uint64_t el = since(t0);
    tr_deadline_end(&d);
    T_CHECK(el >= 50 * MS && el < 50 * MS + SLACK);
    T_CHECK(tr_deadline_expired(&d));
    T_EQ((intptr_t)res, 1); /* no result stored */
    /* The awaited task was not cancelled: it keeps running and finishes normally. */
    T_CHECK(!tr_task_done(child));
    T_CHECK(!s.finished);
    res = NULL;
    T_EQ(tr_await(child, &res), 0);
    T_CHECK(s.finished);
    T_EQ((intptr_t)res, 77);
    T_CHECK(!tr_task_cancelled(child));
    T_CHECK(s.ran_until - t0 >= 200 * MS);
    tr_task_release(child);
    return NULL;
}

static void test_await(void **state) {
    (void)state;
    io_run(await_task, NULL);
}

static void *listener_task(void *arg) {
    (void)arg;
    int port;
    int lfd = io_tcp_listen(8, &port);
    T_REQUIRE(lfd >= 0);
    tr_listener *l = tr_listener_open(lfd);
    T_REQUIRE(l);
    tr_deadline d;
    uint64_t t0 = io_now_ns();
    T_EQ(tr_deadline_begin(&d, 50 * MS), 0);
    T_EQ(tr_listener_accept(l), -ETIME);
    uint64_t el = since(t0);
    tr_deadline_end(&d);
    T_CHECK(el >= 50 * MS && el < 50 * MS + SLACK);
    T_CHECK(tr_deadline_expired(&d));
    /* The listener still works. */
    int c = io_tcp_connect(port);
    T_REQUIRE(c >= 0);
    int fd = tr_listener_accept(l);
    T_CHECK(fd >= 0);
    /* A connection that arrives within the scope is accepted normally. */
    int c2 = -1;
    T_EQ(tr_deadline_begin(&d, 5000 * MS), 0);
    c2 = io_tcp_connect(port);
    int fd2 = tr_listener_accept(l);
    tr_deadline_end(&d);
    T_CHECK(fd2 >= 0);
    T_CHECK(!tr_deadline_expired(&d));
    tr_listener_close(l);
    close(fd);
    close(fd2);
    close(c);
    close(c2);
    close(lfd);
    return NULL;
}

static void test_listener_accept(void **state) {
    (void)state;
    io_run(listener_task, NULL);
}

/* ---- after expiry: -ETIME at once, nothing consumed ------------------------------------------
 */

static void *sleeper(void *arg) {
    (void)arg;
    tr_sleep(100 * MS);
    return NULL;
}

static void *after_expiry_task(void *arg) {
    (void)arg;
    int sv[2], port, port2;
    T_REQUIRE(io_socketpair(SOCK_STREAM, sv) == 0);
    int lfd = io_tcp_listen(8, &port);   /* for a listener */
    int lfd2 = io_tcp_listen(8, &port2); /* for plain tr_accept */
    T_REQUIRE(lfd >= 0 && lfd2 >= 0);
    tr_listener *l = tr_listener_open(lfd);
    T_REQUIRE(l);
    tr_task *child = tr_spawn(sleeper, NULL);
    T_REQUIRE(child);
    int f = io_tmpfile();
    T_REQUIRE(f >= 0);
    T_EQ(pwrite(f, "file", 4, 0), 4);

    tr_deadline d;
    T_EQ(tr_deadline_begin(&d, 20 * MS), 0);
    T_EQ(tr_sleep(1000 * MS), -ETIME);
    T_CHECK(tr_deadline_expired(&d));

    /* Everything is ready now, yet every suspending call fails at once. */
    T_EQ(send(sv[0], "data", 4, 0), 4);
    int c = io_tcp_connect(port);
    int c2 = io_tcp_connect(port2);
    T_REQUIRE(c >= 0 && c2 >= 0);
    T_EQ(tr_yield(), 0);  /* excepted from scopes */
    T_EQ(tr_sleep(0), 0); /* is tr_yield */
    tr_sleep(10 * MS);    /* (-ETIME) */
    char buf[8];
    memset(buf, 0, sizeof buf);
    uint64_t t0 = io_now_ns();
    T_EQ(tr_recv(sv[1], buf, sizeof buf, 0), -ETIME);
    T_EQ(tr_read(f, buf, sizeof buf, 0), -ETIME);
    T_EQ(tr_poll(sv[1], POLLIN), -ETIME);
    T_EQ(tr_nop(), -ETIME);
    T_EQ(tr_sleep(1 * MS), -ETIME);
    T_EQ(tr_await(child, NULL), -ETIME);
    T_EQ(tr_listener_accept(l), -ETIME);
    T_EQ(tr_accept(lfd2, NULL, NULL, 0), -ETIME);
    T_EQ(tr_signal_wait((const int[]){SIGUSR2}, 1), -ETIME);
    T_CHECK(since(t0) < SLACK);
    T_EQ(buf[0], 0); /* nothing was read into the buffer */
    tr_deadline_end(&d);

    /* Nothing was consumed by the failed calls. */
    T_EQ(recv(sv[1], buf, sizeof buf, MSG_DONTWAIT), 4);
    T_CHECK(memcmp(buf, "data", 4) == 0);
    int a1 = tr_listener_accept(l);
    T_CHECK(a1 >= 0);
    int a2 = accept4(lfd2, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    T_CHECK(a2 >= 0);
    T_CHECK(!tr_task_done(child));
    T_EQ(tr_await(child, NULL), 0);
    tr_task_release(child);

    tr_listener_close(l);
    close(a1);
    close(a2);
    close(c);
    close(c2);
    close(lfd);
    close(lfd2);
    close(f);
    close(sv[0]);
    close(sv[1]);
    return NULL;
}

static void test_after_expiry(void **state) {
    (void)state;
    io_run(after_expiry_task, NULL);
}

/* A zero timeout: expired from the start. */
static void *zero_task(void *arg) {
    (void)arg;
    tr_deadline d;
    T_EQ(tr_deadline_begin(&d, 0), 0);
    T_CHECK(tr_deadline_expired(&d));
    T_EQ(tr_nop(), -ETIME);
    T_EQ(tr_sleep(1), -ETIME);
    tr_deadline_end(&d);
    T_EQ(tr_nop(), 0);
    return NULL;
}

static void test_zero_timeout(void **state) {
    (void)state;
    io_run(zero_task, NULL);
}

static void *quick_child(void *arg) {
    (void)arg;
    tr_sleep(5 * MS);
    return (void *)(intptr_t)5;
}

static void *late_sender(void *arg) {
    int fd = *(int *)arg;
    tr_sleep(60 * MS);
    send(fd, "late", 4, 0);
    return NULL;
}

/* A timeout too large to add to the clock: the scope must not wrap around into the past. */
static void *huge_timeout_task(void *arg) {
    (void)arg;
    int sv[2];
    T_REQUIRE(io_socketpair(SOCK_STREAM, sv) == 0);
    tr_deadline d;
    T_EQ(tr_deadline_begin(&d, UINT64_MAX), 0);
    T_CHECK(!tr_deadline_expired(&d));
    T_EQ(tr_nop(), 0);
    T_EQ(tr_sleep(1 * MS), 0);
    tr_task *ls = tr_spawn(late_sender, &sv[0]);
    T_REQUIRE(ls);
    char buf[8];
    T_EQ(tr_recv(sv[1], buf, sizeof buf, 0), 4); /* blocks ~60 ms with a linked timeout */
    T_EQ(tr_await(ls, NULL), 0);
    tr_task_release(ls);
    tr_deadline inner;
    T_EQ(tr_deadline_begin(&inner, UINT64_MAX / 2), 0);
    T_EQ(tr_nop(), 0);
    tr_deadline_end(&inner);
    T_CHECK(!tr_deadline_expired(&d));
    tr_deadline_end(&d);
    close(sv[0]);
    close(sv[1]);
    return NULL;
}

static void test_huge_timeout(void **state) {
    (void)state;
    io_run(huge_timeout_task, NULL);
}

/* ---- a scope that does not expire ------------------------------------------------------------
 */

static void *no_expiry_task(void *arg) {
    (void)arg;
    int sv[2], port;
    T_REQUIRE(io_socketpair(SOCK_STREAM, sv) == 0);
    int lfd = io_tcp_listen(8, &port);
    T_REQUIRE(lfd >= 0);
    tr_listener *l = tr_listener_open(lfd);
    T_REQUIRE(l);
    char buf[8];

    tr_deadline d;
    T_EQ(tr_deadline_begin(&d, 10000 * MS), 0);
    for (int i = 0; i < 200; i++) {
        T_EQ(send(sv[0], "k", 1, 0), 1);
        int rc = tr_recv(sv[1], buf, sizeof buf, 0);
        if (rc != 1) {
            T_EQ(rc, 1);
            break;
        }
    }
    T_EQ(tr_nop(), 0);
    T_EQ(tr_sleep(1 * MS), 0);
    tr_task *child = tr_spawn(quick_child, NULL);
    T_REQUIRE(child);
    void *res = NULL;
    T_EQ(tr_await(child, &res), 0);
    T_EQ((intptr_t)res, 5);
    tr_task_release(child);
    int c = io_tcp_connect(port);
    T_REQUIRE(c >= 0);
    int a = tr_listener_accept(l);
    T_CHECK(a >= 0);
    T_CHECK(!tr_deadline_expired(&d));
    tr_deadline_end(&d);
    T_CHECK(!tr_deadline_expired(&d));

    /* A short scope that ends before its deadline leaves nothing behind: a later wait
     * outlives that deadline undisturbed. */
    T_EQ(tr_deadline_begin(&d, 30 * MS), 0);
    T_EQ(send(sv[0], "x", 1, 0), 1);
    T_EQ(tr_recv(sv[1], buf, sizeof buf, 0), 1);
    tr_deadline_end(&d);
    tr_task *ls = tr_spawn(late_sender, &sv[0]);
    T_REQUIRE(ls);
    memset(buf, 0, sizeof buf);
    T_EQ(tr_recv(sv[1], buf, sizeof buf, 0), 4); /* arrives ~60 ms later: past 30 ms */
    T_CHECK(memcmp(buf, "late", 4) == 0);
    T_EQ(tr_await(ls, NULL), 0);
    tr_task_release(ls);
    T_EQ(tr_sleep(40 * MS), 0);

    tr_listener_close(l);
    close(a);
    close(c);
    close(lfd);
    close(sv[0]);
    close(sv[1]);
    return NULL;
}

static void test_no_expiry(void **state) {
    (void)state;
    io_run(no_expiry_task, NULL);
}

/* ---- argument checks -------------------------------------------------------------------------
 */

static void *bad_args_task(void *arg) {
    (void)arg;
    T_EQ(tr_deadline_begin(NULL, 1), -EINVAL);
    T_CHECK(!tr_deadline_expired(NULL));
    tr_deadline_end(NULL); /* ignored */
    T_EQ(tr_nop(), 0);
    return NULL;
}

static void test_bad_args(void **state) {
    (void)state;
    io_run(bad_args_task, NULL);
    tr_deadline d;
    memset(&d, 0, sizeof d);
    assert_int_equal(tr_deadline_begin(&d, 1000), -EPERM);
    assert_false(tr_deadline_expired(&d));
    tr_deadline_end(&d); /* outside a task: no effect, no crash */
}

/* ---- linked timeouts when the submission queue fills -----------------------------------------
 *
 * Each call in a scope takes two SQEs (the operation and its linked timeout). When the
 * operation takes the last free SQE of the ring, the timeout needs a fresh one: the
 * operation must still carry its deadline.
 */

struct sq_ctx {
    int fd;
    int res;
    bool returned;
};

static void *nop_once(void *arg) {
    (void)arg;
    tr_nop();
    return NULL;
}

static void *recv_in_scope(void *arg) {
    struct sq_ctx *c = arg;
    char buf[8];
    tr_deadline d;
    if (tr_deadline_begin(&d, 50 * MS) != 0)
        return NULL;
    c->res = tr_recv(c->fd, buf, sizeof buf, 0);
    tr_deadline_end(&d);
    c->returned = true;
    return NULL;
}

struct sq_case {
    int nops;  /* single-SQE operations issued first in the same turn */
    int tasks; /* receivers in a 50 ms scope on idle sockets */
};

static void *full_sq_task(void *arg) {
    struct sq_case *k = arg;
    int n = k->tasks;
    int(*sv)[2] = calloc((size_t)n, sizeof *sv);
    struct sq_ctx *ctx = calloc((size_t)n, sizeof *ctx);
    tr_task **t = calloc((size_t)n + (size_t)k->nops, sizeof *t);
    T_REQUIRE(sv && ctx && t);
    for (int i = 0; i < n; i++)
        T_REQUIRE(io_socketpair(SOCK_STREAM, sv[i]) == 0);
    /* All spawned in one go: they issue their operations in the same turn. */
    for (int i = 0; i < k->nops; i++)
        t[n + i] = tr_spawn(nop_once, NULL);
    for (int i = 0; i < n; i++) {
        ctx[i] = (struct sq_ctx){.fd = sv[i][1], .res = 1};
        t[i] = tr_spawn(recv_in_scope, &ctx[i]);
        T_REQUIRE(t[i]);
    }
    /* Give them 3 s to time out after 50 ms. */
    tr_deadline guard;
    tr_deadline_begin(&guard, 3000 * MS);
    for (int i = 0; i < n + k->nops; i++)
        tr_await(t[i], NULL);
    tr_deadline_end(&guard);
    int stuck = 0, wrong = 0;
    for (int i = 0; i < n; i++) {
        if (!ctx[i].returned)
            stuck++;
        else if (ctx[i].res != -ETIME)
            wrong++;
    }
    if (stuck || wrong)
        io_fail(__FILE__, __LINE__,
                "ring of 8, %d nop(s) then %d receivers in 50 ms scopes: %d still blocked after "
                "3 s (deadline lost), %d returned something else than -ETIME",
                k->nops, n, stuck, wrong);
    /* Unblock any receiver whose deadline was lost, so that the test ends either way. */
    for (int i = 0; i < n; i++)
        shutdown(sv[i][0], SHUT_RDWR);
    for (int i = 0; i < n + k->nops; i++) {
        tr_task_cancel(t[i]);
        tr_await(t[i], NULL);
        tr_task_release(t[i]);
    }
    for (int i = 0; i < n; i++) {
        close(sv[i][0]);
        close(sv[i][1]);
    }
    free(sv);
    free(ctx);
    free(t);
    return NULL;
}

static void test_full_sq(void **state) {
    (void)state;
    tr_options opts = {.ring_entries = 8};
    for (int nops = 0; nops < 2; nops++) {
        struct sq_case k = {.nops = nops, .tasks = 7};
        io_run_with(&opts, full_sq_task, &k);
    }
}

int main(int argc, char **argv) {
    io_parse_args(&argc, argv);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_recv_expires, io_setup),
        cmocka_unit_test_setup(test_per_call, io_setup),
        cmocka_unit_test_setup(test_nested_inner_longer, io_setup),
        cmocka_unit_test_setup(test_nested_inner_shorter, io_setup),
        cmocka_unit_test_setup(test_sleep, io_setup),
        cmocka_unit_test_setup(test_await, io_setup),
        cmocka_unit_test_setup(test_listener_accept, io_setup),
        cmocka_unit_test_setup(test_after_expiry, io_setup),
        cmocka_unit_test_setup(test_zero_timeout, io_setup),
        cmocka_unit_test_setup(test_huge_timeout, io_setup),
        cmocka_unit_test_setup(test_no_expiry, io_setup),
        cmocka_unit_test_setup(test_bad_args, io_setup),
        cmocka_unit_test_setup(test_full_sq, io_setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
