// bench_loops.cpp - the runtime of several loops (tr_options.loops), each figure measured in
// alternating rounds beside its floor, so that the noise of a shared 2-core machine hits both
// sides of a ratio alike (every benchmark here is one run of its own rounds; its counters are
// medians over the rounds, ratios the median of the per-round ratios):
//
//   loops/spawn_throughput       each loop's driver task spawns and awaits batches of 1000
//                                trivial tasks on its own loop for a phase; total tasks/s of one
//                                loop, of two loops of one runtime, and (the machine's control)
//                                of two separate 1-loop runtimes on two threads
//   loops/spawn_await_rtt        tr_spawn_on(1) + tr_await + release from loop 0 of a 2-loop
//                                runtime, beside tr_spawn + tr_await + release on loop 0
//   loops/queue_pingpong_cross   a task on loop 0 and one on loop 1 bounce one item over two
//                                tr_queues of maxsize 1, each queue owned by its consumer's loop
//                                or by its producer's; beside a raw IORING_OP_MSG_RING ping-pong
//                                between two rings on two threads (liburing only)
//   loops/to_thread_rtt          tr_to_thread of a trivial function, beside a pthread condvar
//                                handoff to a waiting worker thread
//
// Every round-trip side also reports its context switches per operation (getrusage over the
// whole process: every voluntary switch is a thread that went to sleep and had to be woken).
// On a 2-core machine a second loop competes with everything else the machine runs, and a
// cross-thread round trip is as fast as the two threads are woken.
#include "bench.hpp"

#include "taskring.h"

#include <liburing.h>
#include <pthread.h>
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace trb {
namespace {

constexpr int kBatch = 1000; // tasks spawned, then awaited, per batch (as task/spawn_await_release)
constexpr size_t kQueueMaxsize = 1;
constexpr int kWarmOps = 200; // untimed operations before each timed side

int rounds() {
    return g_opt.quick ? 3 : 7;
}
// The timed length of one side of a round-trip round, and of one throughput phase.
uint64_t side_ns() {
    return g_opt.quick ? 20000000ull : 60000000ull;
}
uint64_t phase_ns() {
    return g_opt.quick ? 100000000ull : 200000000ull;
}

double median(std::vector<double> v) {
    if (v.empty())
        return NAN;
    std::sort(v.begin(), v.end());
    size_t m = v.size() / 2;
    return v.size() % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

tr_options loop_opts(unsigned loops) {
    tr_options o{};
    o.size = sizeof o;
    o.loops = loops;
    return o;
}

uint64_t switches() {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return uint64_t(ru.ru_nvcsw) + uint64_t(ru.ru_nivcsw);
}

// One timed side: ns per operation and context switches per operation.
struct Side {
    double ns = NAN;
    double csw = NAN;
};

// Call op() kWarmOps times untimed, then for at least side_ns(); op returns false on failure
// (and records why), which leaves ns NAN. Checks the clock every `chunk` operations.
template <class Op> Side timed(Op op, int chunk) {
    Side s;
    for (int i = 0; i < kWarmOps; i++)
        if (!op())
            return s;
    uint64_t ops = 0, c0 = switches(), t0 = now_ns(), t1, deadline = t0 + side_ns();
    do {
        for (int i = 0; i < chunk; i++)
            if (!op())
                return s;
        ops += uint64_t(chunk);
    } while ((t1 = now_ns()) < deadline);
    uint64_t c1 = switches();
    s.ns = double(t1 - t0) / double(ops);
    s.csw = double(c1 - c0) / double(ops);
    return s;
}

void *trivial(void *) {
    return nullptr;
}

// Run main_fn as the main task of a runtime of `loops` loops on this thread; "" or the error.
std::string run_loops(unsigned loops, tr_fn main_fn, void *arg, const std::string &body_error) {
    tr_options o = loop_opts(loops);
    int rc = tr_run_with(&o, main_fn, arg, nullptr);
    if (!body_error.empty())
        return body_error;
    return rc < 0 ? tr_error_text("tr_run_with", rc) : std::string();
}

// ---- spawn throughput: 1 loop, 2 loops, 2 separate runtimes -------------------------------------

struct StartLine {
    int need = 1;
    uint64_t duration_ns = 0;
    std::atomic<int> ready{0};
    std::atomic<uint64_t> t0{0};
};

struct Driver {
    StartLine *start = nullptr;
    uint64_t tasks = 0, t_end = 0;
    int error = 0;
};

// Spawn+await+release batches of kBatch trivial tasks on the caller's own loop, from the moment
// the last driver is ready until the phase's end.
void drive(Driver *d) {
    StartLine *s = d->start;
    if (s->ready.fetch_add(1, std::memory_order_acq_rel) + 1 == s->need)
        s->t0.store(now_ns(), std::memory_order_release);
    uint64_t t0;
    while ((t0 = s->t0.load(std::memory_order_acquire)) == 0)
        tr_yield(); // alone on its loop: a spin
    std::vector<tr_task *> batch(kBatch);
    uint64_t deadline = t0 + s->duration_ns, t;
    do {
        for (int i = 0; i < kBatch; i++) {
            batch[i] = tr_spawn(trivial, nullptr);
            if (!batch[i]) {
                d->error = errno;
                for (int j = 0; j < i; j++)
                    tr_task_release(batch[j]);
                d->t_end = now_ns();
                return;
            }
        }
        for (int i = 0; i < kBatch; i++) {
            int rc = tr_await(batch[i], nullptr);
            if (rc < 0 && !d->error)
                d->error = -rc;
            tr_task_release(batch[i]);
        }
        d->tasks += kBatch;
    } while (!d->error && (t = now_ns()) < deadline);
    d->t_end = now_ns();
}

void *driver_task(void *arg) {
    drive(static_cast<Driver *>(arg));
    return nullptr;
}

// Loop 0's main: start a driver on loop 1, drive on loop 0, then collect loop 1's.
void *two_loops_main(void *arg) {
    Driver *d = static_cast<Driver *>(arg); // d[0]: loop 0, d[1]: loop 1
    tr_task *other = tr_spawn_on(1, driver_task, &d[1]);
    if (!other) {
        d[0].error = errno;
        return nullptr;
    }
    drive(&d[0]);
    int rc = tr_await(other, nullptr);
    if (rc < 0 && !d[1].error)
        d[1].error = -rc;
    tr_task_release(other);
    return nullptr;
}

// The machine's own control: the same phase of private integer work (no memory shared, no
// taskring) on one thread and on two; what two threads get from these two cores right now.
uint64_t spin_phase(StartLine *s, uint64_t *t_end) {
    if (s->ready.fetch_add(1, std::memory_order_acq_rel) + 1 == s->need)
        s->t0.store(now_ns(), std::memory_order_release);
    uint64_t t0;
    while ((t0 = s->t0.load(std::memory_order_acquire)) == 0) {
    }
    uint64_t x = 1, units = 0, deadline = t0 + s->duration_ns, t;
    do {
        for (int i = 0; i < 10000; i++)
            x = x * 6364136223846793005ull + 1442695040888963407ull;
        benchmark::DoNotOptimize(x);
        units++;
    } while ((t = now_ns()) < deadline);
    *t_end = t;
    return units;
}

enum class Mode { OneLoop, TwoLoops, TwoRuntimes, SpinOne, SpinTwo };
constexpr int kModes = 5;

// One phase: total tasks/s over the phase; 0 and *err on failure.
double throughput_phase(Mode mode, std::string *err) {
    StartLine s;
    s.duration_ns = phase_ns();
    s.need = mode == Mode::OneLoop || mode == Mode::SpinOne ? 1 : 2;
    Driver d[2];
    if (mode == Mode::SpinOne || mode == Mode::SpinTwo) {
        uint64_t n = 0;
        std::thread other;
        if (mode == Mode::SpinTwo)
            other = std::thread([&] { d[1].tasks = spin_phase(&s, &d[1].t_end); });
        n = spin_phase(&s, &d[0].t_end);
        if (other.joinable())
            other.join();
        return double(n + d[1].tasks) / (double(std::max(d[0].t_end, d[1].t_end) - s.t0) * 1e-9);
    }
    d[0].start = d[1].start = &s;
    tr_options one = loop_opts(1), two = loop_opts(2);
    int rc = 0, rc2 = 0;
    if (mode == Mode::OneLoop) {
        rc = tr_run_with(&one, driver_task, &d[0], nullptr);
    } else if (mode == Mode::TwoLoops) {
        rc = tr_run_with(&two, two_loops_main, d, nullptr);
    } else {
        std::thread other([&] { rc2 = tr_run_with(&one, driver_task, &d[1], nullptr); });
        rc = tr_run_with(&one, driver_task, &d[0], nullptr);
        other.join();
    }
    if (rc >= 0)
        rc = rc2;
    int e = d[0].error ? d[0].error : d[1].error;
    if (rc < 0 || e) {
        *err = rc < 0 ? tr_error_text("tr_run_with", rc) : std::string("driver: ") + strerror(e);
        return 0;
    }
    uint64_t t0 = s.t0.load(), t1 = std::max(d[0].t_end, d[1].t_end);
    return double(d[0].tasks + d[1].tasks) / (double(t1 - t0) * 1e-9);
}

void BM_SpawnThroughput(benchmark::State &st) {
    std::vector<double> rate[kModes], speedup, control, machine;
    std::string err;
    for (auto _ : st) {
        for (int round = 0; round < rounds() && err.empty(); round++) {
            double r[kModes] = {};
            // Rotate which mode goes first so that drift hits all of them alike.
            for (int k = 0; k < kModes && err.empty(); k++) {
                int m = (round + k) % kModes;
                r[m] = throughput_phase(Mode(m), &err);
            }
            if (!err.empty())
                break;
            for (int m = 0; m < kModes; m++)
                rate[m].push_back(r[m]);
            speedup.push_back(r[int(Mode::TwoLoops)] / r[int(Mode::OneLoop)]);
            control.push_back(r[int(Mode::TwoRuntimes)] / r[int(Mode::OneLoop)]);
            machine.push_back(r[int(Mode::SpinTwo)] / r[int(Mode::SpinOne)]);
        }
    }
    if (!err.empty()) {
        st.SkipWithError(err.c_str());
        return;
    }
    st.counters["rate_1loop"] = median(rate[int(Mode::OneLoop)]);
    st.counters["rate_2loops"] = median(rate[int(Mode::TwoLoops)]);
    st.counters["rate_2runtimes"] = median(rate[int(Mode::TwoRuntimes)]);
    st.counters["speedup_2loops"] = median(speedup);
    st.counters["speedup_2runtimes"] = median(control);
    st.counters["speedup_machine"] = median(machine);
    st.counters["rounds"] = double(speedup.size());
    set_items(st, 1);
}

// ---- cross-loop spawn+await round trip, beside the same loop's ---------------------------------

struct RttCtx {
    std::vector<double> same, cross, ratio, same_csw, cross_csw;
    std::string error;
};

void *spawn_await_main(void *arg) {
    RttCtx *c = static_cast<RttCtx *>(arg);
    auto op = [c](bool cross) {
        tr_task *t = cross ? tr_spawn_on(1, trivial, nullptr) : tr_spawn(trivial, nullptr);
        if (!t) {
            c->error = std::string(cross ? "tr_spawn_on: " : "tr_spawn: ") + strerror(errno);
            return false;
        }
        int rc = tr_await(t, nullptr);
        tr_task_release(t);
        if (rc < 0)
            c->error = tr_error_text("tr_await", rc);
        return rc == 0;
    };
    for (int round = 0; round < rounds() && c->error.empty(); round++) {
        Side s[2];
        for (int k = 0; k < 2 && c->error.empty(); k++) {
            bool cross = (round + k) % 2 == 1;
            s[cross] = timed([&] { return op(cross); }, cross ? 16 : 256);
        }
        if (!c->error.empty())
            break;
        c->same.push_back(s[0].ns);
        c->cross.push_back(s[1].ns);
        c->ratio.push_back(s[1].ns / s[0].ns);
        c->same_csw.push_back(s[0].csw);
        c->cross_csw.push_back(s[1].csw);
    }
    return nullptr;
}

void BM_SpawnAwaitRtt(benchmark::State &st) {
    RttCtx c;
    std::string err;
    for (auto _ : st)
        err = run_loops(2, spawn_await_main, &c, c.error);
    if (!err.empty()) {
        st.SkipWithError(err.c_str());
        return;
    }
    st.counters["same_ns"] = median(c.same);
    st.counters["cross_ns"] = median(c.cross);
    st.counters["cross_over_same"] = median(c.ratio);
    st.counters["same_csw_per_op"] = median(c.same_csw);
    st.counters["cross_csw_per_op"] = median(c.cross_csw);
    set_items(st, 1);
}

// ---- cross-loop queue ping-pong, beside a raw MSG_RING ping-pong ------------------------------

char g_ball, g_stop;

struct Echo {
    tr_queue *in = nullptr, *out = nullptr;
    size_t echoed = 0;
    int error = 0;
};

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

void *new_queue_task(void *) {
    return tr_queue_new(kQueueMaxsize);
}

enum class Placement { Consumer, Producer };

struct PingPong {
    Placement placement;
    Side side;
    std::string error;
};

// Loop 0's main: the echo task on loop 1, one queue made on each loop, placed so that each is
// owned by its consumer's loop (ping on loop 1, pong on loop 0) or by its producer's.
void *pingpong_main(void *arg) {
    PingPong *p = static_cast<PingPong *>(arg);
    tr_queue *q0 = tr_queue_new(kQueueMaxsize), *q1 = nullptr;
    tr_task *maker = tr_spawn_on(1, new_queue_task, nullptr);
    if (maker) {
        void *res = nullptr;
        if (tr_await(maker, &res) == 0)
            q1 = static_cast<tr_queue *>(res);
        tr_task_release(maker);
    }
    if (!q0 || !q1) {
        p->error = "tr_queue_new on loop 0 or 1 failed";
        if (q0)
            tr_queue_free(q0);
        if (q1)
            tr_queue_free(q1);
        return nullptr;
    }
    Echo e;
    bool consumer = p->placement == Placement::Consumer;
    tr_queue *ping = consumer ? q1 : q0, *pong = consumer ? q0 : q1;
    e.in = ping;
    e.out = pong;
    tr_task *echo = tr_spawn_on(1, echo_task, &e);
    if (!echo) {
        p->error = std::string("tr_spawn_on: ") + strerror(errno);
        tr_queue_free(q0);
        tr_queue_free(q1);
        return nullptr;
    }
    size_t trips = 0;
    p->side = timed(
        [&] {
            void *got = nullptr;
            int rc = tr_queue_put(ping, &g_ball);
            if (rc == 0)
                rc = tr_queue_get(pong, &got);
            if (rc < 0 || got != &g_ball) {
                p->error =
                    rc < 0 ? tr_error_text("tr_queue_put/get", rc) : "tr_queue_get: wrong item";
                return false;
            }
            trips++;
            return true;
        },
        16);
    if (p->error.empty() && e.error == 0) {
        int rc = tr_queue_put(ping, &g_stop);
        if (rc < 0)
            p->error = tr_error_text("tr_queue_put (stop)", rc);
    }
    if (!p->error.empty())
        tr_task_cancel(echo);
    tr_await(echo, nullptr);
    tr_task_release(echo);
    if (p->error.empty() && e.error)
        p->error = tr_error_text("echo task", e.error);
    if (p->error.empty() && e.echoed != trips)
        p->error = "echo task echoed " + std::to_string(e.echoed) + " items for " +
                   std::to_string(trips) + " round trips";
    tr_queue_free(q0);
    tr_queue_free(q1);
    return nullptr;
}

// The raw floor: two threads, each with its own ring (made on the thread that uses it, with the
// flags the runtime asks for), each waiting for a CQE and answering with one MSG_RING SQE to the
// other's ring fd. IOSQE_CQE_SKIP_SUCCESS: the sender gets no CQE of its own, so every CQE a
// thread waits for is the other's message.
int ring_init(struct io_uring *ring) {
    static const unsigned flag_sets[] = {
        IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
        IORING_SETUP_SINGLE_ISSUER,
        0,
    };
    int rc = -EINVAL;
    for (unsigned flags : flag_sets) {
        struct io_uring_params params;
        memset(&params, 0, sizeof params);
        params.flags = flags;
        rc = io_uring_queue_init_params(8, ring, &params);
        if (rc != -EINVAL)
            break;
    }
    return rc;
}

constexpr uint64_t kBallData = 1, kStopData = 2;

// Send `data` to the ring `fd` and wait for the next CQE of our own ring; its user_data, or 0.
uint64_t send_and_wait(struct io_uring *ring, int fd, uint64_t data) {
    struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
    if (!sqe)
        return 0;
    io_uring_prep_msg_ring(sqe, fd, 0, data, 0);
    sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
    if (io_uring_submit_and_wait(ring, 1) < 0)
        return 0;
    struct io_uring_cqe *cqe;
    if (io_uring_peek_cqe(ring, &cqe) < 0)
        return 0;
    uint64_t got = cqe->res < 0 ? 0 : cqe->user_data;
    io_uring_cqe_seen(ring, cqe);
    return got;
}

struct RingPair {
    std::atomic<int> fd[2] = {{-1}, {-1}};
    std::atomic<int> failed{0};
};

// The answering thread: wait for a message, answer it, until the stop message.
void ring_echo(RingPair *rp) {
    struct io_uring ring;
    if (ring_init(&ring) < 0) {
        rp->failed.store(1);
        rp->fd[1].store(-2);
        return;
    }
    rp->fd[1].store(ring.ring_fd);
    int peer;
    while ((peer = rp->fd[0].load()) == -1)
        std::this_thread::yield();
    struct io_uring_cqe *cqe;
    if (peer >= 0 && io_uring_wait_cqe(&ring, &cqe) == 0) {
        uint64_t got = cqe->user_data;
        io_uring_cqe_seen(&ring, cqe);
        while (got == kBallData)
            got = send_and_wait(&ring, peer, kBallData);
        if (got != kStopData)
            rp->failed.store(1);
    }
    io_uring_queue_exit(&ring);
}

Side msg_ring_side(std::string *err) {
    RingPair rp;
    std::thread other(ring_echo, &rp);
    struct io_uring ring;
    int rc = ring_init(&ring);
    rp.fd[0].store(rc < 0 ? -2 : ring.ring_fd);
    int peer;
    while ((peer = rp.fd[1].load()) == -1)
        std::this_thread::yield();
    Side s;
    if (rc < 0 || peer < 0) {
        other.join();
        *err = "io_uring_queue_init failed";
        if (rc == 0)
            io_uring_queue_exit(&ring);
        return s;
    }
    s = timed([&] { return send_and_wait(&ring, peer, kBallData) == kBallData; }, 16);
    // Stop the echo: a message it answers with nothing.
    struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
    if (sqe) {
        io_uring_prep_msg_ring(sqe, peer, 0, kStopData, 0);
        sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
        io_uring_submit(&ring);
    }
    other.join();
    io_uring_queue_exit(&ring);
    if (std::isnan(s.ns) || rp.failed.load())
        *err = "MSG_RING ping-pong failed";
    return s;
}

void BM_QueuePingPongCross(benchmark::State &st) {
    std::vector<double> cons, prod, floor, best_ratio, cons_csw, prod_csw, floor_csw;
    std::string err;
    for (auto _ : st) {
        for (int round = 0; round < rounds() && err.empty(); round++) {
            Side s[3]; // consumer-owned, producer-owned, MSG_RING floor
            for (int k = 0; k < 3 && err.empty(); k++) {
                int which = (round + k) % 3;
                if (which == 2) {
                    s[2] = msg_ring_side(&err);
                    continue;
                }
                PingPong p{which == 0 ? Placement::Consumer : Placement::Producer, {}, {}};
                err = run_loops(2, pingpong_main, &p, p.error);
                s[which] = p.side;
            }
            if (!err.empty())
                break;
            cons.push_back(s[0].ns);
            prod.push_back(s[1].ns);
            floor.push_back(s[2].ns);
            best_ratio.push_back(std::min(s[0].ns, s[1].ns) / s[2].ns);
            cons_csw.push_back(s[0].csw);
            prod_csw.push_back(s[1].csw);
            floor_csw.push_back(s[2].csw);
        }
    }
    if (!err.empty()) {
        st.SkipWithError(err.c_str());
        return;
    }
    double c = median(cons), p = median(prod);
    st.counters["consumer_owned_ns"] = c;
    st.counters["producer_owned_ns"] = p;
    st.counters["best_ns"] = std::min(c, p);
    st.counters["best_is_consumer"] = c <= p ? 1 : 0;
    st.counters["msg_ring_ns"] = median(floor);
    st.counters["best_over_msg_ring"] = median(best_ratio);
    st.counters["consumer_csw_per_op"] = median(cons_csw);
    st.counters["producer_csw_per_op"] = median(prod_csw);
    st.counters["msg_ring_csw_per_op"] = median(floor_csw);
    set_items(st, 1);
}

// ---- tr_to_thread, beside a pthread condvar handoff ---------------------------------------------

struct ToThread {
    Side side;
    std::string error;
};

void *to_thread_main(void *arg) {
    ToThread *t = static_cast<ToThread *>(arg);
    t->side = timed(
        [t] {
            void *res = &g_ball;
            int rc = tr_to_thread(trivial, nullptr, &res);
            if (rc < 0 || res != nullptr) {
                t->error = rc < 0 ? tr_error_text("tr_to_thread", rc) : "tr_to_thread: result";
                return false;
            }
            return true;
        },
        16);
    return nullptr;
}

// One thread hands a job to a worker thread waiting on a condvar and waits on another for the
// answer: the least two threads can do to run a function elsewhere and get its result.
struct Handoff {
    pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    pthread_cond_t job_cv = PTHREAD_COND_INITIALIZER, done_cv = PTHREAD_COND_INITIALIZER;
    tr_fn fn = nullptr; // the job; NULL: none pending
    void *result = nullptr;
    bool done = false, stop = false;
};

void handoff_worker(Handoff *h) {
    pthread_mutex_lock(&h->mu);
    for (;;) {
        while (!h->fn && !h->stop)
            pthread_cond_wait(&h->job_cv, &h->mu);
        if (!h->fn)
            break;
        tr_fn fn = h->fn;
        h->fn = nullptr;
        pthread_mutex_unlock(&h->mu);
        void *r = fn(nullptr);
        pthread_mutex_lock(&h->mu);
        h->result = r;
        h->done = true;
        pthread_cond_signal(&h->done_cv);
    }
    pthread_mutex_unlock(&h->mu);
}

Side condvar_side(std::string *err) {
    Handoff h;
    std::thread worker(handoff_worker, &h);
    Side s = timed(
        [&h] {
            pthread_mutex_lock(&h.mu);
            h.fn = trivial;
            h.result = &g_ball;
            h.done = false;
            pthread_cond_signal(&h.job_cv);
            while (!h.done)
                pthread_cond_wait(&h.done_cv, &h.mu);
            void *r = h.result;
            pthread_mutex_unlock(&h.mu);
            return r == nullptr;
        },
        16);
    pthread_mutex_lock(&h.mu);
    h.stop = true;
    pthread_cond_signal(&h.job_cv);
    pthread_mutex_unlock(&h.mu);
    worker.join();
    if (std::isnan(s.ns))
        *err = "condvar handoff: wrong result";
    return s;
}

void BM_ToThreadRtt(benchmark::State &st) {
    std::vector<double> tt, cv, ratio, tt_csw, cv_csw;
    std::string err;
    for (auto _ : st) {
        for (int round = 0; round < rounds() && err.empty(); round++) {
            Side s[2];
            for (int k = 0; k < 2 && err.empty(); k++) {
                if ((round + k) % 2 == 0) {
                    ToThread t;
                    err = run_loops(1, to_thread_main, &t, t.error);
                    s[0] = t.side;
                } else {
                    s[1] = condvar_side(&err);
                }
            }
            if (!err.empty())
                break;
            tt.push_back(s[0].ns);
            cv.push_back(s[1].ns);
            ratio.push_back(s[0].ns / s[1].ns);
            tt_csw.push_back(s[0].csw);
            cv_csw.push_back(s[1].csw);
        }
    }
    if (!err.empty()) {
        st.SkipWithError(err.c_str());
        return;
    }
    st.counters["to_thread_ns"] = median(tt);
    st.counters["condvar_ns"] = median(cv);
    st.counters["to_thread_over_condvar"] = median(ratio);
    st.counters["to_thread_csw_per_op"] = median(tt_csw);
    st.counters["condvar_csw_per_op"] = median(cv_csw);
    set_items(st, 1);
}

void one_run(const char *name, void (*fn)(benchmark::State &)) {
    benchmark::RegisterBenchmark(name, fn)->Iterations(1)->Repetitions(1)->Unit(
        benchmark::kMillisecond);
}

} // namespace

void register_loops() {
    one_run("loops/spawn_throughput", BM_SpawnThroughput);
    one_run("loops/spawn_await_rtt", BM_SpawnAwaitRtt);
    one_run("loops/queue_pingpong_cross", BM_QueuePingPongCross);
    one_run("loops/to_thread_rtt", BM_ToThreadRtt);
}

} // namespace trb
