/*
 * io.h - what the I/O files share: the operation record, the tags a completion's user_data
 * carries, and the two halves of a call (io_begin, io_wait) that every wrapper in io_calls.c
 * is built from. Private to io_op.c, io_calls.c, listener.c and signal.c.
 */
#ifndef TR_IO_H
#define TR_IO_H

#include "wait.h"

/* user_data = record address | tag (records are 8-byte aligned). */
enum {
    TAG_OP = 0,       /* the operation itself */
    TAG_TIMEOUT = 1,  /* its linked timeout */
    TAG_CANCEL = 2,   /* an ASYNC_CANCEL request: nothing to do on completion */
    TAG_LISTENER = 3, /* a listener's multishot accept */
    TAG_BELL = 4,     /* a loop's doorbell (inbox.c): a MSG_RING CQE or its eventfd read */
    TAG_MASK = 7,
};

/* The record the kernel refers to: it must outlive every completion that names it. */
struct io_op {
    struct waiter *waiter;             /* the waiting task's; NULL once it has its result */
    int result;                        /* the operation's CQE res */
    uint8_t refs;                      /* CQEs still expected + 1 while the task waits */
    bool cancel_sent;                  /* an ASYNC_CANCEL for it is in the ring */
    struct __kernel_timespec deadline; /* read by the kernel at submission */
    struct io_op *next_free;
};

/* One call in the making: its task, its record, the SQEs reserved for it, and its wait. */
struct io_call {
    struct tr_loop *loop;
    tr_task *self;
    struct io_op *op;
    struct io_uring_sqe *sqe;
    struct io_uring_sqe *timeout_sqe; /* when a deadline scope is active */
    struct waiter wait;
};

int io_begin(struct io_call *c);
int io_wait(struct io_call *c);

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

/* Submit an ASYNC_CANCEL for the operation whose user_data is `target` (no wake-up of its
 * own: the operation's completion is what matters). */
void io_cancel_user_data(struct tr_loop *loop, uint64_t target);

/* listener.c: a multishot accept's completion; the shutdown steps io_drain and
 * io_pool_destroy take. */
void listener_complete(struct tr_loop *loop, tr_listener *l, int res, unsigned flags);
void listeners_stop(struct tr_loop *loop);
void listeners_free_all(struct tr_loop *loop);

#endif
