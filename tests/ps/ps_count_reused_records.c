/*
 * ps_count_reused_records: --count and --floor read the slot table a group of chunks at a
 * time and each group's records in address order. On a child whose tasks sit in reused
 * records handed out in a shuffled order (so neither slot nor spawn order is address order,
 * and a group spans many slabs), every task is still counted once, by its state, and the
 * listing agrees, with the readers --count chooses and with three reader threads. Then a
 * child of 140,000 tasks that never run (35 chunks: three groups, so three readers each
 * read one at the same time, in every build, TSan's included) is counted the same way.
 */
#include "ps_test.h"

/* Past one group of 16 chunks of 4,096 slots, so --count reads with a thread per CPU (a TSan
 * build cannot give the short tasks' fibers their shadow: fewer, and --readers 3 below). */
#if defined(TASKRING_TSAN)
#define NTASKS 10000
#else
#define NTASKS 100000
#endif
#define STR_(x) #x
#define STR(x) STR_(x)

int main(void) {
    struct child c;
    ps_start(&c, (char *const[]){PS_TARGET, "reused", STR(NTASKS), NULL});
    long inversions = ps_value(c.counts, "inversions");
    CHECK(inversions > NTASKS / 8, "the child's records came out in order (%ld inversions)",
          inversions);
    char *out, *err;
    int st = ps_run(&out, &err, "--count", ps_pid(&c));
    CHECK(st == 0, "--count: exit status %d: %s", st, err);
    char expect[128];
    snprintf(expect, sizeof expect, "%d tasks: scheduled %d, running 1; loop 0: %d\n", NTASKS,
             NTASKS - 1, NTASKS);
    CHECK(!strcmp(out, expect), "--count said '%s', expected '%s'", out, expect);
    st = ps_run(&out, &err, "--count", "--readers", "3", ps_pid(&c));
    CHECK(st == 0 && !strcmp(out, expect), "--count --readers 3: %d '%s' '%s', expected '%s'", st,
          out, err, expect);
    st = ps_run(&out, &err, "--count", "--readers", "17", ps_pid(&c));
    CHECK(st == 2 && strstr(err, "--readers needs a number from 1 to 16"),
          "--readers 17: status %d, '%s'", st, err);

    st = ps_run(&out, &err, "--floor", ps_pid(&c));
    CHECK(st == 0, "--floor: exit status %d: %s", st, err);
    char floor_want[64];
    snprintf(floor_want, sizeof floor_want, "%d records read\n", NTASKS);
    CHECK(!strcmp(out, floor_want), "--floor said '%s', expected '%s'", out, floor_want);

    st = ps_run(&out, &err, "--json", ps_pid(&c));
    CHECK(st == 0, "--json: exit status %d: %s", st, err);
    size_t objects = 0, scheduled = 0;
    /* line by line, each searched within its own length (ASan's strstr measures the rest of
     * the 10 MB haystack each time) */
    static const char key[] = "\"state\":\"scheduled\"";
    for (const char *p = out; (p = strchr(p, '\n')); p++)
        if (!strncmp(p, "\n{\"id\":", 7)) {
            objects++;
            const char *e = strchr(p + 1, '\n');
            size_t len = e ? (size_t)(e - p) : strlen(p);
            scheduled += memmem(p, len, key, sizeof key - 1) != NULL;
        }
    CHECK(objects == NTASKS && scheduled == NTASKS - 1, "--json: %zu tasks, %zu scheduled", objects,
          scheduled);
    ps_stop(&c);

    struct child u;
    ps_start(&u, (char *const[]){PS_TARGET, "unstarted", "140000", NULL});
    const char *want_u = "140000 tasks: scheduled 139999, running 1; loop 0: 140000\n";
    for (int readers = 0; readers <= 4; readers++) {
        char r[8];
        snprintf(r, sizeof r, "%d", readers);
        st = readers ? ps_run(&out, &err, "--count", "--readers", r, ps_pid(&u))
                     : ps_run(&out, &err, "--count", ps_pid(&u));
        CHECK(st == 0 && !strcmp(out, want_u), "140,000 tasks, --readers %d: %d '%s' '%s'", readers,
              st, out, err);
    }
    ps_stop(&u);
    printf("ps_count_reused_records: %d tasks counted once (%ld records out of order); 140,000 "
           "with 1 to 4 readers\n",
           NTASKS, inversions);
    return 0;
}
