/*
 * signal.c - tr_signal_wait: a signalfd read through the loop's backend (io_uring: the ring;
 * epoll: a non-blocking signalfd, read when epoll_wait on the loop thread says it is ready), so
 * a signal wait is an I/O wait like any other (cancellable, bounded by deadline scopes); and the
 * forwarding that lets such a wait see a signal the kernel gives to another thread of the process.
 *
 * The waiting thread blocks its signals, so one sent to it or to the process stays pending
 * until its signalfd reads it. But a process-directed signal may be delivered to any thread
 * that does not block it, and a pthread_kill to such a thread is that thread's alone; either
 * would run the disposition there (for SIGTERM by default: the end of the process) and the
 * signalfd would never see it, since a thread reads only the signals directed to itself or to
 * the process (signalfd(2), "Thread semantics"). So while at least one wait for a signal is
 * active, that signal's disposition is forward(), which sends it on with tgkill(2) to a thread
 * with an active wait for it. That thread blocks the signal, so it becomes pending for it, and
 * the read through the ring sees it: io_uring polls the signalfd and retries the read from the
 * submitting thread (checked on Linux 6.x by tests/io/io_signal.c, pthread_kill to the loop
 * thread, and tests/regress/signal_wait_sees_other_thread.c). The last wait for the signal to
 * end puts the previous disposition back.
 *
 * Dispositions are per process, so this file holds the one process-wide table it needs: per
 * signal, the active waits, the thread to forward to and the disposition to restore, updated
 * under forward_lock (waits begin and end on cold paths; the handler never takes the lock).
 */
#include "io.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
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

/* ---- forwarding ----------------------------------------------------------------------------- */

/* One active tr_signal_wait, on its task's stack, linked among the active waits. */
struct signal_wait {
    sigset_t set;
    pid_t tid; /* the thread that blocks `set` and reads the signalfd */
    struct signal_wait *older, *newer;
};

struct forward {
    _Atomic pid_t target;       /* the thread of the newest active wait for it; 0: none */
    _Atomic unsigned in_flight; /* handlers between reading `target` and sending */
    unsigned waits;             /* active waits for it, on every thread */
    struct sigaction previous;  /* the disposition before the first of them began */
};

static pthread_mutex_t forward_lock = PTHREAD_MUTEX_INITIALIZER;
static struct forward forwards[_NSIG];
static struct signal_wait *newest_wait; /* the active waits, newest first via `older` */

/*
 * The disposition of a waited signal on every thread that does not block it. Only atomics and
 * async-signal-safe calls here; all signals are masked while it runs (sa_mask), and errno is
 * the interrupted code's.
 */
static void forward(int sig, siginfo_t *info, void *uctx) {
    (void)info;
    (void)uctx;
    int saved_errno = errno;
    struct forward *f = &forwards[sig];
    atomic_fetch_add(&f->in_flight, 1);
    pid_t to = atomic_load(&f->target);
    pid_t self = gettid();
    if (to == 0) {
        /* The last wait ended after the kernel chose this handler, and has already put the
         * previous disposition back (it clears the target after that): raise the signal
         * again here, to be handled by that disposition once this handler returns (or by a
         * new wait's forwarding, if one has begun meanwhile). */
        tgkill(getpid(), self, sig);
    } else if (to != self) {
        /* The target outlives this call (forward_release waits for in_flight), so this
         * fails (ESRCH) only in a child forked by a thread that did not block the signal:
         * the waiting thread is in the parent, and the signal is dropped. */
        tgkill(getpid(), to, sig);
    }
    /* to == self: the waiting thread unblocked the signal itself; sending it again would only
     * run this handler again, forever. The signal is dropped. */
    atomic_fetch_sub(&f->in_flight, 1);
    errno = saved_errno;
}

static bool forwarding(int sig) {
    struct sigaction now;
    return sigaction(sig, NULL, &now) == 0 && (now.sa_flags & SA_SIGINFO) &&
           now.sa_sigaction == forward;
}

/* The thread of the newest active wait for `sig`, or 0. Under forward_lock. */
static pid_t newest_waiting_tid(int sig) {
    for (struct signal_wait *w = newest_wait; w; w = w->older)
        if (sigismember(&w->set, sig) == 1)
            return w->tid;
    return 0;
}

static bool thread_waits_for(pid_t tid, int sig) {
    for (struct signal_wait *w = newest_wait; w; w = w->older)
        if (w->tid == tid && sigismember(&w->set, sig) == 1)
            return true;
    return false;
}

/*
 * The calling thread has no wait for `sig` left, but thread `to` has. A `sig` pending here
 * (forwarded just as this thread's wait took another one, or sent to the process) would stay
 * for this thread's next wait, perhaps forever: send it on to `to`. Under forward_lock.
 */
static void pass_on_pending(int sig, pid_t to) {
    sigset_t one;
    sigemptyset(&one);
    sigaddset(&one, sig);
    struct timespec zero = {0, 0};
    while (sigtimedwait(&one, NULL, &zero) == sig)
        tgkill(getpid(), to, sig);
}

/* `sig` has one active wait fewer, one of the calling thread `self`. Under forward_lock. */
static void forward_release(int sig, pid_t self) {
    struct forward *f = &forwards[sig];
    pid_t to = 0;
    if (--f->waits > 0) {
        to = newest_waiting_tid(sig);
    } else if (forwarding(sig)) {
        /* Restored before the target is cleared: a handler that finds no target knows the
         * previous disposition is back. A program that replaced our handler meanwhile keeps
         * its own. */
        sigaction(sig, &f->previous, NULL);
    }
    pid_t was = atomic_exchange(&f->target, to);
    if (was != self || to == self)
        return;
    /* Signals are no longer forwarded here. A handler that read the old target may still be
     * about to send one here; it is short and cannot block: wait for it, so that whatever was
     * forwarded here is pending here now (and this thread is not gone before it is sent). */
    while (atomic_load(&f->in_flight) > 0)
        sched_yield();
    if (to != 0 && !thread_waits_for(self, sig))
        pass_on_pending(sig, to);
}

/* `sig` has one active wait more, `w` (already linked). Under forward_lock. */
static int forward_acquire(int sig, const struct signal_wait *w) {
    struct forward *f = &forwards[sig];
    /* Forward to the newest wait's thread: the target is set before the handler is
     * installed, so the handler always finds one. */
    pid_t old = atomic_exchange(&f->target, w->tid);
    if (f->waits == 0) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_sigaction = forward;
        /* SA_RESTART: the other threads' system calls go on after the handler.
         * SA_ONSTACK: a loop thread that does not wait for the signal may take it while a
         * task runs on a small stack; the loop's alternate signal stack is safer. */
        sa.sa_flags = SA_SIGINFO | SA_RESTART | SA_ONSTACK;
        sigfillset(&sa.sa_mask);
        if (sigaction(sig, &sa, &f->previous) < 0) {
            atomic_store(&f->target, old);
            return -errno;
        }
    }
    f->waits++;
    return 0;
}

static void wait_unlink(struct signal_wait *w) {
    if (w->older)
        w->older->newer = w->newer;
    if (w->newer)
        w->newer->older = w->older;
    else
        newest_wait = w->older;
}

static void wait_end(struct signal_wait *w) {
    pthread_mutex_lock(&forward_lock);
    wait_unlink(w);
    for (int sig = 1; sig < _NSIG; sig++)
        if (sigismember(&w->set, sig) == 1)
            forward_release(sig, w->tid);
    pthread_mutex_unlock(&forward_lock);
}

static int wait_begin(struct signal_wait *w) {
    w->tid = gettid();
    pthread_mutex_lock(&forward_lock);
    w->newer = NULL;
    w->older = newest_wait;
    if (newest_wait)
        newest_wait->newer = w;
    newest_wait = w;
    int rc = 0;
    for (int sig = 1; sig < _NSIG && rc == 0; sig++) {
        if (sigismember(&w->set, sig) != 1)
            continue;
        rc = forward_acquire(sig, w);
        if (rc < 0) {
            /* Undo the signals acquired so far (those below `sig`), then forget the wait. */
            wait_unlink(w);
            for (int s = 1; s < sig; s++)
                if (sigismember(&w->set, s) == 1)
                    forward_release(s, w->tid);
        }
    }
    pthread_mutex_unlock(&forward_lock);
    return rc;
}

/* ---- the wait ------------------------------------------------------------------------------- */

TR_EXPORT int tr_signal_wait(const int *signals, size_t count) {
    if (!signals || count == 0)
        return -EINVAL;
    if (!tr_current())
        return -EPERM;
    struct signal_wait w;
    sigemptyset(&w.set);
    /* Every number is checked before any is blocked: a refused call changes nothing. */
    for (size_t i = 0; i < count; i++)
        if (!signal_waitable(signals[i]) || sigaddset(&w.set, signals[i]) < 0)
            return -EINVAL;
    /* Blocked first, so a signal that arrives now waits in the queue for the signalfd
     * instead of running its default action; and blocked before the forwarding begins, so a
     * forwarded signal is pending here, never handled here. */
    if (pthread_sigmask(SIG_BLOCK, &w.set, NULL) != 0)
        return -EINVAL;
    int rc = wait_begin(&w);
    if (rc < 0)
        return rc;
    /* epoll: non-blocking, so that the read is tried, then waited for with the loop thread's
     * readiness (epoll_wait on this thread sees the signals pending for it), never handed to
     * a worker thread whose own pending signals it would read. */
    struct tr_loop *loop = tr_tls_loop;
    int fd =
        signalfd(-1, &w.set, SFD_CLOEXEC | (loop->be->kind == TR_BACKEND_EPOLL ? SFD_NONBLOCK : 0));
    if (fd < 0) {
        rc = -errno;
        wait_end(&w);
        return rc;
    }
    struct signalfd_siginfo info;
    rc = tr_read(fd, &info, sizeof info, -1);
    close(fd);
    wait_end(&w);
    if (rc < 0)
        return rc;
    if (rc != (int)sizeof info)
        return -EIO;
    return (int)info.ssi_signo;
}
