/*
 * fcontext.h - the three context-switch primitives taskring takes from Boost.Context.
 *
 * libboost_context ships them as assembly with C linkage; we declare them here instead of
 * including any Boost C++ header. This is the only place that names them.
 */
#ifndef TR_FCONTEXT_H
#define TR_FCONTEXT_H

#include <stddef.h>

#include "taskring.h" /* TR__SWITCH_ASM and its clobbers: the inline tr_yield's too */

typedef void *fcontext_t;

/* What a jump delivers to the context it resumes: who jumped, and one word of data. */
typedef struct {
    fcontext_t fctx;
    void *data;
} transfer_t;

/* Switch to `to`, handing it `data`; returns when something jumps back here. */
transfer_t jump_fcontext(fcontext_t const to, void *data);
/* Prepare a context on the stack whose top is `sp` (stacks grow down) that calls fn. */
fcontext_t make_fcontext(void *sp, size_t size, void (*fn)(transfer_t));
/* Switch to `to` and run fn on its stack before it resumes. */
transfer_t ontop_fcontext(fcontext_t const to, void *data, transfer_t (*fn)(transfer_t));

/*
 * jump_fcontext, entered without a `call`. jump_fcontext returns with `jmp *%r8`, not `ret`,
 * so every `call jump_fcontext` leaves an entry on the CPU's return-stack predictor that no
 * `ret` consumes: from then on each `ret` of the resumed task is predicted one frame off and
 * mispredicts (a tr_yield round trip paid two of them). Pushing the resume address and
 * jumping keeps the predictor's stack balanced: the task that resumes pops what its own
 * callers pushed. Same registers, same saved context as a call: callee-saved registers
 * survive (jump_fcontext saves them), everything a call may clobber is declared clobbered,
 * and the push steps over the red zone first. x86-64 only (the only target taskring builds).
 */
static inline __attribute__((always_inline)) transfer_t fcontext_switch(fcontext_t to, void *data) {
#if defined(__x86_64__)
    register void *rdi __asm__("rdi") = to;
    register void *rsi __asm__("rsi") = data;
    register void *rax __asm__("rax");
    register void *rdx __asm__("rdx");
    __asm__ volatile(TR__SWITCH_ASM("jump_fcontext")
                     : "=a"(rax), "=d"(rdx), "+D"(rdi), "+S"(rsi)
                     :
                     : TR__SWITCH_CLOBBERS);
    return (transfer_t){rax, rdx};
#else
    return jump_fcontext(to, data);
#endif
}

#endif
