/*
 * tr_await_graph, asyncio.capture_call_graph's counterpart: whom a task waits for (a chain
 * through an await, a lock's holder, a group's members) and who waits for it (awaiters,
 * gathers, a group's waiter), through which call and object. Cases: a chain, a fan-in of
 * three awaiters plus a gather, a cycle closed by a lock (tr_await refuses to close one by
 * itself), a task reached by two paths (marked seen once), a group both ways, a task of another
 * loop (the call is carried to its loop; what is on the caller's loop is listed as remote), the
 * printed tree, and bad input.
 */
#include "regress.h"

#include <stdatomic.h>

#define LONG_NS (60ull * 1000 * 1000 * 1000)

static tr_lock *lock_c, *lock_p;
static tr_task *b_task, *q_task;

static void *sleeper(void *arg) {
    (void)arg;
    tr_sleep(LONG_NS);
    return NULL;
}

static void *awaiter(void *arg) {
    tr_await(arg, NULL);
    return NULL;
}

static void *gatherer(void *arg) {
    tr_task **two = arg;
    tr_gather(two, 2, NULL, NULL);
    return NULL;
}

static void *holds_c(void *arg) { /* C: holds lock_c and sleeps */
    (void)arg;
    CHECK_EQ(tr_lock_acquire(lock_c), 0);
    tr_sleep(LONG_NS);
    tr_lock_release(lock_c);
    return NULL;
}

static void *wants_c(void *arg) { /* B: waits for lock_c */
    (void)arg;
    if (tr_lock_acquire(lock_c) == 0)
        tr_lock_release(lock_c);
    return NULL;
}

static void *p_fn(void *arg) { /* P: holds lock_p, awaits Q */
    (void)arg;
    CHECK_EQ(tr_lock_acquire(lock_p), 0);
    tr_await(q_task, NULL);
    tr_lock_release(lock_p);
    return NULL;
}

static void *q_fn(void *arg) { /* Q: waits for lock_p */
    (void)arg;
    if (tr_lock_acquire(lock_p) == 0)
        tr_lock_release(lock_p);
    return NULL;
}

static void *group_waiter(void *arg) {
    tr_task **member = arg;
    tr_group *g = tr_group_new();
    CHECK(g != NULL);
    *member = tr_group_spawn_named(g, sleeper, NULL, "member");
    CHECK(*member != NULL);
    tr_group_wait(g);
    tr_group_free(g);
    return NULL;
}

static void *graph_on_worker(void *arg) {
    tr_graph *g = tr_await_graph(arg);
    return (void *)(intptr_t)(g ? 0 : errno);
}

static const tr_graph_node *node(tr_graph *g, size_t i) {
    const tr_graph_node *n = tr_graph_get(g, i);
    CHECK(n != NULL);
    return n;
}

/* The node of task t under parent p (exactly one). */
static const tr_graph_node *find(tr_graph *g, tr_task *t, size_t parent) {
    const tr_graph_node *found = NULL;
    for (size_t i = 0; i < tr_graph_size(g); i++) {
        const tr_graph_node *n = node(g, i);
        if (n->task == t && n->parent == parent) {
            CHECK(found == NULL);
            found = n;
        }
    }
    if (!found) {
        fprintf(stderr, "no node for %s under %zu\n", tr_task_name(t), parent);
        tr_await_graph_print(g ? node(g, 0)->task : t, stderr);
        exit(1);
    }
    return found;
}

static size_t index_of(tr_graph *g, const tr_graph_node *n) {
    return (size_t)(n - node(g, 0));
}

static void settle(void) {
    tr_sleep(20 * 1000 * 1000);
}

static void *main_task(void *arg) {
    (void)arg;
    lock_c = tr_lock_new();
    lock_p = tr_lock_new();
    CHECK(lock_c && lock_p);

    /* ---- chain: A awaits B, B wants lock_c held by C, C sleeps ---- */
    tr_task *c = tr_spawn_named(holds_c, NULL, "C");
    settle();
    b_task = tr_spawn_named(wants_c, NULL, "B");
    tr_task *a = tr_spawn_named(awaiter, b_task, "A");
    /* ---- fan-in on A: three awaiters and a gather of A and a sleeper ---- */
    tr_task *d[3];
    for (int i = 0; i < 3; i++)
        d[i] = tr_spawn_named(awaiter, a, "D");
    tr_task *x = tr_spawn_named(sleeper, NULL, "X");
    tr_task *two[2] = {a, x};
    tr_task *e = tr_spawn_named(gatherer, two, "E");
    settle();

    tr_graph *g = tr_await_graph(a);
    CHECK(g != NULL);
    const tr_graph_node *root = node(g, 0);
    CHECK(root->task == a && root->dir == TR_GRAPH_ROOT && root->parent == SIZE_MAX);
    CHECK(root->waits_on && strcmp(root->waits_on, "await") == 0 && root->wait_object == b_task);
    const tr_graph_node *nb = find(g, b_task, 0);
    CHECK(nb->dir == TR_GRAPH_AWAITS && nb->via == TR_VIA_AWAIT && nb->object == b_task);
    CHECK(nb->depth == 1 && strcmp(nb->waits_on, "lock") == 0 && nb->wait_object == lock_c);
    const tr_graph_node *nc = find(g, c, index_of(g, nb));
    CHECK(nc->dir == TR_GRAPH_AWAITS && nc->via == TR_VIA_LOCK && nc->object == lock_c);
    CHECK(nc->depth == 2 && strcmp(nc->waits_on, "sleep") == 0);
    CHECK(!nc->cycle && !nc->remote);
    size_t awaited_by = 0;
    for (size_t i = 1; i < tr_graph_size(g); i++) {
        const tr_graph_node *n = node(g, i);
        if (n->dir != TR_GRAPH_AWAITED_BY)
            continue;
        CHECK(n->parent == 0 && n->depth == 1 && n->object == a);
        if (n->task == e)
            CHECK(n->via == TR_VIA_GATHER);
        else
            CHECK(n->via == TR_VIA_AWAIT &&
                  (n->task == d[0] || n->task == d[1] || n->task == d[2]));
        awaited_by++;
    }
    CHECK_EQ(awaited_by, 4);
    CHECK_EQ(tr_graph_size(g), 1 + 2 + 4);
    CHECK(tr_graph_get(g, tr_graph_size(g)) == NULL && errno == ERANGE);
    tr_graph_free(g);

    /* The printed tree. */
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    CHECK(f != NULL);
    CHECK_EQ(tr_await_graph_print(a, f), 7);
    fclose(f);
    CHECK(strstr(text, "awaits:\n  -> (await ") != NULL);
    CHECK(strstr(text, "    -> (lock ") != NULL);
    CHECK(strstr(text, "name='C'") != NULL);
    CHECK(strstr(text, "awaited by:\n  <- ") != NULL);
    CHECK_EQ(count_substr(text, "  <- (await "), 3);
    CHECK_EQ(count_substr(text, "  <- (gather "), 1);
    printf("%s", text);
    free(text);

    /* ---- a cycle closed by a lock: P holds lock_p and awaits Q, Q wants lock_p ---- */
    tr_task *p = tr_spawn_named(p_fn, NULL, "P");
    q_task = tr_spawn_named(q_fn, NULL, "Q");
    settle();
    g = tr_await_graph(p);
    CHECK(g != NULL);
    const tr_graph_node *nq = find(g, q_task, 0);
    const tr_graph_node *np = find(g, p, index_of(g, nq));
    CHECK(np->via == TR_VIA_LOCK && np->object == lock_p && np->cycle);
    CHECK_EQ(tr_graph_size(g), 3 + 0 /* Q awaits nothing else */ + 0);
    tr_graph_free(g);
    f = open_memstream(&text, &len);
    CHECK(tr_await_graph_print(q_task, f) > 0);
    fclose(f);
    CHECK(strstr(text, "[cycle]") != NULL);
    free(text);

    /* ---- a group, both ways ---- */
    tr_task *member = NULL;
    tr_task *h = tr_spawn_named(group_waiter, &member, "H");
    settle();
    CHECK(member != NULL);
    g = tr_await_graph(h);
    CHECK(g != NULL);
    const tr_graph_node *nm = find(g, member, 0);
    CHECK(nm->dir == TR_GRAPH_AWAITS && nm->via == TR_VIA_GROUP);
    CHECK(strcmp(node(g, 0)->waits_on, "group") == 0 && nm->object == node(g, 0)->wait_object);
    tr_graph_free(g);
    g = tr_await_graph(member);
    CHECK(g != NULL);
    const tr_graph_node *nh = find(g, h, 0);
    CHECK(nh->dir == TR_GRAPH_AWAITED_BY && nh->via == TR_VIA_GROUP);
    tr_graph_free(g);

    /* ---- across loops: R sleeps on loop 1, S (loop 0) awaits it ---- */
    tr_task *r = tr_spawn_on_named(1, sleeper, NULL, "R");
    tr_task *s = tr_spawn_named(awaiter, r, "S");
    settle();
    g = tr_await_graph(r); /* carried to loop 1 and back */
    CHECK(g != NULL);
    const tr_graph_node *ns = find(g, s, 0);
    CHECK(ns->dir == TR_GRAPH_AWAITED_BY && ns->via == TR_VIA_AWAIT && ns->remote);
    tr_graph_free(g);
    g = tr_await_graph(s); /* S waits on loop 1: listed, not followed */
    CHECK(g != NULL);
    CHECK(node(g, 0)->remote && strcmp(node(g, 0)->waits_on, "await") == 0);
    CHECK(node(g, 0)->wait_object == r);
    CHECK_EQ(tr_graph_size(g), 1);
    tr_graph_free(g);

    /* ---- two paths to one task: G gathers B2 and C2 while C2 awaits B2 ---- */
    tr_task *b2 = tr_spawn_named(sleeper, NULL, "B2");
    tr_task *c2 = tr_spawn_named(awaiter, b2, "C2");
    settle();
    tr_task *bc[2] = {b2, c2};
    tr_task *g2 = tr_spawn_named(gatherer, bc, "G");
    settle();
    g = tr_await_graph(b2);
    CHECK(g != NULL);
    size_t g_nodes = 0, g_seen = 0;
    for (size_t i = 0; i < tr_graph_size(g); i++)
        if (node(g, i)->task == g2) {
            g_nodes++;
            g_seen += node(g, i)->seen;
            CHECK(node(g, i)->via == TR_VIA_GATHER && !node(g, i)->cycle);
        }
    CHECK_EQ(g_nodes, 2); /* under B2 and under C2 */
    CHECK_EQ(g_seen, 1);  /* the second one is not followed again */
    tr_graph_free(g);

    /* ---- bad input ---- */
    errno = 0;
    CHECK(tr_await_graph(NULL) == NULL && errno == EINVAL);
    CHECK(tr_graph_get(NULL, 0) == NULL && errno == EINVAL);
    CHECK_EQ(tr_graph_size(NULL), 0);
    tr_graph_free(NULL);
    CHECK_EQ(tr_await_graph_print(NULL, stdout), -EINVAL);
    CHECK_EQ(tr_await_graph_print(a, NULL), -EINVAL);
    void *err = NULL;
    CHECK_EQ(tr_to_thread(graph_on_worker, a, &err), 0);
    CHECK_EQ((intptr_t)err, EPERM); /* a thread that owns no loop */

    tr_task *all[] = {a, b_task, c, d[0], d[1], d[2], x, e, p, q_task, h, r, s, b2, c2, g2};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        tr_task_cancel(all[i]);
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) {
        tr_await(all[i], NULL);
        tr_task_release(all[i]);
    }
    tr_lock_free(lock_c);
    tr_lock_free(lock_p);
    return NULL;
}

int main(void) {
    tr_options opts = {.loops = 2};
    CHECK_EQ(tr_run_with(&opts, main_task, NULL, NULL), 0);
    return 0;
}
