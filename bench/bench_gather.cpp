// bench_gather.cpp - waiting for many tasks at once (issue 8), inside tr_run on the benchmark
// thread, beside the task/spawn_await_release floor of the same run (spawn each, tr_await each,
// release each):
//   gather/spawn_gather_release/n:100000  spawn 100K trivial tasks, tr_gather them, release
//                                         each: per task
//   group/spawn_wait_free/n:100000        tr_group_new, tr_group_spawn 100K trivial tasks,
//                                         tr_group_wait, tr_group_free: per task
#include "bench.hpp"

#include "taskring.h"

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

namespace trb {
namespace {

constexpr size_t kTasks = 100000;

// The trivial task: count itself done (loop thread only, so a plain counter).
void *count_done(void *arg) {
    ++*static_cast<size_t *>(arg);
    return nullptr;
}

std::string errno_text(const char *what) {
    return std::string(what) + ": " + strerror(errno);
}

std::string check_done(size_t done, size_t rounds) {
    if (done == rounds * kTasks)
        return "";
    return std::to_string(done) + " tasks ran, expected " + std::to_string(rounds * kTasks);
}

std::string spawn_gather(benchmark::State &st) {
    std::vector<tr_task *> tasks(kTasks);
    size_t done = 0, rounds = 0;
    std::string error;
    for (auto _ : st) {
        size_t n = 0;
        for (; n < kTasks; n++)
            if (!(tasks[n] = tr_spawn(count_done, &done))) {
                error = errno_text("tr_spawn");
                break;
            }
        if (error.empty()) {
            int rc = tr_gather(tasks.data(), n, nullptr, nullptr);
            if (rc < 0)
                error = tr_error_text("tr_gather", rc);
        }
        // After a failure, tasks not yet run are cancelled by tr_run once this task returns
        // (a task cancelled before it first runs never runs, so `done` is not touched late).
        for (size_t i = 0; i < n; i++)
            tr_task_release(tasks[i]);
        if (!error.empty()) {
            st.SkipWithError(error.c_str());
            return error;
        }
        rounds++;
    }
    return check_done(done, rounds);
}

std::string group_spawn_wait(benchmark::State &st) {
    size_t done = 0, rounds = 0;
    std::string error;
    for (auto _ : st) {
        tr_group *g = tr_group_new();
        if (!g) {
            error = errno_text("tr_group_new");
            st.SkipWithError(error.c_str());
            return error;
        }
        for (size_t i = 0; i < kTasks; i++)
            if (!tr_group_spawn(g, count_done, &done)) {
                error = errno_text("tr_group_spawn");
                break;
            }
        if (error.empty()) {
            int rc = tr_group_wait(g);
            if (rc < 0)
                error = tr_error_text("tr_group_wait", rc);
        }
        // Cancels and waits for members still running (only after a failure).
        int rc = tr_group_free(g);
        if (rc < 0 && error.empty())
            error = tr_error_text("tr_group_free", rc);
        if (!error.empty()) {
            st.SkipWithError(error.c_str());
            return error;
        }
        rounds++;
    }
    return check_done(done, rounds);
}

void BM_Gather(benchmark::State &st) {
    run_in_task(st, [&st] { return spawn_gather(st); });
    set_items(st, double(kTasks));
}

void BM_Group(benchmark::State &st) {
    run_in_task(st, [&st] { return group_spawn_wait(st); });
    set_items(st, double(kTasks));
}

} // namespace

void register_gather() {
    const std::string n = std::to_string(kTasks);
    benchmark::RegisterBenchmark(("gather/spawn_gather_release/n:" + n).c_str(), BM_Gather)
        ->Unit(benchmark::kMicrosecond);
    benchmark::RegisterBenchmark(("group/spawn_wait_free/n:" + n).c_str(), BM_Group)
        ->Unit(benchmark::kMicrosecond);
}

} // namespace trb
