/*
 * ps_not_taskring: a process that does not link taskring (sleep 100) gets the "not taskring"
 * exit status (5) and a message saying so.
 */
#include "ps_test.h"

int main(void) {
    pid_t pid = fork();
    if (pid == 0) {
        execl("/bin/sleep", "sleep", "100", (char *)NULL);
        _exit(127);
    }
    usleep(100 * 1000); /* exec'd by now */
    char p[32], *out, *err;
    snprintf(p, sizeof p, "%d", (int)pid);
    int st = ps_run(&out, &err, p);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    CHECK(st == 5, "status %d, expected 5: %s", st, err);
    CHECK(strstr(err, "does not link taskring"), "message: %s", err);
    printf("ps_not_taskring: OK (%s)", err);
    return 0;
}
