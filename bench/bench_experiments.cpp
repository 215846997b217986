// bench_experiments.cpp - whole-process experiments, each run in a fresh child process
// (`taskring_bench --tr-probe=...`) so that no earlier benchmark's warm allocator, registry or
// stack pool flatters the figure:
//
//   sleepers/n:1000000     spawn 1M tasks that each tr_sleep(1 s): wall time from the first
//                          spawn to the last wake, and how the wakes are spread
//   memory/unstarted/n:N   RSS growth per task for N spawned, never-run tasks
//   memory/sleeping/n:N    RSS growth per task for N tasks suspended in tr_sleep
//
// Each is repeated g_opt.probe_reps times; counters are medians over the repetitions.
#include "bench.hpp"

#include "taskring.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <sys/mman.h>
#include <unistd.h>
#include <vector>

namespace trb {
namespace {

// ---- child side -------------------------------------------------------------------------------

void emit(const char *key, double value) {
    printf("%s %.17g\n", key, value);
}

void emit_error(const std::string &msg) {
    printf("error %s\n", msg.c_str());
    fflush(stdout);
}

constexpr uint64_t kSecond = 1000000000ull;

struct Slot {
    uint64_t start, wake;
    int rc;
};

struct SleepProbe {
    size_t n = 0, spawned = 0, woken = 0;
    std::vector<Slot> slots;
    uint64_t t0 = 0, t_spawned = 0;
    int spawn_errno = 0;
};
SleepProbe *g_sp;

void *sleep_one_second(void *arg) {
    Slot *s = static_cast<Slot *>(arg);
    s->start = now_ns();
    s->rc = tr_sleep(kSecond);
    s->wake = now_ns();
    g_sp->woken++;
    return nullptr;
}

void *sleepers_main(void *arg) {
    SleepProbe *p = static_cast<SleepProbe *>(arg);
    p->t0 = now_ns();
    for (size_t i = 0; i < p->n; i++) {
        tr_task *t = tr_spawn(sleep_one_second, &p->slots[i]);
        if (!t) {
            p->spawn_errno = errno;
            break;
        }
        tr_task_release(t);
        p->spawned++;
    }
    p->t_spawned = now_ns();
    // Poll for completion; the figures come from the tasks' own clock reads, not from here.
    uint64_t give_up = p->t0 + 30 * kSecond;
    while (p->woken < p->spawned && now_ns() < give_up)
        if (tr_sleep(10 * 1000000ull) < 0)
            break;
    return nullptr;
}

double pct(std::vector<uint64_t> &v, double q) {
    size_t i = std::min(v.size() - 1, size_t(q * (v.size() - 1) + 0.5));
    std::nth_element(v.begin(), v.begin() + i, v.end());
    return double(v[i]);
}

// The probes run with the defaults, except a guard size from TASKRING_BENCH_GUARD (bytes), so
// that what a guard costs can be measured: TASKRING_BENCH_GUARD=16384 taskring_bench
// --tr-probe=memory:sleeping:1000000.
const tr_options *probe_options() {
    static tr_options opts;
    if (const char *g = getenv("TASKRING_BENCH_GUARD"))
        opts.guard_size = strtoull(g, nullptr, 0);
    return &opts;
}

int probe_sleepers(size_t n) {
    SleepProbe p;
    p.n = n;
    p.slots.assign(n, Slot{0, 0, 1});
    g_sp = &p;
    int rc = tr_run_with(probe_options(), sleepers_main, &p, nullptr);
    if (rc < 0) {
        emit_error(std::string("tr_run: ") + tr_strerror(rc));
        return 1;
    }
    if (p.spawn_errno) {
        emit_error("tr_spawn failed after " + std::to_string(p.spawned) +
                   " tasks: " + strerror(p.spawn_errno));
        return 1;
    }
    if (p.woken != p.spawned) {
        emit_error(std::to_string(p.spawned - p.woken) + " of " + std::to_string(p.spawned) +
                   " sleepers never woke within 30 s");
        return 1;
    }
    uint64_t first_wake = UINT64_MAX, last_wake = 0, bad = 0, early = 0;
    std::vector<uint64_t> late(n);
    for (size_t i = 0; i < n; i++) {
        const Slot &s = p.slots[i];
        first_wake = std::min(first_wake, s.wake);
        last_wake = std::max(last_wake, s.wake);
        bad += s.rc != 0;
        early += s.wake < s.start + kSecond;
        late[i] = s.wake >= s.start + kSecond ? s.wake - (s.start + kSecond) : 0;
    }
    emit("n", double(n));
    emit("wall_ns", double(last_wake - p.t0));
    emit("spawn_ns", double(p.t_spawned - p.t0));
    emit("first_wake_ns", double(first_wake - p.t0));
    emit("wake_spread_ns", double(last_wake - first_wake));
    emit("late_p50_ns", pct(late, 0.50));
    emit("late_p99_ns", pct(late, 0.99));
    emit("late_max_ns", pct(late, 1.0));
    emit("woke_early", double(early));
    emit("sleep_errors", double(bad));
    fflush(stdout);
    return 0;
}

struct MemProbe {
    size_t n = 0, spawned = 0, started = 0;
    bool sleeping = false;
    int spawn_errno = 0;
};

void *mem_sleeper(void *arg) {
    static_cast<MemProbe *>(arg)->started++;
    tr_sleep(3600 * kSecond);
    return nullptr;
}

void *memory_main(void *arg) {
    MemProbe *p = static_cast<MemProbe *>(arg);
    MemSize before = read_statm();
    uint64_t t0 = now_ns();
    for (size_t i = 0; i < p->n; i++) {
        tr_task *t = tr_spawn(mem_sleeper, p);
        if (!t) {
            p->spawn_errno = errno;
            break;
        }
        tr_task_release(t);
        p->spawned++;
    }
    if (p->sleeping)
        while (p->started < p->spawned)
            if (tr_yield() < 0)
                break;
    uint64_t t1 = now_ns();
    MemSize after = read_statm();
    if (p->spawn_errno) {
        emit_error("tr_spawn failed after " + std::to_string(p->spawned) +
                   " tasks: " + strerror(p->spawn_errno));
        _exit(1);
    }
    if (!p->sleeping && p->started) {
        emit_error(std::to_string(p->started) + " tasks ran although main never yielded");
        _exit(1);
    }
    emit("n", double(p->n));
    emit("live", double(tr_task_count()));
    emit("rss_before", before.rss);
    emit("rss_after", after.rss);
    emit("bytes_per_task", (after.rss - before.rss) / double(p->n));
    emit("vsz_per_task", (after.vsz - before.vsz) / double(p->n));
    emit("pte_per_task", (after.pte - before.pte) / double(p->n));
    emit("setup_ns", double(t1 - t0));
    fflush(stdout);
    _exit(0); // skip tearing down a million tasks: the figure is taken
}

int probe_memory(bool sleeping, size_t n) {
    MemProbe p;
    p.n = n;
    p.sleeping = sleeping;
    int rc = tr_run_with(probe_options(), memory_main, &p, nullptr);
    emit_error(std::string("tr_run returned ") + (rc < 0 ? tr_strerror(rc) : "early"));
    return 1;
}

// ---- parent side ------------------------------------------------------------------------------

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    size_t m = v.size() / 2;
    return v.size() % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

// Run the probe reps times; medians of every key into counters. False (and error set) if any
// repetition failed.
bool run_reps(benchmark::State &st, const std::string &what, int reps,
              std::map<std::string, double> *med) {
    std::map<std::string, std::vector<double>> all;
    for (int r = 0; r < reps; r++) {
        std::map<std::string, double> one;
        std::string err;
        if (!run_probe(what, &one, &err)) {
            err = "--tr-probe=" + what + ": " + err;
            st.SkipWithError(err.c_str());
            return false;
        }
        for (auto &kv : one)
            all[kv.first].push_back(kv.second);
    }
    for (auto &kv : all) {
        (*med)[kv.first] = median(kv.second);
        st.counters[kv.first] = (*med)[kv.first];
    }
    if (all.count("wall_ns"))
        st.counters["wall_ns_worst"] =
            *std::max_element(all["wall_ns"].begin(), all["wall_ns"].end());
    st.counters["reps"] = reps;
    return true;
}

// The machine's floor for anything that gives each of n tasks a page of its own: fault in one
// fresh page per 80 KiB (a 64 KiB stack plus its 16 KiB guard), as n first runs would.
void BM_FirstTouch(benchmark::State &st, size_t n) {
    population_reset();
    const size_t stride = 80 * 1024;
    std::vector<double> samples;
    for (auto _ : st) {
        for (int r = 0; r < g_opt.probe_reps; r++) {
            void *mem = mmap(nullptr, n * stride, PROT_READ | PROT_WRITE,
                             MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
            if (mem == MAP_FAILED) {
                st.SkipWithError("mmap failed");
                return;
            }
            char *p = static_cast<char *>(mem);
            uint64_t t0 = now_ns();
            for (size_t i = 0; i < n; i++)
                p[i * stride + stride - 64] = 1; // the top of a stack: what a first run touches
            samples.push_back(double(now_ns() - t0));
            munmap(mem, n * stride);
        }
        st.SetIterationTime(median(samples) * 1e-9);
    }
    st.counters["worst_ns"] = *std::max_element(samples.begin(), samples.end());
    set_items(st, double(n));
}

void BM_Sleepers(benchmark::State &st, size_t n) {
    population_reset();
    for (auto _ : st) {
        std::map<std::string, double> med;
        if (!run_reps(st, "sleepers:" + std::to_string(n), g_opt.probe_reps, &med))
            break;
        st.SetIterationTime(med["wall_ns"] * 1e-9);
    }
}

void BM_Memory(benchmark::State &st, bool sleeping, size_t n) {
    population_reset();
    for (auto _ : st) {
        std::map<std::string, double> med;
        std::string what =
            std::string("memory:") + (sleeping ? "sleeping:" : "unstarted:") + std::to_string(n);
        if (!run_reps(st, what, g_opt.probe_reps, &med))
            break;
        st.SetIterationTime(med["setup_ns"] * 1e-9);
    }
}

} // namespace

int probe_main(const std::string &what) {
    // what: sleepers:N | memory:unstarted:N | memory:sleeping:N
    auto n_of = [](const std::string &s) { return size_t(strtoull(s.c_str(), nullptr, 10)); };
    if (what.rfind("sleepers:", 0) == 0)
        return probe_sleepers(n_of(what.substr(9)));
    if (what.rfind("memory:unstarted:", 0) == 0)
        return probe_memory(false, n_of(what.substr(17)));
    if (what.rfind("memory:sleeping:", 0) == 0)
        return probe_memory(true, n_of(what.substr(16)));
    emit_error("unknown probe '" + what + "'");
    return 2;
}

bool run_probe(const std::string &what, std::map<std::string, double> *out, std::string *err) {
    std::string text, run_err;
    bool ok = run_child({g_opt.self_exe, "--tr-probe=" + what}, 120, &text, &run_err);
    // Parse "key value" lines; "error <text>" carries the child's own diagnosis.
    std::string child_error;
    size_t pos = 0;
    while (pos < text.size()) {
        size_t eol = text.find('\n', pos);
        if (eol == std::string::npos)
            eol = text.size();
        std::string line = text.substr(pos, eol - pos);
        pos = eol + 1;
        size_t sp = line.find(' ');
        if (sp == std::string::npos)
            continue;
        std::string key = line.substr(0, sp), val = line.substr(sp + 1);
        if (key == "error")
            child_error = val;
        else
            (*out)[key] = strtod(val.c_str(), nullptr);
    }
    if (!child_error.empty()) {
        *err = child_error + (ok ? "" : " [" + run_err + "]");
        return false;
    }
    if (!ok)
        *err = run_err;
    return ok;
}

void register_experiments() {
    benchmark::RegisterBenchmark("floor/first_touch_page_x_N/n:1000000", BM_FirstTouch,
                                 size_t(1000000))
        ->Iterations(1)
        ->Repetitions(1)
        ->UseManualTime()
        ->Unit(benchmark::kMillisecond);
    register_fault_floors(1000000);
    benchmark::RegisterBenchmark("sleepers/n:1000000", BM_Sleepers, size_t(1000000))
        ->Iterations(1)
        ->Repetitions(1)
        ->UseManualTime()
        ->Unit(benchmark::kMillisecond);
    for (bool sleeping : {false, true})
        benchmark::RegisterBenchmark(
            (std::string("memory/") + (sleeping ? "sleeping" : "unstarted") + "/n:1000000").c_str(),
            BM_Memory, sleeping, size_t(1000000))
            ->Iterations(1)
            ->Repetitions(1)
            ->UseManualTime()
            ->Unit(benchmark::kMillisecond);
}

} // namespace trb
