/*
 * registry.c - every live task of the process, in one dense, lock-free table of slots.
 *
 * This is the one process-wide structure taskring has, because tr_all_tasks must work from
 * any thread, a monitoring thread that owns no loop included. Its parts:
 *
 *   slots   Chunks of SLOTS_PER_CHUNK words, allocated as needed and never moved or freed
 *           while the process runs. A word holds a task pointer (even) or, when free, a link
 *           in its owner's free list (odd), so a scan tells them apart with one bit test.
 *   shards  One per loop. A shard owns whole chunks and keeps its free list and live count
 *           to itself: a loop adds and removes tasks with plain stores in its own chunks,
 *           never touching another loop's cache lines, never taking a lock.
 *   scan    Copies every task pointer of the table out for a snapshot, which holds an epoch
 *           pin (epoch.c) while it does: the records it finds stay readable until it unpins.
 */
#include "debug_layout.h"
#include "internal.h"
#include "introspect.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

enum { SLOTS_PER_CHUNK = 4096, MAX_CHUNKS = 65536 }; /* up to 268M slots */
typedef _Atomic uintptr_t slot_t;

struct reg_shard {
    /* Read by any thread (tr_task_count walks the shards). The live count is published by
     * the owning loop every PUBLISH_EVERY changes and at each turn, not per spawn: a line
     * another core keeps reading costs a cache miss on every write. */
    _Atomic size_t live;
    struct reg_shard *next; /* immutable once published */
    _Atomic bool owned;
    /* Written by the owning loop alone, on every spawn and finish: its own cache line. */
    _Alignas(64) size_t live_exact;
    uint32_t changes;
    uint64_t free_head;  /* slot index + 1 of the first free slot; 0 = none */
    uint32_t *chunk_ids; /* the chunks this shard owns */
    size_t nchunks;
    size_t chunk_cap;
    uint32_t *emptied; /* chunks whose count reached 0 since the last publish */
    size_t nemptied;
};

enum { PUBLISH_EVERY = 256 };

static struct registry {
    _Atomic(slot_t *) chunks[MAX_CHUNKS];
    /* Scans skip chunks whose flag is clear. Set by the owner when a task enters an empty
     * chunk (before its slot is written), cleared lazily at publish time if the chunk is
     * still empty: a task alive for a whole snapshot keeps its chunk's flag set throughout. */
    _Atomic uint8_t occupied[MAX_CHUNKS];
    _Atomic uint32_t chunk_count; /* chunks ever claimed: the scan bound */
    _Atomic(struct reg_shard *) shards;
    pthread_mutex_t spare_lock; /* chunks of ended loops, for the next loop; cold path only */
    uint32_t *spare;
    size_t nspare;
    size_t spare_cap;
} reg = {.spare_lock = PTHREAD_MUTEX_INITIALIZER};

/* Where taskring-ps finds the table (debug.c's descriptor points here); the reference back
 * keeps the descriptor in every program that links the registry, static archives included. */
const struct tr_debug_registry registry_debug = {
    reg.chunks, reg.occupied, &reg.chunk_count, SLOTS_PER_CHUNK, MAX_CHUNKS, sizeof(slot_t), 0};
__attribute__((used)) static const void *const keep_debug_descriptor = &debug_descriptor;

/*
 * After a chunk's slots: its summary. The owning loop keeps a count per group of GROUP_SLOTS
 * slots and publishes which groups hold a task in one word, so a scan of a chunk holding one
 * task reads one word and one group, not 4,096 slots. Kept with the chunk, which one loop
 * owns, not in arrays shared by all loops: neighbouring chunks of different loops would share
 * lines, and every spawn would bounce them.
 *
 * `groups` is set (release) before a group's first task is stored in its slot and cleared when
 * its last one leaves: while a task lives, its group's bit is set, so a scan that reads the
 * word after the task's slot was visible sees the bit (the same guarantee the slot gives).
 * It changes only when a group empties or fills: in churn, twice per 64 tasks, not per task.
 */
enum { GROUP_SLOTS = 64, GROUPS = SLOTS_PER_CHUNK / GROUP_SLOTS };
_Static_assert(GROUPS <= 64, "one summary word per chunk");

struct chunk_tail {
    _Alignas(64) _Atomic uint64_t groups; /* read by scans on any thread */
    _Alignas(64) uint32_t live;           /* the owner's alone, as are the group counts */
    uint8_t group_live[GROUPS];
};

static inline struct chunk_tail *chunk_tail_in(slot_t *chunk) {
    return (struct chunk_tail *)(chunk + SLOTS_PER_CHUNK);
}
static inline struct chunk_tail *chunk_tail(uint32_t c) {
    return chunk_tail_in(atomic_load_explicit(&reg.chunks[c], memory_order_relaxed));
}
static inline uint32_t *chunk_live(uint32_t c) {
    return &chunk_tail(c)->live;
}

static inline uintptr_t free_link(uint64_t next_plus_one) {
    return (uintptr_t)(next_plus_one << 1) | 1u;
}

/* ---- shards ------------------------------------------------------------------------------- */

int registry_attach(struct tr_loop *loop) {
    for (struct reg_shard *s = atomic_load_explicit(&reg.shards, memory_order_acquire); s;
         s = s->next) {
        bool expected = false;
        if (atomic_compare_exchange_strong(&s->owned, &expected, true)) {
            loop->shard = s;
            return 0;
        }
    }
    /* aligned_alloc wants a size that is a multiple of the alignment */
    struct reg_shard *s = aligned_alloc(64, (sizeof *s + 63) / 64 * 64);
    if (!s)
        return -ENOMEM;
    memset(s, 0, sizeof *s);
    atomic_init(&s->owned, true);
    struct reg_shard *head = atomic_load_explicit(&reg.shards, memory_order_relaxed);
    do {
        s->next = head;
    } while (!atomic_compare_exchange_weak_explicit(&reg.shards, &head, s, memory_order_release,
                                                    memory_order_relaxed));
    loop->shard = s;
    return 0;
}

void registry_detach(struct tr_loop *loop) {
    struct reg_shard *s = loop->shard;
    pthread_mutex_lock(&reg.spare_lock);
    if (reg.nspare + s->nchunks > reg.spare_cap) {
        size_t cap = (reg.nspare + s->nchunks) * 2;
        uint32_t *spare = realloc_array(reg.spare, cap, sizeof *spare);
        if (spare) {
            reg.spare = spare;
            reg.spare_cap = cap;
        }
    }
    /* Every task has finished: no chunk of this shard holds one, so scans may skip them
     * all. If the spare list cannot grow, a chunk just stays unused. */
    for (size_t i = 0; i < s->nchunks; i++) {
        atomic_store_explicit(&reg.occupied[s->chunk_ids[i]], 0, memory_order_relaxed);
        if (reg.nspare < reg.spare_cap)
            reg.spare[reg.nspare++] = s->chunk_ids[i];
    }
    pthread_mutex_unlock(&reg.spare_lock);
    free(s->chunk_ids);
    free(s->emptied);
    s->chunk_ids = s->emptied = NULL;
    s->nchunks = s->chunk_cap = s->nemptied = 0;
    s->free_head = 0;
    s->live_exact = 0;
    s->changes = 0;
    atomic_store_explicit(&s->live, 0, memory_order_relaxed);
    atomic_store_explicit(&s->owned, false, memory_order_release);
    loop->shard = NULL;
}

/* Give the shard one more chunk (a spare one, or a new one) and thread its slots onto the
 * shard's free list. */
static int shard_grow(struct reg_shard *s) {
    if (s->nchunks == s->chunk_cap) {
        size_t cap = s->chunk_cap ? s->chunk_cap * 2 : 16;
        uint32_t *ids = realloc_array(s->chunk_ids, cap, sizeof *ids);
        if (!ids)
            return -ENOMEM;
        s->chunk_ids = ids;
        uint32_t *emptied = realloc_array(s->emptied, cap, sizeof *emptied);
        if (!emptied)
            return -ENOMEM;
        s->emptied = emptied;
        s->chunk_cap = cap;
    }
    uint32_t id = UINT32_MAX;
    pthread_mutex_lock(&reg.spare_lock);
    if (reg.nspare)
        id = reg.spare[--reg.nspare];
    pthread_mutex_unlock(&reg.spare_lock);

    slot_t *chunk;
    if (id == UINT32_MAX) {
        id = atomic_fetch_add_explicit(&reg.chunk_count, 1, memory_order_relaxed);
        if (id >= MAX_CHUNKS)
            return -ENOMEM;
        chunk = aligned_alloc(64, SLOTS_PER_CHUNK * sizeof(slot_t) + sizeof(struct chunk_tail));
        if (!chunk)
            return -ENOMEM; /* the id stays claimed and NULL: scans skip it */
        struct chunk_tail *tail = chunk_tail_in(chunk);
        atomic_init(&tail->groups, 0);
        tail->live = 0;
        memset(tail->group_live, 0, sizeof tail->group_live);
    } else {
        chunk = atomic_load_explicit(&reg.chunks[id], memory_order_relaxed);
    }
    uint64_t base = (uint64_t)id * SLOTS_PER_CHUNK;
    for (uint64_t i = 0; i < SLOTS_PER_CHUNK; i++) {
        uint64_t next = i + 1 < SLOTS_PER_CHUNK ? base + i + 2 : s->free_head;
        atomic_store_explicit(&chunk[i], free_link(next), memory_order_relaxed);
    }
    /* Release: a scanner that finds the chunk sees its slots initialised. */
    atomic_store_explicit(&reg.chunks[id], chunk, memory_order_release);
    s->chunk_ids[s->nchunks++] = id;
    s->free_head = base + 1;
    return 0;
}

/* Publish the live count, and clear the occupied flag of chunks that are still empty. */
void registry_publish(struct tr_loop *loop) {
    struct reg_shard *s = loop->shard;
    for (size_t i = 0; i < s->nemptied; i++) {
        uint32_t c = s->emptied[i];
        if (*chunk_live(c) == 0)
            atomic_store_explicit(&reg.occupied[c], 0, memory_order_relaxed);
    }
    s->nemptied = 0;
    if (atomic_load_explicit(&s->live, memory_order_relaxed) != s->live_exact)
        atomic_store_explicit(&s->live, s->live_exact, memory_order_relaxed);
}

/* registry_add and registry_remove keep their rare steps out of line, reached by tail calls,
 * so that the common path saves no register. */
static __attribute__((noinline, cold)) int add_after_grow(struct tr_loop *loop, tr_task *t) {
    if (shard_grow(loop->shard) < 0)
        return -ENOMEM;
    return registry_add(loop, t);
}

/* A live count crossed zero (busy: upwards), or PUBLISH_EVERY changes went by. */
static __attribute__((noinline)) int count_rare(struct tr_loop *loop, struct reg_shard *s,
                                                bool crossed, bool busy) {
    if (crossed)
        runtime_loop_busy(loop, busy); /* the runtime's end is decided on these crossings */
    if (s->changes % PUBLISH_EVERY == 0)
        registry_publish(loop);
    return 0;
}

int registry_add(struct tr_loop *loop, tr_task *t) {
    struct reg_shard *s = loop->shard;
    if (TR_UNLIKELY(!s->free_head))
        return add_after_grow(loop, t);
    uint64_t index = s->free_head - 1;
    uint32_t c = (uint32_t)(index / SLOTS_PER_CHUNK);
    slot_t *chunk = atomic_load_explicit(&reg.chunks[c], memory_order_relaxed);
    slot_t *slot = &chunk[index % SLOTS_PER_CHUNK];
    s->free_head = atomic_load_explicit(slot, memory_order_relaxed) >> 1;
    t->slot = index;
    struct chunk_tail *tail = chunk_tail_in(chunk);
    if (tail->live++ == 0 && !atomic_load_explicit(&reg.occupied[c], memory_order_relaxed))
        atomic_store_explicit(&reg.occupied[c], 1, memory_order_release);
    unsigned g = (unsigned)(index % SLOTS_PER_CHUNK) / GROUP_SLOTS;
    if (tail->group_live[g]++ == 0)
        atomic_store_explicit(&tail->groups,
                              atomic_load_explicit(&tail->groups, memory_order_relaxed) |
                                  (UINT64_C(1) << g),
                              memory_order_release);
    /* Release: whoever reads this slot sees the record initialised. */
    atomic_store_explicit(slot, (uintptr_t)t, memory_order_release);
    bool crossed = s->live_exact++ == 0;
    if (TR_UNLIKELY(crossed | (++s->changes % PUBLISH_EVERY == 0)))
        return count_rare(loop, s, crossed, true);
    return 0;
}

void registry_remove(struct tr_loop *loop, tr_task *t) {
    struct reg_shard *s = loop->shard;
    uint64_t index = t->slot;
    /* No slot's record any more: taskring-ps, which may still hold this slot's old value,
     * drops the record from here on, and while task_create reuses it (it is not cleared). */
    t->slot = SLOT_NONE;
    uint32_t c = (uint32_t)(index / SLOTS_PER_CHUNK);
    slot_t *chunk = atomic_load_explicit(&reg.chunks[c], memory_order_relaxed);
    atomic_store_explicit(&chunk[index % SLOTS_PER_CHUNK], free_link(s->free_head),
                          memory_order_release);
    s->free_head = index + 1;
    struct chunk_tail *tail = chunk_tail_in(chunk);
    unsigned g = (unsigned)(index % SLOTS_PER_CHUNK) / GROUP_SLOTS;
    if (--tail->group_live[g] == 0)
        atomic_store_explicit(&tail->groups,
                              atomic_load_explicit(&tail->groups, memory_order_relaxed) &
                                  ~(UINT64_C(1) << g),
                              memory_order_relaxed);
    if (--tail->live == 0 && s->nemptied < s->chunk_cap)
        s->emptied[s->nemptied++] = c; /* its flag is cleared at the next publish */
    bool crossed = --s->live_exact == 0;
    if (TR_UNLIKELY(crossed | (++s->changes % PUBLISH_EVERY == 0)))
        count_rare(loop, s, crossed, false);
}

void registry_for_each_own(struct tr_loop *loop, void (*f)(tr_task *, void *), void *ctx) {
    struct reg_shard *s = loop->shard;
    for (size_t c = 0; c < s->nchunks; c++) {
        slot_t *chunk = atomic_load_explicit(&reg.chunks[s->chunk_ids[c]], memory_order_relaxed);
        for (size_t i = 0; i < SLOTS_PER_CHUNK; i++) {
            uintptr_t v = atomic_load_explicit(&chunk[i], memory_order_relaxed);
            if (!(v & 1))
                f((tr_task *)v, ctx);
        }
    }
}

size_t registry_shard_live(const struct tr_loop *loop) {
    return loop->shard->live_exact;
}

/* Exact for the caller's own loop; other loops' counts are at most one turn (or
 * PUBLISH_EVERY spawns and finishes) old. */
TR_EXPORT size_t tr_task_count(void) {
    struct tr_loop *own = tr_tls_loop;
    size_t n = 0;
    for (struct reg_shard *s = atomic_load_explicit(&reg.shards, memory_order_acquire); s;
         s = s->next)
        n += own && own->shard == s ? s->live_exact
                                    : atomic_load_explicit(&s->live, memory_order_relaxed);
    return n;
}

/* ---- scanning ------------------------------------------------------------------------------ */

/* Append the tasks of one group's slots to out[n..cap); returns the new count (counting past
 * cap). Branch-free per slot while there is room: write the word, advance only if a task. */
static inline size_t scan_group(slot_t *group, tr_task **out, size_t cap, size_t n) {
    if (cap - (n < cap ? n : cap) >= GROUP_SLOTS) {
        tr_task **dst = out + n;
        size_t k = 0;
        for (size_t i = 0; i < GROUP_SLOTS; i++) {
            uintptr_t v = atomic_load_explicit(&group[i], memory_order_acquire);
            dst[k] = (tr_task *)v;
            k += !(v & 1);
        }
        return n + k;
    }
    for (size_t i = 0; i < GROUP_SLOTS; i++) {
        uintptr_t v = atomic_load_explicit(&group[i], memory_order_acquire);
        if (v & 1)
            continue;
        if (n < cap)
            out[n] = (tr_task *)v;
        n++;
    }
    return n;
}

/* Chunks a scan walks: claims past the end failed and were never published. */
static inline uint32_t scan_chunk_count(void) {
    uint32_t nchunks = atomic_load_explicit(&reg.chunk_count, memory_order_acquire);
    return nchunks > MAX_CHUNKS ? MAX_CHUNKS : nchunks;
}

/* Chunk c's summary (a bit per group that holds a task) and the chunk in *chunk; 0 for a
 * chunk that holds none, or is not there. */
static inline uint64_t scan_chunk_groups(uint32_t c, slot_t **chunk) {
    if (!atomic_load_explicit(&reg.occupied[c], memory_order_acquire))
        return 0;
    *chunk = atomic_load_explicit(&reg.chunks[c], memory_order_acquire);
    return *chunk ? atomic_load_explicit(&chunk_tail_in(*chunk)->groups, memory_order_acquire) : 0;
}

/*
 * Copy every task pointer in the table into out[0..cap) and return how many there are
 * (which may exceed cap). The caller holds a pin. Chunks without a task and groups without
 * a task are skipped unread.
 */
size_t registry_scan(tr_task **out, size_t cap) {
    uint32_t nchunks = scan_chunk_count();
    size_t n = 0;
    for (uint32_t c = 0; c < nchunks; c++) {
        slot_t *chunk = NULL;
        uint64_t groups = scan_chunk_groups(c, &chunk);
        while (groups) {
            slot_t *group = chunk + (size_t)__builtin_ctzll(groups) * GROUP_SLOTS;
            groups &= groups - 1;
            n = scan_group(group, out, cap, n);
        }
    }
    return n;
}

/* registry_scan's walk with a callback instead of an array: no allocation (the signal dump
 * uses it). Stops early when f returns false. The caller holds a pin. */
size_t registry_scan_each(bool (*f)(tr_task *t, void *ctx), void *ctx) {
    uint32_t nchunks = scan_chunk_count();
    size_t n = 0;
    for (uint32_t c = 0; c < nchunks; c++) {
        slot_t *chunk = NULL;
        uint64_t groups = scan_chunk_groups(c, &chunk);
        while (groups) {
            slot_t *group = chunk + (size_t)__builtin_ctzll(groups) * GROUP_SLOTS;
            groups &= groups - 1;
            for (size_t i = 0; i < GROUP_SLOTS; i++) {
                uintptr_t v = atomic_load_explicit(&group[i], memory_order_acquire);
                if (v & 1)
                    continue;
                n++;
                if (!f((tr_task *)v, ctx))
                    return n;
            }
        }
    }
    return n;
}
