/*
 * symbols_dwarf: an address's frames from its DWARF. libdw gives, for an
 * address in a reported module, the CU and the line; a per-CU index of
 * function ranges (built on the CU's first use) finds the DW_TAG_subprogram,
 * and a walk down its DIEs the chain of DW_TAG_inlined_subroutine scopes
 * inside it, whose DW_AT_call_file/DW_AT_call_line say where each inlined
 * call sits (as addr2line -i shows it). Names come from DW_AT_linkage_name
 * (so Rust and C++ names carry their full path), then the ELF symbol table
 * (symbols_maps.c), then DW_AT_name.
 */
#include "symbols/symbols.h"
#include "symbols/symbols_int.h"

#include <stdlib.h>

#include <dwarf.h>

/* The best name of a function DIE: linkage name (demangled), else DW_AT_name. */
static const char *die_function_name(struct sym_table *t, Dwarf_Die *die)
{
    Dwarf_Attribute a;
    const char *ln = dwarf_formstring(dwarf_attr_integrate(die, DW_AT_linkage_name, &a));
    if (!ln)
        ln = dwarf_formstring(dwarf_attr_integrate(die, DW_AT_MIPS_linkage_name, &a));
    if (ln)
        return sym_demangle_cached(t, ln);
    const char *n = dwarf_diename(die);
    return n ? sym_demangle_cached(t, n) : "";
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

/* A namespace or type with children: Rust and C++ put functions in them. */
static bool holds_functions(Dwarf_Die *die)
{
    switch (dwarf_tag(die)) {
    case DW_TAG_namespace:
    case DW_TAG_module:
    case DW_TAG_structure_type:
    case DW_TAG_class_type:
    case DW_TAG_union_type:
    case DW_TAG_enumeration_type:
    case DW_TAG_variant_part:
    case DW_TAG_variant:
        return dwarf_haschildren(die) == 1;
    default:
        return false;
    }
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
        default:
            if (holds_functions(&child) && find_scopes(t, &child, addr, depth + 1))
                return true;
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
        default:
            if (holds_functions(&child))
                cu_collect(ci, &child, depth + 1);
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
    return (size_t)sym_hash_pc((uint64_t)(uintptr_t)dw ^ (off * 0x9e3779b97f4a7c15u));
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
void sym_resolve_in_module(struct sym_table *t, Dwfl_Module *mod, uint64_t addr,
                           struct sym_frame base)
{
    const char *file = "";
    uint32_t line = 0;
    Dwfl_Line *dl = dwfl_module_getsrc(mod, addr);
    if (dl) {
        int ln = 0;
        const char *src = dwfl_lineinfo(dl, NULL, &ln, NULL, NULL, NULL);
        if (src) {
            file = sym_intern(t, src);
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
                    f.function = sym_elf_symbol_name(t, mod, addr);
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
                    file = src ? sym_intern(t, src) : "";
                }
                if (dwarf_formudata(dwarf_attr(die, DW_AT_call_line, &a), &v) == 0)
                    line = (uint32_t)v;
            }
            if (!sym_tmp_push(t, &f))
                break;
        }
    }
    if (!done) {
        /* No DWARF function here (stripped, or assembly): the ELF symbol. */
        struct sym_frame f = base;
        f.function = sym_elf_symbol_name(t, mod, addr);
        f.file = file;
        f.line = line;
        (void)sym_tmp_push(t, &f);
    }
}
