/*
 * signal.c - tr_signal_wait: a signalfd read through the ring, so a signal wait is an I/O wait
 * like any other (cancellable, bounded by deadline scopes).
 */
#include "io.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

/*
 * Signals no signalfd wait can serve. SIGKILL and SIGSTOP cannot be blocked, so the wait would
 * never end. The others are raised synchronously by a faulting instruction; blocked, the
 * kernel kills the process on the next fault without running any handler, which would take
 * the stack-overflow report (and any crash handler the program has) with it.
 */
static bool signal_waitable(int sig) {
    switch (sig) {
    case SIGKILL:
    case SIGSTOP:
    case SIGSEGV:
    case SIGBUS:
    case SIGFPE:
    case SIGILL:
    case SIGTRAP:
    case SIGSYS:
        return false;
    default:
        return true;
    }
}

TR_EXPORT int tr_signal_wait(const int *signals, size_t count) {
    if (!signals || count == 0)
        return -EINVAL;
    if (!tr_current())
        return -EPERM;
    sigset_t set;
    sigemptyset(&set);
    /* Every number is checked before any is blocked: a refused call changes nothing. */
    for (size_t i = 0; i < count; i++)
        if (!signal_waitable(signals[i]) || sigaddset(&set, signals[i]) < 0)
            return -EINVAL;
    /* Blocked first, so a signal that arrives now waits in the queue for the signalfd
     * instead of running its default action. */
    if (pthread_sigmask(SIG_BLOCK, &set, NULL) != 0)
        return -EINVAL;
    int fd = signalfd(-1, &set, SFD_CLOEXEC);
    if (fd < 0)
        return -errno;
    struct signalfd_siginfo info;
    int rc = tr_read(fd, &info, sizeof info, -1);
    close(fd);
    if (rc < 0)
        return rc;
    if (rc != (int)sizeof info)
        return -EIO;
    return (int)info.ssi_signo;
}
