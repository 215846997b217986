/*
 * backend_epoll.c - the epoll backend: for where io_uring is refused (a container's seccomp
 * profile, kernel.io_uring_disabled, gVisor). The same calls, results, cancellation and
 * deadlines as backend_uring.c, reached with readiness and non-blocking syscalls.
 *
 * Sockets and pipes: the call is tried first, without blocking and without touching the fd's
 * flags (MSG_DONTWAIT for recv/send/recvmsg/sendmsg, RWF_NOWAIT for read/write); only when it
 * would block (EAGAIN) does the task wait, for the fd's readiness, and try again. The fd is the
 * user's, who may close it and get the same number back for another file at any time, behind
 * our back; so readiness is asked per wait, level-triggered and one-shot (EPOLL_CTL_MOD, or ADD
 * the first time and when the file at that number changed: MOD then says ENOENT): a stale
 * registration can never swallow a wake-up. What we own (the doorbell's eventfd, a listening
 * socket while its listener is open) is registered once, edge-triggered.
 *
 * accept4 and connect need the fd non-blocking: tr_accept and tr_connect set O_NONBLOCK around
 * the one syscall and put the flags back; a listener sets it while it is open (tr_listener_close
 * puts it back), since its accept4 loop runs on every readiness edge.
 *
 * A blocking fd that takes no RWF_NOWAIT (a terminal) is read as io_uring reads it: readiness,
 * checked with poll(2), before each plain read, which then does not block; it is written on
 * the worker pool (a tty write blocks until it is all written).
 *
 * Files (a regular file cannot be polled: epoll_ctl says EPERM): read/write/readv/writev (when
 * RWF_NOWAIT says the page cache cannot serve them), openat (with O_NONBLOCK, as io_uring's
 * first try), fsync and close run on the runtime's worker pool (worker.c, workers_io). A
 * cancellation or deadline takes a job back while no worker has it; one a worker has is waited
 * for, so the call returns only once nothing can still write into the caller's buffer, as on
 * io_uring.
 *
 * Deadlines are the wait layer's: the waiter's timer (wait.c), and the loop's earliest timer as
 * epoll_pwait2's timeout (nanoseconds; epoll_wait's milliseconds, rounded up, where pwait2 is
 * missing). A readiness wait owns no buffer, so interrupting it ends it at once.
 *
 * A call that completes at once does not suspend; after 64 such calls in a row without a poll,
 * the next one yields first, through the scheduler (a poll) even when no other task is
 * runnable yet, so a task reading a socket that always has data cannot starve the loop's other
 * tasks, its timers and its doorbell.
 */

#include "backend.h"
#include "runtime.h"
#include "wait.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

enum {
    MAX_EVENTS = 256,
    FDS_PER_CHUNK = 1024,
    INLINE_BUDGET = 64, /* calls completed without a wait before one yields */
};

/* Per fd number: the tasks waiting for its readiness, and what was last asked of epoll. */
struct ep_fd {
    struct wait_queue waiters; /* waiter.value: the epoll events it waits for */
    uint32_t armed;            /* events of the last MOD/ADD not yet reported (one-shot) */
    uint32_t drained;          /* EPOLLIN / EPOLLOUT: the last recv or send was short */
    bool in_set;               /* ADDed once: MOD first */
    bool listener;             /* an open listener's registration: its edges serve these waits */
};

struct epoll_state {
    int epfd;
    bool pwait2;          /* epoll_pwait2 works here */
    bool bell_registered; /* the port's eventfd is in the set */
    unsigned inline_run;  /* calls completed at once since the last poll */
    int nevents;          /* reported by the last wait, dispatched by reap */
    struct epoll_event events[MAX_EVENTS];
    struct ep_fd **chunks; /* fd table: chunks of FDS_PER_CHUNK, never moved */
    size_t nchunks;
    struct be_deferred *later_head, *later_tail;
    struct be_deferred *running; /* what later_run has still to run */
    struct be_listen *listeners; /* registered, for the drain */
};

#define FD_TAG 1u /* epoll_event.data.u64: (fd << 1) | 1; else an io_target's address */

/* ---- the fd table ------------------------------------------------------------------------- */

static struct ep_fd *fd_entry(struct epoll_state *ep, int fd) {
    size_t c = (size_t)fd / FDS_PER_CHUNK;
    if (c >= ep->nchunks) {
        size_t n = ep->nchunks ? ep->nchunks : 16;
        while (n <= c)
            n *= 2;
        struct ep_fd **chunks = realloc_array(ep->chunks, n, sizeof *chunks);
        if (!chunks)
            return NULL;
        memset(chunks + ep->nchunks, 0, (n - ep->nchunks) * sizeof *chunks);
        ep->chunks = chunks;
        ep->nchunks = n;
    }
    if (!ep->chunks[c] && !(ep->chunks[c] = calloc(FDS_PER_CHUNK, sizeof(struct ep_fd))))
        return NULL;
    return &ep->chunks[c][(size_t)fd % FDS_PER_CHUNK];
}

static struct ep_fd *fd_known(struct epoll_state *ep, int fd) {
    size_t c = (size_t)fd / FDS_PER_CHUNK;
    return fd >= 0 && c < ep->nchunks && ep->chunks[c] ? &ep->chunks[c][(size_t)fd % FDS_PER_CHUNK]
                                                       : NULL;
}

/* Ask epoll for `events` on fd, once (level-triggered, one-shot). 0 or -errno: -EPERM for a
 * file epoll cannot watch (a regular file, a directory), -EBADF. */
static int fd_arm(struct epoll_state *ep, struct ep_fd *e, int fd, uint32_t events) {
    struct epoll_event ev = {.events = events | EPOLLONESHOT,
                             .data.u64 = ((uint64_t)(unsigned)fd << 1) | FD_TAG};
    int op = e->in_set ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
    for (int tries = 0; epoll_ctl(ep->epfd, op, fd, &ev) < 0; tries++) {
        /* ENOENT: the file we registered at this number was closed (another may be there
         * now). EEXIST: registered by a call we no longer remember (a table that could not
         * grow earlier). Either way the other operation is right. */
        if (tries == 0 && errno == ENOENT && op == EPOLL_CTL_MOD)
            op = EPOLL_CTL_ADD;
        else if (tries == 0 && errno == EEXIST && op == EPOLL_CTL_ADD)
            op = EPOLL_CTL_MOD;
        else
            return -errno;
    }
    e->in_set = true;
    e->armed = events;
    return 0;
}

/* The union of what fd's waiters wait for. */
static uint32_t fd_wanted(const struct ep_fd *e) {
    uint32_t ev = 0;
    for (const struct waiter *w = e->waiters.head; w; w = w->next)
        ev |= (uint32_t)(uintptr_t)w->value;
    return ev;
}

/* epoll reported `events` for fd: wake the tasks waiting for any of them (all of them on an
 * error or hang-up: their next syscall says what happened); ask again for those left. */
static void fd_ready(struct tr_loop *loop, int fd, uint32_t events) {
    struct epoll_state *ep = loop->ep;
    struct ep_fd *e = fd_known(ep, fd);
    if (!e)
        return;
    e->armed = 0; /* one-shot: reported, so disarmed */
    /* An error or hang-up wakes every waiter, a tr_poll(fd, 0) that waits for nothing else
     * among them (io_uring's poll adds them to every mask). */
    if (events & (EPOLLERR | EPOLLHUP))
        events = ~0u;
    for (struct waiter *w = e->waiters.head, *next; w; w = next) {
        next = w->next;
        if ((uint32_t)(uintptr_t)w->value & events || events == ~0u)
            waiter_fire(w, 0, false); /* nothing moved yet: a cancellation may replace it */
    }
    uint32_t left = fd_wanted(e);
    if (left && !e->listener && fd_arm(ep, e, fd, left) < 0) {
        /* The fd is gone: let every waiter try its call, which reports why. */
        while (e->waiters.head)
            waiter_fire(e->waiters.head, 0, false);
    }
}

/*
 * Suspend `self` until fd is ready for `events` (or cancelled, or its deadline: the waiter's
 * timer). 0, -ECANCELED, -ETIME, -ENOMEM, or the epoll_ctl error (-EPERM: not pollable).
 */
static int fd_wait(struct tr_loop *loop, tr_task *self, const struct io_req *r, int fd,
                   uint32_t events) {
    struct epoll_state *ep = loop->ep;
    if (fd < 0)
        return -EBADF;
    struct ep_fd *e = fd_entry(ep, fd);
    if (!e)
        return -ENOMEM;
    /* Ask afresh every time, even when a task waiting now armed these events: the program
     * may have closed the fd behind our back and got the number again for another file
     * (whose MOD says ENOENT: ADD), and the registration went with the old one. */
    int rc = e->listener ? 0 : fd_arm(ep, e, fd, e->armed | fd_wanted(e) | events);
    if (rc < 0)
        return rc;
    struct waiter w;
    waiter_init(&w, loop, self, WAIT_IO, NULL);
    w.io_opcode = io_kind_opcode(r->kind); /* for reports (introspect.c) */
    w.io_fd = fd;
    w.value = (void *)(uintptr_t)events;
    wq_push(&e->waiters, &w);
    loop->inflight++;
    rc = wait_block(&w); /* no on_interrupt: the default fire unlinks it */
    loop->inflight--;
    return rc;
}

/* ---- deferred work: completions made in user space ------------------------------------------ */

static void later(struct epoll_state *ep, struct be_deferred *d) {
    if (d->queued)
        return;
    d->queued = true;
    d->next = NULL;
    if (ep->later_tail)
        ep->later_tail->next = d;
    else
        ep->later_head = d;
    ep->later_tail = d;
}

static bool list_remove(struct be_deferred **head, struct be_deferred **tail,
                        struct be_deferred *d) {
    struct be_deferred *prev = NULL;
    for (struct be_deferred *x = *head; x; prev = x, x = x->next) {
        if (x != d)
            continue;
        if (prev)
            prev->next = d->next;
        else
            *head = d->next;
        if (tail && *tail == d)
            *tail = prev;
        return true;
    }
    return false;
}

/* d's owner goes away: off the queue, or off the list being run. */
static void later_remove(struct epoll_state *ep, struct be_deferred *d) {
    if (!d->queued)
        return;
    if (!list_remove(&ep->later_head, &ep->later_tail, d))
        list_remove(&ep->running, NULL, d);
    d->queued = false;
}

/* Run a list taken off the queue: what these queue again runs at the next poll. */
static void later_run(struct tr_loop *loop, struct be_deferred *list) {
    struct epoll_state *ep = loop->ep;
    ep->running = list;
    struct be_deferred *d;
    while ((d = ep->running)) {
        ep->running = d->next;
        d->queued = false;
        d->run(loop, d); /* may free d's owner, or queue it again */
    }
}

/* ---- calls ------------------------------------------------------------------------------------
 */

/* A call that completed without waiting: every INLINE_BUDGET of them, yield first. */
static int done_at_once(struct tr_loop *loop, tr_task *self, int res) {
    struct epoll_state *ep = loop->ep;
    if (TR_UNLIKELY(++ep->inline_run >= INLINE_BUDGET)) {
        /* Through the scheduler, whether or not another task is runnable now: a sleeper or
         * a task waiting on another fd becomes runnable only at a poll. */
        ep->inline_run = 0;
        loop->turn_left = 0;
        (void)fiber_yield(loop, self); /* a cancellation meanwhile: the next wait has it */
    }
    return res;
}

static int neg_errno(void) {
    return -errno;
}

static bool would_block(int e) {
    return e == EAGAIN || e == EWOULDBLOCK;
}

/* MSG_WAITALL: io_uring goes on after a short transfer until the whole length has moved on a
 * stream or seqpacket socket, and returns the short count on any other (one datagram). */
static bool waits_for_all(int fd) {
    int type = 0;
    socklen_t len = sizeof type;
    return getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0 &&
           (type == SOCK_STREAM || type == SOCK_SEQPACKET);
}

/* recvmsg/sendmsg with MSG_WAITALL after a short one: the program's msghdr is not ours to
 * change, so the rest goes through a copy (its iovecs advanced; name and control came with
 * the first piece). */
struct msg_rest {
    struct msghdr m;
    struct iovec iov[];
};

static size_t iov_total(const struct msghdr *m) {
    size_t total = 0;
    for (size_t i = 0; i < m->msg_iovlen; i++)
        total += m->msg_iov[i].iov_len;
    return total;
}

static void iov_advance(struct msghdr *m, size_t n) {
    while (m->msg_iovlen && n >= m->msg_iov->iov_len) {
        n -= m->msg_iov->iov_len;
        m->msg_iov++;
        m->msg_iovlen--;
    }
    if (m->msg_iovlen) {
        m->msg_iov->iov_base = (char *)m->msg_iov->iov_base + n;
        m->msg_iov->iov_len -= n;
    }
}

static struct msg_rest *msg_rest_new(const struct msghdr *m, size_t moved) {
    struct msg_rest *rest = malloc(sizeof *rest + m->msg_iovlen * sizeof(struct iovec));
    if (!rest)
        return NULL;
    memset(&rest->m, 0, sizeof rest->m);
    memcpy(rest->iov, m->msg_iov, m->msg_iovlen * sizeof(struct iovec));
    rest->m.msg_iov = rest->iov;
    rest->m.msg_iovlen = m->msg_iovlen;
    iov_advance(&rest->m, moved);
    return rest;
}

/* recv, send, recvmsg, sendmsg: MSG_DONTWAIT leaves a blocking fd's flags alone. */
static int sock_call(struct tr_loop *loop, tr_task *self, struct io_req *r) {
    bool out = r->kind == IO_SEND || r->kind == IO_SENDMSG;
    bool msg = r->kind == IO_RECVMSG || r->kind == IO_SENDMSG;
    uint32_t dir = out ? EPOLLOUT : EPOLLIN;
    int flags = r->flags | MSG_DONTWAIT | (out ? MSG_NOSIGNAL : 0); /* as io_uring does */
    size_t got = 0;   /* MSG_WAITALL: what moved before a wait */
    size_t total = 0; /* MSG_WAITALL after a short one: the whole length */
    int all = -1;     /* MSG_WAITALL: goes on after a short one (-1: not asked yet) */
    struct msg_rest *rest = NULL;
    int res;
    /* The last recv (send) on this fd was short: the socket had no more (no room), so this
     * one would most likely say EAGAIN. Ask for readiness first: level-triggered, it is
     * reported at once if bytes (room) came meanwhile, and the EAGAIN syscall is saved. */
    struct ep_fd *hint = !msg && !(r->flags & MSG_DONTWAIT) ? fd_known(loop->ep, r->fd) : NULL;
    if (hint && (hint->drained & dir)) {
        hint->drained &= ~dir;
        int rc = fd_wait(loop, self, r, r->fd, dir);
        if (rc < 0)
            return rc;
    }
    for (;;) {
        ssize_t n;
        struct msghdr *m = rest ? &rest->m : r->p;
        switch (r->kind) {
        case IO_RECV:
            n = recv(r->fd, (char *)r->p + got, r->len - got, flags);
            break;
        case IO_SEND:
            n = send(r->fd, (const char *)r->p + got, r->len - got, flags);
            break;
        case IO_RECVMSG:
            n = recvmsg(r->fd, m, flags);
            break;
        default:
            n = sendmsg(r->fd, m, flags);
            break;
        }
        r->started = true;
        if (n >= 0) {
            got += (size_t)n;
            if (msg && !total && (r->flags & MSG_WAITALL) && r->p)
                total = iov_total(r->p);
            size_t want = msg ? total : r->len;
            if ((r->flags & MSG_WAITALL) && n > 0 && got < want &&
                (all < 0 ? (all = waits_for_all(r->fd)) : all)) {
                if (!msg)
                    continue;
                if (rest)
                    iov_advance(&rest->m, (size_t)n);
                else if (!(rest = msg_rest_new(r->p, got)))
                    break; /* no memory for the rest: the short count */
                continue;
            }
            if (!msg && n > 0 && (size_t)n < r->len - (got - (size_t)n)) {
                struct ep_fd *e = fd_entry(loop->ep, r->fd);
                if (e)
                    e->drained |= dir;
            }
            break;
        }
        int e = errno;
        if (e == EINTR)
            continue;
        if (!would_block(e) || (r->flags & MSG_DONTWAIT)) {
            res = got ? (int)got : -e;
            goto end;
        }
        int rc = fd_wait(loop, self, r, r->fd, out ? EPOLLOUT : EPOLLIN);
        if (rc < 0) {
            res = got ? (int)got : rc;
            goto end;
        }
    }
    free(rest);
    return done_at_once(loop, self, (int)got);
end:
    free(rest);
    return res;
}

/* O_NONBLOCK for one syscall on a fd that may be blocking: the old flags, or -1 (already set,
 * or unknown: leave them). */
static int nonblock_begin(int fd) {
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || (fl & O_NONBLOCK))
        return -1;
    return fcntl(fd, F_SETFL, fl | O_NONBLOCK) == 0 ? fl : -1;
}

static void nonblock_end(int fd, int saved) {
    if (saved >= 0) {
        int e = errno;
        fcntl(fd, F_SETFL, saved);
        errno = e;
    }
}

static int accept_call(struct tr_loop *loop, tr_task *self, struct io_req *r) {
    for (;;) {
        int saved = nonblock_begin(r->fd);
        int fd = accept4(r->fd, r->p, r->p2, r->flags);
        nonblock_end(r->fd, saved);
        r->started = true;
        if (fd >= 0)
            return done_at_once(loop, self, fd);
        int e = errno;
        if (e == EINTR || e == ECONNABORTED)
            continue;
        if (!would_block(e))
            return -e;
        int rc = fd_wait(loop, self, r, r->fd, EPOLLIN);
        if (rc < 0)
            return rc;
    }
}

/* A non-blocking connect says EINPROGRESS; once the fd is writable, connect again: it reports
 * the outcome (0, ECONNREFUSED, ...) and moves the socket to connected, so that a later
 * connect says EISCONN, as after io_uring's connect. */
static int connect_call(struct tr_loop *loop, tr_task *self, struct io_req *r) {
    for (;;) {
        int saved = nonblock_begin(r->fd);
        int rc = connect(r->fd, r->p, r->len);
        nonblock_end(r->fd, saved);
        r->started = true;
        if (rc == 0)
            return done_at_once(loop, self, 0);
        int e = errno;
        /* In progress (EINPROGRESS, EALREADY, EINTR), or AF_UNIX with a full backlog
         * (EAGAIN): wait until writable, then ask again. */
        if (!would_block(e) && e != EINPROGRESS && e != EINTR && e != EALREADY)
            return -e;
        rc = fd_wait(loop, self, r, r->fd, EPOLLOUT);
        if (rc < 0)
            return rc;
    }
}

static int poll_call(struct tr_loop *loop, tr_task *self, struct io_req *r) {
    /* io_uring's poll always wants POLLERR, POLLHUP and POLLRDHUP too, whatever the mask. */
    unsigned events = (unsigned)r->flags | POLLRDHUP;
    for (;;) {
        struct pollfd p = {.fd = r->fd, .events = (short)events};
        if (poll(&p, 1, 0) < 0) {
            if (errno == EINTR)
                continue;
            return neg_errno();
        }
        if (p.revents & POLLNVAL)
            return -EBADF;
        if (p.revents)
            return done_at_once(loop, self, p.revents & (int)(events | POLLERR | POLLHUP));
        int rc = fd_wait(loop, self, r, r->fd, events); /* POLL* and EPOLL* bits are the same */
        if (rc < 0)
            return rc;
    }
}

/* ---- the worker pool: files, and blocking fds that take no RWF_NOWAIT ----------------------- */

struct file_job {
    struct io_req *r;
    const struct iovec *iov;
    int iovcnt;
    int64_t off;
    int result;
};

static void *file_job_run(void *arg) {
    struct file_job *j = arg;
    struct io_req *r = j->r;
    bool out = r->kind == IO_WRITE || r->kind == IO_WRITEV;
    ssize_t n;
    switch (r->kind) {
    case IO_READ:
    case IO_READV:
    case IO_WRITE:
    case IO_WRITEV:
        do {
            if (j->off < 0) /* the file position */
                n = out ? writev(r->fd, j->iov, j->iovcnt) : readv(r->fd, j->iov, j->iovcnt);
            else
                n = out ? pwritev(r->fd, j->iov, j->iovcnt, j->off)
                        : preadv(r->fd, j->iov, j->iovcnt, j->off);
        } while (n < 0 && errno == EINTR);
        break;
    case IO_OPENAT:
        /* As io_uring's first try: open with O_NONBLOCK, so that a FIFO without its other end
         * does not hold the worker (beyond any cancellation: a read-only open succeeds, a
         * write-only one says ENXIO), and take it off the new file unless it was asked for. */
        n = openat(r->fd, r->p, r->flags | O_NONBLOCK, (mode_t)r->len);
        if (n >= 0 && !(r->flags & O_NONBLOCK)) {
            int fl = fcntl((int)n, F_GETFL);
            if (fl >= 0)
                fcntl((int)n, F_SETFL, fl & ~O_NONBLOCK);
        }
        break;
    case IO_FSYNC:
        n = (r->flags & 1) ? fdatasync(r->fd) : fsync(r->fd); /* 1: IORING_FSYNC_DATASYNC */
        break;
    case IO_CLOSE:
        n = close(r->fd); /* EINTR: closed all the same (Linux) */
        break;
    default:
        n = -1;
        errno = EINVAL;
        break;
    }
    j->result = n < 0 ? -errno : (int)n;
    return NULL;
}

static int on_worker(struct tr_loop *loop, tr_task *self, struct file_job *j) {
    int rc = workers_io(loop, self, file_job_run, j, io_kind_opcode(j->r->kind), j->r->fd);
    if (rc < 0)
        return rc; /* taken back before a worker had it: it never ran */
    j->r->started = true;
    return j->result;
}

/* Until fd is ready for `events` now (poll(2) says so after the wait: another task of this
 * loop may have taken what woke us). 0, or fd_wait's error (-EPERM: epoll cannot watch it). */
static int ready_now(struct tr_loop *loop, tr_task *self, struct io_req *r, short events) {
    for (;;) {
        int rc = fd_wait(loop, self, r, r->fd, (uint32_t)events);
        if (rc < 0)
            return rc;
        struct pollfd p = {.fd = r->fd, .events = events};
        while ((rc = poll(&p, 1, 0)) < 0 && errno == EINTR)
            ;
        if (rc < 0)
            return neg_errno();
        if (p.revents & POLLNVAL)
            return -EBADF;
        if (rc > 0)
            return 0;
    }
}

/* A regular file or a block device, whose short RWF_NOWAIT transfer is not its end? An fd
 * epoll watches is neither (no syscall then). */
static bool is_file(struct epoll_state *ep, int fd) {
    const struct ep_fd *e = fd_known(ep, fd);
    struct stat st;
    return !(e && e->in_set) && fstat(fd, &st) == 0 && (S_ISREG(st.st_mode) || S_ISBLK(st.st_mode));
}

static void iovs_advance(struct iovec **v, int *cnt, size_t n) {
    while (*cnt && n >= (*v)->iov_len) {
        n -= (*v)->iov_len;
        (*v)++;
        (*cnt)--;
    }
    if (*cnt) {
        (*v)->iov_base = (char *)(*v)->iov_base + n;
        (*v)->iov_len -= n;
    }
}

/*
 * A file's RWF_NOWAIT transfer moved `done` of `want` bytes (the page cache had no more): go
 * on, without blocking while it can, then on a worker, as io_uring finishes a short transfer
 * of a regular file; a read stops at EOF. The bytes moved in all (an error after some: those).
 */
static int file_rest(struct tr_loop *loop, tr_task *self, const struct file_job *j, size_t done,
                     size_t want, bool out) {
    struct iovec one, *copy = NULL, *v;
    int cnt = j->iovcnt;
    if (cnt == 1) {
        one = j->iov[0];
        v = &one;
    } else {
        if (!(copy = malloc((size_t)cnt * sizeof *copy)))
            return (int)done;
        memcpy(copy, j->iov, (size_t)cnt * sizeof *copy);
        v = copy;
    }
    iovs_advance(&v, &cnt, done);
    size_t cap = want - done; /* the kernel's MAX_RW_COUNT for the whole call */
    for (int i = 0; i < cnt; cap -= v[i].iov_len, i++)
        if (v[i].iov_len > cap)
            v[i].iov_len = cap;
    int fd = j->r->fd;
    while (done < want && cnt) {
        int64_t off = j->off < 0 ? -1 : j->off + (int64_t)done;
        ssize_t n =
            out ? pwritev2(fd, v, cnt, off, RWF_NOWAIT) : preadv2(fd, v, cnt, off, RWF_NOWAIT);
        if (n > 0) {
            done += (size_t)n;
            iovs_advance(&v, &cnt, (size_t)n);
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (would_block(errno) || errno == EOPNOTSUPP)) {
            struct file_job rest = {.r = j->r, .iov = v, .iovcnt = cnt, .off = off};
            int m = on_worker(loop, self, &rest);
            if (m > 0)
                done += (size_t)m;
        }
        break; /* EOF, an error, or the worker's part */
    }
    free(copy);
    return (int)done;
}

/* read, write, readv, writev: try without blocking (RWF_NOWAIT: a socket or pipe that has
 * nothing, a file whose pages are not cached, say EAGAIN); then readiness, or a worker. */
static int rw_call(struct tr_loop *loop, tr_task *self, struct io_req *r) {
    bool out = r->kind == IO_WRITE || r->kind == IO_WRITEV;
    struct iovec one = {r->p, r->len};
    struct file_job j = {.r = r, .off = r->off < 0 ? -1 : r->off};
    if (r->kind == IO_READ || r->kind == IO_WRITE) {
        j.iov = &one;
        j.iovcnt = 1;
    } else {
        j.iov = r->p;
        j.iovcnt = (int)r->len;
    }
    int rwf = RWF_NOWAIT;
    bool gate = false; /* blocking, no RWF_NOWAIT: readiness before every try */
    for (;;) {
        if (gate) {
            int rc = ready_now(loop, self, r, out ? POLLOUT : POLLIN);
            if (rc == -EPERM) /* epoll cannot watch it (a file): a worker blocks for us */
                return on_worker(loop, self, &j);
            if (rc < 0)
                return rc;
        }
        ssize_t n = out ? pwritev2(r->fd, j.iov, j.iovcnt, j.off, rwf)
                        : preadv2(r->fd, j.iov, j.iovcnt, j.off, rwf);
        if (n >= 0) {
            r->started = true;
            if (n > 0 && rwf) {
                size_t want = 0;
                for (int i = 0; i < j.iovcnt && want < 0x7ffff000u; i++)
                    want += j.iov[i].iov_len;
                want = want < 0x7ffff000u ? want : 0x7ffff000u;
                if ((size_t)n < want && is_file(loop->ep, r->fd))
                    return file_rest(loop, self, &j, (size_t)n, want, out);
            }
            return done_at_once(loop, self, (int)n);
        }
        int e = errno;
        if (e == EINTR)
            continue;
        if (e == ESPIPE && j.off != -1) { /* a socket or pipe: io_uring ignores the offset */
            j.off = -1;
            continue;
        }
        if (e == EOPNOTSUPP && rwf) {
            /* No RWF_NOWAIT here. A file (ext4's buffered writes): on a worker, whatever
             * its flags (O_NONBLOCK means nothing to it). Else (a terminal, inotify):
             * without blocking if the fd is non-blocking itself. A blocking one is read, as
             * io_uring reads it, once readiness says the read will not block (a worker
             * would block in it, waiting for input, beyond any cancellation or deadline);
             * written on a worker (a tty write blocks until all of it is written, however
             * writable poll says it is: the loop must not). */
            if (is_file(loop->ep, r->fd))
                return on_worker(loop, self, &j);
            int fl = fcntl(r->fd, F_GETFL);
            if (fl < 0)
                return neg_errno();
            if (out && !(fl & O_NONBLOCK))
                return on_worker(loop, self, &j);
            gate = !(fl & O_NONBLOCK);
            rwf = 0;
            continue;
        }
        if (!would_block(e))
            return -e;
        int rc = fd_wait(loop, self, r, r->fd, out ? EPOLLOUT : EPOLLIN);
        if (rc == -EPERM) /* a regular file whose pages must be read: a worker waits */
            return on_worker(loop, self, &j);
        if (rc < 0)
            return rc;
    }
}

/* tr_nop: a completion made in user space, delivered by the next poll (no syscall). */
struct nop_call {
    struct be_deferred d;
    struct waiter w;
};

static void nop_done(struct tr_loop *loop, struct be_deferred *d) {
    (void)loop;
    struct nop_call *c = (struct nop_call *)d;
    waiter_fire(&c->w, 0, true);
}

static void nop_interrupted(struct waiter *w, int err) {
    (void)w;
    (void)err; /* it completes at the next poll anyway: the cancellation comes after */
}

static int nop_call(struct tr_loop *loop, tr_task *self) {
    struct nop_call c = {.d = {.run = nop_done}};
    waiter_init(&c.w, loop, self, WAIT_IO, NULL);
    c.w.io_opcode = IORING_OP_NOP;
    c.w.io_fd = -1;
    c.w.timer_at = 0;
    c.w.on_interrupt = nop_interrupted;
    later(loop->ep, &c.d);
    loop->inflight++;
    wait_block(&c.w);
    loop->inflight--;
    return 0;
}

static int ep_io(struct tr_loop *loop, tr_task *self, struct io_req *r) {
    int rc = wait_admit(self);
    if (rc < 0)
        return rc;
    switch (r->kind) {
    case IO_NOP:
        return nop_call(loop, self);
    case IO_RECV:
    case IO_SEND:
    case IO_RECVMSG:
    case IO_SENDMSG:
        return sock_call(loop, self, r);
    case IO_READ:
    case IO_WRITE:
    case IO_READV:
    case IO_WRITEV:
        return rw_call(loop, self, r);
    case IO_ACCEPT:
        return accept_call(loop, self, r);
    case IO_CONNECT:
        return connect_call(loop, self, r);
    case IO_POLL:
        return poll_call(loop, self, r);
    case IO_SHUTDOWN:
        r->started = true;
        return done_at_once(loop, self, shutdown(r->fd, r->flags) == 0 ? 0 : neg_errno());
    case IO_CLOSE: {
        struct ep_fd *e = fd_known(loop->ep, r->fd);
        if (e)
            e->drained = 0;
        if (e && e->in_set) {
            /* A socket or pipe (epoll took it): close(2) does not block; the number may
             * come back as another file, which is ADDed afresh. */
            e->in_set = false;
            e->armed = 0;
            r->started = true;
            return done_at_once(loop, self, close(r->fd) == 0 ? 0 : neg_errno());
        }
        struct file_job j = {.r = r};
        return on_worker(loop, self, &j);
    }
    case IO_FSYNC:
        if (r->flags & ~1) /* IORING_FSYNC_DATASYNC is the one flag */
            return -EINVAL;
        /* fall through */
    case IO_OPENAT: {
        struct file_job j = {.r = r};
        return on_worker(loop, self, &j);
    }
    default:
        return -EINVAL;
    }
}

/* ---- listeners: readiness (edge-triggered) and an accept4 loop ---------------------------------
 */

static void listen_run(struct tr_loop *loop, struct be_listen *bl) {
    while (bl->want) {
        int fd = accept4(bl->fd, NULL, NULL, SOCK_CLOEXEC);
        if (fd >= 0) {
            bl->done.complete(loop, &bl->done, fd, BE_F_MORE); /* may cancel: want = false */
            continue;
        }
        int e = errno;
        if (would_block(e))
            return; /* the next connection is an edge */
        if (e == EINTR || e == ECONNABORTED)
            continue;
        /* EMFILE, ENFILE, ENOMEM...: the accepting ends, as io_uring's multishot does; the
         * connection stays in the backlog for the next arm. */
        bl->want = false;
        bl->done.complete(loop, &bl->done, -e, 0); /* may free bl */
        return;
    }
}

static void listen_later(struct tr_loop *loop, struct be_deferred *d) {
    struct be_listen *bl = (struct be_listen *)((char *)d - offsetof(struct be_listen, later));
    if (bl->cancel_due) {
        bl->cancel_due = false;
        bl->done.complete(loop, &bl->done, -ECANCELED, 0); /* may free or re-arm bl */
        return;
    }
    if (bl->error_due) {
        int err = bl->error_due;
        bl->error_due = 0;
        bl->want = false;
        bl->done.complete(loop, &bl->done, err, 0);
        return;
    }
    listen_run(loop, bl);
}

static void listen_ready(struct tr_loop *loop, struct io_target *t, int events, unsigned flags) {
    (void)events;
    (void)flags;
    struct be_listen *bl = (struct be_listen *)((char *)t - offsetof(struct be_listen, ready));
    int fd = bl->fd;
    if (bl->want && !bl->later.queued)
        listen_run(loop, bl); /* may free bl */
    /* Tasks waiting on the fd itself (tr_poll, tr_accept) share the registration: an
     * EPOLL_CTL_MOD of theirs would take it from the listener. */
    fd_ready(loop, fd, (uint32_t)events);
}

static void ep_listen_arm(struct tr_loop *loop, struct be_listen *bl) {
    struct epoll_state *ep = loop->ep;
    bl->want = true;
    loop->inflight++; /* until the completion without BE_F_MORE, as for io_uring */
    bl->later.run = listen_later;
    if (!bl->registered) {
        bl->ready.complete = listen_ready;
        struct epoll_event ev = {.events = EPOLLIN | EPOLLET, .data.u64 = (uintptr_t)&bl->ready};
        /* A listener closed on this fd whose end has not come yet (its last completion is
         * due at the next poll) still holds the registration: this one takes it over, with
         * the flags to put back. */
        struct be_listen *old = ep->listeners;
        while (old && old->fd != bl->fd)
            old = old->next_reg;
        int rc, acceptconn = 0;
        socklen_t len = sizeof acceptconn;
        if (getsockopt(bl->fd, SOL_SOCKET, SO_ACCEPTCONN, &acceptconn, &len) < 0)
            rc = -errno; /* what io_uring's accept says: ENOTSOCK, EBADF */
        else if (!acceptconn)
            rc = -EINVAL; /* not listening */
        else
            rc = epoll_ctl(ep->epfd, EPOLL_CTL_ADD, bl->fd, &ev) < 0 ? -errno : 0;
        bool took_over = false;
        if (rc == -EEXIST) {
            rc = epoll_ctl(ep->epfd, EPOLL_CTL_MOD, bl->fd, &ev) < 0 ? -errno : 0;
            took_over = rc == 0 && old;
        }
        if (rc < 0) {
            bl->error_due = rc; /* io_uring's accept would complete with an error too */
        } else {
            if (old) {
                /* Took its registration over (EEXIST: the same file), or it was for a file
                 * closed since (whose flags are nobody's to put back now). */
                bl->saved_flags = took_over ? old->saved_flags : nonblock_begin(bl->fd);
                old->saved_flags = -1;
                old->registered = false;
                *old->prev_reg = old->next_reg;
                if (old->next_reg)
                    old->next_reg->prev_reg = old->prev_reg;
            } else {
                bl->saved_flags = nonblock_begin(bl->fd);
            }
            bl->registered = true;
            struct ep_fd *e = fd_entry(ep, bl->fd);
            if (e)
                e->listener = true;
            bl->next_reg = ep->listeners;
            if (bl->next_reg)
                bl->next_reg->prev_reg = &bl->next_reg;
            bl->prev_reg = &ep->listeners;
            ep->listeners = bl;
        }
    }
    /* Connections may be waiting already, and an edge came and went: one pass now. */
    later(ep, &bl->later);
}

static void ep_listen_cancel(struct tr_loop *loop, struct be_listen *bl) {
    if (!bl->want)
        return; /* its last completion is on its way, or came */
    bl->want = false;
    bl->cancel_due = true;
    later(loop->ep, &bl->later);
}

/* Leave the epoll set and put the program's flags back while the fd is still the program's:
 * once tr_listener_close returns the number may belong to another file (another thread's
 * socket), and a late EPOLL_CTL_DEL or F_SETFL would act on that file. */
static void ep_listen_detach(struct tr_loop *loop, struct be_listen *bl) {
    struct epoll_state *ep = loop->ep;
    if (bl->registered) {
        epoll_ctl(ep->epfd, EPOLL_CTL_DEL, bl->fd, NULL);
        bl->registered = false;
        *bl->prev_reg = bl->next_reg;
        if (bl->next_reg)
            bl->next_reg->prev_reg = bl->prev_reg;
        struct ep_fd *e = fd_known(ep, bl->fd);
        if (e) {
            /* The fd's own waiters ask for themselves again (the file is still there). */
            e->listener = false;
            e->in_set = false;
            e->armed = 0;
            if (e->waiters.head && fd_arm(ep, e, bl->fd, fd_wanted(e)) < 0)
                while (e->waiters.head)
                    waiter_fire(e->waiters.head, 0, false);
        }
    }
    if (bl->saved_flags >= 0)
        fcntl(bl->fd, F_SETFL, bl->saved_flags); /* the program's flags back */
    bl->saved_flags = -1;
}

static void ep_listen_free(struct tr_loop *loop, struct be_listen *bl) {
    later_remove(loop->ep, &bl->later);
    ep_listen_detach(loop, bl); /* nothing left to do when tr_listener_close did it */
}

/* ---- the doorbell: the port's eventfd, edge-triggered --------------------------------------- */

static void bell_ready(struct tr_loop *loop, struct io_target *t, int events, unsigned flags) {
    (void)t;
    (void)events;
    (void)flags;
    uint64_t n;
    /* Reset the counter (a full one would block its writers); the inbox is read anyway. */
    while (read(loop->port->event_fd, &n, sizeof n) < 0 && errno == EINTR)
        ;
}

static void ep_bell_arm(struct tr_loop *loop) {
    struct epoll_state *ep = loop->ep;
    if (ep->bell_registered || !loop->port)
        return;
    struct port *p = loop->port;
    p->bell_done.complete = bell_ready;
    /* Non-blocking, so that the reset read never waits (the flag is the runtime's fd's). */
    int fl = fcntl(p->event_fd, F_GETFL);
    if (fl >= 0)
        fcntl(p->event_fd, F_SETFL, fl | O_NONBLOCK);
    struct epoll_event ev = {.events = EPOLLIN | EPOLLET, .data.u64 = (uintptr_t)&p->bell_done};
    /* Registered with a count already there, it reports at once: no ring is lost. */
    if (epoll_ctl(ep->epfd, EPOLL_CTL_ADD, p->event_fd, &ev) == 0)
        ep->bell_registered = true;
}

static bool ep_bell_ring(struct tr_loop *me, struct port *to) {
    (void)me;
    (void)to;
    return false; /* the eventfd, always */
}

/* ---- the turn ----------------------------------------------------------------------------------
 */

static void dispatch_events(struct tr_loop *loop) {
    struct epoll_state *ep = loop->ep;
    int n = ep->nevents;
    ep->nevents = 0;
    for (int i = 0; i < n; i++) {
        uint64_t d = ep->events[i].data.u64;
        uint32_t ev = ep->events[i].events;
        if (d & FD_TAG) {
            fd_ready(loop, (int)(d >> 1), ev);
        } else {
            struct io_target *t = (struct io_target *)(uintptr_t)d;
            t->complete(loop, t, (int)ev, 0);
        }
    }
}

static void ep_reap(struct tr_loop *loop) {
    struct epoll_state *ep = loop->ep;
    ep->inline_run = 0;
    /* What was due before this look runs after its events; what they queue (a listener
     * re-armed by an accept error, say) waits for the next one, as an SQE would. */
    struct be_deferred *due = ep->later_head;
    ep->later_head = ep->later_tail = NULL;
    dispatch_events(loop);
    if (due)
        later_run(loop, due);
}

static void ep_collect(struct tr_loop *loop, uint64_t ns) {
    struct epoll_state *ep = loop->ep;
    if (ep->later_head)
        ns = 0; /* completions are due: look, do not wait */
    int n = -1;
    if (ep->pwait2) {
        struct timespec ts = {(time_t)(ns / 1000000000u), (long)(ns % 1000000000u)};
        n = epoll_pwait2(ep->epfd, ep->events, MAX_EVENTS, ns == UINT64_MAX ? NULL : &ts, NULL);
        if (n < 0 && errno == ENOSYS)
            ep->pwait2 = false;
    }
    if (!ep->pwait2) {
        int ms = ns == UINT64_MAX                     ? -1
                 : ns >= (uint64_t)INT_MAX * 1000000u ? INT_MAX
                                                      : (int)((ns + 999999u) / 1000000u);
        n = epoll_wait(ep->epfd, ep->events, MAX_EVENTS, ms);
    }
    ep->nevents = n > 0 ? n : 0; /* EINTR: nothing; the loop looks again */
}

static bool ep_pending(struct tr_loop *loop) {
    return loop->ep->later_head != NULL;
}

static void ep_flush(struct tr_loop *loop) {
    (void)loop; /* nothing is queued for the kernel: every call went in when it was made */
}

/* A busy turn's look: readiness only. Deferred work runs at the start of the next poll, after
 * the tasks this poll woke have run (an acceptor that heard of EMFILE may fix it first). */
static void ep_kick(struct tr_loop *loop) {
    if (loop->inflight) {
        ep_collect(loop, 0);
        dispatch_events(loop);
    }
}

static void ep_wait(struct tr_loop *loop, uint64_t ns) {
    ep_collect(loop, ns);
}

/* The loop's end: every task is gone, so what is left in flight is listeners (and their
 * last completions, made here). */
static void ep_drain(struct tr_loop *loop) {
    struct epoll_state *ep = loop->ep;
    for (struct be_listen *bl = ep->listeners; bl; bl = bl->next_reg)
        ep_listen_cancel(loop, bl);
    for (int rounds = 0; (loop->inflight || ep->later_head) && rounds < 1000; rounds++) {
        ep_collect(loop, loop->inflight && !ep->later_head ? 1000000u : 0);
        ep_reap(loop);
    }
}

static int ep_init(struct tr_loop *loop, const tr_options *opts) {
    (void)opts;
    struct epoll_state *ep = calloc(1, sizeof *ep);
    if (!ep)
        return -ENOMEM;
    ep->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (ep->epfd < 0) {
        int rc = -errno;
        free(ep);
        return rc;
    }
    /* valgrind 3.19 does not know epoll_pwait2: milliseconds are enough there. */
    ep->pwait2 = !loop->under_valgrind;
    loop->ep = ep;
    return 0;
}

static void ep_destroy(struct tr_loop *loop) {
    struct epoll_state *ep = loop->ep;
    if (!ep)
        return;
    close(ep->epfd);
    for (size_t i = 0; i < ep->nchunks; i++)
        free(ep->chunks[i]);
    free(ep->chunks);
    free(ep);
    loop->ep = NULL;
}

const struct backend backend_epoll = {
    .name = "epoll",
    .kind = TR_BACKEND_EPOLL,
    .init = ep_init,
    .destroy = ep_destroy,
    .io = ep_io,
    .listen_arm = ep_listen_arm,
    .listen_cancel = ep_listen_cancel,
    .listen_detach = ep_listen_detach,
    .listen_free = ep_listen_free,
    .pending = ep_pending,
    .flush = ep_flush,
    .kick = ep_kick,
    .reap = ep_reap,
    .wait = ep_wait,
    .bell_arm = ep_bell_arm,
    .bell_ring = ep_bell_ring,
    .drain = ep_drain,
};
