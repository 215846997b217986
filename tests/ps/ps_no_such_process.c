/*
 * ps_no_such_process: a PID that names no process gets the "no such process" exit status (3);
 * bad arguments get the usage status (2).
 */
#include "ps_test.h"

int main(void) {
    pid_t pid = fork();
    if (pid == 0)
        _exit(0);
    waitpid(pid, NULL, 0); /* reaped: the PID names nothing now (until it is reused) */
    char p[32], *out, *err;
    snprintf(p, sizeof p, "%d", (int)pid);
    int st = ps_run(&out, &err, p);
    CHECK(st == 3, "status %d, expected 3: %s", st, err);
    CHECK(strstr(err, "no such process"), "message: %s", err);
    st = ps_run(&out, &err, "not-a-pid");
    CHECK(st == 2, "a bad PID: status %d, expected 2: %s", st, err);
    st = ps_run(&out, &err, "--watch", "0", "1");
    CHECK(st == 2, "--watch 0: status %d, expected 2: %s", st, err);
    st = ps_run(&out, &err, "--frobnicate", "1");
    CHECK(st == 2, "unknown option: status %d, expected 2: %s", st, err);
    printf("ps_no_such_process: OK\n");
    return 0;
}
