/*
 * When every task waits and nothing can wake them, tr_run used to abort the process. It now
 * reports each stuck task with what it waits for and each wait cycle (to tr_options.report,
 * or stderr), cancels the stuck tasks through their shields so that they clean up, and
 * returns -EDEADLK. Go's "all goroutines are asleep", with names and the cycle.
 */
#include "regress.h"

#define MS 1000000ull

struct captured {
    char text[8192];
    int calls;
};

static void capture(void *ctx, const char *text) {
    struct captured *c = ctx;
    c->calls++;
    snprintf(c->text + strlen(c->text), sizeof c->text - strlen(c->text), "%s", text);
}

static int run_captured(tr_fn fn, void *arg, struct captured *c, void **result) {
    memset(c, 0, sizeof *c);
    tr_options opts = {.report = capture, .report_ctx = c};
    return tr_run_with(&opts, fn, arg, result);
}

/* 1. The main task waits for an event nobody will set. */
static void *never_set(void *arg) {
    tr_event *e = tr_event_new();
    CHECK(e != NULL);
    int rc = tr_event_wait(e);
    *(int *)arg = rc;
    CHECK_EQ(tr_event_free(e), 0);
    return NULL;
}

/* 2. Two tasks take two locks in opposite orders; main awaits one of them. */
struct locks {
    tr_lock *a, *b;
    int released; /* cleanup ran in both */
};

/* The last one out frees the locks: a cancelled main cannot wait for the holders. */
static void done_with(struct locks *l) {
    if (++l->released == 2) {
        CHECK_EQ(tr_lock_free(l->a), 0);
        CHECK_EQ(tr_lock_free(l->b), 0);
    }
}

static void *take_ab(void *arg) {
    struct locks *l = arg;
    CHECK_EQ(tr_lock_acquire(l->a), 0);
    tr_sleep(2 * MS);
    if (tr_lock_acquire(l->b) == 0)
        tr_lock_release(l->b);
    CHECK_EQ(tr_lock_release(l->a), 0);
    done_with(l);
    return NULL;
}

static void *take_ba(void *arg) {
    struct locks *l = arg;
    CHECK_EQ(tr_lock_acquire(l->b), 0);
    tr_sleep(2 * MS);
    if (tr_lock_acquire(l->a) == 0)
        tr_lock_release(l->a);
    CHECK_EQ(tr_lock_release(l->b), 0);
    done_with(l);
    return NULL;
}

static void *lock_cycle(void *arg) {
    struct locks *l = arg;
    l->a = tr_lock_new();
    l->b = tr_lock_new();
    tr_task *x = tr_spawn_named(take_ab, l, "takes-a-then-b");
    tr_task *y = tr_spawn_named(take_ba, l, "takes-b-then-a");
    tr_await(x, NULL); /* -ECANCELED once the deadlock is broken; then y: at once */
    tr_await(y, NULL);
    tr_task_release(x);
    tr_task_release(y);
    return (void *)1;
}

/* 3. After main returned: a task in a shield waits on a queue nobody fills. The end of
 * tr_run cancels it, the shield holds the cancellation back, and the loop stalls: the
 * deadlock breaker cancels through the shield. */
static void *shielded_getter(void *arg) {
    tr_queue *q = arg;
    tr_shield s;
    tr_shield_begin(&s);
    void *item;
    int rc = tr_queue_get(q, &item);
    tr_shield_end(&s);
    CHECK_EQ(rc, -ECANCELED);
    CHECK_EQ(tr_queue_free(q), 0);
    return NULL;
}

static void *returns_early(void *arg) {
    (void)arg;
    tr_queue *q = tr_queue_new(0);
    tr_task *t = tr_spawn_named(shielded_getter, q, "shielded-getter");
    tr_task_release(t);
    tr_yield();
    return (void *)2;
}

int main(void) {
    struct captured c;
    int waited = 0;
    CHECK_EQ(run_captured(never_set, &waited, &c, NULL), -EDEADLK);
    CHECK_EQ(waited, -ECANCELED); /* the stuck wait was cancelled, and main cleaned up */
    CHECK_EQ(c.calls, 1);
    CHECK(strstr(c.text, "deadlock") != NULL);
    CHECK(strstr(c.text, "name='Task-1'") != NULL && strstr(c.text, "waits for event") != NULL);
    printf("--- event nobody sets:\n%s", c.text);

    struct locks l = {0};
    void *result = NULL;
    CHECK_EQ(run_captured(lock_cycle, &l, &c, &result), -EDEADLK);
    CHECK(result == NULL);   /* main was among the stuck, so it ended cancelled */
    CHECK_EQ(l.released, 2); /* both lock holders ran their cleanup */
    CHECK(strstr(c.text, "wait cycle:") != NULL);
    CHECK(strstr(c.text, "takes-a-then-b") != NULL && strstr(c.text, "takes-b-then-a") != NULL);
    CHECK(strstr(c.text, "waits for lock") != NULL);
    printf("--- lock cycle:\n%s", c.text);

    CHECK_EQ(run_captured(returns_early, NULL, &c, &result), -EDEADLK);
    CHECK(result == (void *)2); /* main had returned before: its result stands */
    CHECK(strstr(c.text, "shielded-getter") != NULL && strstr(c.text, "queue") != NULL);
    printf("--- shielded waiter after main returned:\n%s", c.text);

    return 0;
}
