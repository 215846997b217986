// bench_pool.cpp - the record pool's size beside a sampler that always holds a snapshot:
//   pool/pinned_churn   one loop spawns and finishes tasks flat out (at most 128 alive) for
//                       three phases: no pin (1 s), a pin always alive (3 s: a second thread
//                       takes each tr_all_tasks set before it frees the previous one and holds
//                       it ~1 ms), and no pin again (1 s). Counters:
//     pool_nopin           most records the pool held in the first phase
//     pool_pinned          most records it held with a pin alive
//     per_pin              most records released during one set's life (what a pin may hold)
//     pinned_over_per_pin  pool_pinned / per_pin (the bound: <= 2, plus a few slabs)
//     pool_after           records at the end of the last phase (slabs given back)
//     slabs_returned       slabs given back to the allocator over the run
//     rate_nopin, rate_pinned, sets
// One iteration, one repetition (--quick: phases of 0.3, 1 and 0.6 s).
#include "bench.hpp"
#include "pool_stats.h"

#include "taskring.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <string>
#include <thread>

namespace trb {
namespace {

constexpr int kWindow = 128;

struct PoolRun {
    std::atomic<uint64_t> retired{0}; // written by the loop thread only
    uint64_t local = 0;
    std::atomic<bool> stop{false}, done{false};
    std::atomic<uint64_t> per_pin{0}, sets{0};
};

PoolRun *g_run;

void *short_task(void *) {
    g_run->retired.store(++g_run->local, std::memory_order_relaxed);
    return nullptr;
}

// WINDOW tasks spawned, run and finished; "" or what failed.
std::string churn_round() {
    uint64_t target = g_run->local + kWindow;
    for (int i = 0; i < kWindow; i++) {
        tr_task *t = tr_spawn(short_task, nullptr);
        if (!t)
            return std::string("tr_spawn: ") + strerror(errno);
        tr_task_release(t);
    }
    while (g_run->local < target)
        if (tr_yield() < 0)
            return "tr_yield failed";
    return "";
}

// Churn for `seconds`; the pool's largest size into *peak. Returns tasks finished.
std::string churn_for(double seconds, size_t *peak, uint64_t *tasks) {
    uint64_t start = g_run->local, end = now_ns() + uint64_t(seconds * 1e9);
    while (now_ns() < end) {
        for (int r = 0; r < 64; r++) {
            std::string e = churn_round();
            if (!e.empty())
                return e;
        }
        trb_pool p;
        trb_pool_stats(&p);
        *peak = std::max(*peak, p.records);
    }
    *tasks = g_run->local - start;
    return "";
}

void sampler(PoolRun *r) {
    tr_taskset *held = tr_all_tasks();
    uint64_t held_at = r->retired.load(std::memory_order_relaxed);
    auto note = [r](uint64_t during) {
        if (during > r->per_pin.load())
            r->per_pin.store(during);
    };
    while (held && !r->stop.load()) {
        tr_taskset *next = tr_all_tasks(); // the next pin before the previous goes
        uint64_t next_at = r->retired.load(std::memory_order_relaxed);
        tr_taskset_free(held);
        note(r->retired.load(std::memory_order_relaxed) - held_at);
        r->sets++;
        held = next;
        held_at = next_at;
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    if (held) {
        note(r->retired.load(std::memory_order_relaxed) - held_at);
        tr_taskset_free(held);
    }
    r->done.store(true);
}

void BM_PoolPinnedChurn(benchmark::State &st) {
    const double nopin_s = g_opt.quick ? 0.3 : 1, pinned_s = g_opt.quick ? 1 : 3;
    const double after_s = g_opt.quick ? 0.6 : 1;
    PoolRun run;
    g_run = &run;
    size_t nopin = 0, pinned = 0, after_peak = 0;
    uint64_t tasks_nopin = 0, tasks_pinned = 0, tasks_after = 0;
    trb_pool end{};
    for (auto _ : st) {
        run_in_task(st, [&]() -> std::string {
            std::string e = churn_for(nopin_s, &nopin, &tasks_nopin);
            if (!e.empty())
                return e;
            std::thread th(sampler, &run);
            while (run.sets.load() == 0 && !run.done.load() && e.empty())
                e = churn_round();
            if (e.empty())
                e = churn_for(pinned_s, &pinned, &tasks_pinned);
            run.stop.store(true);
            while (!run.done.load() && e.empty())
                e = churn_round();
            th.join();
            if (e.empty())
                e = churn_for(after_s, &after_peak, &tasks_after);
            trb_pool_stats(&end);
            return e;
        });
    }
    g_run = nullptr;
    double per_pin = double(run.per_pin.load());
    st.counters["pool_nopin"] = double(nopin);
    st.counters["pool_pinned"] = double(pinned);
    st.counters["per_pin"] = per_pin;
    st.counters["pinned_over_per_pin"] = per_pin > 0 ? double(pinned) / per_pin : 0;
    st.counters["pool_after"] = double(end.records);
    st.counters["slabs_returned"] = double(end.slabs_returned);
    st.counters["rate_nopin"] = double(tasks_nopin) / nopin_s;
    st.counters["rate_pinned"] = double(tasks_pinned) / pinned_s;
    st.counters["sets"] = double(run.sets.load());
}

} // namespace

void register_pool() {
    benchmark::RegisterBenchmark("pool/pinned_churn", BM_PoolPinnedChurn)
        ->Iterations(1)
        ->Repetitions(1)
        ->Unit(benchmark::kMillisecond);
}

} // namespace trb
