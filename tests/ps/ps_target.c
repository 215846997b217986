/*
 * ps_target - the process taskring-ps reads in tests/ps and bench/ps: it holds tasks in known
 * states, prints "READY key=value ..." on stdout once they are, and stays until killed.
 *
 *   ps_target states N    N tasks (N >= 1000): one of every wait kind (custom names), a tree,
 *                         an await cycle through a lock, named and default-named sleepers on
 *                         two loops; the rest spawned and never run (loop 0 is then blocked
 *                         in its main task, so they stay scheduled)
 *   ps_target unstarted N N tasks that never run (loop 0 blocked in main): the 1M benchmark
 *   ps_target reused N    2N short tasks that end in a shuffled order, then N that never run
 *                         in their reused records and slots: slot order is not address order
 *   ps_target busy        every loop (2) stuck in a spinning task, sleepers beside them
 *   ps_target churn       spawns and finishes tasks flat out, each renaming itself once
 *                         ("churn-N" for its own Task-N number); prints its rate on SIGUSR1
 *   ps_target longsym     a task "long-symbol" whose function's symbol has 5,012 characters
 *   ps_target rename K    K sleepers renamed round-robin, bursts of 4096 renames 1 ms apart,
 *                         each name 202 bytes with its generation at both ends
 *                         ("0000000042-....-0000000042")
 *   ps_target awaits      parents ("parent-N" for their own number) that each await a child
 *                         ("child-of-N") which yields a few times and ends, spawned flat out
 *                         (~total alive): awaited records are reused all the time
 *   ps_target names       tasks whose names hold a newline, ESC, C1 controls, bytes that are
 *                         not UTF-8, and well-formed UTF-8
 */
#include <taskring.h>

#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define HOUR (3600ull * 1000000000ull)

extern atomic_int ps_target_never;

static int recv_fd = -1, listen_fd = -1, thread_pipe[2] = {-1, -1}, block_pipe[2] = {-1, -1};
static size_t total = 1000;
static tr_lock *lock_held, *lock_cycle, *lock_cond;
static tr_cond *cond;
static tr_queue *q_empty, *q_full;
static tr_event *event;
static tr_sem *sem;
static tr_group *group;
static tr_listener *listener;
static tr_task *tree_root, *tree_a, *cycle_x_task;

static void *sleeper(void *arg) {
    (void)arg;
    tr_sleep(HOUR);
    return NULL;
}
static void *lock_holder_fn(void *arg) {
    (void)arg;
    tr_lock_acquire(lock_held);
    tr_sleep(HOUR);
    return NULL;
}
static void *lock_waiter_fn(void *arg) {
    (void)arg;
    tr_lock_acquire(lock_held);
    return NULL;
}
static void *queue_getter_fn(void *arg) {
    void *item;
    (void)arg;
    tr_queue_get(q_empty, &item);
    return NULL;
}
static void *queue_putter_fn(void *arg) {
    tr_queue_put(q_full, arg);
    return NULL;
}
static void *event_waiter_fn(void *arg) {
    (void)arg;
    tr_event_wait(event);
    return NULL;
}
static void *sem_waiter_fn(void *arg) {
    (void)arg;
    tr_sem_acquire(sem);
    return NULL;
}
static void *cond_waiter_fn(void *arg) {
    (void)arg;
    tr_lock_acquire(lock_cond);
    tr_cond_wait(cond);
    tr_lock_release(lock_cond);
    return NULL;
}
static void *group_waiter_fn(void *arg) {
    (void)arg;
    tr_group_spawn_named(group, sleeper, NULL, "group-child");
    tr_group_wait(group);
    return NULL;
}
static void *recv_waiter_fn(void *arg) {
    char buf[16];
    (void)arg;
    tr_recv(recv_fd, buf, sizeof buf, 0);
    return NULL;
}
static void *acceptor_fn(void *arg) {
    (void)arg;
    tr_listener_accept(listener);
    return NULL;
}
static void *blocking_read_in_thread(void *arg) {
    char c;
    (void)arg;
    (void)!read(thread_pipe[0], &c, 1);
    return NULL;
}
static void *threader_fn(void *arg) {
    (void)arg;
    tr_to_thread(blocking_read_in_thread, NULL, NULL);
    return NULL;
}
static void *awaiter_fn(void *arg) {
    tr_await(arg, NULL);
    return NULL;
}
static void *cycle_y_fn(void *arg) {
    (void)arg;
    tr_lock_acquire(lock_cycle); /* held by cycle-x, which awaits this task */
    return NULL;
}
static void *cycle_x_fn(void *arg) {
    (void)arg;
    tr_lock_acquire(lock_cycle);
    tr_task *y = tr_spawn_named(cycle_y_fn, NULL, "cycle-y");
    tr_await(y, NULL);
    return NULL;
}
static void *unstarted_fn(void *arg) {
    (void)arg;
    return NULL;
}

static void *loop1_sleepers(void *arg) {
    size_t n = (size_t)(uintptr_t)arg;
    for (size_t i = 0; i < n; i++)
        tr_spawn_named(sleeper, NULL, NULL);
    tr_sleep(HOUR);
    return NULL;
}

static void ready_and_block(void) {
    printf("READY pid=%d recv_fd=%d listen_fd=%d\n", (int)getpid(), recv_fd, listen_fd);
    fflush(stdout);
    char c;
    (void)!read(block_pipe[0], &c, 1); /* blocks loop 0's thread: nothing else runs there */
}

static void *states_main(void *arg) {
    (void)arg;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
        exit(2);
    recv_fd = sv[0];
    listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (listen_fd < 0 || bind(listen_fd, (struct sockaddr *)&a, sizeof a) < 0 ||
        listen(listen_fd, 8) < 0 || !(listener = tr_listener_open(listen_fd)))
        exit(2);
    lock_held = tr_lock_new();
    lock_cycle = tr_lock_new();
    lock_cond = tr_lock_new();
    cond = tr_cond_new(lock_cond);
    q_empty = tr_queue_new(1);
    q_full = tr_queue_new(1);
    tr_queue_put(q_full, (void *)1);
    event = tr_event_new();
    sem = tr_sem_new(0);
    group = tr_group_new();

    tr_task_set_name(tr_current(), "main");
    tr_spawn_named(lock_holder_fn, NULL, "lock-holder");
    tr_yield(); /* the holder takes the lock first */
    tr_spawn_named(lock_waiter_fn, NULL, "lock-waiter");
    tr_spawn_named(queue_getter_fn, NULL, "queue-getter");
    tr_spawn_named(queue_putter_fn, (void *)2, "queue-putter");
    tr_spawn_named(event_waiter_fn, NULL, "event-waiter");
    tr_spawn_named(sem_waiter_fn, NULL, "sem-waiter");
    tr_spawn_named(cond_waiter_fn, NULL, "cond-waiter");
    tr_spawn_named(group_waiter_fn, NULL, "group-waiter");
    tr_spawn_named(recv_waiter_fn, NULL, "recv-waiter");
    tr_spawn_named(acceptor_fn, NULL, "acceptor");
    tr_spawn_named(threader_fn, NULL, "threader");
    tr_spawn_named(sleeper, NULL, "sleeper");
    tree_root = tr_spawn_named(sleeper, NULL, "tree-root");
    tree_a = tr_spawn_named(awaiter_fn, tree_root, "tree-a");
    tr_spawn_named(awaiter_fn, tree_root, "tree-b");
    tr_spawn_named(awaiter_fn, tree_a, "tree-a1");
    cycle_x_task = tr_spawn_named(cycle_x_fn, NULL, "cycle-x");
    size_t specials = 20; /* main, the 16 above, group-child, cycle-y, loop1 spawner */
    size_t rest = total - specials;
    size_t sleepers = rest / 5; /* half named, half default-named, on loop 0 */
    size_t loop1 = rest / 5;    /* default-named sleepers on loop 1 */
    size_t unstarted = rest - sleepers - loop1 - 1;
    char name[32];
    for (size_t i = 0; i < sleepers; i++) {
        if (i % 2 == 0) {
            snprintf(name, sizeof name, "sleeper-%zu", i);
            tr_spawn_named(sleeper, NULL, name);
        } else {
            tr_spawn(sleeper, NULL);
        }
    }
    tr_spawn_on_named(1, loop1_sleepers, (void *)(uintptr_t)loop1, "loop1-spawner");
    tr_sleep(200 * 1000000ull); /* every task above runs into its wait */
    while (tr_task_count() < specials + sleepers + loop1)
        tr_sleep(10 * 1000000ull);
    for (size_t i = 0; i < unstarted; i++)
        tr_spawn(unstarted_fn, NULL);
    /* READY's counts: tasks waiting on loop 0 and on loop 1, and never run (scheduled) */
    printf("COUNTS waiting0=%zu waiting1=%zu scheduled=%zu named_sleepers=%zu\n",
           specials - 1 + sleepers, loop1 + 1, unstarted, (sleepers + 1) / 2);
    ready_and_block();
    return NULL;
}

static void *unstarted_main(void *arg) {
    (void)arg;
    for (size_t i = 1; i < total; i++)
        tr_spawn(unstarted_fn, NULL);
    ready_and_block();
    return NULL;
}

static size_t short_done; /* loop 0's: reused runs on one loop */
static void *short_fn(void *arg) {
    for (uintptr_t i = (uintptr_t)arg; i; i--)
        tr_yield();
    short_done++;
    return NULL;
}

static void *reused_main(void *arg) {
    (void)arg;
    for (size_t i = 0; i < 2 * total; i++) {
        tr_task *t = tr_spawn(short_fn, (void *)(uintptr_t)((i * 7919u) % 61u));
        if (!t)
            exit(2);
        tr_task_release(t);
        if (i % 4096 == 4095)
            tr_sleep(1000000); /* the wave ends, in the order its yields give */
    }
    while (short_done < 2 * total)
        tr_sleep(1000000);
    uintptr_t last = 0;
    size_t inversions = 0; /* records handed out against the spawn order */
    for (size_t i = 1; i < total; i++) {
        uintptr_t at = (uintptr_t)tr_spawn(unstarted_fn, NULL);
        if (!at)
            exit(2);
        inversions += at < last;
        last = at;
    }
    printf("COUNTS inversions=%zu\n", inversions);
    ready_and_block();
    return NULL;
}

static void *spin_fn(void *arg) {
    atomic_int *flag = arg;
    while (!atomic_load_explicit(flag, memory_order_relaxed))
        ;
    return NULL;
}
/* Not static: a compiler that could see that nothing writes it would drop the spin loops. */
atomic_int ps_target_never;

static void *busy_loop1(void *arg) {
    (void)arg;
    tr_spawn_named(sleeper, NULL, "sleeper-1");
    tr_yield();
    spin_fn(&ps_target_never);
    return NULL;
}

static void *busy_main(void *arg) {
    (void)arg;
    tr_task_set_name(tr_current(), "spinner-0");
    tr_spawn_named(sleeper, NULL, "sleeper-0");
    tr_spawn_on_named(1, busy_loop1, NULL, "spinner-1");
    tr_sleep(100 * 1000000ull);
    printf("READY pid=%d\n", (int)getpid());
    fflush(stdout);
    spin_fn(&ps_target_never);
    return NULL;
}

static _Atomic uint64_t finished;
static volatile sig_atomic_t report;

static void *churn_task(void *arg) {
    (void)arg;
    char name[48];
    /* the task's own number, from its default name */
    if (tr_task_name_copy(tr_current(), name, sizeof name) > 5 && !strncmp(name, "Task-", 5)) {
        char renamed[64];
        snprintf(renamed, sizeof renamed, "churn-%s", name + 5);
        tr_task_set_name(tr_current(), renamed);
    }
    tr_yield();
    atomic_fetch_add_explicit(&finished, 1, memory_order_relaxed);
    return NULL;
}

static void on_usr1(int sig) {
    (void)sig;
    report = 1;
}

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Churn: keep ~total tasks alive, spawning as they finish. On SIGUSR1 print the tasks
 * finished per second since the last report. */
static void *churn_main(void *arg) {
    (void)arg;
    signal(SIGUSR1, on_usr1);
    printf("READY pid=%d\n", (int)getpid());
    fflush(stdout);
    uint64_t last = now_ns(), last_done = 0;
    for (;;) {
        for (int i = 0; i < 64; i++)
            tr_task_release(tr_spawn(churn_task, NULL));
        while (tr_task_count() > total)
            tr_yield();
        if (report) {
            report = 0;
            uint64_t t = now_ns(), done = atomic_load(&finished);
            printf("RATE %.0f\n", (double)(done - last_done) * 1e9 / (double)(t - last));
            fflush(stdout);
            last = t;
            last_done = done;
        }
    }
    return NULL;
}

static void *await_child(void *arg) {
    for (uintptr_t i = 0; i < (uintptr_t)arg; i++)
        tr_yield();
    return NULL;
}

static void *await_parent(void *arg) {
    (void)arg;
    char name[48], renamed[64];
    if (tr_task_name_copy(tr_current(), name, sizeof name) > 5 && !strncmp(name, "Task-", 5)) {
        snprintf(renamed, sizeof renamed, "parent-%s", name + 5);
        tr_task_set_name(tr_current(), renamed);
        snprintf(renamed, sizeof renamed, "child-of-%s", name + 5);
        tr_task *c = tr_spawn_named(await_child, (void *)(uintptr_t)(1 + rand() % 4), renamed);
        if (c) {
            tr_await(c, NULL);
            tr_task_release(c);
        }
    }
    return NULL;
}

static void *awaits_main(void *arg) {
    (void)arg;
    printf("READY pid=%d\n", (int)getpid());
    fflush(stdout);
    for (;;) {
        for (int i = 0; i < 64; i++)
            tr_task_release(tr_spawn(await_parent, NULL));
        while (tr_task_count() > total)
            tr_yield();
    }
    return NULL;
}

/* A symbol of 5,012 characters: "long_symbol_" and 5,000 f (an assembler label). */
#define S10(x) x x x x x x x x x x
#define LONG_SYMBOL "long_symbol_" S10(S10(S10("fffff")))
void *ps_long_fn(void *arg) __asm__(LONG_SYMBOL);
void *ps_long_fn(void *arg) {
    (void)arg;
    tr_sleep(HOUR);
    return NULL;
}

static void *longsym_main(void *arg) {
    (void)arg;
    tr_spawn_named(ps_long_fn, NULL, "long-symbol");
    tr_sleep(100 * 1000000ull);
    printf("READY pid=%d\n", (int)getpid());
    fflush(stdout);
    tr_sleep(HOUR);
    return NULL;
}

/* Renames on and on: a name >= 64 bytes is read in chunks, and a freed name's address is
 * soon reused by the next rename of the same size. */
static void *rename_main(void *arg) {
    (void)arg;
    size_t k = total;
    tr_task **ts = calloc(k, sizeof *ts);
    if (!ts)
        exit(2);
    for (size_t i = 0; i < k; i++)
        ts[i] = tr_spawn(sleeper, NULL);
    tr_sleep(10 * 1000000ull);
    printf("READY pid=%d\n", (int)getpid());
    fflush(stdout);
    char pad[181], name[256];
    memset(pad, '.', 180);
    pad[180] = 0;
    for (unsigned gen = 0;; gen++) {
        snprintf(name, sizeof name, "%010u-%s-%010u", gen, pad, gen);
        tr_task_set_name(ts[gen % k], name);
        /* Bursts of renames with quiet gaps between them: a reader slowed down by a loaded
         * machine still finds moments when a row holds still (ps_rename_no_torn_names needs
         * some rows shown, not only torn ones); the bursts are what the torn check meets. */
        if (gen % 4096 == 0)
            tr_sleep(1000000);
    }
    return NULL;
}

static void *names_main(void *arg) {
    (void)arg;
    tr_spawn_named(sleeper, NULL,
                   "evil\n12345    fake-row  waiting 0 0ms 0ms fake_fn -\x1b[31mRED");
    tr_spawn_named(sleeper, NULL, "bad-utf8-\xff\xfe-end");
    tr_spawn_named(sleeper, NULL, "c1-\xc2\x9b-csi");
    tr_spawn_named(sleeper, NULL, "back\\slash-tab\t-cr\r-del\x7f");
    tr_spawn_named(sleeper, NULL, "utf8-\xc3\xbc-\xe2\x82\xac-ok");
    tr_spawn_named(sleeper, NULL, "cut-\xe2\x82");
    tr_sleep(100 * 1000000ull);
    printf("READY pid=%d\n", (int)getpid());
    fflush(stdout);
    tr_sleep(HOUR);
    return NULL;
}

int main(int argc, char **argv) {
    if (argc < 2)
        return 2;
    setvbuf(stdout, NULL, _IOLBF, 0);
#ifdef PR_SET_PTRACER
    prctl(PR_SET_PTRACER, PR_SET_PTRACER_ANY, 0, 0, 0); /* Yama ptrace_scope 1: let any reader */
#endif
    if (pipe(thread_pipe) < 0 || pipe(block_pipe) < 0)
        return 2;
    if (argc > 2)
        total = strtoul(argv[2], NULL, 10);
    tr_options o = {.size = sizeof o, .loops = 2, .stack_size = 16384, .guard_size = 4096};
    tr_fn fn = !strcmp(argv[1], "states")      ? states_main
               : !strcmp(argv[1], "unstarted") ? unstarted_main
               : !strcmp(argv[1], "reused")    ? reused_main
               : !strcmp(argv[1], "busy")      ? busy_main
               : !strcmp(argv[1], "churn")     ? churn_main
               : !strcmp(argv[1], "longsym")   ? longsym_main
               : !strcmp(argv[1], "rename")    ? rename_main
               : !strcmp(argv[1], "names")     ? names_main
               : !strcmp(argv[1], "awaits")    ? awaits_main
                                               : NULL;
    if (!fn)
        return 2;
    if (!strcmp(argv[1], "churn") || !strcmp(argv[1], "rename") || !strcmp(argv[1], "names") ||
        !strcmp(argv[1], "longsym") || !strcmp(argv[1], "awaits") || !strcmp(argv[1], "reused"))
        o.loops = 1;
    int rc = tr_run_with(&o, fn, NULL, NULL);
    fprintf(stderr, "ps_target: tr_run returned %d\n", rc);
    return 1;
}
