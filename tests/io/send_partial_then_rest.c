/*
 * A send larger than the socket can take: each tr_send moves what fits (a short count, as
 * send(2) may), waiting for room when there is none, and the receiver gets the whole stream,
 * in order, byte for byte. Readers and writers are tasks of one loop on a socketpair whose
 * buffers are small, so almost every call is partial or has to wait.
 */
#include "io_test.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

enum { TOTAL = 4 << 20, CHUNK = 256 << 10 };

struct side {
    int fd;
    unsigned char *data;
    size_t done;
    int partial; /* sends that moved less than asked */
};

static void *writer(void *arg) {
    struct side *w = arg;
    while (w->done < TOTAL) {
        size_t want = TOTAL - w->done < CHUNK ? TOTAL - w->done : CHUNK;
        int n = tr_send(w->fd, w->data + w->done, want, MSG_NOSIGNAL);
        T_REQUIRE(n > 0);
        if ((size_t)n < want)
            w->partial++;
        w->done += (size_t)n;
    }
    shutdown(w->fd, SHUT_WR);
    return NULL;
}

static void *reader(void *arg) {
    struct side *r = arg;
    for (;;) {
        int n =
            tr_recv(r->fd, r->data + r->done, TOTAL - r->done < 7000 ? TOTAL - r->done : 7000, 0);
        T_REQUIRE(n >= 0);
        if (n == 0)
            break;
        r->done += (size_t)n;
    }
    return NULL;
}

static void *main_task(void *arg) {
    (void)arg;
    int sv[2];
    T_REQUIRE(io_socketpair(SOCK_STREAM, sv) == 0);
    int small = 16 << 10;
    setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
    setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    struct side w = {.fd = sv[0], .data = malloc(TOTAL)};
    struct side r = {.fd = sv[1], .data = calloc(1, TOTAL)};
    T_REQUIRE(w.data && r.data);
    for (size_t i = 0; i < TOTAL; i++)
        w.data[i] = (unsigned char)(i * 131 + (i >> 12));
    tr_task *tw = tr_spawn(writer, &w), *tr = tr_spawn(reader, &r);
    T_REQUIRE(tw && tr);
    tr_await(tw, NULL);
    tr_await(tr, NULL);
    T_EQ(w.done, TOTAL);
    T_EQ(r.done, TOTAL);
    T_CHECK(memcmp(w.data, r.data, TOTAL) == 0);
    T_CHECK(w.partial > 0); /* the point of the test: short sends happened */
    tr_task_release(tw);
    tr_task_release(tr);
    free(w.data);
    free(r.data);
    close(sv[0]);
    close(sv[1]);
    return NULL;
}

static void test_partial_sends(void **state) {
    (void)state;
    io_run(main_task, NULL);
}

int main(int argc, char **argv) {
    io_parse_args(&argc, argv);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_partial_sends, io_setup),
    };
    return test_result(cmocka_run_group_tests(tests, NULL, NULL));
}
