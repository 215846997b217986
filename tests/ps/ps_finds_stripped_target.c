/*
 * ps_finds_stripped_target: a stripped program (no .symtab: no taskring_debug symbol to look
 * up) is still read, through the descriptor's ELF note (.note.taskring, which strip keeps);
 * its functions then show as addresses. Skips (77) when strip is not installed.
 */
#include "ps_test.h"

int main(void) {
    char dir[] = "/tmp/ps_strip.XXXXXX";
    CHECK(mkdtemp(dir), "mkdtemp");
    char copy[256], cmd[1024];
    snprintf(copy, sizeof copy, "%s/ps_target", dir);
    snprintf(cmd, sizeof cmd, "strip -o '%s' '%s' 2>/dev/null", copy, PS_TARGET);
    if (system(cmd) != 0) {
        printf("ps_finds_stripped_target: skipped: strip is not installed\n");
        return 77;
    }
    snprintf(cmd, sizeof cmd, "readelf -S '%s' 2>/dev/null | grep -q '\\.symtab'", copy);
    CHECK(system(cmd) != 0, "the stripped copy still has .symtab");
    struct child c;
    ps_start(&c, (char *const[]){copy, "busy", NULL});
    char *out, *err, row[1024];
    int st = ps_run(&out, &err, ps_pid(&c));
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    (void)!system(cmd);
    CHECK(st == 0, "exit status %d: %s", st, err);
    CHECK(ps_row(out, "spinner-1", row, sizeof row), "no spinner-1 row:\n%s", out);
    CHECK(strstr(row, " running ") && strstr(row, " 0x"), "spinner-1: %s", row);
    CHECK(strstr(out, "\n4 tasks\n"), "footer:\n%s", out);
    ps_stop(&c);
    printf("ps_finds_stripped_target: OK\n");
    return 0;
}
