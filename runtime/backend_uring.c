/*
 * backend_uring.c - the io_uring backend: one ring per loop, one SQE per call, every SQE of a
 * turn in one io_uring_enter, the wait's timeout as the timer heap's one kernel timeout.
 *
 * The operation record is the thing the kernel refers to, so it must outlive every completion
 * that names it, whatever happens to the task: it counts the CQEs it still expects (the
 * operation's, and its linked timeout's when a deadline scope is active) plus one for the
 * waiting task, and goes back to the loop's pool only when all are in.
 *
 * A call waits like any other wait (wait.c), with two differences. Its deadline is carried into
 * the kernel as a linked timeout (IOSQE_IO_LINK + IORING_OP_LINK_TIMEOUT), not the loop's timer.
 * And interrupting it (the task is cancelled) submits IORING_OP_ASYNC_CANCEL and does not wake
 * the task; the operation's own completion does, once the kernel has let go of the buffer, and
 * its result is owned (bytes moved are never dropped). So a cancelled tr_recv never returns
 * while the kernel can still write into memory the task is about to reuse.
 *
 * A CQE's user_data is a completion target (backend.h), or the target of an operation with bit
 * 0 set (its linked timeout), or one of the small constants below.
 */
#include "backend.h"
#include "runtime.h"
#include "wait.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

_Static_assert(BE_F_MORE == IORING_CQE_F_MORE, "BE_F_MORE is IORING_CQE_F_MORE");

enum {
    OPS_PER_SLAB = 256,
    CQE_BATCH = 64,
    UD_CANCEL = 0,     /* an ASYNC_CANCEL request: counted in flight, nothing else to do */
    UD_BELL_RING = 8,  /* a doorbell another loop rang with MSG_RING: the wake-up is all */
    UD_BELL_SENT = 16, /* our own MSG_RING's completion (only when it failed) */
    UD_MIN_TARGET = 64,
    UD_TIMEOUT = 1, /* low bit: the linked timeout of the operation whose target this is */
};
#define VALGRIND_SLICE_NS UINT64_C(1000000)

/* The record the kernel refers to: it must outlive every completion that names it. */
struct io_op {
    struct io_target target;           /* first: the CQE's user_data */
    struct waiter *waiter;             /* the waiting task's; NULL once it has its result */
    int result;                        /* the operation's CQE res */
    uint8_t refs;                      /* CQEs still expected + 1 while the task waits */
    bool cancel_sent;                  /* an ASYNC_CANCEL for it is in the ring */
    struct __kernel_timespec deadline; /* read by the kernel at submission */
    struct io_op *next_free;
};

struct io_op_slab {
    struct io_op_slab *next;
    struct io_op ops[OPS_PER_SLAB];
};

/* ---- the ring -------------------------------------------------------------------------------- */

/* Ask for the flags that suit one thread owning its ring; drop what the kernel refuses. */
static int uring_init(struct tr_loop *loop, const tr_options *opts) {
    static const unsigned flag_sets[] = {
        IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
        IORING_SETUP_SINGLE_ISSUER,
        0,
    };
    unsigned entries = opts->ring_entries ? opts->ring_entries : 256;
    int rc = -EINVAL;
    for (size_t i = 0; i < sizeof flag_sets / sizeof flag_sets[0]; i++) {
        struct io_uring_params params;
        memset(&params, 0, sizeof params);
        params.flags = flag_sets[i];
        rc = io_uring_queue_init_params(entries, &loop->ring, &params);
        if (rc != -EINVAL)
            break;
    }
    if (rc == 0)
        loop->ring_ready = true;
    return rc;
}

static struct io_uring_sqe *get_sqe(struct tr_loop *loop) {
    struct io_uring_sqe *sqe = io_uring_get_sqe(&loop->ring);
    if (!sqe) {
        /* The SQ is full within one turn: send what is queued and take a fresh slot. */
        io_uring_submit(&loop->ring);
        sqe = io_uring_get_sqe(&loop->ring);
    }
    return sqe;
}

static void op_unref(struct tr_loop *loop, struct io_op *op);

static void dispatch(struct tr_loop *loop, uint64_t ud, int res, unsigned flags) {
    if (TR_UNLIKELY(ud & UD_TIMEOUT)) { /* a linked timeout's CQE: one completion less */
        op_unref(loop, (struct io_op *)(uintptr_t)(ud & ~(uint64_t)UD_TIMEOUT));
        loop->inflight--;
        return;
    }
    if (TR_UNLIKELY(ud < UD_MIN_TARGET)) {
        if (ud == UD_CANCEL)
            loop->inflight--;
        return; /* doorbells: never counted in flight */
    }
    struct io_target *t = (struct io_target *)(uintptr_t)ud;
    t->complete(loop, t, res, flags);
}

static void uring_reap(struct tr_loop *loop) {
    struct io_uring_cqe *cqes[CQE_BATCH];
    unsigned n;
    while ((n = io_uring_peek_batch_cqe(&loop->ring, cqes, CQE_BATCH)) > 0) {
        for (unsigned i = 0; i < n; i++)
            dispatch(loop, cqes[i]->user_data, cqes[i]->res, cqes[i]->flags);
        io_uring_cq_advance(&loop->ring, n);
    }
}

static bool uring_pending(struct tr_loop *loop) {
    return io_uring_sq_ready(&loop->ring) != 0;
}

static void uring_flush(struct tr_loop *loop) {
    if (io_uring_sq_ready(&loop->ring))
        io_uring_submit(&loop->ring);
}

static void uring_kick(struct tr_loop *loop) {
    if (io_uring_sq_ready(&loop->ring) || loop->inflight) {
        io_uring_submit_and_get_events(&loop->ring);
        uring_reap(loop);
    }
}

/*
 * Valgrind (3.19) holds its one lock through io_uring_enter: while a loop sleeps there, no
 * other thread of the process (another loop, a worker, a handle's thread) runs, and a
 * doorbell that only they can ring never comes. Under valgrind a loop submits without
 * waiting and naps in nanosleep (which releases the lock) a slice at a time instead.
 */
static void valgrind_nap(struct tr_loop *loop, uint64_t wait) {
    io_uring_submit_and_get_events(&loop->ring); /* runs deferred completions, never waits */
    struct io_uring_cqe *cqe;
    if (io_uring_peek_cqe(&loop->ring, &cqe) == 0)
        return;
    struct timespec nap = {0, (long)(wait < VALGRIND_SLICE_NS ? wait : VALGRIND_SLICE_NS)};
    nanosleep(&nap, NULL);
}

static void uring_wait(struct tr_loop *loop, uint64_t wait) {
    if (TR_UNLIKELY(loop->under_valgrind)) {
        valgrind_nap(loop, wait);
        return;
    }
    struct __kernel_timespec ts, *tsp = NULL;
    if (wait != UINT64_MAX) {
        ts.tv_sec = (long long)(wait / 1000000000u);
        ts.tv_nsec = (long long)(wait % 1000000000u);
        tsp = &ts;
    }
    struct io_uring_cqe *cqe;
    io_uring_submit_and_wait_timeout(&loop->ring, &cqe, 1, tsp, NULL);
}

static void uring_destroy(struct tr_loop *loop) {
    struct io_op_slab *s = loop->io_slabs;
    while (s) {
        struct io_op_slab *next = s->next;
        free(s);
        s = next;
    }
    loop->io_slabs = NULL;
    loop->io_free = NULL;
    if (loop->ring_ready)
        io_uring_queue_exit(&loop->ring);
    loop->ring_ready = false;
}

/* ---- operations ------------------------------------------------------------------------------ */

static void op_complete(struct tr_loop *loop, struct io_target *t, int res, unsigned flags);

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
    op->target.complete = op_complete;
    return op;
}

static void op_unref(struct tr_loop *loop, struct io_op *op) {
    if (--op->refs == 0) {
        op->next_free = loop->io_free;
        loop->io_free = op;
    }
}

static void op_complete(struct tr_loop *loop, struct io_target *t, int res, unsigned flags) {
    (void)flags;
    struct io_op *op = (struct io_op *)t;
    op->result = res;
    if (op->waiter)
        waiter_fire(op->waiter, 0, true); /* the call reads op->result */
    op_unref(loop, op);
    loop->inflight--;
}

/* Submit an ASYNC_CANCEL for the target `t` (no wake-up of its own: the operation's
 * completion is what matters). */
static void cancel_target(struct tr_loop *loop, struct io_target *t) {
    struct io_uring_sqe *sqe = get_sqe(loop);
    if (!sqe)
        return; /* the operation completes by itself; its task sees the result then */
    io_uring_prep_cancel64(sqe, (uint64_t)(uintptr_t)t, 0);
    io_uring_sqe_set_data64(sqe, UD_CANCEL);
    loop->inflight++;
}

/* One call in the making: its task, its record, the SQEs reserved for it, and its wait. */
struct io_call {
    struct tr_loop *loop;
    tr_task *self;
    struct io_op *op;
    struct io_uring_sqe *sqe;
    struct io_uring_sqe *timeout_sqe; /* when a deadline scope is active */
    struct waiter wait;
};

/*
 * Check the calling task, take a record, and reserve every SQE the call needs at once: the
 * operation's and, inside a deadline scope, its linked timeout's. Reserving them together
 * matters: submitting the queue between the two would send the operation to the kernel
 * before its user_data and link flag are set.
 */
static int io_begin(struct io_call *c, struct tr_loop *loop, tr_task *self) {
    int rc = wait_admit(self);
    if (rc < 0)
        return rc;
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

/* The task was cancelled while its operation is in the kernel: ask the kernel to stop, and
 * let the operation's completion wake the task once the buffer is free again. */
static void io_interrupt(struct waiter *w, int err) {
    (void)err;
    struct io_call *c = (struct io_call *)((char *)w - offsetof(struct io_call, wait));
    if (c->op->cancel_sent)
        return;
    c->op->cancel_sent = true;
    cancel_target(c->loop, &c->op->target);
}

/* Attach the record (and the linked timeout), suspend until the operation completes, and
 * return its result. */
static int io_wait(struct io_call *c) {
    struct tr_loop *loop = c->loop;
    tr_task *self = c->self;
    struct io_op *op = c->op;
    waiter_init(&c->wait, loop, self, WAIT_IO, NULL);
    c->wait.timer_at = 0; /* the deadline is the kernel's linked timeout, not the loop's timer */
    c->wait.on_interrupt = io_interrupt;
    c->wait.io_opcode = c->sqe->opcode; /* for reports (introspect.c) */
    c->wait.io_fd = c->sqe->fd;
    op->waiter = &c->wait;
    op->refs = 2; /* the operation's CQE + the waiting task */
    io_uring_sqe_set_data(c->sqe, &op->target);
    if (c->timeout_sqe) {
        c->sqe->flags |= IOSQE_IO_LINK;
        op->deadline.tv_sec = (long long)(self->scope_deadline_ns / 1000000000u);
        op->deadline.tv_nsec = (long long)(self->scope_deadline_ns % 1000000000u);
        io_uring_prep_link_timeout(c->timeout_sqe, &op->deadline, IORING_TIMEOUT_ABS);
        io_uring_sqe_set_data64(c->timeout_sqe, (uint64_t)(uintptr_t)op | UD_TIMEOUT);
        op->refs++;
        loop->inflight++;
    }
    loop->inflight++;
    wait_block(&c->wait); /* cannot fail: no timer to arm */

    int res = op->result;
    bool asked = op->cancel_sent; /* did we cancel it? (not when a shield held it back) */
    op->waiter = NULL;
    op_unref(loop, op);
    /* With a linked timeout, -ECANCELED that we did not ask for is the deadline. */
    if (res == -ECANCELED && c->timeout_sqe && !asked)
        res = -ETIME;
    return res;
}

static uint64_t file_offset(int64_t offset) {
    return offset < 0 ? (uint64_t)-1 : (uint64_t)offset;
}

static void prep(struct io_uring_sqe *sqe, const struct io_req *r) {
    switch (r->kind) {
    case IO_NOP:
        io_uring_prep_nop(sqe);
        break;
    case IO_READ:
        io_uring_prep_read(sqe, r->fd, r->p, r->len, file_offset(r->off));
        break;
    case IO_WRITE:
        io_uring_prep_write(sqe, r->fd, r->p, r->len, file_offset(r->off));
        break;
    case IO_READV:
        io_uring_prep_readv(sqe, r->fd, r->p, r->len, file_offset(r->off));
        break;
    case IO_WRITEV:
        io_uring_prep_writev(sqe, r->fd, r->p, r->len, file_offset(r->off));
        break;
    case IO_RECV:
        io_uring_prep_recv(sqe, r->fd, r->p, r->len, r->flags);
        break;
    case IO_SEND:
        io_uring_prep_send(sqe, r->fd, r->p, r->len, r->flags);
        break;
    case IO_RECVMSG:
        io_uring_prep_recvmsg(sqe, r->fd, r->p, (unsigned)r->flags);
        break;
    case IO_SENDMSG:
        io_uring_prep_sendmsg(sqe, r->fd, r->p, (unsigned)r->flags);
        break;
    case IO_ACCEPT:
        io_uring_prep_accept(sqe, r->fd, r->p, r->p2, r->flags);
        break;
    case IO_CONNECT:
        io_uring_prep_connect(sqe, r->fd, r->p, r->len);
        break;
    case IO_SHUTDOWN:
        io_uring_prep_shutdown(sqe, r->fd, r->flags);
        break;
    case IO_OPENAT:
        io_uring_prep_openat(sqe, r->fd, r->p, r->flags, r->len);
        break;
    case IO_CLOSE:
        io_uring_prep_close(sqe, r->fd);
        break;
    case IO_FSYNC:
        io_uring_prep_fsync(sqe, r->fd, (unsigned)r->flags);
        break;
    case IO_POLL:
        io_uring_prep_poll_add(sqe, r->fd, (unsigned)r->flags);
        break;
    default:
        io_uring_prep_nop(sqe);
        break;
    }
}

static int uring_io(struct tr_loop *loop, tr_task *self, struct io_req *req) {
    struct io_call call;
    int rc = io_begin(&call, loop, self);
    if (rc < 0)
        return rc;
    prep(call.sqe, req);
    req->started = true;
    return io_wait(&call);
}

/* ---- listeners: one multishot accept -----------------------------------------------------------
 */

static void uring_listen_arm(struct tr_loop *loop, struct be_listen *bl) {
    struct io_uring_sqe *sqe = get_sqe(loop);
    if (!sqe) {
        bl->want = false;
        return;
    }
    io_uring_prep_multishot_accept(sqe, bl->fd, NULL, NULL, SOCK_CLOEXEC);
    io_uring_sqe_set_data(sqe, &bl->done);
    bl->want = true;
    loop->inflight++;
}

static void uring_listen_cancel(struct tr_loop *loop, struct be_listen *bl) {
    cancel_target(loop, &bl->done);
}

static void uring_listen_free(struct tr_loop *loop, struct be_listen *bl) {
    (void)loop;
    (void)bl;
}

/* ---- the doorbell ------------------------------------------------------------------------------
 */

static void bell_read_done(struct tr_loop *loop, struct io_target *t, int res, unsigned flags) {
    (void)t;
    (void)res;
    (void)flags;
    loop->bell_armed = false; /* armed again before the next sleep */
}

/* Keep a read of the port's eventfd in the ring (never counted in flight). */
static void uring_bell_arm(struct tr_loop *loop) {
    if (loop->bell_armed)
        return;
    struct io_uring_sqe *sqe = get_sqe(loop);
    if (!sqe)
        return;
    struct port *p = loop->port;
    p->bell_done.complete = bell_read_done;
    io_uring_prep_read(sqe, p->event_fd, &p->event_buf, sizeof p->event_buf, 0);
    io_uring_sqe_set_data(sqe, &p->bell_done);
    loop->bell_armed = true;
}

/* From one io_uring loop to another: a MSG_RING SQE on our ring puts a CQE in theirs, and goes
 * out with our next submission. */
static bool uring_bell_ring(struct tr_loop *me, struct port *to) {
    if (to->ring_fd < 0 || !me->ring_ready)
        return false;
    struct io_uring_sqe *sqe = get_sqe(me);
    if (!sqe)
        return false;
    io_uring_prep_msg_ring(sqe, to->ring_fd, 0, UD_BELL_RING, 0);
    /* No completion of our own unless it failed (the target's ring is gone: then it has
     * nothing to be woken for), and never counted as I/O in flight. */
    io_uring_sqe_set_data64(sqe, UD_BELL_SENT);
    sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
    return true;
}

/* ---- the end -----------------------------------------------------------------------------------
 */

static void uring_drain(struct tr_loop *loop) {
    if (!loop->inflight)
        return;
    struct io_uring_sqe *sqe = get_sqe(loop);
    if (sqe) {
        io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ANY | IORING_ASYNC_CANCEL_ALL);
        io_uring_sqe_set_data64(sqe, UD_CANCEL);
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
            dispatch(loop, cqe->user_data, cqe->res, cqe->flags);
            io_uring_cqe_seen(&loop->ring, cqe);
        }
    }
}

const struct backend backend_uring = {
    .name = "io_uring",
    .kind = TR_BACKEND_IO_URING,
    .init = uring_init,
    .destroy = uring_destroy,
    .io = uring_io,
    .listen_arm = uring_listen_arm,
    .listen_cancel = uring_listen_cancel,
    .listen_free = uring_listen_free,
    .pending = uring_pending,
    .flush = uring_flush,
    .kick = uring_kick,
    .reap = uring_reap,
    .wait = uring_wait,
    .bell_arm = uring_bell_arm,
    .bell_ring = uring_bell_ring,
    .drain = uring_drain,
};
