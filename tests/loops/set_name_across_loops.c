/*
 * tr_task_set_name of a task of another loop, both ways: the rename is made by the task's own
 * loop (the caller is carried there), so the task itself, its loop and every other thread see
 * the new name; a task that is away on another loop when it is renamed, the main task, and a
 * finished task can be renamed too. Many renames from several loops at once, with a plain
 * thread copying names all the while, leave every name whole (tr_task_name_copy) and memory
 * bounded (valgrind, ASan), and data-race free (TSan).
 */
#include "loops.h"

struct target {
    tr_event *renamed; /* of loop 0 */
    tr_event *done;    /* of loop 0 */
    char seen[64];     /* the name the task read of itself */
};

static void *named_task(void *arg) {
    struct target *t = arg;
    CHECK_LOOP(1);
    CHECK_EQ(tr_event_wait(t->renamed), 0);
    CHECK_LOOP(1);
    CHECK(tr_task_name_copy(tr_current(), t->seen, sizeof t->seen) > 0);
    CHECK_EQ(tr_event_wait(t->done), 0); /* away on loop 0 while it is renamed again */
    return NULL;
}

static void *renames_main(void *arg) {
    tr_task *m = arg;
    CHECK_LOOP(1);
    CHECK_EQ(tr_task_set_name(m, "main-renamed-by-loop-1"), 0);
    char buf[64];
    CHECK(tr_task_name_copy(m, buf, sizeof buf) > 0);
    CHECK(strcmp(buf, "main-renamed-by-loop-1") == 0);
    return NULL;
}

static void basic(void) {
    struct target tg = {0};
    tg.renamed = tr_event_new();
    tg.done = tr_event_new();
    tr_task *t = spawn_on(1, named_task, &tg, "before");
    char buf[64];
    CHECK(tr_task_name_copy(t, buf, sizeof buf) == 6 && strcmp(buf, "before") == 0);
    CHECK_EQ(tr_task_set_name(t, "after"), 0);
    CHECK_LOOP(0);
    CHECK(tr_task_name_copy(t, buf, sizeof buf) == 5 && strcmp(buf, "after") == 0);
    CHECK_EQ(tr_event_set(tg.renamed), 0);
    /* It reads its own name, then waits on loop 0's event: renamed while it is here. */
    CHECK_EQ(tr_sleep(5 * MS), 0);
    CHECK_EQ(tr_task_set_name(t, "while-away"), 0);
    CHECK(tr_task_name_copy(t, buf, sizeof buf) > 0 && strcmp(buf, "while-away") == 0);
    CHECK_EQ(tr_event_set(tg.done), 0);
    await_release(t, 0);
    CHECK(strcmp(tg.seen, "after") == 0);

    /* the main task, renamed by a task of loop 1 */
    tr_task *m = tr_current();
    await_release(spawn_on(1, renames_main, m, "renames-main"), 0);
    CHECK(strcmp(tr_task_name(m), "main-renamed-by-loop-1") == 0);

    /* a finished task of loop 1, renamed from loop 0 */
    t = spawn_on(1, renames_main, m, "finished");
    CHECK_EQ(tr_await(t, NULL), 0);
    CHECK_EQ(tr_task_set_name(t, "finished-renamed"), 0);
    CHECK(tr_task_name_copy(t, buf, sizeof buf) > 0 && strcmp(buf, "finished-renamed") == 0);
    char repr[128];
    CHECK(tr_task_repr(t, repr, sizeof repr) > 0);
    CHECK(strstr(repr, "finished name='finished-renamed'") != NULL);
    tr_task_release(t);
    CHECK_EQ(tr_task_set_name(NULL, "x"), -EINVAL);
    CHECK_EQ(tr_event_free(tg.renamed), 0);
    CHECK_EQ(tr_event_free(tg.done), 0);
}

/* ---- many renames from several loops, a plain thread reading ------------------------------ */

enum { VICTIMS = 6 };

struct storm {
    tr_task *victims[VICTIMS]; /* of loops 0..2 */
    tr_event *stop;            /* of loop 0 */
    int renames;               /* per renamer */
    _Atomic int reading;       /* the reader thread runs */
    _Atomic int stop_reader;
    long copies;
};

static void *victim(void *arg) {
    struct storm *s = arg;
    CHECK_EQ(tr_event_wait(s->stop), 0);
    return NULL;
}

/* Names are "r<renamer>-<n>-" padded with the renamer's letter to a length that depends on
 * n: a torn or freed name shows as a wrong pattern. */
static void make_name(char *buf, int renamer, int n) {
    int len = snprintf(buf, 48, "r%d-%d-", renamer, n);
    int pad = n % 24;
    for (int i = 0; i < pad; i++)
        buf[len + i] = (char)('a' + renamer);
    buf[len + pad] = '\0';
}

static bool well_formed(const char *name) {
    int renamer, n, len;
    if (strcmp(name, "victim") == 0)
        return true;
    if (sscanf(name, "r%d-%d-%n", &renamer, &n, &len) != 2)
        return false;
    int pad = n % 24;
    if ((int)strlen(name) != len + pad)
        return false;
    for (int i = 0; i < pad; i++)
        if (name[len + i] != (char)('a' + renamer))
            return false;
    return true;
}

struct renamer_arg {
    struct storm *s;
    int id;
};

static void *renamer(void *arg) {
    struct renamer_arg *r = arg;
    char name[64];
    for (int n = 0; n < r->s->renames; n++) {
        make_name(name, r->id, n);
        tr_task *v = r->s->victims[(n + r->id) % VICTIMS];
        CHECK_EQ(tr_task_set_name(v, name), 0);
        if (n % 16 == 0)
            CHECK_EQ(tr_yield(), 0);
    }
    return NULL;
}

static void *reader(void *arg) {
    struct storm *s = arg;
    CHECK_EQ(tr_loop_id(), -EPERM); /* a plain thread */
    atomic_store(&s->reading, 1);
    while (!atomic_load(&s->stop_reader)) {
        for (int i = 0; i < VICTIMS; i++) {
            char buf[64];
            int n = tr_task_name_copy(s->victims[i], buf, sizeof buf);
            CHECK(n > 0 && n < (int)sizeof buf);
            CHECK(well_formed(buf));
            char repr[160];
            CHECK(tr_task_repr(s->victims[i], repr, sizeof repr) > 0);
            s->copies++;
        }
    }
    return NULL;
}

static void *join_thread(void *arg) {
    CHECK(pthread_join(*(pthread_t *)arg, NULL) == 0);
    return NULL;
}

static void storm(int renames) {
    struct storm s = {.renames = renames};
    s.stop = tr_event_new();
    for (int i = 0; i < VICTIMS; i++)
        s.victims[i] = spawn_on((unsigned)(i % 3), victim, &s, "victim");
    pthread_t th;
    CHECK(pthread_create(&th, NULL, reader, &s) == 0);
    while (!atomic_load(&s.reading))
        CHECK_EQ(tr_sleep(1 * MS), 0);
    struct renamer_arg ra[3];
    tr_task *r[3];
    for (int i = 0; i < 3; i++) {
        ra[i] = (struct renamer_arg){&s, i};
        r[i] = spawn_on((unsigned)i, renamer, &ra[i], "renamer");
    }
    for (int i = 0; i < 3; i++)
        await_release(r[i], 0);
    atomic_store(&s.stop_reader, 1);
    CHECK_EQ(tr_to_thread(join_thread, &th, NULL), 0);
    CHECK_EQ(tr_event_set(s.stop), 0);
    for (int i = 0; i < VICTIMS; i++) {
        char buf[64];
        CHECK(tr_task_name_copy(s.victims[i], buf, sizeof buf) > 0 && well_formed(buf));
        await_release(s.victims[i], 0);
    }
    CHECK(s.copies > 0);
    CHECK_EQ(tr_event_free(s.stop), 0);
}

static void *main_task(void *arg) {
    int renames = *(int *)arg;
    CHECK_EQ(tr_loop_count(), 3);
    basic();
    storm(renames);
    return NULL;
}

int main(void) {
    int renames = RUNNING_ON_VALGRIND ? 300 : 20000;
    CHECK_EQ(run_loops(3, main_task, &renames, NULL), 0);
    printf("renamed across loops: %d renames by each of 3 loops\n", renames);
    return 0;
}
