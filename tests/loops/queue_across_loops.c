/*
 * Queues of one loop used by tasks of another: a ping-pong both ways (each side gets from a
 * queue of the other loop and puts into one of its own, and the other way round), a bounded
 * queue whose put blocks across loops until a get frees a slot, items in FIFO order, shutdown
 * waking remote getters and putters (-ESHUTDOWN) after the queued items are drained, and
 * task_done/join across loops.
 */
#include "loops.h"

/* ---- ping-pong ------------------------------------------------------------------------------ */

struct pingpong {
    tr_queue *ping; /* main puts, the partner gets */
    tr_queue *pong; /* the partner puts, main gets */
    int rounds;
};

static void *partner(void *arg) {
    struct pingpong *p = arg;
    CHECK_LOOP(1);
    for (int i = 0; i < p->rounds; i++) {
        void *item = NULL;
        CHECK_EQ(tr_queue_get(p->ping, &item), 0);
        CHECK_EQ((intptr_t)item, i);
        CHECK_LOOP(1);
        CHECK_EQ(tr_queue_put(p->pong, (void *)(intptr_t)(i + 1000)), 0);
    }
    return NULL;
}

/* `ping` and `pong` each on the loop given: every combination of owners. */
static void ping_pong(unsigned ping_owner, unsigned pong_owner, int rounds) {
    struct pingpong p = {.rounds = rounds};
    p.ping = on_loop(ping_owner, make_queue, NULL);
    p.pong = on_loop(pong_owner, make_queue, NULL);
    tr_task *t = spawn_on(1, partner, &p, "partner");
    for (int i = 0; i < rounds; i++) {
        CHECK_EQ(tr_queue_put(p.ping, (void *)(intptr_t)i), 0);
        void *item = NULL;
        CHECK_EQ(tr_queue_get(p.pong, &item), 0);
        CHECK_EQ((intptr_t)item, i + 1000);
        CHECK_LOOP(0);
    }
    await_release(t, 0);
    CHECK_EQ(tr_queue_size(p.ping), 0);
    CHECK_EQ(tr_queue_size(p.pong), 0);
    CHECK_EQ(tr_queue_free(p.ping), 0);
    CHECK_EQ(tr_queue_free(p.pong), 0);
}

/* ---- a bounded queue: put blocks across loops ---------------------------------------------- */

enum { BOUND = 2, ITEMS = 6 };

struct bounded {
    tr_queue *q; /* of loop 0, maxsize BOUND */
    _Atomic int puts_done;
};

static void *producer(void *arg) {
    struct bounded *b = arg;
    CHECK_LOOP(1);
    for (int i = 0; i < ITEMS; i++) {
        CHECK_EQ(tr_queue_put(b->q, (void *)(intptr_t)(i + 1)), 0);
        atomic_fetch_add(&b->puts_done, 1);
    }
    return NULL;
}

static void bounded_put_blocks(void) {
    struct bounded b = {0};
    b.q = tr_queue_new(BOUND);
    tr_task *t = spawn_on(1, producer, &b, "producer");
    while (atomic_load(&b.puts_done) < BOUND)
        CHECK_EQ(tr_sleep(1 * MS), 0); /* until the producer has filled it */
    /* Full: the third put cannot return, however long we wait. */
    CHECK_EQ(tr_sleep(10 * MS), 0);
    CHECK_EQ(atomic_load(&b.puts_done), BOUND);
    CHECK_EQ(tr_queue_size(b.q), BOUND);
    CHECK_EQ(tr_queue_try_put(b.q, (void *)99), -EAGAIN);
    for (int i = 0; i < ITEMS; i++) {
        void *item = NULL;
        CHECK_EQ(tr_queue_get(b.q, &item), 0);
        CHECK_EQ((intptr_t)item, i + 1); /* FIFO, the waiting putter's item after the queued */
        CHECK(tr_queue_size(b.q) <= BOUND);
    }
    await_release(t, 0);
    CHECK_EQ(atomic_load(&b.puts_done), ITEMS);
    CHECK_EQ(tr_queue_free(b.q), 0);
}

/* ---- shutdown ------------------------------------------------------------------------------ */

struct shut {
    tr_queue *empty; /* of loop 0: a getter waits on it */
    tr_queue *full;  /* of loop 0, maxsize 1, full: a putter waits on it */
    tr_queue *items; /* of loop 0: two items queued, then shutdown: drained, then -ESHUTDOWN */
    int get_rc, put_rc, drained, drain_rc;
};

static void *getter(void *arg) {
    struct shut *s = arg;
    void *item = (void *)1;
    s->get_rc = tr_queue_get(s->empty, &item);
    CHECK(item == (void *)1);
    return NULL;
}

static void *putter(void *arg) {
    struct shut *s = arg;
    s->put_rc = tr_queue_put(s->full, (void *)2);
    return NULL;
}

static void *drainer(void *arg) {
    struct shut *s = arg;
    for (;;) {
        void *item = NULL;
        int rc = tr_queue_get(s->items, &item);
        if (rc < 0) {
            s->drain_rc = rc;
            return NULL;
        }
        CHECK_EQ((intptr_t)item, 10 + s->drained);
        s->drained++;
    }
}

static void shutdown_wakes_remote(void) {
    struct shut s = {.get_rc = 1, .put_rc = 1, .drain_rc = 1};
    s.empty = tr_queue_new(0);
    s.full = tr_queue_new(1);
    s.items = tr_queue_new(0);
    CHECK_EQ(tr_queue_put(s.full, (void *)1), 0);
    CHECK_EQ(tr_queue_put(s.items, (void *)10), 0);
    CHECK_EQ(tr_queue_put(s.items, (void *)11), 0);
    CHECK_EQ(tr_queue_shutdown(s.items, false), 0);
    tr_task *g = spawn_on(1, getter, &s, "getter");
    tr_task *p = spawn_on(1, putter, &s, "putter");
    tr_task *d = spawn_on(1, drainer, &s, "drainer");
    /* The drainer needs no handshake: it drains, then sees the shutdown. The other two are
     * likely waiting after this sleep; a shutdown that comes first gives the same results. */
    CHECK_EQ(tr_sleep(10 * MS), 0);
    CHECK_EQ(tr_queue_shutdown(s.empty, false), 0);
    CHECK_EQ(tr_queue_shutdown(s.full, false), 0);
    await_release(g, 0);
    await_release(p, 0);
    await_release(d, 0);
    CHECK_EQ(s.get_rc, -ESHUTDOWN);
    CHECK_EQ(s.put_rc, -ESHUTDOWN);
    CHECK_EQ(s.drained, 2);
    CHECK_EQ(s.drain_rc, -ESHUTDOWN);
    CHECK_EQ(tr_queue_size(s.full), 1); /* the item put before stays */
    CHECK_EQ(tr_queue_free(s.empty), 0);
    CHECK_EQ(tr_queue_free(s.full), 0);
    CHECK_EQ(tr_queue_free(s.items), 0);
}

/* Shutdown from another loop, immediate: the queued items are dropped, each counting as
 * task_done, so a join waiting on loop 1 returns. */
struct immediate {
    tr_queue *q; /* of loop 1 */
    int join_rc;
};

static void *joiner(void *arg) {
    struct immediate *m = arg;
    CHECK_LOOP(1);
    m->join_rc = tr_queue_join(m->q);
    return NULL;
}

static void *fill(void *arg) {
    tr_queue *q = arg;
    for (intptr_t i = 0; i < 3; i++)
        CHECK_EQ(tr_queue_put(q, (void *)i), 0);
    return NULL;
}

static void shutdown_immediate_remote(void) {
    struct immediate m = {.join_rc = 1};
    m.q = on_loop(1, make_queue, NULL);
    on_loop(1, fill, m.q);
    tr_task *j = spawn_on(1, joiner, &m, "joiner");
    CHECK_EQ(tr_sleep(10 * MS), 0); /* the joiner likely waits by now (or returns 0 later) */
    CHECK_EQ(tr_queue_shutdown(m.q, true), 0); /* main, loop 0 */
    await_release(j, 0);
    CHECK_EQ(m.join_rc, 0);
    CHECK_EQ(tr_queue_size(m.q), 0);
    void *item;
    CHECK_EQ(tr_queue_try_get(m.q, &item), -ESHUTDOWN);
    CHECK_EQ(tr_queue_put(m.q, NULL), -ESHUTDOWN);
    CHECK_EQ(tr_queue_free(m.q), 0);
}

/* ---- task_done and join across loops ------------------------------------------------------ */

static void *worker(void *arg) {
    tr_queue *q = arg;
    CHECK_LOOP(1);
    for (int i = 0; i < 3; i++) {
        void *item = NULL;
        CHECK_EQ(tr_queue_get(q, &item), 0);
        CHECK_EQ((intptr_t)item, i);
        CHECK_EQ(tr_queue_task_done(q), 0);
    }
    CHECK_EQ(tr_queue_task_done(q), -EINVAL); /* more often than put */
    return NULL;
}

static void join_across(void) {
    tr_queue *q = tr_queue_new(0);
    tr_task *w = spawn_on(1, worker, q, "worker");
    for (intptr_t i = 0; i < 3; i++)
        CHECK_EQ(tr_queue_put(q, (void *)i), 0);
    CHECK_EQ(tr_queue_join(q), 0); /* returns once the worker marked all three done */
    await_release(w, 0);
    CHECK_EQ(tr_queue_free(q), 0);
}

static void *main_task(void *arg) {
    int rounds = *(int *)arg;
    CHECK_EQ(tr_loop_count(), 2);
    ping_pong(1, 0, rounds); /* main puts on loop 1's, gets from its own */
    ping_pong(0, 1, rounds); /* the other way round */
    ping_pong(1, 1, rounds);
    ping_pong(0, 0, rounds);
    bounded_put_blocks();
    shutdown_wakes_remote();
    shutdown_immediate_remote();
    join_across();
    return NULL;
}

int main(void) {
    int rounds = RUNNING_ON_VALGRIND ? 50 : 2000;
    CHECK_EQ(run_loops(2, main_task, &rounds, NULL), 0);
    printf("queues across loops: %d-round ping-pongs, bounded put, shutdown, join\n", rounds);
    return 0;
}
