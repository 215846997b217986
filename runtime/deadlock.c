/*
 * deadlock.c - what a loop does when its tasks wait and nothing can ever wake them: no task
 * is runnable, no timer is armed, no operation is in the kernel.
 *
 * A library must not abort the process for that (Go prints "all goroutines are asleep" and
 * exits). The loop writes a report: every stuck task with what it waits on, and every cycle
 * of awaits; then it cancels the stuck tasks, through their shields, so that each returns and
 * everything is freed, and tr_run returns -EDEADLK. The report goes to tr_options.report, or
 * to stderr.
 */
#include "runtime.h"
#include "introspect.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The report, built in memory so the hook gets it whole; line by line to stderr if memory
 * runs out (the report is most needed when things go wrong). */
struct report {
    struct tr_loop *loop;
    char *text;
    size_t len, cap;
    bool failed;
    size_t stuck;
};

static void emit(struct report *r, const char *line, size_t n) {
    if (!r->failed && r->len + n + 1 > r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 4096;
        while (cap < r->len + n + 1)
            cap *= 2;
        char *text = realloc(r->text, cap);
        if (text) {
            r->text = text;
            r->cap = cap;
        } else {
            /* Out of memory: what is built so far, then the rest directly. */
            if (r->len)
                (void)!write(STDERR_FILENO, r->text, r->len);
            r->failed = true;
        }
    }
    if (r->failed) {
        (void)!write(STDERR_FILENO, line, n);
        return;
    }
    memcpy(r->text + r->len, line, n);
    r->len += n;
    r->text[r->len] = '\0';
}

__attribute__((format(printf, 2, 3))) static void say(struct report *r, const char *fmt, ...) {
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n > 0)
        emit(r, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
}

static const char *repr(const tr_task *t, char *buf, size_t len) {
    if (tr_task_repr(t, buf, len) < 0)
        snprintf(buf, len, "<Task %p>", (const void *)t);
    return buf;
}

static const char *what_of(const struct waiter *w) {
    switch (w->kind) {
    case WAIT_TASK:
        return "task";
    case WAIT_TASKS:
        return "tasks (gather, wait or as_completed), the first unfinished being";
    case WAIT_GROUP:
        return "task group";
    case WAIT_EVENT:
        return "event";
    case WAIT_LOCK:
        return "lock";
    case WAIT_SEM:
        return "semaphore";
    case WAIT_COND:
        return "condition";
    case WAIT_QUEUE_GET:
        return "queue (get: empty)";
    case WAIT_QUEUE_PUT:
        return "queue (put: full)";
    case WAIT_QUEUE_JOIN:
        return "queue (join: unfinished items)";
    case WAIT_LISTENER:
        return "listener";
    case WAIT_SLEEP:
        return "timer";
    case WAIT_THREAD:
        return "tr_to_thread function";
    default:
        return "I/O";
    }
}

static void describe_task(tr_task *t, void *ctx) {
    struct report *r = ctx;
    struct waiter *w = t->waiter;
    if (atomic_load_explicit(&t->state, memory_order_relaxed) != TASK_SUSPENDED || !w)
        return;
    char a[192], b[192];
    r->stuck++;
    /* The sentence for people; the [wait=KIND] for greps: the word tr_dump, the signal dump
     * and taskring-ps use for the same wait (introspect.c). */
    const char *kind = wait_kind_name(w->kind);
    if (w->kind == WAIT_TASK || (w->kind == WAIT_TASKS && w->object))
        say(r, "  %s waits for %s %s [wait=%s]\n", repr(t, a, sizeof a), what_of(w),
            repr(w->object, b, sizeof b), kind);
    else if (w->kind == WAIT_LOCK && lock_holder(w->object))
        say(r, "  %s waits for lock %p, held by %s [wait=%s]\n", repr(t, a, sizeof a), w->object,
            repr(lock_holder(w->object), b, sizeof b), kind);
    else if (w->kind >= WAIT_QUEUE_GET && w->kind <= WAIT_QUEUE_JOIN)
        say(r, "  %s waits for %s %p (%zu items) [wait=%s]\n", repr(t, a, sizeof a), what_of(w),
            w->object, queue_len_of(w->object), kind);
    else
        say(r, "  %s waits for %s %p [wait=%s]\n", repr(t, a, sizeof a), what_of(w), w->object,
            kind);
}

/* The one task a stuck task waits for, if its wait names one: the task it awaits, or the
 * holder of the lock it wants (tr_await refuses to close a cycle of awaits by itself, but a
 * lock can close one: A awaits B while B waits for a lock A holds). */
static tr_task *waits_for(const tr_task *t) {
    /* Only a task on this thread's loop: another loop's tasks change under us (a cycle
     * through several loops is reported as its stuck tasks, not named). */
    if (atomic_load_explicit(&((tr_task *)t)->at, memory_order_acquire) != tr_tls_loop)
        return NULL;
    const struct waiter *w = t->waiter;
    if (!w || atomic_load_explicit(&t->state, memory_order_relaxed) != TASK_SUSPENDED)
        return NULL;
    if (w->kind == WAIT_TASK)
        return (tr_task *)w->object;
    if (w->kind == WAIT_LOCK)
        return lock_holder(w->object);
    return NULL;
}

/* Each stuck task waits for at most one task, so from every task the chain either ends or
 * runs into a cycle. A cycle is named once, from its member with the lowest address. */
static void describe_cycle(tr_task *t, void *ctx) {
    struct report *r = ctx;
    size_t limit = tr_task_count() + 1;
    tr_task *p = waits_for(t);
    for (size_t i = 0; p && p != t && i < limit; i++)
        p = waits_for(p);
    if (p != t)
        return; /* t is not on a cycle */
    for (p = waits_for(t); p != t; p = waits_for(p))
        if ((uintptr_t)p < (uintptr_t)t)
            return; /* named from its lowest member */
    char a[192];
    say(r, "  wait cycle: %s", repr(t, a, sizeof a));
    for (p = waits_for(t); p != t; p = waits_for(p))
        say(r, " -> %s", repr(p, a, sizeof a));
    say(r, " -> %s\n", repr(t, a, sizeof a));
}

static void cancel_stuck(tr_task *t, void *ctx) {
    (void)ctx;
    if (atomic_load_explicit(&t->state, memory_order_relaxed) == TASK_SUSPENDED)
        task_request_cancel(t, true);
}

/*
 * The tasks on `loop` now: with one loop, its own; with several, those of any loop that are
 * here (a task waits on the loop that owns what it waits for), found by a snapshot.
 */
static void for_each_present(struct tr_loop *loop, void (*f)(tr_task *, void *), void *ctx) {
    if (loop->rt->nloops == 1) {
        registry_for_each_own(loop, f, ctx);
        return;
    }
    pin_t *pin = epoch_pin();
    if (!pin)
        return;
    size_t cap = 0, n;
    tr_task **all = NULL;
    while ((n = registry_scan(all, cap)) > cap) {
        tr_task **grown = realloc_array(all, n + 64, sizeof *grown);
        if (!grown) {
            n = cap;
            break;
        }
        all = grown;
        cap = n + 64;
    }
    for (size_t i = 0; i < n; i++)
        if (atomic_load_explicit(&all[i]->at, memory_order_acquire) == loop &&
            atomic_load_explicit(&all[i]->state, memory_order_acquire) != TASK_DONE)
            f(all[i], ctx);
    free(all);
    epoch_unpin(pin);
}

void deadlock_break_present(struct tr_loop *loop) {
    deadlock_break(loop);
}

void deadlock_break(struct tr_loop *loop) {
    struct report r = {.loop = loop};
    say(&r, "taskring: deadlock: every task waits and nothing can wake them (no task runnable, "
            "no timer, no I/O pending):\n");
    for_each_present(loop, describe_task, &r);
    for_each_present(loop, describe_cycle, &r);
    say(&r, "taskring: cancelling the %zu stuck task(s); tr_run will return -EDEADLK\n", r.stuck);
    /* With several loops each reports the stuck tasks on it, one call at a time (the hook may
     * not be reentrant), and a loop with none says nothing. */
    bool several = loop->rt->nloops > 1;
    if (!r.failed && r.text && (!several || r.stuck > 0)) {
        pthread_mutex_lock(&loop->rt->report_mu);
        if (loop->report)
            loop->report(loop->report_ctx, r.text);
        else
            (void)!write(STDERR_FILENO, r.text, r.len);
        pthread_mutex_unlock(&loop->rt->report_mu);
    }
    free(r.text);
    loop->deadlocked = true;
    for_each_present(loop, cancel_stuck, NULL);
}
