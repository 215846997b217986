/*
 * error.c - tr_strerror: errno text, plus what to do when the cause is the environment.
 *
 * The io_uring cases matter most: a server that cannot create its ring should tell its
 * operator why (disabled by sysctl, refused by a container's seccomp profile, out of locked
 * memory on old kernels) rather than print a bare "Operation not permitted".
 */
#include "internal.h"

#include <errno.h>
#include <string.h>

TR_EXPORT const char *tr_strerror(int err) {
    switch (err) {
    case 0:
        return "success";
    case -EPERM:
        return "operation not permitted: outside a taskring loop, on another loop's task, or "
               "io_uring is refused here (sysctl kernel.io_uring_disabled=2, or a container "
               "seccomp profile blocking io_uring_setup: allow io_uring_setup/enter/register)";
    case -ENOSYS:
        return "io_uring is not available: the kernel lacks it or a seccomp filter hides it "
               "(taskring needs Linux 5.19 or later with io_uring enabled)";
    case -ENOMEM:
        return "out of memory: no task record or stack could be mapped (check RLIMIT_AS, "
               "vm.max_map_count, tr_options.stack_size), or for io_uring on kernels before "
               "5.12 RLIMIT_MEMLOCK (raise `ulimit -l`)";
    case -EDEADLK:
        return "task cannot await on itself (or this await would close a cycle)";
    case -ECANCELED:
        return "task was cancelled";
    case -ETIME:
        return "deadline expired (tr_deadline scope)";
    case -ESRCH:
        return "task already released (its last reference is gone)";
    case -EBUSY:
        return "busy: a taskring loop already runs on this thread (tr_run), or the io_uring "
               "submission queue cannot take the operation (raise tr_options.ring_entries)";
    case -EINVAL:
        return "invalid argument";
    default:
        if (err < 0 && err > -4096) {
            /* strerror's table is static and read-only in glibc: safe from any thread. */
            return strerror(-err);
        }
        return "unknown error";
    }
}
