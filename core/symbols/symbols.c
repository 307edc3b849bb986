/*
 * symbols: return addresses of a traced process into readable frames.
 *
 * This file holds the table's life (sym_open, sym_open_offline, sym_close,
 * the maps-registering entry points, stats) and sym_resolve. Results are
 * cached per pc in an open-addressing hash map, so a stack seen before costs
 * a few hash probes; a miss finds the address's mapping (re-reading
 * /proc/PID/maps at most every 100 ms when none holds it) and asks libdw.
 *
 * The parts (listed in symbols_int.h, which they share):
 *   symbols_maps.c      module map, load biases, libdwfl reporting, ELF symbol index
 *   symbols_dwarf.c     function, file:line and inlined frames from libdw
 *   symbols_demangle.c  interning and demangling (Rust v0 and legacy, C++, .llvm.*)
 *   symbols_classify.c  allocator/std/dependency classification, blame, labels
 */
#include "symbols/symbols.h"
#include "symbols/symbols_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---- the table ---------------------------------------------------------- */

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
    err = sym_read_maps(t);
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
    return sym_add_mapping(t, start, end, file_offset, path, 0);
}

ls_err sym_add_maps_line(struct sym_table *t, const char *line)
{
    if (!t || !line)
        return LS_ERR_INVALID;
    return sym_parse_maps_line(t, line, NULL);
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
    sym_strmap_free(&t->strings);
    sym_strmap_free(&t->demangled);
    free(t->cache);
    free(t->frames);
    free(t->tmp);
    free(t->dies);
    for (size_t i = 0; i < t->cus_cap; i++)
        free(t->cus[i].fns);
    free(t->cus);
    sym_symidx_clear(t);
    free(t->symidx);
    free(t);
}

/* ---- resolving ---------------------------------------------------------- */

bool sym_tmp_push(struct sym_table *t, const struct sym_frame *f)
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

void sym_cache_clear(struct sym_table *t)
{
    if (t->cache)
        memset(t->cache, 0, t->cache_cap * sizeof *t->cache);
    t->cache_used = 0;
    t->nframes = 0;
}

static struct pc_ent *cache_slot(struct sym_table *t, uint64_t pc)
{
    if (t->cache_cap == 0)
        return NULL;
    size_t i = sym_hash_pc(pc) & (t->cache_cap - 1);
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
            size_t j = sym_hash_pc(t->cache[i].pc) & (nc - 1);
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
        return 0; /* nothing written: a caller filling a buffer must not count past it */
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
    const struct sym_map *m = sym_find_map(t, addr);
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
            if (sym_read_maps(t) == LS_OK)
                m = sym_find_map(t, addr);
        } else {
            cacheable = false;
        }
    }
    sym_report_modules(t);

    t->ntmp = 0;
    struct sym_frame base = {.function = "", .file = "", .module = "", .pc = pc};
    if (m) {
        const struct sym_module *mod = &t->modules[m->module];
        base.module = mod->name;
        base.main_module = mod->is_main;
        base.module_offset = mod->have_bias ? pc - mod->bias : pc - m->start + m->offset;
        Dwfl_Module *dm = mod->have_bias ? dwfl_addrmodule(t->dwfl, addr) : NULL;
        if (dm)
            sym_resolve_in_module(t, dm, addr, base);
    }
    if (t->ntmp == 0 && !sym_tmp_push(t, &base)) {
        if (frames == NULL || cap == 0)
            return 0;
        frames[0] = base;
        return 1;
    }
    if (cacheable)
        cache_store(t, pc);
    return copy_out(t->tmp, t->ntmp, frames, cap);
}
