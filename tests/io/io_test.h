/*
 * io_test.h - shared helpers for the I/O tests in tests/io/.
 *
 * Each test program is a small cmocka suite whose test bodies run inside tr_run. cmocka's
 * assert_* macros longjmp back to the runner, which must never happen from a task's stack
 * (it would skip the loop's teardown), so code running in a task uses the T_* checks below:
 * they record a failure with file, line and values, and the test asserts after tr_run that
 * none was recorded (io_run).
 */
#ifndef TR_IO_TEST_H
#define TR_IO_TEST_H

#include <taskring.h>

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>

#include <cmocka.h>

#include "../skip.h"

/* ---- checks usable inside tasks ------------------------------------------------------------ */

extern int io_failures;
void io_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* "-ECONNRESET" for -104, "42" for 42: readable results in failure messages. */
const char *io_rcname(long long v, char buf[static 32]);

#define T_CHECK(cond)                                                                              \
    do {                                                                                           \
        if (!(cond))                                                                               \
            io_fail(__FILE__, __LINE__, "check failed: %s", #cond);                                \
    } while (0)

#define T_EQ(actual, expected)                                                                     \
    do {                                                                                           \
        long long a_ = (long long)(actual), e_ = (long long)(expected);                            \
        if (a_ != e_) {                                                                            \
            char ba_[32], be_[32];                                                                 \
            io_fail(__FILE__, __LINE__, "%s == %s: got %s, expected %s", #actual, #expected,       \
                    io_rcname(a_, ba_), io_rcname(e_, be_));                                       \
        }                                                                                          \
    } while (0)

/* As T_CHECK / T_EQ, but the enclosing task function (returning void *) returns NULL. */
#define T_REQUIRE(cond)                                                                            \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            io_fail(__FILE__, __LINE__, "requirement failed: %s", #cond);                          \
            return NULL;                                                                           \
        }                                                                                          \
    } while (0)

#define T_REQUIRE_EQ(actual, expected)                                                             \
    do {                                                                                           \
        long long a_ = (long long)(actual), e_ = (long long)(expected);                            \
        if (a_ != e_) {                                                                            \
            char ba_[32], be_[32];                                                                 \
            io_fail(__FILE__, __LINE__, "%s == %s: got %s, expected %s", #actual, #expected,       \
                    io_rcname(a_, ba_), io_rcname(e_, be_));                                       \
            return NULL;                                                                           \
        }                                                                                          \
    } while (0)

/* ---- running a test body ---------------------------------------------------------------------
 */

/* cmocka setup: clear the failure counter. */
int io_setup(void **state);
/* tr_run(fn, arg) with default options; asserts (cmocka) that it returned 0 and that no T_*
 * check failed. Returns the main task's result. */
void *io_run(tr_fn fn, void *arg);
/* The same with explicit loop options. */
void *io_run_with(const tr_options *opts, tr_fn fn, void *arg);

/* ---- time ------------------------------------------------------------------------------------
 */

uint64_t io_now_ns(void);
/* Valgrind checks a whole buffer a syscall is given, which it sees on the epoll backend (not
 * through io_uring): a deliberately huge length on a small buffer is a valgrind error there;
 * under TSan the kernel refuses such a range from a task stack (EFAULT: the stacks sit near
 * the top of the address space), on either backend. */
bool io_buffers_checked(void);

#define MS (1000000ull)

/* ---- sockets and files (plain syscalls, usable anywhere) ------------------------------------
 */

/* A TCP socket listening on 127.0.0.1 at an ephemeral port; *port receives the port (host
 * order). Returns the fd or -1. */
int io_tcp_listen(int backlog, int *port);
/* A plain blocking connect to 127.0.0.1:port. Returns the fd or -1. */
int io_tcp_connect(int port);
/* A connected TCP pair over loopback: *client and *server. 0 or -1. */
int io_tcp_pair(int *client, int *server);
/* A port on 127.0.0.1 with nothing listening (bound once, then closed). */
int io_unused_port(void);
/* Make close(fd) send a RST (SO_LINGER {1, 0}). */
int io_set_linger_reset(int fd);
/* A connected AF_UNIX socketpair of `type`. 0 or -1. */
int io_socketpair(int type, int sv[2]);
/* An unlinked temporary file opened O_RDWR. Returns the fd or -1. */
int io_tmpfile(void);
/* A temporary directory (created, path copied to out); 0 or -1. */
int io_tmpdir(char *out, size_t len);
/* Number of open file descriptors of this process. */
int io_count_fds(void);
/* Raise RLIMIT_NOFILE's soft limit to at least `want` (the hard one too if permitted).
 * 0 on success, -1 when the limit cannot be raised that far. */
int io_raise_nofile(unsigned long want);
/* Resident set size in KiB (VmRSS or VmHWM from /proc/self/status), -1 if unknown. */
long io_status_kib(const char *field);

/* ---- command line ----------------------------------------------------------------------------
 */

/* `--NAME N` anywhere in argv (removed from it), or `def`. */
long io_arg_long(int *argc, char **argv, const char *name, long def);
/* Options every program takes: `--only PATTERN` runs only the tests whose name matches the
 * pattern (cmocka_set_test_filter: '*' and '?' wildcards). Exits with a usage message on
 * arguments left over. */
void io_parse_args(int *argc, char **argv);

#endif
