/*
 * names_bounded: regression test for issue 7, item 5. A task used to keep every name it was
 * ever given until its record was reused (1,000,000 renames of one task: +122 MiB). Now an
 * old name is freed once no epoch pin can hold it, and a set that holds the task keeps every
 * name the task had while the set lives, also when the loop ends first.
 *
 * Heap in use is measured with what each build can see: mallinfo2() natively, memcheck's
 * block counts under valgrind, the sanitizer allocator's counter under ASan/TSan (their
 * malloc is not glibc's, so mallinfo2 would see nothing and the test would pass vacuously).
 */
#include <malloc.h>

#include "test_util.h"

#if defined(__has_include)
#if __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#define HAVE_MEMCHECK_H 1
#endif
#endif

#if TEST_SANITIZED
/* Part of the ASan and TSan runtimes (sanitizer/allocator_interface.h, which gcc does not
 * install). */
size_t __sanitizer_get_current_allocated_bytes(void);
#endif

static size_t heap_in_use(void) {
#if TEST_SANITIZED
    return __sanitizer_get_current_allocated_bytes();
#else
#if defined(HAVE_MEMCHECK_H)
    if (RUNNING_ON_VALGRIND) {
        /* Every live block is leaked, dubious, reachable or suppressed. */
        unsigned long leaked = 0, dubious = 0, reachable = 0, suppressed = 0;
        VALGRIND_DO_QUICK_LEAK_CHECK;
        VALGRIND_COUNT_LEAKS(leaked, dubious, reachable, suppressed);
        return leaked + dubious + reachable + suppressed;
    }
#endif
    return mallinfo2().uordblks;
#endif
}

static long growth(size_t before, size_t after) {
    return (long)after - (long)before;
}

/* Names of assorted lengths, so that freed names are not simply one size class recycled. */
static void make_name(char *out, size_t len, const char *prefix, int i) {
    snprintf(out, len, "%s-%d-%.*s", prefix, i, i % 40, "........................................");
}

enum { MILLION = 1000000, HELD = 10000 };

/* Far below the ~50 bytes per rename that keeping every name costs (50 MB for a million),
 * far above what the runtime keeps by design (a bounded list of retired names per loop). */
#define RENAME_BOUND (256 * 1024)

static void *million_main(void *arg) {
    (void)arg;
    tr_task *self = tr_current();
    char name[80];
    /* Warm up: malloc's arenas and the retired-name list reach their steady state. */
    for (int i = 0; i < 1000; i++) {
        make_name(name, sizeof name, "warm", i);
        assert_int_equal(tr_task_set_name(self, name), 0);
    }
    size_t before = heap_in_use();
    for (int i = 0; i < MILLION; i++) {
        make_name(name, sizeof name, "rename", i);
        assert_int_equal(tr_task_set_name(self, name), 0);
    }
    size_t after = heap_in_use();
    make_name(name, sizeof name, "rename", MILLION - 1);
    assert_string_equal(tr_task_name(self), name);
    print_message("heap growth over %d renames of one task: %ld bytes\n", MILLION,
                  growth(before, after));
    if (growth(before, after) > RENAME_BOUND)
        fail_msg("%d renames grew the heap by %ld bytes (bound %d)", MILLION, growth(before, after),
                 RENAME_BOUND);
    return NULL;
}

static void test_million_renames_bounded(void **state) {
    (void)state;
    run_ok(million_main, NULL);
}

/* ---- a set keeps every name its task had while the set lives ---- */

static const char *held[HELD]; /* static: not part of the heap being measured */

static tr_task *entry_for(tr_taskset *s, const tr_task *t) {
    for (size_t i = 0; i < tr_taskset_size(s); i++)
        if (tr_taskset_get(s, i) == t)
            return tr_taskset_get(s, i);
    fail_msg("task %p is not in the set", (const void *)t);
    return NULL;
}

/* Rename t HELD times, reading each new name through the set's entry for t. */
static void rename_through_set(tr_task *t, tr_taskset *s) {
    tr_task *entry = entry_for(s, t);
    char name[80];
    for (int i = 0; i < HELD; i++) {
        make_name(name, sizeof name, "held", i);
        assert_int_equal(tr_task_set_name(t, name), 0);
        held[i] = tr_task_name(entry);
        assert_string_equal(held[i], name);
    }
}

/* Every pointer read through the set still reads its name (a use after free is caught by
 * ASan and valgrind; natively, freed names would be overwritten by the later renames). */
static void check_held(void) {
    char name[80];
    for (int i = 0; i < HELD; i++) {
        make_name(name, sizeof name, "held", i);
        if (strcmp(held[i], name) != 0)
            fail_msg("name %d read through the set changed: '%s'", i, held[i]);
    }
}

/* Bytes the HELD names take at the least: well above what may stay once they are freed. */
#define HELD_BYTES ((long)HELD * 24)

static void *set_keeps_main(void *arg) {
    (void)arg;
    tr_task *self = tr_current();
    char name[80];
    for (int i = 0; i < 1000; i++) {
        make_name(name, sizeof name, "warm", i);
        assert_int_equal(tr_task_set_name(self, name), 0);
    }
    size_t before = heap_in_use();
    tr_taskset *s = tr_all_tasks();
    assert_non_null(s);
    rename_through_set(self, s);
    check_held();
    size_t while_held = heap_in_use();
    tr_taskset_free(s);
    /* The next pass over the retired names (at most 64 renames away) frees them all. */
    for (int i = 0; i < 64; i++) {
        make_name(name, sizeof name, "after", i);
        assert_int_equal(tr_task_set_name(self, name), 0);
    }
    size_t after = heap_in_use();
    print_message("heap: %ld bytes while a set held %d names, %ld after it was freed\n",
                  growth(before, while_held), HELD, growth(before, after));
    /* The set really kept them (else the check above proved nothing)... */
    assert_true(growth(before, while_held) >= HELD_BYTES);
    /* ...and they went with it. */
    if (growth(before, after) > HELD_BYTES / 4)
        fail_msg("names not reclaimed after the set was freed: %ld bytes remain",
                 growth(before, after));
    return NULL;
}

static void test_set_keeps_names(void **state) {
    (void)state;
    run_ok(set_keeps_main, NULL);
}

/* The loop ends while a set holds its task: the names are handed to the registry with the
 * records, stay readable through the set, and are freed with it. */
static void *orphan_main(void *arg) {
    (void)arg;
    tr_taskset *s = tr_all_tasks();
    assert_non_null(s);
    rename_through_set(tr_current(), s);
    return s;
}

static void test_names_outlive_loop_with_set(void **state) {
    (void)state;
    /* Once first, so that the registry's lasting allocations (pin blocks, spare chunks) are
     * not counted below. */
    tr_taskset_free(run_ok(orphan_main, NULL));
    size_t before = heap_in_use();
    tr_taskset *s = run_ok(orphan_main, NULL);
    check_held();
    assert_int_equal(tr_taskset_size(s), 1);
    char name[80];
    make_name(name, sizeof name, "held", HELD - 1);
    assert_string_equal(tr_task_name(tr_taskset_get(s, 0)), name);
    tr_taskset_free(s);
    size_t after = heap_in_use();
    print_message("heap after a loop ended under a set and the set was freed: %ld bytes\n",
                  growth(before, after));
    if (growth(before, after) > HELD_BYTES / 4)
        fail_msg("orphaned names not freed with the last set: %ld bytes remain",
                 growth(before, after));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_million_renames_bounded),
        cmocka_unit_test(test_set_keeps_names),
        cmocka_unit_test(test_names_outlive_loop_with_set),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
