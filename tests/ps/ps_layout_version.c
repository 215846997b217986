/*
 * ps_layout_version: a process whose descriptor has another layout version (ps_fake_layout:
 * it exports taskring_debug with version 999) gets the layout exit status (6) and a message
 * naming both versions.
 */
#include "ps_test.h"

int main(void) {
    struct child c;
    ps_start(&c, (char *const[]){PS_FAKE_LAYOUT, NULL});
    char *out, *err;
    int st = ps_run(&out, &err, ps_pid(&c));
    CHECK(st == 6, "status %d, expected 6: %s", st, err);
    CHECK(strstr(err, "layout version 999"), "message: %s", err);
    ps_stop(&c);
    printf("ps_layout_version: OK (%s)", err);
    return 0;
}
