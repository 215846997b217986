/*
 * The last thing a runtime does is a task's trip home: main has returned, the end of tr_run
 * cancels a task of loop 1 that waits on an event of loop 2, and the task comes back from
 * loop 2 to loop 1 and finishes there, which ends the runtime. Loop 2's thread carried it:
 * it used to read the destination loop (`to->rt`, `to->id`, to ring its doorbell) after it had
 * pushed the task into that loop's inbox, by which time loop 1 could have run the task, seen
 * the runtime end, and freed its loop (TSan: data race between inbox_post_task and free in
 * free_pool, via loop_destroy; ASan would see a heap-use-after-free when it lands). The
 * carrier now reads what it needs before the push. Many short runtimes, so that the end
 * overlaps the carrier's last reads now and then natively; TSan reports any run in which
 * they are not ordered.
 */
#include "loops.h"

struct shared {
    tr_event *e;       /* of loop 2, never set */
    tr_event *started; /* of loop 0 */
    int rc;
};

static void *waits_on_loop2(void *arg) {
    struct shared *s = arg;
    CHECK_LOOP(1);
    CHECK_EQ(tr_event_set(s->started), 0);
    s->rc = tr_event_wait(s->e); /* cancelled there by the end of tr_run */
    CHECK_LOOP(1);
    CHECK_EQ(tr_event_free(s->e), 0); /* one more trip to loop 2 and back: the last */
    return NULL;
}

static void *main_task(void *arg) {
    struct shared *s = arg;
    s->e = on_loop(2, make_event, NULL);
    s->rc = 1;
    s->started = tr_event_new();
    tr_task_release(spawn_on(1, waits_on_loop2, s, "waits-on-loop2"));
    /* Started (a task cancelled before it runs never runs): it waits by now, or its wait
     * refuses at once, which ends the same way. */
    CHECK_EQ(tr_event_wait(s->started), 0);
    CHECK_EQ(tr_event_free(s->started), 0);
    return NULL;
}

int main(void) {
    int rounds = RUNNING_ON_VALGRIND ? 10 : 300;
    for (int i = 0; i < rounds; i++) {
        struct shared s;
        CHECK_EQ(run_loops(3, main_task, &s, NULL), 0);
        CHECK_EQ(s.rc, -ECANCELED);
    }
    printf("runtimes ended by a task's trip home: %d\n", rounds);
    return 0;
}
