/*
 * tr_taskset_new(SIZE_MAX / 8 + 2) once multiplied capacity * sizeof(pointer) without an
 * overflow check: it allocated 8 bytes, recorded a capacity of 2^61, and tr_all_tasks_fill
 * then wrote every live task pointer past them. Every capacity whose byte count overflows
 * must be refused with ENOMEM, and a set that is too small must stay within its capacity.
 */
#include "regress.h"

static void *idle(void *arg) {
    (void)arg;
    tr_sleep(1000000000ull);
    return NULL;
}

static void *main_task(void *arg) {
    (void)arg;
    const size_t bad[] = {SIZE_MAX / sizeof(void *) + 2, SIZE_MAX / 2, SIZE_MAX};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        errno = 0;
        CHECK(tr_taskset_new(bad[i]) == NULL);
        CHECK_EQ(errno, ENOMEM);
    }
    /* The same with live tasks around, which is when the overrun wrote. */
    tr_task *tasks[16];
    for (int i = 0; i < 16; i++)
        CHECK((tasks[i] = tr_spawn(idle, NULL)) != NULL);
    CHECK_EQ(tr_yield(), 0);
    errno = 0;
    CHECK(tr_taskset_new(SIZE_MAX / sizeof(void *) + 2) == NULL);
    CHECK_EQ(errno, ENOMEM);

    /* A small set is filled up to its capacity and no further (valgrind/ASan would see it). */
    tr_taskset *s = tr_taskset_new(4);
    CHECK(s != NULL);
    CHECK_EQ(tr_all_tasks_fill(s), 17);
    CHECK_EQ(tr_taskset_size(s), 4);
    tr_taskset_free(s);
    for (int i = 0; i < 16; i++) {
        tr_task_cancel(tasks[i]);
        tr_task_release(tasks[i]);
    }
    return NULL;
}

int main(void) {
    CHECK_EQ(tr_run(main_task, NULL, NULL), 0);
    return 0;
}
