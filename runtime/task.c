/*
 * task.c - a task's identity and life: creation, references, names, repr, cancellation
 * requests, and the bookkeeping when it finishes.
 *
 * A record lives while anyone references it: the runtime holds one reference until the task
 * is done, the spawner one until tr_task_release, tr_task_retain more. When the last goes,
 * record.c recycles the record, but only once no tr_all_tasks snapshot could still hold it.
 */
#include "runtime.h"
#include "test_hooks.h"
#include "wait.h"

#include <assert.h>
#include <dlfcn.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* asyncio numbers tasks from one process-wide counter (Task-1, Task-2, ...); so do we, so
 * that names stay unique when several loops run. A loop takes numbers in blocks, so a spawn
 * costs no atomic read-modify-write, and hands back what it did not use when it ends, so
 * successive tr_run calls on one thread number their tasks without gaps. */
static _Atomic uint64_t task_counter;
enum { NUMBER_BLOCK = 64 };

static uint64_t next_task_number(struct tr_loop *loop) {
    if (TR_UNLIKELY(loop->number_next == loop->number_end)) {
        loop->number_next =
            atomic_fetch_add_explicit(&task_counter, NUMBER_BLOCK, memory_order_relaxed) + 1;
        loop->number_end = loop->number_next + NUMBER_BLOCK;
    }
    return loop->number_next++;
}

void task_numbers_return(struct tr_loop *loop) {
    /* Only if no other loop took numbers after ours: then the counter simply steps back. */
    uint64_t expected = loop->number_end - 1;
    if (loop->number_next != loop->number_end)
        atomic_compare_exchange_strong(&task_counter, &expected, loop->number_next - 1);
    loop->number_next = loop->number_end = 0;
}

static __attribute__((noinline, cold, noreturn)) void die(const char *caller, const char *what,
                                                          const tr_task *t) {
    char msg[160];
    int n = snprintf(msg, sizeof msg, "taskring: %s: %s (task %p)\n", caller, what, (void *)t);
    if (n > 0)
        (void)!write(STDERR_FILENO, msg, (size_t)n < sizeof msg ? (size_t)n : sizeof msg - 1);
    abort();
}

/* A released record stays readable while a snapshot may hold it (record.c), so only a value
 * that is neither live nor released means the pointer is not a task at all. */
void task_check(const tr_task *t, const char *caller) {
    if (TR_UNLIKELY(t->magic != TASK_MAGIC && t->magic != TASK_DEAD))
        die(caller, "not a task", t);
}

/* The parts of a spawn that are not its common case, out of line so that the common one
 * saves no registers it does not use: naming, and undoing a spawn that ran out of memory. */
static __attribute__((noinline, cold)) tr_task *create_failed(struct tr_loop *loop, tr_task *t) {
    /* Never a task: nobody holds it (the loop's end counts records with refs > 0). */
    t->magic = TASK_DEAD;
    atomic_store_explicit(&t->refs, 0, memory_order_relaxed);
    record_retire(loop, t);
    errno = ENOMEM;
    return NULL;
}

static __attribute__((noinline, cold)) tr_task *create_named(struct tr_loop *loop, tr_task *t,
                                                             const char *name) {
    if (tr_task_set_name(t, name) < 0 || registry_add(loop, t) < 0)
        return create_failed(loop, t);
    runq_push(&loop->runq, t);
    return t;
}

static __attribute__((noinline, cold)) tr_task *no_record(void) {
    errno = ENOMEM;
    return NULL;
}

/*
 * A record comes back with the fields its last task left (record.c: no memset; a new slab is
 * zeroed). Every field a task or a reader on another thread reads before writing it is set
 * here. The rest need nothing: ctx, stack (NULL once a task is done), run_next, the timer
 * links and deadline (written when used), wake_result (written by whoever wakes it), waiter,
 * awaiting and the done queue (empty once a task is done: each wait clears them before it
 * returns, and nothing waits on a done task), slot (SLOT_NONE since registry_remove, or
 * 0 in a new slab; registry_add sets it), default_name (formatted
 * once name_state says so), and wait_seq and name_seq, which keep counting across reuses.
 */
static inline __attribute__((always_inline)) tr_task *
create(struct tr_loop *loop, tr_fn fn, void *arg, const char *name, uint32_t refs) {
    tr_task *t = record_alloc(loop);
    if (TR_UNLIKELY(!t))
        return no_record();
    assert(!t->stack && !t->waiter && !t->done.head && !t->in_timer &&
           !atomic_load_explicit(&t->awaiting, memory_order_relaxed));
    t->magic = TASK_MAGIC;
    atomic_store_explicit(&t->state, TASK_SCHEDULED, memory_order_relaxed);
    /* Spawned while tr_run is cancelling everything: it is cancelled too, so shutdown ends. */
    t->cancel_requested = loop->stopping;
    t->cancel_forced = false;
    atomic_store_explicit(&t->name_state, NAME_UNFORMATTED, memory_order_relaxed);
    atomic_store_explicit(&t->exit_code, 0, memory_order_relaxed);
    atomic_store_explicit(&t->retrieved, false, memory_order_relaxed);
    /* The runtime's (until the task is done) + the creator's. */
    atomic_store_explicit(&t->refs, refs, memory_order_relaxed);
    t->loop = loop;
    atomic_store_explicit(&t->at, loop, memory_order_relaxed);
    t->fn = fn;
    t->arg = arg;
    t->result = NULL;
    t->shield = NULL;
    t->scope = NULL;
    t->scope_deadline_ns = 0;
    t->number = next_task_number(loop);
    t->created_ns = loop->now_ns;
    __atomic_store_n(&t->ran_ns, 0, __ATOMIC_RELAXED); /* read by dumps */
    if (TR_UNLIKELY(name != NULL))
        return create_named(loop, t, name);
    if (TR_UNLIKELY(registry_add(loop, t) < 0))
        return create_failed(loop, t);
    runq_push(&loop->runq, t);
    return t;
}

tr_task *task_create(struct tr_loop *loop, tr_fn fn, void *arg, const char *name, uint32_t refs) {
    return create(loop, fn, arg, name, refs);
}

static __attribute__((noinline, cold)) tr_task *spawn_refused(tr_fn fn) {
    errno = fn ? EPERM : EINVAL;
    return NULL;
}

TR_EXPORT tr_task *tr_spawn(tr_fn fn, void *arg) {
    struct tr_loop *loop = tr_tls_loop;
    if (TR_UNLIKELY(!fn || !loop))
        return spawn_refused(fn);
    return create(loop, fn, arg, NULL, 2);
}

TR_EXPORT tr_task *tr_spawn_named(tr_fn fn, void *arg, const char *name) {
    struct tr_loop *loop = tr_tls_loop;
    if (!fn || !loop)
        return spawn_refused(fn);
    return task_create(loop, fn, arg, name, 2);
}

TR_EXPORT tr_task *tr_task_retain(tr_task *t) {
    if (!t) {
        errno = EINVAL;
        return NULL;
    }
    /* A task from a snapshot may have finished and lost its last reference since: its
     * record is still readable (the set pins it) but must not come back to life. */
    uint32_t refs = atomic_load_explicit(&t->refs, memory_order_relaxed);
    do {
        if (refs == 0 || refs == REFS_OUTLIVED) {
            errno = ESRCH;
            return NULL;
        }
    } while (!atomic_compare_exchange_weak_explicit(&t->refs, &refs, refs + 1, memory_order_relaxed,
                                                    memory_order_relaxed));
    task_check(t, "tr_task_retain");
    return t;
}

int task_outcome(tr_task *t, void **result) {
    if (result)
        *result = t->result;
    return task_take_exit_code(t);
}

int task_take_exit_code(tr_task *t) {
    if (TR_UNLIKELY(task_is_proxy(t))) /* a stand-in (combinators.c): the real one is seen */
        atomic_store_explicit(&((tr_task *)t->arg)->retrieved, true, memory_order_relaxed);
    atomic_store_explicit(&t->retrieved, true, memory_order_relaxed);
    return atomic_load_explicit(&t->exit_code, memory_order_relaxed);
}

/*
 * asyncio's "Task exception was never retrieved": a task that failed (not one that was
 * cancelled: that is a request someone made) and whose error nobody read is about to vanish.
 * In a fire-and-forget server this line is the only trace of a connection that was never
 * served. One write(2), so that lines from several threads do not interleave.
 */
static __attribute__((noinline, cold)) void report_unretrieved(const tr_task *t) {
    int code = atomic_load_explicit(&t->exit_code, memory_order_relaxed);
    if (code >= 0 || code == -ECANCELED ||
        atomic_load_explicit(&t->retrieved, memory_order_relaxed))
        return;
    char repr[160], line[512];
    if (tr_task_repr(t, repr, sizeof repr) < 0)
        repr[0] = '\0';
    int n = snprintf(line, sizeof line, "taskring: task error was never retrieved: %s: %s\n", repr,
                     tr_strerror(code));
    if (n > 0)
        (void)!write(STDERR_FILENO, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
}

static __attribute__((noinline, cold)) void over_released(tr_task *t) {
    die("tr_task_release", "released more often than retained", t);
}

/* The last reference is gone: the record may be reused once no snapshot can hold it. */
static inline void last_reference(tr_task *t, uint32_t old) {
    if (TR_UNLIKELY(old == 0 || old == REFS_OUTLIVED ||
                    atomic_load_explicit(&t->state, memory_order_relaxed) != TASK_DONE))
        over_released(t);
    if (TR_UNLIKELY(atomic_load_explicit(&t->exit_code, memory_order_relaxed) < 0))
        report_unretrieved(t);
    t->magic = TASK_DEAD;
}

/* test_hooks.h: called by a release on another thread right after its reference is gone. */
static _Atomic(void (*)(void)) remote_release_hook;

void task_set_remote_release_hook(void (*hook)(void)) {
    atomic_store(&remote_release_hook, hook);
}

static inline void remote_release_hooked(void) {
    void (*hook)(void) = atomic_load_explicit(&remote_release_hook, memory_order_relaxed);
    if (TR_UNLIKELY(hook != NULL))
        hook();
}

/*
 * A release on a thread that is not the record's loop (a monitoring thread, or any thread
 * after the loop ended). Before the loop's end it counts itself in `remote_releasers` for its
 * whole length, so that the ending loop waits for it before freeing what it touches (record.c,
 * "after the loop"). A record that already carries the end's bias needs no such count, and
 * must not take one: once this release's reference is gone, another thread's last release
 * may free the loop at once, so nothing here may touch the loop after it unless it is the
 * last. (Either this thread's load of `refs` sees the bias, or the end's wait sees this
 * thread in `remote_releasers`: both sides are sequentially consistent.)
 */
static __attribute__((noinline)) void remote_unref(struct tr_loop *loop, tr_task *t) {
    uint32_t old;
    if (atomic_load_explicit(&t->refs, memory_order_seq_cst) > REFS_OUTLIVED) {
        /* After the end: the pool is held for this record until its last reference goes. */
        old = atomic_fetch_sub_explicit(&t->refs, 1, memory_order_seq_cst);
        remote_release_hooked();
        if (old == REFS_OUTLIVED + 1) {
            last_reference(t, old);
            record_pool_release(loop); /* may free the pool and the loop */
        }
        return;
    }
    atomic_fetch_add_explicit(&loop->records.remote_releasers, 1, memory_order_seq_cst);
    old = atomic_fetch_sub_explicit(&t->refs, 1, memory_order_seq_cst);
    remote_release_hooked();
    if (old == REFS_OUTLIVED + 1) {
        /* The record outlived its loop: the pool is held for it. */
        last_reference(t, old);
        atomic_fetch_sub_explicit(&loop->records.remote_releasers, 1, memory_order_seq_cst);
        record_pool_release(loop); /* may free the pool and the loop */
        return;
    }
    if (old <= 1) {
        last_reference(t, old);
        /* Hand the record to its loop, which reuses it at its next reclaim pass. */
        tr_task *head = atomic_load_explicit(&loop->records.remote, memory_order_relaxed);
        do {
            t->run_next = head;
        } while (!atomic_compare_exchange_weak_explicit(
            &loop->records.remote, &head, t, memory_order_release, memory_order_relaxed));
    }
    atomic_fetch_sub_explicit(&loop->records.remote_releasers, 1, memory_order_seq_cst);
}

/* The loop's own release took the last reference. Out of line (a tail call), so that
 * task_unref's common path needs no frame. */
static __attribute__((noinline)) void local_last_reference(struct tr_loop *loop, tr_task *t,
                                                           uint32_t old) {
    last_reference(t, old);
    record_retire(loop, t);
}

void task_unref(tr_task *t) {
    struct tr_loop *loop = t->loop;
    if (TR_UNLIKELY(tr_tls_loop != loop)) {
        remote_unref(loop, t);
        return;
    }
    uint32_t old = atomic_fetch_sub_explicit(&t->refs, 1, memory_order_acq_rel);
    if (TR_LIKELY(old > 1))
        return;
    local_last_reference(loop, t, old);
}

static __attribute__((noinline, cold)) void release_bad(const tr_task *t) {
    task_check(t, "tr_task_release");
    die("tr_task_release", "task released after its last reference (double release?)", t);
}

TR_EXPORT void tr_task_release(tr_task *t) {
    if (!t)
        return;
    if (TR_UNLIKELY(t->magic != TASK_MAGIC))
        release_bad(t); /* not a task, or a released one */
    task_unref(t);
}

/* Wake whoever waits for the end, in the order they started waiting, as asyncio runs its
 * done callbacks. Firing unlinks each one. */
static __attribute__((noinline)) void finish_with_waiters(struct tr_loop *loop, tr_task *t) {
    registry_remove(loop, t);
    while (t->done.head)
        waiter_fire(t->done.head, 0, false);
}

void task_finish(struct tr_loop *loop, tr_task *t, void *result) {
    t->result = result;
    if (t->cancel_requested && atomic_load_explicit(&t->exit_code, memory_order_relaxed) == 0)
        atomic_store_explicit(&t->exit_code, -ECANCELED, memory_order_relaxed);
    /* Release: a snapshot holder that sees DONE also sees the result and exit code. */
    atomic_store_explicit(&t->state, TASK_DONE, memory_order_release);
    if (t == loop->main_task)
        loop->turn_left = 0; /* back to tr_run now: nothing else starts once main is done */
    if (TR_UNLIKELY(t->done.head != NULL))
        finish_with_waiters(loop, t);
    else
        registry_remove(loop, t); /* a tail call: no frame */
}

/* ---- state queries (any thread) ----------------------------------------------------------- */

TR_EXPORT bool tr_task_done(const tr_task *t) {
    return t && atomic_load_explicit(&t->state, memory_order_acquire) == TASK_DONE;
}

TR_EXPORT bool tr_task_cancelled(const tr_task *t) {
    return tr_task_done(t) &&
           atomic_load_explicit(&t->exit_code, memory_order_relaxed) == -ECANCELED;
}

TR_EXPORT tr_fn tr_task_fn(const tr_task *t, void **arg) {
    if (!t) {
        errno = EINVAL;
        return NULL;
    }
    if (arg)
        *arg = t->arg;
    return t->fn;
}

/* ---- names ------------------------------------------------------------------------------ */

/* "Task-N" without snprintf: cheap, and safe in the stack-overflow signal handler. */
void task_format_default_name(char *out, uint64_t n) {
    char digits[24];
    int len = 0;
    do {
        digits[len++] = (char)('0' + n % 10);
        n /= 10;
    } while (n);
    memcpy(out, "Task-", 5);
    for (int i = 0; i < len; i++)
        out[5 + i] = digits[len - 1 - i];
    out[5 + len] = '\0';
}

/* The current name: the custom one, or "Task-N", formatted on first read. */
static const char *current_name(const tr_task *ct) {
    tr_task *t = (tr_task *)ct; /* the lazy default name is a cache, not a change */
    struct name_node *custom = atomic_load_explicit(&t->custom_name, memory_order_acquire);
    if (custom)
        return custom->text;
    uint8_t state = atomic_load_explicit(&t->name_state, memory_order_acquire);
    if (TR_LIKELY(state == NAME_READY))
        return t->default_name;
    uint8_t expected = NAME_UNFORMATTED;
    if (atomic_compare_exchange_strong_explicit(&t->name_state, &expected, NAME_FORMATTING,
                                                memory_order_acquire, memory_order_acquire)) {
        task_format_default_name(t->default_name, t->number);
        atomic_store_explicit(&t->name_state, NAME_READY, memory_order_release);
    } else {
        /* Another thread is formatting the same few bytes right now. */
        while (atomic_load_explicit(&t->name_state, memory_order_acquire) != NAME_READY)
            ;
    }
    return t->default_name;
}

/*
 * For a read of t's name that must stay safe across a concurrent rename: a pin, so that the
 * name it loads is not freed before it is done (record.c, "retired names"). The loop's own
 * thread is the only one that renames t and frees its old names, so it needs none (*pin is
 * NULL then). The same holds when t's loop has ended and this thread's loop reuses its
 * address: an ended loop's names no longer change.
 */
static int pin_for_name(const tr_task *t, pin_t **pin) {
    *pin = NULL;
    if (t->loop == tr_tls_loop)
        return 0;
    *pin = epoch_pin();
    return *pin ? 0 : -ENOMEM;
}

TR_EXPORT const char *tr_task_name(const tr_task *t) {
    if (!t) {
        errno = EINVAL;
        return NULL;
    }
    return current_name(t);
}

TR_EXPORT int tr_task_name_copy(const tr_task *t, char *buf, size_t len) {
    if (!t || (!buf && len > 0))
        return -EINVAL;
    pin_t *pin;
    int rc = pin_for_name(t, &pin);
    if (rc < 0)
        return rc;
    const char *name = current_name(t);
    size_t n = strlen(name);
    if (len > 0) {
        size_t k = n < len - 1 ? n : len - 1;
        memcpy(buf, name, k);
        buf[k] = '\0';
    }
    if (pin)
        epoch_unpin(pin);
    return n > INT_MAX ? -EOVERFLOW : (int)n;
}

struct rename {
    tr_task *t;
    const char *name;
};

static int set_name_there(void *ctx) {
    struct rename *r = ctx;
    return tr_task_set_name(r->t, r->name);
}

TR_EXPORT int tr_task_set_name(tr_task *t, const char *name) {
    if (!t || !name)
        return -EINVAL;
    if (t->loop != tr_tls_loop) {
        /* A name is written by its task's own loop only (readers rely on it): go there. */
        struct rename r = {t, name};
        return hop_call(t->loop, set_name_there, &r);
    }
    task_check(t, "tr_task_set_name");
    size_t len = strlen(name);
    struct name_node *node = malloc(sizeof *node + len + 1);
    if (!node)
        return -ENOMEM;
    memcpy(node->text, name, len + 1);
    node->next = NULL;
    /* Only this thread writes the name. Release: a reader that loads the node sees its text.
     * The old name may still be read through a set or a pinned copy on another thread, so it
     * is retired, not freed, and only after the new one is published. */
    struct name_node *old = atomic_load_explicit(&t->custom_name, memory_order_relaxed);
    atomic_fetch_add_explicit(&t->name_seq, 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_release); /* the step is seen before the new pointer */
    atomic_store_explicit(&t->custom_name, node, memory_order_release);
    if (old)
        record_name_retire(t->loop, old);
    return 0;
}

/* ---- repr ---------------------------------------------------------------------------------- */

/* snprintf's contract by hand: count every byte, store only what fits before the NUL. */
struct repr_out {
    char *buf;
    size_t len;
    size_t n; /* bytes the full text needs so far */
};

static void out_byte(struct repr_out *o, char c) {
    if (o->n + 1 < o->len)
        o->buf[o->n] = c;
    o->n++;
}

static void out_str(struct repr_out *o, const char *s) {
    while (*s)
        out_byte(o, *s++);
}

static void out_hex(struct repr_out *o, unsigned char c) {
    static const char hex[] = "0123456789abcdef"; /* lower case, as Python prints \x1b */
    out_byte(o, '\\');
    out_byte(o, 'x');
    out_byte(o, hex[c >> 4]);
    out_byte(o, hex[c & 15]);
}

/* Length of the well-formed UTF-8 sequence starting at s[0] >= 0x80 (RFC 3629: no overlong
 * forms, no surrogates, nothing above U+10FFFF), or 0. Stops at the terminating NUL, which is
 * never a continuation byte. */
static size_t utf8_sequence(const unsigned char *s) {
    unsigned char c = s[0], lo = 0x80, hi = 0xbf;
    size_t n;
    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        if (c == 0xe0)
            lo = 0xa0; /* overlong below */
        else if (c == 0xed)
            hi = 0x9f; /* surrogates above */
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        if (c == 0xf0)
            lo = 0x90;
        else if (c == 0xf4)
            hi = 0x8f; /* past U+10FFFF above */
    } else {
        return 0;
    }
    if (s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    return n;
}

/* The name as Python's repr() prints a str: in ' quotes unless it contains ' and no ", then
 * in "; backslash and that quote escaped; \n \r \t; other control bytes as \xNN; well-formed
 * UTF-8 as is, every byte of a malformed sequence as \xNN. One repr is one line, and two
 * different names never look the same. */
static void out_name(struct repr_out *o, const char *name) {
    char quote = strchr(name, '\'') && !strchr(name, '"') ? '"' : '\'';
    out_byte(o, quote);
    for (const unsigned char *s = (const unsigned char *)name; *s;) {
        unsigned char c = *s;
        if (c == '\\' || c == (unsigned char)quote) {
            out_byte(o, '\\');
            out_byte(o, (char)c);
        } else if (c == '\n') {
            out_str(o, "\\n");
        } else if (c == '\r') {
            out_str(o, "\\r");
        } else if (c == '\t') {
            out_str(o, "\\t");
        } else if (c < 0x20 || c == 0x7f) {
            out_hex(o, c);
        } else if (c < 0x80) {
            out_byte(o, (char)c);
        } else {
            size_t n = utf8_sequence(s);
            if (n == 0) {
                out_hex(o, c);
                s++;
                continue;
            }
            for (size_t i = 0; i < n; i++)
                out_byte(o, (char)s[i]);
            s += n;
            continue;
        }
        s++;
    }
    out_byte(o, quote);
}

size_t task_quote_name(char *buf, size_t len, const char *name) {
    struct repr_out o = {buf, len, 0};
    out_name(&o, name);
    if (len > 0)
        buf[o.n < len ? o.n : len - 1] = '\0';
    return o.n;
}

size_t task_utf8_sequence(const unsigned char *s) {
    return utf8_sequence(s);
}

/* Digits of v, without snprintf (signal handlers use this path). */
static void out_uint(struct repr_out *o, uint64_t v) {
    char digits[24];
    int n = 0;
    do {
        digits[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n)
        out_byte(o, digits[--n]);
}

size_t task_repr_into(const tr_task *t, char *buf, size_t len, const char *name, const char *fn) {
    const char *state = "pending";
    if (tr_task_done(t))
        state = tr_task_cancelled(t) ? "cancelled" : "finished";
    struct repr_out o = {buf, len, 0};
    out_str(&o, "<Task ");
    out_str(&o, state);
    out_str(&o, " name=");
    out_name(&o, name);
    out_str(&o, " fn=");
    out_str(&o, fn);
    /* Which loop, once there is more than one: the loop's memory (and its runtime) lives as
     * long as its records are referenced (record.c), so this is safe after tr_run too. */
    const struct tr_loop *home = t->loop;
    if (home->rt && home->rt->nloops > 1) {
        out_str(&o, " loop=");
        out_uint(&o, home->id);
    }
    out_byte(&o, '>');
    if (len > 0)
        buf[o.n < len ? o.n : len - 1] = '\0';
    return o.n;
}

TR_EXPORT int tr_task_repr(const tr_task *t, char *buf, size_t len) {
    if (!t || (!buf && len > 0))
        return -EINVAL;
    char fnbuf[32];
    const char *fn = NULL;
    Dl_info info;
    if (dladdr((void *)(uintptr_t)t->fn, &info) && info.dli_sname &&
        info.dli_saddr == (void *)(uintptr_t)t->fn)
        fn = info.dli_sname;
    if (!fn) {
        snprintf(fnbuf, sizeof fnbuf, "%p", (void *)(uintptr_t)t->fn);
        fn = fnbuf;
    }
    pin_t *pin; /* taken after dladdr, which may wait for the loader's lock */
    int rc = pin_for_name(t, &pin);
    if (rc < 0)
        return rc;
    size_t n = task_repr_into(t, buf, len, current_name(t), fn);
    if (pin)
        epoch_unpin(pin);
    return n > INT_MAX ? -EOVERFLOW : (int)n;
}

/* ---- cancellation -------------------------------------------------------------------------- */

int task_timer_arm(struct tr_loop *loop, tr_task *t, uint64_t deadline) {
    t->deadline_ns = deadline;
    if (timer_heap_push(&loop->timers, t) < 0)
        return -ENOMEM;
    t->in_timer = true;
    return 0;
}

void task_timer_disarm(struct tr_loop *loop, tr_task *t) {
    if (t->in_timer) {
        timer_heap_remove(&loop->timers, t);
        t->in_timer = false;
    }
}

void task_request_cancel(tr_task *t, bool force) {
    if (atomic_load_explicit(&t->state, memory_order_acquire) == TASK_DONE)
        return;
    struct tr_loop *here = tr_tls_loop;
    if (TR_UNLIKELY(atomic_load_explicit(&t->at, memory_order_acquire) != here)) {
        /* On another loop: only that loop's thread may touch its wait. */
        if (cancel_post(t, force) < 0)
            here->cancel_retry = true; /* no memory: a stopping loop tries again */
        return;
    }
    if (t->cancel_requested && (!force || t->cancel_forced))
        return;
    t->cancel_requested = true;
    t->cancel_forced |= force;
    wait_cancel(t, force);
}

TR_EXPORT int tr_task_cancel(tr_task *t) {
    if (!t)
        return -EINVAL;
    struct tr_loop *loop = tr_tls_loop;
    if (!loop)
        return -EPERM;
    task_check(t, "tr_task_cancel");
    if (atomic_load_explicit(&t->state, memory_order_acquire) == TASK_DONE)
        return 0;
    if (t->loop != loop && t->loop->rt != loop->rt)
        return -EPERM; /* a task of another runtime */
    if (atomic_load_explicit(&t->at, memory_order_acquire) != loop) {
        int rc = cancel_post(t, false);
        return rc < 0 ? rc : 1;
    }
    task_request_cancel(t, false);
    return 1;
}
