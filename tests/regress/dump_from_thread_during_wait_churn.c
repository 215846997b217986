/*
 * tr_dump from a thread that owns no loop while the loop's tasks start and end waits as fast
 * as they can (lock hand-overs, queue ping-pong, event waits, short sleeps, spawns that finish
 * at once): every wait a row shows was read whole (seqlock) or the row says wait=torn; no row
 * is malformed, none dereferences a waiter that was gone (ASan), and every dump's count line
 * matches its rows. Under TSan too: the seqlock reader's racy reads of a waiter are left
 * uninstrumented (introspect.c, read_waiter), everything else it reads is atomic.
 */
#include "regress.h"

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#define SECONDS_NS (300ull * 1000 * 1000)

static atomic_int stop;
static tr_lock *lock;
static tr_queue *ping, *pong;
static tr_event *ev;

static void *locker(void *arg) {
    (void)arg;
    while (!atomic_load(&stop))
        if (tr_lock_acquire(lock) == 0) {
            tr_yield();
            tr_lock_release(lock);
        }
    return NULL;
}

static void *pinger(void *arg) {
    (void)arg;
    void *item;
    while (!atomic_load(&stop) && tr_queue_put(ping, (void *)1) == 0 &&
           tr_queue_get(pong, &item) == 0)
        ;
    return NULL;
}

static void *ponger(void *arg) {
    (void)arg;
    void *item;
    while (!atomic_load(&stop) && tr_queue_get(ping, &item) == 0 && tr_queue_put(pong, item) == 0)
        ;
    return NULL;
}

static void *napper(void *arg) {
    (void)arg;
    while (!atomic_load(&stop))
        tr_sleep(1000);
    return NULL;
}

static void *quick(void *arg) {
    (void)arg;
    return NULL;
}

static void *spawner(void *arg) {
    (void)arg;
    while (!atomic_load(&stop)) {
        tr_task *t = tr_spawn_named(quick, NULL, "quick");
        if (!t)
            break;
        tr_await(t, NULL);
        tr_task_release(t);
    }
    return NULL;
}

static void check_dump(const char *text, int rc) {
    CHECK(rc > 0);
    size_t rows = 0;
    const char *p = strchr(text, '\n') + 1;
    while (strncmp(p, "  id=", 5) == 0) {
        const char *eol = strchr(p, '\n');
        CHECK(eol != NULL);
        char row[512];
        snprintf(row, sizeof row, "%.*s", (int)(eol - p), p);
        unsigned long long id;
        unsigned loop;
        char state[16];
        if (sscanf(row, "  id=%llu loop=%u state=%15s", &id, &loop, state) != 3 ||
            !strstr(row, " age=") || !strstr(row, " name=") || !strstr(row, " wait=")) {
            fprintf(stderr, "malformed row: %s\n", row);
            exit(1);
        }
        const char *w = strstr(row, " wait=") + 6;
        if (strncmp(w, "torn", 4) != 0 && strncmp(w, "none", 4) != 0 && !strstr(w, "deadline=")) {
            fprintf(stderr, "a wait without its deadline field: %s\n", row);
            exit(1);
        }
        rows++;
        p = eol + 1;
    }
    unsigned long count = 0;
    CHECK(sscanf(p, "taskring dump: %lu tasks", &count) == 1);
    CHECK_EQ(count, rows);
    CHECK_EQ(count, (unsigned long)rc);
}

struct counts {
    size_t dumps, torn, waits;
};

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void *dumper(void *arg) {
    struct counts *c = arg;
    uint64_t end = now_ns() + SECONDS_NS;
    while (now_ns() < end || c->dumps < 100) {
        char *text = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&text, &len);
        CHECK(f != NULL);
        int rc = tr_dump(f);
        fclose(f);
        check_dump(text, rc);
        c->torn += count_substr(text, " wait=torn");
        c->waits += count_substr(text, " deadline=");
        c->dumps++;
        free(text);
    }
    atomic_store(&stop, 1);
    return NULL;
}

static void *main_task(void *arg) {
    (void)arg;
    lock = tr_lock_new();
    ping = tr_queue_new(1);
    pong = tr_queue_new(1);
    ev = tr_event_new();
    CHECK(lock && ping && pong && ev);
    tr_task *t[8];
    size_t n = 0;
    t[n++] = tr_spawn_named(locker, NULL, "locker-1");
    t[n++] = tr_spawn_named(locker, NULL, "locker-2");
    t[n++] = tr_spawn_named(pinger, NULL, "pinger");
    t[n++] = tr_spawn_named(ponger, NULL, "ponger");
    t[n++] = tr_spawn_named(napper, NULL, "napper");
    t[n++] = tr_spawn_named(spawner, NULL, "spawner");
    struct counts c = {0, 0, 0};
    pthread_t d;
    CHECK_EQ(pthread_create(&d, NULL, dumper, &c), 0);
    while (!atomic_load(&stop))
        tr_sleep(1000 * 1000);
    pthread_join(d, NULL);
    tr_queue_shutdown(ping, true);
    tr_queue_shutdown(pong, true);
    for (size_t i = 0; i < n; i++) {
        tr_task_cancel(t[i]);
        tr_await(t[i], NULL);
        tr_task_release(t[i]);
    }
    printf("%zu dumps, %zu rows with a wait read whole, %zu torn\n", c.dumps, c.waits, c.torn);
    CHECK(c.waits > 0); /* it did read waits while they changed */
    tr_lock_free(lock);
    tr_queue_free(ping);
    tr_queue_free(pong);
    tr_event_free(ev);
    return NULL;
}

int main(void) {
    CHECK_EQ(tr_run(main_task, NULL, NULL), 0);
    return 0;
}
