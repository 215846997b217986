/*
 * A frame larger than the guard below a task's stack used to jump it: with 64 KiB stacks and
 * a 16 KiB guard, an 80 KiB VLA in code built without -fstack-clash-protection wrote into the
 * neighbouring task's stack, and the process exited 0 with nothing said. The guard is now
 * 256 KiB by default, so frames of a few hundred KiB fault in it and are reported with the
 * task's name like any overflow; code built with -fstack-clash-protection is caught at any
 * frame size. Each case runs in a child that must die with the report, by SIGSEGV (the
 * fault's default action once reported). Not under sanitizers
 * or valgrind, which own SIGSEGV.
 */
#include "regress.h"

size_t big_frame_unprobed(size_t n);
size_t big_frame_probed(size_t n);

struct clash {
    const char *name;
    size_t frame;
    bool probed;
};

static void *clasher(void *arg) {
    const struct clash *c = arg;
    size_t r = c->probed ? big_frame_probed(c->frame) : big_frame_unprobed(c->frame);
    return (void *)r;
}

static void *clash_main(void *arg) {
    const struct clash *c = arg;
    /* Its stack is carved from the same mapping as others: a frame that jumps the guard
     * writes into the stack below without a fault. */
    tr_task *t = tr_spawn_named(clasher, arg, c->name);
    CHECK(t != NULL);
    tr_await(t, NULL);
    return NULL;
}

static int child(void *arg) {
    tr_options opts = {.stack_size = 64 * 1024};
    int rc = tr_run_with(&opts, clash_main, arg, NULL);
    printf("survived: tr_run returned %d\n", rc);
    return 0;
}

static void expect_report(const struct clash *c) {
    struct child_output o;
    run_child(child, (void *)c, &o);
    if (!WIFSIGNALED(o.status) || WTERMSIG(o.status) != SIGSEGV || !strstr(o.err, c->name) ||
        !strstr(o.err, "stack overflow")) {
        fprintf(stderr, "%s (%zu KiB frame, %s): child status 0x%x\nstdout: %sstderr: %s\n",
                c->name, c->frame / 1024, c->probed ? "probed" : "unprobed", o.status, o.out,
                o.err);
        exit(1);
    }
    printf("%s: %zu KiB frame (%s) reported\n", c->name, c->frame / 1024,
           c->probed ? "probed" : "unprobed");
}

int main(void) {
    if (REGRESS_SANITIZED || RUNNING_ON_VALGRIND)
        return skip_because("the sanitizers and valgrind handle SIGSEGV themselves");
    static const struct clash cases[] = {
        {"clash-80k", 80 * 1024, false},     /* the frame of the original report */
        {"clash-240k", 240 * 1024, false},   /* just inside the default guard, below the stack */
        {"clash-4m-probed", 4u << 20, true}, /* far past any guard, but probed page by page */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        expect_report(&cases[i]);
    return 0;
}
