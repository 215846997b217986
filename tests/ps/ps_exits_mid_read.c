/*
 * ps_exits_mid_read: a process that exits while taskring-ps reads it gets the "exited" exit
 * status (7). The reader is stopped (TASKRING_PS_TEST_STOP: it raises SIGSTOP once it has
 * found the descriptor, before it reads the tasks), the target is killed and reaped, and the
 * reader continued.
 */
#include "ps_test.h"

static void set_stop(void) {
    setenv("TASKRING_PS_TEST_STOP", "1", 1);
}

int main(void) {
    struct child c;
    ps_start(&c, (char *const[]){PS_TARGET, "states", "1000", NULL});
    char *argv[] = {(char *)TASKRING_PS, (char *)ps_pid(&c), NULL};
    FILE *e = tmpfile();
    pid_t reader = fork();
    if (reader == 0) {
        dup2(fileno(e), STDERR_FILENO);
        set_stop();
        execv(argv[0], argv);
        _exit(126);
    }
    int st;
    CHECK(waitpid(reader, &st, WUNTRACED) == reader && WIFSTOPPED(st), "the reader did not stop");
    ps_stop(&c); /* killed and reaped while the reader holds its descriptor */
    kill(reader, SIGCONT);
    CHECK(waitpid(reader, &st, 0) == reader, "waitpid");
    char msg[512] = "";
    rewind(e);
    size_t got = fread(msg, 1, sizeof msg - 1, e);
    msg[got] = 0;
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 7, "status %d, expected exit 7: %s", st, msg);
    CHECK(strstr(msg, "exited while it was read"), "message: %s", msg);
    printf("ps_exits_mid_read: OK (%s)", msg);
    return 0;
}
