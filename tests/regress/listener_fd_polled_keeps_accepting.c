/*
 * listener_fd_polled_keeps_accepting: a task waits in tr_poll(POLLIN) on a listening fd that
 * an open listener accepts on (a health check, say). io_uring runs the poll beside the
 * multishot accept. The epoll backend's poll took the listener's registration over
 * (EPOLL_CTL_MOD of the same file: one-shot, another target), and the listener never heard
 * of a connection again: its acceptor waited until its deadline. Now the poll waits on the
 * listener's registration, the acceptor gets each connection, and closing the listener
 * leaves the poll armed. Run on both backends.
 */
#include "regress.h"

#include "net.h"

#include <poll.h>

static int lfd;

static void *poll_it(void *arg) {
    (void)arg;
    tr_deadline d;
    CHECK_EQ(tr_deadline_begin(&d, 3ull * 1000000000ull), 0);
    int rc = tr_poll(lfd, POLLIN);
    tr_deadline_end(&d);
    return (void *)(intptr_t)rc;
}

static void *main_task(void *arg) {
    (void)arg;
    int port;
    lfd = net_listen(16, &port);
    tr_listener *l = tr_listener_open(lfd);
    CHECK(l);
    tr_task *p = tr_spawn(poll_it, NULL);
    CHECK(p);
    CHECK_EQ(tr_sleep(5 * 1000000ull), 0); /* the poll waits */
    for (int i = 0; i < 3; i++) {
        int client = net_connect(port);
        tr_deadline d;
        CHECK_EQ(tr_deadline_begin(&d, 2ull * 1000000000ull), 0);
        int conn = tr_listener_accept(l);
        tr_deadline_end(&d);
        CHECK(conn >= 0); /* the bug: -ETIME */
        close(conn);
        close(client);
    }
    /* The listener goes; a connection that nobody accepts now ends the poll. */
    tr_listener_close(l);
    int client = net_connect(port);
    void *res = NULL;
    CHECK_EQ(tr_await(p, &res), 0);
    int rc = (int)(intptr_t)res;
    CHECK(rc > 0 && (rc & POLLIN));
    tr_task_release(p);
    close(client);
    close(lfd);
    return NULL;
}

int main(void) {
    CHECK_EQ(tr_run(main_task, NULL, NULL), 0);
    return 0;
}
