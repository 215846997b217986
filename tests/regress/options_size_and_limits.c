/*
 * tr_options grew `size`, `loops` and `workers`, then `backend` and `flags`, in the 0.1 reserved
 * words. A caller built
 * before them (size 0) runs as before; a caller built against a later, longer struct runs if
 * the fields this library does not know are zero and is refused (-EINVAL, nothing started)
 * if one is set, since its meaning would be ignored. Loop and worker counts, backends and flags
 * out of range are refused the same way.
 */
#include "regress.h"

#include <string.h>

static void *loops_seen(void *arg) {
    *(unsigned *)arg = tr_loop_count();
    return NULL;
}

/* A later version's options: ours, then fields this library has never heard of. */
struct later_options {
    tr_options base;
    uint64_t unknown[2];
};

static int run_with(const tr_options *o, unsigned *count) {
    *count = 0;
    return tr_run_with(o, loops_seen, count, NULL);
}

int main(void) {
    unsigned n;
    tr_options o;

    memset(&o, 0, sizeof o); /* a 0.1 caller: size 0 */
    CHECK_EQ(run_with(&o, &n), 0);
    CHECK_EQ(n, 1u);

    o.size = sizeof o;
    o.loops = 2;
    CHECK_EQ(run_with(&o, &n), 0);
    CHECK_EQ(n, 2u);

    struct later_options later;
    memset(&later, 0, sizeof later);
    later.base.size = sizeof later;
    later.base.loops = 2;
    CHECK_EQ(run_with(&later.base, &n), 0); /* unknown fields zero: fine */
    CHECK_EQ(n, 2u);
    later.unknown[1] = 1;
    CHECK_EQ(run_with(&later.base, &n), -EINVAL); /* a field we cannot honour */
    CHECK_EQ(n, 0u);

    memset(&o, 0, sizeof o);
    o.size = sizeof o;
    o.loops = 257;
    CHECK_EQ(run_with(&o, &n), -EINVAL);
    o.loops = 0;
    o.workers = 1025;
    CHECK_EQ(run_with(&o, &n), -EINVAL);
    o.workers = 0;
    o.backend = 3; /* no such backend */
    CHECK_EQ(run_with(&o, &n), -EINVAL);
    o.backend = 0;
    o.flags = 2; /* an unknown flag */
    CHECK_EQ(run_with(&o, &n), -EINVAL);
    o.flags = 0;
    o.reserved[0] = 1;
    CHECK_EQ(run_with(&o, &n), -EINVAL);
    CHECK_EQ(n, 0u);
    return 0;
}
