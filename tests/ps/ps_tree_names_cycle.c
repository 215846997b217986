/*
 * ps_tree_names_cycle: --tree prints the awaited-by forest (tree-a and tree-b under
 * tree-root, tree-a1 under tree-a; a lock's waiter under its holder) and names the await
 * cycle cycle-x -> cycle-y -> cycle-x (cycle-x awaits cycle-y, which waits for a lock cycle-x
 * holds; a sleeping task keeps the runtime's deadlock detector from breaking it).
 */
#include "ps_test.h"

static const char *line_after(const char *text, const char *prefix) {
    for (const char *p = text; p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
        if (!strncmp(p, prefix, strlen(prefix)))
            return p;
    return NULL;
}

int main(void) {
    struct child c;
    ps_start(&c, (char *const[]){PS_TARGET, "states", "2000", NULL});
    char *out, *err;
    int st = ps_run(&out, &err, "--tree", ps_pid(&c));
    CHECK(st == 0, "exit status %d: %s", st, err);
    const char *root = line_after(out, "tree-root (id ");
    CHECK(root, "no tree-root line:\n%s", out);
    unsigned long id_root = strtoul(root + strlen("tree-root (id "), NULL, 10);
    const char *a = strchr(root, '\n') + 1;
    CHECK(!strncmp(a, "├── tree-a (id ", strlen("├── tree-a (id ")), "after tree-root: %.60s", a);
    const char *a1 = strchr(a, '\n') + 1;
    CHECK(!strncmp(a1, "│   └── tree-a1 (id ", strlen("│   └── tree-a1 (id ")),
          "after tree-a: %.60s", a1);
    const char *b = strchr(a1, '\n') + 1;
    CHECK(!strncmp(b, "└── tree-b (id ", strlen("└── tree-b (id ")), "after tree-a1: %.60s", b);
    CHECK(strstr(root, "waits: sleep in "), "tree-root: %.80s", root);
    (void)id_root;

    const char *holder = line_after(out, "lock-holder (id ");
    CHECK(holder, "no lock-holder root");
    const char *w = strchr(holder, '\n') + 1;
    CHECK(!strncmp(w, "└── lock-waiter (id ", strlen("└── lock-waiter (id ")) &&
              strstr(w, "via lock 0x"),
          "under lock-holder: %.80s", w);

    const char *cyc = line_after(out, "await cycle 1: ");
    CHECK(cyc, "no await cycle named:\n%s", out);
    unsigned long x, y, x2;
    CHECK(sscanf(cyc, "await cycle 1: cycle-x (id %lu) -> cycle-y (id %lu) -> cycle-x (id %lu)", &x,
                 &y, &x2) == 3 &&
              x == x2 && x != y,
          "cycle line: %.120s", cyc);
    CHECK(!line_after(out, "await cycle 2: "), "a second cycle");
    CHECK(strstr(out, "\n2000 tasks, 1 await cycle\n"), "footer");
    /* cycle members are not roots */
    CHECK(!line_after(out, "cycle-x (id "), "cycle-x printed as a root");
    ps_stop(&c);
    printf("ps_tree_names_cycle: OK\n");
    return 0;
}
