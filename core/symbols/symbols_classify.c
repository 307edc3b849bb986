/*
 * symbols_classify: what a resolved frame is. Frames are told apart as
 * allocator plumbing (malloc & co., Rust's allocator shims and alloc::
 * internals, the loadscope shim itself), standard library (Rust std/core/
 * alloc by their /rustc/<hash>/library paths or names, libstdc++, libc),
 * dependencies (cargo registry crates, other shared libraries) and the
 * target's own code; the blame frame of a stack is the first of the
 * target's own. Labels name frames that mark common Rust (and some C++)
 * allocation faults: vector growth, format!, clones, rehashes, serde
 * strings, Box/Arc/Rc::new. It works on the frame's strings alone.
 */
#include "symbols/symbols.h"

#include <string.h>

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
    /* Crates from crates.io (cargo's cache) or from Debian's packaged sources. */
    if (has(f->file, "/.cargo/registry/") || has(f->file, "/.cargo/git/") ||
        starts(f->file, "/usr/share/cargo/registry/"))
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
