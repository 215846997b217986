/*
 * prefault.c - a loop's prefault thread: the first page of the fresh stacks its next first
 * runs will take, populated on another core ahead of the loop.
 *
 * A task's first run on a fresh stack takes a page fault, 2.5 to 3 us on a VM (the guest's
 * fault and the host's EPT fault), and batching the faults on the loop's own thread does not
 * make a page much cheaper (docs/performance.md, "Fresh stack pages"). So when a burst of
 * never-run tasks waits in the run queue, the loop hands the stacks those tasks will take to
 * a thread of its own, which populates their top page with MADV_POPULATE_WRITE (16 stacks per
 * process_madvise call) while the loop runs the tasks that already have theirs.
 *
 * The loop and the thread share a ring of stacks, in the order the loop will take them
 * (stack_get takes an idle stack first, then the ring's next, then a cold one). The loop fills
 * it once per turn (prefault_plan), counting only tasks that will run: never-run, not
 * cancelled, among the next RING of the run queue; a task cancelled before that count costs
 * no page. The thread only calls madvise: it never writes to a stack, so there is nothing
 * for TSan to see but the ring's cursors (release/acquire) and its mutex. When the loop
 * catches up with it, the thread jumps ahead instead of faulting the page the loop is
 * faulting itself. The thread starts with the first burst (at least PREFAULT_MIN fresh
 * stacks wanted: a small program never gets one) and is joined when the loop's stack pool is
 * destroyed. A kernel without MADV_POPULATE_WRITE (EINVAL) ends it quietly: the loop goes on
 * as before, each first run faulting its own page.
 */
#include "internal.h"
#include "runtime.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 /* Linux 5.14 */
#endif

enum {
    RING = 2048,         /* stacks handed to the thread ahead of the loop, at most */
    PREFAULT_MIN = 1024, /* fresh stacks wanted before a thread is worth starting */
    BATCH = 16,          /* pages per process_madvise call */
    LEAD = 16,           /* a caught-up thread starts this far past the loop's next stack */
};

struct prefault {
    /* The loop's alone. */
    size_t tail;  /* stacks put in the ring */
    size_t taken; /* stacks the loop took from it */
    pthread_t thread;
    struct stack *stacks[RING];
    /* The thread's alone. */
    int pidfd; /* for process_madvise; -1: one madvise per page */
    bool under_valgrind;
    /* Shared: the ring's cursors. pages[i % RING] is written before pub_tail passes i, and
     * rewritten only once done has passed i (the thread will not read it again). */
    _Alignas(64) _Atomic size_t pub_tail;
    _Atomic size_t pub_taken;         /* a hint for the thread: where the loop is */
    _Alignas(64) _Atomic size_t done; /* the thread will not touch entries below this */
    _Atomic bool refused;             /* the kernel has no MADV_POPULATE_WRITE */
    _Alignas(64) pthread_mutex_t mu;
    pthread_cond_t cv;
    bool sleeping; /* under mu */
    bool stop;     /* under mu */
    char *pages[RING];
};

static size_t page_bytes(void) {
    return (size_t)sysconf(_SC_PAGESIZE);
}

/* Populate entries [from, to) of the ring; false when the kernel refuses the advice. */
static bool populate(struct prefault *pf, size_t from, size_t to) {
    struct iovec iov[BATCH];
    size_t page = page_bytes();
    int n = 0;
    for (size_t i = from; i < to; i++)
        iov[n++] = (struct iovec){.iov_base = pf->pages[i % RING], .iov_len = page};
    if (pf->pidfd >= 0) {
        if (syscall(SYS_process_madvise, pf->pidfd, iov, (size_t)n, MADV_POPULATE_WRITE, 0u) >= 0)
            return true;
        if (errno != EINVAL && errno != ENOSYS && errno != EPERM)
            return true;  /* ENOMEM, EFAULT: these pages fault on first touch, as they would */
        close(pf->pidfd); /* this kernel takes the advice from madvise only */
        pf->pidfd = -1;
    }
    for (int k = 0; k < n; k++)
        if (madvise(iov[k].iov_base, page, MADV_POPULATE_WRITE) < 0 && errno == EINVAL)
            return false;
    return true;
}

static void *prefault_main(void *arg) {
    struct prefault *pf = arg;
    /* valgrind does not know process_madvise: one madvise per page there. */
    pf->pidfd = pf->under_valgrind ? -1 : (int)syscall(SYS_pidfd_open, getpid(), 0u);
    size_t done = 0;
    for (;;) {
        size_t tail = atomic_load_explicit(&pf->pub_tail, memory_order_acquire);
        if (done == tail) {
            pthread_mutex_lock(&pf->mu);
            while (!pf->stop && atomic_load_explicit(&pf->pub_tail, memory_order_relaxed) == done) {
                pf->sleeping = true;
                pthread_cond_wait(&pf->cv, &pf->mu);
            }
            pf->sleeping = false;
            bool stop = pf->stop;
            pthread_mutex_unlock(&pf->mu);
            if (stop)
                break;
            continue;
        }
        /* Leave the loop the pages it is about to touch: faulting them here too would only
         * make one of us wait for the other. */
        size_t from = done, taken = atomic_load_explicit(&pf->pub_taken, memory_order_relaxed);
        if (from < taken + LEAD)
            from = taken + LEAD < tail ? taken + LEAD : tail;
        size_t to = from + BATCH < tail ? from + BATCH : tail;
        if (from < to && !populate(pf, from, to)) {
            atomic_store_explicit(&pf->refused, true, memory_order_relaxed);
            atomic_store_explicit(&pf->done, tail, memory_order_release);
            break; /* the loop stops filling the ring; what is in it still serves as stacks */
        }
        done = to;
        atomic_store_explicit(&pf->done, done, memory_order_release);
    }
    if (pf->pidfd >= 0)
        close(pf->pidfd);
    return NULL;
}

/* Another CPU this thread may run on: with one, a second thread only takes the loop's turn. */
static bool another_cpu(void) {
    cpu_set_t cpus;
    return sched_getaffinity(0, sizeof cpus, &cpus) == 0 && CPU_COUNT(&cpus) > 1;
}

static struct prefault *prefault_start(bool under_valgrind) {
    if (!another_cpu())
        return NULL;
    struct prefault *pf = aligned_alloc(64, (sizeof *pf + 63) / 64 * 64);
    if (!pf)
        return NULL;
    pf->tail = pf->taken = 0;
    pf->under_valgrind = under_valgrind;
    pf->pidfd = -1;
    atomic_init(&pf->pub_tail, 0);
    atomic_init(&pf->pub_taken, 0);
    atomic_init(&pf->done, 0);
    atomic_init(&pf->refused, false);
    pf->sleeping = pf->stop = false;
    if (pthread_mutex_init(&pf->mu, NULL) != 0) {
        free(pf);
        return NULL;
    }
    if (pthread_cond_init(&pf->cv, NULL) != 0) {
        pthread_mutex_destroy(&pf->mu);
        free(pf);
        return NULL;
    }
    sigset_t all, old;
    signals_for_new_threads(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old); /* inherited: signals are for the program's threads */
    int rc = pthread_create(&pf->thread, NULL, prefault_main, pf);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        pthread_cond_destroy(&pf->cv);
        pthread_mutex_destroy(&pf->mu);
        free(pf);
        return NULL;
    }
    pthread_setname_np(pf->thread, "tr-prefault");
    return pf;
}

/*
 * Before a turn: if the next RING tasks of the run queue include more never-run tasks than
 * the pool has idle and ring stacks, put fresh stacks for the difference in the ring. Costs a
 * comparison or two unless a burst of never-run tasks is queued.
 */
void prefault_plan(struct tr_loop *loop) {
    struct stack_pool *p = &loop->stacks;
    if (TR_LIKELY(loop->runq.len < PREFAULT_MIN) || p->prefault_off)
        return;
    /* The loop's live tasks without a stack are those that never ran: are there more of
     * them than stacks at hand (a burst, before there is a thread)? */
    struct prefault *pf = p->prefault;
    size_t have = p->idle_resident + p->warm;
    if (registry_shard_live(loop) < p->in_use + have + (pf ? 1 : PREFAULT_MIN))
        return;
    size_t room = RING;
    if (pf) {
        size_t done = atomic_load_explicit(&pf->done, memory_order_acquire);
        size_t oldest = pf->taken < done ? pf->taken : done;
        room = RING - (pf->tail - oldest);
    }
    size_t want = 0, seen = 0;
    for (tr_task *t = loop->runq.head; t && seen < RING && want < have + room;
         t = t->run_next, seen++)
        if (atomic_load_explicit(&t->state, memory_order_relaxed) == TASK_SCHEDULED &&
            !t->cancel_requested)
            want++;
    if (want <= have)
        return;
    size_t fresh = want - have;
    if (!pf) {
        if (fresh < PREFAULT_MIN)
            return;
        pf = prefault_start(loop->under_valgrind);
        if (!pf) {
            p->prefault_off = true; /* no thread: first runs fault their own pages */
            return;
        }
        p->prefault = pf;
    } else if (atomic_load_explicit(&pf->refused, memory_order_relaxed)) {
        p->prefault_off = true;
        return;
    }
    size_t page = page_bytes(), added = 0;
    for (; added < fresh; added++) {
        struct stack *s = stack_take_cold(p);
        if (!s)
            break; /* no memory for more: the tasks get -ENOMEM or a stack later, as before */
        pf->stacks[pf->tail % RING] = s;
        pf->pages[pf->tail % RING] = s->lo + s->size - page;
        pf->tail++;
    }
    if (!added)
        return;
    p->warm += added;
    atomic_store_explicit(&pf->pub_tail, pf->tail, memory_order_release);
    pthread_mutex_lock(&pf->mu);
    if (pf->sleeping)
        pthread_cond_signal(&pf->cv);
    pthread_mutex_unlock(&pf->mu);
}

struct stack *prefault_take(struct stack_pool *p) {
    struct prefault *pf = p->prefault;
    struct stack *s = pf->stacks[pf->taken % RING];
    pf->taken++;
    p->warm--;
    atomic_store_explicit(&pf->pub_taken, pf->taken, memory_order_relaxed);
    return s;
}

/* The loop is idle: the ring's stacks the thread is done with join the idle list, where the
 * pool's trimming bounds them like any other (tasks counted for them were cancelled since). */
void prefault_settle(struct stack_pool *p) {
    struct prefault *pf = p->prefault;
    if (!pf || !p->warm)
        return;
    size_t done = atomic_load_explicit(&pf->done, memory_order_acquire);
    while (p->warm && pf->taken < done)
        stack_give_idle(p, prefault_take(p));
}

/* The pool's end: stop the thread and wait for it (before the stacks are unmapped). */
void prefault_end(struct stack_pool *p) {
    struct prefault *pf = p->prefault;
    if (!pf)
        return;
    pthread_mutex_lock(&pf->mu);
    pf->stop = true;
    pthread_cond_signal(&pf->cv);
    pthread_mutex_unlock(&pf->mu);
    pthread_join(pf->thread, NULL);
    pthread_cond_destroy(&pf->cv);
    pthread_mutex_destroy(&pf->mu);
    free(pf);
    p->prefault = NULL;
    p->warm = 0;
}
