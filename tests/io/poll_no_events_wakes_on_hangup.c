/*
 * tr_poll(fd, 0) waits for nothing but what poll(2) always reports: a hang-up or an error
 * (io_uring's poll adds them to every mask). The peer closing must end it with POLLHUP, on
 * every backend; so must it end a tr_poll(fd, POLLPRI) that waits for urgent data only. A
 * peer's shutdown(SHUT_WR) ends any tr_poll on a socket with POLLRDHUP among the bits,
 * whatever the mask (io_uring adds POLLRDHUP to it too).
 */
#include "io_test.h"

#include <errno.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

struct op {
    int fd;
    unsigned events;
    int res;
};

static void *poll_task(void *arg) {
    struct op *o = arg;
    tr_deadline d;
    tr_deadline_begin(&d, 3000 * MS); /* the bug: never woken, ends by this */
    o->res = tr_poll(o->fd, o->events);
    tr_deadline_end(&d);
    return NULL;
}

static void *main_task(void *arg) {
    (void)arg;
    static const unsigned masks[] = {0, POLLPRI};
    for (size_t i = 0; i < sizeof masks / sizeof masks[0]; i++) {
        int sv[2];
        T_REQUIRE(io_socketpair(SOCK_STREAM, sv) == 0);
        struct op o = {.fd = sv[1], .events = masks[i]};
        tr_task *t = tr_spawn(poll_task, &o);
        T_REQUIRE(t);
        tr_sleep(5 * MS);
        close(sv[0]); /* the peer goes: a hang-up */
        tr_await(t, NULL);
        tr_task_release(t);
        T_CHECK(o.res > 0 && (o.res & POLLHUP));
        if (!(o.res > 0 && (o.res & POLLHUP)))
            print_message("mask %#x: tr_poll returned %d\n", masks[i], o.res);
        close(sv[1]);
    }
    static const unsigned half[] = {0, POLLPRI, POLLIN};
    for (size_t i = 0; i < sizeof half / sizeof half[0]; i++) {
        int sv[2];
        T_REQUIRE(io_socketpair(SOCK_STREAM, sv) == 0);
        struct op o = {.fd = sv[1], .events = half[i]};
        tr_task *t = tr_spawn(poll_task, &o);
        T_REQUIRE(t);
        tr_sleep(5 * MS);
        shutdown(sv[0], SHUT_WR); /* the peer half-closes: POLLRDHUP */
        tr_await(t, NULL);
        tr_task_release(t);
        T_CHECK(o.res > 0 && (o.res & POLLRDHUP));
        if (!(o.res > 0 && (o.res & POLLRDHUP)))
            print_message("half-close, mask %#x: tr_poll returned %d\n", half[i], o.res);
        close(sv[0]);
        close(sv[1]);
    }
    return NULL;
}

static void test_poll_no_events_wakes_on_hangup(void **state) {
    (void)state;
    io_run(main_task, NULL);
}

int main(int argc, char **argv) {
    io_parse_args(&argc, argv);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_poll_no_events_wakes_on_hangup, io_setup),
    };
    return test_result(cmocka_run_group_tests(tests, NULL, NULL));
}
