// bench_floors.cpp - the floors taskring's figures are compared with, measured in the same run:
//   floor/jump_fcontext_rtt      one round trip between two Boost.Context fcontexts
//   floor/memcpy_8B_x_N/n:N      memcpy of the 8*N bytes a snapshot of N tasks writes
//   floor/uring_nop/batch:B      raw liburing NOP, submitted and reaped B at a time
#include "bench.hpp"

#include <liburing.h>

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

} // namespace

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
