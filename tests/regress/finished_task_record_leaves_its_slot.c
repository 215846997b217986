/*
 * finished_task_record_leaves_its_slot - a task's record names no registry slot once the task
 * is done, and keeps naming none until its next task is registered.
 *
 * Records are reused without being cleared (task_create sets each field), and taskring-ps,
 * reading from outside the process with no pin, keeps a record only while its `slot` is the
 * slot it found the record in (docs/architecture.md, "The torn-read protocol"). A record
 * that kept its last task's slot would pass that check while task_create rebuilds it for the
 * next task, magic first. So registry_remove sets SLOT_NONE: here a done task still held
 * by its handle names no slot, and a reused record gets a slot of its own when registered.
 */
#include "regress.h"

#include "internal.h"

enum { ROUNDS = 2000 };

static void *nothing(void *arg) {
    return arg;
}

static void *main_task(void *arg) {
    (void)arg;
    size_t reused = 0;
    tr_task *prev = NULL;
    for (int i = 0; i < ROUNDS; i++) {
        tr_task *t = tr_spawn(nothing, NULL);
        CHECK(t != NULL);
        CHECK(t->slot != SLOT_NONE); /* registered: a slot of its own */
        if (t == prev)
            reused++;
        CHECK_EQ(tr_await(t, NULL), 0);
        CHECK(tr_task_done(t));
        CHECK(t->slot == SLOT_NONE); /* done, still held: in no slot */
        prev = t;
        tr_task_release(t);
        tr_yield(); /* a turn: the released record may come back to the free list */
    }
    printf("%zu of %d spawns reused the record just released\n", reused, ROUNDS);
    return NULL;
}

int main(void) {
    CHECK_EQ(tr_run(main_task, NULL, NULL), 0);
    return 0;
}
