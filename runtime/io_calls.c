/*
 * io_calls.c - the fiber-blocking I/O calls (tr_read ... tr_nop): each prepares one SQE and
 * waits for its completion through io_op.c; each returns the completion's result as the
 * kernel gave it.
 */
#include "io.h"

#include <errno.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>
#include <valgrind/memcheck.h>

#define IO_CALL(prep) return IO_RUN(prep)

/*
 * Valgrind cannot see the kernel write into a buffer through io_uring, so it would call
 * received bytes uninitialised. Tell it, for what the completion says was written. (Client
 * requests cost a few instructions outside valgrind.)
 */
static void written(const void *buf, int res) {
    if (res > 0)
        VALGRIND_MAKE_MEM_DEFINED(buf, (size_t)res);
}

static void written_iov(const struct iovec *iov, int iovcnt, int res) {
    for (int i = 0; i < iovcnt && res > 0; i++) {
        size_t n = iov[i].iov_len < (size_t)res ? iov[i].iov_len : (size_t)res;
        VALGRIND_MAKE_MEM_DEFINED(iov[i].iov_base, n);
        res -= (int)n;
    }
}

/* The kernel moves at most this much per read or write (MAX_RW_COUNT), and a CQE's result
 * is 32 bits: longer requests are clamped, and return a short count like read(2). */
static unsigned io_len(size_t len) {
    return len > 0x7ffff000u ? 0x7ffff000u : (unsigned)len;
}

static uint64_t file_offset(int64_t offset) {
    return offset < 0 ? (uint64_t)-1 : (uint64_t)offset;
}

TR_EXPORT int tr_read(int fd, void *buf, size_t len, int64_t offset) {
    int res = IO_RUN(io_uring_prep_read(sqe, fd, buf, io_len(len), file_offset(offset)));
    written(buf, res);
    return res;
}

TR_EXPORT int tr_write(int fd, const void *buf, size_t len, int64_t offset) {
    IO_CALL(io_uring_prep_write(sqe, fd, buf, io_len(len), file_offset(offset)));
}

TR_EXPORT int tr_readv(int fd, const struct iovec *iov, int iovcnt, int64_t offset) {
    int res = IO_RUN(io_uring_prep_readv(sqe, fd, iov, (unsigned)iovcnt, file_offset(offset)));
    written_iov(iov, iovcnt, res);
    return res;
}

TR_EXPORT int tr_writev(int fd, const struct iovec *iov, int iovcnt, int64_t offset) {
    IO_CALL(io_uring_prep_writev(sqe, fd, iov, (unsigned)iovcnt, file_offset(offset)));
}

TR_EXPORT int tr_recv(int fd, void *buf, size_t len, int flags) {
    int res = IO_RUN(io_uring_prep_recv(sqe, fd, buf, io_len(len), flags));
    written(buf, res);
    return res;
}

TR_EXPORT int tr_send(int fd, const void *buf, size_t len, int flags) {
    IO_CALL(io_uring_prep_send(sqe, fd, buf, io_len(len), flags));
}

TR_EXPORT int tr_recvmsg(int fd, struct msghdr *msg, int flags) {
    int res = IO_RUN(io_uring_prep_recvmsg(sqe, fd, msg, (unsigned)flags));
    if (res >= 0 && msg) {
        VALGRIND_MAKE_MEM_DEFINED(msg, sizeof *msg);
        if (msg->msg_name)
            VALGRIND_MAKE_MEM_DEFINED(msg->msg_name, msg->msg_namelen);
        if (msg->msg_control)
            VALGRIND_MAKE_MEM_DEFINED(msg->msg_control, msg->msg_controllen);
        written_iov(msg->msg_iov, (int)msg->msg_iovlen, res);
    }
    return res;
}

TR_EXPORT int tr_sendmsg(int fd, const struct msghdr *msg, int flags) {
    IO_CALL(io_uring_prep_sendmsg(sqe, fd, msg, (unsigned)flags));
}

TR_EXPORT int tr_accept(int fd, struct sockaddr *addr, unsigned *addrlen, int flags) {
    int res = IO_RUN(io_uring_prep_accept(sqe, fd, addr, addrlen, flags));
    if (res >= 0 && addr && addrlen) {
        VALGRIND_MAKE_MEM_DEFINED(addrlen, sizeof *addrlen);
        VALGRIND_MAKE_MEM_DEFINED(addr, *addrlen);
    }
    return res;
}

TR_EXPORT int tr_connect(int fd, const struct sockaddr *addr, unsigned addrlen) {
    IO_CALL(io_uring_prep_connect(sqe, fd, addr, addrlen));
}

TR_EXPORT int tr_shutdown(int fd, int how) {
    IO_CALL(io_uring_prep_shutdown(sqe, fd, how));
}

TR_EXPORT int tr_openat(int dirfd, const char *path, int flags, unsigned mode) {
    if (!path)
        return -EFAULT;
    IO_CALL(io_uring_prep_openat(sqe, dirfd, path, flags, mode));
}

/* Closing is cleanup: it must work in a task that is being cancelled or whose deadline
 * has passed, so then the fd is closed at once, without the ring. */
TR_EXPORT int tr_close(int fd) {
    struct tr_loop *loop;
    tr_task *self = calling_task(&loop);
    if (!self || wait_admit(self) < 0) /* the ring would refuse: close it here and now */
        return close(fd) == 0 ? 0 : -errno;
    struct io_call call;
    int res = io_begin(&call);
    if (res < 0) /* no record or no SQE: closing must not fail for that */
        return close(fd) == 0 ? 0 : -errno;
    io_uring_prep_close(call.sqe, fd);
    res = io_wait(&call);
    /* Cancelled (or timed out) before the kernel ran it: the fd is still open. */
    if (res == -ECANCELED || res == -ETIME)
        res = close(fd) == 0 ? 0 : -errno;
    return res;
}

TR_EXPORT int tr_fsync(int fd, unsigned flags) {
    IO_CALL(io_uring_prep_fsync(sqe, fd, flags));
}

TR_EXPORT int tr_poll(int fd, unsigned events) {
    IO_CALL(io_uring_prep_poll_add(sqe, fd, events));
}

TR_EXPORT int tr_nop(void) {
    IO_CALL(io_uring_prep_nop(sqe));
}
