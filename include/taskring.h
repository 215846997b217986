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
 * Threads: tr_run starts a runtime of one or more loops (tr_options.loops), one thread each;
 * the calling thread runs loop 0. A task runs its function on the loop it was spawned on. The
 * calls below work across the loops of one runtime: a task may await, cancel or rename a task
 * of another loop and use a lock, queue, event, group... created on another loop (the calling
 * task is carried to the owning loop for the length of the call and back: docs/api.md,
 * "Loops"). The calls marked "any thread" may also be made from threads that run no loop (a
 * monitoring thread, typically); a thread outside the runtime enters it through a tr_runtime
 * handle (tr_runtime_get).
 *
 * Full reference with examples: docs/api.md. Design: docs/architecture.md.
 */
#ifndef TASKRING_H
#define TASKRING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
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

/*
 * The kernel interface a loop runs on. io_uring is the fast path; epoll runs where io_uring is
 * refused (Docker's default seccomp profile, kernel.io_uring_disabled, gVisor): the same calls
 * with the same results, cancellation and deadlines (docs/api.md, "Backends").
 */
typedef enum tr_backend {
    /* io_uring; where its setup is refused (EPERM, ENOSYS, EINVAL: not ENOMEM or other
     * resource errors) epoll, saying so in one line on stderr unless TR_OPTION_QUIET. */
    TR_BACKEND_AUTO = 0,
    TR_BACKEND_IO_URING = 1, /* io_uring or nothing: tr_run returns the setup error */
    TR_BACKEND_EPOLL = 2,
} tr_backend;

/* tr_options.flags */
#define TR_OPTION_QUIET 1u /* no line on stderr when TR_BACKEND_AUTO falls back to epoll */

/* Loop settings for tr_run_with. Zero fields take the defaults shown. */
typedef struct tr_options {
    size_t stack_size;      /* usable bytes per task stack; default 64 KiB, 16 KiB..1 GiB */
    size_t max_idle_stacks; /* resident idle stacks kept for reuse; default (0) 4096 */
    unsigned ring_entries;  /* io_uring submission queue size; default (0) 256, 2..32768
                               (the epoll backend has no queue: checked, then unused) */
    /* Inaccessible bytes below each stack, so that an overflow faults (and is reported with
     * the task's name) instead of writing into the next stack: a frame larger than the guard
     * jumps it unless the code is built with -fstack-clash-protection. Default (0) 256 KiB,
     * 4 KiB..64 MiB, rounded up to pages. With MADV_GUARD_INSTALL (Linux 6.13) a guard costs
     * no memory but its page-table entries; see docs/api.md, "Stacks". */
    size_t guard_size;
    /* Where tr_run's reports go (a deadlock: every stuck task, what it waits on, each await
     * cycle), as whole text, several lines at once. NULL: stderr. */
    void (*report)(void *ctx, const char *text);
    void *report_ctx;
    /* sizeof(tr_options) as the caller was compiled, so that later versions can add fields
     * without breaking callers: 0 means the layout before this field (a caller of 0.1). The
     * library reads no field past `size`, and refuses (-EINVAL) a larger struct whose unknown
     * bytes are not zero. */
    unsigned size;
    /* Loops (threads) of the runtime, 1..256. 0: the TASKRING_LOOPS environment variable if set
     * (a number, or "cpus" for one per online CPU), else 1. */
    unsigned loops;
    /* Threads tr_to_thread may start, 1..1024; default (0) 4 per loop, at least 8. */
    unsigned workers;
    /* enum tr_backend. TR_BACKEND_AUTO (0): the TASKRING_BACKEND environment variable if set
     * ("auto", "io_uring" or "epoll"; anything else: tr_run returns -EINVAL), else auto. */
    unsigned backend;
    unsigned flags;       /* TR_OPTION_QUIET; other bits must be zero */
    unsigned reserved[1]; /* must be zero */
} tr_options;

/*
 * asyncio.run(main(arg)): create a loop on this thread, run `main` as a task (named from the
 * process-wide counter: "Task-1" in a fresh process, like asyncio) until it returns, store its
 * return value in *result (if result is not NULL), cancel every task still pending and let each
 * finish, free everything, and return 0. A deadlock (nothing runnable, no timer or I/O pending,
 * tasks still waiting) does not abort: tr_run reports every stuck task (name, function, what
 * it waits on) and every await cycle, cancels the stuck tasks (through shields) so that all
 * is freed, and returns -EDEADLK. Errors: -EINVAL (main is NULL, or bad options), -EBUSY (a
 * loop already runs on this thread), -ENOMEM, io_uring setup errors (-EPERM, -ENOSYS, ...: see
 * tr_strerror), -ECANCELED (main was cancelled), the error main failed with (tr_fail).
 */
int tr_run(tr_fn main, void *arg, void **result);
int tr_run_with(const tr_options *opts, tr_fn main, void *arg, void **result);

/* ---- Loops and threads --------------------------------------------------------------------- */

/* Any loop: tr_spawn_on picks the loop with the fewest live tasks (ties: round-robin). */
#define TR_LOOP_ANY ((unsigned)-1)

/*
 * tr_spawn on loop `loop` of the caller's runtime (numbered from 0), or TR_LOOP_ANY. From a
 * task of another loop the caller is carried to that loop for the spawn. Errors (NULL + errno):
 * EINVAL (fn NULL, or loop >= tr_loop_count() and not TR_LOOP_ANY), EPERM (not in a task),
 * ESHUTDOWN (main has returned: what is left is being cancelled; tr_spawn instead gives a
 * task cancelled before it runs), ENOMEM.
 */
tr_task *tr_spawn_on(unsigned loop, tr_fn fn, void *arg);
tr_task *tr_spawn_on_named(unsigned loop, tr_fn fn, void *arg, const char *name);
/* The loop the calling thread runs (0..count-1); -EPERM on a thread that runs no loop. */
int tr_loop_id(void);
/* Loops of the caller's runtime; 0 on a thread that runs no loop. */
unsigned tr_loop_count(void);
/* The backend loop `loop` of the caller's runtime runs on: TR_BACKEND_IO_URING or
 * TR_BACKEND_EPOLL (never AUTO); -EINVAL (no such loop), -EPERM (not on a loop thread). Any
 * loop thread of the runtime. tr_backend_name gives "io_uring", "epoll" ("auto" for 0), or
 * NULL for a number that is no backend. */
int tr_loop_backend(unsigned loop);
const char *tr_backend_name(int backend);
/* asyncio.all_tasks(loop): as tr_all_tasks, the tasks of one loop of the caller's runtime.
 * NULL + EINVAL (no such loop), EPERM (not on a loop thread), ENOMEM. */
tr_taskset *tr_loop_tasks(unsigned loop);

/*
 * asyncio.to_thread: run fn(arg) on the runtime's worker pool (tr_options.workers threads at
 * most, started on demand) and suspend only the calling task until it returns; *result gets
 * its return value (if result is not NULL). A thread cannot be interrupted: a cancellation
 * or an ended deadline scope of the caller is delivered when fn returns, and the call then
 * returns -ECANCELED or -ETIME (and *result is still set). 0, -EINVAL (fn NULL), -EPERM (not
 * in a task), -ENOMEM, -EAGAIN (no worker thread could be started and none is running).
 */
int tr_to_thread(tr_fn fn, void *arg, void **result);

/*
 * Entry from any thread (asyncio.run_coroutine_threadsafe). A task takes a handle on its
 * running runtime and passes it to another thread; that thread spawns tasks through it and
 * blocks until a task is done. The handle stays valid after tr_run returns (calls then fail
 * with -ESHUTDOWN) until tr_runtime_release. While any handle is held, tasks that all wait
 * are not a deadlock: a handle's holder may still spawn the task that wakes them.
 */
typedef struct tr_runtime tr_runtime;
/* A new reference to the caller's runtime; NULL + EPERM on a thread that runs no loop. */
tr_runtime *tr_runtime_get(void);
void tr_runtime_release(tr_runtime *rt); /* any thread; NULL is ignored */
/* Spawn fn(arg) on `loop` (or TR_LOOP_ANY), named `name` (NULL: "Task-N"), from any thread;
 * blocks until the loop has created it. NULL + errno: EINVAL, ESHUTDOWN, ENOMEM, EDEADLK
 * (called from a loop thread: use tr_spawn_on). */
tr_task *tr_runtime_spawn(tr_runtime *rt, unsigned loop, tr_fn fn, void *arg, const char *name);
/*
 * Block the calling thread (not a loop thread) until t is done or timeout_ns passes
 * (UINT64_MAX: no limit); concurrent.futures.Future.result. Returns t's outcome as tr_await
 * does (0, the error it failed with, -ECANCELED, -ENOMEM) and stores its return value in
 * *result; -ETIME when the time ran out (t keeps running), -EINVAL (NULL), -EDEADLK (called
 * on a loop thread: use tr_await). Works after tr_run returned, while the caller holds t.
 */
int tr_task_join(tr_task *t, uint64_t timeout_ns, void **result);

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
 * -EPERM (not called from a task, or t belongs to another runtime), -EDEADLK (t is the caller:
 * asyncio's "Task cannot await on itself"; or waiting would close a cycle of awaits),
 * -ECANCELED (t was cancelled, or the caller was cancelled while waiting), -ETIME (the
 * caller's deadline scope expired; t keeps running), -ENOMEM (t could not get a stack), or
 * the error t failed with (tr_fail; *result still gets its return value).
 */
int tr_await(tr_task *t, void **result);

/*
 * Request cancellation: if t is suspended, that suspension returns -ECANCELED now;
 * if it was already woken, the suspension it returns from gives -ECANCELED instead (unless
 * the wake-up handed it something it must not lose: an accepted fd, an I/O completion, a
 * lock, a semaphore permit, a queue item; then its next wait does); if it is running, its
 * next; and so does every later one (cancellation is sticky: a C function cannot be unwound,
 * so it is asked to return). Inside a cancel shield (tr_shield_begin) all of this waits for
 * the shield's end. A task cancelled before it first runs never runs. Returns 1 when the
 * request was made, 0 when t was already done; -EINVAL for NULL, -ENOMEM (t is on another
 * loop and the request could not be allocated), -EPERM on a thread that runs no loop or for
 * a task of another runtime. A task of another loop of the runtime is cancelled on the loop
 * it is on (the request follows it if it moves).
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
/* Rename t (copied). 0, or -EINVAL (NULL t or name), -ENOMEM, -EPERM (not in a task of t's
 * runtime: a name is written on t's own loop, where a task of another loop is carried). Names
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

/* ---- Seeing inside: dumps and the await graph ---------------------------------------------- */

/*
 * Print every live task of the process to `out`, one line each: id (the N of Task-N), loop,
 * state, age, time since it last ran, function (its symbol when the binary exports it),
 * name (quoted as tr_task_repr does), and what it waits on (kind; op and fd for I/O; the
 * awaited task's id; the object's address; a lock's holder when the caller runs on that
 * lock's loop; the deadline). A row whose wait kept changing while it was read says
 * wait=torn. Any thread, inside a task or not; reads every task without stopping or
 * slowing its loop (an epoch pin, no lock). Returns the number of tasks printed, or -EINVAL
 * (out NULL), -ENOMEM, -EIO (a write to out failed). tr_dump_json prints the same as one
 * JSON object (docs/api.md gives its fields).
 */
int tr_dump(FILE *out);
int tr_dump_json(FILE *out);

/*
 * Opt-in: on signal `signo` (SIGQUIT, say), write tr_dump's text (functions as addresses)
 * to `fd` from the signal handler, without a lock, malloc or stdio, so it works while every
 * loop is stuck in a busy task. Process-wide; one signal at a time: a new call replaces the
 * previous one, signo 0 turns it off (the signal's previous disposition comes back). 0, or
 * -EINVAL (signo not catchable or a fault signal), -EBADF (fd not open), -ENOMEM.
 */
int tr_dump_on_signal(int signo, int fd);

/*
 * asyncio.capture_call_graph for one task: whom it awaits (the chain down: t awaits u, u
 * waits for a lock held by v, v sleeps) and who awaits it (every task in its `done` wait,
 * transitively, and through which call). Node 0 is t; every other node hangs from `parent`.
 * The graph holds a reference on each task in it until tr_graph_free. Exact when called
 * from a task of t's loop; from a task of another loop of t's runtime the call is carried to
 * t's loop and back; a task found on another loop is listed but not followed (remote). NULL
 * + errno: EINVAL (t NULL), EPERM (not in a task of t's runtime), ENOMEM.
 */
typedef struct tr_graph tr_graph;

enum tr_graph_dir {
    TR_GRAPH_ROOT = 0,
    TR_GRAPH_AWAITS = 1,     /* the parent waits for this node */
    TR_GRAPH_AWAITED_BY = 2, /* this node waits for the parent */
};

enum tr_graph_via {
    TR_VIA_NONE = 0,   /* the root */
    TR_VIA_AWAIT = 1,  /* tr_await, tr_wait_for, tr_task_join */
    TR_VIA_GATHER = 2, /* tr_gather, tr_wait, tr_as_completed (one of several tasks) */
    TR_VIA_GROUP = 3,  /* a task group: its waiter, or a member of it */
    TR_VIA_LOCK = 4,   /* the waiter wants a lock this node holds */
};

typedef struct tr_graph_node {
    tr_task *task;         /* referenced by the graph until tr_graph_free */
    size_t parent;         /* index of the node it hangs from; SIZE_MAX for the root */
    unsigned depth;        /* edges from the root */
    enum tr_graph_dir dir; /* how it relates to its parent */
    enum tr_graph_via via; /* through which call */
    const void *object;    /* through which object: the task awaited, the group, the lock */
    const char *waits_on;  /* what this task waits on itself: "sleep", "io", ... NULL: none */
    const void *wait_object;
    bool cycle;  /* already on the path from the root: the cycle closes here, not followed */
    bool seen;   /* already in the graph by another path: not followed again */
    bool remote; /* on another loop (or its wait was torn): listed, not followed */
} tr_graph_node;

tr_graph *tr_await_graph(tr_task *t);
size_t tr_graph_size(const tr_graph *g);
/* Node i, or NULL + errno EINVAL (g NULL) / ERANGE. Valid until tr_graph_free. */
const tr_graph_node *tr_graph_get(const tr_graph *g, size_t i);
void tr_graph_free(tr_graph *g);
/* The graph of t as an indented tree: the chain it awaits, then who awaits it. Returns the
 * number of nodes, or tr_await_graph's errors as negative errno, -EIO on a write error. */
int tr_await_graph_print(tr_task *t, FILE *out);

/* ---- Combinators: asyncio.gather / wait / wait_for / as_completed ---------------------------- */

/*
 * Every call here takes tasks of the caller's runtime, of any of its loops (-EPERM for a task
 * of another runtime, or outside a task; a task of another loop is watched through a proxy
 * task of the caller's loop, which awaits it there: its cost is a spawn and two hops),
 * -EINVAL for a NULL array with n > 0 or a NULL element, -EDEADLK when the caller is one of
 * the tasks or one of them waits (through tr_await) for the caller, and honours the caller's
 * deadline scope (-ETIME) and cancellation (-ECANCELED). Those two refuse only a call that
 * would have to wait: when what it asks for is done already, it answers, as tr_await does.
 * Once the condition holds, a cancellation that arrives before the caller resumes does not
 * replace the answer; the caller's next wait returns it. None of them cancels the tasks it
 * waits for, except tr_wait_for. A member that was cancelled counts as failed with
 * -ECANCELED. Reading a member's outcome here counts as retrieving its error. A task listed
 * twice counts twice (asyncio.wait and as_completed make a set; these count entries). The
 * caller keeps the tasks alive for the call (holds its references).
 */

/*
 * asyncio.gather. Returns 0 when every task succeeded. errors == NULL: returns the first
 * failure as soon as it happens (the others keep running). errors != NULL: waits for all,
 * stores each task's outcome (0 or its error, as tr_task_error) in errors[i], and returns
 * the error of the first failed task in array order (return_exceptions=True). results (may
 * be NULL) gets each finished task's return value, NULL for the others. On every return but
 * an argument error, results and errors describe the tasks as they are then (-EBUSY and NULL
 * for those not finished: after -ETIME, -ECANCELED, -ENOMEM, or an early failure). n == 0:
 * 0 at once. Also -ENOMEM (no memory to watch n tasks).
 */
int tr_gather(tr_task *const *tasks, size_t n, void **results, int *errors);

enum {
    TR_FIRST_COMPLETED = 1, /* any task done */
    TR_FIRST_ERROR = 2,     /* any task failed (not cancelled), or all done */
    TR_ALL_COMPLETED = 3,   /* all done */
};
/* asyncio.wait: returns how many of the tasks are done once `mode` is satisfied (read which
 * with tr_task_done, their outcomes with tr_task_error: tr_wait retrieves nothing). -EINVAL
 * for n == 0 or an unknown mode, -EOVERFLOW for n > INT_MAX, -ETIME when the caller's
 * deadline scope ends first, -ENOMEM. */
int tr_wait(tr_task *const *tasks, size_t n, int mode);

/*
 * asyncio.wait_for: await t for at most timeout_ns (UINT64_MAX: no limit but the caller's
 * scope). On time: t's outcome, as tr_await. On timeout, or when the caller's deadline scope
 * ends first: cancels t, waits until it has finished, returns -ETIME. If the caller is
 * cancelled meanwhile, t is cancelled too and waited for, and -ECANCELED is returned. That
 * wait for the cancelled t is shielded and has no deadline: it ends when t ends. A t that
 * fails with an error of its own while being cancelled: that error (asyncio re-raises it).
 * timeout_ns == 0 cancels at once a t that is not done (one that never ran never runs).
 * Also -EINVAL, -EPERM, -EDEADLK as tr_await, and -ENOMEM (no timer: nothing waited, t runs
 * on).
 */
int tr_wait_for(tr_task *t, uint64_t timeout_ns, void **result);

/*
 * asyncio.as_completed: the tasks in the order they finish (those done already first, in
 * array order). The iterator watches them from the start, so none is missed between calls.
 *   tr_completed *it = tr_as_completed(tasks, n);
 *   tr_task *t;
 *   while ((rc = tr_completed_next(it, &t)) == 1) { ... tr_task_error(t) ... }
 *   tr_completed_free(it);
 * tr_as_completed: NULL + errno (EINVAL, EPERM, EDEADLK, ENOMEM). tr_completed_next: 1 with
 * the next finished task in *t (borrowed: valid while the caller holds it in `tasks`), 0 when
 * every task has been returned, -ETIME / -ECANCELED (the caller's deadline or cancellation;
 * call again to go on: finished tasks are still returned), -EINVAL, -EPERM (not on the
 * iterator's loop),
 * -EBUSY (another task waits on this iterator), -EBADF (the iterator was freed while this
 * call waited), -ENOMEM (no timer). tr_completed_free may be called before the end, from a
 * task of the iterator's loop (or anywhere once every task has finished); NULL is ignored.
 */
typedef struct tr_completed tr_completed;
tr_completed *tr_as_completed(tr_task *const *tasks, size_t n);
int tr_completed_next(tr_completed *it, tr_task **t);
void tr_completed_free(tr_completed *it);

/* ---- Task groups: asyncio.TaskGroup, libdill's bundles -------------------------------------- */

/*
 * A group owns the tasks spawned into it. tr_group_wait waits until every member is done; the
 * first member to fail (an error, not a cancellation by someone else) cancels the others;
 * cancelling the task in tr_group_wait (or its deadline scope ending) cancels every member,
 * and tr_group_wait still returns only once all of them are done: no member outlives the
 * group's wait (it waits for the cancelled ones shielded, with no deadline). Members are
 * ordinary tasks (tr_all_tasks lists them) and may spawn into their own group. The group
 * never cancels the task that waits on it.
 *   tr_group_new: NULL + errno (EPERM outside a task, ENOMEM).
 *   tr_group_spawn(_named): a member, borrowed (the group holds the reference until
 *     tr_group_free); NULL + errno: EINVAL, ENOMEM, EPERM (another runtime, or outside a task),
 * ECANCELED (the group is cancelling: a member failed, tr_group_cancel was called, or a wait was
 * cut short). After a wait that returned 0 the group takes new members (a bundle). tr_group_wait: 0
 * when every member succeeded; the first failure's error (also when the caller was cancelled
 * meanwhile: the failure says more; the errors of members that failed later stay with them, for
 * tr_task_error); -ECANCELED (the caller was cancelled, or tr_group_cancel); -ETIME (the caller's
 * deadline); -ENOMEM (no timer: the members are cancelled and waited for); -EINVAL; -EPERM (another
 * runtime, or outside a task); -EBUSY (another task is in tr_group_wait); -EDEADLK (the caller is a
 * member still running). tr_group_cancel: cancel every member; returns how many were still running;
 * -EINVAL, -EPERM. tr_group_size: members not yet done (any thread; 0 for NULL). tr_group_free:
 * members still running are cancelled and waited for first (in a task); 0, -EPERM (another runtime
 * or outside a task), -EBUSY (another task is in tr_group_wait), -EDEADLK (the caller is a member
 * still running). NULL is 0.
 */
typedef struct tr_group tr_group;
tr_group *tr_group_new(void);
tr_task *tr_group_spawn(tr_group *g, tr_fn fn, void *arg);
tr_task *tr_group_spawn_named(tr_group *g, tr_fn fn, void *arg, const char *name);
int tr_group_wait(tr_group *g);
int tr_group_cancel(tr_group *g);
size_t tr_group_size(const tr_group *g);
int tr_group_free(tr_group *g);

/* ---- Synchronisation: asyncio.Event / Lock / Semaphore / Condition / Queue ------------------- */

/*
 * Objects of one loop, made in a task of it, usable from a task of any loop of the runtime
 * (the caller is carried to the object's loop for the call: two inbox hops): every call gives
 * -EPERM outside a task or from another runtime (_new: NULL + EPERM), -EINVAL for NULL; the
 * bool/unsigned/size_t readers give false/0 for NULL or outside the runtime. Waiters are served in
 * FIFO order, each wake is O(1), every wait honours deadline scopes (-ETIME) and cancellation
 * (-ECANCELED), and nothing is lost to a cancellation: a waiter that was handed the lock, a permit,
 * a notification or an item (or whose item was taken into a queue) keeps it even if it is cancelled
 * before it runs: the call returns 0 and the task's next wait returns -ECANCELED. A waiter
 * cancelled or timed out before the hand-over just leaves the queue.
 *
 * The calls that may wait (tr_event_wait, tr_lock_acquire, tr_sem_acquire, tr_cond_wait,
 * tr_queue_put, tr_queue_get, tr_queue_join) return -ECANCELED at once in a cancelled task
 * (unless a shield holds the cancellation back), even when they would not have to wait; past
 * the deadline they still succeed when they need not wait, and return -ETIME otherwise. Inside
 * a deadline scope they may also return -ENOMEM (the task's timer could not be armed). The
 * try forms and the calls that never wait (release, set, notify, shutdown, task_done) ignore
 * cancellation and deadlines: use them for cleanup. _free returns 0, or -EBUSY while tasks
 * wait on the object (it is then not freed); NULL is 0. Free objects before tr_run returns:
 * after it, _free gives -EPERM and the memory stays allocated.
 */
typedef struct tr_event tr_event;
tr_event *tr_event_new(void);
int tr_event_free(tr_event *e);
int tr_event_set(tr_event *e);   /* wake every waiter; later waits return at once */
int tr_event_clear(tr_event *e); /* waits block again (tasks already woken stay woken) */
bool tr_event_is_set(const tr_event *e);
int tr_event_wait(tr_event *e); /* 0 once set */

/* A lock is held by a task: tr_lock_release by a task that does not hold it, or of a lock
 * nobody holds: -EPERM. A release with waiters hands the lock to the oldest at once; the lock
 * is never free while anyone waits, so a later acquirer cannot barge ahead. A task that ends
 * holding a lock leaves it held (it can still be freed once nobody waits). */
typedef struct tr_lock tr_lock;
tr_lock *tr_lock_new(void);
int tr_lock_free(tr_lock *l);        /* also -EBUSY while held by a task not yet finished */
int tr_lock_acquire(tr_lock *l);     /* 0 (held), -EDEADLK (the caller holds it already) */
int tr_lock_try_acquire(tr_lock *l); /* 0, -EAGAIN (held by someone), -EDEADLK */
int tr_lock_release(tr_lock *l);     /* 0; the longest waiter gets it at once */
bool tr_lock_locked(const tr_lock *l);

/* A release with waiters hands its permit to the oldest (the value stays 0): permits are
 * available only while nobody waits. */
typedef struct tr_sem tr_sem;
tr_sem *tr_sem_new(unsigned value);
int tr_sem_free(tr_sem *s);
int tr_sem_acquire(tr_sem *s);          /* 0 with a permit */
int tr_sem_try_acquire(tr_sem *s);      /* 0, -EAGAIN (no permit) */
int tr_sem_release(tr_sem *s);          /* 0; -EOVERFLOW past UINT_MAX permits */
unsigned tr_sem_value(const tr_sem *s); /* permits available now */

/* A condition variable over a lock (NULL: the condition makes and owns its own; a lock of
 * another loop: NULL + EPERM). _free: also -EBUSY while its own lock is busy (as tr_lock_free). */
typedef struct tr_cond tr_cond;
tr_cond *tr_cond_new(tr_lock *lock);
int tr_cond_free(tr_cond *c);
tr_lock *tr_cond_lock(tr_cond *c);
/*
 * The caller must hold the lock (-EPERM). Releases it, waits for a notify, and holds it again
 * before returning, also when it returns -ECANCELED or -ETIME (refused before waiting, it
 * never lets go). 0: notified (kept even if the task is cancelled meanwhile). Taking the lock
 * back is neither cancelled nor timed out, so it lasts as long as another task holds the
 * lock; only when tr_run breaks a deadlock (the holder never releases) does it give up:
 * -EDEADLK, and then the caller does NOT hold the lock.
 */
int tr_cond_wait(tr_cond *c);
int tr_cond_notify(tr_cond *c, size_t n); /* wake up to n waiters; how many; -EPERM unless held */
int tr_cond_notify_all(tr_cond *c);

/*
 * A FIFO queue of pointers (NULL is an item like any other); maxsize 0 = unbounded. put waits
 * while full, get while empty; the try forms return -EAGAIN instead. A put that finds a getter
 * waiting hands it the item directly; a get that frees a slot moves the oldest waiting
 * putter's item in and wakes that putter with 0. put and try_put may return -ENOMEM when an
 * unbounded queue (or one with maxsize > 1024) must grow; a smaller bounded queue never
 * allocates after tr_queue_new. tr_queue_get: -EINVAL for a NULL item pointer.
 * tr_queue_shutdown (Python 3.13): putters get -ESHUTDOWN at once, waiting ones too; getters
 * drain what is queued, then get -ESHUTDOWN; with `immediate` the queued items are dropped
 * (take them with try_get first if they own memory), each counting as task_done, and waiting
 * getters get -ESHUTDOWN at once. tr_queue_task_done / tr_queue_join: asyncio's
 * unfinished-task count (every item put counts until its task_done; task_done more often
 * than put: -EINVAL; join returns 0 once the count is 0).
 */
typedef struct tr_queue tr_queue;
tr_queue *tr_queue_new(size_t maxsize);
int tr_queue_free(tr_queue *q);
int tr_queue_put(tr_queue *q, void *item);
int tr_queue_try_put(tr_queue *q, void *item);
int tr_queue_get(tr_queue *q, void **item);
int tr_queue_try_get(tr_queue *q, void **item);
size_t tr_queue_size(const tr_queue *q);
int tr_queue_shutdown(tr_queue *q, bool immediate);
int tr_queue_task_done(tr_queue *q);
int tr_queue_join(tr_queue *q);

/* ---- I/O: fiber-blocking calls on io_uring (or epoll) ---------------------------------------- */

/*
 * Each call submits one io_uring operation for the calling task and suspends only that task
 * until the operation completes; it returns the completion's result as the kernel gave it
 * (bytes, an fd, 0, or a negative errno). Operations issued by many tasks during one turn
 * reach the kernel in one io_uring_enter. Extra errors: -EPERM (not called from a task),
 * -EBUSY (the submission queue cannot take the call), -ENOMEM (no operation record),
 * -ECANCELED (the task was cancelled: the operation is cancelled in the kernel and the call
 * returns once the kernel is done with the buffer), -ETIME (a deadline scope expired).
 * A negative offset means "the file's current position" (read/write/readv/writev).
 * On the epoll backend (tr_options.backend) each call makes its syscall without blocking,
 * waits for the fd's readiness when it would block, and runs files on the worker pool: the
 * same results, cancellation and deadlines (docs/api.md, "Backends").
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
/* Cleanup must not fail: tr_close always closes fd. In a cancelled task, past its deadline,
 * outside a task, or when the call cannot be made (-ENOMEM, -EBUSY), it closes at once with
 * close(2); its result is 0 or -errno from close(2), never -ECANCELED/-ETIME. */
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
 * -EBUSY when the scope is already open (misuse, below),
 * -EINVAL for NULL.
 *
 * Misuse (ending a scope that is not the caller's innermost, or another task's scope, or
 * beginning one that is open) aborts
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
 * task, -EBUSY when s is already open (misuse, as for deadline scopes). (A deadlock that
 * tr_run breaks cancels through shields.)
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
 * still queued are closed. Listeners left open are closed when tr_run ends. A task of another
 * loop of the runtime may call tr_listener_accept (it is carried to the listener's loop for
 * the wait: one listener can feed every loop, at two hops per connection); the other calls
 * are for tasks of the listener's loop.
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
 * loop instead of killing the process; and while any wait for a signal is active, its
 * disposition is a handler that forwards it (tgkill) to a waiting thread, so one the kernel
 * gives to another thread (kill(getpid()), pthread_kill) wakes a wait too. Each signal wakes
 * one wait (standard signals pending at once coalesce); the last wait for a signal to end,
 * however it ends, puts back the disposition it replaced. Returns the signal number, -EINVAL
 * (NULL, empty, not a signal, or one no wait can serve: SIGKILL, SIGSTOP, SIGSEGV, SIGBUS,
 * SIGFPE, SIGILL, SIGTRAP, SIGSYS; checked before anything is blocked), -ECANCELED, -ETIME,
 * or -EPERM outside a task.
 */
int tr_signal_wait(const int *signals, size_t count);

/* ---- Errors -------------------------------------------------------------------------------- */

/* Text for a negative errno returned by taskring, with what to do where the cause is the
 * environment (io_uring disabled, seccomp, memlock limit). Never NULL. */
const char *tr_strerror(int err);

/* ---- Inline fast paths (not API) -----------------------------------------------------------
 *
 * tr_yield() below is a macro for an inline function that does the common case, "another
 * task is ready: run it", in the caller's own frame, and calls the library's tr_yield for the
 * rest. Inlined, a yield pays no call and no return: the return out of an out-of-line
 * tr_yield, executed on the resumed task's stack, is one the CPU's return predictor cannot
 * foresee (it comes from another task's call), so it mispredicts on every switch
 * (docs/architecture.md, "The inline yield"). `&tr_yield` and `(tr_yield)()` still name the
 * library's function.
 *
 * The structs below mirror the first fields of the library's loop and task records; they are
 * not part of the API and may change in any release. Their version is in the names of the
 * symbols the fast path uses (tr__current_loop_v1, tr__switch_v1, tr__resumed_v1): a program
 * compiled against one layout cannot load a library with another (the dynamic linker refuses
 * it by name) instead of running on a wrong layout. Define TR_NO_INLINE before including this
 * header to use the library's calls only. The fast path is left out under ASan and TSan
 * (the library must annotate each switch for them) and where it cannot be written (not GCC or
 * clang on x86-64).
 */
#if defined(__GNUC__) && defined(__x86_64__)
/* Everything a jump to another task may change, as for a call: the caller-saved registers
 * (AVX-512's xmm16-31 and k0-k7 where the compiler may use them). The library's own switch
 * (runtime/fcontext.h) uses the same list. A function compiled for AVX-512 by a target
 * attribute in a file compiled without it must not call the inline tr_yield: define
 * TR_NO_INLINE there. */
#if defined(__AVX512F__)
#define TR__CLOBBERS_AVX512                                                                        \
    , "xmm16", "xmm17", "xmm18", "xmm19", "xmm20", "xmm21", "xmm22", "xmm23", "xmm24", "xmm25",    \
        "xmm26", "xmm27", "xmm28", "xmm29", "xmm30", "xmm31", "k0", "k1", "k2", "k3", "k4", "k5",  \
        "k6", "k7"
#else
#define TR__CLOBBERS_AVX512
#endif
#define TR__SWITCH_CLOBBERS                                                                        \
    "rcx", "r8", "r9", "r10", "r11", "memory", "cc", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4",       \
        "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14",       \
        "xmm15", "st", "st(1)", "st(2)", "st(3)", "st(4)", "st(5)", "st(6)",                       \
        "st(7)" TR__CLOBBERS_AVX512
/* Clean upper vector state before the other task runs (compilers do it before calls). */
#if defined(__AVX__)
#define TR__SWITCH_VZEROUPPER "vzeroupper\n\t"
#else
#define TR__SWITCH_VZEROUPPER ""
#endif
/* The resume address is reached by jump_fcontext's indirect jump: a landing pad for IBT. */
#if defined(__CET__) && (__CET__ & 1)
#define TR__SWITCH_ENDBR "endbr64\n\t"
#else
#define TR__SWITCH_ENDBR ""
#endif
/* jump_fcontext entered by push + jmp rather than call, to `target` (a symbol): the task that
 * resumes here returns to whatever its own callers pushed (runtime/fcontext.h says why). In
 * rdi the context to resume, in rsi the word for it; back come rax (where the one that
 * jumped here stopped) and rdx (its word). Both assembler dialects (-masm=intel too). */
#define TR__SWITCH_ASM(target)                                                                     \
    TR__SWITCH_VZEROUPPER                                                                          \
    "{leaq -128(%%rsp), %%rsp|lea rsp, [rsp - 128]}\n\t"                                           \
    "{leaq 1f(%%rip), %%rax|lea rax, [rip + 1f]}\n\t"                                              \
    "{pushq %%rax|push rax}\n\t"                                                                   \
    "jmp " target "@PLT\n"                                                                         \
    "1:\n\t" TR__SWITCH_ENDBR "{leaq 128(%%rsp), %%rsp|lea rsp, [rsp + 128]}"
#endif

#if !defined(TR_NO_INLINE) && defined(__GNUC__) && defined(__x86_64__) && defined(__SSE2__) &&     \
    !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define TR__NO_INLINE_SWITCH 1
#endif
#endif
#if !defined(TR__NO_INLINE_SWITCH)
#define TR__INLINE_YIELD 1

/* The first fields of a loop (runtime/internal.h: struct tr_loop; checked there). */
struct __attribute__((may_alias)) tr__loop_hot {
    tr_task *runq_head;
    tr_task *runq_tail;
    size_t runq_len;
    tr_task *current;
    uint64_t now_ns;
    unsigned turn_left;
    unsigned char inline_switch; /* 0: every switch goes through the library (sanitizer builds) */
};

/* The first fields of a task (struct tr_task; checked there). */
struct __attribute__((may_alias)) tr__task_hot {
    void *ctx;
    tr_task *run_next;
    uint64_t ran_ns;
    int wake_result;
    unsigned char state;
    unsigned char cancel_requested;
};

enum { TR__TASK_RUNNING = 1, TR__TASK_READY = 3 };
/* Bits of the word a jump delivers that mean "not a live task" (a finished or leaving one). */
#define TR__RESUME_TAGS ((uintptr_t)3)

/* The loop this thread runs; NULL outside tr_run. */
extern __thread struct tr_loop *tr__current_loop_v1 __attribute__((tls_model("initial-exec")));
/* The library's half of a switch's end: a scheduler, finished or leaving task resumed us. */
void tr__resumed_v1(void *ctx, void *data);

#if defined(__cplusplus) /* C casts and NULL, as C needs them: no C++ style warnings here */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wold-style-cast"
#pragma GCC diagnostic ignored "-Wzero-as-null-pointer-constant"
#pragma GCC diagnostic ignored "-Wcast-qual"
#if !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuseless-cast"
#endif
#endif
static inline __attribute__((always_inline)) int tr__yield_inline(void) {
    struct tr__loop_hot *loop = (struct tr__loop_hot *)(void *)tr__current_loop_v1;
    if (__builtin_expect(!loop, 0))
        return tr_yield();
    struct tr__task_hot *self = (struct tr__task_hot *)(void *)loop->current;
    struct tr__task_hot *next = (struct tr__task_hot *)(void *)loop->runq_head;
    /* Out of line: outside a task, a cancellation, nothing else ready, a task that has never
     * run (it needs its stack), the turn's end (the loop polls), a sanitizer build. */
    if (__builtin_expect(!self || self->cancel_requested || !next || !loop->turn_left ||
                             __atomic_load_n(&next->state, __ATOMIC_RELAXED) != TR__TASK_READY ||
                             !loop->inline_switch,
                         0))
        return tr_yield();
    loop->turn_left--;
    self->wake_result = 0;
    self->run_next = NULL;
    ((struct tr__task_hot *)(void *)loop->runq_tail)->run_next = (tr_task *)(void *)self;
    loop->runq_tail = (tr_task *)(void *)self;
    loop->runq_head = next->run_next;
    __atomic_store_n(&self->state, (unsigned char)TR__TASK_READY, __ATOMIC_RELAXED);
    __atomic_store_n(&next->state, (unsigned char)TR__TASK_RUNNING, __ATOMIC_RELAXED);
    __atomic_store_n(&next->ran_ns, loop->now_ns, __ATOMIC_RELAXED); /* read by dumps */
    loop->current = (tr_task *)(void *)next;
    /* jump_fcontext(next->ctx, self), through tr__switch_v1. */
    register void *rdi __asm__("rdi") = next->ctx;
    register void *rsi __asm__("rsi") = self;
    register void *rax __asm__("rax");
    register void *rdx __asm__("rdx");
    __asm__ volatile(TR__SWITCH_ASM("tr__switch_v1")
                     : "=a"(rax), "=d"(rdx), "+D"(rdi), "+S"(rsi)
                     :
                     : TR__SWITCH_CLOBBERS);
    /* Resumed (perhaps much later): rdx is who jumped here, rax where it stopped. A task
     * that is still alive is recorded here; anything else is the library's business. */
    if (__builtin_expect(rdx && !((uintptr_t)rdx & TR__RESUME_TAGS), 1))
        ((struct tr__task_hot *)rdx)->ctx = rax;
    else
        tr__resumed_v1(rax, rdx);
    return self->wake_result;
}
#if defined(__cplusplus)
#pragma GCC diagnostic pop
#endif

#define tr_yield() tr__yield_inline()
#endif
#endif

#ifdef __cplusplus
}
#endif
#endif /* TASKRING_H */
