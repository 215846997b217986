/*
 * Main returns while tasks of loop 1 wait on a lock and a queue of loop 0 and tasks of loop 0
 * wait on a lock and a queue of loop 1 (and on events of each other's loop). The end of tr_run
 * cancels each of them where it waits, on the other loop: tr_run returns 0 (main's result,
 * no deadlock), every one of those tasks has finished cancelled, its wait returned -ECANCELED,
 * and the last one out freed the objects (which it can, from any loop, once nobody waits).
 */
#include "loops.h"

enum { KINDS = 3, PER_LOOP = 2, TASKS = 2 * KINDS * PER_LOOP };

struct objects {
    tr_lock *lock;   /* held by a task that has finished */
    tr_queue *queue; /* empty */
    tr_event *event; /* never set */
};

struct shared {
    struct objects on[2]; /* of loop 0 and of loop 1 */
    tr_task *tasks[TASKS];
    int rc[TASKS];
    _Atomic int left; /* tasks still to finish: the last one frees the objects */
    int freed;
    _Atomic int started_count;
};

struct blocked_arg {
    struct shared *s;
    int index;
    int kind;  /* 0 lock, 1 queue, 2 event */
    int other; /* the loop whose objects it waits on */
};

static struct blocked_arg args[TASKS];

static void free_all(struct shared *s) {
    for (int l = 0; l < 2; l++) {
        CHECK_EQ(tr_lock_free(s->on[l].lock), 0);
        CHECK_EQ(tr_queue_free(s->on[l].queue), 0);
        CHECK_EQ(tr_event_free(s->on[l].event), 0);
    }
    s->freed = 1;
}

static void *blocked(void *arg) {
    struct blocked_arg *a = arg;
    struct shared *s = a->s;
    struct objects *o = &s->on[a->other];
    CHECK_LOOP(1 - a->other);
    atomic_fetch_add(&s->started_count, 1);
    int rc;
    if (a->kind == 0) {
        rc = tr_lock_acquire(o->lock);
    } else if (a->kind == 1) {
        void *item;
        rc = tr_queue_get(o->queue, &item);
    } else {
        rc = tr_event_wait(o->event);
    }
    s->rc[a->index] = rc;
    CHECK_LOOP(1 - a->other);
    if (atomic_fetch_sub(&s->left, 1) == 1)
        free_all(s); /* nobody waits any more: from either loop */
    return NULL;
}

static void *take_and_finish(void *arg) {
    CHECK_EQ(tr_lock_acquire(arg), 0);
    return NULL; /* ends holding it */
}

static void *make_objects(void *arg) {
    struct objects *o = arg;
    o->lock = tr_lock_new();
    o->queue = tr_queue_new(0);
    o->event = tr_event_new();
    CHECK(o->lock && o->queue && o->event);
    tr_task *t = tr_spawn(take_and_finish, o->lock);
    CHECK(t != NULL);
    await_release(t, 0);
    return NULL;
}

static void *main_task(void *arg) {
    struct shared *s = arg;
    on_loop(0, make_objects, &s->on[0]);
    on_loop(1, make_objects, &s->on[1]);
    atomic_store(&s->left, TASKS);
    for (int i = 0; i < TASKS; i++) {
        int home = i % 2;
        args[i] = (struct blocked_arg){s, i, (i / 2) % KINDS, 1 - home};
        s->rc[i] = 1;
        s->tasks[i] = spawn_on((unsigned)home, blocked, &args[i], "blocked"); /* kept */
    }
    /* Let them all reach their waits: a poll of what they report, then a moment so that the
     * last ones are inside (a cancellation before the wait gives the same -ECANCELED). */
    while (atomic_load(&s->started_count) < TASKS)
        CHECK_EQ(tr_sleep(1 * MS), 0);
    CHECK_EQ(tr_sleep(5 * MS), 0);
    return (void *)42;
}

int main(void) {
    int rounds = RUNNING_ON_VALGRIND ? 2 : 20;
    for (int r = 0; r < rounds; r++) {
        static struct shared s;
        memset(&s, 0, sizeof s);
        void *res = NULL;
        CHECK_EQ(run_loops(2, main_task, &s, &res), 0);
        CHECK(res == (void *)42);
        CHECK_EQ(atomic_load(&s.left), 0);
        CHECK_EQ(s.freed, 1);
        for (int i = 0; i < TASKS; i++) {
            CHECK_EQ(s.rc[i], -ECANCELED);
            CHECK(tr_task_done(s.tasks[i]));
            CHECK(tr_task_cancelled(s.tasks[i]));
            CHECK_EQ(tr_task_error(s.tasks[i]), -ECANCELED);
            tr_task_release(s.tasks[i]);
        }
    }
    printf("main returned with %d tasks waiting on the other loop's objects: %d rounds\n", TASKS,
           rounds);
    return 0;
}
