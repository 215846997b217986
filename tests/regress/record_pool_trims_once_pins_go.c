/*
 * A trim that finds nothing to give back doubles the wait before the next one (up to 2^6
 * windows, 12.8 s), so a fragmented pool is not walked over and over. Under a pin held
 * through heavy churn on a loaded machine, trims kept failing (the free list ran dry under
 * them while the pin held the released records back), the backoff reached its top, and once
 * the pin was gone the pool kept 40,896 records for more than 8 s instead of shrinking
 * within a second (record_pool_bounded_under_pin failed in CI that way).
 *
 * Now a failure while pins held records is forgotten at the first reclaim pass that finds no
 * pin: the records they held are free, and the next trim runs at the next window.
 *
 * The test grows the pool under a pin (released tasks pile up in stamped batches), puts the
 * pool in the state those failures leave (backoff at its top, marked as under a pin, just
 * now), drops the pin, and churns: the pool must be back under AFTER_MAX records within
 * LIMIT_S seconds (about 0.5 s idle; before, 12.8 s).
 */
#include "regress.h"

#include "internal.h"

#include <time.h>

enum { GROW = 40000, WINDOW = 128, AFTER_MAX = 20480, LIMIT_S = 5 };

static size_t finished;

static void *short_task(void *arg) {
    (void)arg;
    finished++;
    return NULL;
}

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Spawn n tasks, at most WINDOW unfinished at a time, and let them all finish. */
static void churn(size_t n) {
    for (size_t done = 0; done < n; done += WINDOW) {
        size_t target = finished + WINDOW;
        for (int i = 0; i < WINDOW; i++) {
            tr_task *t = tr_spawn(short_task, NULL);
            CHECK(t != NULL);
            tr_task_release(t);
        }
        while (finished < target)
            CHECK(tr_yield() == 0);
    }
}

static void *main_task(void *arg) {
    (void)arg;
    struct record_pool *p = &tr_tls_loop->records;
    tr_taskset *pin = tr_all_tasks();
    CHECK(pin != NULL);
    churn(GROW); /* every record released now stays in a batch the pin holds */
    size_t grown = p->records;
    CHECK(grown >= GROW);
    CHECK(p->batches_head != NULL);

    /* What trims that failed under this pin leave behind. */
    p->trim_backoff = 6;
    p->trim_failed_pinned = true;
    p->trim_failed_free = p->records;
    p->trim_failed_at = loop_clock_ns();

    tr_taskset_free(pin);
    uint64_t start = now_ns(), end = start + LIMIT_S * 1000000000ull;
    while (p->records > AFTER_MAX && now_ns() < end)
        churn(64 * WINDOW);
    printf("pool grown to %zu records under the pin; %zu records %.2f s after it went\n", grown,
           p->records, (now_ns() - start) * 1e-9);
    if (p->records > AFTER_MAX) {
        fprintf(stderr, "pool still %zu records %d s after the pin went (> %d)\n", p->records,
                LIMIT_S, AFTER_MAX);
        exit(1);
    }
    return NULL;
}

int main(void) {
    CHECK_EQ(tr_run(main_task, NULL, NULL), 0);
    return 0;
}
