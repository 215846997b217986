/*
 * listener_close_leaves_reused_fd_alone: once tr_listener_close returns, the program may close
 * the listening fd and the number may come back as another file at once. The listener's last
 * completion comes later (at the next poll); nothing done then may touch the fd by number.
 * The epoll backend used to take the fd out of its set and put its saved file flags back
 * from there, on whatever file had the number by then (TSan saw it in io_threads: another
 * thread's new socket): here a plain non-blocking socket that took the number lost
 * O_NONBLOCK. Then a listener on a socket that took the number must still accept. Run on
 * both backends.
 */
#include "regress.h"

#include "net.h"

#include <fcntl.h>

static int result;

static void *accept_one(void *arg) {
    tr_listener *l = arg;
    int fd = tr_listener_accept(l);
    return (void *)(intptr_t)fd;
}

static void *main_task(void *arg) {
    (void)arg;
    int port_a;
    int a = net_listen(16, &port_a);
    tr_listener *la = tr_listener_open(a);
    CHECK(la);
    tr_task *waiting = tr_spawn(accept_one, la); /* armed, and an acceptor waits */
    CHECK(waiting);
    CHECK_EQ(tr_yield(), 0);
    tr_listener_close(la);
    CHECK_EQ(close(a), 0); /* allowed: the listener does not own it */

    /* The same number, now a plain socket of the program's, non-blocking. */
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    CHECK(s >= 0);
    if (s != a)
        printf("note: the fd number was not reused (%d, %d): the check is weaker\n", a, s);
    CHECK_EQ(tr_sleep(20 * 1000000ull), 0); /* la's last completion and free happen now */
    CHECK(fcntl(s, F_GETFL) & O_NONBLOCK);
    CHECK_EQ(close(s), 0);

    /* And a listening socket that takes the number, with its own listener. */
    int port_b;
    int b = net_listen(16, &port_b);
    tr_listener *lb = tr_listener_open(b);
    CHECK(lb);
    CHECK_EQ(tr_sleep(20 * 1000000ull), 0);

    int client = net_connect(port_b);
    tr_deadline d;
    CHECK_EQ(tr_deadline_begin(&d, 5ull * 1000000000ull), 0);
    int conn = tr_listener_accept(lb);
    tr_deadline_end(&d);
    CHECK(conn >= 0); /* -ETIME: b's registration was lost */
    close(conn);
    close(client);

    void *r;
    CHECK_EQ(tr_await(waiting, &r), 0);
    CHECK_EQ((intptr_t)r, -ECANCELED);
    tr_task_release(waiting);
    tr_listener_close(lb);
    close(b);
    result = 1;
    return NULL;
}

int main(void) {
    const unsigned backends[] = {TR_BACKEND_IO_URING, TR_BACKEND_EPOLL};
    for (size_t i = 0; i < sizeof backends / sizeof *backends; i++) {
        tr_options o = {.size = sizeof o, .backend = backends[i]};
        result = 0;
        int rc = tr_run_with(&o, main_task, NULL, NULL);
        if (rc == -EPERM && backends[i] == TR_BACKEND_IO_URING) {
            puts("io_uring refused here: epoll only");
            continue;
        }
        CHECK_EQ(rc, 0);
        CHECK_EQ(result, 1);
    }
    puts("listener_close_leaves_reused_fd_alone: ok");
    return 0;
}
