/*
 * introspect.h - reading a task from outside its loop: what it waits on, read whole or not at
 * all, and the names reports give wait kinds and I/O operations. Used by tr_dump and the
 * signal dump in-process; taskring-ps applies the same protocol to another process's memory
 * through the published descriptor.
 */
#ifndef TR_INTROSPECT_H
#define TR_INTROSPECT_H

#include "internal.h"

/* One wait of one task, as a reader saw it. */
struct wait_view {
    bool waiting;         /* false: not suspended in a wait (running, runnable, in tr_yield) */
    uint8_t kind;         /* enum wait_kind, when waiting */
    uint8_t io_opcode;    /* WAIT_IO: the io_uring opcode */
    int32_t io_fd;        /* WAIT_IO: the operation's fd */
    const void *object;   /* what it waits on (see enum wait_kind) */
    uint64_t deadline_ns; /* when the wait ends by itself (a sleep) or times out; 0: never */
};

/* What t waits on, from any thread: true with *v filled, false when t's wait kept changing
 * under the reader (a few retries): the caller shows the row as torn. The caller holds an
 * epoch pin (a snapshot) that covers t: a reference alone keeps the record, but not the
 * stack its wait is on once the loop has ended. */
bool task_wait_view(const tr_task *t, struct wait_view *v);

/* "sleep", "await", "lock", ...; "?" for a value out of range. */
const char *wait_kind_name(unsigned kind);
#define WAIT_KIND_COUNT (WAIT_THREAD + 1)
extern const char *const wait_kind_names[WAIT_KIND_COUNT]; /* by enum wait_kind */
/* "recv", "accept", ... for the io_uring opcodes taskring submits; "op" otherwise. */
const char *io_opcode_name(unsigned opcode);

/* Parts of the debug descriptor (debug.c) defined beside the private structs they describe:
 * tr_lock's holder and holder_number offsets (lock.c), tr_listener's fd offset (listener.c),
 * the slot table (registry.c). */
struct tr_debug_registry;
extern const uint32_t lock_debug_offsets[2];
extern const uint32_t listener_debug_fd_offset;
extern const struct tr_debug_registry registry_debug;
extern const struct tr_debug_descriptor debug_descriptor;

#endif
