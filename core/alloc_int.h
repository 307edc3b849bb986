/*
 * alloc_int: what alloc.c and alloc_target.c share (not for other modules).
 */
#ifndef LS_ALLOC_INT_H
#define LS_ALLOC_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "symbols.h"

/* A stack turned into text once, when first seen. Every string is malloc'd. */
struct alloc_text {
    char *blame;          /* "function (file:line)" */
    char *blame_fn, *blame_file;
    uint32_t blame_line;
    const char *label;    /* static */
    char *text;           /* one frame per line, innermost first */
    char *folded;         /* root first, ';'-separated */
};

/* Fills t from n resolved frames (innermost first); false when out of memory. */
bool alloc_stack_text(const struct sym_frame *fr, size_t n, bool include_deps, struct alloc_text *t);
void alloc_text_free(struct alloc_text *t);

/*
 * Reads /proc/PID: resident bytes, CPU ticks (user + system), threads (the
 * shim's own excluded) and a malloc'd JSON object of thread names with
 * trailing digits folded. False when the process is gone.
 */
bool alloc_proc_read(int pid, uint64_t *rss_bytes, uint64_t *cpu_ticks, uint32_t *threads,
                     char **names_json);

/* CPU ticks over one second as a percentage of one core. */
double alloc_ticks_to_pct(uint64_t ticks);

#endif
