/*
 * name_copy_any_thread: a thread that holds only a reference to a task (no set) reads its name
 * with tr_task_name_copy and tr_task_repr while the task's loop renames it without pause.
 * Since old names are freed (issue 7, item 5), a plain tr_task_name pointer could be freed
 * under such a reader; these two calls pin for the read. Every copy must be one whole name
 * the task really had: never torn, never freed memory (ASan, valgrind) and no data race
 * (TSan).
 */
#include <pthread.h>
#include <stdatomic.h>

#include "test_util.h"

/* Name number i: "w<i>/" + (i % 61) copies of one letter + "/<i>". A torn or stale-and-reused
 * read breaks the pattern. */
static void make_name(char *out, size_t len, unsigned i) {
    char fill[64];
    memset(fill, 'a' + (int)(i % 26), i % 61);
    fill[i % 61] = '\0';
    snprintf(out, len, "w%u/%s/%u", i, fill, i);
}

static bool valid_name(const char *s) {
    unsigned i, j;
    int head = 0;
    if (sscanf(s, "w%u/%n", &i, &head) != 1 || head == 0)
        return false;
    const char *p = s + head;
    for (unsigned k = 0; k < i % 61; k++, p++)
        if (*p != 'a' + (int)(i % 26))
            return false;
    int tail = 0;
    if (sscanf(p, "/%u%n", &j, &tail) != 1 || j != i || p[tail] != '\0')
        return false;
    return true;
}

static tr_task *target;
static atomic_bool started, stop;
static atomic_long copies, reprs, bad;
static char bad_text[256];

static void report_bad(const char *what, const char *text) {
    if (atomic_fetch_add(&bad, 1) == 0)
        snprintf(bad_text, sizeof bad_text, "%s: '%s'", what, text);
}

static void *monitor(void *arg) {
    (void)arg;
    char buf[160], small[6], repr[256];
    atomic_store(&started, true);
    for (long iter = 0; !atomic_load(&stop); iter++) {
        int n = tr_task_name_copy(target, buf, sizeof buf);
        if (n < 0 || (size_t)n != strlen(buf) || !valid_name(buf))
            report_bad("copy", buf);
        atomic_fetch_add_explicit(&copies, 1, memory_order_relaxed);
        if (iter % 8 == 0) {
            /* Truncated: the length of the name that was copied, a NUL-terminated prefix. */
            n = tr_task_name_copy(target, small, sizeof small);
            if (n < (int)strlen("w0//0") || strlen(small) != sizeof small - 1 || small[0] != 'w')
                report_bad("truncated copy", small);
            /* Length only. */
            if (tr_task_name_copy(target, NULL, 0) < (int)strlen("w0//0"))
                report_bad("length", "");
        }
        if (iter % 8 == 4) {
            n = tr_task_repr(target, repr, sizeof repr);
            const char *open = strstr(repr, " name='");
            const char *close = open ? strstr(open, "' fn=") : NULL;
            if (n < 0 || (size_t)n != strlen(repr) || !close) {
                report_bad("repr", repr);
            } else {
                size_t len = (size_t)(close - open) - strlen(" name='");
                memcpy(buf, open + strlen(" name='"), len);
                buf[len] = '\0';
                if (!valid_name(buf))
                    report_bad("name in repr", repr);
            }
            atomic_fetch_add_explicit(&reprs, 1, memory_order_relaxed);
        }
    }
    return NULL;
}

static void *sleeper(void *arg) {
    (void)arg;
    tr_sleep(60000 * MS); /* cancelled by main */
    return NULL;
}

/* Long enough for many overlapping reads, short enough for TSan and valgrind. */
#define RUN_NS (500 * MS)
#define MIN_RENAMES 2000
#define MIN_COPIES 2000

static void *copy_main(void *arg) {
    (void)arg;
    target = tr_spawn(sleeper, NULL);
    assert_non_null(target);
    char name[160];
    make_name(name, sizeof name, 0);
    assert_int_equal(tr_task_set_name(target, name), 0);
    assert_int_equal(tr_yield(), 0);

    /* The monitor's reference: it holds the task, not a set. */
    assert_ptr_equal(tr_task_retain(target), target);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, monitor, NULL), 0);
    while (!atomic_load(&started))
        ;
    uint64_t end = now_ns() + RUN_NS;
    unsigned i = 1;
    /* Rename without pause until both sides have done enough, so every read overlaps them. */
    while (now_ns() < end || i < MIN_RENAMES || atomic_load(&copies) < MIN_COPIES) {
        make_name(name, sizeof name, i++);
        assert_int_equal(tr_task_set_name(target, name), 0);
        if (now_ns() > end + 30000 * MS)
            break;
    }
    atomic_store(&stop, true);
    assert_int_equal(pthread_join(th, NULL), 0);
    tr_task_release(target); /* the monitor's reference */
    print_message("%u renames; %ld copies and %ld reprs on another thread\n", i,
                  atomic_load(&copies), atomic_load(&reprs));
    if (atomic_load(&bad))
        fail_msg("%ld bad reads, first %s", atomic_load(&bad), bad_text);
    assert_true(i >= MIN_RENAMES);
    assert_true(atomic_load(&copies) >= MIN_COPIES);
    assert_true(atomic_load(&reprs) > 0);

    /* The last name, whole, from this thread too. */
    char last[160];
    make_name(name, sizeof name, i - 1);
    assert_int_equal(tr_task_name_copy(target, last, sizeof last), (int)strlen(name));
    assert_string_equal(last, name);
    assert_int_equal(tr_task_cancel(target), 1);
    assert_int_equal(tr_await(target, NULL), -ECANCELED);
    tr_task_release(target);
    return NULL;
}

static void test_copy_while_renamed(void **state) {
    (void)state;
    run_ok(copy_main, NULL);
}

/* The contract's edges: snprintf-like return, truncation, errors. */
static void *edges_main(void *arg) {
    (void)arg;
    tr_task *self = tr_current();
    char buf[16];
    assert_int_equal(tr_task_name_copy(NULL, buf, sizeof buf), -EINVAL);
    assert_int_equal(tr_task_name_copy(NULL, NULL, 0), -EINVAL);
    assert_int_equal(tr_task_name_copy(self, NULL, 1), -EINVAL);

    /* The default name, formatted on first read through a copy. */
    char name[32];
    snprintf(name, sizeof name, "Task-%ld", current_number());
    assert_int_equal(tr_task_name_copy(self, buf, sizeof buf), (int)strlen(name));
    assert_string_equal(buf, name);

    assert_int_equal(tr_task_set_name(self, "twelve chars"), 0);
    assert_int_equal(tr_task_name_copy(self, NULL, 0), 12);
    memset(buf, 'X', sizeof buf);
    assert_int_equal(tr_task_name_copy(self, buf, 0), 12);
    assert_int_equal(buf[0], 'X');
    assert_int_equal(tr_task_name_copy(self, buf, 1), 12);
    assert_int_equal(buf[0], '\0');
    assert_int_equal(buf[1], 'X');
    assert_int_equal(tr_task_name_copy(self, buf, 5), 12);
    assert_string_equal(buf, "twel");
    assert_int_equal(buf[5], 'X');
    assert_int_equal(tr_task_name_copy(self, buf, 12), 12);
    assert_string_equal(buf, "twelve char");
    assert_int_equal(tr_task_name_copy(self, buf, 13), 12);
    assert_string_equal(buf, "twelve chars");
    assert_int_equal(tr_task_set_name(self, ""), 0);
    assert_int_equal(tr_task_name_copy(self, buf, sizeof buf), 0);
    assert_string_equal(buf, "");
    return NULL;
}

static void test_copy_edges(void **state) {
    (void)state;
    run_ok(edges_main, NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_copy_edges),
        cmocka_unit_test(test_copy_while_renamed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
