/*
 * A loop's record pool used to grow without bound while snapshots kept a pin alive: a batch
 * of released records was stamped only when the free list ran dry, so the fresh stamp was
 * always younger than the live pin and a new slab came instead; with a sampler pinning
 * continuously the pool passed 790K records (~177 MB) in 3 s, and slabs were never given back.
 *
 * Now batches are stamped as they fill, so a pin holds back at most the records retired
 * during its life (plus one partial batch), and whole free slabs go back to the allocator.
 *
 * The loop spawns and finishes tasks flat out (at most WINDOW alive) for SECONDS (10; the
 * environment's RECORD_POOL_SECONDS overrides it), while a sampler thread keeps a pin alive
 * the whole time: it takes a new snapshot before it frees the previous one and holds each for
 * about HOLD_NS. For each set it counts the records retired while the set lived. Checks:
 *   - the pool never exceeds 2 * (most records retired during one set's life) + SLACK;
 *   - after the sampler stops and the loop churns on, the pool shrinks to AFTER_MAX records
 *     within 8 s (slabs go back once the last two 200 ms trim windows did not need them;
 *     it takes about 0.5 to 1 s on an idle machine).
 */
#include "regress.h"

#include "internal.h"

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

enum { WINDOW = 128, SLACK = 16384, AFTER_MAX = 20480, CHECK_EVERY = 64 };
#define HOLD_NS 1000000L
#define NS 1000000000ull

static _Atomic uint64_t retired;      /* tasks finished: written by the loop thread only */
static _Atomic bool sampler_stop;     /* the loop tells the sampler to stop */
static _Atomic bool sampler_done;     /* ... and the sampler says it holds no set any more */
static _Atomic uint64_t most_per_pin; /* records retired during one set's life, at most */
static _Atomic uint64_t sets_taken;
static double seconds = 10.0;

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * NS + (uint64_t)ts.tv_nsec;
}

static void *sampler(void *arg) {
    (void)arg;
    tr_taskset *held = tr_all_tasks();
    CHECK(held != NULL);
    uint64_t held_at = atomic_load_explicit(&retired, memory_order_relaxed);
    while (!atomic_load(&sampler_stop)) {
        /* The next pin before the previous goes: a pin is alive at every moment. */
        tr_taskset *next = tr_all_tasks();
        CHECK(next != NULL);
        uint64_t next_at = atomic_load_explicit(&retired, memory_order_relaxed);
        tr_taskset_free(held);
        uint64_t during = atomic_load_explicit(&retired, memory_order_relaxed) - held_at;
        if (during > atomic_load(&most_per_pin))
            atomic_store(&most_per_pin, during);
        atomic_fetch_add(&sets_taken, 1);
        held = next;
        held_at = next_at;
        struct timespec hold = {0, HOLD_NS};
        nanosleep(&hold, NULL);
    }
    uint64_t during = atomic_load_explicit(&retired, memory_order_relaxed) - held_at;
    tr_taskset_free(held);
    if (during > atomic_load(&most_per_pin))
        atomic_store(&most_per_pin, during);
    atomic_store(&sampler_done, true);
    return NULL;
}

static uint64_t local_retired;

static void *short_task(void *arg) {
    (void)arg;
    atomic_store_explicit(&retired, ++local_retired, memory_order_relaxed);
    return NULL;
}

static size_t pool_records(void) {
    struct record_pool_stats st;
    record_pool_stats(tr_tls_loop, &st);
    return st.records;
}

/* Spawn WINDOW tasks, let them run and finish; `rounds` times. */
static void churn(size_t rounds) {
    for (size_t r = 0; r < rounds; r++) {
        uint64_t target = local_retired + WINDOW;
        for (int i = 0; i < WINDOW; i++) {
            tr_task *t = tr_spawn(short_task, NULL);
            CHECK(t != NULL);
            tr_task_release(t); /* its record is retired when it finishes */
        }
        while (local_retired < target)
            CHECK(tr_yield() == 0);
    }
}

static void *main_task(void *arg) {
    (void)arg;
    pthread_t th;
    CHECK(pthread_create(&th, NULL, sampler, NULL) == 0);
    while (atomic_load(&sets_taken) == 0)
        churn(1); /* until the sampler pins for good */

    uint64_t start = now_ns(), end = start + (uint64_t)(seconds * 1e9);
    size_t peak = 0;
    while (now_ns() < end) {
        churn(CHECK_EVERY);
        size_t n = pool_records();
        peak = n > peak ? n : peak;
    }
    uint64_t during_pins = local_retired;
    atomic_store(&sampler_stop, true);
    while (!atomic_load(&sampler_done))
        churn(1);
    CHECK(pthread_join(th, NULL) == 0);
    size_t per_pin = (size_t)atomic_load(&most_per_pin);

    /* No pin now: the pool gives back what the churn no longer needs. */
    uint64_t after_start = now_ns(), after_end = after_start + 8 * NS;
    size_t after = pool_records();
    while (after > AFTER_MAX && now_ns() < after_end) {
        churn(CHECK_EVERY);
        after = pool_records();
    }
    struct record_pool_stats st;
    record_pool_stats(tr_tls_loop, &st);
    printf("%.1f s with a pin always alive: %llu tasks, %llu sets, at most %zu retired during "
           "one set; pool peak %zu records; %zu records (%zu slabs, %zu given back) %.2f s "
           "after unpin\n",
           seconds, (unsigned long long)during_pins, (unsigned long long)atomic_load(&sets_taken),
           per_pin, peak, after, st.slabs, st.slabs_returned, (now_ns() - after_start) * 1e-9);
    if (peak > 2 * per_pin + SLACK) {
        fprintf(stderr, "pool peak %zu records > 2 * %zu retired during one pin + %d\n", peak,
                per_pin, SLACK);
        exit(1);
    }
    if (after > AFTER_MAX) {
        fprintf(stderr, "pool still %zu records after unpin + 8 s of churn (> %d)\n", after,
                AFTER_MAX);
        exit(1);
    }
    return NULL;
}

int main(void) {
    const char *s = getenv("RECORD_POOL_SECONDS");
    if (s && *s)
        seconds = atof(s);
    CHECK(seconds > 0);
    CHECK_EQ(tr_run(main_task, NULL, NULL), 0);
    return 0;
}
