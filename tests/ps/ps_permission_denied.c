/*
 * ps_permission_denied: a reader that may not read the target (here: uid 65534 reading a
 * child of root) gets the permission exit status (4) and a message saying why. Needs root to
 * set up (exit 77 otherwise).
 */
#include "ps_test.h"

#include <grp.h>

static void drop_privileges(void) {
    if (setgroups(0, NULL) < 0 || setgid(65534) < 0 || setuid(65534) < 0)
        _exit(125);
}

int main(void) {
    if (geteuid() != 0) {
        printf("ps_permission_denied: skipped: needs root (to read a process as another uid)\n");
        return 77;
    }
    /* uid 65534 must be able to run the reader: a copy in a fresh world-readable directory */
    char dir[] = "/tmp/ps_perm.XXXXXX";
    CHECK(mkdtemp(dir), "mkdtemp");
    chmod(dir, 0755);
    char copy[256], cmd[1024];
    snprintf(copy, sizeof copy, "%s/taskring-ps", dir);
    snprintf(cmd, sizeof cmd, "cp '%s' '%s' && chmod 755 '%s'", TASKRING_PS, copy, copy);
    CHECK(system(cmd) == 0, "%s", cmd);
    struct child c;
    ps_start(&c, (char *const[]){PS_TARGET, "busy", NULL});
    char *argv[] = {copy, (char *)ps_pid(&c), NULL};
    FILE *e = tmpfile();
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fileno(e), STDERR_FILENO);
        drop_privileges();
        execv(copy, argv);
        _exit(126);
    }
    int st;
    waitpid(pid, &st, 0);
    char msg[512] = "";
    rewind(e);
    size_t got = fread(msg, 1, sizeof msg - 1, e);
    msg[got] = 0;
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    (void)!system(cmd);
    if (WIFEXITED(st) && (WEXITSTATUS(st) == 125 || WEXITSTATUS(st) == 126)) {
        ps_stop(&c);
        printf("ps_permission_denied: skipped: cannot run the reader as uid 65534 (%d)\n",
               WEXITSTATUS(st));
        return 77;
    }
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 4, "status %d, expected exit 4: %s", st, msg);
    CHECK(strstr(msg, "permission denied"), "message: %s", msg);
    ps_stop(&c);
    printf("ps_permission_denied: OK (%s)", msg);
    return 0;
}
