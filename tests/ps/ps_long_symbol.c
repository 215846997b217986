/*
 * ps_long_symbol: a task whose function's symbol has 5,012 characters (longer than a row of
 * the listing: the reader once wrote past its line buffer) is listed with the symbol cut to
 * what the row holds, and the reader exits 0; --tree and --json show it too (--json whole).
 * The asan stage runs this test: an overflow is an ASan error there.
 */
#include "ps_test.h"

int main(void) {
    struct child c;
    ps_start(&c, (char *const[]){PS_TARGET, "longsym", NULL});
    char *out, *err, row[8192];
    int st = ps_run(&out, &err, ps_pid(&c));
    CHECK(st == 0, "exit status %d: %s", st, err);
    CHECK(ps_row(out, "long-symbol", row, sizeof row), "no row for long-symbol: %.300s", out);
    CHECK(strstr(row, "long_symbol_fffff"), "the row shows no symbol: %.300s", row);
    CHECK(strlen(row) < 4096, "a row of %zu bytes", strlen(row));
    CHECK(strstr(out, "\n2 tasks\n"), "no footer: %.300s", out + strlen(out) / 2);
    st = ps_run(&out, &err, "--tree", ps_pid(&c));
    CHECK(st == 0, "--tree: exit status %d: %s", st, err);
    CHECK(strstr(out, "long-symbol (id 2, waiting, long_symbol_fffff"), "--tree: %.300s", out);
    st = ps_run(&out, &err, "--json", ps_pid(&c));
    CHECK(st == 0, "--json: exit status %d: %s", st, err);
    char want[5100] = "\"function\":\"long_symbol_";
    memset(want + strlen(want), 'f', 5000);
    strcat(want, "\"");
    CHECK(strstr(out, want), "--json does not show the whole symbol");
    ps_stop(&c);
    printf("ps_long_symbol: OK\n");
    return 0;
}
