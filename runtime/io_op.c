/*
 * io_op.c - fiber-blocking I/O's machinery: the operation record, submission, completion
 * dispatch, and the drain at shutdown. The wrappers are in io_calls.c.
 *
 * The operation record is the thing the kernel refers to, so it must outlive every completion
 * that names it, whatever happens to the task: it counts the CQEs it still expects (the
 * operation's, and its linked timeout's when a deadline scope is active) plus one for the
 * waiting task, and goes back to the loop's pool only when all are in.
 *
 * A call waits like any other wait (wait.c), with one difference: interrupting it (the task is
 * cancelled) submits IORING_OP_ASYNC_CANCEL and does not wake the task; the operation's own
 * completion does, once the kernel has let go of the buffer, and its result is owned (bytes
 * moved are never dropped). So a cancelled tr_recv never returns while the kernel can still
 * write into memory the task is about to reuse.
 */
#include "io.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

enum { OPS_PER_SLAB = 256 };

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

void io_cancel_user_data(struct tr_loop *loop, uint64_t target) {
    struct io_uring_sqe *sqe = io_get_sqe(loop);
    if (!sqe)
        return; /* the operation completes by itself; its task sees the result then */
    io_uring_prep_cancel64(sqe, target, 0);
    io_uring_sqe_set_data64(sqe, TAG_CANCEL);
    loop->inflight++;
}

/*
 * Check the calling task, take a record, and reserve every SQE the call needs at once: the
 * operation's and, inside a deadline scope, its linked timeout's. Reserving them together
 * matters: submitting the queue between the two would send the operation to the kernel
 * before its user_data and link flag are set.
 */
int io_begin(struct io_call *c) {
    struct tr_loop *loop;
    tr_task *self = calling_task(&loop);
    if (!self)
        return -EPERM;
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
    io_cancel_user_data(c->loop, (uint64_t)(uintptr_t)c->op);
}

/* Attach the record (and the linked timeout), suspend until the operation completes, and
 * return its result. */
int io_wait(struct io_call *c) {
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

void io_complete(struct tr_loop *loop, uint64_t user_data, int res, unsigned flags) {
    void *ptr = (void *)(uintptr_t)(user_data & ~(uint64_t)TAG_MASK);
    switch (user_data & TAG_MASK) {
    case TAG_OP: {
        struct io_op *op = ptr;
        op->result = res;
        if (op->waiter)
            waiter_fire(op->waiter, 0, true); /* io_wait reads op->result */
        op_unref(loop, op);
        break;
    }
    case TAG_TIMEOUT:
        op_unref(loop, ptr);
        break;
    case TAG_LISTENER:
        listener_complete(loop, ptr, res, flags);
        return; /* multishot: counts its own in-flight state */
    case TAG_BELL:
        inbox_bell_complete(loop, user_data & ~(uint64_t)TAG_MASK, res);
        return; /* not an operation: never counted in flight */
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
