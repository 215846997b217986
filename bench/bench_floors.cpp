// bench_floors.cpp - the floors taskring's figures are compared with, measured in the same run:
//   floor/jump_fcontext_rtt      one round trip between two Boost.Context fcontexts
//   floor/memcpy_8B_x_N/n:N      memcpy of the 8*N bytes a snapshot of N tasks writes
//   floor/uring_nop/batch:B      raw liburing NOP, submitted and reaped B at a time
//   floor/fault/*/n:N            the first page of N stacks laid out as the pool lays them out,
//                                faulted in one by one, or populated from one or two threads
//                                (registered beside sleepers/n:1000000: bench_experiments.cpp)
#include "bench.hpp"

#include <liburing.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

// Boost.Context's C-linkage primitives, declared locally (no Boost header needed).
typedef void *fcontext_t;
typedef struct {
    fcontext_t fctx;
    void *data;
} transfer_t;
extern "C" transfer_t jump_fcontext(fcontext_t to, void *data);
extern "C" fcontext_t make_fcontext(void *sp, size_t size, void (*fn)(transfer_t));

namespace trb {
namespace {

// The other side of the round trip: jump straight back to whoever jumped here, forever.
void bounce(transfer_t t) {
    for (;;)
        t = jump_fcontext(t.fctx, t.data);
}

void BM_JumpRoundTrip(benchmark::State &st) {
    const size_t size = 64 * 1024;
    void *stack = nullptr;
    if (posix_memalign(&stack, 64, size) != 0) {
        st.SkipWithError("posix_memalign failed");
        return;
    }
    fcontext_t ctx = make_fcontext(static_cast<char *>(stack) + size, size, bounce);
    transfer_t t = jump_fcontext(ctx, nullptr); // start it; it jumps straight back
    for (auto _ : st) {
        t = jump_fcontext(t.fctx, nullptr); // there and back: two context switches
        benchmark::DoNotOptimize(t.fctx);
    }
    // The bounce context stays suspended forever; its stack is never resumed, so freeing is safe.
    free(stack);
    set_items(st, 1);
}

// memcpy of exactly the bytes a snapshot of n tasks writes: one pointer per task.
void BM_Memcpy(benchmark::State &st, size_t n) {
    std::vector<uint64_t> src(n), dst(n);
    for (size_t i = 0; i < n; i++)
        src[i] = i * 0x9e3779b97f4a7c15ull;
    memcpy(dst.data(), src.data(), n * sizeof(uint64_t)); // touch both
    for (auto _ : st) {
        benchmark::DoNotOptimize(src.data());
        memcpy(dst.data(), src.data(), n * sizeof(uint64_t));
        benchmark::ClobberMemory();
    }
    set_items(st, double(n));
}

void BM_UringNop(benchmark::State &st, unsigned batch) {
    struct io_uring ring;
    int rc = io_uring_queue_init(256, &ring, 0);
    if (rc < 0) {
        std::string msg = "io_uring_queue_init: " + std::string(strerror(-rc));
        st.SkipWithError(msg.c_str());
        return;
    }
    bool failed = false;
    for (auto _ : st) {
        for (unsigned i = 0; i < batch; i++)
            io_uring_prep_nop(io_uring_get_sqe(&ring));
        rc = io_uring_submit_and_wait(&ring, batch);
        if (rc < 0) {
            failed = true;
            break;
        }
        unsigned seen = 0;
        while (seen < batch) {
            struct io_uring_cqe *cqe;
            unsigned head, got = 0;
            io_uring_for_each_cqe(&ring, head, cqe) {
                got++;
            }
            if (got == 0) {
                if (io_uring_wait_cqe(&ring, &cqe) < 0) {
                    failed = true;
                    break;
                }
                continue;
            }
            io_uring_cq_advance(&ring, got);
            seen += got;
        }
        if (failed)
            break;
    }
    io_uring_queue_exit(&ring);
    if (failed) {
        st.SkipWithError("io_uring submit/wait failed");
        return;
    }
    set_items(st, batch);
}

// ---- floor/fault: giving N stacks their first page --------------------------------------------
//
// The pool's default layout: a 64 KiB stack above a 256 KiB guard, the guard installed with
// MADV_GUARD_INSTALL (or mprotect) as the pool does, outside the timed part (installing it
// also allocates the page tables, as the pool's does). Timed: bringing in the top page of each
// stack, the page a task's first run writes, by
//   touch              one write per page on one thread: a fault each, what n first runs pay
//   populate           process_madvise(MADV_POPULATE_WRITE), 16 pages per call, one thread
//   populate_2threads  the same from two threads, half the stacks each: what a thread that
//                      prefaults stacks beside the loop could reach at best

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif
#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif

enum class Fault { kTouch, kPopulate, kPopulate2 };
constexpr size_t kFaultStack = 64 * 1024, kFaultGuard = 256 * 1024;
constexpr size_t kFaultStride = kFaultStack + kFaultGuard;
constexpr int kFaultBatch = 16;

struct FaultRange {
    char *mem;
    size_t from, to;
    int pidfd;
    int err; // errno of a refused call, 0: all done
};

char *top_page(char *mem, size_t i) {
    return mem + i * kFaultStride + kFaultStride - 4096;
}

void *populate_range(void *arg) {
    FaultRange *r = static_cast<FaultRange *>(arg);
    struct iovec iov[kFaultBatch];
    for (size_t i = r->from; i < r->to && !r->err;) {
        int k = 0;
        for (; k < kFaultBatch && i < r->to; k++, i++)
            iov[k] = {top_page(r->mem, i), 4096};
        if (syscall(SYS_process_madvise, r->pidfd, iov, k, MADV_POPULATE_WRITE, 0) < 0)
            r->err = errno;
    }
    return nullptr;
}

void BM_Fault(benchmark::State &st, Fault how, size_t n) {
    int pidfd = int(syscall(SYS_pidfd_open, getpid(), 0));
    if (how != Fault::kTouch && pidfd < 0) {
        st.SkipWithError("pidfd_open refused: no process_madvise here");
        return;
    }
    std::vector<double> samples;
    std::string error;
    for (auto _ : st) {
        for (int rep = 0; rep < g_opt.probe_reps && error.empty(); rep++) {
            char *mem =
                static_cast<char *>(mmap(nullptr, n * kFaultStride, PROT_READ | PROT_WRITE,
                                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0));
            if (mem == MAP_FAILED) {
                error = "mmap failed";
                break;
            }
            for (size_t i = 0; i < n; i++)
                if (madvise(mem + i * kFaultStride, kFaultGuard, MADV_GUARD_INSTALL) != 0 &&
                    mprotect(mem + i * kFaultStride, kFaultGuard, PROT_NONE) != 0) {
                    error = "guard install failed";
                    break;
                }
            uint64_t t0 = now_ns();
            FaultRange a{mem, 0, n, pidfd, 0}, b{mem, n / 2, n, pidfd, 0};
            if (how == Fault::kTouch) {
                for (size_t i = 0; i < n; i++)
                    top_page(mem, i)[4000] = 1; // near the top: where a first run writes
            } else if (how == Fault::kPopulate) {
                populate_range(&a);
            } else {
                a.to = n / 2;
                pthread_t helper;
                if (pthread_create(&helper, nullptr, populate_range, &b) != 0)
                    b.err = EAGAIN;
                else {
                    populate_range(&a);
                    pthread_join(helper, nullptr);
                }
            }
            samples.push_back(double(now_ns() - t0));
            if (a.err || b.err)
                error = std::string("process_madvise(MADV_POPULATE_WRITE): ") +
                        strerror(a.err ? a.err : b.err);
            munmap(mem, n * kFaultStride);
        }
        if (!error.empty())
            break;
        std::vector<double> sorted = samples;
        std::sort(sorted.begin(), sorted.end());
        st.SetIterationTime(sorted[sorted.size() / 2] * 1e-9);
    }
    if (pidfd >= 0)
        close(pidfd);
    if (!error.empty()) {
        st.SkipWithError(error.c_str());
        return;
    }
    st.counters["worst_ns"] = *std::max_element(samples.begin(), samples.end());
    set_items(st, double(n));
}

} // namespace

// Exposed for bench_experiments.cpp: registered beside the 1M sleepers.
void register_fault_floors(size_t n) {
    const std::pair<const char *, Fault> rows[] = {{"touch", Fault::kTouch},
                                                   {"populate", Fault::kPopulate},
                                                   {"populate_2threads", Fault::kPopulate2}};
    for (const auto &row : rows)
        benchmark::RegisterBenchmark(
            (std::string("floor/fault/") + row.first + "/n:" + std::to_string(n)).c_str(), BM_Fault,
            row.second, n)
            ->Iterations(1)
            ->Repetitions(1)
            ->UseManualTime()
            ->Unit(benchmark::kMillisecond);
}

void register_floors() {
    benchmark::RegisterBenchmark("floor/jump_fcontext_rtt", BM_JumpRoundTrip)
        ->Unit(benchmark::kNanosecond);
    for (unsigned batch : {1u, 32u})
        benchmark::RegisterBenchmark(("floor/uring_nop/batch:" + std::to_string(batch)).c_str(),
                                     BM_UringNop, batch)
            ->Unit(benchmark::kNanosecond);
    // The memcpy floors for each snapshot size are registered beside their snapshot benchmark
    // (bench_snapshot.cpp) so that both run back to back; this one is the function they use.
}

// Exposed for bench_snapshot.cpp.
void register_memcpy_floor(size_t n) {
    benchmark::RegisterBenchmark(("floor/memcpy_8B_x_N/n:" + std::to_string(n)).c_str(), BM_Memcpy,
                                 n)
        ->Unit(n >= 100000 ? benchmark::kMicrosecond : benchmark::kNanosecond);
}

} // namespace trb
