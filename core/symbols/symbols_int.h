/*
 * symbols_int: what the parts of the symbolizer share. Private to
 * core/symbols*.c; no other file includes it.
 *
 * The symbolizer is split by responsibility:
 *   symbols.c           the table's life (open, close, stats) and sym_resolve:
 *                       the per-pc cache and the frames of one resolution
 *   symbols_maps.c      the module map: mappings from /proc/PID/maps or
 *                       registered offline, each module's load bias from its
 *                       program headers, reporting modules to libdwfl, and the
 *                       sorted ELF symbol index of each module
 *   symbols_dwarf.c     libdw lookups: the function, file:line and chain of
 *                       inlined frames of an address
 *   symbols_demangle.c  the string table (interning) and demangling (Rust v0,
 *                       legacy "17h<hash>E", C++, ".llvm.*" stripped), memoized
 *   symbols_classify.c  allocator / std / dependency classification, blame
 *                       frames and labels; works on resolved frames only and
 *                       does not include this header
 * One struct sym_table carries everything; a table is used by one thread at
 * a time, so none of these functions lock.
 */
#ifndef LS_SYMBOLS_INT_H
#define LS_SYMBOLS_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>

#include "util/lserr.h"
#include "symbols/symbols.h"

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
    bool reported; /* given to the current libdwfl session (once: see sym_report_modules) */
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
    bool rebuild; /* a reported module went away or moved: the next report starts a new session */

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

/* A 64-bit mix of a pc (or any key) for the open-addressing maps. */
static inline uint64_t sym_hash_pc(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdu;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53u;
    return x ^ (x >> 33);
}

/* ---- symbols_demangle.c ------------------------------------------------- */

/* Interns s in t (NULL gives ""); the copy lives until sym_close ("" when out of memory). */
const char *sym_intern(struct sym_table *t, const char *s);

/* Demangles through the table's memo; the result is interned. */
const char *sym_demangle_cached(struct sym_table *t, const char *mangled);

/* Frees the keys and slots of m and leaves it empty. */
void sym_strmap_free(struct strmap *m);

/* ---- symbols_maps.c ----------------------------------------------------- */

/*
 * Registers one mapping. raw_path is as the maps show it (maybe with
 * " (deleted)"); inode 0 skips the same-file check.
 */
LS_MUST_CHECK ls_err sym_add_mapping(struct sym_table *t, uint64_t start, uint64_t end,
                                     uint64_t off, const char *raw_path, uint64_t inode);

/* Registers the mapping of one /proc/PID/maps line; lines without a path are skipped. */
LS_MUST_CHECK ls_err sym_parse_maps_line(struct sym_table *t, const char *line,
                                         uint64_t *inode_out);

/* The mapping holding addr; NULL when none does. Points into t->maps. */
const struct sym_map *sym_find_map(const struct sym_table *t, uint64_t addr);

/* (Re)reads /proc/PID/maps; empties the cache when a module went away or moved. */
LS_MUST_CHECK ls_err sym_read_maps(struct sym_table *t);

/* Reports the readable modules to libdwfl when they changed. */
void sym_report_modules(struct sym_table *t);

/* Drops the per-module ELF symbol indexes (they point into libdw's modules). */
void sym_symidx_clear(struct sym_table *t);

/* The demangled ELF symbol holding addr (a dwfl address) in mod; "" when none. */
const char *sym_elf_symbol_name(struct sym_table *t, Dwfl_Module *mod, Dwarf_Addr addr);

/* ---- symbols_dwarf.c ---------------------------------------------------- */

/* Fills t->tmp with the frames of addr (pc - 1) in mod, innermost first. */
void sym_resolve_in_module(struct sym_table *t, Dwfl_Module *mod, uint64_t addr,
                           struct sym_frame base);

/* ---- symbols.c ---------------------------------------------------------- */

/* Appends f to the resolution being built; false when out of memory. */
bool sym_tmp_push(struct sym_table *t, const struct sym_frame *f);

/* Forgets every cached resolution. */
void sym_cache_clear(struct sym_table *t);

#endif
