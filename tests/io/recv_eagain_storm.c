/*
 * Many tasks receive on one socket at once, and bytes come one at a time: every byte makes
 * the socket readable for all of them, but only one gets it; the others find nothing (EAGAIN
 * on epoll) and must wait again, neither spinning nor losing a wake-up. Every byte is read
 * exactly once, and the end of the stream (EOF) reaches every reader.
 */
#include "io_test.h"

#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

enum { READERS = 40, BYTES = 400 };

struct shared {
    int fd;
    int got;
    int eofs;
    int counts[256];
};

static void *reader(void *arg) {
    struct shared *s = arg;
    for (;;) {
        unsigned char c;
        int n = tr_recv(s->fd, &c, 1, 0);
        T_REQUIRE(n >= 0);
        if (n == 0) {
            s->eofs++;
            return NULL;
        }
        s->got++;
        s->counts[c]++;
    }
}

static void *main_task(void *arg) {
    (void)arg;
    int sv[2];
    T_REQUIRE(io_socketpair(SOCK_STREAM, sv) == 0);
    struct shared s = {.fd = sv[1]};
    tr_task *t[READERS];
    for (int i = 0; i < READERS; i++)
        T_REQUIRE((t[i] = tr_spawn(reader, &s)) != NULL);
    tr_sleep(5 * MS);
    for (int i = 0; i < BYTES; i++) {
        unsigned char c = (unsigned char)(i % 200);
        T_EQ(send(sv[0], &c, 1, 0), 1);
        if (i % 8 == 0)
            tr_yield(); /* bursts and single bytes both */
        if (i % 50 == 0)
            tr_sleep(1 * MS);
    }
    for (int i = 0; i < 200 && s.got < BYTES; i++)
        tr_sleep(1 * MS);
    T_EQ(s.got, BYTES);
    for (int c = 0; c < 200; c++)
        T_EQ(s.counts[c], 2); /* 400 bytes of 200 values: each twice, none lost or doubled */
    shutdown(sv[0], SHUT_WR);
    for (int i = 0; i < READERS; i++) {
        tr_await(t[i], NULL);
        tr_task_release(t[i]);
    }
    T_EQ(s.eofs, READERS);
    close(sv[0]);
    close(sv[1]);
    return NULL;
}

static void test_eagain_storm(void **state) {
    (void)state;
    io_run(main_task, NULL);
}

int main(int argc, char **argv) {
    io_parse_args(&argc, argv);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_eagain_storm, io_setup),
    };
    return test_result(cmocka_run_group_tests(tests, NULL, NULL));
}
