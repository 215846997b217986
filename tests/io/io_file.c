/*
 * io_file.c - tr_read, tr_write, tr_readv, tr_writev, tr_openat, tr_close, tr_fsync on
 * regular files: explicit offsets, -1 for the current position, short reads, EOF, bad fds,
 * and -EPERM outside a task.
 */
#include "io_test.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/io_uring.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

/* ---- explicit offsets ------------------------------------------------------------------------
 */

static void *offsets_task(void *arg) {
    (void)arg;
    int fd = io_tmpfile();
    T_REQUIRE(fd >= 0);
    T_EQ(tr_write(fd, "hello world", 11, 0), 11);
    T_EQ(tr_write(fd, "W", 1, 6), 1); /* overwrite in the middle */

    char buf[32];
    memset(buf, 0, sizeof buf);
    T_EQ(tr_read(fd, buf, 5, 6), 5);
    T_CHECK(memcmp(buf, "World", 5) == 0);
    memset(buf, 0, sizeof buf);
    T_EQ(tr_read(fd, buf, 5, 0), 5);
    T_CHECK(memcmp(buf, "hello", 5) == 0);

    /* A write beyond the end leaves a hole that reads as zeros. */
    T_EQ(tr_write(fd, "tail", 4, 100), 4);
    struct stat st;
    T_EQ(fstat(fd, &st), 0);
    T_EQ(st.st_size, 104);
    memset(buf, 'x', sizeof buf);
    T_EQ(tr_read(fd, buf, 8, 11), 8);
    for (int i = 0; i < 8; i++)
        T_EQ(buf[i], 0);

    /* Explicit offsets neither use nor move the file position. */
    T_EQ(lseek(fd, 0, SEEK_CUR), 0);
    close(fd);
    return NULL;
}

static void test_offsets(void **state) {
    (void)state;
    io_run(offsets_task, NULL);
}

/* ---- -1: the file's current position -------------------------------------------------------
 */

static void *position_task(void *arg) {
    (void)arg;
    int fd = io_tmpfile();
    T_REQUIRE(fd >= 0);
    T_EQ(tr_write(fd, "abc", 3, -1), 3);
    T_EQ(lseek(fd, 0, SEEK_CUR), 3);
    T_EQ(tr_write(fd, "def", 3, -1), 3);
    T_EQ(lseek(fd, 0, SEEK_CUR), 6);

    char buf[16];
    memset(buf, 0, sizeof buf);
    T_EQ(tr_read(fd, buf, 6, 0), 6);
    T_CHECK(memcmp(buf, "abcdef", 6) == 0);
    T_EQ(lseek(fd, 0, SEEK_CUR), 6); /* the explicit offset left it alone */

    T_EQ(lseek(fd, 1, SEEK_SET), 1);
    memset(buf, 0, sizeof buf);
    T_EQ(tr_read(fd, buf, 2, -1), 2);
    T_CHECK(memcmp(buf, "bc", 2) == 0);
    T_EQ(lseek(fd, 0, SEEK_CUR), 3);
    memset(buf, 0, sizeof buf);
    T_EQ(tr_read(fd, buf, 10, -1), 3); /* short: only "def" is left */
    T_CHECK(memcmp(buf, "def", 3) == 0);
    T_EQ(tr_read(fd, buf, 10, -1), 0); /* at EOF */

    /* readv/writev at the current position too. */
    T_EQ(lseek(fd, 0, SEEK_SET), 0);
    char a[2] = {'1', '2'}, b[3] = {'3', '4', '5'};
    struct iovec wv[2] = {{a, sizeof a}, {b, sizeof b}};
    T_EQ(tr_writev(fd, wv, 2, -1), 5);
    T_EQ(lseek(fd, 0, SEEK_CUR), 5);
    char x[3], y[3];
    memset(x, 0, sizeof x);
    memset(y, 0, sizeof y);
    struct iovec rv[2] = {{x, sizeof x}, {y, sizeof y}};
    T_EQ(tr_readv(fd, rv, 2, -1), 1); /* only "f" after "12345" */
    T_EQ(x[0], 'f');
    T_EQ(lseek(fd, 0, SEEK_CUR), 6);
    close(fd);
    return NULL;
}

static void test_current_position(void **state) {
    (void)state;
    io_run(position_task, NULL);
}

/* ---- vectored I/O ----------------------------------------------------------------------------
 */

static void *vectored_task(void *arg) {
    (void)arg;
    int fd = io_tmpfile();
    T_REQUIRE(fd >= 0);
    char p1[] = "one-", p2[] = "two-", p3[] = "three";
    struct iovec wv[3] = {{p1, 4}, {p2, 4}, {p3, 5}};
    T_EQ(tr_writev(fd, wv, 3, 10), 13);

    char flat[32];
    memset(flat, 0, sizeof flat);
    T_EQ(pread(fd, flat, sizeof flat, 10), 13);
    T_CHECK(memcmp(flat, "one-two-three", 13) == 0);

    char r1[3], r2[5], r3[16];
    memset(r1, 0, sizeof r1);
    memset(r2, 0, sizeof r2);
    memset(r3, 0, sizeof r3);
    struct iovec rv[3] = {{r1, sizeof r1}, {r2, sizeof r2}, {r3, sizeof r3}};
    T_EQ(tr_readv(fd, rv, 3, 10), 13); /* asks for 24, 13 are there */
    T_CHECK(memcmp(r1, "one", 3) == 0);
    T_CHECK(memcmp(r2, "-two-", 5) == 0);
    T_CHECK(memcmp(r3, "three", 5) == 0);
    T_EQ(tr_readv(fd, rv, 3, 23), 0); /* EOF */
    T_EQ(tr_readv(fd, rv, 3, 4096), 0);
    close(fd);
    return NULL;
}

static void test_vectored(void **state) {
    (void)state;
    io_run(vectored_task, NULL);
}

/* ---- short reads, EOF, large transfers --------------------------------------------------------
 */

static void *short_read_task(void *arg) {
    (void)arg;
    int fd = io_tmpfile();
    T_REQUIRE(fd >= 0);
    T_EQ(tr_write(fd, "0123456789", 10, 0), 10);
    char buf[100];
    memset(buf, 0, sizeof buf);
    T_EQ(tr_read(fd, buf, sizeof buf, 0), 10);
    T_CHECK(memcmp(buf, "0123456789", 10) == 0);
    T_EQ(tr_read(fd, buf, sizeof buf, 7), 3);
    T_EQ(tr_read(fd, buf, sizeof buf, 10), 0);
    T_EQ(tr_read(fd, buf, sizeof buf, 1 << 20), 0);
    T_EQ(tr_read(fd, buf, 0, 0), 0); /* zero-length */

    /* A pipe: a read asking for more returns what is there. */
    int p[2];
    T_REQUIRE(pipe2(p, O_CLOEXEC) == 0);
    T_EQ(write(p[1], "abc", 3), 3);
    T_EQ(tr_read(p[0], buf, sizeof buf, -1), 3);
    close(p[1]);
    T_EQ(tr_read(p[0], buf, sizeof buf, -1), 0); /* writer gone: EOF */
    close(p[0]);
    close(fd);
    return NULL;
}

/* Lengths beyond what one call moves: clamped like read(2), never truncated to 32 bits. */
static void *huge_len_task(void *arg) {
    (void)arg;
    int fd = io_tmpfile();
    T_REQUIRE(fd >= 0);
    T_EQ(tr_write(fd, "eleven byte", 11, 0), 11);
    char buf[64];
    memset(buf, 0, sizeof buf);
    if (io_buffers_checked()) { /* only the bad counts and flags */
        T_EQ(tr_fsync(fd, 0x80), -EINVAL);
        close(fd);
        return NULL;
    }
    /* 4 GiB + 5: a 32-bit truncation would ask for 5 bytes. The kernel writes only what
     * the file has (11 bytes) into the 64-byte buffer. */
    T_EQ(tr_read(fd, buf, ((size_t)1 << 32) + 5, 0), 11);
    T_CHECK(memcmp(buf, "eleven byte", 11) == 0);
    memset(buf, 0, sizeof buf);
    T_EQ(tr_read(fd, buf, (size_t)1 << 32, 0), 11); /* a truncation would ask for 0 */

    /* iovcnt out of range. */
    struct iovec iov = {buf, sizeof buf};
    T_EQ(tr_readv(fd, &iov, -1, 0), -EINVAL);
    T_EQ(tr_writev(fd, &iov, 100000, 0), -EINVAL);
    T_EQ(tr_fsync(fd, 0x80), -EINVAL); /* unknown fsync flag */
    close(fd);
    return NULL;
}

static void test_huge_len(void **state) {
    (void)state;
    io_run(huge_len_task, NULL);
}

static void test_short_read_eof(void **state) {
    (void)state;
    io_run(short_read_task, NULL);
}

static void *large_task(void *arg) {
    (void)arg;
    size_t len = 4u << 20;
    unsigned char *out = malloc(len), *in = malloc(len);
    T_REQUIRE(out && in);
    for (size_t i = 0; i < len; i++)
        out[i] = (unsigned char)(i * 2654435761u >> 13);
    memset(in, 0, len);
    int fd = io_tmpfile();
    T_REQUIRE(fd >= 0);
    size_t done = 0;
    while (done < len) {
        int n = tr_write(fd, out + done, len - done, (int64_t)done);
        T_CHECK(n > 0);
        if (n <= 0)
            break;
        done += (size_t)n;
    }
    T_EQ(tr_fsync(fd, 0), 0);
    done = 0;
    while (done < len) {
        int n = tr_read(fd, in + done, len - done, (int64_t)done);
        T_CHECK(n > 0);
        if (n <= 0)
            break;
        done += (size_t)n;
    }
    T_CHECK(memcmp(in, out, len) == 0);
    close(fd);
    free(out);
    free(in);
    return NULL;
}

static void test_large(void **state) {
    (void)state;
    io_run(large_task, NULL);
}

/* ---- bad file descriptors --------------------------------------------------------------------
 */

static void *bad_fd_task(void *arg) {
    (void)arg;
    char buf[8] = {0};
    struct iovec iov = {buf, sizeof buf};
    T_EQ(tr_read(-1, buf, sizeof buf, 0), -EBADF);
    T_EQ(tr_write(-1, buf, sizeof buf, 0), -EBADF);
    T_EQ(tr_readv(-1, &iov, 1, 0), -EBADF);
    T_EQ(tr_writev(-1, &iov, 1, 0), -EBADF);
    T_EQ(tr_fsync(-1, 0), -EBADF);
    T_EQ(tr_close(-1), -EBADF);

    /* A number that was an fd a moment ago. */
    int fd = io_tmpfile();
    T_REQUIRE(fd >= 0);
    close(fd);
    T_EQ(tr_read(fd, buf, sizeof buf, 0), -EBADF);
    T_EQ(tr_write(fd, buf, sizeof buf, -1), -EBADF);
    T_EQ(tr_fsync(fd, 0), -EBADF);

    /* Open for the wrong direction. */
    char dir[256];
    T_REQUIRE(io_tmpdir(dir, sizeof dir) == 0);
    char path[300];
    snprintf(path, sizeof path, "%s/f", dir);
    int w = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    int r = open(path, O_RDONLY | O_CLOEXEC);
    T_REQUIRE(w >= 0 && r >= 0);
    T_EQ(tr_read(w, buf, sizeof buf, 0), -EBADF);
    T_EQ(tr_write(r, buf, sizeof buf, 0), -EBADF);
    T_EQ(tr_writev(r, &iov, 1, 0), -EBADF);
    T_EQ(tr_readv(w, &iov, 1, 0), -EBADF);
    close(w);
    close(r);
    unlink(path);
    rmdir(dir);
    return NULL;
}

static void test_bad_fd(void **state) {
    (void)state;
    io_run(bad_fd_task, NULL);
}

/* ---- openat, close, fsync --------------------------------------------------------------------
 */

static void *openat_task(void *arg) {
    (void)arg;
    char dir[256];
    T_REQUIRE(io_tmpdir(dir, sizeof dir) == 0);
    char path[300];
    snprintf(path, sizeof path, "%s/created", dir);

    int fd = tr_openat(AT_FDCWD, path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
    T_REQUIRE(fd >= 0);
    struct stat st;
    T_EQ(fstat(fd, &st), 0);
    T_EQ(st.st_mode & 0777, 0640); /* the test clears the umask */
    T_EQ(fcntl(fd, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
    T_EQ(tr_write(fd, "data", 4, 0), 4);
    T_EQ(tr_fsync(fd, 0), 0);
    T_EQ(tr_close(fd), 0);
    T_EQ(fcntl(fd, F_GETFD), -1); /* really closed */
    T_EQ(tr_close(fd), -EBADF);   /* twice */

    /* O_EXCL on an existing file, a missing file, a relative path under a dirfd. */
    T_EQ(tr_openat(AT_FDCWD, path, O_RDWR | O_CREAT | O_EXCL, 0600), -EEXIST);
    char missing[320];
    snprintf(missing, sizeof missing, "%s/missing", dir);
    T_EQ(tr_openat(AT_FDCWD, missing, O_RDONLY, 0), -ENOENT);
    int dfd = tr_openat(AT_FDCWD, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
    T_REQUIRE(dfd >= 0);
    int rfd = tr_openat(dfd, "created", O_RDONLY | O_CLOEXEC, 0);
    T_REQUIRE(rfd >= 0);
    char buf[8] = {0};
    T_EQ(tr_read(rfd, buf, sizeof buf, 0), 4);
    T_CHECK(memcmp(buf, "data", 4) == 0);
    T_EQ(tr_fsync(rfd, IORING_FSYNC_DATASYNC), 0);
    T_EQ(tr_openat(-1, "created", O_RDONLY, 0), -EBADF); /* relative path, bad dirfd */
    T_EQ(tr_openat(rfd, "x", O_RDONLY, 0), -ENOTDIR);

    /* A NULL path is -EFAULT, never a crash. */
    T_EQ(tr_openat(AT_FDCWD, NULL, O_RDONLY, 0), -EFAULT);
    T_EQ(tr_openat(dfd, NULL, O_RDONLY, 0), -EFAULT);

    T_EQ(tr_close(rfd), 0);
    T_EQ(tr_close(dfd), 0);
    unlink(path);
    rmdir(dir);
    return NULL;
}

static void test_openat_close_fsync(void **state) {
    (void)state;
    mode_t old = umask(0);
    io_run(openat_task, NULL);
    umask(old);
}

/* ---- outside a task ------------------------------------------------------------------------
 */

static void test_outside_task(void **state) {
    (void)state;
    int fd = io_tmpfile();
    assert_true(fd >= 0);
    char buf[8] = {0};
    struct iovec iov = {buf, sizeof buf};
    assert_int_equal(tr_read(fd, buf, sizeof buf, 0), -EPERM);
    assert_int_equal(tr_write(fd, buf, sizeof buf, 0), -EPERM);
    assert_int_equal(tr_readv(fd, &iov, 1, 0), -EPERM);
    assert_int_equal(tr_writev(fd, &iov, 1, 0), -EPERM);
    assert_int_equal(tr_fsync(fd, 0), -EPERM);
    assert_int_equal(tr_openat(AT_FDCWD, "/", O_RDONLY, 0), -EPERM);
    assert_int_equal(tr_nop(), -EPERM);
    /* Nothing happened to the file: it is still open and empty. */
    assert_int_equal(fcntl(fd, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
    assert_int_equal(lseek(fd, 0, SEEK_END), 0);
    /* tr_close is cleanup, which must not fail: outside a task it closes with close(2). */
    assert_int_equal(tr_close(fd), 0);
    assert_int_equal(fcntl(fd, F_GETFD), -1);
}

int main(int argc, char **argv) {
    io_parse_args(&argc, argv);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_offsets, io_setup),
        cmocka_unit_test_setup(test_current_position, io_setup),
        cmocka_unit_test_setup(test_vectored, io_setup),
        cmocka_unit_test_setup(test_short_read_eof, io_setup),
        cmocka_unit_test_setup(test_large, io_setup),
        cmocka_unit_test_setup(test_huge_len, io_setup),
        cmocka_unit_test_setup(test_bad_fd, io_setup),
        cmocka_unit_test_setup(test_openat_close_fsync, io_setup),
        cmocka_unit_test_setup(test_outside_task, io_setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
