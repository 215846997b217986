/*
 * prefault_skips_cancelled_tasks: the loop's prefault thread (runtime/prefault.c) populates
 * the first page of the fresh stacks that queued never-run tasks will take. A task cancelled
 * before it starts never takes a stack, so it must not cost a populated page either.
 *
 * First a burst of sleepers that run (4,096: enough for the thread to start, which the test
 * checks, so that what follows runs with it alive). Then as many tasks cancelled right after
 * their spawn, before main lets anything run, awaited until they are done: the pool's ring
 * for the thread must have received no stack for them, no cold or idle stack of the pool
 * may have become resident, and (outside sanitizers, whose shadow memory moves RSS) the
 * process's RSS must not grow by their stacks' pages: 4,096 of them would be 16 MiB.
 * Through the internals: runtime/ on the include path.
 */
#include "regress.h"

#include "internal.h"

#include <dirent.h>
#include <sched.h>
#include <sys/mman.h>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

enum { BURST = 4096 };

static tr_event *release_sleepers;
static int started;

static void *sleeper(void *arg) {
    (void)arg;
    started++;
    CHECK_EQ(tr_event_wait(release_sleepers), 0);
    return NULL;
}

static void *never_runs(void *arg) {
    (void)arg;
    fprintf(stderr, "a task cancelled before it started ran\n");
    exit(1);
}

/* Is a thread named `name` alive in this process? */
static bool thread_named(const char *name) {
    DIR *d = opendir("/proc/self/task");
    CHECK(d);
    bool found = false;
    struct dirent *e;
    while (!found && (e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char path[320], comm[32] = "";
        snprintf(path, sizeof path, "/proc/self/task/%s/comm", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue; /* it has just ended */
        if (fgets(comm, sizeof comm, f))
            comm[strcspn(comm, "\n")] = '\0';
        fclose(f);
        found = strcmp(comm, name) == 0;
    }
    closedir(d);
    return found;
}

static long rss_pages(void) {
    long size = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    CHECK(f);
    CHECK_EQ(fscanf(f, "%ld %ld", &size, &resident), 2);
    fclose(f);
    return resident;
}

static bool top_page_resident(const struct stack *s) {
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    unsigned char vec = 0;
    CHECK_EQ(mincore(s->lo + s->size - page, page, &vec), 0);
    return vec & 1;
}

/* Resident top pages among the pool's cold and idle stacks. */
static size_t resident_unused(const struct stack_pool *p) {
    size_t n = 0;
    for (const struct stack *s = p->cold; s; s = s->next)
        n += top_page_resident(s);
    for (const struct stack *s = p->idle; s; s = s->next)
        n += top_page_resident(s);
    return n;
}

static int skip_reason;

static void *main_task(void *arg) {
    (void)arg;
    release_sleepers = tr_event_new();
    CHECK(release_sleepers);
    tr_task **sleepers = calloc(BURST, sizeof *sleepers);
    tr_task **cancelled = calloc(BURST, sizeof *cancelled);
    CHECK(sleepers && cancelled);
    for (int i = 0; i < BURST; i++)
        CHECK((sleepers[i] = tr_spawn(sleeper, NULL)) != NULL);
    while (started < BURST)
        CHECK_EQ(tr_yield(), 0);
    if (!thread_named("tr-prefault")) {
        skip_reason = 1;
    } else {
        struct stack_pool *pool = &tr_tls_loop->stacks;
        size_t warm = pool->warm, resident = resident_unused(pool);
        long rss = rss_pages();
        for (int i = 0; i < BURST; i++) {
            CHECK((cancelled[i] = tr_spawn(never_runs, NULL)) != NULL);
            CHECK_EQ(tr_task_cancel(cancelled[i]), 1);
        }
        for (int i = 0; i < BURST; i++) {
            CHECK_EQ(tr_await(cancelled[i], NULL), -ECANCELED);
            tr_task_release(cancelled[i]);
        }
        CHECK_EQ(tr_sleep(1000000), 0); /* the loop goes idle once: what is warm settles */
        CHECK(pool->warm <= warm);
        size_t resident_after = resident_unused(pool);
        if (resident_after > resident)
            fprintf(stderr, "%zu unused stacks became resident\n", resident_after - resident);
        CHECK(resident_after <= resident);
        long grown = rss_pages() - rss;
        if (!REGRESS_SANITIZED && !RUNNING_ON_VALGRIND && grown > BURST / 4) {
            fprintf(stderr, "RSS grew by %ld pages for %d cancelled tasks\n", grown, BURST);
            exit(1);
        }
    }
    CHECK_EQ(tr_event_set(release_sleepers), 0);
    for (int i = 0; i < BURST; i++) {
        CHECK_EQ(tr_await(sleepers[i], NULL), 0);
        tr_task_release(sleepers[i]);
    }
    free(sleepers);
    free(cancelled);
    tr_event_free(release_sleepers);
    return NULL;
}

int main(void) {
    CHECK_EQ(tr_run(main_task, NULL, NULL), 0);
    if (skip_reason) {
        /* Say why there was no thread, or fail: a burst must have started one. */
        cpu_set_t cpus;
        if (sched_getaffinity(0, sizeof cpus, &cpus) == 0 && CPU_COUNT(&cpus) < 2) {
            printf("one CPU: the loop starts no prefault thread\n");
            return SKIP_CODE;
        }
        void *page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        CHECK(page != MAP_FAILED);
        int rc = madvise(page, 4096, MADV_POPULATE_WRITE);
        munmap(page, 4096);
        if (rc < 0 && errno == EINVAL) {
            printf("the kernel has no MADV_POPULATE_WRITE: no prefault thread\n");
            return SKIP_CODE;
        }
        fprintf(stderr, "a burst of %d never-run tasks started no prefault thread\n", BURST);
        return 1;
    }
    return 0;
}
