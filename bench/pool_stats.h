/* pool_stats.h - the calling loop's record pool size (pool_stats.c), from C or C++. */
#ifndef TRB_POOL_STATS_H
#define TRB_POOL_STATS_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

struct trb_pool {
    size_t records;        /* in the loop's record slabs */
    size_t slabs;          /* slabs now */
    size_t slabs_returned; /* given back to the allocator so far */
};

/* Zeros when called outside a loop's thread. */
void trb_pool_stats(struct trb_pool *out);

#ifdef __cplusplus
}
#endif

#endif
