/*
 * introspect.c - what a task waits on, read by a thread that does not own it.
 *
 * A task's wait lives on its own stack and is overwritten as soon as the wait ends, so a
 * reader on another thread (tr_dump, a signal handler that interrupted some other code) reads
 * it seqlock-style: the task's `wait_seq` before, the waiter, `wait_seq` after; the same
 * value both times means one wait was read whole (wait.h, wait_publish/wait_unpublish, says
 * why the order of the writer's steps makes that true). A reader never writes, so it cannot
 * slow or block the loop, however long it takes.
 */
#include "introspect.h"

#include <assert.h>
#include <string.h>

enum { VIEW_TRIES = 16 };

#define LOAD(field) __atomic_load_n(&(field), __ATOMIC_RELAXED)

/*
 * The waiter's fields, read where the task's stack was a moment ago: by the time they are
 * read the wait may have ended and its frame been reused, which the seqlock check after
 * this catches (and discards what was read). The memory stays mapped while the task's loop
 * runs (a pooled stack keeps its range; a trimmed one reads as zeros), so the read is
 * harmless, but the sanitizers see it: ASan a read of a dead frame, TSan a race with the
 * task's new frame. They are told not to look here, and only here: in TSan builds the fields
 * are read as plain volatile loads, which the attribute leaves uninstrumented.
 */
#if defined(TASKRING_TSAN)
#define RACY(field) (*(const volatile __typeof__(field) *)&(field))
#else
#define RACY(field) LOAD(field)
#endif

__attribute__((no_sanitize("address"))) __attribute__((no_sanitize("thread"))) static void
read_waiter(const tr_task *t, const struct waiter *w, struct wait_view *v) {
    v->kind = RACY(w->kind);
    v->object = RACY(w->object);
    v->deadline_ns = RACY(w->timer_at);
    if (v->kind == WAIT_IO) {
        v->io_opcode = RACY(w->io_opcode);
        v->io_fd = RACY(w->io_fd);
        v->deadline_ns = LOAD(t->scope_deadline_ns); /* the kernel's linked timeout */
    }
}

bool task_wait_view(const tr_task *t, const pin_t *pin, struct wait_view *v) {
    assert(pin != NULL); /* the caller's pin covers t's stack while the view is read */
    (void)pin;
    for (int i = 0; i < VIEW_TRIES; i++) {
        uint32_t before = atomic_load_explicit(&t->wait_seq, memory_order_acquire);
        const struct waiter *w = __atomic_load_n(&t->waiter, __ATOMIC_ACQUIRE);
        /* The step is odd exactly while a wait is published. A waiter seen with an even step
         * is one being published or, worse, one whose wait has ended: its task may be filling
         * the same stack slot with its next wait right now, and the step will not move until
         * that one is published. Not a moment to read: try again. */
        if (w && !(before & 1))
            continue;
        *v = (struct wait_view){.waiting = w != NULL};
        if (w)
            read_waiter(t, w, v);
        atomic_thread_fence(memory_order_acquire);
        if (atomic_load_explicit(&t->wait_seq, memory_order_relaxed) == before)
            return true;
    }
    return false;
}

/* File scope, not in wait_kind_name: the debug descriptor (debug.c) points readers outside the
 * process at this table, so that they print the names this build uses. */
const char *const wait_kind_names[WAIT_KIND_COUNT] = {
    [WAIT_SLEEP] = "sleep",
    [WAIT_TASK] = "await",
    [WAIT_TASKS] = "await-any",
    [WAIT_GROUP] = "group",
    [WAIT_IO] = "io",
    [WAIT_LISTENER] = "accept",
    [WAIT_EVENT] = "event",
    [WAIT_LOCK] = "lock",
    [WAIT_SEM] = "semaphore",
    [WAIT_COND] = "condition",
    [WAIT_QUEUE_GET] = "queue-get",
    [WAIT_QUEUE_PUT] = "queue-put",
    [WAIT_QUEUE_JOIN] = "queue-join",
    [WAIT_THREAD] = "thread",
};

const char *wait_kind_name(unsigned kind) {
    return kind < WAIT_KIND_COUNT && wait_kind_names[kind] ? wait_kind_names[kind] : "?";
}

const char *io_opcode_name(unsigned opcode) {
    switch (opcode) {
    case IORING_OP_NOP:
        return "nop";
    case IORING_OP_READ:
        return "read";
    case IORING_OP_WRITE:
        return "write";
    case IORING_OP_READV:
        return "readv";
    case IORING_OP_WRITEV:
        return "writev";
    case IORING_OP_FSYNC:
        return "fsync";
    case IORING_OP_RECV:
        return "recv";
    case IORING_OP_SEND:
        return "send";
    case IORING_OP_RECVMSG:
        return "recvmsg";
    case IORING_OP_SENDMSG:
        return "sendmsg";
    case IORING_OP_ACCEPT:
        return "accept";
    case IORING_OP_CONNECT:
        return "connect";
    case IORING_OP_OPENAT:
        return "openat";
    case IORING_OP_CLOSE:
        return "close";
    case IORING_OP_POLL_ADD:
        return "poll";
    case IORING_OP_TIMEOUT:
        return "timeout";
    case IORING_OP_SHUTDOWN:
        return "shutdown";
    case IORING_OP_SPLICE:
        return "splice";
    default:
        return "op";
    }
}

/* ---- rows ------------------------------------------------------------------------------------ */

void text_byte(struct text *o, char c) {
    if (o->len < o->cap)
        o->buf[o->len] = c;
    o->len++;
}

/* A run of bytes at once: a byte store through `char *` may alias o->len, so byte by byte
 * the compiler reloads and stores it around every byte (a third of a dump's time). */
static void text_mem(struct text *o, const char *p, size_t n) {
    size_t len = o->len;
    if (len < o->cap) {
        size_t room = o->cap - len;
        memcpy(o->buf + len, p, n < room ? n : room);
    }
    o->len = len + n;
}

void text_str(struct text *o, const char *s) {
    text_mem(o, s, strlen(s));
}

/* v's digits at the end of d[24]; returns where they start. */
static int uint_digits(char d[24], uint64_t v) {
    int n = 24;
    do {
        d[--n] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    return n;
}

void text_uint(struct text *o, uint64_t v) {
    char d[24];
    int n = uint_digits(d, v);
    text_mem(o, d + n, (size_t)(24 - n));
}

/* A signed decimal (an fd may be -1). */
static void text_int(struct text *o, int64_t v) {
    if (v < 0) {
        text_byte(o, '-');
        text_uint(o, (uint64_t)0 - (uint64_t)v);
    } else {
        text_uint(o, (uint64_t)v);
    }
}

void text_hex(struct text *o, uintptr_t v) {
    static const char hex[] = "0123456789abcdef";
    char d[2 + 2 * sizeof v];
    int n = (int)sizeof d;
    do {
        d[--n] = hex[v & 15];
        v >>= 4;
    } while (v);
    d[--n] = 'x';
    d[--n] = '0';
    text_mem(o, d + n, sizeof d - (size_t)n);
}

void text_seconds(struct text *o, uint64_t ns) {
    uint64_t ms = ns / 1000000;
    char d[32];
    int n = uint_digits(d, ms / 1000); /* digits in d[n..24) */
    char *p = d + 24;
    *p++ = '.';
    *p++ = (char)('0' + ms / 100 % 10);
    *p++ = (char)('0' + ms / 10 % 10);
    *p++ = (char)('0' + ms % 10);
    *p++ = 's';
    text_mem(o, d + n, (size_t)(p - (d + n)));
}

/* The length of s's leading run of printable ASCII other than `quote` and backslash. */
static size_t plain_ascii(const char *s, char quote) {
    size_t n = 0;
    for (unsigned char c; (c = (unsigned char)s[n]) >= 0x20 && c < 0x7f && c != quote && c != '\\';)
        n++;
    return n;
}

void text_json_str(struct text *o, const char *s) {
    static const char hex[] = "0123456789abcdef";
    text_byte(o, '"');
    size_t plain = plain_ascii(s, '"');
    text_mem(o, s, plain);
    for (const unsigned char *p = (const unsigned char *)s + plain; *p;) {
        unsigned char c = *p;
        if (c == '"' || c == '\\') {
            text_byte(o, '\\');
            text_byte(o, (char)c);
        } else if (c < 0x20 || c == 0x7f || (c >= 0x80 && task_utf8_sequence(p) == 0)) {
            /* A malformed UTF-8 byte as the code point of the same value: valid JSON, and
             * the reader can tell the bytes back. */
            text_str(o, "\\u00");
            text_byte(o, hex[c >> 4]);
            text_byte(o, hex[c & 15]);
        } else if (c >= 0x80) {
            size_t n = task_utf8_sequence(p);
            for (size_t i = 0; i < n; i++)
                text_byte(o, (char)p[i]);
            p += n;
            continue;
        } else {
            text_byte(o, (char)c);
        }
        p++;
    }
    text_byte(o, '"');
}

const char *task_state_name(unsigned state) {
    static const char *const names[] = {
        [TASK_SCHEDULED] = "scheduled", [TASK_RUNNING] = "running", [TASK_SUSPENDED] = "suspended",
        [TASK_READY] = "ready",         [TASK_DONE] = "done",       [TASK_MOVING] = "moving",
    };
    return state < sizeof names / sizeof *names && names[state] ? names[state] : "?";
}

static uint64_t since(uint64_t now, uint64_t then) {
    return now > then ? now - then : 0;
}

void task_row_read(const tr_task *t, const pin_t *pin, uint64_t now_ns, bool exact,
                   struct task_row *r) {
    memset(r, 0, sizeof *r);
    r->now_ns = now_ns;
    /* Written before the record entered the registry (release): stable while it lives. */
    r->id = t->number;
    r->fn = t->fn;
    r->loop = t->loop->id;
    r->age_ns = since(now_ns, t->created_ns);
    struct tr_loop *at = atomic_load_explicit(&((tr_task *)t)->at, memory_order_acquire);
    r->at = at ? at->id : r->loop;
    r->state = atomic_load_explicit(&t->state, memory_order_acquire);
    r->torn = !task_wait_view(t, pin, &r->wait);
    uint64_t ran = LOAD(t->ran_ns);
    r->idle_ns = ran ? since(now_ns, ran) : UINT64_MAX;
    /* The custom name is freed only once no pin could hold it (record.c): the caller's pin
     * covers this read. A default name is formatted here, never through name_state: a
     * reader that interrupted the formatting (a signal) must not wait for it. */
    struct name_node *custom =
        atomic_load_explicit(&((tr_task *)t)->custom_name, memory_order_acquire);
    if (custom) {
        r->name = custom->text;
    } else {
        task_format_default_name(r->default_name, r->id);
        r->name = r->default_name;
    }
    if (r->torn || !r->wait.waiting)
        return;
    /* The wait was read whole, so its object was the awaited record at that moment; the pin
     * keeps that record from being reused, so its number can be read. */
    if ((r->wait.kind == WAIT_TASK || r->wait.kind == WAIT_TASKS) && r->wait.object)
        r->wait_task_id = LOAD(((const tr_task *)r->wait.object)->number);
    /* A lock is read only on its own thread: t waits there, so the lock lives. */
    if (r->wait.kind == WAIT_LOCK && exact && r->wait.object) {
        tr_task *h = lock_holder(r->wait.object);
        r->lock_holder_id = h ? h->number : 0;
    }
}

static void text_deadline(struct text *o, uint64_t deadline_ns, uint64_t now_ns) {
    if (!deadline_ns) {
        text_str(o, "none");
    } else if (deadline_ns >= now_ns) {
        text_byte(o, '+');
        text_seconds(o, deadline_ns - now_ns);
    } else {
        text_byte(o, '-');
        text_seconds(o, now_ns - deadline_ns);
    }
}

void task_row_text(const struct task_row *r, const char *fn, struct text *o) {
    text_str(o, "  id=");
    text_uint(o, r->id);
    text_str(o, " loop=");
    text_uint(o, r->loop);
    if (r->at != r->loop) {
        text_str(o, " at=");
        text_uint(o, r->at);
    }
    text_str(o, " state=");
    text_str(o, task_state_name(r->state));
    text_str(o, " age=");
    text_seconds(o, r->age_ns);
    text_str(o, " idle=");
    if (r->idle_ns == UINT64_MAX)
        text_str(o, "never");
    else
        text_seconds(o, r->idle_ns);
    text_str(o, " fn=");
    if (fn)
        text_str(o, fn);
    else
        text_hex(o, (uintptr_t)r->fn);
    text_str(o, " name=");
    /* Quoted as tr_task_repr quotes it: one line, whatever the name holds. Most names
     * (Task-N among them) are plain ASCII that quoting leaves as is. */
    size_t plain = plain_ascii(r->name, '\'');
    if (r->name[plain] == '\0') {
        text_byte(o, '\'');
        text_mem(o, r->name, plain);
        text_byte(o, '\'');
    } else {
        size_t room = o->len < o->cap ? o->cap - o->len : 0;
        o->len += task_quote_name(room ? o->buf + o->len : NULL, room, r->name);
    }
    text_str(o, " wait=");
    if (r->torn) {
        text_str(o, "torn");
    } else if (!r->wait.waiting) {
        text_str(o, "none");
    } else {
        const struct wait_view *w = &r->wait;
        text_str(o, wait_kind_name(w->kind));
        if (w->kind == WAIT_IO) {
            text_str(o, " op=");
            text_str(o, io_opcode_name(w->io_opcode));
            text_str(o, " fd=");
            text_int(o, w->io_fd);
        }
        if (r->wait_task_id) {
            text_str(o, " task=");
            text_uint(o, r->wait_task_id);
        }
        if (w->object && w->kind != WAIT_SLEEP && w->kind != WAIT_IO) {
            text_str(o, " object=");
            text_hex(o, (uintptr_t)w->object);
        }
        if (r->lock_holder_id) {
            text_str(o, " holder=");
            text_uint(o, r->lock_holder_id);
        }
        text_str(o, " deadline=");
        text_deadline(o, w->deadline_ns, r->now_ns);
    }
    text_byte(o, '\n');
}

void task_row_json(const struct task_row *r, const char *fn, struct text *o) {
    text_str(o, "{\"id\":");
    text_uint(o, r->id);
    text_str(o, ",\"name\":");
    text_json_str(o, r->name);
    text_str(o, ",\"state\":\"");
    text_str(o, task_state_name(r->state));
    text_str(o, "\",\"fn\":");
    if (fn) {
        text_json_str(o, fn);
    } else {
        text_byte(o, '"');
        text_hex(o, (uintptr_t)r->fn);
        text_byte(o, '"');
    }
    text_str(o, ",\"fn_addr\":\"");
    text_hex(o, (uintptr_t)r->fn);
    text_str(o, "\",\"loop\":");
    text_uint(o, r->loop);
    text_str(o, ",\"at\":");
    text_uint(o, r->at);
    text_str(o, ",\"age_ns\":");
    text_uint(o, r->age_ns);
    text_str(o, ",\"idle_ns\":");
    if (r->idle_ns == UINT64_MAX)
        text_str(o, "null");
    else
        text_uint(o, r->idle_ns);
    text_str(o, ",\"torn\":");
    text_str(o, r->torn ? "true" : "false");
    text_str(o, ",\"wait\":");
    if (r->torn || !r->wait.waiting) {
        text_str(o, "null}");
        return;
    }
    const struct wait_view *w = &r->wait;
    text_str(o, "{\"kind\":\"");
    text_str(o, wait_kind_name(w->kind));
    text_byte(o, '"');
    if (w->kind == WAIT_IO) {
        text_str(o, ",\"op\":\"");
        text_str(o, io_opcode_name(w->io_opcode));
        text_str(o, "\",\"fd\":");
        text_int(o, w->io_fd);
    }
    if (r->wait_task_id) {
        text_str(o, ",\"task\":");
        text_uint(o, r->wait_task_id);
    }
    if (w->object && w->kind != WAIT_SLEEP && w->kind != WAIT_IO) {
        text_str(o, ",\"object\":\"");
        text_hex(o, (uintptr_t)w->object);
        text_byte(o, '"');
    }
    if (r->lock_holder_id) {
        text_str(o, ",\"holder\":");
        text_uint(o, r->lock_holder_id);
    }
    text_str(o, ",\"deadline_in_ns\":");
    if (!w->deadline_ns) {
        text_str(o, "null");
    } else if (w->deadline_ns >= r->now_ns) {
        text_uint(o, w->deadline_ns - r->now_ns);
    } else {
        text_byte(o, '-');
        text_uint(o, r->now_ns - w->deadline_ns);
    }
    text_str(o, "}}");
}
