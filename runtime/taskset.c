/*
 * taskset.c - the set tr_all_tasks returns: an array of task pointers plus the epoch pin
 * that keeps every one of those records from being reused while the set lives.
 *
 * The set never takes a reference per task: one pin covers them all (registry.c), which is
 * what makes a snapshot of a million tasks cost a memcpy rather than a million atomics.
 */
#include "runtime.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct tr_taskset {
    pin_t *pin;
    tr_task **items;
    size_t len;
    size_t cap;
};

/* Slack for tasks spawned between sizing the buffer and scanning. */
static size_t with_slack(size_t n) {
    return n + n / 8 + 64;
}

/* The array is sized by a multiplication: a capacity whose byte count overflows a size_t is
 * refused here (ENOMEM, as calloc does), never allocated short and then overrun. */
static int grow_items(tr_taskset *s, size_t cap) {
    tr_task **items = realloc_array(s->items, cap, sizeof *items);
    if (!items)
        return -ENOMEM;
    s->items = items;
    s->cap = cap;
    return 0;
}

/* Pin, then scan into s; returns the number of live tasks (may exceed s->cap). */
static ssize_t snapshot_into(tr_taskset *s) {
    if (s->pin)
        epoch_unpin(s->pin);
    s->pin = epoch_pin();
    if (!s->pin) {
        s->len = 0;
        return -ENOMEM;
    }
    size_t n = registry_scan(s->items, s->cap);
    s->len = n < s->cap ? n : s->cap;
    return (ssize_t)n;
}

TR_EXPORT tr_taskset *tr_taskset_new(size_t capacity) {
    tr_taskset *s = calloc(1, sizeof *s);
    if (!s) {
        errno = ENOMEM;
        return NULL;
    }
    if (capacity && grow_items(s, capacity) < 0) {
        free(s);
        errno = ENOMEM;
        return NULL;
    }
    return s;
}

TR_EXPORT ssize_t tr_all_tasks_fill(tr_taskset *s) {
    if (!s)
        return -EINVAL;
    return snapshot_into(s);
}

TR_EXPORT tr_taskset *tr_all_tasks(void) {
    tr_taskset *s = tr_taskset_new(with_slack(tr_task_count()));
    if (!s)
        return NULL;
    for (;;) {
        ssize_t n = snapshot_into(s);
        if (n < 0)
            break;
        if ((size_t)n <= s->cap)
            return s;
        /* More tasks appeared than we made room for: grow and take the snapshot again. */
        if (grow_items(s, with_slack((size_t)n)) < 0)
            break;
    }
    tr_taskset_free(s);
    errno = ENOMEM;
    return NULL;
}

tr_taskset *taskset_of_loop(const struct tr_loop *loop) {
    tr_taskset *s = tr_all_tasks();
    if (!s)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < s->len; i++)
        if (s->items[i]->loop == loop)
            s->items[k++] = s->items[i];
    s->len = k;
    return s;
}

TR_EXPORT size_t tr_taskset_size(const tr_taskset *s) {
    return s ? s->len : 0;
}

TR_EXPORT tr_task *tr_taskset_get(const tr_taskset *s, size_t i) {
    if (!s) {
        errno = EINVAL;
        return NULL;
    }
    if (i >= s->len) {
        errno = ERANGE;
        return NULL;
    }
    return s->items[i];
}

TR_EXPORT int tr_taskset_remove(tr_taskset *s, const tr_task *t) {
    if (!s || !t)
        return -EINVAL;
    for (size_t i = 0; i < s->len; i++) {
        if (s->items[i] == t) {
            s->items[i] = s->items[--s->len]; /* a set has no order to keep */
            return 0;
        }
    }
    return -ENOENT;
}

TR_EXPORT void tr_taskset_free(tr_taskset *s) {
    if (!s)
        return;
    if (s->pin)
        epoch_unpin(s->pin);
    free(s->items);
    free(s);
}
