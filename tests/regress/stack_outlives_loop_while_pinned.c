/*
 * stack_outlives_loop_while_pinned: a reader on another thread that holds a pin (a snapshot)
 * may have found a task's waiter, which lives on the task's stack, just before the task
 * finished and its loop ended. The loop's stacks must stay mapped until the last pin goes
 * (they are orphaned, as the loop's records are), and be unmapped then, not leaked.
 *
 * A task waits on an event; a plain thread takes a snapshot and remembers the waiter's
 * address (as task_wait_view would have loaded it); main sets the event and tr_run returns.
 * With the snapshot still held the waiter's page must be mapped (readable); after
 * tr_taskset_free it must be gone.
 */
#include "regress.h"

#include "internal.h"

#include <pthread.h>
#include <stdatomic.h>
#include <sys/mman.h>

static tr_event *ev;
static tr_task *waiter_task;
static tr_taskset *held;
static void *waiter_addr;

static void *wait_for_event(void *arg) {
    (void)arg;
    CHECK_EQ(tr_event_wait(ev), 0);
    return NULL;
}

/* The monitoring thread: a snapshot, and the waiter a reader would be about to read. */
static void *monitor(void *arg) {
    (void)arg;
    held = tr_all_tasks();
    CHECK(held);
    bool found = false;
    for (size_t i = 0; i < tr_taskset_size(held); i++)
        found |= tr_taskset_get(held, i) == waiter_task;
    CHECK(found);
    waiter_addr = __atomic_load_n(&waiter_task->waiter, __ATOMIC_ACQUIRE);
    return NULL;
}

static bool mapped(const void *addr) {
    unsigned char vec;
    void *page = (void *)((uintptr_t)addr & ~(uintptr_t)(sysconf(_SC_PAGESIZE) - 1));
    return mincore(page, 1, &vec) == 0; /* ENOMEM: not mapped */
}

static void *main_task(void *arg) {
    (void)arg;
    ev = tr_event_new();
    CHECK(ev);
    waiter_task = tr_spawn(wait_for_event, NULL);
    CHECK(waiter_task);
    CHECK_EQ(tr_yield(), 0); /* it waits now */
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, monitor, NULL), 0);
    CHECK_EQ(pthread_join(th, NULL), 0); /* a plain thread: the loop is not blocked long */
    CHECK(waiter_addr != NULL);
    tr_event_set(ev);
    CHECK_EQ(tr_await(waiter_task, NULL), 0);
    tr_task_release(waiter_task);
    tr_event_free(ev);
    return NULL;
}

int main(void) {
    CHECK_EQ(tr_run(main_task, NULL, NULL), 0);
    /* The loop has ended; the snapshot is still held. */
    CHECK(mapped(waiter_addr));
    volatile uint8_t kind = ((volatile struct waiter *)waiter_addr)->kind;
    (void)kind;
    tr_taskset_free(held); /* the last pin: the stacks go now */
    CHECK(!mapped(waiter_addr));
    puts("stack_outlives_loop_while_pinned: ok");
    return 0;
}
