/*
 * echo_epoll.c - the baseline for examples/echo_server.c: a plain single-threaded epoll echo
 * server, the way one is usually written in C without a runtime.
 *
 *   echo_epoll [--port P] [--bind ADDR]
 *
 * Level-triggered, nonblocking sockets, one read per readiness event into a 16 KiB buffer
 * (the size echo_server's tasks use), written straight back. A short write keeps the rest in
 * a per-connection buffer and waits for EPOLLOUT, not reading meanwhile. TCP_NODELAY, like
 * echo_server. SIGINT/SIGTERM end it (exit 0). Prints "listening on ADDR:PORT" once bound.
 */
#define _GNU_SOURCE
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
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#define PROG "echo_epoll"

enum { BACKLOG = 4096, BUF_SIZE = 16 * 1024, MAX_EVENTS = 256 };

struct conn {
    int fd;
    char *pending; /* unsent bytes after a short write, NULL otherwise */
    size_t off, len;
};

static int ep;
static char buf[BUF_SIZE];

static void conn_close(struct conn *c) {
    close(c->fd); /* also removes it from the epoll set */
    free(c->pending);
    free(c);
}

static bool set_events(struct conn *c, uint32_t events) {
    struct epoll_event ev = {.events = events, .data.ptr = c};
    return epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev) == 0;
}

/* Write what is pending; false when the connection failed. */
static bool flush_pending(struct conn *c) {
    while (c->off < c->len) {
        ssize_t n = send(c->fd, c->pending + c->off, c->len - c->off, MSG_NOSIGNAL);
        if (n < 0)
            return errno == EAGAIN || errno == EINTR;
        c->off += (size_t)n;
    }
    free(c->pending);
    c->pending = NULL;
    return set_events(c, EPOLLIN); /* all out: read again */
}

/* Send buf[0, len); keep what the socket does not take and wait for EPOLLOUT. */
static bool echo(struct conn *c, size_t len) {
    size_t off = 0;
    while (off < len) {
        ssize_t n = send(c->fd, buf + off, len - off, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno != EAGAIN)
            return false;
        if (n < 0) {
            c->pending = malloc(len - off);
            if (!c->pending)
                return false;
            memcpy(c->pending, buf + off, len - off);
            c->off = 0;
            c->len = len - off;
            return set_events(c, EPOLLOUT);
        }
        off += (size_t)n;
    }
    return true;
}

static void on_conn(struct conn *c, uint32_t events) {
    bool ok = true;
    if (c->pending) {
        ok = (events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) ? flush_pending(c) : true;
    } else if (events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
        ssize_t n = recv(c->fd, buf, sizeof buf, 0);
        if (n > 0)
            ok = echo(c, (size_t)n);
        else
            ok = n < 0 && (errno == EAGAIN || errno == EINTR); /* 0: the peer closed */
    }
    if (!ok)
        conn_close(c);
}

static void on_accept(int lfd) {
    for (;;) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
                perror(PROG ": accept4"); /* EMFILE...: retried on the next event */
            return;
        }
        struct conn *c = calloc(1, sizeof *c);
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        if (!c || epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
            free(c);
            close(fd);
            continue;
        }
        c->fd = fd;
    }
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
    const char *bind_addr = "127.0.0.1";
    unsigned long port = 7001;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--port") && parse_uint(argv[i + 1], 65535, &port))
            continue;
        if (!strcmp(argv[i], "--bind")) {
            bind_addr = argv[i + 1];
            continue;
        }
        fprintf(stderr, "usage: " PROG " [--port P] [--bind ADDR]\n");
        return 2;
    }
    if (argc % 2 == 0) {
        fprintf(stderr, "usage: " PROG " [--port P] [--bind ADDR]\n");
        return 2;
    }

    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigprocmask(SIG_BLOCK, &set, NULL);
    int sfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);

    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, bind_addr, &addr.sin_addr) != 1) {
        fprintf(stderr, PROG ": --bind %s: not an IPv4 address\n", bind_addr);
        return 1;
    }
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    socklen_t alen = sizeof addr;
    ep = epoll_create1(EPOLL_CLOEXEC);
    if (sfd < 0 || lfd < 0 || ep < 0 ||
        setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
        setsockopt(lfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) < 0 ||
        bind(lfd, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(lfd, BACKLOG) < 0 ||
        getsockname(lfd, (struct sockaddr *)&addr, &alen) < 0) {
        fprintf(stderr, PROG ": %s:%lu: %s\n", bind_addr, port, strerror(errno));
        return 1;
    }
    /* The listening socket and the signalfd are told apart from connections by pointer. */
    static int lfd_tag, sfd_tag;
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &lfd_tag};
    epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
    ev.data.ptr = &sfd_tag;
    epoll_ctl(ep, EPOLL_CTL_ADD, sfd, &ev);
    printf("listening on %s:%u\n", bind_addr, (unsigned)ntohs(addr.sin_port));
    fflush(stdout);

    struct epoll_event events[MAX_EVENTS];
    for (;;) {
        int n = epoll_wait(ep, events, MAX_EVENTS, -1);
        if (n < 0 && errno != EINTR) {
            perror(PROG ": epoll_wait");
            return 1;
        }
        for (int i = 0; i < n; i++) {
            void *p = events[i].data.ptr;
            if (p == &lfd_tag) {
                on_accept(lfd);
            } else if (p == &sfd_tag) {
                fprintf(stderr, PROG ": stopping\n");
                return 0; /* the kernel closes the connections */
            } else {
                on_conn(p, events[i].events);
            }
        }
    }
}
