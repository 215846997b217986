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
 */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

enum { FIRST_SLAB = 64, MAX_SLAB = 4096 };

struct record_slab {
    struct record_slab *next;
    size_t count;
    tr_task items[];
};

struct retired_batch {
    struct retired_batch *next;
    uint64_t stamp;
    tr_task *list; /* linked through run_next */
};

static void free_names(tr_task *t) {
    struct name_node *n = atomic_load_explicit(&t->custom_name, memory_order_relaxed);
    while (n) {
        struct name_node *older = n->older;
        free(n);
        n = older;
    }
    atomic_store_explicit(&t->custom_name, NULL, memory_order_relaxed);
}

static void append_list(tr_task **dst, tr_task *list) {
    while (list) {
        tr_task *next = list->run_next;
        list->run_next = *dst;
        *dst = list;
        list = next;
    }
}

/* Move every record whose snapshots have all ended onto the free list. */
static void reclaim(struct record_pool *p) {
    tr_task *remote = atomic_exchange_explicit(&p->remote, NULL, memory_order_acquire);
    append_list(&p->pending, remote);

    if (registry_no_pins()) {
        append_list(&p->free, p->pending);
        p->pending = NULL;
        p->pending_count = 0;
        while (p->batches_head) {
            struct retired_batch *b = p->batches_head;
            p->batches_head = b->next;
            append_list(&p->free, b->list);
            free(b);
        }
        p->batches_tail = NULL;
        return;
    }
    if (p->pending) {
        struct retired_batch *b = malloc(sizeof *b);
        if (b) {
            b->stamp = registry_reclaim_stamp();
            b->list = p->pending;
            b->next = NULL;
            p->pending = NULL;
            p->pending_count = 0;
            if (p->batches_tail)
                p->batches_tail->next = b;
            else
                p->batches_head = b;
            p->batches_tail = b;
        }
    }
    while (p->batches_head && registry_stamp_is_free(p->batches_head->stamp)) {
        struct retired_batch *b = p->batches_head;
        p->batches_head = b->next;
        if (!p->batches_head)
            p->batches_tail = NULL;
        append_list(&p->free, b->list);
        free(b);
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
    struct record_pool *p = &loop->records;
    t->run_next = p->pending;
    p->pending = t;
    p->pending_count++;
}

static void free_slab(void *mem) {
    struct record_slab *s = mem;
    for (size_t i = 0; i < s->count; i++)
        free_names(&s->items[i]);
    free(s);
}

void record_pool_destroy(struct tr_loop *loop) {
    struct record_pool *p = &loop->records;
    while (p->batches_head) {
        struct retired_batch *b = p->batches_head;
        p->batches_head = b->next;
        free(b);
    }
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
