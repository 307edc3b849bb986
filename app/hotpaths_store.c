/*
 * hotpaths_store: a stored session's allocation profile into the hot-path
 * model (see hotpaths_store.h). Rows come from storage by second then stack
 * key, and are fed one second at a time, as the tracer's sink fed them live.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc/hotpaths.h"
#include "hotpaths_store.h"
#include "store.h"
#include "store_alloc_read.h"
#include "store_read.h"

/* One second's rows gathered before they go to the model. */
struct loader {
    struct hotpaths *hp;
    struct alloc_row *rows;
    size_t nrows, cap;
    uint32_t second;
    uint64_t requests;
    bool open;                  /* rows of `second` are gathered */
    ls_err rc;
};

static int flush_second(struct loader *l)
{
    if (!l->open)
        return 0;
    struct alloc_interval iv = {.second = l->second, .requests = l->requests, .rows = l->rows,
                                .nrows = l->nrows};
    l->rc = hotpaths_add_interval(l->hp, &iv);
    l->nrows = 0;
    l->open = false;
    return l->rc != LS_OK;
}

static int on_stack(void *ctx, const struct store_alloc_stack_row *s)
{
    struct loader *l = ctx;
    struct alloc_stack_info si = {.key = (uint32_t)s->stack_key, .pid = (int)s->pid,
                                  .blame_function = s->blame_function, .blame_file = s->blame_file,
                                  .blame_line = (uint32_t)s->blame_line, .label = s->label,
                                  .stack = s->frames, .folded = s->folded};
    l->rc = hotpaths_add_stack(l->hp, &si);
    return l->rc != LS_OK;
}

static int on_second(void *ctx, const struct store_alloc_second *r)
{
    struct loader *l = ctx;
    if (l->open && r->second != l->second && flush_second(l))
        return 1;
    if (l->nrows == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 256;
        struct alloc_row *n = realloc(l->rows, cap * sizeof(*n));
        if (!n) {
            l->rc = LS_ERR_NOMEM;
            return 1;
        }
        l->rows = n;
        l->cap = cap;
    }
    l->open = true;
    l->second = r->second;
    l->requests = r->requests;
    l->rows[l->nrows++] = (struct alloc_row){
        .key = (uint32_t)r->stack_key, .allocs = r->allocs, .bytes = r->bytes, .reallocs = r->reallocs,
        .frees = r->frees, .freed_bytes = r->freed_bytes, .short_lived = r->short_lived,
        .live_bytes = r->live_bytes};
    return 0;
}

static int on_proc(void *ctx, const struct store_alloc_proc *p)
{
    struct loader *l = ctx;
    struct alloc_procstat ps = {.pid = (int)p->pid, .rss_bytes = p->rss_bytes, .cpu_pct = p->cpu_pct,
                                .threads = (uint32_t)p->threads, .thread_names = p->thread_names};
    struct alloc_interval iv = {.second = p->second, .procs = &ps, .nprocs = 1};
    l->rc = hotpaths_add_interval(l->hp, &iv);
    return l->rc != LS_OK;
}

static int on_interval(void *ctx, const struct store_interval *r)
{
    struct loader *l = ctx;
    l->rc = hotpaths_set_requests(l->hp, r->second, r->count);
    return l->rc != LS_OK;
}

ls_err hotpaths_load(struct store *st, int64_t session, struct hotpaths **out, char *err, size_t errcap)
{
    struct store_alloc_info ai;
    struct loader l = {0};
    *out = NULL;
    ls_err e = store_alloc_info(st, session, &ai);
    if (e != LS_OK) {
        snprintf(err, errcap, "%s", store_errmsg(st));
        return e;
    }
    if (ai.stacks == 0)
        return LS_OK;
    if (hotpaths_open(&l.hp) != LS_OK) {
        snprintf(err, errcap, "out of memory");
        return LS_ERR_NOMEM;
    }
    e = store_alloc_stacks_each(st, session, on_stack, &l);
    if (e == LS_OK && l.rc == LS_OK)
        e = store_alloc_seconds_each(st, session, on_second, &l);
    if (e == LS_OK && l.rc == LS_OK)
        flush_second(&l);
    if (e == LS_OK && l.rc == LS_OK)
        e = store_alloc_procs_each(st, session, on_proc, &l);
    /* Requests of the seconds without an allocation row: from the all-steps intervals. */
    if (e == LS_OK && l.rc == LS_OK)
        e = store_intervals_each(st, session, -1, on_interval, &l);
    free(l.rows);
    if (e != LS_OK || l.rc != LS_OK) {
        snprintf(err, errcap, "reading the allocation profile: %s",
                 e != LS_OK ? store_errmsg(st) : "out of memory");
        hotpaths_close(l.hp);
        return e != LS_OK ? e : l.rc;
    }
    *out = l.hp;
    return LS_OK;
}
