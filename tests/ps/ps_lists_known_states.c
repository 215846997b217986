/*
 * ps_lists_known_states: taskring-ps PID on a child holding 100,000 tasks in known states
 * (ps_target states) shows every field right: id, name (custom and lazily formatted
 * default names), state, loop, age, time since it ran, function symbol, and what it waits on
 * for every wait kind (sleep deadline, lock and its holder, queue get/put, event, semaphore,
 * condition, group, recv with its fd, accept with the listener's fd, tr_to_thread's function,
 * await with the awaited task); and as many rows as tasks.
 */
#include "ps_test.h"

/* 100,000 tasks; a TSan build cannot give that many fiber stacks their shadow (ENOMEM). */
#if defined(TASKRING_TSAN)
#define NTASKS 20000
#else
#define NTASKS 100000
#endif
#define STR_(x) #x
#define STR(x) STR_(x)

struct row {
    unsigned long id;
    char name[64], state[16], loop[8], age[16], ran[16], fn[64];
    const char *wait; /* points into line */
    char line[1024];
};

static bool parse_row(const char *out, const char *name, struct row *r) {
    if (!ps_row(out, name, r->line, sizeof r->line))
        return false;
    int at = 0;
    if (sscanf(r->line, "%lu %63s %15s %7s %15s %15s %63s %n", &r->id, r->name, r->state, r->loop,
               r->age, r->ran, r->fn, &at) < 7)
        return false;
    r->wait = r->line + at;
    return true;
}

/* An age or a time since: "123ms" or "12.3s", under a minute. */
static bool recent(const char *t) {
    size_t n = strlen(t);
    if (n > 2 && !strcmp(t + n - 2, "ms"))
        return true;
    return n > 1 && t[n - 1] == 's' && !strchr(t, 'm') && !strchr(t, 'h');
}

static void expect(const char *out, const char *name, const char *state, const char *loop,
                   const char *fn, const char *wait_prefix) {
    struct row r;
    CHECK(parse_row(out, name, &r), "no row for %s", name);
    CHECK(!strcmp(r.state, state), "%s: state %s, expected %s", name, r.state, state);
    CHECK(!strcmp(r.loop, loop), "%s: loop %s, expected %s", name, r.loop, loop);
    CHECK(!strcmp(r.fn, fn), "%s: function %s, expected %s", name, r.fn, fn);
    CHECK(!strncmp(r.wait, wait_prefix, strlen(wait_prefix)), "%s: waits on '%s', expected '%s...'",
          name, r.wait, wait_prefix);
    CHECK(recent(r.age), "%s: age %s is not under a minute", name, r.age);
    CHECK(recent(r.ran), "%s: ran %s ago is not under a minute", name, r.ran);
}

int main(void) {
    struct child c;
    ps_start(&c, (char *const[]){PS_TARGET, "states", STR(NTASKS), NULL});
    long recv_fd = ps_value(c.ready, "recv_fd"), listen_fd = ps_value(c.ready, "listen_fd");
    long named = ps_value(c.counts, "named_sleepers");
    char *out, *err;
    int st = ps_run(&out, &err, ps_pid(&c));
    CHECK(st == 0, "exit status %d: %s", st, err);

    char want[128];
    expect(out, "main", "running", "0", "states_main", "-");
    expect(out, "lock-holder", "waiting", "0", "lock_holder_fn", "sleep in 59m");
    struct row holder;
    CHECK(parse_row(out, "lock-holder", &holder), "lock-holder");
    snprintf(want, sizeof want, "held by task %lu", holder.id);
    expect(out, "lock-waiter", "waiting", "0", "lock_waiter_fn", "lock 0x");
    struct row r;
    parse_row(out, "lock-waiter", &r);
    CHECK(strstr(r.wait, want), "lock-waiter: '%s' lacks '%s'", r.wait, want);
    expect(out, "queue-getter", "waiting", "0", "queue_getter_fn", "queue-get 0x");
    expect(out, "queue-putter", "waiting", "0", "queue_putter_fn", "queue-put 0x");
    expect(out, "event-waiter", "waiting", "0", "event_waiter_fn", "event 0x");
    expect(out, "sem-waiter", "waiting", "0", "sem_waiter_fn", "semaphore 0x");
    expect(out, "cond-waiter", "waiting", "0", "cond_waiter_fn", "condition 0x");
    expect(out, "group-waiter", "waiting", "0", "group_waiter_fn", "group 0x");
    snprintf(want, sizeof want, "io recv fd %ld", recv_fd);
    expect(out, "recv-waiter", "waiting", "0", "recv_waiter_fn", want);
    snprintf(want, sizeof want, "accept fd %ld", listen_fd);
    expect(out, "acceptor", "waiting", "0", "acceptor_fn", want);
    expect(out, "threader", "waiting", "0", "threader_fn", "thread blocking_read_in_thread");
    expect(out, "sleeper", "waiting", "0", "sleeper", "sleep in 59m");
    expect(out, "group-child", "waiting", "0", "sleeper", "sleep in 59m");
    expect(out, "loop1-spawner", "waiting", "1", "loop1_sleepers", "sleep in 59m");
    struct row root;
    CHECK(parse_row(out, "tree-root", &root), "tree-root");
    snprintf(want, sizeof want, "await task %lu (tree-root)", root.id);
    expect(out, "tree-a", "waiting", "0", "awaiter_fn", want);
    expect(out, "tree-b", "waiting", "0", "awaiter_fn", want);

    /* every row: count by kind of name; default names are "Task-<id>" of their own id */
    size_t rows = 0, named_rows = 0, default_rows = 0, loop1 = 0, scheduled = 0;
    for (char *p = out; (p = strchr(p, '\n')) && p[1];) {
        p++;
        unsigned long id;
        char name[64], state[16], loop[8];
        char line[256]; /* sscanf on the whole output would measure its length every line */
        const char *e = strchr(p, '\n');
        snprintf(line, sizeof line, "%.*s", (int)(e && e - p < 255 ? e - p : 255), p);
        if (sscanf(line, "%lu %63s %15s %7s", &id, name, state, loop) != 4)
            continue;
        rows++;
        CHECK(strcmp(state, "torn"), "a row is torn in a process that does not change: %.80s", p);
        if (!strncmp(name, "sleeper-", 8))
            named_rows++;
        if (!strncmp(name, "Task-", 5)) {
            default_rows++;
            CHECK(strtoul(name + 5, NULL, 10) == id, "default name %s of task %lu", name, id);
        }
        loop1 += !strcmp(loop, "1");
        scheduled += !strcmp(state, "scheduled");
    }
    CHECK(rows == NTASKS, "%zu rows", rows);
    CHECK(strstr(out, "\n" STR(NTASKS) " tasks\n"), "no '" STR(NTASKS) " tasks' footer");
    CHECK((long)named_rows == named, "%zu named sleepers, expected %ld", named_rows, named);
    CHECK((long)loop1 == ps_value(c.counts, "waiting1"), "%zu rows on loop 1", loop1);
    CHECK((long)scheduled == ps_value(c.counts, "scheduled"), "%zu scheduled", scheduled);
    CHECK(default_rows > NTASKS / 2, "%zu default-named rows", default_rows);
    ps_stop(&c);
    printf("ps_lists_known_states: OK (%zu rows)\n", rows);
    return 0;
}
