/*
 * ps_hostile_layout - not taskring: a process that exports a descriptor of the current layout
 * version describing one task in its own memory, made inconsistent in the way argv[1] names
 * (for ps_rejects_bad_layout):
 *   ok         consistent: taskring-ps lists the one task
 *   waiter     a waiter field's offset far past the waiter's size
 *   wrap       a task field whose offset + size wraps in 32 bits
 *   size       a task field 3 bytes wide
 *   chunks     a chunk count and chunk table of 0xffffffff chunks
 *   lock       a lock's holder offset near 4 GiB (once its read length wrapped)
 *   loop       a loop id field of 100 bytes
 *   latemagic  consistent, but the magic field is the record's last (past the fields --count
 *              decodes): taskring-ps counts the one task
 * Prints READY and waits.
 */
#include "debug_layout.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

struct rec {
    uint32_t magic;
    uint8_t state;
    uint8_t pad[3];
    uint64_t slot, fn, at, waiter, number;
    uint32_t wait_seq, name_seq;
    uint64_t created, ran, name, deadline;
    uint32_t tail_magic;
};

static struct rec task = {
    .magic = 0x7461736b, .state = 2, .slot = 0, .number = 1, .tail_magic = 0x7461736b};
static unsigned char waiter[64];
static uint64_t chunk0[4096];
static uint64_t chunks[1];
static uint8_t occupied[1] = {1};
static uint32_t chunk_count = 1;
static uint32_t offs[3] = {0, 8, 0};
static uint32_t loop_id_word;
static const char *const snames[] = {"scheduled", "running", "waiting"};
static const char *const knames[] = {"sleep"};
static struct tr_debug_registry regd = {chunks, occupied, &chunk_count, 4096, 65536, 8, 0};
#define F(m)                                                                                       \
    { offsetof(struct rec, m), sizeof(((struct rec *)0)->m) }

__attribute__((visibility("default"), used)) struct tr_debug_descriptor taskring_debug = {
    .magic = TR_DEBUG_MAGIC,
    .version = TR_DEBUG_VERSION,
    .size = sizeof(struct tr_debug_descriptor),
    .pointer_size = 8,
    .task_magic = 0x7461736b,
    .task_dead = 0x64656164,
    .task_size = sizeof(struct rec),
    .task_magic_field = F(magic),
    .task_state = F(state),
    .task_slot = F(slot),
    .task_fn = F(fn),
    .task_at = F(at),
    .task_waiter = F(waiter),
    .task_number = F(number),
    .task_wait_seq = F(wait_seq),
    .task_created_ns = F(created),
    .task_ran_ns = F(ran),
    .task_custom_name = F(name),
    .task_scope_deadline_ns = F(deadline),
    .task_name_seq = F(name_seq),
    .loop_id = {0, 4},
    .waiter_size = 64,
    .waiter_kind = {0, 1},
    .waiter_object = {8, 8},
    .waiter_timer_at = {16, 8},
    .waiter_io_opcode = {1, 1},
    .waiter_io_fd = {4, 4},
    .name_text_offset = 16,
    .lock_holder_offset = &offs[0],
    .lock_holder_number_offset = &offs[1],
    .listener_fd_offset = &offs[2],
    .state_names = snames,
    .state_count = 3,
    .wait_kind_count = 1,
    .wait_kind_names = knames,
    .wait_io = 99,
    .wait_task = 98,
    .wait_tasks = 97,
    .wait_listener = 96,
    .wait_lock = 95,
    .wait_sleep = 0,
    .state_suspended = 2,
    .state_done = 4,
    .registry = &regd,
};

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "ok";
    if (!strcmp(mode, "waiter"))
        taskring_debug.waiter_object = (struct tr_debug_field){0x7ffffff0u, 8};
    else if (!strcmp(mode, "wrap"))
        taskring_debug.task_fn = (struct tr_debug_field){0xfffffff8u, 8};
    else if (!strcmp(mode, "size"))
        taskring_debug.task_number = (struct tr_debug_field){offsetof(struct rec, number), 3};
    else if (!strcmp(mode, "chunks"))
        chunk_count = regd.max_chunks = 0xffffffffu;
    else if (!strcmp(mode, "lock"))
        offs[0] = 0xfffffffcu;
    else if (!strcmp(mode, "loop"))
        taskring_debug.loop_id = (struct tr_debug_field){0, 100};
    else if (!strcmp(mode, "latemagic"))
        taskring_debug.task_magic_field = (struct tr_debug_field)F(tail_magic);
    else if (strcmp(mode, "ok"))
        return 2;
    task.at = (uintptr_t)&loop_id_word;
    task.waiter = (uintptr_t)waiter;
    task.wait_seq = 1; /* odd: the waiter is published */
    chunks[0] = (uintptr_t)chunk0;
    for (int i = 0; i < 4096; i++)
        chunk0[i] = 1; /* odd: free-list links */
    chunk0[0] = (uintptr_t)&task;
    printf("READY pid=%d\n", (int)getpid());
    fflush(stdout);
    for (;;)
        pause();
}
