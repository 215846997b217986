/*
 * io_calls.c - the fiber-blocking I/O calls (tr_read ... tr_nop): each describes itself in an
 * io_req and hands it to its loop's backend (backend.h), which runs it to its end; each returns
 * the result as the kernel gave it (io_uring's CQE, or the syscall's return on epoll).
 */
#include "io.h"

#include <errno.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>
#include <valgrind/memcheck.h>

/* Describe the call to the loop's backend and run it for the calling task. */
static int io_run(struct io_req *req) {
    struct tr_loop *loop;
    tr_task *self = calling_task(&loop);
    if (!self)
        return -EPERM;
    return loop->be->io(loop, self, req);
}

#define IO_REQ(...) (&(struct io_req){__VA_ARGS__})

/*
 * Valgrind cannot see the kernel write into a buffer through io_uring, so it would call
 * received bytes uninitialised. Tell it, for what the completion says was written (on epoll
 * it saw the syscall: this changes nothing). Client requests cost a few instructions outside
 * valgrind.
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

TR_EXPORT int tr_read(int fd, void *buf, size_t len, int64_t offset) {
    int res =
        io_run(IO_REQ(.kind = IO_READ, .fd = fd, .p = buf, .len = io_len(len), .off = offset));
    written(buf, res);
    return res;
}

TR_EXPORT int tr_write(int fd, const void *buf, size_t len, int64_t offset) {
    return io_run(
        IO_REQ(.kind = IO_WRITE, .fd = fd, .p = (void *)buf, .len = io_len(len), .off = offset));
}

TR_EXPORT int tr_readv(int fd, const struct iovec *iov, int iovcnt, int64_t offset) {
    int res = io_run(IO_REQ(.kind = IO_READV, .fd = fd, .p = (void *)iov, .len = (unsigned)iovcnt,
                            .off = offset));
    written_iov(iov, iovcnt, res);
    return res;
}

TR_EXPORT int tr_writev(int fd, const struct iovec *iov, int iovcnt, int64_t offset) {
    return io_run(IO_REQ(.kind = IO_WRITEV, .fd = fd, .p = (void *)iov, .len = (unsigned)iovcnt,
                         .off = offset));
}

TR_EXPORT int tr_recv(int fd, void *buf, size_t len, int flags) {
    int res =
        io_run(IO_REQ(.kind = IO_RECV, .fd = fd, .p = buf, .len = io_len(len), .flags = flags));
    written(buf, res);
    return res;
}

TR_EXPORT int tr_send(int fd, const void *buf, size_t len, int flags) {
    return io_run(
        IO_REQ(.kind = IO_SEND, .fd = fd, .p = (void *)buf, .len = io_len(len), .flags = flags));
}

TR_EXPORT int tr_recvmsg(int fd, struct msghdr *msg, int flags) {
    int res = io_run(IO_REQ(.kind = IO_RECVMSG, .fd = fd, .p = msg, .flags = flags));
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
    return io_run(IO_REQ(.kind = IO_SENDMSG, .fd = fd, .p = (void *)msg, .flags = flags));
}

TR_EXPORT int tr_accept(int fd, struct sockaddr *addr, unsigned *addrlen, int flags) {
    int res = io_run(IO_REQ(.kind = IO_ACCEPT, .fd = fd, .p = addr, .p2 = addrlen, .flags = flags));
    if (res >= 0 && addr && addrlen) {
        VALGRIND_MAKE_MEM_DEFINED(addrlen, sizeof *addrlen);
        VALGRIND_MAKE_MEM_DEFINED(addr, *addrlen);
    }
    return res;
}

TR_EXPORT int tr_connect(int fd, const struct sockaddr *addr, unsigned addrlen) {
    return io_run(IO_REQ(.kind = IO_CONNECT, .fd = fd, .p = (void *)addr, .len = addrlen));
}

TR_EXPORT int tr_shutdown(int fd, int how) {
    return io_run(IO_REQ(.kind = IO_SHUTDOWN, .fd = fd, .flags = how));
}

TR_EXPORT int tr_openat(int dirfd, const char *path, int flags, unsigned mode) {
    if (!path)
        return -EFAULT;
    return io_run(
        IO_REQ(.kind = IO_OPENAT, .fd = dirfd, .p = (void *)path, .flags = flags, .len = mode));
}

/* Closing is cleanup: it must work in a task that is being cancelled or whose deadline
 * has passed, so then the fd is closed at once, without the backend. */
TR_EXPORT int tr_close(int fd) {
    struct tr_loop *loop;
    tr_task *self = calling_task(&loop);
    if (!self || wait_admit(self) < 0) /* the backend would refuse: close it here and now */
        return close(fd) == 0 ? 0 : -errno;
    struct io_req req = {.kind = IO_CLOSE, .fd = fd};
    int res = loop->be->io(loop, self, &req);
    /* Never handed over (no record, no SQE), or cancelled (or timed out) before it ran: the
     * fd is still open. */
    if (!req.started || res == -ECANCELED || res == -ETIME)
        res = close(fd) == 0 ? 0 : -errno;
    return res;
}

TR_EXPORT int tr_fsync(int fd, unsigned flags) {
    return io_run(IO_REQ(.kind = IO_FSYNC, .fd = fd, .flags = (int)flags));
}

TR_EXPORT int tr_poll(int fd, unsigned events) {
    return io_run(IO_REQ(.kind = IO_POLL, .fd = fd, .flags = (int)events));
}

TR_EXPORT int tr_nop(void) {
    return io_run(IO_REQ(.kind = IO_NOP));
}
