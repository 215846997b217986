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
 *
 * Names that tr_task_set_name replaced go the same way (pending, stamped, free), for the same
 * reason: a set, or a tr_task_name_copy or tr_task_repr on another thread, may be reading one.
 * See "retired names" below.
 */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

enum { FIRST_SLAB = 64, MAX_SLAB = 4096, RECLAIM_BATCH = 64, NAME_BATCH = 64 };

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

/* The record's current custom name. Its replaced names are in the loop's retired list, not
 * here: only a record nobody can reach any more (being reused, or freed) drops this one. */
static void free_current_name(tr_task *t) {
    free(atomic_load_explicit(&t->custom_name, memory_order_relaxed));
    atomic_store_explicit(&t->custom_name, NULL, memory_order_relaxed);
}

/* ---- retired names -------------------------------------------------------------------------
 *
 * tr_task_set_name publishes the new name with a release store and then hands the old one to
 * record_name_retire. A pass (full fence, then the epoch) stamps the pending names; a stamped
 * name is freed once every live pin holds an epoch >= its stamp, and all of them at once when
 * no pin is alive. A pin with an epoch >= the stamp began after the pass's fence, hence after
 * the new name was published: it can only load the new name (or a later one). A pass runs
 * every NAME_BATCH retired names and whenever the record pool reclaims, so while no pin is
 * alive a loop keeps at most NAME_BATCH old names, whatever the number of renames.
 */

static void free_name_chain(void *mem) {
    struct name_node *n = mem;
    while (n) {
        struct name_node *next = n->next;
        free(n);
        n = next;
    }
}

/* `no_pins`: epoch_no_pins(), asked after the last rename this pass covers. */
static void names_reclaim(struct record_pool *p, bool no_pins) {
    if (no_pins) {
        free_name_chain(p->names_stamped);
        free_name_chain(p->names_pending);
        p->names_stamped = p->names_stamped_tail = NULL;
        p->names_pending = p->names_pending_tail = NULL;
        p->names_pending_count = 0;
        return;
    }
    /* Oldest first. Stamps never decrease along the list, so a stamp found free covers every
     * name up to it, and one check per batch is enough. */
    uint64_t free_upto = 0;
    while (p->names_stamped) {
        struct name_node *n = p->names_stamped;
        if (n->stamp > free_upto) {
            if (!epoch_stamp_is_free(n->stamp))
                break;
            free_upto = n->stamp;
        }
        p->names_stamped = n->next;
        free(n);
    }
    if (!p->names_stamped)
        p->names_stamped_tail = NULL;
    if (!p->names_pending)
        return;
    /* The pending names are few (at most NAME_BATCH): stamping each keeps the node small. */
    uint64_t stamp = epoch_stamp();
    for (struct name_node *n = p->names_pending; n; n = n->next)
        n->stamp = stamp;
    if (p->names_stamped_tail)
        p->names_stamped_tail->next = p->names_pending;
    else
        p->names_stamped = p->names_pending;
    p->names_stamped_tail = p->names_pending_tail;
    p->names_pending = p->names_pending_tail = NULL;
    p->names_pending_count = 0;
}

void record_name_retire(struct tr_loop *loop, struct name_node *old) {
    struct record_pool *p = &loop->records;
    old->next = NULL;
    if (p->names_pending_tail)
        p->names_pending_tail->next = old;
    else
        p->names_pending = old;
    p->names_pending_tail = old;
    /* Not a pass per rename: the pass's fences touch lines that snapshot threads write. */
    if (++p->names_pending_count >= NAME_BATCH)
        names_reclaim(p, epoch_no_pins());
}

/* ---- records -------------------------------------------------------------------------------- */

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
    bool no_pins = epoch_no_pins();
    if (p->names_pending || p->names_stamped)
        names_reclaim(p, no_pins);
    if (no_pins) {
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
    while (p->batches_head && epoch_stamp_is_free(BATCH_STAMP(p->batches_head))) {
        tr_task *b = p->batches_head;
        p->batches_head = BATCH_NEXT(b);
        if (!p->batches_head)
            p->batches_tail = NULL;
        splice_free(p, b, BATCH_TAIL(b));
    }
    if (p->pending_count >= RECLAIM_BATCH) {
        take_pending(p, &head, &tail);
        BATCH_STAMP(head) = epoch_stamp();
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
        atomic_init(&t->refs, 0); /* the loop's end reads it in every record (after the loop) */
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
    free_current_name(t);
    memset(t, 0, sizeof *t);
    return t;
}

void record_retire(struct tr_loop *loop, tr_task *t) {
    record_retire_pool(&loop->records, t);
}

static void free_slab(void *mem) {
    struct record_slab *s = mem;
    for (size_t i = 0; i < s->count; i++)
        free_current_name(&s->items[i]);
    free(s);
}

/* ---- after the loop ----------------------------------------------------------------------
 *
 * A task reference may outlive tr_run: a monitoring thread retains a task from a snapshot and
 * reads its name after the loop has ended. So the loop's end does not free records somebody
 * still references. It marks each of them, in one compare-and-swap on `refs`, with the
 * REFS_OUTLIVED bias and takes a hold on the pool for it; a release that finds the bias plus
 * one is the last, and drops that hold; the last hold frees the slabs and the loop's memory
 * (the records point at the loop). The CAS decides each race with a release on another
 * thread: either the release came first (refs was 0: nothing is held for it) or the bias did
 * (the release sees it). A remote release that came first may still be pushing the record
 * onto the pool's remote list: the end waits until `remote_releasers` is 0 before it lets go.
 */

static void free_pool(void *mem) {
    struct tr_loop *loop = mem;
    struct record_slab *s = loop->records.slabs;
    while (s) {
        struct record_slab *next = s->next;
        free_slab(s);
        s = next;
    }
    struct tr_runtime *rt = loop->rt;
    free(loop);
    if (rt)
        runtime_unref(rt); /* each loop's memory holds its runtime (the ports) */
}

void record_pool_release(struct tr_loop *loop) {
    if (atomic_fetch_sub_explicit(&loop->records.holds, 1, memory_order_acq_rel) != 1)
        return;
    /* A snapshot taken on another thread may still hold records of this loop: then they
     * are handed to the registry, which frees them when the last snapshot goes. */
    if (epoch_no_pins())
        free_pool(loop);
    else
        epoch_orphan(loop, free_pool);
}

void record_pool_end(struct tr_loop *loop) {
    struct record_pool *p = &loop->records;
    /* The retired names: only a set can hold one of them. */
    struct name_node *names = p->names_stamped;
    if (names)
        p->names_stamped_tail->next = p->names_pending;
    else
        names = p->names_pending;
    p->names_stamped = p->names_pending = NULL;
    if (names && !epoch_no_pins())
        epoch_orphan(names, free_name_chain);
    else
        free_name_chain(names);

    atomic_store_explicit(&p->holds, 1, memory_order_relaxed); /* the ending loop's own */
    for (struct record_slab *s = p->slabs; s; s = s->next) {
        for (size_t i = 0; i < s->count; i++) {
            tr_task *t = &s->items[i];
            uint32_t refs = atomic_load_explicit(&t->refs, memory_order_seq_cst);
            while (refs != 0) {
                atomic_fetch_add_explicit(&p->holds, 1, memory_order_relaxed);
                if (atomic_compare_exchange_weak_explicit(&t->refs, &refs, refs + REFS_OUTLIVED,
                                                          memory_order_seq_cst,
                                                          memory_order_seq_cst))
                    break;
                atomic_fetch_sub_explicit(&p->holds, 1, memory_order_relaxed);
            }
        }
    }
    while (atomic_load_explicit(&p->remote_releasers, memory_order_seq_cst) != 0)
        ; /* a release that reached 0 before the bias is finishing its push: a few stores */
    record_pool_release(loop);
}
