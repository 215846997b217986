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
    bool *open; /* per node: on the path being walked (a frame on the walk's stack) */
    size_t len, cap;
    /* The tasks in the graph, open addressing: task -> 1 + node index. */
    tr_task **seen_keys;
    size_t *seen_vals;
    size_t seen_cap;
    struct tr_loop *here;
    const pin_t *pin; /* held while the graph is built: remote tasks' waits are read */
    bool failed;      /* out of memory: the build stops, the call fails */
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
    if (!task_wait_view(t, g->pin, &v)) {
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
        bool *open = realloc_array(g->open, cap, sizeof *open);
        if (!open) {
            g->failed = true;
            return SIZE_MAX;
        }
        g->open = open;
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
    g->open[i] = false;
    /* On its own path (the chain back to the root): a cycle closes here. A task's nodes on
     * the path are followed ones, so its first node, and the path is what is open now. */
    size_t *slot = seen_slot(g, t);
    if (*slot && g->open[*slot - 1])
        n->cycle = true;
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

/*
 * The walks are depth first on an explicit stack on the heap, not the C stack: a chain of
 * 20000 awaits is 20000 frames deep, which a task's 64 KiB stack cannot hold as recursion.
 * The frames on the stack are the path from the root to the node being expanded, each node
 * marked open while it is there: a task met again whose first node is open closes a cycle
 * (add_node), in O(1) instead of a walk up the path.
 */
struct frame {
    size_t node;
    bool started;
    const struct waiter *cursor; /* up: the next waiter of the node's done queue */
    tr_task **members;           /* down through a group: its members, collected */
    size_t count, pos;
};

struct walk {
    struct frame *f;
    size_t top, cap;
};

static bool walk_push(tr_graph *g, struct walk *k, size_t node) {
    if (k->top == k->cap) {
        size_t cap = k->cap ? k->cap * 2 : 64;
        struct frame *f = realloc_array(k->f, cap, sizeof *f);
        if (!f) {
            g->failed = true;
            return false;
        }
        k->f = f, k->cap = cap;
    }
    k->f[k->top++] = (struct frame){.node = node};
    g->open[node] = true;
    return true;
}

static void walk_pop(tr_graph *g, struct walk *k) {
    struct frame *f = &k->f[--k->top];
    g->open[f->node] = false;
    free(f->members);
}

static void walk_end(tr_graph *g, struct walk *k) {
    while (k->top)
        walk_pop(g, k);
    free(k->f);
}

struct members {
    tr_task **t;
    size_t len, cap;
    bool failed;
};

static void collect_member(tr_task *m, void *ctx) {
    struct members *c = ctx;
    if (c->failed)
        return;
    if (c->len == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 8;
        tr_task **t = realloc_array(c->t, cap, sizeof *t);
        if (!t) {
            c->failed = true;
            return;
        }
        c->t = t, c->cap = cap;
    }
    c->t[c->len++] = m;
}

/* Whom node i's task waits for: one task down a chain (await, gather, a lock's holder), or
 * every member of the group it waits on, each followed before the next is added. */
static void down(tr_graph *g, size_t root) {
    struct walk k = {0};
    if (!walk_push(g, &k, root))
        return;
    while (k.top && !g->failed) {
        struct frame *f = &k.f[k.top - 1];
        size_t i = f->node, child = SIZE_MAX;
        if (f->started) {
            if (f->pos < f->count) {
                const void *group = g->nodes[i].task->waiter->object;
                child = add_node(g, f->members[f->pos++], i, TR_GRAPH_AWAITS, TR_VIA_GROUP, group);
            } else {
                walk_pop(g, &k);
                continue;
            }
        } else {
            f->started = true;
            tr_task *t = g->nodes[i].task;
            const struct waiter *w = t->waiter;
            if (!w || atomic_load_explicit(&t->state, memory_order_relaxed) != TASK_SUSPENDED)
                continue;
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
                struct members c = {0};
                group_for_each_member(w->object, collect_member, &c);
                if (c.failed) {
                    free(c.t);
                    g->failed = true;
                }
                f->members = c.t, f->count = c.len;
                continue;
            }
            default:
                continue; /* a sleep, I/O, an event...: the chain ends in that object */
            }
            child =
                add_node(g, next, i, TR_GRAPH_AWAITS, via, w->kind == WAIT_LOCK ? w->object : next);
        }
        if (child != SIZE_MAX && followed(g, child))
            walk_push(g, &k, child); /* may move k.f: f is not used after this */
    }
    walk_end(g, &k);
}

/* Who waits for node i's task: every waiter in its `done` queue, and up from each. */
static void up(tr_graph *g, size_t root) {
    struct walk k = {0};
    if (!walk_push(g, &k, root))
        return;
    while (k.top && !g->failed) {
        struct frame *f = &k.f[k.top - 1];
        size_t i = f->node;
        tr_task *t = g->nodes[i].task;
        if (!f->started) {
            f->started = true;
            f->cursor = t->done.head;
        }
        const struct waiter *w = f->cursor;
        if (!w) {
            walk_pop(g, &k);
            continue;
        }
        f->cursor = w->next;
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
        size_t c = add_node(g, a, i, TR_GRAPH_AWAITED_BY, via, object);
        if (c != SIZE_MAX && followed(g, c))
            walk_push(g, &k, c); /* may move k.f: f is not used after this */
    }
    walk_end(g, &k);
}

static void graph_release(tr_graph *g) {
    for (size_t i = 0; i < g->len; i++)
        tr_task_release(g->nodes[i].task);
    free(g->nodes);
    free(g->open);
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
    g->pin = pin;
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
