/*
 * Every allocation on the paths that existed before issue 8 fails once, in turn (failalloc.h):
 * tr_spawn_named, tr_task_set_name, tr_all_tasks, tr_taskset_new, tr_listener_open. Each must
 * give its documented error (NULL + ENOMEM or -ENOMEM), leave the object it was given as it
 * was, and leak nothing (valgrind and ASan check at exit).
 */
#include "regress.h"

#include "failalloc.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

static void *noop(void *arg) {
    return arg;
}

/* Run `call` with the n-th allocation failing, for n = 0, 1, ... until it needs none; returns
 * how many allocations the call makes. `call` returns 0 on success, -ENOMEM on failure. */
static long exhaust(int (*call)(void *), void *arg, const char *what) {
    for (long n = 0;; n++) {
        failalloc_arm(n);
        int rc = call(arg);
        bool injected = failalloc_injected();
        failalloc_disarm();
        if (!injected) {
            if (rc != 0) {
                fprintf(stderr, "%s: failed with %d and no injected failure\n", what, rc);
                exit(1);
            }
            return n;
        }
        if (rc != -ENOMEM) {
            fprintf(stderr, "%s: allocation %ld failed, call returned %d, not -ENOMEM\n", what, n,
                    rc);
            exit(1);
        }
    }
}

static int spawn_named(void *arg) {
    (void)arg;
    errno = 0;
    tr_task *t = tr_spawn_named(noop, NULL, "a-name-that-needs-memory");
    if (!t)
        return errno == ENOMEM ? -ENOMEM : -errno;
    CHECK_EQ(tr_await(t, NULL), 0);
    CHECK(strcmp(tr_task_name(t), "a-name-that-needs-memory") == 0);
    tr_task_release(t);
    return 0;
}

static int rename_self(void *arg) {
    (void)arg;
    const char *before = tr_task_name(tr_current());
    char saved[64];
    snprintf(saved, sizeof saved, "%s", before);
    int rc = tr_task_set_name(tr_current(), "renamed-with-memory");
    if (rc < 0)
        CHECK(strcmp(tr_task_name(tr_current()), saved) == 0); /* unchanged */
    return rc;
}

static int all_tasks(void *arg) {
    (void)arg;
    errno = 0;
    tr_taskset *s = tr_all_tasks();
    if (!s)
        return errno == ENOMEM ? -ENOMEM : -errno;
    CHECK(tr_taskset_size(s) >= 1);
    tr_taskset_free(s);
    return 0;
}

static int taskset_new(void *arg) {
    (void)arg;
    errno = 0;
    tr_taskset *s = tr_taskset_new(100);
    if (!s)
        return errno == ENOMEM ? -ENOMEM : -errno;
    CHECK(tr_all_tasks_fill(s) >= 1);
    tr_taskset_free(s);
    return 0;
}

static int listener_open(void *arg) {
    int lfd = *(int *)arg;
    errno = 0;
    tr_listener *l = tr_listener_open(lfd);
    if (!l)
        return errno == ENOMEM ? -ENOMEM : -errno;
    tr_listener_close(l);
    return 0;
}

static void *main_task(void *arg) {
    (void)arg;
    long a = exhaust(spawn_named, NULL, "tr_spawn_named");
    long b = exhaust(rename_self, NULL, "tr_task_set_name");
    long c = exhaust(all_tasks, NULL, "tr_all_tasks");
    long d = exhaust(taskset_new, NULL, "tr_taskset_new + fill");
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CHECK(lfd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    CHECK(bind(lfd, (struct sockaddr *)&sa, sizeof sa) == 0 && listen(lfd, 8) == 0);
    long e = exhaust(listener_open, &lfd, "tr_listener_open");
    close(lfd);
    /* Each path allocates at least once, or the test tested nothing. */
    CHECK(a >= 1 && b >= 1 && c >= 1 && d >= 1 && e >= 1);
    printf("allocations failed in turn: spawn_named %ld, set_name %ld, all_tasks %ld, "
           "taskset_new %ld, listener_open %ld\n",
           a, b, c, d, e);
    return NULL;
}

int main(void) {
    CHECK_EQ(tr_run(main_task, NULL, NULL), 0);
    return 0;
}
