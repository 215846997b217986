/*
 * introspect.c - what a task waits on, read by a thread that does not own it.
 *
 * A task's wait lives on its own stack and is overwritten as soon as the wait ends, so a
 * reader on another thread (tr_dump, a signal handler that interrupted some other code) reads
 * it seqlock-style: the task's `wait_seq` before, the waiter, `wait_seq` after; the same
 * value both times means one wait was read whole (wait.h, wait_publish/wait_unpublish, says
 * why the order of the writer's steps makes that true). A reader never writes, so it cannot
 * slow or block the loop, however long it takes.
 */
#include "introspect.h"

enum { VIEW_TRIES = 16 };

#define LOAD(field) __atomic_load_n(&(field), __ATOMIC_RELAXED)

bool task_wait_view(const tr_task *t, struct wait_view *v) {
    for (int i = 0; i < VIEW_TRIES; i++) {
        uint32_t before = atomic_load_explicit(&t->wait_seq, memory_order_acquire);
        const struct waiter *w = __atomic_load_n(&t->waiter, __ATOMIC_ACQUIRE);
        *v = (struct wait_view){.waiting = w != NULL};
        if (w) {
            v->kind = LOAD(w->kind);
            v->object = LOAD(w->object);
            v->deadline_ns = LOAD(w->timer_at);
            if (v->kind == WAIT_IO) {
                v->io_opcode = LOAD(w->io_opcode);
                v->io_fd = LOAD(w->io_fd);
                v->deadline_ns = LOAD(t->scope_deadline_ns); /* the kernel's linked timeout */
            }
        }
        atomic_thread_fence(memory_order_acquire);
        if (atomic_load_explicit(&t->wait_seq, memory_order_relaxed) == before)
            return true;
    }
    return false;
}

/* File scope, not in wait_kind_name: the debug descriptor (debug.c) points readers outside the
 * process at this table, so that they print the names this build uses. */
const char *const wait_kind_names[WAIT_KIND_COUNT] = {
    [WAIT_SLEEP] = "sleep",
    [WAIT_TASK] = "await",
    [WAIT_TASKS] = "await-any",
    [WAIT_GROUP] = "group",
    [WAIT_IO] = "io",
    [WAIT_LISTENER] = "accept",
    [WAIT_EVENT] = "event",
    [WAIT_LOCK] = "lock",
    [WAIT_SEM] = "semaphore",
    [WAIT_COND] = "condition",
    [WAIT_QUEUE_GET] = "queue-get",
    [WAIT_QUEUE_PUT] = "queue-put",
    [WAIT_QUEUE_JOIN] = "queue-join",
    [WAIT_THREAD] = "thread",
};

const char *wait_kind_name(unsigned kind) {
    return kind < WAIT_KIND_COUNT && wait_kind_names[kind] ? wait_kind_names[kind] : "?";
}

const char *io_opcode_name(unsigned opcode) {
    switch (opcode) {
    case IORING_OP_NOP:
        return "nop";
    case IORING_OP_READ:
        return "read";
    case IORING_OP_WRITE:
        return "write";
    case IORING_OP_READV:
        return "readv";
    case IORING_OP_WRITEV:
        return "writev";
    case IORING_OP_FSYNC:
        return "fsync";
    case IORING_OP_RECV:
        return "recv";
    case IORING_OP_SEND:
        return "send";
    case IORING_OP_RECVMSG:
        return "recvmsg";
    case IORING_OP_SENDMSG:
        return "sendmsg";
    case IORING_OP_ACCEPT:
        return "accept";
    case IORING_OP_CONNECT:
        return "connect";
    case IORING_OP_OPENAT:
        return "openat";
    case IORING_OP_CLOSE:
        return "close";
    case IORING_OP_POLL_ADD:
        return "poll";
    case IORING_OP_TIMEOUT:
        return "timeout";
    case IORING_OP_SHUTDOWN:
        return "shutdown";
    case IORING_OP_SPLICE:
        return "splice";
    default:
        return "op";
    }
}
