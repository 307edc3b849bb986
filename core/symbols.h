/*
 * symbols: turning a traced process's return addresses into readable frames.
 *
 * Symbolization happens in loadscope, never in the target: the module map
 * (from /proc/PID/maps, re-read when an address falls outside every known
 * module) says which file and load bias an address belongs to; elfutils'
 * libdw gives the function, file:line and the chain of inlined frames;
 * names are demangled (Rust v0 "_R...", Rust legacy "_ZN...17h<hash>E" with
 * the hash dropped, then C++), with ".llvm.NNN" suffixes stripped and no
 * fixed-size buffers (async Rust names run to kilobytes). Results are cached
 * per address.
 *
 * It also knows which frames are allocator plumbing and which belong to the
 * standard library or dependencies, to pick the "blame" frame of a stack,
 * and labels frames that mark common Rust allocation faults.
 */
#ifndef LS_SYMBOLS_H
#define LS_SYMBOLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "lserr.h"

struct sym_frame {
    const char *function;   /* demangled, "" when unknown; owned by the table */
    const char *file;       /* source path, "" when unknown */
    uint32_t line;          /* 0 when unknown */
    const char *module;     /* basename of the ELF file holding the address */
    bool inlined;           /* an inlined frame (reported before its caller) */
    uint64_t pc;            /* the address asked about */
};

enum sym_kind {
    SYM_USER = 0,       /* the target's own code */
    SYM_ALLOCATOR,      /* malloc & co., __rust_alloc, alloc::alloc::*, __rdl_*, RawVec internals of allocation */
    SYM_STDLIB,         /* Rust std/core/alloc (/rustc/<hash>/library/...), libstdc++, libc */
    SYM_DEPENDENCY,     /* crates from ~/.cargo/registry, other shared libraries */
};

enum sym_label {
    SYM_LABEL_NONE = 0,
    SYM_LABEL_VEC_GROWTH,      /* RawVec::grow_one / finish_grow / reserve */
    SYM_LABEL_FORMAT,          /* alloc::fmt::format */
    SYM_LABEL_CLONE,           /* String/Vec clone, to_owned, to_string, to_vec */
    SYM_LABEL_HASH_REHASH,     /* hashbrown reserve_rehash / resize */
    SYM_LABEL_SERDE_STRING,    /* serde_json string visits (visit_str -> String) */
    SYM_LABEL_BOX_NEW,         /* Box::new / Arc::new / Rc::new */
};

/* Short text for a label: "vector growth", "format!", ... ("" for none). */
const char *sym_label_name(enum sym_label l);

struct sym_table;

/* A symbol table for process pid (its maps are read now and on misses). */
LS_MUST_CHECK ls_err sym_open(pid_t pid, struct sym_table **out);

/*
 * A table for the ELF files of an exited process: modules are registered
 * with sym_add_module (e.g. from a map snapshot the tracer sent).
 */
LS_MUST_CHECK ls_err sym_open_offline(struct sym_table **out);
LS_MUST_CHECK ls_err sym_add_module(struct sym_table *t, uint64_t start, uint64_t end,
                                    uint64_t file_offset, const char *path);

void sym_close(struct sym_table *t);

/*
 * Resolves pc (a return address: the lookup uses pc - 1 so the call site,
 * not the next line, is reported) into up to cap frames, innermost inlined
 * frame first, the real function last. Returns the number of frames (>= 1;
 * an unknown address gives one frame with empty function and the module).
 */
size_t sym_resolve(struct sym_table *t, uint64_t pc, struct sym_frame *frames, size_t cap);

/* Classifies a resolved frame. */
enum sym_kind sym_classify(const struct sym_frame *f);
enum sym_label sym_label_of(const struct sym_frame *f);

/*
 * Demangles a Rust (v0 or legacy) or C++ symbol into a malloc'd string the
 * caller frees; returns a copy of the input when it is not mangled.
 */
char *sym_demangle(const char *mangled);

/*
 * The blame frame of a stack of n resolved frames (innermost first): the
 * first frame that is not allocator plumbing and, unless include_deps, not
 * standard library or dependency code. Falls back to the first non-allocator
 * frame, then to frame 0. Returns its index.
 */
size_t sym_blame(const struct sym_frame *frames, size_t n, bool include_deps);

#endif
