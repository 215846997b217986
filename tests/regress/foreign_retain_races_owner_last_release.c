/*
 * foreign_retain_races_owner_last_release - a tr_task_retain on another thread, from a
 * snapshot, racing the loop's last release of the same task, and handles the loop counted
 * released on another thread.
 *
 * References are one atomic count (`refs`): the loop's last release of a task, at its end or
 * the creator's after it, races a snapshot thread's tr_task_retain, which must either win (a
 * valid task that stays the same task until released: its name never changes under the
 * reference) or fail with ESRCH, never bring back a record that is being reused (records
 * are reused without being cleared: task_create sets each field). A handle the loop made
 * but another thread releases hands the record back through the loop's remote list: it
 * must still be reused, so the pool stays bounded over many such tasks. ASan and TSan
 * watch for a use after free; the check here watches for a record reused under a reference.
 */
#include "regress.h"

#include "internal.h"

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

enum { HELD = 16, RING = 1024, BATCH = 64 };

static _Atomic bool stop;
static _Atomic long retained, refused;

/* Handles from the loop to the releaser thread: one producer, one consumer. */
static tr_task *ring[RING];
static _Atomic size_t ring_head, ring_tail; /* written by the releaser / by the loop */
static _Atomic bool producer_done;
static _Atomic long released_remotely;

static void *worker(void *arg) {
    for (uintptr_t i = 0; i < (uintptr_t)arg % 3; i++)
        tr_yield();
    return NULL;
}

struct held {
    tr_task *t;
    char name[32];
};

static void release_held(struct held *h) {
    char now[32];
    CHECK(tr_task_name_copy(h->t, now, sizeof now) >= 0);
    if (strcmp(now, h->name) != 0) {
        fprintf(stderr, "a retained task changed under its reference: %s became %s\n", h->name,
                now);
        exit(1);
    }
    tr_task_release(h->t);
    h->t = NULL;
}

/* Snapshots, and a retain of every task in each: ESRCH or a task that stays itself. */
static void *snapper(void *arg) {
    (void)arg;
    struct held held[HELD] = {0};
    size_t next = 0;
    while (!atomic_load(&stop)) {
        tr_taskset *set = tr_all_tasks();
        if (!set)
            continue;
        for (size_t i = 0; i < tr_taskset_size(set); i++) {
            tr_task *t = tr_taskset_get(set, i);
            errno = 0;
            tr_task *r = tr_task_retain(t);
            if (!r) {
                CHECK_EQ(errno, ESRCH);
                atomic_fetch_add(&refused, 1);
                continue;
            }
            CHECK(r == t);
            atomic_fetch_add(&retained, 1);
            struct held *h = &held[next++ % HELD];
            if (h->t)
                release_held(h); /* a release on this thread, not the loop's */
            h->t = r;
            CHECK(tr_task_name_copy(r, h->name, sizeof h->name) >= 0);
        }
        tr_taskset_free(set);
    }
    for (size_t i = 0; i < HELD; i++)
        if (held[i].t)
            release_held(&held[i]);
    return NULL;
}

/* Releases handles the loop made, on another thread. */
static void *releaser(void *arg) {
    (void)arg;
    for (;;) {
        size_t head = atomic_load(&ring_head), tail = atomic_load(&ring_tail);
        if (head == tail) {
            if (atomic_load(&producer_done) && head == atomic_load(&ring_tail))
                return NULL;
            sched_yield();
            continue;
        }
        tr_task_release(ring[head % RING]);
        atomic_fetch_add(&released_remotely, 1);
        atomic_store(&ring_head, head + 1);
    }
}

static size_t pool_records(void) {
    struct record_pool_stats st;
    record_pool_stats(tr_tls_loop, &st);
    return st.records;
}

static void *main_task(void *arg) {
    long rounds = (long)(intptr_t)arg;
    uintptr_t n = 0;
    /* The loop's own release of the creator's handle at once: the last release is the
     * runtime's, at the task's end, racing the snapper's retains. */
    for (long r = 0; r < rounds; r++) {
        tr_task *batch[BATCH];
        for (int i = 0; i < BATCH; i++)
            CHECK((batch[i] = tr_spawn(worker, (void *)n++)) != NULL);
        for (int i = 0; i < BATCH; i++)
            if (i % 2 == 0)
                tr_task_release(batch[i]); /* before it ran */
        tr_yield();
        tr_yield();
        tr_yield();
        for (int i = 0; i < BATCH; i++)
            if (i % 2 == 1)
                tr_task_release(batch[i]); /* most have finished */
    }
    size_t before = pool_records();
    /* Handles released on the releaser thread, some before the task ends, some after. */
    for (long r = 0; r < rounds; r++) {
        for (int i = 0; i < BATCH; i++) {
            tr_task *t = tr_spawn(worker, (void *)n++);
            CHECK(t != NULL);
            while (atomic_load(&ring_tail) - atomic_load(&ring_head) == RING)
                tr_yield(); /* let tasks finish while the releaser catches up */
            size_t tail = atomic_load(&ring_tail);
            ring[tail % RING] = t;
            atomic_store(&ring_tail, tail + 1);
        }
        tr_yield();
    }
    atomic_store(&producer_done, true);
    while (atomic_load(&released_remotely) < rounds * BATCH)
        tr_sleep(100000);
    for (int i = 0; i < 20; i++)
        tr_sleep(1000000); /* turns: the remote list is taken back */
    size_t after = pool_records();
    /* Each such task's record must be reused: a lost one would grow the pool by a record
     * per task (rounds * BATCH of them). */
    printf("pool %zu records before the remote releases, %zu after %ld of them\n", before, after,
           rounds * BATCH);
    CHECK(after <= before + 4 * RING + 8192);
    return NULL;
}

int main(void) {
    long rounds = RUNNING_ON_VALGRIND ? 100 : REGRESS_SANITIZED ? 1000 : 4000;
    pthread_t snap, rel;
    CHECK(pthread_create(&snap, NULL, snapper, NULL) == 0);
    CHECK(pthread_create(&rel, NULL, releaser, NULL) == 0);
    int rc = tr_run(main_task, (void *)(intptr_t)rounds, NULL);
    atomic_store(&stop, true);
    CHECK(pthread_join(snap, NULL) == 0);
    CHECK(pthread_join(rel, NULL) == 0);
    CHECK_EQ(rc, 0);
    printf("retains from snapshots: %ld took, %ld refused (ESRCH)\n", atomic_load(&retained),
           atomic_load(&refused));
    CHECK(atomic_load(&retained) > 0);
    return 0;
}
