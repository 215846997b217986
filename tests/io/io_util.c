/* io_util.c - helpers shared by the tests in tests/io/ (see io_test.h). */
#include "io_test.h"

#include <valgrind/valgrind.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

int io_failures;

void io_fail(const char *file, int line, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    tr_task *self = tr_current();
    if (++io_failures > 20) {
        if (io_failures == 21)
            fprintf(stderr, "(further failures not shown)\n");
        return;
    }
    fprintf(stderr, "%s:%d: [%s] %s\n", file, line, self ? tr_task_name(self) : "no task", msg);
    fflush(stderr);
}

const char *io_rcname(long long v, char buf[static 32]) {
    if (v < 0 && v > -4096) {
        const char *name = strerrorname_np((int)-v);
        if (name) {
            snprintf(buf, 32, "-%s", name);
            return buf;
        }
    }
    snprintf(buf, 32, "%lld", v);
    return buf;
}

int io_setup(void **state) {
    (void)state;
    io_failures = 0;
    return 0;
}

void *io_run_with(const tr_options *opts, tr_fn fn, void *arg) {
    void *result = NULL;
    int rc = tr_run_with(opts, fn, arg, &result);
    if (rc != 0)
        fprintf(stderr, "tr_run: %d (%s)\n", rc, tr_strerror(rc));
    assert_int_equal(rc, 0);
    assert_int_equal(io_failures, 0);
    return result;
}

void *io_run(tr_fn fn, void *arg) {
    return io_run_with(NULL, fn, arg);
}

uint64_t io_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static struct sockaddr_in loopback(int port) {
    struct sockaddr_in sin;
    memset(&sin, 0, sizeof sin);
    sin.sin_family = AF_INET;
    sin.sin_port = htons((uint16_t)port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return sin;
}

int io_tcp_listen(int backlog, int *port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sin = loopback(0);
    socklen_t len = sizeof sin;
    if (bind(fd, (struct sockaddr *)&sin, sizeof sin) < 0 || listen(fd, backlog) < 0 ||
        getsockname(fd, (struct sockaddr *)&sin, &len) < 0) {
        close(fd);
        return -1;
    }
    if (port)
        *port = ntohs(sin.sin_port);
    return fd;
}

int io_tcp_connect(int port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in sin = loopback(port);
    if (connect(fd, (struct sockaddr *)&sin, sizeof sin) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

int io_tcp_pair(int *client, int *server) {
    int port;
    int lfd = io_tcp_listen(1, &port);
    if (lfd < 0)
        return -1;
    int c = io_tcp_connect(port);
    int s = c < 0 ? -1 : accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    close(lfd);
    if (s < 0) {
        if (c >= 0)
            close(c);
        return -1;
    }
    *client = c;
    *server = s;
    return 0;
}

int io_unused_port(void) {
    int port;
    int fd = io_tcp_listen(1, &port);
    if (fd < 0)
        return -1;
    close(fd);
    return port;
}

int io_set_linger_reset(int fd) {
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    return setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
}

int io_socketpair(int type, int sv[2]) {
    return socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, sv);
}

static const char *tmp_base(void) {
    const char *dir = getenv("TMPDIR");
    return dir && *dir ? dir : "/tmp";
}

int io_tmpfile(void) {
    char path[4096];
    snprintf(path, sizeof path, "%s/taskring-io-XXXXXX", tmp_base());
    int fd = mkostemp(path, O_CLOEXEC);
    if (fd < 0)
        return -1;
    unlink(path);
    return fd;
}

int io_tmpdir(char *out, size_t len) {
    char path[4096];
    snprintf(path, sizeof path, "%s/taskring-io-XXXXXX", tmp_base());
    if (!mkdtemp(path) || strlen(path) >= len)
        return -1;
    strcpy(out, path);
    return 0;
}

int io_count_fds(void) {
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n - 1; /* the directory stream's own fd */
}

int io_raise_nofile(unsigned long want) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        return -1;
    if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= want)
        return 0;
    struct rlimit up = rl;
    up.rlim_cur = want;
    if (up.rlim_max != RLIM_INFINITY && up.rlim_max < want)
        up.rlim_max = want; /* only permitted with CAP_SYS_RESOURCE */
    return setrlimit(RLIMIT_NOFILE, &up);
}

long io_status_kib(const char *field) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return -1;
    char line[256];
    long kib = -1;
    size_t n = strlen(field);
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, field, n) == 0 && line[n] == ':') {
            kib = strtol(line + n + 1, NULL, 10);
            break;
        }
    }
    fclose(f);
    return kib;
}

long io_arg_long(int *argc, char **argv, const char *name, long def) {
    for (int i = 1; i + 1 < *argc; i++) {
        if (strncmp(argv[i], "--", 2) == 0 && strcmp(argv[i] + 2, name) == 0) {
            char *end;
            long v = strtol(argv[i + 1], &end, 10);
            if (*end || end == argv[i + 1]) {
                fprintf(stderr, "bad value for --%s: %s\n", name, argv[i + 1]);
                exit(2);
            }
            for (int j = i; j + 2 <= *argc; j++)
                argv[j] = argv[j + 2];
            *argc -= 2;
            return v;
        }
    }
    return def;
}

void io_parse_args(int *argc, char **argv) {
    for (int i = 1; i + 1 < *argc;) {
        if (strcmp(argv[i], "--only") == 0)
            cmocka_set_test_filter(argv[i + 1]);
        else if (strcmp(argv[i], "--skip") == 0)
            cmocka_set_skip_filter(argv[i + 1]);
        else {
            i++;
            continue;
        }
        for (int j = i; j + 2 <= *argc; j++)
            argv[j] = argv[j + 2];
        *argc -= 2;
    }
    if (*argc > 1) {
        fprintf(stderr, "%s: unknown argument '%s'\n", argv[0], argv[1]);
        exit(2);
    }
}

bool io_buffers_checked(void) {
#if !defined(__has_feature)
#define __has_feature(x) 0
#endif
#if defined(__SANITIZE_THREAD__) || __has_feature(thread_sanitizer)
    bool tsan = true; /* task stacks sit near the top of the address space: +4 GiB is not user */
#else
    bool tsan = false;
#endif
    return tsan || (RUNNING_ON_VALGRIND && tr_loop_backend(0) == TR_BACKEND_EPOLL);
}
