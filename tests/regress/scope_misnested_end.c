/*
 * Ending a shield or a deadline scope that is not the caller's innermost one, ending one
 * twice, or ending another task's: misuse. A Debug build of the library aborts with a message
 * naming the call (checked in a child); a release build repairs what it can: ending an
 * enclosing scope ends the ones inside it, and ending a scope the caller does not have is
 * ignored. The tests are built like the library, so NDEBUG tells which one this is.
 */
#include "regress.h"

#define MS 1000000ull

static tr_shield *foreign_shield;
static tr_deadline *foreign_deadline;

static void *owner(void *arg) {
    (void)arg;
    static tr_shield s;
    static tr_deadline d;
    tr_shield_begin(&s);
    tr_deadline_begin(&d, 10000 * MS);
    foreign_shield = &s;
    foreign_deadline = &d;
    tr_sleep(5 * MS);
    tr_deadline_end(&d);
    tr_shield_end(&s);
    return NULL;
}

/* Each misuse as a task body; in a release build each also checks the repair. */
static void *end_outer_shield_first(void *arg) {
    (void)arg;
    tr_shield outer, inner;
    tr_shield_begin(&outer);
    tr_shield_begin(&inner);
    tr_shield_end(&outer); /* ends both */
    tr_shield_end(&inner); /* not open any more: ignored */
    tr_task_cancel(tr_current());
    CHECK_EQ(tr_sleep(1 * MS), -ECANCELED); /* no shield left */
    return NULL;
}

static void *end_deadline_twice(void *arg) {
    (void)arg;
    tr_deadline outer, inner;
    tr_deadline_begin(&outer, 10000 * MS);
    tr_deadline_begin(&inner, 1 * MS);
    tr_deadline_end(&outer); /* ends both: no deadline left */
    tr_deadline_end(&outer); /* twice: ignored */
    CHECK_EQ(tr_sleep(5 * MS), 0);
    return NULL;
}

static void *end_foreign(void *arg) {
    (void)arg;
    tr_task *o = tr_spawn(owner, NULL);
    CHECK_EQ(tr_yield(), 0);           /* the owner opens its scopes */
    tr_deadline_end(foreign_deadline); /* not ours: ignored */
    tr_shield_end(foreign_shield);
    CHECK_EQ(tr_await(o, NULL), 0); /* the owner's scopes were untouched */
    tr_task_release(o);
    return NULL;
}

static const struct {
    const char *name;
    tr_fn fn;
    const char *call;
} cases[] = {
    {"outer shield ended first", end_outer_shield_first, "tr_shield_end"},
    {"deadline ended twice", end_deadline_twice, "tr_deadline_end"},
    {"another task's scopes", end_foreign, "tr_deadline_end"},
};

static void *run_case(void *arg) {
    tr_task *t = tr_spawn(cases[(uintptr_t)arg].fn, NULL);
    CHECK_EQ(tr_await(t, NULL), 0);
    tr_task_release(t);
    return NULL;
}

static int child(void *arg) {
    return tr_run(run_case, arg, NULL) == 0 ? 0 : 2;
}

int main(void) {
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct child_output o;
        run_child(child, (void *)i, &o);
#ifdef NDEBUG
        if (!WIFEXITED(o.status) || WEXITSTATUS(o.status) != 0) {
            fprintf(stderr, "%s: release build should repair; status 0x%x\n%s", cases[i].name,
                    o.status, o.err);
            return 1;
        }
#else
        if (!WIFSIGNALED(o.status) || WTERMSIG(o.status) != SIGABRT ||
            !strstr(o.err, cases[i].call)) {
            fprintf(stderr, "%s: Debug build should abort naming %s; status 0x%x\n%s",
                    cases[i].name, cases[i].call, o.status, o.err);
            return 1;
        }
#endif
        printf("%s: %s\n", cases[i].name,
#ifdef NDEBUG
               "repaired"
#else
               "aborted with a message"
#endif
        );
    }
    return 0;
}
