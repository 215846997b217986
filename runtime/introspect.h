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
 * stack its wait is on once the loop has ended. The pin is passed to make that visible at
 * every call (it must not be NULL; nothing else is done with it). */
bool task_wait_view(const tr_task *t, const pin_t *pin, struct wait_view *v);

/* ---- rows: one task as tr_dump, tr_dump_json and the signal dump print it ----------------
 *
 * Everything here is async-signal-safe (no malloc, no stdio, no lock, no dladdr): the signal
 * dump uses it as tr_dump does. The caller holds a pin (a snapshot's, or the signal dump's)
 * that covers t: the record and its custom name stay readable for the length of the call. */

/* A byte buffer filled snprintf-style: `len` counts every byte the whole text needs, only
 * those that fit in `cap` are stored. */
struct text {
    char *buf;
    size_t cap;
    size_t len;
};

void text_byte(struct text *o, char c);
void text_str(struct text *o, const char *s);
void text_uint(struct text *o, uint64_t v);
void text_hex(struct text *o, uintptr_t v);        /* 0x... */
void text_seconds(struct text *o, uint64_t ns);    /* 1.234s */
void text_json_str(struct text *o, const char *s); /* "..." with JSON escapes */

/* What a row shows of one task, read once. */
struct task_row {
    uint64_t id;     /* N of Task-N */
    uint64_t now_ns; /* the reader's clock: ages and deadlines are relative to it */
    const char *name;
    char default_name[TASK_DEFAULT_NAME_MAX]; /* `name` points here for a default name */
    uint8_t state;                            /* enum task_state */
    unsigned loop;                            /* its own loop's id */
    unsigned at;                              /* the loop it is on now */
    tr_fn fn;
    uint64_t age_ns;  /* since spawned */
    uint64_t idle_ns; /* since it last ran; UINT64_MAX: never ran */
    bool torn;        /* its wait kept changing under the reader: `wait` is not valid */
    struct wait_view wait;
    uint64_t wait_task_id;   /* WAIT_TASK, WAIT_TASKS: the awaited task's id (0: none) */
    uint64_t lock_holder_id; /* WAIT_LOCK, when `exact`: the holder's id (0: unknown, free) */
};

/* `exact`: the caller runs on the loop t is on now (its own thread), so the objects t waits
 * on can be read too (a lock's holder); otherwise only t's own fields are read. */
void task_row_read(const tr_task *t, const pin_t *pin, uint64_t now_ns, bool exact,
                   struct task_row *r);

/* "scheduled", "running", "suspended", "ready", "done", "moving". */
const char *task_state_name(unsigned state);

/* One line (with its '\n'): `fn` names the function (NULL: its address is printed). */
void task_row_text(const struct task_row *r, const char *fn, struct text *o);
/* One JSON object (no newline). */
void task_row_json(const struct task_row *r, const char *fn, struct text *o);

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
