/*
 * alloc_snapshot: what the commands and the dashboard read while or after
 * the reader runs: hot paths (per-stack totals, sorted), the run's status
 * and one summary per traced process (an exec'd image counted with the
 * process it replaced). Any thread; everything is copied under the
 * handle's lock.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lsalloc_wire.h"
#include "alloc/alloc.h"
#include "alloc/alloc_int.h"

static int cmp_hot(const void *x, const void *y, void *by)
{
    const struct alloc_hot *p = x, *q = y;
    uint64_t a, b;
    switch (*(enum alloc_sort *)by) {
    case ALLOC_BY_BYTES:
        a = p->bytes;
        b = q->bytes;
        break;
    case ALLOC_BY_LIVE:
        a = (uint64_t)(p->live_bytes > 0 ? p->live_bytes : 0);
        b = (uint64_t)(q->live_bytes > 0 ? q->live_bytes : 0);
        break;
    default:
        a = p->allocs;
        b = q->allocs;
    }
    if (a != b)
        return a > b ? -1 : 1;
    return p->key < q->key ? -1 : p->key > q->key;
}

size_t alloc_snapshot(struct alloc *a, enum alloc_sort by, struct alloc_hot *out, size_t cap)
{
    pthread_mutex_lock(&a->lock);
    size_t n = a->nstacks;
    struct alloc_hot *all = calloc(n ? n : 1, sizeof(*all));
    uint64_t reqs = 0;
    for (size_t i = 0; i < a->nreq; i++)
        reqs += a->requests[i];
    double secs = a->traced_seconds ? a->traced_seconds : 1;
    size_t k = 0;
    for (size_t i = 0; all && i < n; i++) {
        const struct alloc_stack *s = a->stacks[i];
        if (s->allocs == 0 && s->frees == 0)
            continue; /* a stack of the inside records only (alloc_inside.h): not a hot path */
        struct alloc_hot *h = &all[k++];
        h->key = s->key;
        h->pid = s->pid;
        h->blame = s->blame;
        h->blame_function = s->blame_fn;
        h->blame_file = s->blame_file;
        h->blame_line = s->blame_line;
        h->label = s->label;
        h->stack = s->text;
        h->folded = s->folded;
        h->allocs = s->allocs;
        h->bytes = s->bytes;
        h->reallocs = s->reallocs;
        h->frees = s->frees;
        h->freed_bytes = s->freed_bytes;
        h->short_lived = s->short_lived;
        h->live_bytes = s->live;
        h->live_growth_bytes = s->live - s->live_first;
        h->allocs_per_s = (double)s->allocs / secs;
        h->bytes_per_s = (double)s->bytes / secs;
        h->allocs_per_req = reqs ? (double)s->allocs / (double)reqs : 0;
        h->bytes_per_req = reqs ? (double)s->bytes / (double)reqs : 0;
    }
    pthread_mutex_unlock(&a->lock);
    if (all == NULL)
        return 0;
    n = k;
    qsort_r(all, n, sizeof(*all), cmp_hot, &by);
    if (n > cap)
        n = cap;
    memcpy(out, all, n * sizeof(*out));
    free(all);
    return n;
}

static const char *unwind_name(uint32_t u)
{
    switch (u) {
    case LSW_UNWIND_FP:
        return "fp";
    case LSW_UNWIND_LIBUNWIND:
        return "libunwind";
    case LSW_UNWIND_AUTO:
        return "auto";
    default:
        return "none";
    }
}

void alloc_status(struct alloc *a, struct alloc_status *st)
{
    memset(st, 0, sizeof(*st));
    pthread_mutex_lock(&a->lock);
    for (size_t i = 0; i < a->nconns; i++) {
        st->execs += a->conns[i]->exec_image;
        st->processes += !a->conns[i]->exec_image;
    }
    for (size_t i = 0; i < a->nconns; i++) {
        const struct lsw_counters *c = &a->conns[i]->ctr;
        st->allocs += c->allocs;
        st->frees += c->frees;
        st->reallocs += c->reallocs;
        st->bytes_allocated += c->bytes_allocated;
        st->bytes_freed += c->bytes_freed;
        st->dropped += c->dropped;
        st->untracked_frees += c->untracked_frees;
        st->stacks += c->stacks;
        if (c->peak_rss > st->peak_rss)
            st->peak_rss = c->peak_rss;
    }
    st->unwind = a->nconns ? unwind_name(a->conns[0]->unwind) : "none";
    for (size_t i = 0; i < a->nstacks; i++)
        st->live_bytes += a->stacks[i]->live;
    for (size_t i = 0; i < a->nreq; i++)
        st->requests += a->requests[i];
    for (size_t i = 0; i < a->nwatch; i++)
        st->rss_bytes += a->last_proc[i].rss_bytes;
    st->traced_seconds = a->traced_seconds;
    snprintf(st->warning, sizeof(st->warning), "%s", a->warning);
    pthread_mutex_unlock(&a->lock);
}

/* The connection before i of the image i replaced by exec, or i itself when it replaced none. */
static size_t exec_prev(const struct alloc *a, size_t i)
{
    if (!a->conns[i]->exec_image)
        return i;
    for (size_t k = i; k-- > 0;)
        if (a->conns[k]->hello && a->conns[k]->pid == a->conns[i]->pid)
            return k;
    return i;
}

static void add_image(struct alloc_proc_summary *s, const struct alloc_conn *d)
{
    s->allocs += d->ctr.allocs;
    s->frees += d->ctr.frees;
    s->reallocs += d->ctr.reallocs;
    s->bytes_allocated += d->ctr.bytes_allocated;
    s->bytes_freed += d->ctr.bytes_freed;
    s->untracked_frees += d->ctr.untracked_frees;
    s->dropped += d->ctr.dropped;
    s->stacks += d->ctr.stacks;
    if (d->ctr.threads > s->threads)
        s->threads = d->ctr.threads;
    if (d->ctr.peak_rss > s->peak_rss)
        s->peak_rss = d->ctr.peak_rss;
}

void alloc_each_process(struct alloc *a, void (*fn)(void *ctx, const struct alloc_proc_summary *s),
                        void *ctx)
{
    pthread_mutex_lock(&a->lock);
    for (size_t i = 0; i < a->nconns; i++) {
        const struct alloc_conn *c = a->conns[i];
        if (!c->hello)
            continue;
        /* A process that exec'd is one process: its images' counters add up under its last one. */
        bool later = false;
        for (size_t j = i + 1; j < a->nconns; j++)
            later |= a->conns[j]->hello && a->conns[j]->pid == c->pid && a->conns[j]->exec_image;
        if (later)
            continue;
        struct alloc_proc_summary s = {
            .pid = c->pid, .ppid = c->ppid,
            .mode = c->mode == LSW_MODE_COUNT ? "count" : c->mode == LSW_MODE_FULL ? "full" : "sampled",
            .unwind = unwind_name(c->unwind), .said_bye = c->bye};
        for (size_t k = i;;) {
            add_image(&s, a->conns[k]);
            size_t prev = exec_prev(a, k);
            if (prev == k)
                break;
            k = prev;
        }
        fn(ctx, &s);
    }
    pthread_mutex_unlock(&a->lock);
}
