/*
 * export_alloc: the whats of a traced session: hotpaths (one row per
 * allocation stack with its totals over the session and its rates, most
 * allocations first) and folded (flame-graph input, one "root;...;leaf
 * count" line per stack, in no format of the table: it is its own text).
 */
#include "export_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_alloc.h"

static const char *const hot_cols[] = {
    "rank",          "pid",          "stack_key",      "blame_function", "blame_file",
    "blame_line",    "blame",        "label",          "allocs",         "bytes",
    "reallocs",      "frees",        "freed_bytes",    "short_lived",    "short_lived_share",
    "live_bytes",    "allocs_per_s", "bytes_per_s",    "allocs_per_req", "bytes_per_req",
    "seconds",       "traced_seconds", "requests",     "stack",
};

/* One traced stack with its totals over the session and its rates. */
static int hot_row(void *ctx, const struct store_hotpath *h)
{
    struct export_ctx *x = ctx;
    const char *base = strrchr(h->blame_file, '/');
    size_t cap = strlen(h->blame_function) + strlen(h->blame_file) + 32;
    char *blame = malloc(cap);
    int stop;

    if (blame == NULL) {
        x->err = LS_ERR_NOMEM;
        return 1;
    }
    base = base != NULL ? base + 1 : h->blame_file;
    /* as the dashboard and `trace` show it: function (file:line) */
    if (base[0] != '\0')
        snprintf(blame, cap, "%s (%s:%lld)", h->blame_function, base, (long long)h->blame_line);
    else
        snprintf(blame, cap, "%s", h->blame_function);
    ex_u64(x, ++x->rank);
    ex_i64(x, h->pid);
    ex_i64(x, h->stack_key);
    ex_text(x, h->blame_function);
    ex_text(x, h->blame_file);
    ex_i64(x, h->blame_line);
    ex_text(x, blame);
    ex_text(x, h->label);
    ex_u64(x, h->allocs);
    ex_u64(x, h->bytes);
    ex_u64(x, h->reallocs);
    ex_u64(x, h->frees);
    ex_u64(x, h->freed_bytes);
    ex_u64(x, h->short_lived);
    ex_ratio(x, h->short_lived, h->allocs);
    ex_i64(x, h->live_bytes);
    ex_ratio(x, h->allocs, x->ai.seconds);
    ex_ratio(x, h->bytes, x->ai.seconds);
    ex_ratio(x, h->allocs, x->ai.requests);
    ex_ratio(x, h->bytes, x->ai.requests);
    ex_u64(x, h->seconds);
    ex_u64(x, x->ai.seconds);
    ex_u64(x, x->ai.requests);
    ex_lines(x, h->frames); /* one frame per line, innermost first */
    stop = ex_end_row(x);
    free(blame);
    return stop;
}

static ls_err hot_rows(struct export_ctx *x)
{
    return store_alloc_hotpaths(x->st, x->session, 0, 0, hot_row, x);
}

const struct export_what export_what_hotpaths = {
    .name = "hotpaths",
    .doc = "one row per traced allocation stack",
    .traced = true,
    .tabular = true,
    .cols = hot_cols,
    .ncols = sizeof(hot_cols) / sizeof(hot_cols[0]),
    .rows = hot_rows,
};

/* One flame-graph line: root;...;leaf allocations. */
static int folded_row(void *ctx, const struct store_hotpath *h)
{
    struct export_ctx *x = ctx;

    if (h->allocs == 0 || h->folded[0] == '\0')
        return 0;
    if (fprintf(x->out, "%s %llu\n", h->folded, (unsigned long long)h->allocs) < 0) {
        x->err = LS_ERR_IO;
        x->errnum = errno;
        return 1;
    }
    return ex_line_done(x);
}

static ls_err folded_rows(struct export_ctx *x)
{
    return store_alloc_hotpaths(x->st, x->session, 0, 0, folded_row, x);
}

const struct export_what export_what_folded = {
    .name = "folded",
    .doc = "flame-graph input, one \"root;...;leaf count\" line per stack",
    .traced = true,
    .tabular = false,
    .rows = folded_rows,
};
