/*
 * Tasks that could not get a stack used to vanish: under RLIMIT_AS 3 GiB with 64 MiB stacks,
 * 85 of 100 fire-and-forget tasks finished unrun with nothing said, although 31 more stacks
 * would have fit (the pool mapped 32 stacks at once and never tried fewer). Now the pool
 * retries smaller mappings down to one stack, an awaiter of a task that got none sees
 * -ENOMEM, and a task whose error nobody retrieves is reported on stderr when it is let go,
 * one line each. Runs in a child (the limit is per process). Not under sanitizers or valgrind,
 * whose shadow memory needs far more address space than the limit allows.
 */
#include "regress.h"

#define STACK (64u << 20)
#define TASKS 100
#define AS_LIMIT (3ull << 30)

static int ran;

static void *server_task(void *arg) {
    (void)arg;
    ran++;
    tr_sleep(300ull * 1000 * 1000); /* hold the stack while the others try to get one */
    return NULL;
}

static void *awaited(void *arg) {
    (void)arg;
    ran++;
    return NULL;
}

static void *limit_main(void *arg) {
    (void)arg;
    for (int i = 0; i < TASKS; i++) {
        tr_task *t = tr_spawn(server_task, NULL);
        CHECK(t != NULL);
        tr_task_release(t); /* fire and forget */
    }
    tr_task *t = tr_spawn_named(awaited, NULL, "awaited");
    CHECK(t != NULL);
    int rc = tr_await(t, NULL);
    tr_task_release(t);
    printf("ran %d awaited %d\n", ran, rc);
    tr_sleep(500ull * 1000 * 1000); /* let every server task finish */
    return NULL;
}

static int child(void *arg) {
    (void)arg;
    struct rlimit as = {AS_LIMIT, AS_LIMIT};
    if (setrlimit(RLIMIT_AS, &as) != 0)
        return 3;
    tr_options opts = {.stack_size = STACK};
    int rc = tr_run_with(&opts, limit_main, NULL, NULL);
    return rc == 0 ? 0 : 2;
}

int main(void) {
    if (REGRESS_SANITIZED || RUNNING_ON_VALGRIND)
        return skip_because("sanitizers and valgrind need more address space than RLIMIT_AS 3G");
    struct child_output o;
    run_child(child, NULL, &o);
    printf("child: %s", o.out);
    if (!WIFEXITED(o.status) || WEXITSTATUS(o.status) != 0) {
        fprintf(stderr, "child status 0x%x\nstderr:\n%s", o.status, o.err);
        return 1;
    }
    int got = -1, awaited_rc = 0;
    CHECK(sscanf(o.out, "ran %d awaited %d", &got, &awaited_rc) == 2);
    /* 3 GiB holds about 45 stacks of 64 MiB beside the process itself (the main task's stack
     * among them); the old pool fitted 15. */
    if (got < 35) {
        fprintf(stderr, "only %d of %d tasks got a stack\n", got, TASKS);
        return 1;
    }
    CHECK(got < TASKS);            /* otherwise the limit did not bite and nothing was tested */
    CHECK_EQ(awaited_rc, -ENOMEM); /* the awaiter sees why its task did not run */
    /* Every fire-and-forget task that did not run is reported, once; the awaited one is not
     * (its error was retrieved). */
    size_t reports = count_substr(o.err, "was never retrieved");
    if (reports != (size_t)(TASKS - got) || strstr(o.err, "awaited")) {
        fprintf(stderr, "%zu reports for %d unrun tasks; stderr:\n%s", reports, TASKS - got, o.err);
        return 1;
    }
    printf("%d of %d ran, %zu reported, awaiter got -ENOMEM\n", got, TASKS, reports);
    return 0;
}
