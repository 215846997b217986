/*
 * backend.c - which backend a loop runs on (backend.h), chosen when tr_run starts, and the
 * calls that say which one it is.
 *
 * tr_options.backend, else TASKRING_BACKEND, else auto. Auto tries io_uring and falls back to
 * epoll when the kernel refuses io_uring itself (EPERM: kernel.io_uring_disabled or a seccomp
 * profile; ENOSYS: no io_uring, or a filter hiding it; EINVAL: a setup this kernel does not
 * know), not when it is short of something (ENOMEM, EMFILE...: epoll would not fix that, and
 * hiding it would hide the problem). The fallback is said in one line on stderr (unless
 * TR_OPTION_QUIET): a silent one would hide a performance loss. Loop 0 decides for the runtime:
 * the loops after it run what it runs.
 */
#include "backend.h"
#include "runtime.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The choice before any loop exists: the option, else the environment. -EINVAL: a value that
 * names no backend. */
int backend_choice(const tr_options *opts, unsigned *out) {
    unsigned b = opts->backend;
    if (b == TR_BACKEND_AUTO) {
        const char *env = getenv("TASKRING_BACKEND");
        if (env && *env) {
            if (strcmp(env, "auto") == 0)
                b = TR_BACKEND_AUTO;
            else if (strcmp(env, "io_uring") == 0)
                b = TR_BACKEND_IO_URING;
            else if (strcmp(env, "epoll") == 0)
                b = TR_BACKEND_EPOLL;
            else
                return -EINVAL;
        }
    }
    *out = b;
    return 0;
}

static bool refused(int rc) {
    return rc == -EPERM || rc == -ENOSYS || rc == -EINVAL;
}

static void say_fallback(int rc) {
    const char *why =
        rc == -EPERM    ? "EPERM: refused by a seccomp profile (Docker's default since 2023) or by "
                          "sysctl kernel.io_uring_disabled"
        : rc == -ENOSYS ? "ENOSYS: no io_uring in this kernel, or a seccomp filter hides it"
                        : "EINVAL: this kernel refuses every ring setup taskring asks for";
    char line[640];
    int n = snprintf(line, sizeof line,
                     "taskring: io_uring_setup failed (%s): running on the epoll backend, "
                     "slower. For io_uring, allow io_uring_setup, io_uring_enter and "
                     "io_uring_register in the seccomp profile (docker run --security-opt "
                     "seccomp=PROFILE) or set kernel.io_uring_disabled=0; TASKRING_BACKEND=epoll "
                     "or TR_OPTION_QUIET chooses epoll without this line.\n",
                     why);
    if (n > 0) /* one write(2): lines of other threads do not interleave with it */
        (void)!write(2, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
}

int backend_create(struct tr_loop *loop, struct tr_runtime *rt, bool decides) {
    /* Loop 0 is made before the other loops' threads start: what it writes here they read
     * (pthread_create orders it); they only read. */
    unsigned b = rt->backend;
    if (b == TR_BACKEND_EPOLL) {
        loop->be = &backend_epoll;
    } else {
        loop->be = &backend_uring;
        int rc = backend_uring.init(loop, &rt->opts);
        if (rc == 0) {
            if (decides)
                rt->backend = TR_BACKEND_IO_URING; /* the loops after this one: io_uring too */
            return 0;
        }
        if (b == TR_BACKEND_IO_URING || !refused(rc)) {
            loop->be = NULL;
            return rc;
        }
        if (!(rt->opts.flags & TR_OPTION_QUIET))
            say_fallback(rc);
        if (decides)
            rt->backend = TR_BACKEND_EPOLL;
        loop->be = &backend_epoll;
    }
    int rc = loop->be->init(loop, &rt->opts);
    if (rc < 0)
        loop->be = NULL;
    return rc;
}

TR_EXPORT int tr_loop_backend(unsigned loop) {
    struct tr_loop *me = tr_tls_loop;
    if (!me)
        return -EPERM;
    if (loop >= me->rt->nloops)
        return -EINVAL;
    return (int)atomic_load_explicit(&me->rt->ports[loop].backend, memory_order_acquire);
}

TR_EXPORT const char *tr_backend_name(int backend) {
    switch (backend) {
    case TR_BACKEND_AUTO:
        return "auto";
    case TR_BACKEND_IO_URING:
        return "io_uring";
    case TR_BACKEND_EPOLL:
        return "epoll";
    default:
        return NULL;
    }
}
