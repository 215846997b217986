/*
 * io.c - fiber-blocking I/O: one io_uring operation per call, the calling task suspended
 * until its completion.
 *
 * Owns the operation record (struct io_op) and what a completion's user_data means. The
 * record is the thing the kernel refers to, so it must outlive every completion that names
 * it, whatever happens to the task: it counts the CQEs it still expects (the operation's,
 * and its linked timeout's when a deadline scope is active) plus one for the waiting task,
 * and goes back to the loop's pool only when all are in.
 *
 * Cancelling a task that waits here submits IORING_OP_ASYNC_CANCEL for its operation and
 * does not wake the task: the operation's own completion does, once the kernel has let go
 * of the buffer. So a cancelled tr_recv never returns while the kernel can still write into
 * memory the task is about to reuse.
 *
 * user_data = record address | tag (records are 8-byte aligned).
 */
#include "fiber.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>
#include <valgrind/memcheck.h>

enum {
    TAG_OP = 0,       /* the operation itself */
    TAG_TIMEOUT = 1,  /* its linked timeout */
    TAG_CANCEL = 2,   /* an ASYNC_CANCEL request: nothing to do on completion */
    TAG_LISTENER = 3, /* a listener's multishot accept */
    TAG_MASK = 7,
};

enum { OPS_PER_SLAB = 256 };

struct io_op {
    tr_task *task;                     /* the waiting task; NULL once it has taken the result */
    int result;                        /* the operation's CQE res */
    uint8_t refs;                      /* CQEs still expected + 1 while the task waits */
    bool completed;                    /* the operation's CQE is in */
    struct __kernel_timespec deadline; /* read by the kernel at submission */
    struct io_op *next_free;
};

struct io_op_slab {
    struct io_op_slab *next;
    struct io_op ops[OPS_PER_SLAB];
};

static struct io_op *op_alloc(struct tr_loop *loop) {
    if (!loop->io_free) {
        struct io_op_slab *slab = malloc(sizeof *slab);
        if (!slab)
            return NULL;
        slab->next = loop->io_slabs;
        loop->io_slabs = slab;
        for (int i = 0; i < OPS_PER_SLAB; i++) {
            slab->ops[i].next_free = loop->io_free;
            loop->io_free = &slab->ops[i];
        }
    }
    struct io_op *op = loop->io_free;
    loop->io_free = op->next_free;
    memset(op, 0, sizeof *op);
    return op;
}

static void op_unref(struct tr_loop *loop, struct io_op *op) {
    if (--op->refs == 0) {
        op->next_free = loop->io_free;
        loop->io_free = op;
    }
}

static void listeners_free_all(struct tr_loop *loop);
static void listeners_stop(struct tr_loop *loop);

void io_pool_destroy(struct tr_loop *loop) {
    listeners_free_all(loop);
    struct io_op_slab *s = loop->io_slabs;
    while (s) {
        struct io_op_slab *next = s->next;
        free(s);
        s = next;
    }
    loop->io_slabs = NULL;
    loop->io_free = NULL;
}

struct io_uring_sqe *io_get_sqe(struct tr_loop *loop) {
    struct io_uring_sqe *sqe = io_uring_get_sqe(&loop->ring);
    if (!sqe) {
        /* The SQ is full within one turn: send what is queued and take a fresh slot. */
        io_uring_submit(&loop->ring);
        sqe = io_uring_get_sqe(&loop->ring);
    }
    return sqe;
}

/* One call in the making: its task, its record, and the SQEs reserved for it. */
struct io_call {
    struct tr_loop *loop;
    tr_task *self;
    struct io_op *op;
    struct io_uring_sqe *sqe;
    struct io_uring_sqe *timeout_sqe; /* when a deadline scope is active */
};

/*
 * Check the calling task, take a record, and reserve every SQE the call needs at once: the
 * operation's and, inside a deadline scope, its linked timeout's. Reserving them together
 * matters: submitting the queue between the two would send the operation to the kernel
 * before its user_data and link flag are set.
 */
static int io_begin(struct io_call *c) {
    struct tr_loop *loop;
    tr_task *self = calling_task(&loop);
    if (!self)
        return -EPERM;
    if (self->cancel_requested)
        return -ECANCELED;
    if (self->scope_deadline_ns && loop_clock_ns() >= self->scope_deadline_ns)
        return -ETIME;
    unsigned need = self->scope_deadline_ns ? 2 : 1;
    if (io_uring_sq_space_left(&loop->ring) < need)
        io_uring_submit(&loop->ring);
    if (io_uring_sq_space_left(&loop->ring) < need)
        return -EBUSY;
    c->op = op_alloc(loop);
    if (!c->op)
        return -ENOMEM;
    c->loop = loop;
    c->self = self;
    c->sqe = io_uring_get_sqe(&loop->ring);
    c->timeout_sqe = need == 2 ? io_uring_get_sqe(&loop->ring) : NULL;
    return 0;
}

/* Attach the record (and the linked timeout), suspend until the operation completes, and
 * return its result. */
static int io_wait(struct io_call *c) {
    struct tr_loop *loop = c->loop;
    tr_task *self = c->self;
    struct io_op *op = c->op;
    op->task = self;
    op->refs = 2; /* the operation's CQE + the waiting task */
    io_uring_sqe_set_data(c->sqe, op);
    if (c->timeout_sqe) {
        c->sqe->flags |= IOSQE_IO_LINK;
        op->deadline.tv_sec = (long long)(self->scope_deadline_ns / 1000000000u);
        op->deadline.tv_nsec = (long long)(self->scope_deadline_ns % 1000000000u);
        io_uring_prep_link_timeout(c->timeout_sqe, &op->deadline, IORING_TIMEOUT_ABS);
        io_uring_sqe_set_data64(c->timeout_sqe, (uint64_t)(uintptr_t)op | TAG_TIMEOUT);
        op->refs++;
        loop->inflight++;
    }
    loop->inflight++;
    self->io_op = op;
    self->wait = WAIT_IO;
    atomic_store_explicit(&self->state, TASK_SUSPENDED, memory_order_relaxed);
    fiber_suspend(loop);

    int res = op->result;
    self->io_op = NULL;
    op->task = NULL;
    op_unref(loop, op);
    /* With a linked timeout, -ECANCELED that the task did not ask for is the deadline. */
    if (res == -ECANCELED && c->timeout_sqe && !self->cancel_requested)
        res = -ETIME;
    return res;
}

void io_cancel_task_op(struct tr_loop *loop, tr_task *t) {
    struct io_uring_sqe *sqe = io_get_sqe(loop);
    if (!sqe)
        return; /* the operation will complete by itself; the task sees -ECANCELED later */
    io_uring_prep_cancel64(sqe, (uint64_t)(uintptr_t)t->io_op, 0);
    io_uring_sqe_set_data64(sqe, TAG_CANCEL);
    loop->inflight++;
}

static void listener_complete(struct tr_loop *loop, tr_listener *l, int res, unsigned flags);

void io_complete(struct tr_loop *loop, uint64_t user_data, int res, unsigned flags) {
    void *ptr = (void *)(uintptr_t)(user_data & ~(uint64_t)TAG_MASK);
    switch (user_data & TAG_MASK) {
    case TAG_OP: {
        struct io_op *op = ptr;
        op->result = res;
        op->completed = true;
        if (op->task)
            fiber_wake(loop, op->task, 0);
        op_unref(loop, op);
        break;
    }
    case TAG_TIMEOUT:
        op_unref(loop, ptr);
        break;
    case TAG_LISTENER:
        listener_complete(loop, ptr, res, flags);
        return; /* multishot: counts its own in-flight state */
    default:
        break;
    }
    loop->inflight--;
}

void io_drain(struct tr_loop *loop) {
    listeners_stop(loop);
    if (!loop->inflight)
        return;
    struct io_uring_sqe *sqe = io_get_sqe(loop);
    if (sqe) {
        io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ANY | IORING_ASYNC_CANCEL_ALL);
        io_uring_sqe_set_data64(sqe, TAG_CANCEL);
        loop->inflight++;
    }
    while (loop->inflight) {
        struct io_uring_cqe *cqe;
        int rc = io_uring_submit_and_wait(&loop->ring, 1);
        /* A signal with a handler interrupts the wait (EINTR) and changes nothing: wait again,
         * or the completions still owed (accepted fds among them) are never reaped. Any other
         * error means the ring cannot make progress; whatever is reaped below is all there is. */
        if (rc < 0 && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY)
            break;
        while (io_uring_peek_cqe(&loop->ring, &cqe) == 0) {
            io_complete(loop, cqe->user_data, cqe->res, cqe->flags);
            io_uring_cqe_seen(&loop->ring, cqe);
        }
    }
}

/* ---- the calls ------------------------------------------------------------------------------ */

/* Prepare one SQE with `prep`, wait for it, and give the result (a GNU statement
 * expression: the library is built as gnu17). */
#define IO_RUN(prep)                                                                               \
    ({                                                                                             \
        struct io_call call;                                                                       \
        int rc_ = io_begin(&call);                                                                 \
        if (rc_ == 0) {                                                                            \
            struct io_uring_sqe *sqe = call.sqe;                                                   \
            prep;                                                                                  \
            rc_ = io_wait(&call);                                                                  \
        }                                                                                          \
        rc_;                                                                                       \
    })

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
    if (self && (self->cancel_requested ||
                 (self->scope_deadline_ns && loop_clock_ns() >= self->scope_deadline_ns)))
        return close(fd) == 0 ? 0 : -errno;
    IO_CALL(io_uring_prep_close(sqe, fd));
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

/* ---- deadline scopes ------------------------------------------------------------------------ */

TR_EXPORT int tr_deadline_begin(tr_deadline *scope, uint64_t timeout_ns) {
    if (!scope)
        return -EINVAL;
    struct tr_loop *loop;
    tr_task *self = calling_task(&loop);
    if (!self)
        return -EPERM;
    uint64_t now = loop_clock_ns();
    uint64_t at = now + timeout_ns < now ? UINT64_MAX - 1 : now + timeout_ns;
    scope->saved_ = self->scope_deadline_ns;
    if (self->scope_deadline_ns && self->scope_deadline_ns < at)
        at = self->scope_deadline_ns; /* an inner scope never extends an outer one */
    scope->at_ = at;
    self->scope_deadline_ns = at;
    return 0;
}

TR_EXPORT void tr_deadline_end(tr_deadline *scope) {
    struct tr_loop *loop;
    tr_task *self = calling_task(&loop);
    if (scope && self)
        self->scope_deadline_ns = scope->saved_;
}

TR_EXPORT bool tr_deadline_expired(const tr_deadline *scope) {
    return scope && scope->at_ && loop_clock_ns() >= scope->at_;
}

/* ---- listeners: multishot accept --------------------------------------------------------------
 */

struct tr_listener {
    struct tr_loop *loop;
    tr_listener *next_open; /* the loop's open listeners, freed at shutdown if left open */
    tr_listener **prev_open;
    int fd;
    bool armed;   /* a multishot accept is in the kernel */
    bool closing; /* tr_listener_close was called: free when the accept is gone */
    int error;    /* the last accept error, reported once; the next accept re-arms */
    int *queue;   /* accepted, not yet taken: a ring buffer */
    size_t head;
    size_t len;
    size_t cap;
    tr_task *waiters;
};

static void listener_arm(tr_listener *l) {
    struct io_uring_sqe *sqe = io_get_sqe(l->loop);
    if (!sqe) {
        l->error = -EBUSY;
        return;
    }
    io_uring_prep_multishot_accept(sqe, l->fd, NULL, NULL, SOCK_CLOEXEC);
    io_uring_sqe_set_data64(sqe, (uint64_t)(uintptr_t)l | TAG_LISTENER);
    l->armed = true;
    l->loop->inflight++;
}

static void listener_free(tr_listener *l) {
    for (size_t i = 0; i < l->len; i++)
        close(l->queue[(l->head + i) % l->cap]);
    if (l->prev_open) {
        *l->prev_open = l->next_open;
        if (l->next_open)
            l->next_open->prev_open = l->prev_open;
    }
    free(l->queue);
    free(l);
}

static bool listener_enqueue(tr_listener *l, int fd) {
    if (l->len == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        int *q = realloc_array(NULL, cap, sizeof *q);
        if (!q)
            return false;
        for (size_t i = 0; i < l->len; i++)
            q[i] = l->queue[(l->head + i) % l->cap];
        free(l->queue);
        l->queue = q;
        l->cap = cap;
        l->head = 0;
    }
    l->queue[(l->head + l->len++) % l->cap] = fd;
    return true;
}

/* The task that has waited longest (waiters are pushed at the head). */
static tr_task *oldest_waiter(tr_listener *l) {
    tr_task *t = l->waiters;
    while (t && t->wait_next)
        t = t->wait_next;
    return t;
}

static void listener_complete(struct tr_loop *loop, tr_listener *l, int res, unsigned flags) {
    if (!(flags & IORING_CQE_F_MORE)) {
        l->armed = false;
        loop->inflight--;
    }
    if (l->closing) {
        if (res >= 0)
            close(res);
        if (!l->armed)
            listener_free(l);
        return;
    }
    if (res >= 0) {
        tr_task *w = oldest_waiter(l);
        if (w)
            task_interrupt_wait(loop, w, res); /* hand the connection straight over */
        else if (!listener_enqueue(l, res))
            close(res);
    } else if (res != -EAGAIN && res != -EINTR && res != -ECONNABORTED && res != -ECANCELED) {
        /* EMFILE, ENFILE, ENOMEM...: tell one acceptor; re-arm on the next accept call
         * rather than at once, which would spin while the condition lasts. */
        tr_task *w = oldest_waiter(l);
        if (w)
            task_interrupt_wait(loop, w, res);
        else
            l->error = res;
        return;
    }
    if (!l->armed && res != -ECANCELED)
        listener_arm(l);
}

TR_EXPORT tr_listener *tr_listener_open(int fd) {
    struct tr_loop *loop = tr_tls_loop;
    if (!loop || !loop->current) {
        errno = EPERM;
        return NULL;
    }
    if (fd < 0) {
        errno = EBADF;
        return NULL;
    }
    tr_listener *l = calloc(1, sizeof *l);
    if (!l) {
        errno = ENOMEM;
        return NULL;
    }
    l->loop = loop;
    l->fd = fd;
    l->next_open = loop->listeners;
    if (l->next_open)
        l->next_open->prev_open = &l->next_open;
    l->prev_open = &loop->listeners;
    loop->listeners = l;
    listener_arm(l);
    return l;
}

TR_EXPORT int tr_listener_accept(tr_listener *l) {
    if (!l)
        return -EINVAL;
    struct tr_loop *loop;
    tr_task *self = calling_task(&loop);
    if (!self || l->loop != loop)
        return -EPERM;
    if (self->cancel_requested || l->closing)
        return -ECANCELED;
    if (l->len) {
        int fd = l->queue[l->head];
        l->head = (l->head + 1) % l->cap;
        l->len--;
        return fd;
    }
    if (l->error) {
        int err = l->error;
        l->error = 0;
        return err;
    }
    if (self->scope_deadline_ns && loop_clock_ns() >= self->scope_deadline_ns)
        return -ETIME;
    if (!l->armed) {
        listener_arm(l);
        if (!l->armed) { /* no SQE even after submitting: nothing would ever wake us */
            int err = l->error;
            l->error = 0;
            return err;
        }
    }
    return task_wait_in_list(loop, self, &l->waiters);
}

TR_EXPORT void tr_listener_close(tr_listener *l) {
    if (!l || l->closing)
        return;
    struct tr_loop *loop = l->loop;
    l->closing = true;
    tr_task *w;
    while ((w = l->waiters))
        task_interrupt_wait(loop, w, -ECANCELED);
    if (!l->armed) {
        listener_free(l);
        return;
    }
    struct io_uring_sqe *sqe = io_get_sqe(loop);
    if (sqe) {
        io_uring_prep_cancel64(sqe, (uint64_t)(uintptr_t)l | TAG_LISTENER, 0);
        io_uring_sqe_set_data64(sqe, TAG_CANCEL);
        loop->inflight++;
    }
}

/* At shutdown: listeners the program left open stop re-arming and are freed on their CQE. */
static void listeners_stop(struct tr_loop *loop) {
    for (tr_listener *l = loop->listeners; l; l = l->next_open)
        l->closing = true;
}

/* At shutdown, after io_drain: listeners the program left open, and their queued fds. */
static void listeners_free_all(struct tr_loop *loop) {
    while (loop->listeners)
        listener_free(loop->listeners);
}

/* ---- signals ----------------------------------------------------------------------------------
 */

/*
 * Signals no signalfd wait can serve. SIGKILL and SIGSTOP cannot be blocked, so the wait would
 * never end. The others are raised synchronously by a faulting instruction; blocked, the
 * kernel kills the process on the next fault without running any handler, which would take
 * the stack-overflow report (and any crash handler the program has) with it.
 */
static bool signal_waitable(int sig) {
    switch (sig) {
    case SIGKILL:
    case SIGSTOP:
    case SIGSEGV:
    case SIGBUS:
    case SIGFPE:
    case SIGILL:
    case SIGTRAP:
    case SIGSYS:
        return false;
    default:
        return true;
    }
}

TR_EXPORT int tr_signal_wait(const int *signals, size_t count) {
    if (!signals || count == 0)
        return -EINVAL;
    if (!tr_current())
        return -EPERM;
    sigset_t set;
    sigemptyset(&set);
    /* Every number is checked before any is blocked: a refused call changes nothing. */
    for (size_t i = 0; i < count; i++)
        if (!signal_waitable(signals[i]) || sigaddset(&set, signals[i]) < 0)
            return -EINVAL;
    /* Blocked first, so a signal that arrives now waits in the queue for the signalfd
     * instead of running its default action. */
    if (pthread_sigmask(SIG_BLOCK, &set, NULL) != 0)
        return -EINVAL;
    int fd = signalfd(-1, &set, SFD_CLOEXEC);
    if (fd < 0)
        return -errno;
    struct signalfd_siginfo info;
    int rc = tr_read(fd, &info, sizeof info, -1);
    close(fd);
    if (rc < 0)
        return rc;
    if (rc != (int)sizeof info)
        return -EIO;
    return (int)info.ssi_signo;
}
