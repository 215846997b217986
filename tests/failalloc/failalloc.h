/*
 * failalloc.h - allocation failure injection for tests, in the manner of neco's fail
 * counters: make the n-th allocation from now fail, run the call under test, and check that
 * it gave a clear error and lost and leaked nothing; then n+1, until the call succeeds with no
 * failure injected, so every allocation on the path has failed once.
 *
 * A test program gets it with taskring_failalloc(TARGET) in CMake, which links this file and
 * wraps malloc, calloc and realloc (-Wl,--wrap=...): every allocation of the program, the
 * statically linked runtime included, goes through the counter. Armed only around the call
 * under test, so cmocka's and libc's own allocations elsewhere are not affected.
 *
 *   for (long n = 0;; n++) {
 *       failalloc_arm(n);
 *       int rc = call_under_test();
 *       bool injected = failalloc_injected();
 *       failalloc_disarm();
 *       if (!injected) { assert rc == 0; break; }
 *       assert rc == -ENOMEM (and nothing changed, nothing leaked)
 *   }
 */
#ifndef TASKRING_FAILALLOC_H
#define TASKRING_FAILALLOC_H

#include <stdbool.h>

/* Fail the allocation after the next n (n = 0: the very next one), then only that one. */
void failalloc_arm(long n);
void failalloc_disarm(void);
/* Did the armed failure happen? */
bool failalloc_injected(void);
/* Allocations seen since the last arm. */
long failalloc_count(void);

#endif
