/*
 * A task reference may outlive tr_run; the loop's memory is then held until the last such
 * reference goes. A release on another thread used to count itself in the pool's
 * `remote_releasers` around its decrement even after the end, and to step that count down
 * after its reference was gone: if another thread's release was the last one in between, it
 * freed the loop, and the first release wrote into freed memory (found by review; ASan:
 * heap-use-after-free in remote_unref).
 *
 * The test keeps three references past tr_run's end, parks thread X in the test hook right
 * after its (not last) release, releases the other two on the main thread (the last frees the
 * loop), then lets X finish. Under ASan and valgrind the old code reports the write; the
 * plain build checks the outcome only.
 */
#include "regress.h"

#include "test_hooks.h"

#include <pthread.h>
#include <stdatomic.h>

static tr_task *kept;
static atomic_int parked, go;
static _Thread_local bool is_x;

static void park_x(void) {
    if (!is_x)
        return;
    atomic_store(&parked, 1);
    while (!atomic_load(&go))
        ;
}

static void *x_thread(void *arg) {
    (void)arg;
    is_x = true;
    tr_task_release(kept); /* not the last: parks right after its reference is gone */
    return NULL;
}

static void *done_at_once(void *arg) {
    (void)arg;
    return NULL;
}

static void *main_task(void *arg) {
    (void)arg;
    kept = tr_spawn(done_at_once, NULL);
    CHECK(kept != NULL);
    CHECK_EQ(tr_await(kept, NULL), 0);
    CHECK(tr_task_retain(kept) == kept);
    CHECK(tr_task_retain(kept) == kept); /* three references, none the runtime's */
    return NULL;
}

int main(void) {
    CHECK_EQ(tr_run(main_task, NULL, NULL), 0);
    task_set_remote_release_hook(park_x);
    pthread_t x;
    CHECK(pthread_create(&x, NULL, x_thread, NULL) == 0);
    while (!atomic_load(&parked))
        ;
    tr_task_release(kept);
    tr_task_release(kept); /* the last: frees the pool and the loop */
    atomic_store(&go, 1);
    CHECK(pthread_join(x, NULL) == 0);
    task_set_remote_release_hook(NULL);
    return 0;
}
