/*
 * sync_queue.c - tr_queue_*: CPython's queue tests (test_queues.py: QueueBasicTests,
 * QueueGetTests, QueuePutTests, the join and shutdown mixins, for the FIFO Queue) that map
 * onto the calls, then the owned hand-overs (a getter handed an item, a putter whose item was
 * taken in, cancelled before they run), FIFO order, deadlines, cancellation before the call,
 * growth, and bad input.
 *
 * Items are pointers; the tests put small integers cast to pointers (I(n)), and NULL.
 */
#include "sync_test.h"

#define I(n) ((void *)(intptr_t)(n))
#define N_OF(p) ((int)(intptr_t)(p))

static tr_queue *q;
static struct order result;

static void reset(size_t maxsize) {
    result.n = 0;
    q = tr_queue_new(maxsize);
    if (!q)
        sync_fail(__FILE__, __LINE__, "tr_queue_new: errno %d", errno);
}

static void done(void) {
    T_EQ(tr_queue_free(q), 0);
}

/* Take what is queued (try_get) until empty; returns how many. */
static int drain(void) {
    void *item;
    int n = 0;
    while (tr_queue_try_get(q, &item) == 0)
        n++;
    return n;
}

struct getter {
    int rc;
    void *item;
    int count; /* get this many (0: one) and log each */
    bool log;
    bool then_wait; /* after a successful get, tr_yield (a pending cancellation shows there) */
    int next_rc;
};

static void *getter(void *arg) {
    struct getter *g = arg;
    int n = g->count ? g->count : 1;
    for (int i = 0; i < n; i++) {
        g->rc = tr_queue_get(q, &g->item);
        if (g->rc != 0)
            return NULL;
        if (g->log)
            order_add(&result, N_OF(g->item));
    }
    if (g->then_wait)
        g->next_rc = tr_yield();
    return NULL;
}

struct putter {
    int rc;
    int first; /* put first, first + 1, ... */
    int count; /* 0: one */
    int put;   /* how many went in */
    bool log;
};

static void *putter(void *arg) {
    struct putter *p = arg;
    int n = p->count ? p->count : 1;
    for (int i = 0; i < n; i++) {
        p->rc = tr_queue_put(q, I(p->first + i));
        if (p->rc != 0)
            return NULL;
        p->put++;
        if (p->log)
            order_add(&result, p->first + i);
    }
    return NULL;
}

static void *joiner(void *arg) {
    int *rc = arg;
    *rc = tr_queue_join(q);
    return NULL;
}

/* ---- QueueBasicTests ------------------------------------------------------------------------- */

/* test_empty */
static void *queue_empty(void *arg) {
    (void)arg;
    reset(0);
    T_EQ(tr_queue_size(q), 0);
    T_EQ(tr_queue_put(q, I(1)), 0);
    T_EQ(tr_queue_size(q), 1);
    void *item = NULL;
    T_EQ(tr_queue_get(q, &item), 0);
    T_EQ(N_OF(item), 1);
    T_EQ(tr_queue_size(q), 0);
    done();
    return NULL;
}
SYNC_CASE(test_queue_empty, queue_empty)

/* test_full: an unbounded queue is never full; maxsize 1 is after one put. */
static void *queue_full(void *arg) {
    (void)arg;
    reset(0);
    for (int i = 0; i < 100; i++)
        T_EQ(tr_queue_try_put(q, I(i)), 0);
    T_EQ(drain(), 100);
    done();
    reset(1);
    T_EQ(tr_queue_put(q, I(1)), 0);
    T_EQ(tr_queue_try_put(q, I(2)), -EAGAIN);
    T_EQ(tr_queue_size(q), 1);
    T_EQ(drain(), 1);
    done();
    return NULL;
}
SYNC_CASE(test_queue_full, queue_full)

/* test_order */
static void *queue_order(void *arg) {
    (void)arg;
    reset(0);
    int in[3] = {1, 3, 2};
    for (int i = 0; i < 3; i++)
        T_EQ(tr_queue_put(q, I(in[i])), 0);
    for (int i = 0; i < 3; i++) {
        void *item;
        T_EQ(tr_queue_get(q, &item), 0);
        order_add(&result, N_OF(item));
    }
    T_CHECK(ORDER_IS(&result, 1, 3, 2));
    done();
    return NULL;
}
SYNC_CASE(test_queue_order, queue_order)

/* test_maxsize: a putter of three items into maxsize 2 blocks after two; a get lets the third
 * in (moved in by the get itself). */
static void *queue_maxsize(void *arg) {
    (void)arg;
    reset(2);
    struct putter p = {.first = 0, .count = 3, .log = true};
    tr_task *t = spawn(putter, &p);
    settle();
    T_CHECK(ORDER_IS(&result, 0, 1));
    void *item;
    T_EQ(tr_queue_get(q, &item), 0);
    T_EQ(N_OF(item), 0);
    T_EQ(tr_queue_size(q), 2); /* the putter's third item moved in with the get */
    settle();
    T_CHECK(ORDER_IS(&result, 0, 1, 2));
    T_EQ(tr_queue_get(q, &item), 0);
    T_EQ(N_OF(item), 1);
    T_EQ(tr_queue_get(q, &item), 0);
    T_EQ(N_OF(item), 2);
    T_EQ(finish(t), 0);
    T_EQ(p.rc, 0);
    done();
    return NULL;
}
SYNC_CASE(test_queue_maxsize, queue_maxsize)

/* ---- QueueGetTests --------------------------------------------------------------------------- */

/* test_blocking_get */
static void *queue_blocking_get(void *arg) {
    (void)arg;
    reset(0);
    T_EQ(tr_queue_try_put(q, I(1)), 0);
    void *item;
    T_EQ(tr_queue_get(q, &item), 0);
    T_EQ(N_OF(item), 1);
    done();
    return NULL;
}
SYNC_CASE(test_queue_blocking_get, queue_blocking_get)

/* test_get_with_putters: a get from a full queue with a putter waiting wakes the putter, whose
 * item takes the freed slot. */
static void *queue_get_with_putters(void *arg) {
    (void)arg;
    reset(1);
    T_EQ(tr_queue_put(q, I(1)), 0);
    struct putter p = {.first = 2};
    tr_task *t = spawn(putter, &p);
    settle();
    T_CHECK(!tr_task_done(t));
    void *item;
    T_EQ(tr_queue_get(q, &item), 0);
    T_EQ(N_OF(item), 1);
    T_EQ(tr_queue_size(q), 1);
    T_EQ(finish(t), 0);
    T_EQ(p.rc, 0);
    T_EQ(tr_queue_get(q, &item), 0);
    T_EQ(N_OF(item), 2);
    done();
    return NULL;
}
SYNC_CASE(test_queue_get_with_putters, queue_get_with_putters)

/* test_blocking_get_wait: a get waits until a put comes 10 ms later. */
static void *put_later(void *arg) {
    T_EQ(tr_sleep(10 * MS), 0);
    T_EQ(tr_queue_try_put(q, arg), 0);
    return NULL;
}
static void *queue_blocking_get_wait(void *arg) {
    (void)arg;
    reset(0);
    tr_task *t = spawn(put_later, I(1));
    uint64_t t0 = now_ns();
    void *item;
    T_EQ(tr_queue_get(q, &item), 0);
    T_CHECK(now_ns() - t0 >= 10 * MS);
    T_EQ(N_OF(item), 1);
    T_EQ(finish(t), 0);
    done();
    return NULL;
}
SYNC_CASE(test_queue_blocking_get_wait, queue_blocking_get_wait)

/* test_nonblocking_get, test_nonblocking_get_exception */
static void *queue_nonblocking_get(void *arg) {
    (void)arg;
    reset(0);
    void *item = I(7);
    T_EQ(tr_queue_try_get(q, &item), -EAGAIN);
    T_EQ(N_OF(item), 7); /* untouched */
    T_EQ(tr_queue_try_put(q, I(1)), 0);
    T_EQ(tr_queue_try_get(q, &item), 0);
    T_EQ(N_OF(item), 1);
    done();
    return NULL;
}
SYNC_CASE(test_queue_nonblocking_get, queue_nonblocking_get)
SYNC_CASE(test_queue_nonblocking_get_exception, queue_nonblocking_get)

/* test_get_cancelled_race: of two getters the first is cancelled; a put goes to the second. */
static void *queue_get_cancelled_race(void *arg) {
    (void)arg;
    reset(0);
    struct getter g1 = {0}, g2 = {0};
    tr_task *t1 = spawn(getter, &g1);
    tr_task *t2 = spawn(getter, &g2);
    settle();
    cancel(t1);
    settle();
    T_CHECK(tr_task_done(t1));
    T_EQ(tr_queue_put(q, I('a')), 0);
    settle();
    T_EQ(finish(t2), 0);
    T_EQ(g2.rc, 0);
    T_EQ(N_OF(g2.item), 'a');
    T_EQ(finish(t1), -ECANCELED);
    T_EQ(g1.rc, -ECANCELED);
    T_EQ(tr_queue_size(q), 0);
    done();
    return NULL;
}
SYNC_CASE(test_queue_get_cancelled_race, queue_get_cancelled_race)

/* test_get_with_waiting_putters: maxsize 1, two putters ('a' goes in, 'b' waits); gets return
 * 'a' then 'b'. */
static void *queue_get_with_waiting_putters(void *arg) {
    (void)arg;
    reset(1);
    struct putter pa = {.first = 'a'}, pb = {.first = 'b'};
    tr_task *ta = spawn(putter, &pa);
    tr_task *tb = spawn(putter, &pb);
    void *item;
    T_EQ(tr_queue_get(q, &item), 0); /* waits: the putters have not run yet */
    T_EQ(N_OF(item), 'a');
    T_EQ(tr_queue_get(q, &item), 0);
    T_EQ(N_OF(item), 'b');
    T_EQ(finish(ta), 0);
    T_EQ(finish(tb), 0);
    done();
    return NULL;
}
SYNC_CASE(test_queue_get_with_waiting_putters, queue_get_with_waiting_putters)

/* test_why_are_getters_waiting: a producer and a consumer through maxsize 1 finish. */
static void *queue_why_are_getters_waiting(void *arg) {
    (void)arg;
    reset(1);
    struct putter p = {.first = 0, .count = 5};
    struct getter g = {.count = 5, .log = true};
    tr_task *tp = spawn(putter, &p);
    tr_task *tg = spawn(getter, &g);
    T_EQ(finish(tp), 0);
    T_EQ(finish(tg), 0);
    T_EQ(p.put, 5);
    T_CHECK(ORDER_IS(&result, 0, 1, 2, 3, 4));
    done();
    return NULL;
}
SYNC_CASE(test_queue_why_are_getters_waiting, queue_why_are_getters_waiting)

/* test_cancelled_getters_not_being_held_in_self_getters: a get that timed out leaves no
 * getter behind (the queue frees; a put is queued, not handed to it). */
static void *queue_cancelled_getters_not_held(void *arg) {
    (void)arg;
    reset(5);
    tr_deadline d;
    uint64_t t0 = now_ns();
    T_EQ(tr_deadline_begin(&d, 20 * MS), 0);
    void *item = I(7);
    T_EQ(tr_queue_get(q, &item), -ETIME);
    tr_deadline_end(&d);
    T_CHECK(now_ns() - t0 >= 20 * MS);
    T_EQ(N_OF(item), 7);
    T_EQ(tr_queue_try_put(q, I(1)), 0);
    T_EQ(tr_queue_size(q), 1);
    T_EQ(drain(), 1);
    done();
    return NULL;
}
SYNC_CASE(test_queue_cancelled_getters_not_being_held_in_self_getters,
          queue_cancelled_getters_not_held)

/* ---- QueuePutTests --------------------------------------------------------------------------- */

/* test_blocking_put, test_nonblocking_put */
static void *queue_blocking_put(void *arg) {
    (void)arg;
    reset(0);
    T_EQ(tr_queue_put(q, I(1)), 0);
    void *item;
    T_EQ(tr_queue_get(q, &item), 0);
    T_EQ(N_OF(item), 1);
    T_EQ(tr_queue_try_put(q, I(2)), 0);
    T_EQ(tr_queue_try_get(q, &item), 0);
    T_EQ(N_OF(item), 2);
    done();
    return NULL;
}
SYNC_CASE(test_queue_blocking_put, queue_blocking_put)
SYNC_CASE(test_queue_nonblocking_put, queue_blocking_put)

/* test_blocking_put_wait: the second put into maxsize 1 waits until a get 10 ms later. */
static void *get_later(void *arg) {
    (void)arg;
    T_EQ(tr_sleep(10 * MS), 0);
    void *item;
    T_EQ(tr_queue_try_get(q, &item), 0);
    T_EQ(N_OF(item), 1);
    return NULL;
}
static void *queue_blocking_put_wait(void *arg) {
    (void)arg;
    reset(1);
    tr_task *t = spawn(get_later, NULL);
    uint64_t t0 = now_ns();
    T_EQ(tr_queue_put(q, I(1)), 0);
    T_EQ(tr_queue_put(q, I(2)), 0);
    T_CHECK(now_ns() - t0 >= 10 * MS);
    T_EQ(finish(t), 0);
    void *item;
    T_EQ(tr_queue_try_get(q, &item), 0);
    T_EQ(N_OF(item), 2);
    done();
    return NULL;
}
SYNC_CASE(test_queue_blocking_put_wait, queue_blocking_put_wait)

/* test_get_cancel_drop_one_pending_reader: a getter handed item 1 and then cancelled keeps it
 * (asyncio puts it back; here it was the getter's at the put): nothing is dropped. */
static void *queue_get_cancel_drop_one(void *arg) {
    (void)arg;
    reset(0);
    struct getter g = {.then_wait = true};
    tr_task *t = spawn(getter, &g);
    settle();
    T_EQ(tr_queue_try_put(q, I(1)), 0); /* handed to the getter */
    T_EQ(tr_queue_try_put(q, I(2)), 0);
    cancel(t);
    T_EQ(finish(t), -ECANCELED);
    T_EQ(g.rc, 0);
    T_EQ(N_OF(g.item), 1); /* had we got 2, 1 would have been dropped */
    T_EQ(g.next_rc, -ECANCELED);
    void *item;
    T_EQ(tr_queue_get(q, &item), 0);
    T_EQ(N_OF(item), 2);
    done();
    return NULL;
}
SYNC_CASE(test_queue_get_cancel_drop_one_pending_reader, queue_get_cancel_drop_one)

/* test_get_cancel_drop_many_pending_readers: three getters, two puts, the first getter
 * cancelled: the two items end with two getters, none is lost. */
static void *queue_get_cancel_drop_many(void *arg) {
    (void)arg;
    reset(0);
    struct getter g[3] = {{0}, {0}, {0}};
    tr_task *t[3];
    for (int i = 0; i < 3; i++)
        t[i] = spawn(getter, &g[i]);
    settle();
    T_EQ(tr_queue_try_put(q, I(1)), 0);
    T_EQ(tr_queue_try_put(q, I(2)), 0);
    cancel(t[0]);
    settle();
    int got = 0, sum = 0, waiting = 0;
    for (int i = 0; i < 3; i++) {
        if (!tr_task_done(t[i])) {
            waiting++;
            continue;
        }
        if (g[i].rc == 0) {
            got++;
            sum += N_OF(g[i].item);
        }
    }
    T_EQ(got, 2);
    T_EQ(sum, 3);
    T_EQ(waiting, 1); /* the cancelled first getter kept item 1 (owned); the third waits */
    T_EQ(tr_queue_size(q), 0);
    for (int i = 0; i < 3; i++)
        if (!tr_task_done(t[i]))
            cancel(t[i]);
    for (int i = 0; i < 3; i++)
        (void)finish(t[i]);
    done();
    return NULL;
}
SYNC_CASE(test_queue_get_cancel_drop_many_pending_readers, queue_get_cancel_drop_many)

/* test_put_cancel_drop: maxsize 1 full, a putter of 2 waits; a get takes 1 and moves 2 in;
 * the putter cancelled then still returns 0 (its item is in); 2 is there, once. */
static void *queue_put_cancel_drop(void *arg) {
    (void)arg;
    reset(1);
    T_EQ(tr_queue_try_put(q, I(1)), 0);
    struct putter p = {.first = 2};
    tr_task *t = spawn(putter, &p);
    settle();
    void *item;
    T_EQ(tr_queue_try_get(q, &item), 0);
    T_EQ(N_OF(item), 1);
    cancel(t);
    T_EQ(finish(t), -ECANCELED); /* finished cancelled ... */
    T_EQ(p.rc, 0);               /* ... after its put succeeded */
    T_EQ(tr_queue_try_get(q, &item), 0);
    T_EQ(N_OF(item), 2);
    T_EQ(tr_queue_size(q), 0);
    done();
    return NULL;
}
SYNC_CASE(test_queue_put_cancel_drop, queue_put_cancel_drop)

/* test_nonblocking_put_exception */
static void *queue_nonblocking_put_exception(void *arg) {
    (void)arg;
    reset(1);
    T_EQ(tr_queue_try_put(q, I(1)), 0);
    T_EQ(tr_queue_try_put(q, I(2)), -EAGAIN);
    T_EQ(drain(), 1);
    done();
    return NULL;
}
SYNC_CASE(test_queue_nonblocking_put_exception, queue_nonblocking_put_exception)

/* test_put_cancelled: a put to a waiting getter completes. */
static void *queue_put_cancelled(void *arg) {
    (void)arg;
    reset(0);
    struct putter p = {.first = 1};
    tr_task *t = spawn(putter, &p);
    void *item;
    T_EQ(tr_queue_get(q, &item), 0);
    T_EQ(N_OF(item), 1);
    T_CHECK(tr_task_done(t));
    T_EQ(finish(t), 0);
    T_EQ(p.rc, 0);
    done();
    return NULL;
}
SYNC_CASE(test_queue_put_cancelled, queue_put_cancelled)

/* test_put_cancelled_race: maxsize 1; 'a' goes in, 'b' and 'X' wait; 'X' is cancelled; gets
 * give 'a', then 'b'. */
static void *queue_put_cancelled_race(void *arg) {
    (void)arg;
    reset(1);
    struct putter pa = {.first = 'a'}, pb = {.first = 'b'}, pc = {.first = 'X'};
    tr_task *ta = spawn(putter, &pa);
    tr_task *tb = spawn(putter, &pb);
    tr_task *tc = spawn(putter, &pc);
    settle();
    T_CHECK(tr_task_done(ta));
    T_CHECK(!tr_task_done(tb));
    cancel(tc);
    settle();
    T_CHECK(tr_task_done(tc));
    void *item;
    T_EQ(tr_queue_try_get(q, &item), 0);
    T_EQ(N_OF(item), 'a');
    settle();
    T_EQ(tr_queue_try_get(q, &item), 0);
    T_EQ(N_OF(item), 'b');
    T_EQ(finish(tb), 0);
    T_EQ(finish(ta), 0);
    T_EQ(finish(tc), -ECANCELED);
    T_EQ(pc.rc, -ECANCELED);
    T_EQ(tr_queue_size(q), 0);
    done();
    return NULL;
}
SYNC_CASE(test_queue_put_cancelled_race, queue_put_cancelled_race)

/* test_put_with_waiting_getters */
static void *queue_put_with_waiting_getters(void *arg) {
    (void)arg;
    reset(0);
    struct getter g = {0};
    tr_task *t = spawn(getter, &g);
    settle();
    T_EQ(tr_queue_put(q, I('a')), 0);
    T_EQ(tr_queue_size(q), 0); /* handed over, never queued */
    T_EQ(finish(t), 0);
    T_EQ(N_OF(g.item), 'a');
    done();
    return NULL;
}
SYNC_CASE(test_queue_put_with_waiting_getters, queue_put_with_waiting_getters)

/* test_why_are_putters_waiting: four putters into maxsize 2, a getter that takes what is
 * there with try_get after a yield: everyone finishes. */
static void *try_get_some(void *arg) {
    (void)arg;
    T_EQ(tr_yield(), 0);
    size_t n = tr_queue_size(q);
    for (size_t i = 0; i < n; i++) {
        void *item;
        T_EQ(tr_queue_try_get(q, &item), 0);
    }
    return NULL;
}
static void *queue_why_are_putters_waiting(void *arg) {
    (void)arg;
    reset(2);
    tr_task *tg = spawn(try_get_some, NULL);
    struct putter p[4];
    tr_task *t[4];
    for (int i = 0; i < 4; i++) {
        p[i] = (struct putter){.first = i};
        t[i] = spawn(putter, &p[i]);
    }
    T_EQ(finish(tg), 0);
    for (int i = 0; i < 4; i++) {
        T_EQ(finish(t[i]), 0);
        T_EQ(p[i].rc, 0);
    }
    T_EQ(drain(), 2);
    done();
    return NULL;
}
SYNC_CASE(test_queue_why_are_putters_waiting, queue_why_are_putters_waiting)

/* test_cancelled_puts_not_being_held_in_self_putters */
static void *queue_cancelled_puts_not_held(void *arg) {
    (void)arg;
    reset(1);
    T_EQ(tr_queue_try_put(q, I(1)), 0);
    struct putter p = {.first = 1};
    tr_task *t = spawn(putter, &p);
    settle();
    T_EQ(tr_queue_free(q), -EBUSY); /* one putter waits */
    cancel(t);
    T_EQ(finish(t), -ECANCELED);
    T_EQ(p.rc, -ECANCELED);
    T_EQ(drain(), 1);
    done(); /* none waits */
    return NULL;
}
SYNC_CASE(test_queue_cancelled_puts_not_being_held_in_self_putters, queue_cancelled_puts_not_held)

/* test_cancelled_put_silence_value_error_exception: a get took the putter's item in, then
 * the putter is cancelled: no error, and its put counts (returns 0). */
static void *queue_cancelled_put_silence(void *arg) {
    (void)arg;
    reset(1);
    T_EQ(tr_queue_try_put(q, I(1)), 0);
    struct putter p = {.first = 2};
    tr_task *t = spawn(putter, &p);
    settle();
    void *item;
    T_EQ(tr_queue_try_get(q, &item), 0);
    cancel(t);
    T_EQ(finish(t), -ECANCELED);
    T_EQ(p.rc, 0);
    T_EQ(drain(), 1);
    done();
    return NULL;
}
SYNC_CASE(test_queue_cancelled_put_silence_value_error_exception, queue_cancelled_put_silence)

/* ---- _QueueJoinTestMixin --------------------------------------------------------------------- */

/* test_task_done_underflow */
static void *queue_task_done_underflow(void *arg) {
    (void)arg;
    reset(0);
    T_EQ(tr_queue_task_done(q), -EINVAL);
    T_EQ(tr_queue_try_put(q, I(1)), 0);
    T_EQ(tr_queue_task_done(q), 0); /* counts puts, not gets */
    T_EQ(tr_queue_task_done(q), -EINVAL);
    T_EQ(drain(), 1);
    done();
    return NULL;
}
SYNC_CASE(test_queue_task_done_underflow, queue_task_done_underflow)

/* test_task_done: two workers sum 100 items with task_done after each; join returns once all
 * are done; the workers are stopped with sentinel items. */
static int accumulator;
static void *worker(void *arg) {
    (void)arg;
    for (;;) {
        void *item;
        if (tr_queue_get(q, &item) < 0)
            return NULL;
        if (N_OF(item) < 0) {
            T_EQ(tr_queue_task_done(q), 0);
            return NULL;
        }
        accumulator += N_OF(item);
        T_EQ(tr_yield(), 0);
        T_EQ(tr_queue_task_done(q), 0);
    }
}
static void *queue_task_done(void *arg) {
    (void)arg;
    reset(0);
    accumulator = 0;
    for (int i = 0; i < 100; i++)
        T_EQ(tr_queue_try_put(q, I(i)), 0);
    tr_task *w1 = spawn(worker, NULL), *w2 = spawn(worker, NULL);
    T_EQ(tr_queue_join(q), 0);
    T_EQ(accumulator, 99 * 100 / 2);
    T_EQ(tr_queue_try_put(q, I(-1)), 0);
    T_EQ(tr_queue_try_put(q, I(-1)), 0);
    T_EQ(finish(w1), 0);
    T_EQ(finish(w2), 0);
    T_EQ(tr_queue_join(q), 0);
    done();
    return NULL;
}
SYNC_CASE(test_queue_task_done, queue_task_done)

/* test_join_empty_queue */
static void *queue_join_empty(void *arg) {
    (void)arg;
    reset(0);
    T_EQ(tr_queue_join(q), 0);
    T_EQ(tr_queue_join(q), 0);
    done();
    return NULL;
}
SYNC_CASE(test_queue_join_empty_queue, queue_join_empty)

/* ---- _QueueShutdownTestMixin ----------------------------------------------------------------- */

/* test_shutdown_empty: a waiting getter gets -ESHUTDOWN; join returns; every put and get after
 * it gets -ESHUTDOWN. */
static void *queue_shutdown_empty(void *arg) {
    (void)arg;
    reset(0);
    struct getter g = {0};
    tr_task *t = spawn(getter, &g);
    settle();
    T_EQ(tr_queue_shutdown(q, false), 0);
    T_EQ(tr_queue_size(q), 0);
    T_EQ(tr_queue_join(q), 0);
    settle();
    T_CHECK(tr_task_done(t));
    T_EQ(finish(t), 0);
    T_EQ(g.rc, -ESHUTDOWN);
    T_EQ(tr_queue_put(q, I(1)), -ESHUTDOWN);
    T_EQ(tr_queue_try_put(q, I(1)), -ESHUTDOWN);
    void *item;
    T_EQ(tr_queue_get(q, &item), -ESHUTDOWN);
    T_EQ(tr_queue_try_get(q, &item), -ESHUTDOWN);
    done();
    return NULL;
}
SYNC_CASE(test_queue_shutdown_empty, queue_shutdown_empty)

/* test_shutdown_nonempty: maxsize 1 full with a joiner and a putter waiting; shutdown: the
 * putter gets -ESHUTDOWN, the item stays and can be got; join waits for its task_done. */
static void *queue_shutdown_nonempty(void *arg) {
    (void)arg;
    reset(1);
    T_EQ(tr_queue_try_put(q, I('d')), 0);
    int join_rc = 1;
    tr_task *tj = spawn(joiner, &join_rc);
    struct putter p = {.first = 2};
    tr_task *tp = spawn(putter, &p);
    settle();
    T_CHECK(!tr_task_done(tp));
    T_EQ(tr_queue_shutdown(q, false), 0);
    T_EQ(tr_queue_size(q), 1);
    settle();
    T_CHECK(tr_task_done(tp));
    T_EQ(p.rc, -ESHUTDOWN);
    void *item;
    T_EQ(tr_queue_get(q, &item), 0);
    T_EQ(N_OF(item), 'd');
    settle();
    T_CHECK(!tr_task_done(tj));
    T_EQ(tr_queue_put(q, I(1)), -ESHUTDOWN);
    T_EQ(tr_queue_try_put(q, I(1)), -ESHUTDOWN);
    T_EQ(tr_queue_get(q, &item), -ESHUTDOWN);
    T_EQ(tr_queue_try_get(q, &item), -ESHUTDOWN);
    T_EQ(tr_queue_task_done(q), 0);
    settle();
    T_CHECK(tr_task_done(tj));
    T_EQ(finish(tj), 0);
    T_EQ(join_rc, 0);
    T_EQ(finish(tp), 0);
    T_EQ(tr_queue_task_done(q), -EINVAL);
    done();
    return NULL;
}
SYNC_CASE(test_queue_shutdown_nonempty, queue_shutdown_nonempty)

/* test_shutdown_immediate: the queued item is dropped (counted as done): join returns. */
static void *queue_shutdown_immediate(void *arg) {
    (void)arg;
    reset(0);
    T_EQ(tr_queue_try_put(q, I(1)), 0);
    int join_rc = 1;
    tr_task *tj = spawn(joiner, &join_rc);
    settle();
    T_EQ(tr_queue_shutdown(q, true), 0);
    T_EQ(tr_queue_size(q), 0);
    settle();
    T_CHECK(tr_task_done(tj));
    T_EQ(finish(tj), 0);
    T_EQ(join_rc, 0);
    T_EQ(tr_queue_put(q, I(1)), -ESHUTDOWN);
    T_EQ(tr_queue_try_put(q, I(1)), -ESHUTDOWN);
    void *item;
    T_EQ(tr_queue_get(q, &item), -ESHUTDOWN);
    T_EQ(tr_queue_try_get(q, &item), -ESHUTDOWN);
    T_EQ(tr_queue_task_done(q), -EINVAL);
    done();
    return NULL;
}
SYNC_CASE(test_queue_shutdown_immediate, queue_shutdown_immediate)

/* test_shutdown_immediate_with_unfinished: two put, one got (not yet done): the immediate
 * shutdown drops the other; join waits for the one outstanding task_done. */
static void *queue_shutdown_immediate_unfinished(void *arg) {
    (void)arg;
    reset(0);
    T_EQ(tr_queue_try_put(q, I(1)), 0);
    T_EQ(tr_queue_try_put(q, I(2)), 0);
    int join_rc = 1;
    tr_task *tj = spawn(joiner, &join_rc);
    void *item;
    T_EQ(tr_queue_get(q, &item), 0);
    T_EQ(tr_queue_shutdown(q, true), 0);
    T_EQ(tr_queue_size(q), 0);
    settle();
    T_CHECK(!tr_task_done(tj));
    T_EQ(tr_queue_put(q, I(1)), -ESHUTDOWN);
    T_EQ(tr_queue_get(q, &item), -ESHUTDOWN);
    T_EQ(tr_queue_task_done(q), 0);
    T_EQ(tr_queue_task_done(q), -EINVAL);
    settle();
    T_CHECK(tr_task_done(tj));
    T_EQ(finish(tj), 0);
    T_EQ(join_rc, 0);
    done();
    return NULL;
}
SYNC_CASE(test_queue_shutdown_immediate_with_unfinished, queue_shutdown_immediate_unfinished)

/* test_shutdown_immediate_get (3.13 development): getters waiting on an empty queue get
 * -ESHUTDOWN from an immediate shutdown; with items queued, an immediate shutdown makes them
 * -ESHUTDOWN at once too, where a plain one lets them drain first. */
static void *queue_shutdown_immediate_get(void *arg) {
    (void)arg;
    reset(0);
    struct getter g[2] = {{0}, {0}};
    tr_task *t[2] = {spawn(getter, &g[0]), spawn(getter, &g[1])};
    settle();
    T_EQ(tr_queue_shutdown(q, true), 0);
    for (int i = 0; i < 2; i++) {
        T_EQ(finish(t[i]), 0);
        T_EQ(g[i].rc, -ESHUTDOWN);
    }
    done();
    reset(0);
    T_EQ(tr_queue_try_put(q, I(1)), 0);
    T_EQ(tr_queue_shutdown(q, false), 0);
    void *item;
    T_EQ(tr_queue_get(q, &item), 0); /* drains */
    T_EQ(tr_queue_get(q, &item), -ESHUTDOWN);
    done();
    return NULL;
}
SYNC_CASE(test_queue_shutdown_immediate_get, queue_shutdown_immediate_get)

/* test_shutdown_put, test_shutdown_immediate_put, test_shutdown_put_and_join,
 * test_shutdown_immediate_put_and_join: putters waiting on a full queue get -ESHUTDOWN;
 * joiners return once the queued items are done (immediate: dropped, so at once). */
static void *shutdown_put_and_join(void *arg) {
    bool immediate = arg != NULL;
    reset(2);
    T_EQ(tr_queue_put(q, I('Y')), 0);
    T_EQ(tr_queue_put(q, I('D')), 0);
    struct putter p[2] = {{.first = 'E'}, {.first = 'W'}};
    int join_rc[2] = {1, 1};
    tr_task *tp[2] = {spawn(putter, &p[0]), spawn(putter, &p[1])};
    tr_task *tj[2] = {spawn(joiner, &join_rc[0]), spawn(joiner, &join_rc[1])};
    settle();
    T_EQ(tr_queue_shutdown(q, immediate), 0);
    for (int i = 0; i < 2; i++) {
        T_EQ(finish(tp[i]), 0);
        T_EQ(p[i].rc, -ESHUTDOWN);
    }
    if (!immediate) {
        settle();
        T_CHECK(!tr_task_done(tj[0]) && !tr_task_done(tj[1]));
        T_EQ(drain(), 2);
        T_EQ(tr_queue_task_done(q), 0);
        T_EQ(tr_queue_task_done(q), 0);
    }
    for (int i = 0; i < 2; i++) {
        T_EQ(finish(tj[i]), 0);
        T_EQ(join_rc[i], 0);
    }
    T_EQ(tr_queue_size(q), 0);
    done();
    return NULL;
}
static void test_queue_shutdown_put(void **state) {
    (void)state;
    sync_run(shutdown_put_and_join, NULL);
}
static void test_queue_shutdown_immediate_put(void **state) {
    (void)state;
    sync_run(shutdown_put_and_join, (void *)1);
}
static void test_queue_shutdown_put_and_join(void **state) {
    (void)state;
    sync_run(shutdown_put_and_join, NULL);
}
static void test_queue_shutdown_immediate_put_and_join(void **state) {
    (void)state;
    sync_run(shutdown_put_and_join, (void *)1);
}

/* test_shutdown_transition: plain, then immediate (drops what is left), then plain again
 * (changes nothing). */
static void *queue_shutdown_transition(void *arg) {
    (void)arg;
    reset(0);
    T_EQ(tr_queue_try_put(q, I(1)), 0);
    T_EQ(tr_queue_try_put(q, I(2)), 0);
    T_EQ(tr_queue_shutdown(q, false), 0);
    T_EQ(tr_queue_size(q), 2);
    T_EQ(tr_queue_shutdown(q, true), 0);
    T_EQ(tr_queue_size(q), 0);
    T_EQ(tr_queue_shutdown(q, false), 0);
    void *item;
    T_EQ(tr_queue_try_get(q, &item), -ESHUTDOWN);
    T_EQ(tr_queue_join(q), 0);
    done();
    return NULL;
}
SYNC_CASE(test_queue_shutdown_transition, queue_shutdown_transition)

/* ---- owned hand-overs, order ----------------------------------------------------------------- */

/* A getter handed an item and cancelled before it runs keeps the item; a putter whose item a
 * get took in, cancelled before it runs, returns 0 (the item is in the queue); a joiner woken
 * and cancelled returns -ECANCELED (nothing was handed over). */
static void *queue_owned_handovers(void *arg) {
    (void)arg;
    reset(1);
    struct getter g = {.then_wait = true};
    tr_task *tg = spawn(getter, &g);
    settle();
    T_EQ(tr_queue_put(q, NULL), 0); /* NULL is an item */
    cancel(tg);
    T_EQ(finish(tg), -ECANCELED);
    T_EQ(g.rc, 0);
    T_CHECK(g.item == NULL);
    T_EQ(g.next_rc, -ECANCELED);
    T_EQ(tr_queue_size(q), 0);

    T_EQ(tr_queue_put(q, I(1)), 0);
    struct putter p = {.first = 2};
    tr_task *tp = spawn(putter, &p);
    settle();
    void *item;
    T_EQ(tr_queue_get(q, &item), 0); /* moves 2 in */
    cancel(tp);
    T_EQ(finish(tp), -ECANCELED);
    T_EQ(p.rc, 0);
    T_EQ(tr_queue_size(q), 1);

    int join_rc = 1;
    tr_task *tj = spawn(joiner, &join_rc);
    settle();
    T_EQ(tr_queue_try_get(q, &item), 0);
    T_EQ(N_OF(item), 2);
    T_EQ(tr_queue_task_done(q), 0); /* NULL */
    T_EQ(tr_queue_task_done(q), 0); /* 1 */
    T_EQ(tr_queue_task_done(q), 0); /* 2: the count is 0, the joiner woken */
    cancel(tj);
    T_EQ(finish(tj), -ECANCELED);
    T_EQ(join_rc, -ECANCELED);
    done();
    return NULL;
}
SYNC_CASE(test_queue_owned_handovers_survive_cancellation, queue_owned_handovers)

/* Getters are served, and waiting putters' items enter, in the order they began to wait. */
static void *queue_fifo_order(void *arg) {
    (void)arg;
    reset(1);
    enum { N = 8 };
    struct getter g[N];
    tr_task *t[N];
    for (int i = 0; i < N; i++) {
        g[i] = (struct getter){.log = true};
        t[i] = spawn(getter, &g[i]);
        settle();
    }
    for (int i = 0; i < N; i++)
        T_EQ(tr_queue_try_put(q, I(100 + i)), 0);
    for (int i = 0; i < N; i++) {
        T_EQ(finish(t[i]), 0);
        T_EQ(N_OF(g[i].item), 100 + i);
    }
    T_EQ(tr_queue_try_put(q, I(0)), 0); /* full */
    struct putter p[N];
    for (int i = 0; i < N; i++) {
        p[i] = (struct putter){.first = 200 + i};
        t[i] = spawn(putter, &p[i]);
        settle();
    }
    result.n = 0;
    for (int i = 0; i <= N; i++) {
        void *item;
        T_EQ(tr_queue_try_get(q, &item), 0);
        order_add(&result, N_OF(item));
    }
    T_CHECK(ORDER_IS(&result, 0, 200, 201, 202, 203, 204, 205, 206, 207));
    for (int i = 0; i < N; i++)
        T_EQ(finish(t[i]), 0);
    done();
    return NULL;
}
SYNC_CASE(test_queue_fifo_order, queue_fifo_order)

/* Unbounded, and bounded beyond the preallocated ring: the ring grows, order is kept. */
static void *queue_growth(void *arg) {
    (void)arg;
    size_t sizes[] = {0, 5000};
    for (size_t s = 0; s < 2; s++) {
        reset(sizes[s]);
        for (int i = 0; i < 3; i++)
            T_EQ(tr_queue_try_put(q, I(-1)), 0); /* the ring's head away from slot 0 */
        T_EQ(drain(), 3);
        for (int i = 0; i < 5000; i++)
            T_EQ(tr_queue_try_put(q, I(i)), 0);
        T_EQ(tr_queue_size(q), 5000);
        T_EQ(tr_queue_try_put(q, I(5000)), sizes[s] ? -EAGAIN : 0);
        bool in_order = true;
        for (int i = 0; i < 5000; i++) {
            void *item;
            T_EQ(tr_queue_try_get(q, &item), 0);
            in_order = in_order && N_OF(item) == i;
        }
        T_CHECK(in_order);
        (void)drain();
        done();
    }
    return NULL;
}
SYNC_CASE(test_queue_ring_grows_in_order, queue_growth)

/* ---- deadlines, cancellation before the call ------------------------------------------------- */

static void *queue_deadlines(void *arg) {
    (void)arg;
    reset(1);
    tr_deadline d;
    void *item;
    uint64_t t0 = now_ns();
    T_EQ(tr_deadline_begin(&d, 20 * MS), 0);
    T_EQ(tr_queue_get(q, &item), -ETIME); /* empty */
    tr_deadline_end(&d);
    T_CHECK(now_ns() - t0 >= 20 * MS);
    T_EQ(tr_queue_put(q, I(1)), 0);
    t0 = now_ns();
    T_EQ(tr_deadline_begin(&d, 20 * MS), 0);
    T_EQ(tr_queue_put(q, I(2)), -ETIME); /* full */
    tr_deadline_end(&d);
    T_CHECK(now_ns() - t0 >= 20 * MS);
    t0 = now_ns();
    T_EQ(tr_deadline_begin(&d, 20 * MS), 0);
    T_EQ(tr_queue_join(q), -ETIME); /* one unfinished */
    tr_deadline_end(&d);
    T_CHECK(now_ns() - t0 >= 20 * MS);
    /* Past the deadline, what needs no wait still happens. */
    T_EQ(tr_deadline_begin(&d, 0), 0);
    T_EQ(tr_queue_put(q, I(3)), -ETIME);
    T_EQ(tr_queue_get(q, &item), 0);
    T_EQ(N_OF(item), 1);
    T_EQ(tr_queue_put(q, I(4)), 0);
    T_EQ(tr_queue_task_done(q), 0);
    T_EQ(tr_queue_join(q), -ETIME); /* 4 is unfinished */
    T_EQ(tr_queue_get(q, &item), 0);
    T_EQ(N_OF(item), 4);
    T_EQ(tr_queue_get(q, &item), -ETIME);
    T_EQ(tr_queue_task_done(q), 0);
    T_EQ(tr_queue_join(q), 0);
    tr_deadline_end(&d);
    done();
    return NULL;
}
SYNC_CASE(test_queue_deadlines, queue_deadlines)

static void *queue_cancel_before(void *arg) {
    (void)arg;
    reset(2);
    T_EQ(tr_queue_put(q, I(1)), 0);
    T_EQ(tr_task_cancel(tr_current()), 1);
    void *item = I(9);
    T_EQ(tr_queue_get(q, &item), -ECANCELED); /* the item stays */
    T_EQ(N_OF(item), 9);
    T_EQ(tr_queue_put(q, I(2)), -ECANCELED);
    T_EQ(tr_queue_join(q), -ECANCELED);
    T_EQ(tr_queue_size(q), 1);
    T_EQ(tr_queue_try_put(q, I(2)), 0); /* the try forms are cleanup */
    T_EQ(tr_queue_try_get(q, &item), 0);
    T_EQ(N_OF(item), 1);
    tr_shield s;
    T_EQ(tr_shield_begin(&s), 0);
    T_EQ(tr_queue_get(q, &item), 0);
    T_EQ(N_OF(item), 2);
    T_EQ(tr_queue_task_done(q), 0);
    T_EQ(tr_queue_task_done(q), 0);
    T_EQ(tr_queue_join(q), 0);
    tr_shield_end(&s);
    T_EQ(tr_queue_shutdown(q, false), 0);
    done();
    return NULL;
}
static void test_queue_cancel_before_the_call(void **state) {
    (void)state;
    T_EQ(tr_run(queue_cancel_before, NULL, NULL), -ECANCELED);
    assert_int_equal(sync_failures, 0);
}

/* ---- bad input ------------------------------------------------------------------------------ */

static void *queue_bad_input(void *arg) {
    (void)arg;
    void *item;
    T_EQ(tr_queue_free(NULL), 0);
    T_EQ(tr_queue_put(NULL, NULL), -EINVAL);
    T_EQ(tr_queue_try_put(NULL, NULL), -EINVAL);
    T_EQ(tr_queue_get(NULL, &item), -EINVAL);
    T_EQ(tr_queue_try_get(NULL, &item), -EINVAL);
    T_EQ(tr_queue_size(NULL), 0);
    T_EQ(tr_queue_shutdown(NULL, false), -EINVAL);
    T_EQ(tr_queue_task_done(NULL), -EINVAL);
    T_EQ(tr_queue_join(NULL), -EINVAL);
    reset(1);
    T_EQ(tr_queue_get(q, NULL), -EINVAL);
    T_EQ(tr_queue_try_get(q, NULL), -EINVAL);
    /* Free with a getter, a putter, a joiner waiting: -EBUSY each time. */
    struct getter g = {0};
    tr_task *t = spawn(getter, &g);
    settle();
    T_EQ(tr_queue_free(q), -EBUSY);
    T_EQ(tr_queue_put(q, I(1)), 0);
    T_EQ(finish(t), 0);
    T_EQ(tr_queue_put(q, I(2)), 0);
    struct putter p = {.first = 3};
    t = spawn(putter, &p);
    settle();
    T_EQ(tr_queue_free(q), -EBUSY);
    T_EQ(tr_queue_get(q, &item), 0);
    T_EQ(finish(t), 0);
    int join_rc = 1;
    t = spawn(joiner, &join_rc);
    settle();
    T_EQ(tr_queue_free(q), -EBUSY);
    T_EQ(tr_queue_shutdown(q, true), 0); /* drops 3; 1 and 2 still unfinished */
    settle();
    T_CHECK(!tr_task_done(t));
    for (int i = 0; i < 2; i++)
        T_EQ(tr_queue_task_done(q), 0);
    T_EQ(finish(t), 0);
    T_EQ(join_rc, 0);
    done();
    return NULL;
}
SYNC_CASE(test_queue_bad_input, queue_bad_input)

static void test_queue_outside_task(void **state) {
    (void)state;
    errno = 0;
    assert_null(tr_queue_new(0));
    assert_int_equal(errno, EPERM);
}

int main(int argc, char **argv) {
    sync_parse_args(argc, argv);
    const struct CMUnitTest tests[] = {
        SYNC_TEST(test_queue_empty),
        SYNC_TEST(test_queue_full),
        SYNC_TEST(test_queue_order),
        SYNC_TEST(test_queue_maxsize),
        SYNC_TEST(test_queue_blocking_get),
        SYNC_TEST(test_queue_get_with_putters),
        SYNC_TEST(test_queue_blocking_get_wait),
        SYNC_TEST(test_queue_nonblocking_get),
        SYNC_TEST(test_queue_nonblocking_get_exception),
        SYNC_TEST(test_queue_get_cancelled_race),
        SYNC_TEST(test_queue_get_with_waiting_putters),
        SYNC_TEST(test_queue_why_are_getters_waiting),
        SYNC_TEST(test_queue_cancelled_getters_not_being_held_in_self_getters),
        SYNC_TEST(test_queue_blocking_put),
        SYNC_TEST(test_queue_blocking_put_wait),
        SYNC_TEST(test_queue_nonblocking_put),
        SYNC_TEST(test_queue_get_cancel_drop_one_pending_reader),
        SYNC_TEST(test_queue_get_cancel_drop_many_pending_readers),
        SYNC_TEST(test_queue_put_cancel_drop),
        SYNC_TEST(test_queue_nonblocking_put_exception),
        SYNC_TEST(test_queue_put_cancelled),
        SYNC_TEST(test_queue_put_cancelled_race),
        SYNC_TEST(test_queue_put_with_waiting_getters),
        SYNC_TEST(test_queue_why_are_putters_waiting),
        SYNC_TEST(test_queue_cancelled_puts_not_being_held_in_self_putters),
        SYNC_TEST(test_queue_cancelled_put_silence_value_error_exception),
        SYNC_TEST(test_queue_task_done_underflow),
        SYNC_TEST(test_queue_task_done),
        SYNC_TEST(test_queue_join_empty_queue),
        SYNC_TEST(test_queue_shutdown_empty),
        SYNC_TEST(test_queue_shutdown_nonempty),
        SYNC_TEST(test_queue_shutdown_immediate),
        SYNC_TEST(test_queue_shutdown_immediate_with_unfinished),
        SYNC_TEST(test_queue_shutdown_immediate_get),
        SYNC_TEST(test_queue_shutdown_put),
        SYNC_TEST(test_queue_shutdown_immediate_put),
        SYNC_TEST(test_queue_shutdown_put_and_join),
        SYNC_TEST(test_queue_shutdown_immediate_put_and_join),
        SYNC_TEST(test_queue_shutdown_transition),
        SYNC_TEST(test_queue_owned_handovers_survive_cancellation),
        SYNC_TEST(test_queue_fifo_order),
        SYNC_TEST(test_queue_ring_grows_in_order),
        SYNC_TEST(test_queue_deadlines),
        SYNC_TEST(test_queue_cancel_before_the_call),
        SYNC_TEST(test_queue_bad_input),
        SYNC_TEST(test_queue_outside_task),
    };
    return test_result(cmocka_run_group_tests(tests, NULL, NULL));
}
