/*
 * symbols: return addresses of a traced process into readable frames.
 *
 * The module map is our own (from /proc/PID/maps, or registered offline):
 * a sorted list of mappings, each pointing at a module (one ELF file) whose
 * load bias comes from the file's program headers and the mapping's file
 * offset. The modules with a readable file are reported to a libdwfl session
 * (dwfl_report_elf); libdw then gives, for an address, the CU and the line;
 * a per-CU index of function ranges (built on the CU's first use) finds the
 * DW_TAG_subprogram, and a walk down its DIEs the chain of DW_TAG_inlined_subroutine
 * scopes inside the DW_TAG_subprogram, whose DW_AT_call_file/DW_AT_call_line
 * say where each inlined call sits (as addr2line -i shows it). Names come from DW_AT_linkage_name
 * (so Rust and C++ names carry their full path), then the ELF symbol table, then DW_AT_name.
 *
 * Every string handed out is interned in the table; results are cached per
 * pc in an open-addressing hash map, so a stack seen before costs a few hash
 * probes. Demangled names are memoized per mangled name too.
 */
#include "symbols.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* libiberty.h (pulled in by demangle.h) tests configure macros it never defines. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wundef"
#include <demangle.h>
#pragma GCC diagnostic pop
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <gelf.h>

/* ---- string table: interning and memoized demangling ---------------------- */

struct strmap_ent {
    char *key;         /* owned */
    const char *value; /* interned elsewhere (or == key) */
};

struct strmap {
    struct strmap_ent *slots;
    size_t cap; /* power of two, or 0 */
    size_t used;
};

static uint64_t hash_bytes(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603u; /* FNV-1a */
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211u;
    }
    return h;
}

static uint64_t hash_pc(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdu;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53u;
    return x ^ (x >> 33);
}

static struct strmap_ent *strmap_find(const struct strmap *m, const char *key, size_t len)
{
    if (m->cap == 0)
        return NULL;
    size_t i = hash_bytes(key, len) & (m->cap - 1);
    while (m->slots[i].key) {
        if (strlen(m->slots[i].key) == len && memcmp(m->slots[i].key, key, len) == 0)
            return &m->slots[i];
        i = (i + 1) & (m->cap - 1);
    }
    return NULL;
}

static bool strmap_grow(struct strmap *m)
{
    size_t ncap = m->cap ? m->cap * 2 : 256;
    struct strmap_ent *ns = calloc(ncap, sizeof *ns);
    if (!ns)
        return false;
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->slots[i].key)
            continue;
        size_t j = hash_bytes(m->slots[i].key, strlen(m->slots[i].key)) & (ncap - 1);
        while (ns[j].key)
            j = (j + 1) & (ncap - 1);
        ns[j] = m->slots[i];
    }
    free(m->slots);
    m->slots = ns;
    m->cap = ncap;
    return true;
}

/* Inserts key (copied) with value; value NULL means "the key itself". */
static struct strmap_ent *strmap_put(struct strmap *m, const char *key, size_t len,
                                     const char *value)
{
    if ((m->used + 1) * 4 > m->cap * 3 && !strmap_grow(m))
        return NULL;
    char *k = malloc(len + 1);
    if (!k)
        return NULL;
    memcpy(k, key, len);
    k[len] = '\0';
    size_t i = hash_bytes(k, len) & (m->cap - 1);
    while (m->slots[i].key)
        i = (i + 1) & (m->cap - 1);
    m->slots[i].key = k;
    m->slots[i].value = value ? value : k;
    m->used++;
    return &m->slots[i];
}

static void strmap_free(struct strmap *m)
{
    for (size_t i = 0; i < m->cap; i++)
        free(m->slots[i].key);
    free(m->slots);
    memset(m, 0, sizeof *m);
}

/* ---- the table ---------------------------------------------------------- */

struct sym_module {
    const char *path;  /* interned; as mapped, " (deleted)" removed */
    const char *name;  /* interned basename */
    char *open_path;   /* what to open (map_files for a deleted file); NULL: unreadable */
    uint64_t bias;     /* load bias, valid when have_bias */
    uint64_t old_bias; /* the bias before the latest maps read */
    bool have_bias;
    bool had_bias;
    bool is_main;
    bool seen; /* present in the latest maps read */
};

struct sym_map {
    uint64_t start, end, offset;
    size_t module; /* index into modules */
};

struct pc_ent {
    uint64_t pc;
    uint32_t first; /* index into frames */
    uint32_t n;     /* 0: empty slot */
};

/* A function's address range in one CU, for a binary search instead of a DIE walk. */
struct fn_range {
    Dwarf_Addr lo, hi; /* DWARF addresses, [lo, hi) */
    Dwarf_Die die;     /* the DW_TAG_subprogram */
};

/* The sorted function ranges of one CU, built the first time the CU is used. */
struct cu_index {
    Dwarf *dw;
    Dwarf_Off cu_off;
    struct fn_range *fns;
    size_t n, cap;
};

/* An ELF symbol's range, for modules without DWARF (node, stripped libraries). */
struct elf_sym {
    Dwarf_Addr lo, hi; /* dwfl addresses; hi == lo for a symbol of unknown size */
    const char *name;  /* into libdw's copy of the ELF: valid until the next report */
};

/* One module's function symbols sorted by address: a binary search per lookup. */
struct sym_index {
    Dwfl_Module *mod;
    struct elf_sym *syms;
    size_t n;
};

struct sym_table {
    pid_t pid; /* 0 for an offline table */
    Dwfl *dwfl;
    Dwfl_Callbacks cb;
    char *debuginfo_path;
    bool dirty; /* modules changed since the last dwfl report */

    struct sym_module *modules;
    size_t nmodules, capmodules;
    struct sym_map *maps; /* sorted by start */
    size_t nmaps, capmaps;
    char *exe_path; /* /proc/PID/exe target, or the first offline path */

    struct strmap strings;   /* interning */
    struct strmap demangled; /* mangled -> interned demangled */

    struct pc_ent *cache;
    size_t cache_cap, cache_used;
    struct sym_frame *frames; /* cached results */
    size_t nframes, capframes;

    struct cu_index *cus; /* open addressing on (dw, cu_off); dw NULL: empty */
    size_t cus_cap, cus_used;
    Dwarf_Die *dies; /* scope path of one resolution */
    size_t ndies, capdies;
    struct sym_frame *tmp; /* one resolution being built */
    size_t ntmp, captmp;

    struct sym_stats stats;
    uint64_t last_read_ns; /* CLOCK_MONOTONIC of the last maps read on a miss */

    struct sym_index *symidx; /* per module, built on its first ELF-symbol lookup */
    size_t nsymidx, capsymidx;
};

static void symidx_clear(struct sym_table *t)
{
    for (size_t i = 0; i < t->nsymidx; i++)
        free(t->symidx[i].syms);
    t->nsymidx = 0;
}

static const char *intern_n(struct sym_table *t, const char *s, size_t len)
{
    struct strmap_ent *e = strmap_find(&t->strings, s, len);
    if (e)
        return e->value;
    e = strmap_put(&t->strings, s, len, NULL);
    return e ? e->value : "";
}

static const char *intern(struct sym_table *t, const char *s)
{
    return s ? intern_n(t, s, strlen(s)) : "";
}

const char *sym_label_name(enum sym_label l)
{
    switch (l) {
    case SYM_LABEL_NONE:
        return "";
    case SYM_LABEL_VEC_GROWTH:
        return "vector growth";
    case SYM_LABEL_FORMAT:
        return "format!";
    case SYM_LABEL_CLONE:
        return "clone/to_owned";
    case SYM_LABEL_HASH_REHASH:
        return "hash map rehash";
    case SYM_LABEL_SERDE_STRING:
        return "serde string";
    case SYM_LABEL_BOX_NEW:
        return "Box/Arc/Rc::new";
    }
    return "";
}

/* ---- demangling --------------------------------------------------------- */

static bool is_hex_run(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isxdigit((unsigned char)s[i]))
            return false;
    return true;
}

char *sym_demangle(const char *mangled)
{
    if (!mangled)
        return strdup("");
    /* ".llvm.NNNN" (ThinLTO promotion) goes before anything else looks. */
    size_t len = strlen(mangled);
    const char *llvm = strstr(mangled, ".llvm.");
    if (llvm)
        len = (size_t)(llvm - mangled);
    char *in = malloc(len + 1);
    if (!in)
        return NULL;
    memcpy(in, mangled, len);
    in[len] = '\0';

    char *out = NULL;
    if (in[0] == '_' && (in[1] == 'R' || in[1] == 'Z'))
        out = cplus_demangle(in, DMGL_PARAMS | DMGL_ANSI | DMGL_RUST);
    if (!out && in[0] == '_' && in[1] == 'Z')
        out = cplus_demangle(in, DMGL_PARAMS | DMGL_ANSI | DMGL_GNU_V3 | DMGL_RET_DROP);
    if (out) {
        free(in);
        in = out;
    }
    /* A legacy Rust hash left over (a name libiberty would not take). */
    size_t n = strlen(in);
    if (n > 19 && memcmp(in + n - 19, "::h", 3) == 0 && is_hex_run(in + n - 16, 16))
        in[n - 19] = '\0';
    return in;
}

/* Demangles through the table's memo; the result is interned. */
static const char *demangle_cached(struct sym_table *t, const char *mangled)
{
    if (!mangled || !*mangled)
        return "";
    size_t len = strlen(mangled);
    struct strmap_ent *e = strmap_find(&t->demangled, mangled, len);
    if (e)
        return e->value;
    char *d = sym_demangle(mangled);
    const char *v = d ? intern(t, d) : intern(t, mangled);
    free(d);
    strmap_put(&t->demangled, mangled, len, v); /* a failed memo only costs time */
    return v;
}

/* ---- modules and maps --------------------------------------------------- */

static const char *base_name(const char *p)
{
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

/* The load bias of path mapped at start from file offset off, from its phdrs. */
static bool compute_bias(const char *open_path, uint64_t start, uint64_t off, uint64_t *bias)
{
    bool ok = false;
    int fd = open(open_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    Elf *elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
    if (!elf)
        goto out;
    GElf_Ehdr eh;
    if (!gelf_getehdr(elf, &eh))
        goto out;
    if (eh.e_type == ET_EXEC) {
        *bias = 0;
        ok = true;
        goto out;
    }
    size_t phnum;
    if (elf_getphdrnum(elf, &phnum) != 0)
        goto out;
    /*
     * A mapping of segment S starts at S's offset rounded down to a page. Two
     * segments can share a page (rustc/lld lay out a read-only segment and
     * the code segment back to back), so an offset may fall inside the
     * earlier segment too: the segment whose own rounded offset equals the
     * mapping's offset is the one mapped here; containment is the fallback.
     */
    bool exact = false;
    for (size_t i = 0; i < phnum && !exact; i++) {
        GElf_Phdr ph;
        if (!gelf_getphdr(elf, (int)i, &ph) || ph.p_type != PT_LOAD)
            continue;
        uint64_t page = 4096;
        uint64_t seg_off = ph.p_offset & ~(page - 1);
        if (off < seg_off || off >= ph.p_offset + ph.p_filesz)
            continue;
        exact = seg_off == off;
        if (ok && !exact)
            continue;
        *bias = start - (ph.p_vaddr - ph.p_offset + off);
        ok = true;
    }
out:
    if (elf)
        elf_end(elf);
    close(fd);
    return ok;
}

static size_t find_module(const struct sym_table *t, const char *path)
{
    for (size_t i = 0; i < t->nmodules; i++)
        if (strcmp(t->modules[i].path, path) == 0)
            return i;
    return SIZE_MAX;
}

/*
 * Registers one mapping. raw_path is as the maps show it (maybe with
 * " (deleted)"); inode 0 skips the same-file check.
 */
static ls_err add_mapping(struct sym_table *t, uint64_t start, uint64_t end, uint64_t off,
                          const char *raw_path, uint64_t inode)
{
    ls_err err = LS_OK;
    char *path = strdup(raw_path);
    if (!path)
        return LS_ERR_NOMEM;
    bool deleted = false;
    size_t pl = strlen(path);
    static const char del[] = " (deleted)";
    if (pl > sizeof del - 1 && strcmp(path + pl - (sizeof del - 1), del) == 0) {
        path[pl - (sizeof del - 1)] = '\0';
        deleted = true;
    }

    size_t mi = find_module(t, path);
    if (mi == SIZE_MAX) {
        if (t->nmodules == t->capmodules) {
            size_t nc = t->capmodules ? t->capmodules * 2 : 32;
            struct sym_module *nm = realloc(t->modules, nc * sizeof *nm);
            if (!nm) {
                err = LS_ERR_NOMEM;
                goto out;
            }
            t->modules = nm;
            t->capmodules = nc;
        }
        struct sym_module *m = &t->modules[t->nmodules];
        memset(m, 0, sizeof *m);
        m->path = intern(t, path);
        m->name = intern(t, base_name(path));
        if (!t->exe_path && t->pid == 0) {
            t->exe_path = strdup(path);
            if (!t->exe_path) {
                err = LS_ERR_NOMEM;
                goto out;
            }
        }
        m->is_main = t->exe_path && strcmp(t->exe_path, path) == 0;
        /* Which file to open: the path itself, unless it is gone or replaced. */
        struct stat st;
        bool same = !deleted && stat(path, &st) == 0 && (inode == 0 || st.st_ino == inode);
        char buf[128];
        const char *open_path = NULL;
        if (same) {
            open_path = path;
        } else if (t->pid > 0) {
            snprintf(buf, sizeof buf, "/proc/%d/map_files/%" PRIx64 "-%" PRIx64, (int)t->pid, start,
                     end);
            if (access(buf, R_OK) == 0)
                open_path = buf;
        }
        if (open_path) {
            m->open_path = strdup(open_path);
            if (!m->open_path) {
                err = LS_ERR_NOMEM;
                goto out;
            }
        }
        mi = t->nmodules++;
        t->dirty = true;
    }
    struct sym_module *m = &t->modules[mi];
    m->seen = true;
    if (!m->have_bias && m->open_path && compute_bias(m->open_path, start, off, &m->bias)) {
        m->have_bias = true;
        t->dirty = true;
    }

    if (t->nmaps == t->capmaps) {
        size_t nc = t->capmaps ? t->capmaps * 2 : 64;
        struct sym_map *nm = realloc(t->maps, nc * sizeof *nm);
        if (!nm) {
            err = LS_ERR_NOMEM;
            goto out;
        }
        t->maps = nm;
        t->capmaps = nc;
    }
    /* Keep maps sorted by start; a new mapping over an old range replaces it. */
    size_t pos = t->nmaps;
    while (pos > 0 && t->maps[pos - 1].start > start)
        pos--;
    if (pos > 0 && t->maps[pos - 1].start == start) {
        t->maps[pos - 1] = (struct sym_map){start, end, off, mi};
        goto out;
    }
    memmove(&t->maps[pos + 1], &t->maps[pos], (t->nmaps - pos) * sizeof *t->maps);
    t->maps[pos] = (struct sym_map){start, end, off, mi};
    t->nmaps++;
out:
    free(path);
    return err;
}

static const struct sym_map *find_map(const struct sym_table *t, uint64_t addr)
{
    size_t lo = 0, hi = t->nmaps;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (t->maps[mid].end <= addr)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < t->nmaps && t->maps[lo].start <= addr && addr < t->maps[lo].end)
        return &t->maps[lo];
    return NULL;
}

static ls_err parse_maps_line(struct sym_table *t, const char *line, uint64_t *inode_out)
{
    unsigned long long start, end, off, inode;
    char perms[8];
    unsigned dmaj, dmin;
    int pos = 0;
    if (sscanf(line, "%llx-%llx %7s %llx %x:%x %llu %n", &start, &end, perms, &off, &dmaj, &dmin,
               &inode, &pos) < 7)
        return LS_ERR_PARSE;
    if (inode_out)
        *inode_out = inode;
    const char *path = line + pos;
    size_t pl = strcspn(path, "\n");
    if (pl == 0 || path[0] != '/')
        return LS_OK; /* anonymous, [heap], [vdso]...: nothing to read symbols from */
    if (start >= end)
        return LS_ERR_PARSE;
    char *p = strndup(path, pl);
    if (!p)
        return LS_ERR_NOMEM;
    ls_err err = add_mapping(t, start, end, off, p, inode);
    free(p);
    return err;
}

static void cache_clear(struct sym_table *t)
{
    if (t->cache)
        memset(t->cache, 0, t->cache_cap * sizeof *t->cache);
    t->cache_used = 0;
    t->nframes = 0;
}

/* (Re)reads /proc/PID/maps. */
static ls_err read_maps(struct sym_table *t)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/maps", (int)t->pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return errno == ENOENT || errno == ESRCH ? LS_ERR_NOTFOUND : LS_ERR_IO;
    t->stats.maps_reads++;
    /* Biases are recomputed: a library loaded again may sit elsewhere. */
    for (size_t i = 0; i < t->nmodules; i++) {
        struct sym_module *m = &t->modules[i];
        m->seen = false;
        m->old_bias = m->bias;
        m->had_bias = m->have_bias;
        m->have_bias = false;
    }
    t->nmaps = 0;
    ls_err err = LS_OK;
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, f) > 0) {
        err = parse_maps_line(t, line, NULL);
        if (err)
            goto out;
    }
    /* A module gone away or moved: cached answers for its addresses may be wrong now. */
    for (size_t i = 0; i < t->nmodules; i++) {
        const struct sym_module *m = &t->modules[i];
        if (!m->seen || (m->had_bias && m->have_bias && m->bias != m->old_bias)) {
            cache_clear(t);
            t->dirty = true;
            break;
        }
    }
out:
    free(line);
    fclose(f);
    return err;
}

/* Reports the readable modules to libdwfl when they changed. */
static void report_modules(struct sym_table *t)
{
    if (!t->dirty)
        return;
    /* Reporting may free modules: the symbol indexes point into them. */
    symidx_clear(t);
    dwfl_report_begin(t->dwfl);
    for (size_t i = 0; i < t->nmodules; i++) {
        struct sym_module *m = &t->modules[i];
        if (!m->seen || !m->open_path || !m->have_bias)
            continue;
        /* NULL on a bad or overlapping file: its addresses stay unresolved. */
        (void)dwfl_report_elf(t->dwfl, m->name, m->open_path, -1, m->bias, true);
    }
    dwfl_report_end(t->dwfl, NULL, NULL);
    t->dirty = false;
}

static ls_err table_new(pid_t pid, struct sym_table **out)
{
    struct sym_table *t = calloc(1, sizeof *t);
    if (!t)
        return LS_ERR_NOMEM;
    t->pid = pid;
    /* Separate debug files: next to the file, .debug/, /usr/lib/debug (by build id too). */
    t->debuginfo_path = strdup(":.debug:/usr/lib/debug");
    t->cb.find_elf = dwfl_build_id_find_elf;
    t->cb.find_debuginfo = dwfl_standard_find_debuginfo;
    t->cb.section_address = dwfl_offline_section_address;
    t->cb.debuginfo_path = &t->debuginfo_path;
    t->dwfl = t->debuginfo_path ? dwfl_begin(&t->cb) : NULL;
    if (!t->dwfl) {
        free(t->debuginfo_path);
        free(t);
        return LS_ERR_NOMEM;
    }
    *out = t;
    return LS_OK;
}

ls_err sym_open(pid_t pid, struct sym_table **out)
{
    *out = NULL;
    if (pid <= 0)
        return LS_ERR_INVALID;
    struct sym_table *t = NULL;
    ls_err err = table_new(pid, &t);
    if (err)
        return err;
    char link[64], buf[4096];
    snprintf(link, sizeof link, "/proc/%d/exe", (int)pid);
    ssize_t n = readlink(link, buf, sizeof buf - 1);
    if (n > 0) {
        buf[n] = '\0';
        static const char del[] = " (deleted)";
        if ((size_t)n > sizeof del - 1 && strcmp(buf + n - (sizeof del - 1), del) == 0)
            buf[n - (sizeof del - 1)] = '\0';
        t->exe_path = strdup(buf);
    }
    err = read_maps(t);
    if (err) {
        sym_close(t);
        return err;
    }
    *out = t;
    return LS_OK;
}

ls_err sym_open_offline(struct sym_table **out)
{
    *out = NULL;
    return table_new(0, out);
}

ls_err sym_add_module(struct sym_table *t, uint64_t start, uint64_t end, uint64_t file_offset,
                      const char *path)
{
    if (!t || !path || !*path || start >= end)
        return LS_ERR_INVALID;
    return add_mapping(t, start, end, file_offset, path, 0);
}

ls_err sym_add_maps_line(struct sym_table *t, const char *line)
{
    if (!t || !line)
        return LS_ERR_INVALID;
    return parse_maps_line(t, line, NULL);
}

void sym_get_stats(const struct sym_table *t, struct sym_stats *out)
{
    *out = t->stats;
    out->cached_pcs = t->cache_used;
}

void sym_close(struct sym_table *t)
{
    if (!t)
        return;
    if (t->dwfl)
        dwfl_end(t->dwfl);
    free(t->debuginfo_path);
    for (size_t i = 0; i < t->nmodules; i++)
        free(t->modules[i].open_path);
    free(t->modules);
    free(t->maps);
    free(t->exe_path);
    strmap_free(&t->strings);
    strmap_free(&t->demangled);
    free(t->cache);
    free(t->frames);
    free(t->tmp);
    free(t->dies);
    for (size_t i = 0; i < t->cus_cap; i++)
        free(t->cus[i].fns);
    free(t->cus);
    symidx_clear(t);
    free(t->symidx);
    free(t);
}

/* ---- resolving ---------------------------------------------------------- */

static bool tmp_push(struct sym_table *t, const struct sym_frame *f)
{
    if (t->ntmp == t->captmp) {
        size_t nc = t->captmp ? t->captmp * 2 : 16;
        struct sym_frame *n = realloc(t->tmp, nc * sizeof *n);
        if (!n)
            return false;
        t->tmp = n;
        t->captmp = nc;
    }
    t->tmp[t->ntmp++] = *f;
    return true;
}

/* The best name of a function DIE: linkage name (demangled), else DW_AT_name. */
static const char *die_function_name(struct sym_table *t, Dwarf_Die *die)
{
    Dwarf_Attribute a;
    const char *ln = dwarf_formstring(dwarf_attr_integrate(die, DW_AT_linkage_name, &a));
    if (!ln)
        ln = dwarf_formstring(dwarf_attr_integrate(die, DW_AT_MIPS_linkage_name, &a));
    if (ln)
        return demangle_cached(t, ln);
    const char *n = dwarf_diename(die);
    return n ? demangle_cached(t, n) : "";
}

static int elf_sym_cmp(const void *a, const void *b)
{
    const struct elf_sym *x = a, *y = b;
    if (x->lo != y->lo)
        return x->lo < y->lo ? -1 : 1;
    /* At one address, the sized symbol after the unsized: the search takes the last. */
    return (x->hi > y->hi) - (x->hi < y->hi);
}

/*
 * The module's function symbols, sorted, built once: dwfl_module_addrinfo
 * scans the whole symbol table on every call, which for a binary like node
 * (about 100k symbols) made symbolization, and through back-pressure the
 * traced target itself, dozens of times slower.
 */
static const struct sym_index *symidx_for(struct sym_table *t, Dwfl_Module *mod)
{
    for (size_t i = 0; i < t->nsymidx; i++) {
        if (t->symidx[i].mod == mod)
            return &t->symidx[i];
    }
    if (t->nsymidx == t->capsymidx) {
        size_t nc = t->capsymidx ? t->capsymidx * 2 : 16;
        struct sym_index *n = realloc(t->symidx, nc * sizeof *n);
        if (!n)
            return NULL;
        t->symidx = n;
        t->capsymidx = nc;
    }
    struct sym_index *x = &t->symidx[t->nsymidx];
    x->mod = mod;
    x->syms = NULL;
    x->n = 0;
    int count = dwfl_module_getsymtab(mod);
    if (count > 0) {
        x->syms = malloc((size_t)count * sizeof *x->syms);
        if (!x->syms)
            return NULL;
        for (int i = 1; i < count; i++) {
            GElf_Sym sym;
            GElf_Addr addr;
            GElf_Word shndx;
            const char *name = dwfl_module_getsym_info(mod, i, &sym, &addr, &shndx, NULL, NULL);
            int type = GELF_ST_TYPE(sym.st_info);
            if (!name || !*name || (type != STT_FUNC && type != STT_GNU_IFUNC) ||
                sym.st_shndx == SHN_UNDEF)
                continue;
            x->syms[x->n++] = (struct elf_sym){addr, addr + sym.st_size, name};
        }
        qsort(x->syms, x->n, sizeof *x->syms, elf_sym_cmp);
    }
    t->nsymidx++;
    return x;
}

static const char *elf_symbol_name(struct sym_table *t, Dwfl_Module *mod, Dwarf_Addr addr)
{
    const struct sym_index *x = symidx_for(t, mod);
    if (!x || x->n == 0)
        return "";
    /* The last symbol starting at or before addr... */
    size_t lo = 0, hi = x->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (x->syms[mid].lo <= addr)
            lo = mid + 1;
        else
            hi = mid;
    }
    /* ...or, when its size says addr lies beyond it, one a little before it that holds addr. */
    for (size_t k = lo, tries = 0; k > 0 && tries < 8; k--, tries++) {
        const struct elf_sym *e = &x->syms[k - 1];
        if (addr < e->hi || (e->hi == e->lo && tries == 0))
            return demangle_cached(t, e->name);
    }
    return "";
}

static bool push_die(struct sym_table *t, const Dwarf_Die *die)
{
    if (t->ndies == t->capdies) {
        size_t nc = t->capdies ? t->capdies * 2 : 16;
        Dwarf_Die *n = realloc(t->dies, nc * sizeof *n);
        if (!n)
            return false;
        t->dies = n;
        t->capdies = nc;
    }
    t->dies[t->ndies++] = *die;
    return true;
}

/*
 * Appends to t->dies the path of DIEs under parent whose ranges hold addr
 * (a DWARF address): the subprogram, then the inlined subroutines and
 * lexical blocks nested in it. Namespaces and types are searched through,
 * as Rust and C++ put functions in them. (dwarf_getscopes in elfutils 0.188
 * does not look inside namespaces, and past an inlined subroutine it
 * follows the abstract origin instead of the callers.)
 */
static bool find_scopes(struct sym_table *t, Dwarf_Die *parent, Dwarf_Addr addr, int depth)
{
    Dwarf_Die child;
    if (depth > 64 || dwarf_child(parent, &child) != 0)
        return false;
    do {
        switch (dwarf_tag(&child)) {
        case DW_TAG_subprogram:
        case DW_TAG_inlined_subroutine:
        case DW_TAG_lexical_block:
        case DW_TAG_entry_point:
            if (dwarf_haspc(&child, addr) != 1)
                break;
            if (!push_die(t, &child))
                return false;
            (void)find_scopes(t, &child, addr, depth + 1);
            return true;
        case DW_TAG_namespace:
        case DW_TAG_module:
        case DW_TAG_structure_type:
        case DW_TAG_class_type:
        case DW_TAG_union_type:
        case DW_TAG_enumeration_type:
        case DW_TAG_variant_part:
        case DW_TAG_variant:
            if (dwarf_haschildren(&child) && find_scopes(t, &child, addr, depth + 1))
                return true;
            break;
        default:
            break;
        }
    } while (dwarf_siblingof(&child, &child) == 0);
    return false;
}

static bool cu_add_fn(struct cu_index *ci, Dwarf_Die *die)
{
    Dwarf_Addr base, lo, hi;
    ptrdiff_t off = 0;
    while ((off = dwarf_ranges(die, off, &base, &lo, &hi)) > 0) {
        if (lo >= hi)
            continue;
        if (ci->n == ci->cap) {
            size_t nc = ci->cap ? ci->cap * 2 : 64;
            struct fn_range *n = realloc(ci->fns, nc * sizeof *n);
            if (!n)
                return false;
            ci->fns = n;
            ci->cap = nc;
        }
        ci->fns[ci->n++] = (struct fn_range){lo, hi, *die};
    }
    return true;
}

/* Collects the subprograms with code under parent (through namespaces and types). */
static void cu_collect(struct cu_index *ci, Dwarf_Die *parent, int depth)
{
    Dwarf_Die child;
    if (depth > 64 || dwarf_child(parent, &child) != 0)
        return;
    do {
        switch (dwarf_tag(&child)) {
        case DW_TAG_subprogram:
        case DW_TAG_entry_point:
            if (!cu_add_fn(ci, &child))
                return;
            break;
        case DW_TAG_namespace:
        case DW_TAG_module:
        case DW_TAG_structure_type:
        case DW_TAG_class_type:
        case DW_TAG_union_type:
        case DW_TAG_enumeration_type:
        case DW_TAG_variant_part:
        case DW_TAG_variant:
            if (dwarf_haschildren(&child))
                cu_collect(ci, &child, depth + 1);
            break;
        default:
            break;
        }
    } while (dwarf_siblingof(&child, &child) == 0);
}

static int fn_range_cmp(const void *a, const void *b)
{
    const struct fn_range *x = a, *y = b;
    return (x->lo > y->lo) - (x->lo < y->lo);
}

static size_t cu_hash(const Dwarf *dw, Dwarf_Off off)
{
    return (size_t)hash_pc((uint64_t)(uintptr_t)dw ^ (off * 0x9e3779b97f4a7c15u));
}

/* The function index of cu, built on first use; NULL when out of memory. */
static struct cu_index *cu_index_of(struct sym_table *t, Dwarf_Die *cu)
{
    Dwarf *dw = dwarf_cu_getdwarf(cu->cu);
    Dwarf_Off off = dwarf_dieoffset(cu);
    if ((t->cus_used + 1) * 2 > t->cus_cap) {
        size_t nc = t->cus_cap ? t->cus_cap * 2 : 64;
        struct cu_index *n = calloc(nc, sizeof *n);
        if (!n)
            return NULL;
        for (size_t i = 0; i < t->cus_cap; i++) {
            if (!t->cus[i].dw)
                continue;
            size_t j = cu_hash(t->cus[i].dw, t->cus[i].cu_off) & (nc - 1);
            while (n[j].dw)
                j = (j + 1) & (nc - 1);
            n[j] = t->cus[i];
        }
        free(t->cus);
        t->cus = n;
        t->cus_cap = nc;
    }
    size_t i = cu_hash(dw, off) & (t->cus_cap - 1);
    while (t->cus[i].dw) {
        if (t->cus[i].dw == dw && t->cus[i].cu_off == off)
            return &t->cus[i];
        i = (i + 1) & (t->cus_cap - 1);
    }
    struct cu_index *ci = &t->cus[i];
    ci->dw = dw;
    ci->cu_off = off;
    t->cus_used++;
    cu_collect(ci, cu, 0);
    if (ci->n > 1)
        qsort(ci->fns, ci->n, sizeof *ci->fns, fn_range_cmp);
    return ci;
}

/* The subprogram of cu whose code holds addr (a DWARF address). */
static bool cu_find_fn(struct sym_table *t, Dwarf_Die *cu, Dwarf_Addr addr, Dwarf_Die *out)
{
    struct cu_index *ci = cu_index_of(t, cu);
    if (!ci || ci->n == 0)
        return false;
    size_t lo = 0, hi = ci->n; /* first range with lo > addr */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ci->fns[mid].lo <= addr)
            lo = mid + 1;
        else
            hi = mid;
    }
    /* Ranges of distinct functions do not overlap; look back a little for safety. */
    for (size_t k = lo, steps = 0; k > 0 && steps < 4; k--, steps++) {
        if (addr < ci->fns[k - 1].hi) {
            *out = ci->fns[k - 1].die;
            return true;
        }
    }
    return false;
}

/* Fills t->tmp with the frames of addr (pc - 1) in mod. */
static void resolve_in_module(struct sym_table *t, Dwfl_Module *mod, uint64_t addr,
                              struct sym_frame base)
{
    const char *file = "";
    uint32_t line = 0;
    Dwfl_Line *dl = dwfl_module_getsrc(mod, addr);
    if (dl) {
        int ln = 0;
        const char *src = dwfl_lineinfo(dl, NULL, &ln, NULL, NULL, NULL);
        if (src) {
            file = intern(t, src);
            line = ln > 0 ? (uint32_t)ln : 0;
        }
    }

    Dwarf_Addr bias = 0;
    Dwarf_Die *cu = dwfl_module_addrdie(mod, addr, &bias);
    bool done = false;
    t->ndies = 0;
    Dwarf_Die fn;
    if (cu && cu_find_fn(t, cu, addr - bias, &fn) && push_die(t, &fn)) {
        (void)find_scopes(t, &fn, addr - bias, 0);
        Dwarf_Files *files = NULL;
        size_t nfiles = 0;
        if (dwarf_getsrcfiles(cu, &files, &nfiles) != 0)
            files = NULL;
        /* Innermost first: the found path runs from the CU down. */
        for (size_t i = t->ndies; i-- > 0 && !done;) {
            Dwarf_Die *die = &t->dies[i];
            int tag = dwarf_tag(die);
            if (tag != DW_TAG_inlined_subroutine && tag != DW_TAG_subprogram &&
                tag != DW_TAG_entry_point)
                continue;
            struct sym_frame f = base;
            f.function = die_function_name(t, die);
            f.file = file;
            f.line = line;
            f.inlined = tag == DW_TAG_inlined_subroutine;
            if (!f.inlined) {
                if (!*f.function)
                    f.function = elf_symbol_name(t, mod, addr);
                done = true;
            } else {
                /* The caller's frame is at the inlined call's site. */
                Dwarf_Attribute a;
                Dwarf_Word v;
                file = "";
                line = 0;
                if (files && dwarf_formudata(dwarf_attr(die, DW_AT_call_file, &a), &v) == 0 &&
                    v < nfiles) {
                    const char *src = dwarf_filesrc(files, v, NULL, NULL);
                    file = src ? intern(t, src) : "";
                }
                if (dwarf_formudata(dwarf_attr(die, DW_AT_call_line, &a), &v) == 0)
                    line = (uint32_t)v;
            }
            if (!tmp_push(t, &f))
                break;
        }
    }
    if (!done) {
        /* No DWARF function here (stripped, or assembly): the ELF symbol. */
        struct sym_frame f = base;
        f.function = elf_symbol_name(t, mod, addr);
        f.file = file;
        f.line = line;
        (void)tmp_push(t, &f);
    }
}

static struct pc_ent *cache_slot(struct sym_table *t, uint64_t pc)
{
    if (t->cache_cap == 0)
        return NULL;
    size_t i = hash_pc(pc) & (t->cache_cap - 1);
    while (t->cache[i].n && t->cache[i].pc != pc)
        i = (i + 1) & (t->cache_cap - 1);
    return &t->cache[i];
}

static void cache_store(struct sym_table *t, uint64_t pc)
{
    if (t->ntmp == 0 || t->ntmp > UINT32_MAX || t->nframes + t->ntmp > UINT32_MAX)
        return;
    if ((t->cache_used + 1) * 2 > t->cache_cap) {
        size_t nc = t->cache_cap ? t->cache_cap * 2 : 1024;
        struct pc_ent *n = calloc(nc, sizeof *n);
        if (!n)
            return;
        for (size_t i = 0; i < t->cache_cap; i++) {
            if (!t->cache[i].n)
                continue;
            size_t j = hash_pc(t->cache[i].pc) & (nc - 1);
            while (n[j].n)
                j = (j + 1) & (nc - 1);
            n[j] = t->cache[i];
        }
        free(t->cache);
        t->cache = n;
        t->cache_cap = nc;
    }
    if (t->nframes + t->ntmp > t->capframes) {
        size_t nc = t->capframes ? t->capframes * 2 : 1024;
        while (nc < t->nframes + t->ntmp)
            nc *= 2;
        struct sym_frame *n = realloc(t->frames, nc * sizeof *n);
        if (!n)
            return;
        t->frames = n;
        t->capframes = nc;
    }
    struct pc_ent *e = cache_slot(t, pc);
    memcpy(&t->frames[t->nframes], t->tmp, t->ntmp * sizeof *t->tmp);
    e->pc = pc;
    e->first = (uint32_t)t->nframes;
    e->n = (uint32_t)t->ntmp;
    t->nframes += t->ntmp;
    t->cache_used++;
}

static size_t copy_out(const struct sym_frame *src, size_t n, struct sym_frame *out, size_t cap)
{
    if (cap == 0 || !out)
        return n;
    if (n <= cap) {
        memcpy(out, src, n * sizeof *src);
        return n;
    }
    /* Keep the real function (last) when the inlined chain does not fit. */
    memcpy(out, src, (cap - 1) * sizeof *src);
    out[cap - 1] = src[n - 1];
    return cap;
}

size_t sym_resolve(struct sym_table *t, uint64_t pc, struct sym_frame *frames, size_t cap)
{
    t->stats.lookups++;
    struct pc_ent *e = cache_slot(t, pc);
    if (e && e->n)
        return copy_out(&t->frames[e->first], e->n, frames, cap);
    t->stats.misses++;

    uint64_t addr = pc > 0 ? pc - 1 : 0;
    const struct sym_map *m = find_map(t, addr);
    bool cacheable = true;
    if (!m && t->pid > 0) {
        /* Re-read at most every 100 ms: addresses outside every module (JIT
           code, garbage) would otherwise re-read the maps each time. An answer
           given without a fresh read is not cached. */
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        uint64_t now_ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
        if (t->last_read_ns == 0 || now_ns - t->last_read_ns >= 100000000u) {
            t->last_read_ns = now_ns;
            if (read_maps(t) == LS_OK)
                m = find_map(t, addr);
        } else {
            cacheable = false;
        }
    }
    report_modules(t);

    t->ntmp = 0;
    struct sym_frame base = {.function = "", .file = "", .module = "", .pc = pc};
    if (m) {
        const struct sym_module *mod = &t->modules[m->module];
        base.module = mod->name;
        base.main_module = mod->is_main;
        base.module_offset = mod->have_bias ? pc - mod->bias : pc - m->start + m->offset;
        Dwfl_Module *dm = mod->have_bias ? dwfl_addrmodule(t->dwfl, addr) : NULL;
        if (dm)
            resolve_in_module(t, dm, addr, base);
    }
    if (t->ntmp == 0 && !tmp_push(t, &base)) {
        if (frames && cap > 0)
            frames[0] = base;
        return 1;
    }
    if (cacheable)
        cache_store(t, pc);
    return copy_out(t->tmp, t->ntmp, frames, cap);
}

/* ---- classification ----------------------------------------------------- */

/* fn without a leading reference or pointer sigil ("&mut ", "*const "...). */
static const char *skip_sigils(const char *fn)
{
    for (;;) {
        if (*fn == '&')
            fn++;
        else if (strncmp(fn, "mut ", 4) == 0)
            fn += 4;
        else if (strncmp(fn, "*const ", 7) == 0)
            fn += 7;
        else if (strncmp(fn, "*mut ", 5) == 0)
            fn += 5;
        else if (strncmp(fn, "dyn ", 4) == 0)
            fn += 4;
        else
            return fn;
    }
}

/*
 * The path a function belongs to: leading '<' (trait impls, v0 inherent
 * impls) and sigils removed; for "<T as Trait>::f" where T is not a path
 * (u64, str, [T], a tuple), the trait's path.
 */
static const char *path_start(const char *fn)
{
    while (*fn == '<')
        fn = skip_sigils(fn + 1);
    const char *as = strstr(fn, " as ");
    if (as) {
        const char *sep = strstr(fn, "::");
        if (!sep || sep > as)
            return path_start(as + 4);
    }
    return fn;
}

static bool starts(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

static bool has(const char *s, const char *needle)
{
    return strstr(s, needle) != NULL;
}

/*
 * The last path segment of a demangled name, without generic arguments or
 * parameters ("grow_one" of "<alloc::raw_vec::RawVec<u8>>::grow_one",
 * "to_vec" of "alloc::slice::hack::to_vec::<u8>"), copied into buf.
 */
static void last_segment(const char *fn, char *buf, size_t cap)
{
    const char *seg = fn, *prev = fn;
    int depth = 0;
    for (const char *p = fn; *p; p++) {
        if (*p == '<' || *p == '(' || *p == '[')
            depth++;
        else if ((*p == '>' || *p == ')' || *p == ']') && depth > 0)
            depth--;
        else if (depth == 0 && p[0] == ':' && p[1] == ':') {
            prev = seg;
            seg = p + 2;
            p++;
        }
    }
    if (*seg == '<') /* v0 turbofish "::<u8>": the segment before it */
        seg = prev;
    size_t n = 0;
    while (seg[n] && seg[n] != '<' && seg[n] != '(' && seg[n] != ':' && n + 1 < cap) {
        buf[n] = seg[n];
        n++;
    }
    buf[n] = '\0';
}

static bool in_list(const char *s, const char *const *list)
{
    for (size_t i = 0; list[i]; i++)
        if (strcmp(s, list[i]) == 0)
            return true;
    return false;
}

static bool is_allocator(const struct sym_frame *f)
{
    static const char *const c_alloc[] = {
        "malloc",
        "calloc",
        "realloc",
        "free",
        "posix_memalign",
        "aligned_alloc",
        "memalign",
        "valloc",
        "pvalloc",
        "reallocarray",
        "free_sized",
        "free_aligned_sized",
        "cfree",
        "_int_malloc",
        "_int_realloc",
        "_int_free",
        "_int_memalign",
        "tcache_init",
        "sysmalloc",
        "malloc_consolidate",
        "__rust_alloc",
        "__rust_alloc_zeroed",
        "__rust_realloc",
        "__rust_dealloc",
        "__rust_alloc_error_handler",
        NULL,
    };
    const char *fn = f->function;
    if (starts(f->module, "libloadscope-shim"))
        return true;
    if (!*fn)
        return false;
    if (starts(fn, "__rustc::")) /* rustc >= 1.90 puts its allocator shims there */
        fn += strlen("__rustc::");
    if (in_list(fn, c_alloc) || starts(fn, "__libc_") || starts(fn, "__rdl_") ||
        starts(fn, "__rg_") || starts(fn, "operator new") || starts(fn, "operator delete"))
        return true;
    const char *p = path_start(fn);
    return starts(p, "alloc::alloc::") || starts(p, "std::alloc::") ||
           starts(p, "alloc::raw_vec::") || starts(p, "core::alloc::") ||
           has(fn, "as core::alloc::Allocator>::") ||
           has(fn, "as core::alloc::global::GlobalAlloc>::");
}

static bool is_stdlib_module(const char *m)
{
    static const char *const libs[] = {
        "libc.so",  "libc-",       "libstdc++.so", "libm.so",  "libpthread.so",
        "ld-linux", "libgcc_s.so", "libdl.so",     "librt.so", "libstd-",
        NULL};
    for (size_t i = 0; libs[i]; i++)
        if (starts(m, libs[i]))
            return true;
    return false;
}

static bool is_rustc_library_path(const char *file)
{
    /* /rustc/<commit hash>/library/..., and std's vendored crates (/rust/deps/...). */
    const char *r = strstr(file, "/rustc/");
    if (r && strstr(r + 7, "/library/"))
        return true;
    if (starts(file, "/rust/deps/") || has(file, "/lib/rustlib/src/rust/library/"))
        return true;
    /* The shipped std's own CUs name their files relative to /rustc/<hash>. */
    static const char *const crates[] = {
        "std/",           "core/",       "alloc/",     "panic_unwind/",
        "panic_abort/",   "unwind/",     "backtrace/", "stdarch/",
        "portable-simd/", "proc_macro/", NULL};
    if (!starts(file, "library/"))
        return false;
    for (size_t i = 0; crates[i]; i++)
        if (starts(file + strlen("library/"), crates[i]))
            return true;
    return false;
}

enum sym_kind sym_classify(const struct sym_frame *f)
{
    if (is_allocator(f))
        return SYM_ALLOCATOR;
    const char *fn = f->function;
    const char *p = path_start(fn);
    if (is_rustc_library_path(f->file) || starts(f->file, "/usr/include/c++/") ||
        is_stdlib_module(f->module))
        return SYM_STDLIB;
    if (has(f->file, "/.cargo/registry/") || has(f->file, "/.cargo/git/"))
        return SYM_DEPENDENCY;
    if (starts(p, "std::") || starts(p, "core::") || starts(p, "alloc::") ||
        starts(p, "__gnu_cxx::"))
        return SYM_STDLIB;
    if (*f->module && !f->main_module)
        return SYM_DEPENDENCY;
    return SYM_USER;
}

enum sym_label sym_label_of(const struct sym_frame *f)
{
    const char *fn = f->function;
    if (!*fn)
        return SYM_LABEL_NONE;
    char seg[64];
    last_segment(fn, seg, sizeof seg);
    const char *p = path_start(fn);

    static const char *const growth[] = {
        "grow_one",         "grow_amortized",        "grow_exact", "finish_grow",
        "reserve_for_push", "do_reserve_and_handle", "reserve",    "reserve_exact",
        "try_reserve",      "try_reserve_exact",     NULL};
    if ((has(fn, "raw_vec::") || has(fn, "RawVec")) && in_list(seg, growth))
        return SYM_LABEL_VEC_GROWTH;
    if (starts(fn, "std::vector<") &&
        (starts(seg, "_M_realloc_insert") || starts(seg, "_M_realloc_append")))
        return SYM_LABEL_VEC_GROWTH;
    if (starts(p, "alloc::fmt::format") || starts(p, "std::fmt::format"))
        return SYM_LABEL_FORMAT;

    if (has(fn, "hashbrown") &&
        (has(fn, "reserve_rehash") || has(fn, "::resize") || has(fn, "rehash_in_place")))
        return SYM_LABEL_HASH_REHASH;
    if (starts(fn, "std::_Hashtable<") && starts(seg, "_M_rehash"))
        return SYM_LABEL_HASH_REHASH;

    if (has(fn, "serde") && (has(fn, "StringVisitor") || strcmp(seg, "visit_str") == 0 ||
                             strcmp(seg, "visit_string") == 0 || strcmp(seg, "parse_str") == 0 ||
                             strcmp(seg, "deserialize_string") == 0))
        return SYM_LABEL_SERDE_STRING;

    static const char *const clones[] = {"clone",  "to_owned",   "to_string",
                                         "to_vec", "clone_from", NULL};
    if (in_list(seg, clones) &&
        (has(fn, "alloc::string::String") || has(fn, "alloc::vec::Vec") || has(fn, "ToOwned") ||
         has(fn, "ToString") || has(fn, "ConvertVec") || starts(p, "alloc::slice::") ||
         starts(p, "alloc::str::") || starts(p, "str as") || starts(p, "[")))
        return SYM_LABEL_CLONE;
    if (strcmp(seg, "from") == 0 && has(fn, "alloc::string::String as core::convert::From<&str>"))
        return SYM_LABEL_CLONE;

    static const char *const box_new[] = {"new", "new_uninit", "new_zeroed", "pin", NULL};
    if (in_list(seg, box_new) && (starts(p, "alloc::boxed::Box") || starts(p, "alloc::sync::Arc") ||
                                  starts(p, "alloc::rc::Rc")))
        return SYM_LABEL_BOX_NEW;
    return SYM_LABEL_NONE;
}

size_t sym_blame(const struct sym_frame *frames, size_t n, bool include_deps)
{
    size_t first_non_alloc = SIZE_MAX;
    for (size_t i = 0; i < n; i++) {
        enum sym_kind k = sym_classify(&frames[i]);
        if (k == SYM_ALLOCATOR)
            continue;
        if (first_non_alloc == SIZE_MAX)
            first_non_alloc = i;
        if (include_deps || k == SYM_USER)
            return i;
    }
    return first_non_alloc != SIZE_MAX ? first_non_alloc : 0;
}
