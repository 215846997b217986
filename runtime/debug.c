/*
 * debug.c - the descriptor that lets a reader outside the process (taskring-ps) find and read
 * every task: the layout's version, the offsets and sizes of the fields it reads, the slot
 * table's address, and the names of states and wait kinds (debug_layout.h describes it;
 * docs/architecture.md, "Seeing a process from outside", says why it looks like this).
 *
 * All of it is constant data, resolved when the program or library is linked and loaded: no
 * code runs to publish it. Two ways to find it: the exported symbol `taskring_debug` (in
 * .dynsym of libtaskring.so, in .symtab of a program linked statically), and an ELF note whose
 * desc is the descriptor's address relative to the desc (a link-time constant, so no dynamic
 * relocation), which `strip` leaves alone.
 */
#include "debug_layout.h"
#include "internal.h"
#include "introspect.h"

#include <stddef.h>

#define FIELD(type, member)                                                                        \
    { (uint32_t) offsetof(type, member), (uint32_t)sizeof(((type *)0)->member) }

static const char *const state_names[] = {
    [TASK_SCHEDULED] = "scheduled", [TASK_RUNNING] = "running", [TASK_SUSPENDED] = "waiting",
    [TASK_READY] = "ready",         [TASK_DONE] = "done",       [TASK_MOVING] = "moving",
};

/* The definition is hidden (the note refers to it at link time); the exported name is an
 * alias of it. */
extern const struct tr_debug_descriptor debug_descriptor;
const struct tr_debug_descriptor debug_descriptor = {
    .magic = TR_DEBUG_MAGIC,
    .version = TR_DEBUG_VERSION,
    .size = sizeof(struct tr_debug_descriptor),
    .pointer_size = sizeof(void *),
    .task_magic = TASK_MAGIC,
    .task_dead = TASK_DEAD,
    .task_size = sizeof(struct tr_task),
    .task_magic_field = FIELD(struct tr_task, magic),
    .task_state = FIELD(struct tr_task, state),
    .task_slot = FIELD(struct tr_task, slot),
    .task_fn = FIELD(struct tr_task, fn),
    .task_at = FIELD(struct tr_task, at),
    .task_waiter = FIELD(struct tr_task, waiter),
    .task_number = FIELD(struct tr_task, number),
    .task_wait_seq = FIELD(struct tr_task, wait_seq),
    .task_created_ns = FIELD(struct tr_task, created_ns),
    .task_ran_ns = FIELD(struct tr_task, ran_ns),
    .task_custom_name = FIELD(struct tr_task, custom_name),
    .task_scope_deadline_ns = FIELD(struct tr_task, scope_deadline_ns),
    .task_name_seq = FIELD(struct tr_task, name_seq),
    .loop_id = FIELD(struct tr_loop, id),
    .waiter_size = sizeof(struct waiter),
    .waiter_kind = FIELD(struct waiter, kind),
    .waiter_object = FIELD(struct waiter, object),
    .waiter_timer_at = FIELD(struct waiter, timer_at),
    .waiter_io_opcode = FIELD(struct waiter, io_opcode),
    .waiter_io_fd = FIELD(struct waiter, io_fd),
    .name_text_offset = offsetof(struct name_node, text),
    .lock_holder_offset = &lock_debug_offsets[0],
    .lock_holder_number_offset = &lock_debug_offsets[1],
    .listener_fd_offset = &listener_debug_fd_offset,
    .state_names = state_names,
    .state_count = sizeof state_names / sizeof *state_names,
    .wait_kind_count = WAIT_KIND_COUNT,
    .wait_kind_names = wait_kind_names,
    .wait_io = WAIT_IO,
    .wait_task = WAIT_TASK,
    .wait_tasks = WAIT_TASKS,
    .wait_listener = WAIT_LISTENER,
    .wait_lock = WAIT_LOCK,
    .wait_sleep = WAIT_SLEEP,
    .state_suspended = TASK_SUSPENDED,
    .state_done = TASK_DONE,
    .registry = &registry_debug,
};

TR_EXPORT extern const struct tr_debug_descriptor taskring_debug
    __attribute__((alias("debug_descriptor")));

/* The note: owner "taskring", desc = &debug_descriptor - &desc, 8 bytes. */
__asm__(".pushsection .note.taskring,\"a\",@note\n"
        "\t.balign 4\n"
        "\t.long 9\n" /* namesz */
        "\t.long 8\n" /* descsz */
        "\t.long 0x54520001\n"
        "\t.asciz \"taskring\"\n"
        "\t.balign 4\n"
        "1:\t.quad debug_descriptor - 1b\n"
        "\t.popsection\n");
