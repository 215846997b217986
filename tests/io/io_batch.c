/*
 * io_batch.c - many tasks issuing operations in the same turn: N concurrent tr_nop; N
 * concurrent mixed operations (socket send/recv pairs, file writes and reads at distinct
 * offsets); the same with a tiny ring (2 entries), where the queue fills many times per turn,
 * with and without deadline scopes, and cancelling many blocked tasks there at once.
 * Correctness only: every call returns what the kernel
 * gave it, no result goes to the wrong task, nothing is lost.
 *
 *   io_batch [--tasks N]     default 1000
 */
#include "io_test.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static long ntasks = 1000;

/* ---- N x tr_nop ----------------------------------------------------------------------------
 */

struct nop_ctx {
    long issued;
    long done;
    long early; /* completions seen before every task had issued its nop */
    long bad;
};

static void *nop_task(void *arg) {
    struct nop_ctx *c = arg;
    c->issued++;
    int rc = tr_nop();
    if (rc != 0)
        c->bad++;
    if (c->issued < ntasks)
        c->early++;
    c->done++;
    return NULL;
}

static void *nops_main(void *arg) {
    (void)arg;
    struct nop_ctx c = {0};
    tr_task **t = calloc((size_t)ntasks, sizeof *t);
    T_REQUIRE(t);
    uint64_t t0 = io_now_ns();
    for (long i = 0; i < ntasks; i++) {
        t[i] = tr_spawn(nop_task, &c);
        T_REQUIRE(t[i]);
    }
    for (long i = 0; i < ntasks; i++) {
        T_EQ(tr_await(t[i], NULL), 0);
        tr_task_release(t[i]);
    }
    uint64_t el = io_now_ns() - t0;
    T_EQ(c.done, ntasks);
    T_EQ(c.bad, 0);
    printf("io_batch: %ld concurrent tr_nop in %.2f ms (%ld completed before all were issued)\n",
           ntasks, (double)el / 1e6, c.early);
    free(t);
    return NULL;
}

static void test_nops(void **state) {
    (void)state;
    io_run(nops_main, NULL);
}

/* ---- N mixed operations ---------------------------------------------------------------------
 */

struct pair {
    int sv[2];
    uint32_t sent, got;
    int send_rc, recv_rc;
};

static void *sender(void *arg) {
    struct pair *p = arg;
    p->send_rc = tr_send(p->sv[0], &p->sent, sizeof p->sent, MSG_NOSIGNAL);
    return NULL;
}

static void *receiver(void *arg) {
    struct pair *p = arg;
    p->recv_rc = tr_recv(p->sv[1], &p->got, sizeof p->got, MSG_WAITALL);
    return NULL;
}

struct filejob {
    int fd;
    long idx;
    int wrc, rrc;
    uint64_t back;
};

static void *file_task(void *arg) {
    struct filejob *j = arg;
    uint64_t v = (uint64_t)j->idx * 0x9E3779B97F4A7C15ull;
    j->wrc = tr_write(j->fd, &v, sizeof v, j->idx * (int64_t)sizeof v);
    j->back = 0;
    j->rrc = tr_read(j->fd, &j->back, sizeof j->back, j->idx * (int64_t)sizeof v);
    return NULL;
}

static void *mixed_main(void *arg) {
    (void)arg;
    long npairs = ntasks / 4, nfiles = ntasks / 2;
    struct pair *pairs = calloc((size_t)npairs, sizeof *pairs);
    struct filejob *jobs = calloc((size_t)nfiles, sizeof *jobs);
    tr_task **t = calloc((size_t)(2 * npairs + nfiles), sizeof *t);
    T_REQUIRE(pairs && jobs && t);
    int fd = io_tmpfile();
    T_REQUIRE(fd >= 0);
    for (long i = 0; i < npairs; i++) {
        T_REQUIRE(io_socketpair(SOCK_STREAM, pairs[i].sv) == 0);
        pairs[i].sent = (uint32_t)(i * 2654435761u);
        pairs[i].got = ~pairs[i].sent;
    }
    long k = 0;
    /* Receivers first, so most of them wait; senders and file jobs interleaved. */
    for (long i = 0; i < npairs; i++)
        t[k++] = tr_spawn(receiver, &pairs[i]);
    for (long i = 0; i < nfiles || i < npairs; i++) {
        if (i < npairs)
            t[k++] = tr_spawn(sender, &pairs[i]);
        if (i < nfiles) {
            jobs[i] = (struct filejob){.fd = fd, .idx = i};
            t[k++] = tr_spawn(file_task, &jobs[i]);
        }
    }
    for (long i = 0; i < k; i++) {
        T_REQUIRE(t[i]);
        T_EQ(tr_await(t[i], NULL), 0);
        tr_task_release(t[i]);
    }
    long bad = 0;
    for (long i = 0; i < npairs; i++) {
        if (pairs[i].send_rc != 4 || pairs[i].recv_rc != 4 || pairs[i].got != pairs[i].sent)
            bad++;
        close(pairs[i].sv[0]);
        close(pairs[i].sv[1]);
    }
    for (long i = 0; i < nfiles; i++)
        if (jobs[i].wrc != 8 || jobs[i].rrc != 8 ||
            jobs[i].back != (uint64_t)i * 0x9E3779B97F4A7C15ull)
            bad++;
    T_EQ(bad, 0);
    close(fd);
    free(pairs);
    free(jobs);
    free(t);
    return NULL;
}

static void test_mixed(void **state) {
    (void)state;
    assert_int_equal(io_raise_nofile((unsigned long)ntasks + 256), 0);
    io_run(mixed_main, NULL);
}

/* ---- a ring of 2 entries ---------------------------------------------------------------------
 */

struct tiny_ctx {
    long nop_bad;
    long etime;
    long other;
    int first_other;
};

struct tiny_recv {
    struct tiny_ctx *c;
    int fd;
};

static void *tiny_nop(void *arg) {
    struct tiny_ctx *c = arg;
    if (tr_nop() != 0)
        c->nop_bad++;
    return NULL;
}

static void *tiny_scoped_recv(void *arg) {
    struct tiny_recv *r = arg;
    char b;
    tr_deadline d;
    tr_deadline_begin(&d, 30 * MS);
    int rc = tr_recv(r->fd, &b, 1, 0);
    tr_deadline_end(&d);
    if (rc == -ETIME) {
        r->c->etime++;
    } else {
        if (!r->c->other)
            r->c->first_other = rc;
        r->c->other++;
    }
    return NULL;
}

static void *tiny_main(void *arg) {
    (void)arg;
    struct tiny_ctx c = {0};
    long nrecv = ntasks / 10 > 0 ? ntasks / 10 : 1;
    int(*sv)[2] = calloc((size_t)nrecv, sizeof *sv);
    struct tiny_recv *rr = calloc((size_t)nrecv, sizeof *rr);
    tr_task **t = calloc((size_t)(ntasks + nrecv), sizeof *t);
    T_REQUIRE(sv && rr && t);
    long k = 0;
    for (long i = 0; i < ntasks; i++) {
        t[k++] = tr_spawn(tiny_nop, &c);
        if (i % 10 == 5 && i / 10 < nrecv) {
            long j = i / 10;
            T_REQUIRE(io_socketpair(SOCK_STREAM, sv[j]) == 0);
            rr[j] = (struct tiny_recv){.c = &c, .fd = sv[j][1]};
            t[k++] = tr_spawn(tiny_scoped_recv, &rr[j]);
        }
    }
    for (long i = 0; i < k; i++) {
        T_REQUIRE(t[i]);
        T_EQ(tr_await(t[i], NULL), 0);
        tr_task_release(t[i]);
    }
    T_EQ(c.nop_bad, 0);
    T_EQ(c.other, 0);
    if (c.other) {
        char name[32];
        io_fail(__FILE__, __LINE__, "first unexpected scoped recv result: %s",
                io_rcname(c.first_other, name));
    }
    for (long j = 0; j < nrecv; j++) {
        close(sv[j][0]);
        close(sv[j][1]);
    }
    free(sv);
    free(rr);
    free(t);
    return NULL;
}

static void test_tiny_ring(void **state) {
    (void)state;
    tr_options opts = {.ring_entries = 2};
    io_run_with(&opts, tiny_main, NULL);
}

/* Cancelling many tasks blocked in I/O at once on the tiny ring: each cancellation needs an
 * SQE of its own. */
struct blocked {
    int fd;
    int res;
};

static void *blocked_recv(void *arg) {
    struct blocked *b = arg;
    char c;
    b->res = tr_recv(b->fd, &c, 1, 0);
    return NULL;
}

static void *tiny_cancel_main(void *arg) {
    (void)arg;
    long n = ntasks / 5 > 0 ? ntasks / 5 : 1;
    int(*sv)[2] = calloc((size_t)n, sizeof *sv);
    struct blocked *b = calloc((size_t)n, sizeof *b);
    tr_task **t = calloc((size_t)n, sizeof *t);
    T_REQUIRE(sv && b && t);
    for (long i = 0; i < n; i++) {
        T_REQUIRE(io_socketpair(SOCK_STREAM, sv[i]) == 0);
        b[i] = (struct blocked){.fd = sv[i][1], .res = 1};
        t[i] = tr_spawn(blocked_recv, &b[i]);
        T_REQUIRE(t[i]);
    }
    tr_sleep(20 * MS);
    for (long i = 0; i < n; i++)
        T_EQ(tr_task_cancel(t[i]), 1);
    long wrong = 0;
    for (long i = 0; i < n; i++) {
        T_EQ(tr_await(t[i], NULL), -ECANCELED);
        wrong += b[i].res != -ECANCELED;
        tr_task_release(t[i]);
        close(sv[i][0]);
        close(sv[i][1]);
    }
    T_EQ(wrong, 0);
    free(sv);
    free(b);
    free(t);
    return NULL;
}

static void test_tiny_ring_cancel(void **state) {
    (void)state;
    assert_int_equal(io_raise_nofile((unsigned long)ntasks + 256), 0);
    tr_options opts = {.ring_entries = 2};
    io_run_with(&opts, tiny_cancel_main, NULL);
}

int main(int argc, char **argv) {
    ntasks = io_arg_long(&argc, argv, "tasks", ntasks);
    io_parse_args(&argc, argv);
    if (ntasks < 10) {
        fprintf(stderr, "--tasks must be at least 10\n");
        return 2;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_nops, io_setup),
        cmocka_unit_test_setup(test_mixed, io_setup),
        cmocka_unit_test_setup(test_tiny_ring, io_setup),
        cmocka_unit_test_setup(test_tiny_ring_cancel, io_setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
