/*
 * server.h - what the example servers share: the command line they have in common, the
 * listening socket, the accept loop, and the clean shutdown on SIGINT/SIGTERM. A server file
 * adds only its protocol: the task that serves one connection.
 *
 *   #define _GNU_SOURCE           (before any #include: strsignal, SOCK_CLOEXEC)
 *   #include "server.h"
 *
 *   static void *my_conn(void *arg);   (serves the socket (int)(intptr_t)arg, then close_conn)
 *
 *   int main(int argc, char **argv) {
 *       struct server srv = {.name = "my_server",
 *                            .usage = SERVER_USAGE("my_server", "", "7000", ""),
 *                            .on_connection = my_conn,
 *                            .conn_task_name = "my-conn",
 *                            .port = 7000};
 *       int rc = server_options(&srv, argc, argv);
 *       return rc == SERVER_RUN ? server_run(&srv) : rc;
 *   }
 *
 * How it runs: the main task opens the listening socket and accepts through a
 * multishot-accept listener; every connection gets its own task, on_connection, which owns
 * the socket and closes it. A shutdown task waits for SIGINT/SIGTERM, closes the listener,
 * gives open connections the grace period to finish and cancels the rest; then tr_run
 * returns with everything freed and the process exits 0.
 *
 * With --loops N (N > 1) the runtime has N loops, one thread each, and the server one
 * listening socket per loop, all bound to the same port with SO_REUSEPORT (the kernel spreads
 * new connections over them). Loop 0's accept loop is the main task, as above; loop i's is a
 * task started there with tr_spawn_on(i, ...), and a connection's task runs on the loop that
 * accepted it. The shutdown task (on loop 0) closes loop 0's listener and cancels the other
 * accept tasks (tr_task_cancel works across loops: their accept returns -ECANCELED and each
 * closes its own listener); the grace period and the cancellations then cover every loop.
 * --loops 1 is the single-loop server, unchanged: one socket, no SO_REUSEPORT, no other task.
 *
 * Everything here is static: the header is meant for one source file per program.
 */
#ifndef TASKRING_EXAMPLE_SERVER_H
#define TASKRING_EXAMPLE_SERVER_H

#include <taskring.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

enum { SERVER_BACKLOG = 4096, SERVER_MAX_LOOPS = 256 };

struct server;

/* One loop's listening socket and accept loop. */
struct server_loop {
    struct server *srv;
    unsigned index;        /* the loop: 0..loops-1 */
    int fd;                /* its listening socket; -1 when none */
    tr_listener *listener; /* owned by that loop's accept task; NULL once closed */
    tr_task *task;         /* the accept task (loops 1..N-1; NULL for loop 0, the main task) */
};

struct server {
    /* configuration, set by the server's main() */
    const char *name;  /* the program's name: prefixes every message on stderr */
    const char *usage; /* the --help text */
    /* A server's own options, tried after the common ones; NULL when it has none. Returns
     * false when opt is not one of them or val is not valid for it. */
    bool (*extra_option)(const char *opt, const char *val);
    /* A connection's task: gets the accepted socket as (void *)(intptr_t)fd, and closes it
     * (close_conn) when done. It is cancelled if still running after the grace period. */
    tr_fn on_connection;
    const char *conn_task_name;
    /* the common options: server_options() sets them, from the command line or the defaults
     * below; port's default is the server's own, set by main() */
    const char *bind_addr;
    unsigned port;
    uint64_t grace_ns;
    unsigned loops; /* --loops; 0: what the runtime picks (TASKRING_LOOPS, else 1) */

    /* state: loop[i] is owned by loop i's accept task; the rest by loop 0's tasks, but for
     * the two flags, which the accept tasks of the other loops read and write */
    tr_task *main_task;
    unsigned n_loops;                          /* tr_loop_count(), once running */
    struct server_loop loop[SERVER_MAX_LOOPS]; /* the first n_loops are used */
    atomic_bool stopping;                      /* a shutdown signal came */
    atomic_int exit_code;
};

/* The common options' defaults. */
#define SERVER_DEFAULT_BIND "127.0.0.1"
#define SERVER_DEFAULT_GRACE_NS 2000000000u

/* The --help text (a string literal), from what a server adds: its name, its own options in
 * the synopsis and their lines, and its default port (a string). */
#define SERVER_USAGE(prog, extra_synopsis, default_port, extra_lines)                              \
    "usage: " prog " [--port P] [--bind ADDR] [--loops N]" extra_synopsis " [--grace SECONDS]\n"   \
    "  --port P         TCP port (default " default_port "; 0 picks a free one)\n"                 \
    "  --bind ADDR      IPv4 address to listen on (default 127.0.0.1)\n"                           \
    "  --loops N        event loops (threads), 1..256, each with its own SO_REUSEPORT\n"           \
    "                   listener (default: TASKRING_LOOPS if set, else 1)\n" extra_lines           \
    "  --grace SECONDS  on SIGINT/SIGTERM, time open connections get to finish\n"                  \
    "                   before they are cancelled (default 2)\n"

/* ---- for connection tasks ------------------------------------------------------------------ */

/* tr_close always closes: through the ring, or at once with close(2) in a task that is being
 * cancelled or is past its deadline (it never returns -ECANCELED with the fd still open). */
static void close_conn(int fd) {
    (void)tr_close(fd);
}

/* ---- shutdown ------------------------------------------------------------------------------ */

static const int stop_signals[] = {SIGINT, SIGTERM};
enum { N_STOP_SIGNALS = sizeof stop_signals / sizeof stop_signals[0] };

/* A loop other than 0 could not start its accept loop: stop the whole server, with exit
 * status 1, by sending the process the SIGTERM an operator would (the shutdown task, which
 * waits for it on loop 0, then stops every loop the usual way). */
static void server_fail(struct server *srv) {
    atomic_store(&srv->exit_code, 1);
    kill(getpid(), SIGTERM);
}

/* Waits for SIGINT/SIGTERM, then stops the server: close the listener (the main task's
 * accept returns -ECANCELED) and cancel the other loops' accept tasks, let connections
 * finish for the grace period, cancel the rest. */
static void *shutdown_task(void *arg) {
    struct server *srv = arg;
    int sig = tr_signal_wait(stop_signals, N_STOP_SIGNALS);
    if (sig < 0)
        return NULL; /* cancelled: the server is ending for another reason */
    fprintf(stderr, "%s: %s, stopping\n", srv->name, strsignal(sig));

    atomic_store(&srv->stopping, true);
    tr_listener_close(srv->loop[0].listener);
    srv->loop[0].listener = NULL;
    /* An accept task the main task has not started yet sees `stopping` and does not accept. */
    for (unsigned i = 1; i < srv->n_loops; i++)
        if (srv->loop[i].task)
            (void)tr_task_cancel(srv->loop[i].task);

    /* Grace period: this task and the main task are the two that remain when every
     * connection (of every loop) and every other accept task has ended. */
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
        fprintf(stderr, "%s: cancelled %zu connection(s) still open after the grace period\n",
                srv->name, cancelled);
    return NULL;
}

/* ---- listening ----------------------------------------------------------------------------- */

/* perror(), with the program's name in front. */
static void server_perror(const struct server *srv, const char *what) {
    fprintf(stderr, "%s: %s: %s\n", srv->name, what, strerror(errno));
}

/* Open, bind (to *port; SO_REUSEPORT if reuseport) and listen; set *port to the port bound.
 * Returns the socket, or -1 after saying why on stderr. */
static int listen_socket(const struct server *srv, unsigned *port, bool reuseport) {
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)*port)};
    if (inet_pton(AF_INET, srv->bind_addr, &addr.sin_addr) != 1) {
        fprintf(stderr, "%s: --bind %s: not an IPv4 address\n", srv->name, srv->bind_addr);
        return -1;
    }
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        server_perror(srv, "socket");
        return -1;
    }
    int one = 1;
    /* TCP_NODELAY on the listening socket is inherited by every accepted one. */
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
        (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0) ||
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) < 0) {
        server_perror(srv, "setsockopt");
        close(fd);
        return -1;
    }
    if (bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(fd, SERVER_BACKLOG) < 0) {
        fprintf(stderr, "%s: %s:%u: %s\n", srv->name, srv->bind_addr, *port, strerror(errno));
        close(fd);
        return -1;
    }
    socklen_t len = sizeof addr;
    if (getsockname(fd, (struct sockaddr *)&addr, &len) < 0) {
        server_perror(srv, "getsockname");
        close(fd);
        return -1;
    }
    *port = ntohs(addr.sin_port);
    return fd;
}

/* One listening socket per loop, all on one port (the first one's, when --port 0 lets the
 * kernel pick); print "listening on ADDR:PORT". 0, or -1 with none left open. */
static int listen_sockets(struct server *srv) {
    unsigned port = srv->port;
    for (unsigned i = 0; i < srv->n_loops; i++) {
        srv->loop[i] = (struct server_loop){.srv = srv, .index = i};
        srv->loop[i].fd = listen_socket(srv, &port, srv->n_loops > 1);
        if (srv->loop[i].fd < 0) {
            while (i-- > 0) {
                close(srv->loop[i].fd);
                srv->loop[i].fd = -1;
            }
            return -1;
        }
    }
    printf("listening on %s:%u\n", srv->bind_addr, port);
    fflush(stdout);
    return 0;
}

/* Accept on l until the server stops (or the calling task is cancelled), spawning
 * on_connection for every connection on the calling task's loop. */
static void accept_connections(struct server *srv, tr_listener *l) {
    while (!atomic_load(&srv->stopping)) {
        int conn = tr_listener_accept(l);
        if (conn >= 0) {
            tr_task *t =
                tr_spawn_named(srv->on_connection, (void *)(intptr_t)conn, srv->conn_task_name);
            if (t)
                tr_task_release(t); /* fire and forget: the task closes its socket */
            else
                close(conn);
        } else if (conn == -ECANCELED) {
            break; /* the shutdown task closed the listener, or cancelled this task */
        } else if (!atomic_load(&srv->stopping)) {
            /* EMFILE, ENFILE, ENOMEM...: back off; the next accept re-arms the listener. */
            fprintf(stderr, "%s: accept: %s\n", srv->name, tr_strerror(conn));
            if (tr_sleep(100 * 1000 * 1000) < 0)
                break;
        }
    }
}

/* Loop i's (i > 0) accept task, started there by the main task: its own listener on its own
 * socket, which it closes; the shutdown task cancels it. (Cancelled before it first ran, it
 * never runs: server_run closes that socket once tr_run has returned.) */
static void *loop_accept_task(void *arg) {
    struct server_loop *l = arg;
    struct server *srv = l->srv;
    l->listener = tr_listener_open(l->fd);
    if (l->listener) {
        accept_connections(srv, l->listener);
        tr_listener_close(l->listener);
        l->listener = NULL;
    } else {
        fprintf(stderr, "%s: loop %u: starting: %s\n", srv->name, l->index, strerror(errno));
        server_fail(srv);
    }
    close(l->fd);
    l->fd = -1;
    return NULL;
}

/* The main task, on loop 0: listen, start the shutdown task and the other loops' accept
 * tasks, then accept until the shutdown task closes the listener, spawning on_connection for
 * every connection. */
static void *accept_loop(void *arg) {
    struct server *srv = arg;
    srv->main_task = tr_current();
    srv->n_loops = tr_loop_count();
    if (srv->n_loops > SERVER_MAX_LOOPS)
        srv->n_loops = SERVER_MAX_LOOPS;
    if (listen_sockets(srv) < 0) {
        atomic_store(&srv->exit_code, 1);
        return NULL;
    }
    struct server_loop *l0 = &srv->loop[0];
    l0->listener = tr_listener_open(l0->fd);
    tr_task *stopper = l0->listener ? tr_spawn_named(shutdown_task, srv, "shutdown") : NULL;
    if (!stopper) {
        fprintf(stderr, "%s: starting: %s\n", srv->name, strerror(errno));
        tr_listener_close(l0->listener);
        for (unsigned i = 0; i < srv->n_loops; i++) {
            close(srv->loop[i].fd);
            srv->loop[i].fd = -1;
        }
        atomic_store(&srv->exit_code, 1);
        return NULL;
    }

    /* The other loops (--loops N): an accept task on each. It owns its socket from here;
     * the sockets of loops left without one are closed now. */
    for (unsigned i = 1; i < srv->n_loops; i++) {
        struct server_loop *l = &srv->loop[i];
        if (!atomic_load(&srv->stopping)) {
            char name[32];
            snprintf(name, sizeof name, "accept-%u", i);
            l->task = tr_spawn_on_named(i, loop_accept_task, l, name);
            if (l->task)
                continue;
            fprintf(stderr, "%s: loop %u: starting: %s\n", srv->name, i, strerror(errno));
            server_fail(srv);
        }
        close(l->fd);
        l->fd = -1;
    }
    /* A signal that came while they were being started (tr_spawn_on carries this task to
     * the other loop and back) may have missed some: cancel them all again. */
    if (atomic_load(&srv->stopping))
        for (unsigned i = 1; i < srv->n_loops; i++)
            if (srv->loop[i].task)
                (void)tr_task_cancel(srv->loop[i].task);

    accept_connections(srv, l0->listener);

    tr_await(stopper, NULL); /* grace period and cancellations */
    tr_task_release(stopper);
    for (unsigned i = 1; i < srv->n_loops; i++)
        tr_task_release(srv->loop[i].task); /* NULL is ignored; each closes its own socket */
    close(l0->fd);
    l0->fd = -1;
    return NULL; /* tr_run cancels and finishes whatever is left, then frees everything */
}

/* ---- running ------------------------------------------------------------------------------- */

/* Run the server until a shutdown signal has stopped it. Returns the exit status. */
static int server_run(struct server *srv) {
    /* A peer that resets while we write must give EPIPE, not kill the process. */
    signal(SIGPIPE, SIG_IGN);
    /* Queue SIGINT/SIGTERM from now on, so one that arrives before the shutdown task waits
     * for it is not lost (nor fatal). The loops' threads inherit this mask. */
    sigset_t set;
    sigemptyset(&set);
    for (int i = 0; i < N_STOP_SIGNALS; i++)
        sigaddset(&set, stop_signals[i]);
    sigprocmask(SIG_BLOCK, &set, NULL);

    /* loops 0: TASKRING_LOOPS, else 1 */
    tr_options opts = {.size = sizeof opts, .loops = srv->loops};
    int rc = tr_run_with(&opts, accept_loop, srv, NULL);
    for (unsigned i = 0; i < srv->n_loops; i++)
        if (srv->loop[i].fd >= 0)
            close(srv->loop[i].fd);
    if (rc < 0) {
        fprintf(stderr, "%s: %s\n", srv->name, tr_strerror(rc));
        return 1;
    }
    return atomic_load(&srv->exit_code);
}

/* ---- command line -------------------------------------------------------------------------- */

/* A decimal number in [0, max], and nothing else. */
static bool parse_uint(const char *s, unsigned long max, unsigned long *out) {
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || end == s || *end || v > max || s[0] == '-')
        return false;
    *out = v;
    return true;
}

enum { SERVER_RUN = -1 };

/* Parse "--port P", "--bind ADDR", "--loops N", "--grace SECONDS", the server's extra_option ones,
 * and -h/--help. Returns SERVER_RUN when the server should start; otherwise the exit status for
 * main() to return: 0 after --help, 2 for a bad command line (said on stderr). */
static int server_options(struct server *srv, int argc, char **argv) {
    srv->bind_addr = SERVER_DEFAULT_BIND;
    srv->grace_ns = SERVER_DEFAULT_GRACE_NS;
    for (int i = 1; i < argc; i++) {
        const char *opt = argv[i];
        unsigned long v;
        if (!strcmp(opt, "-h") || !strcmp(opt, "--help")) {
            fputs(srv->usage, stdout);
            return 0;
        }
        if (i + 1 >= argc) {
            fputs(srv->usage, stderr);
            return 2;
        }
        const char *val = argv[++i];
        if (!strcmp(opt, "--port") && parse_uint(val, 65535, &v)) {
            srv->port = (unsigned)v;
        } else if (!strcmp(opt, "--bind")) {
            srv->bind_addr = val;
        } else if (!strcmp(opt, "--loops") && parse_uint(val, SERVER_MAX_LOOPS, &v) && v > 0) {
            srv->loops = (unsigned)v;
        } else if (!strcmp(opt, "--grace") && parse_uint(val, 3600, &v)) {
            srv->grace_ns = (uint64_t)v * 1000000000u;
        } else if (!srv->extra_option || !srv->extra_option(opt, val)) {
            fprintf(stderr, "%s: bad option or value: %s %s\n", srv->name, opt, val);
            fputs(srv->usage, stderr);
            return 2;
        }
    }
    return SERVER_RUN;
}

#endif /* TASKRING_EXAMPLE_SERVER_H */
