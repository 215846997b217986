/*
 * http_test.h - what the regression tests of examples/http_server.c share (tests/examples/).
 *
 * Each test is a plain program, run as `test PATH_TO_http_server`: it starts the server with
 * --port 0 (and its own options), reads the "listening on 127.0.0.1:PORT" line, talks to it
 * over 127.0.0.1 with ordinary blocking sockets and poll(), and stops it with SIGTERM at the
 * end, which must make it exit 0 (under ASan that includes "nothing leaked").
 *
 * Checks print one line each ("ok ..." or "FAIL ...") and carry on, so one run shows every
 * case that fails; http_test_finish() turns any failure into exit status 1. Every wait is
 * bounded (poll timeouts, loop counts), and the server is killed if the test ends early.
 *
 * Everything here is static (inline, so that a test need not use all of it): one test
 * source file per program includes it.
 */
#ifndef HTTP_TEST_H
#define HTTP_TEST_H

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int http_failures;
static pid_t server_pid = -1;

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (cond) {                                                                                \
            printf("ok   ");                                                                       \
        } else {                                                                                   \
            printf("FAIL %s:%d (%s): ", __FILE__, __LINE__, #cond);                                \
            http_failures++;                                                                       \
        }                                                                                          \
        printf(__VA_ARGS__);                                                                       \
        putchar('\n');                                                                             \
        fflush(stdout);                                                                            \
    } while (0)

/* A failure the test cannot go on from. */
#define FATAL(...)                                                                                 \
    do {                                                                                           \
        printf("FAIL %s:%d: ", __FILE__, __LINE__);                                                \
        printf(__VA_ARGS__);                                                                       \
        putchar('\n');                                                                             \
        exit(1); /* kill_server runs at exit */                                                    \
    } while (0)

static inline uint64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static inline void sleep_ms(unsigned ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
}

/* ---- the server process -------------------------------------------------------------------- */

static inline void kill_server(void) {
    if (server_pid > 0) {
        kill(server_pid, SIGKILL);
        waitpid(server_pid, NULL, 0);
        server_pid = -1;
    }
}

/* Start `path --port 0 args...` (args NULL-terminated) and return its port. */
static inline int server_start(const char *path, const char *const *args) {
    const char *argv[32] = {path, "--port", "0"};
    int argc = 3;
    for (; args && *args && argc < 31; args++)
        argv[argc++] = *args;
    argv[argc] = NULL;

    int out[2];
    if (pipe2(out, O_CLOEXEC) < 0)
        FATAL("pipe: %s", strerror(errno));
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0)
        FATAL("fork: %s", strerror(errno));
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive the test */
        dup2(out[1], STDOUT_FILENO);
        execv(path, (char *const *)argv);
        fprintf(stderr, "exec %s: %s\n", path, strerror(errno));
        _exit(127);
    }
    close(out[1]);
    server_pid = pid;
    atexit(kill_server);

    /* Its first line of output, within 10 s. */
    char line[128];
    size_t len = 0;
    uint64_t until = now_ms() + 10000;
    while (len < sizeof line - 1 && !memchr(line, '\n', len)) {
        uint64_t now = now_ms();
        struct pollfd p = {out[0], POLLIN, 0};
        if (now >= until || poll(&p, 1, (int)(until - now)) <= 0)
            FATAL("%s printed no 'listening on' line within 10 s", path);
        ssize_t n = read(out[0], line + len, sizeof line - 1 - len);
        if (n <= 0)
            FATAL("%s exited before listening", path);
        len += (size_t)n;
    }
    line[len] = '\0';
    unsigned port;
    if (sscanf(line, "listening on 127.0.0.1:%u", &port) != 1 || port == 0 || port > 65535)
        FATAL("unexpected first line from %s: %s", path, line);
    /* The read end stays open (unread) so that the server's stdout never breaks. */
    return (int)port;
}

/* SIGTERM; the server must exit with status 0 within 10 s. */
static inline void server_stop(void) {
    kill(server_pid, SIGTERM);
    int status = 0;
    pid_t r = 0;
    for (int i = 0; i < 1000 && (r = waitpid(server_pid, &status, WNOHANG)) == 0; i++)
        sleep_ms(10);
    if (r != server_pid) {
        CHECK(false, "server exits within 10 s of SIGTERM");
        kill_server();
        return;
    }
    server_pid = -1;
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0,
          "server exits 0 after SIGTERM (status 0x%x)", (unsigned)status);
}

static inline int http_test_finish(const char *name) {
    server_stop();
    printf("%s: %s (%d failure%s)\n", name, http_failures ? "FAILED" : "passed", http_failures,
           http_failures == 1 ? "" : "s");
    return http_failures ? 1 : 0;
}

/* ---- connections --------------------------------------------------------------------------- */

/* A connection to the server on 127.0.0.1; Nagle off so that every send leaves at once. */
static inline int conn_open(int port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        FATAL("socket: %s", strerror(errno));
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0)
        FATAL("connect 127.0.0.1:%d: %s", port, strerror(errno));
    return fd;
}

/* Send all of p[0, len); false if the connection broke (the server may have closed it). */
static inline bool send_bytes(int fd, const void *p, size_t len) {
    const char *c = p;
    while (len > 0) {
        ssize_t n = send(fd, c, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        c += n;
        len -= (size_t)n;
    }
    return true;
}

static inline bool send_str(int fd, const char *s) {
    return send_bytes(fd, s, strlen(s));
}

/* ---- reading responses --------------------------------------------------------------------- */

enum { MAX_REPLIES = 64, REPLY_BUF = 64 * 1024 };

/* What came back on a connection. */
struct replies {
    int count;               /* complete responses */
    int status[MAX_REPLIES]; /* their status codes, in order (the first MAX_REPLIES) */
    bool eof;                /* the server closed the connection (FIN) */
    bool reset;              /* ... or reset it */
    bool garbage;            /* bytes that do not parse as a response */
    uint64_t ms;             /* from the start of the read to its end */
    size_t len;              /* unparsed bytes in buf: the start of a response */
    char buf[REPLY_BUF];
};

/* A response at the start of r->buf: its length, 0 if incomplete; sets r->garbage when the
 * bytes are not one. The server sends CRLF line ends and always a Content-Length. */
static inline size_t reply_length(struct replies *r, int *status) {
    if (r->len < 12)
        return 0;
    if (memcmp(r->buf, "HTTP/1.1 ", 9) != 0) {
        r->garbage = true;
        return 0;
    }
    char *end = memmem(r->buf, r->len, "\r\n\r\n", 4);
    if (!end)
        return 0;
    size_t head = (size_t)(end - r->buf) + 4;
    char *cl = memmem(r->buf, head, "\r\nContent-Length: ", 18);
    if (!cl) {
        r->garbage = true;
        return 0;
    }
    size_t body = strtoul(cl + 18, NULL, 10);
    if (r->len < head + body)
        return 0;
    *status = atoi(r->buf + 9);
    return head + body;
}

/*
 * Read responses on fd, as the client of requests that are not HEAD, until `want` of them
 * have come, the server has closed the connection, unparseable bytes came, or timeout_ms has
 * passed (0: take only what has already arrived). Counts accumulate over calls with the same
 * r (zeroed by replies_new).
 */
static inline void read_replies(int fd, struct replies *r, int want, int timeout_ms) {
    uint64_t start = now_ms(), until = start + (uint64_t)timeout_ms;
    for (;;) {
        int status;
        size_t n;
        while ((n = reply_length(r, &status)) > 0) {
            if (r->count < MAX_REPLIES)
                r->status[r->count] = status;
            r->count++;
            memmove(r->buf, r->buf + n, r->len - n);
            r->len -= n;
        }
        if (r->count >= want || r->eof || r->reset || r->garbage)
            break;
        uint64_t now = now_ms();
        struct pollfd p = {fd, POLLIN, 0};
        int ready = poll(&p, 1, now < until ? (int)(until - now) : 0);
        if (ready < 0 && errno == EINTR)
            continue;
        if (ready <= 0)
            break; /* timed out: nothing (more) came in time */
        if (r->len == sizeof r->buf) {
            r->garbage = true; /* a response larger than the tests ask for */
            break;
        }
        ssize_t got = recv(fd, r->buf + r->len, sizeof r->buf - r->len, 0);
        if (got > 0)
            r->len += (size_t)got;
        else if (got == 0)
            r->eof = true;
        else if (errno != EINTR)
            r->reset = true;
    }
    r->ms = now_ms() - start;
}

static inline struct replies *replies_new(void) {
    struct replies *r = calloc(1, sizeof *r);
    if (!r)
        FATAL("out of memory");
    return r;
}

/* "1 x 400, closed after 3 ms": for messages. */
static inline const char *replies_str(const struct replies *r) {
    static char s[256];
    int n = snprintf(s, sizeof s, "%d response(s)", r->count);
    for (int i = 0; i < r->count && i < 8 && n < (int)sizeof s; i++)
        n += snprintf(s + n, sizeof s - (size_t)n, "%s%d", i ? "," : ": ", r->status[i]);
    if (n < (int)sizeof s)
        snprintf(s + n, sizeof s - (size_t)n, "%s%s, after %llu ms",
                 r->eof     ? ", then EOF"
                 : r->reset ? ", then reset"
                            : ", still open",
                 r->garbage ? ", unparseable bytes" : "", (unsigned long long)r->ms);
    return s;
}

/*
 * Send `len` bytes of request on a new connection and expect exactly one response with
 * `status`, then the connection closed by the server, within 3 s. Whatever follows the
 * request in those bytes must not be answered: it is what a smuggler would hide there.
 */
static inline void expect_one_then_close(int port, const char *what, const char *req, size_t len,
                                         int status) {
    int fd = conn_open(port);
    struct replies *r = replies_new();
    send_bytes(fd, req, len);
    read_replies(fd, r, 2, 3000);
    CHECK(r->count == 1 && r->status[0] == status && (r->eof || r->reset) && !r->garbage,
          "%s: want one %d, then close; got %s", what, status, replies_str(r));
    free(r);
    close(fd);
}

/* The same, for a NUL-terminated request. */
static inline void expect_rejected(int port, const char *what, const char *req, int status) {
    expect_one_then_close(port, what, req, strlen(req), status);
}

/*
 * Send the request bytes on a new connection and expect `count` responses, all 200, and the
 * connection still open after a further 200 ms (no extra response, no close).
 */
static inline void expect_ok(int port, const char *what, const char *req, size_t len, int count) {
    int fd = conn_open(port);
    struct replies *r = replies_new();
    send_bytes(fd, req, len);
    read_replies(fd, r, count, 3000);
    if (r->count == count)
        read_replies(fd, r, count + 1, 200); /* nothing more may come */
    bool all_ok = r->count == count;
    for (int i = 0; i < r->count && i < MAX_REPLIES; i++)
        all_ok &= r->status[i] == 200;
    CHECK(all_ok && !r->eof && !r->reset && !r->garbage,
          "%s: want %d x 200, connection kept; got %s", what, count, replies_str(r));
    free(r);
    close(fd);
}

#endif /* HTTP_TEST_H */
