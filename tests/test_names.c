/* Task names: Task-N numbering (relative: numbers are process-wide), tr_task_name,
 * tr_task_set_name. See test_names_fresh.c for the absolute numbers of a fresh process. */
#include <pthread.h>
#include <stdatomic.h>

#include "test_util.h"

static void *noop(void *arg) {
    return arg;
}

static void *sleeper(void *arg) {
    (void)arg;
    tr_sleep(10000 * MS);
    return NULL;
}

static void *numbering_main(void *arg) {
    long *last = arg;
    long me = current_number();
    tr_task *t[5];
    for (int i = 0; i < 5; i++) {
        t[i] = tr_spawn(noop, NULL);
        /* The first task spawned after the main is the main's number + 1, and so on. */
        assert_int_equal(task_number(tr_task_name(t[i])), me + 1 + i);
    }
    for (int i = 0; i < 5; i++) {
        assert_int_equal(tr_await(t[i], NULL), 0);
        /* Still the same name after it finished. */
        assert_int_equal(task_number(tr_task_name(t[i])), me + 1 + i);
        tr_task_release(t[i]);
    }
    *last = me + 5;
    return (void *)me;
}

static void test_numbering_across_runs(void **state) {
    (void)state;
    long last = 0;
    long first_main = (long)run_ok(numbering_main, &last);
    assert_true(first_main > 0);
    long prev_last = last;
    long second_main = (long)run_ok(numbering_main, &last);
    /* The counter is process-wide: it continues across tr_run calls. */
    assert_int_equal(second_main, prev_last + 1);
}

/* Numbers are unique across two loops running at the same time. */
#define PER_LOOP 200
static long loop_numbers[2][PER_LOOP + 1];

static void *collect_main(void *arg) {
    long *out = arg;
    out[0] = current_number();
    for (int i = 0; i < PER_LOOP; i++) {
        tr_task *t = tr_spawn(noop, NULL);
        out[i + 1] = task_number(tr_task_name(t));
        tr_task_release(t);
        if (i % 10 == 0)
            tr_yield();
    }
    return NULL;
}

static void *collect_thread(void *arg) {
    return (void *)(intptr_t)tr_run(collect_main, arg, NULL);
}

static int cmp_long(const void *a, const void *b) {
    long x = *(const long *)a, y = *(const long *)b;
    return (x > y) - (x < y);
}

static void test_numbers_unique_across_loops(void **state) {
    (void)state;
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&th[i], NULL, collect_thread, loop_numbers[i]), 0);
    for (int i = 0; i < 2; i++) {
        void *rc;
        assert_int_equal(pthread_join(th[i], &rc), 0);
        assert_int_equal((int)(intptr_t)rc, 0);
    }
    long all[2 * (PER_LOOP + 1)];
    memcpy(all, loop_numbers, sizeof all);
    size_t n = sizeof all / sizeof all[0];
    for (size_t i = 0; i < n; i++)
        assert_true(all[i] > 0);
    qsort(all, n, sizeof all[0], cmp_long);
    for (size_t i = 1; i < n; i++)
        assert_true(all[i] > all[i - 1]);
    /* Within one loop numbers increase in spawn order. */
    for (int l = 0; l < 2; l++)
        for (int i = 1; i <= PER_LOOP; i++)
            assert_true(loop_numbers[l][i] > loop_numbers[l][i - 1]);
}

/* ---- tr_task_name ---- */

static void *name_main(void *arg) {
    (void)arg;
    errno = 0;
    assert_null(tr_task_name(NULL));
    assert_int_equal(errno, EINVAL);

    tr_task *t = tr_spawn(noop, NULL);
    const char *n1 = tr_task_name(t);
    assert_non_null(n1);
    char copy[64];
    snprintf(copy, sizeof copy, "%s", n1);
    /* Asking again gives the same text, and the earlier pointer is still valid. */
    assert_string_equal(tr_task_name(t), copy);
    assert_string_equal(n1, copy);
    assert_int_equal(tr_await(t, NULL), 0);
    assert_string_equal(n1, copy);
    assert_string_equal(tr_task_name(t), copy);
    tr_task_release(t);
    return NULL;
}

static void test_name(void **state) {
    (void)state;
    run_ok(name_main, NULL);
}

/* Names are correct however late they are first asked for: after the task finished, from a
 * snapshot, from another thread, after the loop ended. */
static atomic_int reader_ok;
static void *name_reader(void *arg) {
    tr_taskset *s = arg;
    int ok = 1;
    for (size_t i = 0; i < tr_taskset_size(s); i++)
        if (task_number(tr_task_name(tr_taskset_get(s, i))) <= 0)
            ok = 0;
    reader_ok = ok;
    return NULL;
}

static void *lazy_main(void *arg) {
    (void)arg;
    long me = current_number();
    tr_task *t[20];
    for (int i = 0; i < 20; i++)
        t[i] = tr_spawn(i % 2 ? sleeper : noop, NULL);
    tr_taskset *s = tr_all_tasks();
    assert_int_equal(tr_taskset_size(s), 21);
    assert_int_equal(tr_yield(), 0);

    /* First look at the names from another thread. */
    reader_ok = 0;
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, name_reader, s), 0);
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_int_equal(reader_ok, 1);

    for (int i = 0; i < 20; i += 2)
        assert_true(tr_task_done(t[i]));
    for (int i = 0; i < 20; i++)
        assert_int_equal(task_number(tr_task_name(t[i])), me + 1 + i);
    tr_taskset_free(s);
    for (int i = 0; i < 20; i++)
        tr_task_release(t[i]);
    return (void *)me;
}

static long lazy_me;
static void *lazy_first_main(void *arg) {
    (void)arg;
    lazy_me = current_number();
    tr_task *a = tr_spawn(noop, (void *)1);
    tr_task *b = tr_spawn(sleeper, (void *)2);
    tr_taskset *s = tr_all_tasks();
    assert_int_equal(tr_taskset_size(s), 3);
    tr_task_release(a);
    tr_task_release(b);
    return s; /* names of a and b never read while the loop ran */
}

static void test_lazy_names(void **state) {
    (void)state;
    run_ok(lazy_main, NULL);

    /* Names read for the first time from a set, after the loop ended. */
    tr_taskset *s = run_ok(lazy_first_main, NULL);
    assert_int_equal(tr_taskset_size(s), 3);
    for (size_t i = 0; i < 3; i++) {
        tr_task *t = tr_taskset_get(s, i);
        void *arg = NULL;
        tr_fn fn = tr_task_fn(t, &arg);
        long want = fn == lazy_first_main ? lazy_me : lazy_me + (long)(intptr_t)arg;
        assert_int_equal(task_number(tr_task_name(t)), want);
    }
    tr_taskset_free(s);
}

/* ---- tr_task_set_name ---- */

static void *set_name_from_thread(void *arg) {
    return (void *)(intptr_t)tr_task_set_name(arg, "from-thread");
}

static void *set_name_main(void *arg) {
    (void)arg;
    tr_task *t = tr_spawn(sleeper, NULL);
    char orig[64];
    snprintf(orig, sizeof orig, "%s", tr_task_name(t));

    assert_int_equal(tr_task_set_name(NULL, "x"), -EINVAL);
    assert_int_equal(tr_task_set_name(t, NULL), -EINVAL);
    assert_string_equal(tr_task_name(t), orig);

    char buf[32];
    strcpy(buf, "renamed");
    assert_int_equal(tr_task_set_name(t, buf), 0);
    strcpy(buf, "clobbered");
    assert_string_equal(tr_task_name(t), "renamed");

    /* Long names are copied whole. */
    char longname[2000];
    memset(longname, 'n', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    assert_int_equal(tr_task_set_name(t, longname), 0);
    assert_string_equal(tr_task_name(t), longname);

    /* The current task may rename itself; the name shows in snapshots. */
    assert_int_equal(tr_task_set_name(tr_current(), "the-main"), 0);
    assert_string_equal(tr_task_name(tr_current()), "the-main");
    tr_taskset *s = tr_all_tasks();
    int seen = 0;
    for (size_t i = 0; i < tr_taskset_size(s); i++)
        seen += strcmp(tr_task_name(tr_taskset_get(s, i)), "the-main") == 0;
    assert_int_equal(seen, 1);
    tr_taskset_free(s);

    /* Not from another thread. */
    pthread_t th;
    void *rc;
    assert_int_equal(pthread_create(&th, NULL, set_name_from_thread, t), 0);
    assert_int_equal(pthread_join(th, &rc), 0);
    assert_int_equal((int)(intptr_t)rc, -EPERM);
    assert_string_equal(tr_task_name(t), longname);

    /* Renaming back to a Task-like name is just a name. */
    assert_int_equal(tr_task_set_name(t, "Task-999999"), 0);
    assert_string_equal(tr_task_name(t), "Task-999999");

    /* A rename frees the old name once nobody can read it; a set that holds the task keeps
     * every name it had meanwhile. */
    tr_taskset *held = tr_all_tasks();
    assert_true(set_contains(held, t));
    tr_task_cancel(t);
    tr_await(t, NULL);
    assert_string_equal(tr_task_name(t), "Task-999999");
    /* A finished task can be renamed too; the string read before stays valid with the set. */
    const char *before = tr_task_name(t);
    assert_int_equal(tr_task_set_name(t, "after-the-end"), 0);
    assert_string_equal(tr_task_name(t), "after-the-end");
    assert_string_equal(before, "Task-999999");
    tr_taskset_free(held);
    tr_task_release(t);
    return NULL;
}

static void test_set_name(void **state) {
    (void)state;
    run_ok(set_name_main, NULL);
}

/* A rename does not consume or shift the numbering. */
static void *rename_numbering_main(void *arg) {
    (void)arg;
    long me = current_number();
    tr_task *a = tr_spawn(noop, NULL);
    assert_int_equal(tr_task_set_name(a, "a"), 0);
    tr_task *b = tr_spawn(noop, NULL);
    assert_int_equal(task_number(tr_task_name(b)), me + 2);
    tr_await(a, NULL);
    tr_await(b, NULL);
    tr_task_release(a);
    tr_task_release(b);
    return NULL;
}

static void test_rename_numbering(void **state) {
    (void)state;
    run_ok(rename_numbering_main, NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_numbering_across_runs),
        cmocka_unit_test(test_numbers_unique_across_loops),
        cmocka_unit_test(test_name),
        cmocka_unit_test(test_lazy_names),
        cmocka_unit_test(test_set_name),
        cmocka_unit_test(test_rename_numbering),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
