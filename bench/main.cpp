// main.cpp - taskring_bench: runs every benchmark (google-benchmark), the CPython asyncio peer
// (bench/peers/asyncio_peer.py, when python3 is on PATH), the Go peer (bench/peers/
// chan_pingpong.go, when go is on PATH), and prints a summary table of medians beside their
// same-run floors, the targets, and the peers' figures.
//
// Usage: taskring_bench [--quick] [--no_peer] [--python=EXE] [--peer_script=PATH]
//                       [--peer_out=PATH] [--no_go] [--go=EXE] [--go_peer=PATH]
//                       [--baseline=JSONS] [google-benchmark flags...]
//        taskring_bench --tr-compare=BEFORE_JSONS:AFTER_JSONS
// --baseline: earlier runs' JSON for the "vs before" rows (default: before/old-*.json beside
// --benchmark_out if tools/bench_before.sh left any, else taskring_bench.prev.json there, which
// tools/bench.sh copies aside before each run).
// Defaults added before the user's flags (which override them):
//   --benchmark_repetitions=5 --benchmark_display_aggregates_only=true
//   --benchmark_min_time=0.2 --benchmark_out=taskring_bench.json --benchmark_out_format=json
// The peer's JSON goes to --peer_out (default: taskring_peer.json beside --benchmark_out); the
// Go peer's to taskring_go_peer.json and taskring_go_peer_cross.json beside it, its binary to
// chan_pingpong_go there.
// Exit status: 0 when every benchmark ran (MISS rows included), 1 when one failed.
#include "bench.hpp"

#include "taskring.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <glob.h>
#include <sstream>
#include <map>
#include <string>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

#ifndef TASKRING_PEER_SCRIPT
#define TASKRING_PEER_SCRIPT "bench/peers/asyncio_peer.py"
#endif
#ifndef TASKRING_GO_PEER
#define TASKRING_GO_PEER "bench/peers/chan_pingpong.go"
#endif

namespace trb {
namespace {

// ---- collecting results -------------------------------------------------------------------------

struct Result {
    bool ok = false; // a median (or the single run) is available
    std::string error;
    double real_ns = 0; // per iteration
    std::map<std::string, double> counters;
};
std::map<std::string, Result> g_results;
int g_failed = 0;

double unit_ns(benchmark::TimeUnit u) {
    switch (u) {
    case benchmark::kNanosecond:
        return 1;
    case benchmark::kMicrosecond:
        return 1e3;
    case benchmark::kMillisecond:
        return 1e6;
    default:
        return 1e9;
    }
}

// The JSON file reporter sees every run (repetitions and aggregates): collect from it.
class CollectingJSONReporter : public benchmark::JSONReporter {
  public:
    void ReportRuns(const std::vector<Run> &runs) override {
        for (const Run &r : runs) {
            // The registered name, without the /iterations:1/repeats:1/manual_time decorations.
            Result &res = g_results[r.run_name.function_name];
            if (r.error_occurred) {
                if (res.error.empty())
                    g_failed++;
                res.error = r.error_message;
                continue;
            }
            bool single = r.run_type == Run::RT_Iteration && r.repetitions <= 1;
            bool median = r.run_type == Run::RT_Aggregate && r.aggregate_name == "median";
            if (!single && !median)
                continue;
            res.ok = true;
            res.real_ns = r.GetAdjustedRealTime() * unit_ns(r.time_unit);
            for (const auto &c : r.counters)
                res.counters[c.first] = c.second.value;
        }
        JSONReporter::ReportRuns(runs);
    }
};

const Result *get(const std::string &name) {
    auto it = g_results.find(name);
    return it == g_results.end() ? nullptr : &it->second;
}

// real time per item (task or op) in ns; NAN when missing.
double per_item(const std::string &name) {
    const Result *r = get(name);
    if (!r || !r->ok || !r->error.empty())
        return NAN;
    auto it = r->counters.find("items");
    double items = it == r->counters.end() ? 1 : it->second;
    return r->real_ns / items;
}

double counter(const std::string &name, const std::string &key) {
    const Result *r = get(name);
    if (!r || !r->ok || !r->error.empty())
        return NAN;
    auto it = r->counters.find(key);
    return it == r->counters.end() ? NAN : it->second;
}

std::string error_of(const std::string &name) {
    const Result *r = get(name);
    if (!r)
        return "not run";
    return r->error;
}

// ---- the peer -----------------------------------------------------------------------------------

struct Peer {
    bool ran = false;
    std::string status; // shown in place of figures when !ran
    std::string json;
};

bool find_in_path(const std::string &exe) {
    if (exe.find('/') != std::string::npos)
        return access(exe.c_str(), X_OK) == 0;
    const char *path = getenv("PATH");
    std::string p = path ? path : "";
    size_t pos = 0;
    while (pos <= p.size()) {
        size_t end = p.find(':', pos);
        if (end == std::string::npos)
            end = p.size();
        std::string dir = end > pos ? p.substr(pos, end - pos) : ".";
        std::string full = dir + "/" + exe;
        struct stat sb;
        if (stat(full.c_str(), &sb) == 0 && S_ISREG(sb.st_mode) && access(full.c_str(), X_OK) == 0)
            return true;
        pos = end + 1;
    }
    return false;
}

// The peer prints flat JSON: "key": number pairs (and a few strings). Find a number by key.
double peer_num(const Peer &p, const std::string &key) {
    if (!p.ran)
        return NAN;
    std::string pat = "\"" + key + "\":";
    size_t at = p.json.find(pat);
    if (at == std::string::npos)
        return NAN;
    const char *s = p.json.c_str() + at + pat.size();
    char *end = nullptr;
    double v = strtod(s, &end);
    return end == s ? NAN : v;
}

std::string peer_str(const Peer &p, const std::string &key) {
    std::string pat = "\"" + key + "\": \"";
    size_t at = p.json.find(pat);
    if (at == std::string::npos)
        return "";
    size_t b = at + pat.size(), e = p.json.find('"', b);
    return e == std::string::npos ? "" : p.json.substr(b, e - b);
}

Peer run_peer(const std::string &python, const std::string &script, const std::string &out_path,
              bool quick) {
    Peer p;
    if (!find_in_path(python)) {
        p.status = python + " not found";
        return p;
    }
    if (access(script.c_str(), R_OK) != 0) {
        p.status = "peer script missing: " + script;
        return p;
    }
    fprintf(stderr, "\n[taskring_bench] running the asyncio peer: %s %s%s\n", python.c_str(),
            script.c_str(), quick ? " --quick" : "");
    std::vector<std::string> args = {python, script};
    if (quick)
        args.push_back("--quick");
    std::string out, err;
    if (!run_child(args, 400, &out, &err)) {
        p.status = "peer failed: " + err;
        return p;
    }
    p.ran = true;
    p.json = out;
    std::ofstream f(out_path);
    f << out;
    if (!f)
        fprintf(stderr, "[taskring_bench] could not write %s\n", out_path.c_str());
    return p;
}

// The Go peer: built with `go build` into out_dir, then run twice: with GOMAXPROCS=1 (both
// goroutines on one thread) and with GOMAXPROCS=2 and --cross (each goroutine locked to a thread
// of its own), each setting GOMAXPROCS in its environment (the peer sets it again itself).
// Skipped, with the reason as their status, when go is not on PATH: Go is optional
// (tools/bench.sh installs golang-go when it can; CI never does).
struct GoPeers {
    Peer one;   // GOMAXPROCS=1: beside sync/queue_pingpong
    Peer cross; // GOMAXPROCS=2, two OS threads: beside loops/queue_pingpong_cross
};

GoPeers run_go_peer(const std::string &go, const std::string &source, const std::string &out_dir,
                    bool quick) {
    GoPeers g;
    auto skip = [&g](const std::string &why) {
        g.one.status = g.cross.status = why;
        return g;
    };
    if (!find_in_path(go))
        return skip("skipped: " + go + " not on PATH (tools/bench.sh installs golang-go)");
    if (access(source.c_str(), R_OK) != 0)
        return skip("skipped: Go peer missing: " + source);
    std::string dir = out_dir;
    if (dir.empty() || dir[0] != '/') {
        char cwd[4096];
        if (getcwd(cwd, sizeof cwd))
            dir = std::string(cwd) + "/" + dir;
    }
    const std::string bin = dir + "chan_pingpong_go";
    // GOTOOLCHAIN=local: never fetch another toolchain (Go 1.21+). Go wants a build cache: give
    // it one here when the environment names no home for it (a bare CI shell).
    std::vector<std::string> build = {"env", "GOTOOLCHAIN=local"};
    if (!getenv("GOCACHE") && !getenv("XDG_CACHE_HOME") && !getenv("HOME"))
        build.push_back("GOCACHE=" + dir + "go-build-cache");
    build.insert(build.end(), {go, "build", "-o", bin, source});
    fprintf(stderr, "\n[taskring_bench] building the Go peer: %s\n", source.c_str());
    std::string out, err;
    if (!run_child(build, 300, &out, &err))
        return skip("Go peer build failed: " + err);
    auto run = [&](bool cross, const std::string &json_name) {
        Peer p;
        const char *procs = cross ? "GOMAXPROCS=2" : "GOMAXPROCS=1";
        fprintf(stderr, "[taskring_bench] running the Go peer: %s %s%s%s\n", procs, bin.c_str(),
                cross ? " --cross" : "", quick ? " --quick" : "");
        std::vector<std::string> args = {"env", procs, bin};
        if (cross)
            args.push_back("--cross");
        if (quick)
            args.push_back("--quick");
        std::string o, e;
        if (!run_child(args, 120, &o, &e)) {
            p.status = "Go peer failed: " + e;
            return p;
        }
        p.ran = true;
        p.json = o;
        std::ofstream f(dir + json_name);
        f << o;
        return p;
    };
    g.one = run(false, "taskring_go_peer.json");
    g.cross = run(true, "taskring_go_peer_cross.json");
    return g;
}

// ---- the baseline: an earlier run's medians
// ------------------------------------------------------ The "vs before" rows compare this run's
// same-loop figures with an earlier run's JSON (written by google-benchmark's JSON reporter): by
// default taskring_bench.prev.json beside
// --benchmark_out, the previous run's, which tools/bench.sh copies aside before each run; or
// the runs of an older build that tools/bench_before.sh leaves in before/old-*.json there. With
// several files a figure is the median of the files' medians.

struct RunFile {
    std::string path, date, exe, text;
};

std::string json_str(const std::string &text, size_t from, const std::string &key) {
    std::string pat = "\"" + key + "\": \"";
    size_t at = text.find(pat, from);
    if (at == std::string::npos)
        return "";
    size_t b = at + pat.size(), e = text.find('"', b);
    return e == std::string::npos ? "" : text.substr(b, e - b);
}

double json_num(const std::string &text, size_t from, size_t to, const std::string &key) {
    std::string pat = "\"" + key + "\": ";
    size_t at = text.find(pat, from);
    if (at == std::string::npos || at >= to)
        return NAN;
    const char *b = text.c_str() + at + pat.size();
    char *e = nullptr;
    double v = strtod(b, &e);
    return e == b ? NAN : v;
}

// Comma-separated paths, each may be a glob pattern; relative ones are taken as they are (the
// caller's directory). Files that cannot be read are left out.
std::vector<RunFile> load_runs(const std::string &spec) {
    std::vector<RunFile> runs;
    size_t pos = 0;
    while (pos <= spec.size()) {
        size_t end = spec.find(',', pos);
        if (end == std::string::npos)
            end = spec.size();
        std::string pat = spec.substr(pos, end - pos);
        pos = end + 1;
        if (pat.empty())
            continue;
        glob_t g;
        if (glob(pat.c_str(), 0, nullptr, &g) != 0)
            continue;
        for (size_t i = 0; i < g.gl_pathc; i++) {
            std::ifstream f(g.gl_pathv[i]);
            std::stringstream ss;
            ss << f.rdbuf();
            if (!f)
                continue;
            RunFile r;
            r.path = g.gl_pathv[i];
            r.text = ss.str();
            r.date = json_str(r.text, 0, "date");
            r.exe = json_str(r.text, 0, "executable");
            runs.push_back(r);
        }
        globfree(&g);
    }
    return runs;
}

// The median's real time per item of benchmark `name` in one file; NAN when absent.
double file_per_item(const RunFile &f, const std::string &name) {
    std::string pat = "\"name\": \"" + name + "_median\",";
    size_t at = f.text.find(pat);
    if (at == std::string::npos)
        return NAN;
    size_t end = f.text.find('}', at);
    double real = json_num(f.text, at, end, "real_time");
    double items = json_num(f.text, at, end, "items");
    std::string unit = json_str(f.text, at, "time_unit");
    double mul = unit == "us" ? 1e3 : unit == "ms" ? 1e6 : unit == "s" ? 1e9 : 1;
    return real * mul / (std::isnan(items) || items <= 0 ? 1 : items);
}

double median_of(std::vector<double> v) {
    v.erase(std::remove_if(v.begin(), v.end(), [](double x) { return std::isnan(x); }), v.end());
    if (v.empty())
        return NAN;
    std::sort(v.begin(), v.end());
    size_t m = v.size() / 2;
    return v.size() % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

// The median over the files of their figures for `name` (NAN when none has it); each file's
// figure is appended to *each if given.
double runs_per_item(const std::vector<RunFile> &runs, const std::string &name,
                     std::vector<double> *each = nullptr) {
    std::vector<double> v;
    for (const RunFile &f : runs)
        v.push_back(file_per_item(f, name));
    if (each)
        *each = v;
    return median_of(v);
}

struct Baseline {
    std::string spec; // what --baseline named (or the default chosen)
    std::vector<RunFile> runs;
    std::string describe() const {
        if (runs.empty())
            return "no earlier run's JSON (" + spec +
                   "): tools/bench.sh keeps the previous run's; tools/bench_before.sh runs an "
                   "older commit";
        std::string d = std::to_string(runs.size()) + (runs.size() == 1 ? " run: " : " runs: ");
        for (size_t i = 0; i < runs.size(); i++)
            d += (i ? ", " : "") + runs[i].path;
        d += " (" + runs.front().date + (runs.size() > 1 ? " ... " + runs.back().date : "") +
             "; built as " + runs.front().exe + ")";
        return d;
    }
};

// The same-loop figures this issue must not slow down (the "vs before" rows, <= 3% worse).
const struct {
    const char *name, *label;
} kSameLoopRows[] = {
    {"task/spawn_run_release/k:1000", "spawn+run+finish+release"},
    {"task/spawn_await_release/k:1000", "spawn+await+release"},
    {"task/yield_rtt", "tr_yield round trip"},
    {"sync/queue_pingpong/maxsize:1", "tr_queue ping-pong round trip"},
};
constexpr double kSameLoopLimit = 1.03;

// ---- formatting ---------------------------------------------------------------------------------

std::string fmt(const char *f, double v) {
    char buf[64];
    snprintf(buf, sizeof buf, f, v);
    return buf;
}

std::string fmt_ns(double ns) {
    if (std::isnan(ns))
        return "n/a";
    if (ns < 10)
        return fmt("%.2f ns", ns);
    if (ns < 1000)
        return fmt("%.1f ns", ns);
    if (ns < 1e6)
        return fmt("%.2f us", ns / 1e3);
    if (ns < 1e9)
        return fmt("%.2f ms", ns / 1e6);
    return fmt("%.3f s", ns / 1e9);
}

// A time with a unit suffix such as "/op", or "n/a" alone.
std::string fmt_per(double ns, const char *per) {
    return std::isnan(ns) ? "n/a" : fmt_ns(ns) + per;
}

std::string fmt_bytes(double b) {
    if (std::isnan(b))
        return "n/a";
    if (b < 1024)
        return fmt("%.0f B", b);
    return fmt("%.2f KiB", b / 1024);
}

std::string fmt_rate(double r) {
    if (std::isnan(r))
        return "n/a";
    if (r >= 1e6)
        return fmt("%.2f M/s", r / 1e6);
    if (r >= 1e3)
        return fmt("%.1f K/s", r / 1e3);
    return fmt("%.0f /s", r);
}

std::string fmt_ratio(double x) {
    if (std::isnan(x) || std::isinf(x))
        return "-";
    return x < 10 ? fmt("%.2fx", x) : fmt("%.1fx", x);
}

std::string fmt_pct(double p) {
    return std::isnan(p) ? "n/a" : fmt("%.1f%%", p);
}

std::string fmt_count(double n) {
    return std::isnan(n) ? "n/a" : fmt("%.0f", n);
}

std::string verdict(bool known, bool pass) {
    return !known ? "n/a" : pass ? "PASS" : "MISS";
}

struct Table {
    std::vector<std::vector<std::string>> rows;
    void row(std::vector<std::string> r) {
        rows.push_back(std::move(r));
    }
    void print() const {
        std::vector<size_t> w;
        for (const auto &r : rows) {
            if (w.size() < r.size())
                w.resize(r.size(), 0);
            for (size_t i = 0; i < r.size(); i++)
                w[i] = std::max(w[i], r[i].size());
        }
        for (const auto &r : rows) {
            std::string line;
            for (size_t i = 0; i < r.size(); i++) {
                std::string cell = r[i];
                if (i + 1 < r.size())
                    cell.resize(w[i] + 2, ' ');
                line += cell;
            }
            while (!line.empty() && line.back() == ' ')
                line.pop_back();
            printf("%s\n", line.c_str());
        }
    }
};

const char *kUnstarted = "all_tasks/unstarted/";
const char *kSleeping = "all_tasks/sleeping/";

std::string nkey(size_t n) {
    return "n:" + std::to_string(n);
}

// The issue-8 figures (bench_sync.cpp, bench_gather.cpp), looked up by name.
const char *kQueuePingPong = "sync/queue_pingpong/maxsize:1";
const char *kLockHandoff = "sync/lock_handoff/tasks:4";
const char *kEventWake = "sync/event_wake/waiters:100000";
const char *kGather = "gather/spawn_gather_release/n:100000";
const char *kGroup = "group/spawn_wait_free/n:100000";

void print_summary(const Peer &peer, const GoPeers &gp, const Baseline &baseline, int reps,
                   double wall_s) {
    const Peer &go = gp.one;
    const double jump = per_item("floor/jump_fcontext_rtt");
    const double yield = per_item("task/yield_rtt");
    const double spawn = per_item("task/spawn_run_release/k:1000");
    const double spawn_await = per_item("task/spawn_await_release/k:1000");
    // The floors of the 100K-task rows, measured with as many tasks (cache-cold like them).
    const double spawn_100k = per_item("task/spawn_run_release/k:100000");
    const double spawn_await_100k = per_item("task/spawn_await_release/k:100000");
    auto snap = [](const char *kind, const char *how, size_t n) {
        return per_item(std::string(kind) + how + "/" + nkey(n));
    };
    auto floor_of = [](size_t n) { return per_item("floor/memcpy_8B_x_N/" + nkey(n)); };

    printf("\n==== taskring_bench summary: medians of %d repetitions (subprocess experiments: "
           "%d), %ld CPUs ====\n",
           reps, g_opt.probe_reps, sysconf(_SC_NPROCESSORS_ONLN));
    printf("Times are per task (per round trip / per op where said). Snapshots are taken from a "
           "thread that is not the loop's.\n\n");

    Table t;
    t.row({"figure", "taskring", "floor / baseline (same run)", "ratio", "target", "result"});
    t.row({"spawn+run+finish+release", fmt_ns(spawn), "-", "-", "<= 30 ns",
           verdict(!std::isnan(spawn), spawn <= 30)});
    t.row({"tr_yield round trip", fmt_ns(yield), "jump_fcontext rtt " + fmt_ns(jump),
           fmt_ratio(yield / jump), "<= 1.5x floor",
           verdict(!std::isnan(yield / jump), yield / jump <= 1.5)});
    const double queue = per_item(kQueuePingPong), lock = per_item(kLockHandoff);
    const double event = per_item(kEventWake), gather = per_item(kGather);
    const double group = per_item(kGroup);
    {
        auto vs = [&t](const std::string &what, double ours, const std::string &floor_name,
                       double floor, double limit) {
            double r = ours / floor;
            t.row({what, fmt_ns(ours), floor_name + " " + fmt_ns(floor), fmt_ratio(r),
                   fmt("<= %.1fx floor", limit), verdict(!std::isnan(r), r <= limit)});
        };
        vs("tr_queue ping-pong round trip (maxsize 1)", queue, "tr_yield rtt", yield, 1.5);
        double g = peer_num(go, "chan_pingpong_rtt_ns");
        std::string gv = go.ran ? "Go (" + peer_str(go, "go") + ") " : "Go ";
        t.row({"  Go chan ping-pong (unbuffered, GOMAXPROCS=1)", fmt_ns(queue),
               go.ran ? gv + fmt_ns(g) : gv + go.status, go.ran ? fmt_ratio(queue / g) : "-",
               "report", "-"});
        vs("tr_lock handoff among 4 tasks, per handoff", lock, "tr_yield rtt", yield, 1.5);
        vs("tr_event_set, 100K waiters, per waiter", event, "spawn+run+finish, 100K", spawn_100k,
           0.5);
        vs("tr_gather of 100K tasks, per task", gather, "spawn+await+release, 100K",
           spawn_await_100k, 1.2);
        vs("task group of 100K tasks, per task", group, "spawn+await+release, 100K",
           spawn_await_100k, 1.2);
    }
    {
        double a1 = snap(kUnstarted, "alloc", 1), f1 = snap(kUnstarted, "fill", 1);
        double m1 = floor_of(1);
        t.row({"tr_all_tasks, 1 live task (whole call)", fmt_ns(a1), "memcpy 8 B " + fmt_ns(m1),
               "-", "<= 200 ns", verdict(!std::isnan(a1), a1 <= 200)});
        t.row({"tr_all_tasks_fill, 1 live task", fmt_ns(f1), "memcpy 8 B " + fmt_ns(m1), "-",
               "<= 200 ns", verdict(!std::isnan(f1), f1 <= 200)});
    }
    {
        double f = snap(kUnstarted, "fill", 1000000), m = floor_of(1000000);
        t.row({"tr_all_tasks_fill, 1M live", fmt_ns(f), "memcpy 8 B/task " + fmt_ns(m),
               fmt_ratio(f / m), "<= 1 ns and <= 4x floor",
               verdict(!std::isnan(f / m), f <= 1 && f / m <= 4)});
        double a = snap(kUnstarted, "alloc", 1000000);
        t.row({"tr_all_tasks, 1M live", fmt_ns(a), "memcpy 8 B/task " + fmt_ns(m), fmt_ratio(a / m),
               "<= 3 ns", verdict(!std::isnan(a), a <= 3)});
        double a1k = snap(kUnstarted, "alloc", 1000), m1k = floor_of(1000);
        t.row({"tr_all_tasks, 1K live", fmt_ns(a1k), "memcpy 8 B/task " + fmt_ns(m1k),
               fmt_ratio(a1k / m1k), "<= 5 ns", verdict(!std::isnan(a1k), a1k <= 5)});
    }
    {
        // Per task, in ns; the whole dump of 1M tasks is as many ms.
        double floor = per_item("dump/floor_all_tasks_name_copy/n:1000000");
        double text = per_item("dump/tr_dump/n:1000000");
        double json = per_item("dump/tr_dump_json/n:1000000");
        t.row({"tr_dump of 1M tasks to /dev/null, per task", fmt_ns(text),
               "all_tasks+name_copy " + fmt_ns(floor), fmt_ratio(text / floor),
               fmt("report (%.0f ms)", text), "-"});
        t.row({"tr_dump_json of 1M tasks to /dev/null, per task", fmt_ns(json),
               "all_tasks+name_copy " + fmt_ns(floor), fmt_ratio(json / floor),
               fmt("report (%.0f ms)", json), "-"});
    }
    {
        double alone = counter("churn/spawn_rate", "spawn_rate_alone");
        double with = counter("churn/spawn_rate", "spawn_rate_with_snapshotter");
        double drop = counter("churn/spawn_rate", "spawn_rate_drop_pct");
        double control = counter("churn/spawn_rate", "control_drop_pct");
        double vs = counter("churn/spawn_rate", "drop_vs_control_pct");
        t.row({"spawn rate, snapshotter running", fmt_rate(with),
               "alone " + fmt_rate(alone) + "; busy control thread " +
                   (std::isnan(control) ? "n/a" : fmt("%+.1f%%", -control)),
               std::isnan(drop) ? "-" : fmt("%.1f%% drop", drop),
               "report (the machine's part included)", "-"});
        t.row({"spawn rate, snapshotter vs same-round busy control", fmt_rate(with),
               "control thread " + fmt_rate(counter("churn/spawn_rate", "spawn_rate_with_control")),
               std::isnan(vs) ? "-" : fmt("%.1f%% drop", vs),
               "drop <= 5% (median of per-round ratios)", verdict(!std::isnan(vs), vs <= 5)});
    }
    // The record pool beside a sampler that always holds a set (bench_pool.cpp).
    {
        const char *pp = "pool/pinned_churn";
        double pinned = counter(pp, "pool_pinned"), per = counter(pp, "per_pin");
        double nopin = counter(pp, "pool_nopin"), after = counter(pp, "pool_after");
        double r = counter(pp, "pinned_over_per_pin");
        t.row({"record pool, a pin always alive through 3 s of churn",
               fmt_count(pinned) + " records",
               "released during one pin " + fmt_count(per) + "; no pin " + fmt_count(nopin),
               fmt_ratio(r), "<= 2x one pin's (+16K)",
               verdict(!std::isnan(r), pinned <= 2 * per + 16384)});
        t.row({"  record pool after unpin + 1 s of churn", fmt_count(after) + " records",
               "no pin " + fmt_count(nopin) + "; " + fmt_count(counter(pp, "slabs_returned")) +
                   " slabs given back",
               fmt_ratio(after / nopin), "<= 20480 records",
               verdict(!std::isnan(after), after <= 20480)});
    }
    {
        double f = snap(kUnstarted, "fill", 4000000), a = snap(kUnstarted, "alloc", 4000000);
        double m = floor_of(4000000);
        std::string ef = error_of(std::string(kUnstarted) + "fill/" + nkey(4000000));
        std::string ea = error_of(std::string(kUnstarted) + "alloc/" + nkey(4000000));
        bool works = !std::isnan(f) && !std::isnan(a);
        std::string fig = works ? "fill " + fmt_ns(f) + ", alloc " + fmt_ns(a)
                                : "FAILED: " + (ef.empty() ? ea : ef);
        t.row({"4M live tasks: snapshot", fig, "memcpy 8 B/task " + fmt_ns(m), fmt_ratio(f / m),
               "fits, snapshot works", works ? "PASS" : "MISS"});
    }
    {
        // The floor: the top page of 1M stacks as the pool lays them out, faulted one by one
        // as the loop's first runs do; beside it the best this machine gives, populating
        // them from two threads (docs/performance.md, "1M sleepers").
        double wall = counter("sleepers/n:1000000", "wall_ns");
        double touch = per_item("floor/fault/touch/n:1000000") * 1e6;
        double two = per_item("floor/fault/populate_2threads/n:1000000") * 1e6;
        t.row({"1M sleepers (1 s): first spawn -> last wake", fmt_ns(wall),
               "1 s + 1M fresh stack pages " + fmt_ns(touch) +
                   " (2 threads populating: " + fmt_ns(two) + ")",
               fmt_ratio(wall / (1e9 + touch)), "<= 1.2 s",
               verdict(!std::isnan(wall), wall <= 1.2e9)});
    }
    {
        double u = counter("memory/unstarted/n:1000000", "bytes_per_task");
        double s = counter("memory/sleeping/n:1000000", "bytes_per_task");
        t.row({"RSS per task, 1M scheduled-not-started", fmt_bytes(u), "-", "-", "<= 256 B",
               verdict(!std::isnan(u), u <= 256)});
        t.row({"RSS per task, 1M sleeping", fmt_bytes(s), "-", "-", "<= 4.5 KiB",
               verdict(!std::isnan(s), s <= 4.5 * 1024)});
    }
    // Loops (bench_loops.cpp): alternating rounds, medians; a ratio is the median of the
    // per-round ratios, each against its same-round floor.
    {
        const char *tp = "loops/spawn_throughput";
        double r1 = counter(tp, "rate_1loop"), r2 = counter(tp, "rate_2loops");
        double x2 = counter(tp, "speedup_2loops"), xr = counter(tp, "speedup_2runtimes");
        double xm = counter(tp, "speedup_machine");
        t.row({"2 loops: spawn+await throughput, total", fmt_rate(r2),
               "1 loop " + fmt_rate(r1) + " (2 runtimes " + fmt_ratio(xr) + ", 2 threads " +
                   fmt_ratio(xm) + ")",
               fmt_ratio(x2), ">= 1.8x 1 loop", verdict(!std::isnan(x2), x2 >= 1.8)});
        const char *sa = "loops/spawn_await_rtt";
        double cross = counter(sa, "cross_ns"), same = counter(sa, "same_ns");
        t.row({"cross-loop spawn+await round trip", fmt_ns(cross), "same-loop " + fmt_ns(same),
               fmt_ratio(counter(sa, "cross_over_same")), "report; <= 5 us",
               verdict(!std::isnan(cross), cross <= 5000)});
        const char *qp = "loops/queue_pingpong_cross";
        double best = counter(qp, "best_ns"), msg = counter(qp, "msg_ring_ns");
        double qr = counter(qp, "best_over_msg_ring");
        bool consumer = counter(qp, "best_is_consumer") == 1;
        t.row({std::string("cross-loop tr_queue ping-pong rtt (") +
                   (consumer ? "consumer" : "producer") + "-owned)",
               fmt_ns(best), "raw MSG_RING ping-pong " + fmt_ns(msg), fmt_ratio(qr),
               "<= 1.5x floor", verdict(!std::isnan(qr), qr <= 1.5)});
        double g = peer_num(gp.cross, "chan_pingpong_cross_rtt_ns");
        std::string gv = gp.cross.ran ? "Go (" + peer_str(gp.cross, "go") + ") " : "Go ";
        t.row({"  Go chan ping-pong, 2 threads (GOMAXPROCS=2)", fmt_ns(best),
               gp.cross.ran ? gv + fmt_ns(g) : gv + gp.cross.status,
               gp.cross.ran ? fmt_ratio(best / g) : "-", "report", "-"});
        const char *tt = "loops/to_thread_rtt";
        double tn = counter(tt, "to_thread_ns"), cv = counter(tt, "condvar_ns");
        double tr = counter(tt, "to_thread_over_condvar");
        t.row({"tr_to_thread round trip", fmt_ns(tn), "pthread condvar handoff " + fmt_ns(cv),
               fmt_ratio(tr), "<= 1.5x floor", verdict(!std::isnan(tr), tr <= 1.5)});
    }
    for (const auto &r : kSameLoopRows) {
        double now = per_item(r.name), before = runs_per_item(baseline.runs, r.name);
        bool known = !std::isnan(now) && !std::isnan(before);
        t.row(
            {std::string("same loop vs before: ") + r.label, fmt_ns(now),
             baseline.runs.empty() ? "skipped: no earlier run's JSON" : "before " + fmt_ns(before),
             fmt_ratio(now / before), "<= 1.03x before",
             baseline.runs.empty() ? "skipped" : verdict(known, now / before <= kSameLoopLimit)});
    }
    t.print();
    printf("\nLoops rows: alternating rounds (medians; a ratio is the median of per-round ratios "
           "against the same round's floor).\nOn %ld cores a second loop competes with "
           "everything else the machine runs: \"2 threads\" is what two threads of private "
           "integer work get\nover one in the same rounds, \"2 runtimes\" two separate 1-loop "
           "runtimes; a cross-thread round trip waits for the threads to be woken\n(context "
           "switches per op in the details).\n",
           sysconf(_SC_NPROCESSORS_ONLN));
    printf("\"vs before\" baseline: %s\n", baseline.describe().c_str());

    printf("\n---- details ----\n");
    Table d;
    d.row({"floors", "", "", "", ""});
    d.row({"  jump_fcontext round trip", fmt_ns(jump), "", "", ""});
    d.row({"  io_uring NOP, one at a time", fmt_per(per_item("floor/uring_nop/batch:1"), "/op"), "",
           "", ""});
    d.row({"  io_uring NOP, batches of 32", fmt_per(per_item("floor/uring_nop/batch:32"), "/op"),
           "", "", ""});
    d.row(
        {"  fault in 1 fresh page (1M pages, 80 KiB apart)",
         fmt_per(per_item("floor/first_touch_page_x_N/n:1000000"), "/page"),
         "worst " + fmt_ns(counter("floor/first_touch_page_x_N/n:1000000", "worst_ns")) + " for 1M",
         "", ""});
    for (const char *how : {"touch", "populate", "populate_2threads"}) {
        std::string name = std::string("floor/fault/") + how + "/n:1000000";
        d.row({std::string("  1M stacks' top page (320 KiB apart): ") + how,
               fmt_per(per_item(name), "/page"), "worst " + fmt_ns(counter(name, "worst_ns")), "",
               ""});
    }
    d.row({"tasks", "", "", "", ""});
    d.row({"  spawn+await+release (await each)", fmt_ns(spawn_await), "", "", ""});
    d.row({"  spawn+run+finish+release, 100K at once", fmt_ns(spawn_100k),
           fmt_ratio(spawn_100k / spawn) + " the 1K figure", "", ""});
    d.row({"  spawn+await+release, 100K at once", fmt_ns(spawn_await_100k),
           fmt_ratio(spawn_await_100k / spawn_await) + " the 1K figure", "", ""});
    {
        double one = per_item("task/tr_nop/tasks:1"), many = per_item("task/tr_nop/tasks:32");
        d.row({"  tr_nop, one task", fmt_per(one, "/op"),
               fmt_ratio(one / per_item("floor/uring_nop/batch:1")) + " raw NOP one at a time", "",
               ""});
        d.row({"  tr_nop, 32 tasks at once", fmt_per(many, "/op"),
               fmt_ratio(many / per_item("floor/uring_nop/batch:32")) + " raw NOP batches of 32",
               "", ""});
        double e1 = per_item("task/tr_nop/tasks:1/backend:epoll");
        double e32 = per_item("task/tr_nop/tasks:32/backend:epoll");
        d.row({"  tr_nop on epoll, one task", fmt_per(e1, "/op"),
               fmt_ratio(e1 / one) + " tr_nop on io_uring", "", ""});
        d.row({"  tr_nop on epoll, 32 tasks at once", fmt_per(e32, "/op"),
               fmt_ratio(e32 / many) + " tr_nop on io_uring", "", ""});
        double pu = per_item("task/pipe_rtt/backend:io_uring");
        double pe = per_item("task/pipe_rtt/backend:epoll");
        double pf = per_item("floor/pipe_rtt_threads");
        d.row({"  pipe round trip (readiness), io_uring", fmt_per(pu, "/rtt"),
               fmt_ratio(pu / pf) + " 2 threads blocking", "", ""});
        d.row({"  pipe round trip (readiness), epoll", fmt_per(pe, "/rtt"),
               fmt_ratio(pe / pu) + " io_uring", "", ""});
    }
    d.row({"tr_all_tasks per task, by live N", "alloc", "fill", "memcpy floor", "fill/floor"});
    for (size_t n : kSnapshotSizes) {
        double a = snap(kUnstarted, "alloc", n), f = snap(kUnstarted, "fill", n);
        d.row({"  unstarted, N=" + count_label(n), fmt_ns(a), fmt_ns(f), fmt_ns(floor_of(n)),
               fmt_ratio(f / floor_of(n))});
    }
    for (size_t n : {size_t(1000), size_t(100000), size_t(1000000)}) {
        double a = snap(kSleeping, "alloc", n), f = snap(kSleeping, "fill", n);
        d.row({"  in tr_sleep, N=" + count_label(n), fmt_ns(a), fmt_ns(f), fmt_ns(floor_of(n)),
               fmt_ratio(f / floor_of(n))});
    }
    {
        std::string a = std::string(kUnstarted) + "alloc/n:1000/after_peak:4M";
        std::string f = std::string(kUnstarted) + "fill/n:1000/after_peak:4M";
        d.row({"  unstarted, N=1K after a 4M peak", fmt_ns(per_item(a)), fmt_ns(per_item(f)),
               fmt_ns(floor_of(1000)), fmt_ratio(per_item(f) / floor_of(1000))});
    }
    d.row({"churn (spawn flat out; 2nd thread)", "spawn rate", "drop vs alone", "snapshots", ""});
    for (const char *name : {"churn/spawn_rate", "churn/spawn_rate/after_peak:4M"}) {
        bool peak = strstr(name, "after_peak") != nullptr;
        auto c = [&](const char *k) { return counter(name, k); };
        d.row({peak ? "after a 4M peak:" : "steady:", "", "", "", ""});
        d.row({"  alone", fmt_rate(c("spawn_rate_alone")), "", "", ""});
        d.row({"  with snapshotter", fmt_rate(c("spawn_rate_with_snapshotter")),
               fmt_pct(c("spawn_rate_drop_pct")), fmt_rate(c("snapshot_rate")),
               fmt_count(c("snapshot_avg_live")) + " live on average"});
        d.row({"  with busy control thread", fmt_rate(c("spawn_rate_with_control")),
               fmt_pct(c("control_drop_pct")), "", ""});
    }
    {
        const char *pp = "pool/pinned_churn";
        d.row({"record pool churn (1 loop, 128 alive)", "spawn rate", "sets taken", "", ""});
        d.row({"  no pin", fmt_rate(counter(pp, "rate_nopin")), "", "", ""});
        d.row({"  a pin always alive", fmt_rate(counter(pp, "rate_pinned")),
               fmt_count(counter(pp, "sets")), "", ""});
    }
    const char *sl = "sleepers/n:1000000";
    d.row({"1M sleepers", "", "", "", ""});
    d.row({"  spawning 1M", fmt_ns(counter(sl, "spawn_ns")), "", "", ""});
    d.row({"  first wake / wake spread", fmt_ns(counter(sl, "first_wake_ns")),
           fmt_ns(counter(sl, "wake_spread_ns")), "", ""});
    d.row({"  lateness p50 / p99 / max", fmt_ns(counter(sl, "late_p50_ns")),
           fmt_ns(counter(sl, "late_p99_ns")), fmt_ns(counter(sl, "late_max_ns")), ""});
    d.row({"  worst wall of the repetitions", fmt_ns(counter(sl, "wall_ns_worst")), "", "", ""});
    d.row({"loops (alternating rounds)", "per op", "context switches/op", "", ""});
    {
        const char *tp = "loops/spawn_throughput";
        d.row({"  spawn+await throughput: 1 loop / 2 loops / 2 runtimes",
               fmt_rate(counter(tp, "rate_1loop")), fmt_rate(counter(tp, "rate_2loops")),
               fmt_rate(counter(tp, "rate_2runtimes")),
               fmt_count(counter(tp, "rounds")) + " rounds"});
        auto rtt = [&d](const std::string &what, const char *name, const char *ns,
                        const char *csw) {
            d.row(
                {"  " + what, fmt_ns(counter(name, ns)), fmt("%.2f", counter(name, csw)), "", ""});
        };
        const char *sa = "loops/spawn_await_rtt", *qp = "loops/queue_pingpong_cross";
        const char *tt = "loops/to_thread_rtt";
        rtt("spawn+await, same loop (2-loop runtime)", sa, "same_ns", "same_csw_per_op");
        rtt("spawn+await, tr_spawn_on(1) from loop 0", sa, "cross_ns", "cross_csw_per_op");
        rtt("queue ping-pong, queues on their consumer's loop", qp, "consumer_owned_ns",
            "consumer_csw_per_op");
        rtt("queue ping-pong, queues on their producer's loop", qp, "producer_owned_ns",
            "producer_csw_per_op");
        rtt("raw MSG_RING ping-pong, 2 threads", qp, "msg_ring_ns", "msg_ring_csw_per_op");
        rtt("tr_to_thread", tt, "to_thread_ns", "to_thread_csw_per_op");
        rtt("pthread condvar handoff", tt, "condvar_ns", "condvar_csw_per_op");
    }
    d.row({"memory (fresh process)", "RSS/task", "VSZ/task", "", ""});
    d.row({"  1M scheduled-not-started",
           fmt_bytes(counter("memory/unstarted/n:1000000", "bytes_per_task")),
           fmt_bytes(counter("memory/unstarted/n:1000000", "vsz_per_task")), "", ""});
    d.row({"  1M sleeping", fmt_bytes(counter("memory/sleeping/n:1000000", "bytes_per_task")),
           fmt_bytes(counter("memory/sleeping/n:1000000", "vsz_per_task")), "", ""});
    d.print();

    std::string py = peer.ran ? "CPython " + peer_str(peer, "python") : "CPython";
    printf("\n---- vs %s asyncio (bench/peers/asyncio_peer.py; its all_tasks runs on the loop's "
           "own thread) ----\n",
           py.c_str());
    Table p;
    p.row({"figure", "taskring", "asyncio", "asyncio / taskring"});
    auto peer_row = [&](const std::string &what, double ours, const std::string &key,
                        std::string (*f)(double)) {
        double theirs = peer_num(peer, key);
        p.row({what, f(ours), peer.ran ? f(theirs) : peer.status,
               peer.ran ? fmt_ratio(theirs / ours) : "-"});
    };
    peer_row("spawn+await+release / create_task+await", spawn_await, "create_task_await_ns",
             fmt_ns);
    peer_row("spawn+run+release / create_task+sleep(0)", spawn, "create_task_yield_ns", fmt_ns);
    peer_row("tr_yield / sleep(0) round trip", yield, "sleep0_rtt_ns", fmt_ns);
    peer_row("tr_queue / Queue(maxsize=1) ping-pong round trip", queue, "queue_pingpong_rtt_ns",
             fmt_ns);
    peer_row("tr_lock / Lock handoff among 4, per handoff", lock, "lock_handoff_ns", fmt_ns);
    peer_row("tr_event / Event set, 100K waiters, per waiter", event, "event_wake_ns_per_waiter",
             fmt_ns);
    peer_row("tr_gather / gather of 100K, per task", gather, "gather_ns_per_task", fmt_ns);
    peer_row("task group / TaskGroup of 100K, per task", group, "taskgroup_ns_per_task", fmt_ns);
    for (size_t n : {size_t(1), size_t(1000), size_t(100000), size_t(1000000)})
        peer_row("all_tasks per task, N=" + count_label(n), snap(kUnstarted, "alloc", n),
                 "all_tasks_ns_per_task_" + std::to_string(n), fmt_ns);
    peer_row("RSS per scheduled-not-started task",
             counter("memory/unstarted/n:1000000", "bytes_per_task"), "rss_pending_bytes_per_task",
             fmt_bytes);
    peer_row("RSS per sleeping task", counter("memory/sleeping/n:1000000", "bytes_per_task"),
             "rss_sleeping_bytes_per_task", fmt_bytes);
    p.print();

    if (g_failed) {
        printf("\n---- failures ----\n");
        for (const auto &kv : g_results)
            if (!kv.second.error.empty())
                printf("%s: %s\n", kv.first.c_str(), kv.second.error.c_str());
    }
    printf("\nTotal wall time: %.1f s\n", wall_s);
}

std::string dir_of(const std::string &path) {
    size_t slash = path.rfind('/');
    return slash == std::string::npos ? "" : path.substr(0, slash + 1);
}

std::string self_exe(const char *argv0) {
    char buf[4096];
    ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
    if (n <= 0)
        return argv0;
    buf[n] = 0;
    return buf;
}

void usage() {
    printf("taskring_bench: taskring's benchmark suite, ending in a summary table.\n\n"
           "  --quick              3 repetitions, shorter phases, 1 subprocess run each\n"
           "  --no_peer            skip the CPython asyncio peer\n"
           "  --python=EXE         interpreter for the peer (default python3)\n"
           "  --peer_script=PATH   default %s\n"
           "  --peer_out=PATH      peer JSON (default taskring_peer.json beside --benchmark_out)\n"
           "  --no_go              skip the Go peer (it is skipped anyway when go is not on PATH)\n"
           "  --go=EXE             go command for the Go peer (default go)\n"
           "  --go_peer=PATH       default %s\n"
           "  --baseline=JSONS     earlier runs for the \"vs before\" rows (comma-separated,\n"
           "                       globs); default before/old-*.json if any, else\n"
           "                       taskring_bench.prev.json, beside --benchmark_out\n"
           "  --tr-compare=B:A     only compare the same-loop rows of two sets of JSONs\n"
           "  --benchmark_*        google-benchmark flags; defaults: --benchmark_repetitions=5\n"
           "                       --benchmark_min_time=0.2 --benchmark_out=taskring_bench.json\n"
           "Plot: tools/plot_all_tasks.sh BENCH_JSON PEER_JSON\n\n",
           TASKRING_PEER_SCRIPT, TASKRING_GO_PEER);
}

// --tr-compare=BEFORE:AFTER (each a comma-separated list of JSON files or globs, typically
// alternating runs of two builds, as tools/bench_before.sh makes them): the same-loop rows,
// the median over each side's runs, the ratio, and each run's figure.
int compare_main(const std::string &arg) {
    size_t colon = arg.find(':');
    if (colon == std::string::npos) {
        fprintf(stderr, "--tr-compare=BEFORE_JSONS:AFTER_JSONS\n");
        return 2;
    }
    std::vector<RunFile> before = load_runs(arg.substr(0, colon));
    std::vector<RunFile> after = load_runs(arg.substr(colon + 1));
    if (before.empty() || after.empty()) {
        fprintf(stderr, "--tr-compare: no readable JSON on the %s side\n",
                before.empty() ? "before" : "after");
        return 2;
    }
    printf("same-loop figures: medians of %zu runs before (%s) and %zu after (%s)\n", before.size(),
           before.front().exe.c_str(), after.size(), after.front().exe.c_str());
    Table t;
    t.row({"figure", "before", "after", "after/before", "target", "result", "before runs",
           "after runs"});
    bool all = true;
    for (const auto &r : kSameLoopRows) {
        std::vector<double> eb, ea;
        double b = runs_per_item(before, r.name, &eb), a = runs_per_item(after, r.name, &ea);
        auto list = [](const std::vector<double> &v) {
            std::string l;
            for (double x : v)
                l += (l.empty() ? "" : " ") + fmt("%.1f", x);
            return l;
        };
        bool known = !std::isnan(a) && !std::isnan(b);
        all &= known;
        t.row({r.label, fmt_ns(b), fmt_ns(a), fmt_ratio(a / b), "<= 1.03x before",
               verdict(known, a / b <= kSameLoopLimit), list(eb), list(ea)});
    }
    t.print();
    return all ? 0 : 1;
}

} // namespace
} // namespace trb

int main(int argc, char **argv) {
    using namespace trb;
    if (argc >= 2 && strncmp(argv[1], "--tr-probe=", 11) == 0)
        return probe_main(argv[1] + 11);
    if (argc >= 2 && strncmp(argv[1], "--tr-compare=", 13) == 0)
        return compare_main(argv[1] + 13);

    uint64_t t_start = now_ns();
    bool no_peer = false, no_go = false;
    std::string python = "python3", peer_script = TASKRING_PEER_SCRIPT, peer_out;
    std::string go_exe = "go", go_peer = TASKRING_GO_PEER, baseline_spec;
    std::vector<std::string> user;
    for (int i = 1; i < argc; i++) {
        std::string a = argv[i];
        if (a == "--quick")
            g_opt.quick = true;
        else if (a == "--no_peer")
            no_peer = true;
        else if (a.rfind("--python=", 0) == 0)
            python = a.substr(9);
        else if (a.rfind("--peer_script=", 0) == 0)
            peer_script = a.substr(14);
        else if (a.rfind("--peer_out=", 0) == 0)
            peer_out = a.substr(11);
        else if (a == "--no_go")
            no_go = true;
        else if (a.rfind("--go=", 0) == 0)
            go_exe = a.substr(5);
        else if (a.rfind("--go_peer=", 0) == 0)
            go_peer = a.substr(10);
        else if (a.rfind("--baseline=", 0) == 0)
            baseline_spec = a.substr(11);
        else {
            if (a == "--help" || a == "-h")
                usage();
            user.push_back(a);
        }
    }
    g_opt.self_exe = self_exe(argv[0]);
    if (g_opt.quick) {
        g_opt.probe_reps = 1;
        g_opt.churn_rounds = 3;
        g_opt.churn_phase_s = 0.2;
    }
    int reps = g_opt.quick ? 3 : 5;
    std::string out = "taskring_bench.json";
    std::vector<std::string> args = {
        argv[0],
        "--benchmark_repetitions=" + std::to_string(reps),
        "--benchmark_display_aggregates_only=true",
        std::string("--benchmark_min_time=") + (g_opt.quick ? "0.05" : "0.2"),
        "--benchmark_out=" + out,
        "--benchmark_out_format=json",
    };
    for (const std::string &a : user) {
        if (a.rfind("--benchmark_out=", 0) == 0)
            out = a.substr(16);
        if (a.rfind("--benchmark_repetitions=", 0) == 0)
            reps = atoi(a.c_str() + 24);
        args.push_back(a);
    }
    if (peer_out.empty())
        peer_out = dir_of(out) + "taskring_peer.json";
    // Read now: this run's JSON may be the file a baseline names (it is rewritten as we go).
    Baseline baseline;
    if (baseline_spec.empty()) {
        baseline_spec = dir_of(out) + "before/old-*.json";
        baseline.runs = load_runs(baseline_spec);
        if (baseline.runs.empty())
            baseline_spec = dir_of(out) + "taskring_bench.prev.json";
    }
    baseline.spec = baseline_spec;
    if (baseline.runs.empty())
        baseline.runs = load_runs(baseline_spec);

    std::vector<char *> bargv;
    for (std::string &a : args)
        bargv.push_back(&a[0]);
    int bargc = int(bargv.size());
    bargv.push_back(nullptr);
    benchmark::Initialize(&bargc, bargv.data());
    if (benchmark::ReportUnrecognizedArguments(bargc, bargv.data()))
        return 2;

    register_floors();
    register_tasks();
    register_sync();
    register_gather();
    register_loops();
    register_snapshots();
    register_pool();
    register_experiments();

    bool color = isatty(STDOUT_FILENO);
    for (const std::string &a : user)
        if (a.rfind("--benchmark_color=", 0) == 0)
            color = a.substr(18) == "true" || a.substr(18) == "yes" || a.substr(18) == "1" ||
                    (a.substr(18) == "auto" && isatty(STDOUT_FILENO));
    benchmark::ConsoleReporter display(color ? benchmark::ConsoleReporter::OO_ColorTabular
                                             : benchmark::ConsoleReporter::OO_Tabular);
    CollectingJSONReporter file;
    benchmark::RunSpecifiedBenchmarks(&display, &file);
    population_reset();
    benchmark::Shutdown();

    Peer peer;
    if (no_peer)
        peer.status = "skipped (--no_peer)";
    else
        peer = run_peer(python, peer_script, peer_out, g_opt.quick);

    GoPeers go;
    if (no_go)
        go.one.status = go.cross.status = "skipped (--no_go)";
    else
        go = run_go_peer(go_exe, go_peer, dir_of(out), g_opt.quick);

    print_summary(peer, go, baseline, reps, (now_ns() - t_start) * 1e-9);
    std::string jsons = out;
    if (peer.ran)
        jsons += ", " + peer_out;
    if (go.one.ran)
        jsons += ", " + dir_of(out) + "taskring_go_peer.json";
    if (go.cross.ran)
        jsons += ", " + dir_of(out) + "taskring_go_peer_cross.json";
    printf("JSON: %s\n", jsons.c_str());
    return g_failed ? 1 : 0;
}
