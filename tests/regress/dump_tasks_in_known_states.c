/*
 * tr_dump and tr_dump_json list every live task with what it waits on. Tasks are put in known
 * states on two loops (a sleep, an await, a lock held by another, an empty queue, a recv on a
 * socket, a group wait with its member, a sleep on loop 1, a name that needs escaping); the
 * dump is taken from a task of loop 0 (exact: a lock's holder is shown) and from a worker
 * thread that owns no loop (tr_to_thread), and each row's fields are checked, the JSON form
 * parsed. Bad input: NULL, and a stream that cannot be written (-EIO).
 */
#include "regress.h"
#include "json_check.h"

#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <time.h>

#define LONG_NS (60ull * 1000 * 1000 * 1000)
#define ODD_NAME "odd \"q\"\n\\ \xc3\xa9"

/* Exported (the tests link with -rdynamic), so the dump shows their symbols. */
void *dump_sleeper(void *arg);
void *dump_awaiter(void *arg);
void *dump_holder(void *arg);
void *dump_lock_waiter(void *arg);
void *dump_getter(void *arg);
void *dump_reader(void *arg);
void *dump_group_waiter(void *arg);
void *dump_main(void *arg);

static tr_lock *lock;
static tr_queue *queue;
static int sv[2];

void *dump_sleeper(void *arg) {
    (void)arg;
    tr_sleep(LONG_NS);
    return NULL;
}

void *dump_awaiter(void *arg) {
    tr_await(arg, NULL);
    return NULL;
}

void *dump_holder(void *arg) {
    (void)arg;
    CHECK_EQ(tr_lock_acquire(lock), 0);
    tr_sleep(LONG_NS);
    tr_lock_release(lock);
    return NULL;
}

void *dump_lock_waiter(void *arg) {
    (void)arg;
    if (tr_lock_acquire(lock) == 0)
        tr_lock_release(lock);
    return NULL;
}

void *dump_getter(void *arg) {
    (void)arg;
    void *item;
    tr_queue_get(queue, &item);
    return NULL;
}

void *dump_reader(void *arg) {
    (void)arg;
    char c;
    tr_recv(sv[0], &c, 1, 0);
    return NULL;
}

void *dump_group_waiter(void *arg) {
    (void)arg;
    tr_group *g = tr_group_new();
    CHECK(g != NULL);
    CHECK(tr_group_spawn_named(g, dump_sleeper, NULL, "member") != NULL);
    tr_group_wait(g);
    tr_group_free(g);
    return NULL;
}

static char *dump_text(bool json, int *rc) {
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    CHECK(f != NULL);
    *rc = json ? tr_dump_json(f) : tr_dump(f);
    fclose(f);
    return text;
}

/* The row of the task named `name` (quoted as the dump quotes it), copied. */
static char *row_of(const char *text, const char *quoted) {
    char key[128];
    snprintf(key, sizeof key, " name=%s ", quoted);
    const char *p = strstr(text, key);
    if (!p) {
        fprintf(stderr, "no row with %s in:\n%s", key, text);
        exit(1);
    }
    const char *start = p;
    while (start > text && start[-1] != '\n')
        start--;
    const char *end = strchr(p, '\n');
    return strndup(start, (size_t)(end - start));
}

static void expect_in(const char *row, const char *what) {
    if (!strstr(row, what)) {
        fprintf(stderr, "row lacks \"%s\":\n%s\n", what, row);
        exit(1);
    }
}

static void expect_not_in(const char *row, const char *what) {
    if (strstr(row, what)) {
        fprintf(stderr, "row has \"%s\":\n%s\n", what, row);
        exit(1);
    }
}

static unsigned long long id_of(tr_task *t) {
    const char *name = tr_task_name(t); /* only for default names: Task-N */
    unsigned long long n = 0;
    CHECK(sscanf(name, "Task-%llu", &n) == 1);
    return n;
}

struct ids {
    unsigned long long sleeper, holder, lock_waiter, main;
};

static void check_text(const char *text, int rc, const struct ids *ids, bool exact) {
    char want[96];
    CHECK(rc > 0);
    snprintf(want, sizeof want, "taskring dump: %d tasks\n", rc);
    CHECK(strstr(text, want) != NULL);
    CHECK_EQ(count_substr(text, "\n  id="), rc); /* a row per task, each after a newline */

    char *r = row_of(text, "'sleeper'");
    snprintf(want, sizeof want, "  id=%llu loop=0 state=suspended ", ids->sleeper);
    expect_in(r, want);
    expect_in(r, " fn=dump_sleeper ");
    expect_in(r, " wait=sleep deadline=+");
    free(r);

    r = row_of(text, "'awaiter'");
    snprintf(want, sizeof want, " wait=await task=%llu object=0x", ids->sleeper);
    expect_in(r, want);
    expect_in(r, " deadline=none");
    free(r);

    r = row_of(text, "'lock-waiter'");
    expect_in(r, " wait=lock object=0x");
    snprintf(want, sizeof want, " holder=%llu ", ids->holder);
    if (exact)
        expect_in(r, want);
    else
        expect_not_in(r, " holder=");
    free(r);

    r = row_of(text, "'getter'");
    expect_in(r, " wait=queue-get object=0x");
    free(r);

    r = row_of(text, "'reader'");
    snprintf(want, sizeof want, " wait=io op=recv fd=%d deadline=none", sv[0]);
    expect_in(r, want);
    free(r);

    r = row_of(text, "'group-waiter'");
    expect_in(r, " wait=group object=0x");
    free(r);
    r = row_of(text, "'member'");
    expect_in(r, " wait=sleep ");
    free(r);

    r = row_of(text, "'far-sleeper'");
    expect_in(r, " loop=1 state=suspended ");
    expect_in(r, " wait=sleep ");
    free(r);

    r = row_of(text, "'odd \"q\"\\n\\\\ \xc3\xa9'");
    expect_in(r, " wait=sleep ");
    free(r);

    snprintf(want, sizeof want, "  id=%llu loop=0 state=%s ", ids->main,
             exact ? "running" : "suspended");
    CHECK(strstr(text, want) != NULL);
}

static void check_json(const char *text, int rc) {
    if (!json_valid(text)) {
        fprintf(stderr, "tr_dump_json's output is not JSON:\n%s", text);
        exit(1);
    }
    char want[64];
    snprintf(want, sizeof want, "],\"count\":%d}\n", rc);
    CHECK(strstr(text, want) != NULL);
    CHECK_EQ(count_substr(text, "{\"id\":"), rc);
    CHECK(strstr(text, "\"name\":\"odd \\\"q\\\"\\u000a\\\\ \xc3\xa9\"") != NULL);
    char io[64];
    snprintf(io, sizeof io, "\"wait\":{\"kind\":\"io\",\"op\":\"recv\",\"fd\":%d", sv[0]);
    CHECK(strstr(text, io) != NULL);
    CHECK(strstr(text, "\"name\":\"sleeper\",\"state\":\"suspended\",\"fn\":\"dump_sleeper\"") !=
          NULL);
    CHECK(strstr(text, "{\"kind\":\"sleep\",\"deadline_in_ns\":") != NULL);
    CHECK(strstr(text, "\"torn\":true") == NULL);
}

struct from_thread {
    char *text, *json;
    int rc, json_rc;
};

static void *dump_on_worker(void *arg) {
    struct from_thread *f = arg;
    /* The job may start before the calling task has suspended in tr_to_thread: let it. */
    struct timespec ts = {0, 50 * 1000 * 1000};
    nanosleep(&ts, NULL);
    f->text = dump_text(false, &f->rc);
    f->json = dump_text(true, &f->json_rc);
    return NULL;
}

void *dump_main(void *arg) {
    (void)arg;
    lock = tr_lock_new();
    queue = tr_queue_new(1);
    CHECK(lock && queue);
    CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    tr_task *tasks[16];
    size_t n = 0;
    tr_task *sleeper = tasks[n++] = tr_spawn_named(dump_sleeper, NULL, "sleeper");
    tasks[n++] = tr_spawn_named(dump_awaiter, sleeper, "awaiter");
    tasks[n++] = tr_spawn_named(dump_holder, NULL, "holder");
    tasks[n++] = tr_spawn_named(dump_lock_waiter, NULL, "lock-waiter");
    tasks[n++] = tr_spawn_named(dump_getter, NULL, "getter");
    tasks[n++] = tr_spawn_named(dump_reader, NULL, "reader");
    tasks[n++] = tr_spawn_named(dump_group_waiter, NULL, "group-waiter");
    tasks[n++] = tr_spawn_on_named(1, dump_sleeper, NULL, "far-sleeper");
    tasks[n++] = tr_spawn_named(dump_sleeper, NULL, ODD_NAME);
    for (size_t i = 0; i < n; i++)
        CHECK(tasks[i] != NULL);
    tr_sleep(50 * 1000 * 1000); /* every task reaches its wait */

    struct ids ids = {0, 0, 0, id_of(tr_current())};
    /* The named tasks' ids from their rows; check_text then ties them together (the
     * awaiter's task= is the sleeper's id, the lock's holder= the holder's). */
    int rc;
    char *text = dump_text(false, &rc);
    char *row = row_of(text, "'sleeper'");
    CHECK(sscanf(row, "  id=%llu", &ids.sleeper) == 1);
    free(row);
    row = row_of(text, "'holder'");
    CHECK(sscanf(row, "  id=%llu", &ids.holder) == 1);
    free(row);
    check_text(text, rc, &ids, true);
    printf("%s", text);
    free(text);
    char *json = dump_text(true, &rc);
    check_json(json, rc);
    free(json);

    /* From a thread that owns no loop, while this task waits for it. */
    struct from_thread f = {0};
    CHECK_EQ(tr_to_thread(dump_on_worker, &f, NULL), 0);
    check_text(f.text, f.rc, &ids, false);
    check_json(f.json, f.json_rc);
    free(f.text);
    free(f.json);

    /* Bad input. */
    CHECK_EQ(tr_dump(NULL), -EINVAL);
    CHECK_EQ(tr_dump_json(NULL), -EINVAL);
    FILE *ro = fopen("/dev/null", "r");
    CHECK(ro != NULL);
    CHECK_EQ(tr_dump(ro), -EIO);
    fclose(ro);

    for (size_t i = 0; i < n; i++)
        tr_task_cancel(tasks[i]);
    for (size_t i = 0; i < n; i++) {
        tr_await(tasks[i], NULL);
        tr_task_release(tasks[i]);
    }
    tr_lock_free(lock);
    tr_queue_free(queue);
    close(sv[0]), close(sv[1]);
    return NULL;
}

int main(void) {
    tr_options opts = {.loops = 2};
    CHECK_EQ(tr_run_with(&opts, dump_main, NULL, NULL), 0);
    return 0;
}
