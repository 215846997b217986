/*
 * tr_openat of a FIFO that nobody has open at the other end: io_uring opens it without
 * blocking (its first try adds O_NONBLOCK and takes it off the file afterwards), so a read-only
 * open returns the fd at once and a write-only one -ENXIO. The epoll backend must do the same:
 * its worker blocked in open(2) until a writer came, beyond any cancellation or deadline, and
 * held tr_run's end. The fd comes back without O_NONBLOCK, as asked.
 */
#include "io_test.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

static char path[256];

static void *main_task(void *arg) {
    (void)arg;
    tr_deadline d;
    tr_deadline_begin(&d, 1000 * MS); /* the bug: -ETIME only if the worker gives up, never */
    uint64_t t0 = io_now_ns();
    int fd = tr_openat(AT_FDCWD, path, O_RDONLY | O_CLOEXEC, 0);
    T_CHECK(fd >= 0);
    T_CHECK(io_now_ns() - t0 < 900 * MS);
    if (fd >= 0) {
        T_EQ(fcntl(fd, F_GETFL) & O_NONBLOCK, 0);
        close(fd);
    }
    T_EQ(tr_openat(AT_FDCWD, path, O_WRONLY | O_CLOEXEC, 0), -ENXIO);
    /* Asked for: O_NONBLOCK stays. */
    fd = tr_openat(AT_FDCWD, path, O_RDONLY | O_NONBLOCK | O_CLOEXEC, 0);
    T_CHECK(fd >= 0 && (fcntl(fd, F_GETFL) & O_NONBLOCK));
    if (fd >= 0)
        close(fd);
    tr_deadline_end(&d);
    return NULL;
}

static void test_openat_fifo_does_not_block(void **state) {
    (void)state;
    char dir[200];
    assert_int_equal(io_tmpdir(dir, sizeof dir), 0);
    snprintf(path, sizeof path, "%s/fifo", dir);
    assert_int_equal(mkfifo(path, 0600), 0);
    io_run(main_task, NULL);
    unlink(path);
    rmdir(dir);
}

int main(int argc, char **argv) {
    io_parse_args(&argc, argv);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_openat_fifo_does_not_block, io_setup),
    };
    return test_result(cmocka_run_group_tests(tests, NULL, NULL));
}
