/*
 * tr_read and tr_write on a regular file move the whole length (up to EOF), as io_uring does:
 * it finishes a short non-blocking transfer of a regular file on its worker. The epoll backend
 * tries RWF_NOWAIT first, which reads what the page cache holds and stops at the first page it
 * does not: here the first 64 KiB of a 4 MiB file are cached and the rest dropped, and
 * tr_read / tr_readv returned 64 KiB. A program that takes a short read of a file for its end
 * would stop there. Also: a regular file opened O_NONBLOCK (O_NONBLOCK means nothing to it)
 * is written on a worker, never on the loop thread (the job hook counts worker jobs).
 */
#include "regress.h"

#include "test_hooks.h"

#include <stdatomic.h>
#include <sys/uio.h>

enum { SIZE = 4 << 20, CACHED = 64 << 10 };

static int file = -1;
static char data[SIZE], got[SIZE];
static atomic_int jobs;

static void count_job(void) {
    atomic_fetch_add(&jobs, 1);
}

static void drop_cache(void) {
    CHECK_EQ(fsync(file), 0);
    CHECK_EQ(posix_fadvise(file, 0, SIZE, POSIX_FADV_DONTNEED), 0);
    static char head[CACHED];
    CHECK_EQ(pread(file, head, CACHED, 0), CACHED); /* only the head is cached now */
}

static void *main_task(void *arg) {
    (void)arg;
    drop_cache();
    memset(got, 0, sizeof got);
    CHECK_EQ(tr_read(file, got, SIZE, 0), SIZE);
    CHECK(memcmp(got, data, SIZE) == 0);

    drop_cache();
    memset(got, 0, sizeof got);
    struct iovec iov[3] = {{got, CACHED / 2},
                           {got + CACHED / 2, SIZE / 2},
                           {got + CACHED / 2 + SIZE / 2, SIZE / 2 - CACHED / 2}};
    CHECK_EQ(tr_readv(file, iov, 3, 0), SIZE);
    CHECK(memcmp(got, data, SIZE) == 0);

    /* The file position: a short first try continues from where it stopped. */
    drop_cache();
    memset(got, 0, sizeof got);
    CHECK_EQ(lseek(file, 0, SEEK_SET), 0);
    CHECK_EQ(tr_read(file, got, SIZE, -1), SIZE);
    CHECK(memcmp(got, data, SIZE) == 0);
    CHECK_EQ(lseek(file, 0, SEEK_CUR), SIZE);
    return NULL;
}

static void *nonblock_task(void *arg) {
    const char *path = arg;
    int fd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    CHECK(fd >= 0);
    /* Does this file system write without blocking (RWF_NOWAIT)? If not (ext4 says
     * EOPNOTSUPP for buffered writes), the write must go to a worker. */
    struct iovec one = {data, 1};
    bool nowait = pwritev2(fd, &one, 1, 0, RWF_NOWAIT) == 1;
    int before = atomic_load(&jobs);
    CHECK_EQ(tr_write(fd, data, CACHED, 0), CACHED);
    if (tr_loop_backend(0) == TR_BACKEND_EPOLL && !nowait)
        CHECK_EQ(atomic_load(&jobs), before + 1); /* on a worker, not the loop thread */
    close(fd);
    return NULL;
}

int main(void) {
    char path[] = "/var/tmp/taskring_short_XXXXXX";
    file = mkstemp(path);
    if (file < 0)
        return skip_because("no temporary file in /var/tmp");
    for (int i = 0; i < SIZE; i++)
        data[i] = (char)('a' + (i * 7) % 26);
    CHECK_EQ(write(file, data, SIZE), SIZE);
    CHECK_EQ(tr_run(main_task, NULL, NULL), 0);
    workers_set_job_hook(count_job);
    CHECK_EQ(tr_run(nonblock_task, path, NULL), 0);
    workers_set_job_hook(NULL);
    unlink(path);
    close(file);
    return 0;
}
