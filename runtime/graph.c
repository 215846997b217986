/*
 * graph.c - the await graph of one task (tr_await_graph), after asyncio.capture_call_graph:
 * whom the task waits for, down a chain, and who waits for it, up a tree.
 *
 * Both directions read state only the task's loop may touch: a task's `done` queue (its
 * awaiters, gather and group sub-waiters), a lock's holder, a group's members. So the graph is
 * built on that loop's thread (a caller on another loop of the runtime is carried there with
 * hop_call), where nothing changes while it is built: exact. A task reached that is on another
 * loop (carried away by a call, or of another loop) changes under us; it is listed, with what
 * its wait looks like to a seqlock reader (introspect.c), and not followed.
 *
 * A graph can close on itself (A awaits B while B waits for a lock A holds) and can reach a
 * task by two paths (a gather of B and of C while C awaits B): a node whose task is already
 * on its own path closes a cycle, one already elsewhere is "seen"; neither is followed, so
 * building always ends, in at most one expansion per task.
 */
#include "runtime.h"
#include "introspect.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct tr_graph {
    tr_graph_node *nodes;
    size_t len, cap;
    /* The tasks in the graph, open addressing: task -> 1 + node index. */
    tr_task **seen_keys;
    size_t *seen_vals;
    size_t seen_cap;
    struct tr_loop *here;
    bool failed; /* out of memory: the build stops, the call fails */
};

/* A reference, unless the record is no task any more (refs reached 0: it is being retired). */
static bool try_retain(tr_task *t) {
    if (t->magic != TASK_MAGIC)
        return false;
    uint32_t refs = atomic_load_explicit(&t->refs, memory_order_relaxed);
    while (refs != 0)
        if (atomic_compare_exchange_weak_explicit(&t->refs, &refs, refs + 1, memory_order_relaxed,
                                                  memory_order_relaxed))
            return true;
    return false;
}

static size_t hash_of(const tr_task *t, size_t cap) {
    return (size_t)(((uintptr_t)t >> 4) * 0x9e3779b97f4a7c15ull) & (cap - 1);
}

static size_t *seen_slot(tr_graph *g, const tr_task *t) {
    size_t i = hash_of(t, g->seen_cap);
    while (g->seen_keys[i] && g->seen_keys[i] != t)
        i = (i + 1) & (g->seen_cap - 1);
    return &g->seen_vals[i];
}

static bool seen_grow(tr_graph *g) {
    size_t cap = g->seen_cap ? g->seen_cap * 2 : 64;
    tr_task **keys = calloc(cap, sizeof *keys);
    size_t *vals = calloc(cap, sizeof *vals);
    if (!keys || !vals) {
        free(keys);
        free(vals);
        return false;
    }
    tr_task **old_keys = g->seen_keys;
    size_t *old_vals = g->seen_vals, old_cap = g->seen_cap;
    g->seen_keys = keys, g->seen_vals = vals, g->seen_cap = cap;
    for (size_t i = 0; i < old_cap; i++) {
        if (!old_keys[i])
            continue;
        size_t j = hash_of(old_keys[i], cap);
        while (keys[j])
            j = (j + 1) & (cap - 1);
        keys[j] = old_keys[i];
        vals[j] = old_vals[i];
    }
    free(old_keys);
    free(old_vals);
    return true;
}

/* What t waits on, read directly when t is on this thread's loop, else seqlock-style. */
static void node_wait(tr_graph *g, tr_graph_node *n) {
    tr_task *t = n->task;
    if (atomic_load_explicit(&t->at, memory_order_acquire) == g->here) {
        const struct waiter *w = t->waiter;
        if (w && atomic_load_explicit(&t->state, memory_order_relaxed) == TASK_SUSPENDED) {
            n->waits_on = wait_kind_name(w->kind);
            n->wait_object = w->object;
        }
        return;
    }
    struct wait_view v;
    if (!task_wait_view(t, &v)) {
        n->waits_on = "torn";
    } else if (v.waiting) {
        n->waits_on = wait_kind_name(v.kind);
        n->wait_object = v.object;
    }
}

/* Append a node for t under `parent`; SIZE_MAX when t could not be added (gone, no memory). */
static size_t add_node(tr_graph *g, tr_task *t, size_t parent, enum tr_graph_dir dir,
                       enum tr_graph_via via, const void *object) {
    if (g->failed || !t)
        return SIZE_MAX;
    if (g->len == g->cap) {
        size_t cap = g->cap ? g->cap * 2 : 16;
        tr_graph_node *nodes = realloc_array(g->nodes, cap, sizeof *nodes);
        if (!nodes) {
            g->failed = true;
            return SIZE_MAX;
        }
        g->nodes = nodes;
        g->cap = cap;
    }
    if ((g->len + 1) * 2 > g->seen_cap && !seen_grow(g)) {
        g->failed = true;
        return SIZE_MAX;
    }
    if (!try_retain(t))
        return SIZE_MAX;
    size_t i = g->len++;
    tr_graph_node *n = &g->nodes[i];
    memset(n, 0, sizeof *n);
    n->task = t;
    n->parent = parent;
    n->depth = parent == SIZE_MAX ? 0 : g->nodes[parent].depth + 1;
    n->dir = dir;
    n->via = via;
    n->object = object;
    node_wait(g, n);
    /* On its own path (the chain back to the root): a cycle closes here. */
    for (size_t p = parent; p != SIZE_MAX; p = g->nodes[p].parent)
        if (g->nodes[p].task == t) {
            n->cycle = true;
            break;
        }
    size_t *slot = seen_slot(g, t);
    if (*slot && !n->cycle)
        n->seen = true;
    else if (!*slot) {
        g->seen_keys[slot - g->seen_vals] = t;
        *slot = i + 1;
    }
    struct tr_loop *at = atomic_load_explicit(&t->at, memory_order_acquire);
    n->remote = (dir == TR_GRAPH_AWAITED_BY ? t->loop != g->here : at != g->here) ||
                (n->waits_on && strcmp(n->waits_on, "torn") == 0);
    return i;
}

static bool followed(const tr_graph *g, size_t i) {
    const tr_graph_node *n = &g->nodes[i];
    return i != SIZE_MAX && !n->cycle && !n->seen && !n->remote;
}

static void down(tr_graph *g, size_t i);

struct member_ctx {
    tr_graph *g;
    size_t parent;
    const void *group;
};

static void member_down(tr_task *m, void *ctx) {
    struct member_ctx *c = ctx;
    size_t k = add_node(c->g, m, c->parent, TR_GRAPH_AWAITS, TR_VIA_GROUP, c->group);
    if (k != SIZE_MAX && followed(c->g, k))
        down(c->g, k);
}

/* Whom node i's task waits for. Recursion only through groups (a group's members), and the
 * chain itself is a loop: depth of C stack stays that of the groups nested in each other. */
static void down(tr_graph *g, size_t i) {
    while (i != SIZE_MAX && followed(g, i) && !g->failed) {
        tr_task *t = g->nodes[i].task;
        const struct waiter *w = t->waiter;
        if (!w || atomic_load_explicit(&t->state, memory_order_relaxed) != TASK_SUSPENDED)
            return;
        tr_task *next = NULL;
        enum tr_graph_via via = TR_VIA_AWAIT;
        switch (w->kind) {
        case WAIT_TASK:
            next = (tr_task *)w->object;
            break;
        case WAIT_TASKS:
            next = (tr_task *)w->object; /* the first unfinished one */
            via = TR_VIA_GATHER;
            break;
        case WAIT_LOCK:
            next = lock_holder(w->object);
            via = TR_VIA_LOCK;
            break;
        case WAIT_GROUP: {
            struct member_ctx c = {g, i, w->object};
            group_for_each_member(w->object, member_down, &c);
            return;
        }
        default:
            return; /* a sleep, I/O, an event...: the chain ends in that object */
        }
        i = add_node(g, next, i, TR_GRAPH_AWAITS, via, w->kind == WAIT_LOCK ? w->object : next);
    }
}

/* Who waits for node i's task: every waiter in its `done` queue, and up from each. */
static void up(tr_graph *g, size_t i) {
    if (i == SIZE_MAX || g->failed)
        return;
    tr_task *t = g->nodes[i].task;
    for (const struct waiter *w = t->done.head; w && !g->failed; w = w->next) {
        tr_task *a = w->task;
        enum tr_graph_via via = TR_VIA_AWAIT;
        const void *object = t;
        if (w->kind == WAIT_TASKS) {
            via = TR_VIA_GATHER;
        } else if (w->kind == WAIT_GROUP) {
            /* A member's sub-waiter: awaited by whoever is in tr_group_wait now. */
            via = TR_VIA_GROUP;
            object = w->value;
            a = group_waiting_task(w->value);
        }
        if (!a)
            continue;
        size_t k = add_node(g, a, i, TR_GRAPH_AWAITED_BY, via, object);
        if (k != SIZE_MAX && followed(g, k))
            up(g, k);
    }
}

static void graph_release(tr_graph *g) {
    for (size_t i = 0; i < g->len; i++)
        tr_task_release(g->nodes[i].task);
    free(g->nodes);
    free(g->seen_keys);
    free(g->seen_vals);
    free(g);
}

struct build {
    tr_task *t;
    tr_graph *g;
};

/* On t's loop. */
static int build_here(void *ctx) {
    struct build *b = ctx;
    tr_graph *g = calloc(1, sizeof *g);
    if (!g)
        return -ENOMEM;
    g->here = tr_tls_loop;
    /* The records of tasks on other loops are read through views: a pin keeps them from
     * being reused while we look (the references taken make them safe afterwards). */
    pin_t *pin = epoch_pin();
    if (!pin) {
        free(g);
        return -ENOMEM;
    }
    size_t root = add_node(g, b->t, SIZE_MAX, TR_GRAPH_ROOT, TR_VIA_NONE, NULL);
    if (root != SIZE_MAX) {
        /* The root is followed both ways: down if it is here now, up always (its done queue
         * is its own loop's, and this is it). */
        g->nodes[root].remote = atomic_load_explicit(&b->t->at, memory_order_acquire) != g->here;
        if (!g->nodes[root].remote)
            down(g, root);
        up(g, root);
    } else if (!g->failed) {
        epoch_unpin(pin);
        free(g);
        return -EINVAL; /* not a live record */
    }
    epoch_unpin(pin);
    if (g->failed) {
        graph_release(g);
        return -ENOMEM;
    }
    b->g = g;
    return 0;
}

TR_EXPORT tr_graph *tr_await_graph(tr_task *t) {
    if (!t) {
        errno = EINVAL;
        return NULL;
    }
    struct build b = {t, NULL};
    struct tr_loop *loop = tr_tls_loop;
    int rc;
    if (!loop || !loop->current)
        rc = -EPERM; /* a plain thread: no loop to carry the call to t's */
    else if (t->loop == loop)
        rc = build_here(&b);
    else
        rc = hop_call(t->loop, build_here, &b); /* -EPERM: t of another runtime */
    if (rc < 0) {
        errno = -rc;
        return NULL;
    }
    return b.g;
}

TR_EXPORT size_t tr_graph_size(const tr_graph *g) {
    return g ? g->len : 0;
}

TR_EXPORT const tr_graph_node *tr_graph_get(const tr_graph *g, size_t i) {
    if (!g) {
        errno = EINVAL;
        return NULL;
    }
    if (i >= g->len) {
        errno = ERANGE;
        return NULL;
    }
    return &g->nodes[i];
}

TR_EXPORT void tr_graph_free(tr_graph *g) {
    if (g)
        graph_release(g);
}

static const char *via_name(enum tr_graph_via via) {
    switch (via) {
    case TR_VIA_AWAIT:
        return "await";
    case TR_VIA_GATHER:
        return "gather";
    case TR_VIA_GROUP:
        return "group";
    case TR_VIA_LOCK:
        return "lock";
    default:
        return "";
    }
}

static void print_node(FILE *out, const tr_graph *g, size_t i) {
    const tr_graph_node *n = &g->nodes[i];
    char repr[256];
    if (tr_task_repr(n->task, repr, sizeof repr) < 0)
        snprintf(repr, sizeof repr, "<Task %p>", (void *)n->task);
    fprintf(out, "%*s", (int)(n->depth * 2), "");
    if (n->dir == TR_GRAPH_AWAITS)
        fprintf(out, "-> (%s %p) ", via_name(n->via), n->object);
    else if (n->dir == TR_GRAPH_AWAITED_BY)
        fprintf(out, "<- (%s %p) ", via_name(n->via), n->object);
    fprintf(out, "Task-%llu %s", (unsigned long long)n->task->number, repr);
    if (n->waits_on && n->wait_object)
        fprintf(out, " waits on %s %p", n->waits_on, n->wait_object);
    else if (n->waits_on)
        fprintf(out, " waits on %s", n->waits_on);
    if (n->cycle)
        fputs(" [cycle]", out);
    if (n->seen)
        fputs(" [seen]", out);
    if (n->remote)
        fputs(" [remote]", out);
    fputc('\n', out);
}

/* Depth first, children in the order found: each node's children follow it. */
static void print_tree(FILE *out, const tr_graph *g, size_t *first, size_t *next,
                       enum tr_graph_dir dir) {
    size_t *stack = malloc((g->len + 1) * sizeof *stack);
    if (!stack)
        return;
    size_t top = 0;
    for (size_t c = first[0]; c != SIZE_MAX; c = next[c])
        if (g->nodes[c].dir == dir)
            stack[top++] = c;
    /* Reverse, so the first child is printed first. */
    for (size_t a = 0, z = top; a + 1 < z; a++, z--) {
        size_t tmp = stack[a];
        stack[a] = stack[z - 1];
        stack[z - 1] = tmp;
    }
    while (top) {
        size_t i = stack[--top];
        print_node(out, g, i);
        size_t base = top;
        for (size_t c = first[i]; c != SIZE_MAX; c = next[c])
            stack[top++] = c;
        for (size_t a = base, z = top; a + 1 < z; a++, z--) {
            size_t tmp = stack[a];
            stack[a] = stack[z - 1];
            stack[z - 1] = tmp;
        }
    }
    free(stack);
}

TR_EXPORT int tr_await_graph_print(tr_task *t, FILE *out) {
    if (!out)
        return -EINVAL;
    tr_graph *g = tr_await_graph(t);
    if (!g)
        return -errno;
    size_t *first = malloc(g->len * sizeof *first), *next = malloc(g->len * sizeof *next);
    if (!first || !next) {
        free(first);
        free(next);
        tr_graph_free(g);
        return -ENOMEM;
    }
    for (size_t i = 0; i < g->len; i++)
        first[i] = next[i] = SIZE_MAX;
    for (size_t i = g->len; i-- > 1;) { /* prepend in reverse: lists in order found */
        size_t p = g->nodes[i].parent;
        next[i] = first[p];
        first[p] = i;
    }
    print_node(out, g, 0);
    fputs("awaits:\n", out);
    print_tree(out, g, first, next, TR_GRAPH_AWAITS);
    fputs("awaited by:\n", out);
    print_tree(out, g, first, next, TR_GRAPH_AWAITED_BY);
    size_t n = g->len;
    free(first);
    free(next);
    tr_graph_free(g);
    if (fflush(out) != 0 || ferror(out))
        return -EIO;
    return n > INT_MAX ? INT_MAX : (int)n;
}
