/*
 * taskring-ps - list the tasks of a running process that links taskring, from outside it.
 *
 *   taskring-ps [--tree | --json | --count] [--watch N] [--retries N] [--readers N] PID
 *
 * It runs no code in the target and needs nothing from it but readable memory: it finds the
 * descriptor the runtime publishes (runtime/debug_layout.h: an ELF note, or the exported
 * symbol taskring_debug) in the ELF files the target maps, then reads the slot table, the task
 * records, their waiters and names with process_vm_readv, many iovecs per call. The target
 * changes while it is read, so every row is validated seqlock-style (the record read twice
 * around its waiter and name: same wait_seq, name_seq, waiter, name, number, magic, state),
 * retried, and shown as torn when it kept changing. Everything from the target is data: the
 * descriptor is checked before use, names and symbols are escaped on output.
 * docs/taskring-ps.1 lists the exit statuses.
 */
#define _GNU_SOURCE
#include "debug_layout.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

_Static_assert(sizeof(void *) == 8, "taskring-ps reads 64-bit targets from a 64-bit build");

/* Exit statuses (docs/taskring-ps.1). */
enum {
    EXIT_OK = 0,
    EXIT_ERROR = 1,      /* out of memory, an unexpected read error */
    EXIT_USAGE = 2,      /* bad arguments */
    EXIT_NO_PROCESS = 3, /* no such process */
    EXIT_PERM = 4,       /* permission denied (uid, ptrace scope, capabilities) */
    EXIT_NOT_TASKRING = 5,
    EXIT_LAYOUT = 6, /* a descriptor of another layout version, or one that makes no sense */
    EXIT_GONE = 7,   /* the process exited while it was read */
};

static const char *prog = "taskring-ps";

/* Held by the first caller of die for good: a reader thread that fails at the same moment (the
 * target exited under every reader) waits here, as exit from two threads at once is undefined
 * and two messages would interleave. */
static pthread_mutex_t die_lock = PTHREAD_MUTEX_INITIALIZER;

__attribute__((noreturn, format(printf, 2, 3))) static void die(int status, const char *fmt, ...) {
    pthread_mutex_lock(&die_lock);
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: ", prog);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(status);
}

static void *xcalloc(size_t n, size_t size) {
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p)
        die(EXIT_ERROR, "out of memory");
    return p;
}

static void *xrealloc(void *p, size_t n, size_t size) {
    size_t bytes;
    if (__builtin_mul_overflow(n, size, &bytes) || !(p = realloc(p, bytes ? bytes : 1)))
        die(EXIT_ERROR, "out of memory");
    return p;
}

/* ---- reading the target's memory ------------------------------------------------------------ */

static pid_t target;
static bool reading; /* the descriptor was found: ESRCH now means the process exited */

/* A read failed as a whole: the process is gone, or we may not read it. */
static void read_failed(int err) {
    if (err == ESRCH)
        die(reading ? EXIT_GONE : EXIT_NO_PROCESS,
            reading ? "process %d exited while it was read" : "no such process: %d", (int)target);
    if (err == EPERM || err == EACCES)
        die(EXIT_PERM,
            "permission denied reading process %d (needs the same uid and ptrace access, "
            "or CAP_SYS_PTRACE; see kernel.yama.ptrace_scope)",
            (int)target);
    if (err == ENOMEM)
        die(EXIT_ERROR, "out of memory");
    die(EXIT_ERROR, "reading process %d: %s", (int)target, strerror(err));
}

/* One read of len bytes at addr: true when all were read. */
static bool peek(uint64_t addr, void *buf, size_t len) {
    struct iovec l = {buf, len}, r = {(void *)(uintptr_t)addr, len};
    ssize_t n = process_vm_readv(target, &l, 1, &r, 1, 0);
    if (n < 0 && errno != EFAULT && errno != EIO)
        read_failed(errno);
    return n == (ssize_t)len;
}

/* Big arrays: anonymous memory, huge pages where the kernel gives them (a million rows fault
 * in far fewer pages). */
static void *big_alloc(size_t n, size_t size) {
    size_t bytes;
    if (__builtin_mul_overflow(n ? n : 1, size ? size : 1, &bytes) || bytes > SIZE_MAX / 2)
        die(EXIT_ERROR, "out of memory");
    bytes = ((bytes + 4095) & ~(size_t)4095) + 4096;
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        die(EXIT_ERROR, "out of memory");
#ifdef MADV_HUGEPAGE
    if (bytes >= (2u << 20))
        madvise(p, bytes, MADV_HUGEPAGE);
#endif
    *(size_t *)p = bytes; /* the size, in the page before what the caller gets */
    return (char *)p + 4096;
}

static void big_free(void *q, size_t n, size_t size) {
    (void)n, (void)size;
    if (q) {
        char *p = (char *)q - 4096;
        munmap(p, *(size_t *)p);
    }
}

/*
 * A batch of reads: request i reads len[i] bytes at addr[i], and the batch's callback gets
 * them (or NULL: not all of them could be read, e.g. a record whose slab is gone) with tag[i].
 * Requests in address order that are close together are read as one range (a slab's records
 * in one iovec, not one each: process_vm_readv costs mostly per iovec and per page pinned,
 * not per byte), up to IOV_MAX ranges per call, through one scratch buffer, so the reader
 * never holds a copy of more than it keeps.
 */
typedef void batch_fn(void *ctx, uint32_t tag, const unsigned char *data);

struct batch {
    size_t n, cap;
    uint64_t *addr;
    uint32_t *len;
    uint32_t *tag;
};

static void batch_reset(struct batch *b) {
    b->n = 0;
}

static void batch_free(struct batch *b) {
    big_free(b->addr, b->cap, 8);
    big_free(b->len, b->cap, 4);
    big_free(b->tag, b->cap, 4);
    *b = (struct batch){0};
}

static void batch_reserve(struct batch *b, size_t cap) {
    if (cap <= b->cap)
        return;
    struct batch nb = {.n = b->n, .cap = cap};
    nb.addr = big_alloc(cap, 8);
    nb.len = big_alloc(cap, 4);
    nb.tag = big_alloc(cap, 4);
    if (b->n) {
        memcpy(nb.addr, b->addr, b->n * 8);
        memcpy(nb.len, b->len, b->n * 4);
        memcpy(nb.tag, b->tag, b->n * 4);
    }
    batch_free(b);
    *b = nb;
}

static void batch_add(struct batch *b, uint64_t addr, uint32_t len, uint32_t tag) {
    if (b->n == b->cap)
        batch_reserve(b, b->cap ? b->cap * 2 : 1024);
    b->addr[b->n] = addr;
    b->len[b->n] = len;
    b->tag[b->n] = tag;
    b->n++;
}

enum { MERGE_GAP = 512, SCRATCH = 8 << 20, MAXV = 1024 };

/* Per thread: --count and --floor read with several (each_record_streamed). */
static _Thread_local unsigned char *scratch;

static void scratch_release(void) {
    if (scratch)
        big_free(scratch, SCRATCH, 1);
    scratch = NULL;
}

/* Requests [from, to) one at a time: a range that failed has unmapped parts. */
static void batch_run_each(struct batch *b, size_t from, size_t to, batch_fn *fn, void *ctx) {
    for (size_t i = from; i < to; i++) {
        unsigned char *buf = b->len[i] <= SCRATCH ? scratch : xcalloc(1, b->len[i]);
        fn(ctx, b->tag[i], peek(b->addr[i], buf, b->len[i]) ? buf : NULL);
        if (buf != scratch)
            free(buf);
    }
}

static void batch_run(struct batch *b, batch_fn *fn, void *ctx) {
    static _Thread_local struct iovec l[MAXV], r[MAXV];
    static _Thread_local size_t first[MAXV], last[MAXV];
    if (!scratch)
        scratch = big_alloc(SCRATCH, 1);
    size_t i = 0;
    while (i < b->n) {
        size_t nr = 0, used = 0;
        while (i < b->n && nr < MAXV) {
            uint64_t start = b->addr[i], end = start + b->len[i];
            size_t j = i + 1;
            while (j < b->n && b->addr[j] >= start && b->addr[j] <= end + MERGE_GAP &&
                   b->addr[j] + b->len[j] - start <= SCRATCH / 4) {
                if (b->addr[j] + b->len[j] > end)
                    end = b->addr[j] + b->len[j];
                j++;
            }
            if (used + (end - start) > SCRATCH) {
                if (nr)
                    break;
                batch_run_each(b, i, j, fn, ctx); /* larger than the scratch buffer */
                i = j;
                continue;
            }
            l[nr] = (struct iovec){scratch + used, end - start};
            r[nr] = (struct iovec){(void *)(uintptr_t)start, end - start};
            first[nr] = i;
            last[nr] = j;
            used += end - start;
            nr++;
            i = j;
        }
        if (!nr)
            continue;
        ssize_t got = process_vm_readv(target, l, nr, r, nr, 0);
        if (got < 0) {
            if (errno != EFAULT && errno != EIO)
                read_failed(errno);
            got = 0;
        }
        size_t bytes = (size_t)got, k = 0;
        for (; k < nr && bytes >= l[k].iov_len; k++) {
            bytes -= l[k].iov_len;
            uint64_t base = (uint64_t)(uintptr_t)r[k].iov_base;
            const unsigned char *src = l[k].iov_base;
            for (size_t q = first[k]; q < last[k]; q++)
                fn(ctx, b->tag[q], src + (b->addr[q] - base));
        }
        if (k < nr) { /* range k stopped the call: its requests one by one, then go on */
            batch_run_each(b, first[k], last[k], fn, ctx);
            i = last[k];
        }
    }
}

static uint64_t field_u64(const unsigned char *rec, struct tr_debug_field f) {
    switch (f.size) {
    case 1:
        return rec[f.offset];
    case 2: {
        uint16_t v;
        memcpy(&v, rec + f.offset, 2);
        return v;
    }
    case 4: {
        uint32_t v;
        memcpy(&v, rec + f.offset, 4);
        return v;
    }
    default: {
        uint64_t v;
        memcpy(&v, rec + f.offset, 8);
        return v;
    }
    }
}

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- the target's mapped ELF files: the descriptor, function symbols --------------------- */

struct sym {
    uint64_t addr, size;
    const char *name;
};

static struct sym *syms;
static size_t nsyms, syms_cap;

struct elf_file {
    unsigned char *data;
    size_t size;
    uint64_t bias;
};

static int open_mapped(unsigned long start, unsigned long end, const char *path) {
    char p[PATH_MAX + 64];
    snprintf(p, sizeof p, "/proc/%d/map_files/%lx-%lx", (int)target, start, end);
    int fd = open(p, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(p, sizeof p, "/proc/%d/root%s", (int)target, path);
        fd = open(p, O_RDONLY | O_CLOEXEC);
    }
    if (fd < 0)
        fd = open(path, O_RDONLY | O_CLOEXEC);
    return fd;
}

static bool elf_map(int fd, struct elf_file *f) {
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (size_t)st.st_size < sizeof(Elf64_Ehdr))
        return false;
    void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (m == MAP_FAILED)
        return false;
    const Elf64_Ehdr *eh = m;
    if (memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 || eh->e_ident[EI_CLASS] != ELFCLASS64 ||
        eh->e_shoff > (uint64_t)st.st_size ||
        eh->e_shnum * (uint64_t)sizeof(Elf64_Shdr) > (uint64_t)st.st_size - eh->e_shoff ||
        eh->e_phoff > (uint64_t)st.st_size ||
        eh->e_phnum * (uint64_t)sizeof(Elf64_Phdr) > (uint64_t)st.st_size - eh->e_phoff) {
        munmap(m, (size_t)st.st_size);
        return false;
    }
    f->data = m;
    f->size = (size_t)st.st_size;
    return true;
}

static const Elf64_Shdr *elf_sections(const struct elf_file *f, unsigned *n) {
    const Elf64_Ehdr *eh = (const void *)f->data;
    *n = eh->e_shnum;
    return (const void *)(f->data + eh->e_shoff);
}

/* The load bias: where the mapping at file offset 0 starts minus the vaddr it has in the file. */
static uint64_t elf_bias(const struct elf_file *f, unsigned long start) {
    const Elf64_Ehdr *eh = (const void *)f->data;
    const Elf64_Phdr *ph = (const void *)(f->data + eh->e_phoff);
    for (unsigned i = 0; i < eh->e_phnum; i++)
        if (ph[i].p_type == PT_LOAD)
            return start - (ph[i].p_vaddr - ph[i].p_offset);
    return start;
}

/* The descriptor's address from the .note.taskring note, or 0. */
static uint64_t elf_find_note(const struct elf_file *f) {
    unsigned n;
    const Elf64_Shdr *sh = elf_sections(f, &n);
    for (unsigned i = 0; i < n; i++) {
        if (sh[i].sh_type != SHT_NOTE || sh[i].sh_offset > f->size ||
            sh[i].sh_size > f->size - sh[i].sh_offset)
            continue;
        uint64_t off = 0;
        while (off + sizeof(Elf64_Nhdr) <= sh[i].sh_size) {
            const Elf64_Nhdr *nh = (const void *)(f->data + sh[i].sh_offset + off);
            uint64_t name_at = off + sizeof *nh;
            uint64_t desc_at = name_at + ((nh->n_namesz + 3u) & ~3u);
            uint64_t next = desc_at + ((nh->n_descsz + 3u) & ~3u);
            if (next > sh[i].sh_size)
                break;
            if (nh->n_type == TR_DEBUG_NOTE_TYPE && nh->n_namesz == sizeof TR_DEBUG_NOTE_NAME &&
                nh->n_descsz == 8 &&
                memcmp(f->data + sh[i].sh_offset + name_at, TR_DEBUG_NOTE_NAME,
                       sizeof TR_DEBUG_NOTE_NAME) == 0) {
                int64_t rel;
                memcpy(&rel, f->data + sh[i].sh_offset + desc_at, 8);
                return f->bias + sh[i].sh_addr + desc_at + (uint64_t)rel;
            }
            off = next;
        }
    }
    return 0;
}

/* Function symbols (and the descriptor symbol, when the note is missing) of one file. */
static uint64_t elf_read_symbols(const struct elf_file *f, bool want_syms) {
    unsigned n;
    const Elf64_Shdr *sh = elf_sections(f, &n);
    uint64_t descriptor = 0;
    for (int pass = 0; pass < 2; pass++) {
        unsigned type = pass == 0 ? SHT_SYMTAB : SHT_DYNSYM;
        for (unsigned i = 0; i < n; i++) {
            if (sh[i].sh_type != type || sh[i].sh_link >= n || sh[i].sh_offset > f->size ||
                sh[i].sh_size > f->size - sh[i].sh_offset)
                continue;
            const Elf64_Shdr *str = &sh[sh[i].sh_link];
            if (str->sh_offset > f->size || str->sh_size > f->size - str->sh_offset)
                continue;
            const Elf64_Sym *s = (const void *)(f->data + sh[i].sh_offset);
            const char *strtab = (const char *)f->data + str->sh_offset;
            size_t count = sh[i].sh_size / sizeof *s;
            for (size_t j = 0; j < count; j++) {
                if (s[j].st_shndx == SHN_UNDEF || s[j].st_name >= str->sh_size)
                    continue;
                const char *name = strtab + s[j].st_name;
                if (!memchr(name, 0, str->sh_size - s[j].st_name))
                    continue;
                unsigned st = ELF64_ST_TYPE(s[j].st_info);
                if (st == STT_OBJECT && !descriptor && strcmp(name, TR_DEBUG_SYMBOL) == 0)
                    descriptor = f->bias + s[j].st_value;
                if (!want_syms || (st != STT_FUNC && st != STT_GNU_IFUNC) || !s[j].st_value)
                    continue;
                if (nsyms == syms_cap) {
                    syms_cap = syms_cap ? syms_cap * 2 : 4096;
                    syms = xrealloc(syms, syms_cap, sizeof *syms);
                }
                syms[nsyms++] = (struct sym){f->bias + s[j].st_value, s[j].st_size, name};
            }
        }
        if (want_syms && pass == 0 && nsyms)
            want_syms = true; /* .dynsym too: duplicates are harmless */
    }
    return descriptor;
}

static int sym_cmp(const void *a, const void *b) {
    const struct sym *x = a, *y = b;
    return x->addr < y->addr ? -1 : x->addr > y->addr;
}

/* Walk /proc/PID/maps: the descriptor's address (0: none found), and, when want_syms, every
 * mapped file's function symbols. */
static uint64_t scan_maps(bool want_syms) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/maps", (int)target);
    FILE *maps = fopen(path, "re");
    if (!maps) {
        if (errno == ENOENT)
            die(EXIT_NO_PROCESS, "no such process: %d", (int)target);
        if (errno == EACCES || errno == EPERM)
            read_failed(EPERM);
        die(EXIT_ERROR, "%s: %s", path, strerror(errno));
    }
    char line[PATH_MAX + 256];
    uint64_t descriptor = 0;
    char last[PATH_MAX] = "";
    int lines = 0;
    while (fgets(line, sizeof line, maps)) {
        lines++;
        unsigned long start, end, offset;
        char perms[8];
        int at = 0;
        if (sscanf(line, "%lx-%lx %7s %lx %*s %*s %n", &start, &end, perms, &offset, &at) < 4 ||
            !at)
            continue;
        char *file = line + at;
        file[strcspn(file, "\n")] = 0;
        if (file[0] != '/' || offset != 0 || strcmp(file, last) == 0)
            continue;
        snprintf(last, sizeof last, "%s", file);
        int fd = open_mapped(start, end, file);
        if (fd < 0)
            continue;
        struct elf_file f;
        bool ok = elf_map(fd, &f);
        close(fd);
        if (!ok)
            continue;
        f.bias = elf_bias(&f, start);
        uint64_t d = elf_find_note(&f);
        uint64_t s = elf_read_symbols(&f, want_syms);
        if (!descriptor)
            descriptor = d ? d : s;
        if (!want_syms)
            munmap(f.data, f.size); /* else the names stay in use */
    }
    fclose(maps);
    if (!lines) { /* an empty maps file: a zombie (it has exited), or a kernel thread */
        char stat[64], buf[512] = "";
        snprintf(stat, sizeof stat, "/proc/%d/stat", (int)target);
        FILE *f = fopen(stat, "re");
        if (f) {
            if (!fgets(buf, sizeof buf, f))
                buf[0] = 0;
            fclose(f);
        }
        const char *paren = strrchr(buf, ')');
        if (!f || (paren && paren[1] == ' ' && (paren[2] == 'Z' || paren[2] == 'X')))
            die(EXIT_NO_PROCESS, "no such process: %d (it has exited)", (int)target);
        die(EXIT_NOT_TASKRING, "process %d has no memory mappings (a kernel thread)", (int)target);
    }
    if (want_syms)
        qsort(syms, nsyms, sizeof *syms, sym_cmp);
    return descriptor;
}

/* The function symbol at or before addr (within its size when known), cached per address. */
static const char *symbol_of(uint64_t addr, char *buf, size_t len) {
    enum { CACHE = 256 };
    static uint64_t ckey[CACHE];
    static const char *cval[CACHE];
    size_t h = (size_t)(addr >> 4) % CACHE;
    if (addr && ckey[h] == addr)
        return cval[h];
    size_t lo = 0, hi = nsyms;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (syms[mid].addr <= addr)
            lo = mid + 1;
        else
            hi = mid;
    }
    const char *name = NULL;
    if (lo > 0) {
        const struct sym *s = &syms[lo - 1];
        if (s->addr == addr)
            name = s->name;
        else if (!s->size || addr < s->addr + s->size) {
            snprintf(buf, len, "%s+0x%" PRIx64, s->name, addr - s->addr);
            return buf;
        }
    }
    if (!name) {
        snprintf(buf, len, "0x%" PRIx64, addr);
        return buf;
    }
    ckey[h] = addr;
    cval[h] = name;
    return name;
}

/* ---- the tasks ------------------------------------------------------------------------------ */

static struct tr_debug_descriptor d;
static char **state_names, **kind_names;
static uint32_t lock_holder_off, lock_number_off, listener_fd_off;
static uint32_t rec_len; /* bytes of a record the reader needs */

enum { NAME_READ = 64, NAME_MAX_SHOWN = 1024 };

struct task {
    uint64_t addr;
    uint64_t slot;
    bool valid; /* read whole: every field below is from one moment of the task */
    bool torn;  /* kept changing under the reader: only its id is shown */
    bool gone;  /* finished while it was read: not listed */
    bool name_long;
    uint8_t state;
    uint8_t kind, io_opcode; /* the wait */
    int32_t io_fd;
    uint32_t wait_seq;
    uint32_t name_seq;
    unsigned loop;
    uint64_t id; /* the number: "Task-N" */
    uint64_t fn, at, waiter, name_ptr, created_ns, ran_ns, scope_deadline;
    uint64_t object, timer_at;
    int64_t detail; /* a lock's holder id, a listener's fd, an awaited task's id; -1: unknown */
    /* An await's task: the number its record held while this row's reads agreed (read
     * between them, so of the task awaited then, not of a later user of the record). */
    uint64_t awaited_id;
    bool awaited_known;
    int64_t awaits; /* row of the task it waits for (await, a lock's holder); -1: none */
    char *name;     /* custom name, or NULL: "Task-<id>" */
};

struct table {
    struct task *t; /* in address order */
    size_t n, cap;
    struct batch b; /* reused from window to window (fresh memory is slow) */
    uint32_t *todo, *again;
    uint64_t read_ns; /* the reader's clock when it read */
    size_t torn;
    uint32_t *order; /* rows by id, for output */
};

/* A state or wait kind name: a word of printable ASCII, not quoted or escaped anywhere, so
 * anything else in it (a corrupt or hostile table) becomes '?'. */
static char *read_string(uint64_t addr, size_t max) {
    char buf[256];
    if (!addr || !peek(addr, buf, sizeof buf)) {
        /* near the end of a mapping: byte by byte up to what is mapped */
        size_t n = 0;
        while (n < sizeof buf - 1 && addr && peek(addr + n, buf + n, 1) && buf[n])
            n++;
        buf[n] = 0;
    }
    buf[sizeof buf - 1] = 0;
    (void)max;
    for (char *c = buf; *c; c++)
        if (*c <= 0x20 || *c >= 0x7f || *c == '"' || *c == '\\')
            *c = '?';
    return strdup(buf);
}

/* Caps of what a descriptor may describe: far above the real sizes (a tr_task is a few
 * hundred bytes, a lock or listener less), low enough that nothing the reader computes from
 * them overflows or allocates without bound. */
enum { MAX_STRUCT = 1 << 16, MAX_CHUNKS_READ = 1 << 20, MAX_SLOTS_PER_CHUNK = 1 << 20 };

__attribute__((noreturn, format(printf, 1, 2))) static void layout_bad(const char *fmt, ...) {
    char what[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    die(EXIT_LAYOUT, "process %d: the layout descriptor (version %u) makes no sense: %s",
        (int)target, d.version, what);
}

/* A field of a struct of `size` bytes: inside it, and a width field_u64 reads. */
static void field_check(const struct tr_debug_field *f, uint32_t size, const char *what) {
    if ((uint64_t)f->offset + f->size > size ||
        (f->size != 1 && f->size != 2 && f->size != 4 && f->size != 8))
        layout_bad("a %s field at offset %u of %u bytes (the %s has %u)", what, f->offset, f->size,
                   what, size);
}

/* The descriptor, its names and the objects' offsets. */
static void load_descriptor(uint64_t addr) {
    if (!peek(addr, &d, sizeof d.magic + 8))
        die(EXIT_NOT_TASKRING, "process %d: the taskring descriptor is not readable", (int)target);
    if (memcmp(d.magic, TR_DEBUG_MAGIC, sizeof TR_DEBUG_MAGIC) != 0)
        die(EXIT_LAYOUT, "process %d: no taskring descriptor at 0x%" PRIx64 " (bad magic)",
            (int)target, addr);
    if (d.version != TR_DEBUG_VERSION)
        die(EXIT_LAYOUT,
            "process %d uses taskring layout version %u; this taskring-ps reads version %u "
            "(use the taskring-ps of the same taskring release)",
            (int)target, d.version, TR_DEBUG_VERSION);
    if (d.size != sizeof d || !peek(addr, &d, sizeof d) || d.pointer_size != 8)
        die(EXIT_LAYOUT, "process %d: the layout descriptor (version %u) has an unexpected size",
            (int)target, d.version);
    /* Sanity, in 64-bit arithmetic (a hostile or corrupt descriptor must not make the reader
     * read outside its buffers, or allocate without bound): every field inside its struct and
     * 1, 2, 4 or 8 bytes wide, sizes and counts under caps far above the real ones. */
    const struct tr_debug_field *fs[] = {
        &d.task_magic_field, &d.task_state,  &d.task_slot,        &d.task_fn,
        &d.task_at,          &d.task_waiter, &d.task_number,      &d.task_wait_seq,
        &d.task_created_ns,  &d.task_ran_ns, &d.task_custom_name, &d.task_scope_deadline_ns,
        &d.task_name_seq};
    if (d.task_size == 0 || d.task_size > MAX_STRUCT)
        layout_bad("a task record of %u bytes", d.task_size);
    rec_len = 0;
    for (size_t i = 0; i < sizeof fs / sizeof *fs; i++) {
        field_check(fs[i], d.task_size, "task");
        if (fs[i]->offset + fs[i]->size > rec_len)
            rec_len = fs[i]->offset + fs[i]->size;
    }
    if (d.waiter_size == 0 || d.waiter_size > 4096)
        layout_bad("a waiter of %u bytes", d.waiter_size);
    const struct tr_debug_field *ws[] = {&d.waiter_kind, &d.waiter_object, &d.waiter_timer_at,
                                         &d.waiter_io_opcode, &d.waiter_io_fd};
    for (size_t i = 0; i < sizeof ws / sizeof *ws; i++)
        field_check(ws[i], d.waiter_size, "waiter");
    if (d.loop_id.size == 0 || d.loop_id.size > 8 || d.loop_id.offset > MAX_STRUCT)
        layout_bad("the loop id field (offset %u, %u bytes)", d.loop_id.offset, d.loop_id.size);
    if (d.name_text_offset > MAX_STRUCT)
        layout_bad("a name text at offset %u", d.name_text_offset);
    if (d.state_count > 64 || d.wait_kind_count > 256)
        layout_bad("%u states and %u wait kinds", d.state_count, d.wait_kind_count);
    if (!d.registry)
        layout_bad("no slot table");
    uint64_t ptrs[320];
    state_names = xcalloc(d.state_count, sizeof *state_names);
    kind_names = xcalloc(d.wait_kind_count, sizeof *kind_names);
    if (!peek((uintptr_t)d.state_names, ptrs, d.state_count * 8u))
        die(EXIT_LAYOUT, "process %d: the state names are not readable", (int)target);
    for (uint32_t i = 0; i < d.state_count; i++)
        state_names[i] = read_string(ptrs[i], 32);
    if (!peek((uintptr_t)d.wait_kind_names, ptrs, d.wait_kind_count * 8u))
        die(EXIT_LAYOUT, "process %d: the wait kind names are not readable", (int)target);
    for (uint32_t i = 0; i < d.wait_kind_count; i++)
        kind_names[i] = read_string(ptrs[i], 32);
    if (!peek((uintptr_t)d.lock_holder_offset, &lock_holder_off, 4) ||
        !peek((uintptr_t)d.lock_holder_number_offset, &lock_number_off, 4) ||
        !peek((uintptr_t)d.listener_fd_offset, &listener_fd_off, 4))
        die(EXIT_LAYOUT, "process %d: the object offsets are not readable", (int)target);
    if (lock_holder_off > MAX_STRUCT || lock_number_off > MAX_STRUCT ||
        listener_fd_off > MAX_STRUCT)
        layout_bad("object offsets %u, %u, %u", lock_holder_off, lock_number_off, listener_fd_off);
}

static const char *state_name(const struct task *t) {
    if (t->torn)
        return "torn";
    return t->state < d.state_count && state_names[t->state][0] ? state_names[t->state] : "?";
}

static const char *kind_name(unsigned k) {
    return k < d.wait_kind_count && kind_names[k][0] ? kind_names[k] : "?";
}

static const char *io_opcode_name(unsigned op) {
    /* io_uring opcodes are kernel ABI: stable numbers */
    static const char *const names[] = {
        [0] = "nop",     [1] = "readv",    [2] = "writev",    [3] = "fsync",   [6] = "poll",
        [9] = "sendmsg", [10] = "recvmsg", [11] = "timeout",  [13] = "accept", [16] = "connect",
        [18] = "openat", [19] = "close",   [22] = "read",     [23] = "write",  [26] = "send",
        [27] = "recv",   [30] = "splice",  [34] = "shutdown",
    };
    return op < sizeof names / sizeof *names && names[op] ? names[op] : "op";
}

/* The permutation that orders key[0..n) in a (b is scratch of the same size); returns the
 * one of the two that holds it: its i-th entry is the index of the i-th smallest key. A
 * byte-wise radix sort that skips the bytes every key shares (the high bytes of addresses
 * and ids), so a million keys sort in a few passes. */
static uint32_t *radix_order_into(const uint64_t *key, size_t n, uint32_t *a, uint32_t *b) {
    uint64_t all_or = 0, all_and = ~(uint64_t)0;
    for (size_t i = 0; i < n; i++) {
        a[i] = (uint32_t)i;
        all_or |= key[i];
        all_and &= key[i];
    }
    for (unsigned shift = 0; shift < 64; shift += 8) {
        if ((((all_or ^ all_and) >> shift) & 0xff) == 0)
            continue; /* this byte is the same in every key */
        size_t count[257] = {0};
        for (size_t i = 0; i < n; i++)
            count[((key[a[i]] >> shift) & 0xff) + 1]++;
        for (int c = 0; c < 256; c++)
            count[c + 1] += count[c];
        for (size_t i = 0; i < n; i++)
            b[count[(key[a[i]] >> shift) & 0xff]++] = a[i];
        uint32_t *t = a;
        a = b;
        b = t;
    }
    return a;
}

static uint32_t *radix_order(const uint64_t *key, size_t n) {
    uint32_t *a = xcalloc(n, sizeof *a), *b = xcalloc(n, sizeof *b);
    uint32_t *r = radix_order_into(key, n, a, b);
    free(r == a ? b : a);
    return r;
}

/* The slot table, read a group of chunks at a time, so that a reader that needs no global
 * order (--count, --floor) streams it through buffers it reuses: fresh pages of the reader's
 * own cost about as much as reading the target (a kernel page clear each). Groups are claimed
 * with one atomic add, so several threads can walk one table. */
enum { WALK_CHUNKS = 16 };

struct slot_walk {
    struct tr_debug_registry r;
    uint32_t count;
    uint8_t *occupied;
    uint64_t *chunks;
    size_t used;               /* chunks that hold slots */
    atomic_uint_fast32_t next; /* the first chunk of the next group to claim */
};

static void slot_walk_open(struct slot_walk *w) {
    *w = (struct slot_walk){0};
    struct tr_debug_registry r;
    if (!peek((uintptr_t)d.registry, &r, sizeof r))
        die(EXIT_LAYOUT, "process %d: the slot table's description is not readable", (int)target);
    if (r.slot_size != 8 || !r.slots_per_chunk || r.slots_per_chunk > MAX_SLOTS_PER_CHUNK ||
        (uint64_t)r.slots_per_chunk * 8u > SCRATCH || r.max_chunks > MAX_CHUNKS_READ)
        layout_bad("a slot table of %u chunks of %u slots of %u bytes", r.max_chunks,
                   r.slots_per_chunk, r.slot_size);
    uint32_t count;
    if (!peek((uintptr_t)r.chunk_count, &count, 4))
        die(EXIT_LAYOUT, "process %d: the slot table is not readable", (int)target);
    if ((uint64_t)r.max_chunks * r.slots_per_chunk > (1ull << 32))
        layout_bad("a slot table of %u chunks of %u slots", r.max_chunks, r.slots_per_chunk);
    if (count > r.max_chunks) /* claims past the end failed (registry.c): never published */
        count = r.max_chunks;
    w->r = r;
    w->count = count;
    w->occupied = xcalloc(count, 1);
    w->chunks = xcalloc(count, 8);
    if (count && (!peek((uintptr_t)r.occupied, w->occupied, count) ||
                  !peek((uintptr_t)r.chunks, w->chunks, count * 8u)))
        die(EXIT_LAYOUT, "process %d: the slot table is not readable", (int)target);
    for (uint32_t c = 0; c < count; c++)
        w->used += w->occupied[c] && w->chunks[c];
}

/* How many tasks one slot_walk_next can return (and words[] it needs). */
static size_t slot_walk_group(const struct slot_walk *w) {
    return (size_t)WALK_CHUNKS * w->r.slots_per_chunk;
}

/* The task pointers and slot numbers of the next group of chunks this caller claims, in slot
 * order, into addr[] and slot[]; 0 once the table is walked. words[] has room for
 * slot_walk_group words; addr[] and slot[] for as many entries as the group's occupied chunks
 * hold (slot_walk_group does; so does the rest of read_slots' array, sized by w->used from the
 * same snapshot of the occupied flags). */
static size_t slot_walk_next(struct slot_walk *w, uint64_t *words, uint64_t *addr, uint64_t *slot) {
    const uint32_t per = w->r.slots_per_chunk;
    for (;;) {
        uint_fast32_t from = atomic_fetch_add_explicit(&w->next, WALK_CHUNKS, memory_order_relaxed);
        if (from >= w->count)
            return 0;
        struct iovec l[WALK_CHUNKS], rv[WALK_CHUNKS];
        uint32_t ids[WALK_CHUNKS];
        size_t k = 0;
        for (uint32_t c = (uint32_t)from; c < w->count && c < from + WALK_CHUNKS; c++) {
            if (!w->occupied[c] || !w->chunks[c])
                continue;
            ids[k] = c;
            l[k] = (struct iovec){words + k * per, per * 8u};
            rv[k] = (struct iovec){(void *)(uintptr_t)w->chunks[c], per * 8u};
            k++;
        }
        if (!k)
            continue;
        ssize_t got = process_vm_readv(target, l, k, rv, k, 0);
        if (got < 0)
            read_failed(errno); /* chunks are never freed: a fault is not expected */
        if ((size_t)got < k * (per * 8u))
            die(EXIT_LAYOUT, "process %d: a slot table chunk is not readable", (int)target);
        size_t n = 0;
        for (size_t i = 0; i < k; i++) {
            const uint64_t *wd = words + i * per;
            for (uint32_t q = 0; q < per; q++) {
                if ((wd[q] & 1) || !wd[q])
                    continue;
                addr[n] = wd[q];
                slot[n] = (uint64_t)ids[i] * per + q;
                n++;
            }
        }
        if (n)
            return n;
    }
}

static void slot_walk_close(struct slot_walk *w) {
    free(w->occupied);
    free(w->chunks);
}

/* Buffers for putting up to cap (address, slot) pairs in address order, reused. */
struct sorter {
    size_t cap;
    uint32_t *a, *b;
    uint64_t *addr, *slot;
};

/* Nothing is allocated until a sort is needed (most tables are in runs already). */
static void sorter_init(struct sorter *s, size_t cap) {
    *s = (struct sorter){.cap = cap};
}

static void sorter_free(struct sorter *s) {
    if (!s->a)
        return;
    big_free(s->a, s->cap, 4);
    big_free(s->b, s->cap, 4);
    big_free(s->addr, s->cap, 8);
    big_free(s->slot, s->cap, 8);
}

/* addr[]/slot[] into address order (a slab's records are then read together), or left as
 * they are when !need_sorted and they are mostly in runs already (batch_run merges runs). */
static void order_by_address(struct sorter *s, uint64_t *addr, uint64_t *slot, size_t n,
                             bool need_sorted) {
    bool sorted = true, reversed = true;
    size_t breaks = 0; /* places where reading in this order would start a new range */
    for (size_t i = 1; i < n; i++) {
        sorted = sorted && addr[i] >= addr[i - 1];
        reversed = reversed && addr[i] <= addr[i - 1];
        breaks += addr[i] < addr[i - 1] || addr[i] > addr[i - 1] + MERGE_GAP;
    }
    if (sorted)
        return;
    if (reversed) { /* a free list handed the slots out backwards */
        for (size_t i = 0, j = n - 1; i < j; i++, j--) {
            uint64_t a = addr[i], q = slot[i];
            addr[i] = addr[j], slot[i] = slot[j];
            addr[j] = a, slot[j] = q;
        }
        return;
    }
    if (!need_sorted && breaks < n / 16)
        return;
    if (!s->a) {
        s->a = big_alloc(s->cap, 4);
        s->b = big_alloc(s->cap, 4);
        s->addr = big_alloc(s->cap, 8);
        s->slot = big_alloc(s->cap, 8);
    }
    uint32_t *perm = radix_order_into(addr, n, s->a, s->b);
    for (size_t i = 0; i < n; i++) {
        s->addr[i] = addr[perm[i]];
        s->slot[i] = slot[perm[i]];
    }
    memcpy(addr, s->addr, n * 8);
    memcpy(slot, s->slot, n * 8);
}

/* Every task pointer in the slot table, with its slot index, in *addr / *slot (big_alloc'd,
 * *n of them; in address order if need_sorted, else possibly in runs). */
static void read_slots(uint64_t **addr_out, uint64_t **slot_out, size_t *n_out, bool need_sorted) {
    struct slot_walk w;
    slot_walk_open(&w);
    size_t cap = w.used * w.r.slots_per_chunk;
    uint64_t *addr = big_alloc(cap, 8), *slot = big_alloc(cap, 8);
    uint64_t *words = big_alloc(slot_walk_group(&w), 8);
    size_t n = 0, got;
    while ((got = slot_walk_next(&w, words, addr + n, slot + n)))
        n += got;
    big_free(words, slot_walk_group(&w), 8);
    slot_walk_close(&w);
    struct sorter s;
    sorter_init(&s, n);
    order_by_address(&s, addr, slot, n, need_sorted);
    sorter_free(&s);
    *addr_out = addr;
    *slot_out = slot;
    *n_out = n;
}

/* Loop ids by loop address: few loops, a small cache. */
static unsigned loop_id_of(uint64_t at) {
    static uint64_t addr[256], last_addr;
    static unsigned id[256], last_id;
    static size_t n;
    if (at && at == last_addr)
        return last_id;
    for (size_t i = 0; i < n; i++)
        if (addr[i] == at)
            return last_addr = at, last_id = id[i];
    unsigned char buf[8] = {0};
    unsigned v = UINT_MAX;
    size_t sz = d.loop_id.size <= 8 ? d.loop_id.size : 8;
    if (at && peek(at + d.loop_id.offset, buf, sz)) {
        uint64_t x = 0;
        memcpy(&x, buf, sz);
        v = (unsigned)x;
    }
    if (n < 256) {
        addr[n] = at;
        id[n++] = v;
    }
    return v;
}

/* A record that is a live task, still in the slot it was found in. */
static bool record_live(uint64_t slot, const unsigned char *rec) {
    return field_u64(rec, d.task_magic_field) == d.task_magic &&
           field_u64(rec, d.task_slot) == slot;
}

enum mode { MODE_LIST, MODE_TREE, MODE_JSON, MODE_COUNT, MODE_FLOOR };

/* ---- --count: states and loops only, one read of each record's first fields ---------------- */

enum { LOOPS_SEEN = 256 };

struct counts {
    size_t n;
    size_t by_state[65]; /* [64]: a state this reader has no name for */
    size_t by_loop[257]; /* [256]: unknown */
    /* per reading thread: loops by address (their ids are read once, after the walk) */
    uint64_t loop_at[LOOPS_SEEN];
    size_t loop_tasks[LOOPS_SEEN], loops_seen, last_loop;
    const uint64_t *slot; /* this thread's group: the slot of each record read */
};

static void count_one(void *ctx, uint32_t tag, const unsigned char *rec) {
    struct counts *c = ctx;
    if (!rec || !record_live(c->slot[tag], rec))
        return; /* gone since the slot was read */
    unsigned st = (unsigned)field_u64(rec, d.task_state);
    uint64_t at = field_u64(rec, d.task_at);
    c->n++;
    c->by_state[st < d.state_count ? st : 64]++;
    if (c->loops_seen && c->loop_at[c->last_loop] == at) {
        c->loop_tasks[c->last_loop]++;
        return;
    }
    for (size_t i = 0; i < c->loops_seen; i++)
        if (c->loop_at[i] == at) {
            c->loop_tasks[c->last_loop = i]++;
            return;
        }
    if (c->loops_seen == LOOPS_SEEN) {
        c->by_loop[256]++; /* more loop addresses than loops can exist: not a loop */
        return;
    }
    c->loop_at[c->last_loop = c->loops_seen] = at;
    c->loop_tasks[c->loops_seen++] = 1;
}

static void count_nothing(void *ctx, uint32_t tag, const unsigned char *rec) {
    (void)tag;
    ((struct counts *)ctx)->n += rec != NULL;
}

/* The bytes of a record --count reads: through its magic, loop, slot and state fields. */
static uint32_t count_read_len(void) {
    uint32_t len = d.task_at.offset + d.task_at.size;
    if (len < d.task_magic_field.offset + d.task_magic_field.size)
        len = d.task_magic_field.offset + d.task_magic_field.size;
    if (len < d.task_slot.offset + d.task_slot.size)
        len = d.task_slot.offset + d.task_slot.size;
    if (len < d.task_state.offset + d.task_state.size)
        len = d.task_state.offset + d.task_state.size;
    return len;
}

/* Reading a million records is the kernel's copying and page pinning (process_vm_readv: about
 * 4 GB/s and 1 us a page on the 2-core VM); it parallelises, so a table of more than one
 * group (65,536 slots: a group's read is milliseconds, a thread's start microseconds) is read
 * by one thread per CPU, up to 4; --readers N chooses N (1 to READERS_MAX) for any table. */
enum { READERS_MAX = 16, READERS_AUTO_MAX = 4, THREADED_CHUNKS = WALK_CHUNKS };

static size_t readers_arg; /* --readers; 0: by the table's size and the CPUs */

struct stream_job {
    struct slot_walk *w;
    uint32_t len;
    batch_fn *fn;
    struct counts c;
};

/* One reader's share: groups claimed from the walk, each read in address order through
 * buffers reused from group to group. */
static void *stream_records(void *arg) {
    struct stream_job *j = arg;
    size_t cap = slot_walk_group(j->w);
    uint64_t *words = big_alloc(cap, 8), *addr = big_alloc(cap, 8), *slot = big_alloc(cap, 8);
    struct sorter s;
    sorter_init(&s, cap);
    struct batch b = {0};
    batch_reserve(&b, cap);
    j->c.slot = slot;
    size_t n;
    while ((n = slot_walk_next(j->w, words, addr, slot))) {
        order_by_address(&s, addr, slot, n, false);
        batch_reset(&b);
        for (size_t i = 0; i < n; i++)
            batch_add(&b, addr[i], j->len, (uint32_t)i);
        batch_run(&b, j->fn, &j->c);
    }
    j->c.slot = NULL;
    batch_free(&b);
    sorter_free(&s);
    big_free(words, cap, 8);
    big_free(addr, cap, 8);
    big_free(slot, cap, 8);
    scratch_release();
    return NULL;
}

/* Each live task's record's first len bytes through fn, into *c (--count, --floor). */
static void each_record_streamed(uint32_t len, batch_fn *fn, struct counts *c) {
    struct slot_walk w;
    slot_walk_open(&w);
    cpu_set_t cpus;
    size_t ncpu = sched_getaffinity(0, sizeof cpus, &cpus) == 0 ? (size_t)CPU_COUNT(&cpus) : 1;
    size_t groups = (w.count + WALK_CHUNKS - 1) / WALK_CHUNKS;
    size_t readers = w.used > THREADED_CHUNKS ? ncpu : 1; /* the CPUs this reader may use */
    if (readers > READERS_AUTO_MAX)
        readers = READERS_AUTO_MAX;
    if (readers > groups)
        readers = groups ? groups : 1;
    if (readers_arg)
        readers = readers_arg;
    struct stream_job jobs[READERS_MAX];
    pthread_t threads[READERS_MAX];
    size_t started = 1;
    for (size_t i = 0; i < readers; i++)
        jobs[i] = (struct stream_job){.w = &w, .len = len, .fn = fn};
    for (; started < readers; started++)
        if (pthread_create(&threads[started], NULL, stream_records, &jobs[started]))
            break; /* fewer readers: the groups are claimed, not assigned */
    stream_records(&jobs[0]);
    for (size_t i = 1; i < started; i++)
        pthread_join(threads[i], NULL);
    slot_walk_close(&w);
    *c = (struct counts){0};
    for (size_t i = 0; i < started; i++) {
        const struct counts *t = &jobs[i].c;
        c->n += t->n;
        for (size_t s = 0; s < 65; s++)
            c->by_state[s] += t->by_state[s];
        c->by_loop[256] += t->by_loop[256];
        for (size_t l = 0; l < t->loops_seen; l++) {
            unsigned id = loop_id_of(t->loop_at[l]);
            c->by_loop[id < 256 ? id : 256] += t->loop_tasks[l];
        }
    }
}

/* --floor: what reading costs alone: the slot table and each record's first bytes, read the
 * way --count reads them, decoding nothing (bench/ps_bench.sh: the rows' same-run floor). */
static void floor_read(FILE *out) {
    struct counts c;
    each_record_streamed(count_read_len(), count_nothing, &c);
    fprintf(out, "%zu records read\n", c.n);
}

static void count_tasks(struct counts *c) {
    each_record_streamed(count_read_len(), count_one, c);
}

/* The row of the task at addr with number id (t[] is in address order), or -1: records are
 * reused, numbers are not, so an address alone may name a later task. */
static int64_t find_task(const struct table *tb, uint64_t addr, uint64_t id) {
    size_t lo = 0, hi = tb->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (tb->t[mid].addr < addr)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (; lo < tb->n && tb->t[lo].addr == addr; lo++)
        if (tb->t[lo].valid && tb->t[lo].id == id)
            return (int64_t)lo;
    return -1;
}

/* A lock (its holder, when that task is listed and still has the holder's number: records are
 * reused, numbers are not) or a listener (its fd). */
static void object_read(void *ctx, uint32_t tag, const unsigned char *obj) {
    struct table *tb = ctx;
    struct task *t = &tb->t[tag];
    if (!obj)
        return;
    if (t->kind == d.wait_listener) {
        int32_t fd;
        memcpy(&fd, obj + listener_fd_off, 4);
        t->detail = fd;
        return;
    }
    uint64_t holder, number;
    memcpy(&holder, obj + lock_holder_off, 8);
    memcpy(&number, obj + lock_number_off, 8);
    int64_t h = holder ? find_task(tb, holder, number) : -1;
    if (h >= 0) {
        t->detail = (int64_t)number;
        t->awaits = h; /* waits for the holder: an edge of --tree, maybe of a cycle */
    }
}

/* ---- the full read: each record, its waiter and name, the record again --------------------- */

/* The fields a row compares between its two reads. */
static void decode_record(struct task *t, const unsigned char *rec) {
    t->state = (uint8_t)field_u64(rec, d.task_state);
    t->id = field_u64(rec, d.task_number);
    t->fn = field_u64(rec, d.task_fn);
    t->at = field_u64(rec, d.task_at);
    t->waiter = field_u64(rec, d.task_waiter);
    t->name_ptr = field_u64(rec, d.task_custom_name);
    t->created_ns = field_u64(rec, d.task_created_ns);
    t->ran_ns = field_u64(rec, d.task_ran_ns);
    t->wait_seq = (uint32_t)field_u64(rec, d.task_wait_seq);
    t->name_seq = (uint32_t)field_u64(rec, d.task_name_seq);
    t->scope_deadline = field_u64(rec, d.task_scope_deadline_ns);
}

static bool same_moment(const struct task *t, const unsigned char *rec) {
    /* wait_seq is odd exactly while a wait is published: a waiter beside an even step is one
     * being published or one whose wait has ended and whose stack slot the next wait may be
     * filling (both reads would agree on it): not a moment to show. */
    return (!t->waiter || (t->wait_seq & 1)) && t->state == (uint8_t)field_u64(rec, d.task_state) &&
           t->id == field_u64(rec, d.task_number) &&
           t->wait_seq == (uint32_t)field_u64(rec, d.task_wait_seq) &&
           t->name_seq == (uint32_t)field_u64(rec, d.task_name_seq) &&
           t->waiter == field_u64(rec, d.task_waiter) &&
           t->name_ptr == field_u64(rec, d.task_custom_name) && t->at == field_u64(rec, d.task_at);
}

struct pass {
    struct table *tb;
    uint32_t *again; /* rows whose second read disagreed */
    size_t nagain;
};

/* The awaited task's record, read between a row's two reads. */
static void awaited_read(void *ctx, uint32_t tag, const unsigned char *rec) {
    struct task *t = &((struct pass *)ctx)->tb->t[tag];
    if (rec && field_u64(rec, d.task_magic_field) == d.task_magic) {
        t->awaited_id = field_u64(rec, d.task_number);
        t->awaited_known = true;
    }
}

static void first_read(void *ctx, uint32_t tag, const unsigned char *rec) {
    struct task *t = &((struct pass *)ctx)->tb->t[tag];
    if (!rec || !record_live(t->slot, rec)) {
        t->gone = true;
        return;
    }
    decode_record(t, rec);
}

static void waiter_read(void *ctx, uint32_t tag, const unsigned char *w) {
    struct task *t = &((struct pass *)ctx)->tb->t[tag];
    if (!w) { /* the stack it was on is gone: the second read will disagree */
        t->kind = 0xff;
        return;
    }
    t->kind = (uint8_t)field_u64(w, d.waiter_kind);
    t->object = field_u64(w, d.waiter_object);
    t->timer_at = field_u64(w, d.waiter_timer_at);
    if (t->kind == d.wait_io) {
        t->io_opcode = (uint8_t)field_u64(w, d.waiter_io_opcode);
        t->io_fd = (int32_t)field_u64(w, d.waiter_io_fd);
        t->timer_at = t->scope_deadline; /* the kernel's linked timeout */
    }
}

static void name_read(void *ctx, uint32_t tag, const unsigned char *text) {
    struct task *t = &((struct pass *)ctx)->tb->t[tag];
    free(t->name);
    t->name = NULL;
    t->name_long = false;
    size_t l = text ? strnlen((const char *)text, NAME_READ) : NAME_READ;
    if (text && l < NAME_READ)
        t->name = strndup((const char *)text, l);
    else
        t->name_long = true; /* longer, or near the end of a mapping: read below */
}

static void second_read(void *ctx, uint32_t tag, const unsigned char *rec) {
    struct pass *p = ctx;
    struct task *t = &p->tb->t[tag];
    if (rec && !record_live(t->slot, rec)) {
        t->gone = true; /* finished meanwhile */
        return;
    }
    if (rec && same_moment(t, rec) && t->kind != 0xff) {
        t->valid = true;
        return;
    }
    p->again[p->nagain++] = tag;
    if (rec)
        decode_record(t, rec); /* the next attempt's first read */
}

/* A name longer than NAME_READ (or at a mapping's end): up to NAME_MAX_SHOWN bytes. */
static void read_long_name(struct task *t) {
    char *big = xcalloc(NAME_MAX_SHOWN + 1, 1);
    size_t m = 0;
    uint64_t at = t->name_ptr + d.name_text_offset;
    while (m < NAME_MAX_SHOWN) {
        size_t step = 64;
        if (!peek(at + m, big + m, step)) {
            /* the end of a mapping: byte by byte */
            while (m < NAME_MAX_SHOWN && peek(at + m, big + m, 1) && big[m])
                m++;
            break;
        }
        if (strnlen(big + m, step) < step)
            break;
        m += step;
    }
    big[NAME_MAX_SHOWN] = 0;
    t->name = big;
}

/*
 * Read every task: each record, then the waiters and names of those that have them, then the
 * record again; a row counts only when both reads agree on its state, number, wait_seq,
 * waiter, name and loop (the waiter and name were then read within one wait and one name).
 * Rows that disagree are read again (the second read is their next first read), up to
 * `retries` times, and then shown as torn.
 */
static void read_tasks(struct table *tb, int retries, const uint64_t *addr, const uint64_t *slot,
                       size_t n) {
    for (size_t i = 0; i < tb->n; i++) /* the previous window's */
        free(tb->t[i].name);
    free(tb->order);
    tb->order = NULL;
    tb->torn = 0;
    tb->read_ns = now_ns();
    if (n > tb->cap) {
        big_free(tb->t, tb->cap, sizeof *tb->t);
        big_free(tb->todo, tb->cap, 4);
        big_free(tb->again, tb->cap, 4);
        tb->cap = n;
        tb->t = big_alloc(n, sizeof *tb->t);
        tb->todo = big_alloc(n, 4);
        tb->again = big_alloc(n, 4);
    }
    memset(tb->t, 0, n * sizeof *tb->t);
    for (size_t i = 0; i < n; i++) {
        tb->t[i].addr = addr[i];
        tb->t[i].slot = slot[i];
    }
    struct pass p = {tb, tb->again, 0};
    struct batch b = tb->b;
    batch_reserve(&b, n);
    batch_reset(&b);
    for (size_t i = 0; i < n; i++)
        batch_add(&b, tb->t[i].addr, rec_len, (uint32_t)i);
    tb->n = n;
    batch_run(&b, first_read, &p);
    uint32_t *todo = tb->todo;
    size_t ntodo = 0;
    for (size_t i = 0; i < n; i++)
        if (!tb->t[i].gone)
            todo[ntodo++] = (uint32_t)i;
    for (int attempt = 0; ntodo && attempt <= retries; attempt++) {
        batch_reset(&b);
        for (size_t j = 0; j < ntodo; j++) {
            struct task *t = &tb->t[todo[j]];
            t->kind = 0; /* nothing from an earlier attempt's reads may survive into this one */
            t->object = t->timer_at = 0;
            free(t->name);
            t->name = NULL;
            if (t->waiter)
                batch_add(&b, t->waiter, d.waiter_size, todo[j]);
        }
        batch_run(&b, waiter_read, &p);
        batch_reset(&b); /* an await's task: its number while the waiter is this wait's */
        for (size_t j = 0; j < ntodo; j++) {
            struct task *t = &tb->t[todo[j]];
            t->awaited_known = false;
            if (t->waiter && t->object && (t->kind == d.wait_task || t->kind == d.wait_tasks))
                batch_add(&b, t->object, rec_len, todo[j]);
        }
        batch_run(&b, awaited_read, &p);
        batch_reset(&b);
        for (size_t j = 0; j < ntodo; j++) {
            struct task *t = &tb->t[todo[j]];
            if (t->name_ptr)
                batch_add(&b, t->name_ptr + d.name_text_offset, NAME_READ, todo[j]);
        }
        batch_run(&b, name_read, &p);
        for (size_t j = 0; j < ntodo; j++) {
            struct task *t = &tb->t[todo[j]];
            if (t->name_ptr && t->name_long)
                read_long_name(t);
        }
        batch_reset(&b);
        for (size_t j = 0; j < ntodo; j++)
            batch_add(&b, tb->t[todo[j]].addr, rec_len, todo[j]);
        p.nagain = 0;
        batch_run(&b, second_read, &p);
        memcpy(todo, p.again, p.nagain * 4);
        ntodo = p.nagain;
    }
    for (size_t j = 0; j < ntodo; j++) {
        struct task *t = &tb->t[todo[j]];
        t->torn = true;
        t->valid = false;
        tb->torn++;
    }
    /* drop the rows of tasks that finished while read (address order is kept) */
    size_t live = 0;
    for (size_t i = 0; i < n; i++) {
        if (tb->t[i].gone) {
            free(tb->t[i].name);
            continue;
        }
        tb->t[live++] = tb->t[i];
    }
    tb->n = n = live;

    /* what the waits name: the awaited task, a lock's holder, a listener's fd */
    batch_reset(&b);
    for (size_t i = 0; i < n; i++) {
        struct task *t = &tb->t[i];
        t->awaits = -1;
        t->detail = -1;
        t->loop = t->valid ? loop_id_of(t->at) : UINT_MAX;
        if (!t->valid || !t->waiter)
            continue;
        if ((t->kind == d.wait_task || t->kind == d.wait_tasks) && t->awaited_known) {
            t->awaits = find_task(tb, t->object, t->awaited_id);
            t->detail = (int64_t)t->awaited_id; /* outside this window, or not listed */
        } else if (t->kind == d.wait_lock && t->object)
            batch_add(&b, t->object,
                      (lock_number_off > lock_holder_off ? lock_number_off : lock_holder_off) +
                          8u, /* both <= MAX_STRUCT (load_descriptor) */
                      (uint32_t)i);
        else if (t->kind == d.wait_listener && t->object)
            batch_add(&b, t->object, listener_fd_off + 4, (uint32_t)i);
    }
    batch_run(&b, object_read, tb);
    tb->b = b;
    bool up = true, down = true;
    for (size_t i = 1; i < n && (up || down); i++) {
        up = up && tb->t[i].id >= tb->t[i - 1].id;
        down = down && tb->t[i].id <= tb->t[i - 1].id;
    }
    if (up || down) { /* spawned in address order (or its reverse): no sort */
        tb->order = xcalloc(n, 4);
        for (size_t i = 0; i < n; i++)
            tb->order[i] = (uint32_t)(up ? i : n - 1 - i);
    } else {
        uint64_t *key = big_alloc(n, 8);
        for (size_t i = 0; i < n; i++)
            key[i] = tb->t[i].id;
        tb->order = radix_order(key, n);
        big_free(key, n, 8);
    }
}

static void table_free(struct table *tb) {
    for (size_t i = 0; i < tb->n; i++)
        free(tb->t[i].name);
    big_free(tb->t, tb->cap, sizeof *tb->t);
    big_free(tb->todo, tb->cap, 4);
    big_free(tb->again, tb->cap, 4);
    batch_free(&tb->b);
    free(tb->order);
    *tb = (struct table){0};
}

/* ---- output --------------------------------------------------------------------------------- */

/* A line of the listing, built by hand: a million fprintf calls cost more than reading.
 * Every writer keeps n <= LINE_CAP, so the newline (and a NUL) always fit after it: a field
 * longer than what is left (a 5,000-byte symbol) is cut, never written past the end. */
enum { LINE_CAP = 4096 - 2 };
struct line {
    char buf[LINE_CAP + 2];
    size_t n;
};

static void put_char(struct line *l, char c) {
    if (l->n < LINE_CAP)
        l->buf[l->n++] = c;
}

static void put(struct line *l, const char *s) {
    size_t k = strlen(s), room = l->n >= LINE_CAP ? 0 : LINE_CAP - l->n;
    if (k > room)
        k = room;
    memcpy(l->buf + l->n, s, k);
    l->n += k;
}

static void put_u64(struct line *l, uint64_t v) {
    char tmp[24];
    int k = 0;
    do
        tmp[k++] = (char)('0' + v % 10);
    while ((v /= 10) && k < 24);
    while (k)
        put_char(l, tmp[--k]);
}

/* Pad with spaces to column `col` (at least one space, while there is room). */
static void pad(struct line *l, size_t col) {
    do
        put_char(l, ' ');
    while (l->n < col && l->n < LINE_CAP);
}

/* ---- escaping: every string from the target (names, symbols) is data, not terminal input ---
 *
 * The listing and --tree escape as tr_task_repr does (runtime/task.c), without its quotes: a
 * backslash doubled, \n \r \t, other control bytes (C0, DEL and the C1 controls U+0080 to
 * U+009F, which some terminals obey too) as \xNN per byte, well-formed UTF-8 as is, every
 * byte of a malformed sequence as \xNN. A name then is one line, and two names never look
 * the same. --json writes the exact text, control characters as \u00XX, and the bytes that
 * are not UTF-8 (which a JSON string cannot hold) as the four characters \xNN. */

/* Length of the well-formed UTF-8 sequence at s[0] >= 0x80 (RFC 3629: no overlong forms,
 * no surrogates, nothing past U+10FFFF), or 0. The NUL is never a continuation byte. */
static size_t utf8_len(const unsigned char *s) {
    unsigned char c = s[0], lo = 0x80, hi = 0xbf;
    size_t n;
    if (c >= 0xc2 && c <= 0xdf)
        n = 2;
    else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        lo = c == 0xe0 ? 0xa0 : 0x80;
        hi = c == 0xed ? 0x9f : 0xbf;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        lo = c == 0xf0 ? 0x90 : 0x80;
        hi = c == 0xf4 ? 0x8f : 0xbf;
    } else
        return 0;
    if (s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    return n;
}

/* s escaped for a terminal into buf (len > 0): cut, never in the middle of an escape or of
 * a character, where it does not fit. */
static const char *escape_text(const char *s, char *buf, size_t len) {
    static const char hex[] = "0123456789abcdef";
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        char e[16];
        size_t k = 0, used = 1;
        unsigned char c = *p;
        size_t u = c >= 0x80 ? utf8_len(p) : 0;
        if (c == '\\' || c == '\n' || c == '\r' || c == '\t') {
            e[k++] = '\\';
            e[k++] = c == '\\' ? '\\' : c == '\n' ? 'n' : c == '\r' ? 'r' : 't';
        } else if (c >= 0x20 && c < 0x7f) {
            e[k++] = (char)c;
        } else if (u && !(u == 2 && c == 0xc2 && p[1] < 0xa0)) {
            memcpy(e, p, u);
            k = used = u;
        } else { /* a control byte, a C1 control (both bytes), a malformed byte */
            used = u ? u : 1;
            for (size_t i = 0; i < used; i++) {
                e[k++] = '\\';
                e[k++] = 'x';
                e[k++] = hex[p[i] >> 4];
                e[k++] = hex[p[i] & 15];
            }
        }
        if (n + k >= len)
            break;
        memcpy(buf + n, e, k);
        n += k;
        p += used;
    }
    buf[n] = 0;
    return buf;
}

static void put_escaped(struct line *l, const char *s) {
    char buf[LINE_CAP + 1];
    put(l, escape_text(s, buf, l->n >= LINE_CAP ? 1 : LINE_CAP - l->n + 1));
}

/* "850ms", "12.3s", "4m05s", "3h12m": by hand, this runs a million times. */
static const char *fmt_dur(uint64_t ns, char *buf, size_t len) {
    uint64_t ms = ns / 1000000u;
    struct line l;
    l.n = 0;
    if (ms < 1000) {
        put_u64(&l, ms);
        put(&l, "ms");
    } else if (ms < 60000) {
        put_u64(&l, ms / 1000);
        put_char(&l, '.');
        put_u64(&l, ms % 1000 / 100);
        put(&l, "s");
    } else if (ms < 3600000) {
        put_u64(&l, ms / 60000);
        put_char(&l, 'm');
        put_char(&l, (char)('0' + ms / 10000 % 6));
        put_char(&l, (char)('0' + ms / 1000 % 10));
        put(&l, "s");
    } else {
        put_u64(&l, ms / 3600000);
        put_char(&l, 'h');
        put_char(&l, (char)('0' + ms / 600000 % 6));
        put_char(&l, (char)('0' + ms / 60000 % 10));
        put(&l, "m");
    }
    if (len) {
        size_t k = l.n < len - 1 ? l.n : len - 1;
        memcpy(buf, l.buf, k);
        buf[k] = 0;
    }
    return buf;
}

static const char *fmt_deadline(uint64_t at, uint64_t now, char *buf, size_t len) {
    char d1[32];
    if (at >= now)
        snprintf(buf, len, "in %s", fmt_dur(at - now, d1, sizeof d1));
    else
        snprintf(buf, len, "%s ago", fmt_dur(now - at, d1, sizeof d1));
    return buf;
}

static const char *task_name(const struct task *t, char *buf, size_t len) {
    if (t->name)
        return t->name;
    snprintf(buf, len, "Task-%" PRIu64, t->id);
    return buf;
}

/* What the listing and --tree show: the name escaped (ESCAPED bytes hold any name). */
enum { ESCAPED = 4 * NAME_MAX_SHOWN + 1 };
static const char *shown_name(const struct task *t, char *buf, size_t len) {
    char nb[48];
    return escape_text(task_name(t, nb, sizeof nb), buf, len);
}

static const char *shown_symbol(uint64_t addr, char *buf, size_t len) {
    char sb[256];
    return escape_text(symbol_of(addr, sb, sizeof sb), buf, len);
}

/* What t waits on, in words: "sleep in 1.2s", "io recv fd 5", "await task 7 (worker)". */
static const char *describe_wait(const struct table *tb, const struct task *t, char *buf,
                                 size_t len) {
    char a[64], s[ESCAPED];
    if (!t->valid || !t->waiter) {
        snprintf(buf, len, "-");
        return buf;
    }
    int n;
    if (t->kind == d.wait_sleep)
        return fmt_deadline(t->timer_at, tb->read_ns, a, sizeof a),
               snprintf(buf, len, "sleep %s", a), buf;
    if (t->kind == d.wait_io)
        n = snprintf(buf, len, "io %s fd %d", io_opcode_name(t->io_opcode), t->io_fd);
    else if (t->kind == d.wait_task || t->kind == d.wait_tasks) {
        if (t->awaits >= 0) {
            const struct task *o = &tb->t[t->awaits];
            n = snprintf(buf, len, "%s task %" PRIu64 " (%s)", kind_name(t->kind), o->id,
                         shown_name(o, s, sizeof s));
        } else if (t->detail >= 0)
            n = snprintf(buf, len, "%s task %" PRId64, kind_name(t->kind), t->detail);
        else
            n = snprintf(buf, len, "%s task 0x%" PRIx64, kind_name(t->kind), t->object);
    } else if (t->kind == d.wait_listener)
        n = snprintf(buf, len, "accept fd %" PRId64, t->detail);
    else if (t->kind == d.wait_lock && t->detail >= 0)
        n = snprintf(buf, len, "lock 0x%" PRIx64 " held by task %" PRId64, t->object, t->detail);
    else if (t->kind == d.wait_lock)
        n = snprintf(buf, len, "lock 0x%" PRIx64, t->object);
    else if (!strcmp(kind_name(t->kind), "thread"))
        n = snprintf(buf, len, "thread %s", shown_symbol(t->object, s, sizeof s));
    else
        n = snprintf(buf, len, "%s 0x%" PRIx64, kind_name(t->kind), t->object);
    if (t->timer_at && n > 0 && (size_t)n < len)
        snprintf(buf + n, len - (size_t)n, ", times out %s",
                 fmt_deadline(t->timer_at, tb->read_ns, a, sizeof a));
    return buf;
}

static void print_list_header(FILE *out) {
    fprintf(out, "%-8s %-20s %-9s %-4s %-7s %-7s %-24s %s\n", "ID", "NAME", "STATE", "LOOP", "AGE",
            "RAN", "FUNCTION", "WAITS ON");
}

static void print_list(const struct table *tb, FILE *out) {
    struct line l;
    for (size_t i = 0; i < tb->n; i++) {
        const struct task *t = &tb->t[tb->order[i]];
        char age[32], ran[32], sb[256], wb[512];
        l.n = 0;
        put_u64(&l, t->id);
        pad(&l, 9);
        if (t->torn) {
            put(&l, "?");
            pad(&l, l.n + 20);
            put(&l, "torn      (changed under every read: not shown)");
        } else {
            size_t c = l.n;
            if (t->name) {
                put_escaped(&l, t->name);
            } else {
                put(&l, "Task-");
                put_u64(&l, t->id);
            }
            pad(&l, c + 21);
            c = l.n;
            put(&l, state_name(t));
            pad(&l, c + 10);
            c = l.n;
            if (t->loop == UINT_MAX)
                put(&l, "?");
            else
                put_u64(&l, t->loop);
            pad(&l, c + 5);
            c = l.n;
            put(&l, fmt_dur(tb->read_ns > t->created_ns ? tb->read_ns - t->created_ns : 0, age,
                            sizeof age));
            pad(&l, c + 8);
            c = l.n;
            put(&l, t->ran_ns ? fmt_dur(tb->read_ns > t->ran_ns ? tb->read_ns - t->ran_ns : 0, ran,
                                        sizeof ran)
                              : "never");
            pad(&l, c + 8);
            c = l.n;
            put_escaped(&l, symbol_of(t->fn, sb, sizeof sb));
            pad(&l, c + 25);
            put(&l, describe_wait(tb, t, wb, sizeof wb));
        }
        l.buf[l.n++] = '\n'; /* n <= LINE_CAP: room for it */
        fwrite(l.buf, 1, l.n, out);
    }
}

static void print_list_footer(size_t n, size_t torn, FILE *out) {
    fprintf(out, "%zu tasks", n);
    if (torn)
        fprintf(out, ", %zu torn (kept changing while read: try --retries)", torn);
    fputc('\n', out);
}

static void json_string(FILE *out, const char *s) {
    fputc('"', out);
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        size_t u = *p >= 0x80 ? utf8_len(p) : 0;
        if (*p == '"' || *p == '\\')
            fprintf(out, "\\%c", *p);
        else if (*p < 0x20 || *p == 0x7f)
            fprintf(out, "\\u%04x", *p);
        else if (*p < 0x80)
            fputc(*p, out);
        else if (u == 2 && *p == 0xc2 && p[1] < 0xa0) /* a C1 control: U+0080 to U+009F */
            fprintf(out, "\\u%04x", p[1]);
        else if (u)
            fwrite(p, 1, u, out);
        else /* not UTF-8: no JSON string holds the byte, so its escape as text */
            fprintf(out, "\\\\x%02x", *p);
        p += u ? u : 1;
    }
    fputc('"', out);
}

static void print_json_header(FILE *out) {
    fprintf(out, "{\"pid\":%d,\"layout_version\":%u,\"tasks\":[", (int)target, d.version);
}

static void print_json(const struct table *tb, bool first, FILE *out) {
    for (size_t i = 0; i < tb->n; i++) {
        const struct task *t = &tb->t[tb->order[i]];
        char nb[48], sb[256];
        fprintf(out, "%s\n{\"id\":%" PRIu64, i || !first ? "," : "", t->id);
        if (t->torn) {
            fprintf(out, ",\"torn\":true}");
            continue;
        }
        fprintf(out, ",\"name\":");
        json_string(out, task_name(t, nb, sizeof nb));
        fprintf(out, ",\"state\":\"%s\",\"loop\":", state_name(t));
        if (t->loop == UINT_MAX)
            fprintf(out, "null");
        else
            fprintf(out, "%u", t->loop);
        fprintf(out, ",\"function\":");
        json_string(out, symbol_of(t->fn, sb, sizeof sb));
        fprintf(out, ",\"age_s\":%.6f",
                (double)(tb->read_ns > t->created_ns ? tb->read_ns - t->created_ns : 0) / 1e9);
        if (t->ran_ns)
            fprintf(out, ",\"since_ran_s\":%.6f",
                    (double)(tb->read_ns > t->ran_ns ? tb->read_ns - t->ran_ns : 0) / 1e9);
        else
            fprintf(out, ",\"since_ran_s\":null");
        if (t->waiter) {
            fprintf(out, ",\"wait\":{\"kind\":\"%s\",\"object\":\"0x%" PRIx64 "\"",
                    kind_name(t->kind), t->object);
            if (t->kind == d.wait_io)
                fprintf(out, ",\"op\":\"%s\",\"fd\":%d", io_opcode_name(t->io_opcode), t->io_fd);
            if (t->kind == d.wait_listener && t->detail >= 0)
                fprintf(out, ",\"fd\":%" PRId64, t->detail);
            if (t->kind == d.wait_lock && t->detail >= 0)
                fprintf(out, ",\"holder\":%" PRId64, t->detail);
            if ((t->kind == d.wait_task || t->kind == d.wait_tasks) && t->awaits >= 0)
                fprintf(out, ",\"task\":%" PRIu64, tb->t[t->awaits].id);
            else if ((t->kind == d.wait_task || t->kind == d.wait_tasks) && t->detail >= 0)
                fprintf(out, ",\"task\":%" PRId64, t->detail);
            if (!strcmp(kind_name(t->kind), "thread")) {
                fprintf(out, ",\"function\":");
                json_string(out, symbol_of(t->object, sb, sizeof sb));
            }
            if (t->timer_at)
                fprintf(out, ",\"deadline_in_s\":%.6f",
                        ((double)t->timer_at - (double)tb->read_ns) / 1e9);
            fputc('}', out);
        }
        fputc('}', out);
    }
}

static void print_json_footer(size_t n, size_t torn, FILE *out) {
    fprintf(out, "\n],\"count\":%zu,\"torn\":%zu}\n", n, torn);
}

static void print_count(const struct counts *c, FILE *out) {
    fprintf(out, "%zu tasks:", c->n);
    const char *sep = " ";
    for (uint32_t s = 0; s < d.state_count; s++)
        if (c->by_state[s]) {
            fprintf(out, "%s%s %zu", sep, state_names[s], c->by_state[s]);
            sep = ", ";
        }
    if (c->by_state[64])
        fprintf(out, "%s? %zu", sep, c->by_state[64]);
    fprintf(out, ";");
    sep = " ";
    for (unsigned l = 0; l <= 256; l++)
        if (c->by_loop[l]) {
            if (l < 256)
                fprintf(out, "%sloop %u: %zu", sep, l, c->by_loop[l]);
            else
                fprintf(out, "%sloop ?: %zu", sep, c->by_loop[l]);
            sep = ", ";
        }
    fputc('\n', out);
}

/* ---- --tree: who awaits whom ---------------------------------------------------------------
 *
 * A task awaits at most one task, so "awaits" is a function: the awaited-by graph is a forest
 * whose roots await no listed task, plus cycles with trees hanging off them. Roots are printed
 * with their awaiters below them; then each cycle, named, with its members' other awaiters. */

struct tree {
    const struct table *tb;
    uint32_t *first, *next; /* children lists: awaiters of each task */
    FILE *out;
};

static void tree_print(struct tree *tr, uint32_t i, const char *prefix, bool last, int depth,
                       uint32_t skip) {
    const struct task *t = &tr->tb->t[i];
    char nb[ESCAPED], sb[1024], wb[512];
    fprintf(tr->out, "%s%s%s (id %" PRIu64 ", %s, %s)", prefix,
            depth ? (last ? "└── " : "├── ") : "", t->torn ? "?" : shown_name(t, nb, sizeof nb),
            t->id, state_name(t), t->valid ? shown_symbol(t->fn, sb, sizeof sb) : "?");
    if (t->valid && t->waiter && (t->awaits < 0 || t->kind == d.wait_lock))
        fprintf(tr->out, " %s %s", t->awaits < 0 ? "waits:" : "via",
                describe_wait(tr->tb, t, wb, sizeof wb));
    fputc('\n', tr->out);
    char child_prefix[1024];
    size_t pl = strlen(prefix);
    if (pl + 8 > sizeof child_prefix)
        pl = sizeof child_prefix - 8; /* deep chains: the indentation stops growing */
    memcpy(child_prefix, prefix, pl);
    strcpy(child_prefix + pl, depth ? (last ? "    " : "│   ") : "");
    if (depth > 200) {
        fprintf(tr->out, "%s└── ...\n", child_prefix);
        return;
    }
    for (uint32_t c = tr->first[i]; c != UINT32_MAX; c = tr->next[c]) {
        if (c == skip)
            continue;
        uint32_t after = tr->next[c];
        while (after != UINT32_MAX && after == skip)
            after = tr->next[after];
        tree_print(tr, c, child_prefix, after == UINT32_MAX, depth + 1, skip);
    }
}

static void print_tree(const struct table *tb, FILE *out) {
    size_t n = tb->n;
    struct tree tr = {tb, xcalloc(n, 4), xcalloc(n, 4), out};
    for (size_t i = 0; i < n; i++)
        tr.first[i] = tr.next[i] = UINT32_MAX;
    for (size_t k = n; k-- > 0;) { /* children in id order */
        uint32_t i = tb->order[k];
        int64_t p = tb->t[i].awaits;
        if (p >= 0) {
            tr.next[i] = tr.first[p];
            tr.first[p] = (uint32_t)i;
        }
    }
    /* cycles: colour walk along "awaits" */
    uint8_t *colour = xcalloc(n, 1); /* 0 new, 1 on the current path, 2 done */
    uint8_t *in_cycle = xcalloc(n, 1);
    size_t ncycles = 0;
    uint32_t *cycle_start = xcalloc(n, 4);
    uint32_t *cycle_pred = xcalloc(n, 4); /* a cycle member's predecessor in its cycle */
    for (size_t s = 0; s < n; s++) {
        size_t i = s;
        while (colour[i] == 0) {
            colour[i] = 1;
            if (tb->t[i].awaits < 0)
                break;
            i = (size_t)tb->t[i].awaits;
        }
        if (colour[i] == 1 && tb->t[i].awaits >= 0 && !in_cycle[i]) {
            /* i is on the path just walked and awaits: a new cycle through i? */
            size_t j = i;
            bool closed = false;
            for (size_t steps = 0; steps <= n; steps++) {
                j = (size_t)tb->t[j].awaits;
                if (j == i) {
                    closed = true;
                    break;
                }
                if (tb->t[j].awaits < 0 || colour[j] != 1)
                    break;
            }
            if (closed) {
                cycle_start[ncycles++] = (uint32_t)i;
                j = i;
                do {
                    in_cycle[j] = 1;
                    size_t next = (size_t)tb->t[j].awaits;
                    cycle_pred[next] = (uint32_t)j; /* the cycle's own edge into next */
                    j = next;
                } while (j != i);
            }
        }
        for (i = s; colour[i] == 1;) {
            colour[i] = 2;
            if (tb->t[i].awaits < 0)
                break;
            i = (size_t)tb->t[i].awaits;
        }
    }
    for (size_t k = 0; k < n; k++) {
        uint32_t i = tb->order[k];
        if (tb->t[i].awaits < 0)
            tree_print(&tr, i, "", true, 0, UINT32_MAX);
    }
    for (size_t c = 0; c < ncycles; c++) {
        char nb[ESCAPED];
        fprintf(out, "await cycle %zu:", c + 1);
        size_t j = cycle_start[c];
        do {
            fprintf(out, " %s (id %" PRIu64 ") ->", shown_name(&tb->t[j], nb, sizeof nb),
                    tb->t[j].id);
            j = (size_t)tb->t[j].awaits;
        } while (j != cycle_start[c]);
        fprintf(out, " %s (id %" PRIu64 ")\n", shown_name(&tb->t[j], nb, sizeof nb), tb->t[j].id);
        /* each member with its awaiters outside the cycle */
        do { /* skip the cycle's own edge into j */
            tree_print(&tr, (uint32_t)j, "  ", true, 0, cycle_pred[j]);
            j = (size_t)tb->t[j].awaits;
        } while (j != cycle_start[c]);
    }
    fprintf(out, "%zu tasks, %zu await cycle%s", n, ncycles, ncycles == 1 ? "" : "s");
    if (tb->torn)
        fprintf(out, ", %zu torn", tb->torn);
    fputc('\n', out);
    free(colour);
    free(in_cycle);
    free(cycle_start);
    free(cycle_pred);
    free(tr.first);
    free(tr.next);
}

/* The listing, --json and --tree. --tree needs every row at once (edges go anywhere); the
 * others read and print WINDOW rows at a time, so that the reader's memory stays bounded and
 * is reused from window to window (a million rows of fresh memory cost more than reading). */
enum { WINDOW = 1 << 17 };

static void list_tasks(enum mode mode, int retries, FILE *out) {
    uint64_t *addr, *slot;
    size_t n;
    read_slots(&addr, &slot, &n, true);
    struct table tb = {0};
    size_t shown = 0, torn = 0;
    if (mode == MODE_LIST)
        print_list_header(out);
    else if (mode == MODE_JSON)
        print_json_header(out);
    size_t window = mode == MODE_TREE ? (n ? n : 1) : WINDOW;
    for (size_t from = 0; from < n || (from == 0 && mode == MODE_TREE); from += window) {
        size_t k = n - from < window ? n - from : window;
        read_tasks(&tb, retries, addr + from, slot + from, k);
        if (mode == MODE_LIST)
            print_list(&tb, out);
        else if (mode == MODE_JSON)
            print_json(&tb, shown == 0, out);
        else
            print_tree(&tb, out);
        shown += tb.n;
        torn += tb.torn;
        if (!k)
            break;
    }
    if (mode == MODE_LIST)
        print_list_footer(shown, torn, out);
    else if (mode == MODE_JSON)
        print_json_footer(shown, torn, out);
    table_free(&tb);
    big_free(addr, n, 8);
    big_free(slot, n, 8);
}

/* ---- main ---------------------------------------------------------------------------------- */

static void usage(FILE *f) {
    fprintf(f,
            "usage: %s [--tree | --json | --count] [--watch N] [--retries N] [--readers N] PID\n"
            "  lists the tasks of a running process that links taskring (see taskring-ps(1))\n",
            prog);
}

static long number_arg(const char *opt, const char *v, long lo, long hi) {
    char *end;
    errno = 0;
    long x = v ? strtol(v, &end, 10) : 0;
    if (!v || errno || *end || x < lo || x > hi) {
        fprintf(stderr, "%s: %s needs a number from %ld to %ld\n", prog, opt, lo, hi);
        usage(stderr);
        exit(EXIT_USAGE);
    }
    return x;
}

int main(int argc, char **argv) {
    enum mode mode = MODE_LIST;
    long watch = 0, retries = 5;
    const char *pid_arg = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--tree"))
            mode = MODE_TREE;
        else if (!strcmp(a, "--json"))
            mode = MODE_JSON;
        else if (!strcmp(a, "--count"))
            mode = MODE_COUNT;
        else if (!strcmp(a, "--floor"))
            mode = MODE_FLOOR;
        else if (!strcmp(a, "--watch"))
            watch = number_arg(a, i + 1 < argc ? argv[++i] : NULL, 1, 86400);
        else if (!strcmp(a, "--retries"))
            retries = number_arg(a, i + 1 < argc ? argv[++i] : NULL, 0, 1000);
        else if (!strcmp(a, "--readers"))
            readers_arg = (size_t)number_arg(a, i + 1 < argc ? argv[++i] : NULL, 1, READERS_MAX);
        else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return EXIT_OK;
        } else if (a[0] == '-' || pid_arg) {
            fprintf(stderr, "%s: unexpected argument '%s'\n", prog, a);
            usage(stderr);
            return EXIT_USAGE;
        } else
            pid_arg = a;
    }
    if (!pid_arg) {
        usage(stderr);
        return EXIT_USAGE;
    }
    target = (pid_t)number_arg("PID", pid_arg, 1, INT_MAX);
    if (kill(target, 0) < 0 && errno == ESRCH)
        die(EXIT_NO_PROCESS, "no such process: %d", (int)target);

    uint64_t addr = scan_maps(mode != MODE_COUNT && mode != MODE_FLOOR);
    if (!addr)
        die(EXIT_NOT_TASKRING,
            "process %d does not link taskring (no .note.taskring note or %s symbol in the "
            "files it maps)",
            (int)target, TR_DEBUG_SYMBOL);
    load_descriptor(addr);
    reading = true;
    if (getenv("TASKRING_PS_TEST_STOP")) /* tests: stop here, so the target can end meanwhile */
        raise(SIGSTOP);
    for (;;) {
        if (mode == MODE_FLOOR) {
            floor_read(stdout);
        } else if (mode == MODE_COUNT) {
            struct counts counts;
            count_tasks(&counts);
            print_count(&counts, stdout);
        } else {
            list_tasks(mode, (int)retries, stdout);
        }
        if (fflush(stdout) != 0 || !watch)
            break;
        sleep((unsigned)watch);
        if (mode != MODE_JSON)
            printf("\n");
    }
    return ferror(stdout) ? EXIT_ERROR : EXIT_OK;
}
