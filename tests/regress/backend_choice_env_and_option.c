/*
 * Which backend a runtime runs: tr_options.backend, else TASKRING_BACKEND, else auto. Every
 * loop of a runtime runs the same one and tr_loop_backend says which, from any loop; an
 * explicit choice prints nothing; a TASKRING_BACKEND that names no backend, or an option out
 * of range, makes tr_run refuse with -EINVAL before anything runs. tr_backend_name names
 * them. (io_uring refused, auto's fallback and its line: tests/io/io_seccomp.c.)
 */
#include "regress.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct seen {
    int backends[4];
    int other_loop; /* what loop 1 says about loop 0 */
    int bad_loop;
    bool ran;
};

static void *ask_loop0(void *arg) {
    (void)arg;
    return (void *)(intptr_t)tr_loop_backend(0);
}

static void *main_task(void *arg) {
    struct seen *s = arg;
    s->ran = true;
    for (unsigned i = 0; i < tr_loop_count() && i < 4; i++)
        s->backends[i] = tr_loop_backend(i);
    s->bad_loop = tr_loop_backend(tr_loop_count());
    if (tr_loop_count() > 1) {
        tr_task *t = tr_spawn_on(1, ask_loop0, NULL); /* the doorbell, both ways */
        void *r = NULL;
        if (t && tr_await(t, &r) == 0)
            s->other_loop = (int)(intptr_t)r;
        tr_task_release(t);
    }
    return NULL;
}

/* Run with `backend` and TASKRING_BACKEND=env (NULL: unset), 2 loops; stderr must stay quiet. */
static int run(unsigned backend, const char *env, struct seen *s) {
    memset(s, 0, sizeof *s);
    if (env)
        setenv("TASKRING_BACKEND", env, 1);
    else
        unsetenv("TASKRING_BACKEND");
    tr_options o = {.size = sizeof o, .loops = 2, .backend = backend};
    fflush(stderr);
    FILE *tmp = tmpfile();
    CHECK(tmp != NULL);
    int saved = dup(2);
    dup2(fileno(tmp), 2);
    int rc = tr_run_with(&o, main_task, s, NULL);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    fseek(tmp, 0, SEEK_END); /* written through fd 2: the stream's position knows nothing */
    long said = ftell(tmp);
    fclose(tmp);
    CHECK_EQ(said, 0); /* an explicit choice, or io_uring working: nothing to say */
    return rc;
}

static bool uring_works(void) {
    struct seen s;
    return run(TR_BACKEND_IO_URING, NULL, &s) == 0;
}

int main(void) {
    struct seen s;
    CHECK(tr_loop_backend(0) == -EPERM); /* no loop on this thread */
    CHECK(strcmp(tr_backend_name(TR_BACKEND_AUTO), "auto") == 0);
    CHECK(strcmp(tr_backend_name(TR_BACKEND_IO_URING), "io_uring") == 0);
    CHECK(strcmp(tr_backend_name(TR_BACKEND_EPOLL), "epoll") == 0);
    CHECK(tr_backend_name(3) == NULL && tr_backend_name(-1) == NULL);

    CHECK_EQ(run(TR_BACKEND_AUTO, "epoll", &s), 0);
    CHECK(s.ran);
    CHECK_EQ(s.backends[0], TR_BACKEND_EPOLL);
    CHECK_EQ(s.backends[1], TR_BACKEND_EPOLL);
    CHECK_EQ(s.other_loop, TR_BACKEND_EPOLL);
    CHECK_EQ(s.bad_loop, -EINVAL);

    CHECK_EQ(run(TR_BACKEND_EPOLL, "io_uring", &s), 0); /* the option wins */
    CHECK_EQ(s.backends[0], TR_BACKEND_EPOLL);

    CHECK_EQ(run(TR_BACKEND_AUTO, "kqueue", &s), -EINVAL); /* names no backend */
    CHECK(!s.ran);
    CHECK_EQ(run(TR_BACKEND_AUTO, "", &s), 0); /* empty: as unset */

    if (uring_works()) {
        CHECK_EQ(run(TR_BACKEND_AUTO, "io_uring", &s), 0);
        CHECK_EQ(s.backends[0], TR_BACKEND_IO_URING);
        CHECK_EQ(s.backends[1], TR_BACKEND_IO_URING);
        CHECK_EQ(s.other_loop, TR_BACKEND_IO_URING);
        CHECK_EQ(run(TR_BACKEND_AUTO, "auto", &s), 0); /* io_uring works: auto takes it */
        CHECK_EQ(s.backends[0], TR_BACKEND_IO_URING);
    } else {
        printf("io_uring is refused here: its half is not checked\n");
    }
    unsetenv("TASKRING_BACKEND");
    printf("backend choice: option, TASKRING_BACKEND, auto; every loop the same\n");
    return 0;
}
