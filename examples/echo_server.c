/*
 * echo_server.c - a TCP echo server on taskring: one task per connection.
 *
 *   echo_server [--port P] [--bind ADDR] [--loops N] [--grace SECONDS]
 *
 * Every connection gets its own task, which loops tr_recv/tr_send until the peer closes.
 * Each of those calls suspends only its task, so the code reads like a blocking server.
 * With --loops N, N loops (threads) each accept on their own SO_REUSEPORT listener and run
 * the connections they accept.
 *
 * The rest is server.h, shared with http_server.c: the accept loop, and the clean stop on
 * SIGINT or SIGTERM: no new connections, open ones get a grace period to finish, the rest
 * are cancelled, and the process exits 0 with everything freed.
 *
 * Prints "listening on ADDR:PORT" once bound (--port 0 picks a free port).
 */
#define _GNU_SOURCE
#include "server.h"

#define PROG "echo_server"

enum { BUF_SIZE = 16 * 1024 };

/* Send all of buf: a stream send may be short when the socket buffer fills. */
static int send_all(int fd, const char *buf, size_t len) {
    while (len > 0) {
        int n = tr_send(fd, buf, len, MSG_NOSIGNAL);
        if (n <= 0)
            return n < 0 ? n : -EPIPE;
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

/* A connection's task: echo everything back until the peer closes. */
static void *echo_conn(void *arg) {
    int fd = (int)(intptr_t)arg;
    char buf[BUF_SIZE];
    for (;;) {
        int n = tr_recv(fd, buf, sizeof buf, 0);
        if (n <= 0) /* 0: the peer closed; < 0: reset, or cancelled at shutdown */
            break;
        if (send_all(fd, buf, (size_t)n) < 0)
            break;
    }
    close_conn(fd);
    return NULL;
}

static const char usage[] = SERVER_USAGE(PROG, "", "7000", "");

int main(int argc, char **argv) {
    struct server srv = {.name = PROG,
                         .usage = usage,
                         .on_connection = echo_conn,
                         .conn_task_name = "echo-conn",
                         .port = 7000};
    int rc = server_options(&srv, argc, argv);
    return rc == SERVER_RUN ? server_run(&srv) : rc;
}
