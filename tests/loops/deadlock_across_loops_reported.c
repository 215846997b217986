/*
 * Tasks of two loops wait forever on each other's events (and, with three loops, on each
 * other's locks): nothing anywhere can wake them. tr_run reports it (tr_options.report, one
 * report per loop that had stuck tasks, each naming the tasks present there and what they wait
 * for), cancels the stuck tasks so that they return, and returns -EDEADLK. While a plain
 * thread holds a handle (tr_runtime_get) the same state is not a deadlock: the thread may
 * still wake them, and does; and once it releases the handle without waking them, it is one.
 */
#include "loops.h"

#include <unistd.h>

struct shared {
    tr_event *e[2]; /* e[i] of loop i */
    tr_task *x, *y;
    int x_rc, y_rc, main_rc;
    tr_runtime *rt;
    pthread_t thread;
    int thread_mode; /* 1: wake them, then release; 2: release only */
};

static struct captured report;

/* The report's line for the task named `name` (the line that starts with its repr): it must
 * say what the task waits for. */
static void check_line(const char *text, const char *name, const char *what) {
    char needle[96];
    snprintf(needle, sizeof needle, "\n  <Task pending name='%s", name);
    const char *p = strstr(text, needle);
    if (!p) {
        fprintf(stderr, "no line for %s in the report:\n%s", name, text);
        exit(1);
    }
    const char *eol = strchr(p + 1, '\n');
    const char *w = strstr(p, what);
    if (!w || (eol && w > eol)) {
        fprintf(stderr, "the line for %s does not say '%s':\n%s", name, what, text);
        exit(1);
    }
}

static void *x_waits(void *arg) { /* of loop 0, on loop 1's event */
    struct shared *s = arg;
    s->x_rc = tr_event_wait(s->e[1]);
    CHECK_LOOP(0);
    return NULL;
}

static void *y_waits(void *arg) { /* of loop 1, on loop 0's event */
    struct shared *s = arg;
    s->y_rc = tr_event_wait(s->e[0]);
    CHECK_LOOP(1);
    return NULL;
}

static void *set_both(void *arg) {
    struct shared *s = arg;
    CHECK_EQ(tr_event_set(s->e[0]), 0);
    CHECK_EQ(tr_event_set(s->e[1]), 0);
    return NULL;
}

static void *holder_thread(void *arg) {
    struct shared *s = arg;
    usleep(100000); /* 100 ms: every loop likely stuck meanwhile (and not a deadlock) */
    if (s->thread_mode == 1) {
        tr_task *t = tr_runtime_spawn(s->rt, 1, set_both, s, "set-both");
        CHECK(t != NULL);
        CHECK_EQ(tr_task_join(t, UINT64_MAX, NULL), 0);
        tr_task_release(t);
    }
    tr_runtime_release(s->rt);
    return NULL;
}

static void *main_task(void *arg) {
    struct shared *s = arg;
    s->e[0] = tr_event_new();
    s->e[1] = on_loop(1, make_event, NULL);
    s->x_rc = s->y_rc = 1;
    s->x = spawn_on(0, x_waits, s, "x-waits-e1");
    s->y = spawn_on(1, y_waits, s, "y-waits-e0");
    if (s->thread_mode) {
        s->rt = tr_runtime_get();
        CHECK(s->rt != NULL);
        CHECK(pthread_create(&s->thread, NULL, holder_thread, s) == 0);
    }
    s->main_rc = tr_await(s->x, NULL);
    int y_rc = tr_await(s->y, NULL);
    CHECK_EQ(y_rc, s->main_rc); /* both cancelled, or both done */
    tr_task_release(s->x);
    tr_task_release(s->y);
    CHECK_EQ(tr_event_free(s->e[0]), 0);
    CHECK_EQ(tr_event_free(s->e[1]), 0);
    return (void *)5;
}

static int run_reported(unsigned loops, tr_fn fn, void *arg, void **result) {
    pthread_mutex_destroy(&report.mu);
    capture_init(&report);
    tr_options o = {.size = sizeof o, .loops = loops, .report = capture, .report_ctx = &report};
    return tr_run_with(&o, fn, arg, result);
}

static void events_deadlock(void) {
    struct shared s = {0};
    void *res = NULL;
    CHECK_EQ(run_reported(2, main_task, &s, &res), -EDEADLK);
    CHECK(res == NULL);
    CHECK_EQ(s.x_rc, -ECANCELED);
    CHECK_EQ(s.y_rc, -ECANCELED);
    CHECK_EQ(s.main_rc, -ECANCELED);
    if (report.calls != 2) /* one per loop with stuck tasks: not one more */
        fprintf(stderr, "%d reports:\n%s", report.calls, report.text);
    CHECK_EQ(report.calls, 2);
    CHECK_EQ(count_substr(report.text, "cancelling the 0 stuck"), 0);
    CHECK(strstr(report.text, "taskring: deadlock") != NULL);
    check_line(report.text, "x-waits-e1", "waits for event");
    check_line(report.text, "y-waits-e0", "waits for event");
    check_line(report.text, "Task-", "waits for task"); /* main, awaiting x */
    CHECK(strstr(report.text, "waits for task <Task pending name='x-waits-e1'") != NULL);
}

static void handle_held_then_woken(void) {
    struct shared s = {.thread_mode = 1};
    void *res = NULL;
    CHECK_EQ(run_reported(2, main_task, &s, &res), 0);
    CHECK(pthread_join(s.thread, NULL) == 0);
    CHECK(res == (void *)5);
    CHECK_EQ(s.x_rc, 0);
    CHECK_EQ(s.y_rc, 0);
    CHECK_EQ(s.main_rc, 0);
    CHECK_EQ(report.calls, 0);
}

static void handle_released_unwoken(void) {
    struct shared s = {.thread_mode = 2};
    void *res = NULL;
    CHECK_EQ(run_reported(2, main_task, &s, &res), -EDEADLK);
    CHECK(pthread_join(s.thread, NULL) == 0);
    CHECK_EQ(s.x_rc, -ECANCELED);
    CHECK_EQ(s.y_rc, -ECANCELED);
    CHECK(report.calls >= 1);
    check_line(report.text, "x-waits-e1", "waits for event");
    check_line(report.text, "y-waits-e0", "waits for event");
}

/* ---- three loops, a lock cycle -------------------------------------------------------------- */

struct locks {
    tr_lock *la, *lb; /* of loops 0 and 1 */
    tr_event *both;   /* of loop 0: set once both hold their first lock */
    _Atomic int holding;
    _Atomic int finished;
    int a_rc, b_rc;
};

/* The last one out frees the locks: main, cancelled itself, cannot wait for the holders. */
static void done_with(struct locks *l) {
    if (atomic_fetch_add(&l->finished, 1) == 1) {
        CHECK_EQ(tr_lock_free(l->la), 0);
        CHECK_EQ(tr_lock_free(l->lb), 0);
        CHECK_EQ(tr_event_free(l->both), 0);
    }
}

static void *takes_a_then_b(void *arg) { /* of loop 1 */
    struct locks *l = arg;
    CHECK_EQ(tr_lock_acquire(l->la), 0);
    if (atomic_fetch_add(&l->holding, 1) == 1)
        CHECK_EQ(tr_event_set(l->both), 0);
    CHECK_EQ(tr_event_wait(l->both), 0);
    l->a_rc = tr_lock_acquire(l->lb);
    if (l->a_rc == 0)
        CHECK_EQ(tr_lock_release(l->lb), 0);
    CHECK_EQ(tr_lock_release(l->la), 0);
    done_with(l);
    return NULL;
}

static void *takes_b_then_a(void *arg) { /* of loop 2 */
    struct locks *l = arg;
    CHECK_EQ(tr_lock_acquire(l->lb), 0);
    if (atomic_fetch_add(&l->holding, 1) == 1)
        CHECK_EQ(tr_event_set(l->both), 0);
    CHECK_EQ(tr_event_wait(l->both), 0);
    l->b_rc = tr_lock_acquire(l->la);
    if (l->b_rc == 0)
        CHECK_EQ(tr_lock_release(l->la), 0);
    CHECK_EQ(tr_lock_release(l->lb), 0);
    done_with(l);
    return NULL;
}

static void *lock_cycle(void *arg) {
    struct locks *l = arg;
    l->la = tr_lock_new();
    l->lb = on_loop(1, make_lock, NULL);
    l->both = tr_event_new();
    l->a_rc = l->b_rc = 1;
    tr_task *a = spawn_on(1, takes_a_then_b, l, "takes-a-then-b");
    tr_task *b = spawn_on(2, takes_b_then_a, l, "takes-b-then-a");
    int ra = tr_await(a, NULL), rb = tr_await(b, NULL);
    CHECK(ra == -ECANCELED || ra == 0);
    CHECK(rb == -ECANCELED || rb == 0);
    tr_task_release(a);
    tr_task_release(b);
    return NULL;
}

static void locks_deadlock(void) {
    struct locks l = {0};
    CHECK_EQ(run_reported(3, lock_cycle, &l, NULL), -EDEADLK);
    CHECK_EQ(l.a_rc, -ECANCELED);
    CHECK_EQ(l.b_rc, -ECANCELED);
    CHECK_EQ(atomic_load(&l.finished), 2);
    check_line(report.text, "takes-a-then-b", "waits for lock");
    check_line(report.text, "takes-b-then-a", "waits for lock");
}

int main(void) {
    capture_init(&report);
    int rounds = RUNNING_ON_VALGRIND ? 1 : 5;
    for (int i = 0; i < rounds; i++) {
        events_deadlock();
        if (i == 0)
            printf("--- events of each other's loop:\n%s", report.text);
        locks_deadlock();
        if (i == 0)
            printf("--- locks of each other's loop:\n%s", report.text);
        handle_held_then_woken();
        handle_released_unwoken();
    }
    printf("deadlocks across loops reported: %d rounds\n", rounds);
    return 0;
}
