/*
 * pool_stats.c - the calling loop's record pool size, for bench_pool.cpp: the runtime's
 * internal header is C (it uses _Atomic), so C++ reaches record_pool_stats through this shim.
 */
#include "pool_stats.h"

#include "internal.h"

void trb_pool_stats(struct trb_pool *out) {
    struct record_pool_stats st = {0};
    if (tr_tls_loop)
        record_pool_stats(tr_tls_loop, &st);
    out->records = st.records;
    out->slabs = st.slabs;
    out->slabs_returned = st.slabs_returned;
}
