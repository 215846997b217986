/*
 * With two or more tasks in tr_listener_accept, an accept error (EMFILE) ends the multishot
 * accept. It used to go to one waiter while the others stayed parked with no accept armed:
 * they timed out, or the loop aborted as stalled. Now the oldest waiter gets the error and
 * the accept is re-armed at once for the others, which get the next connections.
 */
#include "io_test.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>
#include <valgrind/valgrind.h>

enum { ACCEPTORS = 3 };

struct shared {
    tr_listener *l;
    struct rlimit normal; /* restored by the acceptor that hears of EMFILE */
    int results[ACCEPTORS];
    int order; /* next slot, in the order the acceptors return */
    int finished_order[ACCEPTORS];
};

struct acceptor {
    struct shared *sh;
    int index;
};

static void *acceptor(void *arg) {
    struct acceptor *a = arg;
    tr_deadline d;
    tr_deadline_begin(&d, 3000 * MS);
    int rc = tr_listener_accept(a->sh->l);
    /* The listener re-armed its accept for the others when it woke us: put the limit back
     * before that reaches the kernel (at the end of this turn). */
    if (rc == -EMFILE)
        setrlimit(RLIMIT_NOFILE, &a->sh->normal);
    a->sh->results[a->index] = rc;
    tr_deadline_end(&d);
    a->sh->finished_order[a->sh->order++] = a->index;
    return NULL;
}

static void *main_task(void *arg) {
    (void)arg;
    int port;
    int lfd = io_tcp_listen(16, &port);
    T_REQUIRE(lfd >= 0);
    int clients[ACCEPTORS + 1];
    for (int i = 0; i <= ACCEPTORS; i++)
        T_REQUIRE((clients[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) >= 0);
    /* No descriptor fits: the accept, armed under this limit (io_uring takes it at
     * submission), fails with EMFILE. */
    struct shared sh = {0};
    T_REQUIRE(getrlimit(RLIMIT_NOFILE, &sh.normal) == 0);
    int lowest_free = 0;
    while (fcntl(lowest_free, F_GETFD) >= 0)
        lowest_free++;
    struct rlimit low = sh.normal;
    low.rlim_cur = (rlim_t)lowest_free;
    T_REQUIRE(setrlimit(RLIMIT_NOFILE, &low) == 0);
    sh.l = tr_listener_open(lfd);
    T_REQUIRE(sh.l != NULL);
    struct acceptor acc[ACCEPTORS];
    tr_task *tasks[ACCEPTORS];
    for (int i = 0; i < ACCEPTORS; i++) {
        acc[i] = (struct acceptor){&sh, i};
        T_REQUIRE((tasks[i] = tr_spawn(acceptor, &acc[i])) != NULL);
        T_EQ(tr_yield(), 0); /* each starts waiting in turn: FIFO order is known */
    }
    tr_sleep(2 * MS);

    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    T_EQ(connect(clients[0], (struct sockaddr *)&sin, sizeof sin), 0);
    for (int i = 0; i < 200 && sh.order == 0; i++)
        tr_sleep(1 * MS);
    T_REQUIRE(setrlimit(RLIMIT_NOFILE, &sh.normal) == 0);
    T_REQUIRE_EQ(sh.order, 1);
    T_EQ(sh.finished_order[0], 0); /* the oldest waiter heard of the error */
    T_EQ(sh.results[0], -EMFILE);

    /* The two others were left waiting with an accept armed: they get the connection that
     * waited in the backlog and a new one, well before their deadline. */
    for (int i = 1; i <= ACCEPTORS; i++)
        if (i > 1)
            T_EQ(connect(clients[i], (struct sockaddr *)&sin, sizeof sin), 0);
    for (int i = 0; i < ACCEPTORS; i++)
        T_EQ(tr_await(tasks[i], NULL), 0);
    for (int i = 1; i < ACCEPTORS; i++) {
        T_CHECK(sh.results[i] >= 0);
        if (sh.results[i] >= 0)
            close(sh.results[i]);
    }
    T_EQ(sh.finished_order[1], 1); /* FIFO: in the order they began waiting */
    T_EQ(sh.finished_order[2], 2);
    for (int i = 0; i < ACCEPTORS; i++)
        tr_task_release(tasks[i]);
    tr_listener_close(sh.l);
    for (int i = 0; i <= ACCEPTORS; i++)
        close(clients[i]);
    close(lfd);
    return NULL;
}

static void test_error_rearms_for_waiters(void **state) {
    (void)state;
    if (RUNNING_ON_VALGRIND)
        TEST_SKIP("valgrind emulates RLIMIT_NOFILE: the kernel never sees the low limit");
    io_run(main_task, NULL);
}

int main(int argc, char **argv) {
    io_parse_args(&argc, argv);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_error_rearms_for_waiters, io_setup),
    };
    return test_result(cmocka_run_group_tests(tests, NULL, NULL));
}
