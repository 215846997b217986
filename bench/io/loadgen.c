/*
 * loadgen.c - closed-loop echo load for bench/io: C connections, each sending an S-byte
 * message and waiting for its S-byte echo before sending the next, for T seconds.
 *
 *   loadgen --port P --connections C --size S --seconds T [--threads N] [--warmup W]
 *           [--host 127.0.0.1] [--connect-batch K] [--connect-timeout SECONDS]
 *
 * Phases: connect every connection (at most K connects in flight per thread), wait until all
 * threads are connected, then run: W seconds of warm-up (not counted), T seconds measured.
 * Every echo is checked byte for byte (each message carries its connection id and sequence
 * number), so a server that mixes up or corrupts data shows up as mismatches.
 *
 * Output: one line of key=value pairs, e.g.
 *   loadgen: conns=64 size=64 seconds=10.000 msgs=1234567 msgs_per_s=123456.7 p50_us=510.2
 *            p99_us=700.1 p999_us=900.3 max_us=2000.0 connected=64 served=64 errors=0
 *            mismatches=0
 * (one line). `served` counts connections that completed at least one echo. Exit status 0
 * when every connection connected, was served, and nothing failed; 1 otherwise; 2 for usage.
 *
 * Only loopback addresses are accepted: this is a benchmark client, not a load tool.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define PROG "loadgen"

enum { HDR = 8, MAX_EVENTS = 512, MAX_SIZE = 1 << 20, MAX_CONNS = 1 << 20 };
enum conn_state { C_IDLE, C_CONNECTING, C_ACTIVE, C_FAILED };

struct conn {
    int fd;
    uint32_t id;
    uint8_t state;
    bool want_out; /* EPOLLOUT registered: a short write is pending */
    uint32_t seq;  /* sequence number of the message in flight */
    size_t sent;   /* bytes of the current message written */
    size_t rcvd;   /* ... and echoed back */
    uint64_t t0;   /* when its first byte was written */
    uint64_t served;
    unsigned char hdr[HDR]; /* id and seq of the current message */
};

struct worker {
    pthread_t thread;
    struct conn *conns;
    size_t nconns;
    int ep;
    unsigned char *scratch;
    /* results */
    uint64_t msgs; /* echoes completed inside the measured window */
    uint32_t *lat; /* their latencies, in units of 100 ns */
    size_t nlat, cap;
    uint64_t max_lat_ns;
    uint64_t connected, errors, mismatches;
    char first_error[128];
};

static struct {
    struct sockaddr_in addr;
    size_t conns, size, threads, connect_batch;
    double seconds, warmup, connect_timeout;
} cfg = {.conns = 64,
         .size = 64,
         .threads = 1,
         .connect_batch = 256,
         .seconds = 10,
         .connect_timeout = 30};

static unsigned char *pattern; /* the message body after the header; same for everyone */
static pthread_barrier_t connected_barrier;
static uint64_t run_start_ns; /* set by the main thread between the two barriers */
static pthread_barrier_t start_barrier;

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void fail(struct worker *w, struct conn *c, const char *what, int err) {
    if (!w->first_error[0])
        snprintf(w->first_error, sizeof w->first_error, "conn %u: %s: %s", c->id, what,
                 err ? strerror(err) : "unexpected EOF");
    w->errors++;
    c->state = C_FAILED;
    close(c->fd);
    c->fd = -1;
}

/* ---- messages -------------------------------------------------------------------------- */

static void fill_header(struct conn *c) {
    uint64_t v = (uint64_t)c->id << 32 | c->seq;
    memcpy(c->hdr, &v, HDR);
}

/* The expected bytes [off, off+n) of c's current message match data? */
static bool verify(const struct conn *c, const unsigned char *data, size_t off, size_t n) {
    size_t hdr = cfg.size < HDR ? cfg.size : HDR;
    for (; n && off < hdr; off++, n--, data++)
        if (*data != c->hdr[off])
            return false;
    return n == 0 || memcmp(data, pattern + off, n) == 0;
}

static bool set_out(struct worker *w, struct conn *c, bool want) {
    if (c->want_out == want)
        return true;
    struct epoll_event ev = {.events = EPOLLIN | (want ? EPOLLOUT : 0), .data.ptr = c};
    c->want_out = want;
    return epoll_ctl(w->ep, EPOLL_CTL_MOD, c->fd, &ev) == 0;
}

/* Write (more of) the current message. */
static void send_some(struct worker *w, struct conn *c) {
    size_t hdr = cfg.size < HDR ? cfg.size : HDR;
    while (c->sent < cfg.size) {
        struct iovec iov[2];
        int n = 0;
        if (c->sent < hdr)
            iov[n++] = (struct iovec){c->hdr + c->sent, hdr - c->sent};
        size_t body_off = c->sent > hdr ? c->sent : hdr;
        if (body_off < cfg.size)
            iov[n++] = (struct iovec){pattern + body_off, cfg.size - body_off};
        ssize_t k = writev(c->fd, iov, n);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN) {
                if (!set_out(w, c, true))
                    fail(w, c, "epoll_ctl", errno);
                return;
            }
            fail(w, c, "write", errno);
            return;
        }
        c->sent += (size_t)k;
    }
    if (c->want_out && !set_out(w, c, false))
        fail(w, c, "epoll_ctl", errno);
}

static void start_message(struct worker *w, struct conn *c) {
    c->seq++;
    fill_header(c);
    c->sent = c->rcvd = 0;
    c->t0 = now_ns();
    send_some(w, c);
}

static void record(struct worker *w, uint64_t ns) {
    if (ns > w->max_lat_ns)
        w->max_lat_ns = ns;
    if (w->nlat == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 1 << 16;
        uint32_t *p = realloc(w->lat, cap * sizeof *p);
        if (!p)
            return; /* out of memory: the sample is dropped, the count still goes up */
        w->lat = p;
        w->cap = cap;
    }
    uint64_t units = ns / 100;
    w->lat[w->nlat++] = units > UINT32_MAX ? UINT32_MAX : (uint32_t)units;
}

/* Read what has come back; on a complete echo, count it and send the next message. */
static void recv_some(struct worker *w, struct conn *c, uint64_t measure_from, uint64_t end) {
    while (c->rcvd < cfg.size) {
        ssize_t k = read(c->fd, w->scratch, cfg.size - c->rcvd);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0 && errno == EAGAIN)
            return;
        if (k <= 0) {
            fail(w, c, "read", k < 0 ? errno : 0);
            return;
        }
        if (c->sent < c->rcvd + (size_t)k || !verify(c, w->scratch, c->rcvd, (size_t)k)) {
            w->mismatches++;
            fail(w, c, "echo does not match what was sent", EPROTO);
            return;
        }
        c->rcvd += (size_t)k;
    }
    uint64_t t = now_ns();
    c->served++;
    if (t >= measure_from && t < end) {
        w->msgs++;
        record(w, t - c->t0);
    }
    if (t < end)
        start_message(w, c);
}

/* ---- phases ------------------------------------------------------------------------------ */

static bool begin_connect(struct worker *w, struct conn *c) {
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        fail(w, c, "socket", errno);
        return false;
    }
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(c->fd, (struct sockaddr *)&cfg.addr, sizeof cfg.addr) < 0 && errno != EINPROGRESS) {
        fail(w, c, "connect", errno);
        return false;
    }
    struct epoll_event ev = {.events = EPOLLOUT, .data.ptr = c};
    if (epoll_ctl(w->ep, EPOLL_CTL_ADD, c->fd, &ev) < 0) {
        fail(w, c, "epoll_ctl", errno);
        return false;
    }
    c->state = C_CONNECTING;
    return true;
}

static void connect_all(struct worker *w) {
    uint64_t deadline = now_ns() + (uint64_t)(cfg.connect_timeout * 1e9);
    size_t next = 0, inflight = 0;
    struct epoll_event events[MAX_EVENTS];
    while (next < w->nconns || inflight > 0) {
        while (next < w->nconns && inflight < cfg.connect_batch)
            if (begin_connect(w, &w->conns[next++]))
                inflight++;
        if (inflight == 0)
            continue;
        uint64_t now = now_ns();
        if (now >= deadline)
            break;
        int n = epoll_wait(w->ep, events, MAX_EVENTS, (int)((deadline - now) / 1000000 + 1));
        for (int i = 0; i < n; i++) {
            struct conn *c = events[i].data.ptr;
            if (c->state != C_CONNECTING)
                continue;
            inflight--;
            int err = 0;
            socklen_t len = sizeof err;
            getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
            struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
            if (err || (events[i].events & (EPOLLERR | EPOLLHUP))) {
                fail(w, c, "connect", err ? err : ECONNREFUSED);
            } else if (epoll_ctl(w->ep, EPOLL_CTL_MOD, c->fd, &ev) < 0) {
                fail(w, c, "epoll_ctl", errno);
            } else {
                c->state = C_ACTIVE;
                w->connected++;
            }
        }
    }
    for (size_t i = 0; i < w->nconns; i++)
        if (w->conns[i].state == C_CONNECTING)
            fail(w, &w->conns[i], "connect", ETIMEDOUT);
}

static void *worker_main(void *arg) {
    struct worker *w = arg;
    connect_all(w);
    pthread_barrier_wait(&connected_barrier);
    pthread_barrier_wait(&start_barrier); /* the main thread sets run_start_ns in between */
    uint64_t measure_from = run_start_ns + (uint64_t)(cfg.warmup * 1e9);
    uint64_t end = measure_from + (uint64_t)(cfg.seconds * 1e9);

    for (size_t i = 0; i < w->nconns; i++)
        if (w->conns[i].state == C_ACTIVE)
            start_message(w, &w->conns[i]);
    struct epoll_event events[MAX_EVENTS];
    for (;;) {
        uint64_t now = now_ns();
        if (now >= end)
            break;
        uint64_t wait_ms = (end - now) / 1000000 + 1;
        int n = epoll_wait(w->ep, events, MAX_EVENTS, wait_ms > 100 ? 100 : (int)wait_ms);
        for (int i = 0; i < n; i++) {
            struct conn *c = events[i].data.ptr;
            if (c->state != C_ACTIVE)
                continue;
            if ((events[i].events & EPOLLOUT) && c->sent < cfg.size)
                send_some(w, c);
            if (c->state == C_ACTIVE && (events[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)))
                recv_some(w, c, measure_from, end);
        }
    }
    return NULL;
}

/* ---- command line and report ------------------------------------------------------------- */

static int cmp_u32(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

static double percentile_us(const uint32_t *sorted, size_t n, double p) {
    if (n == 0)
        return 0;
    size_t i = (size_t)(p / 100.0 * (double)n);
    if (i >= n)
        i = n - 1;
    return sorted[i] / 10.0;
}

static void usage(void) {
    fprintf(stderr,
            "usage: " PROG " --port P [--connections C] [--size S] [--seconds T] [--threads N]\n"
            "               [--warmup W] [--host 127.0.0.1] [--connect-batch K]\n"
            "               [--connect-timeout SECONDS]\n");
    exit(2);
}

static double parse_num(const char *s, double min, double max) {
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end || v < min || v > max)
        usage();
    return v;
}

int main(int argc, char **argv) {
    const char *host = "127.0.0.1";
    long port = -1;
    for (int i = 1; i < argc; i += 2) {
        if (i + 1 >= argc)
            usage();
        const char *o = argv[i], *v = argv[i + 1];
        if (!strcmp(o, "--port"))
            port = (long)parse_num(v, 1, 65535);
        else if (!strcmp(o, "--connections"))
            cfg.conns = (size_t)parse_num(v, 1, MAX_CONNS);
        else if (!strcmp(o, "--size"))
            cfg.size = (size_t)parse_num(v, 1, MAX_SIZE);
        else if (!strcmp(o, "--seconds"))
            cfg.seconds = parse_num(v, 0.1, 3600);
        else if (!strcmp(o, "--warmup"))
            cfg.warmup = parse_num(v, 0, 3600);
        else if (!strcmp(o, "--threads"))
            cfg.threads = (size_t)parse_num(v, 1, 256);
        else if (!strcmp(o, "--host"))
            host = v;
        else if (!strcmp(o, "--connect-batch"))
            cfg.connect_batch = (size_t)parse_num(v, 1, MAX_CONNS);
        else if (!strcmp(o, "--connect-timeout"))
            cfg.connect_timeout = parse_num(v, 0.1, 3600);
        else
            usage();
    }
    if (port < 0)
        usage();
    cfg.addr.sin_family = AF_INET;
    cfg.addr.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &cfg.addr.sin_addr) != 1 ||
        (ntohl(cfg.addr.sin_addr.s_addr) >> 24) != 127) {
        fprintf(stderr, PROG ": --host must be a loopback IPv4 address (127.x.y.z)\n");
        return 2;
    }
    if (cfg.threads > cfg.conns)
        cfg.threads = cfg.conns;

    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < cfg.conns + 64) {
        rl.rlim_cur = rl.rlim_max < cfg.conns + 64 ? rl.rlim_max : cfg.conns + 64;
        setrlimit(RLIMIT_NOFILE, &rl);
        if (rl.rlim_cur < cfg.conns + 64)
            fprintf(stderr, PROG ": warning: open-file limit %llu is too low for %zu connections\n",
                    (unsigned long long)rl.rlim_cur, cfg.conns);
    }

    pattern = malloc(cfg.size);
    struct conn *conns = calloc(cfg.conns, sizeof *conns);
    struct worker *workers = calloc(cfg.threads, sizeof *workers);
    if (!pattern || !conns || !workers) {
        fprintf(stderr, PROG ": out of memory\n");
        return 1;
    }
    for (size_t i = 0; i < cfg.size; i++)
        pattern[i] = (unsigned char)(i * 131 + 7);
    for (size_t i = 0; i < cfg.conns; i++)
        conns[i] = (struct conn){.fd = -1, .id = (uint32_t)i};

    pthread_barrier_init(&connected_barrier, NULL, (unsigned)cfg.threads + 1);
    pthread_barrier_init(&start_barrier, NULL, (unsigned)cfg.threads + 1);
    size_t per = cfg.conns / cfg.threads, extra = cfg.conns % cfg.threads, at = 0;
    for (size_t t = 0; t < cfg.threads; t++) {
        struct worker *w = &workers[t];
        w->nconns = per + (t < extra);
        w->conns = conns + at;
        at += w->nconns;
        w->ep = epoll_create1(EPOLL_CLOEXEC);
        w->scratch = malloc(cfg.size);
        if (w->ep < 0 || !w->scratch || pthread_create(&w->thread, NULL, worker_main, w) != 0) {
            fprintf(stderr, PROG ": cannot start thread %zu\n", t);
            return 1;
        }
    }
    uint64_t t_connect = now_ns();
    pthread_barrier_wait(&connected_barrier);
    run_start_ns = now_ns();
    double connect_s = (double)(run_start_ns - t_connect) / 1e9;
    pthread_barrier_wait(&start_barrier);
    for (size_t t = 0; t < cfg.threads; t++)
        pthread_join(workers[t].thread, NULL);

    uint64_t msgs = 0, connected = 0, errors = 0, mismatches = 0, max_ns = 0, served = 0;
    size_t nlat = 0;
    const char *first_error = NULL;
    for (size_t t = 0; t < cfg.threads; t++) {
        struct worker *w = &workers[t];
        msgs += w->msgs;
        connected += w->connected;
        errors += w->errors;
        mismatches += w->mismatches;
        nlat += w->nlat;
        if (w->max_lat_ns > max_ns)
            max_ns = w->max_lat_ns;
        if (!first_error && w->first_error[0])
            first_error = w->first_error;
    }
    for (size_t i = 0; i < cfg.conns; i++) {
        served += conns[i].served > 0;
        if (conns[i].fd >= 0)
            close(conns[i].fd);
    }
    uint32_t *lat = malloc((nlat ? nlat : 1) * sizeof *lat);
    size_t k = 0;
    for (size_t t = 0; t < cfg.threads; t++) {
        if (lat && workers[t].nlat)
            memcpy(lat + k, workers[t].lat, workers[t].nlat * sizeof *lat);
        k += workers[t].nlat;
        free(workers[t].lat);
        free(workers[t].scratch);
        close(workers[t].ep);
    }
    if (!lat)
        nlat = 0;
    qsort(lat, nlat, sizeof *lat, cmp_u32);

    printf(PROG ": conns=%zu size=%zu seconds=%.3f msgs=%llu msgs_per_s=%.1f p50_us=%.1f "
                "p99_us=%.1f p999_us=%.1f max_us=%.1f connected=%llu served=%llu errors=%llu "
                "mismatches=%llu connect_s=%.3f\n",
           cfg.conns, cfg.size, cfg.seconds, (unsigned long long)msgs, (double)msgs / cfg.seconds,
           percentile_us(lat, nlat, 50), percentile_us(lat, nlat, 99),
           percentile_us(lat, nlat, 99.9), (double)max_ns / 1000.0, (unsigned long long)connected,
           (unsigned long long)served, (unsigned long long)errors, (unsigned long long)mismatches,
           connect_s);
    if (first_error)
        fprintf(stderr, PROG ": first error: %s\n", first_error);
    fflush(stdout);
    free(lat);
    free(conns);
    free(workers);
    free(pattern);
    bool ok = connected == cfg.conns && served == cfg.conns && errors == 0;
    return ok ? 0 : 1;
}
