// bench_tasks.cpp - the per-task costs, measured inside tr_run on the benchmark thread (the
// benchmark loop itself runs in the main task):
//   task/spawn_run_release/k:K   spawn K trivial tasks, release each, tr_yield until all ran
//   task/spawn_await_release/k:K spawn K trivial tasks, tr_await each, release each
//                                (K = 1000; and K = 100000, the floors of the 100K-task rows of
//                                bench_sync.cpp and bench_gather.cpp: 100K tasks no longer fit
//                                the caches, which a floor measured with 1000 would hide)
//   task/yield_rtt               two tasks ping-pong with tr_yield; one round trip per iteration
//   task/tr_nop/tasks:T          T tasks issue tr_nop back to back (beside floor/uring_nop)
//   task/tr_nop/tasks:T/backend:epoll   the same on the epoll backend (a completion made in
//                                user space, delivered by the next poll)
//   task/pipe_rtt/backend:B      two tasks ping-pong one byte through two pipes with tr_write
//                                and tr_read: a readiness round trip per op (io_uring: the
//                                kernel's poll-then-read; epoll: EAGAIN, epoll_wait, read),
//                                B = io_uring and epoll, beside floor/pipe_rtt_threads (two
//                                threads in blocking read/write, the same bytes)
#include "bench.hpp"

#include "taskring.h"

#include <cerrno>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

namespace trb {
namespace {

constexpr int kSpawnBatch = 1000;
constexpr int kSpawnBatchLarge = 100000;

struct Ctx {
    benchmark::State *st;
    std::string error; // set on failure; reported with SkipWithError after tr_run returns
    int batch;         // K: tasks spawned per iteration
};

// The trivial task: count itself done (loop thread only, so a plain counter).
void *count_done(void *arg) {
    ++*static_cast<size_t *>(arg);
    return nullptr;
}

std::string errno_text(const char *what, int err) {
    return std::string(what) + ": " + strerror(err);
}

void *spawn_release_main(void *arg) {
    Ctx *c = static_cast<Ctx *>(arg);
    size_t done = 0, spawned = 0;
    for (auto _ : *c->st) {
        for (int i = 0; i < c->batch; i++) {
            tr_task *t = tr_spawn(count_done, &done);
            if (!t) {
                c->error = errno_text("tr_spawn", errno);
                c->st->SkipWithError(c->error.c_str());
                break;
            }
            tr_task_release(t); // the task still runs to its end
            spawned++;
        }
        while (done < spawned)
            if (tr_yield() < 0)
                break;
    }
    return nullptr;
}

void *spawn_await_main(void *arg) {
    Ctx *c = static_cast<Ctx *>(arg);
    std::vector<tr_task *> tasks(c->batch);
    size_t done = 0;
    for (auto _ : *c->st) {
        for (int i = 0; i < c->batch; i++) {
            tasks[i] = tr_spawn(count_done, &done);
            if (!tasks[i]) {
                c->error = errno_text("tr_spawn", errno);
                c->st->SkipWithError(c->error.c_str());
                for (int j = 0; j < i; j++)
                    tr_task_release(tasks[j]);
                return nullptr;
            }
        }
        for (int i = 0; i < c->batch; i++) {
            int rc = tr_await(tasks[i], nullptr);
            if (rc < 0 && c->error.empty())
                c->error = errno_text("tr_await", -rc);
            tr_task_release(tasks[i]);
        }
    }
    return nullptr;
}

struct Pong {
    bool stop = false;
    size_t yields = 0;
};

void *pong(void *arg) {
    Pong *p = static_cast<Pong *>(arg);
    while (!p->stop) {
        p->yields++;
        if (tr_yield() < 0)
            break;
    }
    return nullptr;
}

void *yield_main(void *arg) {
    Ctx *c = static_cast<Ctx *>(arg);
    Pong p;
    tr_task *partner = tr_spawn(pong, &p);
    if (!partner) {
        c->error = errno_text("tr_spawn", errno);
        c->st->SkipWithError(c->error.c_str());
        return nullptr;
    }
    tr_yield(); // let the partner start: from here on each tr_yield is one half of a round trip
    size_t before = p.yields;
    for (auto _ : *c->st)
        tr_yield();
    size_t partner_yields = p.yields - before;
    p.stop = true;
    int rc = tr_await(partner, nullptr);
    tr_task_release(partner);
    if (rc < 0)
        c->error = errno_text("tr_await", -rc);
    else if (partner_yields != size_t(c->st->iterations()))
        c->error = "partner yielded " + std::to_string(partner_yields) + " times for " +
                   std::to_string(c->st->iterations()) + " round trips";
    return nullptr;
}

// ---- tr_nop: one io_uring NOP through the runtime, beside the raw liburing floor ----------------

struct NopCtx {
    bool stop = false;
    size_t nops = 0;
    int error = 0;
};

void *nop_partner(void *arg) {
    NopCtx *c = static_cast<NopCtx *>(arg);
    while (!c->stop) {
        int rc = tr_nop();
        if (rc < 0) {
            c->error = rc;
            break;
        }
        c->nops++;
    }
    return nullptr;
}

// `tasks` tasks issue tr_nop back to back: the main task (whose iterations are timed) and
// tasks-1 partners, so that one turn submits up to `tasks` NOPs in one io_uring_enter.
// items = NOPs completed per main iteration, counted exactly.
void bench_nops_on(benchmark::State &st, int tasks, unsigned backend) {
    struct Arg {
        benchmark::State *st;
        int tasks;
        std::string error;
        double items;
    } arg{&st, tasks, {}, 1};
    auto body = [](void *p) -> void * {
        Arg *a = static_cast<Arg *>(p);
        NopCtx c;
        std::vector<tr_task *> partners;
        for (int i = 1; i < a->tasks; i++) {
            tr_task *t = tr_spawn(nop_partner, &c);
            if (!t) {
                a->error = errno_text("tr_spawn", errno);
                break;
            }
            partners.push_back(t);
        }
        tr_yield(); // partners start and issue their first NOP
        size_t before = c.nops, mine = 0;
        for (auto _ : *a->st) {
            int rc = tr_nop();
            if (rc < 0) {
                a->error = std::string("tr_nop: ") + tr_strerror(rc);
                a->st->SkipWithError(a->error.c_str());
                break;
            }
            mine++;
        }
        size_t theirs = c.nops - before;
        c.stop = true;
        for (tr_task *t : partners) {
            tr_await(t, nullptr);
            tr_task_release(t);
        }
        if (c.error && a->error.empty())
            a->error = std::string("tr_nop in a partner: ") + tr_strerror(c.error);
        a->items = mine ? double(mine + theirs) / double(mine) : 1;
        return nullptr;
    };
    tr_options o{};
    o.size = sizeof o;
    o.backend = backend;
    int rc = tr_run_with(&o, body, &arg, nullptr);
    if (rc < 0 && arg.error.empty())
        arg.error = std::string("tr_run: ") + tr_strerror(rc);
    if (!arg.error.empty() && !st.error_occurred())
        st.SkipWithError(arg.error.c_str());
    set_items(st, arg.items);
}

void bench_nops(benchmark::State &st, int tasks) {
    bench_nops_on(st, tasks, TR_BACKEND_IO_URING);
}

void bench_nops_epoll(benchmark::State &st, int tasks) {
    bench_nops_on(st, tasks, TR_BACKEND_EPOLL);
}

// ---- a readiness round trip: one byte each way through two pipes
// ---------------------------------

struct PipeCtx {
    int ab[2], ba[2]; // a writes ab[1], b reads ab[0]; b writes ba[1], a reads ba[0]
    bool stop = false;
    int error = 0;
};

void *pipe_partner(void *arg) {
    PipeCtx *c = static_cast<PipeCtx *>(arg);
    char byte;
    for (;;) {
        int rc = tr_read(c->ab[0], &byte, 1, -1);
        if (rc != 1 || byte == 'q') {
            if (rc < 0)
                c->error = rc;
            break;
        }
        rc = tr_write(c->ba[1], &byte, 1, -1);
        if (rc != 1) {
            c->error = rc < 0 ? rc : -EIO;
            break;
        }
    }
    return nullptr;
}

void bench_pipe_rtt(benchmark::State &st, unsigned backend) {
    struct Arg {
        benchmark::State *st;
        std::string error;
    } arg{&st, {}};
    auto body = [](void *p) -> void * {
        Arg *a = static_cast<Arg *>(p);
        PipeCtx c;
        if (pipe2(c.ab, O_CLOEXEC) != 0 || pipe2(c.ba, O_CLOEXEC) != 0) {
            a->error = errno_text("pipe2", errno);
            return nullptr;
        }
        tr_task *t = tr_spawn(pipe_partner, &c);
        char byte = 'x';
        for (auto _ : *a->st) {
            if (tr_write(c.ab[1], &byte, 1, -1) != 1 || tr_read(c.ba[0], &byte, 1, -1) != 1) {
                a->error = "pipe round trip failed";
                a->st->SkipWithError(a->error.c_str());
                break;
            }
        }
        byte = 'q';
        (void)!write(c.ab[1], &byte, 1);
        tr_await(t, nullptr);
        tr_task_release(t);
        if (c.error && a->error.empty())
            a->error = std::string("partner: ") + tr_strerror(c.error);
        for (int fd : {c.ab[0], c.ab[1], c.ba[0], c.ba[1]})
            close(fd);
        return nullptr;
    };
    tr_options o{};
    o.size = sizeof o;
    o.backend = backend;
    int rc = tr_run_with(&o, body, &arg, nullptr);
    if (rc < 0 && arg.error.empty())
        arg.error = std::string("tr_run: ") + tr_strerror(rc);
    if (!arg.error.empty() && !st.error_occurred())
        st.SkipWithError(arg.error.c_str());
    set_items(st, 1);
}

// The same bytes between two threads in blocking read/write: the kernel's floor for a pipe
// round trip that wakes a sleeper each way.
void BM_PipeRttThreads(benchmark::State &st) {
    int ab[2], ba[2];
    if (pipe2(ab, O_CLOEXEC) != 0 || pipe2(ba, O_CLOEXEC) != 0) {
        st.SkipWithError("pipe2");
        return;
    }
    std::thread partner([&] {
        char byte;
        while (read(ab[0], &byte, 1) == 1 && byte != 'q')
            if (write(ba[1], &byte, 1) != 1)
                break;
    });
    char byte = 'x';
    for (auto _ : st) {
        if (write(ab[1], &byte, 1) != 1 || read(ba[0], &byte, 1) != 1) {
            st.SkipWithError("pipe round trip failed");
            break;
        }
    }
    byte = 'q';
    (void)!write(ab[1], &byte, 1);
    partner.join();
    for (int fd : {ab[0], ab[1], ba[0], ba[1]})
        close(fd);
    set_items(st, 1);
}

void run_in_loop(benchmark::State &st, tr_fn main_fn, int batch) {
    Ctx c{&st, {}, batch};
    int rc = tr_run(main_fn, &c, nullptr);
    if (rc < 0 && c.error.empty())
        c.error = std::string("tr_run: ") + tr_strerror(rc);
    if (!c.error.empty() && !st.error_occurred())
        st.SkipWithError(c.error.c_str());
    set_items(st, batch);
}

void BM_SpawnRunRelease(benchmark::State &st, int batch) {
    run_in_loop(st, spawn_release_main, batch);
}
void BM_SpawnAwaitRelease(benchmark::State &st, int batch) {
    run_in_loop(st, spawn_await_main, batch);
}
void BM_YieldRoundTrip(benchmark::State &st) {
    run_in_loop(st, yield_main, 1);
}

} // namespace

void register_tasks() {
    for (int batch : {kSpawnBatch, kSpawnBatchLarge}) {
        const std::string k = std::to_string(batch);
        benchmark::RegisterBenchmark(("task/spawn_run_release/k:" + k).c_str(), BM_SpawnRunRelease,
                                     batch)
            ->Unit(benchmark::kMicrosecond);
        benchmark::RegisterBenchmark(("task/spawn_await_release/k:" + k).c_str(),
                                     BM_SpawnAwaitRelease, batch)
            ->Unit(benchmark::kMicrosecond);
    }
    benchmark::RegisterBenchmark("task/yield_rtt", BM_YieldRoundTrip)->Unit(benchmark::kNanosecond);
    for (int tasks : {1, 32})
        benchmark::RegisterBenchmark(("task/tr_nop/tasks:" + std::to_string(tasks)).c_str(),
                                     bench_nops, tasks)
            ->Unit(benchmark::kNanosecond);
    for (int tasks : {1, 32})
        benchmark::RegisterBenchmark(
            ("task/tr_nop/tasks:" + std::to_string(tasks) + "/backend:epoll").c_str(),
            bench_nops_epoll, tasks)
            ->Unit(benchmark::kNanosecond);
    benchmark::RegisterBenchmark("floor/pipe_rtt_threads", BM_PipeRttThreads)
        ->Unit(benchmark::kNanosecond);
    benchmark::RegisterBenchmark("task/pipe_rtt/backend:io_uring", bench_pipe_rtt,
                                 unsigned(TR_BACKEND_IO_URING))
        ->Unit(benchmark::kNanosecond);
    benchmark::RegisterBenchmark("task/pipe_rtt/backend:epoll", bench_pipe_rtt,
                                 unsigned(TR_BACKEND_EPOLL))
        ->Unit(benchmark::kNanosecond);
}

} // namespace trb
