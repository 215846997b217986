/*
 * io.h - what the I/O files share: the backend seam (backend.h) and the listener's hooks for
 * the loop's end. Private to io_calls.c, listener.c, signal.c, inbox.c and the backends.
 */
#ifndef TR_IO_H
#define TR_IO_H

#include "backend.h"
#include "wait.h"

/* listener.c: the loop's end. Before the backend's drain: listeners the program left open
 * stop re-arming and are freed on their last completion; after it, whatever is left. */
void listeners_stop(struct tr_loop *loop);
void listeners_free_all(struct tr_loop *loop);

#endif
