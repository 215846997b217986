/*
 * ps_zombie_is_gone: a process that has exited but is not reaped yet (a zombie: no memory
 * mappings, still in /proc) gets the "no such process" status (3), as a reaped one does.
 */
#include "ps_test.h"

#include <time.h>

int main(void) {
    pid_t pid = fork();
    if (pid == 0)
        _exit(0);
    CHECK(pid > 0, "fork");
    char path[64], buf[512] = "";
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    for (int i = 0; i < 2000; i++) { /* until the kernel shows it as a zombie */
        FILE *f = fopen(path, "r");
        buf[0] = 0;
        if (f) {
            if (!fgets(buf, sizeof buf, f))
                buf[0] = 0;
            fclose(f);
        }
        const char *p = strrchr(buf, ')');
        if (p && p[1] == ' ' && p[2] == 'Z')
            break;
        nanosleep(&(struct timespec){0, 1000000}, NULL);
    }
    const char *p = strrchr(buf, ')');
    CHECK(p && p[2] == 'Z', "the child never became a zombie: %s", buf);
    char pid_s[32], *out, *err;
    snprintf(pid_s, sizeof pid_s, "%d", (int)pid);
    int st = ps_run(&out, &err, pid_s);
    waitpid(pid, NULL, 0);
    CHECK(st == 3, "status %d, expected 3: %s", st, err);
    CHECK(strstr(err, "no such process"), "message: %s", err);
    printf("ps_zombie_is_gone: OK (%s)", err);
    return 0;
}
