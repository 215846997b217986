/*
 * tr_close must close the fd whatever happens, since cleanup cannot fail: in a cancelled task
 * or past its deadline it closes at once, and when the call cannot even be made (no
 * operation record: out of memory; outside a task) it used to return the error with the fd
 * still open. (Found by review.) Every allocation on the path fails in turn (failalloc).
 */
#include "regress.h"

#include "failalloc.h"

static bool open_fd(int fd) {
    return fcntl(fd, F_GETFD) >= 0;
}

static void *main_task(void *arg) {
    (void)arg;
    /* Fill the loop's operation records first, so the next call has to allocate a slab. */
    for (long n = 0; n < 64; n++) {
        int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        CHECK(fd >= 0);
        failalloc_arm(n);
        int rc = tr_close(fd);
        bool injected = failalloc_injected();
        failalloc_disarm();
        CHECK_EQ(rc, 0);
        CHECK(!open_fd(fd)); /* closed, failure or not */
        if (!injected)
            break;
    }
    tr_task_cancel(tr_current());
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    CHECK_EQ(tr_close(fd), 0); /* cancelled: closed at once */
    CHECK(!open_fd(fd));
    return NULL;
}

int main(void) {
    CHECK_EQ(tr_run(main_task, NULL, NULL), -ECANCELED);
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    CHECK_EQ(tr_close(fd), 0); /* outside a task: closed with close(2) */
    CHECK(!open_fd(fd));
    return 0;
}
