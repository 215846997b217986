/*
 * debug_layout.h - the published descriptor: what a reader outside the process (taskring-ps)
 * needs to know to find every task in a copy of the target's memory and to read its fields,
 * without running any code in the target and without sharing its headers.
 *
 * The runtime defines one constant instance (debug.c) under the exported symbol
 * `taskring_debug`, and an ELF note (.note.taskring) that holds its address relative to the
 * note itself, which survives `strip`. Both are link-time constants: nothing runs to make
 * them, so they are there whether or not a loop runs, and when every loop is stuck.
 *
 * Only plain fixed-width types and pointers (all 64-bit: the reader refuses other sizes) so
 * that the reader, built from the same header, reads it byte for byte. `version` changes
 * whenever a field of this struct, or the meaning of a field it describes, changes; a reader
 * refuses any version it was not built for (taskring-ps exits with its "layout" status).
 */
#ifndef TR_DEBUG_LAYOUT_H
#define TR_DEBUG_LAYOUT_H

#include <stdint.h>

#define TR_DEBUG_MAGIC "taskring-debug"  /* 14 characters + NUL, in a 16-byte field */
#define TR_DEBUG_VERSION 2u              /* 2: tr_task.name_seq */
#define TR_DEBUG_NOTE_NAME "taskring"    /* ELF note owner (namesz 9 with its NUL) */
#define TR_DEBUG_NOTE_TYPE 0x54520001u   /* desc: int64, descriptor address - desc address */
#define TR_DEBUG_SYMBOL "taskring_debug" /* the exported symbol */

/* A field: where it is in its struct and how many bytes it has. */
struct tr_debug_field {
    uint32_t offset;
    uint32_t size;
};

/* The registry's slot table (registry.c): chunks[i] for i < *chunk_count, each of
 * slots_per_chunk words: an even word is a task pointer, an odd one a free-list link; a chunk
 * whose occupied[i] is 0 holds no task. */
struct tr_debug_registry {
    const void *chunks;      /* address of the array of chunk pointers (max_chunks of them) */
    const void *occupied;    /* address of max_chunks bytes */
    const void *chunk_count; /* address of a uint32_t: chunks ever claimed */
    uint32_t slots_per_chunk;
    uint32_t max_chunks;
    uint32_t slot_size; /* bytes per slot word */
    uint32_t reserved;
};

struct tr_debug_descriptor {
    char magic[16];        /* TR_DEBUG_MAGIC, NUL-padded */
    uint32_t version;      /* TR_DEBUG_VERSION */
    uint32_t size;         /* sizeof(struct tr_debug_descriptor) */
    uint32_t pointer_size; /* 8 */
    uint32_t task_magic;   /* tr_task.magic of a live record (TASK_MAGIC) */
    uint32_t task_dead;    /* ... of a released one (TASK_DEAD) */
    uint32_t task_size;    /* sizeof(struct tr_task) */
    /* struct tr_task */
    struct tr_debug_field task_magic_field, task_state, task_slot, task_fn, task_at, task_waiter,
        task_number, task_wait_seq, task_created_ns, task_ran_ns, task_custom_name,
        task_scope_deadline_ns, task_name_seq;
    /* struct tr_loop: its id */
    struct tr_debug_field loop_id;
    /* struct waiter */
    uint32_t waiter_size;
    struct tr_debug_field waiter_kind, waiter_object, waiter_timer_at, waiter_io_opcode,
        waiter_io_fd;
    /* struct name_node: the text (NUL-terminated) starts here */
    uint32_t name_text_offset;
    /* The objects some waits name, through pointers to offsets defined beside their structs
     * (lock.c, listener.c): uint32_t each. */
    const uint32_t *lock_holder_offset;        /* tr_lock.holder (tr_task *) */
    const uint32_t *lock_holder_number_offset; /* tr_lock.holder_number (uint64_t) */
    const uint32_t *listener_fd_offset;        /* tr_listener.fd (int) */
    /* Names, read from the target so that a reader never shows stale ones: arrays of
     * pointers to NUL-terminated strings, indexed by enum task_state / enum wait_kind. WAIT_IO
     * waits carry an io_uring opcode (kernel ABI: the reader names those itself). */
    const char *const *state_names;
    uint32_t state_count;
    uint32_t wait_kind_count;
    const char *const *wait_kind_names;
    uint32_t wait_io;   /* enum wait_kind values the reader treats specially */
    uint32_t wait_task; /* object: the awaited task */
    uint32_t wait_tasks;
    uint32_t wait_listener;
    uint32_t wait_lock;
    uint32_t wait_sleep;
    uint32_t state_suspended; /* enum task_state values the reader treats specially */
    uint32_t state_done;
    const struct tr_debug_registry *registry;
};

#endif
