/*
 * io_threads.c - several loops doing I/O at the same time, one per thread: each runs a
 * listener with echo tasks and client tasks, a ping-pong over a socketpair, and calls in
 * deadline scopes. Every loop's results stay its own. (Also a TSan target.)
 *
 *   io_threads [--threads N] [--clients M] [--rounds R]     defaults 4, 50, 300
 */
#include "io_test.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static long nthreads = 4, nclients = 50, nrounds = 300;

struct loop_ctx {
    int index;
    int port;
    tr_listener *l;
    long echoed;
    long clients_ok;
    long pings;
    long etimes;
    long errors;
    int run_rc;
};

static void *echo(void *arg) {
    int fd = (int)(intptr_t)arg;
    char buf[64];
    int n;
    while ((n = tr_recv(fd, buf, sizeof buf, 0)) > 0)
        if (tr_send(fd, buf, (size_t)n, MSG_NOSIGNAL) != n)
            break;
    tr_close(fd);
    return NULL;
}

static void *server(void *arg) {
    struct loop_ctx *c = arg;
    for (;;) {
        int fd = tr_listener_accept(c->l);
        if (fd < 0)
            return NULL;
        tr_task *t = tr_spawn(echo, (void *)(intptr_t)fd);
        if (t)
            tr_task_release(t);
        else
            close(fd);
    }
}

struct client_arg {
    struct loop_ctx *c;
    long id;
};

static void *client(void *arg) {
    struct client_arg *a = arg;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)a->c->port)};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || tr_connect(fd, (struct sockaddr *)&sin, sizeof sin) != 0) {
        a->c->errors++;
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    long msg[2] = {a->c->index, a->id}, back[2] = {-1, -1};
    if (tr_send(fd, msg, sizeof msg, MSG_NOSIGNAL) != (int)sizeof msg ||
        tr_recv(fd, back, sizeof back, MSG_WAITALL) != (int)sizeof back ||
        memcmp(msg, back, sizeof msg) != 0)
        a->c->errors++;
    else
        a->c->clients_ok++;
    tr_close(fd);
    return NULL;
}

static void *pinger(void *arg) {
    struct loop_ctx *c = arg;
    int sv[2];
    if (io_socketpair(SOCK_STREAM, sv) != 0) {
        c->errors++;
        return NULL;
    }
    for (long i = 0; i < nrounds; i++) {
        long v = i * 31 + c->index, w = -1;
        if (tr_send(sv[0], &v, sizeof v, MSG_NOSIGNAL) != (int)sizeof v ||
            tr_recv(sv[1], &w, sizeof w, MSG_WAITALL) != (int)sizeof w || w != v) {
            c->errors++;
            break;
        }
        c->pings++;
        if (i % 50 == 0) {
            tr_deadline d;
            tr_deadline_begin(&d, 2 * MS);
            char b;
            if (tr_recv(sv[1], &b, 1, 0) == -ETIME)
                c->etimes++;
            tr_deadline_end(&d);
        }
    }
    close(sv[0]);
    close(sv[1]);
    return NULL;
}

static void *loop_main(void *arg) {
    struct loop_ctx *c = arg;
    int lfd = io_tcp_listen(128, &c->port);
    if (lfd < 0) {
        c->errors++;
        return NULL;
    }
    c->l = tr_listener_open(lfd);
    if (!c->l) {
        c->errors++;
        close(lfd);
        return NULL;
    }
    tr_task *srv = tr_spawn(server, c);
    tr_task *png = tr_spawn(pinger, c);
    struct client_arg *ca = calloc((size_t)nclients, sizeof *ca);
    tr_task **ct = calloc((size_t)nclients, sizeof *ct);
    if (!srv || !png || !ca || !ct) {
        c->errors++;
        return NULL;
    }
    for (long i = 0; i < nclients; i++) {
        ca[i] = (struct client_arg){c, i};
        ct[i] = tr_spawn(client, &ca[i]);
    }
    for (long i = 0; i < nclients; i++) {
        if (ct[i]) {
            tr_await(ct[i], NULL);
            tr_task_release(ct[i]);
        } else {
            c->errors++;
        }
    }
    tr_await(png, NULL);
    tr_task_release(png);
    tr_listener_close(c->l);
    tr_await(srv, NULL);
    tr_task_release(srv);
    close(lfd);
    free(ca);
    free(ct);
    return NULL;
}

static void *thread_main(void *arg) {
    struct loop_ctx *c = arg;
    c->run_rc = tr_run(loop_main, c, NULL);
    return NULL;
}

static void test_loops_in_threads(void **state) {
    (void)state;
    assert_int_equal(io_raise_nofile((unsigned long)(nthreads * (nclients * 2 + 16) + 64)), 0);
    struct loop_ctx *ctx = calloc((size_t)nthreads, sizeof *ctx);
    pthread_t *th = calloc((size_t)nthreads, sizeof *th);
    assert_non_null(ctx);
    assert_non_null(th);
    for (long i = 0; i < nthreads; i++) {
        ctx[i].index = (int)i;
        assert_int_equal(pthread_create(&th[i], NULL, thread_main, &ctx[i]), 0);
    }
    for (long i = 0; i < nthreads; i++)
        pthread_join(th[i], NULL);
    for (long i = 0; i < nthreads; i++) {
        printf("loop %ld: tr_run %d, %ld/%ld clients, %ld pings, %ld deadlines, %ld errors\n", i,
               ctx[i].run_rc, ctx[i].clients_ok, nclients, ctx[i].pings, ctx[i].etimes,
               ctx[i].errors);
        assert_int_equal(ctx[i].run_rc, 0);
        assert_int_equal(ctx[i].errors, 0);
        assert_int_equal(ctx[i].clients_ok, nclients);
        assert_int_equal(ctx[i].pings, nrounds);
        assert_int_equal(ctx[i].etimes, (nrounds + 49) / 50);
    }
    free(ctx);
    free(th);
}

int main(int argc, char **argv) {
    nthreads = io_arg_long(&argc, argv, "threads", nthreads);
    nclients = io_arg_long(&argc, argv, "clients", nclients);
    nrounds = io_arg_long(&argc, argv, "rounds", nrounds);
    io_parse_args(&argc, argv);
    if (nthreads < 1 || nclients < 1 || nrounds < 1) {
        fprintf(stderr, "usage: %s [--threads N] [--clients M] [--rounds R]\n", argv[0]);
        return 2;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_loops_in_threads, io_setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
