/*
 * Beginning a shield or a deadline scope that is already open (a loop that `continue`s past
 * its end call) linked it to itself: the shield never came off, so the task could not be
 * cancelled and tr_run never returned, and looking the scope up spun forever. A second begin
 * is misuse: -EBUSY in a release build (the scope stays as it was), an abort with a message in
 * a Debug build. (Found by review.)
 */
#include "regress.h"

#define MS 1000000ull

static void *rebegin_shield(void *arg) {
    (void)arg;
    tr_shield s;
    CHECK_EQ(tr_shield_begin(&s), 0);
    CHECK_EQ(tr_shield_begin(&s), -EBUSY);
    tr_shield_end(&s);
    tr_task_cancel(tr_current());
    CHECK_EQ(tr_sleep(1 * MS), -ECANCELED); /* the shield is off */
    return NULL;
}

static void *rebegin_deadline(void *arg) {
    (void)arg;
    tr_deadline d;
    CHECK_EQ(tr_deadline_begin(&d, 1 * MS), 0);
    CHECK_EQ(tr_deadline_begin(&d, 1 * MS), -EBUSY);
    tr_deadline_end(&d);
    CHECK_EQ(tr_sleep(5 * MS), 0); /* no deadline left */
    return NULL;
}

static const tr_fn cases[] = {rebegin_shield, rebegin_deadline};

static int child(void *arg) {
    int rc = tr_run(cases[(uintptr_t)arg], NULL, NULL);
    return rc == 0 || rc == -ECANCELED ? 0 : 2; /* the shield case ends cancelled */
}

int main(void) {
    for (uintptr_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct child_output o;
        run_child(child, (void *)i, &o);
#ifdef NDEBUG
        CHECK(WIFEXITED(o.status) && WEXITSTATUS(o.status) == 0);
#else
        if (!WIFSIGNALED(o.status) || WTERMSIG(o.status) != SIGABRT ||
            !strstr(o.err, "already open")) {
            fprintf(stderr, "case %zu: status 0x%x\n%s", (size_t)i, o.status, o.err);
            return 1;
        }
#endif
    }
    return 0;
}
