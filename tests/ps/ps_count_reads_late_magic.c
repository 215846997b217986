/*
 * ps_count_reads_late_magic: --count reads each record only up to the fields it decodes; the
 * record's magic is one of them, wherever the descriptor puts it. A descriptor whose magic is
 * the record's last field (ps_hostile_layout latemagic) once made --count test bytes it had
 * not read (past the request in its scratch buffer: the task was not counted, and at the end
 * of the buffer the read could leave it).
 */
#include "ps_test.h"

int main(void) {
    struct child c;
    char *out, *err;
    ps_start(&c, (char *const[]){PS_HOSTILE_LAYOUT, "latemagic", NULL});
    int st = ps_run(&out, &err, "--count", ps_pid(&c));
    CHECK(st == 0, "--count: status %d: %s", st, err);
    CHECK(!strcmp(out, "1 tasks: waiting 1; loop 0: 1\n"), "--count said '%s'", out);
    st = ps_run(&out, &err, "--floor", ps_pid(&c));
    CHECK(st == 0 && !strcmp(out, "1 records read\n"), "--floor: %d '%s'", st, out);
    st = ps_run(&out, &err, ps_pid(&c));
    CHECK(st == 0 && strstr(out, "\n1 tasks\n"), "listing: %d '%s'", st, out);
    ps_stop(&c);
    printf("ps_count_reads_late_magic: OK\n");
    return 0;
}
