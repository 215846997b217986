/*
 * ps_rejects_bad_layout: a descriptor of the right version whose offsets, sizes or counts make
 * no sense (ps_hostile_layout: a field outside its struct, an offset that wraps, a field 3
 * bytes wide, 4 billion chunks, a lock offset near 4 GiB, a loop id of 100 bytes) gets the
 * layout status (6) and a message saying what is wrong, never a crash or an unbounded
 * allocation; the same descriptor made consistent is read (status 0, its one task listed).
 */
#include "ps_test.h"

int main(void) {
    static const char *const modes[] = {"waiter", "wrap", "size", "chunks", "lock", "loop"};
    struct child c;
    char *out, *err;
    ps_start(&c, (char *const[]){PS_HOSTILE_LAYOUT, "ok", NULL});
    int st = ps_run(&out, &err, ps_pid(&c));
    CHECK(st == 0, "the consistent descriptor: status %d: %s", st, err);
    CHECK(strstr(out, "\n1 tasks\n") && strstr(out, "Task-1"), "listing: %s", out);
    ps_stop(&c);
    for (size_t i = 0; i < sizeof modes / sizeof *modes; i++) {
        ps_start(&c, (char *const[]){PS_HOSTILE_LAYOUT, (char *)modes[i], NULL});
        const char *opts[] = {"--json", "--count", "--tree"};
        st = ps_run(&out, &err, opts[i % 3], ps_pid(&c));
        CHECK(st == 6, "mode %s: status %d, expected 6: %s", modes[i], st, err);
        CHECK(strstr(err, "makes no sense"), "mode %s: message: %s", modes[i], err);
        ps_stop(&c);
        printf("%s: %s", modes[i], err);
    }
    printf("ps_rejects_bad_layout: OK\n");
    return 0;
}
