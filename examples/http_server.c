/*
 * http_server.c - a minimal HTTP/1.1 server on taskring: one task per connection.
 *
 *   http_server [--port P] [--bind ADDR] [--loops N] [--body-size N]
 *               [--header-timeout SECONDS] [--idle-timeout SECONDS] [--grace SECONDS]
 *
 * --loops N: N loops (threads), each accepting on its own SO_REUSEPORT listener and serving
 * the connections it accepts (server.h); the responses below are built once and only read.
 *
 * Every request gets the same answer: 200 OK with a body of N bytes of 'x' (4096 by default).
 * Connections are kept alive (HTTP/1.1 default; HTTP/1.0 with "Connection: keep-alive"), and
 * pipelined requests are answered together with one send. The parser does only what that
 * needs: find each request's end, note the method, the version, "Connection", and skip a body
 * announced by Content-Length. Enough for wrk, curl and ab; not a general HTTP server.
 *
 * What it does not need it still checks, because this file is what people copy and a server
 * that guesses where a request ends can be made to read a body as a second request (request
 * smuggling, behind a proxy that guessed differently). So, following RFC 9112:
 *   - lines end in CRLF or in a bare LF (section 2.2);
 *   - 400 and close for a malformed request line, a header line without a colon or with
 *     whitespace before it, a folded line (obs-fold), a control character such as NUL or a
 *     bare CR, and a Content-Length that is not one decimal number (values that differ, a
 *     sign, nothing, more than 64 bits); copies of one value ("5, 5") count as that value;
 *   - 413 and close for a body over MAX_BODY, 431 for a head over REQ_BUF, 501 and close for
 *     Transfer-Encoding (not parsed; with a Content-Length too, section 6.1 says close);
 *   - time limits, each a deadline scope around the wait: a request head must arrive whole
 *     within --header-timeout of its first byte (else 408 and close); a connection may wait
 *     --idle-timeout for its next request before it is closed without an answer, and so
 *     may a body that stalls or a send the peer does not read.
 *
 * The rest is server.h, shared with echo_server.c: the accept loop, and the clean stop on
 * SIGINT or SIGTERM: no new connections, open ones get a grace period to finish, the rest
 * are cancelled, and the process exits 0 with everything freed.
 *
 * Prints "listening on ADDR:PORT" once bound (--port 0 picks a free port).
 */
#define _GNU_SOURCE
#include "server.h"

#include <math.h>
#include <strings.h>
#include <sys/uio.h>
#include <time.h>

#define PROG "http_server"

enum {
    REQ_BUF = 8 * 1024,          /* the largest request head accepted (431 beyond) */
    MAX_BATCH = 64,              /* pipelined responses sent in one call */
    MAX_BODY = 64 * 1024 * 1024, /* the largest request body skipped (413 beyond) */
    LINGER_MAX = 256 * 1024,     /* bytes drained before closing a connection we end */
};

#define LINGER_NS (1000ull * 1000 * 1000) /* ... for at most this long */
#define NS_PER_SEC 1e9
#define MAX_TIMEOUT_SEC 86400.0 /* the longest --header-timeout / --idle-timeout */

/* --header-timeout and --idle-timeout, in nanoseconds */
static uint64_t header_timeout_ns = 10ull * 1000 * 1000 * 1000;
static uint64_t idle_timeout_ns = 60ull * 1000 * 1000 * 1000;

/* ---- responses: built once, shared by every connection ------------------------------------ */

struct response {
    char *data;      /* head and body, contiguous: one send */
    size_t len;      /* all of it */
    size_t head_len; /* the head alone, for HEAD requests */
};

enum resp_kind {
    RESP_OK,                /* keep-alive, HTTP/1.1 style (no Connection header) */
    RESP_OK_KEEPALIVE,      /* keep-alive asked for by an HTTP/1.0 client */
    RESP_OK_CLOSE,          /* the last response on this connection */
    RESP_BAD_REQUEST,       /* unparseable request: answer and close */
    RESP_TIMEOUT,           /* the head did not arrive within --header-timeout */
    RESP_CONTENT_TOO_LARGE, /* Content-Length over MAX_BODY */
    RESP_TOO_LARGE,         /* request head larger than REQ_BUF */
    RESP_NOT_IMPLEMENTED,   /* Transfer-Encoding bodies are not parsed: answer and close */
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
    static const char closing[] = "Connection: close\r\n";
    int rc = 0;
    rc |= build_response(&responses[RESP_OK], "200 OK", "", body_size);
    rc |= build_response(&responses[RESP_OK_KEEPALIVE], "200 OK", "Connection: keep-alive\r\n",
                         body_size);
    rc |= build_response(&responses[RESP_OK_CLOSE], "200 OK", closing, body_size);
    rc |= build_response(&responses[RESP_BAD_REQUEST], "400 Bad Request", closing, 0);
    rc |= build_response(&responses[RESP_TIMEOUT], "408 Request Timeout", closing, 0);
    rc |= build_response(&responses[RESP_CONTENT_TOO_LARGE], "413 Content Too Large", closing, 0);
    rc |= build_response(&responses[RESP_TOO_LARGE], "431 Request Header Fields Too Large", closing,
                         0);
    rc |= build_response(&responses[RESP_NOT_IMPLEMENTED], "501 Not Implemented", closing, 0);
    return rc;
}

static void free_responses(void) {
    for (int i = 0; i < RESP_COUNT; i++)
        free(responses[i].data);
}

/* ---- requests ------------------------------------------------------------------------------ */

struct request {
    size_t head_len;   /* bytes up to and including the empty line */
    uint64_t body_len; /* Content-Length: bytes to skip after the head */
    bool has_length;   /* a Content-Length was seen (body_len holds it) */
    bool head_method;  /* HEAD: answer without the body */
    bool http10;
    bool keep_alive;
    bool chunked; /* a Transfer-Encoding body: its end is not looked for */
    bool bad;
};

/* Byte classes (RFC 9110 section 5.6.2 and 5.5), one table lookup per byte. */
enum {
    C_TCHAR = 1,   /* may appear in a token: a method, a field name */
    C_VISIBLE = 2, /* VCHAR or obs-text: a request-target's bytes */
    C_FIELD = 4,   /* a field value's: visible, SP or HTAB (no NUL, CR, LF, other controls) */
};
static unsigned char byte_class[256];

static void init_byte_classes(void) {
    for (int c = 0; c < 256; c++) {
        unsigned char k = 0;
        if (c > 0x20 && c != 0x7f)
            k |= C_VISIBLE | C_FIELD;
        if (c == ' ' || c == '\t')
            k |= C_FIELD;
        if (c < 0x80 && (('0' <= c && c <= '9') || ('a' <= c && c <= 'z') ||
                         ('A' <= c && c <= 'Z') || (c && strchr("!#$%&'*+-.^_`|~", c))))
            k |= C_TCHAR;
        byte_class[c] = k;
    }
}

/* Is every byte of p[0, len) in class k? */
static bool all_in(const char *p, size_t len, unsigned k) {
    for (size_t i = 0; i < len; i++)
        if (!(byte_class[(unsigned char)p[i]] & k))
            return false;
    return true;
}

static bool is_token(const char *p, size_t len) {
    return len > 0 && all_in(p, len, C_TCHAR);
}

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

/*
 * Content-Length (RFC 9110 section 8.6) is one decimal number. A list of copies of one number
 * ("5, 5"), or the same number in several header lines, may be taken as that number; values
 * that differ, an empty element, a sign, or a number too large for 64 bits leave the body's
 * end unknown: false. The value has no leading or trailing whitespace.
 */
static bool content_length(const char *v, size_t len, struct request *r) {
    for (size_t i = 0;; i++) { /* i: the start of an element (past the comma before it) */
        while (i < len && (v[i] == ' ' || v[i] == '\t'))
            i++;
        uint64_t n = 0;
        size_t digits = 0;
        for (; i < len && v[i] >= '0' && v[i] <= '9'; i++, digits++) {
            unsigned d = (unsigned)(v[i] - '0');
            if (n > (UINT64_MAX - d) / 10)
                return false;
            n = n * 10 + d;
        }
        while (i < len && (v[i] == ' ' || v[i] == '\t'))
            i++;
        if (!digits || (r->has_length && n != r->body_len))
            return false;
        r->has_length = true;
        r->body_len = n;
        if (i == len)
            return true;
        if (v[i] != ',')
            return false;
    }
}

/*
 * The length of the request head at the start of p[0, len), up to and including its empty
 * line; 0 when it has not all arrived. A line ends in LF with or without a CR before it
 * (RFC 9112 section 2.2), so the empty line is "\r\n" or "\n". The search resumes at *from,
 * the start of the first line not yet seen whole, and moves it on: a head that arrives a
 * byte at a time is searched once, not once per byte.
 */
static size_t head_length(const char *p, size_t len, size_t *from) {
    size_t i = *from;
    const char *nl;
    while (i < len && (nl = memchr(p + i, '\n', len - i))) {
        size_t eol = (size_t)(nl - p);
        if (eol == i || (eol == i + 1 && p[i] == '\r'))
            return eol + 1;
        i = eol + 1;
    }
    *from = i;
    return 0;
}

/* The line at p[*pos] in a complete head of head_len bytes: its start, its length without
 * the LF and one CR before it in *len; *pos moves past the LF. */
static const char *next_line(const char *p, size_t head_len, size_t *pos, size_t *len) {
    const char *line = p + *pos;
    const char *nl = memchr(line, '\n', head_len - *pos);
    *pos = (size_t)(nl - p) + 1;
    *len = (size_t)(nl - line) - (nl > line && nl[-1] == '\r');
    return line;
}

static void parse_request(const char *p, size_t head_len, struct request *r) {
    memset(r, 0, sizeof *r);
    r->head_len = head_len;
    size_t pos = 0, n;

    /* Request line: METHOD SP request-target SP HTTP/1.x, single spaces, no controls. */
    const char *line = next_line(p, head_len, &pos, &n), *end = line + n;
    const char *sp1 = memchr(line, ' ', n);
    const char *sp2 = sp1 ? memchr(sp1 + 1, ' ', (size_t)(end - sp1 - 1)) : NULL;
    if (!sp2 || !is_token(line, (size_t)(sp1 - line)) || sp2 == sp1 + 1 ||
        !all_in(sp1 + 1, (size_t)(sp2 - sp1 - 1), C_VISIBLE) || end - sp2 - 1 != 8 ||
        memcmp(sp2 + 1, "HTTP/1.", 7) != 0 || sp2[8] < '0' || sp2[8] > '9') {
        r->bad = true;
        return;
    }
    r->http10 = sp2[8] == '0';
    r->head_method = sp1 - line == 4 && memcmp(line, "HEAD", 4) == 0;

    /* Header lines, up to the empty one: name ":" OWS value OWS. Whitespace before the colon
     * or at the start of a line (obs-fold) must be refused (RFC 9112 section 5): another
     * server could read such a line as a header this one ignores, or the reverse. */
    bool conn_close = false, conn_keep_alive = false;
    while ((line = next_line(p, head_len, &pos, &n)), n > 0) {
        const char *colon = memchr(line, ':', n);
        if (!colon || !is_token(line, (size_t)(colon - line))) {
            r->bad = true;
            return;
        }
        size_t name_len = (size_t)(colon - line);
        const char *v = colon + 1;
        const char *vend = line + n;
        if (!all_in(v, (size_t)(vend - v), C_FIELD)) {
            r->bad = true;
            return;
        }
        while (v < vend && (*v == ' ' || *v == '\t'))
            v++;
        while (vend > v && (vend[-1] == ' ' || vend[-1] == '\t'))
            vend--;
        size_t vlen = (size_t)(vend - v);
        if (header_is(line, name_len, "connection")) {
            conn_close |= has_token(v, vlen, "close");
            conn_keep_alive |= has_token(v, vlen, "keep-alive");
        } else if (header_is(line, name_len, "content-length")) {
            if (!content_length(v, vlen, r)) {
                r->bad = true;
                return;
            }
        } else if (header_is(line, name_len, "transfer-encoding")) {
            r->chunked = true;
        }
    }
    r->keep_alive = r->http10 ? conn_keep_alive && !conn_close : !conn_close;
}

static enum resp_kind response_for(const struct request *r) {
    if (r->bad)
        return RESP_BAD_REQUEST;
    if (r->chunked) /* with or without a Content-Length: either way the connection closes */
        return RESP_NOT_IMPLEMENTED;
    if (r->body_len > MAX_BODY)
        return RESP_CONTENT_TOO_LARGE;
    if (!r->keep_alive)
        return RESP_OK_CLOSE;
    return r->http10 ? RESP_OK_KEEPALIVE : RESP_OK;
}

/* ---- connections --------------------------------------------------------------------------- */

static uint64_t monotonic_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* tr_recv that gives up after timeout_ns: -ETIME when nothing came by then. */
static int recv_within(int fd, char *buf, size_t len, uint64_t timeout_ns) {
    tr_deadline scope;
    int rc = tr_deadline_begin(&scope, timeout_ns);
    if (rc < 0)
        return rc;
    rc = tr_recv(fd, buf, len, 0);
    tr_deadline_end(&scope);
    return rc;
}

/* Send all of iov[0..n): one tr_send for one buffer, tr_sendmsg for several; a stream send
 * may be short when the socket buffer fills, so continue from where it stopped. The first
 * try does not wait (MSG_DONTWAIT): the socket almost always has room, and then no timer is
 * armed. Every try that waits for room gives up after --idle-timeout (-ETIME), so a peer
 * that sends requests but never reads the answers cannot hold the connection forever. */
static int send_iov(int fd, struct iovec *iov, int n) {
    bool wait = false;
    while (n > 0) {
        int flags = MSG_NOSIGNAL | (wait ? 0 : MSG_DONTWAIT);
        tr_deadline scope;
        if (wait && tr_deadline_begin(&scope, idle_timeout_ns) < 0)
            return -EPERM;
        int sent;
        if (n == 1) {
            sent = tr_send(fd, iov->iov_base, iov->iov_len, flags);
        } else {
            struct msghdr msg = {.msg_iov = iov, .msg_iovlen = (size_t)n};
            sent = tr_sendmsg(fd, &msg, flags);
        }
        if (wait)
            tr_deadline_end(&scope);
        if (sent == -EAGAIN && !wait) {
            wait = true; /* the socket buffer is full: wait for room, within the deadline */
            continue;
        }
        if (sent <= 0)
            return sent < 0 ? sent : -EPIPE;
        wait = true;
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
    size_t len = 0;                 /* bytes in buf: the start of a head, if any */
    size_t scanned = 0;             /* of those, bytes searched for the head's end (lines) */
    uint64_t head_start = 0;        /* when the head in buf began to arrive (monotonic ns) */
    uint64_t skip = 0;              /* request body bytes still to discard */
    bool open = true, ours = false; /* ours: we end the connection after answering */
    while (open) {
        /* Waiting for the rest of a head: what is left of the header timeout. Otherwise,
         * between requests or in a body: the idle timeout, afresh for every receive. */
        bool in_head = len > 0;
        uint64_t timeout = idle_timeout_ns;
        if (in_head) {
            uint64_t waited = monotonic_ns() - head_start;
            timeout = waited < header_timeout_ns ? header_timeout_ns - waited : 0;
        }
        int n = recv_within(fd, buf + len, sizeof buf - len, timeout);
        if (n == -ETIME && in_head) { /* a head too slow: say so (slowloris gets no more) */
            struct iovec iov = {responses[RESP_TIMEOUT].data, responses[RESP_TIMEOUT].len};
            ours = send_iov(fd, &iov, 1) == 0;
            break;
        }
        if (n <= 0) /* 0: the peer closed; -ETIME: idle; < 0: reset, or cancelled at shutdown */
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
            size_t head_len = head_length(buf + pos, len - pos, &scanned);
            if (head_len) {
                parse_request(buf + pos, head_len, &req);
                pos += head_len;
                scanned = 0;
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
        /* A head left incomplete is timed from now when it began in this receive: after the
         * requests just answered, or in an empty buffer. */
        if (len > 0 && (pos > 0 || !in_head))
            head_start = monotonic_ns();
    }
    if (ours)
        linger(fd, buf, sizeof buf);
    close_conn(fd);
    return NULL;
}

/* ---- command line -------------------------------------------------------------------------- */

static const char usage[] = SERVER_USAGE(
    PROG, " [--body-size N] [--header-timeout SECONDS] [--idle-timeout SECONDS]", "8080",
    "  --body-size N    response body bytes (default 4096)\n"
    "  --header-timeout SECONDS\n"
    "                   time a request head may take to arrive once it has begun;\n"
    "                   then 408 and close (default 10; fractions allowed, e.g. 0.5)\n"
    "  --idle-timeout SECONDS\n"
    "                   time a connection may wait for its next request, or for a\n"
    "                   stalled body or send to move on; then close (default 60)\n");

static size_t body_size = 4096; /* response body bytes: --body-size */

/* A positive number of seconds, fractions allowed, up to MAX_TIMEOUT_SEC, and nothing else. */
static bool parse_seconds(const char *s, uint64_t *ns) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v) || v <= 0 || v > MAX_TIMEOUT_SEC)
        return false;
    *ns = (uint64_t)(v * NS_PER_SEC);
    return *ns > 0;
}

/* The options only this server has (server.h parses the common ones). */
static bool http_option(const char *opt, const char *val) {
    unsigned long v;
    if (!strcmp(opt, "--body-size") && parse_uint(val, MAX_BODY, &v)) {
        body_size = v;
        return true;
    }
    if (!strcmp(opt, "--header-timeout"))
        return parse_seconds(val, &header_timeout_ns);
    if (!strcmp(opt, "--idle-timeout"))
        return parse_seconds(val, &idle_timeout_ns);
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
    init_byte_classes();
    if (build_responses(body_size) < 0) {
        fprintf(stderr, PROG ": out of memory\n");
        free_responses();
        return 1;
    }
    rc = server_run(&srv);
    free_responses();
    return rc;
}
