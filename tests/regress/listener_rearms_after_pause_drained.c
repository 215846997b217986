/*
 * A full accept queue pauses the listener: its multishot accept is cancelled. If an acceptor
 * emptied the queue while that cancellation was on its way, the listener used to see its own
 * -ECANCELED and not re-arm, and the acceptor waited with nothing armed: a deadline expired,
 * or the loop reported a false deadlock. Now the completion of the pause re-arms whenever
 * there is room. (Found by review: lower the limit under a full queue, drain it at once.)
 */
#include "net.h"

#define MS 1000000ull

struct fixture {
    int port;
    int clients[4];
};

static void *late_client(void *arg) {
    struct fixture *f = arg;
    tr_sleep(50 * MS);
    f->clients[3] = net_connect(f->port);
    return NULL;
}

static void *main_task(void *arg) {
    struct fixture *f = arg;
    int lfd = net_listen(16, &f->port);
    tr_listener *l = tr_listener_open(lfd);
    CHECK(l != NULL);
    for (int i = 0; i < 3; i++)
        f->clients[i] = net_connect(f->port);
    tr_sleep(20 * MS);                              /* all three accepted and queued */
    CHECK_EQ(tr_listener_set_queue_limit(l, 1), 0); /* over the limit: pauses */
    for (int i = 0; i < 3; i++) {
        int fd = tr_listener_accept(l); /* drained before the pause's completion comes */
        CHECK(fd >= 0);
        close(fd);
    }
    tr_task *c = tr_spawn(late_client, f);
    tr_deadline d;
    tr_deadline_begin(&d, 2000 * MS);
    int fd = tr_listener_accept(l); /* the late client's connection */
    tr_deadline_end(&d);
    CHECK(fd >= 0);
    close(fd);
    CHECK_EQ(tr_await(c, NULL), 0);
    tr_task_release(c);
    tr_listener_close(l);
    for (int i = 0; i < 4; i++)
        close(f->clients[i]);
    close(lfd);
    return NULL;
}

int main(void) {
    struct fixture f;
    CHECK_EQ(tr_run(main_task, &f, NULL), 0);
    return 0;
}
