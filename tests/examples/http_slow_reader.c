/*
 * http_slow_reader - a client that sends requests but does not read the answers cannot hold
 * the connection forever: a send that waits for room gives up after --idle-timeout.
 *
 * The other half of slowloris: pipeline thousands of requests, then stop reading. The old
 * http_server blocked in its send until the client read again, however long that took. Run
 * with --idle-timeout 0.5, the server must give up on such a connection: the client, which
 * reads nothing for 2 s and then everything that is there, must find the connection ended
 * (EOF or reset) after fewer responses than it sent requests. The old server instead answers
 * all of them once the client reads, and the connection stays open.
 *
 *   http_slow_reader PATH_TO_http_server
 */
#include "http_test.h"

enum {
    REQUESTS = 20000,   /* x 18 bytes; each answered with 4096 body bytes: ~80 MiB */
    SEND_FOR_MS = 1000, /* the client sends for at most this long ... */
    STALL_MS = 2000,    /* ... then does not read for this long (since it started) */
    READ_FOR_MS = 10000,
};

static const char request[] = "GET / HTTP/1.1\r\n\r\n";

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s PATH_TO_http_server\n", argv[0]);
        return 2;
    }
    const char *const args[] = {"--idle-timeout", "0.5", NULL}; /* 4096-byte bodies */
    int port = server_start(argv[1], args);

    /* A small receive buffer (set before connecting, so the window is small from the start)
     * makes the server's sends fill up soon. */
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int small = 4096, one = 1;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0)
        FATAL("connect: %s", strerror(errno));

    /* Send requests without blocking, for as long as the socket takes them (at most 1 s). */
    static char all[REQUESTS * (sizeof request - 1)];
    for (size_t i = 0; i < REQUESTS; i++)
        memcpy(all + i * (sizeof request - 1), request, sizeof request - 1);
    uint64_t start = now_ms();
    size_t sent = 0;
    while (sent < sizeof all && now_ms() - start < SEND_FOR_MS) {
        ssize_t n = send(fd, all + sent, sizeof all - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            sent += (size_t)n;
        } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
            struct pollfd p = {fd, POLLOUT, 0};
            poll(&p, 1, 50);
        } else {
            break; /* the server closed: counted below */
        }
    }
    int requests = (int)(sent / (sizeof request - 1));
    printf("     sent %d requests in %llu ms, reading nothing\n", requests,
           (unsigned long long)(now_ms() - start));

    uint64_t waited = now_ms() - start;
    if (waited < STALL_MS)
        sleep_ms((unsigned)(STALL_MS - waited));

    /* Now read all there is. Bodies are 4096 bytes: read_replies' buffer holds a few. */
    struct replies *r = replies_new();
    uint64_t read_start = now_ms();
    while (!r->eof && !r->reset && !r->garbage && r->count < requests &&
           now_ms() - read_start < READ_FOR_MS) {
        int before = r->count;
        read_replies(fd, r, requests, 1000);
        if (r->count == before && !r->eof && !r->reset)
            break; /* a second without a byte */
    }
    if (r->count == requests)
        read_replies(fd, r, requests + 1, 1000); /* the old server: still open after all */
    CHECK(requests > 1000, "the client got %d requests out before stalling", requests);
    CHECK((r->eof || r->reset) && !r->garbage && r->count < requests,
          "stalled reader: want the connection ended before all %d responses; got %s", requests,
          replies_str(r));
    free(r);
    close(fd);

    /* The server is fine afterwards. */
    fd = conn_open(port);
    r = replies_new();
    send_str(fd, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    read_replies(fd, r, 1, 2000);
    CHECK(r->count == 1 && r->status[0] == 200, "then a new connection: want 200; got %s",
          replies_str(r));
    free(r);
    close(fd);

    return http_test_finish("http_slow_reader");
}
