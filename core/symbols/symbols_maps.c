/*
 * symbols_maps: which module an address belongs to. The module map is our
 * own (from /proc/PID/maps, or registered offline): a sorted list of
 * mappings, each pointing at a module (one ELF file) whose load bias comes
 * from the file's program headers and the mapping's file offset. Files
 * shown "(deleted)" or replaced on disk are opened through
 * /proc/PID/map_files. The modules with a readable file and a known bias
 * are reported to the libdwfl session (dwfl_report_elf).
 *
 * It also keeps, per reported module, its function symbols sorted by
 * address: the name of last resort for code without DWARF (node, stripped
 * libraries) in one binary search.
 */
#include "symbols/symbols.h"
#include "symbols/symbols_int.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gelf.h>

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
ls_err sym_add_mapping(struct sym_table *t, uint64_t start, uint64_t end, uint64_t off,
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
        m->path = sym_intern(t, path);
        m->name = sym_intern(t, base_name(path));
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
        if (!m->reported)
            t->dirty = true; /* a bias that moved is caught after the maps read */
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

const struct sym_map *sym_find_map(const struct sym_table *t, uint64_t addr)
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

ls_err sym_parse_maps_line(struct sym_table *t, const char *line, uint64_t *inode_out)
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
    ls_err err = sym_add_mapping(t, start, end, off, p, inode);
    free(p);
    return err;
}

/* (Re)reads /proc/PID/maps. */
ls_err sym_read_maps(struct sym_table *t)
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
        err = sym_parse_maps_line(t, line, NULL);
        if (err)
            goto out;
    }
    /* A module gone away or moved: cached answers for its addresses may be wrong now. */
    for (size_t i = 0; i < t->nmodules; i++) {
        const struct sym_module *m = &t->modules[i];
        if (!m->seen || (m->had_bias && m->have_bias && m->bias != m->old_bias)) {
            sym_cache_clear(t);
            t->dirty = true;
            t->rebuild = true;
            break;
        }
    }
out:
    free(line);
    fclose(f);
    return err;
}

/*
 * Reports the readable modules to libdwfl when they changed. A module is
 * reported once per libdwfl session: elfutils (0.188 here) refuses an ELF
 * file reported again after dwfl_report_begin ("address range overlaps an
 * existing module") and then drops the old module at dwfl_report_end, so
 * re-reporting every module on each change left every other change with
 * no module at all (its addresses unresolved). New modules are added to
 * the session; a module gone or moved starts a new session.
 */
void sym_report_modules(struct sym_table *t)
{
    if (!t->dirty)
        return;
    /* Reporting may free modules: the symbol indexes point into them. */
    sym_symidx_clear(t);
    if (t->rebuild) {
        Dwfl *fresh = dwfl_begin(&t->cb);
        if (fresh) {
            dwfl_end(t->dwfl);
            t->dwfl = fresh;
            for (size_t i = 0; i < t->nmodules; i++)
                t->modules[i].reported = false;
        }
        t->rebuild = false;
    }
    dwfl_report_begin_add(t->dwfl);
    for (size_t i = 0; i < t->nmodules; i++) {
        struct sym_module *m = &t->modules[i];
        if (!m->seen || !m->open_path || !m->have_bias || m->reported)
            continue;
        /* NULL on a bad or overlapping file: its addresses stay unresolved. */
        (void)dwfl_report_elf(t->dwfl, m->name, m->open_path, -1, m->bias, true);
        m->reported = true;
    }
    dwfl_report_end(t->dwfl, NULL, NULL);
    t->dirty = false;
}

/* ---- the sorted ELF symbol index --------------------------------------- */

void sym_symidx_clear(struct sym_table *t)
{
    for (size_t i = 0; i < t->nsymidx; i++)
        free(t->symidx[i].syms);
    t->nsymidx = 0;
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

const char *sym_elf_symbol_name(struct sym_table *t, Dwfl_Module *mod, Dwarf_Addr addr)
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
            return sym_demangle_cached(t, e->name);
    }
    return "";
}
