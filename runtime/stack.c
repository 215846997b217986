/*
 * stack.c - task stacks: a per-loop pool, guard pages, and the stack-overflow report.
 *
 * Stacks are carved from large anonymous mappings ("chunks") so a million stacks need a
 * thousand mappings, not a million. Below each stack sits a guard region: installed with
 * MADV_GUARD_INSTALL where the kernel has it (no extra VMA, so vm.max_map_count is no
 * limit), with mprotect(PROT_NONE) otherwise (two VMAs per stack). A task takes a stack
 * when it first runs and gives it back when it finishes. Idle stacks are reused LIFO (the
 * warmest first); past max_idle, an idle stack's pages go back to the kernel (MADV_DONTNEED),
 * so RSS stays bounded under spawn-heavy load while the address range stays reserved.
 *
 * A task that overruns its stack faults in its guard; the SIGSEGV handler (on its own
 * signal stack) prints the task's repr and its stack's bounds, then lets the fault take its
 * course (the previous handler, or death by the signal with a core), instead of letting the
 * task corrupt memory.
 */
#include "internal.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <valgrind/valgrind.h>

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102 /* Linux 6.13 */
#endif

enum { GUARD_UNKNOWN, GUARD_MADVISE, GUARD_MPROTECT };
enum { FIRST_CHUNK_STACKS = 16, MAX_CHUNK_STACKS = 1024 };
/* A chunk reserves at most this much address space: large stacks come a few at a time, so a
 * process under RLIMIT_AS is not refused a mapping for stacks it will never use. */
#define MAX_CHUNK_BYTES ((size_t)1 << 30)

struct stack_chunk {
    struct stack_chunk *next;
    char *mem;
    size_t len;
    size_t count;
    struct stack stacks[];
};

static size_t page_size(void) {
    return (size_t)sysconf(_SC_PAGESIZE);
}

int stack_pool_init(struct stack_pool *p, size_t stack_size, size_t guard_size, size_t max_idle) {
    size_t page = page_size();
    memset(p, 0, sizeof *p);
    p->stack_size = (stack_size + page - 1) / page * page;
    p->guard_size = (guard_size + page - 1) / page * page;
    p->max_idle = max_idle;
    p->next_chunk_stacks = FIRST_CHUNK_STACKS;
    return 0;
}

static int install_guard(struct stack_pool *p, char *guard) {
    if (p->guard_mode != GUARD_MPROTECT) {
        if (madvise(guard, p->guard_size, MADV_GUARD_INSTALL) == 0) {
            p->guard_mode = GUARD_MADVISE;
            return 0;
        }
        if (p->guard_mode == GUARD_MADVISE)
            return -errno;
        p->guard_mode = GUARD_MPROTECT; /* older kernel: EINVAL for an unknown advice */
    }
    return mprotect(guard, p->guard_size, PROT_NONE) == 0 ? 0 : -errno;
}

/* Map a chunk of `count` stacks, or as many fewer as the address space still allows (down
 * to one): under RLIMIT_AS or a crowded address space a smaller mapping may fit where the
 * planned one does not, and one more stack means one more task that runs. */
static struct stack_chunk *map_chunk(struct stack_pool *p, size_t count) {
    size_t stride = p->guard_size + p->stack_size;
    if (count > MAX_CHUNK_BYTES / stride)
        count = MAX_CHUNK_BYTES / stride ? MAX_CHUNK_BYTES / stride : 1;
    for (;; count /= 2) {
        size_t meta;
        if (count == 0 ||
            !size_of_array(count, sizeof(struct stack), sizeof(struct stack_chunk), &meta))
            return NULL;
        struct stack_chunk *c = malloc(meta);
        if (!c)
            continue;
        c->len = count * stride; /* count * stride <= MAX_CHUNK_BYTES, or one stack */
        c->mem = mmap(NULL, c->len, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
        if (c->mem != MAP_FAILED) {
            c->count = count;
            /* Grow from here on: the limit that refused more may stay. */
            p->next_chunk_stacks = count;
            return c;
        }
        free(c);
    }
}

static bool grow(struct stack_pool *p) {
    size_t stride = p->guard_size + p->stack_size;
    struct stack_chunk *c = map_chunk(p, p->next_chunk_stacks);
    if (!c)
        return false;
    size_t count = c->count;
    for (size_t i = 0; i < count; i++) {
        char *guard = c->mem + i * stride;
        if (install_guard(p, guard) < 0) {
            /* Out of VMAs (the mprotect fallback splits the mapping: vm.max_map_count) or
             * memory for page tables: keep the stacks already guarded, give the rest back. */
            if (i == 0) {
                munmap(c->mem, c->len);
                free(c);
                return false;
            }
            munmap(guard, c->len - i * stride);
            c->len = i * stride;
            c->count = i;
            p->next_chunk_stacks = i;
            break;
        }
        struct stack *s = &c->stacks[i];
        s->lo = guard + p->guard_size;
        s->size = p->stack_size;
        s->valgrind_id = VALGRIND_STACK_REGISTER(s->lo, s->lo + s->size);
        s->next = p->cold;
        p->cold = s;
    }
    c->next = p->chunks;
    p->chunks = c;
    if (c->count == count && p->next_chunk_stacks < MAX_CHUNK_STACKS)
        p->next_chunk_stacks *= 2;
    return true;
}

struct stack *stack_get(struct stack_pool *p) {
    struct stack *s = p->idle;
    if (s) {
        p->idle = s->next;
        p->idle_resident--;
    } else {
        if (!p->cold && !grow(p))
            return NULL;
        s = p->cold;
        p->cold = s->next;
    }
    p->in_use++;
    return s;
}

void stack_put(struct stack_pool *p, struct stack *s) {
    p->in_use--;
    s->next = p->idle;
    p->idle = s;
    p->idle_resident++;
}

/*
 * Give the pages of idle stacks beyond max_idle back to the kernel, at most `budget` of
 * them. Not done in stack_put: a madvise costs a microsecond or two, and a million tasks
 * finishing together must not pay it on the way out. The loop calls this when it is idle
 * and, a little at a time, between turns.
 */
size_t stack_pool_trim(struct stack_pool *p, size_t budget) {
    size_t trimmed = 0;
    while (p->idle_resident > p->max_idle && trimmed < budget) {
        struct stack *s = p->idle;
        p->idle = s->next;
        p->idle_resident--;
        /* Keep the address range and its guard; give the pages back. */
        madvise(s->lo, s->size, MADV_DONTNEED);
        s->next = p->cold;
        p->cold = s;
        trimmed++;
    }
    return trimmed;
}

static void chunk_unmap(void *mem) {
    struct stack_chunk *c = mem;
    munmap(c->mem, c->len);
    free(c);
}

/*
 * The loop's end: every task has finished. A reader on another thread that holds an epoch
 * pin (a dump, a signal handler: introspect.c) may still be reading a waiter it found on one
 * of these stacks before its task finished, so while any pin is alive the mappings become
 * orphans, unmapped with the last pin (epoch.c), like the loop's records. A pin taken after
 * this check cannot find these tasks: they left the registry before it.
 */
void stack_pool_destroy(struct stack_pool *p) {
    bool pinned = !epoch_no_pins();
    struct stack_chunk *c = p->chunks;
    while (c) {
        struct stack_chunk *next = c->next;
        for (size_t i = 0; i < c->count; i++)
            VALGRIND_STACK_DEREGISTER(c->stacks[i].valgrind_id);
        if (pinned)
            epoch_orphan(c, chunk_unmap);
        else
            chunk_unmap(c);
        c = next;
    }
    memset(p, 0, sizeof *p);
}

/* ---- stack overflow report ------------------------------------------------------------------ */

#if !defined(TASKRING_ASAN) && !defined(TASKRING_TSAN)

/* The handler is process-wide (signals are); loops count themselves in and out of it under
 * a mutex (loop start and end are cold paths). Faults that are not a task's overflow go to
 * whatever handler was installed before ours. */
static pthread_mutex_t handler_lock = PTHREAD_MUTEX_INITIALIZER;
static int handler_users;
static struct sigaction previous_segv, previous_bus;

static void say(const char *s) {
    (void)!write(STDERR_FILENO, s, strlen(s));
}

static void on_fault(int sig, siginfo_t *info, void *uctx);

/* The default action for `sig`, now: a fault (the kernel raised it for an access) runs again
 * when the handler returns and kills the process, with a core, as it would have without us;
 * a signal someone sent (kill, raise) would not come back, so it is sent again, to arrive
 * once the handler returns and unblocks it. */
static void die_by_default(int sig, const siginfo_t *info) {
    signal(sig, SIG_DFL);
    if (info->si_code <= 0) /* SI_USER, SI_TKILL, SI_QUEUE: sent, not a fault */
        raise(sig);
}

/* Hand a fault to the handler that was there before us; its default action if there was
 * none (or the fault was ignored: a fault cannot be ignored, the access repeats forever). */
static void chain(int sig, siginfo_t *info, void *uctx) {
    const struct sigaction *prev = sig == SIGSEGV ? &previous_segv : &previous_bus;
    if (prev->sa_flags & SA_SIGINFO)
        prev->sa_sigaction(sig, info, uctx);
    else if (prev->sa_handler != SIG_DFL && prev->sa_handler != SIG_IGN)
        prev->sa_handler(sig);
    else
        die_by_default(sig, info);
}

static void say_hex(uintptr_t v) {
    static const char hex[] = "0123456789abcdef";
    char digits[2 + 2 * sizeof v];
    int n = (int)sizeof digits;
    do {
        digits[--n] = hex[v & 15];
        v >>= 4;
    } while (v);
    digits[--n] = 'x';
    digits[--n] = '0';
    (void)!write(STDERR_FILENO, digits + n, sizeof digits - (size_t)n);
}

static void say_uint(uint64_t v) {
    char digits[24];
    int n = (int)sizeof digits;
    do {
        digits[--n] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    (void)!write(STDERR_FILENO, digits + n, sizeof digits - (size_t)n);
}

/*
 * On the loop's alternate stack, in a task that has just run out of its own. Everything here
 * is async-signal-safe, and nothing waits: the fault may have hit anywhere, in the middle of
 * formatting this very task's default name (tr_task_name would spin for ever on name_state),
 * of a malloc, of dladdr. So the repr is built in a local buffer with the default name
 * formatted there (task_format_default_name) and the function as an address.
 */
static void report_overflow(const tr_task *t, const struct tr_loop *loop, const void *addr) {
    char name[TASK_DEFAULT_NAME_MAX];
    /* The current custom name: only this loop renames this task, and it is stopped here. */
    const struct name_node *custom =
        atomic_load_explicit(&((tr_task *)t)->custom_name, memory_order_acquire);
    if (!custom)
        task_format_default_name(name, t->number);
    say("taskring: stack overflow in task ");
    char fn[2 + 2 * sizeof(uintptr_t) + 1];
    {
        static const char hex[] = "0123456789abcdef";
        uintptr_t v = (uintptr_t)t->fn;
        int n = (int)sizeof fn - 1;
        fn[n] = '\0';
        do {
            fn[--n] = hex[v & 15];
            v >>= 4;
        } while (v);
        fn[--n] = 'x';
        fn[--n] = '0';
        memmove(fn, fn + n, sizeof fn - (size_t)n);
    }
    char repr[512];
    size_t n = task_repr_into(t, repr, sizeof repr, custom ? custom->text : name, fn);
    (void)!write(STDERR_FILENO, repr, n < sizeof repr ? n : sizeof repr - 1);
    say(": its stack [");
    say_hex((uintptr_t)t->stack->lo);
    say(", ");
    say_hex((uintptr_t)(t->stack->lo + t->stack->size));
    say(") of ");
    say_uint(t->stack->size / 1024);
    say(" KiB is exhausted (fault at ");
    say_hex((uintptr_t)addr);
    say(" in the guard [");
    say_hex((uintptr_t)(t->stack->lo - loop->stacks.guard_size));
    say(", ");
    say_hex((uintptr_t)t->stack->lo);
    say("); raise tr_options.stack_size)\n");
}

static void on_fault(int sig, siginfo_t *info, void *uctx) {
    struct tr_loop *loop;
    tr_task *t = calling_task(&loop);
    char *addr = info->si_addr;
    if (info->si_code > 0 && t && t->stack && addr < t->stack->lo &&
        addr >= t->stack->lo - loop->stacks.guard_size) {
        report_overflow(t, loop, addr);
        /* Then what would have happened without us: the previous handler (a crash reporter)
         * or the default action, a death by this signal with a core. A handler that returns
         * cannot make the task's stack bigger: the default action follows it. */
        chain(sig, info, uctx);
        signal(sig, SIG_DFL);
        return; /* the access faults again, now with the default action */
    }
    chain(sig, info, uctx);
}

enum { ALTSTACK_BYTES = 64 * 1024 };

int stack_overflow_guard_install(struct tr_loop *loop) {
    loop->altstack =
        mmap(NULL, ALTSTACK_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (loop->altstack == MAP_FAILED) {
        loop->altstack = NULL;
        return -ENOMEM;
    }
    stack_t ss = {.ss_sp = loop->altstack, .ss_size = ALTSTACK_BYTES, .ss_flags = 0};
    if (sigaltstack(&ss, &loop->previous_altstack) < 0) {
        int err = -errno;
        munmap(loop->altstack, ALTSTACK_BYTES);
        loop->altstack = NULL;
        return err;
    }
    pthread_mutex_lock(&handler_lock);
    if (handler_users++ == 0) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_sigaction = on_fault;
        sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGSEGV, &sa, &previous_segv);
        sigaction(SIGBUS, &sa, &previous_bus);
    }
    pthread_mutex_unlock(&handler_lock);
    return 0;
}

/* Put `prev` back for `sig`, unless the program replaced our handler meanwhile. */
static void restore_if_ours(int sig, const struct sigaction *prev) {
    struct sigaction now;
    if (sigaction(sig, NULL, &now) == 0 && (now.sa_flags & SA_SIGINFO) &&
        now.sa_sigaction == on_fault)
        sigaction(sig, prev, NULL);
}

void stack_overflow_guard_remove(struct tr_loop *loop) {
    if (!loop->altstack)
        return;
    pthread_mutex_lock(&handler_lock);
    if (--handler_users == 0) {
        restore_if_ours(SIGSEGV, &previous_segv);
        restore_if_ours(SIGBUS, &previous_bus);
    }
    pthread_mutex_unlock(&handler_lock);
    sigaltstack(&loop->previous_altstack, NULL);
    munmap(loop->altstack, ALTSTACK_BYTES);
    loop->altstack = NULL;
}

#else /* the sanitizers own SIGSEGV and report overflows themselves */

int stack_overflow_guard_install(struct tr_loop *loop) {
    (void)loop;
    return 0;
}

void stack_overflow_guard_remove(struct tr_loop *loop) {
    (void)loop;
}

#endif
