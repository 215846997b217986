/*
 * http_bare_lf - a request whose lines end in a bare LF is answered at once (RFC 9112
 * section 2.2 lets a server take LF alone as a line terminator).
 *
 * The old http_server looked only for "\r\n\r\n": a bare-LF request got no answer until
 * 8 KiB had arrived (then 431). Here each request is sent whole and must be answered
 * within 2 s; the headers in LF-terminated lines must still be understood (Connection:
 * close closes, Content-Length frames the body).
 *
 *   http_bare_lf PATH_TO_http_server
 */
#include "http_test.h"

/* One request on a new connection; want one 200 within 2 s, then EOF if `closes`. */
static void expect_answer(int port, const char *what, const char *req, bool closes) {
    int fd = conn_open(port);
    struct replies *r = replies_new();
    send_str(fd, req);
    read_replies(fd, r, closes ? 2 : 1, 2000);
    CHECK(r->count == 1 && r->status[0] == 200 && !r->garbage &&
              (closes ? r->eof : !r->eof && !r->reset),
          "%s: want 200%s; got %s", what, closes ? " then close" : "", replies_str(r));
    free(r);
    close(fd);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s PATH_TO_http_server\n", argv[0]);
        return 2;
    }
    const char *const args[] = {"--body-size", "16", NULL};
    int port = server_start(argv[1], args);

    expect_answer(port, "bare LF only", "GET / HTTP/1.1\nHost: x\n\n", false);
    expect_answer(port, "bare LF, no headers", "GET / HTTP/1.1\n\n", false);
    expect_answer(port, "CRLF lines, bare-LF empty line", "GET / HTTP/1.1\r\nHost: x\r\n\n", false);
    expect_answer(port, "bare-LF lines, CRLF empty line", "GET / HTTP/1.1\nHost: x\n\r\n", false);
    expect_answer(port, "mixed", "GET / HTTP/1.1\r\nHost: x\nAccept: */*\r\n\n", false);
    expect_answer(port, "Connection: close, bare LF",
                  "GET / HTTP/1.1\nHost: x\nConnection: close\n\n", true);
    expect_answer(port, "HTTP/1.0 without keep-alive, bare LF", "GET / HTTP/1.0\nHost: x\n\n",
                  true);

    /* Pipelined, and a body framed by a Content-Length header in a bare-LF line: the body
     * ("GET /x") must be skipped, not answered. */
    static const char pipelined[] = "GET / HTTP/1.1\nHost: x\n\n"
                                    "POST / HTTP/1.1\nContent-Length: 6\n\nGET /x"
                                    "GET / HTTP/1.1\r\nHost: x\n\r\n";
    expect_ok(port, "3 pipelined, bare LF, one with a body", pipelined, sizeof pipelined - 1, 3);

    return http_test_finish("http_bare_lf");
}
