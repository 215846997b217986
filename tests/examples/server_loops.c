/*
 * server_loops - an example server run with --loops 2: two loops (threads), each with its own
 * SO_REUSEPORT listener on the one port, serve connections, and SIGTERM still stops the
 * whole server cleanly (exit status 0), connections open on both loops included.
 *
 *   server_loops http PATH_TO_http_server
 *   server_loops echo PATH_TO_echo_server
 *
 * The kernel spreads connections over the two listeners by a hash of their addresses: of
 * CONNS connections, all landing on one loop has a chance of 2^-(CONNS-1). Every connection
 * must be answered (a 200, or its bytes echoed) while all are open at once; the server must
 * run (at least) two threads; a bad --loops value is refused with status 2.
 *
 * Shares http_test.h with the HTTP regression tests (starting, stopping, checks).
 */
#include "http_test.h"

enum { CONNS = 32 };

static bool is_http;

/* One exchange on fd: a request answered by a 200, or a line echoed back. */
static bool exchange(int fd, int i) {
    if (is_http) {
        struct replies *r = replies_new();
        bool ok = send_str(fd, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        read_replies(fd, r, 1, 3000);
        ok = ok && r->count == 1 && r->status[0] == 200 && !r->garbage;
        free(r);
        return ok;
    }
    char msg[64], got[64];
    int len = snprintf(msg, sizeof msg, "hello from connection %d\n", i);
    if (!send_bytes(fd, msg, (size_t)len))
        return false;
    size_t have = 0;
    uint64_t until = now_ms() + 3000;
    while (have < (size_t)len) {
        uint64_t now = now_ms();
        struct pollfd p = {fd, POLLIN, 0};
        if (now >= until || poll(&p, 1, (int)(until - now)) <= 0)
            return false;
        ssize_t n = recv(fd, got + have, sizeof got - have, 0);
        if (n <= 0)
            return false;
        have += (size_t)n;
    }
    return have == (size_t)len && memcmp(got, msg, (size_t)len) == 0;
}

/* Threads of the server process (/proc/PID/task). */
static int thread_count(pid_t pid) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    char line[256];
    int n = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "Threads: %d", &n) == 1)
            break;
    fclose(f);
    return n;
}

/* `path --loops VALUE` must be refused: exit status 2, within 10 s. */
static void expect_refused(const char *path, const char *value) {
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0)
        FATAL("fork: %s", strerror(errno));
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
        if (null >= 0) {
            dup2(null, STDOUT_FILENO);
            dup2(null, STDERR_FILENO);
        }
        execl(path, path, "--port", "0", "--loops", value, (char *)NULL);
        _exit(127);
    }
    int status = 0;
    pid_t r = 0;
    for (int i = 0; i < 1000 && (r = waitpid(pid, &status, WNOHANG)) == 0; i++)
        sleep_ms(10);
    if (r != pid) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
    }
    CHECK(r == pid && WIFEXITED(status) && WEXITSTATUS(status) == 2,
          "--loops %s refused with status 2 (status 0x%x)", value, (unsigned)status);
}

int main(int argc, char **argv) {
    if (argc != 3 || (strcmp(argv[1], "http") && strcmp(argv[1], "echo"))) {
        fprintf(stderr, "usage: %s http|echo PATH_TO_SERVER\n", argv[0]);
        return 2;
    }
    is_http = !strcmp(argv[1], "http");
    const char *path = argv[2];

    expect_refused(path, "0");
    expect_refused(path, "257");

    const char *const args[] = {"--loops", "2", "--grace", "1", NULL};
    int port = server_start(path, args);
    int threads = thread_count(server_pid);
    CHECK(threads >= 2, "--loops 2 runs at least two threads (%d)", threads);

    /* All open at once, then one exchange each, twice. */
    int fds[CONNS];
    for (int i = 0; i < CONNS; i++)
        fds[i] = conn_open(port);
    int served = 0;
    for (int round = 0; round < 2; round++)
        for (int i = 0; i < CONNS; i++)
            served += exchange(fds[i], i);
    CHECK(served == 2 * CONNS, "%d connections open at once, two exchanges each: %d of %d served",
          CONNS, served, 2 * CONNS);

    /* Half of them closed by the client; the other half still open at SIGTERM: the grace
     * period (1 s) passes, they are cancelled and closed by the server, which exits 0. */
    for (int i = 0; i < CONNS / 2; i++)
        close(fds[i]);
    sleep_ms(100);
    uint64_t t0 = now_ms();
    server_stop();
    int closed = 0;
    for (int i = CONNS / 2; i < CONNS; i++) {
        char c;
        struct pollfd p = {fds[i], POLLIN, 0};
        if (poll(&p, 1, 0) == 1 && recv(fds[i], &c, 1, MSG_DONTWAIT) <= 0)
            closed++;
        close(fds[i]);
    }
    CHECK(closed == CONNS / 2, "connections open at SIGTERM closed by the server: %d of %d", closed,
          CONNS / 2);
    printf("     (stopped %llu ms after SIGTERM)\n", (unsigned long long)(now_ms() - t0));

    printf("server_loops %s: %s (%d failure%s)\n", argv[1], http_failures ? "FAILED" : "passed",
           http_failures, http_failures == 1 ? "" : "s");
    return http_failures ? 1 : 0;
}
