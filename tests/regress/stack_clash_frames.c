/*
 * A large frame for stack_clash_guard.c, built twice (see CMakeLists.txt): as FRAME_FN =
 * big_frame_unprobed with -fno-stack-clash-protection, as user code built by Debian's gcc 12
 * is by default (the stack pointer moves past the whole frame in one step, so the first store
 * can land anywhere below the guard's top), and as big_frame_probed with
 * -fstack-clash-protection (every page of the frame is touched in order from the top).
 */
#include <stddef.h>
#include <string.h>

size_t FRAME_FN(size_t n);

/* A VLA of n bytes of which only the start is used, as with a large buffer that receives a
 * short string: the only stores are the deepest bytes of the frame. */
__attribute__((noinline)) size_t FRAME_FN(size_t n) {
    char frame[n];
    size_t used = n < 64 ? n : 64;
    memset(frame, 1, used);
    __asm__ volatile("" : : "r"(frame) : "memory"); /* the stores must happen */
    return (size_t)frame[0] + (size_t)frame[used - 1];
}
