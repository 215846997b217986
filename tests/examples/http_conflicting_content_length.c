/*
 * http_conflicting_content_length - request framing by Content-Length (RFC 9112 section 6.3,
 * RFC 9110 section 8.6).
 *
 * When two Content-Length values differ, one server (a proxy in front) may frame the body by
 * one and the next by the other: the bytes one reads as a body, the other reads as a second
 * request, which nobody checked (request smuggling). The old http_server let the last
 * header win. Each case here sends a request whose "body" is itself a complete request; the
 * server must answer 400 and close without ever answering the hidden one. Copies of one
 * value are allowed (one response, the body skipped); a value over MAX_BODY gets 413;
 * Transfer-Encoding with Content-Length gets 501 and close.
 *
 *   http_conflicting_content_length PATH_TO_http_server
 */
#include "http_test.h"

/* What a smuggler hides in the body. */
#define HIDDEN "GET /hidden HTTP/1.1\r\nHost: x\r\n\r\n"
#define HIDDEN_LEN "33" /* strlen(HIDDEN) */

static char req[1024];

/* A POST with the given header lines, then HIDDEN. */
static const char *post(const char *headers) {
    snprintf(req, sizeof req, "POST / HTTP/1.1\r\nHost: x\r\n%s\r\n" HIDDEN, headers);
    return req;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s PATH_TO_http_server\n", argv[0]);
        return 2;
    }
    if (strlen(HIDDEN) != (size_t)atoi(HIDDEN_LEN))
        FATAL("HIDDEN_LEN is not strlen(HIDDEN)");
    const char *const args[] = {"--body-size", "16", NULL};
    int port = server_start(argv[1], args);

    /* Two headers that differ, in both orders, and in any letter case. */
    expect_rejected(port, "CL 33 then CL 0",
                    post("Content-Length: " HIDDEN_LEN "\r\nContent-Length: 0\r\n"), 400);
    expect_rejected(port, "CL 0 then CL 33",
                    post("Content-Length: 0\r\nContent-Length: " HIDDEN_LEN "\r\n"), 400);
    expect_rejected(port, "content-length 33 then CONTENT-LENGTH 0",
                    post("content-length: " HIDDEN_LEN "\r\nCONTENT-LENGTH: 0\r\n"), 400);
    /* One header, a list that differs. */
    expect_rejected(port, "CL '0, 33'", post("Content-Length: 0, " HIDDEN_LEN "\r\n"), 400);
    expect_rejected(port, "CL '33, 0'", post("Content-Length: " HIDDEN_LEN ", 0\r\n"), 400);
    /* Not a decimal number. */
    expect_rejected(port, "CL empty", post("Content-Length:\r\n"), 400);
    expect_rejected(port, "CL blank", post("Content-Length:   \r\n"), 400);
    expect_rejected(port, "CL '+33'", post("Content-Length: +" HIDDEN_LEN "\r\n"), 400);
    expect_rejected(port, "CL '-1'", post("Content-Length: -1\r\n"), 400);
    expect_rejected(port, "CL '0x21'", post("Content-Length: 0x21\r\n"), 400);
    expect_rejected(port, "CL '3 3'", post("Content-Length: 3 3\r\n"), 400);
    expect_rejected(port, "CL '33,'", post("Content-Length: " HIDDEN_LEN ",\r\n"), 400);
    expect_rejected(port, "CL '33,,33'", post("Content-Length: " HIDDEN_LEN ",," HIDDEN_LEN "\r\n"),
                    400);
    expect_rejected(port, "CL '33x'", post("Content-Length: " HIDDEN_LEN "x\r\n"), 400);
    /* Too large for 64 bits: 2^64, and 23 nines. Must not wrap around to a small number. */
    expect_rejected(port, "CL 2^64", post("Content-Length: 18446744073709551616\r\n"), 400);
    expect_rejected(port, "CL 99999999999999999999999",
                    post("Content-Length: 99999999999999999999999\r\n"), 400);
    /* Valid, but more than the server skips (MAX_BODY, 64 MiB): 413, not a wait for it. */
    expect_rejected(port, "CL 67108865 (MAX_BODY + 1)", post("Content-Length: 67108865\r\n"), 413);
    expect_rejected(port, "CL 2^64 - 1", post("Content-Length: 18446744073709551615\r\n"), 413);
    expect_rejected(port, "CL 17 nines", post("Content-Length: 99999999999999999\r\n"), 413);
    /* Transfer-Encoding is not parsed; with a Content-Length too it must still close. */
    expect_rejected(port, "TE chunked then CL 33",
                    post("Transfer-Encoding: chunked\r\nContent-Length: " HIDDEN_LEN "\r\n"), 501);
    expect_rejected(port, "CL 33 then TE chunked",
                    post("Content-Length: " HIDDEN_LEN "\r\nTransfer-Encoding: chunked\r\n"), 501);
    expect_rejected(port, "CL 0 then TE chunked",
                    post("Content-Length: 0\r\nTransfer-Encoding: chunked\r\n"), 501);

    /* Copies of one value are that value: the hidden request is skipped as the body, and the
     * request after it is answered: two responses in all, not three. */
    char ok[1024];
    int n = snprintf(ok, sizeof ok, "%sGET / HTTP/1.1\r\nHost: x\r\n\r\n",
                     post("Content-Length: " HIDDEN_LEN "\r\ncontent-length: " HIDDEN_LEN "\r\n"));
    expect_ok(port, "CL 33 twice, body, then GET", ok, (size_t)n, 2);
    n = snprintf(ok, sizeof ok, "%sGET / HTTP/1.1\r\nHost: x\r\n\r\n",
                 post("Content-Length: " HIDDEN_LEN " , " HIDDEN_LEN "\r\n"));
    expect_ok(port, "CL '33 , 33', body, then GET", ok, (size_t)n, 2);
    n = snprintf(ok, sizeof ok, "%sGET / HTTP/1.1\r\nHost: x\r\n\r\n",
                 post("Content-Length: 0" HIDDEN_LEN "\r\n"));
    expect_ok(port, "CL '033' (leading zero), body, then GET", ok, (size_t)n, 2);

    return http_test_finish("http_conflicting_content_length");
}
