/*
 * dash_hot_replay: the Hot paths figures of a stored session (see dash_hot.h).
 *
 * Opening reads the session's stacks, per-second rows and /proc rows into
 * the handle (sorted by stack key, as the store gives them); each refresh
 * sums the rows of the seconds before the one shown, ranks the paths and
 * fills h->rows, the totals and each process as of its last stored second,
 * as the live screen showed them then. No curses.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dash_hot_int.h"
#include "store.h"
#include "store_alloc_read.h"

/* {"node":1,"libuv-worker":4} -> "node x1, libuv-worker x4" (names as stored, quotes dropped). */
static void names_from_json(const char *js, char *out, size_t cap)
{
    size_t off = 0;
    out[0] = '\0';
    const char *p = js ? strchr(js, '"') : NULL;
    while (p && off + 1 < cap) {
        const char *q = p + 1;
        char name[64];
        size_t n = 0;
        while (*q && *q != '"') {
            if (*q == '\\' && q[1])
                q++;
            if (n + 1 < sizeof(name))
                name[n++] = *q;
            q++;
        }
        name[n] = '\0';
        if (*q != '"')
            break;
        const char *c = strchr(q, ':');
        if (!c)
            break;
        unsigned long long cnt = strtoull(c + 1, NULL, 10);
        off += (size_t)snprintf(out + off, cap - off, "%s%s x%llu", off ? ", " : "", name, cnt);
        if (off >= cap)
            break;
        p = strchr(c, '"');
    }
}

/* ---- loading ------------------------------------------------------------------- */

static int rp_add_stack(void *ctx, const struct store_alloc_stack_row *s)
{
    struct dash_hot *h = ctx;
    if (h->nst == h->capst) {
        size_t cap = h->capst ? h->capst * 2 : 64;
        struct dash_hot_rp_stack *n = realloc(h->st, cap * sizeof(*n));
        if (!n)
            goto oom;
        h->st = n;
        h->capst = cap;
    }
    struct dash_hot_rp_stack *r = &h->st[h->nst];
    memset(r, 0, sizeof(*r));
    const char *base = strrchr(s->blame_file, '/');
    base = base ? base + 1 : s->blame_file;
    size_t cap = strlen(s->blame_function) + strlen(base) + 32;
    r->blame = malloc(cap);
    r->label = strdup(s->label);
    r->stack = strdup(s->frames);
    if (!r->blame || !r->label || !r->stack) {
        free(r->blame);
        free(r->label);
        free(r->stack);
        goto oom;
    }
    /* as the tracer names it live: function (file:line) */
    if (base[0])
        snprintf(r->blame, cap, "%s (%s:%lld)", s->blame_function, base, (long long)s->blame_line);
    else
        snprintf(r->blame, cap, "%s", s->blame_function);
    r->key = (uint32_t)s->stack_key;
    r->pid = (int)s->pid;
    h->nst++;
    return 0;
oom:
    h->oom = true;
    return 1;
}

static int rp_add_second(void *ctx, const struct store_alloc_second *r)
{
    struct dash_hot *h = ctx;
    if (h->nsec == h->capsec) {
        size_t cap = h->capsec ? h->capsec * 2 : 256;
        struct store_alloc_second *n = realloc(h->sec, cap * sizeof(*n));
        if (!n) {
            h->oom = true;
            return 1;
        }
        h->sec = n;
        h->capsec = cap;
    }
    h->sec[h->nsec++] = *r;
    return 0;
}

static int rp_add_proc(void *ctx, const struct store_alloc_proc *p)
{
    struct dash_hot *h = ctx;
    if (h->npr == h->cappr) {
        size_t cap = h->cappr ? h->cappr * 2 : 64;
        struct dash_hot_rp_proc *n = realloc(h->pr, cap * sizeof(*n));
        if (!n) {
            h->oom = true;
            return 1;
        }
        h->pr = n;
        h->cappr = cap;
    }
    struct dash_hot_rp_proc *r = &h->pr[h->npr];
    *r = (struct dash_hot_rp_proc){.second = p->second, .pid = (int)p->pid, .rss_bytes = p->rss_bytes,
                          .threads = p->threads, .cpu_pct = p->cpu_pct,
                          .names_json = strdup(p->thread_names)};
    if (!r->names_json) {
        h->oom = true;
        return 1;
    }
    h->npr++;
    return 0;
}

static struct dash_hot_rp_stack *rp_stack_of(struct dash_hot *h, int64_t key)
{
    size_t lo = 0, hi = h->nst;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if ((int64_t)h->st[mid].key == key)
            return &h->st[mid];
        if ((int64_t)h->st[mid].key < key)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

static int cmp_allocs(const void *x, const void *y)
{
    const struct dash_hot_rp_stack *const *p = x, *const *q = y;
    if ((*p)->allocs != (*q)->allocs)
        return (*p)->allocs > (*q)->allocs ? -1 : 1;
    return (*p)->key < (*q)->key ? -1 : (*p)->key > (*q)->key;
}

static int cmp_bytes(const void *x, const void *y)
{
    const struct dash_hot_rp_stack *const *p = x, *const *q = y;
    if ((*p)->bytes != (*q)->bytes)
        return (*p)->bytes > (*q)->bytes ? -1 : 1;
    return (*p)->key < (*q)->key ? -1 : (*p)->key > (*q)->key;
}

/* Sums the stored rows of the seconds before upto, as the live screen showed them then. */
void dash_hot_refresh_replay(struct dash_hot *h, const struct live_snapshot *sn)
{
    int64_t upto = sn->seconds_closed;
    if (h->have && h->computed_upto == upto && h->computed_by_bytes == h->by_bytes)
        return;
    for (size_t i = 0; i < h->nst; i++) {
        struct dash_hot_rp_stack *s = &h->st[i];
        s->allocs = s->bytes = s->reallocs = s->frees = s->short_lived = 0;
        s->live = 0;
        s->seen = false;
    }
    if (h->leak)
        memset(h->leak, 0, DASH_HOT_LEAK_SLOTS * sizeof(*h->leak));
    for (size_t i = 0; i < h->nsec && (int64_t)h->sec[i].second < upto; i++) {
        const struct store_alloc_second *r = &h->sec[i];
        struct dash_hot_rp_stack *s = rp_stack_of(h, r->stack_key);
        if (!s)
            continue;
        s->allocs += r->allocs;
        s->bytes += r->bytes;
        s->reallocs += r->reallocs;
        s->frees += r->frees;
        s->short_lived += r->short_lived;
        s->live = r->live_bytes;
        s->seen = true;
        dash_hot_leak_record(h, s->key, r->second, r->live_bytes);
    }
    struct dash_hot_rp_stack **order = calloc(h->nst ? h->nst : 1, sizeof(*order));
    size_t n = 0;
    h->total_allocs = 0;
    h->live_total = 0;
    for (size_t i = 0; order && i < h->nst; i++) {
        h->total_allocs += h->st[i].allocs;
        h->live_total += h->st[i].live;
        if (h->st[i].seen)
            order[n++] = &h->st[i];
    }
    if (order)
        qsort(order, n, sizeof(*order), h->by_bytes ? cmp_bytes : cmp_allocs);
    h->seconds = upto > 0 ? (double)upto : 0;
    h->requests = sn->run_count;
    h->stacks = n;
    h->nrows = n < DASH_HOT_CAP ? n : DASH_HOT_CAP;
    for (size_t i = 0; i < h->nrows; i++) {
        const struct dash_hot_rp_stack *s = order[i];
        double secs = h->seconds, req = (double)h->requests;
        h->rows[i] = (struct dash_hot_row){
            .key = s->key, .pid = s->pid, .blame = s->blame, .label = s->label, .stack = s->stack,
            .allocs = s->allocs, .bytes = s->bytes, .reallocs = s->reallocs, .frees = s->frees,
            .short_lived = s->short_lived, .live_bytes = s->live,
            .allocs_per_s = secs > 0 ? (double)s->allocs / secs : 0,
            .bytes_per_s = secs > 0 ? (double)s->bytes / secs : 0,
            .allocs_per_req = req > 0 ? (double)s->allocs / req : 0,
            .bytes_per_req = req > 0 ? (double)s->bytes / req : 0,
            .leak = upto > 0 && dash_hot_leak_flag(h, s->key, (uint32_t)(upto - 1))};
    }
    free(order);
    /* Each process as of the last stored second shown. */
    h->nprocs = 0;
    for (size_t i = 0; i < h->npr && (int64_t)h->pr[i].second < upto; i++) {
        const struct dash_hot_rp_proc *p = &h->pr[i];
        size_t k = 0;
        while (k < h->nprocs && h->procs[k].pid != p->pid)
            k++;
        if (k == h->nprocs) {
            if (h->nprocs == DASH_HOT_PROCS)
                continue;
            h->nprocs++;
        }
        struct dash_hot_proc *d = &h->procs[k];
        d->pid = p->pid;
        d->alive = true;
        d->rss_bytes = p->rss_bytes;
        d->cpu_pct = p->cpu_pct;
        d->threads = p->threads;
        names_from_json(p->names_json, d->names, sizeof(d->names));
    }
    h->have = true;
    h->computed_upto = upto;
    h->computed_by_bytes = h->by_bytes;
}

/* ---- the handle ---------------------------------------------------------------- */

ls_err dash_hot_open_replay(struct store *st, int64_t session, struct dash_hot **out, char *err,
                            size_t errcap)
{
    struct store_alloc_info ai;
    *out = NULL;
    ls_err e = store_alloc_info(st, session, &ai);
    if (e != LS_OK) {
        snprintf(err, errcap, "%s", store_errmsg(st));
        return e;
    }
    if (ai.stacks == 0)
        return LS_OK;
    struct dash_hot *h = dash_hot_new();
    if (!h) {
        snprintf(err, errcap, "out of memory");
        return LS_ERR_NOMEM;
    }
    e = store_alloc_stacks_each(st, session, rp_add_stack, h);
    if (e == LS_OK && !h->oom)
        e = store_alloc_seconds_each(st, session, rp_add_second, h);
    if (e == LS_OK && !h->oom)
        e = store_alloc_procs_each(st, session, rp_add_proc, h);
    if (e != LS_OK || h->oom) {
        snprintf(err, errcap, "reading the allocation profile: %s",
                 e != LS_OK ? store_errmsg(st) : "out of memory");
        dash_hot_close(h);
        return e != LS_OK ? e : LS_ERR_NOMEM;
    }
    *out = h;
    return LS_OK;
}
