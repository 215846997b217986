/*
 * taskring.h - asyncio's task model for C, on stackful fibers and io_uring.
 *
 * One loop per thread runs tasks. Each task runs a plain C function on its own stack;
 * a call that would block (tr_sleep, tr_await, tr_yield) suspends only that task.
 *
 * Conventions (liburing's):
 *   - calls returning int give 0 or a positive count on success, a negative errno on failure;
 *   - calls returning a pointer give NULL and set errno on failure.
 *
 * Threads: a loop and its tasks belong to the thread that called tr_run. The calls marked
 * "any thread" below may also be made from other threads of the process (a monitoring
 * thread, typically); every other call must be made from a task of the loop that owns the
 * task it names.
 *
 * Full reference with examples: docs/api.md. Design: docs/architecture.md.
 */
#ifndef TASKRING_H
#define TASKRING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TASKRING_VERSION_MAJOR 0
#define TASKRING_VERSION_MINOR 1
#define TASKRING_VERSION_PATCH 0

/* A task's body. Its return value is what tr_await hands to the awaiting task. */
typedef void *(*tr_fn)(void *arg);

typedef struct tr_task tr_task;       /* a task: opaque, reference counted */
typedef struct tr_taskset tr_taskset; /* a snapshot of tasks (tr_all_tasks) */

/* ---- Running a loop ---------------------------------------------------------------------- */

/* Loop settings for tr_run_with. Zero fields take the defaults shown. */
typedef struct tr_options {
    size_t stack_size;      /* usable bytes per task stack; default 64 KiB, 16 KiB..1 GiB */
    size_t max_idle_stacks; /* resident idle stacks kept for reuse; default (0) 4096 */
    unsigned ring_entries;  /* io_uring submission queue size; default (0) 256, 2..32768 */
    /* Inaccessible bytes below each stack, so that an overflow faults (and is reported with
     * the task's name) instead of writing into the next stack: a frame larger than the guard
     * jumps it unless the code is built with -fstack-clash-protection. Default (0) 256 KiB,
     * 4 KiB..64 MiB, rounded up to pages. With MADV_GUARD_INSTALL (Linux 6.13) a guard costs
     * no memory but its page-table entries; see docs/api.md, "Stacks". */
    size_t guard_size;
    unsigned reserved[6]; /* must be zero */
} tr_options;

/*
 * asyncio.run(main(arg)): create a loop on this thread, run `main` as a task (named from the
 * process-wide counter: "Task-1" in a fresh process, like asyncio) until it returns, store its
 * return value in *result (if result is not NULL), cancel every task still pending and let each
 * finish, free everything, and return 0. Errors: -EINVAL (main is NULL, or bad options), -EBUSY (a
 * loop already runs on this thread), -ENOMEM, io_uring setup errors (-EPERM, -ENOSYS, ...: see
 * tr_strerror), -ECANCELED (main was cancelled).
 */
int tr_run(tr_fn main, void *arg, void **result);
int tr_run_with(const tr_options *opts, tr_fn main, void *arg, void **result);

/* ---- Tasks --------------------------------------------------------------------------------- */

/*
 * asyncio.create_task: schedule fn(arg) to run soon on the current loop. Returns a
 * reference owned by the caller (drop it with tr_task_release; the task runs to its end
 * either way). The task's name is "Task-N", N drawn from one process-wide counter shared
 * with every loop's main task. Errors (NULL + errno): EINVAL (fn is NULL), EPERM (no loop
 * runs on this thread), ENOMEM.
 */
tr_task *tr_spawn(tr_fn fn, void *arg);
/* As tr_spawn, named `name` (copied). A NULL name means the default "Task-N". */
tr_task *tr_spawn_named(tr_fn fn, void *arg, const char *name);

/* Take one more reference to t (any thread). Returns t; NULL + EINVAL for NULL, NULL + ESRCH
 * when t has already lost its last reference (a finished task seen in a snapshot). */
tr_task *tr_task_retain(tr_task *t);
/* Drop one reference (any thread). Releasing more often than retained aborts the process
 * with a message when the misuse is detectable. NULL is ignored. */
void tr_task_release(tr_task *t);

/* asyncio.current_task: the running task of this thread, NULL outside any task. */
tr_task *tr_current(void);

/*
 * `await t`: suspend the calling task until t is done; store t's return value in *result
 * (if not NULL). Returns at once when t is already done. Errors: -EINVAL (t is NULL),
 * -EPERM (not called from a task, or t belongs to another loop), -EDEADLK (t is the caller:
 * asyncio's "Task cannot await on itself"; or waiting would close a cycle of awaits),
 * -ECANCELED (t was cancelled, or the caller was cancelled while waiting), -ETIME (the
 * caller's deadline scope expired; t keeps running), -ENOMEM (t could not get a stack), or
 * the error t failed with (tr_fail; *result still gets its return value).
 */
int tr_await(tr_task *t, void **result);

/*
 * Request cancellation: if t is suspended, that suspension returns -ECANCELED now;
 * if it was already woken, the suspension it returns from gives -ECANCELED instead (unless
 * it carries a result that must not be lost: an accepted fd, an I/O completion); if it is
 * running, its next; and so does every later one (cancellation is sticky: a C function
 * cannot be unwound, so it is asked to return). A task cancelled before it first runs never
 * runs. Returns 1 when the request was made, 0 when t was already done; -EINVAL for NULL,
 * -EPERM from another thread/loop.
 */
int tr_task_cancel(tr_task *t);

/*
 * Task outcomes, asyncio's exceptions in C. In a task, tr_fail(err) marks it failed with err
 * (a negative errno; anything else is recorded as -EINVAL) and returns NULL, for
 * `return tr_fail(-EPROTO);`. NULL + EPERM outside a task. A failure is what tr_await returns
 * (the task's return value is still stored), what tr_task_error reports, and what tr_run
 * returns for the main task; a failed task whose error nobody reads is reported on stderr
 * when its last reference goes. A task that was cancelled and returns finishes cancelled,
 * however it returns, unless it called tr_fail (the failure says more).
 */
void *tr_fail(int err);
/* Any thread: 0 (returned normally), the error it failed with, -ECANCELED, -ENOMEM (it never
 * got a stack), -EBUSY (not done yet), -EINVAL (NULL). Reading it counts as retrieving it. */
int tr_task_error(const tr_task *t);

bool tr_task_done(const tr_task *t); /* returned, failed, cancelled, or had no stack (any thread) */
bool tr_task_cancelled(const tr_task *t); /* finished by cancellation (any thread) */

/*
 * The task's name (any thread). NULL + EINVAL for NULL. The pointer is valid while the caller
 * holds t and t is not renamed: a rename frees the old name once no set or pinned reader could
 * still be reading it. A set (tr_all_tasks, tr_all_tasks_fill) that holds t keeps every name
 * t has had while the set lives, readable from any thread, until the set is freed or refilled.
 * A thread that holds only a reference cannot know when the loop renames t: it should use
 * tr_task_name_copy (or tr_task_repr) instead.
 */
const char *tr_task_name(const tr_task *t);
/*
 * Copy t's name into buf (any thread, any time the caller holds t or a set with it; safe
 * across a concurrent rename). Always NUL-terminated when len > 0. Returns the length of the
 * full name, like snprintf (>= len means it was truncated); -EINVAL for NULL t, or NULL buf
 * with len > 0; -ENOMEM in the rare case that no epoch pin can be allocated.
 */
int tr_task_name_copy(const tr_task *t, char *buf, size_t len);
/* Rename t (copied). 0, or -EINVAL (NULL t or name), -ENOMEM, -EPERM (other thread). Names
 * given up this way are freed once no reader can hold them: memory stays bounded however
 * often a task is renamed. */
int tr_task_set_name(tr_task *t, const char *name);
/* Task.get_coro's counterpart: t's function, and its argument in *arg if arg is not NULL.
 * NULL + EINVAL for NULL t. (any thread) */
tr_fn tr_task_fn(const tr_task *t, void **arg);
/*
 * Write a readable description such as <Task pending name='Task-1' fn=main_task> into buf
 * (always NUL-terminated when len > 0). The name is quoted and escaped as Python's repr()
 * does a str (quotes, backslash, \n \r \t, other control bytes and malformed UTF-8 as \xNN),
 * so a description is always one line. The function's symbol appears when the binary
 * exports it (link with -rdynamic), its address otherwise. Returns the length the full
 * text needs, like snprintf, or -EINVAL (t NULL, or buf NULL with len > 0), -ENOMEM (no
 * epoch pin, rare). Any thread, safe across a concurrent rename.
 */
int tr_task_repr(const tr_task *t, char *buf, size_t len);

/* ---- Suspending ---------------------------------------------------------------------------- */

/* Sleep at least ns nanoseconds. 0, -ECANCELED, -ETIME (a deadline scope ends first),
 * -ENOMEM, or -EPERM outside a task. tr_sleep(0) is tr_yield(). */
int tr_sleep(uint64_t ns);
/* Let every other runnable task run once, then continue. 0, -ECANCELED, -EPERM. */
int tr_yield(void);

/* ---- All tasks ----------------------------------------------------------------------------- */

/*
 * asyncio.all_tasks: a snapshot of every task of the process that is not done (scheduled,
 * running, or suspended), each once. Any thread, inside a task or not. The set keeps every
 * task it holds readable (name, fn, repr, done) until tr_taskset_free, even after the task
 * finishes. NULL + ENOMEM on failure.
 */
tr_taskset *tr_all_tasks(void);
size_t tr_taskset_size(const tr_taskset *s);
/* The i-th task (unspecified order). NULL + errno EINVAL (s NULL) or ERANGE (i too large). */
tr_task *tr_taskset_get(const tr_taskset *s, size_t i);
/* set.remove(t): 0, -ENOENT (t is not in s), -EINVAL (NULL). */
int tr_taskset_remove(tr_taskset *s, const tr_task *t);
void tr_taskset_free(tr_taskset *s);

/*
 * For samplers that snapshot often: an empty reusable set with room for `capacity` tasks,
 * and a call that refills it in place without allocating. tr_all_tasks_fill returns the
 * number of live tasks, like snprintf: when it exceeds the capacity, the set holds only the
 * first `capacity` of them. -EINVAL for NULL, -ENOMEM in the rare case that every epoch pin is
 * taken and a new block of pins cannot be allocated. Any thread.
 */
tr_taskset *tr_taskset_new(size_t capacity);
ssize_t tr_all_tasks_fill(tr_taskset *s);

/* Live (not done) tasks in the process, in O(1) per loop, without a snapshot. Any thread.
 * Exact for the caller's own loop; another loop's share is as of that loop's last turn (or
 * its last 256 spawns and finishes), because publishing it on every spawn would make a
 * monitoring thread that polls the count slow the loop down. */
size_t tr_task_count(void);

/* ---- I/O: fiber-blocking calls on io_uring -------------------------------------------------- */

/*
 * Each call submits one io_uring operation for the calling task and suspends only that task
 * until the operation completes; it returns the completion's result as the kernel gave it
 * (bytes, an fd, 0, or a negative errno). Operations issued by many tasks during one turn
 * reach the kernel in one io_uring_enter. Extra errors: -EPERM (not called from a task),
 * -EBUSY (the submission queue cannot take the call), -ENOMEM (no operation record),
 * -ECANCELED (the task was cancelled: the operation is cancelled in the kernel and the call
 * returns once the kernel is done with the buffer), -ETIME (a deadline scope expired).
 * A negative offset means "the file's current position" (read/write/readv/writev).
 */
struct iovec;
struct msghdr;
struct sockaddr;

int tr_read(int fd, void *buf, size_t len, int64_t offset);
int tr_write(int fd, const void *buf, size_t len, int64_t offset);
int tr_readv(int fd, const struct iovec *iov, int iovcnt, int64_t offset);
int tr_writev(int fd, const struct iovec *iov, int iovcnt, int64_t offset);
int tr_recv(int fd, void *buf, size_t len, int flags);
int tr_send(int fd, const void *buf, size_t len, int flags);
int tr_recvmsg(int fd, struct msghdr *msg, int flags);
int tr_sendmsg(int fd, const struct msghdr *msg, int flags);
int tr_accept(int fd, struct sockaddr *addr, unsigned *addrlen, int flags);
int tr_connect(int fd, const struct sockaddr *addr, unsigned addrlen);
int tr_shutdown(int fd, int how);
int tr_openat(int dirfd, const char *path, int flags, unsigned mode);
/* Cleanup must not fail for cancellation: in a cancelled task, or past its deadline, tr_close
 * closes fd at once with close(2) instead of returning -ECANCELED/-ETIME. */
int tr_close(int fd);
int tr_fsync(int fd, unsigned flags);
/* Wait until fd is ready for `events` (POLLIN, POLLOUT, ...); returns the ready mask. */
int tr_poll(int fd, unsigned events);
/* An IORING_OP_NOP round trip through the ring: the runtime's per-operation cost. */
int tr_nop(void);

/*
 * Deadlines, asyncio.timeout's counterpart: between tr_deadline_begin and tr_deadline_end,
 * every call of this task that would wait (I/O, tr_sleep, tr_await of an unfinished task,
 * tr_listener_accept with nothing queued; not tr_yield) returns -ETIME once `timeout_ns` has
 * passed since the scope began. An I/O call carries the
 * deadline into the kernel as a linked timeout. Scopes nest; an inner scope never extends an
 * outer one. A per-call deadline is a scope around one call. The scope lives on the caller's
 * stack; end scopes in reverse order. tr_deadline_begin returns 0, -EPERM outside a task,
 * -EINVAL for NULL.
 *
 * Misuse (ending a scope that is not the caller's innermost, or another task's scope) aborts
 * with a message when the library is a Debug build; otherwise ending a scope that encloses
 * the innermost one ends the inner ones with it, and ending one the caller does not have is
 * ignored. The same holds for shields.
 */
typedef struct tr_deadline {
    uint64_t saved_; /* the enclosing deadline, restored by tr_deadline_end */
    uint64_t at_;    /* this scope's absolute deadline (CLOCK_MONOTONIC ns) */
    void *owner_;    /* the task that began it */
    void *outer_;    /* the scope it is nested in */
} tr_deadline;
int tr_deadline_begin(tr_deadline *scope, uint64_t timeout_ns);
void tr_deadline_end(tr_deadline *scope);
/* Has this scope's deadline passed? (Then every call in it that would wait returns -ETIME.) */
bool tr_deadline_expired(const tr_deadline *scope);

/*
 * Cancel shields, for cleanup after a cancellation (send a goodbye, flush, release a lock):
 * between tr_shield_begin and tr_shield_end the calling task's waits do not return
 * -ECANCELED, and a cancellation requested meanwhile is held back and delivered by the first
 * wait after the scope ends. Deadline scopes still apply inside, so cleanup can be bounded.
 * Shields nest; the scope lives on the caller's stack. 0, -EINVAL (NULL), -EPERM outside a
 * task. (A deadlock that tr_run breaks cancels through shields.)
 */
typedef struct tr_shield {
    void *owner_; /* the task that began it */
    void *outer_; /* the shield it is nested in */
} tr_shield;
int tr_shield_begin(tr_shield *s);
void tr_shield_end(tr_shield *s);

/*
 * Listening sockets with multishot accept: one SQE keeps accepting; connections queue in
 * the listener until tr_listener_accept takes them. `fd` must be a listening socket; the
 * listener does not own it. Connections go to the acceptor that has waited longest, and an
 * acceptor handed one keeps it even if it is cancelled before it runs (-ECANCELED comes at its
 * next call). An accept error (EMFILE, ENFILE, ...) goes to the oldest acceptor, once; the
 * accept is re-armed at once while others wait, else by the next call.
 * tr_listener_close cancels the accept and wakes its waiters with -ECANCELED; connections
 * still queued are closed. Listeners left open are closed when tr_run ends.
 */
typedef struct tr_listener tr_listener;
tr_listener *tr_listener_open(int fd);
/* At most `limit` accepted connections wait in the listener for tr_listener_accept (default
 * 4096); when that many do, it stops accepting until one is taken, and the kernel's listen
 * backlog holds (or refuses) the rest. 0, -EINVAL (NULL, or limit 0), -EPERM (another loop). */
int tr_listener_set_queue_limit(tr_listener *l, size_t limit);
int tr_listener_accept(tr_listener *l);
void tr_listener_close(tr_listener *l);

/*
 * Wait for one of `count` signals (e.g. {SIGINT, SIGTERM}) through a signalfd read on the
 * ring. The signals are blocked on the calling thread first, so they are queued for the
 * loop instead of killing the process. Returns the signal number, -EINVAL (NULL, empty, not
 * a signal, or one no wait can serve: SIGKILL, SIGSTOP, SIGSEGV, SIGBUS, SIGFPE, SIGILL,
 * SIGTRAP, SIGSYS; checked before anything is blocked), -ECANCELED, -ETIME, or -EPERM
 * outside a task.
 */
int tr_signal_wait(const int *signals, size_t count);

/* ---- Errors -------------------------------------------------------------------------------- */

/* Text for a negative errno returned by taskring, with what to do where the cause is the
 * environment (io_uring disabled, seccomp, memlock limit). Never NULL. */
const char *tr_strerror(int err);

#ifdef __cplusplus
}
#endif
#endif /* TASKRING_H */
