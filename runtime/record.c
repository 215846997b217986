/*
 * record.c - where task records come from and when they may be reused.
 *
 * Records are carved from per-loop slabs and recycled through a per-loop free list: no
 * malloc per spawn, no lock. A released record cannot be reused at once, because a
 * tr_all_tasks snapshot on another thread may hold its address (the set pins its tasks
 * with one epoch reservation, not a reference count per task). So released records wait:
 *
 *   pending  --(reclaim pass: full fence, read the epoch)-->  a batch stamped with it
 *   batch    --(every live snapshot began at or after the stamp)-->  free
 *
 * When no snapshot is alive at all, pending records go straight to free. registry.c holds
 * the epoch and the snapshots' reservations; docs/architecture.md gives the argument.
 *
 * A reclaim pass touches cache lines that snapshot threads write (the pins, the epoch), so
 * it is amortised: while a snapshot is alive, a batch is stamped only once RECLAIM_BATCH
 * records are pending, and until then the pool grows instead. A batch's stamp and link live
 * in its first record, in fields no snapshot reader looks at: no allocation.
 */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

enum { FIRST_SLAB = 64, MAX_SLAB = 4096, RECLAIM_BATCH = 64 };

struct record_slab {
    struct record_slab *next;
    size_t count;
    tr_task items[];
};

/* A stamped batch is its first record: list through run_next, the stamp in deadline_ns,
 * the next batch in timer_next, its last record in timer_prev (snapshot readers never read
 * those). Lists are spliced whole, never walked: the records are cold by now. */
#define BATCH_STAMP(b) ((b)->deadline_ns)
#define BATCH_NEXT(b) ((b)->timer_next)
#define BATCH_TAIL(b) ((b)->timer_prev)

static void record_retire_pool(struct record_pool *p, tr_task *t) {
    t->run_next = p->pending;
    if (!p->pending)
        p->pending_tail = t;
    p->pending = t;
    p->pending_count++;
}

static void free_names(tr_task *t) {
    struct name_node *n = atomic_load_explicit(&t->custom_name, memory_order_relaxed);
    while (n) {
        struct name_node *older = n->older;
        free(n);
        n = older;
    }
    atomic_store_explicit(&t->custom_name, NULL, memory_order_relaxed);
}

/* Put the list head..tail in front of the free list. */
static void splice_free(struct record_pool *p, tr_task *head, tr_task *tail) {
    if (!head)
        return;
    tail->run_next = p->free;
    p->free = head;
}

static void take_pending(struct record_pool *p, tr_task **head, tr_task **tail) {
    *head = p->pending;
    *tail = p->pending_tail;
    p->pending = p->pending_tail = NULL;
    p->pending_count = 0;
}

/* Records whose last reference went on another thread: rare, so walking is fine. */
static void take_remote(struct record_pool *p) {
    tr_task *t = atomic_exchange_explicit(&p->remote, NULL, memory_order_acquire);
    while (t) {
        tr_task *next = t->run_next;
        record_retire_pool(p, t);
        t = next;
    }
}

/* Move every record whose snapshots have all ended onto the free list. */
static void reclaim(struct record_pool *p) {
    take_remote(p);
    tr_task *head, *tail;
    if (registry_no_pins()) {
        take_pending(p, &head, &tail);
        splice_free(p, head, tail);
        while (p->batches_head) {
            tr_task *b = p->batches_head;
            p->batches_head = BATCH_NEXT(b);
            splice_free(p, b, BATCH_TAIL(b));
        }
        p->batches_tail = NULL;
        return;
    }
    /* Older batches first: the one stamped now cannot be free yet (every live pin is older). */
    while (p->batches_head && registry_stamp_is_free(BATCH_STAMP(p->batches_head))) {
        tr_task *b = p->batches_head;
        p->batches_head = BATCH_NEXT(b);
        if (!p->batches_head)
            p->batches_tail = NULL;
        splice_free(p, b, BATCH_TAIL(b));
    }
    if (p->pending_count >= RECLAIM_BATCH) {
        take_pending(p, &head, &tail);
        BATCH_STAMP(head) = registry_reclaim_stamp();
        BATCH_TAIL(head) = tail;
        BATCH_NEXT(head) = NULL;
        if (p->batches_tail)
            BATCH_NEXT(p->batches_tail) = head;
        else
            p->batches_head = head;
        p->batches_tail = head;
    }
}

static bool grow(struct record_pool *p) {
    size_t count = p->slabs ? p->slabs->count * 2 : FIRST_SLAB;
    if (count > MAX_SLAB)
        count = MAX_SLAB;
    struct record_slab *s = malloc(sizeof *s + count * sizeof(tr_task));
    if (!s)
        return false;
    s->count = count;
    s->next = p->slabs;
    p->slabs = s;
    for (size_t i = count; i-- > 0;) {
        tr_task *t = &s->items[i];
        atomic_init(&t->custom_name, NULL);
        t->run_next = p->free;
        p->free = t;
    }
    return true;
}

tr_task *record_alloc(struct tr_loop *loop) {
    struct record_pool *p = &loop->records;
    if (!p->free) {
        reclaim(p);
        if (!p->free && !grow(p))
            return NULL;
    }
    tr_task *t = p->free;
    p->free = t->run_next;
    free_names(t);
    memset(t, 0, sizeof *t);
    return t;
}

void record_retire(struct tr_loop *loop, tr_task *t) {
    record_retire_pool(&loop->records, t);
}

static void free_slab(void *mem) {
    struct record_slab *s = mem;
    for (size_t i = 0; i < s->count; i++)
        free_names(&s->items[i]);
    free(s);
}

void record_pool_destroy(struct tr_loop *loop) {
    struct record_pool *p = &loop->records;
    /* A snapshot taken on another thread may still hold records of this loop: then they
     * are handed to the registry, which frees them when the last snapshot goes. */
    bool pinned = !registry_no_pins();
    struct record_slab *s = p->slabs;
    while (s) {
        struct record_slab *next = s->next;
        if (pinned)
            registry_orphan(s, free_slab);
        else
            free_slab(s);
        s = next;
    }
    memset(p, 0, sizeof *p);
}
