/*
 * scope.c - a task's scopes: deadlines (tr_deadline_*, asyncio.timeout) and cancel shields
 * (tr_shield_*). Both live on the caller's stack and nest; the task keeps its innermost of
 * each, and each scope its enclosing one, so that an end that does not match is caught.
 *
 * What a scope changes is read by the wait primitive (wait.c): the innermost deadline bounds
 * every wait (wait_admit refuses after it, waiter_init arms the timer for it, backend_uring.c turns
 * it into a linked timeout); a shield keeps wait_cancel from interrupting a wait and wait_admit
 * from refusing one, until it ends.
 */
#include "internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* Ending a scope that is not the innermost one, or another task's: misuse. In a Debug build
 * of the library it aborts with a message, which is where such a bug is cheapest to find; a
 * release build repairs what it can (see the header). */
static void misuse(const char *call, const char *what) {
#if defined(TASKRING_DEBUG)
    char msg[160];
    int n = snprintf(msg, sizeof msg, "taskring: %s: %s\n", call, what);
    if (n > 0)
        (void)!write(STDERR_FILENO, msg, (size_t)n < sizeof msg ? (size_t)n : sizeof msg - 1);
    abort();
#else
    (void)call;
    (void)what;
#endif
}

/* Is `scope` one of self's open deadline scopes? */
static bool deadline_open(const tr_task *self, const tr_deadline *scope) {
    for (const tr_deadline *d = self->scope; d; d = d->outer_)
        if (d == scope)
            return true;
    return false;
}

TR_EXPORT int tr_deadline_begin(tr_deadline *scope, uint64_t timeout_ns) {
    if (!scope)
        return -EINVAL;
    struct tr_loop *loop;
    tr_task *self = calling_task(&loop);
    if (!self)
        return -EPERM;
    if (deadline_open(self, scope)) { /* begun twice: linking it again would loop the chain */
        misuse("tr_deadline_begin", "the scope is already open (begun twice?)");
        return -EBUSY;
    }
    uint64_t at = deadline_after(loop_clock_ns(), timeout_ns);
    scope->saved_ = self->scope_deadline_ns;
    if (self->scope_deadline_ns && self->scope_deadline_ns < at)
        at = self->scope_deadline_ns; /* an inner scope never extends an outer one */
    scope->at_ = at;
    scope->owner_ = self;
    scope->outer_ = self->scope;
    self->scope = scope;
    self->scope_deadline_ns = at;
    return 0;
}

TR_EXPORT void tr_deadline_end(tr_deadline *scope) {
    struct tr_loop *loop;
    tr_task *self = calling_task(&loop);
    if (!scope || !self)
        return;
    if (!deadline_open(self, scope)) {
        misuse("tr_deadline_end", scope->owner_ && scope->owner_ != self
                                      ? "the scope belongs to another task"
                                      : "the scope is not open (ended twice?)");
        return;
    }
    if (self->scope != scope)
        misuse("tr_deadline_end", "an inner deadline scope is still open (end scopes in reverse "
                                  "order)");
    /* Ending an enclosing scope ends the ones inside it too. */
    self->scope = scope->outer_;
    self->scope_deadline_ns = scope->saved_;
    scope->owner_ = NULL;
}

TR_EXPORT bool tr_deadline_expired(const tr_deadline *scope) {
    return scope && scope->at_ && loop_clock_ns() >= scope->at_;
}

static bool shield_open(const tr_task *self, const tr_shield *s) {
    for (const tr_shield *i = self->shield; i; i = i->outer_)
        if (i == s)
            return true;
    return false;
}

TR_EXPORT int tr_shield_begin(tr_shield *s) {
    if (!s)
        return -EINVAL;
    struct tr_loop *loop;
    tr_task *self = calling_task(&loop);
    if (!self)
        return -EPERM;
    if (shield_open(self, s)) {
        misuse("tr_shield_begin", "the shield is already open (begun twice?)");
        return -EBUSY;
    }
    s->owner_ = self;
    s->outer_ = self->shield;
    self->shield = s;
    return 0;
}

TR_EXPORT void tr_shield_end(tr_shield *s) {
    struct tr_loop *loop;
    tr_task *self = calling_task(&loop);
    if (!s || !self)
        return;
    if (!shield_open(self, s)) {
        misuse("tr_shield_end", s->owner_ && s->owner_ != self
                                    ? "the shield belongs to another task"
                                    : "the shield is not open (ended twice?)");
        return;
    }
    if (self->shield != s)
        misuse("tr_shield_end", "an inner shield is still open (end shields in reverse order)");
    self->shield = s->outer_;
    s->owner_ = NULL;
    /* A cancellation that came meanwhile is not delivered here: the task is running, and the
     * first wait from now on returns -ECANCELED (wait_admit). */
}
