/*
 * Every loop of a runtime starts on its own thread with its own id, 0..n-1. A loop thread
 * used to take its id from the start-up counter that also counts the loops that are ready
 * (in its high 16 bits): when loop 1 was ready before loop 2's thread read its id, loop 2 got
 * id 65538 and wrote past the runtime's ports (a segfault in loop_join_runtime, nearly every
 * run with 3 loops or more).
 */
#include "loops.h"

struct seen {
    pthread_t thread[256];
    int id[256];
};

static void *report(void *arg) {
    struct seen *s = arg;
    int id = tr_loop_id();
    CHECK(id >= 0 && (unsigned)id < tr_loop_count());
    s->id[id] = id;
    s->thread[id] = pthread_self();
    return (void *)(intptr_t)id;
}

static void *main_task(void *arg) {
    struct seen *s = arg;
    unsigned n = tr_loop_count();
    tr_task *t[256];
    for (unsigned i = 0; i < n; i++)
        t[i] = spawn_on(i, report, s, NULL);
    for (unsigned i = 0; i < n; i++)
        CHECK_EQ((intptr_t)await_release(t[i], 0), i);
    return NULL;
}

int main(void) {
    static const unsigned counts[] = {2, 3, 4, 8, 16, 64};
    int rounds = RUNNING_ON_VALGRIND ? 2 : 20;
    for (size_t k = 0; k < sizeof counts / sizeof counts[0]; k++) {
        unsigned n = counts[k];
        if (RUNNING_ON_VALGRIND && n > 8)
            continue;
        for (int r = 0; r < rounds; r++) {
            struct seen s;
            memset(&s, 0xff, sizeof s);
            CHECK_EQ(run_loops(n, main_task, &s, NULL), 0);
            CHECK(pthread_equal(s.thread[0], pthread_self()));
            for (unsigned i = 0; i < n; i++) {
                CHECK_EQ(s.id[i], i);
                for (unsigned j = 0; j < i; j++)
                    CHECK(!pthread_equal(s.thread[i], s.thread[j]));
            }
        }
    }
    printf("loops started with ids 0..n-1 on their own threads, %d rounds each\n", rounds);
    return 0;
}
