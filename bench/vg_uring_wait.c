/*
 * vg_uring_wait.c - lets valgrind 3.19 (Debian 12's) run a runtime of several loops, for
 * counting instructions with callgrind (docs/performance.md, "Loops").
 *
 * That valgrind does not treat io_uring_enter as a call that may block: a thread that sleeps
 * in it keeps valgrind's big lock, so no other thread runs, nobody rings the doorbell that
 * would wake it, and a runtime of two loops hangs as soon as one loop waits. Preloaded into the
 * program under valgrind (LD_PRELOAD=.../libtaskring_vg_wait.so valgrind ...), this replaces
 * liburing's two waiting calls (valgrind function wrapping) with a wait that polls: submit and
 * flush completions without waiting (io_uring_enter without min_complete), then sched_yield
 * (which valgrind does treat as a point to run another thread) until enough CQEs are there or
 * the timeout passes. Nothing else changes. Its instructions are all inside the two wrappers
 * (which callgrind names io_uring_submit_and_wait[_timeout] in this library) and the libc
 * calls they make (syscall, sched_yield, clock_gettime), so a profile can leave them out.
 *
 * Useless and harmless without valgrind: the wrappers only take effect under it.
 */
#include <errno.h>
#include <liburing.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <valgrind/valgrind.h>

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* liburing's own SQ flush (__io_uring_flush_sq, not exported): publish the SQEs prepared
 * since the last one; how many the kernel has not consumed yet. */
static unsigned flush_sq(struct io_uring *ring) {
    struct io_uring_sq *sq = &ring->sq;
    unsigned tail = sq->sqe_tail;
    if (sq->sqe_head != tail) {
        sq->sqe_head = tail;
        io_uring_smp_store_release(sq->ktail, tail);
    }
    return tail - io_uring_smp_load_acquire(sq->khead);
}

/* One io_uring_enter that submits what is pending and runs deferred completions, never
 * waiting; through libc's syscall(), so that a profile can tell it from the runtime's calls. */
static int enter_nowait(struct io_uring *ring) {
    unsigned n = flush_sq(ring);
    long rc = syscall(__NR_io_uring_enter, ring->ring_fd, n, 0, IORING_ENTER_GETEVENTS, NULL,
                      (size_t)_NSIG / 8);
    return rc < 0 ? -errno : (int)rc;
}

/* Submit what is pending, then poll until wait_nr CQEs are ready or ts (if any) passes.
 * Returns the submitted count, or -ETIME, or a submission error. */
static int wait_polling(struct io_uring *ring, unsigned wait_nr, struct __kernel_timespec *ts) {
    uint64_t deadline = UINT64_MAX;
    if (ts)
        deadline = now_ns() + (uint64_t)ts->tv_sec * 1000000000u + (uint64_t)ts->tv_nsec;
    int submitted = enter_nowait(ring);
    if (submitted < 0 && submitted != -EINTR)
        return submitted;
    if (submitted < 0)
        submitted = 0;
    while (io_uring_cq_ready(ring) < wait_nr) {
        if (now_ns() >= deadline)
            return -ETIME;
        sched_yield();
        int rc = enter_nowait(ring);
        if (rc < 0 && rc != -EINTR)
            return rc;
        submitted += rc > 0 ? rc : 0;
    }
    return submitted;
}

int I_WRAP_SONAME_FNNAME_ZU(liburingZdsoZa, io_uring_submit_and_wait_timeout)(
    struct io_uring *ring, struct io_uring_cqe **cqe_ptr, unsigned wait_nr,
    struct __kernel_timespec *ts, sigset_t *sigmask);
int I_WRAP_SONAME_FNNAME_ZU(liburingZdsoZa, io_uring_submit_and_wait_timeout)(
    struct io_uring *ring, struct io_uring_cqe **cqe_ptr, unsigned wait_nr,
    struct __kernel_timespec *ts, sigset_t *sigmask) {
    (void)sigmask;
    int rc = wait_polling(ring, wait_nr, ts);
    if (rc >= 0 && wait_nr && io_uring_peek_cqe(ring, cqe_ptr) < 0)
        *cqe_ptr = NULL;
    return rc;
}

int I_WRAP_SONAME_FNNAME_ZU(liburingZdsoZa, io_uring_submit_and_wait)(struct io_uring *ring,
                                                                      unsigned wait_nr);
int I_WRAP_SONAME_FNNAME_ZU(liburingZdsoZa, io_uring_submit_and_wait)(struct io_uring *ring,
                                                                      unsigned wait_nr) {
    return wait_polling(ring, wait_nr, NULL);
}
