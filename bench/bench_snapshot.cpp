// bench_snapshot.cpp - tr_all_tasks from a thread that is not the loop's (the headline case: a
// monitoring thread sampling a busy process), and snapshots under churn.
//
//   all_tasks/<kind>/alloc/n:N   tr_all_tasks + tr_taskset_free while N tasks are live
//   all_tasks/<kind>/fill/n:N    tr_all_tasks_fill into one reused tr_taskset_new(N) set
//   dump/<how>/n:N               tr_dump (text) or tr_dump_json of N sleeping tasks to /dev/null,
//                                beside its floor: tr_all_tasks + tr_task_name_copy of each task
//   churn/spawn_rate             a loop spawning and finishing tasks flat out: alone, with a
//                                second thread calling tr_all_tasks_fill flat out, and with a
//                                control thread as busy that touches nothing of taskring
//
// <kind> is "unstarted" (spawned, never run: the main task blocks its thread without yielding,
// so the tasks hold no stack) or "sleeping" (each task has run once and sits in tr_sleep).
//
// A population lives on a helper thread: its tr_run main task spawns N-1 tasks (main itself is
// the N-th live task), then blocks that thread on a condition variable until told to stop. The
// benchmark thread snapshots while it is parked. One population is kept across the benchmarks
// (and repetitions) that need the same (kind, N), and replaced when the next one differs.
#include "bench.hpp"

#include "taskring.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace trb {

const size_t kSnapshotSizes[5] = {1, 1000, 100000, 1000000, 4000000};

namespace {

enum class Kind { Unstarted, Sleeping };

const char *kind_name(Kind k) {
    return k == Kind::Unstarted ? "unstarted" : "sleeping";
}

constexpr uint64_t kParkSleepNs = 3600ull * 1000000000ull; // cancelled at teardown

class Population {
  public:
    Population(Kind kind, size_t n) : kind_(kind), n_(n) {}

    // Start the loop thread and wait until the population is complete (or failed).
    bool start(std::string *err) {
        thread_ = std::thread([this] {
            int rc = tr_run(&Population::main_task, this, nullptr);
            std::lock_guard<std::mutex> lk(mu_);
            run_rc_ = rc;
            exited_ = true;
            cv_.notify_all();
        });
        std::unique_lock<std::mutex> lk(mu_);
        cv_.wait(lk, [this] { return ready_ || exited_; });
        if (ready_ && spawn_errno_ == 0)
            return true;
        if (spawn_errno_)
            *err = "tr_spawn failed after " + std::to_string(spawned_) + " of " +
                   std::to_string(n_ - 1) + " tasks: " + strerror(spawn_errno_);
        else
            *err = std::string("tr_run: ") + tr_strerror(run_rc_);
        return false;
    }

    // Let the main task return; tr_run then cancels every parked task and returns.
    void stop() {
        {
            std::lock_guard<std::mutex> lk(mu_);
            stop_ = true;
            cv_.notify_all();
        }
        if (thread_.joinable())
            thread_.join();
    }

    Kind kind() const {
        return kind_;
    }
    size_t size() const {
        return n_;
    }

  private:
    static void *sleeper(void *arg) {
        Population *p = static_cast<Population *>(arg);
        p->started_++; // loop thread only
        tr_sleep(kParkSleepNs);
        return nullptr;
    }

    static void *main_task(void *arg) {
        Population *p = static_cast<Population *>(arg);
        tr_fn fn = p->kind_ == Kind::Sleeping ? sleeper : nullptr;
        for (size_t i = 1; i < p->n_; i++) {
            // An unstarted task never runs before teardown, which cancels it unrun; give it
            // the sleeper anyway so that a runtime that did run it would still keep it live.
            tr_task *t = tr_spawn(fn ? fn : sleeper, p);
            if (!t) {
                p->spawn_errno_ = errno;
                break;
            }
            tr_task_release(t);
            p->spawned_++;
        }
        if (p->kind_ == Kind::Sleeping)
            while (p->started_ < p->spawned_)
                if (tr_yield() < 0)
                    break;
        // tr_task_count is exact on the loop's own thread; other threads see the count as of
        // the loop's last turn, which a parked loop does not reach.
        p->count_in_loop_ = tr_task_count();
        // Park: block this thread (not just this task) so that nothing else runs.
        std::unique_lock<std::mutex> lk(p->mu_);
        p->ready_ = true;
        p->cv_.notify_all();
        p->cv_.wait(lk, [p] { return p->stop_; });
        return nullptr;
    }

    Kind kind_;
    size_t n_;
    std::thread thread_;
    std::mutex mu_;
    std::condition_variable cv_;
    bool ready_ = false, stop_ = false, exited_ = false;
    int run_rc_ = 0;
    int spawn_errno_ = 0;
    size_t spawned_ = 0, started_ = 0;

  public:
    size_t count_in_loop_ = 0;
};

std::unique_ptr<Population> g_pop;
std::string g_pop_error; // why the current (kind, N) could not be built
Kind g_err_kind;
size_t g_err_n = 0;

Population *ensure_population(Kind kind, size_t n, std::string *err) {
    if (g_pop && g_pop->kind() == kind && g_pop->size() == n)
        return g_pop.get();
    if (g_err_n == n && g_err_kind == kind) { // failed before: don't retry every repetition
        *err = g_pop_error;
        return nullptr;
    }
    population_reset();
    g_pop.reset(new Population(kind, n));
    if (!g_pop->start(err)) {
        g_pop->stop();
        g_pop.reset();
        g_pop_error = *err;
        g_err_kind = kind;
        g_err_n = n;
        return nullptr;
    }
    return g_pop.get();
}

// A snapshot taken outside the timed loop, checked against the expected population.
bool check_snapshot(size_t n, std::string *err) {
    size_t count = g_pop ? g_pop->count_in_loop_ : tr_task_count();
    tr_taskset *s = tr_all_tasks();
    if (!s) {
        *err = std::string("tr_all_tasks: ") + strerror(errno);
        return false;
    }
    size_t got = tr_taskset_size(s);
    bool ok = got == n && count == n;
    for (size_t i = 0; ok && i < got; i += std::max<size_t>(1, got / 64))
        ok = tr_taskset_get(s, i) != nullptr && !tr_task_done(tr_taskset_get(s, i));
    tr_taskset_free(s);
    if (!ok)
        *err = "expected " + std::to_string(n) + " live tasks; tr_all_tasks held " +
               std::to_string(got) + ", tr_task_count said " + std::to_string(count) +
               " (or a held task was NULL/done)";
    return ok;
}

void BM_AllTasks(benchmark::State &st, Kind kind, bool fill, size_t n) {
    std::string err;
    if (!ensure_population(kind, n, &err) || !check_snapshot(n, &err)) {
        st.SkipWithError(err.c_str());
        return;
    }
    if (fill) {
        tr_taskset *s = tr_taskset_new(n);
        if (!s) {
            st.SkipWithError("tr_taskset_new failed");
            return;
        }
        ssize_t got = 0;
        for (auto _ : st) {
            got = tr_all_tasks_fill(s);
            benchmark::DoNotOptimize(got);
        }
        if (got != ssize_t(n) || tr_taskset_size(s) != n) {
            err = "tr_all_tasks_fill returned " + std::to_string(got) + ", set holds " +
                  std::to_string(tr_taskset_size(s)) + ", expected " + std::to_string(n);
            st.SkipWithError(err.c_str());
        }
        tr_taskset_free(s);
    } else {
        size_t got = 0;
        for (auto _ : st) {
            tr_taskset *s = tr_all_tasks();
            got = s ? tr_taskset_size(s) : 0;
            if (s)
                tr_taskset_free(s);
        }
        if (got != n) {
            err = "tr_all_tasks held " + std::to_string(got) + ", expected " + std::to_string(n);
            st.SkipWithError(err.c_str());
        }
    }
    set_items(st, double(n));
}

// ---- dumps -----------------------------------------------------------------------------------

enum class DumpHow { Floor, Text, Json };

// From this thread (not the loop's), like a monitoring thread would. The floor is what a
// caller of the public API pays for the least a dump does: a snapshot and every task's name.
void BM_Dump(benchmark::State &st, DumpHow how, size_t n) {
    std::string err;
    if (!ensure_population(Kind::Sleeping, n, &err) || !check_snapshot(n, &err)) {
        st.SkipWithError(err.c_str());
        return;
    }
    FILE *null = fopen("/dev/null", "w");
    if (!null) {
        st.SkipWithError("cannot open /dev/null");
        return;
    }
    size_t got = 0;
    for (auto _ : st) {
        if (how == DumpHow::Floor) {
            tr_taskset *s = tr_all_tasks();
            got = s ? tr_taskset_size(s) : 0;
            char name[64];
            for (size_t i = 0; i < got; i++)
                benchmark::DoNotOptimize(
                    tr_task_name_copy(tr_taskset_get(s, i), name, sizeof name));
            tr_taskset_free(s);
        } else {
            int rc = how == DumpHow::Text ? tr_dump(null) : tr_dump_json(null);
            got = rc < 0 ? 0 : size_t(rc);
        }
    }
    fclose(null);
    if (got != n) {
        err = "listed " + std::to_string(got) + " tasks, expected " + std::to_string(n);
        st.SkipWithError(err.c_str());
    }
    set_items(st, double(n));
}

// ---- churn -----------------------------------------------------------------------------------

constexpr int kChurnBatch = 64;

struct Churn {
    uint64_t duration_ns = 0;
    std::atomic<int> phase{0}; // 0 starting, 1 timing, 2 done
    uint64_t spawned = 0, t0 = 0, t1 = 0;
    int error = 0;
    // snapshotter
    uint64_t snaps = 0, snap_tasks = 0, s0 = 0, s1 = 0;
};

void *count_done(void *arg) {
    ++*static_cast<uint64_t *>(arg);
    return nullptr;
}

void *churn_main(void *arg) {
    Churn *c = static_cast<Churn *>(arg);
    uint64_t done = 0, n = 0;
    c->phase.store(1, std::memory_order_release);
    uint64_t t0 = now_ns(), deadline = t0 + c->duration_ns, t;
    do {
        for (int i = 0; i < kChurnBatch; i++) {
            tr_task *task = tr_spawn(count_done, &done);
            if (!task) {
                c->error = errno;
                break;
            }
            tr_task_release(task);
            n++;
        }
        while (done < n)
            if (tr_yield() < 0)
                break;
    } while (!c->error && (t = now_ns()) < deadline);
    c->t0 = t0;
    c->t1 = now_ns();
    c->spawned = n;
    c->phase.store(2, std::memory_order_release);
    return nullptr;
}

void snapshotter(Churn *c) {
    tr_taskset *s = tr_taskset_new(4096);
    while (c->phase.load(std::memory_order_acquire) == 0)
        std::this_thread::yield();
    c->s0 = now_ns();
    uint64_t snaps = 0, tasks = 0;
    while (c->phase.load(std::memory_order_acquire) == 1) {
        ssize_t got = tr_all_tasks_fill(s);
        tasks += got > 0 ? uint64_t(got) : 0;
        snaps++;
    }
    c->s1 = now_ns();
    c->snaps = snaps;
    c->snap_tasks = tasks;
    tr_taskset_free(s);
}

// The control: a second thread as busy as the snapshotter, copying a private 32 KiB buffer (the
// size of one registry chunk) flat out. It shares nothing with the loop, so whatever it costs
// the loop is the machine's (shared core, cache, memory bandwidth), not taskring's.
void busy_control(Churn *c) {
    std::vector<uint64_t> a(4096, 1), b(4096);
    while (c->phase.load(std::memory_order_acquire) == 0)
        std::this_thread::yield();
    uint64_t n = 0;
    while (c->phase.load(std::memory_order_acquire) == 1) {
        memcpy(b.data(), a.data(), a.size() * sizeof a[0]);
        benchmark::DoNotOptimize(b.data());
        n++;
    }
    c->snaps = n;
}

enum class Second { None, Snapshotter, Control };

// One phase: returns the loop's spawn rate (tasks/s); the snapshotter's rate in *snap_rate.
double churn_phase(Second second, double *snap_rate, double *snap_avg_live, std::string *err) {
    Churn c;
    c.duration_ns = uint64_t(g_opt.churn_phase_s * 1e9);
    std::thread other;
    if (second == Second::Snapshotter)
        other = std::thread(snapshotter, &c);
    else if (second == Second::Control)
        other = std::thread(busy_control, &c);
    int rc = 0;
    std::thread loop([&] { rc = tr_run(churn_main, &c, nullptr); });
    loop.join();
    if (c.phase.load() != 2)
        c.phase.store(2); // tr_run failed before main ran: release the other thread
    if (other.joinable())
        other.join();
    if (rc < 0 || c.error) {
        *err = rc < 0 ? std::string("tr_run: ") + tr_strerror(rc)
                      : std::string("tr_spawn: ") + strerror(c.error);
        return 0;
    }
    if (second == Second::Snapshotter) {
        *snap_rate = c.snaps / ((c.s1 - c.s0) * 1e-9);
        *snap_avg_live = c.snaps ? double(c.snap_tasks) / c.snaps : 0;
    }
    return c.spawned / ((c.t1 - c.t0) * 1e-9);
}

double median(std::vector<double> v) {
    if (v.empty())
        return 0;
    std::sort(v.begin(), v.end());
    size_t m = v.size() / 2;
    return v.size() % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

void BM_Churn(benchmark::State &st) {
    population_reset(); // nothing else live: the snapshotter sees only the churning tasks
    std::vector<double> alone, with, control, snap, live;
    // Per round: the snapshotter's phase against the same round's control phase (a second
    // thread as busy that shares nothing with the loop), so the machine's part cancels out.
    std::vector<double> vs_control;
    std::string err;
    const Second order[3] = {Second::None, Second::Snapshotter, Second::Control};
    for (auto _ : st) {
        for (int round = 0; round < g_opt.churn_rounds && err.empty(); round++) {
            double round_with = 0, round_control = 0;
            // Rotate which phase goes first so that drift hits all three alike.
            for (int k = 0; k < 3 && err.empty(); k++) {
                Second second = order[(round + k) % 3];
                double sr = 0, sl = 0;
                double rate = churn_phase(second, &sr, &sl, &err);
                if (second == Second::None)
                    alone.push_back(rate);
                else if (second == Second::Control)
                    control.push_back(round_control = rate);
                else {
                    with.push_back(round_with = rate);
                    snap.push_back(sr);
                    live.push_back(sl);
                }
            }
            if (round_control > 0)
                vs_control.push_back(round_with / round_control);
        }
    }
    if (!err.empty()) {
        st.SkipWithError(err.c_str());
        return;
    }
    double a = median(alone), w = median(with), c = median(control);
    st.counters["spawn_rate_alone"] = a;
    st.counters["spawn_rate_with_snapshotter"] = w;
    st.counters["spawn_rate_with_control"] = c;
    st.counters["spawn_rate_drop_pct"] = a > 0 ? (1 - w / a) * 100 : 0;
    st.counters["control_drop_pct"] = a > 0 ? (1 - c / a) * 100 : 0;
    // Median of the per-round ratios: the snapshotter's own cost, the machine's removed.
    st.counters["drop_vs_control_pct"] = vs_control.empty() ? 0 : (1 - median(vs_control)) * 100;
    st.counters["snapshot_rate"] = median(snap);
    st.counters["snapshot_avg_live"] = median(live);
    st.counters["phases"] = double(alone.size() + with.size() + control.size());
}

} // namespace

void population_reset() {
    if (g_pop) {
        g_pop->stop();
        g_pop.reset();
    }
}

void register_snapshots() {
    // Churn first: the registry's scan bound is the most chunks it ever had (chunks are never
    // released), so a snapshot after a 4M-task peak scans 4M slots however few tasks live.
    // Measuring churn before any big population shows the steady state; the *_after_peak
    // benchmarks at the end show what a past peak costs.
    benchmark::RegisterBenchmark("churn/spawn_rate", BM_Churn)
        ->Iterations(1)
        ->Repetitions(1)
        ->Unit(benchmark::kMillisecond);
    auto snap = [](Kind kind, size_t n, const std::string &suffix) {
        for (bool fill : {false, true}) {
            std::string name = std::string("all_tasks/") + kind_name(kind) +
                               (fill ? "/fill/n:" : "/alloc/n:") + std::to_string(n) + suffix;
            auto *b = benchmark::RegisterBenchmark(name.c_str(), BM_AllTasks, kind, fill, n);
            b->Unit(n >= 100000 ? benchmark::kMicrosecond : benchmark::kNanosecond);
        }
    };
    // Ascending N, so that every figure is taken with the registry's peak equal to N.
    for (size_t n : kSnapshotSizes) {
        register_memcpy_floor(n);
        snap(Kind::Unstarted, n, "");
        if (n >= 1000 && n <= 1000000) // sleeping variant: 1K, 100K, 1M
            snap(Kind::Sleeping, n, "");
        if (n == 1000000) { // the same sleeping population: dumps beside their floor
            const std::pair<const char *, DumpHow> dumps[] = {
                {"dump/floor_all_tasks_name_copy/n:", DumpHow::Floor},
                {"dump/tr_dump/n:", DumpHow::Text},
                {"dump/tr_dump_json/n:", DumpHow::Json},
            };
            for (const auto &d : dumps)
                benchmark::RegisterBenchmark((d.first + std::to_string(n)).c_str(), BM_Dump,
                                             d.second, n)
                    ->Unit(benchmark::kMillisecond)
                    ->Iterations(2);
        }
    }
    snap(Kind::Unstarted, 1000, "/after_peak:4M");
    benchmark::RegisterBenchmark("churn/spawn_rate/after_peak:4M", BM_Churn)
        ->Iterations(1)
        ->Repetitions(1)
        ->Unit(benchmark::kMillisecond);
}

} // namespace trb
