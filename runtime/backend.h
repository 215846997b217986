/*
 * backend.h - the seam between the loop and the kernel interface it runs on (Redis's ae.c
 * split, libuv's uv__io_t): what a backend must do, and the few shapes both sides share.
 *
 * The loop (loop.c), the I/O calls (io_calls.c), listeners (listener.c) and the doorbell
 * (inbox.c) are written once against `struct backend`; each loop holds a pointer to the one it
 * runs (loop->be, chosen at tr_run: runtime/backend.c). Two implement it:
 *
 *   backend_uring.c  io_uring: one SQE per call, linked timeouts for deadline scopes, multishot
 *                    accept, MSG_RING between loops, batching in one io_uring_enter per turn;
 *   backend_epoll.c  epoll: readiness and non-blocking syscalls for sockets and pipes, files on
 *                    the worker pool, deadlines through the loop's timers and the wait's
 *                    timeout, a listener's accept4 loop on readiness, the doorbell's eventfd.
 *
 * Whatever completes (an operation, a listener's accept, a doorbell read) names a completion
 * target: a small struct with a function pointer, embedded in the thing that waits for it,
 * called with the result. There is no switch on tags in the dispatch.
 *
 * Deadlines belong to the wait layer (wait.c: the task's timer); a backend may carry them into
 * the kernel instead (io_uring's linked timeouts), clearing the waiter's timer_at.
 */
#ifndef TR_BACKEND_H
#define TR_BACKEND_H

#include "internal.h"

struct port;

/* What a completion is delivered to: `complete(loop, target, result, flags)` on the loop's
 * thread. `flags` is backend-specific (io_uring: the CQE's flags; F_MORE below for both). */
struct io_target {
    void (*complete)(struct tr_loop *loop, struct io_target *t, int res, unsigned flags);
};

/* A multishot completion says more will follow (IORING_CQE_F_MORE's value for both). */
#define BE_F_MORE (1u << 1)

/* One I/O call, as io_calls.c describes it to the backend. */
enum io_kind {
    IO_NOP,
    IO_READ,
    IO_WRITE,
    IO_READV,
    IO_WRITEV,
    IO_RECV,
    IO_SEND,
    IO_RECVMSG,
    IO_SENDMSG,
    IO_ACCEPT,
    IO_CONNECT,
    IO_SHUTDOWN,
    IO_OPENAT,
    IO_CLOSE,
    IO_FSYNC,
    IO_POLL,
};

struct io_req {
    uint8_t kind; /* enum io_kind */
    bool started; /* set by the backend once the operation may have run (tr_close) */
    int fd;       /* the fd (openat: the dirfd) */
    int flags;    /* recv/send/msg/accept/openat/fsync flags, shutdown's how, poll's events */
    unsigned len; /* bytes (clamped), iovcnt, connect's addrlen, openat's mode */
    void *p;      /* buffer, iovec array, msghdr, sockaddr, path */
    void *p2;     /* accept's addrlen */
    int64_t off;  /* read/write offset; negative: the file's current position */
};

/* epoll: work the loop does at its next poll, in user space (no allocation: embedded). */
struct be_deferred {
    struct be_deferred *next;
    bool queued;
    void (*run)(struct tr_loop *loop, struct be_deferred *d);
};

/* A listener's side of the seam, embedded in tr_listener (listener.c). */
struct be_listen {
    struct io_target done; /* each accepted fd or error: listener.c's handler */
    int fd;
    bool want; /* accepting: armed and not cancelled */
    /* epoll: readiness of the listening fd, and the state of the accept4 loop. */
    struct io_target ready;
    struct be_deferred later; /* an accept4 pass, or the last completion, is due */
    bool registered;          /* in the epoll set (edge-triggered) */
    bool cancel_due;          /* listen_cancel: the last completion (-ECANCELED) is due */
    int error_due;            /* listen_arm could not register the fd: this error is due */
    int saved_flags;          /* file status flags before we set O_NONBLOCK; -1: untouched */
    struct be_listen *next_reg, **prev_reg; /* the loop's registered listeners (drain) */
};

struct backend {
    const char *name;
    int kind; /* enum tr_backend: TR_BACKEND_IO_URING, TR_BACKEND_EPOLL */
    /* Make / free the loop's kernel side. destroy runs after drain. */
    int (*init)(struct tr_loop *loop, const tr_options *opts);
    void (*destroy)(struct tr_loop *loop);
    /* Run one call for `self` (a task of `loop`) to its end: admit, submit, wait, result. */
    int (*io)(struct tr_loop *loop, tr_task *self, struct io_req *req);
    /* Listeners: start accepting (each connection or error goes to bl->done, BE_F_MORE while
     * it keeps accepting); stop (a last completion without BE_F_MORE follows); forget the fd
     * (the listener is freed; no completion is pending). */
    void (*listen_arm)(struct tr_loop *loop, struct be_listen *bl);
    void (*listen_cancel)(struct tr_loop *loop, struct be_listen *bl);
    /* tr_listener_close: the program may close the fd, and the number be reused, as soon as
     * this returns: stop touching it (epoll: leave the set, put the flags back) although the
     * last completion is still to come. NULL: the backend never touches the fd after cancel. */
    void (*listen_detach)(struct tr_loop *loop, struct be_listen *bl);
    void (*listen_free)(struct tr_loop *loop, struct be_listen *bl);
    /* The turn: is anything queued that needs no wait (unsubmitted SQEs, completions made in
     * user space)? Send it. A busy turn's non-blocking look. Dispatch what has completed. Block
     * until something completes or `ns` pass (UINT64_MAX: no timeout); then `reap`. */
    bool (*pending)(struct tr_loop *loop);
    void (*flush)(struct tr_loop *loop);
    void (*kick)(struct tr_loop *loop);
    void (*reap)(struct tr_loop *loop);
    void (*wait)(struct tr_loop *loop, uint64_t ns);
    /* The doorbell: keep the eventfd's wake-up armed; ring loop `to`'s port in-band (false:
     * the caller writes to its eventfd). */
    void (*bell_arm)(struct tr_loop *loop);
    bool (*bell_ring)(struct tr_loop *me, struct port *to);
    /* The loop's end: stop listeners, cancel what is in flight, reap until nothing is. */
    void (*drain)(struct tr_loop *loop);
};

/* The io_uring opcode of a call's kind: what a waiter reports (introspect.c) on either
 * backend. */
static inline uint8_t io_kind_opcode(uint8_t kind) {
    static const uint8_t op[] = {
        [IO_NOP] = IORING_OP_NOP,         [IO_READ] = IORING_OP_READ,
        [IO_WRITE] = IORING_OP_WRITE,     [IO_READV] = IORING_OP_READV,
        [IO_WRITEV] = IORING_OP_WRITEV,   [IO_RECV] = IORING_OP_RECV,
        [IO_SEND] = IORING_OP_SEND,       [IO_RECVMSG] = IORING_OP_RECVMSG,
        [IO_SENDMSG] = IORING_OP_SENDMSG, [IO_ACCEPT] = IORING_OP_ACCEPT,
        [IO_CONNECT] = IORING_OP_CONNECT, [IO_SHUTDOWN] = IORING_OP_SHUTDOWN,
        [IO_OPENAT] = IORING_OP_OPENAT,   [IO_CLOSE] = IORING_OP_CLOSE,
        [IO_FSYNC] = IORING_OP_FSYNC,     [IO_POLL] = IORING_OP_POLL_ADD,
    };
    return kind < sizeof op ? op[kind] : IORING_OP_NOP;
}

extern const struct backend backend_uring;
extern const struct backend backend_epoll;

/* backend.c: the runtime's choice from tr_options.backend and TASKRING_BACKEND (-EINVAL: no
 * such backend); pick and create loop's backend from it (`decides`: loop 0, whose choice, or
 * fallback, the loops after it take). */
int backend_choice(const tr_options *opts, unsigned *out);
int backend_create(struct tr_loop *loop, struct tr_runtime *rt, bool decides);

#endif
