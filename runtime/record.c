/*
 * record.c - where task records come from and when they may be reused.
 *
 * Records are carved from per-loop slabs and recycled through a per-loop free list: no
 * malloc per spawn, no lock. A released record cannot be reused at once, because a
 * tr_all_tasks snapshot on another thread may hold its address (the set pins its tasks
 * with one epoch reservation, not a reference count per task). So released records wait:
 *
 *   pending  --(every RECLAIM_BATCH: full fence, read the epoch)-->  a batch stamped with it
 *   batch    --(every live pin began at or after the stamp)-->  free
 *
 * When no pin is alive at all, pending records go straight to free. epoch.c holds the epoch
 * and the pins; docs/architecture.md ("Reclamation") gives the argument.
 *
 * A pass touches cache lines that snapshot threads write (the pins, the epoch), so it runs
 * once per RECLAIM_BATCH released records, not per record; but it runs as soon as a batch is
 * full, whatever the free list holds. A batch is therefore stamped with the epoch of the
 * moment its last record was released: a pin holds back what was released during its life
 * plus one partial batch, and never what came before it. A batch's stamp, count and links
 * live in its first record, in fields no snapshot reader looks at: no allocation, no walk.
 *
 * Slabs go back to the allocator at loop turns (record_pool_turn) once the pool holds more
 * free records than the loop needed over the last two trim windows (see "giving slabs back").
 * Only a record on the free list counts as free there: it is one no pin can see.
 *
 * Names that tr_task_set_name replaced go the same way (pending, stamped, free), for the same
 * reason: a set, or a tr_task_name_copy or tr_task_repr on another thread, may be reading one.
 * See "retired names" below.
 */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

enum { FIRST_SLAB = 64, MAX_SLAB = 4096, RECLAIM_BATCH = 64, NAME_BATCH = 64 };

/* Giving slabs back: free records beyond the peak use of the current and the previous trim
 * window, plus TRIM_SLACK, go back in whole slabs. The clock is read every TRIM_CLOCK_TURNS
 * turns that find more than TRIM_SLACK free records. After a walk that found no whole free
 * slab (a pool fragmented by long-lived tasks, or by records pins still hold), the next walk
 * waits until MAX_SLAB more records are free or 2^k windows have passed (k = 1, 2, ...
 * TRIM_MAX_BACKOFF): such a pool is not walked over and over. */
enum { TRIM_SLACK = 2 * MAX_SLAB, TRIM_CLOCK_TURNS = 64, TRIM_MAX_BACKOFF = 6 };
/* A trim's work per turn: records classified, slabs freed; the free records it leaves alone. */
enum { TRIM_STEP = 1024, TRIM_FREE_PER_TURN = 1, TRIM_KEEP_HOT = 1024 };
#define TRIM_WINDOW_NS 200000000ull /* 200 ms */

struct record_slab {
    struct record_slab *next;
    size_t count;
    tr_task items[];
};

/* A stamped batch is its first record: list through run_next, the stamp in deadline_ns,
 * the next batch in timer_next, its last record in timer_prev, its size in heap_index
 * (snapshot readers never read those). Lists are spliced whole, never walked: the records
 * are cold by now. */
#define BATCH_STAMP(b) ((b)->deadline_ns)
#define BATCH_NEXT(b) ((b)->timer_next)
#define BATCH_TAIL(b) ((b)->timer_prev)
#define BATCH_COUNT(b) ((b)->heap_index)

static inline void push_pending(struct record_pool *p, tr_task *t) {
    t->run_next = p->pending;
    if (!p->pending)
        p->pending_tail = t;
    p->pending = t;
    p->pending_count++;
}

/* The record's current custom name. Its replaced names are in the loop's retired list, not
 * here: only a record nobody can reach any more (being reused, or freed) drops this one. */
static void free_current_name(tr_task *t) {
    atomic_fetch_add_explicit(&t->name_seq, 1, memory_order_relaxed); /* before the free */
    atomic_thread_fence(memory_order_release);
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
 * every NAME_BATCH retired names and with every record pass, so while no pin is alive a loop
 * keeps at most NAME_BATCH old names, whatever the number of renames, and a pin holds back
 * the names retired during its life plus one partial batch, as for records.
 */

static void free_name_chain(void *mem) {
    struct name_node *n = mem;
    while (n) {
        struct name_node *next = n->next;
        free(n);
        n = next;
    }
}

/* `oldest`, `now`: epoch_oldest()'s answer, asked after the last rename this pass covers. */
static void names_reclaim(struct record_pool *p, uint64_t oldest, uint64_t now) {
    if (oldest == EPOCH_NO_PIN) {
        free_name_chain(p->names_stamped);
        free_name_chain(p->names_pending);
        p->names_stamped = p->names_stamped_tail = NULL;
        p->names_pending = p->names_pending_tail = NULL;
        p->names_pending_count = 0;
        return;
    }
    /* Oldest first; stamps never decrease along the list. */
    while (p->names_stamped && p->names_stamped->stamp <= oldest) {
        struct name_node *n = p->names_stamped;
        p->names_stamped = n->next;
        free(n);
    }
    if (!p->names_stamped)
        p->names_stamped_tail = NULL;
    if (!p->names_pending)
        return;
    /* The pending names are few (at most NAME_BATCH): stamping each keeps the node small. */
    for (struct name_node *n = p->names_pending; n; n = n->next)
        n->stamp = now;
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
    if (++p->names_pending_count >= NAME_BATCH) {
        uint64_t now, oldest = epoch_oldest(&now);
        names_reclaim(p, oldest, now);
    }
}

/* ---- records -------------------------------------------------------------------------------- */

/* Put the list head..tail (n records) in front of the free list. */
static void splice_free(struct record_pool *p, tr_task *head, tr_task *tail, size_t n) {
    if (!head)
        return;
    tail->run_next = p->free;
    p->free = head;
    p->free_count += n;
}

/* Records whose last reference went on another thread: rare, so walking is fine. */
static void take_remote(struct record_pool *p) {
    if (!atomic_load_explicit(&p->remote, memory_order_relaxed))
        return;
    tr_task *t = atomic_exchange_explicit(&p->remote, NULL, memory_order_acquire);
    while (t) {
        tr_task *next = t->run_next;
        push_pending(p, t);
        t = next;
    }
}

/*
 * A reclaim pass: move every record no pin can see onto the free list, and make the pending
 * records a batch stamped now once RECLAIM_BATCH of them are there (remote releases
 * included). One fence and one look at the pins for the whole pass, however many batches it
 * frees.
 */
static void reclaim(struct record_pool *p) {
    take_remote(p);
    uint64_t now, oldest = epoch_oldest(&now);
    if (p->names_pending || p->names_stamped)
        names_reclaim(p, oldest, now);
    if (oldest == EPOCH_NO_PIN) {
        /* Records pins held back come free now: a trim that found nothing whole while pins
         * held records says nothing about the pool from here on, so the next trim need not
         * wait out its backoff (which reaches 12.8 s under a long pin). */
        if (p->trim_failed_pinned && p->batches_head)
            p->trim_backoff = 0;
        splice_free(p, p->pending, p->pending_tail, p->pending_count);
        p->pending = p->pending_tail = NULL;
        p->pending_count = 0;
        while (p->batches_head) {
            tr_task *b = p->batches_head;
            p->batches_head = BATCH_NEXT(b);
            splice_free(p, b, BATCH_TAIL(b), BATCH_COUNT(b));
        }
        p->batches_tail = NULL;
        p->stamped_count = 0;
        return;
    }
    /* Oldest first: stamps never decrease along the list. */
    while (p->batches_head && BATCH_STAMP(p->batches_head) <= oldest) {
        tr_task *b = p->batches_head;
        p->batches_head = BATCH_NEXT(b);
        if (!p->batches_head)
            p->batches_tail = NULL;
        p->stamped_count -= BATCH_COUNT(b);
        splice_free(p, b, BATCH_TAIL(b), BATCH_COUNT(b));
    }
    if (p->pending_count >= RECLAIM_BATCH) {
        tr_task *head = p->pending;
        BATCH_STAMP(head) = now;
        BATCH_TAIL(head) = p->pending_tail;
        BATCH_COUNT(head) = (uint32_t)p->pending_count;
        BATCH_NEXT(head) = NULL;
        if (p->batches_tail)
            BATCH_NEXT(p->batches_tail) = head;
        else
            p->batches_head = head;
        p->batches_tail = head;
        p->stamped_count += p->pending_count;
        p->pending = p->pending_tail = NULL;
        p->pending_count = 0;
    }
}

static bool grow(struct record_pool *p) {
    size_t count = p->slabs ? p->slabs->count * 2 : FIRST_SLAB;
    if (count > MAX_SLAB)
        count = MAX_SLAB;
    /* Zeroed: a record is never cleared again (task_create sets what a new task needs), and
     * the loop's end reads refs in every record (after the loop). */
    struct record_slab *s = calloc(1, sizeof *s + count * sizeof(tr_task));
    if (!s)
        return false;
    s->count = count;
    s->next = p->slabs;
    p->slabs = s;
    p->records += count;
    p->nslabs++;
    tr_task *first = p->free;
    for (size_t i = count; i-- > 0;) {
        tr_task *t = &s->items[i];
        t->run_next = first;
        first = t;
    }
    p->free = first;
    p->free_count += count;
    return true;
}

static void trim_abort(struct record_pool *p);

/* The free list ran dry: take what the pins allow, then what a trim in progress holds, and
 * only then a new slab. */
static bool refill(struct record_pool *p) {
    reclaim(p);
    if (!p->free && p->spans)
        trim_abort(p); /* the loop needs them: they were not spare */
    return p->free || grow(p);
}

/* record_alloc's slow half (internal.h): the free list ran dry. */
tr_task *record_alloc_slow(struct tr_loop *loop) {
    struct record_pool *p = &loop->records;
    if (!refill(p))
        return NULL;
    return record_alloc(loop);
}

void record_drop_name(tr_task *t) {
    free_current_name(t);
}

void record_retire(struct tr_loop *loop, tr_task *t) {
    struct record_pool *p = &loop->records;
    push_pending(p, t);
    if (TR_UNLIKELY(p->pending_count >= RECLAIM_BATCH))
        reclaim(p); /* stamped as it fills, not when the free list runs dry */
}

static void free_slab(void *mem) {
    struct record_slab *s = mem;
    for (size_t i = 0; i < s->count; i++)
        free_current_name(&s->items[i]);
    free(s);
}

/* ---- giving slabs back -------------------------------------------------------------------
 *
 * A slab may go back when every one of its records is free: a free record is one no pin can
 * see (it went through a pass), is referenced by nobody and belongs to no task, so freeing
 * it is no different from reusing it. No per-slab count is kept (that would cost every spawn
 * and release a store): a trim classifies the free records by slab instead, a bounded
 * number per turn, so a pool of a million free records costs the loop no long pause:
 *
 *   begin   the first TRIM_KEEP_HOT free records (the warmest) stay the free list; the rest
 *           becomes the trim list
 *   step    each turn, TRIM_STEP records of the trim list go into their slab's bucket
 *   finish  slabs whose bucket holds all their records (up to the excess) are unlinked and
 *           freed TRIM_FREE_PER_TURN per turn; the other buckets go in front of the free
 *           list, the fullest slabs' records first: new tasks fill the slabs in use, and the
 *           emptiest ones drain for the next trim
 *   abort   the free list ran dry before the finish: everything goes back to it
 */

struct slab_span {
    const char *lo, *hi; /* [lo, hi): its records */
    struct record_slab *slab;
    size_t free; /* its records classified so far */
    tr_task *head, *tail;
    bool doomed;
};

static int span_by_address(const void *a, const void *b) {
    const char *x = ((const struct slab_span *)a)->lo, *y = ((const struct slab_span *)b)->lo;
    return x < y ? -1 : x > y;
}

static int span_by_free(const void *a, const void *b) {
    size_t x = ((const struct slab_span *)a)->free, y = ((const struct slab_span *)b)->free;
    return x < y ? -1 : x > y;
}

/* The span holding t; `hint` is the last one found (free lists run mostly slab by slab). */
static struct slab_span *span_of(struct record_pool *p, const void *t) {
    const char *a = t;
    struct slab_span *spans = p->spans;
    if (a >= spans[p->span_hint].lo && a < spans[p->span_hint].hi)
        return &spans[p->span_hint];
    size_t lo = 0, hi = p->nspans;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (a < spans[mid].lo)
            hi = mid;
        else if (a >= spans[mid].hi)
            lo = mid + 1;
        else
            return &spans[p->span_hint = mid];
    }
    return NULL; /* not in any slab: cannot happen */
}

static void trim_begin(struct record_pool *p, size_t want) {
    size_t n = p->nslabs;
    p->spans = malloc(n * sizeof *p->spans);
    if (!p->spans)
        return;
    size_t i = 0;
    for (struct record_slab *s = p->slabs; s; s = s->next, i++)
        p->spans[i] = (struct slab_span){
            (const char *)s->items, (const char *)(s->items + s->count), s, 0, NULL, NULL, false};
    qsort(p->spans, n, sizeof *p->spans, span_by_address);
    p->nspans = n;
    p->span_hint = 0;
    p->trim_want = want;
    /* The warm head stays; the rest is classified. A walk of at most TRIM_KEEP_HOT. */
    tr_task *cut = p->free;
    size_t kept = 1;
    for (; kept < TRIM_KEEP_HOT && cut && cut->run_next; kept++)
        cut = cut->run_next;
    tr_task *rest = cut ? cut->run_next : NULL;
    if (cut)
        cut->run_next = NULL;
    else
        kept = 0;
    p->trim_list = rest;
    p->trim_count = p->free_count - kept;
    p->free_count = kept;
}

static void trim_end(struct record_pool *p, bool gave) {
    free(p->spans);
    p->spans = NULL;
    p->nspans = 0;
    if (gave) {
        p->trim_backoff = 0;
        return;
    }
    if (p->trim_backoff < TRIM_MAX_BACKOFF)
        p->trim_backoff++;
    p->trim_failed_free = p->free_count;
    p->trim_failed_at = p->window_start;
    p->trim_failed_pinned = p->batches_head != NULL;
}

/* The free list ran dry during a trim (refill): everything the trim holds becomes the free
 * list again, the buckets spliced in front of what is left unsorted. No walk. */
static void trim_abort(struct record_pool *p) {
    p->free = p->trim_list;
    for (size_t i = 0; i < p->nspans; i++) {
        struct slab_span *sp = &p->spans[i];
        if (sp->head) {
            sp->tail->run_next = p->free;
            p->free = sp->head;
        }
    }
    p->free_count += p->trim_count;
    p->trim_list = NULL;
    p->trim_count = 0;
    trim_end(p, false);
}

static void trim_finish(struct record_pool *p) {
    /* Whole slabs up to the excess: MAX_SLAB ones first (fewer calls to free). */
    size_t given = 0;
    for (int round = 0; round < 2 && given < p->trim_want; round++)
        for (size_t k = 0; k < p->nspans && given < p->trim_want; k++) {
            struct slab_span *sp = &p->spans[k];
            if (!sp->doomed && sp->free == sp->slab->count &&
                (round == 1 || sp->slab->count == MAX_SLAB)) {
                given += sp->slab->count;
                sp->doomed = true;
            }
        }
    if (given) {
        for (struct record_slab **sl = &p->slabs; *sl;) {
            struct record_slab *sb = *sl;
            struct slab_span *sp = span_of(p, sb->items);
            if (sp && sp->doomed) {
                *sl = sb->next;
                sb->next = p->doomed;
                p->doomed = sb;
                p->records -= sb->count;
                p->trim_count -= sb->count;
                p->nslabs--;
            } else {
                sl = &sb->next;
            }
        }
    }
    /* The rest in front of the free list, the fullest slabs' records first: new tasks fill
     * the slabs in use, and the emptiest ones drain for the next trim. */
    qsort(p->spans, p->nspans, sizeof *p->spans, span_by_free);
    tr_task *head = NULL, **link = &head;
    for (size_t i = 0; i < p->nspans; i++) {
        struct slab_span *sp = &p->spans[i];
        if (!sp->doomed && sp->head) {
            *link = sp->head;
            link = &sp->tail->run_next;
        }
    }
    *link = p->free;
    p->free = head;
    p->free_count += p->trim_count;
    p->trim_count = 0;
    trim_end(p, given > 0);
}

static void trim_step(struct record_pool *p) {
    for (int k = 0; k < TRIM_STEP && p->trim_list; k++) {
        tr_task *t = p->trim_list;
        p->trim_list = t->run_next;
        struct slab_span *sp = span_of(p, t);
        if (TR_UNLIKELY(!sp)) { /* not one of the slabs: cannot happen; keep it usable */
            t->run_next = p->free;
            p->free = t;
            p->free_count++;
            p->trim_count--;
            continue;
        }
        t->run_next = NULL;
        if (sp->tail)
            sp->tail->run_next = t;
        else
            sp->head = t;
        sp->tail = t;
        sp->free++;
    }
    if (!p->trim_list)
        trim_finish(p);
}

/* Each turn (loop.c): note the records in use, now and then begin a trim of what the last
 * two windows did not need, and carry one on. A few compares when there is nothing to do. */
void record_pool_turn(struct tr_loop *loop) {
    struct record_pool *p = &loop->records;
    size_t spare = p->free_count + p->trim_count;
    size_t in_use = p->records - spare;
    if (in_use > p->peak_cur)
        p->peak_cur = in_use;
    if (TR_UNLIKELY(p->doomed)) {
        for (int k = 0; k < TRIM_FREE_PER_TURN && p->doomed; k++) {
            struct record_slab *sb = p->doomed;
            p->doomed = sb->next;
            free_slab(sb);
            p->slabs_returned++;
        }
    }
    if (TR_UNLIKELY(p->spans)) {
        trim_step(p);
        return;
    }
    if (TR_LIKELY(spare <= TRIM_SLACK) || ++p->trim_turns < TRIM_CLOCK_TURNS)
        return;
    p->trim_turns = 0;
    uint64_t now = loop_clock_ns();
    if (now - p->window_start < TRIM_WINDOW_NS)
        return;
    size_t keep = (p->peak_cur > p->peak_prev ? p->peak_cur : p->peak_prev) + TRIM_SLACK;
    p->peak_prev = p->peak_cur;
    p->peak_cur = in_use;
    p->window_start = now;
    if (p->records <= keep)
        return;
    /* After a trim that found no whole free slab: wait until a slab's worth more records
     * are free, or the backoff has passed. */
    if (p->trim_backoff && spare < p->trim_failed_free + MAX_SLAB &&
        now - p->trim_failed_at < (TRIM_WINDOW_NS << p->trim_backoff))
        return;
    trim_begin(p, p->records - keep);
}

void record_pool_stats(const struct tr_loop *loop, struct record_pool_stats *out) {
    const struct record_pool *p = &loop->records;
    out->records = p->records;
    out->slabs = p->nslabs;
    out->free = p->free_count + p->trim_count;
    out->pending = p->pending_count;
    out->stamped = p->stamped_count;
    out->slabs_returned = p->slabs_returned;
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

static void free_slabs(struct record_slab *s) {
    while (s) {
        struct record_slab *next = s->next;
        free_slab(s);
        s = next;
    }
}

static void free_pool(void *mem) {
    struct tr_loop *loop = mem;
    free_slabs(loop->records.slabs);
    free_slabs(loop->records.doomed); /* unlinked by a trim, not yet freed */
    free(loop->records.spans);
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
