/*
 * fcontext.h - the three context-switch primitives taskring takes from Boost.Context.
 *
 * libboost_context ships them as assembly with C linkage; we declare them here instead of
 * including any Boost C++ header. This is the only place that names them.
 */
#ifndef TR_FCONTEXT_H
#define TR_FCONTEXT_H

#include <stddef.h>

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

#endif
