/* tr_task_repr: format, snprintf-like length and truncation, errors, states, symbols.
 * Linked with -rdynamic (ENABLE_EXPORTS) so that exported task functions are named. */
#include <pthread.h>

#include "test_util.h"

/* Exported (external linkage): shown by name. */
void *repr_main(void *arg);
void *exported_task(void *arg);

void *exported_task(void *arg) {
    (void)arg;
    tr_sleep(10000 * MS);
    return NULL;
}

/* Not exported (static): shown by address, never by the name of a neighbouring symbol. */
static void *hidden_task(void *arg) {
    (void)arg;
    return arg;
}

static void expect_repr(const tr_task *t, const char *want) {
    char buf[512];
    int n = tr_task_repr(t, buf, sizeof buf);
    assert_int_equal(n, (int)strlen(want));
    assert_string_equal(buf, want);
}

static void *repr_thread(void *arg) {
    static char buf[512];
    if (tr_task_repr(arg, buf, sizeof buf) < 0)
        return NULL;
    return buf;
}

void *repr_main(void *arg) {
    (void)arg;
    char want[256], buf[512];
    tr_task *self = tr_current();

    /* The main task, running: the header's example format. */
    snprintf(want, sizeof want, "<Task pending name='%s' fn=repr_main>", tr_task_name(self));
    expect_repr(self, want);

    /* Scheduled, not started. */
    tr_task *e = tr_spawn(exported_task, NULL);
    snprintf(want, sizeof want, "<Task pending name='%s' fn=exported_task>", tr_task_name(e));
    expect_repr(e, want);
    /* Suspended. */
    assert_int_equal(tr_yield(), 0);
    expect_repr(e, want);

    /* From another thread. */
    pthread_t th;
    void *out;
    assert_int_equal(pthread_create(&th, NULL, repr_thread, e), 0);
    assert_int_equal(pthread_join(th, &out), 0);
    assert_non_null(out);
    assert_string_equal(out, want);

    /* Renamed. */
    assert_int_equal(tr_task_set_name(e, "worker"), 0);
    expect_repr(e, "<Task pending name='worker' fn=exported_task>");

    /* snprintf-like length and truncation. */
    int full = tr_task_repr(e, NULL, 0);
    assert_int_equal(full, (int)strlen("<Task pending name='worker' fn=exported_task>"));
    memset(buf, 'X', sizeof buf);
    assert_int_equal(tr_task_repr(e, buf, 10), full);
    assert_int_equal(strlen(buf), 9);
    assert_memory_equal(buf, "<Task pen", 9);
    assert_int_equal(buf[10], 'X'); /* nothing written past len */
    memset(buf, 'X', sizeof buf);
    assert_int_equal(tr_task_repr(e, buf, 1), full);
    assert_int_equal(buf[0], '\0');
    assert_int_equal(buf[1], 'X');
    memset(buf, 'X', sizeof buf);
    assert_int_equal(tr_task_repr(e, buf, 0), full);
    assert_int_equal(buf[0], 'X'); /* len 0: nothing written */
    assert_int_equal(tr_task_repr(e, buf, (size_t)full), full);
    assert_int_equal(strlen(buf), (size_t)full - 1);
    assert_int_equal(tr_task_repr(e, buf, (size_t)full + 1), full);
    assert_int_equal(strlen(buf), (size_t)full);

    /* Errors. */
    assert_int_equal(tr_task_repr(NULL, buf, sizeof buf), -EINVAL);
    assert_int_equal(tr_task_repr(NULL, NULL, 0), -EINVAL);
    assert_int_equal(tr_task_repr(e, NULL, 10), -EINVAL);

    /* A function that is not exported: its address. */
    tr_task *h = tr_spawn(hidden_task, NULL);
    assert_true(tr_task_repr(h, buf, sizeof buf) > 0);
    char addr[64];
    snprintf(addr, sizeof addr, "fn=%p>", (void *)(uintptr_t)hidden_task);
    assert_non_null(strstr(buf, "fn=0x"));
    if (strstr(buf, addr) == NULL)
        fail_msg("repr of a static function: '%s', expected it to end with '%s'", buf, addr);

    /* Done: no longer pending. */
    assert_int_equal(tr_await(h, NULL), 0);
    assert_true(tr_task_repr(h, buf, sizeof buf) > 0);
    assert_null(strstr(buf, "pending"));
    assert_true(strncmp(buf, "<Task ", 6) == 0);
    assert_non_null(strstr(buf, "name='"));

    /* Cancelled. */
    assert_int_equal(tr_task_cancel(e), 1);
    assert_int_equal(tr_await(e, NULL), -ECANCELED);
    assert_true(tr_task_repr(e, buf, sizeof buf) > 0);
    assert_null(strstr(buf, "pending"));
    assert_non_null(strstr(buf, "cancel"));
    assert_non_null(strstr(buf, "name='worker'"));
    assert_non_null(strstr(buf, "fn=exported_task"));

    tr_task_release(e);
    tr_task_release(h);
    return NULL;
}

static void test_repr(void **state) {
    (void)state;
    run_ok(repr_main, NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_repr),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
