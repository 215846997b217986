/* Deadline scopes: tr_deadline_begin / tr_deadline_end / tr_deadline_expired, and -ETIME from
 * tr_sleep, tr_await and the I/O calls inside a scope. */
#include <poll.h>

#include "test_util.h"

static void test_outside_task(void **state) {
    (void)state;
    tr_deadline d;
    assert_int_equal(tr_deadline_begin(&d, 1 * MS), -EPERM);
    assert_int_equal(tr_deadline_begin(NULL, 1 * MS), -EINVAL);
    tr_deadline_end(NULL); /* nothing */
    assert_false(tr_deadline_expired(NULL));
    tr_deadline zero;
    memset(&zero, 0, sizeof zero);
    assert_false(tr_deadline_expired(&zero)); /* never begun */
}

static void *sleep_main(void *arg) {
    (void)arg;
    tr_deadline d;
    assert_int_equal(tr_deadline_begin(NULL, 1), -EINVAL);

    /* The scope ends a long sleep with -ETIME, no earlier than its deadline. */
    uint64_t t0 = now_ns();
    assert_int_equal(tr_deadline_begin(&d, 10 * MS), 0);
    assert_false(tr_deadline_expired(&d));
    assert_int_equal(tr_sleep(10000 * MS), -ETIME);
    uint64_t took = now_ns() - t0;
    assert_true(took >= 10 * MS);
    assert_true(took < 5000 * MS);
    assert_true(tr_deadline_expired(&d));
    /* Once expired, every sleep in the scope returns -ETIME at once... */
    assert_int_equal(tr_sleep(1 * MS), -ETIME);
    /* ...but tr_yield and tr_sleep(0) are not affected. */
    assert_int_equal(tr_yield(), 0);
    assert_int_equal(tr_sleep(0), 0);
    tr_deadline_end(&d);
    assert_true(tr_deadline_expired(&d)); /* still reports the time */
    /* Outside the scope, sleeping works again; the task was not cancelled. */
    assert_int_equal(tr_sleep(1 * MS), 0);
    assert_false(tr_task_cancelled(tr_current()));

    /* A sleep that ends before the deadline returns 0. */
    assert_int_equal(tr_deadline_begin(&d, 5000 * MS), 0);
    assert_int_equal(tr_sleep(1 * MS), 0);
    assert_false(tr_deadline_expired(&d));
    tr_deadline_end(&d);

    /* A timeout of 0 has expired already. */
    assert_int_equal(tr_deadline_begin(&d, 0), 0);
    assert_true(tr_deadline_expired(&d));
    t0 = now_ns();
    assert_int_equal(tr_sleep(1000 * MS), -ETIME);
    assert_true(now_ns() - t0 < 500 * MS);
    tr_deadline_end(&d);
    return NULL;
}

static void test_sleep(void **state) {
    (void)state;
    run_ok(sleep_main, NULL);
}

/* ---- nesting ---- */

static void *nest_main(void *arg) {
    (void)arg;
    tr_deadline outer, inner;
    /* An inner scope never extends the outer one. */
    uint64_t t0 = now_ns();
    assert_int_equal(tr_deadline_begin(&outer, 20 * MS), 0);
    assert_int_equal(tr_deadline_begin(&inner, 10000 * MS), 0);
    assert_int_equal(tr_sleep(10000 * MS), -ETIME);
    uint64_t took = now_ns() - t0;
    assert_true(took >= 20 * MS && took < 5000 * MS);
    tr_deadline_end(&inner);
    tr_deadline_end(&outer);

    /* An earlier inner deadline applies inside it only. */
    assert_int_equal(tr_deadline_begin(&outer, 10000 * MS), 0);
    assert_int_equal(tr_deadline_begin(&inner, 5 * MS), 0);
    assert_int_equal(tr_sleep(10000 * MS), -ETIME);
    assert_true(tr_deadline_expired(&inner));
    tr_deadline_end(&inner);
    assert_false(tr_deadline_expired(&outer));
    assert_int_equal(tr_sleep(1 * MS), 0);
    tr_deadline_end(&outer);
    return NULL;
}

static void test_nesting(void **state) {
    (void)state;
    run_ok(nest_main, NULL);
}

/* ---- await and I/O ---- */

static void *slow(void *arg) {
    (void)arg;
    if (tr_sleep(50 * MS) != 0)
        return NULL;
    return (void *)7;
}

static void *await_main(void *arg) {
    (void)arg;
    tr_task *t = tr_spawn(slow, NULL);
    tr_deadline d;
    assert_int_equal(tr_deadline_begin(&d, 5 * MS), 0);
    void *r = (void *)1;
    assert_int_equal(tr_await(t, &r), -ETIME);
    assert_ptr_equal(r, (void *)1);
    /* t is not affected: it keeps running and finishes normally. */
    assert_false(tr_task_done(t));
    tr_deadline_end(&d);
    assert_int_equal(tr_await(t, &r), 0);
    assert_ptr_equal(r, (void *)7);
    /* Awaiting a done task inside an expired scope gives its outcome. */
    assert_int_equal(tr_deadline_begin(&d, 0), 0);
    assert_int_equal(tr_await(t, &r), 0);
    assert_ptr_equal(r, (void *)7);
    tr_deadline_end(&d);
    tr_task_release(t);

    /* I/O: a read of an empty pipe ends with -ETIME; it consumed nothing. */
    int p[2];
    assert_int_equal(pipe(p), 0);
    char buf[8];
    uint64_t t0 = now_ns();
    assert_int_equal(tr_deadline_begin(&d, 10 * MS), 0);
    assert_int_equal(tr_read(p[0], buf, sizeof buf, -1), -ETIME);
    assert_true(now_ns() - t0 >= 10 * MS);
    assert_int_equal(tr_poll(p[0], POLLIN), -ETIME); /* at once: expired */
    tr_deadline_end(&d);
    assert_int_equal(write(p[1], "abc", 3), 3);
    assert_int_equal(tr_read(p[0], buf, sizeof buf, -1), 3);
    /* An operation that completes before the deadline returns its result. */
    assert_int_equal(tr_deadline_begin(&d, 5000 * MS), 0);
    assert_int_equal(tr_nop(), 0);
    assert_int_equal(write(p[1], "z", 1), 1);
    assert_int_equal(tr_read(p[0], buf, sizeof buf, -1), 1);
    tr_deadline_end(&d);
    close(p[0]);
    close(p[1]);
    assert_false(tr_task_cancelled(tr_current()));
    return NULL;
}

static void test_await_and_io(void **state) {
    (void)state;
    run_ok(await_main, NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_outside_task),
        cmocka_unit_test(test_sleep),
        cmocka_unit_test(test_nesting),
        cmocka_unit_test(test_await_and_io),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
