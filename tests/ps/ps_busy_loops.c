/*
 * ps_busy_loops: taskring-ps needs nothing from the target but its memory: with both loops of
 * the child stuck in tasks that spin and never yield, the listing still shows each spinner
 * running on its loop and the sleepers beside them waiting, and --count works.
 */
#include "ps_test.h"

int main(void) {
    struct child c;
    ps_start(&c, (char *const[]){PS_TARGET, "busy", NULL});
    char *out, *err, row[1024];
    int st = ps_run(&out, &err, ps_pid(&c));
    CHECK(st == 0, "exit status %d: %s", st, err);
    struct {
        const char *name, *state, *loop, *fn;
    } want[] = {{"spinner-0", "running", "0", "busy_main"},
                {"spinner-1", "running", "1", "busy_loop1"},
                {"sleeper-0", "waiting", "0", "sleeper"},
                {"sleeper-1", "waiting", "1", "sleeper"}};
    for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
        CHECK(ps_row(out, want[i].name, row, sizeof row), "no row for %s:\n%s", want[i].name, out);
        char id[32], name[64], state[16], loop[8], age[16], ran[16], fn[64];
        CHECK(sscanf(row, "%31s %63s %15s %7s %15s %15s %63s", id, name, state, loop, age, ran,
                     fn) == 7,
              "row: %s", row);
        CHECK(!strcmp(state, want[i].state) && !strcmp(loop, want[i].loop) &&
                  !strcmp(fn, want[i].fn),
              "%s: %s", want[i].name, row);
    }
    CHECK(strstr(out, "\n4 tasks\n"), "footer:\n%s", out);
    st = ps_run(&out, &err, "--count", ps_pid(&c));
    CHECK(st == 0 && !strcmp(out, "4 tasks: running 2, waiting 2; loop 0: 2, loop 1: 2\n"),
          "--count: %d '%s'", st, out);
    ps_stop(&c);
    printf("ps_busy_loops: OK\n");
    return 0;
}
