/*
 * backend.c - which backend a loop runs on (backend.h), chosen when tr_run starts.
 */
#include "backend.h"
#include "runtime.h"

int backend_create(struct tr_loop *loop, struct tr_runtime *rt) {
    (void)rt;
    loop->be = &backend_uring;
    int rc = loop->be->init(loop, &rt->opts);
    if (rc < 0)
        loop->be = NULL;
    return rc;
}
