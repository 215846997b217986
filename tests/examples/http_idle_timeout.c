/*
 * http_idle_timeout - a connection that waits longer than --idle-timeout for its next
 * request (or in the middle of a body) is closed, without an answer.
 *
 * The old http_server kept an idle keep-alive connection forever, so connections opened and
 * left silent piled up without bound. Run here with --idle-timeout 0.5: a silent connection,
 * one idle after a response, and one stalled inside a request body must each see EOF between
 * 0.45 s and 2 s later, and no further response; a connection that sends a request every
 * 0.3 s must stay open past the timeout.
 *
 *   http_idle_timeout PATH_TO_http_server
 */
#include "http_test.h"

enum { IDLE_MS = 500, CLOSED_BY_MS = 2000 };

/* After `sent` (a request, or nothing), expect `responses` 200s and then EOF, the EOF
 * IDLE_MS to CLOSED_BY_MS after the last response (or the connect). */
static void expect_idle_close(int port, const char *what, const char *sent, int responses) {
    int fd = conn_open(port);
    struct replies *r = replies_new();
    if (sent)
        send_str(fd, sent);
    if (responses)
        read_replies(fd, r, responses, 2000);
    int before = r->count;
    uint64_t start = now_ms();
    read_replies(fd, r, responses + 1, 3000);
    uint64_t took = now_ms() - start;
    bool all_ok = r->count == responses && before == responses;
    for (int i = 0; i < r->count && i < MAX_REPLIES; i++)
        all_ok &= r->status[i] == 200;
    CHECK(all_ok && r->eof && took >= IDLE_MS - 50 && took <= CLOSED_BY_MS,
          "%s: want %d x 200, then EOF 0.45-2 s later; got %s, EOF wait %llu ms", what, responses,
          replies_str(r), (unsigned long long)took);
    free(r);
    close(fd);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s PATH_TO_http_server\n", argv[0]);
        return 2;
    }
    const char *const args[] = {"--idle-timeout", "0.5", "--body-size", "16", NULL};
    int port = server_start(argv[1], args);

    expect_idle_close(port, "connected, never sent anything", NULL, 0);
    expect_idle_close(port, "keep-alive, idle after a response",
                      "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 1);
    expect_idle_close(port, "HTTP/1.0 keep-alive, idle after a response",
                      "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", 1);
    /* The head is complete (answered at once); the body then stalls. */
    expect_idle_close(port, "body stalled after 10 of 100 bytes",
                      "POST / HTTP/1.1\r\nContent-Length: 100\r\n\r\n0123456789", 1);

    /* Busy enough: a request every 0.3 s, 1.5 s in all, on one connection. */
    int fd = conn_open(port);
    struct replies *r = replies_new();
    int sent = 0;
    for (; sent < 5; sent++) {
        if (!send_str(fd, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
            break;
        read_replies(fd, r, sent + 1, 1000);
        sleep_ms(300);
    }
    read_replies(fd, r, sent + 1, 0);
    CHECK(sent == 5 && r->count == 5 && !r->eof && !r->reset,
          "a request every 0.3 s for 1.5 s: want 5 x 200 and the connection open; got %s",
          replies_str(r));
    free(r);
    close(fd);

    return http_test_finish("http_idle_timeout");
}
