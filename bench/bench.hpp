// bench.hpp - shared pieces of taskring_bench: clocks, /proc readers, run options, the
// registration entry points of each benchmark file, and the subprocess probe protocol.
//
// Benchmark names are stable: the summary table (main.cpp) and tools/plot_all_tasks.sh look
// results up by name, so rename them in all three places or not at all.
#pragma once

#include <benchmark/benchmark.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

struct tr_options; // taskring.h

namespace trb {

// CLOCK_MONOTONIC in nanoseconds (the clock tr_sleep deadlines use).
uint64_t now_ns();

// /proc/self/statm: resident and virtual size in bytes.
struct MemSize {
    double rss = 0;
    double vsz = 0;
    double pte = 0; // page tables (VmPTE): what guard pages cost beside RSS
};
MemSize read_statm();

// Every benchmark reports "items": how many tasks/ops one iteration handles, so that
// real_time / items is the per-task (per-op) time; the summary and the plot compute it that
// way. "per_item" shows the same figure in the console (in seconds, as a rate's inverse).
void set_items(benchmark::State &st, double items_per_iteration);

// Run body() as the main task of a fresh loop on this thread (tr_run_with opts; NULL: the
// defaults). body returns "" on success or what went wrong; that message, or tr_run's own
// error, is reported with SkipWithError once tr_run has returned. A body that fails inside
// the benchmark loop calls st.SkipWithError itself and leaves the loop.
void run_in_task(benchmark::State &st, const std::function<std::string()> &body,
                 const tr_options *opts = nullptr);
// "what: <tr_strerror(rc)>" for a negative errno rc.
std::string tr_error_text(const char *what, int rc);

// Set by main() from its own flags before any benchmark runs.
struct Options {
    bool quick = false;         // fewer repetitions and shorter phases (a smoke run)
    int probe_reps = 3;         // repetitions of the subprocess experiments (sleepers, memory)
    int churn_rounds = 7;       // rounds of three churn phases (alone, snapshotter, control)
    double churn_phase_s = 0.3; // length of one churn phase
    std::string self_exe;       // this binary, for the subprocess probes
};
extern Options g_opt;

// Task counts written the way the summary prints them: 1, 1K, 100K, 1M, 4M.
std::string count_label(size_t n);

// Registration, in the order the benchmarks run (main.cpp calls them in this order).
void register_floors();      // bench_floors.cpp: jump_fcontext, memcpy, io_uring NOP
void register_tasks();       // bench_tasks.cpp: spawn+run+finish+release, yield round trip
void register_sync();        // bench_sync.cpp: queue ping-pong, lock handoff, event wake-up
void register_gather();      // bench_gather.cpp: tr_gather and a task group of 100K tasks
void register_loops();       // bench_loops.cpp: 2 loops' throughput, cross-loop round trips
void register_snapshots();   // bench_snapshot.cpp: tr_all_tasks / _fill at N, churn
void register_pool();        // bench_pool.cpp: the record pool beside a sampler's pins
void register_experiments(); // bench_experiments.cpp: page-fault floor, 1M sleepers, RSS

// floor/memcpy_8B_x_N/n:N, registered by bench_snapshot.cpp beside the snapshot of N tasks.
void register_memcpy_floor(size_t n);
// floor/fault/{touch,populate,populate_2threads}/n:N (bench_floors.cpp), registered by
// bench_experiments.cpp beside the 1M sleepers.
void register_fault_floors(size_t n);

// Tear down the parked population of bench_snapshot.cpp (if any): joins its loop thread.
void population_reset();

// The memcpy floor sizes: N for which tr_all_tasks is measured.
extern const size_t kSnapshotSizes[5];

// ---- subprocess probes ---------------------------------------------------------------------
// Experiments whose figure depends on a fresh process (RSS deltas, a cold 1M-task spawn) run
// as `taskring_bench --tr-probe=<what>` and print "key value" lines on stdout.

// Entry point of the child; returns the process exit status.
int probe_main(const std::string &what);
// Run one probe in a child process and collect its "key value" lines. false + *err on failure.
bool run_probe(const std::string &what, std::map<std::string, double> *out, std::string *err);

// Run args (PATH lookup for args[0]) with stdout captured into *out and stderr passed through;
// kill it after timeout_s. False + *err (with a reproduction command line) when it could not
// start, hung, died of a signal or exited non-zero.
bool run_child(const std::vector<std::string> &args, double timeout_s, std::string *out,
               std::string *err);

} // namespace trb
