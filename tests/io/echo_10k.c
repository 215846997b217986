/*
 * echo_10k.c - 10,000 TCP connections on loopback, all in one loop.
 *
 * A server task accepts through a tr_listener and spawns one echo task per connection; 10,000
 * client tasks of the same loop each open a connection (tr_connect), send a message, read the
 * echo back, check it, and close. Every connection is open at the same time at the peak. The
 * run stops itself after --timeout seconds (60) whatever happens, prints the connections
 * served and the resident memory, and fails if any connection failed.
 *
 * Two descriptors per connection live in this process: RLIMIT_NOFILE is raised to 25,000
 * (or 2N + 256 if larger) first. When the hard limit is too small for that (20,000 on the
 * project's machines), the clients run in a forked child with a loop of their own, so each
 * process needs N + 256 descriptors; only if even that is refused does the test print
 * SKIPPED and exit 0.
 *
 *   echo_10k [--connections N] [--timeout SECONDS]
 *
 * Binds 127.0.0.1 only.
 */
#include "io_test.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

enum { MSG_LEN = 64 };

struct stats {
    long connections;
    int port;
    tr_listener *listener;
    long clients_ok;
    long clients_failed;
    long served;        /* connections echoed to EOF by the server */
    long server_errors; /* recv/send errors on the server side */
    long accept_errors; /* tr_listener_accept errors other than the final -ECANCELED */
    long accepted;
    long handlers_live;
    int first_error_rc;
    const char *first_error_what;
    long first_error_id;
};

static struct stats st;

static void client_failed(long id, const char *what, int rc) {
    if (st.clients_failed++ == 0) {
        st.first_error_rc = rc;
        st.first_error_what = what;
        st.first_error_id = id;
    }
}

static void format_msg(char *buf, long id) {
    memset(buf, 0, MSG_LEN);
    snprintf(buf, MSG_LEN, "hello from client %ld, %ld", id, id * 7919 % 100003);
}

static void *client(void *arg) {
    long id = (long)(intptr_t)arg;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        client_failed(id, "socket", -errno);
        return NULL;
    }
    struct sockaddr_in sin;
    memset(&sin, 0, sizeof sin);
    sin.sin_family = AF_INET;
    sin.sin_port = htons((uint16_t)st.port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    char msg[MSG_LEN], back[MSG_LEN];
    format_msg(msg, id);
    memset(back, 0, sizeof back);
    int rc = tr_connect(fd, (struct sockaddr *)&sin, sizeof sin);
    if (rc != 0) {
        client_failed(id, "connect", rc);
        close(fd);
        return NULL;
    }
    size_t off = 0;
    while (off < MSG_LEN) {
        rc = tr_send(fd, msg + off, MSG_LEN - off, MSG_NOSIGNAL);
        if (rc <= 0) {
            client_failed(id, "send", rc);
            close(fd);
            return NULL;
        }
        off += (size_t)rc;
    }
    off = 0;
    while (off < MSG_LEN) {
        rc = tr_recv(fd, back + off, MSG_LEN - off, 0);
        if (rc <= 0) {
            client_failed(id, rc == 0 ? "recv (early EOF)" : "recv", rc);
            close(fd);
            return NULL;
        }
        off += (size_t)rc;
    }
    if (memcmp(msg, back, MSG_LEN) != 0) {
        client_failed(id, "echo differs", 0);
        close(fd);
        return NULL;
    }
    rc = tr_close(fd);
    if (rc != 0) {
        client_failed(id, "close", rc);
        return NULL;
    }
    st.clients_ok++;
    return NULL;
}

static void *echo_handler(void *arg) {
    int fd = (int)(intptr_t)arg;
    char buf[256];
    long echoed = 0;
    for (;;) {
        int n = tr_recv(fd, buf, sizeof buf, 0);
        if (n == 0)
            break;
        if (n < 0) {
            st.server_errors++;
            break;
        }
        int off = 0;
        while (off < n) {
            int w = tr_send(fd, buf + off, (size_t)(n - off), MSG_NOSIGNAL);
            if (w <= 0) {
                st.server_errors++;
                goto out;
            }
            off += w;
        }
        echoed += n;
    }
    if (echoed == MSG_LEN)
        st.served++;
out:
    tr_close(fd);
    st.handlers_live--;
    return NULL;
}

static void *server(void *arg) {
    (void)arg;
    for (;;) {
        int fd = tr_listener_accept(st.listener);
        if (fd == -ECANCELED)
            return NULL; /* listener closed, or this task cancelled */
        if (fd < 0) {
            st.accept_errors++;
            tr_sleep(1 * MS); /* EMFILE and the like: back off briefly */
            continue;
        }
        st.accepted++;
        tr_task *h = tr_spawn(echo_handler, (void *)(intptr_t)fd);
        if (!h) {
            st.server_errors++;
            close(fd);
            continue;
        }
        st.handlers_live++;
        tr_task_release(h);
    }
}

static long timeout_s = 60;

static void *main_task(void *arg) {
    (void)arg;
    int lfd = io_tcp_listen(SOMAXCONN, &st.port);
    if (lfd < 0) {
        perror("listen on 127.0.0.1");
        return (void *)1;
    }
    st.listener = tr_listener_open(lfd);
    if (!st.listener) {
        perror("tr_listener_open");
        close(lfd);
        return (void *)1;
    }
    tr_task *srv = tr_spawn(server, NULL);
    tr_task **clients = calloc((size_t)st.connections, sizeof *clients);
    if (!srv || !clients) {
        perror("spawn");
        return (void *)1;
    }
    for (long i = 0; i < st.connections; i++) {
        clients[i] = tr_spawn(client, (void *)(intptr_t)i);
        if (!clients[i]) {
            perror("tr_spawn");
            return (void *)1;
        }
    }

    /* Everything below is bounded by one deadline. */
    tr_deadline d;
    tr_deadline_begin(&d, (uint64_t)timeout_s * 1000 * MS);
    long awaited = 0;
    for (; awaited < st.connections; awaited++)
        if (tr_await(clients[awaited], NULL) == -ETIME)
            break;
    while (!tr_deadline_expired(&d) && (st.handlers_live > 0 || st.accepted < st.clients_ok))
        tr_sleep(1 * MS);
    bool timed_out = tr_deadline_expired(&d);
    tr_deadline_end(&d);

    if (timed_out)
        fprintf(stderr, "echo_10k: stopped after %ld s: %ld of %ld clients finished\n", timeout_s,
                awaited, st.connections);
    for (long i = 0; i < st.connections; i++) {
        tr_task_cancel(clients[i]); /* no-op for finished ones */
        tr_task_release(clients[i]);
    }
    free(clients);
    tr_listener_close(st.listener);
    tr_await(srv, NULL);
    tr_task_release(srv);
    close(lfd);
    return (void *)(intptr_t)timed_out;
}

/* ---- split mode: server here, clients in a forked child (each needs N descriptors) ---- */

/* The child's loop: the clients only. */
static void *clients_main(void *arg) {
    (void)arg;
    tr_task **clients = calloc((size_t)st.connections, sizeof *clients);
    if (!clients)
        return (void *)1;
    long spawned = 0;
    for (; spawned < st.connections; spawned++)
        if (!(clients[spawned] = tr_spawn(client, (void *)(intptr_t)spawned)))
            break;
    tr_deadline d;
    tr_deadline_begin(&d, (uint64_t)timeout_s * 1000 * MS);
    for (long i = 0; i < spawned; i++)
        if (tr_await(clients[i], NULL) == -ETIME)
            break;
    bool timed_out = tr_deadline_expired(&d);
    tr_deadline_end(&d);
    for (long i = 0; i < spawned; i++) {
        tr_task_cancel(clients[i]);
        tr_task_release(clients[i]);
    }
    free(clients);
    return (void *)(intptr_t)(timed_out || spawned < st.connections);
}

/* The parent's loop: the listener and the echo handlers, until every connection is served
 * (or failed on the server side), or the deadline. */
static int listen_fd = -1;

static void *server_main(void *arg) {
    (void)arg;
    st.listener = tr_listener_open(listen_fd);
    tr_task *srv = st.listener ? tr_spawn(server, NULL) : NULL;
    if (!srv) {
        perror("listener");
        return (void *)1;
    }
    tr_deadline d;
    tr_deadline_begin(&d, (uint64_t)timeout_s * 1000 * MS);
    while (st.served + st.server_errors < st.connections || st.handlers_live > 0)
        if (tr_sleep(1 * MS) == -ETIME)
            break;
    bool timed_out = tr_deadline_expired(&d);
    tr_deadline_end(&d);
    tr_listener_close(st.listener);
    tr_await(srv, NULL);
    tr_task_release(srv);
    return (void *)(intptr_t)timed_out;
}

/* Returns the exit status: the child reports its clients through its own exit status. */
static int run_split(void) {
    listen_fd = io_tcp_listen(SOMAXCONN, &st.port);
    if (listen_fd < 0) {
        perror("listen on 127.0.0.1");
        return 1;
    }
    fflush(stdout);
    pid_t child = fork();
    if (child < 0) {
        perror("fork");
        return 1;
    }
    if (child == 0) {
        close(listen_fd);
        void *timed_out = NULL;
        int rc = tr_run(clients_main, NULL, &timed_out);
        printf("echo_10k: clients (child): %ld ok, %ld failed%s\n", st.clients_ok,
               st.clients_failed, timed_out ? ", timed out" : "");
        if (st.clients_failed) {
            char name[32];
            printf("echo_10k: first failure: client %ld: %s: %s\n", st.first_error_id,
                   st.first_error_what, io_rcname(st.first_error_rc, name));
        }
        fflush(stdout);
        _exit(rc == 0 && !timed_out && st.clients_ok == st.connections ? 0 : 1);
    }
    uint64_t t0 = io_now_ns();
    void *timed_out = NULL;
    int rc = tr_run(server_main, NULL, &timed_out);
    double secs = (double)(io_now_ns() - t0) / 1e9;
    close(listen_fd);
    int status = 0;
    bool child_ok =
        waitpid(child, &status, 0) == child && WIFEXITED(status) && WEXITSTATUS(status) == 0;
    printf("echo_10k: %ld connections (server and clients in two processes): %ld served, %ld "
           "accepted; %ld server errors, %ld accept errors; %.2f s; server VmRSS %ld KiB, "
           "VmHWM %ld KiB\n",
           st.connections, st.served, st.accepted, st.server_errors, st.accept_errors, secs,
           io_status_kib("VmRSS"), io_status_kib("VmHWM"));
    bool ok =
        rc == 0 && !timed_out && child_ok && st.served == st.connections && st.server_errors == 0;
    if (rc != 0)
        printf("echo_10k: tr_run: %s\n", tr_strerror(rc));
    printf("echo_10k: %s\n", ok ? "PASSED" : "FAILED");
    return ok ? 0 : 1;
}

int main(int argc, char **argv) {
    st.connections = io_arg_long(&argc, argv, "connections", 10000);
    timeout_s = io_arg_long(&argc, argv, "timeout", 60);
    if (argc > 1 || st.connections < 1 || timeout_s < 1) {
        fprintf(stderr, "usage: %s [--connections N] [--timeout SECONDS]\n", argv[0]);
        return 2;
    }

    unsigned long want = 25000;
    if ((unsigned long)st.connections * 2 + 256 > want)
        want = (unsigned long)st.connections * 2 + 256;
    if (io_raise_nofile(want) != 0) {
        struct rlimit rl;
        getrlimit(RLIMIT_NOFILE, &rl);
        unsigned long need = (unsigned long)st.connections * 2 + 256;
        if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < need) {
            unsigned long half = (unsigned long)st.connections + 256;
            if (io_raise_nofile(half) == 0) {
                alarm((unsigned)timeout_s + 30);
                return run_split();
            }
            printf("echo_10k: SKIPPED: RLIMIT_NOFILE cannot be raised to %lu (%s); hard limit "
                   "%lu is below the %lu descriptors %ld connections need, even split over "
                   "two processes\n",
                   want, strerror(errno), (unsigned long)rl.rlim_max, half, st.connections);
            return 0;
        }
        rl.rlim_cur = rl.rlim_max; /* enough for this run, if not 25,000 */
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
            printf("echo_10k: SKIPPED: cannot raise RLIMIT_NOFILE: %s\n", strerror(errno));
            return 0;
        }
    }
    alarm((unsigned)timeout_s + 30); /* last resort, should the loop itself hang */

    uint64_t t0 = io_now_ns();
    void *timed_out = NULL;
    int rc = tr_run(main_task, NULL, &timed_out);
    double secs = (double)(io_now_ns() - t0) / 1e9;

    printf("echo_10k: %ld connections: %ld clients ok, %ld failed; %ld served, %ld accepted; "
           "%ld server errors, %ld accept errors; %.2f s; VmRSS %ld KiB, VmHWM %ld KiB\n",
           st.connections, st.clients_ok, st.clients_failed, st.served, st.accepted,
           st.server_errors, st.accept_errors, secs, io_status_kib("VmRSS"),
           io_status_kib("VmHWM"));
    if (st.clients_failed) {
        char name[32];
        printf("echo_10k: first failure: client %ld: %s: %s\n", st.first_error_id,
               st.first_error_what, io_rcname(st.first_error_rc, name));
    }
    bool ok = rc == 0 && !timed_out && st.clients_ok == st.connections &&
              st.served == st.connections && st.server_errors == 0 && st.clients_failed == 0;
    if (rc != 0)
        printf("echo_10k: tr_run: %s\n", tr_strerror(rc));
    printf("echo_10k: %s\n", ok ? "PASSED" : "FAILED");
    return ok ? 0 : 1;
}
