/*
 * timer.c - the loop's sleeping tasks, in a binary min-heap ordered by deadline.
 *
 * One heap per loop in user space; the loop asks the kernel for a single wake-up at the
 * earliest deadline (loop.c), so a million sleepers cost a million heap entries, not a
 * million kernel timers. Each task remembers its heap position so cancellation removes it
 * in O(log n).
 *
 * Servers mostly sleep for the same few durations, so deadlines mostly arrive in order. A
 * deadline no earlier than the last one appended goes to a plain FIFO list instead of the
 * heap: O(1) in and out, and a million equal sleeps wake by walking memory in order rather
 * than by a million 20-level sift-downs. The earliest timer is the earlier of both heads.
 */
#include "internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static void place(struct timer_heap *h, size_t i, tr_task *t) {
    h->items[i] = t;
    t->heap_index = (uint32_t)i;
}

static void sift_up(struct timer_heap *h, size_t i) {
    tr_task *t = h->items[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (h->items[parent]->deadline_ns <= t->deadline_ns)
            break;
        place(h, i, h->items[parent]);
        i = parent;
    }
    place(h, i, t);
}

static void sift_down(struct timer_heap *h, size_t i) {
    tr_task *t = h->items[i];
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= h->len)
            break;
        if (child + 1 < h->len && h->items[child + 1]->deadline_ns < h->items[child]->deadline_ns)
            child++;
        if (t->deadline_ns <= h->items[child]->deadline_ns)
            break;
        place(h, i, h->items[child]);
        i = child;
    }
    place(h, i, t);
}

int timer_heap_push(struct timer_heap *h, tr_task *t) {
    if (!h->mono_tail || h->mono_tail->deadline_ns <= t->deadline_ns) {
        t->heap_index = TIMER_IN_LIST;
        t->timer_next = NULL;
        t->timer_prev = h->mono_tail;
        if (h->mono_tail)
            h->mono_tail->timer_next = t;
        else
            h->mono_head = t;
        h->mono_tail = t;
        h->mono_len++;
        return 0;
    }
    if (h->len == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 256;
        if (cap >= TIMER_IN_LIST)
            return -ENOMEM;
        tr_task **items = realloc_array(h->items, cap, sizeof *items);
        if (!items)
            return -ENOMEM;
        h->items = items;
        h->cap = cap;
    }
    h->items[h->len] = t;
    sift_up(h, h->len++);
    return 0;
}

void timer_heap_remove(struct timer_heap *h, tr_task *t) {
    if (t->heap_index == TIMER_IN_LIST) {
        if (t->timer_prev)
            t->timer_prev->timer_next = t->timer_next;
        else
            h->mono_head = t->timer_next;
        if (t->timer_next)
            t->timer_next->timer_prev = t->timer_prev;
        else
            h->mono_tail = t->timer_prev;
        t->timer_prev = t->timer_next = NULL;
        h->mono_len--;
        return;
    }
    size_t i = t->heap_index;
    tr_task *last = h->items[--h->len];
    if (i == h->len)
        return;
    place(h, i, last);
    if (i > 0 && h->items[(i - 1) / 2]->deadline_ns > last->deadline_ns)
        sift_up(h, i);
    else
        sift_down(h, i);
}

void timer_heap_free(struct timer_heap *h) {
    free(h->items);
    memset(h, 0, sizeof *h);
}
