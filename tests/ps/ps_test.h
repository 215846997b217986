/*
 * ps_test.h - what the taskring-ps tests share: start ps_target (or another program) as a
 * child and wait for its READY line, run taskring-ps on it and collect its output and exit
 * status, look for lines.
 */
#ifndef PS_TEST_H
#define PS_TEST_H

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__, #cond);               \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
            ps_cleanup();                                                                          \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

struct child {
    pid_t pid;
    char ready[512];  /* the READY line */
    char counts[512]; /* the COUNTS line, if any */
};

static struct child *ps_children[8];
static int ps_nchildren;
static char *ps_outputs[256]; /* what ps_run returned: freed at exit */
static int ps_noutputs;

static inline void ps_free_outputs(void) {
    for (int i = 0; i < ps_noutputs; i++)
        free(ps_outputs[i]);
    ps_noutputs = 0;
}

static inline void ps_cleanup(void) {
    for (int i = 0; i < ps_nchildren; i++)
        if (ps_children[i]->pid > 0) {
            kill(ps_children[i]->pid, SIGKILL);
            waitpid(ps_children[i]->pid, NULL, 0);
            ps_children[i]->pid = 0;
        }
}

/* Start argv[0] with its stdout on a pipe; wait for "READY". */
static inline void ps_start(struct child *c, char *const argv[]) {
    int p[2];
    if (pipe(p) < 0) {
        perror("pipe");
        exit(1);
    }
    memset(c, 0, sizeof *c);
    c->pid = fork();
    if (c->pid == 0) {
        dup2(p[1], STDOUT_FILENO);
        close(p[0]);
        close(p[1]);
        execv(argv[0], argv);
        perror("execv");
        _exit(127);
    }
    close(p[1]);
    ps_children[ps_nchildren++] = c;
    FILE *f = fdopen(p[0], "r");
    char line[512];
    while (f && fgets(line, sizeof line, f)) {
        if (!strncmp(line, "COUNTS", 6))
            snprintf(c->counts, sizeof c->counts, "%s", line);
        if (!strncmp(line, "READY", 5)) {
            snprintf(c->ready, sizeof c->ready, "%s", line);
            break;
        }
    }
    /* keep the pipe open (the child may print more); leak it on purpose */
    CHECK(c->ready[0], "%s never printed READY", argv[0]);
}

/* The number after "key=" in line, or -1. */
static inline long ps_value(const char *line, const char *key) {
    char k[64];
    snprintf(k, sizeof k, "%s=", key);
    const char *p = strstr(line, k);
    return p ? strtol(p + strlen(k), NULL, 10) : -1;
}

static inline void ps_stop(struct child *c) {
    if (c->pid > 0) {
        kill(c->pid, SIGKILL);
        waitpid(c->pid, NULL, 0);
        c->pid = 0;
    }
}

/* Run taskring-ps with the given arguments (NULL-terminated); its stdout in *out (malloc'd),
 * its exit status returned (128 + signal if it was killed by one). `before_exec` runs in the
 * child before exec (NULL: none). */
static inline int ps_run_with(void (*before_exec)(void), char **out, char **err, ...) {
    /* PS_WRAPPER (e.g. "valgrind --error-exitcode=99 -q"): the reader runs under it */
    char *argv[32];
    int n = 0;
    static char wrapper[256];
    const char *w = getenv("PS_WRAPPER");
    if (w && *w) {
        snprintf(wrapper, sizeof wrapper, "%s", w);
        for (char *save = NULL, *tok = strtok_r(wrapper, " ", &save); tok && n < 12;
             tok = strtok_r(NULL, " ", &save))
            argv[n++] = tok;
    }
    argv[n++] = (char *)TASKRING_PS;
    va_list ap;
    va_start(ap, err);
    for (char *a; n < 31 && (a = va_arg(ap, char *));)
        argv[n++] = a;
    va_end(ap);
    argv[n] = NULL;
    FILE *o = tmpfile(), *e = tmpfile();
    if (!o || !e) {
        perror("tmpfile");
        exit(1);
    }
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fileno(o), STDOUT_FILENO);
        dup2(fileno(e), STDERR_FILENO);
        if (before_exec)
            before_exec();
        execvp(argv[0], argv);
        _exit(126);
    }
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    FILE *fs[2] = {o, e};
    char **dst[2] = {out, err};
    for (int i = 0; i < 2; i++) {
        long len = ftell(fs[i]);
        char *buf = calloc(1, (size_t)(len > 0 ? len : 0) + 1);
        rewind(fs[i]);
        if (len > 0 && fread(buf, 1, (size_t)len, fs[i]) != (size_t)len)
            buf[0] = 0;
        fclose(fs[i]);
        if (!ps_noutputs)
            atexit(ps_free_outputs);
        if (ps_noutputs < 256)
            ps_outputs[ps_noutputs++] = buf;
        if (dst[i])
            *dst[i] = buf;
    }
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

#define ps_run(out, err, ...) ps_run_with(NULL, out, err, __VA_ARGS__, (char *)NULL)

/* The line of `text` that starts with `prefix` after an ID column: the row of the task named
 * `name` in a listing; NULL if none. Copies it into buf. */
static inline const char *ps_row(const char *text, const char *name, char *buf, size_t len) {
    size_t nl = strlen(name);
    for (const char *p = text; p && *p;) {
        const char *end = strchr(p, '\n');
        const char *q = p;
        while (*q && *q != ' ' && *q != '\n') /* the ID column */
            q++;
        while (*q == ' ')
            q++;
        if (!strncmp(q, name, nl) && (q[nl] == ' ' || q[nl] == '\n' || !q[nl])) {
            size_t l = end ? (size_t)(end - p) : strlen(p);
            snprintf(buf, len, "%.*s", (int)(l < len ? l : len - 1), p);
            return buf;
        }
        p = end ? end + 1 : NULL;
    }
    return NULL;
}

static char ps_pid_buf[32];
static inline const char *ps_pid(const struct child *c) {
    snprintf(ps_pid_buf, sizeof ps_pid_buf, "%d", (int)c->pid);
    return ps_pid_buf;
}

#endif
