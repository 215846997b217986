/*
 * A file read that runs on the worker pool (the epoll backend's way with a regular file whose
 * pages are not cached) is cancelled while a worker has it. The call must return only once the
 * worker's read has returned, with what it read (bytes moved are never dropped), so that the
 * buffer on the task's stack is never written after the call. A second read, cancelled while
 * still queued behind the first (one worker), is taken back and returns -ECANCELED at once,
 * its buffer untouched. A regular file's read cannot be made to block, so the worker is parked
 * before it runs the job (test_hooks.h). On io_uring the kernel reads: the same program checks
 * that both calls end with their bytes or -ECANCELED. (The test used a blocking pty before;
 * that now waits for readiness on epoll, as on io_uring: tests/io/blocking_tty_read_cancels.)
 */
#include "regress.h"

#include "test_hooks.h"

#include <stdatomic.h>
#include <sys/stat.h>

enum { SIZE = 1 << 16, LEN = 16 };

static int file = -1;
static atomic_int parked, released;

/* The first job parks its worker until released (5 s at most: a broken test must end). */
static void park(void) {
    if (atomic_fetch_add(&parked, 1) != 0)
        return;
    for (int i = 0; i < 5000 && !atomic_load(&released); i++)
        usleep(1000);
}

struct reader {
    int64_t off;
    char buf[LEN];
    int res;
    bool returned;
};

static void *read_task(void *arg) {
    struct reader *r = arg;
    r->res = tr_read(file, r->buf, sizeof r->buf, r->off);
    r->returned = true;
    return NULL;
}

static bool untouched(const char *buf) {
    for (int i = 0; i < LEN; i++)
        if (buf[i] != 'Z')
            return false;
    return true;
}

static char expected(int64_t off, int i) {
    return (char)('a' + (off + i) % 26);
}

static int skipped;

static void *main_task(void *arg) {
    (void)arg;
    struct reader a = {.off = 0}, b = {.off = SIZE / 2};
    memset(a.buf, 'Z', LEN);
    memset(b.buf, 'Z', LEN);
    tr_task *ta = tr_spawn(read_task, &a);
    CHECK(ta);
    tr_sleep(1000000);
    tr_task *tb = tr_spawn(read_task, &b);
    CHECK(tb);
    bool epoll = tr_loop_backend(0) == TR_BACKEND_EPOLL;
    for (int i = 0; i < 2000 && epoll && !atomic_load(&parked); i++)
        tr_sleep(1000000);
    if (epoll && (!atomic_load(&parked) || a.returned)) {
        skipped = 1; /* the page cache served it without a worker: nothing to check here */
        atomic_store(&released, 1);
    }
    tr_sleep(5000000); /* b is queued behind a (one worker) */
    tr_task_cancel(tb);
    tr_task_cancel(ta);
    for (int i = 0; i < 2000 && !b.returned; i++)
        tr_sleep(1000000);
    CHECK(b.returned);
    if (epoll && !skipped) {
        CHECK_EQ(b.res, -ECANCELED); /* taken back before any worker read for it */
        CHECK(untouched(b.buf));
        tr_sleep(20000000);
        CHECK(!a.returned); /* its worker still has it: the call waits */
        CHECK(untouched(a.buf));
        atomic_store(&released, 1);
    }
    tr_await(ta, NULL);
    tr_await(tb, NULL);
    CHECK(a.returned);
    struct reader *both[] = {&a, &b};
    for (int k = 0; k < 2; k++) {
        struct reader *r = both[k];
        if (r->res == -ECANCELED) {
            CHECK(!(epoll && !skipped && r == &a)); /* epoll: a worker read it, it is kept */
            continue;
        }
        CHECK_EQ(r->res, LEN); /* the bytes are kept */
        for (int i = 0; i < LEN; i++)
            CHECK_EQ(r->buf[i], expected(r->off, i));
    }
    tr_task_release(ta);
    tr_task_release(tb);
    return NULL;
}

int main(void) {
    char path[] = "/var/tmp/taskring_worker_XXXXXX";
    file = mkstemp(path);
    if (file < 0)
        return skip_because("no temporary file in /var/tmp");
    unlink(path);
    static char data[SIZE];
    for (int i = 0; i < SIZE; i++)
        data[i] = expected(0, i);
    CHECK_EQ(write(file, data, SIZE), SIZE);
    CHECK_EQ(fsync(file), 0);
    CHECK_EQ(posix_fadvise(file, 0, SIZE, POSIX_FADV_DONTNEED), 0); /* not cached: a worker */
    workers_set_job_hook(park);
    tr_options o = {.size = sizeof o, .workers = 1};
    CHECK_EQ(tr_run_with(&o, main_task, NULL, NULL), 0);
    workers_set_job_hook(NULL);
    close(file);
    if (skipped)
        return skip_because("the page cache served the read (no worker)");
    return 0;
}
