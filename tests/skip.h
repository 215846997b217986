/*
 * skip.h - skips that ctest can see. cmocka reports a skip() as a pass, so a program whose
 * cases could not run here would look green. TEST_SKIP counts the skip and says why;
 * test_result() turns "nothing failed, something skipped" into exit 77, which every test is
 * registered to read as Skipped (SKIP_RETURN_CODE). A program with a case that skips in some
 * setting is registered so that case runs on its own there (see tests/io/CMakeLists.txt).
 */
#ifndef TASKRING_TEST_SKIP_H
#define TASKRING_TEST_SKIP_H

enum { TEST_SKIP_CODE = 77 };

static int test_skips;

#define TEST_SKIP(why)                                                                             \
    do {                                                                                           \
        test_skips++;                                                                              \
        print_message("skipped: %s\n", why);                                                       \
        skip();                                                                                    \
    } while (0)

static inline int test_result(int failed) {
    return failed ? failed : test_skips ? TEST_SKIP_CODE : 0;
}

#endif
