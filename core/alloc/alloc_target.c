/*
 * alloc_target: what the allocation profiler learns about the target itself:
 * its ELF file before launch (can LD_PRELOAD work at all? does it bring its
 * own allocator?), its /proc figures during the run, and stacks as text.
 */
#include <stdarg.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <inttypes.h>
#include <libelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc/alloc.h"
#include "alloc/alloc_int.h"
#include "target/procstat.h"

/* ---- stacks as text ------------------------------------------------------------ */

struct sbuf {
    char *p;
    size_t len, cap;
    bool oom;
};

static void sb_add(struct sbuf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t nc = (b->len + n + 1) * 2;
        char *np = realloc(b->p, nc);
        if (np == NULL) {
            b->oom = true;
            return;
        }
        b->p = np;
        b->cap = nc;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void sb_str(struct sbuf *b, const char *s)
{
    sb_add(b, s, strlen(s));
}

static void sb_fmt(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_fmt(struct sbuf *b, const char *fmt, ...)
{
    char tmp[64];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n > 0)
        sb_add(b, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

static const char *base(const char *p)
{
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

/* The frame's name: the function, else module+offset. */
static void frame_name(struct sbuf *b, const struct sym_frame *f)
{
    if (f->function && f->function[0]) {
        sb_str(b, f->function);
        return;
    }
    sb_str(b, f->module && f->module[0] ? f->module : "??");
    sb_fmt(b, "+0x%" PRIx64, f->module_offset);
}

static void frame_where(struct sbuf *b, const struct sym_frame *f, bool full_path)
{
    if (f->file && f->file[0]) {
        sb_str(b, " (");
        sb_str(b, full_path ? f->file : base(f->file));
        sb_fmt(b, ":%u)", f->line);
    }
}

bool alloc_stack_text(const struct sym_frame *fr, size_t n, bool include_deps, struct alloc_text *t)
{
    struct sbuf text = {0}, folded = {0}, blame = {0};
    memset(t, 0, sizeof(*t));
    t->label = "";
    if (n == 0) {
        t->blame = strdup("??");
        t->blame_fn = strdup("??");
        t->blame_file = strdup("");
        t->text = strdup("??");
        t->folded = strdup("??");
        return t->blame && t->blame_fn && t->blame_file && t->text && t->folded;
    }
    size_t bi = sym_blame(fr, n, include_deps);
    for (size_t i = 0; i <= bi && i < n; i++) {
        enum sym_label l = sym_label_of(&fr[i]);
        if (l != SYM_LABEL_NONE) {
            t->label = sym_label_name(l);
            break;
        }
    }
    for (size_t i = 0; i < n; i++) {
        if (i)
            sb_str(&text, "\n");
        frame_name(&text, &fr[i]);
        frame_where(&text, &fr[i], true);
        if (fr[i].inlined)
            sb_str(&text, " [inlined]");
    }
    for (size_t i = n; i-- > 0;) {
        struct sbuf one = {0};
        frame_name(&one, &fr[i]);
        for (char *q = one.p; q && *q; q++)
            if (*q == ';' || *q == '\n')
                *q = ',';
        if (one.p)
            sb_str(&folded, one.p);
        free(one.p);
        if (i)
            sb_str(&folded, ";");
    }
    frame_name(&blame, &fr[bi]);
    t->blame_fn = blame.p ? strdup(blame.p) : NULL;
    frame_where(&blame, &fr[bi], false);
    t->blame = blame.p;
    t->blame_file = strdup(fr[bi].file ? fr[bi].file : "");
    t->blame_line = fr[bi].line;
    t->text = text.p;
    t->folded = folded.p;
    if (text.oom || folded.oom || blame.oom || !t->blame || !t->blame_fn || !t->blame_file ||
        !t->text || !t->folded) {
        alloc_text_free(t);
        return false;
    }
    return true;
}

void alloc_text_free(struct alloc_text *t)
{
    free(t->blame);
    free(t->blame_fn);
    free(t->blame_file);
    free(t->text);
    free(t->folded);
    memset(t, 0, sizeof(*t));
}

/* ---- /proc (through core/target/procstat.h) ------------------------------------ */

bool alloc_proc_read(int pid, uint64_t *rss_bytes, uint64_t *cpu_ticks, uint32_t *threads,
                     char **names_json)
{
    struct procstat_proc pr;
    struct procstat_group_count g[64];
    *names_json = NULL;
    if (procstat_read(pid, 0, &pr) != LS_OK)
        return false;
    *rss_bytes = pr.rss_bytes;
    *cpu_ticks = pr.utime_ticks + pr.stime_ticks;
    size_t ng = procstat_thread_groups(pid, g, sizeof(g) / sizeof(g[0]), threads);
    struct sbuf j = {0};
    sb_str(&j, "{");
    for (size_t k = 0; k < ng; k++) {
        sb_str(&j, k ? ",\"" : "\"");
        for (const char *c = g[k].name; *c; c++) {
            if (*c == '"' || *c == '\\')
                sb_add(&j, "\\", 1);
            if ((unsigned char)*c < 0x20)
                sb_fmt(&j, "\\u%04x", (unsigned char)*c);
            else
                sb_add(&j, c, 1);
        }
        sb_fmt(&j, "\":%u", g[k].count);
    }
    sb_str(&j, "}");
    *names_json = j.oom ? (free(j.p), NULL) : j.p;
    return true;
}

double alloc_ticks_to_pct(uint64_t ticks)
{
    return procstat_ticks_pct(ticks, 1.0);
}

/* ---- the target's ELF file -------------------------------------------------------- */

static bool resolve_cmd(const char *argv0, const char *cwd, char *out, size_t cap)
{
    if (strchr(argv0, '/') != NULL) {
        if (argv0[0] == '/' || cwd == NULL)
            snprintf(out, cap, "%s", argv0);
        else
            snprintf(out, cap, "%s/%s", cwd, argv0);
        return access(out, X_OK) == 0;
    }
    const char *path = getenv("PATH");
    if (path == NULL)
        path = "/usr/local/bin:/usr/bin:/bin";
    while (*path) {
        size_t l = strcspn(path, ":");
        snprintf(out, cap, "%.*s/%s", (int)l, path, argv0);
        if (l > 0 && access(out, X_OK) == 0)
            return true;
        path += l;
        if (*path == ':')
            path++;
    }
    return false;
}

static const char *const custom_allocators[][2] = {
    {"je_malloc", "jemalloc"},   {"_rjem_malloc", "jemalloc (tikv-jemallocator)"},
    {"mi_malloc", "mimalloc"},   {"tc_malloc", "tcmalloc"},
    {"rpmalloc", "rpmalloc"},    {"snmalloc_", "snmalloc"},
};

static const char *scan_symbols(Elf *e)
{
    Elf_Scn *scn = NULL;
    while ((scn = elf_nextscn(e, scn)) != NULL) {
        GElf_Shdr sh;
        if (gelf_getshdr(scn, &sh) == NULL || (sh.sh_type != SHT_SYMTAB && sh.sh_type != SHT_DYNSYM))
            continue;
        Elf_Data *data = elf_getdata(scn, NULL);
        if (data == NULL || sh.sh_entsize == 0)
            continue;
        size_t n = sh.sh_size / sh.sh_entsize;
        for (size_t i = 0; i < n; i++) {
            GElf_Sym sym;
            if (gelf_getsym(data, (int)i, &sym) == NULL || sym.st_shndx == SHN_UNDEF)
                continue;
            const char *name = elf_strptr(e, sh.sh_link, sym.st_name);
            if (name == NULL)
                continue;
            for (size_t k = 0; k < sizeof(custom_allocators) / sizeof(custom_allocators[0]); k++)
                if (strncmp(name, custom_allocators[k][0], strlen(custom_allocators[k][0])) == 0)
                    return custom_allocators[k][1];
        }
    }
    return NULL;
}

bool alloc_check_target(const char *argv0, const char *cwd, char *msg, size_t msgcap, char *warn,
                        size_t warncap)
{
    char path[4096], head[4];
    bool ok = true;
    Elf *e = NULL;
    msg[0] = warn[0] = '\0';
    if (!resolve_cmd(argv0, cwd, path, sizeof(path)))
        return true; /* launching will say what is wrong */
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return true;
    if (read(fd, head, 4) != 4 || memcmp(head, "\177ELF", 4) != 0)
        goto out; /* a script: its interpreter is what runs, and is checked by no one */
    elf_version(EV_CURRENT);
    e = elf_begin(fd, ELF_C_READ, NULL);
    size_t nph = 0;
    if (e == NULL || elf_getphdrnum(e, &nph) != 0)
        goto out;
    bool interp = false;
    for (size_t i = 0; i < nph; i++) {
        GElf_Phdr ph;
        if (gelf_getphdr(e, (int)i, &ph) == NULL || ph.p_type != PT_INTERP)
            continue;
        interp = true;
        char ip[256] = "";
        size_t l = ph.p_filesz < sizeof(ip) - 1 ? ph.p_filesz : sizeof(ip) - 1;
        if (pread(fd, ip, l, (off_t)ph.p_offset) == (ssize_t)l && strstr(ip, "musl") != NULL) {
            snprintf(msg, msgcap,
                     "%s is linked against musl (interpreter %s): the allocation tracer "
                     "interposes glibc's malloc and cannot trace it",
                     path, ip);
            ok = false;
            goto out;
        }
    }
    if (!interp) {
        snprintf(msg, msgcap,
                 "%s is statically linked: LD_PRELOAD cannot inject the allocation tracer "
                 "into it (build it dynamically linked against glibc to profile its allocations)",
                 path);
        ok = false;
        goto out;
    }
    const char *ca = scan_symbols(e);
    if (ca != NULL)
        snprintf(warn, warncap,
                 "%s contains %s: if it is the global allocator, its allocations bypass malloc "
                 "and the tracer sees only the few that go through libc",
                 path, ca);
out:
    if (e)
        elf_end(e);
    close(fd);
    return ok;
}

ls_err alloc_default_shim(char *buf, size_t cap)
{
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n <= 0)
        return LS_ERR_NOTFOUND;
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (slash == NULL)
        return LS_ERR_NOTFOUND;
    *slash = '\0';
    if ((size_t)snprintf(buf, cap, "%s/libloadscope-shim.so", exe) >= cap)
        return LS_ERR_RANGE;
    return access(buf, R_OK) == 0 ? LS_OK : LS_ERR_NOTFOUND;
}
