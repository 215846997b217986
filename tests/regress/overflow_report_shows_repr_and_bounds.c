/*
 * What the stack-overflow report says: the task's repr (name quoted as tr_task_repr quotes it,
 * its function's address) and its stack's bounds [lo, hi), which must contain an address on
 * the task's stack and span tr_options.stack_size, and the faulting address inside the guard
 * just below lo. Not under sanitizers or valgrind, which own SIGSEGV.
 */
#include "regress.h"

#define STACK_KIB 128

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
    volatile char here = 0;
    printf("local %p fn %p\n", (void *)&here, (void *)(uintptr_t)deep);
    fflush(stdout);
    return (void *)(uintptr_t)recurse(1u << 30, &here);
}

static void *main_task(void *arg) {
    (void)arg;
    tr_task *t = tr_spawn_named(deep, NULL, "it's deep");
    tr_await(t, NULL);
    return NULL;
}

static int child(void *arg) {
    (void)arg;
    alarm(10);
    tr_options opts = {.stack_size = STACK_KIB * 1024};
    int rc = tr_run_with(&opts, main_task, NULL, NULL);
    printf("survived: tr_run returned %d\n", rc);
    return 0;
}

int main(void) {
    if (REGRESS_SANITIZED || RUNNING_ON_VALGRIND)
        return skip_because("the sanitizers and valgrind own SIGSEGV");
    struct child_output o;
    run_child(child, NULL, &o);
    void *local = NULL, *fn = NULL;
    CHECK(sscanf(o.out, "local %p fn %p", &local, &fn) == 2);
    CHECK(WIFSIGNALED(o.status) && WTERMSIG(o.status) == SIGSEGV);
    char want[128];
    snprintf(want, sizeof want, "<Task pending name=\"it's deep\" fn=%p>: its stack [", fn);
    const char *p = strstr(o.err, want);
    if (!p) {
        fprintf(stderr, "no \"%s\" in the report:\n%s", want, o.err);
        return 1;
    }
    unsigned long lo, hi, kib, at, glo, ghi;
    int n = sscanf(p + strlen(want),
                   "%lx, %lx) of %lu KiB is exhausted (fault at %lx in the guard [%lx, %lx)", &lo,
                   &hi, &kib, &at, &glo, &ghi);
    if (n != 6) {
        fprintf(stderr, "report not in the expected form (%d fields):\n%s", n, o.err);
        return 1;
    }
    CHECK(lo <= (uintptr_t)local && (uintptr_t)local < hi); /* the task's own stack */
    CHECK_EQ(hi - lo, STACK_KIB * 1024);
    CHECK_EQ(kib, STACK_KIB);
    CHECK(glo <= at && at < ghi && ghi == lo); /* the fault is in the guard below the stack */
    CHECK(strstr(o.err, "raise tr_options.stack_size") != NULL);
    return 0;
}
