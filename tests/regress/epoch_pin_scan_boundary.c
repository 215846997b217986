/*
 * The two sides of a pin's epoch, made deterministic with the epoch module's test hook
 * (runtime/test_hooks.h), which parks a snapshotting thread after its pin holds an epoch and
 * before its scan: the window registry_stress can only hit by chance.
 *
 * 1. Released after the epoch was read: not reused while the pin lives. The sampler pins and
 *    parks; the loop finishes and releases tasks and churns through thousands more (reclaim
 *    passes, free lists running dry); no new task may get a record released since the pin.
 *    Then the scan runs and finds the parked loop's waiting tasks; those finish and are
 *    released, the loop churns again, and each record the set holds must still be the task it
 *    was: TASK_DEAD, done, the same name and function (a reused record has a new Task-N).
 * 2. Released before the epoch was read: reusable while the pin lives. With an older set
 *    alive, the loop releases R1 tasks (stamped as their batches fill). The sampler takes a
 *    new pin, frees the older set from the hook and parks: the only pin alive began after
 *    those stamps. The loop then spawns more tasks than its pool holds: every R1 record but
 *    the last partial batch (fewer than 64, still unstamped) must be reused.
 */
#include "regress.h"

#include "internal.h"
#include "test_hooks.h"

#include <pthread.h>
#include <stdatomic.h>

#define MS 1000000ull
enum { LIVE = 100, BURST = 512, CHURN_ROUNDS = 20, CHURN = 256, R1 = 256, PARTIAL = 63 };

/* ---- the sampler's side: steps, and the park ---------------------------------------------- */

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int step;                 /* under mu: how far the script got (either side sets it) */
static bool park_requested;      /* under mu: the sampler's next pin parks */
static bool parked, unpark;      /* under mu */
static tr_taskset *free_in_hook; /* the sampler's older set, freed while parked (phase 2) */
static _Thread_local bool is_sampler;

static void set_step(int s) {
    pthread_mutex_lock(&mu);
    step = s;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
}

static void wait_step(int s) {
    pthread_mutex_lock(&mu);
    while (step < s)
        pthread_cond_wait(&cv, &mu);
    pthread_mutex_unlock(&mu);
}

static void park_hook(void) {
    if (!is_sampler)
        return;
    pthread_mutex_lock(&mu);
    if (!park_requested) {
        pthread_mutex_unlock(&mu);
        return;
    }
    park_requested = false;
    tr_taskset *older = free_in_hook;
    free_in_hook = NULL;
    pthread_mutex_unlock(&mu);
    if (older)
        tr_taskset_free(older); /* this pin stays: the only one alive now */
    pthread_mutex_lock(&mu);
    parked = true;
    pthread_cond_broadcast(&cv);
    while (!unpark)
        pthread_cond_wait(&cv, &mu);
    unpark = parked = false;
    pthread_mutex_unlock(&mu);
}

static void request_park(tr_taskset *older) {
    pthread_mutex_lock(&mu);
    park_requested = true;
    free_in_hook = older;
    pthread_mutex_unlock(&mu);
}

static void *waiter(void *arg);
static void *main_task(void *arg);

struct entry {
    const tr_task *t;
    char name[32];
    tr_fn fn;
};
static struct entry seen[LIVE + 8];
static size_t nseen;

static void *sampler(void *arg) {
    (void)arg;
    is_sampler = true;
    /* Phase 1. */
    wait_step(1);
    request_park(NULL);
    tr_taskset *s = tr_all_tasks(); /* parks in the hook until step 2 */
    CHECK(s != NULL);
    nseen = tr_taskset_size(s);
    CHECK(nseen <= sizeof seen / sizeof seen[0]);
    for (size_t i = 0; i < nseen; i++) {
        seen[i].t = tr_taskset_get(s, i);
        CHECK(tr_task_name_copy(seen[i].t, seen[i].name, sizeof seen[i].name) > 0);
        seen[i].fn = tr_task_fn(seen[i].t, NULL);
    }
    set_step(3);
    wait_step(4); /* the tasks finished, were released, the loop churned */
    size_t waiters = 0;
    for (size_t i = 0; i < nseen; i++) {
        const tr_task *t = seen[i].t;
        char name[32];
        CHECK(tr_task_name_copy(t, name, sizeof name) > 0);
        if (strcmp(name, seen[i].name) != 0 || tr_task_fn(t, NULL) != seen[i].fn) {
            fprintf(stderr, "record %p was reused while a set held it: %s became %s\n",
                    (const void *)t, seen[i].name, name);
            exit(1);
        }
        if (seen[i].fn == waiter) {
            waiters++;
            CHECK(tr_task_done(t));
            CHECK_EQ(t->magic, TASK_DEAD); /* released, not reused */
        } else {
            CHECK(seen[i].fn == main_task);
            CHECK_EQ(t->magic, TASK_MAGIC);
        }
    }
    CHECK_EQ(waiters, LIVE);
    tr_taskset_free(s);
    set_step(5);

    /* Phase 2. */
    tr_taskset *p0 = tr_all_tasks();
    CHECK(p0 != NULL);
    set_step(6);
    wait_step(7);
    request_park(p0);
    tr_taskset *p1 = tr_all_tasks(); /* frees p0, parks until step 8 */
    CHECK(p1 != NULL);
    tr_taskset_free(p1);
    set_step(9);
    return NULL;
}

/* ---- the loop's side ------------------------------------------------------------------------ */

/* Addresses, in a small open-addressing set. */
enum { SET_CAP = 1 << 15 };
struct addr_set {
    const void *slot[SET_CAP];
    size_t n;
};

static size_t addr_hash(const void *p) {
    return (size_t)(((uintptr_t)p >> 4) * 0x9e3779b97f4a7c15ull >> 49) & (SET_CAP - 1);
}

static void set_add(struct addr_set *s, const void *p) {
    CHECK(s->n < SET_CAP / 2);
    size_t i = addr_hash(p);
    while (s->slot[i] && s->slot[i] != p)
        i = (i + 1) & (SET_CAP - 1);
    if (!s->slot[i])
        s->n++;
    s->slot[i] = p;
}

static bool set_has(const struct addr_set *s, const void *p) {
    for (size_t i = addr_hash(p); s->slot[i]; i = (i + 1) & (SET_CAP - 1))
        if (s->slot[i] == p)
            return true;
    return false;
}

static struct addr_set retired_in_pin, r1;
static tr_event *e1;
static size_t finished;

static void *waiter(void *arg) {
    (void)arg;
    CHECK_EQ(tr_event_wait(e1), 0);
    return NULL;
}

static void *short_task(void *arg) {
    (void)arg;
    finished++;
    return NULL;
}

static void wait_parked(void) {
    for (;;) {
        pthread_mutex_lock(&mu);
        bool p = parked;
        pthread_mutex_unlock(&mu);
        if (p)
            return;
        CHECK_EQ(tr_sleep(1 * MS), 0);
    }
}

static void release_park(int next_step) {
    pthread_mutex_lock(&mu);
    unpark = true;
    step = next_step;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
}

static void wait_step_in_task(int s) {
    for (;;) {
        pthread_mutex_lock(&mu);
        bool reached = step >= s;
        pthread_mutex_unlock(&mu);
        if (reached)
            return;
        CHECK_EQ(tr_sleep(1 * MS), 0);
    }
}

/* Spawn n short tasks, run them to their end; their records go into `into` (if given); no
 * new one may have a record in `forbidden` (if given). */
static void run_short(size_t n, struct addr_set *into, const struct addr_set *forbidden) {
    size_t target = finished + n;
    for (size_t i = 0; i < n; i++) {
        tr_task *t = tr_spawn(short_task, NULL);
        CHECK(t != NULL);
        if (forbidden && set_has(forbidden, t)) {
            fprintf(stderr,
                    "a record released after the pin's epoch was reused while the pin "
                    "lived (%p)\n",
                    (void *)t);
            exit(1);
        }
        if (into)
            set_add(into, t);
        tr_task_release(t);
    }
    while (finished < target)
        CHECK_EQ(tr_yield(), 0);
}

static void *main_task(void *arg) {
    (void)arg;
    pthread_t th;
    CHECK(pthread_create(&th, NULL, sampler, NULL) == 0);
    run_short(2000, NULL, NULL); /* a pool with some history */

    /* Phase 1: records released after the epoch. */
    e1 = tr_event_new();
    CHECK(e1 != NULL);
    tr_task *live[LIVE];
    for (int i = 0; i < LIVE; i++)
        CHECK((live[i] = tr_spawn(waiter, NULL)) != NULL);
    CHECK_EQ(tr_yield(), 0); /* they wait on e1 now */
    set_step(1);
    wait_parked(); /* the sampler's pin holds its epoch; its scan has not begun */
    run_short(BURST, &retired_in_pin, &retired_in_pin);
    for (int r = 0; r < CHURN_ROUNDS; r++)
        run_short(CHURN, &retired_in_pin, &retired_in_pin);
    release_park(2); /* the scan: main and the LIVE waiters */
    wait_step_in_task(3);
    CHECK_EQ(tr_event_set(e1), 0);
    for (int i = 0; i < LIVE; i++) {
        CHECK_EQ(tr_await(live[i], NULL), 0);
        set_add(&retired_in_pin, live[i]);
        tr_task_release(live[i]);
    }
    for (int r = 0; r < CHURN_ROUNDS; r++)
        run_short(CHURN, &retired_in_pin, &retired_in_pin);
    set_step(4);
    wait_step_in_task(5);
    tr_event_free(e1);

    /* Phase 2: records released before the epoch. */
    wait_step_in_task(6); /* the sampler holds an older set */
    run_short(R1, &r1, NULL);
    set_step(7);
    wait_parked(); /* the older set is gone: only the new pin, younger than R1's stamps */
    struct record_pool_stats st;
    record_pool_stats(tr_tls_loop, &st);
    size_t k = st.records + 64, reused = 0;
    tr_task **more = calloc(k, sizeof *more);
    CHECK(more != NULL);
    for (size_t i = 0; i < k; i++) {
        CHECK((more[i] = tr_spawn(short_task, NULL)) != NULL);
        reused += set_has(&r1, more[i]);
    }
    if (reused < R1 - PARTIAL) {
        fprintf(stderr,
                "only %zu of %d records released before the pin's epoch were reused "
                "while it lived (at least %d expected)\n",
                reused, R1, R1 - PARTIAL);
        exit(1);
    }
    release_park(8);
    size_t target = finished + k;
    for (size_t i = 0; i < k; i++)
        tr_task_release(more[i]);
    free(more);
    while (finished < target)
        CHECK_EQ(tr_yield(), 0);
    wait_step_in_task(9);
    CHECK(pthread_join(th, NULL) == 0);
    printf("phase 1: %zu records released during a parked pin, none reused; %zu set entries "
           "intact; phase 2: %zu of %d records released before the pin reused\n",
           retired_in_pin.n, nseen, reused, R1);
    return NULL;
}

int main(void) {
    epoch_set_pin_hook(park_hook);
    CHECK_EQ(tr_run(main_task, NULL, NULL), 0);
    epoch_set_pin_hook(NULL);
    return 0;
}
