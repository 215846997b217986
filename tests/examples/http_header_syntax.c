/*
 * http_header_syntax - malformed request lines and header lines get 400 and close
 * (RFC 9112 sections 3 and 5, RFC 9110 section 5.5).
 *
 * The old http_server took any line with a colon as a header and any name before it: a
 * folded line, " Content-Length : 33" (whitespace before the colon: not the header it looks
 * like, so the body was read as a request), NUL bytes, a bare CR, a space inside the target.
 * Servers that disagree about such lines are how requests get smuggled past a proxy, so the
 * RFC says reject them. The well-formed extremes stay accepted: many headers up to the 8 KiB
 * head limit, a head just over it gets 431.
 *
 *   http_header_syntax PATH_TO_http_server
 */
#include "http_test.h"

#define HIDDEN "GET /hidden HTTP/1.1\r\nHost: x\r\n\r\n" /* 33 bytes */

/* A request with one header line, as bytes (it may hold NULs): returns its length. */
static size_t with_line(char *buf, size_t size, const char *line, size_t line_len) {
    static const char head[] = "GET / HTTP/1.1\r\nHost: x\r\n";
    size_t n = sizeof head - 1;
    if (n + line_len + 2 > size)
        FATAL("request too long");
    memcpy(buf, head, n);
    memcpy(buf + n, line, line_len);
    memcpy(buf + n + line_len, "\r\n", 2);
    return n + line_len + 2;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s PATH_TO_http_server\n", argv[0]);
        return 2;
    }
    const char *const args[] = {"--body-size", "16", NULL};
    int port = server_start(argv[1], args);

    /* Header lines. */
    expect_rejected(port, "no colon", "GET / HTTP/1.1\r\nHost x\r\n\r\n", 400);
    expect_rejected(port, "empty name", "GET / HTTP/1.1\r\n: x\r\n\r\n", 400);
    expect_rejected(port, "obs-fold (continuation line)",
                    "GET / HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n  folded: 2\r\n\r\n", 400);
    expect_rejected(port, "tab-folded line", "GET / HTTP/1.1\r\nX-A: 1\r\n\tHost: x\r\n\r\n", 400);
    expect_rejected(port, "whitespace before the first header",
                    "GET / HTTP/1.1\r\n Host: x\r\n\r\n", 400);
    expect_rejected(port, "space before the colon of Content-Length (then a hidden request)",
                    "POST / HTTP/1.1\r\nHost: x\r\nContent-Length : 33\r\n\r\n" HIDDEN, 400);
    expect_rejected(port, "tab before the colon", "GET / HTTP/1.1\r\nHost\t: x\r\n\r\n", 400);
    expect_rejected(port, "separator in the name", "GET / HTTP/1.1\r\nX(a): x\r\n\r\n", 400);

    /* Control characters. */
    char buf[9000];
    size_t n = with_line(buf, sizeof buf, "X-A: a\0b", 8);
    memcpy(buf + n, "\r\n", 2);
    expect_one_then_close(port, "NUL in a value", buf, n + 2, 400);
    n = with_line(buf, sizeof buf, "X\0A: ab", 7);
    memcpy(buf + n, "\r\n", 2);
    expect_one_then_close(port, "NUL in a name", buf, n + 2, 400);
    expect_rejected(port, "bare CR in a value", "GET / HTTP/1.1\r\nX-A: a\rb\r\n\r\n", 400);
    expect_rejected(port, "bare CR hiding a Content-Length",
                    "POST / HTTP/1.1\r\nX-A: a\rContent-Length: 33\r\n\r\n" HIDDEN, 400);
    expect_rejected(port, "CR CR LF", "GET / HTTP/1.1\r\nX-A: a\r\r\n\r\n", 400);
    expect_rejected(port, "DEL in a value", "GET / HTTP/1.1\r\nX-A: a\x7f\r\n\r\n", 400);
    expect_rejected(port, "escape in a value", "GET / HTTP/1.1\r\nX-A: \x1b[2J\r\n\r\n", 400);

    /* Request lines. */
    expect_rejected(port, "space before the method", " GET / HTTP/1.1\r\n\r\n", 400);
    expect_rejected(port, "two spaces after the method", "GET  / HTTP/1.1\r\n\r\n", 400);
    expect_rejected(port, "space inside the target", "GET /a b HTTP/1.1\r\n\r\n", 400);
    expect_rejected(port, "trailing space", "GET / HTTP/1.1 \r\n\r\n", 400);
    expect_rejected(port, "no target", "GET HTTP/1.1\r\n\r\n", 400);
    expect_rejected(port, "version HTTP/1.x", "GET / HTTP/1.x\r\n\r\n", 400);
    expect_rejected(port, "version HTTP/2.0", "GET / HTTP/2.0\r\n\r\n", 400);
    expect_rejected(port, "lower-case version", "GET / http/1.1\r\n\r\n", 400);
    expect_rejected(port, "separator in the method", "G(T / HTTP/1.1\r\n\r\n", 400);
    static const char nul_target[] = "GET /\0 HTTP/1.1\r\n\r\n";
    expect_one_then_close(port, "NUL in the target", nul_target, sizeof nul_target - 1, 400);
    expect_rejected(port, "tab for a space", "GET\t/ HTTP/1.1\r\n\r\n", 400);

    /* Still accepted: exotic but valid. */
    static const char odd[] = "GET /%7e?a=b&c=\x80 HTTP/1.1\r\nHost: x\r\nX-A:\r\nX-B:no-space\r\n"
                              "X-C: \x80\xff obs-text\t \r\nX_!#$%&'*+-.^`|~: tchars\r\n\r\n";
    expect_ok(port, "empty value, obs-text, every tchar in a name", odd, sizeof odd - 1, 1);

    /* Many headers, a head of exactly the 8 KiB limit, and one over it. */
    enum { LIMIT = 8192 };
    size_t len = (size_t)snprintf(buf, sizeof buf, "GET / HTTP/1.1\r\nHost: x\r\n");
    while (len + 6 + 6 + 2 <= LIMIT) { /* "a: 1\r\n" lines, room for "b: x\r\n" and "\r\n" */
        memcpy(buf + len, "a: 1\r\n", 6);
        len += 6;
    }
    size_t pad = LIMIT - 2 - 2 - 3 - len; /* "b: " pad "\r\n" "\r\n" ends at LIMIT */
    memcpy(buf + len, "b: ", 3);
    memset(buf + len + 3, 'x', pad);
    memcpy(buf + len + 3 + pad, "\r\n\r\n", 4);
    len += 3 + pad + 4;
    if (len != LIMIT)
        FATAL("built a %zu-byte head", len);
    char what[64];
    snprintf(what, sizeof what, "%zu-byte head of 'a: 1' lines", len);
    expect_ok(port, what, buf, len, 1);
    len = (size_t)snprintf(buf, sizeof buf, "GET / HTTP/1.1\r\nX: ");
    memset(buf + len, 'x', LIMIT - len);
    memcpy(buf + LIMIT - 2, "\r\n\r\n", 4); /* the empty line is past the limit */
    expect_one_then_close(port, "8194-byte head", buf, LIMIT + 2, 431);

    return http_test_finish("http_header_syntax");
}
