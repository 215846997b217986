/*
 * repr_escapes: regression test for issue 7, item 6. tr_task_repr printed name='%s' as is, so
 * a quote, backslash or newline in a name made a description ambiguous or two lines long. It
 * now quotes and escapes the name as Python's repr() does a str, passes well-formed UTF-8
 * through, shows malformed bytes as \xNN, and still returns the exact length snprintf would,
 * however small the buffer. Linked with -rdynamic, so the task function shows by name.
 */
#include "test_util.h"

void *escapes_main(void *arg); /* exported: the repr shows "fn=escapes_main" */

struct escape_case {
    const char *name;
    const char *want; /* what follows "name=", quotes included */
};

static const struct escape_case cases[] = {
    {"plain", "'plain'"},
    {"", "''"},
    /* The quote: ' unless the name has ' and no ", then ". */
    {"it's", "\"it's\""},
    {"say \"hi\"", "'say \"hi\"'"},
    {"a'b\"c", "'a\\'b\"c'"},
    {"\\'", "\"\\\\'\""},
    /* Backslash, and the escapes Python has letters for. */
    {"a\\b", "'a\\\\b'"},
    {"x\ny", "'x\\ny'"},
    {"\r", "'\\r'"},
    {"\t", "'\\t'"},
    {"it's\n", "\"it's\\n\""},
    /* Other control bytes and DEL, in lower-case hex as Python prints them. */
    {"\x01\x1f\x7f\x1b[31m", "'\\x01\\x1f\\x7f\\x1b[31m'"},
    /* A name spelling an escape is not the byte it spells. */
    {"\\xff", "'\\\\xff'"},
    {"\xff", "'\\xff'"},
    /* Well-formed UTF-8 passes through: 2, 3 and 4 bytes, and the last code point. */
    {"h\xc3\xa9llo", "'h\xc3\xa9llo'"},
    {"\xe6\x97\xa5\xe6\x9c\xac", "'\xe6\x97\xa5\xe6\x9c\xac'"},
    {"\xf0\x9f\x98\x80", "'\xf0\x9f\x98\x80'"},
    {"\xf4\x8f\xbf\xbf", "'\xf4\x8f\xbf\xbf'"},
    /* Malformed UTF-8: every byte of it escaped, whatever follows decoded afresh. */
    {"\x80", "'\\x80'"},
    {"\xc3", "'\\xc3'"},
    {"\xc3\xa9\xa9", "'\xc3\xa9\\xa9'"},
    {"a\xe6\x97", "'a\\xe6\\x97'"},
    {"\xe6\x97\x41", "'\\xe6\\x97A'"}, /* \x41: 'A' */
    {"\xf0\x9f\x98", "'\\xf0\\x9f\\x98'"},
    {"\xc0\xaf", "'\\xc0\\xaf'"},                   /* overlong '/' */
    {"\xe0\x80\xaf", "'\\xe0\\x80\\xaf'"},          /* overlong, 3 bytes */
    {"\xed\xa0\x80", "'\\xed\\xa0\\x80'"},          /* a surrogate */
    {"\xf4\x90\x80\x80", "'\\xf4\\x90\\x80\\x80'"}, /* above U+10FFFF */
    {"\xf5\x80\x80\x80", "'\\xf5\\x80\\x80\\x80'"},
};

static void want_repr(char *out, size_t len, const char *quoted_name) {
    snprintf(out, len, "<Task pending name=%s fn=escapes_main>", quoted_name);
}

/* tr_task_repr into buffers of every size from 0 to past the end: the same exact return,
 * a prefix of the full text (escapes cut wherever the buffer ends), NUL-terminated, and
 * nothing written at or past buf[len]. */
static void check_every_length(const tr_task *t, const char *want) {
    size_t full = strlen(want);
    char buf[512];
    assert_true(full + 2 < sizeof buf);
    for (size_t len = 0; len <= full + 2; len++) {
        memset(buf, 'X', sizeof buf);
        int n = tr_task_repr(t, len ? buf : NULL, len);
        if (n != (int)full)
            fail_msg("len %zu: returned %d, the full text is %zu: %s", len, n, full, want);
        if (len == 0)
            continue;
        size_t k = full < len - 1 ? full : len - 1;
        assert_memory_equal(buf, want, k);
        assert_int_equal(buf[k], '\0');
        for (size_t i = k + 1; i < sizeof buf; i++)
            if (buf[i] != 'X')
                fail_msg("len %zu: byte %zu written (past the NUL at %zu)", len, i, k);
    }
    /* buf may also be non-NULL with len 0: nothing written. */
    memset(buf, 'X', sizeof buf);
    assert_int_equal(tr_task_repr(t, buf, 0), (int)full);
    assert_int_equal(buf[0], 'X');
}

void *escapes_main(void *arg) {
    (void)arg;
    tr_task *self = tr_current();
    char want[256], got[512];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_int_equal(tr_task_set_name(self, cases[i].name), 0);
        want_repr(want, sizeof want, cases[i].want);
        int n = tr_task_repr(self, got, sizeof got);
        if (n != (int)strlen(want) || strcmp(got, want) != 0)
            fail_msg("case %zu: repr %s (%d), expected %s (%zu)", i, got, n, want, strlen(want));
        /* One repr, one line. */
        assert_null(strchr(got, '\n'));
        assert_null(strchr(got, '\r'));
        check_every_length(self, want);
    }

    /* A long name of escapes: the return counts every escape beyond the buffer. */
    char name[1001];
    memset(name, '\x01', sizeof name - 1);
    name[sizeof name - 1] = '\0';
    assert_int_equal(tr_task_set_name(self, name), 0);
    size_t head = strlen("<Task pending name='"), tail = strlen("' fn=escapes_main>");
    size_t full = head + 4 * (sizeof name - 1) + tail;
    assert_int_equal(tr_task_repr(self, NULL, 0), (int)full);
    assert_int_equal(tr_task_repr(self, got, sizeof got), (int)full);
    assert_int_equal(strlen(got), sizeof got - 1);
    assert_memory_equal(got + head, "\\x01\\x01", 8);
    char *big = malloc(full + 1);
    assert_non_null(big);
    assert_int_equal(tr_task_repr(self, big, full + 1), (int)full);
    assert_int_equal(strlen(big), full);
    assert_string_equal(big + full - tail, "' fn=escapes_main>");
    free(big);
    return NULL;
}

static void test_repr_escapes(void **state) {
    (void)state;
    run_ok(escapes_main, NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_repr_escapes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
