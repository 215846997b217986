/*
 * A peer that keeps a socket full: a task reading it never meets EAGAIN, so on epoll each of
 * its calls completes at once. The loop must still poll now and then (every 64 such calls),
 * or a timer, and every other fd's readiness, would wait until the flood stops: here another
 * task's 5 ms sleep must end within a second while the reader reads one byte per call. The
 * bug: the budget yielded only when another task was runnable already, and a sleeper or an
 * fd waiter becomes runnable only at a poll. (On io_uring every call suspends until reaped.)
 */
#include "io_test.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <unistd.h>

static int sv[2];
static atomic_bool stop;

static void *flood(void *arg) {
    (void)arg;
    static char chunk[65536];
    while (!atomic_load(&stop))
        if (write(sv[0], chunk, sizeof chunk) < 0)
            break;
    return NULL;
}

static atomic_bool slept;

static void *sleeper(void *arg) {
    (void)arg;
    tr_sleep(5 * MS);
    atomic_store(&slept, true);
    return NULL;
}

static void *main_task(void *arg) {
    (void)arg;
    tr_sleep(20 * MS); /* the socket is full */
    tr_task *s = tr_spawn(sleeper, NULL);
    T_REQUIRE(s);
    uint64_t t0 = io_now_ns();
    long calls = 0;
    char c;
    while (!atomic_load(&slept) && io_now_ns() - t0 < 3000 * MS) {
        int n = tr_recv(sv[1], &c, 1, 0);
        T_REQUIRE(n == 1);
        calls++;
    }
    uint64_t took = io_now_ns() - t0;
    T_CHECK(atomic_load(&slept));
    T_CHECK(took < 1000 * MS);
    if (took >= 1000 * MS)
        print_message("the sleeper ran after %llu ms (%ld calls)\n",
                      (unsigned long long)(took / MS), calls);
    atomic_store(&stop, true);
    shutdown(sv[1], SHUT_RDWR); /* the flooder's write ends */
    tr_await(s, NULL);
    tr_task_release(s);
    return NULL;
}

static void test_flooded_socket_does_not_starve_loop(void **state) {
    (void)state;
    assert_int_equal(io_socketpair(SOCK_STREAM, sv), 0);
    pthread_t th;
    atomic_store(&stop, false);
    atomic_store(&slept, false);
    assert_int_equal(pthread_create(&th, NULL, flood, NULL), 0);
    io_run(main_task, NULL);
    atomic_store(&stop, true);
    shutdown(sv[0], SHUT_RDWR);
    pthread_join(th, NULL);
    close(sv[0]);
    close(sv[1]);
}

int main(int argc, char **argv) {
    io_parse_args(&argc, argv);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_flooded_socket_does_not_starve_loop, io_setup),
    };
    return test_result(cmocka_run_group_tests(tests, NULL, NULL));
}
