/*
 * epoch.c - when memory that a snapshot may still read can be reused: epoch pins.
 *
 * A tr_all_tasks snapshot (and a reader of a task's name on another thread) holds no
 * reference per task. It holds one pin instead, and the loops reuse a released record, or
 * free a replaced name, only once no pin could have seen it (record.c). Its parts:
 *
 *   epoch    A counter. A pin reads it (and advances it) as it starts; a loop reads it to
 *            stamp what it retires. Starts at 1: a pin holding 0 blocks every stamp.
 *   pins     One word per live pin, in a lock-free, append-only list of blocks: PIN_FREE,
 *            PIN_CLAIMED (epoch not read yet), or the epoch the pin began at. A stamp is free
 *            once every pin holds at least that stamp.
 *   orphans  Memory of a loop that ended while a pin was alive; freed by the last unpin.
 *
 * Like the registry's slot table (registry.c), this state is process-wide, for the same
 * reason: a snapshot may be taken on any thread, one that owns no loop included. The argument
 * for why it is safe is in docs/architecture.md ("Reclamation").
 */
#include "internal.h"
#include "test_hooks.h"

#include <stdlib.h>

enum { PINS_PER_BLOCK = 63 };

#define PIN_FREE UINT64_MAX
#define PIN_CLAIMED 0 /* claimed, epoch not yet read: blocks every reclamation */

struct pin {
    _Atomic uint64_t epoch;
};

struct pin_block {
    struct pin_block *next; /* immutable once published */
    struct pin pins[PINS_PER_BLOCK];
};

struct orphan {
    struct orphan *next;
    void *mem;
    void (*free_fn)(void *);
};

static struct epoch_state {
    _Atomic uint64_t epoch;
    _Atomic size_t live_pins;
    _Atomic(struct pin_block *) pin_blocks;
    _Atomic(struct orphan *) orphans;
    /* Tests only (test_hooks.h): called between a pin's epoch and its caller's scan. */
    _Atomic(void (*)(void)) pin_hook;
#if defined(TASKRING_TSAN)
    _Atomic uint64_t fence_word;
#endif
} ep = {.epoch = 1};

/*
 * The full fence the reclamation argument needs. ThreadSanitizer does not model standalone
 * fences (and gcc refuses them under -fsanitize=thread), so its builds use a seq_cst
 * read-modify-write on one shared word instead, which it does model and which is at least
 * as strong.
 */
static inline void full_fence(void) {
#if defined(TASKRING_TSAN)
    atomic_fetch_add_explicit(&ep.fence_word, 0, memory_order_seq_cst);
#else
    atomic_thread_fence(memory_order_seq_cst);
#endif
}

/* ---- pins ----------------------------------------------------------------------------------- */

static struct pin *claim_pin(void) {
    for (struct pin_block *b = atomic_load_explicit(&ep.pin_blocks, memory_order_acquire); b;
         b = b->next) {
        for (int i = 0; i < PINS_PER_BLOCK; i++) {
            uint64_t expected = PIN_FREE;
            if (atomic_compare_exchange_strong(&b->pins[i].epoch, &expected, PIN_CLAIMED))
                return &b->pins[i];
        }
    }
    struct pin_block *b = malloc(sizeof *b);
    if (!b)
        return NULL;
    for (int i = 0; i < PINS_PER_BLOCK; i++)
        atomic_init(&b->pins[i].epoch, PIN_FREE);
    atomic_init(&b->pins[0].epoch, PIN_CLAIMED);
    struct pin_block *head = atomic_load_explicit(&ep.pin_blocks, memory_order_relaxed);
    do {
        b->next = head;
    } while (!atomic_compare_exchange_weak(&ep.pin_blocks, &head, b));
    return &b->pins[0];
}

static void free_orphans(void);

pin_t *epoch_pin(void) {
    atomic_fetch_add(&ep.live_pins, 1);
    struct pin *p = claim_pin();
    if (!p) {
        atomic_fetch_sub(&ep.live_pins, 1);
        return NULL;
    }
    atomic_store(&p->epoch, atomic_fetch_add(&ep.epoch, 1));
    /* Pairs with the fence in the reclaimer: either it sees this pin, or this scan sees
     * every slot it cleared before reading the epoch. */
    full_fence();
    void (*hook)(void) = atomic_load_explicit(&ep.pin_hook, memory_order_relaxed);
    if (TR_UNLIKELY(hook))
        hook(); /* a test parks this thread here, between the epoch and the scan */
    return p;
}

void epoch_set_pin_hook(void (*hook)(void)) {
    atomic_store(&ep.pin_hook, hook);
}

void epoch_unpin(pin_t *p) {
    atomic_store_explicit(&p->epoch, PIN_FREE, memory_order_release);
    if (atomic_fetch_sub(&ep.live_pins, 1) == 1)
        free_orphans();
}

/*
 * A pin claimed ahead of time for a reader that may not allocate (the signal dump): parked,
 * it holds PIN_PARKED, which claim_pin never takes and which is above every stamp (so no
 * epoch_oldest answer it enters holds anything back), and it is not counted in live_pins, so
 * a parked pin costs reclamation nothing. epoch_pin_enter makes it a live pin with
 * epoch_pin's steps minus the claim (lock-free, no allocation); epoch_pin_leave parks it
 * again and leaves the orphans for the next unpin (free() is not async-signal-safe). One
 * user at a time (the caller serialises).
 */
#define PIN_PARKED (UINT64_MAX - 1)

pin_t *epoch_pin_reserve(void) {
    struct pin *p = claim_pin();
    if (p)
        atomic_store(&p->epoch, PIN_PARKED);
    return p;
}

void epoch_pin_enter(pin_t *p) {
    atomic_fetch_add(&ep.live_pins, 1);
    atomic_store(&p->epoch, PIN_CLAIMED);
    atomic_store(&p->epoch, atomic_fetch_add(&ep.epoch, 1));
    full_fence();
}

void epoch_pin_leave(pin_t *p) {
    atomic_store_explicit(&p->epoch, PIN_PARKED, memory_order_release);
    atomic_fetch_sub(&ep.live_pins, 1);
}

bool epoch_no_pins(void) {
    full_fence();
    return atomic_load(&ep.live_pins) == 0;
}

/* ---- stamps: what a loop asks before it reuses ---------------------------------------------- */

/*
 * One pass's worth of questions after one fence: the smallest epoch a live pin holds, and in
 * *now the current epoch (the stamp for what was retired before the call). What was stamped
 * at s may be reused when s <= the result. EPOCH_NO_PIN (above every stamp) when no pin is
 * alive: then even what is not stamped yet may be. A pin the scan finds free and that is
 * claimed afterwards was claimed after the fence, so its scan sees everything cleared before
 * the call (docs/architecture.md, "Reclamation", step 3): it blocks nothing retired so far.
 */
uint64_t epoch_oldest(uint64_t *now) {
    full_fence();
    *now = atomic_load(&ep.epoch);
    if (atomic_load(&ep.live_pins) == 0)
        return EPOCH_NO_PIN;
    uint64_t oldest = EPOCH_NO_PIN;
    for (struct pin_block *b = atomic_load_explicit(&ep.pin_blocks, memory_order_acquire); b;
         b = b->next)
        for (int i = 0; i < PINS_PER_BLOCK; i++) {
            uint64_t e = atomic_load_explicit(&b->pins[i].epoch, memory_order_acquire);
            oldest = e < oldest ? e : oldest;
        }
    return oldest;
}

/* ---- orphans --------------------------------------------------------------------------------- */

static void free_orphans(void) {
    struct orphan *o = atomic_exchange(&ep.orphans, NULL);
    while (o) {
        struct orphan *next = o->next;
        o->free_fn(o->mem);
        free(o);
        o = next;
    }
}

void epoch_orphan(void *mem, void (*free_fn)(void *)) {
    struct orphan *o = malloc(sizeof *o);
    if (!o)
        return; /* cannot defer the free: leaking is the safe choice */
    o->mem = mem;
    o->free_fn = free_fn;
    struct orphan *head = atomic_load_explicit(&ep.orphans, memory_order_relaxed);
    do {
        o->next = head;
    } while (!atomic_compare_exchange_weak(&ep.orphans, &head, o));
    /* The last pin may have gone while we pushed. */
    if (epoch_no_pins())
        free_orphans();
}
