/*
 * ps_escapes_names: task names are data, not terminal input. A name with a newline does not
 * forge a row, ESC, DEL and C1 controls never reach the terminal, bytes that are not UTF-8
 * are shown as \xNN (the escapes of tr_task_repr), well-formed UTF-8 as it is; --json is
 * valid JSON (well-formed UTF-8, controls as \u00XX) holding the same names; --tree escapes
 * as the listing does.
 */
#include "ps_json.h"
#include "ps_test.h"

/* Every byte of s is printable ASCII, a newline, or part of well-formed UTF-8 that is not a
 * C1 control. */
static bool terminal_safe(const char *s, char *why, size_t len) {
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        size_t n = *p >= 0x80 ? pj_utf8(p) : 1;
        if ((*p < 0x20 && *p != '\n') || *p == 0x7f || !n ||
            (n == 2 && *p == 0xc2 && p[1] < 0xa0)) {
            snprintf(why, len, "byte 0x%02x at %zu: %.60s", *p,
                     (size_t)(p - (const unsigned char *)s), (const char *)p);
            return false;
        }
        p += n;
    }
    return true;
}

static size_t lines(const char *s) {
    size_t n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

int main(void) {
    struct child c;
    ps_start(&c, (char *const[]){PS_TARGET, "names", NULL});
    char *out, *err, why[160], row[1024];
    int st = ps_run(&out, &err, ps_pid(&c));
    CHECK(st == 0, "exit status %d: %s", st, err);
    CHECK(terminal_safe(out, why, sizeof why), "listing: %s", why);
    CHECK(strstr(out, "\n7 tasks\n"), "footer: %s", out);
    CHECK(lines(out) == 1 + 7 + 1, "%zu lines for 7 tasks: %s", lines(out), out);
    CHECK(ps_row(out, "evil\\n12345", row, sizeof row) && strstr(row, "\\x1b[31mRED"), "%s", out);
    CHECK(ps_row(out, "bad-utf8-\\xff\\xfe-end", row, sizeof row), "%s", out);
    CHECK(ps_row(out, "c1-\\xc2\\x9b-csi", row, sizeof row), "%s", out);
    CHECK(strstr(out, "back\\\\slash-tab\\t-cr\\r-del\\x7f "), "%s", out);
    CHECK(ps_row(out, "utf8-\xc3\xbc-\xe2\x82\xac-ok", row, sizeof row), "%s", out);
    CHECK(ps_row(out, "cut-\\xe2\\x82", row, sizeof row), "%s", out);

    st = ps_run(&out, &err, "--tree", ps_pid(&c));
    CHECK(st == 0, "--tree: exit status %d: %s", st, err);
    CHECK(terminal_safe(out, why, sizeof why), "--tree: %s", why);
    CHECK(lines(out) == 7 + 1, "--tree: %zu lines for 7 tasks: %s", lines(out), out);
    CHECK(strstr(out, "\nevil\\n12345"), "--tree: %s", out);

    st = ps_run(&out, &err, "--json", ps_pid(&c));
    CHECK(st == 0, "--json: exit status %d: %s", st, err);
    CHECK(ps_json_valid(out), "--json: not valid JSON: %s", out);
    CHECK(terminal_safe(out, why, sizeof why), "--json: %s", why);
    CHECK(strstr(out, "\"name\":\"evil\\u000a12345"), "%s", out);
    CHECK(strstr(out, "\\u001b[31mRED\""), "%s", out);
    CHECK(strstr(out, "\"name\":\"bad-utf8-\\\\xff\\\\xfe-end\""), "%s", out);
    CHECK(strstr(out, "\"name\":\"c1-\\u009b-csi\""), "%s", out);
    CHECK(strstr(out, "\"name\":\"back\\\\slash-tab\\u0009-cr\\u000d-del\\u007f\""), "%s", out);
    CHECK(strstr(out, "\"name\":\"utf8-\xc3\xbc-\xe2\x82\xac-ok\""), "%s", out);
    CHECK(strstr(out, "\"name\":\"cut-\\\\xe2\\\\x82\""), "%s", out);
    ps_stop(&c);
    printf("ps_escapes_names: OK\n");
    return 0;
}
