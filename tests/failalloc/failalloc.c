/*
 * failalloc.c - the counter behind failalloc.h. Process-wide by nature (malloc is); the
 * tests that use it run the call under test on one thread.
 */
#include "failalloc.h"

#include <errno.h>
#include <stdatomic.h>
#include <stddef.h>

void *__real_malloc(size_t size);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t size);
void *__wrap_malloc(size_t size);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t size);

static _Atomic long countdown = -1; /* -1: disarmed */
static _Atomic long seen;
static _Atomic bool injected;

void failalloc_arm(long n) {
    atomic_store(&seen, 0);
    atomic_store(&injected, false);
    atomic_store(&countdown, n);
}

void failalloc_disarm(void) {
    atomic_store(&countdown, -1);
}

bool failalloc_injected(void) {
    return atomic_load(&injected);
}

long failalloc_count(void) {
    return atomic_load(&seen);
}

static bool fail_now(void) {
    long c = atomic_load(&countdown);
    if (c < 0)
        return false;
    atomic_fetch_add(&seen, 1);
    if (atomic_fetch_sub(&countdown, 1) != 0)
        return false;
    atomic_store(&countdown, -1);
    atomic_store(&injected, true);
    errno = ENOMEM;
    return true;
}

void *__wrap_malloc(size_t size) {
    return fail_now() ? NULL : __real_malloc(size);
}

void *__wrap_calloc(size_t n, size_t size) {
    return fail_now() ? NULL : __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t size) {
    return fail_now() ? NULL : __real_realloc(p, size);
}
