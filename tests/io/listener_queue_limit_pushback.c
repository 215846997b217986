/*
 * The queue of accepted-but-unclaimed connections is bounded: with nobody accepting, a
 * listener stops at its limit (tr_listener_set_queue_limit) and the rest wait in the kernel's
 * listen backlog, instead of the process taking fds until EMFILE. Every connection still
 * arrives, in order, once acceptors come.
 */
#include "io_test.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

enum { LIMIT = 4, CLIENTS = 24 };

static int local_port_of(int fd) {
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    return getsockname(fd, (struct sockaddr *)&a, &len) == 0 ? ntohs(a.sin_port) : -1;
}

static int peer_port_of(int fd) {
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    return getpeername(fd, (struct sockaddr *)&a, &len) == 0 ? ntohs(a.sin_port) : -1;
}

static void *main_task(void *arg) {
    (void)arg;
    int port;
    int lfd = io_tcp_listen(64, &port);
    T_REQUIRE(lfd >= 0);
    tr_listener *l = tr_listener_open(lfd);
    T_REQUIRE(l != NULL);
    T_EQ(tr_listener_set_queue_limit(l, 0), -EINVAL);
    T_EQ(tr_listener_set_queue_limit(NULL, 4), -EINVAL);
    T_EQ(tr_listener_set_queue_limit(l, LIMIT), 0);
    int before = io_count_fds();
    int clients[CLIENTS];
    for (int i = 0; i < CLIENTS; i++) {
        clients[i] = io_tcp_connect(port);
        T_REQUIRE(clients[i] >= 0);
        tr_sleep(1 * MS); /* one at a time, so the accept order is the connect order */
    }
    tr_sleep(20 * MS);
    /* The clients' own fds, plus at most the limit and the few the kernel accepted before
     * the pause reached it. */
    int held = io_count_fds() - before - CLIENTS;
    T_CHECK(held >= LIMIT);
    T_CHECK(held <= LIMIT + 2);

    for (int i = 0; i < CLIENTS; i++) {
        tr_deadline d;
        tr_deadline_begin(&d, 2000 * MS);
        int fd = tr_listener_accept(l);
        tr_deadline_end(&d);
        T_CHECK(fd >= 0);
        if (fd < 0)
            break;
        T_EQ(peer_port_of(fd), local_port_of(clients[i])); /* none lost, none reordered */
        close(fd);
    }
    tr_listener_close(l);
    for (int i = 0; i < CLIENTS; i++)
        close(clients[i]);
    close(lfd);
    return NULL;
}

static void test_queue_limit_pushback(void **state) {
    (void)state;
    io_run(main_task, NULL);
}

int main(int argc, char **argv) {
    io_parse_args(&argc, argv);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_queue_limit_pushback, io_setup),
    };
    return test_result(cmocka_run_group_tests(tests, NULL, NULL));
}
