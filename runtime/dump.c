/*
 * dump.c - every live task of the process, printed: tr_dump (text), tr_dump_json, and the
 * opt-in signal dump (tr_dump_on_signal).
 *
 * All three walk the registry under one epoch pin (registry_scan_each: no array, so a dump
 * of a million tasks allocates nothing per task) and print each task with introspect.c's
 * rows, so they say what taskring-ps and the deadlock report say. A row reads the task's own
 * fields and its wait seqlock-style; it never writes to the task and never takes a lock, so
 * a dump works from any thread, a thread that owns no loop included, and never stops a loop.
 *
 * The signal dump runs in a signal handler that may have interrupted anything on its thread,
 * a loop in the middle of a spawn, a snapshot, a rename, a malloc. So it uses only what is
 * async-signal-safe: a pin reserved when the dump was installed (epoch_pin_reserve; the
 * handler enters and leaves it without allocating), rows formatted into buffers on its stack
 * (default names formatted there, never through name_state), function addresses instead of
 * dladdr symbols, write(2) to the chosen fd. docs/architecture.md, "Dumps", says why each
 * step is safe.
 */
#include "introspect.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <valgrind/valgrind.h>

enum { ROW_BYTES = 1024, FN_CACHE = 64 };

/* ---- tr_dump, tr_dump_json ------------------------------------------------------------------ */

/* dladdr per row would cost microseconds each at a million tasks; a few functions start
 * almost every task, so a small direct-mapped cache of the answers does. */
struct fn_cache {
    tr_fn fn[FN_CACHE];
    char name[FN_CACHE][64];
};

static const char *fn_symbol(struct fn_cache *c, tr_fn fn) {
    size_t slot = ((uintptr_t)fn >> 4) % FN_CACHE;
    if (c->fn[slot] != fn || !c->name[slot][0]) {
        Dl_info info;
        c->fn[slot] = fn;
        if (dladdr((void *)(uintptr_t)fn, &info) && info.dli_sname &&
            info.dli_saddr == (void *)(uintptr_t)fn)
            snprintf(c->name[slot], sizeof c->name[slot], "%s", info.dli_sname);
        else
            snprintf(c->name[slot], sizeof c->name[slot], "%p", (void *)(uintptr_t)fn);
    }
    return c->name[slot];
}

/* Rows are gathered into `chunk` and written CHUNK_BYTES at a time: one stdio call (and
 * one lock of the stream) per few hundred rows, not per row. */
enum { CHUNK_BYTES = 64 * 1024 };

struct file_dump {
    FILE *out;
    bool json;
    uint64_t now;
    size_t rows;
    struct tr_loop *here; /* the caller's loop, NULL on a plain thread */
    const pin_t *pin;     /* held for the whole scan */
    struct fn_cache *fns;
    bool failed;
    size_t used;
    char chunk[CHUNK_BYTES];
};

static void file_flush(struct file_dump *d) {
    if (d->used && fwrite(d->chunk, 1, d->used, d->out) != d->used)
        d->failed = true;
    d->used = 0;
}

static void file_put(struct file_dump *d, const char *p, size_t n) {
    if (d->used + n > sizeof d->chunk)
        file_flush(d);
    if (n > sizeof d->chunk) { /* a row longer than the chunk: on its own */
        if (fwrite(p, 1, n, d->out) != n)
            d->failed = true;
        return;
    }
    memcpy(d->chunk + d->used, p, n);
    d->used += n;
}

static bool file_row(tr_task *t, void *ctx) {
    struct file_dump *d = ctx;
    struct task_row r;
    bool exact = d->here && atomic_load_explicit(&t->at, memory_order_acquire) == d->here;
    task_row_read(t, d->pin, d->now, exact, &r);
    const char *fn = fn_symbol(d->fns, r.fn);
    char stack_buf[ROW_BYTES];
    char *buf = stack_buf;
    struct text o = {buf, sizeof stack_buf, 0};
    if (d->json)
        text_str(&o, d->rows ? ",\n" : "\n");
    (d->json ? task_row_json : task_row_text)(&r, fn, &o);
    if (o.len > o.cap) {
        /* A long name: format again into a buffer of the size the row needs. */
        buf = malloc(o.len);
        if (buf) {
            o = (struct text){buf, o.len, 0};
            if (d->json)
                text_str(&o, d->rows ? ",\n" : "\n");
            (d->json ? task_row_json : task_row_text)(&r, fn, &o);
        } else {
            buf = stack_buf; /* out of memory: the row cut short */
            o.len = o.cap;
        }
    }
    file_put(d, buf, o.len);
    if (buf != stack_buf)
        free(buf);
    d->rows++;
    return !d->failed;
}

static int dump_to(FILE *out, bool json) {
    if (!out)
        return -EINVAL;
    struct fn_cache *fns = calloc(1, sizeof *fns);
    struct file_dump *d = malloc(sizeof *d);
    pin_t *pin = fns && d ? epoch_pin() : NULL;
    if (!pin) {
        free(fns);
        free(d);
        return -ENOMEM;
    }
    d->out = out;
    d->json = json;
    d->now = loop_clock_ns();
    d->rows = 0;
    d->here = tr_tls_loop;
    d->pin = pin;
    d->fns = fns;
    d->failed = false;
    d->used = 0;
    if (json)
        fprintf(out, "{\"pid\":%ld,\"now_ns\":%llu,\"tasks\":[", (long)getpid(),
                (unsigned long long)d->now);
    else
        fprintf(out, "taskring dump: pid %ld\n", (long)getpid());
    registry_scan_each(file_row, d);
    file_flush(d);
    epoch_unpin(pin);
    size_t rows = d->rows;
    bool failed = d->failed;
    free(fns);
    free(d);
    if (json)
        fprintf(out, "%s],\"count\":%zu}\n", rows ? "\n" : "", rows);
    else
        fprintf(out, "taskring dump: %zu tasks\n", rows);
    if (failed || fflush(out) != 0 || ferror(out))
        return -EIO;
    return rows > INT_MAX ? INT_MAX : (int)rows;
}

TR_EXPORT int tr_dump(FILE *out) {
    return dump_to(out, false);
}

TR_EXPORT int tr_dump_json(FILE *out) {
    return dump_to(out, true);
}

/* ---- the signal dump ------------------------------------------------------------------------
 *
 * Process-wide, as a signal's disposition is: the one state the library keeps outside a loop
 * besides the registry. Changed under `sig_mu` (never taken by the handler).
 */

static pthread_mutex_t sig_mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
    _Atomic int signo; /* 0: not installed */
    _Atomic int fd;
    pin_t *pin;        /* reserved once, kept for the process's life */
    _Atomic bool busy; /* a handler is dumping: another one (another thread) says nothing */
    struct sigaction previous;
} sig_dump;

enum { SIG_OUT_BYTES = 4096 };

/* The longest one dump may spend writing: a pipe, socket or tty that nobody drains would
 * otherwise hold the handler in write(2), every signal masked, its loop stopped, for good. */
#define SIG_WRITE_BOUND_NS (1000ull * 1000 * 1000)

struct sig_out {
    int fd;
    bool dead;            /* the fd refused a write, or the bound passed: stop writing */
    bool not_socket;      /* send(2) said ENOTSOCK: write(2) from then on */
    uint64_t deadline_ns; /* CLOCK_MONOTONIC */
    uint64_t now;
    size_t rows;
    size_t used;
    char buf[SIG_OUT_BYTES];
};

static uint64_t sig_mono_ns(void) { /* clock_gettime is async-signal-safe */
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/*
 * Write what is buffered without ever blocking past the deadline: poll(2) for room first
 * (async-signal-safe, like everything here), then at most PIPE_BUF bytes, which a pipe with
 * room takes whole; a socket is sent to with MSG_DONTWAIT (and MSG_NOSIGNAL: no SIGPIPE).
 * EAGAIN (a non-blocking fd) polls again. When the bound passes the dump is cut short: the
 * rest is dropped, and nothing more is said.
 */
static void sig_flush(struct sig_out *s) {
    size_t off = 0;
    while (!s->dead && off < s->used) {
        uint64_t now = sig_mono_ns();
        if (now >= s->deadline_ns) {
            s->dead = true;
            break;
        }
        struct pollfd p = {.fd = s->fd, .events = POLLOUT};
        int ms = (int)((s->deadline_ns - now + 999999) / 1000000);
        int r = poll(&p, 1, ms);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0 || (p.revents & (POLLERR | POLLHUP | POLLNVAL))) {
            s->dead = true; /* timed out, or the fd is broken */
            break;
        }
        size_t len = s->used - off < PIPE_BUF ? s->used - off : PIPE_BUF;
        ssize_t n = -1;
        if (!s->not_socket) {
            n = send(s->fd, s->buf + off, len, MSG_DONTWAIT | MSG_NOSIGNAL);
            if (n < 0 && errno == ENOTSOCK)
                s->not_socket = true;
        }
        if (s->not_socket)
            n = write(s->fd, s->buf + off, len);
        if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
            continue;
        if (n <= 0)
            s->dead = true;
        else
            off += (size_t)n;
    }
    s->used = 0;
}

static void sig_put(struct sig_out *s, const char *p, size_t n) {
    if (s->used + n > sizeof s->buf)
        sig_flush(s);
    memcpy(s->buf + s->used, p, n); /* n <= ROW_BYTES < SIG_OUT_BYTES */
    s->used += n;
}

static bool sig_row(tr_task *t, void *ctx) {
    struct sig_out *s = ctx;
    struct task_row r;
    /* Never `exact`: the handler may have interrupted this very loop in the middle of
     * changing a lock, so it reads nothing but the task's own published fields. */
    task_row_read(t, sig_dump.pin, s->now, false, &r);
    char row[ROW_BYTES];
    struct text o = {row, sizeof row, 0};
    task_row_text(&r, NULL, &o);
    if (o.len > o.cap) { /* cut a long row short, keeping it one line */
        memcpy(row + sizeof row - 5, "...\n", 4);
        o.len = sizeof row - 1;
    }
    sig_put(s, row, o.len);
    s->rows++;
    return !s->dead;
}

static void on_dump_signal(int sig) {
    int saved_errno = errno;
    if (atomic_exchange(&sig_dump.busy, true)) {
        errno = saved_errno; /* another thread is dumping: one dump at a time */
        return;
    }
    if (atomic_load(&sig_dump.signo) == 0) {
        /* Being turned off (tr_dump_on_signal waits for `busy` after clearing signo): its
         * fd may be closed, or another file's, by now. */
        atomic_store(&sig_dump.busy, false);
        errno = saved_errno;
        return;
    }
    struct sig_out s;
    s.fd = atomic_load(&sig_dump.fd);
    s.dead = false;
    s.not_socket = false;
    s.deadline_ns = sig_mono_ns() + SIG_WRITE_BOUND_NS;
    s.now = loop_clock_ns();
    s.rows = 0;
    s.used = 0;
    char line[160];
    struct text o = {line, sizeof line, 0};
    text_str(&o, "taskring dump: signal ");
    text_uint(&o, (uint64_t)sig);
    text_str(&o, ", pid ");
    text_uint(&o, (uint64_t)getpid());
    text_str(&o, "\n");
    sig_put(&s, line, o.len);
    epoch_pin_enter(sig_dump.pin);
    registry_scan_each(sig_row, &s);
    epoch_pin_leave(sig_dump.pin);
    o = (struct text){line, sizeof line, 0};
    text_str(&o, "taskring dump: ");
    text_uint(&o, s.rows);
    text_str(&o, " tasks\n");
    sig_put(&s, line, o.len);
    sig_flush(&s);
    atomic_store(&sig_dump.busy, false);
    errno = saved_errno;
}

/* Put the disposition back that was there before ours, unless the program replaced ours. */
static void sig_restore(int signo) {
    struct sigaction now;
    if (sigaction(signo, NULL, &now) == 0 && !(now.sa_flags & SA_SIGINFO) &&
        now.sa_handler == on_dump_signal)
        sigaction(signo, &sig_dump.previous, NULL);
}

static bool dump_signal_allowed(int signo) {
    switch (signo) {
    case SIGKILL:
    case SIGSTOP: /* cannot be caught */
    case SIGSEGV:
    case SIGBUS:
    case SIGILL:
    case SIGFPE:
    case SIGTRAP:
    case SIGSYS: /* faults: a handler that returns would run the faulting code again */
        return false;
    default:
        return signo > 0 && signo < NSIG;
    }
}

TR_EXPORT int tr_dump_on_signal(int signo, int fd) {
    if (signo != 0 && !dump_signal_allowed(signo))
        return -EINVAL;
    if (signo != 0 && (fd < 0 || fcntl(fd, F_GETFD) < 0))
        return -EBADF;
    pthread_mutex_lock(&sig_mu);
    int rc = 0;
    int old = atomic_load(&sig_dump.signo);
    if (old) {
        sig_restore(old);
        atomic_store(&sig_dump.signo, 0);
        /* A handler already running (on another thread) finishes before we return, so the
         * caller may close the fd: it takes at most the write bound plus a registry scan. A
         * handler entered after the store above sees signo 0 and writes nothing. */
        while (atomic_load(&sig_dump.busy))
            sched_yield();
    }
    if (signo != 0) {
        if (!sig_dump.pin)
            sig_dump.pin = epoch_pin_reserve();
        if (!sig_dump.pin) {
            rc = -ENOMEM;
        } else {
            atomic_store(&sig_dump.fd, fd);
            struct sigaction sa;
            memset(&sa, 0, sizeof sa);
            sa.sa_handler = on_dump_signal;
            /* On the loop threads' alternate stack (stack.c) when there is one, not on the
             * interrupted task's (64 KiB by default: the dump's frame of about 6 KiB could
             * push a deep task into its guard); every other signal held off while the dump
             * writes. Not under valgrind, which mis-tracks the return from the alternate
             * stack into a fiber stack it was told about (VALGRIND_STACK_REGISTER) and then
             * reports the task's own frame as invalid (signal_dump_during_spawn_churn, 3 runs
             * of 10). */
            sa.sa_flags = SA_RESTART | (RUNNING_ON_VALGRIND ? 0 : SA_ONSTACK);
            sigfillset(&sa.sa_mask);
            if (sigaction(signo, &sa, &sig_dump.previous) < 0)
                rc = -errno;
            else
                atomic_store(&sig_dump.signo, signo);
        }
    }
    pthread_mutex_unlock(&sig_mu);
    return rc;
}
