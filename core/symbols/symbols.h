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

#include "util/lserr.h"

struct sym_frame {
    const char *function;   /* demangled, "" when unknown; owned by the table */
    const char *file;       /* source path, "" when unknown */
    uint32_t line;          /* 0 when unknown */
    const char *module;     /* basename of the ELF file holding the address */
    bool inlined;           /* an inlined frame (reported before its caller) */
    uint64_t pc;            /* the address asked about */
    uint64_t module_offset; /* pc minus the module's load bias (an address in the ELF
                               file's own terms, as addr2line wants it); the file
                               offset when the file could not be read; 0 when no
                               module holds pc */
    bool main_module;       /* pc lies in the process's main executable */
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

/*
 * A symbol table for process pid (its maps are read now and on misses). The
 * main executable is /proc/PID/exe. A table is used by one thread at a time.
 * Files shown "(deleted)" in the maps are read through /proc/PID/map_files
 * (which needs CAP_SYS_ADMIN); a file that cannot be read still names its
 * module and gives module offsets. Fails with LS_ERR_NOTFOUND when there is
 * no such process, LS_ERR_IO when its maps cannot be read.
 */
LS_MUST_CHECK ls_err sym_open(pid_t pid, struct sym_table **out);

/*
 * A table for the ELF files of an exited process: modules are registered
 * with sym_add_module (e.g. from a map snapshot the tracer sent). The first
 * path added is taken as the main executable (a maps listing starts with it).
 */
LS_MUST_CHECK ls_err sym_open_offline(struct sym_table **out);
LS_MUST_CHECK ls_err sym_add_module(struct sym_table *t, uint64_t start, uint64_t end,
                                    uint64_t file_offset, const char *path);

/*
 * Like sym_add_module, one line of /proc/PID/maps text at a time ("start-end
 * perms offset dev inode path"); lines without a path are ignored. Fails with
 * LS_ERR_PARSE on a line that is not in that format.
 */
LS_MUST_CHECK ls_err sym_add_maps_line(struct sym_table *t, const char *line);

/* Cache figures, for benchmarks and the status line. */
struct sym_stats {
    uint64_t lookups;      /* sym_resolve calls */
    uint64_t misses;       /* of which were not cached */
    uint64_t maps_reads;   /* times /proc/PID/maps was (re)read */
    size_t cached_pcs;     /* distinct addresses held */
};
void sym_get_stats(const struct sym_table *t, struct sym_stats *out);

void sym_close(struct sym_table *t);

/*
 * Resolves pc (a return address: the lookup uses pc - 1 so the call site,
 * not the next line, is reported) into up to cap frames, innermost inlined
 * frame first, the real function last. Returns the number of frames written
 * (1 to cap; an unknown address gives one frame with empty function and the
 * module; 0 when cap is 0: a caller filling a buffer stops at its end).
 * Frame strings stay valid until sym_close. Re-reading the maps (on a miss)
 * empties the cache when a module went away.
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
