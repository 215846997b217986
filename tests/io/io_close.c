/* tr_close is cleanup: it closes the fd even in a cancelled task or past a deadline. */
#include "io_test.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

static bool fd_open(int fd) {
    return fcntl(fd, F_GETFD) != -1 || errno != EBADF;
}

static void *cancelled_closer(void *arg) {
    int fd = (int)(intptr_t)arg;
    T_EQ(tr_sleep(60000 * MS), -ECANCELED); /* cancelled while sleeping */
    T_EQ(tr_nop(), -ECANCELED);             /* other calls refuse from now on */
    T_EQ(tr_close(fd), 0);                  /* ... but closing still works */
    return NULL;
}

static void *close_main(void *arg) {
    (void)arg;
    int p[2];
    T_REQUIRE_EQ(pipe(p), 0);
    tr_task *t = tr_spawn(cancelled_closer, (void *)(intptr_t)p[0]);
    T_REQUIRE(t != NULL);
    T_EQ(tr_yield(), 0);
    T_EQ(tr_task_cancel(t), 1);
    T_EQ(tr_await(t, NULL), -ECANCELED);
    tr_task_release(t);
    T_CHECK(!fd_open(p[0]));

    /* Past a deadline: the same. */
    tr_deadline d;
    T_EQ(tr_deadline_begin(&d, 0), 0);
    T_EQ(tr_nop(), -ETIME);
    T_EQ(tr_close(p[1]), 0);
    tr_deadline_end(&d);
    T_CHECK(!fd_open(p[1]));

    /* Normal path, and a bad fd. */
    T_REQUIRE_EQ(pipe(p), 0);
    T_EQ(tr_close(p[0]), 0);
    T_EQ(tr_close(p[1]), 0);
    T_EQ(tr_close(p[1]), -EBADF);
    return NULL;
}

static void test_close(void **state) {
    (void)state;
    io_run(close_main, NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_close)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
