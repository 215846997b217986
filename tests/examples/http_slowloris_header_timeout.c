/*
 * http_slowloris_header_timeout - a request head must arrive whole within --header-timeout
 * of its first byte; otherwise 408 Request Timeout and close.
 *
 * Slowloris: many connections, each sending a byte of a request head now and then and never
 * finishing it. The old http_server waited for the end of each head forever, so a few
 * hundred such connections held as many tasks and sockets for as long as the client liked.
 * The server here runs with --header-timeout 0.5: a client sending a byte every 100 ms must
 * get one 408 and EOF after 0.5 s and well within 2 s, and so must each of 20 at once. The
 * limit is on the head, not the connection: time before the first byte, and earlier
 * requests on the same connection, do not count against it.
 *
 *   http_slowloris_header_timeout PATH_TO_http_server
 */
#include "http_test.h"

enum {
    HEADER_TIMEOUT_MS = 500,
    SLOW_CONNS = 20,
    BYTE_EVERY_MS = 100,
    GIVE_UP_MS = 3000, /* how long the slow clients keep at it */
    CLOSED_BY_MS = 2000,
};

/* The never-ending head: its first 24 bytes, then 'a' for as long as the client goes on. */
static const char slow_head[] = "GET / HTTP/1.1\r\nX-Slow: ";

/* n slow clients at once, a byte every BYTE_EVERY_MS each, until the server has closed them
 * all or GIVE_UP_MS has passed. Each must get exactly a 408 and EOF, 0.5 s to 2 s after its
 * first byte. */
static void slowloris(int port, int n) {
    int fd[SLOW_CONNS];
    struct replies *r[SLOW_CONNS];
    uint64_t closed_ms[SLOW_CONNS];
    for (int i = 0; i < n; i++) {
        fd[i] = conn_open(port);
        r[i] = replies_new();
        closed_ms[i] = 0;
    }
    uint64_t start = now_ms();
    int open = n;
    for (size_t byte = 0; open > 0 && now_ms() - start < GIVE_UP_MS; byte++) {
        char c = byte < sizeof slow_head - 1 ? slow_head[byte] : 'a';
        for (int i = 0; i < n; i++)
            if (!closed_ms[i])
                send_bytes(fd[i], &c, 1); /* fails once the server has closed: fine */
        sleep_ms(BYTE_EVERY_MS);
        for (int i = 0; i < n; i++) {
            if (closed_ms[i])
                continue;
            read_replies(fd[i], r[i], 2, 0);
            if (r[i]->eof || r[i]->reset || r[i]->garbage) {
                closed_ms[i] = now_ms() - start;
                open--;
            }
        }
    }
    int good = 0;
    for (int i = 0; i < n; i++) {
        bool ok = r[i]->count == 1 && r[i]->status[0] == 408 && r[i]->eof && !r[i]->garbage &&
                  closed_ms[i] >= HEADER_TIMEOUT_MS - 50 && closed_ms[i] <= CLOSED_BY_MS;
        if (!ok)
            CHECK(false, "slow client %d of %d: want 408 then EOF in 0.45-2 s; got %s, %s %llu ms",
                  i + 1, n, replies_str(r[i]), closed_ms[i] ? "closed at" : "still open at",
                  (unsigned long long)(closed_ms[i] ? closed_ms[i] : now_ms() - start));
        good += ok;
        free(r[i]);
        close(fd[i]);
    }
    CHECK(good == n, "%d slow client(s), a byte every %d ms: %d got 408 and EOF in time", n,
          BYTE_EVERY_MS, good);
}

/* Send s a byte at a time, every_ms apart. */
static void trickle(int fd, const char *s, unsigned every_ms) {
    for (; *s; s++) {
        send_bytes(fd, s, 1);
        sleep_ms(every_ms);
    }
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s PATH_TO_http_server\n", argv[0]);
        return 2;
    }
    const char *const args[] = {
        "--header-timeout", "0.5", "--idle-timeout", "30", "--body-size", "16", NULL};
    int port = server_start(argv[1], args);

    slowloris(port, 1);
    slowloris(port, SLOW_CONNS);

    /* A head that starts after a complete request in the same packet, then stops: the
     * request is answered, the stalled head gets 408 once its own timeout has passed. */
    int fd = conn_open(port);
    struct replies *r = replies_new();
    uint64_t start = now_ms();
    send_str(fd, "GET / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n");
    read_replies(fd, r, 3, 3000);
    uint64_t took = now_ms() - start;
    CHECK(r->count == 2 && r->status[0] == 200 && r->status[1] == 408 && r->eof &&
              took >= HEADER_TIMEOUT_MS - 50 && took <= CLOSED_BY_MS,
          "complete request + stalled head: want 200, 408, EOF in 0.45-2 s; got %s",
          replies_str(r));
    free(r);
    close(fd);

    /* Slow but in time: an 18-byte head over ~200 ms. */
    fd = conn_open(port);
    r = replies_new();
    trickle(fd, "GET / HTTP/1.1\r\n\r\n", 10);
    read_replies(fd, r, 1, 2000);
    CHECK(r->count == 1 && r->status[0] == 200 && !r->eof,
          "head sent a byte per 10 ms (within the timeout): want 200; got %s", replies_str(r));

    /* Three more such heads on the same connection, 0.6 s in all: each is timed alone. */
    for (int i = 0; i < 3; i++)
        trickle(fd, "GET / HTTP/1.1\r\n\r\n", 10);
    read_replies(fd, r, 4, 2000);
    CHECK(r->count == 4 && !r->eof && !r->reset,
          "3 more slow heads on that connection, over longer than the timeout: want 4 x 200; "
          "got %s",
          replies_str(r));
    free(r);
    close(fd);

    /* Waiting before the first byte is idle time, not head time. */
    fd = conn_open(port);
    r = replies_new();
    sleep_ms(HEADER_TIMEOUT_MS + 300);
    send_str(fd, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    read_replies(fd, r, 1, 2000);
    CHECK(r->count == 1 && r->status[0] == 200 && !r->eof,
          "0.8 s of silence, then a request: want 200; got %s", replies_str(r));
    free(r);
    close(fd);

    return http_test_finish("http_slowloris_header_timeout");
}
