/*
 * internal.h - the runtime's shared data structures: a task record, a loop, and the small
 * inline helpers (run queue, current loop) every module uses. Each module's own state and
 * functions are declared in its own header section below, grouped by the file that owns them.
 */
#ifndef TR_INTERNAL_H
#define TR_INTERNAL_H

#include "taskring.h"
#include "fcontext.h"

#include <liburing.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#define TR_EXPORT __attribute__((visibility("default")))
#define TR_LIKELY(x) __builtin_expect(!!(x), 1)
#define TR_UNLIKELY(x) __builtin_expect(!!(x), 0)

/* ---- sizes: every allocation sized by a multiplication goes through these ------------------ */

/* n * size + extra, or false when that does not fit in a size_t. */
static inline bool size_of_array(size_t n, size_t size, size_t extra, size_t *out) {
    size_t bytes;
    return !__builtin_mul_overflow(n, size, &bytes) && !__builtin_add_overflow(bytes, extra, out);
}

/* realloc(p, n * size), NULL (p untouched) when the product overflows or memory is short. */
static inline void *realloc_array(void *p, size_t n, size_t size) {
    size_t bytes;
    return size_of_array(n, size, 0, &bytes) ? realloc(p, bytes) : NULL;
}

/* ---- task record (task.c owns its life, fiber.c its switching) ---------------------------- */

#define TASK_MAGIC 0x7461736bu /* "task": live record */
#define TASK_DEAD 0x64656164u  /* "dead": released record, waiting for reuse */

enum task_state {
    TASK_SCHEDULED, /* in the run queue, never run yet: holds no stack */
    TASK_RUNNING,   /* the loop's current task */
    TASK_SUSPENDED, /* waiting: see task.wait */
    TASK_READY,     /* suspended before, now in the run queue */
    TASK_DONE,      /* finished (returned, or cancelled) */
    TASK_MOVING,    /* on its way to another loop (hop.c): in that loop's inbox, not yet run */
};

struct stack;
struct tr_loop;
struct port;
struct backend;
struct epoll_state;

/* ---- the wait primitive (wait.c): every suspension but tr_yield goes through one --------------
 *
 * A waiter lives on the waiting task's stack for the length of one wait. The thing waited on
 * (a task's end, a lock, a queue, a listener, an I/O operation, a timer) files it in a wait
 * queue, or keeps a pointer to it, and fires it; cancellation and deadline expiry interrupt
 * it. Firing, interrupting and timing out are the same code for every source. */

enum wait_kind {
    WAIT_SLEEP,    /* tr_sleep: its timer only */
    WAIT_TASK,     /* tr_await: object = the awaited task */
    WAIT_TASKS,    /* tr_gather, tr_wait, as_completed: object = the first unfinished task */
    WAIT_GROUP,    /* tr_group_wait: object = the group */
    WAIT_IO,       /* an io_uring operation */
    WAIT_LISTENER, /* tr_listener_accept: object = the listener */
    WAIT_EVENT,
    WAIT_LOCK,
    WAIT_SEM,
    WAIT_COND,
    WAIT_QUEUE_GET,
    WAIT_QUEUE_PUT,
    WAIT_QUEUE_JOIN,
    WAIT_THREAD, /* tr_to_thread: object = the function running on a worker */
};

struct waiter;
struct wait_queue {
    struct waiter *head; /* the oldest: FIFO */
    struct waiter *tail;
    size_t len;
};

struct waiter {
    struct waiter *prev, *next; /* links in `queue` */
    struct wait_queue *queue;   /* the queue it is in; NULL when in none */
    tr_task *task;              /* the waiting task */
    struct tr_loop *loop;       /* the task's loop: where a wake-up is delivered */
    const void *object;         /* what it waits on, for reports (see kind) */
    void *value;                /* handed over with the wake-up (a queue item) */
    /* Called instead of waking the task (a sub-waiter of tr_gather, ...). */
    void (*on_fire)(struct waiter *w, int result);
    /* Cancellation or a deadline reached it before it fired. NULL: fire it with the error.
     * An I/O wait asks the kernel instead, and fires when the operation's completion comes. */
    void (*on_interrupt)(struct waiter *w, int err);
    uint64_t timer_at; /* arm the task's timer for this (0: none) ... */
    int timer_result;  /* ... firing with this (0: a sleep's end) or interrupting (-ETIME) */
    uint8_t kind;      /* enum wait_kind */
    uint8_t io_opcode; /* WAIT_IO: the operation's io_uring opcode (unset for other kinds) */
    int32_t io_fd;     /* WAIT_IO: its fd (unset for other kinds) */
    bool fired;        /* woken: by its source, its timer, or an interruption */
    bool owned;        /* fired with something the task must not lose (an fd, a lock) */
};

static inline void wq_push(struct wait_queue *q, struct waiter *w) {
    w->queue = q;
    w->next = NULL;
    w->prev = q->tail;
    if (q->tail)
        q->tail->next = w;
    else
        q->head = w;
    q->tail = w;
    q->len++;
}

static inline void wq_unlink(struct waiter *w) {
    struct wait_queue *q = w->queue;
    if (w->prev)
        w->prev->next = w->next;
    else
        q->head = w->next;
    if (w->next)
        w->next->prev = w->prev;
    else
        q->tail = w->prev;
    q->len--;
    w->prev = w->next = NULL;
    w->queue = NULL;
}

/* A custom name. The current one hangs off its task; one that a rename replaced waits in its
 * loop's retired list (record.c) until no epoch pin could still be reading it, as records do
 * (see docs/architecture.md, "Reclamation"). */
struct name_node {
    struct name_node *next; /* retired list link; unused while the name is current */
    uint64_t stamp;         /* once stamped: the epoch read after the fence (record.c) */
    char text[];
};

struct tr_task {
    /* First, in this order: what tr_yield's inline fast path uses (taskring.h: struct
     * tr__task_hot mirrors these; fiber.c checks the offsets). */
    fcontext_t ctx;        /* saved context while not running */
    tr_task *run_next;     /* run queue link; free-list link once released */
    uint64_t ran_ns;       /* last given the CPU (read by dumps) */
    int wake_result;       /* what the suspension that ends returns */
    _Atomic uint8_t state; /* enum task_state; read by snapshot holders on other threads */
    bool cancel_requested;
    /* The rest. */
    uint32_t magic;
    bool cancel_forced;         /* cancelled through shields: a deadlock is being broken */
    bool in_timer;              /* in the loop's timers */
    _Atomic uint8_t name_state; /* NAME_UNFORMATTED / NAME_FORMATTING / NAME_READY */
    _Atomic int exit_code;      /* once DONE: 0, -ECANCELED, or -ENOMEM (no stack for it) */
    _Atomic bool retrieved;     /* someone saw exit_code (tr_await, tr_run): no report */
    _Atomic uint32_t refs;      /* runtime (until done) + caller + tr_task_retain */
    uint32_t heap_index;        /* position in the timer heap while sleeping */
    /* Registry slot index while registered; SLOT_NONE once removed, so that a reader outside
     * the process holding the slot it was found in rejects the record while it is reused
     * (registry.c; docs/architecture.md, "The torn-read protocol"). */
    uint64_t slot;
    struct tr_loop *loop;
    tr_fn fn;
    void *arg;
    void *result;
    struct stack *stack; /* NULL until first run and after finish */
    /* Task this one waits for in tr_await (cycle detection): read by other loops' threads. */
    _Atomic(tr_task *) awaiting;
    /* The loop the task is on now: its own (`loop`) but while a call carries it to another
     * loop of the runtime (hop.c). Written by the loop it leaves, before it is handed over. */
    _Atomic(struct tr_loop *) at;
    struct waiter *waiter;  /* the wait it is suspended in (NULL: running, or in tr_yield) */
    struct wait_queue done; /* waiters for this task's end (tr_await, tr_gather, ...) */
    tr_shield *shield;      /* innermost cancel shield (tr_shield_begin); NULL: none */
    tr_deadline *scope;     /* innermost deadline scope (tr_deadline_begin); NULL: none */
    tr_task *timer_prev;    /* links in the timers' in-order list */
    tr_task *timer_next;
    uint64_t deadline_ns;       /* while in the timers */
    uint64_t scope_deadline_ns; /* innermost tr_deadline scope; 0 = none */
    uint64_t number;            /* N of the default name "Task-N" */
    /* For readers on other threads and outside the process (introspect.c, taskring-ps):
     * `wait_seq` changes at each wait's start (after `waiter` is set) and end (before it is
     * cleared), so it is odd exactly while a wait is published: a reader that sees the same
     * odd value before and after reading the waiter read one wait, whole (an even value
     * beside a waiter is a wait starting or ending: retry). Times are the loop's clock
     * (refreshed once per turn). */
    _Atomic uint32_t wait_seq;
    uint64_t created_ns; /* spawned */
    _Atomic(struct name_node *) custom_name;
    /* Steps before custom_name changes, so before a replaced name can be freed: a reader
     * outside the process, which holds no pin, that sees the same value around its read of
     * the text read the current name, not a freed node or one reused at the same address
     * (taskring-ps). Never reset: it keeps counting across the record's reuses, as
     * wait_seq does, so that a reuse cannot bring an old value back. */
    _Atomic uint32_t name_seq;
    char default_name[28]; /* "Task-" + up to 20 digits, formatted on first read */
#if defined(TASKRING_ASAN)
    void *asan_fake_stack;
#endif
#if defined(TASKRING_TSAN)
    void *tsan_fiber;
#endif
};

enum { NAME_UNFORMATTED, NAME_FORMATTING, NAME_READY };
/* tr_task.slot of a record in no slot: no slot index has this value. */
#define SLOT_NONE UINT64_MAX

/* ---- run queue: FIFO, intrusive through task.run_next ------------------------------------ */

struct run_queue {
    tr_task *head;
    tr_task *tail;
    size_t len;
};

static inline void runq_push(struct run_queue *q, tr_task *t) {
    t->run_next = NULL;
    if (q->tail)
        q->tail->run_next = t;
    else
        q->head = t;
    q->tail = t;
    q->len++;
}

static inline tr_task *runq_pop(struct run_queue *q) {
    tr_task *t = q->head;
    if (t) {
        q->head = t->run_next;
        if (!q->head)
            q->tail = NULL;
        q->len--;
    }
    return t;
}

/* ---- timers (timer.c): a binary heap plus a list for deadlines that only grow -------------- */

struct timer_heap {
    tr_task **items; /* binary min-heap on deadline_ns */
    size_t len;      /* heap entries */
    size_t cap;
    tr_task *mono_head; /* deadlines in non-decreasing order, linked via wait_prev/next */
    tr_task *mono_tail;
    size_t mono_len;
};

#define TIMER_IN_LIST UINT32_MAX /* heap_index of a task kept in the monotone list */

int timer_heap_push(struct timer_heap *h, tr_task *t);
void timer_heap_remove(struct timer_heap *h, tr_task *t);
/* The sleeper with the earliest deadline, or NULL. */
static inline tr_task *timer_heap_top(const struct timer_heap *h) {
    tr_task *a = h->len ? h->items[0] : NULL;
    tr_task *b = h->mono_head;
    if (!a || (b && b->deadline_ns < a->deadline_ns))
        return b;
    return a;
}
static inline size_t timer_heap_size(const struct timer_heap *h) {
    return h->len + h->mono_len;
}
void timer_heap_free(struct timer_heap *h);

/* ---- stack pool (stack.c) ------------------------------------------------------------------- */

struct stack {
    char *lo;    /* lowest usable byte; the guard sits just below */
    size_t size; /* usable bytes */
    struct stack *next;
    unsigned valgrind_id; /* from VALGRIND_STACK_REGISTER */
};

struct stack_chunk;

struct stack_pool {
    size_t stack_size; /* usable bytes per stack */
    size_t guard_size;
    size_t max_idle;    /* resident idle stacks kept; more go back to the kernel */
    struct stack *idle; /* LIFO: the most recently used stack is the warmest */
    size_t idle_resident;
    struct stack *cold; /* pages already returned to the kernel */
    struct stack_chunk *chunks;
    size_t next_chunk_stacks;
    int guard_mode; /* 0 unknown, 1 MADV_GUARD_INSTALL, 2 mprotect */
    size_t in_use;
};

int stack_pool_init(struct stack_pool *p, size_t stack_size, size_t guard_size, size_t max_idle);
struct stack *stack_get(struct stack_pool *p);
void stack_put(struct stack_pool *p, struct stack *s);
size_t stack_pool_trim(struct stack_pool *p, size_t budget);
void stack_pool_destroy(struct stack_pool *p);
int stack_overflow_guard_install(struct tr_loop *loop);
void stack_overflow_guard_remove(struct tr_loop *loop);

/* ---- task records: allocation and epoch-deferred reuse (record.c) ------------------------ */

struct record_slab;
struct slab_span;

struct record_pool {
    tr_task *free;     /* ready for reuse */
    size_t free_count; /* records on it */
    tr_task *pending;  /* released since the last reclaim pass: not yet stamped */
    tr_task *pending_tail;
    size_t pending_count;
    tr_task *batches_head; /* stamped batches, oldest first (record.c) */
    tr_task *batches_tail;
    size_t stamped_count;      /* records in them */
    _Atomic(tr_task *) remote; /* released on other threads (Treiber stack via run_next) */
    /* After the loop's end (record.c, "after the loop"): threads in a remote release now, and
     * holds on the pool (records still referenced, plus the ending loop's own). */
    _Atomic uint32_t remote_releasers;
    _Atomic size_t holds;
    struct record_slab *slabs;
    size_t records; /* in the slabs */
    size_t nslabs;
    /* Giving slabs back (record.c): records in use at turns, peaks of this trim window and
     * the previous one, when this one began, and how often a trim found nothing whole. */
    size_t peak_cur, peak_prev;
    uint64_t window_start;
    unsigned trim_turns;
    unsigned trim_backoff;
    size_t trim_failed_free; /* spare records at the last trim that found no whole slab */
    bool trim_failed_pinned; /* ... while pins held records back (they may have been why) */
    uint64_t trim_failed_at;
    /* A trim in progress (spans != NULL): free records being sorted into their slabs. */
    struct slab_span *spans; /* the slabs, by address */
    size_t nspans, span_hint, trim_want;
    tr_task *trim_list;         /* not sorted yet */
    size_t trim_count;          /* free records the trim holds: trim_list and the slabs' buckets */
    struct record_slab *doomed; /* unlinked by a trim, freed a few per turn */
    size_t slabs_returned;      /* ever, for tests and benchmarks */
    /* Names replaced by tr_task_set_name, oldest first, linked through name_node.next. */
    struct name_node *names_pending; /* retired since the last pass: not yet stamped */
    struct name_node *names_pending_tail;
    size_t names_pending_count;
    struct name_node *names_stamped; /* stamped, in non-decreasing stamp order */
    struct name_node *names_stamped_tail;
};

/* A record for a new task (its fields as the last task left them: task_create sets them),
 * or NULL when memory is short. */
tr_task *record_alloc_slow(struct tr_loop *loop);
void record_drop_name(tr_task *t);
static inline tr_task *record_alloc(struct tr_loop *loop); /* after struct tr_loop */
void record_retire(struct tr_loop *loop, tr_task *t);
/* Once per turn: gives whole free slabs back when the loop has not needed them lately. */
void record_pool_turn(struct tr_loop *loop);
/* The loop's end: its records, and the loop's memory, are freed now, or by the last release
 * of a record someone still references (record_pool_release). Frees `loop`. */
void record_pool_end(struct tr_loop *loop);
/* The last reference to a record that outlived its loop is gone. */
void record_pool_release(struct tr_loop *loop);

/* The pool's size, for tests and benchmarks (the loop's own thread). */
struct record_pool_stats {
    size_t records;        /* in the slabs, whatever their state */
    size_t slabs;          /* slabs now */
    size_t free;           /* reusable now (the free list, and what a trim holds) */
    size_t pending;        /* released, not stamped yet (at most one partial batch) */
    size_t stamped;        /* released and stamped, waiting for older pins to go */
    size_t slabs_returned; /* given back to the allocator so far */
};
void record_pool_stats(const struct tr_loop *loop, struct record_pool_stats *out);

/* A record that outlived its loop carries this bias in `refs` (record.c): its last
 * release finds refs == REFS_OUTLIVED + 1. */
#define REFS_OUTLIVED (UINT32_C(1) << 31)
/* A name that tr_task_set_name just replaced (after publishing the new one), on the loop's
 * thread: freed once no pin can hold it. */
void record_name_retire(struct tr_loop *loop, struct name_node *old);

/* ---- registry (registry.c): every live task of the process, in slots --------------------- */

struct reg_shard;

int registry_attach(struct tr_loop *loop);
void registry_detach(struct tr_loop *loop);
int registry_add(struct tr_loop *loop, tr_task *t);
void registry_remove(struct tr_loop *loop, tr_task *t);
/* Call f on every live task of this loop's shard (the loop's own thread only). */
void registry_for_each_own(struct tr_loop *loop, void (*f)(tr_task *, void *), void *ctx);
size_t registry_shard_live(const struct tr_loop *loop);
/* Make this loop's live count visible to other threads (each turn, and every few hundred
 * changes). */
void registry_publish(struct tr_loop *loop);

/* Copy every live task of the process into out[0..cap); returns how many there are (may
 * exceed cap). The caller holds an epoch pin. */
size_t registry_scan(tr_task **out, size_t cap);
size_t registry_scan_each(bool (*f)(tr_task *t, void *ctx), void *ctx);

/* ---- epoch pins (epoch.c): when retired records and names may be reused -------------------
 *
 * A snapshot holds a pin, and so does a reader of a task's name on another thread (task.c)
 * for the length of its read; record.c asks whether records or names retired at `stamp` may
 * be reused or freed. */
typedef struct pin pin_t;
pin_t *epoch_pin(void);
void epoch_unpin(pin_t *p);
/* After one fence: the oldest live pin's epoch (what was stamped at s is free when
 * s <= it), EPOCH_NO_PIN when none is alive; *now: the stamp for what was retired so far. */
#define EPOCH_NO_PIN UINT64_MAX
uint64_t epoch_oldest(uint64_t *now);
bool epoch_no_pins(void);
/* Free mem with free_fn once no pin is alive (now, if none is). */
void epoch_orphan(void *mem, void (*free_fn)(void *));
/* A pin for a reader that must not allocate or lock (the signal dump): reserved once (may
 * allocate; NULL when out of memory), then entered and left any number of times, each
 * lock-free and allocation-free. Parked, it blocks no reclamation. */
pin_t *epoch_pin_reserve(void);
void epoch_pin_enter(pin_t *p);
void epoch_pin_leave(pin_t *p);

/* ---- the loop (loop.c) -------------------------------------------------------------------- */

struct tr_loop {
    /* First, in this order: what tr_yield's inline fast path uses (taskring.h: struct
     * tr__loop_hot mirrors these; fiber.c checks the offsets). */
    struct run_queue runq;
    tr_task *current;   /* running task, NULL while the scheduler runs */
    uint64_t now_ns;    /* CLOCK_MONOTONIC, refreshed at each poll */
    unsigned turn_left; /* dispatches left before the scheduler polls again */
    bool inline_switch; /* the inline fast path may switch (false: sanitizer builds) */
    /* The rest. */
    struct tr_runtime *rt;      /* the runtime this loop is one of (runtime.c) */
    struct port *port;          /* its inbox and doorbell, in rt (inbox.c) */
    unsigned id;                /* 0..rt->nloops-1 */
    bool bell_armed;            /* the doorbell eventfd read is in flight (backend_uring.c) */
    bool under_valgrind;        /* sleep in slices (loop.c) */
    bool cancel_retry;          /* a cancellation could not be posted: the stop pass runs again */
    struct tr_loop *hop_target; /* fiber_hop: where the task that just left goes */
    unsigned offloaded;         /* tasks waiting in tr_to_thread (worker.c) */
    unsigned any_next;          /* TR_LOOP_ANY calls from this loop: ties' turn (runtime.c) */
    uint64_t library_yields;    /* calls of the library's tr_yield (the inline path's are not) */
    fcontext_t sched_ctx;       /* the scheduler's context on the thread's own stack */
    tr_task *main_task;
    bool stopping;   /* main is done: every other task is being cancelled */
    bool deadlocked; /* a deadlock was broken (deadlock.c): tr_run returns -EDEADLK */
    void (*report)(void *ctx, const char *text); /* tr_options.report, or NULL: stderr */
    void *report_ctx;
    uint64_t number_next; /* Task-N numbers reserved by this loop: [next, end) */
    uint64_t number_end;
    const struct backend *be; /* the kernel interface this loop runs on (backend.h) */
    struct epoll_state *ep;   /* the epoll backend's state (backend_epoll.c), or NULL */
    struct io_uring ring;     /* the io_uring backend's ring (backend_uring.c) */
    bool ring_ready;
    unsigned inflight; /* operations submitted and not yet completed */
    struct timer_heap timers;
    struct stack_pool stacks;
    struct record_pool records;
    struct io_op_slab *io_slabs; /* backend_uring.c: operation records */
    struct io_op *io_free;
    tr_listener *listeners; /* open listeners (listener.c) */
    struct reg_shard *shard;
    void *altstack; /* signal stack for the stack-overflow report */
    stack_t previous_altstack;
#if defined(TASKRING_ASAN)
    const void *sched_stack_bottom;
    size_t sched_stack_size;
    void *sched_fake_stack;
#endif
#if defined(TASKRING_TSAN)
    void *sched_tsan_fiber;
#endif
};

/* ---- the runtime: N loops, their inboxes, moving tasks between them -----------------------
 *
 * runtime.c owns the loops' threads, start and stop; inbox.c a loop's multi-producer inbox
 * and doorbell; hop.c carrying a task to another loop for one call; worker.c tr_to_thread. */

/* A message for a loop: run(loop, m) on the loop's thread, in the order posted. */
struct msg {
    uintptr_t next; /* inbox link (inbox.c: a tagged reference) */
    void (*run)(struct tr_loop *loop, struct msg *m);
};

/* Post m to loop `to` and ring its doorbell. -ESHUTDOWN when its inbox is closed (the loop
 * has ended): m is the caller's again. Any thread. */
int inbox_post(struct tr_runtime *rt, unsigned to, struct msg *m);
/* Hand task t (its context saved, off every queue) to loop `to` (the leaving loop's thread). */
void inbox_post_task(struct tr_loop *from, struct tr_loop *to, tr_task *t);
/* Run every message and adopt every task that has arrived. Returns how many. */
size_t inbox_drain(struct tr_loop *loop);
bool inbox_empty(const struct tr_loop *loop);
/* Before sleeping: true when the loop may block (nothing arrived); after: inbox_awake. */
bool inbox_sleep_begin(struct tr_loop *loop);
void inbox_awake(struct tr_loop *loop);
/* The loop's end: refuse new messages, run what is left. */
void inbox_close(struct tr_loop *loop);
/* Wake loop `to` of rt if it sleeps, with nothing posted (a state it must look at changed). */
void inbox_ring(struct tr_runtime *rt, unsigned to);
/* The last reference to rt is gone with it (loops' memory, tr_run, handles). */
void runtime_unref(struct tr_runtime *rt);

/* Carry the running task `self` from `loop` to loop `to` (another loop of its runtime);
 * returns once it runs there. Returns `to`. */
struct tr_loop *fiber_hop(struct tr_loop *loop, tr_task *self, struct tr_loop *to);
/* The calling task is in a task of owner's runtime but not on owner: run fn(ctx) on owner
 * (carrying the task there and back) and return what it returns; -EPERM otherwise. */
int hop_call(const struct tr_loop *owner, int (*fn)(void *ctx), void *ctx);
/* The arguments of a public call that hop_call carries to its object's loop: each object
 * file has a small thunk per call that unpacks them. */
struct hop_args {
    void *a, *b;
    uintptr_t c;
};
#define HOP_ARGS1(x) (&(struct hop_args){.a = (void *)(x)})
#define HOP_ARGS2(x, y) (&(struct hop_args){.a = (void *)(x), .b = (void *)(y)})
#define HOP_ARGS3(x, y, z) (&(struct hop_args){.a = (void *)(x), .b = (y), .c = (uintptr_t)(z)})
#define HOP_ARGS_PICK(_1, _2, _3, name, ...) name
#define HOP_ARGS(...) HOP_ARGS_PICK(__VA_ARGS__, HOP_ARGS3, HOP_ARGS2, HOP_ARGS1, 0)(__VA_ARGS__)

/* Cancel t on the loop it is on now, from another thread: -ENOMEM, or 0. */
int cancel_post(tr_task *t, bool force);

/* A loop's live count crossed zero (registry.c): the termination check's input. */
void runtime_loop_busy(struct tr_loop *loop, bool busy);
/* poll_once's part: a stop to notice, the end of the runtime to detect, a deadlock across
 * loops to look for. Returns true when the loop may sleep without a deadlock check. */
void runtime_poll(struct tr_loop *loop);
/* Nothing local can wake this loop (no runnable task, timer, I/O): may it block? False when
 * the caller should run a local deadlock check instead (a runtime of one loop, no handles). */
bool runtime_idle(struct tr_loop *loop);
bool runtime_finished(const struct tr_loop *loop);
/* The loops of loop's runtime, for the deadlock break across loops. */
void deadlock_break_present(struct tr_loop *loop);

/* ---- the current loop and task, the clock (current.c) -------------------------------------- */

/* The loop running on this thread, NULL outside tr_run. The only thread-local there is. Its
 * symbol carries the inline fast path's layout version (taskring.h: tr__current_loop_v1). */
#define tr_tls_loop tr__current_loop_v1
extern __attribute__((tls_model("initial-exec"))) _Thread_local struct tr_loop *tr_tls_loop;

/* tr_tls_loop read afresh, never from a value or address a compiler kept from before a
 * call that may have carried the task to another thread (fiber_hop). */
struct tr_loop *tls_loop_reload(void);

/* CLOCK_MONOTONIC in nanoseconds: every deadline and timer is on this clock. */
uint64_t loop_clock_ns(void);

/* The task running on this thread (NULL outside any task), and its loop in *loop. */
static inline tr_task *calling_task(struct tr_loop **loop) {
    *loop = tr_tls_loop;
    return *loop ? (*loop)->current : NULL;
}

/* The calling task if it runs on `owner`, the loop of the object it acts on, else NULL: an
 * object (a listener, a lock, a queue, ...) is used by tasks of its own loop (-EPERM). */
static inline tr_task *calling_task_on(const struct tr_loop *owner, struct tr_loop **loop) {
    tr_task *self = calling_task(loop);
    return self && *loop == owner ? self : NULL;
}

/* now + ns, saturating: a deadline that would wrap means "never". */
static inline uint64_t deadline_after(uint64_t now, uint64_t ns) {
    return now + ns < now ? UINT64_MAX - 1 : now + ns;
}

/* ---- switching: fiber.h (inline fast path), fiber.c -------------------------------------- */

/* Make a suspended task runnable with the given result for its suspension. */
static inline void fiber_wake(struct tr_loop *loop, tr_task *t, int result) {
    t->wake_result = result;
    atomic_store_explicit(&t->state, TASK_READY, memory_order_relaxed);
    runq_push(&loop->runq, t);
}

/* ---- the wait primitive (wait.c) --------------------------------------------------------------
 */

/* waiter_init, wait_admit, wait_block and waiter_fire are inline, in wait.h. */
/* Cancellation (-ECANCELED) or a deadline (-ETIME) reached w: its source's on_interrupt, or
 * fire it with err. */
void waiter_interrupt(struct waiter *w, int err);
/* t's timer expired (loop.c): finish a sleep, or time out a wait. */
void wait_timer_expired(tr_task *t);
/* A cancellation of t was requested: interrupt its wait, or, when it was woken already and
 * has not run yet, make that wait return -ECANCELED unless its result is owned. `force`
 * ignores shields (a deadlock being broken). */
void wait_cancel(tr_task *t, bool force);

/* ---- when nothing can wake a loop's waiting tasks (deadlock.c) --------------------------------
 */

/* Report every stuck task and wait cycle (tr_options.report or stderr), cancel the stuck
 * tasks through their shields, and mark the loop so that tr_run returns -EDEADLK. */
void deadlock_break(struct tr_loop *loop);
/* The task holding a lock (lock.c), NULL when it is free: for the report's wait cycles. */
tr_task *lock_holder(const void *lock);

/* A group's task in tr_group_wait (NULL: none), and its members not done: for the await
 * graph (graph.c), on the group's loop (group.c). */
tr_task *group_waiting_task(const void *group);
void group_for_each_member(const void *group, void (*f)(tr_task *t, void *ctx), void *ctx);

/* ---- tasks (task.c) ----------------------------------------------------------------------- */

static inline tr_task *record_alloc(struct tr_loop *loop) {
    struct record_pool *p = &loop->records;
    tr_task *t = p->free;
    if (TR_UNLIKELY(!t))
        return record_alloc_slow(loop);
    p->free = t->run_next;
    p->free_count--;
    /* The name its last task had (rare: most tasks keep Task-N). */
    if (TR_UNLIKELY(atomic_load_explicit(&t->custom_name, memory_order_relaxed) != NULL))
        record_drop_name(t);
    return t;
}

/* A new task holding `refs` references: the runtime's, plus the creator's. */
tr_task *task_create(struct tr_loop *loop, tr_fn fn, void *arg, const char *name, uint32_t refs);
void task_finish(struct tr_loop *loop, tr_task *t, void *result);
void task_unref(tr_task *t);
/* The error t finished with, marked as seen: nobody need be told it was never retrieved. */
int task_take_exit_code(tr_task *t);
/* A done task's outcome, as tr_await gives it: its return value into *result (if not NULL:
 * also when it failed), its error (retrieved) as the return value. */
int task_outcome(tr_task *t, void **result);
/* Give the loop's unused Task-N numbers back when it ends. */
void task_numbers_return(struct tr_loop *loop);
void task_check(const tr_task *t, const char *caller);
/* t's repr with the name and function text given, into buf (snprintf's contract: the length
 * the whole text needs). Async-signal-safe: no pin, no dladdr, no stdio (the caller keeps
 * `name` alive). */
size_t task_repr_into(const tr_task *t, char *buf, size_t len, const char *name, const char *fn);
/* name as tr_task_repr quotes it (Python's repr of a str), snprintf's contract; and the length
 * of the well-formed UTF-8 sequence at s (s[0] >= 0x80), 0 if malformed. Signal-safe. */
size_t task_quote_name(char *buf, size_t len, const char *name);
size_t task_utf8_sequence(const unsigned char *s);
/* "Task-N" into out (at least TASK_DEFAULT_NAME_MAX bytes); async-signal-safe. */
#define TASK_DEFAULT_NAME_MAX 28
void task_format_default_name(char *out, uint64_t n);
/* A stand-in that a combinator made for a task of another loop (combinators.c). */
bool task_is_proxy(const tr_task *t);
/* Request t's cancellation (t on this loop). `force`: through shields too (deadlock). */
void task_request_cancel(tr_task *t, bool force);
/* Arm or disarm t's timer for `deadline` (the loop's timers: for sleeps and for waits
 * bounded by a deadline scope). */
int task_timer_arm(struct tr_loop *loop, tr_task *t, uint64_t deadline);
void task_timer_disarm(struct tr_loop *loop, tr_task *t);

/* ---- synchronisation objects (queue.c; the rest in sync.h) --------------------------------- */

/* The items queued in a tr_queue: for reports, whose WAIT_QUEUE_* waiters name the queue. */
size_t queue_len_of(const void *q);

#endif
