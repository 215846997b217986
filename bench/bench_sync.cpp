// bench_sync.cpp - the synchronisation objects (issue 8), each measured inside tr_run on the
// benchmark thread, beside the task/yield_rtt and task/spawn_run_release floors of the same run:
//   sync/queue_pingpong/maxsize:1   two tasks bounce one item over two tr_queues of maxsize 1:
//                                   one round trip (put, then get of the answer) per iteration
//   sync/lock_handoff/tasks:4       one tr_lock handed round 4 tasks (the main task and 3
//                                   workers), each looping acquire, release: per handoff
//   sync/event_wake/waiters:100000  100K tasks blocked in tr_event_wait; tr_event_set and
//                                   until every waiter has run, per waiter (manual time: the
//                                   spawning and blocking are not timed)
//
// Why maxsize 1: asyncio has no rendezvous queue (its maxsize 0 means unbounded), so the
// nearest it has to Go's unbuffered channel is asyncio.Queue(maxsize=1), which the peer uses;
// taskring does the same. With one item in flight a put never waits either way, so maxsize 1
// against 0 only changes the full-check.
#include "bench.hpp"

#include "taskring.h"

#include <cerrno>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

namespace trb {
namespace {

constexpr size_t kQueueMaxsize = 1;
constexpr int kLockTasks = 4; // the main task and kLockTasks - 1 workers
constexpr size_t kWaiters = 100000;
// How many tr_yield turns a wait for "every task has got there" may take before the benchmark
// gives up with an error instead of spinning (the real figure is one turn).
constexpr int kMaxTurns = 1000;

std::string errno_text(const char *what) {
    return std::string(what) + ": " + strerror(errno);
}

// ---- queue ping-pong ----------------------------------------------------------------------------

// Distinct pointers for the item and the stop request (a queue of pointers need not take NULL).
char g_ball, g_stop;

struct Echo {
    tr_queue *in, *out;
    size_t echoed = 0;
    int error = 0;
};

// The partner: get from `in`, put the same item back on `out`, until the stop item arrives.
void *echo_task(void *arg) {
    Echo *e = static_cast<Echo *>(arg);
    for (;;) {
        void *item = nullptr;
        int rc = tr_queue_get(e->in, &item);
        if (rc == 0 && item == &g_stop)
            return nullptr;
        if (rc == 0)
            rc = tr_queue_put(e->out, item);
        if (rc < 0) {
            e->error = rc;
            return nullptr;
        }
        e->echoed++;
    }
}

std::string queue_pingpong(benchmark::State &st) {
    tr_queue *ping = tr_queue_new(kQueueMaxsize);
    if (!ping)
        return errno_text("tr_queue_new");
    tr_queue *pong = tr_queue_new(kQueueMaxsize);
    if (!pong) {
        std::string err = errno_text("tr_queue_new");
        tr_queue_free(ping);
        return err;
    }
    Echo e{ping, pong};
    tr_task *partner = tr_spawn(echo_task, &e);
    if (!partner) {
        std::string err = errno_text("tr_spawn");
        tr_queue_free(ping);
        tr_queue_free(pong);
        return err;
    }
    std::string error;
    tr_yield(); // the partner starts and waits in tr_queue_get
    size_t trips = 0;
    for (auto _ : st) {
        void *got = nullptr;
        int rc = tr_queue_put(ping, &g_ball);
        if (rc == 0)
            rc = tr_queue_get(pong, &got);
        if (rc < 0 || got != &g_ball) {
            error = rc < 0 ? tr_error_text("tr_queue_put/get", rc) : "tr_queue_get: wrong item";
            st.SkipWithError(error.c_str());
            break;
        }
        trips++;
    }
    // After a clean round trip the partner waits on an empty `ping`: the stop item goes in
    // without waiting. After a failure it may not: cancel it instead of risking a hang.
    if (error.empty() && e.error == 0) {
        int rc = tr_queue_put(ping, &g_stop);
        if (rc < 0)
            error = tr_error_text("tr_queue_put (stop)", rc);
    }
    if (!error.empty())
        tr_task_cancel(partner);
    tr_await(partner, nullptr);
    tr_task_release(partner);
    if (error.empty() && e.error)
        error = tr_error_text("partner", e.error);
    if (error.empty() && e.echoed != trips)
        error = "partner echoed " + std::to_string(e.echoed) + " items for " +
                std::to_string(trips) + " round trips";
    int rc1 = tr_queue_free(ping), rc2 = tr_queue_free(pong);
    if (error.empty() && (rc1 < 0 || rc2 < 0))
        error = tr_error_text("tr_queue_free", rc1 < 0 ? rc1 : rc2);
    return error;
}

// ---- lock handoff -------------------------------------------------------------------------------

struct LockRing {
    tr_lock *lock;
    bool stop = false;
    size_t acquired = 0; // by the workers
    int error = 0;
};

// A worker: acquire, release, again. Every acquire waits in the lock's FIFO (the lock is always
// held by someone else, or handed to the longest waiter, when it is asked for), so each release
// hands the lock on and makes the next task in the ring run.
void *lock_worker(void *arg) {
    LockRing *r = static_cast<LockRing *>(arg);
    for (;;) {
        int rc = tr_lock_acquire(r->lock);
        if (rc < 0) {
            r->error = rc;
            return nullptr;
        }
        r->acquired++;
        bool stop = r->stop;
        rc = tr_lock_release(r->lock);
        if (rc < 0) {
            r->error = rc;
            return nullptr;
        }
        if (stop)
            return nullptr;
    }
}

std::string lock_handoff(benchmark::State &st) {
    LockRing r{tr_lock_new()};
    if (!r.lock)
        return errno_text("tr_lock_new");
    // The main task holds the lock while the workers start, so that each of them queues in
    // tr_lock_acquire (in spawn order) and none can take it uncontended and loop alone.
    int rc = tr_lock_acquire(r.lock);
    if (rc < 0) {
        tr_lock_free(r.lock);
        return tr_error_text("tr_lock_acquire", rc);
    }
    std::vector<tr_task *> workers;
    std::string error;
    for (int i = 1; i < kLockTasks && error.empty(); i++) {
        tr_task *t = tr_spawn(lock_worker, &r);
        if (!t)
            error = errno_text("tr_spawn");
        else
            workers.push_back(t);
    }
    tr_yield(); // every worker runs and waits in tr_lock_acquire
    bool held = true;
    size_t rounds = 0;
    if (error.empty()) {
        for (auto _ : st) {
            // One iteration: the main task hands the lock to the first worker and queues
            // behind the others; it is handed back after kLockTasks handoffs.
            rc = tr_lock_release(r.lock);
            held = rc < 0;
            if (rc == 0) {
                rc = tr_lock_acquire(r.lock);
                held = rc == 0;
            }
            if (rc < 0) {
                error = tr_error_text("tr_lock_release/acquire", rc);
                st.SkipWithError(error.c_str());
                break;
            }
            rounds++;
        }
    }
    r.stop = true;
    if (held && (rc = tr_lock_release(r.lock)) < 0 && error.empty())
        error = tr_error_text("tr_lock_release", rc);
    // Each worker now takes the lock once more, sees stop, hands it on and ends. After a
    // failure the lock may never reach them: cancel them rather than wait forever.
    for (tr_task *t : workers) {
        if (!error.empty())
            tr_task_cancel(t);
        tr_await(t, nullptr);
        tr_task_release(t);
    }
    if (error.empty() && r.error)
        error = tr_error_text("worker", r.error);
    size_t want = (rounds + 1) * size_t(kLockTasks - 1);
    if (error.empty() && r.acquired != want)
        error = "workers took the lock " + std::to_string(r.acquired) + " times, expected " +
                std::to_string(want);
    rc = tr_lock_free(r.lock);
    if (error.empty() && rc < 0)
        error = tr_error_text("tr_lock_free", rc);
    return error;
}

// ---- event wake-up ------------------------------------------------------------------------------

struct Crowd {
    tr_event *event = nullptr;
    size_t blocked = 0; // waiters that reached tr_event_wait
    size_t woken = 0;   // waiters that returned from it with 0
    size_t failed = 0;  // ... with an error
    int error = 0;
};

void *event_waiter(void *arg) {
    Crowd *c = static_cast<Crowd *>(arg);
    c->blocked++;
    int rc = tr_event_wait(c->event);
    if (rc < 0) {
        c->failed++;
        c->error = rc;
    } else {
        c->woken++;
    }
    return nullptr;
}

// Yield until every one of n waiters has returned from tr_event_wait (or kMaxTurns passed).
bool all_returned(Crowd *c, size_t n) {
    for (int turn = 0; c->woken + c->failed < n && turn < kMaxTurns; turn++)
        if (tr_yield() < 0)
            break;
    return c->woken + c->failed == n;
}

// One iteration's population: spawn n waiters (references dropped at once, as the
// spawn_run_release floor does, so each is freed when it finishes) and let them all block.
// Returns "" or an error; *spawned says how many exist either way.
std::string block_waiters(Crowd *c, size_t n, size_t *spawned) {
    *spawned = 0;
    for (size_t i = 0; i < n; i++) {
        tr_task *t = tr_spawn(event_waiter, c);
        if (!t)
            return errno_text("tr_spawn");
        tr_task_release(t); // it still runs to its end
        ++*spawned;
    }
    for (int turn = 0; c->blocked < n && turn < kMaxTurns; turn++)
        if (tr_yield() < 0)
            break;
    if (c->blocked != n || c->woken + c->failed != 0)
        return "waiters: " + std::to_string(c->blocked) + " of " + std::to_string(n) +
               " reached tr_event_wait, " + std::to_string(c->woken + c->failed) +
               " returned before tr_event_set";
    return "";
}

std::string event_wake(benchmark::State &st) {
    std::string error;
    for (auto _ : st) {
        // The waiters point at the crowd: it lives on the heap so that, should they outlive a
        // failed iteration, it can be left to them (leaked) instead of freed under them.
        auto c = std::make_unique<Crowd>();
        c->event = tr_event_new();
        if (!c->event) {
            error = errno_text("tr_event_new");
            st.SkipWithError(error.c_str());
            break;
        }
        size_t spawned = 0;
        error = block_waiters(c.get(), kWaiters, &spawned);
        int rc = 0;
        if (error.empty()) {
            uint64_t t0 = now_ns();
            rc = tr_event_set(c->event);
            bool all = rc == 0 && all_returned(c.get(), kWaiters);
            uint64_t t1 = now_ns();
            st.SetIterationTime(double(t1 - t0) * 1e-9);
            if (rc < 0)
                error = tr_error_text("tr_event_set", rc);
            else if (!all || c->failed)
                error = std::to_string(c->woken) + " of " + std::to_string(kWaiters) +
                        " waiters woke (" + std::to_string(c->failed) + " with an error, last " +
                        (c->error ? tr_strerror(c->error) : "none") + ")";
        }
        if (!error.empty()) {
            st.SkipWithError(error.c_str());
            if (rc == 0)
                tr_event_set(c->event);
            if (!all_returned(c.get(), spawned)) {
                c.release(); // waiters still point at it: leak rather than free under them
                break;
            }
        }
        rc = tr_event_free(c->event);
        if (rc < 0 && error.empty()) {
            error = tr_error_text("tr_event_free", rc);
            st.SkipWithError(error.c_str());
        }
        if (!error.empty())
            break;
    }
    return error;
}

void BM_QueuePingPong(benchmark::State &st) {
    run_in_task(st, [&st] { return queue_pingpong(st); });
    set_items(st, 1);
}

void BM_LockHandoff(benchmark::State &st) {
    run_in_task(st, [&st] { return lock_handoff(st); });
    set_items(st, kLockTasks); // handoffs per iteration
}

void BM_EventWake(benchmark::State &st) {
    // 100K blocked waiters hold 100K stacks. Keep them all for reuse once the waiters finish:
    // the default (4096 idle stacks) would give the pages of the rest back to the kernel a
    // few per turn, madvise calls landing in the timed turns, and make each iteration's
    // waiters fault in fresh stacks. The floor's 1000 tasks fit the default pool.
    tr_options opts{};
    opts.max_idle_stacks = kWaiters + 1024;
    run_in_task(
        st, [&st] { return event_wake(st); }, &opts);
    set_items(st, double(kWaiters));
}

} // namespace

void register_sync() {
    benchmark::RegisterBenchmark(
        ("sync/queue_pingpong/maxsize:" + std::to_string(kQueueMaxsize)).c_str(), BM_QueuePingPong)
        ->Unit(benchmark::kNanosecond);
    benchmark::RegisterBenchmark(("sync/lock_handoff/tasks:" + std::to_string(kLockTasks)).c_str(),
                                 BM_LockHandoff)
        ->Unit(benchmark::kNanosecond);
    // Each iteration spawns and blocks 100K tasks before its timed part: a fixed, small
    // iteration count keeps the untimed setup from dominating the run.
    benchmark::RegisterBenchmark(("sync/event_wake/waiters:" + std::to_string(kWaiters)).c_str(),
                                 BM_EventWake)
        ->Iterations(g_opt.quick ? 3 : 8)
        ->UseManualTime()
        ->Unit(benchmark::kMicrosecond);
}

} // namespace trb
