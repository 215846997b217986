/*
 * prefault_thread_joined_at_end: the loop's prefault thread (runtime/prefault.c) is the
 * loop's: a small program never gets one, a burst of never-run tasks starts it, and tr_run
 * joins it before it returns, leaving no thread and no file descriptor behind (the thread
 * holds a pidfd for process_madvise while it lives).
 *
 * tr_run once with 500 sleepers: no thread named tr-prefault at any point. Then with 4,096:
 * the thread exists while they sleep (skipped when this machine cannot have one: one CPU,
 * or no MADV_POPULATE_WRITE), and after tr_run the process has the threads and descriptors
 * it had before either run.
 */
#include "regress.h"

#include <dirent.h>
#include <pthread.h>
#include <sched.h>
#include <sys/mman.h>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

static int started, sleepers_n;
static bool seen_small, seen_burst;

static size_t entries(const char *dir) {
    DIR *d = opendir(dir);
    CHECK(d);
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

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
            continue;
        if (fgets(comm, sizeof comm, f))
            comm[strcspn(comm, "\n")] = '\0';
        fclose(f);
        found = strcmp(comm, name) == 0;
    }
    closedir(d);
    return found;
}

static void *sleeper(void *arg) {
    (void)arg;
    started++;
    CHECK_EQ(tr_sleep(20 * 1000000ull), 0);
    return NULL;
}

static void *main_task(void *arg) {
    bool *seen = arg;
    started = 0;
    tr_task **tasks = calloc((size_t)sleepers_n, sizeof *tasks);
    CHECK(tasks);
    for (int i = 0; i < sleepers_n; i++)
        CHECK((tasks[i] = tr_spawn(sleeper, NULL)) != NULL);
    while (started < sleepers_n)
        CHECK_EQ(tr_yield(), 0);
    *seen = thread_named("tr-prefault");
    for (int i = 0; i < sleepers_n; i++) {
        CHECK_EQ(tr_await(tasks[i], NULL), 0);
        tr_task_release(tasks[i]);
    }
    free(tasks);
    return NULL;
}

static void *nothing(void *arg) {
    return arg;
}

int main(void) {
    /* A thread made and joined first: a sanitizer's own helper thread (TSan's starts with the
     * program's first thread) is then in the baseline. */
    pthread_t first;
    CHECK_EQ(pthread_create(&first, NULL, nothing, NULL), 0);
    CHECK_EQ(pthread_join(first, NULL), 0);
    size_t threads = entries("/proc/self/task"), fds = entries("/proc/self/fd");
    sleepers_n = 500;
    CHECK_EQ(tr_run(main_task, &seen_small, NULL), 0);
    CHECK(!seen_small); /* a small program gets no thread */
    CHECK(!thread_named("tr-prefault"));
    sleepers_n = 4096;
    CHECK_EQ(tr_run(main_task, &seen_burst, NULL), 0);
    CHECK(!thread_named("tr-prefault"));
    CHECK_EQ(entries("/proc/self/task"), threads);
    CHECK_EQ(entries("/proc/self/fd"), fds);
    if (!seen_burst) {
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
        fprintf(stderr, "a burst of 4096 never-run tasks started no prefault thread\n");
        return 1;
    }
    return 0;
}
