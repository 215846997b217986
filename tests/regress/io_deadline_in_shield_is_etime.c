/*
 * Inside a cancel shield, with a cancellation held back, an I/O call's deadline expired and
 * the call returned -ECANCELED: the linked timeout's -ECANCELED was taken for our own cancel
 * because the task had a cancellation pending, although none was sent to the kernel. It is
 * -ETIME, as for tr_sleep. (Found by review.)
 */
#include "regress.h"

#include <sys/socket.h>

#define MS 1000000ull

static int sv[2];

static void *worker(void *arg) {
    int *rc = arg;
    tr_shield s;
    tr_shield_begin(&s);
    tr_sleep(20 * MS); /* cancelled meanwhile: held back */
    tr_deadline d;
    tr_deadline_begin(&d, 20 * MS);
    rc[0] = tr_sleep(1000 * MS);
    tr_deadline_end(&d);
    tr_deadline_begin(&d, 20 * MS);
    char b;
    rc[1] = tr_recv(sv[0], &b, 1, 0);
    tr_deadline_end(&d);
    tr_shield_end(&s);
    rc[2] = tr_recv(sv[0], &b, 1, 0); /* out of the shield: the cancellation */
    return NULL;
}

static void *main_task(void *arg) {
    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    tr_task *w = tr_spawn(worker, arg);
    tr_sleep(5 * MS);
    tr_task_cancel(w);
    CHECK_EQ(tr_await(w, NULL), -ECANCELED);
    tr_task_release(w);
    close(sv[0]);
    close(sv[1]);
    return NULL;
}

int main(void) {
    int rc[3] = {1, 1, 1};
    CHECK_EQ(tr_run(main_task, rc, NULL), 0);
    CHECK_EQ(rc[0], -ETIME);
    CHECK_EQ(rc[1], -ETIME);
    CHECK_EQ(rc[2], -ECANCELED);
    return 0;
}
