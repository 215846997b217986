/*
 * http_server.c - a minimal HTTP/1.1 server on taskring: one task per connection.
 *
 *   http_server [--port P] [--bind ADDR] [--body-size N] [--grace SECONDS]
 *
 * Every request gets the same answer: 200 OK with a body of N bytes of 'x' (4096 by default).
 * Connections are kept alive (HTTP/1.1 default; HTTP/1.0 with "Connection: keep-alive"), and
 * pipelined requests are answered together with one send. The parser does only what that
 * needs: find each request's end, note the method, the version, "Connection", and skip a body
 * announced by Content-Length. Enough for wrk, curl and ab; not a general HTTP server.
 *
 * The rest is server.h, shared with echo_server.c: the accept loop, and the clean stop on
 * SIGINT or SIGTERM: no new connections, open ones get a grace period to finish, the rest
 * are cancelled, and the process exits 0 with everything freed.
 *
 * Prints "listening on ADDR:PORT" once bound (--port 0 picks a free port).
 */
#define _GNU_SOURCE
#include "server.h"

#include <strings.h>
#include <sys/uio.h>

#define PROG "http_server"

enum {
    REQ_BUF = 8 * 1024, /* the largest request head accepted (431 beyond) */
    MAX_BATCH = 64,     /* pipelined responses sent in one call */
    MAX_BODY = 64 * 1024 * 1024,
    LINGER_MAX = 256 * 1024, /* bytes drained before closing a connection we end */
};

#define LINGER_NS (1000ull * 1000 * 1000) /* ... for at most this long */

/* ---- responses: built once, shared by every connection ------------------------------------ */

struct response {
    char *data;      /* head and body, contiguous: one send */
    size_t len;      /* all of it */
    size_t head_len; /* the head alone, for HEAD requests */
};

enum resp_kind {
    RESP_OK,              /* keep-alive, HTTP/1.1 style (no Connection header) */
    RESP_OK_KEEPALIVE,    /* keep-alive asked for by an HTTP/1.0 client */
    RESP_OK_CLOSE,        /* the last response on this connection */
    RESP_BAD_REQUEST,     /* unparseable request: answer and close */
    RESP_TOO_LARGE,       /* request head larger than REQ_BUF */
    RESP_NOT_IMPLEMENTED, /* Transfer-Encoding bodies are not parsed: answer and close */
    RESP_COUNT,
};

static struct response responses[RESP_COUNT];

static int build_response(struct response *r, const char *status, const char *connection,
                          size_t body_len) {
    char head[256];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 %s\r\nContent-Length: %zu\r\nContent-Type: text/plain\r\n%s\r\n",
                     status, body_len, connection);
    if (n < 0 || (size_t)n >= sizeof head)
        return -1;
    r->data = malloc((size_t)n + body_len);
    if (!r->data)
        return -1;
    memcpy(r->data, head, (size_t)n);
    memset(r->data + n, 'x', body_len);
    r->head_len = (size_t)n;
    r->len = (size_t)n + body_len;
    return 0;
}

static int build_responses(size_t body_size) {
    int rc = 0;
    rc |= build_response(&responses[RESP_OK], "200 OK", "", body_size);
    rc |= build_response(&responses[RESP_OK_KEEPALIVE], "200 OK", "Connection: keep-alive\r\n",
                         body_size);
    rc |= build_response(&responses[RESP_OK_CLOSE], "200 OK", "Connection: close\r\n", body_size);
    rc |=
        build_response(&responses[RESP_BAD_REQUEST], "400 Bad Request", "Connection: close\r\n", 0);
    rc |= build_response(&responses[RESP_TOO_LARGE], "431 Request Header Fields Too Large",
                         "Connection: close\r\n", 0);
    rc |= build_response(&responses[RESP_NOT_IMPLEMENTED], "501 Not Implemented",
                         "Connection: close\r\n", 0);
    return rc;
}

static void free_responses(void) {
    for (int i = 0; i < RESP_COUNT; i++)
        free(responses[i].data);
}

/* ---- requests ------------------------------------------------------------------------------ */

struct request {
    size_t head_len;   /* bytes up to and including the blank line */
    uint64_t body_len; /* Content-Length: bytes to skip after the head */
    bool head_method;  /* HEAD: answer without the body */
    bool http10;
    bool keep_alive;
    bool chunked; /* a Transfer-Encoding body: its end is not looked for */
    bool bad;
};

/* Does the comma-separated header value contain `token` (case-insensitive)? */
static bool has_token(const char *v, size_t len, const char *token) {
    size_t tlen = strlen(token);
    size_t i = 0;
    while (i < len) {
        while (i < len && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
            i++;
        size_t start = i;
        while (i < len && v[i] != ',')
            i++;
        size_t end = i;
        while (end > start && (v[end - 1] == ' ' || v[end - 1] == '\t'))
            end--;
        if (end - start == tlen && strncasecmp(v + start, token, tlen) == 0)
            return true;
    }
    return false;
}

static bool header_is(const char *line, size_t name_len, const char *name) {
    return name_len == strlen(name) && strncasecmp(line, name, name_len) == 0;
}

/* Parse the request head at the start of p[0, len). False when it is not complete yet. */
static bool parse_request(const char *p, size_t len, struct request *r) {
    const char *end = memmem(p, len, "\r\n\r\n", 4);
    if (!end)
        return false;
    memset(r, 0, sizeof *r);
    r->head_len = (size_t)(end - p) + 4;

    /* Request line: METHOD SP target SP HTTP/1.x */
    const char *eol = memmem(p, r->head_len, "\r\n", 2);
    size_t line_len = (size_t)(eol - p);
    const char *sp1 = memchr(p, ' ', line_len);
    const char *sp2 = sp1 ? memrchr(sp1 + 1, ' ', (size_t)(eol - sp1 - 1)) : NULL;
    if (!sp1 || !sp2 || sp1 == p || eol - sp2 - 1 != 8 || memcmp(sp2 + 1, "HTTP/1.", 7) != 0) {
        r->bad = true;
        return true;
    }
    r->http10 = sp2[8] == '0';
    r->head_method = sp1 - p == 4 && memcmp(p, "HEAD", 4) == 0;

    bool conn_close = false, conn_keep_alive = false;
    for (const char *line = eol + 2; line < end; line = eol + 2) {
        eol = memmem(line, (size_t)(end + 2 - line), "\r\n", 2);
        const char *colon = memchr(line, ':', (size_t)(eol - line));
        if (!colon) {
            r->bad = true;
            return true;
        }
        size_t name_len = (size_t)(colon - line);
        const char *v = colon + 1;
        size_t vlen = (size_t)(eol - v);
        if (header_is(line, name_len, "connection")) {
            conn_close |= has_token(v, vlen, "close");
            conn_keep_alive |= has_token(v, vlen, "keep-alive");
        } else if (header_is(line, name_len, "content-length")) {
            uint64_t n = 0;
            size_t i = 0, digits = 0;
            while (i < vlen && (v[i] == ' ' || v[i] == '\t'))
                i++;
            for (; i < vlen && v[i] >= '0' && v[i] <= '9' && digits < 18; i++, digits++)
                n = n * 10 + (uint64_t)(v[i] - '0');
            while (i < vlen && (v[i] == ' ' || v[i] == '\t'))
                i++;
            if (!digits || i != vlen) {
                r->bad = true;
                return true;
            }
            r->body_len = n;
        } else if (header_is(line, name_len, "transfer-encoding")) {
            r->chunked = true;
        }
    }
    r->keep_alive = r->http10 ? conn_keep_alive && !conn_close : !conn_close;
    return true;
}

static enum resp_kind response_for(const struct request *r) {
    if (r->bad)
        return RESP_BAD_REQUEST;
    if (r->chunked)
        return RESP_NOT_IMPLEMENTED;
    if (!r->keep_alive)
        return RESP_OK_CLOSE;
    return r->http10 ? RESP_OK_KEEPALIVE : RESP_OK;
}

/* ---- connections --------------------------------------------------------------------------- */

/* Send all of iov[0..n): one tr_send for one buffer, tr_sendmsg for several; a stream send
 * may be short when the socket buffer fills, so continue from where it stopped. */
static int send_iov(int fd, struct iovec *iov, int n) {
    while (n > 0) {
        int sent;
        if (n == 1) {
            sent = tr_send(fd, iov->iov_base, iov->iov_len, MSG_NOSIGNAL);
        } else {
            struct msghdr msg = {.msg_iov = iov, .msg_iovlen = (size_t)n};
            sent = tr_sendmsg(fd, &msg, MSG_NOSIGNAL);
        }
        if (sent <= 0)
            return sent < 0 ? sent : -EPIPE;
        size_t left = (size_t)sent;
        while (n > 0 && left >= iov->iov_len) {
            left -= iov->iov_len;
            iov++;
            n--;
        }
        if (n > 0) {
            iov->iov_base = (char *)iov->iov_base + left;
            iov->iov_len -= left;
        }
    }
    return 0;
}

/* Ending a connection ourselves (Connection: close, a bad request): the peer may still be
 * sending, and closing a socket with unread data resets the connection, which can destroy
 * the response before the peer has read it. So half-close first and drain what comes, for a
 * bounded time, until the peer closes its side. */
static void linger(int fd, char *buf, size_t size) {
    if (tr_shutdown(fd, SHUT_WR) < 0)
        return;
    tr_deadline scope;
    if (tr_deadline_begin(&scope, LINGER_NS) < 0)
        return;
    for (size_t drained = 0; drained < LINGER_MAX;) {
        int n = tr_recv(fd, buf, size, 0);
        if (n <= 0) /* EOF, or -ETIME when the deadline passes */
            break;
        drained += (size_t)n;
    }
    tr_deadline_end(&scope);
}

/* A connection's task: answer requests until either side ends the connection. */
static void *http_conn(void *arg) {
    int fd = (int)(intptr_t)arg;
    char buf[REQ_BUF];
    size_t len = 0;                 /* bytes in buf */
    uint64_t skip = 0;              /* request body bytes still to discard */
    bool open = true, ours = false; /* ours: we end the connection after answering */
    while (open) {
        int n = tr_recv(fd, buf + len, sizeof buf - len, 0);
        if (n <= 0) /* 0: the peer closed; < 0: reset, or cancelled at shutdown */
            break;
        len += (size_t)n;

        /* Answer every complete request in the buffer (pipelining), in one send. */
        struct iovec iov[MAX_BATCH];
        int niov = 0;
        size_t pos = 0;
        while (open) {
            if (skip) {
                size_t k = len - pos < skip ? len - pos : (size_t)skip;
                pos += k;
                skip -= k;
                if (skip)
                    break;
            }
            struct request req;
            enum resp_kind kind;
            bool with_body = true;
            if (parse_request(buf + pos, len - pos, &req)) {
                pos += req.head_len;
                skip = req.body_len;
                kind = response_for(&req);
                with_body = !req.head_method;
            } else if (pos == 0 && len == sizeof buf) {
                kind = RESP_TOO_LARGE; /* the head does not fit: give up on the connection */
            } else {
                break; /* incomplete: read more */
            }
            const struct response *resp = &responses[kind];
            iov[niov++] = (struct iovec){resp->data, with_body ? resp->len : resp->head_len};
            open = kind == RESP_OK || kind == RESP_OK_KEEPALIVE;
            ours = !open;
            if (niov == MAX_BATCH) {
                if (send_iov(fd, iov, niov) < 0)
                    open = ours = false;
                niov = 0;
            }
        }
        if (niov && send_iov(fd, iov, niov) < 0) {
            ours = false;
            break;
        }
        memmove(buf, buf + pos, len - pos);
        len -= pos;
    }
    if (ours)
        linger(fd, buf, sizeof buf);
    close_conn(fd);
    return NULL;
}

/* ---- command line -------------------------------------------------------------------------- */

static const char usage[] = SERVER_USAGE(PROG, " [--body-size N]", "8080",
                                         "  --body-size N    response body bytes (default 4096)\n");

static size_t body_size = 4096; /* response body bytes: --body-size */

/* The options only this server has (server.h parses the common ones). */
static bool http_option(const char *opt, const char *val) {
    unsigned long v;
    if (!strcmp(opt, "--body-size") && parse_uint(val, MAX_BODY, &v)) {
        body_size = v;
        return true;
    }
    return false;
}

int main(int argc, char **argv) {
    struct server srv = {.name = PROG,
                         .usage = usage,
                         .extra_option = http_option,
                         .on_connection = http_conn,
                         .conn_task_name = "http-conn",
                         .port = 8080};
    int rc = server_options(&srv, argc, argv);
    if (rc != SERVER_RUN)
        return rc;
    if (build_responses(body_size) < 0) {
        fprintf(stderr, PROG ": out of memory\n");
        free_responses();
        return 1;
    }
    rc = server_run(&srv);
    free_responses();
    return rc;
}
