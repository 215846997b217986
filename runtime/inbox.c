/*
 * inbox.c - a loop's inbox and doorbell: how other threads hand it work.
 *
 * The inbox is a Treiber stack of references (a task that moves to this loop, or a message
 * to run here), pushed by any thread with one compare-and-swap and taken by the loop all at
 * once with one exchange, then reversed: messages run in the order they were posted. A task
 * is linked through its own run_next (it is in no run queue while it moves), so carrying a
 * task to another loop allocates nothing.
 *
 * The doorbell wakes a loop blocked in io_uring_enter, and only then: a loop that runs reads
 * its inbox every turn anyway. Before it blocks, the loop sets `sleeping` and looks at the
 * inbox once more; a poster pushes and then looks at `sleeping` (both sequentially
 * consistent), so either the loop sees the message or the poster sees the flag, and whoever
 * clears the flag rings: an io_uring loop ringing another io_uring loop with
 * IORING_OP_MSG_RING on its own ring (a CQE lands in the target's ring: no eventfd write,
 * batched with its other submissions: the backend's bell_ring), anyone else (an epoll loop, a
 * worker, a thread with a tr_runtime handle, any loop ringing an epoll loop) with a write to
 * the loop's eventfd, which the loop's backend watches (io_uring: a read kept in the ring;
 * epoll: the eventfd in its epoll set).
 */
#include "io.h"
#include "runtime.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

enum {
    REF_TASK = 1,     /* low bit of a reference: a task, not a message */
    INBOX_CLOSED = 2, /* head of an inbox whose loop has ended */
};

static uintptr_t ref_next(uintptr_t ref) {
    if (ref & REF_TASK)
        return (uintptr_t)((tr_task *)(ref & ~(uintptr_t)REF_TASK))->run_next;
    return ((struct msg *)ref)->next;
}

static void ref_set_next(uintptr_t ref, uintptr_t next) {
    if (ref & REF_TASK)
        ((tr_task *)(ref & ~(uintptr_t)REF_TASK))->run_next = (tr_task *)next;
    else
        ((struct msg *)ref)->next = next;
}

static int push(struct port *p, uintptr_t ref) {
    uintptr_t head = atomic_load_explicit(&p->head, memory_order_relaxed);
    do {
        if (head == INBOX_CLOSED)
            return -ESHUTDOWN;
        ref_set_next(ref, head);
    } while (!atomic_compare_exchange_weak_explicit(&p->head, &head, ref, memory_order_seq_cst,
                                                    memory_order_relaxed));
    return 0;
}

/* Wake loop `to` if it sleeps (or is about to). */
static void ring(struct tr_runtime *rt, unsigned to) {
    struct port *p = &rt->ports[to];
    if (!atomic_load_explicit(&p->sleeping, memory_order_seq_cst) ||
        !atomic_exchange_explicit(&p->sleeping, 0, memory_order_seq_cst))
        return;
    struct tr_loop *me = tr_tls_loop;
    if (me && me->rt == rt && me->be->bell_ring(me, p))
        return;
    uint64_t one = 1;
    while (write(p->event_fd, &one, sizeof one) < 0 && errno == EINTR)
        ;
}

int inbox_post(struct tr_runtime *rt, unsigned to, struct msg *m) {
    int rc = push(&rt->ports[to], (uintptr_t)m);
    if (rc == 0)
        ring(rt, to);
    return rc;
}

/* No message, but a state the loop must look at (stopping, finished, a register) was
 * written before this call: the poke makes a loop that is about to sleep look again. */
void inbox_ring(struct tr_runtime *rt, unsigned to) {
    atomic_store_explicit(&rt->ports[to].poked, 1, memory_order_seq_cst);
    ring(rt, to);
}

static void die(const char *what) {
    fprintf(stderr, "taskring: %s\n", what);
    abort();
}

void inbox_post_task(struct tr_loop *from, struct tr_loop *to, tr_task *t) {
    (void)from;
    /* Read before the push: once the task is in, `to` may run it, see it leave, and (the
     * runtime over) end and free its loop before this thread rings; the runtime and its
     * ports outlive every loop thread. */
    struct tr_runtime *rt = to->rt;
    unsigned id = to->id;
    /* Release: whoever reads `at` and finds `to` also sees the task as it left. */
    atomic_store_explicit(&t->at, to, memory_order_release);
    /* A loop closes its inbox only when no task of the runtime is left: this one is. */
    if (push(&rt->ports[id], (uintptr_t)t | REF_TASK) < 0)
        die("internal error: a task moved to a loop that has ended");
    ring(rt, id);
}

static void deliver(struct tr_loop *loop, uintptr_t ref) {
    if (ref & REF_TASK) {
        tr_task *t = (tr_task *)(ref & ~(uintptr_t)REF_TASK);
        fiber_wake(loop, t, 0); /* fiber_hop's caller ignores the result */
        return;
    }
    struct msg *m = (struct msg *)ref;
    m->run(loop, m);
}

/* Take the list (newest first), reverse it, deliver each in posting order. */
static size_t deliver_all(struct tr_loop *loop, uintptr_t list) {
    uintptr_t fifo = 0;
    while (list) {
        uintptr_t next = ref_next(list);
        ref_set_next(list, fifo);
        fifo = list;
        list = next;
    }
    size_t n = 0;
    while (fifo) {
        uintptr_t next = ref_next(fifo); /* read first: delivery relinks or frees it */
        deliver(loop, fifo);
        fifo = next;
        n++;
    }
    return n;
}

size_t inbox_drain(struct tr_loop *loop) {
    struct port *p = loop->port;
    if (atomic_load_explicit(&p->head, memory_order_relaxed) == 0)
        return 0;
    return deliver_all(loop, atomic_exchange_explicit(&p->head, 0, memory_order_acquire));
}

bool inbox_empty(const struct tr_loop *loop) {
    uintptr_t head = atomic_load_explicit(&loop->port->head, memory_order_seq_cst);
    return head == 0 || head == INBOX_CLOSED;
}

bool inbox_sleep_begin(struct tr_loop *loop) {
    struct port *p = loop->port;
    atomic_store_explicit(&p->sleeping, 1, memory_order_seq_cst);
    if (atomic_load_explicit(&p->head, memory_order_seq_cst) != 0 ||
        atomic_load_explicit(&p->poked, memory_order_seq_cst)) {
        atomic_store_explicit(&p->sleeping, 0, memory_order_relaxed);
        /* Not stuck any more before the poke is gone: the deadlock check counts a poke as
         * unread work, so there is no instant at which it sees neither. */
        runtime_awake(loop);
        atomic_store_explicit(&p->poked, 0, memory_order_seq_cst);
        return false;
    }
    return true;
}

void inbox_awake(struct tr_loop *loop) {
    atomic_store_explicit(&loop->port->sleeping, 0, memory_order_relaxed);
}

void inbox_close(struct tr_loop *loop) {
    struct port *p = loop->port;
    deliver_all(loop, atomic_exchange_explicit(&p->head, INBOX_CLOSED, memory_order_acquire));
}
