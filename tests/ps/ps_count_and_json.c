/*
 * ps_count_and_json: on the 100,000-task child, --count gives the one-line summary by state
 * and loop with the child's own numbers, and --json is valid JSON (checked by a small parser
 * here) with one object per task and the fields of a sample (an I/O wait's op and fd, a
 * lock's holder, an awaited task, a listener's fd).
 */
#include "ps_test.h"

/* 100,000 tasks; a TSan build cannot give that many fiber stacks their shadow (ENOMEM). */
#if defined(TASKRING_TSAN)
#define NTASKS 20000
#else
#define NTASKS 100000
#endif
#define STR_(x) #x
#define STR(x) STR_(x)

/* ---- a minimal JSON checker: is the text one valid value? counts objects in "tasks" ---- */
static const char *js;
static bool jvalue(void);
static void jws(void) {
    while (*js == ' ' || *js == '\n' || *js == '\t' || *js == '\r')
        js++;
}
static bool jstring(void) {
    if (*js++ != '"')
        return false;
    while (*js && *js != '"') {
        if ((unsigned char)*js < 0x20)
            return false;
        if (*js == '\\') {
            js++;
            if (*js == 'u') {
                for (int i = 1; i <= 4; i++)
                    if (!strchr("0123456789abcdefABCDEF", js[i]) || !js[i])
                        return false;
                js += 4;
            } else if (!*js || !strchr("\"\\/bfnrt", *js))
                return false;
        }
        js++;
    }
    return *js++ == '"';
}
static bool jnumber(void) {
    const char *s = js;
    if (*js == '-')
        js++;
    while ((*js >= '0' && *js <= '9') || *js == '.' || *js == 'e' || *js == 'E' || *js == '+' ||
           *js == '-')
        js++;
    return js > s;
}
static bool jvalue(void) {
    jws();
    if (*js == '{') {
        js++;
        jws();
        if (*js == '}')
            return js++, true;
        for (;;) {
            jws();
            if (!jstring())
                return false;
            jws();
            if (*js++ != ':' || !jvalue())
                return false;
            jws();
            if (*js == '}')
                return js++, true;
            if (*js++ != ',')
                return false;
        }
    }
    if (*js == '[') {
        js++;
        jws();
        if (*js == ']')
            return js++, true;
        for (;;) {
            if (!jvalue())
                return false;
            jws();
            if (*js == ']')
                return js++, true;
            if (*js++ != ',')
                return false;
        }
    }
    if (*js == '"')
        return jstring();
    if (!strncmp(js, "true", 4) || !strncmp(js, "null", 4))
        return js += 4, true;
    if (!strncmp(js, "false", 5))
        return js += 5, true;
    return jnumber();
}

/* The JSON object (one line: taskring-ps prints one task per line) with "name":"<name>". */
static const char *jtask(const char *text, const char *name, char *buf, size_t len) {
    char key[96];
    snprintf(key, sizeof key, "\"name\":\"%s\"", name);
    const char *p = strstr(text, key);
    if (!p)
        return NULL;
    while (p > text && p[-1] != '\n')
        p--;
    const char *e = strchr(p, '\n');
    snprintf(buf, len, "%.*s", (int)(e ? e - p : (long)strlen(p)), p);
    return buf;
}

int main(void) {
    struct child c;
    ps_start(&c, (char *const[]){PS_TARGET, "states", STR(NTASKS), NULL});
    char *out, *err;
    int st = ps_run(&out, &err, "--count", ps_pid(&c));
    CHECK(st == 0, "--count: exit status %d: %s", st, err);
    char want[256];
    long w0 = ps_value(c.counts, "waiting0"), w1 = ps_value(c.counts, "waiting1"),
         sch = ps_value(c.counts, "scheduled");
    snprintf(want, sizeof want,
             "%d tasks: scheduled %ld, running 1, waiting %ld; loop 0: %ld, loop 1: %ld\n", NTASKS,
             sch, w0 + w1, NTASKS - w1, w1);
    CHECK(!strcmp(out, want), "--count said '%s', expected '%s'", out, want);

    st = ps_run(&out, &err, "--json", ps_pid(&c));
    CHECK(st == 0, "--json: exit status %d: %s", st, err);
    js = out;
    CHECK(jvalue(), "--json: not valid JSON near byte %ld: '%.40s'", (long)(js - out), js);
    jws();
    CHECK(!*js, "--json: text after the value: '%.40s'", js);
    size_t objects = 0;
    /* line by line: a strstr loop over 15 MB is quadratic where strstr measures its haystack
     * (ASan's does) */
    for (const char *p = out; (p = strchr(p, '\n')); p++)
        objects += !strncmp(p, "\n{\"id\":", 7);
    CHECK(objects == NTASKS, "--json: %zu task objects", objects);
    CHECK(strstr(out, "\"count\":" STR(NTASKS) ",\"torn\":0}"), "--json: no count/torn trailer");
    char obj[1024], obj2[1024];
    snprintf(want, sizeof want, "\"op\":\"recv\",\"fd\":%ld", ps_value(c.ready, "recv_fd"));
    CHECK(jtask(out, "recv-waiter", obj, sizeof obj) && strstr(obj, want), "recv-waiter: %s", obj);
    CHECK(strstr(obj, "\"state\":\"waiting\",\"loop\":0,\"function\":\"recv_waiter_fn\""),
          "recv-waiter: %s", obj);
    snprintf(want, sizeof want, "\"kind\":\"accept\"");
    CHECK(jtask(out, "acceptor", obj, sizeof obj) && strstr(obj, want), "acceptor: %s", obj);
    snprintf(want, sizeof want, "\"fd\":%ld", ps_value(c.ready, "listen_fd"));
    CHECK(strstr(obj, want), "acceptor: %s", obj);
    CHECK(jtask(out, "lock-holder", obj2, sizeof obj2), "lock-holder");
    snprintf(want, sizeof want, "\"holder\":%ld", strtol(obj2 + 6, NULL, 10));
    CHECK(jtask(out, "lock-waiter", obj, sizeof obj) && strstr(obj, want), "lock-waiter: %s", obj);
    CHECK(jtask(out, "tree-root", obj2, sizeof obj2), "tree-root");
    snprintf(want, sizeof want, "\"kind\":\"await\",\"object\":\"0x");
    CHECK(jtask(out, "tree-a", obj, sizeof obj) && strstr(obj, want), "tree-a: %s", obj);
    snprintf(want, sizeof want, "\"task\":%ld", strtol(obj2 + 6, NULL, 10));
    CHECK(strstr(obj, want), "tree-a: %s lacks %s", obj, want);
    CHECK(jtask(out, "sleeper", obj, sizeof obj) && strstr(obj, "\"kind\":\"sleep\"") &&
              strstr(obj, "\"deadline_in_s\":3"),
          "sleeper: %s", obj);
    ps_stop(&c);
    printf("ps_count_and_json: OK\n");
    return 0;
}
