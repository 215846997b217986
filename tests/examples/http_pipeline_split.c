/*
 * http_pipeline_split - pipelined requests answered the same however TCP cuts them.
 *
 * The server resumes its search for the end of a head where the previous receive left it
 * (so a head that trickles in is not searched again from its start each time). That resume
 * point must survive any cut: inside "\r\n", between "\n" and "\r\n", inside a body, right
 * after a complete request. The same bytes (four requests: CRLF, bare LF, mixed, one with a
 * body) are sent in two parts cut at every byte offset, each part its own send with a pause
 * between, then one byte per send; every time exactly four 200s must come back and the
 * connection must stay open.
 *
 *   http_pipeline_split PATH_TO_http_server
 */
#include "http_test.h"

static const char pipeline[] = "GET /1 HTTP/1.1\r\nHost: x\r\n\r\n"
                               "GET /2 HTTP/1.1\nHost: x\n\n"
                               "POST /3 HTTP/1.1\r\nContent-Length: 5\n\r\n\r\n\n\r\n"
                               "GET /4 HTTP/1.1\r\nA: b\n\n";
enum { N_REQUESTS = 4 };

/* Send the pipeline in pieces at the cuts (offsets, ascending, n_cuts of them), and check
 * that all four requests are answered. */
static bool run(int port, const size_t *cuts, int n_cuts, const char *what) {
    size_t len = sizeof pipeline - 1;
    int fd = conn_open(port);
    size_t from = 0;
    for (int i = 0; i <= n_cuts; i++) {
        size_t to = i < n_cuts ? cuts[i] : len;
        send_bytes(fd, pipeline + from, to - from);
        from = to;
        if (i < n_cuts)
            sleep_ms(1); /* let the server receive this piece on its own */
    }
    struct replies *r = replies_new();
    read_replies(fd, r, N_REQUESTS, 3000);
    if (r->count == N_REQUESTS)
        read_replies(fd, r, N_REQUESTS + 1, 20); /* and nothing more */
    bool ok = r->count == N_REQUESTS && !r->eof && !r->reset && !r->garbage;
    for (int i = 0; i < r->count && i < MAX_REPLIES; i++)
        ok &= r->status[i] == 200;
    if (!ok)
        CHECK(false, "%s: want %d x 200; got %s", what, N_REQUESTS, replies_str(r));
    free(r);
    close(fd);
    return ok;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s PATH_TO_http_server\n", argv[0]);
        return 2;
    }
    const char *const args[] = {"--body-size", "16", NULL};
    int port = server_start(argv[1], args);
    size_t len = sizeof pipeline - 1;

    run(port, NULL, 0, "in one send");

    int failed = 0;
    for (size_t cut = 1; cut < len; cut++) {
        char what[64];
        snprintf(what, sizeof what, "cut at byte %zu", cut);
        failed += !run(port, &cut, 1, what);
    }
    CHECK(failed == 0, "two sends, cut at each of the %zu inner offsets (%d failed)", len - 1,
          failed);

    size_t every[sizeof pipeline];
    for (size_t i = 0; i + 1 < len; i++)
        every[i] = i + 1;
    CHECK(run(port, every, (int)len - 1, "a byte per send"), "one byte per send (%zu sends)", len);

    return http_test_finish("http_pipeline_split");
}
