/*
 * At shutdown the io_uring backend's drain (uring_drain, once io_drain) reaps what is still
 * owed by the ring: a listener's accepted
 * connections among them. It used to stop at any error from the wait, -EINTR included, so a
 * signal with a handler arriving during shutdown left those completions unreaped and their
 * fds leaked. Simulated at the liburing boundary (this program is linked with
 * -Wl,--wrap=io_uring_submit_and_wait, which only the drain calls): the wait does its work and
 * then reports -EINTR, as when a signal lands after some completions were posted.
 *
 * On the epoll backend (drain_survives_eintr_epoll) nothing is owed by a kernel at shutdown:
 * the wrapped wait is never called, and only "no fd leaked" is checked.
 */
#include "regress.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <liburing.h>
#include <netinet/in.h>
#include <sys/socket.h>

int __real_io_uring_submit_and_wait(struct io_uring *ring, unsigned wait_nr);
int __wrap_io_uring_submit_and_wait(struct io_uring *ring, unsigned wait_nr);

static int interrupted;

int __wrap_io_uring_submit_and_wait(struct io_uring *ring, unsigned wait_nr) {
    int rc = __real_io_uring_submit_and_wait(ring, wait_nr);
    if (interrupted++ < 2)
        return -EINTR;
    return rc;
}

enum { CLIENTS = 8 };

static int open_fds(void) {
    DIR *d = opendir("/proc/self/fd");
    CHECK(d != NULL);
    int n = 0;
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

struct fixture {
    int lfd;
    int clients[CLIENTS];
    int backend;
};

static void *main_task(void *arg) {
    struct fixture *f = arg;
    f->backend = tr_loop_backend(0);
    CHECK(tr_listener_open(f->lfd) != NULL); /* left open: tr_run's end closes it */
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    CHECK(getsockname(f->lfd, (struct sockaddr *)&a, &len) == 0);
    /* Connections the listener accepts during shutdown, which nobody takes. */
    for (int i = 0; i < CLIENTS; i++) {
        f->clients[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        CHECK(f->clients[i] >= 0);
        CHECK(connect(f->clients[i], (struct sockaddr *)&a, sizeof a) == 0);
    }
    return NULL;
}

int main(void) {
    struct fixture f;
    f.lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CHECK(f.lfd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    CHECK(bind(f.lfd, (struct sockaddr *)&a, sizeof a) == 0);
    CHECK(listen(f.lfd, 64) == 0);
    int before = open_fds();
    CHECK_EQ(tr_run(main_task, &f, NULL), 0);
    if (f.backend == TR_BACKEND_IO_URING)
        CHECK(interrupted > 0); /* the shutdown did go through the interrupted wait */
    for (int i = 0; i < CLIENTS; i++)
        close(f.clients[i]);
    int after = open_fds();
    if (after != before) {
        fprintf(stderr, "%d fds open before tr_run, %d after: accepted connections leaked\n",
                before, after);
        return 1;
    }
    close(f.lfd);
    printf("shutdown interrupted %d time(s), no fd leaked\n", interrupted < 2 ? interrupted : 2);
    return 0;
}
