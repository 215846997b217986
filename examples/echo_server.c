/*
 * echo_server.c - a TCP echo server on taskring: one task per connection.
 *
 *   echo_server [--port P] [--bind ADDR] [--grace SECONDS]
 *
 * The main task opens the listening socket and accepts through a multishot-accept listener;
 * every connection gets its own task, which loops tr_recv/tr_send until the peer closes.
 * Each of those calls suspends only its task, so the code reads like a blocking server.
 *
 * SIGINT or SIGTERM stops it cleanly: no new connections, open ones get a grace period to
 * finish, the rest are cancelled, and the process exits 0 with everything freed.
 *
 * Prints "listening on ADDR:PORT" once bound (--port 0 picks a free port).
 */
#define _GNU_SOURCE
#include <taskring.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define PROG "echo_server"

enum { BACKLOG = 4096, BUF_SIZE = 16 * 1024 };

struct server {
    /* configuration */
    const char *bind_addr;
    unsigned port;
    uint64_t grace_ns;
    /* state, owned by the loop's tasks */
    tr_task *main_task;
    tr_listener *listener; /* NULL once closed */
    bool stopping;         /* a shutdown signal came */
    int exit_code;
};

/* ---- connections --------------------------------------------------------------------------- */

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

/* Close through the ring; a cancelled task's tr_close returns -ECANCELED without queuing
 * anything, so close it directly then. */
static void close_conn(int fd) {
    if (tr_close(fd) == -ECANCELED)
        close(fd);
}

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

/* ---- shutdown ------------------------------------------------------------------------------ */

static const int stop_signals[] = {SIGINT, SIGTERM};
enum { N_STOP_SIGNALS = sizeof stop_signals / sizeof stop_signals[0] };

/* Waits for SIGINT/SIGTERM, then stops the server: close the listener (the main task's
 * accept returns -ECANCELED), let connections finish for the grace period, cancel the rest. */
static void *shutdown_task(void *arg) {
    struct server *srv = arg;
    int sig = tr_signal_wait(stop_signals, N_STOP_SIGNALS);
    if (sig < 0)
        return NULL; /* cancelled: the server is ending for another reason */
    fprintf(stderr, PROG ": %s, stopping\n", strsignal(sig));

    srv->stopping = true;
    tr_listener_close(srv->listener);
    srv->listener = NULL;

    /* Grace period: this task and the main task are the two that remain when every
     * connection has ended. */
    const uint64_t step = 50 * 1000 * 1000;
    for (uint64_t waited = 0; tr_task_count() > 2 && waited < srv->grace_ns; waited += step)
        if (tr_sleep(step) < 0)
            break;

    size_t cancelled = 0;
    tr_taskset *all = tr_all_tasks();
    if (all) {
        tr_task *self = tr_current();
        for (size_t i = 0; i < tr_taskset_size(all); i++) {
            tr_task *t = tr_taskset_get(all, i);
            if (t != self && t != srv->main_task && tr_task_cancel(t) == 1)
                cancelled++;
        }
        tr_taskset_free(all);
    } /* else: out of memory; tr_run cancels whatever is left when main returns */
    if (cancelled)
        fprintf(stderr, PROG ": cancelled %zu connection(s) still open after the grace period\n",
                cancelled);
    return NULL;
}

/* ---- listening ----------------------------------------------------------------------------- */

static int listen_socket(struct server *srv) {
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)srv->port)};
    if (inet_pton(AF_INET, srv->bind_addr, &addr.sin_addr) != 1) {
        fprintf(stderr, PROG ": --bind %s: not an IPv4 address\n", srv->bind_addr);
        return -1;
    }
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        perror(PROG ": socket");
        return -1;
    }
    int one = 1;
    /* TCP_NODELAY on the listening socket is inherited by every accepted one. */
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) < 0) {
        perror(PROG ": setsockopt");
        close(fd);
        return -1;
    }
    if (bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(fd, BACKLOG) < 0) {
        fprintf(stderr, PROG ": %s:%u: %s\n", srv->bind_addr, srv->port, strerror(errno));
        close(fd);
        return -1;
    }
    socklen_t len = sizeof addr;
    if (getsockname(fd, (struct sockaddr *)&addr, &len) < 0) {
        perror(PROG ": getsockname");
        close(fd);
        return -1;
    }
    printf("listening on %s:%u\n", srv->bind_addr, (unsigned)ntohs(addr.sin_port));
    fflush(stdout);
    return fd;
}

static void *server_main(void *arg) {
    struct server *srv = arg;
    srv->main_task = tr_current();
    int fd = listen_socket(srv);
    if (fd < 0) {
        srv->exit_code = 1;
        return NULL;
    }
    srv->listener = tr_listener_open(fd);
    tr_task *stopper = srv->listener ? tr_spawn_named(shutdown_task, srv, "shutdown") : NULL;
    if (!stopper) {
        fprintf(stderr, PROG ": starting: %s\n", strerror(errno));
        tr_listener_close(srv->listener);
        close(fd);
        srv->exit_code = 1;
        return NULL;
    }

    while (!srv->stopping) {
        int conn = tr_listener_accept(srv->listener);
        if (conn >= 0) {
            tr_task *t = tr_spawn_named(echo_conn, (void *)(intptr_t)conn, "echo-conn");
            if (t)
                tr_task_release(t); /* fire and forget: the task closes its socket */
            else
                close(conn);
        } else if (!srv->stopping) {
            /* EMFILE, ENFILE, ENOMEM...: back off; the next accept re-arms the listener. */
            fprintf(stderr, PROG ": accept: %s\n", tr_strerror(conn));
            if (tr_sleep(100 * 1000 * 1000) < 0)
                break;
        }
        /* else -ECANCELED: the shutdown task closed the listener. */
    }

    tr_await(stopper, NULL); /* grace period and cancellations */
    tr_task_release(stopper);
    close(fd);
    return NULL; /* tr_run cancels and finishes whatever is left, then frees everything */
}

/* ---- command line -------------------------------------------------------------------------- */

static void usage(FILE *out) {
    fprintf(out, "usage: " PROG " [--port P] [--bind ADDR] [--grace SECONDS]\n"
                 "  --port P         TCP port (default 7000; 0 picks a free one)\n"
                 "  --bind ADDR      IPv4 address to listen on (default 127.0.0.1)\n"
                 "  --grace SECONDS  on SIGINT/SIGTERM, time open connections get to finish\n"
                 "                   before they are cancelled (default 2)\n");
}

static bool parse_uint(const char *s, unsigned long max, unsigned long *out) {
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || end == s || *end || v > max || s[0] == '-')
        return false;
    *out = v;
    return true;
}

int main(int argc, char **argv) {
    struct server srv = {.bind_addr = "127.0.0.1", .port = 7000, .grace_ns = 2000000000u};
    for (int i = 1; i < argc; i++) {
        const char *opt = argv[i];
        unsigned long v;
        if (!strcmp(opt, "-h") || !strcmp(opt, "--help")) {
            usage(stdout);
            return 0;
        }
        if (i + 1 >= argc) {
            usage(stderr);
            return 2;
        }
        const char *val = argv[++i];
        if (!strcmp(opt, "--port") && parse_uint(val, 65535, &v)) {
            srv.port = (unsigned)v;
        } else if (!strcmp(opt, "--bind")) {
            srv.bind_addr = val;
        } else if (!strcmp(opt, "--grace") && parse_uint(val, 3600, &v)) {
            srv.grace_ns = (uint64_t)v * 1000000000u;
        } else {
            fprintf(stderr, PROG ": bad option or value: %s %s\n", opt, val);
            usage(stderr);
            return 2;
        }
    }

    /* A peer that resets while we write must give EPIPE, not kill the process. */
    signal(SIGPIPE, SIG_IGN);
    /* Queue SIGINT/SIGTERM from now on, so one that arrives before the shutdown task waits
     * for it is not lost (nor fatal). */
    sigset_t set;
    sigemptyset(&set);
    for (int i = 0; i < N_STOP_SIGNALS; i++)
        sigaddset(&set, stop_signals[i]);
    sigprocmask(SIG_BLOCK, &set, NULL);

    int rc = tr_run(server_main, &srv, NULL);
    if (rc < 0) {
        fprintf(stderr, PROG ": %s\n", tr_strerror(rc));
        return 1;
    }
    return srv.exit_code;
}
