/*
 * The stack-overflow report used to call tr_task_name from the SIGSEGV handler: a task whose
 * default name was being formatted when the overflow hit (name_state NAME_FORMATTING: the
 * formatter will never finish, it is the faulting code) made the handler spin for ever, and
 * the process hung instead of dying. The handler now formats "Task-N" into a buffer of its
 * own. Simulated through the internals: the task marks its own name as being formatted, then
 * overflows. The child must report the name and die by SIGSEGV within its alarm. Not under
 * sanitizers or valgrind, which own SIGSEGV.
 */
#include "regress.h"
#include "internal.h"

__attribute__((noinline)) static unsigned recurse(unsigned depth, volatile char *prev) {
    volatile char frame[1024];
    frame[0] = (char)depth;
    frame[sizeof frame - 1] = prev != NULL ? prev[0] : 0;
    if (depth == 0)
        return frame[0];
    return recurse(depth - 1, frame) + frame[sizeof frame - 1];
}

static void *deep(void *arg) {
    (void)arg;
    tr_task *self = tr_current();
    printf("number %llu\n", (unsigned long long)self->number);
    fflush(stdout);
    atomic_store(&self->name_state, NAME_FORMATTING); /* "interrupted mid-format" */
    return (void *)(uintptr_t)recurse(1u << 30, NULL);
}

static void *main_task(void *arg) {
    (void)arg;
    tr_task *t = tr_spawn(deep, NULL);
    tr_await(t, NULL);
    return NULL;
}

static int child(void *arg) {
    (void)arg;
    alarm(10); /* a handler that spins dies by SIGALRM instead */
    int rc = tr_run(main_task, NULL, NULL);
    printf("survived: tr_run returned %d\n", rc);
    return 0;
}

int main(void) {
    if (REGRESS_SANITIZED || RUNNING_ON_VALGRIND)
        return skip_because("the sanitizers and valgrind own SIGSEGV");
    struct child_output o;
    run_child(child, NULL, &o);
    unsigned long long number = 0;
    CHECK(sscanf(o.out, "number %llu", &number) == 1);
    char want[64];
    snprintf(want, sizeof want, "stack overflow in task <Task pending name='Task-%llu'", number);
    if (!WIFSIGNALED(o.status) || WTERMSIG(o.status) != SIGSEGV || !strstr(o.err, want)) {
        fprintf(stderr, "want death by SIGSEGV with \"%s\"; status 0x%x%s\nstdout: %sstderr: %s\n",
                want, o.status,
                WIFSIGNALED(o.status) && WTERMSIG(o.status) == SIGALRM ? " (SIGALRM: it spun)" : "",
                o.out, o.err);
        return 1;
    }
    return 0;
}
